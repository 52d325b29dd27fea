"""The fault-injecting proxy, in front of a small counting upstream and of the simulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from kana_async import KanaClient, ValidationError
from kana_async.sim import Simulator
from kana_async.sim.proxy import FaultProxy, HttpRule


@dataclass
class Upstream:
    url: str
    executed: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    sockets: list[web.WebSocketResponse] = field(default_factory=list)


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    """Counts every request it executes; ``/ws`` echoes text frames back."""
    state = Upstream("")

    async def order(request: web.Request) -> web.Response:
        state.executed.append(await request.text())
        state.headers.append(dict(request.headers))
        return web.json_response({"success": True, "data": len(state.executed)})

    async def echo(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        state.sockets.append(ws)
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.TEXT and msg.data == "bye":
                await ws.close(code=4000, message=b"upstream done")
            elif msg.type is aiohttp.WSMsgType.TEXT:
                await ws.send_str(f"echo {msg.data}")
        return ws

    app = web.Application()
    app.router.add_route("*", "/order", order)
    app.router.add_get("/ws", echo)
    async with TestServer(app, host="127.0.0.1") as server:
        state.url = str(server.make_url("")).rstrip("/")
        yield state


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def eventually(check: Callable[[], bool], seconds: float = 5.0) -> None:
    """Wait until ``check()`` holds (bounded: fails after ``seconds``)."""
    for _ in range(int(seconds / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_forwards_method_body_headers_and_answer(upstream: Upstream,
                                                       http: aiohttp.ClientSession) -> None:
    async with FaultProxy(upstream.url) as proxy:
        resp = await http.post(proxy.url + "/order?x=1", data=b"buy", headers={"x-api-key": "k"})
        async with resp:
            assert resp.status == 200
            assert await resp.json() == {"success": True, "data": 1}
    assert upstream.executed == ["buy"]
    assert upstream.headers[0]["x-api-key"] == "k"
    assert proxy.stats.forwarded == 1
    assert proxy.stats.faults == 0


@pytest.mark.parametrize("status", [503, 429, 500])
async def test_status_after_forwarding_executes_upstream(
    upstream: Upstream, http: aiohttp.ClientSession, status: int
) -> None:
    async with FaultProxy(upstream.url) as proxy:
        rule = proxy.add_rule("status_after", status=status, retry_after=1)
        async with http.post(proxy.url + "/order", data=b"once") as resp:
            assert resp.status == status
            assert resp.headers["Retry-After"] == "1"
    assert upstream.executed == ["once"]  # the upstream did the work
    assert (rule.matched, rule.fired) == (1, 1)


async def test_status_before_forwarding_does_not_reach_upstream(
    upstream: Upstream, http: aiohttp.ClientSession
) -> None:
    async with FaultProxy(upstream.url) as proxy:
        proxy.add_rule("status_before", status=503)
        async with http.post(proxy.url + "/order", data=b"never") as resp:
            assert resp.status == 503
    assert upstream.executed == []


async def test_every_nth_count_method_and_prefix(upstream: Upstream,
                                                 http: aiohttp.ClientSession) -> None:
    async with FaultProxy(upstream.url) as proxy:
        rule = proxy.add_rule("status_before", path_prefix="/order", method="post", every=2,
                              count=2)
        statuses = []
        for _ in range(6):
            async with http.post(proxy.url + "/order", data=b"x") as resp:
                statuses.append(resp.status)
        async with http.get(proxy.url + "/order") as resp:  # another method: not matched
            statuses.append(resp.status)
    assert statuses == [200, 503, 200, 503, 200, 200, 200]
    assert (rule.matched, rule.fired) == (6, 2)


async def test_probability_is_reproducible_with_a_seed(upstream: Upstream,
                                                       http: aiohttp.ClientSession) -> None:
    fired = []
    for _ in range(2):
        async with FaultProxy(upstream.url, seed=5) as proxy:
            rule = proxy.add_rule("status_before", probability=0.5)
            pattern = []
            for _ in range(20):
                async with http.get(proxy.url + "/order") as resp:
                    pattern.append(resp.status)
            fired.append(pattern)
            assert 0 < rule.fired < 20
    assert fired[0] == fired[1]


async def test_huge_body_is_valid_json_preceded_by_padding(upstream: Upstream,
                                                           http: aiohttp.ClientSession) -> None:
    async with FaultProxy(upstream.url) as proxy:
        proxy.add_rule("huge_body", size=300_000)
        async with http.get(proxy.url + "/order") as resp:
            body = await resp.read()
    assert len(body) > 300_000
    assert body.strip() == b'{"success": true, "data": 1}'


async def test_a_client_that_stops_reading_a_huge_body_is_counted(
        upstream: Upstream, http: aiohttp.ClientSession) -> None:
    async with FaultProxy(upstream.url) as proxy:
        proxy.add_rule("huge_body", size=64 << 20)
        async with http.get(proxy.url + "/order") as resp:
            await resp.content.read(1024)
            resp.close()  # a body cap: the client gives up on the rest
        await eventually(lambda: proxy.stats.client_gone == 1)


async def test_truncated_body_fails_the_read(upstream: Upstream,
                                             http: aiohttp.ClientSession) -> None:
    async with FaultProxy(upstream.url) as proxy:
        proxy.add_rule("truncate", keep=0.5)
        with pytest.raises(aiohttp.ClientPayloadError):
            async with http.get(proxy.url + "/order") as resp:
                await resp.read()
    assert len(upstream.executed) == 1


async def test_redirect_points_at_another_origin(upstream: Upstream,
                                                 http: aiohttp.ClientSession) -> None:
    async with FaultProxy(upstream.url) as proxy:
        proxy.add_rule("redirect", location="http://127.0.0.2:9")
        async with http.get(proxy.url + "/order?a=b", allow_redirects=False) as resp:
            assert resp.status == 307
            assert resp.headers["Location"] == "http://127.0.0.2:9/order?a=b"
    assert upstream.executed == []


async def test_delay_outlasts_a_short_client_timeout(upstream: Upstream,
                                                     http: aiohttp.ClientSession) -> None:
    async with FaultProxy(upstream.url) as proxy:
        proxy.add_rule("delay", delay=30)
        with pytest.raises(asyncio.TimeoutError):
            async with http.get(proxy.url + "/order",
                                timeout=aiohttp.ClientTimeout(total=0.2)) as resp:
                await resp.read()
    # The client left before the delay ended: the request was never forwarded.
    assert upstream.executed == []


@pytest.mark.parametrize(
    ("fault", "options", "param"),
    [
        ("explode", {}, "fault"),
        ("status_after", {"status": 200}, "status"),
        ("redirect", {"status": 307}, "location"),
        ("status_before", {"probability": 0}, "probability"),
        ("status_before", {"every": 0}, "every"),
        ("truncate", {"keep": 1.0}, "keep"),
        ("huge_body", {"size": 1 << 40}, "size"),
        ("delay", {"delay": float("nan")}, "delay"),
        ("delay", {"path_prefix": "order"}, "path_prefix"),
    ],
)
def test_bad_rules_name_the_field(fault: Any, options: dict[str, Any], param: str) -> None:
    with pytest.raises(ValidationError) as caught:
        HttpRule(fault, **options)
    assert caught.value.param == param


def test_only_loopback() -> None:
    with pytest.raises(ValidationError):
        FaultProxy("http://10.0.0.1:80")
    with pytest.raises(ValidationError):
        FaultProxy("http://127.0.0.1:80", host="0.0.0.0")
    with pytest.raises(ValidationError):
        FaultProxy("ftp://127.0.0.1:80")


# -- WebSocket ------------------------------------------------------------------------------


async def test_relays_frames_both_ways(upstream: Upstream, http: aiohttp.ClientSession) -> None:
    async with FaultProxy(upstream.url.replace("http", "ws") + "/ws") as proxy:
        assert proxy.url == proxy.origin + "/ws"
        assert proxy.origin.startswith("ws://")
        async with http.ws_connect(proxy.url) as ws:
            await ws.send_str("hi")
            msg = await ws.receive(timeout=5)
            assert msg.data == "echo hi"
        await eventually(lambda: proxy.open_websockets == 0)
    info = proxy.connections[0]
    assert (info.frames_up, info.frames_down, info.ended_by) == (1, 1, "client")


async def test_an_upstream_close_reaches_the_client(upstream: Upstream,
                                                   http: aiohttp.ClientSession) -> None:
    async with FaultProxy(upstream.url + "/ws") as proxy:
        async with http.ws_connect(proxy.url.replace("http", "ws")) as ws:
            await ws.send_str("bye")
            msg = await ws.receive(timeout=5)
            assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 4000)
        await eventually(lambda: proxy.open_websockets == 0)
    assert proxy.connections[0].ended_by == "upstream"


async def test_drop_aborts_the_client_socket(upstream: Upstream,
                                             http: aiohttp.ClientSession) -> None:
    async with FaultProxy(upstream.url + "/ws") as proxy:
        async with http.ws_connect(proxy.url.replace("http", "ws")) as ws:
            await eventually(lambda: proxy.open_websockets == 1)
            assert proxy.drop_websockets() == 1
            msg = await ws.receive(timeout=5)
            assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR,
                                aiohttp.WSMsgType.CLOSE)
        await eventually(lambda: proxy.open_websockets == 0)
    assert proxy.connections[0].ended_by == "dropped"


async def test_stall_discards_frames_but_answers_pings(upstream: Upstream,
                                                       http: aiohttp.ClientSession) -> None:
    async with FaultProxy(upstream.url + "/ws") as proxy, \
            http.ws_connect(proxy.url.replace("http", "ws"), autoping=False) as ws:
            await eventually(lambda: proxy.open_websockets == 1)
            assert proxy.stall(answer_pings=True) == 1
            await ws.send_str("lost")
            await ws.ping(b"p")
            msg = await ws.receive(timeout=5)
            assert (msg.type, msg.data) == (aiohttp.WSMsgType.PONG, b"p")
            info = proxy.connections[0]
            assert (info.discarded, info.pings_answered) == (1, 1)
            proxy.unstall()
            await ws.send_str("back")
            msg = await ws.receive(timeout=5)
            assert msg.data == "echo back"


async def test_stall_without_pings_starves_a_heartbeat(upstream: Upstream,
                                                       http: aiohttp.ClientSession) -> None:
    async with FaultProxy(upstream.url + "/ws") as proxy:
        async with http.ws_connect(proxy.url.replace("http", "ws"), heartbeat=0.2) as ws:
            await eventually(lambda: proxy.open_websockets == 1)
            proxy.stall(answer_pings=False)
            msg = await ws.receive(timeout=10)
            assert msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSED)
        assert proxy.connections[0].pings_ignored >= 1


async def test_stall_can_ping_the_client_while_answering_nothing(
        upstream: Upstream, http: aiohttp.ClientSession) -> None:
    async with FaultProxy(upstream.url + "/ws") as proxy, \
            http.ws_connect(proxy.url.replace("http", "ws"), autoping=False) as ws:
        await eventually(lambda: proxy.open_websockets == 1)
        proxy.stall(answer_pings=False, ping_interval=0.05)
        await ws.ping(b"ours")
        msg = await ws.receive(timeout=5)
        # The proxy's ping arrives; our ping is never answered.
        assert (msg.type, msg.data) == (aiohttp.WSMsgType.PING, b"proxy")
        await eventually(lambda: proxy.connections[0].pings_ignored == 1)
        proxy.unstall()
        sent = proxy.connections[0].pings_sent
        await ws.send_str("back")
        for _ in range(100):  # pings sent before the unstall may come first
            msg = await ws.receive(timeout=5)
            if msg.type is not aiohttp.WSMsgType.PING:
                break
        assert msg.data == "echo back"
        assert proxy.connections[0].pings_sent == sent


def test_stall_refuses_a_bad_ping_interval() -> None:
    with pytest.raises(ValidationError) as err:
        FaultProxy("http://127.0.0.1:9").stall(ping_interval=0)
    assert err.value.param == "ping_interval"


async def test_inject_sends_invalid_utf8_as_text(upstream: Upstream,
                                                 http: aiohttp.ClientSession) -> None:
    async with FaultProxy(upstream.url + "/ws") as proxy:
        ws = await http.ws_connect(proxy.url.replace("http", "ws"), decode_text=False)
        async with ws:
            await eventually(lambda: proxy.open_websockets == 1)
            assert await proxy.inject(b'{"message": "\xff\xfe"}') == 1
            msg = await ws.receive(timeout=5)
            assert msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.ERROR,
                                aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert proxy.stats.injected == 1


async def test_trickle_leaves_a_frame_unfinished(upstream: Upstream,
                                                 http: aiohttp.ClientSession) -> None:
    async with FaultProxy(upstream.url + "/ws") as proxy:
        async with http.ws_connect(proxy.url.replace("http", "ws"), heartbeat=0.2) as ws:
            await eventually(lambda: proxy.open_websockets == 1)
            assert await proxy.trickle(declared=1000, send=3, interval=0.01) == 1
            await ws.send_str("unanswered")
            # Nothing completes the frame, and pongs stop: only the heartbeat ends it.
            msg = await ws.receive(timeout=10)
            assert msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSED)
        assert proxy.connections[0].discarded == 1
    with pytest.raises(ValidationError):
        await proxy.trickle(declared=10, send=10)


# -- in front of the simulator ----------------------------------------------------------------


async def test_client_through_proxies_to_the_simulator() -> None:
    async with Simulator(market_maker=None, step_interval=None) as sim:
        assert sim.rest_url is not None
        assert sim.ws_url is not None
        assert sim.node_url is not None
        async with FaultProxy(sim.rest_url) as rest, FaultProxy(sim.ws_url) as ws, \
                FaultProxy(sim.node_url) as node:
            async with KanaClient("local", rest_url=rest.url, ws_url=ws.url, node_url=node.url,
                                  private_key="11" * 32) as kana:
                infos = await kana.rest.get_market_info(1338)
                assert str(infos[0].market_id) == "1338"
                assert (await kana.deposit(10)).success
                async with kana.stream.orderbook(1338) as book:
                    first = await asyncio.wait_for(book.get(), 5)
                    assert str(first.market_id) == "1338"
            assert rest.stats.forwarded >= 1
            assert node.stats.forwarded >= 1
            assert ws.stats.websockets == 1
