"""The small seam between the stream and a WebSocket library.

A :class:`Connector` opens a :class:`WebSocket`: something that receives whole frames
(``bytes`` or ``str``; ``None`` once closed), sends text and closes. The default uses aiohttp's
client, measured fastest here once frames are decoded; tests and users can plug any other
library (or a scripted fake) by passing ``connector=`` to the mux. A socket that also has
``async ping()`` (see :class:`PingableWebSocket`) is pinged by the connection itself.

:class:`PicowsConnector` is the optional fast one (``pip install 'kana-async[fast]'``): picows
parses frames in Cython and receives several times more raw frames per second than aiohttp.
``StreamOptions(transport="picows")`` picks it without building it by hand.

A connector raises :class:`~kana_async.TransportError` when it cannot connect, or
:class:`~kana_async.ConnectionRejectedError` when retrying cannot help (the handshake was
answered with a 4xx status, the certificate failed verification): see :func:`connect_error`.

Frames must be immutable (``bytes``/``str``): payloads are kept as ``msgspec.Raw`` views of
them until a consumer reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
from collections import deque
from typing import Any, Protocol

import aiohttp

from .._tasks import timeout
from ..errors import ConnectionRejectedError, TransportError, ValidationError

__all__ = [
    "TRANSPORTS",
    "AiohttpConnector",
    "Connector",
    "PicowsConnector",
    "PingableWebSocket",
    "WebSocket",
    "connect_error",
    "default_connector",
]

#: The names ``StreamOptions.transport`` accepts.
TRANSPORTS = ("aiohttp", "picows")


class WebSocket(Protocol):
    """One open connection, as a :class:`Connector` returns it."""

    async def receive(self) -> bytes | str | None:
        """The next data frame, or ``None`` when the connection is over.

        :raises TransportError: if the connection failed (reset, a frame over the size
            limit); the stream then reconnects.
        """
        ...

    async def send(self, text: str) -> None:
        """Send one text frame.

        :raises TransportError: if the connection cannot send any more.
        """
        ...

    async def close(self) -> None:
        """Close; calling it on a closed connection does nothing.

        :raises: nothing; a peer that does not answer is cut off.
        """
        ...


class PingableWebSocket(WebSocket, Protocol):
    """A socket the connection can probe: ``ping()`` sends a ping and returns when *its* pong
    has arrived (the caller bounds the wait). Pongs are seen only while ``receive`` runs."""

    async def ping(self) -> None:
        """Send a ping and return once its own pong arrived.

        :raises TransportError: if the ping cannot be sent.
        """
        ...


class Connector(Protocol):
    """Opens connections: ``await connector(url)`` returns a :class:`WebSocket`.

    It raises :class:`~kana_async.TransportError` when it cannot connect (the stream retries
    under its :class:`~kana_async.ReconnectPolicy`), or
    :class:`~kana_async.ConnectionRejectedError` when retrying cannot help (a 4xx handshake
    answer, a certificate that fails verification; the stream then gives up).
    """

    async def __call__(self, url: str) -> WebSocket: ...


def answer_pings(pings: deque[tuple[bytes, asyncio.Future[None]]], payload: bytes) -> None:
    """A pong of ``payload`` arrived: it answers its ping and, pongs being in order, every
    older one. An unsolicited pong (or a late answer to a ping given up on) answers none, so
    a server that sends pongs unasked cannot pass for alive."""
    if not any(sent == payload for sent, _ in pings):
        return
    while pings:
        sent, future = pings.popleft()
        if not future.done():
            future.set_result(None)
        if sent == payload:
            return


class _AiohttpWebSocket:
    """aiohttp's socket with pings handled here (``autoping=False``): the server's pings are
    answered, and a pong counts only if it answers one of our own pings, so a server that
    pings us (or sends unsolicited pongs) cannot pass for alive."""

    __slots__ = ("_close_timeout", "_pings", "_ws")

    def __init__(self, ws: aiohttp.ClientWebSocketResponse[Any], close_timeout: float) -> None:
        self._ws = ws
        self._close_timeout = close_timeout
        #: Our pings waiting for their pong: (payload, future), oldest first.
        self._pings: deque[tuple[bytes, asyncio.Future[None]]] = deque()

    async def receive(self) -> bytes | str | None:
        ws = self._ws
        while True:
            msg = await ws.receive()
            kind = msg.type
            if kind is aiohttp.WSMsgType.TEXT or kind is aiohttp.WSMsgType.BINARY:
                data: bytes | str = msg.data
                return data
            if kind is aiohttp.WSMsgType.PING:
                await ws.pong(msg.data)
            elif kind is aiohttp.WSMsgType.PONG:
                self._pong(msg.data)
            elif kind is aiohttp.WSMsgType.ERROR:  # e.g. a frame over max_msg_size
                raise TransportError(f"{type(msg.data).__name__}: {msg.data}")
            elif kind in _END:
                return None

    def _pong(self, payload: bytes) -> None:
        answer_pings(self._pings, payload)

    async def ping(self) -> None:
        payload = os.urandom(8)
        future = asyncio.get_running_loop().create_future()
        self._pings.append((payload, future))
        try:
            await self._ws.ping(payload)
            await future
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
            raise TransportError(f"WebSocket ping failed: {type(exc).__name__}") from exc
        finally:
            if not future.done():
                future.cancel()
                self._pings = deque(item for item in self._pings if item[1] is not future)

    async def send(self, text: str) -> None:
        try:
            await self._ws.send_str(text)
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
            raise TransportError(f"WebSocket send failed: {type(exc).__name__}") from exc

    async def close(self) -> None:
        # aiohttp bounds each read of the closing handshake, not the handshake: a peer that
        # keeps sending (pings, say) would hold it forever. Cancelled, aiohttp drops the
        # connection.
        with contextlib.suppress(asyncio.TimeoutError):
            async with timeout(self._close_timeout):
                await self._ws.close()


_END = frozenset(
    {aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED}
)


class AiohttpConnector:
    """Connects with an existing ``aiohttp.ClientSession`` (the session is not owned).

    Its sockets answer the server's pings and offer ``ping()``, with which the stream's
    connection checks liveness itself. ``heartbeat`` additionally turns on aiohttp's own
    idle ping (off by default: any incoming byte, even a server's ping or a frame trickled
    byte by byte, postpones it forever). Text frames are received as ``bytes`` (no UTF-8
    decode: msgspec validates while decoding). ``connect_timeout`` bounds the opening
    handshake; ``close_timeout`` the closing one: a peer that does not answer in time is cut
    off, so replacing a silent socket never waits on it. A frame over ``max_msg_size`` bytes
    ends the socket before it is buffered.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        heartbeat: float | None = None,
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
        self._close_timeout = close_timeout
        self._connect_timeout = connect_timeout
        self._max_msg_size = max_msg_size

    async def __call__(self, url: str) -> WebSocket:
        connecting = self._session.ws_connect(
            url,
            heartbeat=self._heartbeat,
            timeout=self._timeout,
            max_msg_size=self._max_msg_size,
            decode_text=False,
            autoping=False,
        )
        try:
            async with timeout(self._connect_timeout):
                ws = await connecting
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            raise connect_error(url, exc) from exc
        return _AiohttpWebSocket(ws, self._close_timeout)


class PicowsConnector:
    """Connects with picows (the ``fast`` extra); its sockets behave like
    :class:`AiohttpConnector`'s: whole messages as ``bytes``, the server's pings answered,
    ``ping()`` for the connection's own liveness check, closing bounded by ``close_timeout``,
    a message over ``max_msg_size`` bytes ends the socket with a
    :class:`~kana_async.TransportError`. Raises :class:`~kana_async.ValidationError` when
    picows is not installed or an argument is invalid.

    ``ssl_context`` replaces the default certificate checks for ``wss://`` URLs. It needs no
    ``aiohttp.ClientSession``: the REST client keeps using aiohttp either way.
    """

    def __init__(
        self,
        *,
        connect_timeout: float = 10.0,
        close_timeout: float = 1.0,
        max_msg_size: int = 16 * 1024 * 1024,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        for name, value in (("connect_timeout", connect_timeout),
                            ("close_timeout", close_timeout)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0 < value < float("inf"):
                raise ValidationError(name, "must be a finite number of seconds > 0", value)
        if isinstance(max_msg_size, bool) or not isinstance(max_msg_size, int) \
                or max_msg_size < 1:
            raise ValidationError("max_msg_size", "must be an integer >= 1", max_msg_size)
        if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
            raise ValidationError("ssl_context", "must be an ssl.SSLContext or None")
        try:
            from . import _picows
        except ImportError as exc:
            raise ValidationError(
                "transport", "picows is not installed (pip install 'kana-async[fast]')"
            ) from exc
        self._connect = _picows.connect
        self._connect_timeout = float(connect_timeout)
        self._close_timeout = float(close_timeout)
        self._max_msg_size = max_msg_size
        self._ssl_context = ssl_context

    async def __call__(self, url: str) -> WebSocket:
        return await self._connect(
            url, connect_timeout=self._connect_timeout, close_timeout=self._close_timeout,
            max_msg_size=self._max_msg_size, ssl_context=self._ssl_context)


def default_connector(
    transport: str,
    http: aiohttp.ClientSession | None,
    *,
    connect_timeout: float,
    max_msg_size: int,
    ssl_context: ssl.SSLContext | None = None,
) -> Connector:
    """The connector a transport name stands for (``StreamOptions.transport``).
    ``ssl_context`` is for picows, which does not use ``http`` (aiohttp's session carries
    its own TLS settings)."""
    if transport == "picows":
        return PicowsConnector(connect_timeout=connect_timeout, max_msg_size=max_msg_size,
                               ssl_context=ssl_context)
    if transport != "aiohttp":
        raise ValidationError("transport", "must be 'aiohttp' or 'picows'", transport)
    if http is None:
        raise ValidationError("http", "a ClientSession is needed without a connector")
    return AiohttpConnector(http, connect_timeout=connect_timeout, max_msg_size=max_msg_size)


#: Handshake answers that retrying will not change (408 and 429 say "later", 5xx "broken").
_PERMANENT_STATUS = frozenset(range(400, 500)) - {408, 425, 429}


def connect_error(url: str, exc: BaseException) -> TransportError:
    """What a failed connect means: :class:`ConnectionRejectedError` when retrying cannot
    help (a 4xx handshake answer, a certificate that fails verification), otherwise a
    :class:`TransportError` worth retrying. The text names the cause, never a secret."""
    if isinstance(exc, aiohttp.WSServerHandshakeError):
        status = exc.status
        cause = f"the server answered the WebSocket handshake with HTTP {status}"
        if exc.message:
            cause += f" ({exc.message})"
        if status in _PERMANENT_STATUS:
            return ConnectionRejectedError(url, cause, status=status)
        return TransportError(f"cannot connect to {url}: {cause}", status=status)
    if isinstance(exc, ssl.SSLCertVerificationError) or isinstance(
        exc.__cause__, ssl.SSLCertVerificationError
    ):
        reason = getattr(exc, "verify_message", None) or getattr(
            exc.__cause__, "verify_message", None) or "verification failed"
        return ConnectionRejectedError(url, f"the server's TLS certificate: {reason}")
    if isinstance(exc, asyncio.TimeoutError):
        return TransportError(f"cannot connect to {url}: no answer within the connect timeout")
    return TransportError(f"cannot connect to {url}: {type(exc).__name__}: {exc}")
