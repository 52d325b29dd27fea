"""What the engine publishes has the keys and value kinds of the documented WS examples."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from kana_async.models import FundingRate, OpenOrder, Order, OrderBookLevel, Position, Trade
from kana_async.sim.engine import Change, Engine
from tests.conftest import load_fixture

APT = 1338
ALICE = "0x" + "a" * 64
NOW = 1_700_000_000.0


def kinds(record: dict[str, Any]) -> dict[str, str]:
    def kind(v: Any) -> str:
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, (int, float)):
            return "number"
        return type(v).__name__

    return {k: kind(v) for k, v in record.items()}


def assert_same_shape(ours: dict[str, Any], documented: dict[str, Any]) -> None:
    assert set(ours) == set(documented)
    for key, kind in kinds(documented).items():
        assert kinds(ours)[key] == kind or kind == "null", key


def documented(name: str) -> Any:
    return load_fixture(name)["examples"][0]["body"]["data"]


@pytest.fixture
def engine() -> tuple[Engine, list[Change]]:
    engine = Engine(seed=2, clock=lambda: NOW, funding_interval=1)
    changes: list[Change] = []
    engine.add_listener(changes.append)
    engine.step(NOW)
    engine.deposit(ALICE, 500 * 10**6)
    engine.place_market_order(ALICE, APT, True, False, 1000, 2, 0, 0)
    engine.place_limit_order(ALICE, APT, False, False, 1000, 9000, 2, 0, 0, 0)
    engine.step(NOW + 1)
    return engine, changes


def test_snapshot_topics(engine: tuple[Engine, list[Change]]) -> None:
    eng, _ = engine
    alice = eng.profile_address(ALICE)
    cases = [
        (eng.open_orders(alice), "ws_open_orders.json", OpenOrder),
        (eng.order_history(alice), "ws_order_history.json", Order),
        (eng.trade_history(alice), "ws_trade_history.json", Trade),
        (eng.positions(alice), "ws_positions.json", Position),
        (eng.recent_trades(APT), "ws_recent_trades.json", Trade),
        (eng.orderbook(APT), "ws_orderbook.json", OrderBookLevel),
        (eng.funding_rates(), "ws_live_funding_rate.json", FundingRate),
        (eng.deposit_withdraw_history(alice), "ws_deposit_withdraw_history.json", None),
    ]
    for records, fixture, model in cases:
        assert records, fixture
        for record in records:
            assert_same_shape(record, documented(fixture)[0])
            if model is not None:  # and the SDK's own models read it
                msgspec.convert(record, model, strict=False)


def test_live_topics(engine: tuple[Engine, list[Change]]) -> None:
    _, changes = engine
    for topic, model in (("live_order_history", Order), ("live_trade_history", Trade)):
        records = [c.record for c in changes if c.topic == topic]
        assert records, topic
        for record in records:
            assert record is not None
            assert_same_shape(record, documented(f"ws_{topic}.json"))
            msgspec.convert(record, model, strict=False)
