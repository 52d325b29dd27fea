"""The small seam between the stream and a WebSocket library.

A :class:`Connector` opens a :class:`WebSocket`: something that receives whole frames
(``bytes`` or ``str``; ``None`` once closed), sends text and closes. The default uses aiohttp's
client, measured fastest here once frames are decoded; tests and users can plug any other
library (or a scripted fake) by passing ``connector=`` to the mux.

Frames must be immutable (``bytes``/``str``): payloads are kept as ``msgspec.Raw`` views of
them until a consumer reads.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import aiohttp

from .._tasks import timeout
from ..errors import TransportError, ValidationError

__all__ = ["AiohttpConnector", "Connector", "WebSocket"]


class WebSocket(Protocol):
    """One open connection."""

    async def receive(self) -> bytes | str | None:
        """The next data frame, or ``None`` when the connection is over."""
        ...

    async def send(self, text: str) -> None: ...

    async def close(self) -> None:
        """Close; calling it on a closed connection does nothing."""
        ...


class Connector(Protocol):
    """Opens connections. Raises :class:`~kana_async.TransportError` when it cannot."""

    async def __call__(self, url: str) -> WebSocket: ...


class _AiohttpWebSocket:
    __slots__ = ("_ws",)

    def __init__(self, ws: aiohttp.ClientWebSocketResponse[Any]) -> None:
        self._ws = ws

    async def receive(self) -> bytes | str | None:
        ws = self._ws
        while True:
            msg = await ws.receive()
            kind = msg.type
            if kind is aiohttp.WSMsgType.TEXT or kind is aiohttp.WSMsgType.BINARY:
                data: bytes | str = msg.data
                return data
            if kind is aiohttp.WSMsgType.ERROR:  # e.g. no pong within the heartbeat
                raise TransportError(f"{type(msg.data).__name__}: {msg.data}")
            if kind in _END:
                return None
            # PING/PONG are answered by aiohttp itself; anything else carries no data.

    async def send(self, text: str) -> None:
        try:
            await self._ws.send_str(text)
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
            raise TransportError(f"WebSocket send failed: {type(exc).__name__}") from exc

    async def close(self) -> None:
        await self._ws.close()


_END = frozenset(
    {aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED}
)


class AiohttpConnector:
    """Connects with an existing ``aiohttp.ClientSession`` (the session is not owned).

    ``heartbeat``: seconds between pings when the connection is idle; aiohttp closes the
    connection when no pong arrives within half of it. Text frames are received as ``bytes``
    (no UTF-8 decode: msgspec validates while decoding). ``connect_timeout`` bounds the
    opening handshake; ``close_timeout`` the closing one: a peer that does not answer in
    time is cut off, so replacing a silent socket never waits on it.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        heartbeat: float | None = 20.0,
        connect_timeout: float = 10.0,
        close_timeout: float = 1.0,
        max_msg_size: int = 16 * 1024 * 1024,
    ) -> None:
        if isinstance(close_timeout, bool) or not isinstance(close_timeout, (int, float)) \
                or not close_timeout > 0:
            raise ValidationError("close_timeout", "must be > 0 seconds", close_timeout)
        self._session = session
        self._heartbeat = heartbeat
        self._timeout = aiohttp.ClientWSTimeout(ws_receive=None, ws_close=close_timeout)
        self._connect_timeout = connect_timeout
        self._max_msg_size = max_msg_size

    async def __call__(self, url: str) -> WebSocket:
        connecting = self._session.ws_connect(
            url,
            heartbeat=self._heartbeat,
            timeout=self._timeout,
            max_msg_size=self._max_msg_size,
            decode_text=False,
            autoping=True,
        )
        try:
            async with timeout(self._connect_timeout):
                ws = await connecting
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            raise TransportError(f"cannot connect to {url}: {type(exc).__name__}: {exc}") from exc
        return _AiohttpWebSocket(ws)
