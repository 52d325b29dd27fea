"""The Pulse client's channels: who reads each one, what is live on the socket, books.

:class:`ChannelRouter` keeps every channel's subscriptions (stream
:class:`~kana_async.stream.subscription.Subscription` objects), routes notifications to them
by ``params.channel`` (S4), builds books through :class:`~.book.BookSync` and resyncs a book
that broke its chain alone (B2). It asks for channels through the ``call`` it is given
(``public/subscribe`` and ``private/subscribe`` apart, S1; requests under 32 KB, S6; a list
reply naming the accepted channels, S3), so it never touches the socket itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import msgspec

from ..errors import KanaError, PulseRpcError, TransportError, ValidationError
from ..models.pulse import BookNotification
from ..stream.options import StreamOptions, check_buffer_size
from ..stream.subscription import Subscription, SubscriptionStats
from ..stream.topics import Overflow
from .book import BookSync, Gap, PulseBook
from .channels import PulseChannel, split_items
from .frames import FrameStats
from .methods import decode_untyped

__all__ = ["MAX_REQUEST_BYTES", "ChannelRouter", "chunks"]

logger = logging.getLogger("kana_async.pulse")

#: Deribit's frame limit (S6): subscribe requests are split to stay under it.
MAX_REQUEST_BYTES = 32 * 1024
#: Room left in a request for everything but the channel list.
_ENVELOPE_BYTES = 200
_METHOD_NOT_FOUND = -32601

_encode = msgspec.json.Encoder().encode
_decode_book = msgspec.json.Decoder(BookNotification).decode

#: ``(method, params, deadline) -> raw result``: one request on the current socket.
Call = Callable[[str, dict[str, Any], float], Awaitable[Any]]


class _Channel:
    """Every subscription of one channel name, and its book state."""

    __slots__ = ("book", "info", "subs")

    def __init__(self, info: PulseChannel) -> None:
        self.info = info
        self.subs: list[Subscription[Any]] = []
        self.book: BookSync | None = BookSync(info.params.get("instrument_name", info.name)) \
            if info.book else None


class ChannelRouter:
    """Subscriptions by channel, what is live on the current socket, and the books."""

    def __init__(
        self,
        *,
        call: Call,
        spawn: Callable[[Coroutine[Any, Any, None], str], None],
        ready: Callable[[], bool],
        options: StreamOptions,
        timeout: float,
        stats: FrameStats,
        redact: Callable[[str], str],
        hook: Callable[..., None],
    ) -> None:
        self._call = call
        self._spawn = spawn
        self._ready = ready
        self._options = options
        self._timeout = timeout
        self._stats = stats
        self._redact = redact
        self._hook = hook
        self._channels: dict[str, _Channel] = {}
        #: Channels subscribed on the current socket.
        self._live: set[str] = set()
        self._unsubscribe_supported = True
        #: Books that broke their chain and were asked for again (B2).
        self.resyncs = 0

    # -- subscribing ----------------------------------------------------------------------

    def open(self, info: PulseChannel, overflow: Overflow | str | None,
             capacity: int | None) -> Subscription[Any]:
        """A new subscription of ``info``; asked for now when the socket is ready (else when
        it is)."""
        spec = info.spec
        try:
            policy = spec.default_overflow if overflow is None else Overflow(overflow)
        except ValueError:
            choices = ", ".join(o.value for o in Overflow)
            raise ValidationError("overflow", f"must be one of {choices}", overflow) from None
        size = self._options.buffer_size if capacity is None else check_buffer_size(capacity)
        sub: Subscription[Any] = Subscription(
            spec, info.name, info.name, overflow=policy, capacity=size,
            capacity_bytes=self._options.buffer_bytes, on_close=self._release,
            on_decode_error=self._decode_error, on_dropped=self._dropped)
        entry = self._channels.get(info.name)
        fresh = entry is None
        if entry is None:
            entry = self._channels[info.name] = _Channel(info)
        entry.subs.append(sub)
        # A snapshot channel is asked again for a new subscriber, which then gets the current
        # state at once; an event channel is not (that could double its stream).
        if self._ready() and (fresh or not spec.is_event):
            self._spawn(self._subscribe_soon(info.name), f"kana-pulse subscribe {info.name}")
        elif not fresh and info.name in self._live:
            sub.mark_current()
        return sub

    async def _subscribe_soon(self, name: str) -> None:
        with contextlib.suppress(TransportError):  # dropped: the next socket resubscribes
            await self.subscribe([name], asyncio.get_running_loop().time() + self._timeout)

    def missing(self) -> list[str]:
        """Channels wanted but not subscribed on the current socket."""
        return [name for name in self._channels if name not in self._live]

    async def subscribe(self, names: list[str], deadline: float) -> None:
        """Subscribe ``names`` (public and private apart, S1), each request under 32 KB
        (S6); a refused or left-out channel fails its subscriptions alone (S3)."""
        groups: dict[bool, list[str]] = {False: [], True: []}
        for name in names:
            entry = self._channels.get(name)
            if entry is not None and entry.subs:
                groups[entry.info.private].append(name)
        interval = self._options.send_interval
        for private, wanted in groups.items():
            method = "private/subscribe" if private else "public/subscribe"
            for chunk in chunks(wanted, MAX_REQUEST_BYTES - _ENVELOPE_BYTES):
                try:
                    raw = await self._call(method, {"channels": chunk}, deadline)
                except PulseRpcError as exc:
                    await self._refused(method, chunk, exc, deadline)
                else:
                    self._accepted(chunk, raw)
                if interval > 0 and len(wanted) > len(chunk):
                    await asyncio.sleep(interval)  # paced (S6)

    async def _refused(self, method: str, chunk: list[str], error: PulseRpcError,
                       deadline: float) -> None:
        """A refused subscribe: find the channels it was about (one by one) and end their
        subscriptions with the gateway's error; the others are accepted."""
        if len(chunk) == 1:
            self._fail_channel(chunk[0], error)
            return
        for name in chunk:
            try:
                raw = await self._call(method, {"channels": [name]}, deadline)
            except PulseRpcError as exc:
                self._fail_channel(name, exc)
            else:
                self._accepted([name], raw)

    def _fail_channel(self, name: str, error: KanaError) -> None:
        entry = self._channels.pop(name, None)
        if entry is None:
            return
        logger.info("Pulse: the gateway refused channel %s: %s", name,
                    self._redact(str(error)))
        for sub in list(entry.subs):
            sub.fail(error)

    def _accepted(self, chunk: list[str], raw: Any) -> None:
        try:
            result = decode_untyped(raw)
        except (msgspec.DecodeError, RecursionError, ValueError):
            result = None  # any non-error reply means accepted (S3)
        accepted = set(result) if isinstance(result, list) and all(
            isinstance(item, str) for item in result) else None
        for name in chunk:
            if accepted is not None and name not in accepted:
                self._fail_channel(name, PulseRpcError(
                    0, f"the gateway did not accept channel {name}"))
                continue
            self._live.add(name)
            entry = self._channels.get(name)
            if entry is not None and entry.info.spec.is_event:
                for sub in entry.subs:
                    sub.mark_current()  # an event channel sends no snapshot

    def _release(self, sub: Subscription[Any]) -> None:
        entry = self._channels.get(sub.wire_key)
        if entry is None or sub not in entry.subs:
            return
        entry.subs.remove(sub)
        if entry.subs:
            return
        del self._channels[sub.wire_key]
        if self._unsubscribe_supported and self._ready():
            self._spawn(self._unsubscribe(entry.info), f"kana-pulse unsubscribe {sub.wire_key}")

    async def _unsubscribe(self, info: PulseChannel) -> None:
        """S5: a per-channel unsubscribe, tried until the gateway says it has none (never
        ``unsubscribe_all``, which would cut every other channel)."""
        method = "private/unsubscribe" if info.private else "public/unsubscribe"
        deadline = asyncio.get_running_loop().time() + self._timeout
        try:
            await self._call(method, {"channels": [info.name]}, deadline)
        except PulseRpcError as exc:
            if exc.code == _METHOD_NOT_FOUND:
                self._unsubscribe_supported = False
        except KanaError:
            pass

    def _dropped(self, sub: Subscription[Any]) -> None:
        logger.debug("Pulse %s: the consumer fell behind; items are being dropped (the "
                     "next read raises SlowConsumerError)", sub.wire_key)
        hook = self._options.hooks.on_dropped
        if hook is not None:
            self._hook(hook, sub.topic, sub.wire_key, sub.capacity)

    def _decode_error(self, sub: Subscription[Any], error: Exception) -> None:
        logger.debug("Pulse %s: undecodable payload: %s", sub.wire_key, error)
        hook = self._options.hooks.on_decode_error
        if hook is not None:
            self._hook(hook, sub.topic, sub.wire_key, error)

    # -- the reader (never raises, never blocks) -------------------------------------------

    def route(self, name: str, data: msgspec.Raw) -> None:
        """Hand one notification's payload to the subscriptions of its channel."""
        channel = self._channels.get(name)
        if channel is None:
            self._stats.unrouted += 1
            return
        book = channel.book
        if book is not None:
            self._route_book(name, channel, book, data)
            return
        subs = channel.subs
        if channel.info.kind.many:
            try:
                items = split_items(channel.info, data)
            except (msgspec.DecodeError, RecursionError, ValueError):
                items = [data]  # undecodable: the reader counts it when it reads
            for raw in items:
                for sub in subs:
                    sub.push(raw)
            return
        for sub in subs:
            sub.push(data)

    def _route_book(self, name: str, channel: _Channel, book: BookSync,
                    data: msgspec.Raw) -> None:
        try:
            notification = _decode_book(data)
        except (msgspec.DecodeError, RecursionError, ValueError) as exc:
            logger.debug("Pulse %s: undecodable book notification: %s", name, exc)
            result: PulseBook | Gap | None = book.undecodable(str(exc)[:200])
        else:
            result = book.apply(notification)
        if result is None:
            return
        if isinstance(result, PulseBook):
            for sub in channel.subs:
                sub.push_item(result, len(data))
            return
        # B2: a gap resyncs this channel alone; nothing built on it is delivered (the last
        # good book is, marked syncing, so that a reader sees it cannot be trusted now).
        self.resyncs += 1
        for sub in channel.subs:
            if result.book is not None:
                sub.push_item(result.book, 0)
            sub.mark_stale()
        self._spawn(self._resync(name), f"kana-pulse resync {name}")

    async def _resync(self, name: str) -> None:
        with contextlib.suppress(KanaError):
            await self.subscribe([name], asyncio.get_running_loop().time() + self._timeout)

    # -- the socket's life and the client's ------------------------------------------------

    def connection_made(self) -> None:
        """A new socket: nothing is live on it, every book waits for its snapshot."""
        self._live.clear()
        for channel in self._channels.values():
            if channel.book is not None:
                channel.book.reset()

    def connection_lost(self) -> None:
        """Every subscription is stale; those that were flowing may have missed items."""
        streaming, self._live = self._live, set()
        for name, channel in self._channels.items():
            for sub in list(channel.subs):
                sub.mark_stale()
                if name in streaming:
                    sub.mark_gap()

    @property
    def live(self) -> int:
        return len(self._live)

    def fail_all(self, error: KanaError) -> None:
        for channel in list(self._channels.values()):
            for sub in list(channel.subs):
                sub.fail(error)

    def close_all(self) -> None:
        channels = list(self._channels.values())
        self._channels.clear()
        for channel in channels:
            for sub in list(channel.subs):
                sub.close_nowait()

    def stats(self) -> list[SubscriptionStats]:
        return [sub.stats for entry in self._channels.values() for sub in entry.subs]


def chunks(names: list[str], limit: int) -> list[list[str]]:
    """``names`` in order, split so that each list encodes to at most ``limit`` bytes."""
    out: list[list[str]] = []
    current: list[str] = []
    size = 2  # the brackets
    for name in names:
        cost = len(_encode(name)) + 1  # as the request encodes it, and its comma
        if current and size + cost > limit:
            out.append(current)
            current, size = [], 2
        current.append(name)
        size += cost
    if current:
        out.append(current)
    return out
