"""The picows side of :class:`~kana_async.stream.transport.PicowsConnector`, kept apart so
that picows (an optional extra) is imported only by those who pick it.

picows calls back once per frame with a view of its read buffer; the frame is copied to
``bytes`` at once (``msgspec.Raw`` must own its bytes) and queued for ``receive``. picows
neither reassembles fragmented messages nor pauses the socket for a slow reader: both are
done here, so the socket behaves like aiohttp's (whole messages, bounded memory). Unlike
aiohttp, picows keeps its read buffer at the largest size a read needed (it doubles, never
shrinks; a read is bounded by the kernel's receive buffer): after a burst a connection holds
up to about twice that for as long as it is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
from collections import deque
from typing import TYPE_CHECKING

from picows import (
    WSCloseCode,
    WSError,
    WSFrame,
    WSHandshakeError,
    WSListener,
    WSMsgType,
    WSTransport,
    ws_connect,
)

from .._tasks import timeout
from ..errors import ConnectionRejectedError, TransportError
from .transport import _PERMANENT_STATUS, answer_pings

if TYPE_CHECKING:
    from .transport import WebSocket

#: Bytes queued before the socket stops reading, and the level at which it reads again.
#: The stream's reader hands each frame to the router synchronously, so the queue stays near
#: empty; the bound matters while the reader is late (a starved event loop), when picows
#: would otherwise queue whatever the kernel holds.
PAUSE_BYTES = 1 << 20
RESUME_BYTES = 1 << 18

_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_CONTINUATION = WSMsgType.CONTINUATION
_PONG = WSMsgType.PONG
_CLOSE = WSMsgType.CLOSE

#: picows logs what it finds wrong with a connection here.
_LOGGER = logging.getLogger("kana_async.stream.picows")


class _Listener(WSListener):
    """Receives picows' callbacks and turns them into the :class:`WebSocket` calls."""

    def __init__(self, max_msg_size: int) -> None:
        self.max_msg_size = max_msg_size
        self.frames: deque[bytes] = deque()
        self.waiter: asyncio.Future[None] | None = None
        #: Why the socket ended badly (raised once by ``receive``), or ``None``.
        self.error: str | None = None
        self.ended = False
        self.closing = False
        self.paused = False
        #: Bytes in ``frames``.
        self.queued = 0
        self.partial: bytearray | None = None
        #: Our pings waiting for their pong: (payload, future), oldest first.
        self.pings: deque[tuple[bytes, asyncio.Future[None]]] = deque()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if self.error is not None or self.closing:
            return  # refused, or closing: nothing after that counts
        kind = frame.msg_type
        if frame.fin and (kind is _TEXT or kind is _BINARY):
            if self.partial is not None:
                self._fail(transport, "a new message began inside a fragmented one",
                           WSCloseCode.PROTOCOL_ERROR)
            elif frame.payload_size > self.max_msg_size:
                # picows flags an oversize frame but may still hand it over once read.
                self._fail(transport, f"a message over max_msg_size ({self.max_msg_size} "
                           "bytes)", WSCloseCode.MESSAGE_TOO_BIG)
            else:
                self._push(transport, frame.get_payload_as_bytes())
        elif kind is _PONG:
            self._pong(frame.get_payload_as_bytes())
        elif kind is _CLOSE:
            # The peer closes: answer (picows ignores it if we closed first) and hang up.
            transport.send_close(WSCloseCode.OK)
            transport.disconnect()
        elif kind is _TEXT or kind is _BINARY or kind is _CONTINUATION:
            self._fragment(transport, frame)
        # PING is answered by picows itself (enable_auto_pong).

    def _fragment(self, transport: WSTransport, frame: WSFrame) -> None:
        partial = self.partial
        if frame.msg_type is _CONTINUATION:
            if partial is None:
                self._fail(transport, "a continuation frame without a message to continue",
                           WSCloseCode.PROTOCOL_ERROR)
                return
        elif partial is not None:
            self._fail(transport, "a new message began inside a fragmented one",
                       WSCloseCode.PROTOCOL_ERROR)
            return
        else:
            partial = self.partial = bytearray()
        partial += frame.get_payload_as_memoryview()
        if len(partial) > self.max_msg_size:
            self.partial = None
            self._fail(transport, f"a message over max_msg_size ({self.max_msg_size} bytes)",
                       WSCloseCode.MESSAGE_TOO_BIG)
        elif frame.fin:
            self.partial = None
            self._push(transport, bytes(partial))

    def _push(self, transport: WSTransport, data: bytes) -> None:
        self.frames.append(data)
        self.queued += len(data)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self.queued >= PAUSE_BYTES and not self.paused:
            self.paused = True
            transport.underlying_transport.pause_reading()

    def _fail(self, transport: WSTransport, reason: str, code: WSCloseCode) -> None:
        if self.error is None and not self.ended:
            self.error = reason
        transport.send_close(code)
        transport.disconnect()
        self._wake()

    def _pong(self, payload: bytes) -> None:
        answer_pings(self.pings, payload)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if not self.closing and self.error is None:
            # picows closes first (``recv_then_sent`` false) only on a protocol error it
            # found itself: an oversize frame, a bad opcode, invalid UTF-8 in a close.
            handshake = transport.close_handshake
            sent = handshake.sent if handshake is not None else None
            if sent is not None and not handshake.recv_then_sent \
                    and sent.code is not WSCloseCode.OK:
                if sent.code is WSCloseCode.MESSAGE_TOO_BIG:
                    self.error = f"a message over max_msg_size ({self.max_msg_size} bytes)"
                else:
                    self.error = f"the connection broke the WebSocket protocol " \
                                 f"({sent.code.name}: {sent.reason or 'no reason'})"
        self.ended = True
        for _, future in self.pings:
            if not future.done():
                future.set_exception(TransportError("WebSocket closed before our ping's pong"))
                future.exception()  # retrieved: nobody may be waiting any more
        self.pings.clear()
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class PicowsWebSocket:
    """One picows connection behind the :class:`WebSocket` protocol (with ``ping``)."""

    __slots__ = ("_close_timeout", "_listener", "_transport")

    def __init__(self, transport: WSTransport, listener: _Listener, close_timeout: float) -> None:
        self._transport = transport
        self._listener = listener
        self._close_timeout = close_timeout

    async def receive(self) -> bytes | str | None:
        listener = self._listener
        frames = listener.frames
        while True:
            if frames:
                data = frames.popleft()
                listener.queued -= len(data)
                if listener.paused and listener.queued <= RESUME_BYTES:
                    listener.paused = False
                    if not listener.ended:
                        self._transport.underlying_transport.resume_reading()
                return data
            if listener.error is not None:
                error, listener.error = listener.error, None
                listener.closing = True  # raised once; the socket is over after it
                raise TransportError(error)
            if listener.ended or listener.closing:
                return None
            waiter = listener.waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                listener.waiter = None

    async def send(self, text: str) -> None:
        if self._listener.ended or self._listener.closing:
            raise TransportError("WebSocket send failed: the connection is closed")
        try:
            self._transport.send(_TEXT, text.encode())
        except (WSError, ConnectionError, RuntimeError) as exc:
            raise TransportError(f"WebSocket send failed: {type(exc).__name__}") from exc

    async def ping(self) -> None:
        listener = self._listener
        if listener.ended or listener.closing:
            raise TransportError("WebSocket ping failed: the connection is closed")
        payload = os.urandom(8)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        listener.pings.append((payload, future))
        try:
            self._transport.send_ping(payload)
            await future
        finally:
            if not future.done():
                future.cancel()
                listener.pings = deque(item for item in listener.pings if item[1] is not future)

    async def close(self) -> None:
        listener = self._listener
        listener.closing = True
        listener._wake()
        transport = self._transport
        if not listener.ended:
            transport.send_close(WSCloseCode.OK)
            transport.disconnect()
        # A graceful disconnect flushes what is queued first; a peer that stops reading would
        # hold it until the OS gives up. Past close_timeout the socket is dropped. Awaiting
        # picows' end also collects the error it keeps there (given to the reader already).
        try:
            async with timeout(self._close_timeout):
                await transport.wait_disconnected()
        except asyncio.TimeoutError:
            transport.disconnect(graceful=False)
            with contextlib.suppress(Exception, asyncio.TimeoutError):
                async with timeout(self._close_timeout):
                    await transport.wait_disconnected()
        except Exception:  # the reader was given the reason already
            pass


async def connect(
    url: str,
    *,
    connect_timeout: float,
    close_timeout: float,
    max_msg_size: int,
    ssl_context: ssl.SSLContext | None,
) -> WebSocket:
    """Open a picows socket; failures become the same errors as aiohttp's connector."""
    try:
        async with timeout(connect_timeout):
            transport, listener = await ws_connect(
                lambda: _Listener(max_msg_size),
                url,
                ssl_context=ssl_context,
                websocket_handshake_timeout=connect_timeout,
                enable_auto_ping=False,
                enable_auto_pong=True,
                max_frame_size=max_msg_size,
                max_redirects=0,
                logger_name=_LOGGER,
            )
    except WSHandshakeError as exc:
        response = exc.response
        if response is None:
            raise TransportError(f"cannot connect to {url}: the WebSocket handshake failed: "
                                 f"{exc}") from exc
        status = int(response.status)
        cause = f"the server answered the WebSocket handshake with HTTP {status}"
        if status in _PERMANENT_STATUS:
            raise ConnectionRejectedError(url, cause, status=status) from exc
        raise TransportError(f"cannot connect to {url}: {cause}", status=status) from exc
    except ssl.SSLCertVerificationError as exc:
        reason = exc.verify_message or "verification failed"
        raise ConnectionRejectedError(url, f"the server's TLS certificate: {reason}") from exc
    except asyncio.TimeoutError as exc:
        raise TransportError(
            f"cannot connect to {url}: no answer within the connect timeout") from exc
    except (WSError, OSError) as exc:
        raise TransportError(f"cannot connect to {url}: {type(exc).__name__}: {exc}") from exc
    assert isinstance(listener, _Listener)
    return PicowsWebSocket(transport, listener, close_timeout)
