"""Topic table, key validation and subscribe messages."""

from __future__ import annotations

import msgspec
import pytest

from kana_async.errors import ValidationError
from kana_async.stream.topics import (
    TOPICS,
    Overflow,
    canonical_market_id,
    subscribe_message,
    topic_spec,
    validate_key,
)

ADDRESS = "0x725c8b51b2c1b3d17336c48d75c56c19253f70e1de00e26c8138a29722d82da"  # 63 digits


def test_every_documented_topic_is_known() -> None:
    assert set(TOPICS) == {
        "positions", "open_orders", "order_history", "trade_history",
        "deposit_withdraw_history", "live_order_history", "live_trade_history",
        "orderbook", "recent_trades", "live_funding_rate", "best_price",
    }


def test_event_topics_default_to_error_policy_and_snapshots_to_keep_latest() -> None:
    for name, spec in TOPICS.items():
        expected = Overflow.ERROR if name.startswith("live_") and name != "live_funding_rate" \
            else Overflow.KEEP_LATEST
        assert spec.default_overflow is expected, name
        assert spec.is_list is (expected is Overflow.KEEP_LATEST)


@pytest.mark.parametrize("topic", ["best_prices", "POSITIONS", "", None, 3])
def test_unknown_topic_is_rejected_naming_the_rule(topic: object) -> None:
    with pytest.raises(ValidationError) as info:
        topic_spec(topic)
    assert info.value.param == "topic"
    assert "must be one of" in info.value.rule


def test_address_topic_needs_a_valid_address() -> None:
    spec = topic_spec("positions")
    with pytest.raises(ValidationError, match="needs a profile address"):
        validate_key(spec, None, None)
    with pytest.raises(ValidationError) as info:
        validate_key(spec, "0xnothex", None)
    assert info.value.param == "address"
    with pytest.raises(ValidationError, match="must be a string"):
        validate_key(spec, 12, None)
    with pytest.raises(ValidationError, match="takes no market_id"):
        validate_key(spec, ADDRESS, "1338")


def test_address_is_sent_as_given_and_routed_normalised() -> None:
    given = "0x" + ADDRESS[2:].upper()
    wire, route = validate_key(topic_spec("live_order_history"), given, None)
    assert wire == given
    assert route == "0x0" + ADDRESS[2:]
    assert len(route) == 66


def test_market_topics_need_a_market_id_and_no_address() -> None:
    spec = topic_spec("orderbook")
    assert validate_key(spec, None, 1338) == ("1338", "1338")
    assert validate_key(spec, None, "0014") == ("14", "14")
    with pytest.raises(ValidationError, match="needs a market_id"):
        validate_key(spec, None, None)
    with pytest.raises(ValidationError, match="takes no address"):
        validate_key(spec, ADDRESS, 1338)


@pytest.mark.parametrize("bad", [-1, True, 1.5, "12a", "", " 1", 2**64, "١٢"])
def test_bad_market_ids_are_rejected(bad: object) -> None:
    with pytest.raises(ValidationError) as info:
        canonical_market_id(bad)
    assert info.value.param == "market_id"


def test_unkeyed_topic_takes_no_key() -> None:
    spec = topic_spec("live_funding_rate")
    assert validate_key(spec, None, None) == ("", "")
    with pytest.raises(ValidationError):
        validate_key(spec, ADDRESS, None)
    with pytest.raises(ValidationError):
        validate_key(spec, None, 14)


def test_subscribe_messages_match_the_documented_shapes() -> None:
    decode = msgspec.json.decode
    assert decode(subscribe_message(topic_spec("orderbook"), "1338")) == {
        "topic": "orderbook", "market_id": "1338"}
    assert decode(subscribe_message(topic_spec("positions"), ADDRESS)) == {
        "topic": "positions", "address": ADDRESS}
    assert decode(subscribe_message(topic_spec("live_funding_rate"), "")) == {
        "topic": "live_funding_rate"}
