"""The simulator's indexer WebSocket, served with the ``websockets`` library.

Clients send ``{"topic": ..., "address"|"market_id": ...}`` and receive
``{"message": <topic>, "data": ...}``: the current state on subscribe, then a push whenever
the engine reports a change of that topic and key. The pure pieces (request parsing, snapshots,
frame encoding with scripted corruptions, the per-client outbox) are in :mod:`.indexer`;
:class:`IndexerServer` is the thin asyncio layer around them.

Choices where the documents are silent (also in ``docs/simulator.md``):

- error frame: ``{"message": "error", "error": "<what is wrong>", "data": null}``; the socket
  stays open;
- ``{"topic": ..., <key>, "unsubscribe": true}`` stops pushes of that topic and key (no answer);
- ``best_price`` is keyed by ``market_id`` and sends ``[{"market_id", "best_bid_price",
  "best_ask_price", "last_updated", "transaction_version"}]`` (decimal strings or null),
  only when the best bid or ask changed;
- re-subscribing is idempotent (one push per change) and re-sends the current snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from http import HTTPStatus
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from .._tasks import cancel_and_wait
from ..errors import ValidationError
from .faults import Faults
from .indexer import (
    EVENT_TOPICS,
    ChangeLike,
    IndexerEngine,
    Outbox,
    Record,
    RequestError,
    Slot,
    encode_error,
    encode_frame,
    parse_request,
    snapshot,
)

__all__ = ["WS_PATHS", "IndexerServer"]

logger = logging.getLogger(__name__)

#: The URL paths the server answers on (the documents show both).
WS_PATHS = frozenset({"/ws/", "/ws"})


# -- the asyncio server ----------------------------------------------------------------------


class _Client:
    """One connected socket: its subscriptions, its outbox and the wake-up of its writer."""

    def __init__(self, ws: ServerConnection, max_events: int) -> None:
        self.ws = ws
        self.outbox = Outbox(max_events)
        self.slots: set[Slot] = set()
        self.ready = asyncio.Event()
        self.hopeless = False

    def offer_snapshot(self, slot: Slot, frame: bytes) -> None:
        if not self.hopeless:
            self.outbox.put_snapshot(slot, frame)
            self.ready.set()

    def offer_event(self, frame: bytes) -> bool:
        if self.hopeless:
            return True
        if not self.outbox.put_event(frame):
            return False
        self.ready.set()
        return True


class IndexerServer:
    """The indexer WebSocket of one simulator, bound to 127.0.0.1.

    ``push_interval`` is the least time between two rounds of pushes (0: push as soon as the
    engine's current burst of changes is over); the changes within one round are coalesced,
    so it also caps the message rate per subscription. ``max_events`` bounds each client's
    queue of event and error frames: a client that falls that far behind is closed (1008).
    """

    #: How often the fault controls are looked at when nothing else happens.
    POLL_INTERVAL = 0.02
    #: Most events kept for stalled topics (oldest dropped first).
    MAX_HELD_EVENTS = 10_000

    def __init__(
        self,
        engine: IndexerEngine,
        faults: Faults | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        push_interval: float = 0.0,
        max_events: int = 1000,
        max_subscriptions: int = 1000,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        close_timeout: float = 2.0,
    ) -> None:
        if push_interval < 0:
            raise ValidationError("push_interval", "must be >= 0 seconds", push_interval)
        if max_events < 1:
            raise ValidationError("max_events", "must be >= 1", max_events)
        self.engine = engine
        self.faults = faults if faults is not None else Faults()
        self.host = host
        self.requested_port = port
        self.push_interval = push_interval
        self.max_events = max_events
        self.max_subscriptions = max_subscriptions
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._close_timeout = close_timeout
        self._server: Server | None = None
        self._publisher: asyncio.Task[None] | None = None
        self._remove_listener: Callable[[], None] | None = None
        self._clients: set[_Client] = set()
        self._subscribers: dict[Slot, set[_Client]] = {}
        self._dirty: set[Slot] = set()
        self._events: deque[tuple[Slot, Record]] = deque(maxlen=self.MAX_HELD_EVENTS)
        self._last_best: dict[str, tuple[str | None, str | None]] = {}
        self._wake = asyncio.Event()
        self._closers: set[asyncio.Task[None]] = set()
        self._drop_generation = self.faults.drop_generation
        #: Counters for tests and benchmarks.
        self.stats = {"connections": 0, "pushes": 0, "errors": 0, "slow_closed": 0, "dropped": 0}

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port it is bound to.

        :raises RuntimeError: if it is not running
        """
        if self._server is None:
            raise RuntimeError("the indexer server is not running")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        """``ws://host:port/ws/``, what ``KanaClient(ws_url=...)`` takes.

        :raises RuntimeError: if it is not running
        """
        return f"ws://{_url_host(self.host)}:{self.port}/ws/"

    @property
    def clients(self) -> int:
        """How many connections are open now."""
        return len(self._clients)

    def subscribers(self, topic: str, key: str | None = None) -> int:
        """How many connections are subscribed to ``topic`` for ``key`` (a profile address or
        a market id as text): a test waits for this instead of sleeping."""
        return len(self._subscribers.get((topic, key), ()))

    async def start(self) -> None:
        """Bind ``host:port`` (0: an ephemeral port) and start pushing the engine's changes; a
        second call does nothing.

        :raises OSError: if the port cannot be bound
        """
        if self._server is not None:
            return
        self._drop_generation = self.faults.drop_generation
        self._server = await serve(
            self._handle,
            self.host,
            self.requested_port,
            process_request=self._check_handshake,
            compression=None,
            ping_interval=self._ping_interval,
            ping_timeout=self._ping_timeout,
            close_timeout=self._close_timeout,
            max_size=2**16,
        )
        self._remove_listener = self.engine.add_listener(self._on_change)
        self._publisher = asyncio.create_task(self._publish_loop(), name="kana-sim-ws-publisher")

    async def stop(self) -> None:
        """Close every connection and the listening socket; safe to call twice.

        :raises asyncio.CancelledError: only if the task awaiting it is cancelled; stopping
           never fails otherwise
        """
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        if self._publisher is not None:
            await cancel_and_wait(self._publisher)
            self._publisher = None
        if self._server is not None:
            server, self._server = self._server, None
            server.close()
            await server.wait_closed()
        if self._closers:
            await asyncio.gather(*self._closers, return_exceptions=True)

    async def __aenter__(self) -> IndexerServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- connections -------------------------------------------------------------------------

    def _check_handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.faults.refusing:
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "refusing connections\n")
        if urlsplit(request.path).path not in WS_PATHS:
            return connection.respond(HTTPStatus.NOT_FOUND, "the indexer is at /ws/\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        client = _Client(ws, self.max_events)
        self._clients.add(client)
        self.stats["connections"] += 1
        writer = asyncio.create_task(self._write_loop(client), name="kana-sim-ws-writer")
        try:
            async for message in ws:
                self._on_message(client, message)
        except ConnectionClosed:
            pass
        finally:
            self._forget(client)
            await cancel_and_wait(writer)

    async def _write_loop(self, client: _Client) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                frame = client.outbox.pop()
                if frame is None:
                    client.ready.clear()
                    await client.ready.wait()
                    continue
                await client.ws.send(frame, text=True)

    def _forget(self, client: _Client) -> None:
        self._clients.discard(client)
        for slot in client.slots:
            subscribers = self._subscribers.get(slot)
            if subscribers is not None:
                subscribers.discard(client)
                if not subscribers:
                    del self._subscribers[slot]
        client.slots.clear()
        client.outbox.clear()

    def _give_up_on(self, client: _Client) -> None:
        """Close a client whose event queue overflowed; it would only fall further behind."""
        client.hopeless = True
        client.outbox.clear()
        self.stats["slow_closed"] += 1
        logger.info("closing a slow indexer client (%d events pending)", self.max_events)
        task = asyncio.get_running_loop().create_task(
            client.ws.close(1008, "slow consumer: outgoing queue full")
        )
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)

    def _drop_all(self) -> None:
        for client in list(self._clients):
            client.ws.transport.abort()
            self.stats["dropped"] += 1

    # -- requests ----------------------------------------------------------------------------

    def _on_message(self, client: _Client, message: str | bytes) -> None:
        try:
            request = parse_request(message, self.engine.markets)
        except RequestError as exc:
            self._send_error(client, str(exc))
            return
        slot = request.slot
        if request.unsubscribe:
            client.slots.discard(slot)
            subscribers = self._subscribers.get(slot)
            if subscribers is not None:
                subscribers.discard(client)
                if not subscribers:
                    del self._subscribers[slot]
            return
        if slot not in client.slots and len(client.slots) >= self.max_subscriptions:
            self._send_error(
                client, f"too many subscriptions on one connection (max {self.max_subscriptions})"
            )
            return
        client.slots.add(slot)
        self._subscribers.setdefault(slot, set()).add(client)
        if request.topic in EVENT_TOPICS:
            return
        if request.topic in self.faults.stalled_topics:
            self._dirty.add(slot)  # sent when the topic resumes
            if request.topic == "best_price":
                self._last_best.pop(slot[1] or "", None)
            return
        try:
            data = snapshot(self.engine, *slot)
        except Exception:
            logger.exception("indexer snapshot of %s failed", request.topic)
            self._send_error(client, f"internal error reading {request.topic}; try again")
            return
        client.offer_snapshot(slot, self._encode(request.topic, data))

    def _send_error(self, client: _Client, text: str) -> None:
        self.stats["errors"] += 1
        if not client.offer_event(encode_error(text)):
            self._give_up_on(client)

    def _encode(self, topic: str, data: object) -> bytes:
        self.stats["pushes"] += 1
        return encode_frame(topic, data, self.faults.take_frame_fault())

    # -- engine changes and pushes -----------------------------------------------------------

    def _on_change(self, change: ChangeLike) -> None:
        """Engine listener: only bookkeeping here, never I/O, so the engine never waits."""
        slot = (change.topic, change.key)
        if change.topic in EVENT_TOPICS:
            # Only a change somebody subscribed to is formatted (``record`` is lazy).
            if slot in self._subscribers and change.record is not None:
                self._events.append((slot, change.record))
                self._wake.set()
            return
        if slot in self._subscribers:
            self._dirty.add(slot)
            self._wake.set()
        if change.topic == "orderbook" and ("best_price", change.key) in self._subscribers:
            self._dirty.add(("best_price", change.key))
            self._wake.set()

    async def _publish_loop(self) -> None:
        loop = asyncio.get_running_loop()
        last_round = 0.0
        while True:
            tick = loop.call_later(self.POLL_INTERVAL, self._wake.set)
            await self._wake.wait()
            tick.cancel()
            self._wake.clear()
            if self.faults.drop_generation != self._drop_generation:
                self._drop_generation = self.faults.drop_generation
                self._drop_all()
            if not (self._dirty or self._events):
                continue
            wait = last_round + self.push_interval - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            last_round = loop.time()
            try:
                self.publish()
            except Exception:  # a bug in one view must not end every push
                logger.exception("indexer push round failed")

    def publish(self) -> None:
        """Push every pending change to its subscribers (topics that are stalled wait)."""
        stalled = self.faults.stalled_topics
        dirty, self._dirty = self._dirty, set()
        for slot in dirty:
            topic, key = slot
            if topic in stalled:
                self._dirty.add(slot)
                continue
            subscribers = self._subscribers.get(slot)
            if not subscribers:
                continue
            try:
                data = snapshot(self.engine, topic, key)
            except Exception:
                logger.exception("indexer snapshot of %s failed", topic)
                continue
            if topic == "best_price" and key is not None:
                top = (data[0]["best_bid_price"], data[0]["best_ask_price"])
                if self._last_best.get(key) == top:
                    continue
                self._last_best[key] = top
            frame = self._encode(topic, data)
            for client in subscribers:
                client.offer_snapshot(slot, frame)
        held: list[tuple[Slot, Record]] = []
        while self._events:
            slot, record = self._events.popleft()
            if slot[0] in stalled:
                held.append((slot, record))
                continue
            subscribers = self._subscribers.get(slot)
            if not subscribers:
                continue
            frame = self._encode(slot[0], record)
            for client in list(subscribers):
                if not client.offer_event(frame):
                    self._give_up_on(client)
        self._events.extend(held)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
