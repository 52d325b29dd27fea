"""Frame classification: every inbound frame gives exactly one outcome, payloads stay raw, and
nothing (garbage, deep nesting, huge frames) makes it raise. HTTP bodies per T5/T6."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kana_async.pulse.frames import (
    Bad,
    ErrorReply,
    Frame,
    FrameStats,
    Heartbeat,
    Notification,
    Reply,
    classify,
    unwrap_http,
)
from kana_async.sim.pulse import frames as sim_frames
from kana_async.sim.pulse.errors import Code, PulseError

FIXTURES = Path(__file__).parents[1] / "sim" / "pulse" / "fixtures"
CHANNEL_FIXTURES = sorted(FIXTURES.glob("channel.*.json"))


def enc(value: Any) -> bytes:
    return msgspec.json.encode(value)


def same_json(raw: msgspec.Raw, value: Any) -> bool:
    return bool(json.loads(bytes(raw)) == value)


def test_fixtures_are_there() -> None:
    assert len(CHANNEL_FIXTURES) == 13


@pytest.mark.parametrize("path", CHANNEL_FIXTURES, ids=lambda p: p.stem)
def test_every_documented_notification_is_routed_by_channel(path: Path) -> None:
    fixture = json.loads(path.read_text())
    frame = fixture["derived_not_in_doc"]["ws_notification"]
    for data in (enc(frame), json.dumps(frame)):
        got = classify(data)
        assert isinstance(got, Notification)
        assert got.channel == frame["params"]["channel"]
        assert same_json(got.data, frame["params"]["data"])


@pytest.mark.parametrize("request_id", [1, 2**53, "abc"])
@pytest.mark.parametrize("result", [None, "ok", 5.5, [1, 2], {"order": {"order_id": "x"}}])
def test_replies_keep_their_result_raw(request_id: int | str, result: Any) -> None:
    got = classify(enc(sim_frames.reply(request_id, result, us_in=1, us_out=3)))
    assert isinstance(got, Reply)
    assert got.id == request_id
    assert same_json(got.result, result)


def test_a_notification_may_carry_a_type_of_any_shape() -> None:
    got = classify(b'{"method":"subscription","params":{"channel":"c","type":5,"data":[1]}}')
    assert isinstance(got, Notification)
    assert got.channel == "c"


def test_error_replies_with_and_without_id() -> None:
    error = PulseError(Code.INVALID_PARAMS, "amount is required", param="amount")
    got = classify(enc(sim_frames.error_reply(7, error)))
    assert isinstance(got, ErrorReply)
    assert (got.id, got.code, got.message) == (7, int(Code.INVALID_PARAMS), error.message)
    assert same_json(got.data, error.data)
    for frame in (sim_frames.error_reply(None, error),
                  sim_frames.error_reply(7, error, with_id=False)):
        idless = classify(enc(frame))
        assert isinstance(idless, ErrorReply)
        assert idless.id is None
        assert idless.code == int(Code.INVALID_PARAMS)


def test_an_error_without_data_or_message() -> None:
    got = classify(b'{"jsonrpc":"2.0","id":3,"error":{"code":-32601}}')
    assert isinstance(got, ErrorReply)
    assert (got.id, got.code, got.message, bytes(got.data)) == (3, -32601, "", b"")


@pytest.mark.parametrize("kind", ["heartbeat", "test_request"])
def test_heartbeats(kind: str) -> None:
    assert classify(enc(sim_frames.heartbeat(kind))) == Heartbeat(kind)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("frame", "kind"),
    [
        (b"", "malformed"),
        (b"not json", "malformed"),
        (b"\xff\xfe{}", "malformed"),
        (b"[1, 2]", "malformed"),
        (b"5", "malformed"),
        (b'"text"', "malformed"),
        (b"null", "malformed"),
        (b'{"id": 1.5, "result": 1}', "malformed"),
        (b'{"id": true, "result": 1}', "malformed"),
        (b'{"id": 1, "error": {"code": "x"}}', "malformed"),
        (b'{"id": 1, "error": {"message": "no code"}}', "malformed"),
        (b'{"id": 1, "error": "bad"}', "malformed"),
        (b'{"id": 1, "result": 1, "error": {"code": 1}}', "malformed"),
        (b'{"method": 5}', "malformed"),
        (b'{"method": "subscription", "params": [1]}', "malformed"),
        (b'{"method": "subscription", "params": {"channel": 5, "data": 1}}', "malformed"),
        (b"{}", "unrecognized"),
        (b'{"jsonrpc": "2.0", "id": 4}', "unrecognized"),
        (b'{"jsonrpc": "2.0", "result": 1}', "unrecognized"),
        (b'{"method": "subscription", "params": {"data": 1}}', "unrecognized"),
        (b'{"method": "subscription", "params": {"channel": "", "data": 1}}', "unrecognized"),
        (b'{"method": "subscription", "params": {"channel": "book.X.raw"}}', "unrecognized"),
        (b'{"method": "heartbeat", "params": {"type": "ping"}}', "unrecognized"),
        (b'{"method": "heartbeat"}', "unrecognized"),
        (b'{"method": "public/buy", "params": {}}', "unrecognized"),
    ],
)
def test_bad_frames_are_classified_not_raised(frame: bytes, kind: str) -> None:
    got = classify(frame)
    assert isinstance(got, Bad)
    assert got.kind == kind
    assert len(got.excerpt) <= 400


def test_a_deeply_nested_frame_is_refused_as_too_deep() -> None:
    for depth in (10_000, 100_000, 1_000_000):
        deep = b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":"c","data":' + (
            b"[" * depth) + b"]" * depth + b"}}"
        got = classify(deep)
        assert isinstance(got, Bad)
        assert got.kind == "too_deep"
        assert len(got.excerpt) <= 100
        # Opened and never closed: refused the same way.
        unclosed = classify(b'{"id": 1, "result": ' + b"{\"a\":" * depth)
        assert isinstance(unclosed, Bad)
        assert unclosed.kind in ("too_deep", "malformed")


def test_moderate_nesting_is_fine() -> None:
    data = json.dumps({"a": [[[[[[[[[[1]]]]]]]]]]})
    got = classify('{"jsonrpc":"2.0","id":1,"result":' + data + "}")
    assert isinstance(got, Reply)


def test_oversize_is_refused_before_decoding() -> None:
    frame = enc(sim_frames.reply(1, "x" * 1000))
    got = classify(frame, max_bytes=100)
    assert isinstance(got, Bad)
    assert got.kind == "oversize"
    assert str(len(frame)) in got.excerpt
    assert isinstance(classify(frame, max_bytes=len(frame)), Reply)
    # Text is measured in UTF-8 bytes, not characters.
    text = '{"jsonrpc":"2.0","id":1,"result":"' + "é" * 60 + '"}'
    assert isinstance(classify(text, max_bytes=100), Bad)
    assert isinstance(classify(text, max_bytes=len(text.encode())), Reply)
    wide = '{"jsonrpc":"2.0","id":1,"result":"' + "😀" * 30 + '"}'
    assert isinstance(classify(wide, max_bytes=len(wide.encode()) - 1), Bad)
    assert isinstance(classify(wide, max_bytes=len(wide.encode())), Reply)
    assert isinstance(classify("x" * 101, max_bytes=100), Bad)


def test_a_frame_of_another_type_is_malformed() -> None:
    got = classify(bytearray(b"{}"))  # type: ignore[arg-type]
    assert isinstance(got, Bad)
    assert got.kind == "malformed"


def test_text_with_lone_surrogates_is_malformed() -> None:
    got = classify('{"id": 1, "result": "\ud800"}')
    assert isinstance(got, (Bad, Reply))


def test_raw_payloads_own_their_bytes() -> None:
    buffer = bytearray(enc(sim_frames.notification("quote.X", {"a": 1})))
    got = classify(bytes(buffer))
    buffer[:] = b" " * len(buffer)
    assert isinstance(got, Notification)
    assert same_json(got.data, {"a": 1})


def test_stats_count_each_frame_once() -> None:
    stats = FrameStats()
    error = PulseError(Code.BAD_REQUEST, "x")
    frames = [
        enc(sim_frames.reply(1, None)), enc(sim_frames.error_reply(2, error)),
        enc(sim_frames.error_reply(None, error)), enc(sim_frames.notification("c", 1)),
        enc(sim_frames.heartbeat("heartbeat")), enc(sim_frames.heartbeat("test_request")),
        b"garbage", b"{}", b"[" * 5000 + b"]" * 5000, b'{"a":' * 100_000, b"x" * 200,
    ]
    for frame in frames:
        stats.count(classify(frame, max_bytes=1_000_000 if frame[:1] != b"x" else 100))
    assert stats.frames == len(frames)
    assert (stats.replies, stats.errors, stats.idless_errors, stats.notifications,
            stats.heartbeats, stats.test_requests) == (1, 1, 1, 1, 1, 1)
    assert (stats.malformed, stats.unrecognized, stats.oversize) == (2, 1, 1)
    assert stats.too_deep == 1
    assert stats.bad == 5


# -- totality -------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=4),
    max_leaves=20,
)
envelope_keys = st.sampled_from(["jsonrpc", "id", "method", "params", "result", "error",
                                 "channel", "data", "type", "code", "message"])
envelopes = st.recursive(
    json_values,
    lambda inner: st.dictionaries(envelope_keys, inner, max_size=6),
    max_leaves=30,
)
FUZZ = settings(max_examples=400, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
OUTCOMES = (Reply, ErrorReply, Notification, Heartbeat, Bad)


def _check(got: Frame) -> None:
    assert isinstance(got, OUTCOMES)
    stats = FrameStats()
    stats.count(got)
    assert stats.frames == 1
    assert sum(getattr(stats, name) for name in (
        "replies", "errors", "idless_errors", "notifications", "heartbeats", "test_requests",
        "malformed", "too_deep", "oversize", "unrecognized")) == 1


@FUZZ
@given(st.binary(max_size=200))
def test_any_bytes_classify(data: bytes) -> None:
    _check(classify(data))
    unwrap_http(data)
    unwrap_http(data, status=400)


@FUZZ
@given(st.text(max_size=200))
def test_any_text_classifies(data: str) -> None:
    _check(classify(data))


@FUZZ
@given(envelopes, st.sampled_from([200, 400, 500]))
def test_any_json_classifies(value: Any, status: int) -> None:
    data = json.dumps(value).encode()
    _check(classify(data))
    got = unwrap_http(data, status=status)
    assert isinstance(got, (Reply, ErrorReply, Bad))
    wrapper = isinstance(value, dict) and "jsonrpc" in value and (
        "result" in value or "error" in value)
    if status == 200 and not wrapper:
        # T5: anything but a wrapper is the bare result, whatever its fields are called.
        assert isinstance(got, Reply)
        assert bytes(got.result) == data


# -- HTTP bodies ----------------------------------------------------------------------------------


@pytest.mark.parametrize("result", [None, 5, "ok", True, [], [{"a": 1}], {"index_price": 1},
                                    {"status": "open", "id": 1.5, "error": "x"},
                                    {"description": "ok", "response": None, "status": 200}])
def test_a_bare_2xx_body_is_the_result(result: Any) -> None:
    body = enc(result)
    got = unwrap_http(body)
    assert isinstance(got, Reply)
    assert got.id is None
    assert bytes(got.result) == body


def test_a_wrapper_is_unwrapped() -> None:
    got = unwrap_http(enc({"jsonrpc": "2.0", "id": 4, "result": {"a": 1}, "usIn": 1}))
    assert isinstance(got, Reply)
    assert got.id == 4
    assert same_json(got.result, {"a": 1})
    nulled = unwrap_http(b'{"jsonrpc": "2.0", "result": null}')
    assert isinstance(nulled, Reply)
    assert bytes(nulled.result) == b"null"


@pytest.mark.parametrize("status", [200, 400, 500])
def test_a_wrapped_error_is_an_error_at_any_status(status: int) -> None:
    error = PulseError(Code.UNAUTHORIZED, "the access token has expired")
    got = unwrap_http(enc(sim_frames.error_reply(None, error)), status=status)
    assert isinstance(got, ErrorReply)
    assert got.code == int(Code.UNAUTHORIZED)
    assert same_json(got.data, error.data)


def test_a_400_connection_message_is_an_error() -> None:
    error = PulseError(Code.INVALID_PARAMS, "amount must be > 0", param="amount")
    got = unwrap_http(enc(error.http_body()), status=400)
    assert isinstance(got, ErrorReply)
    assert (got.id, got.code) == (None, int(Code.INVALID_PARAMS))
    assert got.message == error.http_body()["description"]
    assert same_json(got.data, error.rpc_error())
    no_status = unwrap_http(b'{"description": "bad", "response": null}', status=400)
    assert isinstance(no_status, ErrorReply)
    assert no_status.code == 400


@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        (b"<html>Bad gateway</html>", 502, "http_status"),
        (b"", 503, "http_status"),
        (b'{"description": "busy", "response": null, "status": 503}', 503, "http_status"),
        (b'{"x": 1}', 400, "http_status"),
        (b"[1]", 500, "http_status"),
        (b"not json", 200, "malformed"),
        (b'{"description": 5}', 400, "malformed"),
        (b'{"description": "x", "status": "y"}', 400, "malformed"),
        (b'{"jsonrpc": "2.0", "error": {"code": "x"}}', 200, "malformed"),
        (b'{"jsonrpc": "2.0", "result": 1, "error": {"code": 1}}', 200, "malformed"),
        (b'{"jsonrpc": "2.0", "id": 1.5, "result": 1}', 200, "malformed"),
        (b'{"a": ' * 100_000, 200, "too_deep"),
    ],
)
def test_unreadable_http_replies(body: bytes, status: int, kind: str) -> None:
    got = unwrap_http(body, status=status)
    assert isinstance(got, Bad)
    assert got.kind == kind


def test_an_oversize_body_is_refused() -> None:
    got = unwrap_http(b"[" + b"1," * 100 + b"1]", max_bytes=50)
    assert isinstance(got, Bad)
    assert got.kind == "oversize"
