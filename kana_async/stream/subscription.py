"""One consumer's view of one (topic, key): a bounded buffer, an overflow policy, ``async for``.

The reader pushes raw payloads (cheap); the consumer decodes them when it reads, so a
snapshot that a newer one replaced is never decoded. The buffer is a deque plus one waiter
future: cheaper than ``asyncio.Queue`` and free of its worst-case stalls.

Loss is never silent. Under ``Overflow.ERROR`` a full buffer drops its oldest item and the
consumer's next read raises :class:`SlowConsumerError` with the count; a reconnect leaves a gap
marker after the items received before it, raised as :class:`StreamGapError` when reached.
Both are raised once; iterating again continues with the next item.

Staleness is visible without reading: :attr:`Subscription.age` is the seconds since the last
payload, and :attr:`Subscription.stale` is true while the state a snapshot consumer holds may
be out of date: before the first payload, from a disconnect until the key is answered again,
after an empty list that may have been this key's could not be attributed, and when nothing
came for longer than ``stale_after`` seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, TypeVar, cast

import msgspec

from ..errors import SlowConsumerError, StreamGapError
from ..models import decode_lenient
from .topics import Overflow, TopicSpec

__all__ = ["DEFAULT_BUFFER_BYTES", "Subscription", "SubscriptionStats"]

#: The default bound in bytes of an error-policy buffer (frames may be up to 16 MiB).
DEFAULT_BUFFER_BYTES = 32 * 1024 * 1024

T = TypeVar("T")

_monotonic = time.monotonic

#: Stands in the buffer where a reconnect happened.
_GAP: Any = object()


class _Built:
    """An item built by the reader (a book assembled from deltas), buffered as is; its size
    is the size of the frame it came from."""

    __slots__ = ("item", "size")

    def __init__(self, item: Any, size: int) -> None:
        self.item = item
        self.size = size

    def __len__(self) -> int:
        return self.size


class SubscriptionStats(msgspec.Struct, kw_only=True):
    """Counters of one subscription (a snapshot taken by
    :attr:`Subscription.stats <kana_async.Subscription.stats>`)."""

    #: The topic's name (``orderbook``, ``live_trade_history``, ...).
    topic: str
    #: The market id or profile address it follows (text; ``""`` for a keyless topic).
    key: str
    #: The overflow policy's value (``keep_latest`` or ``error``).
    overflow: str
    #: Items the buffer holds (1 under keep-latest).
    capacity: int
    #: Payloads the reader handed to this subscription.
    received: int
    #: Items the consumer got.
    delivered: int
    #: Snapshots replaced by a newer one before the consumer read them (keep-latest).
    conflated: int
    #: Items lost to overflow (error policy).
    dropped: int
    #: Payloads that could not be decoded into the topic's type (skipped, reported by hook).
    decode_errors: int
    #: Reconnects this subscription's consumer was told about.
    gaps: int
    #: Items waiting in the buffer.
    buffered: int
    #: ``time.monotonic()`` of the last payload received, ``None`` before the first.
    last_received: float | None
    #: Whether the subscription has ended.
    closed: bool
    #: The bound of the buffer in bytes (the newest item is kept even if it alone is larger).
    capacity_bytes: int = DEFAULT_BUFFER_BYTES
    #: Bytes of the raw payloads waiting in the buffer.
    buffered_bytes: int = 0
    #: Seconds since the last payload received, ``None`` before the first.
    age: float | None = None
    #: See :attr:`Subscription.stale <kana_async.Subscription.stale>`.
    stale: bool = False
    #: Empty lists not delivered because they may have been this key's or another's.
    unattributed: int = 0


class Subscription(Generic[T]):
    """``async for item in sub`` yields typed items of one topic and key.

    Created by :class:`~kana_async.StreamMux`; close it with ``await sub.close()`` or
    ``async with``. One task reads a subscription at a time.

    A read raises instead of yielding when something must not pass unnoticed, then iteration
    may go on: :class:`~kana_async.SlowConsumerError` (items were dropped, ``Overflow.ERROR``)
    and :class:`~kana_async.StreamGapError` (a reconnect, event topics) once each. A
    subscription that ended on an error raises it once and then stops:
    :class:`~kana_async.TransportError` after ``ReconnectPolicy.max_attempts`` failed
    connects, :class:`~kana_async.ConnectionRejectedError` when the server refused for good,
    and the error of looking up the market name it was opened with
    (:class:`~kana_async.ValidationError` for a name that names no market, ``ApiError`` or
    ``TransportError`` when the market list could not be fetched).
    """

    def __init__(
        self,
        spec: TopicSpec,
        wire_key: str,
        route_key: str,
        *,
        overflow: Overflow,
        capacity: int,
        capacity_bytes: int = DEFAULT_BUFFER_BYTES,
        stale_after: float | None = None,
        convert: Callable[[Any], T] | None = None,
        on_close: Callable[[Subscription[Any]], None] | None = None,
        on_decode_error: Callable[[Subscription[Any], Exception], None] | None = None,
        on_dropped: Callable[[Subscription[Any]], None] | None = None,
    ) -> None:
        self.topic = spec.name
        self.spec = spec
        self.wire_key = wire_key
        self.key = route_key
        self.overflow = overflow
        self.capacity = 1 if overflow is Overflow.KEEP_LATEST else capacity
        self.capacity_bytes = capacity_bytes
        #: Seconds without a payload after which the subscription counts as stale.
        self.stale_after = stale_after
        self._keep_latest = overflow is Overflow.KEEP_LATEST
        self._convert = convert
        self._on_close = on_close
        self._on_decode_error = on_decode_error
        self._on_dropped = on_dropped
        self._buffer: deque[Any] = deque()
        self._bytes = 0
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._failure: BaseException | None = None
        self._lost = 0
        self._gap_pending = False
        self._received = 0
        self._delivered = 0
        self._conflated = 0
        self._dropped = 0
        self._decode_errors = 0
        self._gaps = 0
        self._last_received: float | None = None
        #: The server answered this key on the current connection, and no undeliverable
        #: empty list may have been its since.
        self._current = False
        self._unattributed = 0

    # -- reader side (called by the router; never blocks, never raises) --------------------

    def push(self, payload: msgspec.Raw) -> None:
        """Buffer one raw payload under this subscription's overflow policy."""
        if self._closed:
            return
        self._received += 1
        self._last_received = _monotonic()
        self._current = True
        buffer = self._buffer
        if self._keep_latest:  # one item: its size is its bound (stats add it up)
            if buffer:
                buffer[0] = payload
                self._conflated += 1
            else:
                buffer.append(payload)
        else:
            size = len(payload)
            if len(buffer) >= self.capacity:
                self._evict_oldest()
                if self._closed:  # by the on_dropped hook
                    return
            # Bounded in bytes too: oldest items go until the newest fits (or stands alone).
            while buffer and self._bytes + size > self.capacity_bytes:
                self._evict_oldest()
                if self._closed:
                    return
            buffer.append(payload)
            self._bytes += size
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def push_item(self, item: Any, size: int = 0) -> None:
        """Buffer one item the reader already built (delivered as is, never decoded), under
        the same overflow policy; ``size`` is the bytes it stands for in the byte bound."""
        self.push(cast(msgspec.Raw, _Built(item, size)))

    def _evict_oldest(self) -> None:
        evicted = self._buffer.popleft()
        if evicted is _GAP:
            self._gap_pending = True
            return
        self._bytes -= len(evicted)
        self._dropped += 1
        self._lost += 1
        if self._lost == 1 and self._on_dropped is not None:
            self._on_dropped(self)

    def mark_gap(self) -> None:
        """The connection dropped: items may be missing after those already buffered.

        Only subscriptions that keep every item (``Overflow.ERROR``) are told; keep-latest
        ones get the whole state again with the next snapshot.
        """
        if self._closed or self._keep_latest:
            return
        if self._buffer and self._buffer[-1] is _GAP:
            return
        if len(self._buffer) >= self.capacity:
            self._evict_oldest()
            if self._closed:  # by the on_dropped hook
                return
        self._buffer.append(_GAP)
        self._wake()

    def mark_stale(self, *, unattributed: bool = False) -> None:
        """The state this consumer holds may be out of date (the connection dropped, or an
        empty list that may have been this key's was not delivered); the next payload
        makes it current again."""
        self._current = False
        if unattributed:
            self._unattributed += 1

    def mark_current(self) -> None:
        """The key is streaming on the current connection (event topics send no snapshot)."""
        self._current = True

    def fail(self, error: BaseException) -> None:
        """End the subscription: the next read raises ``error``, later reads stop."""
        if self._closed:
            return
        self._failure = error
        self._finish()

    # -- consumer side --------------------------------------------------------------------

    def __aiter__(self) -> Subscription[T]:
        return self

    async def __anext__(self) -> T:
        buffer = self._buffer
        while True:
            if self._lost:
                lost, self._lost = self._lost, 0
                raise SlowConsumerError(self.topic, lost, self.capacity,
                                        capacity_bytes=self.capacity_bytes)
            if self._gap_pending:
                self._gap_pending = False
                self._gaps += 1
                raise StreamGapError(self.topic, self._gaps)
            if buffer:
                payload = buffer.popleft()
                if payload is _GAP:
                    self._gaps += 1
                    raise StreamGapError(self.topic, self._gaps)
                if not self._keep_latest:
                    self._bytes -= len(payload)
                if type(payload) is _Built:
                    self._delivered += 1
                    built: T = payload.item
                    return built
                try:
                    item = self._decode(payload)
                except Exception as exc:
                    # Not only msgspec's errors: nesting too deep (RecursionError), or a
                    # conversion that refuses what the decoder accepted.
                    self._decode_errors += 1
                    if self._on_decode_error is not None:
                        self._on_decode_error(self, exc)
                    continue
                self._delivered += 1
                return item
            if self._failure is not None:
                failure, self._failure = self._failure, None
                raise failure
            if self._closed:
                raise StopAsyncIteration
            if self._waiter is not None:
                raise RuntimeError(f"{self.topic}: another task is already reading")
            waiter = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                # Only our own: a reader cancelled after being woken may resume when the
                # next reader is already waiting.
                if self._waiter is waiter:
                    self._waiter = None

    def _decode(self, payload: msgspec.Raw) -> T:
        spec = self.spec
        try:
            value = spec.decoder.decode(payload)
        except msgspec.ValidationError:
            # Numbers where strings are usual (ids): the slow, tolerant path.
            value = decode_lenient(payload, spec.payload_type)
        convert = self._convert
        return value if convert is None else convert(value)

    async def get(self) -> T:
        """The next item (what ``async for`` does), waiting for it.

        :raises SlowConsumerError: once, if items were dropped before this read (error policy);
            the next read continues with what was kept.
        :raises StreamGapError: once, where a reconnect may have lost events; the next read
            continues.
        :raises TransportError: once, if the stream gave up (``max_attempts`` connects failed,
            or a :class:`~kana_async.ConnectionRejectedError`); the subscription is closed.
        :raises ValidationError: once, if the market name it was opened with names no market
            (``ApiError`` or ``TransportError`` if the market list could not be fetched).
        :raises StopAsyncIteration: if the subscription is closed (or the stream).
        :raises RuntimeError: if another task is already reading it.
        """
        return await self.__anext__()

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once closed (by :meth:`close`, the stream's close, or a final error)."""
        return self._closed

    @property
    def last_received(self) -> float | None:
        """``time.monotonic()`` of the last payload received, ``None`` before the first."""
        return self._last_received

    @property
    def age(self) -> float | None:
        """Seconds since the last payload received, ``None`` before the first."""
        last = self._last_received
        return None if last is None else _monotonic() - last

    @property
    def current(self) -> bool:
        """Answered on the current connection and not put in doubt since (ignores age)."""
        return self._current and not self._closed

    @property
    def stale(self) -> bool:
        """True while the latest item may not be the server's current state: nothing yet,
        disconnected or not answered again since, an empty list that may have been this
        key's went undelivered, or silent for more than ``stale_after`` seconds."""
        if not self._current or self._closed:
            return True
        limit = self.stale_after
        if limit is None:
            return False
        age = self.age
        return age is None or age > limit

    async def close(self) -> None:
        """Stop receiving. Buffered items are discarded; a pending read ends the iteration.

        Closing twice is fine.

        :raises: nothing.
        """
        self.close_nowait()

    def close_nowait(self) -> None:
        """:meth:`close` for synchronous code (callbacks, ``finally`` blocks)."""
        if self._closed:
            return
        self._buffer.clear()
        self._bytes = 0
        self._lost = 0
        self._gap_pending = False
        self._finish()

    def _finish(self) -> None:
        self._closed = True
        self._wake()
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close(self)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def __aenter__(self) -> Subscription[T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close_nowait()

    # -- observability --------------------------------------------------------------------

    @property
    def stats(self) -> SubscriptionStats:
        """A snapshot of this subscription's counters and state (new on every read)."""
        return SubscriptionStats(
            topic=self.topic,
            key=self.key,
            overflow=self.overflow.value,
            capacity=self.capacity,
            capacity_bytes=self.capacity_bytes,
            received=self._received,
            delivered=self._delivered,
            conflated=self._conflated,
            dropped=self._dropped,
            decode_errors=self._decode_errors,
            gaps=self._gaps,
            buffered=sum(1 for item in self._buffer if item is not _GAP),
            buffered_bytes=self._bytes if not self._keep_latest
            else sum(len(item) for item in self._buffer),
            last_received=self._last_received,
            age=self.age,
            stale=self.stale,
            unattributed=self._unattributed,
            closed=self._closed,
        )

    def __repr__(self) -> str:
        key = f" {self.key}" if self.key else ""
        state = "closed" if self._closed else f"{len(self._buffer)} buffered"
        return f"<Subscription {self.topic}{key} {self.overflow.value}: {state}>"
