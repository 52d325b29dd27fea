"""StreamMux end to end against scripted servers on 127.0.0.1 (real aiohttp client)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import aiohttp
import msgspec
import pytest

from kana_async._tasks import timeout
from kana_async.errors import KanaError, SlowConsumerError, StreamGapError, ValidationError
from kana_async.models import Position, Trade
from kana_async.stream import (
    AiohttpConnector,
    OrderBook,
    ReconnectPolicy,
    StreamHooks,
    StreamMux,
    Subscription,
)
from tests.stream.conftest import ADDR_A, ADDR_B, FAST
from tests.stream.fakes import FakeConnector, FakeSocket
from tests.stream.scripted_server import ScriptedServer, ServerConnection


def trade(n: int, address: str = ADDR_A) -> dict[str, Any]:
    return {"address": address, "trade_id": str(n), "market_id": "14", "order_type": 1,
            "size": "1", "price": "5.5", "fee": "0", "pnl": "0", "timestamp": n}


def position(size: str, address: str = ADDR_A) -> dict[str, Any]:
    return {"address": address, "market_id": "14", "size": size, "entry_price": "5",
            "value": "5", "leverage": 2, "margin": "2.5", "trade_side": True}


def level(price: str, is_ask: bool, market: str = "14") -> dict[str, Any]:
    return {"market_id": market, "price": float(price), "size": "1", "is_ask": is_ask}


def json_frame(topic: str, data: Any) -> bytes:
    return msgspec.json.encode({"message": topic, "data": data})


async def until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.002)


async def hold(conn: ServerConnection) -> None:
    await conn.drain()


# -- validation ------------------------------------------------------------------------------

async def test_bad_subscriptions_are_rejected_before_anything_happens() -> None:
    connector = FakeConnector()
    mux = StreamMux(None, "ws://127.0.0.1:1/ws/", connector=connector)
    cases: list[tuple[Callable[[], Any], str]] = [
        (lambda: mux.subscribe("best_prices", market_id=1), "topic"),
        (lambda: mux.subscribe("positions"), "address"),
        (lambda: mux.subscribe("positions", address=ADDR_A, market_id=1), "market_id"),
        (lambda: mux.positions("0x12zz"), "address"),
        (lambda: mux.orderbook(-1), "market_id"),
        (lambda: mux.orderbook("abc"), "market_id"),
        (lambda: mux.live_funding_rate(market_id=14), "market_id"),
        (lambda: mux.orderbook(14, overflow="drop_newest"), "overflow"),
        (lambda: mux.live_trade_history(ADDR_A, buffer_size=0), "buffer_size"),
    ]
    for call, param in cases:
        with pytest.raises(ValidationError) as info:
            call()
        assert info.value.param == param
    await asyncio.sleep(0.01)
    assert connector.calls == 0
    assert mux.stats().subscriptions == []
    await mux.close()


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [({"url": "http://x"}, "url"), ({"buffer_size": -5}, "buffer_size"),
     ({"send_interval": -1.0}, "send_interval"), ({"heartbeat": 0}, "heartbeat"),
     ({"watchdog": {"nope": 1.0}}, "topic"), ({"watchdog": {"orderbook": 0}}, "watchdog")],
)
def test_bad_options_are_rejected(kwargs: dict[str, Any], param: str) -> None:
    options: dict[str, Any] = {"url": "ws://127.0.0.1:1/", "connector": FakeConnector()}
    options.update(kwargs)
    url = options.pop("url")
    with pytest.raises(ValidationError) as info:
        StreamMux(None, url, **options)
    assert info.value.param == param


def test_the_default_transport_needs_a_session() -> None:
    with pytest.raises(ValidationError) as info:
        StreamMux(None, "ws://127.0.0.1:1/")
    assert info.value.param == "http"


async def test_closed_mux_refuses_new_subscriptions_and_closes_twice() -> None:
    async with StreamMux(None, "ws://x/", connector=FakeConnector()) as mux:
        sub = mux.live_funding_rate()
    assert mux.closed
    assert sub.closed
    await mux.close()
    with pytest.raises(KanaError, match="closed"):
        mux.positions(ADDR_A)


# -- the happy path ----------------------------------------------------------------------------

async def test_one_connection_carries_every_topic_typed(http: aiohttp.ClientSession) -> None:
    async def script(conn: ServerConnection) -> None:
        await conn.subscribes_until(3)
        await conn.send("positions", [position("6.90")])
        await conn.send("orderbook", [level("5.1", True), level("4.9", False),
                                      level("5.0", True)])
        await conn.send("live_trade_history", trade(1))
        await hold(conn)

    async with ScriptedServer(script) as server, StreamMux(http, server.url) as mux:
        positions = mux.positions(ADDR_A)
        book = mux.orderbook(14)
        fills = mux.live_trade_history(ADDR_A)
        [pos] = await asyncio.wait_for(positions.get(), 2)
        ob = await asyncio.wait_for(book.get(), 2)
        fill = await asyncio.wait_for(fills.get(), 2)
        assert isinstance(pos, Position)
        assert pos.size == Decimal("6.90")
        assert isinstance(ob, OrderBook)
        assert [lv.price for lv in ob.asks] == [Decimal("5.0"), Decimal("5.1")]
        assert ob.best_bid is not None
        assert ob.best_bid.price == Decimal("4.9")
        assert isinstance(fill, Trade)
        assert len(server.connections) == 1
        assert server.connections[0].subscribes == [
            {"topic": "positions", "address": ADDR_A},
            {"topic": "orderbook", "market_id": "14"},
            {"topic": "live_trade_history", "address": ADDR_A},
        ]
        stats = mux.stats()
        assert stats.connected
        assert stats.frames == 3
        assert [s.delivered for s in stats.subscriptions] == [1, 1, 1]


async def test_anomalous_frames_never_stop_the_reader(http: aiohttp.ClientSession) -> None:
    seen: list[str] = []

    async def script(conn: ServerConnection) -> None:
        await conn.subscribes_until(1)
        await conn.send_raw("{garbage")
        await conn.send_raw('{"message": "error", "data": "Invalid address"}')
        await conn.send_raw('{"message": "best_prices", "data": []}')
        await conn.send("positions", [position("1") | {"market_id": 14, "leverage": "2"}])
        await hold(conn)

    hooks = StreamHooks(on_anomaly=lambda kind, detail: seen.append(kind))
    async with ScriptedServer(script) as server, \
            StreamMux(http, server.url, hooks=hooks) as mux:
        sub = mux.positions(ADDR_A)
        [pos] = await asyncio.wait_for(sub.get(), 2)
        assert (pos.market_id, pos.leverage) == (14, 2)  # numbers where strings are usual
        assert seen == ["malformed", "server_error", "unknown_topic"]
        stats = mux.stats()
        assert (stats.malformed, stats.server_error, stats.unknown_topic) == (1, 1, 1)


async def test_keys_of_one_topic_stay_apart_on_one_connection(
    http: aiohttp.ClientSession,
) -> None:
    async def script(conn: ServerConnection) -> None:
        await conn.subscribes_until(2)
        for n in range(5):
            await conn.send("live_trade_history", trade(n, ADDR_B if n % 2 else ADDR_A))
        await hold(conn)

    async with ScriptedServer(script) as server, StreamMux(http, server.url) as mux:
        a = mux.live_trade_history(ADDR_A)
        b = mux.live_trade_history(ADDR_B)
        got_a = [(await asyncio.wait_for(a.get(), 2)).trade_id for _ in range(3)]
        got_b = [(await asyncio.wait_for(b.get(), 2)).trade_id for _ in range(2)]
        assert (got_a, got_b) == (["0", "2", "4"], ["1", "3"])


# -- reconnects --------------------------------------------------------------------------------

async def test_twenty_drops_lose_no_subscription_and_duplicate_nothing(
    http: aiohttp.ClientSession,
) -> None:
    drops = 20
    per_connection = 5
    sent: list[str] = []

    async def script(conn: ServerConnection) -> None:
        await conn.subscribes_until(3)
        for _ in range(per_connection):
            n = len(sent)
            sent.append(str(n))
            await conn.send("live_trade_history", trade(n))
        await conn.send("positions", [position(str(conn.index))])
        await conn.send("orderbook", [level(f"{5 + conn.index}", True)])
        if conn.index < drops:
            await conn.drop()
        else:
            await hold(conn)

    resubscribed: list[int] = []
    hooks = StreamHooks(on_resubscribed=resubscribed.append)
    async with ScriptedServer(script) as server, \
            StreamMux(http, server.url, reconnect=FAST, send_interval=0.0005,
                      hooks=hooks) as mux:
        fills = mux.live_trade_history(ADDR_A)
        positions = mux.positions(ADDR_A)
        book = mux.orderbook(14)
        got: list[str] = []
        gaps = 0
        while len(got) < (drops + 1) * per_connection:
            try:
                got.append((await asyncio.wait_for(fills.get(), 3)).trade_id)
            except StreamGapError:
                gaps += 1
        await server.wait_for_connections(drops + 1)
        await until(lambda: positions.stats.received == drops + 1)
        await until(lambda: book.stats.received == drops + 1)
        [latest] = await positions.get()
        latest_book = await book.get()

        assert got == sent  # every event, once, in order
        assert gaps == drops  # each drop told exactly once, where it happened
        for conn in server.connections:
            assert sorted(s["topic"] for s in conn.subscribes) == [
                "live_trade_history", "orderbook", "positions"]
        assert latest.size == Decimal(drops)
        assert latest_book.asks[0].price == Decimal(5 + drops)
        assert resubscribed == [3] * drops
        stats = mux.stats()
        assert (stats.connects, stats.disconnects) == (drops + 1, drops)
        assert fills.stats.delivered == fills.stats.received == len(sent)


async def test_backoff_holds_when_the_server_accepts_and_drops_at_once(
    http: aiohttp.ClientSession,
) -> None:
    async def script(conn: ServerConnection) -> None:
        if conn.index < 5:
            await conn.drop()
        else:
            await hold(conn)

    delays: list[float] = []
    policy = ReconnectPolicy(initial_delay=0.002, max_delay=0.016, jitter=0.0, stable_after=5)
    hooks = StreamHooks(on_reconnecting=lambda attempt, delay: delays.append(delay))
    async with ScriptedServer(script) as server, \
            StreamMux(http, server.url, reconnect=policy, hooks=hooks) as mux:
        mux.positions(ADDR_A)
        await server.wait_for_connections(6)
    assert delays == [0.002, 0.004, 0.008, 0.016, 0.016]


async def test_a_closed_subscription_is_not_sent_again(http: aiohttp.ClientSession) -> None:
    async def script(conn: ServerConnection) -> None:
        if conn.index == 0:
            await conn.subscribes_until(2)
            await conn.send("positions", [position("1", ADDR_A)])
            await conn.send("positions", [position("2", ADDR_B)])
            await conn.ws.receive()  # the client closing a subscription sends nothing
        await hold(conn)

    async with ScriptedServer(script) as server, \
            StreamMux(http, server.url, reconnect=FAST) as mux:
        a = mux.positions(ADDR_A)
        b = mux.positions(ADDR_B)
        await asyncio.wait_for(a.get(), 2)
        await asyncio.wait_for(b.get(), 2)
        await a.close()
        await asyncio.sleep(0.02)
        await server.connections[0].drop()
        await server.wait_for_connections(2)
        await until(lambda: len(server.connections[1].subscribes) == 1)
        await asyncio.sleep(0.02)
        assert server.connections[1].subscribes == [{"topic": "positions", "address": ADDR_B}]
        assert server.connections[0].subscribes == [
            {"topic": "positions", "address": ADDR_A},
            {"topic": "positions", "address": ADDR_B},
        ]


async def test_event_topics_subscribe_once_per_key_snapshots_ask_again(
    http: aiohttp.ClientSession,
) -> None:
    async with ScriptedServer(hold) as server, StreamMux(http, server.url) as mux:
        mux.live_order_history(ADDR_A)
        mux.positions(ADDR_A)
        await until(lambda: bool(server.connections)
                    and len(server.connections[0].subscribes) == 2)
        mux.live_order_history(ADDR_A)
        mux.positions(ADDR_A)
        await until(lambda: len(server.connections[0].subscribes) == 3)
        await asyncio.sleep(0.02)
        assert [s["topic"] for s in server.connections[0].subscribes] == [
            "live_order_history", "positions", "positions"]


def subscribes(socket: FakeSocket) -> list[str]:
    return [msgspec.json.decode(text)["topic"] for text in socket.sent]


async def test_a_burst_of_subscriptions_to_one_key_sends_one_subscribe() -> None:
    socket = FakeSocket()
    async with StreamMux(None, "ws://x/", connector=FakeConnector(socket)) as mux:
        mux.positions(ADDR_A)
        await until(lambda: len(socket.sent) == 1)
        books = [mux.orderbook(14) for _ in range(3)]  # queued together: one answer for all
        await until(lambda: len(socket.sent) == 2)
        await asyncio.sleep(0.03)
        assert subscribes(socket) == ["positions", "orderbook"]
        mux.orderbook(14)  # the key's subscribe went out already: ask again for this one
        await until(lambda: len(socket.sent) == 3)
        socket.inbox.put_nowait(json_frame("orderbook", [level("5", True)]))
        for book in books:
            assert (await asyncio.wait_for(book.get(), 1)).asks[0].price == Decimal(5)


async def test_a_subscription_made_during_the_resubscribe_is_sent_once() -> None:
    first, second = FakeSocket(), FakeSocket()
    resubscribed: list[int] = []
    async with StreamMux(None, "ws://x/", connector=FakeConnector(first, second),
                         reconnect=FAST, send_interval=0.02,
                         hooks=StreamHooks(on_resubscribed=resubscribed.append)) as mux:
        mux.positions(ADDR_A)
        mux.open_orders(ADDR_A)
        mux.orderbook(14)
        await until(lambda: len(first.sent) == 3)
        await first.close()
        await until(lambda: len(second.sent) == 1)  # the resubscribe is paced...
        mux.orderbook(14)  # ...and its orderbook subscribe not sent yet
        await until(lambda: resubscribed == [3])
        await asyncio.sleep(0.05)
        assert subscribes(second) == ["positions", "open_orders", "orderbook"]


async def test_a_subscription_made_by_the_connected_hook_is_sent_once() -> None:
    socket = FakeSocket()
    made: list[Subscription[Any]] = []
    mux = StreamMux(None, "ws://x/", connector=FakeConnector(socket),
                    hooks=StreamHooks(on_connected=lambda url: made.append(mux.positions(ADDR_A))))
    async with mux:
        mux.positions(ADDR_A)
        await until(lambda: bool(made))
        await asyncio.sleep(0.03)
        assert subscribes(socket) == ["positions"]


async def test_subscriptions_made_while_connecting_are_sent_once() -> None:
    socket = FakeSocket()
    opened = asyncio.Event()

    async def slow_connector(url: str) -> FakeSocket:
        await opened.wait()
        return socket

    async with StreamMux(None, "ws://x/", connector=slow_connector) as mux:
        mux.positions(ADDR_A)
        await asyncio.sleep(0.01)  # connecting
        mux.positions(ADDR_A)
        mux.orderbook(14)
        opened.set()
        await until(lambda: len(socket.sent) == 2)
        await asyncio.sleep(0.03)
        assert subscribes(socket) == ["positions", "orderbook"]


async def test_a_subscription_made_as_the_socket_dies_is_sent_once_on_the_next() -> None:
    first, second = FakeSocket(), FakeSocket()
    async with StreamMux(None, "ws://x/", connector=FakeConnector(first, second),
                         reconnect=FAST) as mux:
        mux.positions(ADDR_A)
        await until(lambda: len(first.sent) == 1)
        first.fail_sends = True  # dead, and the reader has not noticed yet
        mux.orderbook(14)  # its send fails, which replaces the socket
        await until(lambda: len(second.sent) == 2)
        await asyncio.sleep(0.03)
        assert subscribes(second) == ["positions", "orderbook"]


async def test_a_hook_closing_a_subscription_at_the_drop_costs_no_other_its_gap() -> None:
    first = FakeSocket()
    closing: list[Subscription[Any]] = []
    hooks = StreamHooks(on_dropped=lambda topic, key, capacity: closing[0].close_nowait())
    async with StreamMux(None, "ws://x/", connector=FakeConnector(first), reconnect=FAST,
                         hooks=hooks) as mux:
        slow = mux.live_trade_history(ADDR_A, buffer_size=1)
        other = mux.live_trade_history(ADDR_A)
        closing.append(slow)
        await until(lambda: len(first.sent) == 1)
        first.inbox.put_nowait(json_frame("live_trade_history", trade(1)))
        await until(lambda: other.stats.received == 1)
        await first.close()  # the gap makes `slow` drop its item; the hook closes it
        async with timeout(1):
            assert (await other.get()).trade_id == "1"
            with pytest.raises(StreamGapError):
                await other.get()
        assert slow.closed


# -- slow consumers --------------------------------------------------------------------------

async def test_stalled_consumers_cost_at_most_their_bound(http: aiohttp.ClientSession) -> None:
    count = 300

    async def script(conn: ServerConnection) -> None:
        await conn.subscribes_until(2)
        for n in range(count):
            await conn.send("live_trade_history", trade(n))
            await conn.send("orderbook", [level(str(5 + n), True)])
        await hold(conn)

    dropped: list[tuple[str, int]] = []
    hooks = StreamHooks(on_dropped=lambda topic, key, cap: dropped.append((topic, cap)))
    async with ScriptedServer(script) as server, \
            StreamMux(http, server.url, hooks=hooks) as mux:
        fills = mux.live_trade_history(ADDR_A, buffer_size=16)
        book = mux.orderbook(14)
        await until(lambda: fills.stats.received == count and book.stats.received == count)
        assert fills.stats.buffered == 16
        assert book.stats.buffered == 1
        with pytest.raises(SlowConsumerError) as info:
            await fills.get()
        assert info.value.lost == count - 16
        assert f"{count - 16} item(s) lost" in str(info.value)
        assert [(await fills.get()).trade_id for _ in range(16)] == [
            str(n) for n in range(count - 16, count)]
        latest = await book.get()
        assert latest.asks[0].price == Decimal(5 + count - 1)
        assert book.stats.conflated == count - 1
        assert dropped == [("live_trade_history", 16)]


# -- liveness and lifecycle -----------------------------------------------------------------------

async def test_watchdog_resubscribes_a_silent_topic_then_reconnects(
    http: aiohttp.ClientSession,
) -> None:
    actions: list[str] = []
    hooks = StreamHooks(on_watchdog=lambda topic, key, action: actions.append(action))
    async with ScriptedServer(hold) as server, \
            StreamMux(http, server.url, reconnect=FAST, watchdog={"orderbook": 0.05},
                      hooks=hooks) as mux:
        mux.orderbook(14)
        await server.wait_for_connections(2)
        await until(lambda: len(server.connections[1].subscribes) == 1)
        assert server.connections[0].subscribes == [
            {"topic": "orderbook", "market_id": "14"}] * 2
        assert actions[:2] == ["resubscribe", "reconnect"]


async def test_watchdog_replaces_the_socket_of_a_silent_event_topic_at_once() -> None:
    # A second subscribe of a key already streaming could double an event stream (every fill
    # twice): an event topic is not asked again, its socket is replaced.
    first = FakeSocket()
    actions: list[str] = []
    hooks = StreamHooks(on_watchdog=lambda topic, key, action: actions.append(action))
    connector = FakeConnector(first)
    async with StreamMux(None, "ws://x/", connector=connector, reconnect=FAST,
                         watchdog={"live_trade_history": 0.05}, hooks=hooks) as mux:
        mux.live_trade_history(ADDR_A)
        await until(lambda: len(connector.opened) == 2)
        assert subscribes(first) == ["live_trade_history"]
        assert actions[0] == "reconnect"


async def test_watchdog_leaves_a_busy_topic_alone(http: aiohttp.ClientSession) -> None:
    async def script(conn: ServerConnection) -> None:
        await conn.subscribes_until(1)
        for n in range(40):
            await conn.send("orderbook", [level(str(5 + n), True)])
            await asyncio.sleep(0.005)
        await hold(conn)

    async with ScriptedServer(script) as server, \
            StreamMux(http, server.url, watchdog={"orderbook": 0.05}) as mux:
        book = mux.orderbook(14)
        await until(lambda: book.stats.received == 40)
        assert len(server.connections) == 1
        assert len(server.connections[0].subscribes) == 1


async def test_a_server_that_stops_answering_pings_is_replaced(
    http: aiohttp.ClientSession,
) -> None:
    reasons: list[str] = []
    hooks = StreamHooks(on_disconnected=reasons.append)
    async with ScriptedServer(hold, autoping=False) as server, \
            StreamMux(http, server.url, heartbeat=0.05, reconnect=FAST, hooks=hooks) as mux:
        mux.positions(ADDR_A)
        await server.wait_for_connections(2)
    assert "PONG" in reasons[0]


async def test_the_watchdog_is_not_held_up_by_a_peer_that_ignores_the_close(
    http: aiohttp.ClientSession,
) -> None:
    release = asyncio.Event()

    async def frozen(conn: ServerConnection) -> None:
        await release.wait()  # never reads: the closing handshake is never answered

    connector = AiohttpConnector(http, heartbeat=None, close_timeout=0.05)
    async with ScriptedServer(frozen) as server, \
            StreamMux(http, server.url, connector=connector, reconnect=FAST,
                      watchdog={"orderbook": 0.05}) as mux:
        mux.orderbook(14)
        # Each silent socket is replaced in about 0.1 s, not after a 10 s closing handshake.
        await server.wait_for_connections(3, timeout=2.0)
        release.set()


async def test_close_does_not_wait_for_a_peer_that_ignores_the_close(
    http: aiohttp.ClientSession,
) -> None:
    release = asyncio.Event()

    async def frozen(conn: ServerConnection) -> None:
        await conn.next_subscribe()
        await release.wait()  # never answers the closing handshake

    async with ScriptedServer(frozen) as server:
        mux = StreamMux(http, server.url)  # the default close_timeout: 1 s
        mux.positions(ADDR_A)
        await until(lambda: bool(server.connections) and bool(server.connections[0].subscribes))
        loop = asyncio.get_running_loop()
        started = loop.time()
        await mux.close()
        assert loop.time() - started < 0.5  # no closing handshake on close()
        release.set()


async def test_closing_ends_consumers_and_leaves_no_task(http: aiohttp.ClientSession) -> None:
    async with ScriptedServer(hold) as server:
        mux = StreamMux(http, server.url, watchdog={"positions": 10.0})
        sub: Subscription[Any] = mux.positions(ADDR_A)
        cancelled = mux.orderbook(14)

        async def consume(s: Subscription[Any]) -> int:
            return len([item async for item in s])

        consumer = asyncio.create_task(consume(sub))
        doomed = asyncio.create_task(consume(cancelled))
        await server.wait_for_connections(1)
        doomed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await doomed
        await mux.close()
        assert await asyncio.wait_for(consumer, 1) == 0
        await asyncio.sleep(0)
        leftovers = [t for t in asyncio.all_tasks() if t.get_name().startswith("kana-stream")]
        assert leftovers == []
        assert not mux.stats().connected


@pytest.mark.parametrize("watchdog", [None, {"positions": 10.0}])
async def test_an_interrupted_close_still_stops_everything(
    watchdog: dict[str, float] | None,
) -> None:
    mux = StreamMux(None, "ws://x/", connector=FakeConnector(), watchdog=watchdog)
    sub = mux.positions(ADDR_A)
    await until(lambda: mux.stats().connected)
    consumer = asyncio.create_task(sub.get())
    closing = asyncio.create_task(mux.close())
    await asyncio.sleep(0)  # close() is now waiting for the supervisor to stop
    closing.cancel()  # e.g. a second cancellation of the task leaving `async with`
    with pytest.raises(asyncio.CancelledError):
        await closing
    await mux.close()
    async with timeout(1):
        with pytest.raises(StopAsyncIteration):
            await consumer
        await until(lambda: not [t for t in asyncio.all_tasks()
                                 if t.get_name().startswith("kana-stream")])
    assert sub.closed
    assert not mux.stats().connected


async def test_hooks_report_connection_events_and_a_raising_hook_is_harmless(
    http: aiohttp.ClientSession,
) -> None:
    events: list[str] = []

    def boom(url: str) -> None:
        events.append("connected")
        raise RuntimeError("hook bug")

    async def script(conn: ServerConnection) -> None:
        await conn.subscribes_until(1)
        if conn.index == 0:
            await conn.drop()
        else:
            await hold(conn)

    hooks = StreamHooks(
        on_connected=boom,
        on_disconnected=lambda reason: events.append("disconnected"),
        on_reconnecting=lambda attempt, delay: events.append(f"reconnecting {attempt}"),
        on_resubscribed=lambda count: events.append(f"resubscribed {count}"),
    )
    async with ScriptedServer(script) as server, \
            StreamMux(http, server.url, reconnect=FAST, hooks=hooks) as mux:
        mux.positions(ADDR_A)
        await server.wait_for_connections(2)
        await until(lambda: "resubscribed 1" in events)
    assert events == ["connected", "disconnected", "reconnecting 1", "connected",
                      "resubscribed 1"]


async def test_a_hook_raising_cancelled_error_does_not_stop_the_reader() -> None:
    # A hook runs synchronously: a CancelledError out of it (a cancelled future's result()
    # read inside it, say) is a bug of the hook, not a cancellation of the stream.
    def hook(*args: Any) -> None:
        raise asyncio.CancelledError

    undecodable = json_frame("live_trade_history", {"address": ADDR_A, "size": "oops"})
    socket = FakeSocket(b"{garbage", undecodable)
    hooks = StreamHooks(on_connected=hook, on_anomaly=hook, on_decode_error=hook)
    async with StreamMux(None, "ws://x/", connector=FakeConnector(socket), hooks=hooks) as mux:
        fills = mux.live_trade_history(ADDR_A)
        async with timeout(1):
            await until(lambda: fills.stats.received == 1)
            socket.inbox.put_nowait(json_frame("live_trade_history", trade(7)))
            fill = await fills.get()  # skips the undecodable one (its hook raises too)
        assert fill.trade_id == "7"
        stats = mux.stats()
        assert (stats.malformed, stats.frames, stats.connects) == (1, 3, 1)


async def test_giving_up_ends_every_subscription_with_the_transport_error() -> None:
    policy = ReconnectPolicy(initial_delay=0.001, max_delay=0.001, max_attempts=2)
    connector = FakeConnector(None, None, None, FakeSocket())
    async with StreamMux(None, "ws://x/", connector=connector, reconnect=policy) as mux:
        sub = mux.positions(ADDR_A)
        with pytest.raises(KanaError, match="cannot connect"):
            await asyncio.wait_for(sub.get(), 1)
        assert sub.closed
        again = mux.positions(ADDR_A)  # a new subscription tries again
        await until(lambda: mux.stats().connected)
        assert not again.closed
