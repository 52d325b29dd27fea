"""Random order flow across several accounts: money is conserved exactly after every call,
no book is ever crossed, and every refused call leaves the engine exactly as it was.

Small faucets make margin refusals and liquidations happen; steps of up to 40 simulated seconds
with a 30 s funding interval make funding, triggers and the market maker run in between.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kana_async.sim.pulse.domain import order_id_text
from kana_async.sim.pulse.engine import PulseEngine
from kana_async.sim.pulse.errors import PulseError
from tests.sim.pulse.engines import Clock

USERS = ("alice", "bob", "carol")
#: instrument -> (USD amount bounds, price bounds in ticks around the start price)
MARKETS = {
    "BTC_USD-PERPETUAL": ((10, 80_000), (118_000, 122_000)),
    "ETH_USD-PERPETUAL": ((1, 40_000), (58_000, 62_000)),
}


def snapshot(engine: PulseEngine) -> Any:
    accounts = {c: (dict(a.balances), {n: (p.size, p.open_cash, p.realized, p.funding)
                                       for n, p in a.positions.items()},
                    dict(a.frozen_until))
                for c, a in engine._accounts.items()}
    orders = {i: (o.state, o.remaining, o.filled, o.notional_filled, o.price, o.amount,
                  o.replaced, o.cancel_reason)
              for i, o in (*engine._closed.items(), *engine._live.items(),
                           *((o.order_id, o) for b in engine._books.values()
                             for o in b.orders()))}
    return (accounts, {n: engine.book(n) for n in engine.instruments}, orders,
            engine.last_seq, dict(engine.ledger.fee_pool), dict(engine.ledger.insurance))


_user = st.sampled_from(USERS)
_market = st.sampled_from(sorted(MARKETS))


@st.composite
def _place(draw: st.DrawFn) -> tuple[Any, ...]:
    name = draw(_market)
    (low, high), (tlow, thigh) = MARKETS[name]
    kind = draw(st.sampled_from(["limit", "limit", "limit", "market", "stop_limit",
                                 "take_market"]))
    options = {
        "type": kind,
        "time_in_force": draw(st.sampled_from(["good_til_cancelled", "good_til_cancelled",
                                               "immediate_or_cancel", "fill_or_kill",
                                               "good_til_day"])),
        "post_only": draw(st.booleans()) and draw(st.booleans()),
        "reduce_only": draw(st.integers(0, 5)) == 0,
        "mmp": draw(st.integers(0, 5)) == 0,
        "origin": draw(st.sampled_from([None, "conn-1", "conn-2"])),
    }
    return ("place", draw(_user), draw(st.sampled_from(["buy", "sell"])), name,
            draw(st.integers(low, high)), draw(st.integers(tlow, thigh)),
            draw(st.integers(tlow, thigh)), options)


@st.composite
def _sweep(draw: st.DrawFn) -> tuple[Any, ...]:
    """A large limit order through the book: it trades, then often fails its margin check
    with the rest, so its fills must be undone."""
    name = draw(_market)
    (_, high), (tlow, thigh) = MARKETS[name]
    side = draw(st.sampled_from(["buy", "sell"]))
    ticks = thigh + 2_000 if side == "buy" else tlow - 2_000
    options = {"type": "limit", "time_in_force": "good_til_cancelled", "post_only": False,
               "reduce_only": False, "mmp": False, "origin": None}
    return ("place", draw(_user), side, name, draw(st.integers(high // 4, high)), ticks, 0,
            options)


_OTHER = st.one_of(
    _sweep(),
    st.tuples(st.just("edit"), _user, st.integers(0, 20), st.integers(1, 3_000),
              st.integers(-400, 400)),
    st.tuples(st.just("cancel"), _user, st.integers(0, 20)),
    st.tuples(st.just("cancel_all"), _user, st.sampled_from([None, *sorted(MARKETS)])),
    st.tuples(st.just("step"), st.integers(1, 40)),
    st.tuples(st.just("index"), st.sampled_from(["btc_usd", "eth_usd"]), st.integers(-1500, 1500)),
    st.tuples(st.just("mmp"), _user),
    st.tuples(st.just("disconnect"), _user, st.sampled_from(["conn-1", "conn-2"])),
)
OPERATIONS = st.integers(0, 9).flatmap(lambda n: _place() if n < 6 else _OTHER)


def apply(engine: PulseEngine, clock: Clock, op: tuple[Any, ...]) -> None:
    kind = op[0]
    if kind == "step":
        clock.now += op[1]
        engine.step()
    elif kind == "index":
        _, name, basis_points = op
        price = engine.index_price(name) * (10_000 + basis_points) / 10_000
        engine.set_index_price(name, price.quantize(Decimal("0.01")))
    elif kind == "disconnect":
        engine.cancel_by_origin(op[1], op[2])
    elif kind == "mmp":
        engine.set_mmp_config(op[1], "btc_usd", interval=Decimal(5), frozen_time=Decimal(3),
                              quantity_limit=Decimal(500))
    elif kind == "place":
        _, user, side, name, amount, ticks, trigger_ticks, options = op
        inst = engine.instruments[name]
        kwargs: dict[str, Any] = dict(options)
        if not options["type"].endswith("market"):
            kwargs["price"] = inst.price(ticks)
        if options["type"] in ("stop_limit", "take_market"):
            kwargs["trigger_price"] = inst.price(trigger_ticks)
        engine.place(user, side, name, inst.contract_size * max(1, amount // int(
            inst.contract_size)), **kwargs)
    else:
        user = op[1]
        mine = sorted(engine._by_owner.get(user, {}))
        if kind == "cancel_all":
            engine.cancel_all(user, instrument_name=op[2])
            return
        if not mine:
            return
        order = engine._live[mine[op[2] % len(mine)]]
        oid = order_id_text(order.order_id)
        if kind == "cancel":
            engine.cancel(user, oid)
        else:
            inst = order.instrument
            engine.edit(user, oid, amount=inst.contract_size * op[3],
                        price=None if order.order_type.endswith("market")
                        else inst.price(max(1, order.price + op[4])))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OPERATIONS, min_size=1, max_size=60), market_maker=st.booleans(),
       seed=st.integers(0, 3))
def test_random_flow_conserves_money_and_never_crosses(
        ops: list[tuple[Any, ...]], market_maker: bool, seed: int) -> None:
    clock = Clock()
    engine = PulseEngine(seed=seed, clock=clock, market_maker=market_maker,
                         funding_interval=30, max_open_orders=15,
                         faucet={"BTC": Decimal("0.01"), "ETH": Decimal("0.3")})
    for user in USERS:
        engine.account(user)
    engine.audit()
    for op in ops:
        before = snapshot(engine)
        refusal: PulseError | None = None
        try:
            apply(engine, clock, op)
        except PulseError as err:
            refusal = err
        if refusal is not None:
            assert snapshot(engine) == before, (op, refusal.reason)
            assert "Decimal(" not in refusal.reason
        engine.audit()
