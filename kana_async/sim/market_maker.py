"""The simulator's background liquidity: seeded quotes around a random-walking mid, and flow.

A pure planner: it decides prices and sizes from its own seeded random generator and the
market parameters; the engine turns the plan into orders of two internal accounts (a quoting
maker and a flow taker), so the books stay two-sided and trades happen now and then.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

from .markets import MarketSpec

__all__ = ["MarketMaker", "MarketMakerConfig", "Quote"]


@dataclass(frozen=True)
class MarketMakerConfig:
    """How busy the market maker is. Raise ``levels``/``trades_per_step`` for load tests."""

    #: Quote levels per side. Each step re-quotes the levels the moving mid leaves or enters
    #: (and those filled); a level that stays in place keeps its place in the queue.
    levels: int = 10
    #: Expected number of flow trades per market per step (a fraction is a probability).
    trades_per_step: float = 0.3
    #: Standard deviation of the mid's relative move per step.
    volatility: float = 0.0005
    #: Half the spread between the best quotes, relative to the mid.
    half_spread: float = 0.0004
    #: Relative distance between two quote levels.
    level_gap: float = 0.0002
    #: Notional (quote coin) of one quote level: drawn between these bounds.
    level_notional: tuple[int, int] = (2_000, 20_000)
    #: Notional of one flow trade: drawn between these bounds.
    trade_notional: tuple[int, int] = (100, 3_000)
    #: Notional (quote coin) of inventory the maker may carry on one market; beyond it the
    #: flow trades against the maker's inventory, so hours of random flow stay bounded.
    max_inventory: int = 100_000


@dataclass(frozen=True, slots=True)
class Quote:
    """One order to place: ``lots`` at ``price`` ticks (``None`` = a market order)."""

    is_ask: bool
    price: int | None
    lots: int


class MarketMaker:
    """Keeps a mid per market and plans each step's quotes and flow trades."""

    def __init__(self, markets: dict[int, MarketSpec], seed: int, config: MarketMakerConfig):
        self.config = config
        self._rng = random.Random(seed)
        self._mid = {m: spec.ticks(spec.initial_price) for m, spec in markets.items()}

    def mid(self, market_id: int) -> int:
        """The current mid in ticks."""
        return self._mid[market_id]

    def move(self, market_id: int) -> int:
        """One random-walk step of the mid; never below 10 ticks."""
        mid = self._mid[market_id]
        step = round(self._rng.gauss(0.0, mid * self.config.volatility))
        self._mid[market_id] = mid = max(10, mid + step)
        return mid

    def ladder(self, spec: MarketSpec) -> list[tuple[bool, int]]:
        """``(is_ask, price)`` of every level the maker should quote now, best first."""
        cfg = self.config
        mid = self._mid[spec.market_id]
        half = max(1, round(mid * cfg.half_spread))
        gap = max(1, round(mid * cfg.level_gap))
        out = []
        for level in range(cfg.levels):
            out.append((True, mid + half + level * gap))
            if mid - half - level * gap > 0:
                out.append((False, mid - half - level * gap))
        return out

    def quote(self, spec: MarketSpec, is_ask: bool, price: int) -> Quote:
        """A fresh quote for one level, of random size."""
        return Quote(is_ask, price, self._lots(spec, price, self.config.level_notional))

    def trades(self, spec: MarketSpec, inventory: int = 0) -> list[Quote]:
        """This step's flow: market orders of random side and size. ``inventory`` is the
        maker's net position in lots (long positive); past ``max_inventory`` every flow order
        takes the side that reduces it (a sell to a long maker is a buy of the flow)."""
        expected = self.config.trades_per_step
        count = int(expected) + (1 if self._rng.random() < expected - int(expected) else 0)
        mid = self._mid[spec.market_id]
        heavy = abs(spec.size_of(inventory) * spec.price_of(mid)) > self.config.max_inventory
        out = []
        for _ in range(count):
            is_ask = self._rng.random() < 0.5
            if heavy:
                is_ask = inventory < 0
            out.append(Quote(is_ask, None, self._lots(spec, mid, self.config.trade_notional)))
        return out

    def _lots(self, spec: MarketSpec, price: int, bounds: tuple[int, int]) -> int:
        notional = Decimal(self._rng.randint(*bounds))
        lots = int(notional / (spec.price_of(price) * spec.lot))
        return min(spec.max_lots, max(spec.min_lots, lots))
