"""A fault-injecting proxy for loopback: put it between a bot and the simulator (or any local
server) to see what the bot does when the network between them misbehaves.

``async with FaultProxy(sim.node_url) as proxy:`` listens on 127.0.0.1 and forwards to the
target; point the client at ``proxy.url`` instead of the target's URL. HTTP requests are
forwarded as they are, except where a rule (:meth:`FaultProxy.add_rule`) fires:

- ``status_after``: forward (the upstream executes the request), then answer ``status``
  (503, 429, 500, ...) instead of the upstream's answer: what a load balancer does when the
  backend answers too late; for an order, the case where "an error" does not mean "not done";
- ``status_before``: answer ``status`` without forwarding;
- ``delay``: wait ``delay`` seconds, then forward;
- ``huge_body``: forward, then answer the upstream's body preceded by ``size`` bytes of JSON
  whitespace (still valid JSON: only a size bound can refuse it);
- ``truncate``: forward, then send the upstream's headers (its full ``Content-Length``) and
  only a ``keep`` fraction of its body, and drop the connection;
- ``redirect``: answer ``307`` with ``Location`` on another origin (``location``, e.g.
  ``http://127.0.0.2:9`` or a plain ``http://`` URL in front of an ``https`` target).

A rule fires on requests whose path starts with ``path_prefix`` (and whose method is
``method``, if given), on every ``every``-th match, with ``probability``, at most ``count``
times; the first rule that fires wins. ``rule.matched`` and ``rule.fired`` count.

WebSocket upgrades are relayed frame by frame, and the relay can be made to fail:
:meth:`~FaultProxy.drop_websockets` (abort the TCP connection, no close frame),
:meth:`~FaultProxy.stall` (stop relaying in both directions, keep the TCP connection open,
optionally still answering the client's pings, optionally pinging the client),
:meth:`~FaultProxy.inject` (send any frame, e.g. invalid UTF-8, to the clients) and
:meth:`~FaultProxy.trickle` (start a frame and never finish it: a header announcing
``declared`` bytes, then a few bytes at a time).

Everything is bounded: request bodies, frames, relayed connections, rules, injected sizes and
delays. The proxy only listens on the loopback interface. ``ssl_context`` makes it serve TLS
(https/wss), e.g. with a self-signed certificate in front of the plain-text simulator.

One module on purpose (~670 lines): the HTTP rules and the WebSocket relay share one listener,
one upstream session, one set of bounds and one stall state, and a reader of one needs the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import ssl
import time
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from .._tasks import cancel_and_wait, timeout
from ..errors import ValidationError
from .server import check_loopback

__all__ = ["FaultProxy", "HttpFault", "HttpRule", "ProxyStats", "WsConnection"]

logger = logging.getLogger(__name__)

HttpFault = Literal["status_after", "status_before", "delay", "huge_body", "truncate", "redirect"]
_FAULTS = ("status_after", "status_before", "delay", "huge_body", "truncate", "redirect")

#: Bounds of what one rule may ask for.
MAX_RULES = 64
MAX_DELAY = 3600.0
MAX_HUGE_BODY = 1 << 30
#: Headers that belong to one hop, never forwarded (RFC 9110 §7.6.1), plus those recomputed.
_HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "trailers", "transfer-encoding", "upgrade", "host", "content-length",
})
_CHUNK = 64 * 1024
#: Closed WebSocket relays remembered in :attr:`FaultProxy.connections`.
_HISTORY = 1000


@dataclass
class HttpRule:
    """One HTTP fault and when it fires (see the module docstring)."""

    fault: HttpFault
    path_prefix: str = "/"
    method: str | None = None
    probability: float = 1.0
    every: int = 1
    count: int | None = None
    #: ``status_after`` / ``status_before``: the status answered (0: 503);
    #: ``redirect``: 301-308 (0: 307).
    status: int = 0
    #: ``Retry-After`` seconds sent with the injected status (none if ``None``).
    retry_after: float | None = None
    delay: float = 0.0
    size: int = 16 * 1024 * 1024
    keep: float = 0.5
    location: str = ""
    #: Requests that matched path and method.
    matched: int = 0
    #: Times the fault was applied.
    fired: int = 0

    def __post_init__(self) -> None:
        if self.fault not in _FAULTS:
            raise ValidationError("fault", f"must be one of {', '.join(_FAULTS)}", self.fault)
        if not isinstance(self.path_prefix, str) or not self.path_prefix.startswith("/"):
            raise ValidationError("path_prefix", "must be a path starting with /",
                                  self.path_prefix)
        if self.method is not None:
            self.method = self.method.upper()
        if not 0 < self.probability <= 1:
            raise ValidationError("probability", "must be > 0 and <= 1", self.probability)
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise ValidationError("every", "must be an int >= 1", self.every)
        if self.count is not None and (isinstance(self.count, bool) or self.count < 0):
            raise ValidationError("count", "must be None or an int >= 0", self.count)
        low, high = (300, 308) if self.fault == "redirect" else (400, 599)
        if self.status == 0:
            self.status = 307 if self.fault == "redirect" else 503
        if not low <= self.status <= high:
            raise ValidationError("status", f"must be from {low} to {high} for {self.fault}",
                                  self.status)
        if self.retry_after is not None and not 0 <= self.retry_after <= MAX_DELAY:
            raise ValidationError("retry_after", f"must be from 0 to {MAX_DELAY:g} s",
                                  self.retry_after)
        if not (math.isfinite(self.delay) and 0 <= self.delay <= MAX_DELAY):
            raise ValidationError("delay", f"must be from 0 to {MAX_DELAY:g} s", self.delay)
        if not 0 <= self.size <= MAX_HUGE_BODY:
            raise ValidationError("size", f"must be from 0 to {MAX_HUGE_BODY} bytes", self.size)
        if not 0 <= self.keep < 1:
            raise ValidationError("keep", "must be >= 0 and < 1 (a fraction of the body)",
                                  self.keep)
        if self.fault == "redirect" and not self.location.startswith(("http://", "https://")):
            raise ValidationError("location", "a redirect needs an http:// or https:// origin",
                                  self.location)

    def take(self, method: str, path: str, rng: random.Random) -> bool:
        """Whether this rule fires for this request (counts it either way)."""
        if not path.startswith(self.path_prefix):
            return False
        if self.method is not None and method != self.method:
            return False
        self.matched += 1
        if self.count is not None and self.fired >= self.count:
            return False
        if self.matched % self.every:
            return False
        if self.probability < 1 and rng.random() >= self.probability:
            return False
        self.fired += 1
        return True


@dataclass
class WsConnection:
    """One relayed WebSocket connection, as the proxy saw it."""

    path: str
    opened_at: float
    closed_at: float | None = None
    #: ``client``, ``upstream``, ``dropped`` (by the proxy) or ``proxy closed``.
    ended_by: str | None = None
    frames_down: int = 0
    frames_up: int = 0
    #: Frames discarded because the relay was stalled (either direction).
    discarded: int = 0
    pings_answered: int = 0
    pings_ignored: int = 0
    #: Pings the proxy sent the client while stalled (``stall(ping_interval=...)``).
    pings_sent: int = 0
    stalled_at: float | None = None


@dataclass
class ProxyStats:
    """Counters since the proxy started."""

    requests: int = 0
    forwarded: int = 0
    faults: int = 0
    upstream_errors: int = 0
    #: Faulty answers the client stopped reading before their end (it closed the socket).
    client_gone: int = 0
    websockets: int = 0
    refused_websockets: int = 0
    injected: int = 0


class _Relay:
    __slots__ = ("answer_pings", "client", "info", "lock", "pinger", "stalled", "transport",
                 "trickling", "upstream")

    def __init__(self, client: web.WebSocketResponse,
                 upstream: aiohttp.ClientWebSocketResponse[Any], transport: asyncio.Transport,
                 info: WsConnection) -> None:
        self.client = client
        self.upstream = upstream
        self.transport = transport
        self.info = info
        self.lock = asyncio.Lock()
        self.stalled = False
        self.answer_pings = True
        self.trickling = False
        #: Pings the stalled relay sends the client (see :meth:`FaultProxy.stall`).
        self.pinger: asyncio.Task[None] | None = None


@dataclass
class _Server:
    runner: web.AppRunner
    session: aiohttp.ClientSession
    port: int
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class FaultProxy:
    """Forwards HTTP and relays WebSocket connections to ``target``, injecting faults.

    ``target`` is the upstream URL (``http(s)://`` or ``ws(s)://``, with a path or not);
    :attr:`url` is the same URL with the proxy's origin. ``seed`` drives ``probability``.
    ``ssl_context`` makes the proxy serve TLS; ``upstream_ssl`` is passed to aiohttp for an
    ``https``/``wss`` target. ``max_body`` bounds request and upstream bodies and
    ``max_frame`` relayed frames, in bytes; ``max_websockets`` bounds relayed connections.
    """

    def __init__(
        self,
        target: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        upstream_ssl: ssl.SSLContext | bool = True,
        max_body: int = 8 * 1024 * 1024,
        max_frame: int = 16 * 1024 * 1024,
        max_websockets: int = 256,
        upstream_timeout: float = 60.0,
    ) -> None:
        parts = urlsplit(target) if isinstance(target, str) else None
        if parts is None or parts.scheme not in ("http", "https", "ws", "wss") or not parts.netloc:
            raise ValidationError("target", "must be an http(s):// or ws(s):// URL", target)
        check_loopback(parts.hostname or "")
        self.host = check_loopback(host)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValidationError("port", "must be 0 (ephemeral) or a port from 1 to 65535", port)
        for name, value in (("max_body", max_body), ("max_frame", max_frame),
                            ("max_websockets", max_websockets)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValidationError(name, "must be an int >= 1", value)
        if not (math.isfinite(upstream_timeout) and upstream_timeout > 0):
            raise ValidationError("upstream_timeout", "must be > 0 seconds", upstream_timeout)
        secure = parts.scheme in ("https", "wss")
        self._websocket_target = parts.scheme in ("ws", "wss")
        self._upstream_origin = f"{'https' if secure else 'http'}://{parts.netloc}"
        self._upstream_ws_origin = f"{'wss' if secure else 'ws'}://{parts.netloc}"
        self._target_path = parts.path + (f"?{parts.query}" if parts.query else "")
        self.target = target
        self._port = port
        self._rng = random.Random(seed)
        self._ssl_context = ssl_context
        self._upstream_ssl = upstream_ssl
        self._max_body = max_body
        self._max_frame = max_frame
        self._max_websockets = max_websockets
        self._upstream_timeout = aiohttp.ClientTimeout(total=upstream_timeout)
        self.rules: list[HttpRule] = []
        self.stats = ProxyStats()
        #: Relayed WebSocket connections, the open ones and the last closed ones.
        self.connections: deque[WsConnection] = deque(maxlen=_HISTORY)
        self._relays: set[_Relay] = set()
        self._server: _Server | None = None

    # -- addresses -------------------------------------------------------------------------

    @property
    def origin(self) -> str:
        """``scheme://host:port`` of the proxy (the scheme of the target's kind)."""
        if self._server is None:
            raise RuntimeError("the proxy is not running; use 'async with FaultProxy(...)'")
        tls = self._ssl_context is not None
        schemes = ("wss", "ws") if self._websocket_target else ("https", "http")
        scheme = schemes[0] if tls else schemes[1]
        return f"{scheme}://{self.host}:{self._server.port}"

    @property
    def url(self) -> str:
        """The target URL with the proxy's origin: what the client should use."""
        return self.origin + self._target_path

    def __repr__(self) -> str:
        state = self.url if self._server is not None else "stopped"
        return f"<FaultProxy {state} -> {self.target}, {len(self.rules)} rule(s)>"

    # -- HTTP rules ------------------------------------------------------------------------

    def add_rule(self, fault: HttpFault, **options: Any) -> HttpRule:
        """Add an :class:`HttpRule` (keyword arguments are its fields); returns it."""
        if len(self.rules) >= MAX_RULES:
            raise ValidationError("rules", f"at most {MAX_RULES} rules")
        rule = HttpRule(fault, **options)
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule and end any stall (connections already dropped stay dropped)."""
        self.rules.clear()
        self.unstall()

    def _rule_for(self, request: web.Request) -> HttpRule | None:
        for rule in self.rules:
            if rule.take(request.method, request.path, self._rng):
                self.stats.faults += 1
                return rule
        return None

    # -- WebSocket controls ----------------------------------------------------------------

    @property
    def open_websockets(self) -> int:
        return len(self._relays)

    def drop_websockets(self) -> int:
        """Abort every relayed connection's TCP socket (no close frame); returns how many."""
        relays = list(self._relays)
        for relay in relays:
            relay.info.ended_by = relay.info.ended_by or "dropped"
            relay.transport.abort()
        return len(relays)

    def stall(self, *, answer_pings: bool = True, ping_interval: float | None = None) -> int:
        """Stop relaying on every open connection (new ones are relayed normally).

        The TCP connections stay open; frames in both directions are discarded. With
        ``answer_pings`` the client's pings are still answered (a half-dead server that a
        transport heartbeat cannot see); without, they are ignored too. With
        ``ping_interval`` the proxy also pings the client every that many seconds, as a
        server that is alive enough to ping but answers nothing (incoming traffic that an
        idle-timeout heartbeat mistakes for life). Returns how many connections stalled.
        """
        if ping_interval is not None and not (
                math.isfinite(ping_interval) and 0.01 <= ping_interval <= MAX_DELAY):
            raise ValidationError("ping_interval", f"must be from 0.01 to {MAX_DELAY:g} s",
                                  ping_interval)
        now = time.monotonic()
        for relay in self._relays:
            relay.stalled = True
            relay.answer_pings = answer_pings
            relay.info.stalled_at = now
            if ping_interval is not None and relay.pinger is None and self._server is not None:
                task = asyncio.get_running_loop().create_task(
                    self._ping_client(relay, ping_interval), name="fault-proxy pinger")
                relay.pinger = task
                self._server.tasks.add(task)
                task.add_done_callback(self._server.tasks.discard)
        return len(self._relays)

    def unstall(self) -> None:
        """Resume relaying on stalled connections (frames discarded meanwhile are lost)."""
        for relay in self._relays:
            relay.stalled = False
            relay.answer_pings = True
            if relay.pinger is not None:
                relay.pinger.cancel()
                relay.pinger = None

    async def _ping_client(self, relay: _Relay, interval: float) -> None:
        while relay.stalled:
            await asyncio.sleep(interval)
            async with relay.lock:
                if relay.trickling or relay.client.closed:
                    return
                try:
                    await relay.client.ping(b"proxy")
                except (ConnectionError, RuntimeError):
                    return
            relay.info.pings_sent += 1

    async def inject(self, frame: bytes | str, *, binary: bool = False) -> int:
        """Send ``frame`` to every relayed client as one TEXT (or BINARY) frame, as it is:
        ``bytes`` in a TEXT frame need not be valid UTF-8. Returns the clients reached."""
        data = frame.encode("utf-8", "surrogatepass") if isinstance(frame, str) else frame
        if len(data) > self._max_frame:
            raise ValidationError("frame", f"must be at most {self._max_frame} bytes", len(data))
        opcode = aiohttp.WSMsgType.BINARY if binary else aiohttp.WSMsgType.TEXT
        sent = 0
        for relay in list(self._relays):
            async with relay.lock:
                if relay.trickling or relay.client.closed:
                    continue
                try:
                    await relay.client.send_frame(data, opcode)
                except (ConnectionError, RuntimeError):
                    continue
            sent += 1
            self.stats.injected += 1
        return sent

    async def trickle(self, *, declared: int = 4096, send: int = 16, interval: float = 0.05
                      ) -> int:
        """Start a TEXT frame announcing ``declared`` payload bytes on every relayed
        connection, then send ``send`` of them one at a time, ``interval`` seconds apart, and
        nothing more: the connection stays open mid-frame (relaying and pings stop). Returns
        the connections affected."""
        if not 0 <= send < declared <= self._max_frame:
            raise ValidationError("send", f"must be >= 0 and < declared (<= {self._max_frame})",
                                  send)
        if declared < 126:
            header = bytes([0x81, declared])
        elif declared < 1 << 16:
            header = bytes([0x81, 126]) + declared.to_bytes(2, "big")
        else:
            header = bytes([0x81, 127]) + declared.to_bytes(8, "big")
        relays = list(self._relays)
        for relay in relays:
            async with relay.lock:
                relay.trickling = True
                relay.transport.write(header)
        for _ in range(send):
            await asyncio.sleep(interval)
            for relay in relays:
                if not relay.transport.is_closing():
                    relay.transport.write(b"x")
        return len(relays)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind on the loopback interface; idempotent."""
        if self._server is not None:
            return
        app = web.Application(client_max_size=self._max_body)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        session = aiohttp.ClientSession(auto_decompress=False, timeout=self._upstream_timeout)
        try:
            site = web.TCPSite(runner, self.host, self._port, ssl_context=self._ssl_context)
            await site.start()
        except BaseException:
            await session.close()
            await runner.cleanup()
            raise
        port: int = runner.addresses[0][1]
        self._server = _Server(runner, session, port)
        logger.info("fault proxy %s -> %s", self.url, self.target)

    async def close(self) -> None:
        """Drop every relayed connection and stop serving. Safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        for relay in list(self._relays):
            relay.info.ended_by = relay.info.ended_by or "proxy closed"
            relay.transport.abort()
        try:
            await cancel_and_wait(*server.tasks)
            await server.runner.cleanup()
        finally:
            await server.session.close()

    async def __aenter__(self) -> FaultProxy:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # -- HTTP ------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        server = self._server
        if server is None:
            return _answer(503, "the proxy is closing")
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request, server)
        self.stats.requests += 1
        rule = self._rule_for(request)
        if rule is not None and rule.fault == "status_before":
            return _answer(rule.status, "injected before forwarding", rule.retry_after)
        if rule is not None and rule.fault == "redirect":
            location = rule.location.rstrip("/") + request.path_qs
            return web.Response(status=rule.status, headers={"Location": location})
        if rule is not None and rule.fault == "delay":
            await asyncio.sleep(rule.delay)
            if request.transport is None or request.transport.is_closing():
                return _answer(504, "the client left during the delay")  # never forwarded
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        try:
            async with server.session.request(
                request.method,
                self._upstream_origin + request.path_qs,
                headers=headers,
                data=body or None,
                allow_redirects=False,
                ssl=self._upstream_ssl,
            ) as upstream:
                status = upstream.status
                reply_headers = {k: v for k, v in upstream.headers.items()
                                 if k.lower() not in _HOP_BY_HOP}
                data = await upstream.content.read(self._max_body + 1)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            self.stats.upstream_errors += 1
            return _answer(502, f"upstream failed: {type(exc).__name__}")
        self.stats.forwarded += 1
        if len(data) > self._max_body:
            self.stats.upstream_errors += 1
            return _answer(502, f"upstream body over {self._max_body} bytes")
        if rule is None or rule.fault == "delay":
            return web.Response(status=status, headers=reply_headers, body=data)
        if rule.fault == "status_after":
            return _answer(rule.status, "injected after forwarding", rule.retry_after)
        response = web.StreamResponse(status=status, headers=reply_headers)
        try:
            if rule.fault == "huge_body":
                response.content_length = rule.size + len(data)
                await response.prepare(request)
                padding = b" " * _CHUNK
                left = rule.size
                while left > 0:
                    await response.write(padding[:min(left, _CHUNK)])
                    left -= _CHUNK
                await response.write(data)
                await response.write_eof()
                return response
            # truncate: promise the whole body, send part of it, cut the connection.
            response.content_length = len(data)
            await response.prepare(request)
            await response.write(data[:int(len(data) * rule.keep)])
        except ConnectionError:
            # The client stopped reading (a body cap, say) and closed: that is its answer
            # to the fault, not an error of the proxy.
            self.stats.client_gone += 1
            return response
        transport = request.transport
        if transport is not None:
            transport.abort()
        return response

    # -- WebSocket -------------------------------------------------------------------------

    async def _websocket(self, request: web.Request, server: _Server) -> web.StreamResponse:
        if len(self._relays) >= self._max_websockets:
            self.stats.refused_websockets += 1
            return _answer(503, f"at most {self._max_websockets} relayed WebSockets")
        protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "")
                     .split(",") if p.strip()]
        try:
            upstream = await server.session.ws_connect(
                self._upstream_ws_origin + request.path_qs,
                protocols=protocols,
                autoping=True,
                max_msg_size=self._max_frame,
                ssl=self._upstream_ssl,
            )
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            self.stats.upstream_errors += 1
            return _answer(502, f"upstream WebSocket failed: {type(exc).__name__}")
        client = web.WebSocketResponse(autoping=False, max_msg_size=self._max_frame,
                                       protocols=[upstream.protocol] if upstream.protocol else ())
        try:
            await client.prepare(request)
        except BaseException:
            await upstream.close()
            raise
        transport = request.transport
        if transport is None:  # the client went away during the handshake
            await upstream.close()
            return client
        info = WsConnection(request.path_qs, time.monotonic())
        relay = _Relay(client, upstream, transport, info)
        self._relays.add(relay)
        self.connections.append(info)
        self.stats.websockets += 1
        down = asyncio.get_running_loop().create_task(self._downstream(relay),
                                                      name="fault-proxy downstream")
        server.tasks.add(down)
        down.add_done_callback(server.tasks.discard)
        try:
            await self._upstream(relay)
        finally:
            self._relays.discard(relay)
            info.closed_at = time.monotonic()
            pinger, relay.pinger = relay.pinger, None
            await cancel_and_wait(down, pinger)
            with contextlib.suppress(Exception):
                async with timeout(1.0):
                    await upstream.close()
            if not transport.is_closing():
                with contextlib.suppress(Exception):
                    async with timeout(0.5):
                        await client.close()
        return client

    async def _upstream(self, relay: _Relay) -> None:
        """Client -> upstream, until either side ends."""
        client, upstream, info = relay.client, relay.upstream, relay.info
        while True:
            msg = await client.receive()
            kind = msg.type
            if kind is aiohttp.WSMsgType.PING:
                if relay.trickling or (relay.stalled and not relay.answer_pings):
                    info.pings_ignored += 1
                    continue
                async with relay.lock:
                    if not relay.trickling and not client.closed:
                        with contextlib.suppress(ConnectionError, RuntimeError):
                            await client.pong(msg.data)
                info.pings_answered += 1
            elif kind is aiohttp.WSMsgType.TEXT or kind is aiohttp.WSMsgType.BINARY:
                if relay.stalled or relay.trickling:
                    info.discarded += 1
                    continue
                info.frames_up += 1
                try:
                    if kind is aiohttp.WSMsgType.TEXT:
                        await upstream.send_str(msg.data)
                    else:
                        await upstream.send_bytes(msg.data)
                except (ConnectionError, RuntimeError, aiohttp.ClientError):
                    info.ended_by = info.ended_by or "upstream"
                    return
            elif kind is aiohttp.WSMsgType.PONG:
                continue
            else:  # CLOSE, CLOSING, CLOSED, ERROR
                info.ended_by = info.ended_by or "client"
                return

    async def _downstream(self, relay: _Relay) -> None:
        """Upstream -> client, until the upstream ends; then the client is closed."""
        client, upstream, info = relay.client, relay.upstream, relay.info
        try:
            async for msg in upstream:
                if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    break
                async with relay.lock:
                    if relay.stalled or relay.trickling:
                        info.discarded += 1
                        continue
                    if isinstance(msg.data, str):
                        await client.send_str(msg.data)
                    else:
                        await client.send_bytes(msg.data)
                info.frames_down += 1
        except (ConnectionError, RuntimeError, aiohttp.ClientError):
            pass
        if info.ended_by is None:
            info.ended_by = "upstream"
        # A closing handshake is passed on with its code; an upstream that vanished
        # (no close frame) vanishes for the client too.
        code = upstream.close_code
        if code is not None and code not in (1005, 1006) and not relay.trickling \
                and not relay.transport.is_closing():
            with contextlib.suppress(Exception):
                async with timeout(0.5):
                    await client.close(code=code)
        relay.transport.abort()


def _answer(status: int, message: str, retry_after: float | None = None) -> web.Response:
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
    return web.json_response({"success": False, "message": f"fault proxy: {message}"},
                             status=status, headers=headers)
