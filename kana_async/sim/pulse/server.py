"""The simulated Pulse v2 gateway on 127.0.0.1: WebSocket ``/ws/api/v2`` and HTTP
``/api/v2/{public|private}/{method}``, served with aiohttp.

A thin asyncio layer: frames are parsed by :mod:`.frames`, calls served by
:class:`~.gateway.Gateway`, notifications built by :mod:`.channels` and :mod:`.views`, faults
scripted by :class:`~.faults.PulseFaults`. What this module adds is time and sockets:

- each WebSocket has a bounded outgoing queue drained by one writer task; a client that stops
  reading is disconnected (the queue never grows past ``queue_size`` frames or ``queue_bytes``);
- one push task wakes every ``push_interval``: it reads the engine's new events and book states,
  fans notifications out to the connections subscribed to them, sends heartbeats and closes the
  connections whose ``test_request`` went unanswered;
- when a WebSocket ends for any reason but ``logout`` (client close, drop, heartbeat failure,
  slow consumer, shutdown), cancel-on-disconnect cancels the orders it placed, if enabled.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from ..._tasks import cancel_and_wait
from . import frames, views
from .config import PulseConfig
from .errors import Code, PulseError
from .faults import FaultEvent, PulseFaults
from .gateway import Gateway, Session
from .methods import coerce_query, lookup
from .push import Pusher

if TYPE_CHECKING:
    from .auth import Authenticator
    from .engine import PulseEngine

__all__ = ["PulseConfig", "PulseServer"]

logger = logging.getLogger(__name__)

WS_PATH = "/ws/api/v2"
HTTP_PREFIX = "/api/v2"
#: Seconds a connection gets to finish closing (close handshake) before it is aborted.
CLOSE_GRACE = 1.0
#: Seconds aiohttp waits for running HTTP handlers when the server stops.
SHUTDOWN_TIMEOUT = 0.5
#: WebSocket close codes: normal (logout), going away (shutdown), policy (heartbeat failure).
CLOSE_LOGOUT, CLOSE_SHUTDOWN, CLOSE_HEARTBEAT = 1000, 1001, 1008


class Connection:
    """One WebSocket: its session, its bounded outgoing queue and its timers."""

    def __init__(self, session: Session, ws: web.WebSocketResponse,
                 transport: asyncio.BaseTransport | None, config: PulseConfig) -> None:
        self.session = session
        self.ws = ws
        self.transport = transport
        self.queue: deque[bytes] = deque()
        self.queued_bytes = 0
        self.max_frames = config.queue_size
        self.max_bytes = config.queue_bytes
        self.ready = asyncio.Event()
        self.indexed: set[str] = set()            # channel names in the server's index
        self.shuffled: list[bytes] = []
        self.shuffle_since = 0.0
        self.heartbeat: int | None = None         # the interval the timers were set for
        self.next_beat: float | None = None
        self.test_deadline: float | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        self.close_by: float | None = None

    def offer(self, frame: bytes) -> bool:
        """Queue ``frame``; False when the queue is full (the caller disconnects the client)."""
        if self.close_code is not None:
            return True  # closing: nothing more goes out, and that is no overflow
        if len(self.queue) >= self.max_frames or self.queued_bytes + len(frame) > self.max_bytes:
            return False
        self.queue.append(frame)
        self.queued_bytes += len(frame)
        self.ready.set()
        return True

    def take(self) -> bytes:
        frame = self.queue.popleft()
        self.queued_bytes -= len(frame)
        return frame


class PulseServer:
    """The Pulse v2 gateway of one simulator (``sim.pulse``): ``engine``, ``auth``, ``faults``.

    ``start()`` binds ``host:port`` (0: ephemeral); ``stop()`` closes every connection and task.
    ``async with PulseServer(PulseEngine(...), Authenticator(time.time)) as gateway:`` runs one
    on its own. ``stats`` counts connections, requests, errors and what the faults did.
    """

    def __init__(self, engine: PulseEngine, auth: Authenticator,
                 faults: PulseFaults | None = None, config: PulseConfig | None = None, *,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.engine = engine
        self.auth = auth
        self.faults = faults if faults is not None else PulseFaults()
        self.config = config if config is not None else PulseConfig()
        self.gateway = Gateway(engine, auth, strict=self.config.strict,
                               ws_only_over_http=self.config.ws_only_over_http)
        self.host = host
        self.requested_port = port
        self.connections: set[Connection] = set()
        self.pusher = Pusher(engine, self.config, self._offer_notification)
        #: Counters for tests, benchmarks and the docs.
        self.stats = {"connections": 0, "requests": 0, "errors": 0, "http_requests": 0,
                      "slow_closed": 0, "dropped": 0, "heartbeat_closed": 0,
                      "cod_cancelled": 0, "refused": 0, "stalled_notifications": 0}
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._push_task: asyncio.Task[None] | None = None
        self._writers: set[asyncio.Task[None]] = set()
        self._held: list[tuple[float, Connection, bytes]] = []
        self._held_http: list[tuple[float, asyncio.Future[None]]] = []
        self._unstalled: asyncio.Event | None = None
        self._remove_listener: Callable[[], None] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether it is bound (between :meth:`start` and :meth:`stop`)."""
        return self._runner is not None

    @property
    def port(self) -> int:
        """The port it is bound to.

        :raises RuntimeError: if it is not running
        """
        if self._port is None:
            raise RuntimeError("the Pulse gateway is not running")
        return self._port

    @property
    def ws_url(self) -> str:
        """``ws://host:port/ws/api/v2``, what ``PulseClient(ws_url)`` takes.

        :raises RuntimeError: if it is not running
        """
        return f"ws://{_url_host(self.host)}:{self.port}{WS_PATH}"

    @property
    def http_url(self) -> str:
        """``http://host:port/api/v2``, what ``PulseClient(http_url=...)`` takes.

        :raises RuntimeError: if it is not running
        """
        return f"http://{_url_host(self.host)}:{self.port}{HTTP_PREFIX}"

    def subscribers(self, channel: str) -> int:
        """How many connections hold ``channel`` (a test waits for this instead of sleeping)."""
        return self.pusher.subscribers(channel)

    def app(self) -> web.Application:
        """A new aiohttp application with the gateway's WebSocket and HTTP routes, what
        :meth:`start` serves (the push task is :meth:`start`'s own)."""
        app = web.Application(client_max_size=self.config.max_frame)
        app.router.add_get(WS_PATH, self._ws_handler)
        app.router.add_get(WS_PATH + "/", self._ws_handler)
        route = HTTP_PREFIX + "/{scope:public|private}/{method}"
        app.router.add_get(route, self._http_handler)
        app.router.add_post(route, self._http_handler)
        return app

    async def start(self) -> None:
        """Bind ``host:port`` and start pushing notifications; a second call does nothing.

        :raises OSError: if the port cannot be bound; nothing stays open
        """
        if self._runner is not None:
            return
        self._unstalled = asyncio.Event()
        if not self.faults.stalled:
            self._unstalled.set()
        runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.requested_port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        self.pusher.start()
        self._remove_listener = self.faults.add_listener(self._on_fault)
        self._push_task = asyncio.create_task(self._push_loop(), name="kana-sim-pulse-push")

    async def stop(self) -> None:
        """Close every connection (cancel-on-disconnect fires for the sessions that turned it
        on), task and socket; safe to call twice.

        :raises asyncio.CancelledError: only if the task awaiting it is cancelled; stopping
           never fails otherwise
        """
        runner, self._runner = self._runner, None
        if runner is None:
            return
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        await cancel_and_wait(self._push_task)
        self._push_task = None
        self._release_all()
        if self._unstalled is not None:
            self._unstalled.set()
        for conn in list(self.connections):
            self._close(conn, CLOSE_SHUTDOWN, "server shutting down")
        for _ in range(50):
            if not self.connections:
                break
            await asyncio.sleep(0.01)
        for conn in list(self.connections):
            _abort(conn)
        await runner.cleanup()
        if self._writers:
            await cancel_and_wait(*self._writers)
        self._port = None

    async def __aenter__(self) -> PulseServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- WebSocket -------------------------------------------------------------------------

    async def _ws_handler(self, request: web.Request) -> web.StreamResponse:
        if self.faults.refusing:
            self.stats["refused"] += 1
            return _unavailable("refusing connections (fault injection)")
        if len(self.connections) >= self.config.max_connections:
            self.stats["refused"] += 1
            return _unavailable(f"at most {self.config.max_connections} connections")
        ws = web.WebSocketResponse(autoping=False, max_msg_size=16 * self.config.max_frame,
                                   compress=False, timeout=CLOSE_GRACE)
        await ws.prepare(request)
        conn = Connection(Session(transport="ws"), ws, request.transport, self.config)
        self.connections.add(conn)
        self.stats["connections"] += 1
        writer = asyncio.create_task(self._write_loop(conn), name="kana-sim-pulse-writer")
        self._writers.add(writer)
        writer.add_done_callback(self._writers.discard)
        try:
            async for message in ws:
                if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    try:
                        self._on_frame(conn, message.data)
                    except Exception:  # a bug in one call must not end the connection
                        logger.exception("Pulse frame handling failed")
                elif message.type == WSMsgType.PING and not self.faults.stalled:
                    await ws.pong(message.data)
                elif message.type == WSMsgType.ERROR:
                    break
        except (ConnectionError, asyncio.TimeoutError):
            pass
        finally:
            self._disconnected(conn)
            await cancel_and_wait(writer)
        return ws

    async def _write_loop(self, conn: Connection) -> None:
        """Drains the queue while not stalled; closes the socket when asked to."""
        try:
            while True:
                if not self.faults.stalled:
                    if conn.queue:
                        await conn.ws.send_frame(conn.take(), WSMsgType.TEXT)
                        continue
                    if conn.close_code is not None:
                        await conn.ws.close(code=conn.close_code,
                                            message=conn.close_reason.encode())
                        return
                conn.ready.clear()
                await conn.ready.wait()
        except (ConnectionError, RuntimeError):
            _abort(conn)

    def _disconnected(self, conn: Connection) -> None:
        """The socket is gone: forget it, and cancel its orders if the session asked for it."""
        self.connections.discard(conn)
        self.pusher.forget(conn)
        conn.queue.clear()
        conn.shuffled.clear()
        session = conn.session
        if session.cancel_on_disconnect and session.client_id is not None and not (
            session.logged_out
        ):
            try:
                cancelled = self.engine.cancel_by_origin(session.client_id,
                                                         session.connection_id)
            except Exception:
                logger.exception("cancel-on-disconnect failed for %s", session.connection_id)
            else:
                self.stats["cod_cancelled"] += len(cancelled)

    def _on_frame(self, conn: Connection, data: str | bytes) -> None:
        us_in = time.time_ns() // 1000
        self.stats["requests"] += 1
        try:
            request = frames.parse_request(data, max_bytes=self.config.max_frame,
                                           max_depth=self.config.max_depth)
        except frames.FrameError as exc:
            self.stats["errors"] += 1
            self._reply(conn, views.encode(frames.error_reply(exc.request_id, exc.error)))
            return
        name = request.method.lstrip("/")
        if name == "public/test":
            conn.test_deadline = None  # the answer to a test_request (whatever it returns)
        subscribing = name.endswith(("/subscribe", "/unsubscribe_all"))
        try:
            result = self.gateway.handle(conn.session, request.method, request.params)
            if subscribing:
                self.pusher.subscribed(conn)
            encoded = views.encode(frames.reply(request.id, result, us_in=us_in,
                                                us_out=time.time_ns() // 1000))
        except PulseError as exc:
            self.stats["errors"] += 1
            self._reply(conn, views.encode(frames.error_reply(request.id, exc)))
            return
        except Exception:
            logger.exception("Pulse method %s failed", name[:80])
            self.stats["errors"] += 1
            error = PulseError(Code.ERROR, "internal error of the simulator (logged)")
            self._reply(conn, views.encode(frames.error_reply(request.id, error)))
            return
        self._reply(conn, encoded)
        if subscribing:
            try:
                self.pusher.welcome(conn)
            except Exception:
                logger.exception("first notifications of %s failed", name[:80])
        if conn.session.logged_out:
            self._close(conn, CLOSE_LOGOUT, "logged out", flush=True)

    def _reply(self, conn: Connection, encoded: bytes) -> None:
        """Send one reply through the reply faults (stray errors, hold, shuffle)."""
        stray = self.faults.take_stray_error()
        if stray is not None:
            error = PulseError(Code.ERROR, "an error no request caused (fault injection)")
            self._offer(conn, views.encode(frames.error_reply(None, error,
                                                              with_id=stray == "null_id")))
        release_at = self.faults.take_hold()
        if release_at is not None:
            self._held.append((release_at, conn, encoded))
        elif self.faults.shuffle_window > 1:
            if not conn.shuffled:
                conn.shuffle_since = self.faults.clock()
            conn.shuffled.append(encoded)
            if len(conn.shuffled) >= self.faults.shuffle_window:
                self._flush_shuffled(conn)
        else:
            self._offer(conn, encoded)

    def _flush_shuffled(self, conn: Connection) -> None:
        batch, conn.shuffled = conn.shuffled, []
        self.faults.rng.shuffle(batch)
        for frame in batch:
            self._offer(conn, frame)

    def _offer(self, conn: Connection, frame: bytes) -> None:
        if not conn.offer(frame):
            self.stats["slow_closed"] += 1
            logger.info("closing a slow Pulse client (%d frames pending)", len(conn.queue))
            _abort(conn)

    def _offer_notification(self, conn: Connection, frame: bytes) -> None:
        if self.faults.stalled:
            self.stats["stalled_notifications"] += 1
            return
        self._offer(conn, frame)

    def _close(self, conn: Connection, code: int, reason: str, *, flush: bool = False) -> None:
        """Close ``conn`` with a close frame (after its queue, if ``flush``), or abort it
        after :data:`CLOSE_GRACE` seconds."""
        if conn.close_code is not None:
            return
        if not flush:
            conn.queue.clear()
            conn.queued_bytes = 0
        conn.close_code, conn.close_reason = code, reason
        conn.close_by = time.monotonic() + CLOSE_GRACE
        conn.ready.set()

    # -- HTTP ------------------------------------------------------------------------------

    async def _http_handler(self, request: web.Request) -> web.StreamResponse:
        us_in = time.time_ns() // 1000
        self.stats["http_requests"] += 1
        if self.faults.refusing:
            self.stats["refused"] += 1
            return _unavailable("refusing connections (fault injection)")
        method = f"{request.match_info['scope']}/{request.match_info['method']}"
        request_id: frames.RequestId = None
        try:
            request_id, params = await self._http_params(request, method)
            session = Session(transport="http", token=_bearer(request))
            result = self.gateway.handle(session, method, params)
            if self.config.http_wrapped:
                result = frames.reply(request_id, result, us_in=us_in,
                                      us_out=time.time_ns() // 1000)
            body = views.encode(result)
        except PulseError as exc:
            self.stats["errors"] += 1
            await self._http_faults()
            return _json(frames.error_reply(request_id, exc) if self.config.http_rpc_errors
                         else exc.http_body(), status=400)
        except Exception:
            logger.exception("Pulse method %s failed over HTTP", method[:80])
            self.stats["errors"] += 1
            error = PulseError(Code.ERROR, "internal error of the simulator (logged)")
            return _json(error.http_body(), status=400)
        await self._http_faults()
        return web.Response(body=body, content_type="application/json")

    async def _http_params(self, request: web.Request,
                           method: str) -> tuple[frames.RequestId, dict[str, Any]]:
        """The call's id (from an envelope) and params: the query string's, then the body's
        (an envelope's ``params`` or a bare params object)."""
        spec = lookup(method)
        query: dict[str, Any] = {}
        for key in request.query:
            if key not in query:
                values = request.query.getall(key)
                query[key] = values[0] if len(values) == 1 else values
        params = coerce_query(spec, query)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise PulseError(Code.REQUEST_TOO_LARGE, f"a request body may hold at most "
                             f"{self.config.max_frame} bytes") from None
        if not body.strip():
            return None, params
        value = frames.decode_json(body, max_depth=self.config.max_depth)
        if not isinstance(value, dict):
            raise PulseError(Code.BAD_REQUEST, "the body must be a JSON object (a JSON-RPC "
                             "envelope or the params)")
        if "jsonrpc" in value or "params" in value:
            try:
                envelope = frames.request_of({**value, "method": method})
            except frames.FrameError as exc:
                raise exc.error from None
            params.update(envelope.params)
            return envelope.id, params
        params.update(value)
        return None, params

    async def _http_faults(self) -> None:
        """A stalled gateway answers nothing until unstalled; a held reply waits."""
        if self._unstalled is not None:
            await self._unstalled.wait()
        release_at = self.faults.take_hold()
        if release_at is not None:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._held_http.append((release_at, waiter))
            await waiter

    # -- faults and the push loop ----------------------------------------------------------

    def _on_fault(self, event: FaultEvent) -> None:
        if event == "drop":
            for conn in list(self.connections):
                self.stats["dropped"] += 1
                _abort(conn)
        elif event == "revoke":
            self.auth.revoke_all()
        elif event == "release":
            self._release_all()
        elif event == "stall" and self._unstalled is not None:
            self._unstalled.clear()
        elif event == "unstall":
            if self._unstalled is not None:
                self._unstalled.set()
            now = time.monotonic()
            for conn in self.connections:
                if conn.test_deadline is not None:
                    conn.test_deadline = now + self._period(conn)
                conn.ready.set()

    def _release_all(self) -> None:
        self._release(math.inf)

    def _release(self, now: float) -> None:
        """Send the held replies due by ``now`` (every one for ``math.inf``)."""
        if self._held:
            due = [h for h in self._held if h[0] <= now or now == math.inf]
            self._held = [h for h in self._held if not (h[0] <= now or now == math.inf)]
            for _, conn, frame in due:
                if conn in self.connections:
                    self._offer(conn, frame)
        if self._held_http:
            keep = []
            for release_at, waiter in self._held_http:
                if release_at <= now or now == math.inf:
                    if not waiter.done():
                        waiter.set_result(None)
                else:
                    keep.append((release_at, waiter))
            self._held_http = keep

    async def _push_loop(self) -> None:
        failures = 0
        while True:
            await asyncio.sleep(self.config.push_interval)
            try:
                self.push()
            except Exception:
                failures += 1
                if failures <= 3:
                    logger.exception("Pulse push round failed")

    def push(self) -> None:
        """One round: notifications, heartbeats, timed faults and overdue closes."""
        now = time.monotonic()
        if not self.faults.stalled:
            self._release(self.faults.clock())
            self._heartbeats(now)
        for conn in list(self.connections):
            if conn.shuffled and self.faults.clock() - conn.shuffle_since >= (
                self.faults.shuffle_flush
            ):
                self._flush_shuffled(conn)
            if conn.close_by is not None and now >= conn.close_by:
                _abort(conn)
        for name in list(self.faults.gaps):
            if self.pusher.has_book(name) and self.faults.take_gap(name):
                self.pusher.skip(name)
        self.pusher.push()

    def _period(self, conn: Connection) -> float:
        return (conn.heartbeat or 0) * self.config.heartbeat_unit

    def _heartbeats(self, now: float) -> None:
        for conn in list(self.connections):
            interval = conn.session.heartbeat_interval
            if interval != conn.heartbeat:
                conn.heartbeat = interval
                conn.test_deadline = None
                conn.next_beat = None if interval is None else now + self._period(conn)
            if conn.close_code is not None or conn.heartbeat is None:
                continue
            if conn.test_deadline is not None and now >= conn.test_deadline:
                self.stats["heartbeat_closed"] += 1
                self._close(conn, CLOSE_HEARTBEAT, "heartbeat failure: no public/test after a "
                            "test_request")
                continue
            if conn.next_beat is not None and now >= conn.next_beat:
                period = self._period(conn)
                self._offer(conn, views.encode(frames.heartbeat("heartbeat")))
                self._offer(conn, views.encode(frames.heartbeat("test_request")))
                if conn.test_deadline is None:
                    conn.test_deadline = now + period
                conn.next_beat = now + period


def _abort(conn: Connection) -> None:
    """Cut the TCP connection now (no close frame)."""
    conn.queue.clear()
    conn.queued_bytes = 0
    if conn.close_code is None:
        conn.close_code, conn.close_reason = 1006, "aborted"
    transport = conn.transport
    if isinstance(transport, asyncio.Transport) and not transport.is_closing():
        transport.abort()
    conn.ready.set()


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(body=views.encode(body), status=status,
                        content_type="application/json")


def _unavailable(reason: str) -> web.Response:
    return _json({"description": reason, "response": None, "status": 503}, status=503)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host

