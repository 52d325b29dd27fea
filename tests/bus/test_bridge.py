"""The bridge against the simulator and a real nats-server, read back through BusStream."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from nats.js.errors import NotFoundError

from kana_async.bus import connect, subjects
from kana_async.bus.bridge import Bridge, BridgeLimits, Outbox
from kana_async.bus.source import BusStream
from kana_async.errors import AuthError, StreamGapError, ValidationError
from kana_async.models import Order, normalize_address
from kana_async.sim import Simulator
from kana_async.stream import OrderBook, ReconnectPolicy, StreamMux, Subscription
from tests.bus.nats_server import NatsServer
from tests.bus.support import until, upstream_has

#: One wallet per test: the simulator is deterministic, and an event of the same bytes in an
#: earlier test of the module would be a duplicate for JetStream (same identity).
WALLETS = iter("0x" + f"{n:02x}" * 32 for n in range(0xc0, 0xff))
MARKET = 1338
FAST = ReconnectPolicy(initial_delay=0.005, max_delay=0.02, jitter=0.0)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(seed=7, step_interval=None) as simulator:
        yield simulator


@pytest.fixture
async def bridge(sim: Simulator, nats_server: NatsServer) -> AsyncIterator[Bridge]:
    assert sim.ws_url is not None
    async with aiohttp.ClientSession() as http, Bridge(
        nats_server.url, network="local", ws_url=sim.ws_url, http=http,
        stream={"reconnect": FAST},
    ) as running:
        yield running


async def first_where(sub: Subscription[Any], wanted: Any, timeout: float = 5.0) -> Any:
    async def scan() -> Any:
        async for item in sub:
            if wanted(item):
                return item
        raise AssertionError(f"{sub.topic} ended")

    return await asyncio.wait_for(scan(), timeout)


def test_outbox_is_bounded_and_marks_lossy_event_subjects() -> None:
    box = Outbox(2)
    box.add("kana.local.live_order_history.x", b"1", event=True)
    box.add("kana.local.orderbook.1", b"[]", event=False)
    box.add("kana.local.orderbook.1", b"[]", event=False)
    assert box.dropped == 1
    assert box.take_lossy() == ["kana.local.live_order_history.x"]
    assert box.take_lossy() == []
    [(_, _, first), (_, _, second)] = box.queue
    assert first is second is None  # snapshots carry no header
    box.add("kana.local.live_order_history.x", b"2", event=True)
    _, _, event = box.queue[-1]
    assert event == {subjects.MSG_ID_HEADER: subjects.message_id(
        "kana.local.live_order_history.x", b"2")}
    box.gap("kana.local.live_order_history.x", "upstream reconnected")
    _, body, headers = box.queue[-1]
    assert body == b""
    assert headers == {subjects.GAP_HEADER: "upstream reconnected"}
    assert box.gaps == 1
    assert box.dropped == 3
    assert box.take_lossy() == []  # only snapshots were dropped since


def test_limits_are_checked() -> None:
    with pytest.raises(ValidationError, match="outbox: must be an integer >= 1"):
        BridgeLimits(outbox=0)
    with pytest.raises(ValidationError, match="duplicate_window"):
        BridgeLimits(duplicate_window=float("inf"))


async def test_bus_items_equal_the_direct_stream_and_a_key_opens_once(
    sim: Simulator, bridge: Bridge, nats_server: NatsServer
) -> None:
    wallet = next(WALLETS)
    assert sim.ws_url is not None
    profile = sim.engine.profile_address(wallet)
    sim.engine.ensure_wallet(wallet)
    sim.engine.deposit(wallet, 1_000 * 10**6)
    async with aiohttp.ClientSession() as http, \
            StreamMux(http, sim.ws_url, reconnect=FAST) as direct, \
            BusStream(nats_server.url, network="local") as one, \
            BusStream(nats_server.url, network="local") as two:
        direct_orders = direct.live_order_history(profile)
        bus_orders = [one.live_order_history(profile), two.live_order_history(profile)]
        books = [one.orderbook(MARKET), two.orderbook(str(MARKET))]
        await until(lambda: all(s.current for s in bus_orders) and direct_orders.current)
        await until(lambda: sim.ws.subscribers("live_order_history", profile) == 2)
        sim.engine.place_market_order(wallet, MARKET, True, False, 500, 2, 0, 0)
        expected = await asyncio.wait_for(direct_orders.get(), 5)
        for sub in bus_orders:
            order = await asyncio.wait_for(sub.get(), 5)
            assert isinstance(order, Order)
            assert order == expected
            assert order.address == normalize_address(profile)
        for book_sub in books:
            book = await first_where(book_sub, lambda b: True)
            assert isinstance(book, OrderBook)
    # One upstream key per subject however many consumers asked.
    assert bridge.subjects == sorted([
        subjects.data_subject("local", "live_order_history", normalize_address(profile)),
        subjects.data_subject("local", "orderbook", str(MARKET)),
    ])
    assert sim.ws.subscribers("orderbook", str(MARKET)) == 1


async def test_a_late_joiner_gets_the_current_snapshot_without_new_activity(
    sim: Simulator, bridge: Bridge, nats_server: NatsServer
) -> None:
    wallet = next(WALLETS)
    profile = sim.engine.profile_address(wallet)
    sim.engine.ensure_wallet(wallet)
    sim.engine.deposit(wallet, 250 * 10**6)
    await bridge.open("deposit_withdraw_history", address=profile)
    await until(lambda: bridge.stats().published >= 1)
    # The simulator steps no engine here: nothing new is pushed, the value comes from the
    # snapshot stream.
    async with BusStream(nats_server.url, network="local") as late:
        [row] = await first_where(late.deposit_withdraw_history(profile), bool)
        assert row.amount == Decimal(250)


async def test_an_upstream_reconnect_is_a_gap_on_the_bus(
    sim: Simulator, bridge: Bridge, nats_server: NatsServer
) -> None:
    wallet = next(WALLETS)
    profile = sim.engine.profile_address(wallet)
    sim.engine.ensure_wallet(wallet)
    sim.engine.deposit(wallet, 100 * 10**6)
    async with BusStream(nats_server.url, network="local") as bus:
        orders = bus.live_order_history(profile)
        await until(lambda: orders.current)
        await upstream_has(sim, profile)
        sim.faults.drop_websockets()
        with pytest.raises(StreamGapError):
            await asyncio.wait_for(orders.get(), 5)
        await until(lambda: sim.ws.subscribers("live_order_history", profile) == 1)
        sim.engine.place_market_order(wallet, MARKET, True, False, 500, 2, 0, 0)
        order = await asyncio.wait_for(orders.get(), 5)
        assert isinstance(order, Order)
        assert orders.stats.gaps == 1
        assert bridge.stats().gaps >= 1


async def test_replay_from_a_sequence_and_duplicates_dropped(
    sim: Simulator, bridge: Bridge, nats_server: NatsServer
) -> None:
    wallet = next(WALLETS)
    profile = sim.engine.profile_address(wallet)
    sim.engine.ensure_wallet(wallet)
    sim.engine.deposit(wallet, 100 * 10**6)
    await bridge.open("live_order_history", address=profile)
    await upstream_has(sim, profile)
    started = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)
    for _ in range(3):
        sim.engine.place_market_order(wallet, MARKET, True, False, 500, 2, 0, 0)
    await until(lambda: bridge.stats().published >= 3)
    async with BusStream(nats_server.url, network="local") as bus:
        replayed = bus.live_order_history(profile, start=1)
        got = [await asyncio.wait_for(replayed.get(), 5) for _ in range(3)]
        assert all(isinstance(order, Order) for order in got)
        assert len({order.order_id for order in got}) == 3
        with pytest.raises(ValidationError, match=r"start: live_order_history .* is already"):
            bus.live_order_history(profile, start=1)
    async with BusStream(nats_server.url, network="local") as bus:
        since = bus.live_order_history(profile, start=started)
        assert [await asyncio.wait_for(since.get(), 5) for _ in range(3)] == got
    with pytest.raises(ValidationError, match="start: must be an aware datetime"):
        BusStream(nats_server.url, network="local").subscribe(
            "live_order_history", address=profile, start=datetime.datetime(2026, 1, 1))
    with pytest.raises(ValidationError, match="start: topic orderbook keeps only"):
        BusStream(nats_server.url, network="local").subscribe("orderbook", market_id=1, start=1)


async def test_a_refused_subscription_and_a_server_that_refuses_us() -> None:
    with NatsServer(users=[{"user": "bot", "password": "s3cret"}]) as server:
        async with BusStream(server.url, network="local") as bus:
            sub = bus.live_funding_rate()
            with pytest.raises(AuthError, match="refused the credentials"):
                await asyncio.wait_for(sub.get(), 10)
        async with BusStream(server.url, network="local",
                             nats_options={"user": "bot", "password": "s3cret"}) as bus:
            sub = bus.live_funding_rate()
            await until(lambda: bus.stats().connected)
            await sub.close()


async def test_a_bridge_serving_only_its_own_keys_leaves_other_requests_unanswered(
    sim: Simulator, nats_server: NatsServer
) -> None:
    wallet = next(WALLETS)
    profile = sim.engine.profile_address(wallet)
    sim.engine.ensure_wallet(wallet)
    sim.engine.deposit(wallet, 100 * 10**6)
    assert sim.ws_url is not None
    async with aiohttp.ClientSession() as http, Bridge(
        nats_server.url, network="local", ws_url=sim.ws_url, http=http, serve_requests=False,
    ) as bridge, BusStream(nats_server.url, network="local") as bus:
        orders = bus.live_order_history(profile)
        await until(lambda: bridge.stats().requests >= 1)
        assert bridge.subjects == []
        assert not orders.current
        await bridge.open("live_order_history", address=profile)
        await upstream_has(sim, profile)
        # The consumer asks again once its unanswered request times out (5 s).
        await until(lambda: orders.current, timeout=20)
        await upstream_has(sim, profile)
        sim.engine.place_market_order(wallet, MARKET, True, False, 500, 2, 0, 0)
        assert isinstance(await asyncio.wait_for(orders.get(), 5), Order)


async def test_a_new_bridge_drops_the_snapshots_an_earlier_one_kept(
    sim: Simulator, nats_server: NatsServer
) -> None:
    wallet = next(WALLETS)
    profile = sim.engine.profile_address(wallet)
    sim.engine.ensure_wallet(wallet)
    sim.engine.deposit(wallet, 100 * 10**6)
    assert sim.ws_url is not None
    subject = subjects.data_subject("local", "deposit_withdraw_history",
                                    normalize_address(profile))
    async with aiohttp.ClientSession() as http:
        async with Bridge(nats_server.url, network="local", ws_url=sim.ws_url,
                          http=http) as first:
            await first.open("deposit_withdraw_history", address=profile)
            await until(lambda: first.stats().published >= 1)
        nc = await connect(nats_server.url, name="test")
        try:
            js = nc.jetstream()
            kept = await js.get_last_msg(subjects.snapshot_stream("local"), subject)
            assert kept.data
            async with Bridge(nats_server.url, network="local", ws_url=sim.ws_url, http=http):
                with pytest.raises(NotFoundError):
                    await js.get_last_msg(subjects.snapshot_stream("local"), subject)
        finally:
            await nc.close()


async def test_a_kept_snapshot_and_its_live_copy_are_delivered_once(
    sim: Simulator, bridge: Bridge, nats_server: NatsServer
) -> None:
    wallet = next(WALLETS)
    profile = sim.engine.profile_address(wallet)
    sim.engine.ensure_wallet(wallet)
    sim.engine.deposit(wallet, 100 * 10**6)
    await bridge.open("deposit_withdraw_history", address=profile)
    await until(lambda: bridge.stats().published >= 1)
    async with BusStream(nats_server.url, network="local") as bus:
        history = bus.subscribe("deposit_withdraw_history", address=profile,
                                overflow="error")
        await first_where(history, bool)
        nc = await connect(nats_server.url, name="test")
        try:  # the same snapshot again on the live subject: what a race looks like
            js = nc.jetstream()
            subject = subjects.data_subject("local", "deposit_withdraw_history",
                                            normalize_address(profile))
            kept = await js.get_last_msg(subjects.snapshot_stream("local"), subject)
            await nc.publish(subject, kept.data)
            await nc.publish(subject, b"[]")
            await nc.flush()
        finally:
            await nc.close()
        assert await asyncio.wait_for(history.get(), 5) == []
        assert history.stats.received == 2
        assert bus.stats().ignored == 1
