"""The Simulator wrapper: what it serves, where, and that it leaves nothing behind."""

from __future__ import annotations

import asyncio
import json
import socket
from urllib.parse import urlsplit

import aiohttp
import pytest
from websockets.asyncio.client import connect

from kana_async.errors import ValidationError
from kana_async.sim import Engine, Faults, MarketMakerConfig, PulseConfig, Simulator
from kana_async.sim.server import check_loopback

HEADERS = {"x-api-key": "test"}


def port_of(url: str | None) -> int:
    assert url is not None
    port = urlsplit(url).port
    assert port is not None
    return port


def refused(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def free_port_run(length: int = 4) -> int:
    """A port N with N..N+length-1 free right now (best effort)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + length > 65535:
            continue
        sockets = []
        try:
            for port in range(base, base + length):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise AssertionError("no free run of ports")


async def test_serves_rest_ws_and_node_on_loopback() -> None:
    async with Simulator(step_interval=None) as sim:
        assert sim.running
        for url in (sim.rest_url, sim.ws_url, sim.node_url):
            assert url is not None
            assert urlsplit(url).hostname == "127.0.0.1"
        assert sim.ws_url is not None
        assert sim.ws_url.endswith("/ws/")
        assert sim.node_url is not None
        assert sim.node_url.endswith("/v1")
        assert sim.pulse_ws_url is not None
        assert sim.pulse_http_url is not None
        assert sim.pulse_ws_url.endswith("/ws/api/v2")
        assert sim.pulse_http_url.endswith("/api/v2")
        assert urlsplit(sim.pulse_ws_url).hostname == "127.0.0.1"
        assert port_of(sim.pulse_ws_url) == port_of(sim.pulse_http_url)
        assert len({port_of(sim.rest_url), port_of(sim.ws_url), port_of(sim.node_url),
                    port_of(sim.pulse_ws_url)}) == 4
        assert sim.urls == {"rest": sim.rest_url, "ws": sim.ws_url, "node": sim.node_url,
                            "pulse_ws": sim.pulse_ws_url, "pulse_http": sim.pulse_http_url}
        assert sim.pulse is not None
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{sim.pulse_http_url}/public/get_index_price",
                                   params={"index_name": "btc_usd"}) as response:
                assert response.status == 200
                assert await response.json() == 60000
            async with session.ws_connect(sim.pulse_ws_url) as pulse_ws:
                await pulse_ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "public/test"})
                reply = await pulse_ws.receive_json(timeout=2)
                assert reply["id"] == 1
                assert "version" in reply["result"]
            async with session.get(f"{sim.rest_url}/getMarketInfo?marketId=1338",
                                   headers=HEADERS) as response:
                body = await response.json()
                assert body["success"] is True
            async with session.get(sim.node_url) as response:
                assert (await response.json())["chain_id"] == 4
        async with connect(sim.ws_url) as ws:
            await ws.send(json.dumps({"topic": "live_funding_rate"}))
            message = json.loads(await asyncio.wait_for(ws.recv(), 1))
            assert message["message"] == "live_funding_rate"


async def test_closes_everything_and_closing_twice_is_harmless() -> None:
    sim = Simulator(step_interval=0.01)
    tasks_before = asyncio.all_tasks()
    async with sim, aiohttp.ClientSession() as session:
        ports = [port_of(sim.rest_url), port_of(sim.ws_url), port_of(sim.node_url),
                 port_of(sim.pulse_ws_url)]
        ws = await connect(sim.ws_url or "")
        pulse_ws = await session.ws_connect(sim.pulse_ws_url or "")
        assert len(asyncio.all_tasks() - tasks_before) > 0
        await sim.close()
        message = await pulse_ws.receive(timeout=2)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        await pulse_ws.close()
    await sim.close()
    await sim.close()
    assert not sim.running
    assert all(refused(port) for port in ports)
    await asyncio.wait_for(ws.wait_closed(), 1)
    assert asyncio.all_tasks() - tasks_before == set()


async def test_fixed_port_layout() -> None:
    base = free_port_run()
    async with Simulator(port=base, step_interval=None) as sim:
        assert (port_of(sim.rest_url), port_of(sim.ws_url), port_of(sim.node_url),
                port_of(sim.pulse_ws_url), port_of(sim.pulse_http_url)) == (
            base, base + 1, base + 2, base + 3, base + 3
        )


async def test_the_pulse_gateway_can_be_left_out() -> None:
    async with Simulator(step_interval=None, pulse=None) as sim:
        assert sim.pulse is None
        assert sim.pulse_ws_url is None
        assert sim.pulse_http_url is None
        assert sim.urls["pulse_ws"] is None


async def test_failed_pulse_start_leaves_nothing_open() -> None:
    base = free_port_run()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", base + 3))  # the Pulse gateway's port is taken
        squatter.listen()
        sim = Simulator(port=base, step_interval=0.01)
        with pytest.raises(OSError, match="in use"):
            await sim.start()
    assert not sim.running
    assert all(refused(port) for port in (base, base + 1, base + 2))
    assert sim.pulse_ws_url is None


async def test_failed_start_leaves_nothing_open() -> None:
    base = free_port_run()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", base + 1))  # the WebSocket's port is taken
        squatter.listen()
        sim = Simulator(port=base, step_interval=0.01)
        with pytest.raises(OSError, match="in use"):
            await sim.start()
    assert not sim.running
    assert refused(base)
    assert sim.rest_url is None


async def test_background_steps_drive_the_engine() -> None:
    async with Simulator(seed=1, step_interval=0.01) as sim:
        assert sim.pulse is not None
        pulse = sim.pulse.engine
        first = pulse.last_seq
        for _ in range(100):
            if sim.engine.orderbook(1338) and sim.engine.ledger_version > 10 and (
                pulse.last_seq > first
            ):
                break
            await asyncio.sleep(0.01)
        assert sim.engine.orderbook(1338), "the market maker quoted"
        assert sim.engine.ledger_version > 10
        assert pulse.last_seq > first, "the Pulse engine stepped too"


async def test_no_background_steps_when_asked() -> None:
    async with Simulator(step_interval=None) as sim:
        await asyncio.sleep(0.05)
        assert sim.engine.ledger_version == 0
        sim.engine.step()
        assert sim.engine.ledger_version > 0


async def test_a_failing_step_does_not_stop_the_clock(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls = []

    def broken_step(now: float | None = None) -> None:
        calls.append(now)
        raise RuntimeError("boom")

    async with Simulator(step_interval=0.005) as sim:
        assert sim.pulse is not None
        monkeypatch.setattr(sim.engine, "step", broken_step)
        monkeypatch.setattr(sim.pulse.engine, "step", broken_step)
        for _ in range(100):
            if len(calls) >= 10:
                break
            await asyncio.sleep(0.005)
    assert len(calls) >= 10
    assert sum(r.message == "engine step failed" for r in caplog.records) == 3
    assert sum(r.message == "Pulse engine step failed" for r in caplog.records) == 3


async def test_pulse_options_reach_the_gateway() -> None:
    config = PulseConfig(token_lifetime=5, strict=False, market_maker=False,
                         funding_interval=30)
    async with Simulator(step_interval=None, pulse=config, seed=4) as sim:
        assert sim.pulse is not None
        assert sim.pulse.config is config
        assert sim.pulse.auth.token_lifetime == 5
        assert sim.pulse.gateway.strict is False
        assert sim.pulse.engine.funding_interval == 30
        assert sim.pulse.engine.book("BTC_USD-PERPETUAL") == ([], [])


async def test_options_reach_the_engine_and_servers() -> None:
    engine = Engine(seed=2, market_maker=None)
    faults = Faults()
    async with Simulator(engine=engine, faults=faults, step_interval=None,
                         api_keys={"secret-key"}, chain_id=7) as sim:
        assert sim.engine is engine
        assert sim.faults is faults
        assert sim.ws.faults is faults
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{sim.rest_url}/getMarketInfo?marketId=1338",
                                   headers={"x-api-key": "other"}) as response:
                assert response.status == 403
            async with session.get(sim.node_url or "") as response:
                assert (await response.json())["chain_id"] == 7
    async with Simulator(seed=2, market_maker=MarketMakerConfig(levels=2), step_interval=None,
                         faucet_quote=5, faucet_apt_octas=7) as sim:
        assert sim.engine.market_maker is not None
        assert sim.engine.market_maker.config.levels == 2
        wallet = "0x" + "1" * 64
        sim.engine.ensure_wallet(wallet)
        assert sim.engine.wallet_balance(wallet) == 5


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"host": "0.0.0.0"}, "host"),
        ({"host": "192.168.1.5"}, "host"),
        ({"host": "example.com"}, "host"),
        ({"port": -1}, "port"),
        ({"port": 65533}, "port"),
        ({"pulse": {"strict": False}}, "pulse"),
        ({"port": True}, "port"),
        ({"step_interval": 0}, "step_interval"),
        ({"push_interval": -1}, "push_interval"),
    ],
)
def test_bad_arguments_are_refused_before_anything_starts(
    kwargs: dict[str, object], param: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Simulator(**kwargs)  # type: ignore[arg-type]
    assert caught.value.param == param


def test_loopback_hosts() -> None:
    assert check_loopback("127.0.0.1") == "127.0.0.1"
    assert check_loopback("localhost") == "127.0.0.1"
    assert check_loopback("::1") == "::1"
    with pytest.raises(ValidationError, match="loopback"):
        check_loopback("0.0.0.0")
