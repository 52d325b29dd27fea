"""PulseEngine over time: trigger orders, good-til-day expiry, MMP, funding, settlements,
delivery prices and liquidation. The clock is set by hand; there is no market maker."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kana_async.sim.pulse.domain import order_id_text
from kana_async.sim.pulse.engine import PulseEngine
from kana_async.sim.pulse.errors import Code, PulseError
from tests.sim.pulse.engines import BTC, START, make


def liquidity(engine: PulseEngine, low: int = 50000, high: int = 70000) -> None:
    """Resting orders of a well-funded account on both sides."""
    engine.place("lp", "buy", BTC, Decimal(100_000), price=Decimal(low))
    engine.place("lp", "sell", BTC, Decimal(100_000), price=Decimal(high))


# -- trigger orders -------------------------------------------------------------------------


def test_a_stop_market_waits_for_the_index_then_trades() -> None:
    engine, _ = make()
    liquidity(engine)
    stop, trades = engine.place("bob", "buy", BTC, Decimal(100), type="stop_market",
                                trigger_price=Decimal(61000))
    assert (stop.state, trades, stop.trigger) == ("untriggered", [], "index_price")
    assert engine.book(BTC)[1] == [(140000, 10000)]
    engine.set_index_price("btc_usd", Decimal(60500))
    engine.step()
    assert stop.state == "untriggered"
    engine.set_index_price("BTC_USD", Decimal(61000))
    engine.step()
    assert (stop.state, stop.filled) == ("filled", 10)
    assert engine.account("bob").positions[BTC].size == 10
    engine.audit()


def test_a_take_limit_sell_triggers_on_a_rise_and_rests() -> None:
    engine, _ = make()
    take, _ = engine.place("bob", "sell", BTC, Decimal(100), type="take_limit",
                           price=Decimal(65000), trigger_price=Decimal(62000))
    engine.set_index_price("btc_usd", Decimal(62500))
    engine.step()
    assert take.state == "open"
    assert engine.book(BTC) == ([], [(130000, 10)])
    engine.audit()


def test_a_last_price_trigger_waits_for_a_trade() -> None:
    engine, _ = make()
    stop, _ = engine.place("bob", "sell", BTC, Decimal(100), type="stop_limit",
                           price=Decimal(55000), trigger_price=Decimal(59000),
                           trigger="last_price")
    engine.step()
    assert stop.state == "untriggered"
    engine.place("alice", "buy", BTC, Decimal(10), price=Decimal(58000))
    engine.place("carol", "sell", BTC, Decimal(10), type="market")
    engine.step()
    assert (stop.state, stop.filled) == ("open", 0)
    assert engine.book(BTC) == ([], [(110000, 10)])
    engine.audit()


def test_a_trigger_order_can_be_edited_before_it_fires() -> None:
    engine, _ = make()
    stop, _ = engine.place("bob", "buy", BTC, Decimal(100), type="stop_limit",
                           price=Decimal(62000), trigger_price=Decimal(61000))
    engine.edit("bob", order_id_text(stop.order_id), trigger_price=Decimal(65000),
                amount=Decimal(200))
    assert (stop.trigger_price, stop.amount, stop.remaining) == (130000, 20, 20)
    engine.set_index_price("btc_usd", Decimal(62000))
    engine.step()
    assert stop.state == "untriggered"


def test_a_triggered_order_without_margin_is_rejected() -> None:
    engine, _ = make(faucet={"BTC": Decimal("0.01")})
    engine.place("lp2", "sell", BTC, Decimal(100), price=Decimal(61000))
    # Would fill 100 USD, then rest 99,900 USD more: beyond 0.01 BTC of margin.
    stop, _ = engine.place("bob", "buy", BTC, Decimal(100_000), type="stop_limit",
                           price=Decimal(61000), trigger_price=Decimal(60500))
    engine.set_index_price("btc_usd", Decimal(60600))
    engine.step()
    assert (stop.state, stop.filled) == ("rejected", 0)
    assert engine.book(BTC) == ([], [(122000, 10)])
    engine.audit()


# -- good til day ---------------------------------------------------------------------------


def test_good_til_day_expires_at_the_next_0800_utc() -> None:
    engine, clock = make(now=START + 3600)  # 09:00
    order, _ = engine.place("bob", "buy", BTC, Decimal(10), price=Decimal(50000),
                            time_in_force="good_til_day")
    assert order.expire_ms == int((START + 86400) * 1000)
    clock.now = START + 86399
    engine.step()
    assert order.state == "open"
    clock.now = START + 86400
    engine.step()
    assert (order.state, order.cancel_reason) == ("cancelled", "good_til_day")
    assert engine.book(BTC) == ([], [])


# -- market maker protection ----------------------------------------------------------------


def test_mmp_freezes_after_the_quantity_limit() -> None:
    engine, clock = make()
    config = engine.set_mmp_config("mm", "BTC_usd", interval=Decimal(10),
                                   frozen_time=Decimal(5), quantity_limit=Decimal(150))
    assert engine.mmp_config("mm", "btc_usd") == [config]
    assert config.index_name == "btc_usd"
    assert engine.mmp_config("mm", "eth_usd") == []
    engine.place("mm", "sell", BTC, Decimal(100), price=Decimal(60000), mmp=True)
    second, _ = engine.place("mm", "sell", BTC, Decimal(100), price=Decimal(60010), mmp=True)
    plain, _ = engine.place("mm", "sell", BTC, Decimal(100), price=Decimal(60020))
    engine.place("taker", "buy", BTC, Decimal(100), type="market")
    assert second.state == "open"
    seq = engine.last_seq
    engine.place("taker", "buy", BTC, Decimal(60), type="market")
    assert (second.state, second.cancel_reason) == ("cancelled", "mmp_trigger")
    assert plain.state == "open"
    triggers = [e for e in engine.events_since(seq) if e.kind == "mmp_trigger"]
    assert [(e.key, e.account, e.value) for e in triggers] == [
        ("btc_usd", "mm", int((START + 5) * 1000))]
    with pytest.raises(PulseError) as info:
        engine.place("mm", "sell", BTC, Decimal(100), price=Decimal(60000), mmp=True)
    assert info.value.code == Code.QUOTES_FROZEN
    engine.place("mm", "sell", BTC, Decimal(100), price=Decimal(60000))
    clock.now += 5
    engine.place("mm", "sell", BTC, Decimal(100), price=Decimal(60030), mmp=True)
    engine.audit()


def test_mmp_config_refusals_and_removal() -> None:
    engine, _ = make()
    with pytest.raises(PulseError) as info:
        engine.set_mmp_config("mm", "doge_usd", interval=Decimal(1), frozen_time=Decimal(1),
                              quantity_limit=Decimal(1))
    assert info.value.code == Code.INVALID_ARGUMENTS
    assert "btc_usd" in info.value.reason
    with pytest.raises(PulseError):
        engine.set_mmp_config("mm", "btc_usd", interval=Decimal(-1), frozen_time=Decimal(1),
                              quantity_limit=Decimal(1))
    engine.set_mmp_config("mm", "btc_usd", interval=Decimal(1), frozen_time=Decimal(1),
                          quantity_limit=Decimal(1))
    engine.set_mmp_config("mm", "btc_usd", interval=Decimal(0), frozen_time=Decimal(0),
                          quantity_limit=Decimal(0))
    assert engine.mmp_config("mm") == []


# -- funding, settlements, delivery -----------------------------------------------------------


def test_funding_moves_exact_coin_to_the_insurance_fund() -> None:
    engine, clock = make(funding_interval=60)
    engine.place("alice", "sell", BTC, Decimal(60000), price=Decimal(60000))
    engine.place("bob", "buy", BTC, Decimal(60000), type="market")
    # The book's mid is above the index: the mark is too, so longs pay.
    engine.place("lp", "buy", BTC, Decimal(10), price=Decimal(60100))
    engine.place("lp", "sell", BTC, Decimal(10), price=Decimal(60200))
    engine.step()
    assert engine.mark_price(BTC) == Decimal(60150)
    assert engine.current_funding(BTC) == Decimal("0.0005")  # capped
    clock.now += 60
    engine.step()
    # 60000 USD / 60000 = 1 BTC of notional; 0.05 % of it.
    assert engine.account("bob").positions[BTC].funding == Decimal("-0.0005")
    assert engine.account("alice").positions[BTC].funding == Decimal("0.0005")
    assert engine.ledger.insurance["BTC"] == 0
    [round_] = engine.funding_rounds(BTC)
    assert (round_.rate, round_.paid, round_.volume) == (Decimal("0.0005"), Decimal("0.0005"),
                                                         Decimal(60000))
    [settlement] = engine.settlements("bob", type="settlement", currency="BTC")
    assert (settlement.position, settlement.profit_loss) == ("long", Decimal("-0.0005"))
    assert engine.settlements("bob", type="delivery") == []
    kinds = {e.kind for e in engine.events_since(0)}
    assert {"funding", "settlement", "index"} <= kinds
    engine.audit()


def test_delivery_prices_are_recorded_daily_at_0800() -> None:
    engine, clock = make(now=START - 60)
    engine.set_index_price("btc_usd", Decimal("61234.5"))
    clock.now = START + 1
    engine.step()
    assert engine.delivery_prices("btc_usd") == [("2026-01-01", Decimal("61234.5"))]
    assert engine.delivery_prices("eth_usd", offset=1) == []


# -- liquidation ----------------------------------------------------------------------------


def test_an_account_below_maintenance_margin_is_taken_over_at_the_mark() -> None:
    engine, _ = make(faucet={"BTC": Decimal("0.1")})
    engine.place("alice", "sell", BTC, Decimal(250_000), price=Decimal(60000))
    engine.place("bob", "buy", BTC, Decimal(250_000), type="market")
    resting, _ = engine.place("bob", "buy", BTC, Decimal(10), price=Decimal(50000))
    engine.step()
    assert engine.account("bob").positions[BTC].size == 25_000
    engine.set_index_price("btc_usd", Decimal(45000))
    engine.step()
    assert engine.account("bob").positions[BTC].size == 0
    assert engine._accounts["pulse:market_maker"].positions[BTC].size == 25_000
    assert (resting.state, resting.cancel_reason) == ("cancelled", "liquidation")
    [trade] = engine.user_trades("bob", order_id=None, instrument_name=BTC, count=1)
    assert trade.taker_order_type == "liquidation"
    assert trade.price == 90000
    # The loss exceeded the account's 0.1 BTC: the insurance fund covered the rest.
    assert engine.account("bob").balances["BTC"] == 0
    assert engine.ledger.insurance["BTC"] < 0
    engine.audit()
