"""Market names wherever a market id is taken (``"APT"``, ``"APT-USD"``), and ``market_id``
as an ``int`` end to end: what a user types compares equal to what models carry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from kana_async import KanaClient, ValidationError
from kana_async.sim import Simulator
from kana_async.stream import OrderBook, StreamMux
from tests.conftest import local_client

ALICE = "11" * 32


@pytest.fixture
async def kana(sim: Simulator) -> AsyncIterator[KanaClient]:
    async with local_client(sim, ALICE) as client:
        yield client


async def test_rest_takes_names(kana: KanaClient) -> None:
    assert await kana.rest.resolve_market_id("APT") == 1338
    assert await kana.rest.resolve_market_id("btc-usd") == 1339
    assert await kana.rest.resolve_market_id("1340") == 1340
    assert (await kana.rest.resolve_market("ETH/USDC")).market_id == 1340
    by_name = await kana.rest.get_market_price("APT-USD")
    assert by_name == await kana.rest.get_market_price(1338)
    (info,) = await kana.rest.get_market_info("apt/usdc")
    assert info.market_id == 1338
    assert (await kana.rest.market_info("APT")).market_id == 1338
    assert kana.rest.cached_market_info("APT") is not None
    assert await kana.rest.get_open_orders(kana.address, "SOL") == []
    payload = await kana.rest.place_limit_order("APT", True, False, "0.5", "5.7", 2)
    assert payload.function_arguments[0] in (1338, "1338")


async def test_an_unknown_name_sends_nothing(kana: KanaClient, sim: Simulator) -> None:
    assert (await kana.deposit(1000)).success
    version = sim.engine.ledger_version
    with pytest.raises(ValidationError) as info:
        await kana.place_limit_order("DOGE", True, False, "0.5", "5.7", 2)
    assert info.value.param == "market_id"
    assert "no market named 'DOGE'; known: APT/USDC (1338), BTC/USDC (1339)" in str(info.value)
    with pytest.raises(ValidationError, match="no market named 'DOGE'"):
        await kana.rest.get_market_price("DOGE")
    assert sim.engine.ledger_version == version


async def test_trading_by_name_and_market_id_is_an_int_end_to_end(
    kana: KanaClient, sim: Simulator
) -> None:
    assert (await kana.deposit(1000)).success
    assert (await kana.place_limit_order("APT-USD", True, False, "0.5", "5.7", 2)).success
    (order,) = await kana.rest.get_open_orders(kana.address, "APT")
    assert order.market_id == 1338  # what the user typed, not "1338"
    assert isinstance(order.market_id, int)
    (info,) = await kana.rest.get_perpetual_assets_info(1338)
    assert info.market_id == 1338


async def test_stream_takes_names(kana: KanaClient) -> None:
    # First call with no market list yet: resolved in the background.
    async with kana.stream.orderbook("APT") as sub:
        book: OrderBook = await asyncio.wait_for(sub.get(), 5)
    assert book.market_id == 1338
    assert sub.key == "1338"
    # The list is known now: resolved at once.
    async with kana.stream.recent_trades("btc") as trades:
        assert trades.key == "1339"
        await asyncio.wait_for(trades.get(), 5)
    async with kana.stream.subscribe("best_price", market_id="ETH-USD") as best:
        (item,) = await asyncio.wait_for(best.get(), 5)
    assert item.market_id == 1340


async def test_stream_unknown_name(kana: KanaClient, sim: Simulator) -> None:
    # Before the list is known the first read raises; afterwards subscribe raises at once.
    sub: Any = kana.stream.orderbook("DOGE")
    with pytest.raises(ValidationError, match="no market named 'DOGE'"):
        await asyncio.wait_for(sub.get(), 5)
    with pytest.raises(ValidationError, match="no market named 'DOGE'"):
        kana.stream.orderbook("DOGE")


async def test_a_closed_subscription_by_name_is_never_sent(kana: KanaClient) -> None:
    sub = kana.stream.orderbook("APT")
    await sub.close()
    await asyncio.sleep(0.05)
    assert kana.stream.stats().subscriptions == []


async def test_closing_the_client_while_a_name_is_looked_up(sim: Simulator) -> None:
    async with KanaClient("local", rest_url=sim.rest_url, ws_url=sim.ws_url,
                          node_url=sim.node_url) as kana:
        sub = kana.stream.orderbook("APT")
    assert sub.closed


async def test_a_mux_without_the_market_list_refuses_names() -> None:
    async with aiohttp.ClientSession() as http, \
            StreamMux(http, "ws://127.0.0.1:9/ws/") as stream:
        with pytest.raises(ValidationError, match="a market name needs the market list"):
            stream.orderbook("APT")
        assert stream.stats().subscriptions == []
