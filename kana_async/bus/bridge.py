"""The bridge: one exchange WebSocket, every routed payload published to NATS.

The bridge subscribes upstream through a :class:`~kana_async.stream.StreamMux` (the same
reconnects, watchdog and pacing as any bot) and taps each key's raw payloads as the router
hands them over: the bytes go to ``kana.<network>.<topic>[.<key>]`` untouched, so a consumer's
decode gives identical items. Keys are opened by ``--topic/--market/--address`` at start or
by a consumer's request on :func:`~.subjects.subscribe_subject` (once per key, however many
ask).

Publishing is pipelined: the router's callback only appends to a bounded outbox (the oldest
message is dropped and counted when NATS cannot keep up; an event subject that lost one is
marked with a gap); one task moves the outbox into nats-py's write buffer, which its own
flusher writes out. No per-message acknowledgement is awaited: JetStream streams capture the
subjects (the latest snapshot per subject, and every event with its identity as
``Nats-Msg-Id`` so a republished one is dropped within the duplicate window).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec

from .._tasks import cancel_and_wait
from ..errors import KanaError, ValidationError
from ..markets import MarketDirectory
from ..stream.mux import StreamMux
from ..stream.options import StreamOptions
from ..stream.subscription import Subscription
from ..stream.topics import TOPICS, TopicSpec, topic_spec
from ..stream.transport import Connector
from . import check_nats_url, connect, import_nats, subjects

__all__ = ["Bridge", "BridgeLimits", "BridgeStats", "Outbox", "hello_subject"]

logger = logging.getLogger("kana_async.bus")

#: ``(subject, body, headers)``; snapshot messages have no headers.
_Message = tuple[str, bytes, dict[str, str] | None]


def hello_subject(network: str) -> str:
    """Where a bridge announces each (re)start: consumers ask again for what they stream."""
    return f"{subjects.CONTROL_ROOT}.{subjects.check_network(network)}.hello"


@dataclass(frozen=True, kw_only=True)
class BridgeLimits:
    """Every bound of the bridge: nothing on the bus grows without one."""

    #: Messages waiting to be handed to NATS before the oldest is dropped.
    outbox: int = 100_000
    #: Bytes the snapshot stream keeps (one message per subject).
    snapshot_bytes: int = 64 * 1024 * 1024
    #: Seconds and bytes the event stream keeps.
    event_max_age: float = 24 * 3600.0
    event_bytes: int = 1024 * 1024 * 1024
    #: Seconds within which an event published again (same identity) is dropped.
    duplicate_window: float = 120.0
    #: Seconds a consumer's subscribe request may wait for the key to stream upstream.
    subscribe_timeout: float = 10.0
    #: Keys the bridge opens at most.
    keys: int = 10_000

    def __post_init__(self) -> None:
        for name in ("outbox", "snapshot_bytes", "event_bytes", "keys"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValidationError(name, "must be an integer >= 1", value)
        for name in ("event_max_age", "duplicate_window", "subscribe_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                0 < value < float("inf")
            ):
                raise ValidationError(name, "must be a finite number of seconds > 0", value)


class _NotYet(KanaError):
    """A key asked for is subscribed upstream but did not stream in time."""


class BridgeStats(msgspec.Struct, kw_only=True):
    """Counters of a bridge (a snapshot)."""

    keys: int
    #: Payloads handed over by the router.
    received: int
    #: Messages handed to NATS.
    published: int
    #: Messages dropped because the outbox was full (NATS too slow or away).
    dropped: int
    #: Gap markers published (upstream reconnects, drops).
    gaps: int
    #: Subscribe requests answered.
    requests: int
    buffered: int
    nats_connected: bool
    nats_reconnects: int


class Outbox:
    """The pure core of publishing: bounded, with event identities and gap markers."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.queue: deque[_Message] = deque()
        self.dropped = 0
        self.gaps = 0
        #: Event subjects that lost a message to overflow (a gap follows when there is room).
        self.lossy: set[str] = set()

    def add(self, subject: str, data: bytes, *, event: bool) -> None:
        headers = {subjects.MSG_ID_HEADER: subjects.message_id(subject, data)} if event \
            else None
        self._append((subject, data, headers))

    def gap(self, subject: str, reason: str) -> None:
        headers = {subjects.GAP_HEADER: reason}
        self.gaps += 1
        self._append((subject, b"", headers))

    def _append(self, message: _Message) -> None:
        queue = self.queue
        if len(queue) >= self.capacity:
            subject, _, headers = queue.popleft()
            self.dropped += 1
            if headers is not None:  # an event, or a gap marker: events may be missed
                self.lossy.add(subject)
        queue.append(message)

    def take_lossy(self) -> list[str]:
        lossy, self.lossy = sorted(self.lossy), set()
        return lossy


class Bridge:
    """Publish what the exchange WebSocket at ``ws_url`` sends to the NATS server at
    ``nats_url``.

    ``http`` (used, not owned), ``connector``, ``stream`` (options) and ``markets`` are those
    of :class:`~kana_async.stream.StreamMux`; ``nats_options`` go to ``nats.connect``
    (``user``, ``password``, ``token``, ...). ``serve_requests=False`` streams only the keys
    opened with :meth:`open`.
    Use ``async with``; :meth:`open` pre-subscribes a key.
    """

    def __init__(
        self,
        nats_url: str,
        *,
        network: str,
        ws_url: str,
        http: aiohttp.ClientSession | None = None,
        connector: Connector | None = None,
        stream: StreamOptions | Mapping[str, Any] | None = None,
        markets: MarketDirectory | None = None,
        limits: BridgeLimits | None = None,
        nats_options: Mapping[str, Any] | None = None,
        serve_requests: bool = True,
    ) -> None:
        check_nats_url(nats_url)
        if not isinstance(serve_requests, bool):
            raise ValidationError("serve_requests", "must be True or False", serve_requests)
        #: Open the keys consumers ask for; ``False``: only those :meth:`open` opened are
        #: answered (a request for another stays unanswered, and its consumer keeps asking).
        self.serve_requests = serve_requests
        self.network = subjects.check_network(network)
        self.nats_url = nats_url
        self.limits = limits or BridgeLimits()
        options = StreamOptions.coerce(stream)
        hooks = options.hooks
        user_lost = hooks.on_disconnected

        def lost(reason: str) -> None:
            self._upstream_lost(reason)
            if user_lost is not None:
                user_lost(reason)

        options = dataclasses.replace(
            options, hooks=dataclasses.replace(hooks, on_disconnected=lost))
        #: The bridge's one exchange WebSocket (owned: closed with the bridge).
        self.stream = StreamMux(http, ws_url, connector=connector, options=options,
                                markets=markets)
        self._markets = markets
        self._nats_options = dict(nats_options or {})
        self._outbox = Outbox(self.limits.outbox)
        self._wake = asyncio.Event()
        self._taps: dict[str, Subscription[Any]] = {}
        self._opening: dict[str, asyncio.Future[None]] = {}
        self._requests_running: set[asyncio.Task[None]] = set()
        self._received = 0
        self._published = 0
        self._requests = 0
        self._reconnects = 0
        self._nc: Any = None
        self._js: Any = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._stream_events: set[str] = set()
        #: The last snapshot of each snapshot subject, published again after NATS comes back
        #: (a restarted server's memory stream starts empty).
        self._last: dict[str, bytes] = {}

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Bridge:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Connect to NATS, make the streams, answer subscribe requests, announce ourselves."""
        self._nc = await connect(
            self.nats_url, name=f"kana-bridge {self.network}",
            on_disconnected=self._nats_disconnected, on_reconnected=self._nats_reconnected,
            options=self._nats_options)
        try:
            self._js = self._nc.jetstream()
            await self._ensure_streams()
            # Snapshots kept from an earlier bridge are of an unknown age: consumers get
            # fresh ones as this bridge opens their keys.
            await self._js.purge_stream(subjects.snapshot_stream(self.network))
            await self._nc.subscribe(subjects.subscribe_subject(self.network),
                                     cb=self._on_request)
            self._task = asyncio.get_running_loop().create_task(
                self._publisher(), name="kana-bridge publisher")
            await self._nc.publish(hello_subject(self.network), b"{}")
            await self._nc.flush()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Stop publishing (what is buffered is written first when NATS is up). Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self.stream.close()
        task, self._task = self._task, None
        nc, self._nc = self._nc, None
        answering = list(self._requests_running)
        for pending in (task, *answering):
            if pending is not None:
                pending.cancel()
        await cancel_and_wait(task, *answering)
        if nc is not None:
            if nc.is_connected:
                with contextlib.suppress(Exception):
                    await self._drain_outbox(nc)
                    await nc.flush(timeout=2)
            await nc.close()

    async def _ensure_streams(self) -> None:
        nats_api = import_nats().js.api
        network, limits = self.network, self.limits
        snapshots = [f"{subjects.DATA_ROOT}.{network}.{spec.name}.>"
                     if spec.key else f"{subjects.DATA_ROOT}.{network}.{spec.name}"
                     for spec in TOPICS.values() if not spec.is_event]
        events = [f"{subjects.DATA_ROOT}.{network}.{spec.name}.>"
                  for spec in TOPICS.values() if spec.is_event]
        configs = (
            nats_api.StreamConfig(
                name=subjects.snapshot_stream(network), subjects=snapshots,
                storage=nats_api.StorageType.MEMORY, max_msgs_per_subject=1,
                max_bytes=limits.snapshot_bytes, discard=nats_api.DiscardPolicy.OLD,
                allow_direct=True,
            ),
            nats_api.StreamConfig(
                name=subjects.events_stream(network), subjects=events,
                storage=nats_api.StorageType.FILE, max_age=limits.event_max_age,
                max_bytes=limits.event_bytes, duplicate_window=limits.duplicate_window,
                discard=nats_api.DiscardPolicy.OLD, allow_direct=True,
            ),
        )
        errors = import_nats().js.errors
        for config in configs:
            try:
                await self._js.stream_info(config.name)
            except errors.NotFoundError:
                await self._js.add_stream(config)
                continue
            try:  # kept from an earlier run: bring its settings up to date
                await self._js.update_stream(config)
            except errors.APIError as exc:
                logger.warning("bridge: stream %s kept its settings (%s)", config.name,
                               exc.description)

    # -- opening keys ---------------------------------------------------------------------

    async def open(self, topic: str, *, address: str | None = None,
                   market_id: int | str | None = None) -> str:
        """Stream ``topic`` for the key upstream and publish it; returns the subject.

        Returns once the key streams (a snapshot topic: its first snapshot is published)."""
        spec = topic_spec(topic)
        if spec.key == "market_id" and isinstance(market_id, str) and not market_id.isdigit():
            market_id = await self._stream_markets_id(market_id)
        key = subjects.route_key(spec, address, market_id)
        return await self._open_key(spec, key)

    async def _stream_markets_id(self, name: str) -> int:
        markets = self._markets
        if markets is None:
            raise ValidationError("market_id", "a market name needs the market list", name)
        market_id: int = await markets.market_id(name)
        return market_id

    async def _open_key(self, spec: TopicSpec, key: str) -> str:
        subject = subjects.data_subject(self.network, spec.name, key)
        if subject in self._taps:
            pending = self._opening.get(subject)
            if pending is not None:
                await asyncio.wait_for(asyncio.shield(pending), self.limits.subscribe_timeout)
            return subject
        if self._closed:
            raise KanaError("the bridge is closed")
        if len(self._taps) >= self.limits.keys:
            raise ValidationError("keys", f"the bridge streams at most {self.limits.keys} keys")
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._opening[subject] = ready
        kwargs: dict[str, Any] = {spec.key: key} if spec.key else {}
        # Keep-latest: the tap's own buffer stays empty (its push is replaced below), and a
        # reconnect leaves no gap marker in it; gaps go on the bus instead.
        tap = self.stream.subscribe(spec.name, overflow="keep_latest", **kwargs)
        self._taps[subject] = tap
        event = spec.is_event
        if event:
            self._stream_events.add(subject)
        outbox, wake, last = self._outbox, self._wake, self._last

        def publish(payload: msgspec.Raw) -> None:
            self._received += 1
            data = bytes(payload)
            if not event:
                last[subject] = data
            outbox.add(subject, data, event=event)
            wake.set()
            if not ready.done():
                ready.set_result(None)

        # The router hands each payload to ``push``: the tap publishes it instead of buffering.
        setattr(tap, "push", publish)  # noqa: B010
        try:
            if event:
                await self._until_current(tap)
                if not ready.done():
                    ready.set_result(None)
            else:
                await asyncio.wait_for(asyncio.shield(ready), self.limits.subscribe_timeout)
        except asyncio.TimeoutError:
            raise _NotYet(
                f"{spec.name} {key}: no answer upstream within "
                f"{self.limits.subscribe_timeout:g} s") from None
        finally:
            self._opening.pop(subject, None)
        return subject

    async def _until_current(self, tap: Subscription[Any]) -> None:
        """An event key sends nothing when asked: it streams once the subscribe went out."""
        deadline = time.monotonic() + self.limits.subscribe_timeout
        while not tap.current:
            if time.monotonic() >= deadline:
                raise asyncio.TimeoutError
            await asyncio.sleep(0.005)

    async def _on_request(self, msg: Any) -> None:
        """Answer in a task of its own: a key slow to open upstream holds up no other."""
        if len(self._requests_running) >= self.limits.keys:
            return  # a flood of requests: the asker's timeout makes it ask again later
        task = asyncio.get_running_loop().create_task(self._answer(msg),
                                                      name="kana-bridge subscribe")
        self._requests_running.add(task)
        task.add_done_callback(self._requests_running.discard)

    async def _answer(self, msg: Any) -> None:
        self._requests += 1
        try:
            request = msgspec.json.decode(msg.data, type=subjects.SubscribeRequest)
            spec = topic_spec(request.topic)
            kwargs: dict[str, Any] = {spec.key: request.key} if spec.key else {}
            key = subjects.route_key(spec, **kwargs)
            if not self.serve_requests and (
                    subjects.data_subject(self.network, spec.name, key) not in self._taps):
                return
            await self._open_key(spec, key)
            reply = subjects.SubscribeReply(ok=True)
        except _NotYet as exc:
            # Subscribed upstream but not answered yet (the exchange socket is away, say):
            # no reply, so the consumer asks again later rather than giving up.
            logger.info("bridge: %s", exc)
            return
        except (msgspec.DecodeError, msgspec.ValidationError):
            reply = subjects.SubscribeReply(ok=False, error="request: not a subscribe request")
        except KanaError as exc:
            reply = subjects.SubscribeReply(ok=False, error=str(exc))
        if msg.reply and self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.publish(msg.reply, msgspec.json.encode(reply))

    # -- publishing -----------------------------------------------------------------------

    async def _publisher(self) -> None:
        wake = self._wake
        while True:
            await wake.wait()
            wake.clear()
            nc = self._nc
            if nc is None or not nc.is_connected:
                continue  # the reconnect callback wakes us again
            await self._drain_outbox(nc)

    def _upstream_lost(self, reason: str) -> None:
        """The exchange socket ended: every event subject may miss items from here on."""
        for subject in sorted(self._stream_events):
            self._outbox.gap(subject, "upstream reconnected")
        self._wake.set()

    async def _drain_outbox(self, nc: Any) -> None:
        queue = self._outbox.queue
        for subject in self._outbox.take_lossy():
            self._outbox.gap(subject, "bridge outbox overflowed")
        too_large = import_nats().errors.MaxPayloadError
        while queue:
            subject, data, headers = queue[0]
            try:
                await nc.publish(subject, data, headers=headers)
            except too_large:
                # Never publishable: dropped (and the subject marked), not retried forever.
                logger.warning("bridge: a %d-byte message for %s exceeds the server's "
                               "max_payload; dropped", len(data), subject)
                queue.popleft()
                self._outbox.dropped += 1
                if headers is not None:
                    self._outbox.gap(subject, "message larger than the server's max_payload")
                continue
            except Exception as exc:  # away, or its buffer full: kept for later
                logger.debug("bridge: publish to %s failed: %s", subject, exc)
                return
            queue.popleft()
            self._published += 1

    async def _nats_disconnected(self) -> None:
        if self._closed:
            return
        logger.warning("bridge: NATS connection lost; buffering up to %d messages",
                       self.limits.outbox)

    async def _nats_reconnected(self) -> None:
        self._reconnects += 1
        logger.info("bridge: NATS reconnected")
        with contextlib.suppress(Exception):
            await self._ensure_streams()
        for subject, data in list(self._last.items()):
            self._outbox.add(subject, data, event=False)
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.publish(hello_subject(self.network), b"{}")
        self._wake.set()

    # -- observability --------------------------------------------------------------------

    @property
    def subjects(self) -> list[str]:
        """The subjects this bridge publishes."""
        return sorted(self._taps)

    def stats(self) -> BridgeStats:
        nc = self._nc
        return BridgeStats(
            keys=len(self._taps),
            received=self._received,
            published=self._published,
            dropped=self._outbox.dropped,
            gaps=self._outbox.gaps,
            requests=self._requests,
            buffered=len(self._outbox.queue),
            nats_connected=bool(nc is not None and nc.is_connected),
            nats_reconnects=self._reconnects,
        )
