"""In-memory WebSocket doubles for the stream tests (the transport seam makes them trivial)."""

from __future__ import annotations

import asyncio

from kana_async.errors import TransportError


class FakeSocket:
    """A socket whose incoming frames the test pushes; ``None`` ends it."""

    def __init__(self, *frames: bytes | str | None) -> None:
        self.inbox: asyncio.Queue[bytes | str | None] = asyncio.Queue()
        for frame in frames:
            self.inbox.put_nowait(frame)
        self.sent: list[str] = []
        self.closed = False
        self.fail_sends = False

    async def receive(self) -> bytes | str | None:
        if self.closed:
            return None
        return await self.inbox.get()

    async def send(self, text: str) -> None:
        if self.closed or self.fail_sends:
            raise TransportError("socket closed")
        self.sent.append(text)

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.inbox.put_nowait(None)


class FakeConnector:
    """Hands out prepared sockets in order; raises ``TransportError`` for ``None`` entries,
    and once the list is exhausted, opens sockets that stay open."""

    def __init__(self, *sockets: FakeSocket | None) -> None:
        self.pending = list(sockets)
        self.opened: list[FakeSocket] = []
        self.calls = 0

    async def __call__(self, url: str) -> FakeSocket:
        self.calls += 1
        socket = self.pending.pop(0) if self.pending else FakeSocket()
        if socket is None:
            raise TransportError(f"cannot connect to {url}")
        self.opened.append(socket)
        return socket
