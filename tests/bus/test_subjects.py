"""The bus wire protocol: subject names, stream names and bodies."""

from __future__ import annotations

import msgspec
import pytest

from kana_async.bus import subjects
from kana_async.errors import ValidationError
from kana_async.stream.topics import topic_spec

ADDR = "0x" + "ab" * 32


def test_data_subjects_are_keyed_by_route_key() -> None:
    assert subjects.data_subject("local", "orderbook", "1338") == "kana.local.orderbook.1338"
    assert subjects.data_subject("local", "live_funding_rate") == "kana.local.live_funding_rate"
    assert subjects.data_subject("testnet", "positions", ADDR) == f"kana.testnet.positions.{ADDR}"


def test_route_key_normalises() -> None:
    spec = topic_spec("positions")
    assert subjects.route_key(spec, address="0x" + "AB" * 32) == ADDR
    assert subjects.route_key(spec, address="0x1") == "0x" + "0" * 63 + "1"
    assert subjects.route_key(topic_spec("orderbook"), market_id=1338) == "1338"
    assert subjects.route_key(topic_spec("live_funding_rate")) == ""


@pytest.mark.parametrize(
    ("topic", "key", "param"),
    [
        ("orderbook", "", "key"),
        ("orderbook", "01338", "key"),
        ("positions", "0xAB", "key"),
        ("live_funding_rate", "1", "key"),
        ("nope", "", "topic"),
    ],
)
def test_data_subject_refuses_bad_keys(topic: str, key: str, param: str) -> None:
    with pytest.raises(ValidationError) as caught:
        subjects.data_subject("local", topic, key)
    assert caught.value.param == param


@pytest.mark.parametrize("network", ["", "Local", "a.b", "a*", "x" * 33, 5])
def test_network_is_one_token(network: object) -> None:
    with pytest.raises(ValidationError, match="network: must be"):
        subjects.check_network(network)


def test_parse_round_trips() -> None:
    for subject in ("kana.local.orderbook.7", f"kana.local.live_order_history.{ADDR}",
                    "kana.local.live_funding_rate"):
        assert subjects.data_subject(*subjects.parse_data_subject(subject)) == subject
    for bad in ("kana.local", "kana.local.orderbook.07", "other.local.orderbook.7",
                "kana.local.orderbook.7.8"):
        with pytest.raises(ValidationError):
            subjects.parse_data_subject(bad)


def test_stream_names() -> None:
    assert subjects.snapshot_stream("local") == "KANA_LOCAL_SNAPSHOTS"
    assert subjects.events_stream("my-net") == "KANA_MY_NET_EVENTS"
    assert subjects.data_wildcard("local") == "kana.local.>"


def test_message_id_depends_on_subject_and_bytes() -> None:
    one = subjects.message_id("kana.local.live_trade_history.x", b"{}")
    assert one == subjects.message_id("kana.local.live_trade_history.x", memoryview(b"{}"))
    assert one != subjects.message_id("kana.local.live_trade_history.y", b"{}")
    assert one != subjects.message_id("kana.local.live_trade_history.x", b"[]")


def test_control_and_signer_subjects() -> None:
    assert subjects.subscribe_subject("local") == "kana-ctl.local.subscribe"
    assert subjects.sign_subject("local", "0xAB", "place_order") == (
        "kana-sign.local.0x" + "0" * 62 + "ab.place_order"
    )
    assert subjects.sign_wildcard("local", ADDR) == f"kana-sign.local.{ADDR}.*"
    with pytest.raises(ValidationError, match="method"):
        subjects.sign_subject("local", ADDR, "a.b")


def test_bodies_round_trip() -> None:
    request = subjects.SubscribeRequest("orderbook", "7")
    decoded = msgspec.json.decode(msgspec.json.encode(request), type=subjects.SubscribeRequest)
    assert decoded == request
    reply = subjects.SignReply(error=subjects.SignErrorBody("UnknownOutcomeError", "m", "0x1"))
    assert msgspec.json.encode(reply) == (
        b'{"error":{"type":"UnknownOutcomeError","message":"m","tx_hash":"0x1"}}'
    )
