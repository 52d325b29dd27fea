"""Background liquidity for the Pulse books: seeded quotes around the index, and a little flow.

A pure planner with its own seeded generator: it says which levels a book should show around
the index (a few per side, fixed sizes in whole contracts) and which small market orders the flow
account sends this step. :class:`~.engine.PulseEngine` turns the plan into orders of two internal
accounts (a quoting maker and a flow taker), so every book stays two-sided and trades, funding
and the user channels have something to report.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

from .instruments import Instrument

__all__ = ["FLOW_ACCOUNT", "MAKER_ACCOUNT", "MarketMaker", "MarketMakerConfig", "Quote"]

#: Internal accounts; client ids with this prefix are refused to users.
INTERNAL_PREFIX = "pulse:"
MAKER_ACCOUNT = "pulse:market_maker"
FLOW_ACCOUNT = "pulse:flow"


@dataclass(frozen=True)
class MarketMakerConfig:
    """How busy the market maker is."""

    levels: int = 5                       # quote levels per side
    half_spread: Decimal = Decimal("0.0003")   # relative to the index
    level_gap: Decimal = Decimal("0.0002")     # relative distance between levels
    level_usd: tuple[int, int] = (2_000, 20_000)  # USD per level, drawn between these
    trades_per_step: float = 0.3          # expected flow orders per instrument per step
    trade_usd: tuple[int, int] = (10, 2_000)
    max_inventory_usd: int = 200_000      # beyond it the flow reduces the maker's inventory
    volatility: float = 0.0003            # index move per step (standard deviation, relative)


@dataclass(frozen=True, slots=True)
class Quote:
    """One order to place: ``contracts`` at ``ticks`` (None: a market order)."""

    is_ask: bool
    ticks: int | None
    contracts: int


class MarketMaker:
    """Plans quotes and flow; holds nothing but its random generator and sizes per level."""

    def __init__(self, seed: int, config: MarketMakerConfig | None = None) -> None:
        self.config = config or MarketMakerConfig()
        self._rng = random.Random(seed)
        self._sizes: dict[tuple[str, bool, int], int] = {}

    def walk(self, price: Decimal) -> Decimal:
        """One random-walk step of an index price (2 decimals, never below 1 USD)."""
        move = Decimal(repr(self._rng.gauss(0.0, self.config.volatility)))
        return max(Decimal(1), (price * (1 + move)).quantize(Decimal("0.01")))

    def ladder(self, instrument: Instrument, index: Decimal) -> dict[tuple[bool, int], int]:
        """``(is_ask, ticks) -> contracts`` for every level the book should show now."""
        cfg = self.config
        tick = instrument.tick_size
        half = max(1, int(index * cfg.half_spread / tick))
        gap = max(1, int(index * cfg.level_gap / tick))
        mid = instrument.snap(index)
        wanted: dict[tuple[bool, int], int] = {}
        for level in range(cfg.levels):
            for is_ask in (True, False):
                ticks = mid + half + level * gap if is_ask else mid - half - level * gap
                if ticks <= 0:
                    continue
                key = (instrument.instrument_name, is_ask, ticks)
                if key not in self._sizes:
                    self._sizes[key] = self._contracts(instrument, cfg.level_usd)
                wanted[(is_ask, ticks)] = self._sizes[key]
        # Forget sizes of levels far from the index so the table stays bounded.
        for key in [k for k in self._sizes if k[0] == instrument.instrument_name
                    and (k[1], k[2]) not in wanted]:
            del self._sizes[key]
        return wanted

    def flow(self, instrument: Instrument, index: Decimal, inventory: int) -> list[Quote]:
        """This step's market orders of the flow account. ``inventory`` is the maker's
        position in contracts: past the limit every flow order reduces it."""
        cfg = self.config
        expected = cfg.trades_per_step
        count = int(expected) + (1 if self._rng.random() < expected - int(expected) else 0)
        heavy = abs(instrument.amount(inventory)) > cfg.max_inventory_usd
        out = []
        for _ in range(count):
            is_ask = self._rng.random() < 0.5
            if heavy:
                is_ask = inventory < 0  # the maker is short: the flow sells to it
            out.append(Quote(is_ask, None, self._contracts(instrument, cfg.trade_usd)))
        return out

    def _contracts(self, instrument: Instrument, bounds: tuple[int, int]) -> int:
        usd = Decimal(self._rng.randint(*bounds))
        return max(1, int(usd / instrument.contract_size))
