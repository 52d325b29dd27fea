"""Faults that used to go unnoticed: dead sockets that look alive, silent topics, stale
snapshots, connections that can never succeed, and empty lists of unknown owner."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import shutil
import socket
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import web

from kana_async.errors import ConnectionRejectedError, TransportError, ValidationError
from kana_async.stream import (
    DEFAULT_WATCHDOG,
    ReconnectPolicy,
    StreamHooks,
    StreamMux,
    StreamOptions,
    Subscription,
)
from kana_async.stream.connection import RateLimitedWarning
from kana_async.stream.transport import connect_error
from tests.stream.conftest import ADDR_A, ADDR_B, FAST
from tests.stream.scripted_server import ScriptedServer, ServerConnection


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno >= logging.WARNING and r.name.startswith("kana_async")]


def order(address: str) -> dict[str, Any]:
    return {"address": address, "market_id": "14", "order_id": "1", "price": "5",
            "total_size": "1", "remaining_size": "1", "order_type": 1, "leverage": 2,
            "timestamp": 1}


# -- the defaults say what they promise ---------------------------------------------------------

def test_defaults_watch_the_socket_and_the_busy_topics() -> None:
    options = StreamOptions()
    assert options.heartbeat == 20.0
    assert options.pong_timeout is None  # half the heartbeat: 10 s
    assert dict(options.watchdog) == dict(DEFAULT_WATCHDOG) == {"orderbook": 30.0}
    assert options.reconnect.max_delay == 30.0


@pytest.mark.parametrize(
    ("value", "param"),
    [({"heartbeat": 0}, "heartbeat"), ({"pong_timeout": -1}, "pong_timeout"),
     ({"watchdog": {"nope": 1}}, "topic"), ({"watchdog": {"orderbook": 0}}, "watchdog"),
     ({"buffer_bytes": 10}, "buffer_bytes"), ({"max_frame_bytes": True}, "max_frame_bytes"),
     ({"hooks": {"on_nothing": print}}, "hooks"), ({"reconnect": {"max_delay": -1}},
                                                   "initial_delay"),
     ({"colour": "red"}, "stream"), (42, "stream")],
)
def test_options_are_checked_with_a_clear_error(value: Any, param: str) -> None:
    with pytest.raises(ValidationError, match=param):
        StreamOptions.coerce(value)


def test_options_from_a_mapping() -> None:
    seen: list[str] = []
    options = StreamOptions.coerce({"heartbeat": None, "watchdog": None,
                                    "hooks": {"on_connected": seen.append},
                                    "reconnect": {"max_delay": 5.0}})
    assert options.heartbeat is None
    assert dict(options.watchdog) == {}
    assert options.hooks.on_connected is not None
    assert options.reconnect.max_delay == 5.0
    assert StreamOptions.coerce(options, buffer_size=7).buffer_size == 7


# -- sockets that look alive -------------------------------------------------------------------

async def test_a_server_that_pings_us_but_never_answers_our_ping_is_replaced(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture,
) -> None:
    async def pinging(conn: ServerConnection) -> None:
        # Pings of its own every 20 ms kept aiohttp's idle heartbeat from ever firing.
        for _ in range(500):
            await conn.ws.ping()
            await asyncio.sleep(0.02)

    reasons: list[str] = []
    async with ScriptedServer(pinging, autoping=False) as server, \
            StreamMux(http, server.url, heartbeat=0.1, pong_timeout=0.1, reconnect=FAST,
                      hooks=StreamHooks(on_disconnected=reasons.append)) as mux:
        mux.positions(ADDR_A)
        await server.wait_for_connections(2, timeout=5.0)
    assert "no PONG" in reasons[0]
    assert any("no PONG" in message for message in warnings_of(caplog))


async def test_our_pings_are_answered_and_the_servers_pings_too(
    http: aiohttp.ClientSession,
) -> None:
    pongs: list[bytes] = []

    async def pinging(conn: ServerConnection) -> None:
        await conn.ws.ping(b"server")
        async for msg in conn.ws:
            if msg.type is aiohttp.WSMsgType.PONG:
                pongs.append(msg.data)
            elif msg.type is aiohttp.WSMsgType.PING:
                pings.append(msg.data)
                await conn.ws.pong(msg.data)

    pings: list[bytes] = []
    async with ScriptedServer(pinging, autoping=False) as server, \
            StreamMux(http, server.url, heartbeat=0.02, pong_timeout=1.0) as mux:
        mux.positions(ADDR_A)
        await until(lambda: bool(pongs) and len(pings) >= 5)
        assert len(server.connections) == 1
        assert mux.stats().connected
    assert pongs == [b"server"]


class TrickleServer:
    """A raw WebSocket server on 127.0.0.1 that accepts, then sends the first bytes of one
    large text frame one byte at a time, forever (each byte resets an idle heartbeat)."""

    def __init__(self) -> None:
        self.connections = 0
        self.url = ""
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            head = await reader.readuntil(b"\r\n\r\n")
            key = next(line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                       if line.lower().startswith(b"sec-websocket-key:"))
            accept = base64.b64encode(hashlib.sha1(
                key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            # FIN + text, 64 KiB payload announced (126 = 16-bit length follows).
            writer.write(bytes([0x81, 126]) + (65535).to_bytes(2, "big"))
            for _ in range(2000):
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(0.01)

    async def __aenter__(self) -> TrickleServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/ws/"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        for writer in self._writers:
            writer.close()
        self._server.close()
        await self._server.wait_closed()


async def test_a_frame_trickled_forever_does_not_hold_a_dead_socket(
    http: aiohttp.ClientSession,
) -> None:
    reasons: list[str] = []
    async with TrickleServer() as server, \
            StreamMux(http, server.url, heartbeat=0.1, pong_timeout=0.2, reconnect=FAST,
                      hooks=StreamHooks(on_disconnected=reasons.append)) as mux:
        mux.positions(ADDR_A)
        await until(lambda: server.connections >= 2)
        assert not mux.stats().subscriptions[0].delivered
    assert "no PONG" in reasons[0]


# -- silent topics and staleness --------------------------------------------------------------

async def test_a_silent_busy_topic_is_reported_at_warning(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture,
) -> None:
    async def silent(conn: ServerConnection) -> None:
        await conn.drain()

    async with ScriptedServer(silent) as server, \
            StreamMux(http, server.url, reconnect=FAST, watchdog={"orderbook": 0.05}) as mux:
        mux.orderbook(14)
        await server.wait_for_connections(2)
    assert any("orderbook 14 said nothing" in message for message in warnings_of(caplog))


async def test_snapshots_say_how_stale_they_are(http: aiohttp.ClientSession) -> None:
    release = asyncio.Event()

    async def script(conn: ServerConnection) -> None:
        await conn.subscribes_until(1)
        await conn.send("positions", [])
        if conn.index == 0:
            await release.wait()
            await conn.drop()
        else:
            await conn.drain()

    stale_when_lost: list[bool] = []
    subs: list[Subscription[Any]] = []
    hooks = StreamHooks(on_disconnected=lambda reason: stale_when_lost.append(subs[0].stale))
    policy = ReconnectPolicy(initial_delay=0.3, max_delay=0.3, jitter=0.0)
    async with ScriptedServer(script) as server, \
            StreamMux(http, server.url, reconnect=policy, watchdog={}, hooks=hooks) as mux:
        sub = mux.positions(ADDR_A)
        subs.append(sub)
        assert sub.stale
        assert sub.age is None
        assert await asyncio.wait_for(sub.get(), 2) == []
        assert not sub.stale
        age = sub.age
        assert age is not None
        assert age >= 0
        release.set()
        # From the disconnect, through the backoff, the snapshot is stale...
        await until(lambda: bool(stale_when_lost))
        assert stale_when_lost == [True]
        # ...until it is answered again on the new socket.
        await until(lambda: not sub.stale)
        assert len(server.connections) == 2


async def test_stale_after_counts_silence_too() -> None:
    from kana_async.stream.subscription import Subscription
    from kana_async.stream.topics import TOPICS, Overflow

    sub: Subscription[Any] = Subscription(TOPICS["orderbook"], "14", "14",
                                          overflow=Overflow.KEEP_LATEST, capacity=1,
                                          stale_after=0.05)
    sub.push(msgspec.Raw(b"[]"))
    assert not sub.stale
    await until(lambda: sub.stale)
    sub.push(msgspec.Raw(b"[]"))
    assert not sub.stale


# -- empty lists of unknown owner -------------------------------------------------------------

async def test_account_a_never_reads_account_bs_empty_orders(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture,
) -> None:
    """A's snapshot (one resting order) arrives malformed, B's answer is []: A must not
    read [] (a market maker would quote again: double exposure)."""
    async def script(conn: ServerConnection) -> None:
        await conn.subscribes_until(2)
        await conn.send_raw('{"message":"open_orders","data":[{"address":"' + ADDR_A)
        await conn.send("open_orders", [])
        await conn.drain()

    async with ScriptedServer(script) as server, StreamMux(http, server.url) as mux:
        a = mux.open_orders(ADDR_A)
        b = mux.open_orders(ADDR_B)
        await until(lambda: mux.stats().unattributed == 1)
        assert (a.stats.received, b.stats.received) == (0, 0)
        assert a.stale
        assert b.stale
        assert (a.stats.unattributed, b.stats.unattributed) == (1, 1)
    assert any("empty open_orders list" in message for message in warnings_of(caplog))


async def test_a_key_put_in_doubt_is_asked_again_and_recovers(
    http: aiohttp.ClientSession,
) -> None:
    async def script(conn: ServerConnection) -> None:
        await conn.next_subscribe()
        await conn.send("open_orders", [order(ADDR_A)])
        await conn.next_subscribe()  # B
        await conn.send("open_orders", [])  # B's answer, or A's last order gone?
        again = await conn.next_subscribe()  # A asked again
        assert again == {"topic": "open_orders", "address": ADDR_A}
        await conn.send("open_orders", [order(ADDR_A)])
        await conn.drain()

    async with ScriptedServer(script) as server, StreamMux(http, server.url) as mux:
        a = mux.open_orders(ADDR_A)
        assert len(await asyncio.wait_for(a.get(), 2)) == 1
        b = mux.open_orders(ADDR_B)
        await until(lambda: a.stats.received == 2)
        assert not a.stale
        assert b.stale  # B's empty state cannot be proven: resync it through REST
        assert b.stats.received == 0
        assert len(server.connections[0].subscribes) == 3


# -- connections that can never succeed --------------------------------------------------------

def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_a_refused_port_is_logged_at_warning_once_and_retried(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"ws://127.0.0.1:{closed_port()}/ws/"
    async with StreamMux(http, url, reconnect=FAST, warn_interval=60.0) as mux:
        sub = mux.positions(ADDR_A)
        await until(lambda: mux.stats().failed_connects >= 5)
        stats = mux.stats()
        assert stats.last_error is not None
        assert "cannot connect" in stats.last_error
        assert sub.stale
        assert not sub.closed  # transient: still trying
    warned = [m for m in warnings_of(caplog) if "connect attempt" in m]
    assert len(warned) == 1
    assert url in warned[0]


async def test_a_403_handshake_ends_the_subscriptions_naming_the_cause(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []

    async def forbidden(request: web.Request) -> web.Response:
        calls.append(1)
        return web.Response(status=403, text="no")

    app = web.Application()
    app.router.add_get("/ws/", forbidden)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        async with StreamMux(http, f"ws://{host}:{port}/ws/", reconnect=FAST) as mux:
            sub = mux.positions(ADDR_A)
            with pytest.raises(ConnectionRejectedError, match="HTTP 403") as info:
                await asyncio.wait_for(sub.get(), 5)
            assert info.value.status == 403
            assert calls == [1]  # not retried
    finally:
        await runner.cleanup()
    assert any("HTTP 403" in message for message in warnings_of(caplog))


def test_transient_and_permanent_connect_failures_are_told_apart() -> None:
    url = "wss://example.invalid/ws/"

    def handshake(status: int) -> aiohttp.WSServerHandshakeError:
        return aiohttp.WSServerHandshakeError(
            None, (), status=status, message="x")  # type: ignore[arg-type]

    for status in (401, 403, 404):
        assert isinstance(connect_error(url, handshake(status)), ConnectionRejectedError)
    for status in (429, 500, 502, 503):
        error = connect_error(url, handshake(status))
        assert not isinstance(error, ConnectionRejectedError)
        assert error.status == status
    cert = aiohttp.ClientConnectorCertificateError(
        None, ssl.SSLCertVerificationError(1, "certificate verify failed"))  # type: ignore[arg-type]
    assert isinstance(connect_error(url, cert), ConnectionRejectedError)
    refused = connect_error(url, ConnectionRefusedError(111, "Connection refused"))
    assert type(refused) is TransportError
    assert "Connection refused" in str(refused)


def self_signed(directory: Path) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate (made by the openssl CLI)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
         "-subj", "/CN=127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def test_a_certificate_that_fails_verification_ends_the_subscriptions(
    http: aiohttp.ClientSession, tmp_path: Path,
) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")

    async def never(request: web.Request) -> web.Response:
        return web.Response(status=500)

    app = web.Application()
    app.router.add_get("/ws/", never)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self_signed(tmp_path))
        await site.start()
        host, port = runner.addresses[0][:2]
        async with StreamMux(http, f"wss://{host}:{port}/ws/", reconnect=FAST) as mux:
            sub = mux.positions(ADDR_A)
            with pytest.raises(ConnectionRejectedError, match="certificate"):
                await asyncio.wait_for(sub.get(), 5)
            assert mux.stats().failed_connects == 1
    finally:
        await runner.cleanup()


def test_rate_limited_warnings_say_how_many_were_held_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    warn = RateLimitedWarning(logging.getLogger("kana_async.test"), 60.0, clock=lambda: now[0])
    with caplog.at_level(logging.DEBUG, "kana_async.test"):
        assert warn("refused", "refused 1")
        assert not warn("refused", "refused 2")
        assert warn("403", "forbidden")  # a new cause is told at once
        now[0] = 61.0
        assert warn("403", "forbidden again")
    assert warnings_of(caplog) == ["refused 1", "forbidden", "forbidden again"]
    caplog.clear()
    now[0] = 62.0
    warn("403", "x")
    now[0] = 200.0
    warn("403", "y")
    assert warnings_of(caplog)[-1] == "y (1 similar message(s) since the last warning)"
