"""What the Pulse engine tests share: instrument names, a clock moved by hand, a quiet engine."""

from __future__ import annotations

from typing import Any

from kana_async.sim.pulse.engine import PulseEngine

BTC = "BTC_USD-PERPETUAL"   # 10 USD contracts, tick 0.5 USD, index starts at 60000
ETH = "ETH_USD-PERPETUAL"   # 1 USD contracts, tick 0.05 USD, index starts at 3000
START = 1_767_254_400.0     # 2026-01-01 08:00:00 UTC


class Clock:
    """Engine seconds, moved by hand."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(**kwargs: Any) -> tuple[PulseEngine, Clock]:
    """An engine without the market maker (every trade is the test's) and its clock;
    ``now=`` sets the start."""
    clock = Clock(kwargs.pop("now", START))
    kwargs.setdefault("market_maker", False)
    return PulseEngine(clock=clock, **kwargs), clock
