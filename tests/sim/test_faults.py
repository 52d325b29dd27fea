"""Fault controls: the Faults object itself, and each control's effect on a running simulator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from kana_async.sim import Faults, Simulator
from tests.sim.ws_scenario import MARKET, WALLET, trade_a_little, ws_url

HEADERS = {"x-api-key": "test"}

# -- the object ------------------------------------------------------------------------------


def test_fresh_faults_mean_nothing_goes_wrong() -> None:
    faults = Faults()
    assert faults.take_rest_failure() is None
    assert not faults.refusing
    assert faults.take_frame_fault() is None
    assert faults.take_rejection() is None
    assert not faults.take_hang()
    assert faults.stalled_topics == set()


def test_scripted_rest_failures_are_consumed_one_per_call() -> None:
    faults = Faults()
    faults.fail_rest(2, status=429, retry_after=1.5)
    assert [faults.take_rest_failure() for _ in range(3)] == [429, 429, None]
    assert faults.rest_retry_after == 1.5


def test_transaction_faults_are_consumed_in_order() -> None:
    faults = Faults()
    faults.reject_next_transactions(2, reason="SEQUENCE_NUMBER_TOO_OLD")
    faults.hang_next_submissions(1)
    assert [faults.take_rejection() for _ in range(3)] == [
        "SEQUENCE_NUMBER_TOO_OLD", "SEQUENCE_NUMBER_TOO_OLD", None,
    ]
    assert [faults.take_hang(), faults.take_hang()] == [True, False]


def test_frame_faults_stalls_and_clear() -> None:
    faults = Faults()
    faults.corrupt_next_frames("malformed", "numbers")
    faults.stall("orderbook")
    faults.stall("positions")
    faults.unstall("orderbook")
    assert faults.stalled_topics == {"positions"}
    faults.drop_websockets()
    faults.refuse_connections(60)
    faults.clear()
    assert faults.frame_faults == []
    assert faults.stalled_topics == set()
    assert not faults.refusing
    assert faults.drop_generation == 1, "a drop already asked for is not undone"
    assert faults.take_frame_fault() is None


async def test_refusal_ends_by_itself() -> None:
    faults = Faults()
    faults.refuse_connections(0.05)
    assert faults.refusing
    await asyncio.sleep(0.08)
    assert not faults.refusing


# -- on a running simulator ------------------------------------------------------------------


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(seed=8, step_interval=None) as simulator:
        simulator.engine.step()
        yield simulator


async def recv(ws: ClientConnection, timeout: float = 1.0) -> Any:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_raw(ws: ClientConnection, timeout: float = 1.0) -> str | bytes:
    return await asyncio.wait_for(ws.recv(), timeout)


async def silent(ws: ClientConnection, seconds: float = 0.1) -> bool:
    try:
        await asyncio.wait_for(ws.recv(), seconds)
    except asyncio.TimeoutError:
        return True
    return False


async def test_refusing_rejects_the_websocket_handshake(sim: Simulator) -> None:
    sim.faults.refuse_connections(0.2)
    with pytest.raises(InvalidStatus) as caught:
        await connect(ws_url(sim))
    assert caught.value.response.status_code == 503
    await asyncio.sleep(0.25)
    async with connect(ws_url(sim)) as ws:
        await ws.send(json.dumps({"topic": "live_funding_rate"}))
        assert (await recv(ws))["message"] == "live_funding_rate"


async def test_refusing_also_covers_rest_and_node(sim: Simulator) -> None:
    sim.faults.refuse_connections(5)
    assert sim.node_url is not None
    async with aiohttp.ClientSession() as session:
        async with session.get(sim.node_url) as response:
            assert response.status == 503
        try:
            async with session.get(f"{sim.rest_url}/getMarketInfo", headers=HEADERS) as response:
                status: int | None = response.status
        except aiohttp.ClientError:
            status = None  # the connection was closed without an answer
        assert status in (None, 503)


async def test_scripted_rest_failure_through_the_simulator(sim: Simulator) -> None:
    sim.faults.fail_rest(1, status=429, retry_after=2)
    url = f"{sim.rest_url}/getMarketInfo?marketId={MARKET}"
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers=HEADERS) as response:
            assert response.status == 429
            assert response.headers["Retry-After"] == "2"
        async with session.get(url, headers=HEADERS) as response:
            assert response.status == 200


async def test_drop_closes_every_websocket_abruptly(sim: Simulator) -> None:
    clients = [await connect(ws_url(sim)) for _ in range(3)]
    try:
        for ws in clients:
            await ws.send(json.dumps({"topic": "live_funding_rate"}))
            await recv(ws)
        sim.faults.drop_websockets()
        for ws in clients:
            with pytest.raises(ConnectionClosed):
                await recv(ws)
            assert ws.close_code == 1006, "no closing handshake: the TCP connection just ends"
    finally:
        for ws in clients:
            await ws.close()
    assert sim.ws.stats["dropped"] == 3
    async with connect(ws_url(sim)) as ws:  # new connections are welcome again
        await ws.send(json.dumps({"topic": "live_funding_rate"}))
        assert (await recv(ws))["message"] == "live_funding_rate"


async def test_stalled_topic_is_withheld_while_the_socket_stays_open(sim: Simulator) -> None:
    sim.faults.stall("orderbook")
    async with connect(ws_url(sim)) as ws:
        await ws.send(json.dumps({"topic": "orderbook", "market_id": MARKET}))
        await ws.send(json.dumps({"topic": "live_funding_rate"}))
        assert (await recv(ws))["message"] == "live_funding_rate"
        sim.engine.step()  # the market maker re-quotes: the book changes
        assert await silent(ws, 0.15)
        await asyncio.wait_for(await ws.ping(), 1.0)  # still alive
        sim.faults.unstall("orderbook")
        message = await recv(ws)
        assert message["message"] == "orderbook"
        assert message["data"] == json.loads(json.dumps(sim.engine.orderbook(MARKET)))


async def test_stalled_live_events_are_held_until_the_topic_resumes(sim: Simulator) -> None:
    profile = sim.engine.profile_address(WALLET)
    sim.faults.stall("live_order_history")
    async with connect(ws_url(sim)) as ws:
        await ws.send(json.dumps({"topic": "live_order_history", "address": profile}))
        await asyncio.sleep(0.05)
        trade_a_little(sim.engine)  # a market order and a limit order: two records
        assert await silent(ws, 0.15)
        sim.faults.unstall()
        first, second = await recv(ws), await recv(ws)
    assert first["data"]["is_market_order"] is True
    assert second["data"]["is_market_order"] is False


async def test_frame_faults_corrupt_the_next_pushes_in_order(sim: Simulator) -> None:
    profile = trade_a_little(sim.engine)
    sim.faults.corrupt_next_frames("malformed", "no_message", "numbers")
    async with connect(ws_url(sim)) as ws:
        subscription = json.dumps({"topic": "open_orders", "address": profile})
        # re-subscribing re-sends the snapshot: one push each (waited for, or they conflate)
        await ws.send(subscription)
        malformed = await recv_raw(ws)
        with pytest.raises(json.JSONDecodeError):
            json.loads(malformed)
        await ws.send(subscription)
        no_message = await recv(ws)
        assert set(no_message) == {"data"}
        await ws.send(subscription)
        numbers = await recv(ws)
        (order,) = numbers["data"]
        assert isinstance(order["order_id"], int)
        assert isinstance(order["market_id"], int)
        assert isinstance(order["price"], float)
        assert isinstance(order["remaining_size"], float)
        assert isinstance(order["address"], str)
        await ws.send(subscription)
        normal = await recv(ws)
        assert isinstance(normal["data"][0]["order_id"], str)
    assert sim.faults.frame_faults == []
