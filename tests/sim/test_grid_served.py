"""What the simulator serves is on its grid: every size, price and quote amount the REST API,
the indexer WebSocket and the node's events answer, after trading at awkward sizes, prices
and leverages (whose exact quotients have endless digits), funding and market-maker flow."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import aiohttp
from websockets.asyncio.client import connect

from kana_async.sim import Simulator, contract
from kana_async.sim.engine import Engine
from tests.sim.conftest import Clock
from tests.sim.grid import off_grid
from tests.sim.test_unknown_wallets import ADDRESS_QUERIES

HEADERS = {"x-api-key": "test"}
APT, BTC = 1338, 1339
TRADER = "0x" + "7" * 64


def trade_awkwardly(engine: Engine, clock: Clock, wallet: str = TRADER) -> list[contract.Event]:
    """Positions, closes, resting orders and funding with leverages 3 and 7 and odd sizes;
    returns the events of the trader's transactions."""
    events: list[contract.Event] = []
    now = int(clock.now)

    def run(function: str, *args: Any) -> None:
        executed = contract.run(engine, wallet, function, list(args), now=now)
        events.extend(executed.events)

    run("deposit", wallet, 5_000 * 10**6 + 1)
    for step in range(40):
        clock.now += 1
        engine.step()
        now = int(clock.now)
        if step % 10 == 0:
            run("place_market_order", APT, True, False, 1_001 + step, 7, 0, 0)
            run("place_market_order", BTC, False, False, 13 + step, 3, 0, 0)
        if step % 10 == 5:
            run("place_market_order", APT, True, True, 533, 7, 0, 0)
            bid = engine.market_price(APT)["bestBidPrice"]
            assert bid is not None
            ticks = engine.markets[APT].ticks(Decimal(str(bid))) - 7
            run("place_limit_order", APT, True, False, 777, ticks, 3, 0, 0, 0)
    return events


async def test_rest_ws_and_events_answer_on_the_grid() -> None:
    clock = Clock()
    engine = Engine(seed=4, clock=clock, funding_interval=7)
    events = trade_awkwardly(engine, clock)
    profile = engine.profile_address(TRADER)
    assert engine.funding_history(profile), "funding was paid"
    assert engine.audit().balanced
    async with Simulator(engine=engine, step_interval=None) as sim:
        async with aiohttp.ClientSession(headers=HEADERS) as http:
            answers: list[tuple[str, Any]] = []
            for path, params in ADDRESS_QUERIES.items():
                if path in ("/getProfileAddress", "/getAccountAptBalance",
                            "/getAllOpenOrderIds"):  # addresses, APT, ids: not quote amounts
                    continue
                query = {k: str(v) for k, v in {**params, "userAddress": TRADER}.items()}
                async with http.get(f"{sim.rest_url}{path}", params=query) as response:
                    answers.append((path, (await response.json())["data"]))
            for market_id in (APT, BTC):
                for path in ("/getAllTrades", "/getMarketPrice", "/getPositions"):
                    query = {"marketId": str(market_id), "userAddress": TRADER}
                    async with http.get(f"{sim.rest_url}{path}", params=query) as response:
                        answers.append((path, (await response.json())["data"]))
        assert sim.ws_url is not None
        async with connect(sim.ws_url) as ws:
            topics = ("positions", "open_orders", "order_history", "trade_history",
                      "deposit_withdraw_history")
            for topic in topics:
                await ws.send(json.dumps({"topic": topic, "address": profile}))
            for market_id in (APT, BTC):
                await ws.send(json.dumps({"topic": "orderbook", "market_id": str(market_id)}))
                await ws.send(json.dumps({"topic": "recent_trades",
                                          "market_id": str(market_id)}))
            for _ in range(len(topics) + 4):
                message = json.loads(await asyncio.wait_for(ws.recv(), 5))
                answers.append(("ws " + message["message"], message["data"]))
    checked = 0
    for where, data in answers:
        for record in data if isinstance(data, list) else [data]:
            if isinstance(record, dict):
                spec = engine.markets.get(int(record.get("market_id", 0)))
                assert not off_grid(spec, record), (where, record)
            elif record is not None:  # a balance
                assert not off_grid(None, {"amount": record}), (where, record)
            checked += 1
    assert checked > 100
    # Node events carry on-chain integers: lots, ticks, sub-units.
    numbers = {"size", "price", "amount", "take_profit", "stop_loss", "remaining_size"}
    for event in events:
        for name, value in event.data.items():
            if name in numbers:
                assert isinstance(value, str), (event.type, name, value)
                assert value.isdigit(), (event.type, name, value)
    assert any(e.type.endswith("FillEvent") for e in events)
