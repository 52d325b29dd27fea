"""Each topic's payload decode is total: a bad payload is skipped and counted, never raised."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kana_async.stream.book import OrderBook
from kana_async.stream.subscription import Subscription
from kana_async.stream.topics import TOPICS, Overflow, TopicSpec
from tests.conftest import load_fixture

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

#: One documented, decodable payload per topic.
VALID: dict[str, bytes] = {}
for _topic in TOPICS:
    for _example in load_fixture(f"ws_{_topic}.json")["examples"]:
        _data = _example["body"]["data"]
        if _data:
            VALID.setdefault(_topic, json.dumps(_data).encode())
# The documents give no best_price example: the shape the simulator serves stands in.
VALID.setdefault("best_price", json.dumps([{
    "market_id": "1338", "best_bid_price": "5.759", "best_ask_price": "5.761",
    "last_updated": 1718000000, "transaction_version": 42,
}]).encode())


def subscription(spec: TopicSpec, decode_errors: list[Exception]) -> Subscription[Any]:
    convert = None
    if spec.name == "orderbook":
        def convert(levels: Any) -> OrderBook:
            return OrderBook.from_levels(levels, 14)
    return Subscription(spec, "k", "k", overflow=Overflow.ERROR, capacity=8, convert=convert,
                        on_decode_error=lambda sub, exc: decode_errors.append(exc))


def read_now(sub: Subscription[Any]) -> Any:
    """One read that must not wait (something decodable is buffered)."""
    coro = sub.get()
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise AssertionError("the read would have waited")


def check_total(spec: TopicSpec, payload: bytes) -> None:
    errors: list[Exception] = []
    sub = subscription(spec, errors)
    sub.push(msgspec.Raw(payload))
    sub.push(msgspec.Raw(VALID[spec.name]))
    first = read_now(sub)
    stats = sub.stats
    if stats.decode_errors:  # the bad payload was skipped: the valid one came through
        assert stats.delivered == 1
        assert stats.buffered == 0
        assert len(errors) == 1
        assert isinstance(errors[0], Exception)
    else:  # it decoded: the valid one still waits
        assert stats.delivered == 1
        assert stats.buffered == 1
        read_now(sub)
    assert first is not None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["market_id", "address", "price", "size", "is_ask",
                                       "order_id", "trade_id", "funding_rate"]) | st.text(),
                      inner, max_size=6),
    max_leaves=30,
)

SPECS = [pytest.param(spec, id=name) for name, spec in TOPICS.items()]


@pytest.mark.parametrize("spec", SPECS)
@FUZZ
@given(payload=st.binary(max_size=300))
def test_arbitrary_bytes(spec: TopicSpec, payload: bytes) -> None:
    check_total(spec, payload)


@pytest.mark.parametrize("spec", SPECS)
@FUZZ
@given(value=json_values)
def test_arbitrary_json(spec: TopicSpec, value: Any) -> None:
    check_total(spec, json.dumps(value).encode())


@pytest.mark.parametrize("spec", SPECS)
@FUZZ
@given(field=st.integers(0, 30), value=json_values, drop=st.booleans())
def test_mutated_documented_payloads(spec: TopicSpec, field: int, value: Any,
                                     drop: bool) -> None:
    data = json.loads(VALID[spec.name])
    row = data[0] if isinstance(data, list) else data
    keys = sorted(row)
    key = keys[field % len(keys)]
    if drop:
        del row[key]
    else:
        row[key] = value
    check_total(spec, json.dumps(data).encode())


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("depth", [100, 400, 1000, 5000])
def test_deep_nesting(spec: TopicSpec, depth: int) -> None:
    deep = "[" * depth + "]" * depth
    check_total(spec, deep.encode())
    obj = '{"market_id":' * depth + "1" + "}" * depth
    check_total(spec, obj.encode())
    data = json.loads(VALID[spec.name])
    row = data[0] if isinstance(data, list) else data
    text = json.dumps(data).replace(json.dumps(row), json.dumps({**row, "extra": 0})
                                    ).replace('"extra": 0', '"extra": ' + deep, 1)
    check_total(spec, text.encode())
