"""The exchange engine: matching, restrictions, positions, money, aborts and listeners.

Most tests run without the market maker so that every trade is one the test arranged.
APT market 1338: one lot = 0.001 APT, one tick = 0.001 USD, so 1 APT = 1000 lots and
5.000 USD = 5000 ticks.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from kana_async.sim.engine import AbortCode, Change, Engine, EngineAbort
from kana_async.stream.topics import TOPICS
from tests.sim.conftest import (
    ALICE,
    APT,
    BOB,
    CAROL,
    DAVE,
    UNIT,
    Clock,
    limit,
    market,
    profile,
    snapshot,
)

# -- wallets ---------------------------------------------------------------------------------


def test_faucet_funds_new_wallets_and_deposit_moves_collateral(clock: Clock) -> None:
    engine = Engine(clock=clock, market_maker=None, faucet_quote=Decimal(500))
    assert engine.wallet_balance(ALICE) == 500
    assert engine.apt_balance(ALICE) == 10
    engine.deposit(ALICE, 123_450_000)
    assert engine.wallet_balance(ALICE) == Decimal("376.55")
    assert engine.profile_balance(ALICE) == Decimal("123.45")
    [record] = engine.deposit_withdraw_history(profile(engine, ALICE))
    assert record["amount"] == "123.45"
    assert record["is_deposit"] is True
    assert record["transaction_version"] == engine.ledger_version
    with pytest.raises(EngineAbort) as info:
        engine.deposit(ALICE, 400 * UNIT)
    assert info.value.code == AbortCode.INSUFFICIENT_BALANCE


def test_profile_address_is_deterministic_and_normalised() -> None:
    short = "0x" + "0" + "ab" * 31 + "c"
    assert Engine.profile_address(short[:2] + short[3:]) == Engine.profile_address(short)
    assert len(Engine.profile_address(ALICE)) == 66
    assert Engine.profile_address(ALICE) != Engine.profile_address(BOB)


def test_withdraw_only_free_collateral(engine: Engine) -> None:
    limit(engine, ALICE, long=True, lots=100_000, ticks=5000, leverage=1)  # holds 500.25
    before = snapshot(engine)
    with pytest.raises(EngineAbort) as info:
        engine.withdraw(ALICE, APT, 600 * UNIT)
    assert info.value.code == AbortCode.INSUFFICIENT_BALANCE
    assert snapshot(engine) == before
    engine.withdraw(ALICE, APT, 400 * UNIT)
    assert engine.profile_balance(ALICE) == Decimal("99.75")
    assert engine.wallet_balance(ALICE) == 99_400
    assert engine.deposit_withdraw_history(profile(engine, ALICE))[0]["is_deposit"] is False


def test_gas_is_charged_in_octas(engine: Engine) -> None:
    engine.charge_gas(ALICE, 10**8)
    assert engine.apt_balance(ALICE) == 9
    with pytest.raises(EngineAbort) as info:
        engine.charge_gas(ALICE, 10**10)
    assert info.value.code == AbortCode.INSUFFICIENT_GAS


# -- matching ---------------------------------------------------------------------------------


def test_resting_order_shows_in_views_with_econia_order_id(engine: Engine) -> None:
    order_id = int(limit(engine, ALICE, long=True, lots=1500, ticks=5768))
    assert order_id >> 64 == 1
    assert order_id & (2**64 - 1) != 0
    [order] = engine.open_orders(profile(engine, ALICE))
    assert order["order_id"] == str(order_id)
    assert (order["price"], order["total_size"], order["remaining_size"]) == (
        "5.768", "1.500", "1.500")
    assert Decimal(order["order_value"]) == Decimal("8.652")
    assert order["order_type"] == 1
    assert order["leverage"] == 2
    assert engine.open_order_ids(profile(engine, ALICE), APT) == [str(order_id)]
    [level] = engine.orderbook(APT)
    assert level["price"] == 5.768
    assert level["size"] == "1.500"
    assert level["is_ask"] is False
    assert engine.market_price(APT) == {"bestAskPrice": None, "bestBidPrice": 5.768}
    # margin 8.652 / 2 plus the worst-case taker fee is held back
    assert engine.profile_balance(ALICE) == Decimal(1000) - Decimal("4.326") - Decimal("0.004326")


def test_price_time_priority_and_partial_fill(engine: Engine) -> None:
    first = limit(engine, BOB, long=False, lots=1000, ticks=5010)
    second = limit(engine, CAROL, long=False, lots=1000, ticks=5010)
    better = limit(engine, DAVE, long=False, lots=500, ticks=5005)
    taker = int(limit(engine, ALICE, long=True, lots=2000, ticks=5010))
    assert taker & (2**64 - 1) == 0  # filled at once: never rested
    fills = [(t["address"], t["price"], t["size"])
             for t in engine.fills(APT, 0, 2e9) if t["address"] != profile(engine, ALICE)]
    assert fills == [
        (profile(engine, DAVE), "5.005", "0.500"),
        (profile(engine, BOB), "5.010", "1.000"),
        (profile(engine, CAROL), "5.010", "0.500"),
    ]
    [rest] = engine.open_orders(profile(engine, CAROL))
    assert rest["order_id"] == second
    assert rest["remaining_size"] == "0.500"
    statuses = {r["order_id"]: r["status"] for p in (BOB, CAROL, DAVE)
                for r in engine.order_history(profile(engine, p))}
    assert statuses == {first: "Filled", second: "Partially Filled", better: "Filled"}
    [taker_order] = engine.order_history(profile(engine, ALICE))
    assert taker_order["status"] == "Filled"
    assert engine.last_price(APT) == Decimal("5.010")


def test_limit_order_takes_then_rests_the_remainder(engine: Engine) -> None:
    limit(engine, BOB, long=False, lots=600, ticks=5000)
    order_id = int(limit(engine, ALICE, long=True, lots=1600, ticks=5000))
    assert order_id & (2**64 - 1) != 0
    [rest] = engine.open_orders(profile(engine, ALICE))
    assert rest["remaining_size"] == "1.000"
    assert rest["total_size"] == "1.600"
    assert engine.order_history(profile(engine, ALICE))[0]["status"] == "Partially Filled"


def test_fill_or_abort(engine: Engine) -> None:
    with pytest.raises(EngineAbort) as info:
        limit(engine, ALICE, long=True, restriction=1)
    assert info.value.code == AbortCode.E_FILL_OR_ABORT_NOT_CROSS_SPREAD
    assert info.value.module == "market"
    limit(engine, BOB, long=False, lots=600)
    before = snapshot(engine)
    with pytest.raises(EngineAbort) as info:
        limit(engine, ALICE, long=True, lots=1000, restriction=1)
    assert info.value.code == AbortCode.E_MIN_BASE_NOT_TRADED
    assert snapshot(engine) == before
    limit(engine, ALICE, long=True, lots=600, restriction=1)
    assert engine.positions(profile(engine, ALICE))[0]["size"] == "0.600"


def test_immediate_or_cancel_keeps_the_fill_and_drops_the_rest(engine: Engine) -> None:
    limit(engine, BOB, long=False, lots=600)
    order_id = limit(engine, ALICE, long=True, lots=1000, restriction=2)
    assert int(order_id) & (2**64 - 1) == 0
    assert engine.open_orders(profile(engine, ALICE)) == []
    [record] = engine.order_history(profile(engine, ALICE))
    assert record["status"] == "Partially Filled"
    status = engine.order_status(APT, order_id)
    assert status is not None
    assert (status["total_filled"], status["remaining_size"]) == ("0.600", "0.400")
    # nothing held back for the cancelled rest
    position = engine.positions(profile(engine, ALICE))[0]
    assert engine.profile_balance(ALICE) == (
        1000 - Decimal(position["margin"]) - Decimal("3") * Decimal("0.0005"))
    nothing = limit(engine, ALICE, long=True, lots=1000, restriction=2)
    assert engine.order_history(profile(engine, ALICE))[0]["order_id"] == nothing
    assert engine.order_history(profile(engine, ALICE))[0]["status"] == "Cancelled"


def test_post_or_abort(engine: Engine) -> None:
    limit(engine, BOB, long=False, ticks=5000)
    with pytest.raises(EngineAbort) as info:
        limit(engine, ALICE, long=True, ticks=5000, restriction=3)
    assert info.value.code == AbortCode.E_POST_OR_ABORT_CROSSES_SPREAD
    limit(engine, ALICE, long=True, ticks=4999, restriction=3)
    assert len(engine.open_orders(profile(engine, ALICE))) == 1


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"lots": 499}, AbortCode.E_SIZE_TOO_SMALL),
        ({"lots": 150_000_001}, AbortCode.E_SIZE_BASE_OVERFLOW),
        ({"ticks": 0}, AbortCode.E_PRICE_0),
        ({"ticks": 2**32}, AbortCode.E_PRICE_TOO_HIGH),
        ({"leverage": 0}, AbortCode.INVALID_LEVERAGE),
        ({"leverage": 21}, AbortCode.INVALID_LEVERAGE),
        ({"restriction": 4}, AbortCode.E_INVALID_RESTRICTION),
        ({"close": True}, AbortCode.NO_POSITION),
    ],
)
def test_invalid_orders_abort_without_change(
    engine: Engine, kwargs: dict[str, Any], code: AbortCode
) -> None:
    before = snapshot(engine)
    with pytest.raises(EngineAbort) as info:
        limit(engine, ALICE, long=True, **kwargs)
    assert info.value.code == code
    assert snapshot(engine) == before


def test_unknown_market_aborts(engine: Engine) -> None:
    with pytest.raises(EngineAbort) as info:
        engine.place_market_order(ALICE, 9, True, False, 1000, 2, 0, 0)
    assert info.value.code == AbortCode.UNKNOWN_MARKET


def test_self_match_aborts(engine: Engine) -> None:
    limit(engine, ALICE, long=False, ticks=5000)
    before = snapshot(engine)
    with pytest.raises(EngineAbort) as info:
        limit(engine, ALICE, long=True, ticks=5000)
    assert info.value.code == AbortCode.E_SELF_MATCH
    assert snapshot(engine) == before


def test_insufficient_collateral_aborts_without_change(engine: Engine) -> None:
    limit(engine, BOB, long=False, lots=1_000_000, ticks=5000, leverage=20)
    before = snapshot(engine)
    with pytest.raises(EngineAbort) as info:  # 1000 APT at 5 USD, 1x: 5000 USD of margin
        market(engine, ALICE, long=True, lots=1_000_000, leverage=1)
    assert info.value.code == AbortCode.INSUFFICIENT_BALANCE
    assert snapshot(engine) == before


# -- positions and money ----------------------------------------------------------------------


def test_open_and_close_a_long_with_exact_fee_and_pnl(engine: Engine) -> None:
    bob_order = limit(engine, BOB, long=False, lots=2000, ticks=5000, leverage=5)
    market(engine, ALICE, long=True, lots=1000, leverage=2)
    # 1 APT at 5 USD: margin 2.5, taker fee 0.05 % = 0.0025
    assert engine.profile_balance(ALICE) == Decimal("997.4975")
    [position] = engine.positions(profile(engine, ALICE))
    assert position["trade_side"] is True
    assert position["leverage"] == 2
    assert Decimal(position["size"]) == 1
    assert Decimal(position["entry_price"]) == 5
    assert Decimal(position["margin"]) == Decimal("2.5")
    assert Decimal(position["value"]) == 5
    assert position["liq_price"] == "2.564"  # (5 - 2.5) / (1 - 0.025)
    assert position["tp"] is None
    assert position["sl"] is None
    [opening] = engine.trade_history(profile(engine, ALICE))
    assert Decimal(opening["fee"]) == Decimal("0.0025")
    assert Decimal(opening["pnl"]) == Decimal("-0.0025")
    assert opening["order_type"] == 5
    assert opening["trade_id"] == position["trade_id"]
    # the maker paid no fee; half its order is now a short position with margin 1
    maker_trade = engine.trade_history(profile(engine, BOB))[0]
    assert Decimal(maker_trade["fee"]) == 0
    assert Decimal(maker_trade["pnl"]) == 0
    assert engine.profile_balance(BOB) == Decimal("997.9975")
    [short] = engine.positions(profile(engine, BOB))
    assert short["trade_side"] is False
    assert Decimal(short["margin"]) == 1
    assert short["liq_price"] == "5.854"  # (5 + 1) / (1 + 0.025)
    engine.cancel_multiple_orders(BOB, APT, [int(bob_order)], [False])
    assert engine.profile_balance(BOB) == 999

    limit(engine, CAROL, long=True, lots=1000, ticks=5500)
    market(engine, ALICE, long=True, close=True, lots=1000)
    assert engine.positions(profile(engine, ALICE)) == []
    closing = engine.trade_history(profile(engine, ALICE))[0]
    assert closing["order_type"] == 7
    assert Decimal(closing["fee"]) == Decimal("0.00275")
    assert Decimal(closing["pnl"]) == Decimal("0.5") - Decimal("0.00275")
    # margin and pnl wait in the market's pending balance until settled
    assert engine.profile_balance(ALICE) == Decimal("997.4975")
    assert engine.pending_balance(ALICE, APT) == Decimal("2.99725")
    assert engine.net_profile_balance(ALICE) == Decimal("1000.49475")
    engine.settle_pnl(ALICE, APT)
    assert engine.profile_balance(ALICE) == Decimal("1000.49475")
    assert engine.pending_balance(ALICE, APT) == 0


def test_short_pnl_and_weighted_entry(engine: Engine) -> None:
    limit(engine, BOB, long=True, lots=1000, ticks=5000)
    limit(engine, CAROL, long=True, lots=3000, ticks=4000)
    market(engine, ALICE, long=False, lots=4000, leverage=4)
    [position] = engine.positions(profile(engine, ALICE))
    assert Decimal(position["entry_price"]) == Decimal("4.25")  # (5 + 12) / 4
    assert Decimal(position["margin"]) == Decimal("4.25")
    limit(engine, DAVE, long=False, lots=1000, ticks=3000)
    market(engine, ALICE, long=False, close=True, lots=1000)
    [position] = engine.positions(profile(engine, ALICE))
    assert Decimal(position["size"]) == 3
    assert Decimal(position["entry_price"]) == Decimal("4.25")
    closing = engine.trade_history(profile(engine, ALICE))[0]
    assert Decimal(closing["pnl"]) == Decimal("1.25") - Decimal("0.0015")
    assert closing["order_type"] == 8


def test_pending_balance_funds_new_orders_when_free_collateral_is_short(engine: Engine) -> None:
    limit(engine, BOB, long=False, lots=190_000, ticks=5000, leverage=1)
    market(engine, ALICE, long=True, lots=190_000, leverage=1)  # 950 USD of margin
    limit(engine, CAROL, long=True, lots=190_000, ticks=5000, leverage=1)
    market(engine, ALICE, long=True, close=True, lots=190_000)
    assert engine.profile_balance(ALICE) < 100
    limit(engine, DAVE, long=False, lots=190_000, ticks=5000, leverage=1)
    market(engine, ALICE, long=True, lots=190_000, leverage=1)
    assert engine.pending_balance(ALICE, APT) == 0


def test_close_orders_reserve_the_position(engine: Engine) -> None:
    limit(engine, BOB, long=False, lots=2000)
    market(engine, ALICE, long=True, lots=2000)
    limit(engine, ALICE, long=True, close=True, lots=1500, ticks=6000)
    [position] = engine.positions(profile(engine, ALICE))
    assert position["available_order_size"] == "0.500"
    assert engine.open_orders(profile(engine, ALICE))[0]["order_type"] == 3
    with pytest.raises(EngineAbort) as info:
        market(engine, ALICE, long=True, close=True, lots=1000)
    assert info.value.code == AbortCode.CLOSE_SIZE_EXCEEDS_POSITION
    [order_id] = engine.open_order_ids(profile(engine, ALICE), APT)
    engine.cancel_multiple_orders(ALICE, APT, [int(order_id)], [True])
    assert engine.positions(profile(engine, ALICE))[0]["available_order_size"] == "2.000"


def test_remainder_below_minimum_can_be_closed(engine: Engine) -> None:
    limit(engine, BOB, long=False, lots=700)
    market(engine, ALICE, long=True, lots=700)
    limit(engine, CAROL, long=True, lots=2000, ticks=5000)
    market(engine, ALICE, long=True, close=True, lots=500)
    market(engine, ALICE, long=True, close=True, lots=200)
    assert engine.positions(profile(engine, ALICE)) == []


def test_cancel_releases_collateral_and_checks_owner_and_side(engine: Engine) -> None:
    order_id = int(limit(engine, ALICE, long=True))
    with pytest.raises(EngineAbort) as info:
        engine.cancel_multiple_orders(ALICE, APT, [order_id], [False])
    assert info.value.code == AbortCode.SIDE_MISMATCH
    with pytest.raises(EngineAbort) as info:
        engine.cancel_multiple_orders(BOB, APT, [order_id], [True])
    assert info.value.code == AbortCode.ORDER_NOT_FOUND
    engine.cancel_multiple_orders(ALICE, APT, [order_id], [True])
    assert engine.profile_balance(ALICE) == 1000
    assert engine.orderbook(APT) == []
    assert engine.order_history(profile(engine, ALICE))[0]["status"] == "Cancelled"


def test_batches_are_all_or_nothing(engine: Engine) -> None:
    keep = int(limit(engine, ALICE, long=True, ticks=4000))
    before = snapshot(engine)
    with pytest.raises(EngineAbort) as info:
        engine.cancel_and_place_multiple_orders(
            ALICE, APT, [keep], [True], [True, True], [True, True], [False, False],
            [1000, 10], [4100, 4200], [2, 2], [0, 0], [0, 0], [0, 0],
        )
    assert info.value.code == AbortCode.E_SIZE_TOO_SMALL
    assert snapshot(engine) == before
    ids = engine.cancel_and_place_multiple_orders(
        ALICE, APT, [keep], [True], [True, True], [True, False], [False, False],
        [1000, 1000], [4100, 6000], [2, 3], [0, 3], [0, 0], [0, 0],
    )
    assert engine.open_order_ids(profile(engine, ALICE), APT) == ids
    with pytest.raises(EngineAbort) as info:
        engine.place_multiple_orders(ALICE, APT, [True], [True, False], [False], [1000], [1],
                                     [1], [0], [0], [0])
    assert info.value.code == AbortCode.VECTOR_LENGTH_MISMATCH


def test_place_multiple_orders_mixes_limit_and_market(engine: Engine) -> None:
    limit(engine, BOB, long=False, lots=1000, ticks=5000)
    ids = engine.place_multiple_orders(
        ALICE, APT, [True, False], [True, True], [False, False], [1000, 1000], [4000, 0],
        [2, 2], [0, 0], [0, 0], [0, 0],
    )
    assert engine.open_order_ids(profile(engine, ALICE), APT) == ids[:1]
    assert engine.positions(profile(engine, ALICE))[0]["size"] == "1.000"


def test_add_margin_moves_the_liquidation_price(engine: Engine) -> None:
    limit(engine, BOB, long=False, lots=1000)
    market(engine, ALICE, long=True, lots=1000, leverage=10)
    before = Decimal(engine.positions(profile(engine, ALICE))[0]["liq_price"])
    engine.add_margin(ALICE, APT, True, 1 * UNIT)
    [position] = engine.positions(profile(engine, ALICE))
    assert Decimal(position["margin"]) == Decimal("1.5")
    assert Decimal(position["liq_price"]) < before
    with pytest.raises(EngineAbort) as info:
        engine.add_margin(ALICE, APT, False, 1 * UNIT)
    assert info.value.code == AbortCode.NO_POSITION


def test_a_trigger_whose_position_an_earlier_trigger_closed_does_nothing(
    engine: Engine, clock: Clock
) -> None:
    limit(engine, CAROL, long=False, lots=1000, ticks=5000)
    market(engine, ALICE, long=True, lots=1000)            # Alice long, first in the book
    limit(engine, DAVE, long=True, lots=1000, ticks=5000)
    market(engine, BOB, long=False, lots=1000)             # Bob short
    engine.update_take_profit(ALICE, APT, True, 5100)
    engine.update_stop_loss(BOB, APT, False, 5100)
    limit(engine, BOB, long=False, close=True, lots=1000, ticks=5050)  # Bob's close is the bid
    limit(engine, DAVE, long=False, lots=1000, ticks=5200)
    limit(engine, CAROL, long=True, lots=500, ticks=5100)
    market(engine, DAVE, long=False, lots=500)             # last price 5100: both triggers hit
    # Alice's take-profit sells into Bob's close: Bob's position is gone before his turn.
    engine.step(clock.now)
    assert engine.positions(profile(engine, ALICE)) == []
    assert engine.positions(profile(engine, BOB)) == []


def test_collapse_closes_both_sides(engine: Engine) -> None:
    limit(engine, BOB, long=False, lots=1000, ticks=5000)
    market(engine, ALICE, long=True, lots=1000)
    limit(engine, BOB, long=True, lots=1000, ticks=4000)
    market(engine, ALICE, long=False, lots=1000)
    assert len(engine.positions(profile(engine, ALICE))) == 2
    limit(engine, CAROL, long=True, lots=1000, ticks=4500)
    limit(engine, CAROL, long=False, lots=1000, ticks=5500)
    engine.collapse_position(ALICE, APT)
    assert engine.positions(profile(engine, ALICE)) == []
    with pytest.raises(EngineAbort) as info:
        engine.collapse_position(ALICE, APT)
    assert info.value.code == AbortCode.NO_POSITION


# -- background: triggers, liquidation, funding, market maker ---------------------------------


def trade_at(engine: Engine, ticks: int) -> None:
    """Make the last price ``ticks`` with a trade between two bystanders."""
    limit(engine, CAROL, long=True, lots=500, ticks=ticks)
    market(engine, DAVE, long=False, lots=500)


def test_take_profit_closes_the_position(engine: Engine, clock: Clock) -> None:
    limit(engine, BOB, long=False, lots=1000, ticks=5000)
    limit(engine, ALICE, long=True, lots=1000, ticks=5000, tp=5500)
    assert engine.positions(profile(engine, ALICE))[0]["tp"] == "5.500"
    engine.step(clock.now)
    assert len(engine.positions(profile(engine, ALICE))) == 1
    limit(engine, BOB, long=True, lots=2000, ticks=5500)  # liquidity for the close
    trade_at(engine, 5600)
    engine.step(clock.now)
    assert engine.positions(profile(engine, ALICE)) == []
    closing = engine.trade_history(profile(engine, ALICE))[0]
    assert closing["order_type"] == 9
    assert closing["price"] == "5.500"


def test_stop_loss_set_later_closes_a_short(engine: Engine, clock: Clock) -> None:
    limit(engine, BOB, long=True, lots=1000, ticks=5000)
    market(engine, ALICE, long=False, lots=1000)
    with pytest.raises(EngineAbort):
        engine.update_stop_loss(ALICE, APT, True, 5200)  # no long position
    engine.update_stop_loss(ALICE, APT, False, 5200)
    engine.update_take_profit(ALICE, APT, False, 4000)
    [position] = engine.positions(profile(engine, ALICE))
    assert (position["sl"], position["tp"]) == ("5.200", "4.000")
    limit(engine, BOB, long=False, lots=1000, ticks=5300)
    trade_at(engine, 5250)
    engine.step(clock.now)
    assert engine.positions(profile(engine, ALICE)) == []
    assert engine.trade_history(profile(engine, ALICE))[0]["order_type"] == 10


def test_liquidation_at_maintenance_margin(engine: Engine, clock: Clock) -> None:
    limit(engine, BOB, long=False, lots=1000, ticks=5000)
    market(engine, ALICE, long=True, lots=1000, leverage=20)  # margin 0.25
    [position] = engine.positions(profile(engine, ALICE))
    assert position["liq_price"] == "4.872"  # (5 - 0.25) / 0.975
    trade_at(engine, 4900)
    engine.step(clock.now)
    assert len(engine.positions(profile(engine, ALICE))) == 1
    trade_at(engine, 4800)
    engine.step(clock.now)
    assert engine.positions(profile(engine, ALICE)) == []
    # equity 0.25 - 0.2 = 0.05; half of it goes back to the owner
    assert engine.pending_balance(ALICE, APT) == Decimal("0.025")
    record = engine.trade_history(profile(engine, ALICE))[0]
    assert record["order_type"] == 11
    assert Decimal(record["pnl"]) == Decimal("-0.225")
    assert engine.order_history(profile(engine, ALICE))[0]["status"] == "Filled"


def test_funding_is_paid_on_its_interval(clock: Clock) -> None:
    engine = Engine(seed=3, clock=clock, market_maker=None, funding_interval=10)
    for wallet in (ALICE, BOB, CAROL, DAVE):
        engine.deposit(wallet, 1000 * UNIT)
    limit(engine, BOB, long=False, lots=2000, ticks=5000)
    market(engine, ALICE, long=True, lots=2000)
    engine.step(clock.now)  # arms the interval
    engine.step(clock.now + 10)  # applies rate 0, draws the next rate
    rate = Decimal(next(r for r in engine.funding_rates() if r["market_id"] == "1338")[
        "funding_rate"])
    assert rate != 0
    assert abs(rate) <= Decimal("0.0005")
    assert engine.funding_history(profile(engine, ALICE)) == []
    engine.step(clock.now + 20)
    [payment] = engine.funding_history(profile(engine, ALICE))
    assert Decimal(payment["amount"]) == -10 * rate  # 2 APT at 5 USD, longs pay a positive rate
    assert payment["trade_side"] is True
    assert payment["market_id"] == "1338"
    [received] = engine.funding_history(profile(engine, BOB))
    assert Decimal(received["amount"]) == 10 * rate
    assert engine.pending_balance(ALICE, APT) == -10 * rate


def test_market_maker_keeps_every_book_two_sided_and_trades(clock: Clock) -> None:
    engine = Engine(seed=11, clock=clock)
    for i in range(30):
        engine.step(clock.now + i)
    for market_id in engine.markets:
        prices = engine.market_price(market_id)
        assert prices["bestBidPrice"] is not None
        assert prices["bestAskPrice"] is not None
        assert prices["bestBidPrice"] < prices["bestAskPrice"]
        assert engine.recent_trades(market_id), market_id


def test_market_maker_fills_a_resting_user_order(clock: Clock) -> None:
    engine = Engine(seed=5, clock=clock)
    engine.deposit(ALICE, 1000 * UNIT)
    engine.step(clock.now)
    best_ask = Decimal(str(engine.market_price(APT)["bestAskPrice"]))
    # a bid above the best ask takes at once
    limit(engine, ALICE, long=True, lots=500, ticks=int(best_ask * 1000) + 5)
    assert engine.positions(profile(engine, ALICE))
    # a bid at the touch gets filled by the flow sooner or later
    bid = Decimal(str(engine.market_price(APT)["bestBidPrice"]))
    limit(engine, ALICE, long=True, lots=500, ticks=int(bid * 1000) + 1, restriction=3)
    for i in range(200):
        engine.step(clock.now + i)
        if not engine.open_orders(profile(engine, ALICE)):
            break
    assert engine.open_orders(profile(engine, ALICE)) == []


def test_same_seed_same_market(clock: Clock) -> None:
    def run(seed: int) -> Any:
        engine = Engine(seed=seed, clock=Clock(clock.now), funding_interval=5)
        for i in range(20):
            engine.step(clock.now + i)
        return [engine.orderbook(m) for m in engine.markets], [
            engine.recent_trades(m) for m in engine.markets], engine.funding_rates()

    assert run(1) == run(1)
    assert run(1) != run(2)


# -- listeners --------------------------------------------------------------------------------


def test_listeners_hear_every_affected_topic(engine: Engine) -> None:
    changes: list[Change] = []
    remove = engine.add_listener(changes.append)
    alice, bob = profile(engine, ALICE), profile(engine, BOB)
    order_id = limit(engine, BOB, long=False)
    keys = {(c.topic, c.key) for c in changes}
    assert {("open_orders", bob), ("order_history", bob), ("live_order_history", bob),
            ("orderbook", "1338"), ("best_price", "1338")} <= keys
    [live] = [c for c in changes if c.topic == "live_order_history"]
    assert live.record is not None
    assert live.record["order_id"] == order_id
    assert live.record["status"] == "Open"
    assert live.record["transaction_version"] == engine.ledger_version
    assert all(c.record is None for c in changes if not c.topic.startswith("live_"))

    changes.clear()
    market(engine, ALICE, long=True)
    keys = {(c.topic, c.key) for c in changes}
    assert {("positions", alice), ("positions", bob), ("trade_history", alice),
            ("trade_history", bob), ("live_trade_history", alice), ("live_trade_history", bob),
            ("recent_trades", "1338"), ("orderbook", "1338"), ("open_orders", bob)} <= keys
    trades = [c.record for c in changes if c.topic == "live_trade_history"]
    assert all(t is not None and "order_id" in t for t in trades)
    maker_update = [c.record for c in changes
                    if c.topic == "live_order_history" and c.key == bob]
    assert maker_update
    assert maker_update[0] is not None
    assert maker_update[0]["status"] == "Filled"

    changes.clear()
    engine.deposit(ALICE, UNIT)
    assert [(c.topic, c.key) for c in changes] == [("deposit_withdraw_history", alice)]

    remove()
    engine.deposit(ALICE, UNIT)
    assert len(changes) == 1


def test_aborted_transactions_publish_nothing(engine: Engine) -> None:
    changes: list[Change] = []
    engine.add_listener(changes.append)
    with pytest.raises(EngineAbort):
        limit(engine, ALICE, long=True, lots=10)
    assert changes == []


def test_a_failing_listener_does_not_break_the_engine(engine: Engine) -> None:
    def broken(change: Change) -> None:
        raise RuntimeError("boom")

    engine.add_listener(broken)
    limit(engine, ALICE, long=True)
    assert len(engine.open_orders(profile(engine, ALICE))) == 1


def test_funding_update_is_published(clock: Clock) -> None:
    engine = Engine(seed=1, clock=clock, market_maker=None, funding_interval=1)
    changes: list[Change] = []
    engine.add_listener(changes.append)
    engine.step(clock.now)
    engine.step(clock.now + 1)
    assert Change("live_funding_rate", None) in changes
    rates = engine.funding_rates()
    assert [r["market_id"] for r in rates] == ["1338", "1339", "1340", "2387"]
    assert {r["transaction_version"] for r in rates} == {engine.ledger_version}


def test_history_views_give_only_the_newest_limit(engine: Engine) -> None:
    alice = profile(engine, ALICE)
    for ticks in (5700, 5701, 5702):
        limit(engine, ALICE, long=True, ticks=ticks)
    engine.deposit(ALICE, UNIT)
    every = engine.order_history(alice)
    assert [o["price"] for o in every] == ["5.702", "5.701", "5.700"]
    assert engine.order_history(alice, limit=2) == every[:2]
    assert engine.order_history(alice, APT, limit=1) == every[:1]
    assert engine.order_history(alice, 1339, limit=2) == []
    assert engine.deposit_withdraw_history(alice, limit=1) == (
        engine.deposit_withdraw_history(alice)[:1])
    assert len(engine.deposit_withdraw_history(alice)) == 2


def test_a_record_keeps_its_wire_form_as_the_market_moves(engine: Engine) -> None:
    """An unfilled market order shows the last price of its own transaction, not a later one."""
    bob = profile(engine, BOB)
    engine.place_limit_order(BOB, APT, True, False, 500, 5700, 2, 0, 0, 0)
    market(engine, CAROL, long=False, lots=500)  # the last price is now 5.700
    market(engine, BOB, long=True, lots=500)  # no ask to buy from: cancelled unfilled
    first = engine.order_history(bob)
    assert (first[0]["status"], first[0]["price"]) == ("Cancelled", "5.700")
    limit(engine, DAVE, long=True, ticks=5800)
    market(engine, CAROL, long=False, lots=500)  # the last price is now 5.800
    assert engine.order_history(bob) == first


def test_every_change_names_a_topic_of_the_table_with_its_key(clock: Clock) -> None:
    """The engine publishes only topics of the one table, each keyed as the table says."""
    engine = Engine(seed=3, clock=clock, funding_interval=1)
    changes: list[Change] = []
    engine.add_listener(changes.append)
    engine.step(clock.now)
    engine.deposit(ALICE, 1000 * UNIT)
    market(engine, ALICE, long=True)
    limit(engine, ALICE, long=True, ticks=5000)
    for n in range(1, 4):
        engine.step(clock.now + n)
    profiles = {profile(engine, ALICE)}
    markets = {str(m) for m in engine.markets}
    for change in changes:
        spec = TOPICS[change.topic]
        if spec.key == "address":
            assert change.key in profiles, change
        elif spec.key == "market_id":
            assert change.key in markets, change
        else:
            assert change.key is None, change
        assert (change.record is not None) == spec.is_event, change
    assert {c.topic for c in changes} >= {
        "positions", "open_orders", "order_history", "trade_history", "live_order_history",
        "live_trade_history", "deposit_withdraw_history", "orderbook", "best_price",
        "recent_trades", "live_funding_rate"}
