"""The Pulse market maker: two-sided books around the index, steady flow, deterministic."""

from __future__ import annotations

from decimal import Decimal

from kana_async.sim.pulse.engine import PulseEngine
from kana_async.sim.pulse.instruments import DEFAULT_INSTRUMENTS
from kana_async.sim.pulse.market_maker import MAKER_ACCOUNT, MarketMaker, MarketMakerConfig
from tests.sim.pulse.engines import BTC, Clock


def run(seed: int, steps: int) -> tuple[PulseEngine, Clock]:
    clock = Clock()
    engine = PulseEngine(seed=seed, clock=clock, funding_interval=30)
    for _ in range(steps):
        clock.now += 1
        engine.step()
        engine.audit()
    return engine, clock


def test_every_book_is_two_sided_around_the_index_from_the_start() -> None:
    engine = PulseEngine(clock=Clock())
    for name, inst in engine.instruments.items():
        bids, asks = engine.book(name)
        assert len(bids) == len(asks) == MarketMakerConfig().levels
        index = engine.index_price(inst.index_name)
        assert inst.price(bids[0][0]) < index < inst.price(asks[0][0])
        assert abs(inst.price(asks[0][0]) - index) / index < Decimal("0.001")
    engine.audit()


def test_books_stay_two_sided_and_trades_flow_over_many_steps() -> None:
    engine, _ = run(seed=3, steps=300)
    for name in engine.instruments:
        bids, asks = engine.book(name)
        assert bids
        assert asks
        assert bids[0][0] < asks[0][0]
        assert len(engine.last_trades(name, count=1000)) > 20
    assert engine.funding_rounds(BTC)
    assert engine.index_price("btc_usd") != Decimal(60000)


def test_the_same_seed_gives_the_same_market() -> None:
    first, _ = run(seed=7, steps=50)
    second, _ = run(seed=7, steps=50)
    other, _ = run(seed=8, steps=50)
    assert first.book(BTC) == second.book(BTC)
    assert first.index == second.index
    assert [t.price for t in first.last_trades(BTC, count=100)] == \
        [t.price for t in second.last_trades(BTC, count=100)]
    assert first.index != other.index


def test_a_user_trades_against_the_quotes() -> None:
    engine, _ = run(seed=1, steps=1)
    order, trades = engine.place("bob", "buy", BTC, Decimal(1000), type="market")
    assert order.state == "filled"
    assert {t.maker for t in trades} == {MAKER_ACCOUNT}
    # The user sees its own trades and orders; the market maker's stay internal.
    events = engine.events_since(0)
    assert {e.account for e in events if e.kind in ("order", "trade")} == {"bob"}
    engine.audit()


def test_the_maker_inventory_stays_bounded() -> None:
    config = MarketMakerConfig(trades_per_step=3, max_inventory_usd=5_000)
    maker = MarketMaker(1, config)
    inst = DEFAULT_INSTRUMENTS[0]
    for quote in maker.flow(inst, Decimal(60000), inventory=10_000):
        assert quote.is_ask is False  # the maker is long: the flow buys from it
        assert quote.ticks is None
    for quote in maker.flow(inst, Decimal(60000), inventory=-10_000):
        assert quote.is_ask is True


def test_the_ladder_keeps_sizes_of_levels_that_stay() -> None:
    maker = MarketMaker(2)
    inst = DEFAULT_INSTRUMENTS[0]
    first = maker.ladder(inst, Decimal(60000))
    again = maker.ladder(inst, Decimal(60000))
    assert first == again
    moved = maker.ladder(inst, Decimal(61000))
    assert not set(moved) & set(first)
    assert len(maker._sizes) == len(moved)  # levels left behind are forgotten
