"""Random order flow between users: the books never cross and no money appears or vanishes.

Every trade moves as much value to one side as it takes from the other, so at any common mark
price the users' free collateral, pending balances, position margins, held-back collateral of
resting orders and unrealised pnl, plus the fees paid, always add up to what was deposited
(to within the 28-digit rounding of divisions).
"""

from __future__ import annotations

import contextlib
import random
from decimal import Decimal

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from kana_async.sim.engine import Engine, EngineAbort

APT = 1338
USERS = ["0x" + c * 64 for c in "123"]
DEPOSIT = Decimal(300)


def random_flow(rng: random.Random, count: int) -> list[tuple[object, ...]]:
    """Operations drawn uniformly: orders near one price so that they cross often."""
    ops: list[tuple[object, ...]] = []
    for _ in range(count):
        wallet, side, close = rng.choice(USERS), rng.random() < 0.5, rng.random() < 0.4
        lots = rng.randint(500, 3000)
        kind = rng.choices(["limit", "market", "cancel", "margin"], [5, 3, 2, 1])[0]
        if kind == "limit":
            ops.append((kind, wallet, side, close, lots, rng.randint(4997, 5003),
                        rng.randint(1, 20), rng.choice([0, 0, 0, 1, 2, 3])))
        elif kind == "market":
            ops.append((kind, wallet, side, close, lots, rng.randint(1, 20)))
        elif kind == "cancel":
            ops.append((kind, wallet, rng.randint(0, 10)))
        else:
            ops.append((kind, wallet, side, rng.randint(1, 5 * 10**6)))
    return ops


def closable(engine: Engine, wallet: str, side: object, lots: object) -> int:
    """How much of ``lots`` a close on ``side`` can take (0: none, so the order opens)."""
    for position in engine.positions(engine.profile_address(wallet)):
        if position["trade_side"] is side:
            free = int(Decimal(position["available_order_size"]) * 1000)
            return min(free, int(str(lots)))
    return 0


def run(engine: Engine, op: tuple[object, ...]) -> None:
    kind, wallet = op[0], str(op[1])
    if kind in ("limit", "market"):
        side, close, lots = op[2], op[3], int(str(op[4]))
        if close:
            lots = closable(engine, wallet, side, lots)
            close = lots > 0
            lots = lots or int(str(op[4]))
    if kind == "limit":
        ticks, leverage, restriction = op[5], op[6], op[7]
        engine.place_limit_order(wallet, APT, bool(side), bool(close), lots, int(str(ticks)),
                                 int(str(leverage)), int(str(restriction)), 0, 0)
    elif kind == "market":
        engine.place_market_order(wallet, APT, bool(side), bool(close), lots, int(str(op[5])),
                                  0, 0)
    elif kind == "cancel":
        ids = engine.open_order_ids(engine.profile_address(wallet), APT)
        if ids:
            order_id = int(ids[int(str(op[2])) % len(ids)])
            [order] = [o for o in engine.open_orders(engine.profile_address(wallet))
                       if o["order_id"] == str(order_id)]
            side = order["order_type"] in (1, 3)
            engine.cancel_multiple_orders(wallet, APT, [order_id], [side])
    else:
        engine.add_margin(wallet, APT, bool(op[2]), int(str(op[3])))


def total_value(engine: Engine, mark: Decimal) -> Decimal:
    total = Decimal(0)
    state = engine._state[APT]  # the held-back collateral is not in any view
    for wallet in USERS:
        profile = engine.profile_address(wallet)
        total += engine.net_profile_balance(wallet)
        total += sum((o.reserved for o in state.book.orders() if o.owner == profile), Decimal(0))
        for position in engine.positions(profile):
            size, entry = Decimal(position["size"]), Decimal(position["value"])
            gain = size * mark - entry if position["trade_side"] else entry - size * mark
            total += Decimal(position["margin"]) + gain
        total += sum((Decimal(t["fee"]) for t in engine.trade_history(profile)), Decimal(0))
    return total


# No shrinking: a random generator shrinks poorly, and a failure shows its seed anyway.
@settings(max_examples=25, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_random_flow_conserves_money_and_never_crosses(rng: random.Random) -> None:
    engine = Engine(seed=0, clock=lambda: 1_700_000_000.0, market_maker=None)
    for wallet in USERS:
        engine.deposit(wallet, int(DEPOSIT * 10**6))
    expected = DEPOSIT * len(USERS)
    for op in random_flow(rng, 40):
        with contextlib.suppress(EngineAbort):
            run(engine, op)
        for mark in (Decimal("4.9"), Decimal("5.1")):
            assert abs(total_value(engine, mark) - expected) < Decimal("1e-18")
        prices = engine.market_price(APT)
        if prices["bestBidPrice"] is not None and prices["bestAskPrice"] is not None:
            assert prices["bestBidPrice"] < prices["bestAskPrice"]
        for wallet in USERS:
            assert engine.profile_balance(wallet) >= 0
            for position in engine.positions(engine.profile_address(wallet)):
                assert 0 <= Decimal(position["available_order_size"]) <= Decimal(
                    position["size"])
