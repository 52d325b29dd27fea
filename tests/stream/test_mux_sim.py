"""A subscription per topic against the embedded simulator receives the documented shapes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from kana_async.errors import StreamGapError
from kana_async.models import (
    DepositWithdraw,
    FundingRate,
    OpenOrder,
    Order,
    Position,
    Trade,
    normalize_address,
)
from kana_async.sim import Simulator
from kana_async.stream import OrderBook, ReconnectPolicy, StreamMux, Subscription

WALLET = "0x" + "c3" * 32
MARKET = 1338


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(seed=7, step_interval=0.05) as simulator:
        yield simulator


@pytest.fixture
async def mux(sim: Simulator) -> AsyncIterator[StreamMux]:
    assert sim.ws_url is not None
    policy = ReconnectPolicy(initial_delay=0.005, max_delay=0.02, jitter=0.0)
    async with aiohttp.ClientSession() as http, \
            StreamMux(http, sim.ws_url, reconnect=policy) as stream:
        yield stream


async def first_where(sub: Subscription[Any], wanted: Any, timeout: float = 2.0) -> Any:
    """The first item satisfying ``wanted`` (snapshots before the change may be empty)."""
    async def scan() -> Any:
        async for item in sub:
            if wanted(item):
                return item
        raise AssertionError(f"{sub.topic} ended")

    return await asyncio.wait_for(scan(), timeout)


async def test_a_subscription_per_topic_receives_typed_documented_shapes(
    sim: Simulator, mux: StreamMux
) -> None:
    profile = sim.engine.profile_address(WALLET)
    sim.engine.ensure_wallet(WALLET)
    subs: dict[str, Subscription[Any]] = {
        "positions": mux.positions(profile),
        "open_orders": mux.open_orders(profile),
        "order_history": mux.order_history(profile),
        "trade_history": mux.trade_history(profile),
        "deposit_withdraw_history": mux.deposit_withdraw_history(profile),
        "live_order_history": mux.live_order_history(profile),
        "live_trade_history": mux.live_trade_history(profile),
        "orderbook": mux.orderbook(MARKET),
        "recent_trades": mux.recent_trades(MARKET),
        "live_funding_rate": mux.live_funding_rate(),
    }
    book = await first_where(subs["orderbook"], lambda b: b.bids and b.asks)
    assert isinstance(book, OrderBook)
    assert book.best_bid is not None
    assert book.best_ask is not None
    assert book.best_bid.price < book.best_ask.price
    rates = await first_where(subs["live_funding_rate"], bool)
    assert all(isinstance(rate, FundingRate) for rate in rates)
    await asyncio.sleep(0.05)  # every subscribe answered before the activity starts

    sim.engine.deposit(WALLET, 1_000 * 10**6)
    sim.engine.place_market_order(WALLET, MARKET, True, False, 1_000, 5, 0, 0)
    resting = book.bids[-1].price - Decimal("0.5")
    sim.engine.place_limit_order(WALLET, MARKET, True, False, 500,
                                 int(resting * 1000), 5, 0, 0, 0)

    [deposit] = await first_where(subs["deposit_withdraw_history"], bool)
    assert isinstance(deposit, DepositWithdraw)
    assert (deposit.amount, deposit.is_deposit) == (Decimal(1000), True)
    [pos] = await first_where(subs["positions"], bool)
    assert isinstance(pos, Position)
    assert (pos.size, pos.trade_side, pos.leverage) == (Decimal(1), True, 5)
    [order] = await first_where(subs["open_orders"], bool)
    assert isinstance(order, OpenOrder)
    assert order.remaining_size == Decimal("0.5")
    orders = await first_where(subs["order_history"], lambda rows: len(rows) == 2)
    assert all(isinstance(o, Order) for o in orders)
    fills = await first_where(subs["trade_history"], bool)
    assert all(isinstance(f, Trade) for f in fills)
    market_fills = await first_where(
        subs["recent_trades"], lambda rows: any(r.address == profile for r in rows))
    assert all(isinstance(f, Trade) and f.market_id == MARKET for f in market_fills)

    live_order = await asyncio.wait_for(subs["live_order_history"].get(), 2)
    assert isinstance(live_order, Order)
    assert live_order.address == normalize_address(profile)
    live_fill = await asyncio.wait_for(subs["live_trade_history"].get(), 2)
    assert isinstance(live_fill, Trade)
    assert live_fill.size == Decimal(1)

    stats = mux.stats()
    assert stats.malformed == stats.unroutable == stats.unknown_topic == 0
    assert all(s.decode_errors == 0 for s in stats.subscriptions)


async def test_a_dropped_simulator_socket_is_a_gap_for_event_consumers(
    sim: Simulator, mux: StreamMux
) -> None:
    profile = sim.engine.profile_address(WALLET)
    sim.engine.ensure_wallet(WALLET)
    sim.engine.deposit(WALLET, 100 * 10**6)
    orders = mux.live_order_history(profile)
    positions = mux.positions(profile)
    await first_where(positions, lambda rows: True)
    sim.faults.drop_websockets()
    with pytest.raises(StreamGapError):
        await asyncio.wait_for(orders.get(), 2)
    await first_where(positions, lambda rows: True)  # resubscribed: a fresh snapshot
    sim.engine.place_market_order(WALLET, MARKET, True, False, 500, 2, 0, 0)
    order = await asyncio.wait_for(orders.get(), 2)
    assert isinstance(order, Order)
    [pos] = await first_where(positions, bool)
    assert pos.size == Decimal("0.5")
    assert mux.stats().connects == 2


@pytest.mark.parametrize("fault", ["numbers", "no_message", "malformed"])
async def test_corrupted_simulator_frames_never_stop_the_stream(
    sim: Simulator, mux: StreamMux, fault: Any
) -> None:
    profile = sim.engine.profile_address(WALLET)
    sim.engine.ensure_wallet(WALLET)
    sim.engine.deposit(WALLET, 100 * 10**6)
    orders = mux.live_order_history(profile)
    # An event topic answers nothing on subscribe: wait until the server has it, or the
    # order below could happen before the subscription (a slow machine) and never arrive.
    for _ in range(500):
        if sim.ws.subscribers("live_order_history", profile):
            break
        await asyncio.sleep(0.01)
    assert sim.ws.subscribers("live_order_history", profile) == 1
    sim.faults.corrupt_next_frames(fault)
    sim.engine.place_market_order(WALLET, MARKET, True, False, 500, 2, 0, 0)
    if fault == "malformed":
        await asyncio.sleep(0.05)
        sim.engine.place_market_order(WALLET, MARKET, True, False, 500, 2, 0, 0)
    order = await asyncio.wait_for(orders.get(), 2)
    assert isinstance(order, Order)
    assert order.market_id == MARKET
    stats = mux.stats()
    assert stats.malformed == (1 if fault == "malformed" else 0)
    assert stats.routed_by_shape == (1 if fault == "no_message" else 0)
