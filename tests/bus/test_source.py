"""``KanaClient(..., stream_url="nats://...")``: kana.stream reads from the bus."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from kana_async import KanaClient
from kana_async.bus import connect
from kana_async.bus.bridge import Bridge
from kana_async.bus.source import BusStream
from kana_async.errors import SlowConsumerError, ValidationError
from kana_async.models import Order
from kana_async.sim import Simulator
from kana_async.stream import OrderBook, StreamMux
from tests.bus.nats_server import NatsServer
from tests.bus.support import until, upstream_has

MARKET = 1338


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(seed=11, step_interval=None) as simulator:
        yield simulator


@pytest.fixture
async def bridge(sim: Simulator, nats_server: NatsServer) -> AsyncIterator[Bridge]:
    assert sim.ws_url is not None
    async with aiohttp.ClientSession() as http, Bridge(
        nats_server.url, network="local", ws_url=sim.ws_url, http=http,
    ) as running:
        yield running


@pytest.mark.parametrize("url", ["ws://127.0.0.1:1", "127.0.0.1:4222", 5])
def test_stream_url_must_be_nats(url: Any) -> None:
    with pytest.raises(ValidationError, match="stream_url: must be a nats:// or tls:// URL"):
        KanaClient("local", stream_url=url)


async def test_the_client_reads_its_stream_from_the_bus(
    sim: Simulator, bridge: Bridge, nats_server: NatsServer
) -> None:
    wallet = "0x" + "a1" * 32
    profile = sim.engine.profile_address(wallet)
    sim.engine.ensure_wallet(wallet)
    sim.engine.deposit(wallet, 100 * 10**6)
    async with KanaClient("local", rest_url=sim.rest_url, ws_url=sim.ws_url,
                          node_url=sim.node_url, stream_url=nats_server.url) as kana:
        assert isinstance(kana.stream, BusStream)
        assert isinstance(kana.stream, StreamMux)
        book = await asyncio.wait_for(kana.stream.orderbook("APT").get(), 5)
        assert isinstance(book, OrderBook)
        orders = kana.stream.live_order_history(profile)
        await until(lambda: orders.current)
        await upstream_has(sim, profile)
        sim.engine.place_market_order(wallet, MARKET, True, False, 500, 2, 0, 0)
        order = await asyncio.wait_for(orders.get(), 5)
        assert isinstance(order, Order)
        stats = kana.stream.stats()
        assert stats.connected
        assert {s.topic for s in stats.subscriptions} == {"orderbook", "live_order_history"}
    # Nothing of the direct stream was opened: the exchange socket is the bridge's alone.
    assert sim.ws.subscribers("live_order_history", profile) == 1


async def test_a_slow_bus_consumer_gets_the_error_policy(
    sim: Simulator, bridge: Bridge, nats_server: NatsServer
) -> None:
    wallet = "0x" + "a2" * 32
    profile = sim.engine.profile_address(wallet)
    sim.engine.ensure_wallet(wallet)
    sim.engine.deposit(wallet, 100 * 10**6)
    async with BusStream(nats_server.url, network="local") as bus:
        orders = bus.live_order_history(profile, buffer_size=2)
        await until(lambda: orders.current)
        await upstream_has(sim, profile)
        for _ in range(4):
            sim.engine.place_market_order(wallet, MARKET, True, False, 500, 2, 0, 0)
        await until(lambda: orders.stats.received == 4)
        with pytest.raises(SlowConsumerError):
            await orders.get()
        assert isinstance(await orders.get(), Order)
        assert orders.stats.dropped == 2


async def test_without_a_bridge_the_kept_snapshot_serves_and_a_new_bridge_is_asked(
    sim: Simulator, nats_server: NatsServer
) -> None:
    wallet = "0x" + "a3" * 32
    profile = sim.engine.profile_address(wallet)
    sim.engine.ensure_wallet(wallet)
    sim.engine.deposit(wallet, 300 * 10**6)
    assert sim.ws_url is not None
    async with aiohttp.ClientSession() as http:
        async with Bridge(nats_server.url, network="local", ws_url=sim.ws_url,
                          http=http) as first:
            await first.open("deposit_withdraw_history", address=profile)
            await until(lambda: first.stats().published >= 1)
        async with BusStream(nats_server.url, network="local") as bus:
            history = bus.deposit_withdraw_history(profile)
            orders = bus.live_order_history(profile)
            [row] = await asyncio.wait_for(history.get(), 5)  # no bridge is running
            assert row.is_deposit
            assert not orders.current
            async with Bridge(nats_server.url, network="local", ws_url=sim.ws_url,
                              http=http) as second:
                await until(lambda: orders.current)
                await upstream_has(sim, profile)
                assert second.stats().keys == 2
                sim.engine.place_market_order(wallet, MARKET, True, False, 500, 2, 0, 0)
                assert isinstance(await asyncio.wait_for(orders.get(), 5), Order)


def test_without_the_bus_extra_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "nats", None)  # what a base install looks like
    with pytest.raises(ImportError, match=r"pip install 'kana-async\[bus\]'"):
        KanaClient("local", stream_url="nats://127.0.0.1:4222")
    KanaClient("local")  # without NATS nothing changes


async def test_a_garbled_answer_to_a_subscribe_request_is_ignored(
    nats_server: NatsServer,
) -> None:
    nc = await connect(nats_server.url, name="test")
    asked: list[bytes] = []

    async def garble(msg: Any) -> None:
        asked.append(msg.data)
        await nc.publish(msg.reply, b"not json")

    await nc.subscribe("kana-ctl.testnet.subscribe", cb=garble)
    try:
        async with BusStream(nats_server.url, network="testnet") as bus:
            book = bus.orderbook(1338)
            await until(lambda: len(asked) >= 1)
            await asyncio.sleep(0.05)  # the answer is read meanwhile
            assert not book.closed
            assert not book.current
    finally:
        await nc.close()


async def test_an_event_key_asked_before_any_bridge_ran_waits_for_its_stream(
    sim: Simulator,
) -> None:
    wallet = "0x" + "a5" * 32
    profile = sim.engine.profile_address(wallet)
    sim.engine.ensure_wallet(wallet)
    sim.engine.deposit(wallet, 100 * 10**6)
    assert sim.ws_url is not None
    with NatsServer() as server:  # fresh: no bridge ever made its streams
        async with BusStream(server.url, network="local") as bus:
            orders = bus.live_order_history(profile)
            await asyncio.sleep(0.1)  # meanwhile it looks for the stream, and waits
            assert not orders.closed
            async with aiohttp.ClientSession() as http, Bridge(
                    server.url, network="local", ws_url=sim.ws_url, http=http):
                await until(lambda: orders.current, timeout=20)
                await upstream_has(sim, profile)
                sim.engine.place_market_order(wallet, MARKET, True, False, 500, 2, 0, 0)
                assert isinstance(await asyncio.wait_for(orders.get(), 5), Order)
