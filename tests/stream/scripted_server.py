"""A WebSocket server on 127.0.0.1 that plays an exact frame script per connection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import msgspec
from aiohttp import WSMsgType, web


class ServerConnection:
    """One accepted connection, as the script sees it."""

    def __init__(self, ws: web.WebSocketResponse, index: int) -> None:
        self.ws = ws
        self.index = index
        self.subscribes: list[dict[str, Any]] = []

    async def next_subscribe(self, timeout: float = 2.0) -> dict[str, Any]:
        """The next subscribe message (decoded); raises if the client went away."""
        msg = await asyncio.wait_for(self.ws.receive(), timeout)
        if msg.type is not WSMsgType.TEXT:
            raise ConnectionError(f"client sent {msg.type!r}")
        body: dict[str, Any] = msgspec.json.decode(msg.data)
        self.subscribes.append(body)
        return body

    async def subscribes_until(self, count: int) -> list[dict[str, Any]]:
        while len(self.subscribes) < count:
            await self.next_subscribe()
        return self.subscribes

    async def send(self, topic: str | None, data: Any) -> None:
        body: dict[str, Any] = {"data": data}
        if topic is not None:
            body["message"] = topic
        await self.ws.send_str(msgspec.json.encode(body).decode())

    async def send_raw(self, text: str) -> None:
        await self.ws.send_str(text)

    async def drain(self) -> None:
        """Read (and record) until the client closes."""
        async for msg in self.ws:
            if msg.type is WSMsgType.TEXT:
                self.subscribes.append(msgspec.json.decode(msg.data))

    async def drop(self) -> None:
        await self.ws.close()


Script = Callable[[ServerConnection], Awaitable[None]]


class ScriptedServer:
    """``async with ScriptedServer(script) as server:`` then connect to ``server.url``."""

    def __init__(self, script: Script, *, autoping: bool = True) -> None:
        self.script = script
        self.autoping = autoping
        self.connections: list[ServerConnection] = []
        self.url = ""
        app = web.Application()
        app.router.add_get("/ws/", self._handle)
        self._runner = web.AppRunner(app)

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=self.autoping)
        await ws.prepare(request)
        connection = ServerConnection(ws, len(self.connections))
        self.connections.append(connection)
        with contextlib.suppress(ConnectionError, asyncio.TimeoutError):
            await self.script(connection)
        if not ws.closed:
            await ws.close()
        return ws

    async def wait_for_connections(self, count: int, timeout: float = 3.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.connections) < count:
            if loop.time() > deadline:
                raise AssertionError(f"only {len(self.connections)} connection(s)")
            await asyncio.sleep(0.002)

    async def __aenter__(self) -> ScriptedServer:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"ws://{host}:{port}/ws/"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._runner.cleanup()
