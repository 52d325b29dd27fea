"""Helpers of the PulseClient tests: a fast simulator, a socket that records what the client
sends and can slip frames into what it receives, and bounded waits."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from kana_async.models.pulse import BuySellResponse, OrderConfirmation
from kana_async.sim import Simulator
from kana_async.sim.pulse import PulseConfig, PulseFaults, PulseServer
from kana_async.stream.transport import AiohttpConnector, WebSocket

BTC = "BTC_USD-PERPETUAL"
ETH = "ETH_USD-PERPETUAL"
CLIENT_ID = "bot-1"
SECRET = "s3cret-value-never-logged"


def fast_config(**overrides: Any) -> PulseConfig:
    """Pushes every 10 ms, heartbeat units of 20 ms (interval 10 = 0.2 s), no market maker."""
    values: dict[str, Any] = {"push_interval": 0.01, "heartbeat_unit": 0.02,
                              "market_maker": False}
    values.update(overrides)
    return PulseConfig(**values)


@asynccontextmanager
async def pulse_sim(**overrides: Any) -> AsyncIterator[Simulator]:
    async with Simulator(step_interval=None, market_maker=None,
                         pulse=fast_config(**overrides)) as sim:
        yield sim


class RecordingSocket:
    """A real socket whose sent texts are recorded and whose inbound stream can be fed
    extra frames (delivered at once, ahead of the real ones)."""

    def __init__(self, ws: WebSocket, owner: RecordingConnector) -> None:
        self._ws = ws
        self._owner = owner
        self.sent: list[str] = []
        self._reading: asyncio.Task[bytes | str | None] | None = None

    async def receive(self) -> bytes | str | None:
        owner = self._owner
        while True:
            if owner.injected:
                return owner.injected.popleft()
            if self._reading is None:
                self._reading = asyncio.ensure_future(self._ws.receive())
            owner.wake.clear()
            woken = asyncio.ensure_future(owner.wake.wait())
            try:
                await asyncio.wait({self._reading, woken},
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                woken.cancel()
            if self._reading.done() and not owner.injected:
                reading, self._reading = self._reading, None
                return reading.result()

    async def send(self, text: str) -> None:
        self.sent.append(text)
        request = json.loads(text)
        refusals = self._owner.refuse
        if refusals.get(request["method"], 0) > 0:
            # Answered here, as the gateway would when busy; it never reaches the gateway.
            refusals[request["method"]] -= 1
            self._owner.inject(json.dumps({
                "jsonrpc": "2.0", "id": request["id"],
                "error": {"code": 10028, "message": "too_many_requests"}}))
            return
        await self._ws.send(text)

    async def close(self) -> None:
        reading, self._reading = self._reading, None
        if reading is not None:
            reading.cancel()
            await asyncio.wait({reading})
        await self._ws.close()

    async def ping(self) -> None:
        ping = getattr(self._ws, "ping", None)
        if ping is not None:
            await ping()

    def methods(self) -> list[str]:
        return [json.loads(text)["method"] for text in self.sent]


class RecordingConnector:
    """Opens real sockets (aiohttp) and keeps each, in order."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._inner = AiohttpConnector(session, connect_timeout=5.0)
        self.sockets: list[RecordingSocket] = []
        self.injected: deque[bytes | str] = deque()
        self.wake = asyncio.Event()
        #: method -> how many of its next requests get Deribit's 10028 (too_many_requests).
        self.refuse: dict[str, int] = {}

    def inject(self, *frames: bytes | str) -> None:
        """Deliver ``frames`` to the open socket's reader next, at once."""
        self.injected.extend(frames)
        self.wake.set()

    async def __call__(self, url: str) -> WebSocket:
        socket = RecordingSocket(await self._inner(url), self)
        self.sockets.append(socket)
        return socket


async def until(predicate: Callable[[], bool], *, seconds: float = 5.0,
                what: str = "condition") -> None:
    """Wait (bounded in time and in polls) until ``predicate()`` holds."""
    for _ in range(int(seconds / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def gateway(sim: Simulator) -> PulseServer:
    assert sim.pulse is not None
    return sim.pulse


def faults(sim: Simulator) -> PulseFaults:
    return gateway(sim).faults


def order_of(response: BuySellResponse) -> OrderConfirmation:
    assert response.order is not None
    return response.order


def order_id(response: BuySellResponse | OrderConfirmation) -> str:
    order = order_of(response) if isinstance(response, BuySellResponse) else response
    assert order.order_id is not None
    return order.order_id
