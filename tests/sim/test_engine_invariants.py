"""Random sequences of trades: the books never cross, every answered amount is on its grid,
and no sub-unit of money appears or vanishes.

Every trade moves as much value to one side as it takes from the other, fees go to the house,
funding's rounding and liquidations' shares to the insurance fund, so the accounts' wallets,
free collateral, pending balances, held-back collateral, position margins and the positions'
claims on each other, plus the house, always add up exactly to what the faucet created. Per
account, what the profile holds is its deposits minus its withdrawals plus the pnl of its trades
(net of fees) plus its funding, plus any loss the insurance fund absorbed for it.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kana_async.sim.engine import Engine, EngineAbort
from kana_async.sim.markets import DEFAULT_MARKETS
from tests.sim.conftest import Clock
from tests.sim.grid import engine_answers, off_grid

APT, BTC = 1338, 1339
USERS = ["0x" + c * 64 for c in "123"]
UNIT = 10**6
DEPOSIT = 300 * UNIT
#: Near each market's start price, wide enough for leveraged positions to be liquidated.
PRICES = {APT: (4_700, 5_300), BTC: (93_000, 97_000)}
LOTS = {APT: (500, 3_000), BTC: (10, 300)}

_wallet = st.sampled_from(USERS)
_market = st.sampled_from([APT, BTC])


@st.composite
def _order(draw: st.DrawFn) -> tuple[object, ...]:
    market_id = draw(_market)
    kind = draw(st.sampled_from(["limit", "limit", "limit", "market"]))
    price = draw(st.integers(*PRICES[market_id]))
    trigger = draw(st.sampled_from([0, 0, 0, price + 50, price - 50]))
    return (kind, draw(_wallet), market_id, draw(st.booleans()), draw(st.booleans()),
            draw(st.integers(*LOTS[market_id])), price, draw(st.integers(1, 20)),
            draw(st.sampled_from([0, 0, 0, 1, 2, 3])), trigger)


_OTHERS = st.one_of(
    st.tuples(st.just("cancel"), _wallet, _market, st.integers(0, 10)),
    st.tuples(st.just("margin"), _wallet, _market, st.booleans(), st.integers(1, 5 * UNIT)),
    st.tuples(st.just("withdraw"), _wallet, _market, st.integers(1, 200 * UNIT)),
    st.tuples(st.just("deposit"), _wallet, st.integers(1, 200 * UNIT)),
    st.tuples(st.just("settle"), _wallet, _market),
    st.tuples(st.just("collapse"), _wallet, _market),
    st.tuples(st.just("wait"), st.integers(1, 3)),  # funding, triggers, liquidations
)
#: Mostly orders, so that positions open, close and get liquidated.
OPERATIONS = st.integers(0, 9).flatmap(lambda n: _order() if n < 7 else _OTHERS)


def closable(engine: Engine, wallet: str, market_id: int, side: bool, lots: int) -> int:
    """How much of ``lots`` a close on ``side`` can take (0: none)."""
    spec = engine.markets[market_id]
    for position in engine.positions(engine.profile_address(wallet), market_id):
        if position["trade_side"] is side:
            return min(spec.lots(Decimal(position["available_order_size"])), lots)
    return 0


def run(engine: Engine, clock: Clock, op: tuple[object, ...]) -> None:
    kind = op[0]
    if kind == "wait":
        clock.now += int(str(op[1]))
        engine.step()
        return
    wallet = str(op[1])
    if kind in ("limit", "market"):
        _, _, market_id, side, close, lots, price, leverage, restriction, trigger = op
        market_id, lots = int(str(market_id)), int(str(lots))
        side, close = bool(side), bool(close)
        if close:
            lots = closable(engine, wallet, market_id, side, lots) or lots
            close = closable(engine, wallet, market_id, side, lots) > 0
        tp, sl = (int(str(trigger)), 0) if side else (0, int(str(trigger)))
        if kind == "limit":
            engine.place_limit_order(wallet, market_id, side, close, lots, int(str(price)),
                                     int(str(leverage)), int(str(restriction)), tp, sl)
        else:
            engine.place_market_order(wallet, market_id, side, close, lots,
                                      int(str(leverage)), tp, sl)
    elif kind == "cancel":
        market_id = int(str(op[2]))
        resting = engine.open_orders(engine.profile_address(wallet), market_id)
        if resting:
            order = resting[int(str(op[3])) % len(resting)]
            side = order["order_type"] in (1, 3)
            engine.cancel_multiple_orders(wallet, market_id, [int(order["order_id"])], [side])
    elif kind == "margin":
        engine.add_margin(wallet, int(str(op[2])), bool(op[3]), int(str(op[4])))
    elif kind == "withdraw":
        engine.withdraw(wallet, int(str(op[2])), int(str(op[3])))
    elif kind == "deposit":
        engine.deposit(wallet, int(str(op[2])))
    elif kind == "settle":
        engine.settle_pnl(wallet, int(str(op[2])))
    else:
        engine.collapse_position(wallet, int(str(op[2])))


def profile_holds(engine: Engine, wallet: str) -> int:
    """Free collateral, pending balances, margins and held-back collateral, in sub-units."""
    account = engine._accounts[wallet]
    held = account.balance + sum(account.pending.values())
    for state in engine._state.values():
        held += sum(o.reserved for o in state.book.owned(account.profile))
        held += sum(p.margin for (owner, _), p in state.positions.items()
                    if owner == account.profile)
    return held


def profile_flows(engine: Engine, wallet: str) -> int:
    """Deposits - withdrawals + trades' pnl (net of fees) + funding, from the histories."""
    profile = engine.profile_address(wallet)

    def units(text: str) -> int:
        return int(Decimal(text).scaleb(6))

    total = sum(units(r["amount"]) * (1 if r["is_deposit"] else -1)
                for r in engine.deposit_withdraw_history(profile))
    total += sum(units(r["pnl"]) for r in engine.trade_history(profile))
    total += sum(units(r["amount"]) for r in engine.funding_history(profile))
    return total + engine._accounts[wallet].covered


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPERATIONS, min_size=40, max_size=80))
def test_random_trading_keeps_money_whole_and_on_its_grid(
    operations: list[tuple[object, ...]],
) -> None:
    clock = Clock()
    engine = Engine(seed=0, clock=clock, markets=DEFAULT_MARKETS[:2], market_maker=None,
                    funding_interval=1.0)
    for wallet in USERS:
        engine.deposit(wallet, DEPOSIT)
    for op in operations:
        with contextlib.suppress(EngineAbort):
            run(engine, clock, op)
        clock.now += 1  # a step after each: funding, TP/SL triggers, liquidations
        engine.step()
        audit = engine.audit()
        assert audit.balanced, audit
        for wallet in USERS:
            assert profile_holds(engine, wallet) == profile_flows(engine, wallet)
            assert engine.profile_balance(wallet) >= 0
            for position in engine.positions(engine.profile_address(wallet)):
                assert 0 <= Decimal(position["available_order_size"]) <= Decimal(
                    position["size"])
                spec = engine.markets[int(position["market_id"])]
                assert not off_grid(spec, position), position  # it changes after each step
        for market_id in (APT, BTC):
            prices = engine.market_price(market_id)
            if prices["bestBidPrice"] is not None and prices["bestAskPrice"] is not None:
                assert prices["bestBidPrice"] < prices["bestAskPrice"]
    for where, market, record in engine_answers(engine, USERS):
        assert not off_grid(market, record), (where, record)


def test_the_audit_sees_money_that_appears() -> None:
    """The invariant can fail: a sub-unit created from nothing unbalances it."""
    engine = Engine(seed=0, clock=Clock(), market_maker=None)
    engine.deposit(USERS[0], DEPOSIT)
    assert engine.audit().balanced
    engine._accounts[USERS[0]].balance += 1
    assert not engine.audit().balanced
