"""The picows connector against the simulator and real sockets on 127.0.0.1: it must behave
like the aiohttp one (whole messages, pings both ways, bounded closing, oversize refused,
reconnects through the mux, TLS checks)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from aiohttp import WSMsgType, web
from picows import WSCloseCode, WSListener, WSTransport, ws_create_server
from picows import WSMsgType as PicowsMsgType

from kana_async import KanaClient
from kana_async.errors import ConnectionRejectedError, TransportError, ValidationError
from kana_async.sim import Simulator
from kana_async.sim.proxy import FaultProxy
from kana_async.stream import OrderBook, PicowsConnector, StreamMux, StreamOptions
from kana_async.stream._picows import PAUSE_BYTES, PicowsWebSocket
from tests.rest.test_tls import Certs, certs  # noqa: F401  (the session's certificates)
from tests.stream.conftest import FAST
from tests.stream.scripted_server import ScriptedServer, ServerConnection

MARKET = 1338


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(seed=7, step_interval=0.05) as simulator:
        yield simulator


@pytest.fixture
async def frozen() -> AsyncIterator[ScriptedServer]:
    """A peer that accepts, then never reads again: no pong, no answer to a close."""
    release = asyncio.Event()

    async def script(conn: ServerConnection) -> None:
        await release.wait()

    async with ScriptedServer(script, autoping=False) as server:
        yield server
        release.set()


async def first_book(mux: StreamMux, timeout: float = 3.0) -> OrderBook:
    async def scan() -> OrderBook:
        async for book in mux.orderbook(MARKET):
            if book.bids and book.asks:
                return book
        raise AssertionError("the order book subscription ended")

    return await asyncio.wait_for(scan(), timeout)


# -- through the mux, against the simulator ---------------------------------------------------


async def test_the_transport_option_streams_typed_items_without_a_session(
    sim: Simulator,
) -> None:
    assert sim.ws_url is not None
    async with StreamMux(None, sim.ws_url, transport="picows", reconnect=FAST) as mux:
        book = await first_book(mux)
        assert book.best_bid is not None
        assert book.best_ask is not None
        assert book.best_bid.price < book.best_ask.price


async def test_a_dropped_socket_is_reconnected_and_resubscribed(sim: Simulator) -> None:
    assert sim.ws_url is not None
    async with StreamMux(None, sim.ws_url, transport="picows", reconnect=FAST) as mux:
        sub = mux.orderbook(MARKET)
        await asyncio.wait_for(sub.__anext__(), 3)
        sim.faults.drop_websockets()
        for _ in range(300):
            if mux.stats().connects >= 2 and sim.ws.subscribers("orderbook", str(MARKET)):
                break
            await asyncio.sleep(0.01)
        assert mux.stats().connects >= 2
        assert mux.stats().disconnects >= 1
        await asyncio.wait_for(sub.__anext__(), 3)  # the book flows again on the new socket


async def test_kana_client_picks_picows_from_its_stream_options(sim: Simulator) -> None:
    async with KanaClient("local", rest_url=sim.rest_url, ws_url=sim.ws_url,
                          stream={"transport": "picows", "reconnect": FAST}) as kana:
        book = await first_book(kana.stream)
        assert book.bids


def test_an_unknown_transport_is_refused_by_name() -> None:
    with pytest.raises(ValidationError) as info:
        StreamOptions(transport="websockets")
    assert info.value.param == "transport"
    assert "'aiohttp' or 'picows'" in str(info.value)


@pytest.mark.parametrize(("name", "value"), [
    ("connect_timeout", 0), ("close_timeout", -1.0), ("max_msg_size", 0),
    ("ssl_context", "yes"),
])
def test_connector_settings_are_checked(name: str, value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        PicowsConnector(**{name: value})
    assert info.value.param == name


# -- the socket itself --------------------------------------------------------------------------


async def test_our_ping_is_answered_by_the_simulator(sim: Simulator) -> None:
    assert sim.ws_url is not None
    ws = await PicowsConnector()(sim.ws_url)
    assert isinstance(ws, PicowsWebSocket)
    reader = asyncio.create_task(ws.receive())
    try:
        await asyncio.wait_for(ws.ping(), 2)
    finally:
        await ws.close()
    assert await reader is None


async def test_a_peer_that_never_answers_pings_is_not_taken_for_alive(
    frozen: ScriptedServer,
) -> None:
    ws = await PicowsConnector()(frozen.url)
    assert isinstance(ws, PicowsWebSocket)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(ws.ping(), 0.2)
    await ws.close()


async def test_the_servers_ping_is_answered_and_its_unsolicited_pong_ignored() -> None:
    answered: list[bytes] = []

    async def script(conn: ServerConnection) -> None:
        await conn.ws.pong(b"not yours")  # must not pass for an answer to anything
        await conn.ws.ping(b"probe")
        msg = await conn.ws.receive(timeout=2)
        if msg.type is WSMsgType.PONG:
            answered.append(msg.data)
        await conn.send_raw('{"message":"done","data":[]}')
        await conn.drain()

    async with ScriptedServer(script, autoping=False) as server:
        ws = await PicowsConnector()(server.url)
        assert await asyncio.wait_for(ws.receive(), 2) == b'{"message":"done","data":[]}'
        await ws.close()
    assert answered == [b"probe"]


async def test_closing_while_a_reader_waits_is_bounded_by_close_timeout(
    frozen: ScriptedServer,
) -> None:
    ws = await PicowsConnector(close_timeout=0.05)(frozen.url)
    reader = asyncio.create_task(ws.receive())
    await asyncio.sleep(0.01)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await ws.close()
    assert loop.time() - started < 1.0
    assert await reader is None
    await ws.close()  # already closed: nothing happens
    with pytest.raises(TransportError, match="closed"):
        await ws.send("{}")


async def test_a_server_close_ends_the_socket_after_the_frames_before_it() -> None:
    async def script(conn: ServerConnection) -> None:
        await conn.send_raw('{"n":1}')
        await conn.send_raw('{"n":2}')
        await conn.drop()

    async with ScriptedServer(script) as server:
        ws = await PicowsConnector()(server.url)
        got = [await asyncio.wait_for(ws.receive(), 2) for _ in range(3)]
        await ws.close()
    assert got == [b'{"n":1}', b'{"n":2}', None]


async def test_a_frame_over_max_msg_size_ends_the_socket_with_an_error() -> None:
    async def script(conn: ServerConnection) -> None:
        await conn.send_raw('{"small":1}')
        await conn.send_raw('{"big":"' + "x" * 5000 + '"}')
        await conn.drain()

    async with ScriptedServer(script) as server:
        ws = await PicowsConnector(max_msg_size=2048)(server.url)
        assert await asyncio.wait_for(ws.receive(), 2) == b'{"small":1}'
        with pytest.raises(TransportError, match="max_msg_size"):
            await asyncio.wait_for(ws.receive(), 2)
        assert await asyncio.wait_for(ws.receive(), 2) is None
        await ws.close()


async def test_an_oversize_frame_on_the_mux_is_a_reconnect_not_a_crash(
    sim: Simulator,
) -> None:
    # Through the mux: the socket is replaced and the stream goes on.
    assert sim.ws_url is not None
    async with StreamMux(None, sim.ws_url, transport="picows", reconnect=FAST,
                         max_frame_bytes=1024) as mux:
        sub = mux.orderbook(MARKET)
        for _ in range(300):
            if mux.stats().disconnects >= 2:
                break
            await asyncio.sleep(0.01)
        stats = mux.stats()
        assert stats.disconnects >= 2  # replaced, and again: the stream goes on trying
        assert "max_msg_size" in (stats.last_error or "")
        assert not sub.closed


# -- fragmented messages (picows leaves reassembly to its user) ---------------------------------


class _Fragmenter(WSListener):
    """A server that sends the script's frames as they are (fragments included)."""

    def __init__(self, frames: list[tuple[PicowsMsgType, bytes, bool]]) -> None:
        self.frames = frames

    def on_ws_connected(self, transport: WSTransport) -> None:
        for kind, payload, fin in self.frames:
            transport.send(kind, payload, fin=fin)
        transport.send_close(WSCloseCode.GOING_AWAY)


async def _fragmented(frames: list[tuple[PicowsMsgType, bytes, bool]],
                      max_msg_size: int) -> list[bytes | str | str | None]:
    server = await ws_create_server(lambda request: _Fragmenter(frames), "127.0.0.1", 0)
    got: list[bytes | str | str | None] = []
    try:
        port = server.sockets[0].getsockname()[1]
        ws = await PicowsConnector(max_msg_size=max_msg_size)(f"ws://127.0.0.1:{port}/")
        try:
            for _ in range(4):
                try:
                    frame = await asyncio.wait_for(ws.receive(), 2)
                except TransportError as exc:
                    got.append(f"error: {exc}")
                    continue
                got.append(frame)
                if frame is None:
                    break
        finally:
            await ws.close()
    finally:
        server.close()
        await server.wait_closed()
    return got


async def test_fragmented_messages_are_delivered_whole() -> None:
    got = await _fragmented([
        (PicowsMsgType.TEXT, b'{"a":', False),
        (PicowsMsgType.CONTINUATION, b'"b', False),
        (PicowsMsgType.CONTINUATION, b'c"}', True),
        (PicowsMsgType.TEXT, b'{"n":2}', True),
    ], max_msg_size=1024)
    assert got == [b'{"a":"bc"}', b'{"n":2}', None]


async def test_fragments_adding_up_to_more_than_max_msg_size_end_the_socket() -> None:
    got = await _fragmented([
        (PicowsMsgType.TEXT, b"x" * 800, False),
        (PicowsMsgType.CONTINUATION, b"y" * 800, True),
        (PicowsMsgType.TEXT, b'{"n":2}', True),
    ], max_msg_size=1024)
    assert isinstance(got[0], str)
    assert "max_msg_size (1024 bytes)" in got[0]
    assert got[1] is None


# -- connect failures ---------------------------------------------------------------------------


async def test_a_4xx_handshake_answer_is_permanent_and_a_refused_port_is_not() -> None:
    async def forbidden(request: web.Request) -> web.Response:
        raise web.HTTPForbidden()

    app = web.Application()
    app.router.add_get("/ws/", forbidden)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        with pytest.raises(ConnectionRejectedError) as info:
            await PicowsConnector()(f"ws://{host}:{port}/ws/")
        assert info.value.status == 403
    finally:
        await runner.cleanup()
    # The port is free now: nobody listens.
    with pytest.raises(TransportError) as refused:
        await PicowsConnector()(f"ws://{host}:{port}/ws/")
    assert not isinstance(refused.value, ConnectionRejectedError)


# -- TLS -----------------------------------------------------------------------------------------


async def test_tls_is_verified_against_the_given_context(
    sim: Simulator, certs: Certs,  # noqa: F811
) -> None:
    assert sim.ws_url is not None
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(certs.cert, certs.key)
    async with FaultProxy(sim.ws_url, ssl_context=server_ctx) as proxy:
        assert proxy.url.startswith("wss://")
        trusted = ssl.create_default_context(cafile=str(certs.ca))
        connector = PicowsConnector(ssl_context=trusted)
        async with StreamMux(None, proxy.url, connector=connector, reconnect=FAST) as mux:
            assert (await first_book(mux)).bids
        with pytest.raises(ConnectionRejectedError, match="certificate"):
            await PicowsConnector()(proxy.url)  # the system's roots do not know our CA


async def test_kana_client_gives_picows_its_tls_trust(
    sim: Simulator, certs: Certs,  # noqa: F811
) -> None:
    # picows does not use the client's aiohttp session: the CA must reach it another way.
    assert sim.ws_url is not None
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(certs.cert, certs.key)
    async with FaultProxy(sim.ws_url, ssl_context=server_ctx) as proxy, \
            KanaClient("local", rest_url=sim.rest_url, ws_url=proxy.url, ca_file=certs.ca,
                       stream={"transport": "picows", "reconnect": FAST}) as kana:
        assert (await first_book(kana.stream)).bids


async def test_a_late_reader_pauses_the_socket_and_gets_every_frame_in_order() -> None:
    count = 64
    body = "x" * 65536

    async def script(conn: ServerConnection) -> None:
        for i in range(count):
            await conn.send_raw(f'{{"n":{i},"pad":"{body}"}}')
        await conn.drain()

    async with ScriptedServer(script) as server:
        ws = await PicowsConnector()(server.url)
        assert isinstance(ws, PicowsWebSocket)
        listener = ws._listener
        for _ in range(500):  # nobody reads: the queue fills up to its bound
            if listener.paused:
                break
            await asyncio.sleep(0.01)
        assert listener.paused
        assert listener.queued >= PAUSE_BYTES
        got = [await asyncio.wait_for(ws.receive(), 2) for _ in range(count)]
        assert [msgspec.json.decode(frame)["n"] for frame in got if frame] == list(range(count))
        assert not listener.paused
        assert listener.queued == 0
        await ws.close()


async def test_pulse_client_runs_on_the_picows_connector() -> None:
    from kana_async.pulse import PulseClient
    from tests.pulse.client_support import CLIENT_ID, SECRET, pulse_sim

    async with pulse_sim() as psim, PulseClient(
            psim.pulse_ws_url, client_id=CLIENT_ID, client_secret=SECRET, timeout=3.0,
            connector=PicowsConnector()) as pulse:
        assert await pulse.call("public/test") == {"version": "0.1.0"}
        assert pulse.stats().connects == 1
