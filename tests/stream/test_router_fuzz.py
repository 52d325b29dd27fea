"""The router is total: any frame in, exactly one counted outcome out, never an exception."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kana_async.stream.router import Router, RouterStats
from kana_async.stream.topics import TOPICS
from tests.conftest import load_fixture

ADDR_A = "0x" + "a" * 64
ADDR_B = "0x" + "b" * 64

#: Every documented WebSocket body (``tests/fixtures/kana/ws_*.json``).
DOCUMENTED = [
    example["body"]
    for name in sorted(load_fixture("_index.json")["files"])
    if name.startswith("ws_")
    for example in load_fixture(name)["examples"]
]

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class Counter:
    def __init__(self) -> None:
        self.count = 0

    def push(self, payload: msgspec.Raw) -> None:
        assert isinstance(payload, msgspec.Raw)
        self.count += 1


def busy_router() -> tuple[Router, list[str]]:
    """A router with one key of some topics and several keys of others."""
    seen: list[str] = []
    router = Router(on_anomaly=lambda kind, detail: seen.append(detail))
    for topic, keys in (
        ("positions", (ADDR_A, ADDR_B)),
        ("open_orders", (ADDR_A, ADDR_B)),
        ("orderbook", ("1338", "14")),
        ("recent_trades", ("1338",)),
        ("trade_history", (ADDR_A,)),
        ("live_trade_history", (ADDR_A, ADDR_B)),
        ("live_order_history", (ADDR_A,)),
        ("live_funding_rate", ("",)),
    ):
        spec = TOPICS[topic]
        for key in keys:
            router.add(Counter(), spec, key)
            router.subscribed(spec, key)
    return router, seen


def outcomes(stats: RouterStats) -> int:
    """Every frame ends in exactly one of these."""
    return (stats.routed + stats.ignored + stats.malformed + stats.server_error
            + stats.unknown_topic + stats.unroutable + stats.unattributed + stats.oversize)


def feed_all(frames: list[bytes | str]) -> Router:
    router, details = busy_router()
    for frame in frames:
        router.feed(frame)
    stats = router.stats()
    assert stats.frames == len(frames)
    assert outcomes(stats) == len(frames)
    for detail in details:  # excerpts are printable, bounded text
        assert len(detail) <= 200
        detail.encode("utf-8")
    return router


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["message", "data", "error", "address", "market_id",
                                       "is_ask", "fee", "status", "margin", "x"]) | st.text(),
                      inner, max_size=5),
    max_leaves=30,
)


@FUZZ
@given(st.lists(st.binary(max_size=300), max_size=5))
def test_arbitrary_bytes(frames: list[bytes]) -> None:
    feed_all(list(frames))


@FUZZ
@given(st.lists(st.text(max_size=200), max_size=5))
def test_arbitrary_text_including_lone_surrogates(frames: list[str]) -> None:
    feed_all(list(frames))


@FUZZ
@given(st.lists(json_values, max_size=5), st.booleans())
def test_arbitrary_json(values: list[Any], as_text: bool) -> None:
    frames: list[bytes | str] = []
    for value in values:
        text = json.dumps(value)
        frames.append(text if as_text else text.encode())
    feed_all(frames)


def _mutations() -> st.SearchStrategy[bytes]:
    documented = st.sampled_from(DOCUMENTED)

    def mutate(body: Any, draw_value: Any, where: int, drop: bool) -> bytes:
        body = json.loads(json.dumps(body))
        data = body.get("data")
        rows = data if isinstance(data, list) else [data]
        if rows and isinstance(rows[0], dict) and rows[0]:
            keys = sorted(rows[0])
            key = keys[where % len(keys)]
            if drop:
                del rows[0][key]
            else:
                rows[0][key] = draw_value
        elif drop:
            body.pop("message", None)
        return json.dumps(body).encode()

    return st.builds(mutate, documented, json_values, st.integers(0, 50), st.booleans())


@FUZZ
@given(st.lists(_mutations(), min_size=1, max_size=4))
def test_mutated_documented_frames(frames: list[bytes]) -> None:
    feed_all(list(frames))


@FUZZ
@given(st.binary(min_size=1, max_size=400), st.integers(0, 10_000))
def test_truncated_and_spliced_documented_frames(noise: bytes, cut: int) -> None:
    frames: list[bytes | str] = []
    for body in DOCUMENTED:
        whole = json.dumps(body).encode()
        frames.append(whole[: cut % (len(whole) + 1)])
        frames.append(whole[: cut % (len(whole) + 1)] + noise)
    feed_all(frames)


def test_deep_nesting_anywhere_is_malformed_or_unroutable_not_a_crash() -> None:
    deep = b"[" * 1000 + b"]" * 1000
    obj = b'{"a":' * 1000 + b"1" + b"}" * 1000
    frames: list[bytes | str] = [
        b'{"message":"positions","data":' + deep + b"}",
        b'{"message":"positions","data":[{"address":' + deep + b"}]}",
        b'{"message":"live_trade_history","data":' + obj + b"}",
        b'{"data":' + deep + b"}",
        b'{"data":[{"margin":' + deep + b"}]}",
        b'{"data":[{"fee":"0","address":' + obj + b"}]}",
        b'{"message":"error","error":' + deep + b"}",
        b"[" * 100_000,
        (b'{"message":"positions","data":' + deep + b"}").decode(),
    ]
    router = feed_all(frames)
    assert router.stats().routed == 0


def test_text_frames_with_lone_surrogates() -> None:
    feed_all(['{"message":"positions","data":"\ud800"}',
              '{"message":"\udfff","data":[]}',
              '{"data":[{"address":"\ud800","fee":"0"}]}',
              "\ud800" * 300])


def test_huge_frames_are_refused_before_decoding() -> None:
    limit = 64 * 1024
    router = Router(max_frame_bytes=limit)
    sink = Counter()
    router.add(sink, TOPICS["positions"], ADDR_A)
    router.subscribed(TOPICS["positions"], ADDR_A)
    big = b'{"message":"positions","data":[' + b'{"address":"x"},' * 10_000 + b"{}]}"
    router.feed(big)
    router.feed(big.decode())
    router.feed(b'{"message":"positions","data":[]}')
    stats = router.stats()
    assert (stats.oversize, stats.routed, sink.count) == (2, 1, 1)
    assert outcomes(stats) == stats.frames == 3


def _wide_rows_frame() -> bytes:
    """~14 MB of one trader's fills, many short fields each, without ``message``."""
    row = {"address": ADDR_A, "market_id": 1338, "fee": 0, "trade_id": 7,
           **{f"f{n}": n for n in range(16)}}
    return msgspec.json.encode({"data": [row] * 60_000})


def test_routing_a_large_frame_by_shape_or_by_key_stays_near_its_size() -> None:
    """Only the key and the field names are read: a full decode of a 14 MB frame held
    hundreds of MB and blocked the loop for seconds."""
    import tracemalloc

    frame = _wide_rows_frame()
    keyed = b'{"message":"trade_history",' + frame[1:]
    for payload in (frame, keyed):
        router = Router()
        mine, other = Counter(), Counter()
        for sink, key in ((mine, ADDR_A), (other, ADDR_B)):
            router.add(sink, TOPICS["trade_history"], key)
            router.subscribed(TOPICS["trade_history"], key)
        tracemalloc.start()
        try:
            router.feed(payload)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert (mine.count, other.count) == (1, 0)
        assert peak < 2 * len(payload), (peak, len(payload))
