"""``kana.stream`` read from the bus: the same typed iterators, fed by a bridge through NATS.

:class:`BusStream` has the surface of :class:`~kana_async.stream.StreamMux` (``subscribe`` and
one method per topic, ``stats()``, ``close()``) and hands out the same
:class:`~kana_async.stream.Subscription` objects, so overflow policies, staleness, decode and
the :class:`~kana_async.StreamGapError` / :class:`~kana_async.SlowConsumerError` signals are
those of the direct stream. A payload on the bus is the frame's ``data`` as the bridge's router
had it: items decode identically.

One NATS subscription per (topic, key), shared by every local subscription of it; the nats-py
callback pushes into their buffers (no task per message). Snapshot topics: the live subject
(at-most-once, latest wins) after the last value kept by the snapshot stream, so a late joiner
starts with the current state at once. Event topics: an ordered JetStream consumer of the
event stream (at-least-once), de-duplicated by ``Nats-Msg-Id``, from "now" or from a stream
sequence or time (``start=``). A gap is signalled when the bridge's upstream reconnected
(its ``Kana-Gap`` marker), when this process lost its NATS connection, and when a bridge
(re)announces itself (the key is asked for again at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, cast

import msgspec

from .._tasks import cancel_and_wait
from ..errors import KanaError, TransportError, ValidationError
from ..markets import MarketDirectory, is_market_name
from ..stream.book import OrderBook
from ..stream.mux import StreamMux, StreamStats
from ..stream.options import StreamOptions, check_buffer_size
from ..stream.subscription import Subscription
from ..stream.topics import Overflow, TopicSpec, topic_spec
from . import check_nats_url, connect, import_nats, subjects
from .bridge import hello_subject

__all__ = ["BusStream"]

logger = logging.getLogger("kana_async.bus")

#: Message identities remembered per event key for de-duplication.
_SEEN_IDS = 65_536
#: Seconds one subscribe request waits for the bridge's answer.
_REQUEST_TIMEOUT = 5.0
#: Seconds between unanswered subscribe requests: the first, and the most.
_RETRY_FIRST = 0.5
_RETRY_MAX = 10.0

Start = int | datetime.datetime | None


class _Feed:
    """One (topic, key) on the bus and the local subscriptions it feeds."""

    __slots__ = ("acked", "fetched", "got_live", "key", "last_reply", "live", "seen",
                 "seen_order", "spec", "start", "subject", "subs")

    def __init__(self, spec: TopicSpec, key: str, subject: str, start: Start) -> None:
        self.spec = spec
        self.key = key
        self.subject = subject
        self.start = start
        self.subs: list[Subscription[Any]] = []
        self.live: Any = None
        #: A bridge said it streams this key.
        self.acked = False
        #: A live message arrived since the last (re)subscribe.
        self.got_live = False
        #: The kept snapshot just handed over: the same bytes arriving live next are that
        #: snapshot again (it raced its own copy on the bus), not a new state.
        self.fetched: bytes | None = None
        #: The reply subject of the last event delivered: it holds the stream sequence to
        #: resume from after a reconnect (parsed only then, not per message).
        self.last_reply: str | None = None
        self.seen: set[str] = set()
        self.seen_order: deque[str] = deque()

    def is_new(self, message_id: str) -> bool:
        seen = self.seen
        if message_id in seen:
            return False
        seen.add(message_id)
        order = self.seen_order
        order.append(message_id)
        if len(order) > _SEEN_IDS:
            seen.discard(order.popleft())
        return True

    def gap(self) -> None:
        for sub in list(self.subs):
            sub.mark_stale()
            sub.mark_gap()


class BusStream(StreamMux):
    """Every indexer topic from the NATS server at ``nats_url``, published by a bridge.

    A :class:`~kana_async.stream.StreamMux` whose source is the bus instead of a WebSocket
    (so code typed for ``kana.stream`` works unchanged): its topic methods are the mux's own,
    every method that touches the source is replaced here, and the mux's socket machinery is
    never built.

    ``network`` must be the bridge's. ``options`` (a :class:`StreamOptions` or a mapping) and
    keyword overrides: ``buffer_size``, ``buffer_bytes``, ``watchdog`` (each topic's
    ``stale_after``) and ``hooks`` (``on_connected``, ``on_disconnected``, ``on_decode_error``,
    ``on_dropped``) apply as on the direct stream. ``nats_options`` go to ``nats.connect``
    (``user``, ``password``, ``token``, ...). The connection opens with the first
    subscription.
    """

    def __init__(
        self,
        nats_url: str,
        *,
        network: str,
        options: StreamOptions | Mapping[str, Any] | None = None,
        markets: MarketDirectory | None = None,
        nats_options: Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> None:  # StreamMux.__init__ is not called: it builds the WebSocket side
        self.url = check_nats_url(nats_url, "stream_url")
        self.network = subjects.check_network(network)
        import_nats()  # a clear error now when the bus extra is missing
        opts = StreamOptions.coerce(options, **overrides)
        self.options = opts
        self._hooks = opts.hooks
        self._markets = markets
        self._nats_options = dict(nats_options or {})
        self._feeds: dict[str, _Feed] = {}
        self._nc: Any = None
        self._js: Any = None
        self._connecting: asyncio.Task[Any] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._connected_since: float | None = None
        self._connects = 0
        self._disconnects = 0
        self._messages = 0
        self._routed = 0
        self._duplicates = 0
        self._last_error: str | None = None

    # -- subscribing ----------------------------------------------------------------------

    def subscribe(
        self,
        topic: str,
        *,
        address: str | None = None,
        market_id: int | str | None = None,
        overflow: Overflow | str | None = None,
        buffer_size: int | None = None,
        start: Start = None,
    ) -> Subscription[Any]:
        """Subscribe to ``topic`` for ``address`` or ``market_id``, as on the direct stream.

        ``start`` (event topics only) replays from a stream sequence (``int`` >= 1) or a
        time (an aware ``datetime``) instead of "now"."""
        if self._closed:
            raise KanaError("the stream is closed")
        spec = topic_spec(topic)
        _check_start(start, spec)
        name = (market_id if isinstance(market_id, str) and spec.key == "market_id"
                and is_market_name(market_id) else None)
        if name is not None:
            if self._markets is None:
                raise ValidationError(
                    "market_id", "a market name needs the market list (use KanaClient.stream) "
                    "or give the numeric market id", name)
            known = self._markets.lookup(name)
            if known is not None:
                market_id, name = known, None
        key = "" if name is not None else subjects.route_key(spec, address, market_id)
        policy = _check_overflow(overflow, spec)
        capacity = (self.options.buffer_size if buffer_size is None
                    else check_buffer_size(buffer_size))
        convert: Callable[[Any], Any] | None = None
        if spec.name == "orderbook":
            def convert(levels: Any) -> OrderBook:
                return OrderBook.from_levels(levels, 0 if levels else int(sub.key))
        sub: Subscription[Any] = Subscription(
            spec, key, key, overflow=policy, capacity=capacity,
            capacity_bytes=self.options.buffer_bytes,
            stale_after=self.options.watchdog.get(spec.name), convert=convert,
            on_close=self._release, on_decode_error=self._decode_error,
            on_dropped=self._dropped,
        )
        if name is not None:
            self._spawn(self._attach_by_name(sub, name, start), f"kana-bus market {name}")
        else:
            self._attach(sub, start)
        return sub

    async def _attach_by_name(self, sub: Subscription[Any], name: str, start: Start) -> None:
        assert self._markets is not None
        try:
            market_id = await self._markets.market_id(name)
        except Exception as exc:
            sub.fail(exc)
            return
        if not (sub.closed or self._closed):
            sub.wire_key = sub.key = subjects.route_key(sub.spec, None, market_id)
            self._attach(sub, start)

    def _attach(self, sub: Subscription[Any], start: Start) -> None:
        spec, key = sub.spec, sub.key
        subject = subjects.data_subject(self.network, spec.name, key)
        feed = self._feeds.get(subject)
        if feed is not None and start is not None:
            raise ValidationError("start", f"{spec.name} {key} is already read from now on "
                                  "in this process; replay it in a new process")
        if feed is None:
            feed = self._feeds[subject] = _Feed(spec, key, subject, start)
            feed.subs.append(sub)
            self._spawn(self._open(feed), f"kana-bus open {subject}")
            return
        feed.subs.append(sub)
        if spec.is_event:
            if feed.acked:
                sub.mark_current()
        else:
            self._spawn(self._fetch_last(feed, only=sub), f"kana-bus last {subject}")

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the connection -------------------------------------------------------------------

    async def _connection(self) -> Any:
        if self._nc is not None:
            return self._nc
        if self._connecting is None:
            self._connecting = asyncio.get_running_loop().create_task(
                self._connect(), name="kana-bus connect")
        await asyncio.shield(self._connecting)
        return self._nc

    async def _connect(self) -> None:
        try:
            nc = await connect(self.url, name=f"kana-stream {self.network}",
                               on_disconnected=self._nats_lost,
                               on_reconnected=self._nats_back, options=self._nats_options)
        except KanaError as exc:
            self._last_error = str(exc)
            self._connecting = None
            raise
        self._nc, self._js = nc, nc.jetstream()
        self._connects += 1
        self._connected_since = time.monotonic()
        await nc.subscribe(hello_subject(self.network), cb=self._on_hello)
        self._hook(self._hooks.on_connected, self.url)

    async def _nats_lost(self) -> None:
        if self._closed:
            return
        self._disconnects += 1
        self._connected_since = None
        self._last_error = "NATS connection lost"
        for feed in list(self._feeds.values()):
            feed.gap()
        self._hook(self._hooks.on_disconnected, "NATS connection lost")

    async def _nats_back(self) -> None:
        self._connects += 1
        self._connected_since = time.monotonic()
        self._hook(self._hooks.on_connected, self.url)
        self._spawn(self._reopen_all(), "kana-bus reopen")

    async def _on_hello(self, msg: Any) -> None:
        """A bridge (re)started: what it streamed before may have gaps; ask for every key."""
        for feed in list(self._feeds.values()):
            if feed.acked:
                feed.gap()
        self._spawn(self._request_all(), "kana-bus resubscribe")

    async def _reopen_all(self) -> None:
        """After a NATS reconnect: events resume after the last one delivered (duplicates
        are dropped by identity), snapshots from the kept value; every key is asked again."""
        for feed in list(self._feeds.values()):
            try:
                if feed.spec.is_event:
                    old, feed.live = feed.live, None
                    if old is not None:
                        with contextlib.suppress(Exception):
                            await old.unsubscribe()
                    await self._listen(feed, resume=True)
                else:
                    await self._fetch_last(feed)
            except Exception as exc:  # NATS went away again: its next return retries
                logger.warning("bus: %s not resumed yet: %s", feed.subject, exc)
        await self._request_all()

    async def _request_all(self) -> None:
        for feed in list(self._feeds.values()):
            # A key not listened to yet is asked by its own opening, once it listens.
            if feed.subs and feed.live is not None:
                self._spawn(self._request(feed), f"kana-bus ask {feed.subject}")

    # -- one key --------------------------------------------------------------------------

    async def _open(self, feed: _Feed) -> None:
        try:
            await self._connection()
            if not await self._listen_when_ready(feed):
                return
            # A snapshot kept on the bus serves at once, even while no bridge answers.
            found = not feed.spec.is_event and await self._fetch_last(feed)
            await self._request(feed)
            if not feed.spec.is_event and not found:
                await self._fetch_last(feed)
        except KanaError as exc:
            self._fail(feed, exc)
        except Exception as exc:  # nats-py errors: the bus refused or went away
            self._fail(feed, TransportError(f"{feed.subject}: {type(exc).__name__}: {exc}"))

    def _fail(self, feed: _Feed, error: BaseException) -> None:
        for sub in list(feed.subs):
            sub.fail(error)

    async def _listen_when_ready(self, feed: _Feed) -> bool:
        """:meth:`_listen`, waiting while the event stream does not exist yet (no bridge
        ever ran on this server); ``False`` if the key stopped being wanted meanwhile."""
        not_found = import_nats().js.errors.NotFoundError
        delay = _RETRY_FIRST
        while True:
            try:
                await self._listen(feed)
                return True
            except not_found:
                logger.info("bus: no stream for %s yet (no bridge has run); looking again in "
                            "%g s", feed.subject, delay)
            if not feed.subs or self._closed:
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX)
            if not feed.subs or self._closed:
                return False

    async def _listen(self, feed: _Feed, *, resume: bool = False) -> None:
        """The live subscription of ``feed``: core for snapshots, an ordered JetStream
        consumer for events (from the last delivered sequence on ``resume``)."""
        handler = self._handler(feed)
        feed.got_live = False
        if not feed.spec.is_event:
            feed.live = await self._nc.subscribe(feed.subject, cb=handler)
            return
        api = import_nats().js.api
        config = api.ConsumerConfig()
        last_seq = _stream_sequence(feed.last_reply) if resume else None
        if last_seq is not None:
            config.deliver_policy = api.DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = last_seq + 1
        elif isinstance(feed.start, int) and not resume:
            config.deliver_policy = api.DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = feed.start
        elif isinstance(feed.start, datetime.datetime) and not resume:
            config.deliver_policy = api.DeliverPolicy.BY_START_TIME
            config.opt_start_time = feed.start
        else:
            config.deliver_policy = api.DeliverPolicy.NEW
        feed.live = await self._js.subscribe(
            feed.subject, stream=subjects.events_stream(self.network), cb=handler,
            ordered_consumer=True, config=config)

    def _handler(self, feed: _Feed) -> Callable[[Any], Any]:
        event = feed.spec.is_event
        gap_header, id_header = subjects.GAP_HEADER, subjects.MSG_ID_HEADER

        async def on_message(msg: Any) -> None:
            self._messages += 1
            headers = msg.headers
            if headers and gap_header in headers:
                feed.gap()
                return
            if event:
                message_id = headers.get(id_header) if headers else None
                if message_id is not None and not feed.is_new(message_id):
                    self._duplicates += 1
                    return
                feed.last_reply = msg.reply
            else:
                fetched, feed.fetched = feed.fetched, None
                if fetched is not None and fetched == msg.data:
                    self._duplicates += 1
                    return
            feed.got_live = True
            self._deliver(feed, msg.data)

        return on_message

    def _deliver(self, feed: _Feed, data: bytes) -> None:
        self._routed += 1
        payload = cast(msgspec.Raw, data)  # Subscription reads it as bytes
        for sub in feed.subs:
            sub.push(payload)

    async def _request(self, feed: _Feed) -> None:
        """Ask a bridge to stream the key (it answers once the key streams upstream); ask
        again, less and less often, while nobody answers and the key is still wanted."""
        nats = import_nats()
        body = msgspec.json.encode(subjects.SubscribeRequest(feed.spec.name, feed.key))
        delay = _RETRY_FIRST
        while True:
            try:
                msg = await self._nc.request(subjects.subscribe_subject(self.network), body,
                                             timeout=_REQUEST_TIMEOUT)
                break
            except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
                logger.info("bus: no bridge answered for %s yet; asking again in %g s",
                            feed.subject, delay)
            except nats.errors.Error as exc:  # NATS is away: ask again once it is back
                logger.info("bus: cannot ask for %s now (%s); asking again in %g s",
                            feed.subject, type(exc).__name__, delay)
            if not feed.subs or self._closed:
                return
            await asyncio.sleep(delay)  # a bridge announcing itself also makes us ask
            delay = min(delay * 2, _RETRY_MAX)
            if not feed.subs or self._closed:
                return
        try:
            reply = msgspec.json.decode(msg.data, type=subjects.SubscribeReply)
        except (msgspec.DecodeError, msgspec.ValidationError):
            logger.warning("bus: the answer for %s is not a subscribe reply; ignored",
                           feed.subject)
            return
        if not reply.ok:
            self._fail(feed, KanaError(f"{feed.subject}: the bridge refused: {reply.error}"))
            return
        feed.acked = True
        if feed.spec.is_event:
            for sub in feed.subs:
                sub.mark_current()

    async def _fetch_last(self, feed: _Feed, only: Subscription[Any] | None = None) -> bool:
        """Hand the snapshot stream's last value of the key to a (late) subscriber; ``True``
        if the bus had one."""
        nats = import_nats()
        if self._js is None:
            await self._connection()
        try:
            last = await self._js.get_last_msg(subjects.snapshot_stream(self.network),
                                               feed.subject, direct=True)
        except nats.js.errors.NotFoundError:
            return False
        except Exception as exc:  # the stream is not there yet, or NATS is away
            logger.debug("bus: no last value of %s: %s", feed.subject, exc)
            return False
        data = last.data or b""
        if not data:
            return False
        if only is None and feed.got_live:
            return True  # a newer live snapshot came first
        feed.fetched = data
        for sub in [only] if only is not None else feed.subs:
            sub.push(cast(msgspec.Raw, data))
        return True

    # -- subscription events --------------------------------------------------------------

    def _release(self, sub: Subscription[Any]) -> None:
        if not sub.key:
            return
        subject = subjects.data_subject(self.network, sub.topic, sub.key)
        feed = self._feeds.get(subject)
        if feed is None or sub not in feed.subs:
            return
        feed.subs.remove(sub)
        if not feed.subs:
            del self._feeds[subject]
            if feed.live is not None and not self._closed:
                self._spawn(_unsubscribe(feed.live), f"kana-bus close {subject}")

    def _decode_error(self, sub: Subscription[Any], error: Exception) -> None:
        self._hook(self._hooks.on_decode_error, sub.topic, sub.key, error)

    def _dropped(self, sub: Subscription[Any]) -> None:
        self._hook(self._hooks.on_dropped, sub.topic, sub.key, sub.capacity)

    def _hook(self, hook: Callable[..., None] | None, *args: Any) -> None:
        if hook is None:
            return
        try:
            hook(*args)
        except Exception:
            logger.warning("stream hook %s raised", getattr(hook, "__name__", hook),
                           exc_info=True)

    # -- lifecycle and observability ------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        """Close the NATS connection and end every subscription. Idempotent."""
        if self._closed:
            return
        self._closed = True
        tasks = list(self._tasks)
        connecting, self._connecting = self._connecting, None
        for task in (*tasks, connecting):
            if task is not None:
                task.cancel()
        try:
            await cancel_and_wait(*tasks, connecting)
            nc, self._nc = self._nc, None
            if nc is not None:
                with contextlib.suppress(Exception):
                    await nc.close()
        finally:
            for feed in list(self._feeds.values()):
                for sub in list(feed.subs):
                    sub.close_nowait()

    def stats(self) -> StreamStats:
        """The direct stream's counters: ``frames`` are bus messages, ``routed`` those handed
        to subscriptions, ``ignored`` duplicates dropped by message identity."""
        nc = self._nc
        since = self._connected_since
        connected = bool(nc is not None and nc.is_connected)
        return StreamStats(
            url=self.url,
            connected=connected,
            connected_for=None if since is None or not connected else time.monotonic() - since,
            connects=self._connects,
            disconnects=self._disconnects,
            reconnect_attempt=0,
            last_error=self._last_error,
            frames=self._messages,
            routed=self._routed,
            ignored=self._duplicates,
            malformed=0,
            server_error=0,
            unknown_topic=0,
            unroutable=0,
            unattributed=0,
            routed_by_shape=0,
            subscriptions=[sub.stats for feed in self._feeds.values() for sub in feed.subs],
        )

    def __repr__(self) -> str:
        state = "closed" if self._closed else (
            "connected" if self._nc is not None and self._nc.is_connected else "disconnected")
        count = sum(len(feed.subs) for feed in self._feeds.values())
        return f"<BusStream {self.url} {state}, {count} subscription(s)>"


def _stream_sequence(reply: str | None) -> int | None:
    """The stream sequence in a JetStream delivery's reply subject (``None``: unknown)."""
    if not reply:
        return None
    try:
        sequence: int = import_nats().aio.msg.Msg.Metadata._from_reply(reply).sequence.stream
    except Exception:  # not a JetStream reply subject
        return None
    return sequence


async def _unsubscribe(live: Any) -> None:
    with contextlib.suppress(Exception):
        await live.unsubscribe()


def _check_start(start: object, spec: TopicSpec) -> None:
    if start is None:
        return
    if not spec.is_event:
        raise ValidationError("start", f"topic {spec.name} keeps only its latest value; "
                              "replay applies to the live_* event topics", start)
    if isinstance(start, bool) or not isinstance(start, (int, datetime.datetime)):
        raise ValidationError("start", "must be a stream sequence >= 1 or an aware datetime",
                              start)
    if isinstance(start, int) and start < 1:
        raise ValidationError("start", "must be a stream sequence >= 1", start)
    if isinstance(start, datetime.datetime) and start.tzinfo is None:
        raise ValidationError("start", "must be an aware datetime (with a time zone)", start)


def _check_overflow(value: Overflow | str | None, spec: TopicSpec) -> Overflow:
    if value is None:
        return spec.default_overflow
    try:
        return Overflow(value)
    except ValueError:
        choices = ", ".join(o.value for o in Overflow)
        raise ValidationError("overflow", f"must be one of {choices}", value) from None
