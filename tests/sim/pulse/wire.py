"""Helpers of the gateway's socket tests: a served gateway and a raw JSON-RPC client.

The client reads frames in order: a call waits for the reply with its id and keeps every other
frame (notifications, heartbeats, stray errors) for the test to look at. Every wait is bounded
in time and in frames.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from kana_async.sim.pulse import Authenticator, PulseConfig, PulseEngine, PulseFaults, PulseServer
from tests.sim.pulse.engines import Clock

FIXTURES = Path(__file__).parent / "fixtures"
#: Most frames one wait reads before giving up (with the time limit, bounds every loop).
MAX_FRAMES = 5_000


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


@asynccontextmanager
async def served(config: PulseConfig | None = None, *, clock: Clock | None = None,
                 market_maker: bool = False, funding_interval: float = 60.0,
                 ) -> AsyncIterator[PulseServer]:
    """A gateway on 127.0.0.1 over a fresh engine (no market maker: every trade is the
    test's), pushing every 10 ms with heartbeat units of 20 ms."""
    clock = clock if clock is not None else Clock()
    config = config if config is not None else PulseConfig(push_interval=0.01,
                                                           heartbeat_unit=0.02, strict=False)
    engine = PulseEngine(seed=1, clock=clock, market_maker=market_maker,
                         funding_interval=funding_interval)
    auth = Authenticator(clock, token_lifetime=config.token_lifetime)
    async with PulseServer(engine, auth, PulseFaults(seed=1), config) as server:
        yield server


class Client:
    """A JSON-RPC client on one WebSocket, for tests."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse[bool]) -> None:
        self.ws = ws
        self.frames: deque[dict[str, Any]] = deque()   # frames read but not claimed
        self._ids = 0

    async def send(self, method: str, params: dict[str, Any] | None = None) -> int:
        self._ids += 1
        frame: dict[str, Any] = {"jsonrpc": "2.0", "id": self._ids, "method": method}
        if params is not None:
            frame["params"] = params
        await self.ws.send_str(json.dumps(frame))
        return self._ids

    async def call(self, method: str, params: dict[str, Any] | None = None,
                   timeout: float = 3.0) -> dict[str, Any]:
        """The whole reply frame of ``method``."""
        request_id = await self.send(method, params)
        return await self.reply(request_id, timeout)

    async def result(self, method: str, params: dict[str, Any] | None = None) -> Any:
        reply = await self.call(method, params)
        assert "error" not in reply, reply
        return reply["result"]

    async def reply(self, request_id: int | None, timeout: float = 3.0) -> dict[str, Any]:
        return await self.wait(lambda f: "id" in f and f["id"] == request_id and (
            "result" in f or "error" in f), timeout)

    async def auth(self, client_id: str = "alice", secret: str = "alice-secret") -> Any:
        return await self.result("public/auth", {"grant_type": "client_credentials",
                                                 "client_id": client_id,
                                                 "client_secret": secret})

    async def notification(self, channel: str, timeout: float = 3.0,
                           where: Callable[[Any], bool] = lambda data: True) -> Any:
        """The ``data`` of the next notification of ``channel`` that ``where`` accepts."""
        frame = await self.wait(lambda f: f.get("method") == "subscription"
                                and f["params"]["channel"] == channel
                                and where(f["params"]["data"]), timeout)
        return frame["params"]["data"]

    async def wait(self, accept: Callable[[dict[str, Any]], bool],
                   timeout: float = 3.0) -> dict[str, Any]:
        """The first frame ``accept`` takes, read ones first; AssertionError after
        ``timeout`` seconds or :data:`MAX_FRAMES` frames."""
        for frame in list(self.frames):
            if accept(frame):
                self.frames.remove(frame)
                return frame
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for _ in range(MAX_FRAMES):
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                message = await self.ws.receive(timeout=left)
            except asyncio.TimeoutError:
                break
            if message.type != aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"the socket ended: {message.type.name} {message.data}")
            received: dict[str, Any] = json.loads(message.data)
            if accept(received):
                return received
            self.frames.append(received)
        raise AssertionError(f"no such frame within {timeout} s; kept: {list(self.frames)[-5:]}")

    async def closed(self, timeout: float = 3.0) -> Any:
        """The close (or error) that ends the socket; frames before it are kept."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for _ in range(MAX_FRAMES):
            message = await self.ws.receive(timeout=max(0.001, deadline - loop.time()))
            if message.type == aiohttp.WSMsgType.TEXT:
                self.frames.append(json.loads(message.data))
                continue
            return message
        raise AssertionError("the socket stayed open")


@asynccontextmanager
async def connected(server: PulseServer) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as session, session.ws_connect(server.ws_url) as ws:
        yield Client(ws)


async def until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    """Wait until ``condition()`` holds (polled every 5 ms), or fail after ``timeout``."""
    for _ in range(int(timeout / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the condition did not come true in time")
