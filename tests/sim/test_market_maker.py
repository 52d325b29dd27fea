"""The market maker's plan: a two-sided ladder around a seeded random-walking mid."""

from __future__ import annotations

from decimal import Decimal

from kana_async.sim.market_maker import MarketMaker, MarketMakerConfig
from kana_async.sim.markets import DEFAULT_MARKETS

MARKETS = {spec.market_id: spec for spec in DEFAULT_MARKETS}
APT = MARKETS[1338]


def test_ladder_is_two_sided_and_does_not_cross() -> None:
    mm = MarketMaker(MARKETS, seed=1, config=MarketMakerConfig(levels=5))
    ladder = mm.ladder(APT)
    bids = [price for is_ask, price in ladder if not is_ask]
    asks = [price for is_ask, price in ladder if is_ask]
    assert len(bids) == len(asks) == 5
    assert max(bids) < mm.mid(1338) < min(asks)
    assert bids == sorted(bids, reverse=True)
    assert asks == sorted(asks)


def test_quote_sizes_respect_the_market_and_the_notional_bounds() -> None:
    config = MarketMakerConfig(level_notional=(1_000, 2_000))
    mm = MarketMaker(MARKETS, seed=2, config=config)
    for spec in DEFAULT_MARKETS:
        for is_ask, price in mm.ladder(spec):
            quote = mm.quote(spec, is_ask, price)
            assert spec.min_lots <= quote.lots <= spec.max_lots
            notional = spec.size_of(quote.lots) * spec.price_of(price)
            assert notional <= 2_000
            assert notional >= Decimal(1_000) - spec.lot * spec.price_of(price)


def test_trades_per_step_is_the_expected_count() -> None:
    mm = MarketMaker(MARKETS, seed=3, config=MarketMakerConfig(trades_per_step=2.5))
    counts = [len(mm.trades(APT)) for _ in range(400)]
    assert set(counts) == {2, 3}
    assert 2.3 < sum(counts) / len(counts) < 2.7
    assert all(t.price is None for t in mm.trades(APT))


def test_the_walk_is_seeded_and_stays_positive() -> None:
    def walk(seed: int) -> list[int]:
        mm = MarketMaker(MARKETS, seed=seed, config=MarketMakerConfig(volatility=0.5))
        return [mm.move(1338) for _ in range(200)]

    assert walk(4) == walk(4)
    assert walk(4) != walk(5)
    assert min(walk(4)) >= 10


def test_flow_leans_against_a_heavy_inventory_only() -> None:
    config = MarketMakerConfig(trades_per_step=4, max_inventory=10_000)
    light = MarketMaker(MARKETS, seed=3, config=config)
    heavy_long = MarketMaker(MARKETS, seed=3, config=config)
    heavy_short = MarketMaker(MARKETS, seed=3, config=config)
    # 1000 APT at ~5.7 is ~5,700 of notional: below the limit; 3000 APT is above it.
    sides = [q.is_ask for _ in range(20) for q in light.trades(APT, inventory=1_000_000)]
    assert True in sides
    assert False in sides
    assert all(not q.is_ask for _ in range(20) for q in heavy_long.trades(APT, 3_000_000))
    assert all(q.is_ask for _ in range(20) for q in heavy_short.trades(APT, -3_000_000))
