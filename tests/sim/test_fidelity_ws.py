"""What the simulator's indexer sends has the documented shapes (tests/fixtures/kana/ws_*.json),
and the server survives bad and abrupt clients and many of them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import ClientConnection, connect

from kana_async.sim import Simulator
from tests.conftest import load_fixture
from tests.sim.ws_scenario import MARKET, WALLET, trade_a_little, ws_url

FIXTURES = Path(__file__).parent.parent / "fixtures" / "kana"
DOCUMENTED_TOPICS = sorted(
    p.stem.removeprefix("ws_")
    for p in FIXTURES.glob("ws_*.json")
    if load_fixture(p.name).get("examples")
)


def kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return type(value).__name__


def assert_same_shape(ours: dict[str, Any], documented: dict[str, Any], topic: str) -> None:
    assert set(ours) == set(documented), f"{topic}: keys differ"
    for key, doc_value in documented.items():
        expected, got = kind(doc_value), kind(ours[key])
        if expected == "float":  # a JSON number: an integral one may lack the fraction
            assert got in ("float", "int"), f"{topic}.{key}: {got}, documented a number"
        else:
            assert got == expected, f"{topic}.{key}: {got}, documented {expected}"


def documented_example(topic: str) -> dict[str, Any]:
    """The current (first) documented message of ``topic``."""
    body: dict[str, Any] = load_fixture(f"ws_{topic}.json")["examples"][0]["body"]
    return body


def subscription(topic: str, profile: str) -> dict[str, Any]:
    key = {"address": profile, "market_id": str(MARKET), None: None}[
        {"orderbook": "market_id", "recent_trades": "market_id", "best_price": "market_id",
         "live_funding_rate": None}.get(topic, "address")
    ]
    if key is None:
        return {"topic": topic}
    return {"topic": topic, ("market_id" if key == str(MARKET) else "address"): key}


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(seed=3, step_interval=None) as simulator:
        yield simulator


async def recv(ws: ClientConnection, timeout: float = 1.0) -> Any:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def test_documented_topics_are_the_fixture_topics() -> None:
    assert sorted([
        "deposit_withdraw_history", "live_funding_rate", "live_order_history",
        "live_trade_history", "open_orders", "order_history", "orderbook", "positions",
        "recent_trades", "trade_history",
    ]) == DOCUMENTED_TOPICS


async def test_every_topic_has_the_documented_shape(sim: Simulator) -> None:
    profile = trade_a_little(sim.engine)
    seen: dict[str, Any] = {}
    async with connect(ws_url(sim)) as ws:
        for topic in DOCUMENTED_TOPICS:
            await ws.send(json.dumps(subscription(topic, profile)))
        snapshot_topics = [t for t in DOCUMENTED_TOPICS if not t.startswith("live_")]
        while len(seen) < len(snapshot_topics):
            message = await recv(ws)
            seen.setdefault(message["message"], message)
        # live topics push single records when something happens
        trade_a_little(sim.engine)
        while "live_order_history" not in seen or "live_trade_history" not in seen:
            message = await recv(ws)
            seen.setdefault(message["message"], message)
    for topic in DOCUMENTED_TOPICS:
        documented, ours = documented_example(topic), seen[topic]
        assert list(ours) == list(documented), f"{topic}: envelope differs"
        if isinstance(documented["data"], dict):
            assert_same_shape(ours["data"], documented["data"], topic)
        else:
            assert ours["data"], f"{topic}: no data to compare"
            for element in ours["data"]:
                assert_same_shape(element, documented["data"][0], topic)


async def test_best_price_has_the_simulator_shape(sim: Simulator) -> None:
    sim.engine.step()
    async with connect(ws_url(sim)) as ws:
        await ws.send(json.dumps({"topic": "best_price", "market_id": MARKET}))
        message = await recv(ws)
    assert message["message"] == "best_price"
    (record,) = message["data"]
    assert record["market_id"] == str(MARKET)
    prices = sim.engine.market_price(MARKET)
    assert float(record["best_bid_price"]) == prices["bestBidPrice"]
    assert float(record["best_ask_price"]) == prices["bestAskPrice"]
    assert isinstance(record["last_updated"], int)
    assert isinstance(record["transaction_version"], int)


async def test_user_topics_follow_engine_changes(sim: Simulator) -> None:
    profile = sim.engine.profile_address(WALLET)
    async with connect(ws_url(sim)) as ws:
        await ws.send(json.dumps({"topic": "positions", "address": profile}))
        assert (await recv(ws))["data"] == []
        trade_a_little(sim.engine)
        message = await recv(ws)
    assert message["message"] == "positions"
    assert [(p["size"], p["trade_side"]) for p in message["data"]] == [("2.000", True)]


async def test_malformed_and_abrupt_clients_do_not_crash_the_server() -> None:
    async with Simulator(seed=4, step_interval=0.01) as sim:
        for _ in range(5):
            ws = await connect(ws_url(sim))
            await ws.send(b"\x00\xff not json")
            await ws.send('{"topic": "orderbook", "market_id": "x"}')
            await ws.send(json.dumps({"topic": "orderbook", "market_id": MARKET}))
            assert (await recv(ws))["message"] == "error"
            assert (await recv(ws))["message"] == "error"
            assert (await recv(ws))["message"] == "orderbook"
            ws.transport.abort()  # gone mid-push: the market maker keeps the book moving
            await ws.wait_closed()
        async with connect(ws_url(sim)) as ws:
            await ws.send(json.dumps({"topic": "orderbook", "market_id": MARKET}))
            assert (await recv(ws))["message"] == "orderbook"
            assert (await recv(ws))["message"] == "orderbook"


async def test_two_hundred_concurrent_clients() -> None:
    """All 200 connected and subscribed at once (aiohttp clients: cheaper handshakes)."""
    async with Simulator(seed=5, step_interval=None) as sim:
        sim.engine.step()
        all_in = asyncio.Event()
        ready: list[int] = []

        async def client(session: aiohttp.ClientSession) -> int:
            async with session.ws_connect(ws_url(sim)) as ws:
                await ws.send_str(json.dumps({"topic": "orderbook", "market_id": MARKET}))
                first = json.loads((await ws.receive(timeout=10)).data)
                ready.append(1)
                if len(ready) == 200:
                    all_in.set()
                await asyncio.wait_for(all_in.wait(), 10)
                return len(first["data"])

        loop = asyncio.get_running_loop()
        loop.set_debug(False)  # debug mode's per-callback stack capture triples the cost
        try:
            async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0)
            ) as session:
                clients = [asyncio.create_task(client(session)) for _ in range(200)]
                await asyncio.wait_for(all_in.wait(), 10)
                assert sim.ws.clients == 200
                sizes = await asyncio.gather(*clients)
        finally:
            loop.set_debug(True)
        assert all(size > 0 for size in sizes)
        sim.engine.step()  # a push to nobody after they all left
        async with connect(ws_url(sim)) as ws:
            await ws.send(json.dumps({"topic": "live_funding_rate"}))
            assert (await recv(ws))["message"] == "live_funding_rate"
