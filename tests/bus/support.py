"""What the bus tests share beyond the server: bounded waiting, and knowing the simulator has
the bridge's subscription."""

from __future__ import annotations

import asyncio
from typing import Any

from kana_async.sim import Simulator


async def until(condition: Any, timeout: float = 5.0) -> None:
    """Wait (bounded) for ``condition()`` to hold."""
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


async def upstream_has(sim: Simulator, profile: str) -> None:
    """The simulator registered the bridge's subscribe (an event topic answers nothing, so an
    order placed before that would never be pushed)."""
    await until(lambda: sim.ws.subscribers("live_order_history", profile) >= 1)
