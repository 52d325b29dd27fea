"""What the stream tests share: an aiohttp session for the real connector, two profile
addresses, and a reconnect policy fast enough for tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from kana_async.stream import ReconnectPolicy

ADDR_A = "0x" + "a" * 64
ADDR_B = "0x" + "b" * 64
#: Reconnects within milliseconds, never considered stable during a test.
FAST = ReconnectPolicy(initial_delay=0.001, max_delay=0.004, jitter=0.0, stable_after=30.0)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
