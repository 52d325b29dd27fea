"""Hours of simulated time leave memory bounded: every store that grows has a documented cap,
and the market maker's own positions stay within its inventory limit."""

from __future__ import annotations

import contextlib

from kana_async.sim.engine import Engine, EngineAbort, MarketMakerConfig
from kana_async.sim.markets import DEFAULT_MARKETS
from kana_async.sim.risk import equity
from tests.sim.conftest import ALICE, APT, BOB, UNIT, Clock, limit, market, profile

BUSY = MarketMakerConfig(levels=4, trades_per_step=3, max_inventory=20_000)


def _internal_positions(engine: Engine) -> list[tuple[str, bool, int]]:
    return [
        (owner, side, position.lots)
        for state in engine._state.values()
        for (owner, side), position in state.positions.items()
        if engine._profiles[owner].internal
    ]


def test_a_long_busy_run_keeps_every_store_at_its_cap() -> None:
    clock = Clock()
    engine = Engine(seed=5, clock=clock, markets=DEFAULT_MARKETS[:1], market_maker=BUSY,
                    fill_log_limit=300, recent_trades_limit=20, history_limit=15,
                    order_record_limit=25)
    engine.deposit(ALICE, 50_000 * UNIT)
    for step in range(1500):
        clock.now += 0.1
        engine.step()
        if step % 30 == 0:  # a bot: a bid far away, its cancel, and a trade
            order_id = limit(engine, ALICE, long=True, lots=500, ticks=3000)
            engine.cancel_multiple_orders(ALICE, APT, [int(order_id)], [True])
            market(engine, ALICE, long=step % 60 == 0, lots=500)
    alice = profile(engine, ALICE)
    assert len(engine._fill_log[APT]) == 300
    assert len(engine.recent_trades(APT)) == 20
    assert len(engine._order_records) == 25
    assert len(engine.order_history(alice)) == 15
    assert len(engine.trade_history(alice)) == 15
    # The newest records are the ones kept.
    assert engine.order_history(alice)[0]["transaction_version"] == max(
        r["transaction_version"] for r in engine.order_history(alice))
    # The market maker holds one net position per account, within its inventory limit
    # (plus at most one flow order of overshoot).
    held = _internal_positions(engine)
    owners = [owner for owner, _, _ in held]
    assert len(owners) == len(set(owners))
    spec = engine.markets[APT]
    mark = engine.last_price(APT)
    assert mark is not None
    for _, _, lots in held:
        assert spec.size_of(lots) * mark < BUSY.max_inventory + 2 * BUSY.trade_notional[1]


def test_netting_the_market_maker_keeps_its_money_whole() -> None:
    engine = Engine(seed=2, clock=Clock(), markets=DEFAULT_MARKETS[:1], market_maker=BUSY)
    maker, taker = engine._mm_maker, engine._mm_taker
    start = maker.balance + taker.balance
    for _ in range(300):
        engine.step()
    mark = engine.last_price(APT)
    assert mark is not None
    ticks = engine.markets[APT].ticks(mark)
    spec = engine.markets[APT]
    held = sum(equity(spec, position, ticks)
               for (owner, _), position in engine._state[APT].positions.items()
               if engine._profiles[owner].internal)
    reserved = sum(o.reserved for o in engine._state[APT].book.orders())
    pending = sum(sum(a.pending.values()) for a in (maker, taker))
    # Trades between the two internal accounts move money between them and fees to the
    # house; netting moves nothing at all. To the sub-unit:
    total = maker.balance + taker.balance + pending + held + reserved + engine.fees_collected
    assert engine.fees_collected > 0
    assert total == start
    assert engine.audit().balanced


def test_hours_of_trading_with_funding_and_liquidations_balance_to_the_sub_unit() -> None:
    clock = Clock()
    wild = MarketMakerConfig(levels=4, trades_per_step=3, max_inventory=20_000,
                             volatility=0.003)
    engine = Engine(seed=9, clock=clock, markets=DEFAULT_MARKETS[:2], market_maker=wild,
                    funding_interval=5)
    engine.deposit(ALICE, 2_000 * UNIT)
    engine.deposit(BOB, 50 * UNIT)
    for step in range(3000):
        clock.now += 1
        engine.step()
        if step % 50 == 0:  # BOB opens at the highest leverage, so price moves liquidate him
            for wallet, leverage in ((ALICE, 2), (BOB, 20)):
                with contextlib.suppress(EngineAbort):
                    market(engine, wallet, long=step % 100 == 0, lots=600, leverage=leverage)
        if step % 100 == 0:
            assert engine.audit().balanced
    audit = engine.audit()
    assert audit.balanced, audit
    assert any(r["order_type"] in (11, 12) for r in engine.trade_history(profile(engine, BOB)))
    assert audit.insurance != 0
    assert engine.funding_history(profile(engine, ALICE))


def test_a_resting_order_stays_known_after_its_record_is_evicted() -> None:
    engine = Engine(seed=1, clock=Clock(), market_maker=None, order_record_limit=3,
                    history_limit=3)
    for wallet in (ALICE, BOB):
        engine.deposit(wallet, 10_000 * UNIT)
    old = limit(engine, ALICE, long=True, lots=500, ticks=4000)
    for _ in range(5):  # finished orders push the resting one out of both stores
        order_id = limit(engine, BOB, long=True, lots=500, ticks=3000)
        engine.cancel_multiple_orders(BOB, APT, [int(order_id)], [True])
    assert int(old) not in engine._order_records
    status = engine.order_status(APT, old)
    assert status is not None
    assert status["status"] == "Open"
    assert status["remaining_size"] == "0.500"
    # A finished order pushed out is unknown, as on an indexer that prunes.
    assert engine.order_status(APT, order_id) is not None
    assert len(engine.order_history(profile(engine, BOB))) == 3
