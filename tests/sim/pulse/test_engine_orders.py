"""PulseEngine order entry: every rule of place/edit/cancel, each refusal changing nothing.

BTC_USD-PERPETUAL: 10 USD contracts, tick 0.5 USD; the engine starts at index 60000 without the
market maker, so the books hold only what a test puts there.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from kana_async.sim.pulse.domain import order_id_text
from kana_async.sim.pulse.engine import PulseEngine
from kana_async.sim.pulse.errors import Code, PulseError
from tests.sim.pulse.engines import BTC, ETH, make


def snapshot(engine: PulseEngine) -> Any:
    """Everything a refused call must leave as it was."""
    accounts = {c: (dict(a.balances), {n: (p.size, p.open_cash, p.realized)
                                       for n, p in a.positions.items()})
                for c, a in engine._accounts.items()}
    books = {n: engine.book(n) for n in engine.instruments}
    orders = {i: (o.state, o.remaining, o.filled, o.price, o.amount)
              for i, o in engine._live.items()}
    return accounts, books, orders, engine.last_seq, dict(engine.ledger.fee_pool)


def refused(code: Code, engine: PulseEngine, call: Any, *args: Any, **kwargs: Any) -> PulseError:
    engine.account(args[0])  # opening the account on first sight is not part of the call
    before = snapshot(engine)
    with pytest.raises(PulseError) as info:
        call(*args, **kwargs)
    assert info.value.code == code, info.value
    assert snapshot(engine) == before
    engine.audit()
    return info.value


def usd(value: str | int) -> Decimal:
    return Decimal(value)


def test_a_limit_order_rests_and_is_listed() -> None:
    engine, _ = make()
    order, trades = engine.place("alice", "buy", BTC, usd(100), price=usd("59990.5"), label="a")
    assert trades == []
    assert (order.state, order.amount, order.price, order.remaining) == ("open", 10, 119981, 10)
    assert engine.book(BTC) == ([(119981, 10)], [])
    assert engine.open_orders("alice", BTC) == [order]
    assert engine.order("alice", order_id_text(order.order_id)) is order
    assert len(order_id_text(order.order_id)) == 24
    events = engine.events_since(0)
    assert [(e.kind, e.account) for e in events] == [("order", "alice")]
    engine.audit()


def test_accounts_are_funded_on_first_sight() -> None:
    engine, _ = make(faucet={"BTC": Decimal(2)})
    account = engine.account("newcomer")
    assert account.balances == {"BTC": Decimal(2), "ETH": Decimal(0)}
    assert [(d.currency, d.amount, d.state) for d in engine.deposits("newcomer")] == [
        ("BTC", Decimal(2), "completed")]
    assert engine.account("newcomer") is account
    assert len(account.account_id) == 24
    engine.audit()


def test_reserved_and_surplus_accounts_are_refused() -> None:
    engine, _ = make(max_accounts=1)
    with pytest.raises(PulseError) as info:
        engine.account("pulse:market_maker")
    assert info.value.code == Code.FORBIDDEN
    engine.account("one")
    with pytest.raises(PulseError) as info:
        engine.account("two")
    assert info.value.code == Code.FORBIDDEN


def test_a_fill_moves_exact_coin_and_the_taker_pays_the_fee() -> None:
    engine, _ = make()
    ask, _ = engine.place("alice", "sell", BTC, usd(100), price=usd(60000))
    order, trades = engine.place("bob", "buy", BTC, usd(100), type="market")
    assert order.state == "filled"
    assert ask.state == "filled"
    [trade] = trades
    assert (trade.price, trade.amount, trade.taker, trade.maker) == (120000, 10, "bob", "alice")
    value = Decimal("0.00166667")  # 100 / 60000 rounded half-even to 1e-8
    fee = Decimal("0.00000084")    # 0.05 % of it, rounded up
    assert (trade.taker_fee, trade.maker_fee) == (fee, Decimal(0))
    bob, alice = engine.account("bob"), engine.account("alice")
    assert bob.balances["BTC"] == 10 - fee
    assert alice.balances["BTC"] == 10
    assert (bob.positions[BTC].size, bob.positions[BTC].open_cash) == (10, value)
    assert (alice.positions[BTC].size, alice.positions[BTC].open_cash) == (-10, -value)
    assert engine.ledger.fee_pool["BTC"] == fee
    assert trade.trade_seq == 1
    assert len(trade.trade_id) == 24
    assert engine.open_orders("alice", BTC) == []
    engine.audit()


def test_closing_a_position_realizes_its_share_of_open_cash() -> None:
    engine, _ = make()
    engine.place("alice", "sell", BTC, usd(200), price=usd(60000))
    engine.place("bob", "buy", BTC, usd(200), type="market")
    engine.place("carol", "buy", BTC, usd(100), price=usd(66000))
    engine.place("bob", "sell", BTC, usd(100), type="market")
    pos = engine.account("bob").positions[BTC]
    # Half of 200/60000 = 0.00333333 stays open; the rest minus 100/66000 is realized.
    assert (pos.size, pos.open_cash) == (10, Decimal("0.00166666"))
    assert pos.realized == Decimal("0.00333333") - Decimal("0.00166666") - Decimal("0.00151515")
    [report] = [p for p in engine.positions("bob", currency="BTC")]
    assert report.realized_profit_loss == pos.realized
    assert report.direction == "buy"
    engine.audit()


def test_a_position_can_flip_side_in_one_fill() -> None:
    engine, _ = make()
    engine.place("alice", "sell", BTC, usd(100), price=usd(60000))
    engine.place("bob", "buy", BTC, usd(100), type="market")
    engine.place("carol", "buy", BTC, usd(300), price=usd(50000))
    engine.place("bob", "sell", BTC, usd(300), type="market")
    pos = engine.account("bob").positions[BTC]
    assert pos.size == -20
    assert pos.open_cash == -Decimal("0.004")  # two thirds of 300/50000
    engine.audit()


def test_self_trade_is_refused_before_anything_changes() -> None:
    engine, _ = make()
    engine.place("alice", "sell", BTC, usd(100), price=usd(60000))
    refused(Code.ORDER_OVERLAP, engine, engine.place, "alice", "buy", BTC, usd(100),
            price=usd(60000))
    refused(Code.ORDER_OVERLAP, engine, engine.place, "alice", "buy", BTC, usd(100),
            type="market")


def test_post_only_is_repriced_one_tick_behind_the_opposite_best() -> None:
    engine, _ = make()
    engine.place("alice", "sell", BTC, usd(100), price=usd(60000))
    engine.place("alice", "buy", BTC, usd(100), price=usd(59000))
    bid, trades = engine.place("bob", "buy", BTC, usd(50), price=usd(60100), post_only=True)
    ask, _ = engine.place("bob", "sell", BTC, usd(50), price=usd(58000), post_only=True)
    # The bid lands one tick below the best ask; the ask one tick above that new best bid.
    assert (trades, bid.price, ask.price) == ([], 119999, 120000)
    refused(Code.INVALID_ARGUMENTS, engine, engine.place, "bob", "buy", BTC, usd(50),
            price=usd(50000), post_only=True, time_in_force="immediate_or_cancel")
    engine.audit()


def test_immediate_or_cancel_cancels_the_rest() -> None:
    engine, _ = make()
    engine.place("alice", "sell", BTC, usd(100), price=usd(60000))
    order, trades = engine.place("bob", "buy", BTC, usd(300), price=usd(60000),
                                 time_in_force="immediate_or_cancel")
    assert (order.state, order.filled, order.remaining, len(trades)) == ("cancelled", 10, 20, 1)
    assert engine.book(BTC) == ([], [])
    engine.audit()


def test_fill_or_kill_fills_all_or_nothing() -> None:
    engine, _ = make()
    engine.place("alice", "sell", BTC, usd(100), price=usd(60000))
    order, trades = engine.place("bob", "buy", BTC, usd(200), price=usd(60000),
                                 time_in_force="fill_or_kill")
    assert (order.state, order.filled, trades) == ("cancelled", 0, [])
    assert engine.book(BTC) == ([], [(120000, 10)])
    order, trades = engine.place("bob", "buy", BTC, usd(100), price=usd(60000),
                                 time_in_force="fill_or_kill")
    assert (order.state, len(trades)) == ("filled", 1)
    engine.audit()


def test_a_market_order_never_rests() -> None:
    engine, _ = make()
    order, trades = engine.place("bob", "buy", BTC, usd(100), type="market")
    assert (order.state, trades, engine.book(BTC)) == ("cancelled", [], ([], []))


def test_reduce_only_caps_the_amount_and_needs_a_position() -> None:
    engine, _ = make()
    refused(Code.INVALID_ARGUMENTS, engine, engine.place, "bob", "sell", BTC, usd(100),
            type="market", reduce_only=True)
    engine.place("alice", "sell", BTC, usd(100), price=usd(60000))
    engine.place("bob", "buy", BTC, usd(100), type="market")
    refused(Code.INVALID_ARGUMENTS, engine, engine.place, "bob", "buy", BTC, usd(100),
            price=usd(50000), reduce_only=True)
    order, _ = engine.place("bob", "sell", BTC, usd(500), price=usd(70000), reduce_only=True)
    assert order.amount == 10
    engine.audit()


def test_an_order_beyond_the_margin_is_refused() -> None:
    engine, _ = make(faucet={"BTC": Decimal(1)})
    # 2 % of 3,000,000 USD at 60000 is 1 BTC: the whole balance.
    engine.place("alice", "buy", BTC, usd(2_900_000), price=usd(50000))
    err = refused(Code.NOT_ENOUGH_FUNDS, engine, engine.place, "bob", "buy", BTC,
                  usd(3_100_000), price=usd(50000))
    assert "initial margin" in err.reason
    assert "Decimal" not in err.reason


def test_a_refused_order_undoes_its_fills_and_keeps_the_queue() -> None:
    engine, _ = make(faucet={"BTC": Decimal(1)})
    first, _ = engine.place("alice", "sell", BTC, usd(1_000_000), price=usd(60000))
    engine.place("carol", "sell", BTC, usd(100), price=usd(60000))
    # Fills alice's ask, then would rest 2,000,000 USD more: beyond bob's 1 BTC.
    refused(Code.NOT_ENOUGH_FUNDS, engine, engine.place, "bob", "buy", BTC, usd(3_000_000),
            price=usd(60000))
    assert (first.remaining, first.filled, first.state) == (100_000, 0, "open")
    _, trades = engine.place("dave", "buy", BTC, usd(1_000_010), type="market")
    assert [t.maker for t in trades] == ["alice", "carol"]
    engine.audit()


def test_bad_parameters_name_their_rule() -> None:
    engine, _ = make()
    cases: list[tuple[Code, dict[str, Any]]] = [
        (Code.INVALID_AMOUNT, {"amount": usd(15)}),
        (Code.INVALID_AMOUNT, {"amount": usd(0)}),
        (Code.PRICE_WRONG_TICK, {"price": usd("60000.3")}),
        (Code.INVALID_PRICE, {"price": usd(-1)}),
        (Code.INVALID_PRICE, {"price": None}),
        (Code.INVALID_ARGUMENTS, {"type": "all"}),
        (Code.INVALID_ARGUMENTS, {"type": "trigger_all"}),
        (Code.INVALID_ARGUMENTS, {"type": "trailing_stop"}),
        (Code.INVALID_ARGUMENTS, {"time_in_force": "forever"}),
        (Code.INVALID_ARGUMENTS, {"type": "stop_limit"}),          # no trigger_price
        (Code.INVALID_ARGUMENTS, {"trigger_price": usd(60000)}),   # on a limit order
        (Code.INVALID_ARGUMENTS, {"type": "stop_market", "trigger_price": usd(61000),
                                  "trigger": "mark_price"}),
        (Code.INVALID_ARGUMENTS, {"label": "x" * 65}),
        (Code.INVALID_MAX_SHOW, {"max_show": usd(20)}),
        (Code.INVALID_MAX_SHOW, {"max_show": usd(5)}),
        (Code.INVALID_OR_UNSUPPORTED_INSTRUMENT, {"instrument_name": "DOGE"}),
        (Code.INVALID_ARGUMENTS, {"direction": "up"}),
    ]
    for code, change in cases:
        args: dict[str, Any] = {"direction": "buy", "instrument_name": BTC, "amount": usd(10),
                                "price": usd(60000), **change}
        err = refused(code, engine, engine.place, "bob", args.pop("direction"),
                      args.pop("instrument_name"), args.pop("amount"), **args)
        assert "Decimal(" not in err.reason
    order, _ = engine.place("bob", "buy", BTC, usd(100), price=usd(50000), max_show=usd(10))
    assert order.max_show == 1


def test_open_orders_are_capped_per_account() -> None:
    engine, _ = make(max_open_orders=2)
    for _ in range(2):
        engine.place("bob", "buy", BTC, usd(10), price=usd(50000))
    refused(Code.INVALID_ARGUMENTS, engine, engine.place, "bob", "buy", BTC, usd(10),
            price=usd(50000))
    engine.place("alice", "buy", BTC, usd(10), price=usd(50000))


# -- edit -----------------------------------------------------------------------------------


def test_edit_down_at_the_same_price_keeps_the_queue_position() -> None:
    engine, _ = make()
    first, _ = engine.place("alice", "sell", BTC, usd(100), price=usd(60000))
    engine.place("carol", "sell", BTC, usd(100), price=usd(60000))
    edited, trades = engine.edit("alice", order_id_text(first.order_id), amount=usd(50))
    assert edited is first
    assert trades == []
    assert first.replaced
    assert first.remaining == 5
    assert engine.book(BTC) == ([], [(120000, 15)])
    _, trades = engine.place("bob", "buy", BTC, usd(50), type="market")
    assert [t.maker for t in trades] == ["alice"]
    engine.audit()


def test_edit_up_goes_to_the_back_of_the_queue() -> None:
    engine, _ = make()
    first, _ = engine.place("alice", "sell", BTC, usd(100), price=usd(60000))
    engine.place("carol", "sell", BTC, usd(100), price=usd(60000))
    engine.edit("alice", order_id_text(first.order_id), amount=usd(200))
    _, trades = engine.place("bob", "buy", BTC, usd(100), type="market")
    assert [t.maker for t in trades] == ["carol"]
    engine.audit()


def test_edit_to_a_crossing_price_trades() -> None:
    engine, _ = make()
    engine.place("alice", "sell", BTC, usd(100), price=usd(60000))
    bid, _ = engine.place("bob", "buy", BTC, usd(200), price=usd(59000))
    _, trades = engine.edit("bob", order_id_text(bid.order_id), price=usd(60000))
    assert len(trades) == 1
    assert (bid.state, bid.filled, bid.remaining) == (
        "partially_filled", 10, 10)
    assert engine.book(BTC) == ([(120000, 10)], [])
    refused(Code.INVALID_AMOUNT, engine, engine.edit, "bob", order_id_text(bid.order_id),
            amount=usd(100))
    engine.audit()


def test_edit_and_cancel_refusals() -> None:
    engine, _ = make()
    order, _ = engine.place("alice", "buy", BTC, usd(100), price=usd(50000))
    oid = order_id_text(order.order_id)
    refused(Code.INVALID_ORDER_ID, engine, engine.edit, "alice", "xyz", amount=usd(10))
    refused(Code.ORDER_NOT_FOUND, engine, engine.cancel, "alice", "0" * 24)
    refused(Code.NOT_OWNER_OF_ORDER, engine, engine.cancel, "bob", oid)
    refused(Code.INVALID_ARGUMENTS, engine, engine.edit, "alice", oid)
    refused(Code.PRICE_WRONG_TICK, engine, engine.edit, "alice", oid, price=usd("1.1"))
    refused(Code.INVALID_ARGUMENTS, engine, engine.edit, "alice", oid, trigger_price=usd(1))
    cancelled = engine.cancel("alice", oid)
    assert (cancelled.state, cancelled.cancel_reason) == ("cancelled", "user_request")
    refused(Code.NOT_OPEN_ORDER, engine, engine.cancel, "alice", oid)
    refused(Code.NOT_OPEN_ORDER, engine, engine.edit, "alice", oid, amount=usd(10))
    assert engine.order("alice", oid).state == "cancelled"


def test_edit_beyond_the_margin_is_refused() -> None:
    engine, _ = make(faucet={"BTC": Decimal(1)})
    order, _ = engine.place("alice", "buy", BTC, usd(1_000_000), price=usd(50000))
    refused(Code.NOT_ENOUGH_FUNDS, engine, engine.edit, "alice", order_id_text(order.order_id),
            amount=usd(5_000_000))


# -- cancel ---------------------------------------------------------------------------------


def test_cancel_all_filters_by_instrument_and_type() -> None:
    engine, _ = make()
    engine.place("alice", "buy", BTC, usd(10), price=usd(50000))
    engine.place("alice", "buy", ETH, usd(10), price=usd(2000))
    stop, _ = engine.place("alice", "buy", BTC, usd(10), type="stop_market",
                           trigger_price=usd(70000))
    engine.place("bob", "buy", BTC, usd(10), price=usd(50000))
    assert engine.cancel_all("alice", instrument_name=BTC, type="trigger_all") == [stop]
    assert stop.state == "cancelled"
    refused(Code.INVALID_ARGUMENTS, engine, engine.cancel_all, "alice", type="nonsense")
    refused(Code.INVALID_OR_UNSUPPORTED_INSTRUMENT, engine, engine.cancel_all, "alice",
            instrument_name="X")
    assert [o.instrument.instrument_name for o in engine.cancel_all("alice")] == [BTC, ETH]
    assert engine.cancel_all("alice") == []
    assert len(engine.open_orders("bob", BTC)) == 1
    engine.audit()


def test_cancel_by_origin_cancels_one_connection_only() -> None:
    engine, _ = make()
    a, _ = engine.place("alice", "buy", BTC, usd(10), price=usd(50000), origin="conn-1")
    b, _ = engine.place("alice", "buy", BTC, usd(10), price=usd(50000), origin="conn-2")
    assert engine.cancel_by_origin("alice", "conn-1") == [a]
    assert (a.state, a.cancel_reason, b.state) == ("cancelled", "cancel_on_disconnect", "open")
    assert engine.cancel_by_origin("bob", "conn-2") == []


def test_values_of_the_wrong_type_are_refused_naming_the_parameter() -> None:
    engine, _ = make()
    bad: Any = "10"
    cases: list[tuple[Code, str, dict[str, Any]]] = [
        (Code.INVALID_AMOUNT, "amount", {"amount": 10.0}),
        (Code.INVALID_AMOUNT, "amount", {"amount": True}),
        (Code.INVALID_AMOUNT, "amount", {"amount": Decimal("NaN")}),
        (Code.INVALID_AMOUNT, "amount", {"amount": Decimal("1e999999")}),
        (Code.INVALID_PRICE, "price", {"price": Decimal(10) ** 13}),
        (Code.INVALID_PRICE, "price", {"price": bad}),
        (Code.INVALID_ARGUMENTS, "post_only", {"post_only": "yes"}),
        (Code.INVALID_ARGUMENTS, "reduce_only", {"reduce_only": 1}),
        (Code.INVALID_MAX_SHOW, "max_show", {"max_show": bad}),
    ]
    for code, param, change in cases:
        args: dict[str, Any] = {"amount": usd(10), "price": usd(60000), **change}
        err = refused(code, engine, engine.place, "bob", "buy", BTC, args.pop("amount"), **args)
        assert err.param == param
    twenty: Any = 20
    order, _ = engine.place("bob", "buy", BTC, twenty, price=twenty * 3000)  # ints are numbers
    assert (order.amount, order.price) == (2, 120000)
    oid = order_id_text(order.order_id)
    assert refused(Code.INVALID_AMOUNT, engine, engine.edit, "bob", oid, amount=bad).param == \
        "amount"
    assert refused(Code.INVALID_ARGUMENTS, engine, engine.user_trades, "bob",
                   start_ms=bad).param == "start_timestamp"
    assert refused(Code.INVALID_ARGUMENTS, engine, engine.order_history, "bob", BTC,
                   include_old="no").param == "include_old"
    assert refused(Code.INVALID_ARGUMENTS, engine, engine.set_mmp_config, "bob", "btc_usd",
                   interval=bad, frozen_time=Decimal(1), quantity_limit=Decimal(1)).param == \
        "interval"


def test_an_edited_post_only_order_is_repriced_instead_of_trading() -> None:
    engine, _ = make()
    engine.place("alice", "sell", BTC, usd(100), price=usd(60000))
    bid, _ = engine.place("bob", "buy", BTC, usd(100), price=usd(59000), post_only=True)
    _, trades = engine.edit("bob", order_id_text(bid.order_id), price=usd(61000))
    assert trades == []
    assert bid.price == 119999
    assert engine.book(BTC) == ([(119999, 10)], [(120000, 10)])
    engine.audit()


def test_a_trade_is_published_to_both_parties_with_their_orders() -> None:
    engine, _ = make()
    ask, _ = engine.place("alice", "sell", BTC, usd(100), price=usd(60000))
    seq = engine.last_seq
    bid, [trade] = engine.place("bob", "buy", BTC, usd(100), type="market")
    events = engine.events_since(seq)
    assert [(e.kind, e.account) for e in events] == [
        ("trade", "bob"), ("trade", "alice"), ("order", "bob"), ("order", "alice")]
    assert events[0].value is trade
    assert [getattr(e.value, "state", None) for e in events[2:]] == ["filled", "filled"]
    assert [getattr(e.value, "order_id", None) for e in events[2:]] == [bid.order_id,
                                                                         ask.order_id]
