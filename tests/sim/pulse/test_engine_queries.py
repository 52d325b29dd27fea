"""PulseEngine queries: filters, ordering (newest first), reports, bounds and events."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from kana_async.sim.pulse.domain import order_id_text
from kana_async.sim.pulse.engine import PulseEngine
from kana_async.sim.pulse.errors import Code, PulseError
from tests.sim.pulse.engines import BTC, ETH, START, Clock, make


def code_of(call: Any, *args: Any, **kwargs: Any) -> Code:
    with pytest.raises(PulseError) as info:
        call(*args, **kwargs)
    assert "Decimal(" not in info.value.reason
    return info.value.code


def test_open_orders_filter_by_type_newest_first() -> None:
    engine, clock = make()
    a, _ = engine.place("bob", "buy", BTC, Decimal(10), price=Decimal(50000))
    clock.now += 1
    b, _ = engine.place("bob", "buy", BTC, Decimal(10), type="take_limit", price=Decimal(50000),
                        trigger_price=Decimal(55000))
    engine.place("bob", "buy", ETH, Decimal(10), price=Decimal(2000))
    assert engine.open_orders("bob", BTC) == [b, a]
    assert engine.open_orders("bob", BTC, type="limit") == [a]
    assert engine.open_orders("bob", BTC, type="take_all") == [b]
    assert engine.open_orders("bob", BTC, count=1) == [b]
    assert engine.open_orders("alice", BTC) == []
    assert code_of(engine.open_orders, "bob", BTC, type="x") == Code.INVALID_ARGUMENTS
    assert code_of(engine.open_orders, "bob", BTC, count=0) == Code.INVALID_ARGUMENTS
    assert code_of(engine.open_orders, "bob", "X") == Code.INVALID_OR_UNSUPPORTED_INSTRUMENT


def test_order_history_lists_traded_orders_and_unfilled_ones_on_request() -> None:
    engine, clock = make()
    unfilled, _ = engine.place("bob", "buy", BTC, Decimal(10), price=Decimal(50000))
    engine.cancel("bob", order_id_text(unfilled.order_id))
    clock.now += 1
    engine.place("alice", "sell", BTC, Decimal(10), price=Decimal(60000))
    traded, _ = engine.place("bob", "buy", BTC, Decimal(10), type="market")
    assert engine.order_history("bob", BTC) == [traded]
    assert engine.order_history("bob", BTC, include_unfilled=True) == [traded, unfilled]
    assert engine.order_history("bob", BTC, include_unfilled=True, offset=1) == [unfilled]
    clock.now += 3 * 86400
    assert engine.order_history("bob", BTC) == []
    assert engine.order_history("bob", BTC, include_old=True) == [traded]


def test_orders_by_label_within_a_currency() -> None:
    engine, _ = make()
    a, _ = engine.place("bob", "buy", BTC, Decimal(10), price=Decimal(50000), label="x")
    engine.place("bob", "buy", BTC, Decimal(10), price=Decimal(50000), label="y")
    c, _ = engine.place("bob", "buy", ETH, Decimal(10), price=Decimal(2000), label="x")
    engine.cancel("bob", order_id_text(a.order_id))
    assert engine.orders_by_label("bob", "BTC", "x") == [a]
    assert set(engine.orders_by_label("bob", "USD", "x")) == {a, c}
    assert len(engine.orders_by_label("bob", "USD")) == 3
    assert code_of(engine.orders_by_label, "bob", "DOGE", "x") == Code.INVALID_ARGUMENTS


def test_user_and_last_trades_filters_and_sorting() -> None:
    engine, clock = make()
    engine.place("alice", "sell", BTC, Decimal(100), price=Decimal(60000))
    first, _ = engine.place("bob", "buy", BTC, Decimal(30), type="market")
    clock.now += 10
    second, _ = engine.place("bob", "buy", BTC, Decimal(40), type="market")
    t1, t2 = (engine.user_trades("bob", order_id=order_id_text(o.order_id))[0]
              for o in (first, second))
    assert engine.user_trades("bob") == [t2, t1]
    assert engine.user_trades("bob", sorting="asc", count=1) == [t1]
    assert engine.user_trades("alice", instrument_name=BTC) == [t2, t1]
    assert engine.user_trades("bob", start_ms=int((START + 5) * 1000)) == [t2]
    assert engine.user_trades("bob", end_ms=int((START + 5) * 1000)) == [t1]
    assert engine.user_trades("bob", instrument_name=ETH) == []
    assert engine.last_trades(BTC) == [t2, t1]
    assert engine.last_trades(BTC, start_seq=2) == [t2]
    assert engine.last_trades(BTC, end_seq=1) == [t1]
    assert (t1.trade_seq, t2.trade_seq) == (1, 2)
    assert code_of(engine.last_trades, BTC, sorting="up") == Code.INVALID_ARGUMENTS
    assert code_of(engine.user_trades, "carol", order_id=order_id_text(first.order_id)) == \
        Code.NOT_OWNER_OF_ORDER


def test_positions_report_every_documented_figure() -> None:
    engine, _ = make()
    engine.place("alice", "sell", BTC, Decimal(6000), price=Decimal(60000))
    engine.place("bob", "buy", BTC, Decimal(6000), type="market")
    engine.place("bob", "sell", BTC, Decimal(1000), price=Decimal(70000))
    reports = engine.positions("bob")
    assert [r.instrument_name for r in reports] == [BTC, ETH]
    btc, eth = reports
    assert (btc.size, btc.direction, btc.kind, btc.leverage) == (Decimal(6000), "buy", "future", 50)
    assert btc.average_price == Decimal(60000)
    assert btc.size_currency == Decimal("0.1") == btc.delta
    assert btc.initial_margin == Decimal("0.002")
    assert btc.maintenance_margin == Decimal("0.001")
    assert btc.size_out == Decimal(1000)
    assert btc.open_orders_margin == Decimal("0.00033333")   # 2 % of 1000 USD at the mark 60000
    assert btc.estimated_liquidation_price is not None
    assert btc.estimated_liquidation_price < Decimal(60000)
    assert btc.estimated_liquidation_price % Decimal("0.5") == 0  # on the tick grid
    assert (eth.size, eth.direction) == (Decimal(0), "zero")
    assert eth.estimated_liquidation_price is None
    assert engine.positions("bob", currency="ETH") == [eth]
    assert engine.positions("bob", kind="option") == []
    assert code_of(engine.positions, "bob", kind="bond") == Code.INVALID_ARGUMENTS
    assert code_of(engine.positions, "bob", currency="XRP") == Code.INVALID_ARGUMENTS


def test_account_summary_per_coin_and_in_usd() -> None:
    engine, _ = make()
    engine.place("alice", "sell", BTC, Decimal(6000), price=Decimal(60000))
    engine.place("bob", "buy", BTC, Decimal(6000), type="market")
    btc = engine.summary("bob", "BTC")
    assert btc.currency == "BTC"
    assert btc.balance == Decimal(10) - Decimal("0.00005")
    assert btc.equity == btc.balance          # the mark is still the entry price
    assert btc.initial_margin == Decimal("0.002")
    usd = engine.summary("bob", "USD")
    assert usd.currency == "USD"
    assert usd.balance == (btc.balance * 60000 + 100 * 3000).quantize(Decimal("0.01"))
    assert engine.summary("bob", None) == usd
    only_btc = PulseEngine(clock=Clock(), market_maker=False,
                           instruments=[engine.instruments[BTC]])
    assert only_btc.summary("bob", None).currency == "USD"
    assert only_btc.summary("bob", None).balance == 600_000
    assert len(usd.id) == 24
    assert code_of(engine.summary, "bob", "EUR") == Code.INVALID_ARGUMENTS


def test_order_book_summary() -> None:
    engine, _ = make()
    engine.place("alice", "sell", BTC, Decimal(100), price=Decimal(60010))
    engine.place("alice", "sell", BTC, Decimal(50), price=Decimal(60020))
    engine.place("bob", "buy", BTC, Decimal(200), price=Decimal(59990))
    engine.place("carol", "buy", BTC, Decimal(10), type="market")
    book = engine.order_book(BTC, depth=1)
    assert book.bids == [[Decimal(59990), Decimal(200)]]
    assert book.asks == [[Decimal(60010), Decimal(90)]]
    assert (book.best_bid_price, book.best_ask_amount, book.last_price) == (
        Decimal(59990), Decimal(90), Decimal(60010))
    assert (book.stats_high, book.stats_low, book.stats_price_change) == (
        Decimal(60010), Decimal(60010), Decimal(0))
    assert book.state == "open"
    assert book.underlying_index == "index_price"
    assert len(engine.order_book(BTC).asks) == 2
    assert engine.order_book(ETH).best_bid_price is None
    assert code_of(engine.order_book, BTC, depth=0) == Code.INVALID_ARGUMENTS


def test_index_mark_and_candles() -> None:
    engine, clock = make()
    assert engine.index_price("BTC_USD") == Decimal(60000)
    assert code_of(engine.index_price, "xrp_usd") == Code.INVALID_ARGUMENTS
    assert engine.mark_price(ETH) == Decimal(3000)
    engine.place("alice", "sell", BTC, Decimal(100), price=Decimal(60000))
    engine.place("bob", "buy", BTC, Decimal(50), type="market")
    clock.now += 90
    engine.place("alice", "sell", BTC, Decimal(100), price=Decimal(59000))
    engine.place("bob", "buy", BTC, Decimal(150), type="market")
    start = int(START * 1000)
    bars = engine.candles(BTC, "1", start, start + 120_000)
    assert bars.status == "ok"
    assert bars.ticks == [start, start + 60_000]
    assert bars.open == [Decimal(60000), Decimal(59000)]
    assert bars.close == [Decimal(60000), Decimal(60000)]
    assert bars.low == [Decimal(60000), Decimal(59000)]
    assert bars.cost == [Decimal(50), Decimal(150)]
    assert engine.candles(BTC, "1D", 0, start - 1).status == "no_data"
    assert code_of(engine.candles, BTC, "2", start, start) == Code.INVALID_ARGUMENTS
    assert code_of(engine.candles, BTC, "1", start, start - 1) == Code.INVALID_ARGUMENTS


def test_deposits_newest_first() -> None:
    engine, _ = make()
    deposits = engine.deposits("bob")
    assert {d.currency for d in deposits} == {"BTC", "ETH"}
    assert engine.deposits("bob", currency="ETH", count=1)[0].amount == Decimal(100)
    assert engine.deposits("bob", offset=2) == []


def test_events_are_bounded_and_a_late_reader_sees_the_jump() -> None:
    engine, _ = make(max_events=5)
    for _ in range(10):
        engine.place("bob", "buy", BTC, Decimal(10), price=Decimal(50000))
    events = engine.events_since(0)
    assert [e.seq for e in events] == [6, 7, 8, 9, 10]
    assert engine.last_seq == 10
    assert engine.events_since(8) == events[3:]
    assert engine.events_since(10) == []
    # Order events carry a copy: later changes do not rewrite what was published.
    order = engine.open_orders("bob", BTC)[0]
    engine.cancel("bob", order_id_text(order.order_id))
    assert events[-1].value is not order
    assert getattr(events[-1].value, "state", None) == "open"


def test_histories_are_bounded() -> None:
    engine, _ = make(max_history=3)
    engine.place("alice", "sell", BTC, Decimal(1000), price=Decimal(60000))
    for _ in range(5):
        engine.place("bob", "buy", BTC, Decimal(10), type="market")
    assert len(engine.user_trades("bob", count=100)) == 3
    assert len(engine.last_trades(BTC, count=100)) == 3
    assert len(engine._closed) == 3
    assert engine.user_trades("bob")[0].trade_seq == 5


def test_average_price_is_the_exact_entry_not_the_rounded_coin_value() -> None:
    # 10 USD at 60000 is 0.000166666... BTC, booked as 0.00016667: the average must still be
    # the price traded, not 10 / 0.00016667.
    engine, _ = make()
    engine.place("alice", "sell", BTC, Decimal(30), price=Decimal(60000))
    engine.place("alice", "sell", BTC, Decimal(10), price=Decimal("60500.5"))
    engine.place("bob", "buy", BTC, Decimal(10), type="market")
    assert engine.positions("bob")[0].average_price == Decimal(60000)
    engine.place("bob", "buy", BTC, Decimal(30), type="market")
    # harmonic mean of 30 USD at 60000 and 10 at 60500.5 (inverse contracts)
    expected = Decimal(40) / (Decimal(30) / 60000 + Decimal(10) / Decimal("60500.5"))
    assert engine.positions("bob")[0].average_price == expected.quantize(Decimal("0.0001"))
    engine.place("bob", "sell", BTC, Decimal(20), price=Decimal(60000))   # rests: no change
    engine.place("alice", "buy", BTC, Decimal(20), type="market")       # bob reduces to 20
    assert engine.positions("bob")[0].average_price == expected.quantize(Decimal("0.0001"))
