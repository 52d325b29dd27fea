"""Amounts a chain could hold: the engine computes in quote sub-units, rounds where a contract
would (margin and fees up, shares of a position down, funding down from the holder's view,
display prices to the nearest tick) and every sub-unit it rounds away lands in the house."""

from __future__ import annotations

from decimal import Decimal

from kana_async.sim.engine import Engine
from tests.sim.conftest import ALICE, APT, BOB, CAROL, DAVE, UNIT, Clock, limit, market, profile

EVE = "0x" + "e" * 64


def trade_at(engine: Engine, ticks: int) -> None:
    """Make the last price ``ticks`` with a trade between two bystanders."""
    limit(engine, CAROL, long=True, lots=500, ticks=ticks)
    market(engine, DAVE, long=False, lots=500)


def test_fee_and_margin_round_up_against_the_trader(engine: Engine) -> None:
    limit(engine, BOB, long=False, lots=1001, ticks=4999, leverage=3)
    market(engine, ALICE, long=True, lots=1001, leverage=2)
    # value 1.001 x 4.999 = 5.003999; margin 2.5019995 -> 2.502; fee 0.0025019995 -> 0.002502
    [position] = engine.positions(profile(engine, ALICE))
    assert (position["value"], position["margin"]) == ("5.003999", "2.502")
    [trade] = engine.trade_history(profile(engine, ALICE))
    assert (trade["order_value"], trade["fee"], trade["pnl"]) == ("5.003999", "0.002502",
                                                                   "-0.002502")
    assert engine.profile_balance(ALICE) == Decimal("997.495498")
    # The maker's margin: 5.003999 / 3 = 1.667999666... -> 1.668; its order held the same.
    [short] = engine.positions(profile(engine, BOB))
    assert short["margin"] == "1.668"
    assert engine.profile_balance(BOB) == 1000 - Decimal("1.668")
    assert engine.fees_collected == 2502
    assert engine.audit().balanced


def test_a_resting_order_filled_in_pieces_takes_exactly_what_it_held(engine: Engine) -> None:
    limit(engine, BOB, long=False, lots=3001, ticks=4999, leverage=7)
    held = Decimal(1000) - engine.profile_balance(BOB)
    for lots in (1000, 1000, 1001):
        market(engine, ALICE, long=True, lots=lots)
    [short] = engine.positions(profile(engine, BOB))
    # The whole order's margin, rounded up once: 3.001 x 4.999 / 7 = 2.143142... -> 2.143143
    assert short["margin"] == "2.143143"
    fee_part = held - Decimal(short["margin"])  # released as the maker paid no fee
    assert fee_part == Decimal("0.007501")  # 15.001999 x 0.0005 = 0.0075009995, rounded up
    assert engine.profile_balance(BOB) == 1000 - Decimal("2.143143")
    assert engine.audit().balanced


def test_entry_price_is_the_average_to_the_nearest_tick(engine: Engine) -> None:
    limit(engine, BOB, long=False, lots=1000, ticks=5001)
    limit(engine, BOB, long=False, lots=1000, ticks=5002)
    order_id = market(engine, ALICE, long=True, lots=2000)
    [position] = engine.positions(profile(engine, ALICE))
    # 10.003 / 2 APT = 5.0015: a tie, to the even tick 5.002; the value stays exact.
    assert (position["entry_price"], position["value"]) == ("5.002", "10.003")
    record = engine.order_status(APT, order_id)
    assert record is not None
    assert (record["price"], record["order_value"]) == ("5.002", "10.003")


def test_a_partial_close_takes_its_share_rounded_down(engine: Engine) -> None:
    limit(engine, BOB, long=False, lots=3000, ticks=5001)
    market(engine, ALICE, long=True, lots=3000, leverage=7)  # margin 15.003 / 7 -> 2.143286
    limit(engine, CAROL, long=True, lots=3000, ticks=5001)
    market(engine, ALICE, long=True, close=True, lots=1000)
    [position] = engine.positions(profile(engine, ALICE))
    # a third of 2.143286 is 0.714428666..., so 0.714428 leaves and 1.428858 stays
    assert position["margin"] == "1.428858"
    assert position["value"] == "10.002"
    assert engine.pending_balance(ALICE, APT) == Decimal("0.714428") - Decimal("0.002501")
    market(engine, ALICE, long=True, close=True, lots=2000)
    assert engine.positions(profile(engine, ALICE)) == []
    assert engine.audit().balanced


def test_funding_rounds_down_for_the_holder_and_the_rest_goes_to_insurance(
    clock: Clock,
) -> None:
    engine = Engine(seed=3, clock=clock, market_maker=None, funding_interval=10)
    for wallet in (ALICE, BOB):
        engine.deposit(wallet, 1000 * UNIT)
    limit(engine, BOB, long=False, lots=1001, ticks=4999)
    market(engine, ALICE, long=True, lots=1001)
    engine.step(clock.now)  # arms the interval
    engine._funding[APT].rate = Decimal("0.000123")
    engine.step(clock.now + 10)
    # 5.003999 x 0.000123 = 0.000615491877: the long pays 0.000616, the short gets 0.000615
    [paid] = engine.funding_history(profile(engine, ALICE))
    [got] = engine.funding_history(profile(engine, BOB))
    assert (paid["amount"], got["amount"]) == ("-0.000616", "0.000615")
    assert engine.insurance_fund == 1
    assert engine.audit().balanced


def test_the_market_maker_pays_and_receives_funding_too(clock: Clock) -> None:
    """Funding is between positions: a user's counterparty may be the market maker."""
    engine = Engine(seed=3, clock=clock, funding_interval=10)
    engine.deposit(ALICE, 1000 * UNIT)
    engine.step(clock.now)
    market(engine, ALICE, long=True, lots=1000)
    engine._funding[APT].rate = Decimal("0.0005")
    engine.step(clock.now + 10)
    [paid] = engine.funding_history(profile(engine, ALICE))
    assert Decimal(paid["amount"]) < 0
    assert engine.audit().balanced


def test_liquidation_hands_the_position_to_the_liquidator(engine: Engine, clock: Clock) -> None:
    limit(engine, BOB, long=False, lots=1000, ticks=5000)
    market(engine, ALICE, long=True, lots=1000, leverage=20)  # margin 0.25
    trade_at(engine, 4800)
    maker = engine._mm_maker
    before = maker.balance
    engine.step(clock.now)
    assert engine.positions(profile(engine, ALICE)) == []
    # equity 0.25 - 0.2 = 0.05: 0.025 back, 0.01 to insurance, 0.015 to the liquidator
    assert engine.pending_balance(ALICE, APT) == Decimal("0.025")
    assert engine.insurance_fund == 10_000
    assert maker.balance - before == 15_000
    taken = engine._state[APT].positions[(maker.profile, True)]
    assert (taken.lots, taken.entry_value, taken.margin) == (1000, 4_800_000, 0)
    assert engine.audit().balanced


def test_a_loss_beyond_the_margin_is_the_insurance_funds(engine: Engine, clock: Clock) -> None:
    limit(engine, BOB, long=False, lots=1000, ticks=5000)
    market(engine, ALICE, long=True, lots=1000, leverage=20)
    trade_at(engine, 4000)
    engine.step(clock.now)
    # equity 0.25 - 1 = -0.75: nothing back, the insurance fund pays
    assert engine.pending_balance(ALICE, APT) == 0
    assert engine.insurance_fund == -750_000
    assert engine.audit().balanced


def test_a_loss_settled_beyond_the_free_collateral_is_covered(engine: Engine) -> None:
    engine.deposit(EVE, 252_500)  # exactly margin and fee of 1 APT at 5 with leverage 20
    limit(engine, BOB, long=False, lots=1000, ticks=5000)
    market(engine, EVE, long=True, lots=1000, leverage=20)
    assert engine.profile_balance(EVE) == 0
    limit(engine, CAROL, long=True, lots=1000, ticks=4000)
    market(engine, EVE, long=True, close=True, lots=1000)  # before any liquidation step
    # 0.25 margin - 1 loss - 0.002 fee
    assert engine.pending_balance(EVE, APT) == Decimal("-0.752")
    engine.settle_pnl(EVE, APT)
    assert engine.profile_balance(EVE) == 0
    assert engine.insurance_fund == -752_000
    assert engine._accounts[EVE].covered == 752_000
    assert engine.audit().balanced


def test_amounts_print_without_exponents_or_trailing_zeros(engine: Engine) -> None:
    engine.withdraw(ALICE, APT, 1000 * UNIT)
    assert str(engine.profile_balance(ALICE)) == "0"
    assert str(engine.wallet_balance(ALICE)) == "100000"
    assert engine.deposit_withdraw_history(profile(engine, ALICE))[0]["amount"] == "1000"
