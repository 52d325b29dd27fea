"""``kana.stream``: every indexer topic over ONE WebSocket, each as its own async iterator.

The mux ties the pieces together: it validates subscriptions, registers them with the
:class:`~kana_async.stream.router.Router`, sends the subscribe messages (again, paced, after
every reconnect), tells event consumers about gaps, keeps each subscription's staleness up to
date, runs the silence watchdog, and owns every task it starts. The connection opens lazily,
with the first subscription. Every setting lives in one :class:`StreamOptions`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, cast

import aiohttp
import msgspec

from .._tasks import cancel_and_wait
from ..errors import KanaError, TransportError, ValidationError
from ..markets import MarketDirectory, is_market_name
from ..models import (
    BestPrice,
    DepositWithdraw,
    FundingRate,
    OpenOrder,
    Order,
    Position,
    Trade,
)
from .book import OrderBook
from .connection import Connection, Outgoing, RateLimitedWarning
from .options import DEFAULT_WATCHDOG, StreamHooks, StreamOptions, check_buffer_size
from .router import Router
from .subscription import Subscription, SubscriptionStats
from .topics import Overflow, TopicSpec, subscribe_message, topic_spec, validate_key
from .transport import Connector, default_connector

__all__ = ["DEFAULT_WATCHDOG", "StreamHooks", "StreamMux", "StreamOptions", "StreamStats"]

logger = logging.getLogger("kana_async.stream")

_Key = tuple[str, str]


class StreamStats(msgspec.Struct, kw_only=True):
    """A snapshot of the mux (:meth:`StreamMux.stats <kana_async.StreamMux.stats>`):
    connection, frame counters since the mux was made, and every live subscription.

    Every frame counts in ``frames`` and in exactly one of ``routed``, ``ignored`` and the
    anomaly counters (``malformed``, ``oversize``, ``server_error``, ``unknown_topic``,
    ``unroutable``, ``unattributed``); ``StreamHooks.on_anomaly`` sees each anomaly.
    """

    #: The WebSocket URL.
    url: str
    #: Whether a socket is open now.
    connected: bool
    #: Seconds the current socket has been open (``None`` when disconnected).
    connected_for: float | None
    #: Sockets opened so far (the first included).
    connects: int
    #: Sockets that ended.
    disconnects: int
    #: Consecutive reconnect delays since the last healthy connection.
    reconnect_attempt: int
    #: Frames received.
    frames: int
    #: Frames of a known topic and key that no live subscription wants (e.g. after a close).
    ignored: int
    #: Frames that are not JSON, not an object, nested too deep, or not valid Unicode.
    malformed: int
    #: Error answers of the server (``{"message": "error", ...}`` or an ``error`` field).
    server_error: int
    #: Frames whose ``message`` names no known topic.
    unknown_topic: int
    #: Frames without ``message`` whose shape matches no subscribed topic unambiguously.
    unroutable: int
    #: Empty lists of a topic streaming several keys: which key's they were is unknown, so
    #: they are not delivered (those keys turn stale).
    unattributed: int
    #: Of ``routed``: frames without ``message`` routed by the shape of their ``data``.
    routed_by_shape: int
    #: One snapshot per live subscription.
    subscriptions: list[SubscriptionStats]
    #: Connects that failed since the last successful one.
    failed_connects: int = 0
    #: Why the last connect failed or the last socket ended (``None`` before any).
    last_error: str | None = None
    #: Frames handed to at least one subscription.
    routed: int = 0
    #: Frames refused for their size before decoding.
    oversize: int = 0


class _Events:
    """Adapts the mux to :class:`~kana_async.stream.connection.ConnectionHandler`, keeping
    those callbacks out of the public surface."""

    __slots__ = ("connection_lost", "connection_made", "frame_received", "gave_up",
                 "reconnecting")

    def __init__(self, mux: StreamMux, router: Router) -> None:
        self.frame_received = router.feed
        self.connection_made = mux._connection_made
        self.connection_lost = mux._connection_lost
        self.reconnecting = mux._reconnecting
        self.gave_up = mux._gave_up


class StreamMux:
    """One WebSocket to the Kana indexer, shared by every subscription.

    ``http`` is used (not owned) by the default aiohttp connector; ``connector`` replaces it,
    and so does ``transport="picows"`` (an option: the picows connector needs no session).
    ``options`` (a :class:`StreamOptions` or a mapping) holds every setting; keyword
    ``overrides`` of the same names (``heartbeat=``, ``watchdog=``, ``hooks=``,
    ``reconnect=``, ``buffer_size=``, ...) replace single ones. ``markets`` turns market names
    into ids (``KanaClient`` shares its REST client's directory).
    """

    def __init__(
        self,
        http: aiohttp.ClientSession | None,
        url: str,
        *,
        connector: Connector | None = None,
        options: StreamOptions | Mapping[str, Any] | None = None,
        markets: MarketDirectory | None = None,
        **overrides: Any,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("ws://", "wss://")):
            raise ValidationError("url", "must be a ws:// or wss:// URL", url)
        opts = StreamOptions.coerce(options, **overrides)
        if connector is None:
            connector = default_connector(opts.transport, http,
                                          connect_timeout=opts.connect_timeout,
                                          max_msg_size=opts.max_frame_bytes)
        self.url = url
        self.options = opts
        self._watchdog = dict(opts.watchdog)
        self._buffer_size = opts.buffer_size
        self._hooks = opts.hooks
        self._router = Router(on_anomaly=self._anomaly, max_frame_bytes=opts.max_frame_bytes,
                              on_unattributed=self._unattributed)
        self._conn = Connection(
            connector,
            url,
            _Events(self, self._router),
            policy=opts.reconnect,
            send_interval=opts.send_interval,
            heartbeat=opts.heartbeat,
            pong_timeout=opts.pong_timeout if opts.pong_timeout is not None
            else (opts.heartbeat or 20.0) / 2,
            warn_interval=opts.warn_interval,
        )
        self._warn_unattributed = RateLimitedWarning(logger, opts.warn_interval)
        self._warn_watchdog = RateLimitedWarning(logger, opts.warn_interval)
        self._subs: dict[_Key, list[Subscription[Any]]] = {}
        #: When each key was first subscribed on the current socket (watchdog reference).
        self._subscribed_at: dict[_Key, float] = {}
        #: When the watchdog resubscribed a silent key on the current socket.
        self._watchdog_retry: dict[_Key, float] = {}
        #: When each topic last produced a frame the router could not attribute to a key.
        self._topic_heard: dict[str, float] = {}
        #: Keys whose subscribe waits in the current socket's outbox.
        self._queued: set[_Key] = set()
        self._watch_task: asyncio.Task[None] | None = None
        self._closed = False
        #: Turns market names into ids (``KanaClient`` shares its REST client's directory).
        self._markets = markets
        #: Subscriptions by market name whose id is being looked up.
        self._resolving: dict[asyncio.Task[None], Subscription[Any]] = {}

    # -- subscribing ----------------------------------------------------------------------

    def subscribe(
        self,
        topic: str,
        *,
        address: str | None = None,
        market_id: int | str | None = None,
        overflow: Overflow | str | None = None,
        buffer_size: int | None = None,
    ) -> Subscription[Any]:
        """Subscribe to ``topic`` for ``address`` or ``market_id`` (as the topic requires).

        ``market_id`` may be a market name (``"APT"``, ``"APT-USD"``) when the mux knows the
        market list (``KanaClient.stream`` does): a name not looked up yet is resolved in the
        background, and an unknown name makes the subscription's first read raise
        :class:`~kana_async.ValidationError`. ``overflow`` defaults to keep-latest for
        snapshot topics and to error for the ``live_*`` event topics; ``buffer_size`` bounds
        an error-policy buffer. Must be called with the event loop running (the connection
        opens in the background). The topic methods below call this with the right key.

        :raises ValidationError: if the topic is unknown, the key is missing or malformed (an
            address, a market id), ``overflow`` or ``buffer_size`` is invalid, or a market
            name is given without a market list or is unknown to an already fetched one.
        :raises KanaError: if the stream is closed.
        """
        if self._closed:
            raise KanaError("the stream is closed")
        spec = topic_spec(topic)
        name = (market_id if isinstance(market_id, str) and spec.key == "market_id"
                and is_market_name(market_id) else None)
        if name is not None:
            if self._markets is None:
                raise ValidationError(
                    "market_id", "a market name needs the market list (use KanaClient.stream) "
                    "or give the numeric market id", name,
                )
            known = self._markets.lookup(name)  # an unknown name of a known list raises here
            if known is not None:
                market_id, name = known, None
        # A name waiting for its id is checked like id 0; its keys are set once it is known.
        wire_key, key = validate_key(spec, address, market_id if name is None else 0)
        if name is not None:
            wire_key = key = ""
        policy = _check_overflow(overflow, spec)
        capacity = self._buffer_size if buffer_size is None else check_buffer_size(buffer_size)
        loop = asyncio.get_running_loop()
        convert: Callable[[Any], Any] | None = None
        if spec.name == "orderbook":
            def convert(levels: Any) -> OrderBook:
                # The key is text (routing); an empty book takes its id from it.
                return OrderBook.from_levels(levels, 0 if levels else int(sub.key))
        sub: Subscription[Any] = Subscription(
            spec,
            wire_key,
            key,
            overflow=policy,
            capacity=capacity,
            capacity_bytes=self.options.buffer_bytes,
            stale_after=self._watchdog.get(spec.name),
            convert=convert,
            on_close=self._release,
            on_decode_error=self._decode_error,
            on_dropped=self._dropped,
        )
        if name is not None:
            task = loop.create_task(self._subscribe_by_name(sub, name),
                                    name=f"kana-stream market {name}")
            self._resolving[task] = sub
            task.add_done_callback(self._resolved)
            return sub
        self._start(sub)
        return sub

    def _start(self, sub: Subscription[Any]) -> None:
        """Route ``sub``'s key to it and ask the server for it (now or on connect)."""
        spec, key, wire_key = sub.spec, sub.key, sub.wire_key
        self._subs.setdefault((spec.name, key), []).append(sub)
        self._router.add(sub, spec, key)
        if self._conn.connected:
            if not spec.is_list and self._router.is_streaming(spec, key):
                sub.mark_current()  # shares an event stream that is already flowing
            self._send_subscribe(spec, key, wire_key)
        self._conn.start()
        if spec.name in self._watchdog and self._watch_task is None:
            self._watch_task = asyncio.get_running_loop().create_task(
                self._watch(), name="kana-stream watchdog")

    def _resolved(self, task: asyncio.Task[None]) -> None:
        self._resolving.pop(task, None)

    async def _subscribe_by_name(self, sub: Subscription[Any], name: str) -> None:
        assert self._markets is not None
        try:
            market_id = await self._markets.market_id(name)
        except Exception as exc:
            sub.fail(exc)  # the consumer's next read raises it
            return
        if sub.closed or self._closed:
            return
        sub.wire_key, sub.key = validate_key(sub.spec, None, market_id)
        self._start(sub)

    def positions(self, address: str, **options: Any) -> Subscription[list[Position]]:
        """Open positions of a profile address (full list on every change).

        :raises ValidationError: if ``address`` is not an address, or an option (``overflow``,
            ``buffer_size``) is invalid.
        :raises KanaError: if the stream is closed.
        """
        return cast(Subscription[list[Position]],
                    self.subscribe("positions", address=address, **options))

    def open_orders(self, address: str, **options: Any) -> Subscription[list[OpenOrder]]:
        """Resting orders of a profile address (full list on every change).

        :raises ValidationError: if ``address`` is not an address, or an option (``overflow``,
            ``buffer_size``) is invalid.
        :raises KanaError: if the stream is closed.
        """
        return cast(Subscription[list[OpenOrder]],
                    self.subscribe("open_orders", address=address, **options))

    def order_history(self, address: str, **options: Any) -> Subscription[list[Order]]:
        """Order history of a profile address.

        :raises ValidationError: if ``address`` is not an address, or an option (``overflow``,
            ``buffer_size``) is invalid.
        :raises KanaError: if the stream is closed.
        """
        return cast(Subscription[list[Order]],
                    self.subscribe("order_history", address=address, **options))

    def trade_history(self, address: str, **options: Any) -> Subscription[list[Trade]]:
        """Fills of a profile address.

        :raises ValidationError: if ``address`` is not an address, or an option (``overflow``,
            ``buffer_size``) is invalid.
        :raises KanaError: if the stream is closed.
        """
        return cast(Subscription[list[Trade]],
                    self.subscribe("trade_history", address=address, **options))

    def deposit_withdraw_history(
        self, address: str, **options: Any
    ) -> Subscription[list[DepositWithdraw]]:
        """Deposits and withdrawals of a profile address.

        :raises ValidationError: if ``address`` is not an address, or an option (``overflow``,
            ``buffer_size``) is invalid.
        :raises KanaError: if the stream is closed.
        """
        return cast(Subscription[list[DepositWithdraw]],
                    self.subscribe("deposit_withdraw_history", address=address, **options))

    def live_order_history(self, address: str, **options: Any) -> Subscription[Order]:
        """Each new order event of a profile address, one at a time (nothing may be lost).

        :raises ValidationError: if ``address`` is not an address, or an option (``overflow``,
            ``buffer_size``) is invalid.
        :raises KanaError: if the stream is closed.
        """
        return cast(Subscription[Order],
                    self.subscribe("live_order_history", address=address, **options))

    def live_trade_history(self, address: str, **options: Any) -> Subscription[Trade]:
        """Each new fill of a profile address, one at a time (nothing may be lost).

        :raises ValidationError: if ``address`` is not an address, or an option (``overflow``,
            ``buffer_size``) is invalid.
        :raises KanaError: if the stream is closed.
        """
        return cast(Subscription[Trade],
                    self.subscribe("live_trade_history", address=address, **options))

    def orderbook(self, market_id: int | str, **options: Any) -> Subscription[OrderBook]:
        """The order book of a market, as an :class:`OrderBook` per snapshot.

        :raises ValidationError: if ``market_id`` is neither a market id nor a market name the
            stream can resolve (an unknown name of a list not fetched yet fails the first read), or
            an option (``overflow``, ``buffer_size``) is invalid.
        :raises KanaError: if the stream is closed.
        """
        return cast(Subscription[OrderBook],
                    self.subscribe("orderbook", market_id=market_id, **options))

    def recent_trades(self, market_id: int | str, **options: Any) -> Subscription[list[Trade]]:
        """The latest trades of a market.

        :raises ValidationError: if ``market_id`` is neither a market id nor a market name the
            stream can resolve (an unknown name of a list not fetched yet fails the first read), or
            an option (``overflow``, ``buffer_size``) is invalid.
        :raises KanaError: if the stream is closed.
        """
        return cast(Subscription[list[Trade]],
                    self.subscribe("recent_trades", market_id=market_id, **options))

    def best_price(self, market_id: int | str, **options: Any) -> Subscription[list[BestPrice]]:
        """Best bid and ask of a market, on every change of either. PROVISIONAL: the documents
        name this topic without its payload; items follow the simulator's shape and keep
        unknown fields in ``.extra`` (see :class:`~kana_async.BestPrice`).

        :raises ValidationError: if ``market_id`` is neither a market id nor a market name the
            stream can resolve (an unknown name of a list not fetched yet fails the first read), or
            an option (``overflow``, ``buffer_size``) is invalid.
        :raises KanaError: if the stream is closed.
        """
        return cast(Subscription[list[BestPrice]],
                    self.subscribe("best_price", market_id=market_id, **options))

    def live_funding_rate(self, **options: Any) -> Subscription[list[FundingRate]]:
        """Current funding rates of every market.

        :raises ValidationError: if an option (``overflow``, ``buffer_size``) is invalid.
        :raises KanaError: if the stream is closed.
        """
        return cast(Subscription[list[FundingRate]],
                    self.subscribe("live_funding_rate", **options))

    def _send_subscribe(
        self,
        spec: TopicSpec,
        key: str,
        wire_key: str,
        *,
        force: bool = False,
        after: Callable[[], None] | None = None,
    ) -> None:
        ident = (spec.name, key)
        if ident in self._queued:
            return  # the subscribe still waiting to be sent answers this subscription too
        router = self._router

        def prepare() -> bool:
            self._queued.discard(ident)
            if not self._subs.get(ident):
                return False  # every subscription of this key closed meanwhile
            # A second subscribe for a key already streaming could double an event stream;
            # snapshot topics resend it, so that a new subscriber gets the current state.
            if not force and not spec.is_list and router.is_streaming(spec, key):
                return False
            router.subscribed(spec, key)
            self._subscribed_at.setdefault(ident, time.monotonic())
            if not spec.is_list:
                # An event topic sends no snapshot: it is current once asked for.
                for sub in self._subs.get(ident, ()):
                    sub.mark_current()
            return True

        message = subscribe_message(spec, wire_key).decode()
        self._queued.add(ident)
        self._conn.send(Outgoing(message, prepare, after))

    # -- connection events ----------------------------------------------------------------

    def _connection_made(self) -> None:
        reconnect = self._conn.connects > 1
        self._router.connection_reset()
        self._subscribed_at.clear()
        self._watchdog_retry.clear()
        self._topic_heard.clear()
        self._queued.clear()
        firsts = [subs[0] for subs in self._subs.values()]
        for index, sub in enumerate(firsts):
            last = reconnect and index == len(firsts) - 1
            after = self._resubscribed_callback(len(firsts)) if last else None
            self._send_subscribe(sub.spec, sub.key, sub.wire_key, after=after)
        # After the queueing: a subscription the hook makes is not sent twice.
        self._hook(self._hooks.on_connected, self.url)

    def _resubscribed_callback(self, count: int) -> Callable[[], None]:
        def after() -> None:
            self._hook(self._hooks.on_resubscribed, count)

        return after

    def _connection_lost(self, reason: str) -> None:
        router = self._router
        for subs in list(self._subs.values()):
            for sub in list(subs):  # a hook run by mark_gap may close a subscription
                sub.mark_stale()
                if router.is_streaming(sub.spec, sub.key):
                    sub.mark_gap()
        router.connection_reset()
        self._queued.clear()
        self._hook(self._hooks.on_disconnected, reason)

    def _reconnecting(self, attempt: int, delay: float) -> None:
        logger.debug("stream %s: reconnect attempt %d in %.3f s", self.url, attempt, delay)
        self._hook(self._hooks.on_reconnecting, attempt, delay)

    def _gave_up(self, error: TransportError) -> None:
        for subs in list(self._subs.values()):
            for sub in list(subs):
                sub.fail(error)

    def _unattributed(self, spec: TopicSpec, keys: list[str]) -> None:
        """An empty list of ``spec`` may have been any of ``keys``: none of them can trust
        its state now. A key that had a current state is asked again at once (a non-empty
        answer names its key); the others stay stale, for the consumer to resync (REST)."""
        self._topic_heard[spec.name] = time.monotonic()
        affected = 0
        for key in keys:
            subs = self._subs.get((spec.name, key))
            if not subs:
                continue
            affected += 1
            was_current = any(sub.current for sub in subs)
            for sub in subs:
                sub.mark_stale(unattributed=True)
            if was_current:
                first = subs[0]
                self._send_subscribe(spec, key, first.wire_key, force=True)
        self._warn_unattributed(
            f"unattributed {spec.name}",
            f"stream {self.url}: an empty {spec.name} list could belong to any of "
            f"{len(keys)} keys streaming on this connection; it was not delivered and "
            f"{affected} subscription key(s) are stale until their next snapshot "
            "(resync them through REST if they stay stale)")

    # -- subscription events --------------------------------------------------------------

    def _release(self, sub: Subscription[Any]) -> None:
        ident = (sub.topic, sub.key)
        subs = self._subs.get(ident)
        if subs is not None and sub in subs:
            subs.remove(sub)
            if not subs:
                del self._subs[ident]
                self._subscribed_at.pop(ident, None)
                self._watchdog_retry.pop(ident, None)
        self._router.remove(sub, sub.spec, sub.key)

    def _decode_error(self, sub: Subscription[Any], error: Exception) -> None:
        logger.debug("stream %s %s: undecodable payload: %s", sub.topic, sub.key, error)
        self._hook(self._hooks.on_decode_error, sub.topic, sub.key, error)

    def _dropped(self, sub: Subscription[Any]) -> None:
        self._hook(self._hooks.on_dropped, sub.topic, sub.key, sub.capacity)

    def _anomaly(self, kind: str, detail: str) -> None:
        logger.debug("stream %s: %s frame: %s", self.url, kind, detail)
        self._hook(self._hooks.on_anomaly, kind, detail)

    # -- the silence watchdog -------------------------------------------------------------

    async def _watch(self) -> None:
        interval = max(0.01, min(self._watchdog.values()) / 4)
        while True:
            await asyncio.sleep(interval)
            if self._conn.connected:
                await self._check_silence(time.monotonic())

    async def _check_silence(self, now: float) -> None:
        for ident, subs in list(self._subs.items()):
            limit = self._watchdog.get(ident[0])
            sent = self._subscribed_at.get(ident)
            if limit is None or sent is None or not subs:
                continue
            last = max([sent, *(s.last_received or 0.0 for s in subs)])
            if now - last < limit:
                self._watchdog_retry.pop(ident, None)
                continue
            retried = self._watchdog_retry.get(ident)
            first = subs[0]
            topic, key = ident
            # An event topic is not asked twice on one socket (that could double its stream).
            if retried is None and first.spec.is_list:
                self._watchdog_retry[ident] = now
                logger.info("stream %s: %s %s silent for %.1f s; asking for it again",
                            self.url, topic, key, now - last)
                self._hook(self._hooks.on_watchdog, topic, key, "resubscribe")
                self._send_subscribe(first.spec, first.key, first.wire_key, force=True)
            elif retried is None or now - retried >= limit:
                if retried is not None and self._topic_heard.get(topic, 0.0) > retried:
                    # The topic answered, with a list no key can be read from (an empty
                    # book, say): the socket is alive; ask again later.
                    self._watchdog_retry.pop(ident, None)
                    self._subscribed_at[ident] = now
                    continue
                reason = f"watchdog: {topic} {key} silent for {now - last:.1f} s"
                self._warn_watchdog(
                    f"watchdog {topic}",
                    f"stream {self.url}: {topic} {key} said nothing for {now - last:.1f} s"
                    + ("" if retried is None else " and did not answer a new subscribe")
                    + "; replacing the socket")
                self._hook(self._hooks.on_watchdog, topic, key, "reconnect")
                await self._conn.abort(reason)
                return

    # -- lifecycle and observability ------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called; :meth:`subscribe` then raises ``KanaError``."""
        return self._closed

    async def close(self) -> None:
        """Close the socket, stop every task and end every subscription. Idempotent.

        :raises: nothing; each subscription's pending read ends its iteration.
        """
        if self._closed:
            return
        self._closed = True
        # Every task is told to stop before the first wait, and the subscriptions end in any
        # case, so that a close interrupted by a cancellation leaves nothing running and no
        # consumer waiting (a later close() returns at once).
        watch, self._watch_task = self._watch_task, None
        if watch is not None:
            watch.cancel()
        resolving = dict(self._resolving)
        for task in resolving:
            task.cancel()
        try:
            await self._conn.close()
            await cancel_and_wait(watch, *resolving)
        finally:
            for subs in list(self._subs.values()):
                for sub in list(subs):
                    sub.close_nowait()
            for pending in resolving.values():
                pending.close_nowait()

    async def __aenter__(self) -> StreamMux:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def stats(self) -> StreamStats:
        """Connection state, frame counters and each live subscription's counters."""
        router = self._router.stats()
        since = self._conn.connected_since
        return StreamStats(
            url=self.url,
            connected=self._conn.connected,
            connected_for=None if since is None else time.monotonic() - since,
            connects=self._conn.connects,
            disconnects=self._conn.disconnects,
            reconnect_attempt=self._conn.attempt,
            failed_connects=self._conn.failed_connects,
            last_error=self._conn.last_error,
            frames=router.frames,
            routed=router.routed,
            ignored=router.ignored,
            malformed=router.malformed,
            oversize=router.oversize,
            server_error=router.server_error,
            unknown_topic=router.unknown_topic,
            unroutable=router.unroutable,
            unattributed=router.unattributed,
            routed_by_shape=router.routed_by_shape,
            subscriptions=[sub.stats for subs in self._subs.values() for sub in subs],
        )

    def _hook(self, hook: Callable[..., None] | None, *args: Any) -> None:
        if hook is None:
            return
        try:
            hook(*args)
        except (Exception, asyncio.CancelledError):
            # A synchronous call cannot be cancelled: a CancelledError out of it is a bug of
            # the hook, and letting it through would end the reader as if it were cancelled.
            logger.warning("stream hook %s raised", getattr(hook, "__name__", hook),
                           exc_info=True)

    def __repr__(self) -> str:
        state = "closed" if self._closed else (
            "connected" if self._conn.connected else "disconnected")
        count = sum(len(subs) for subs in self._subs.values())
        return f"<StreamMux {self.url} {state}, {count} subscription(s)>"


def _check_overflow(value: Overflow | str | None, spec: TopicSpec) -> Overflow:
    if value is None:
        return spec.default_overflow
    try:
        return Overflow(value)
    except ValueError:
        choices = ", ".join(o.value for o in Overflow)
        raise ValidationError("overflow", f"must be one of {choices}", value) from None


