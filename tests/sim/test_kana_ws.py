"""The indexer WebSocket server, against a scripted engine (real-engine tests: test_fidelity_ws)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from kana_async.sim.faults import Faults
from kana_async.sim.indexer import (
    HISTORY_SNAPSHOT_LIMIT,
    Outbox,
    RequestError,
    SubscribeRequest,
    best_price,
    encode_error,
    encode_frame,
    parse_request,
    snapshot,
)
from kana_async.sim.kana_ws import IndexerServer
from kana_async.stream.topics import TOPICS

ALICE = "0x" + "a1" * 32
BOB = "0x" + "b2" * 32
MARKETS = (1338, 1339)


@dataclass(frozen=True)
class Change:
    topic: str
    key: str | None
    record: dict[str, Any] | None = None


class ScriptedEngine:
    """Views backed by plain dicts; tests set the state and emit the Change themselves."""

    def __init__(self) -> None:
        self.markets: dict[int, object] = {m: object() for m in MARKETS}
        self.lists: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
        self._listeners: list[Callable[[Any], None]] = []

    def add_listener(self, fn: Callable[[Any], None]) -> Callable[[], None]:
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn)

    def emit(self, topic: str, key: str | None, record: dict[str, Any] | None = None) -> None:
        for fn in list(self._listeners):
            fn(Change(topic, key, record))

    def set(self, topic: str, key: str | None, data: list[dict[str, Any]]) -> None:
        self.lists[(topic, key)] = data
        self.emit(topic, key)

    def _get(self, topic: str, key: str | None) -> list[dict[str, Any]]:
        return self.lists.get((topic, key), [])

    def order_history(self, profile: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        return self._get("order_history", profile)[:limit]

    def deposit_withdraw_history(
        self, profile: str, *, limit: int | None = None
    ) -> list[dict[str, Any]]:
        return self._get("deposit_withdraw_history", profile)[:limit]

    def trade_history(self, profile: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        return self._get("trade_history", profile)[:limit]

    def positions(self, profile: str) -> list[dict[str, Any]]:
        return self._get("positions", profile)

    def open_orders(self, profile: str) -> list[dict[str, Any]]:
        return self._get("open_orders", profile)

    def orderbook(self, market_id: int) -> list[dict[str, Any]]:
        return self._get("orderbook", str(market_id))

    def recent_trades(self, market_id: int) -> list[dict[str, Any]]:
        return self._get("recent_trades", str(market_id))

    def funding_rates(self) -> list[dict[str, Any]]:
        return self._get("live_funding_rate", None)


def level(price: str, size: str, is_ask: bool, version: int = 1) -> dict[str, Any]:
    return {
        "market_id": "1338",
        "price": Decimal(price),
        "size": size,
        "is_ask": is_ask,
        "last_updated": 1700000000 + version,
        "transaction_version": version,
    }


@pytest.fixture
def engine() -> ScriptedEngine:
    return ScriptedEngine()


@pytest.fixture
async def server(engine: ScriptedEngine) -> AsyncIterator[IndexerServer]:
    async with IndexerServer(engine, Faults()) as srv:
        yield srv


async def recv(ws: ClientConnection, timeout: float = 1.0) -> Any:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def silent(ws: ClientConnection, seconds: float = 0.1) -> bool:
    try:
        await asyncio.wait_for(ws.recv(), seconds)
    except asyncio.TimeoutError:
        return True
    return False


async def drain(ws: ClientConnection, quiet: float) -> list[Any]:
    """Every message until none came for ``quiet`` seconds."""
    messages = []
    while True:
        try:
            messages.append(await recv(ws, quiet))
        except asyncio.TimeoutError:
            return messages


async def read_until_closed(ws: ClientConnection, limit: int = 10_000) -> None:
    for _ in range(limit):
        try:
            await asyncio.wait_for(ws.recv(), 3.0)
        except ConnectionClosed:
            return
    raise AssertionError("the connection stayed open")


async def subscribe(ws: ClientConnection, **body: Any) -> None:
    await ws.send(json.dumps(body))


# -- pure parts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"topic": "positions", "address": ALICE}, SubscribeRequest("positions", ALICE)),
        ({"topic": "orderbook", "market_id": "1338"}, SubscribeRequest("orderbook", "1338")),
        ({"topic": "recent_trades", "market_id": 1339}, SubscribeRequest("recent_trades", "1339")),
        ({"topic": "best_price", "market_id": "1338"}, SubscribeRequest("best_price", "1338")),
        ({"topic": "live_funding_rate"}, SubscribeRequest("live_funding_rate", None)),
        (
            {"topic": "open_orders", "address": "0x" + "A" * 63},
            SubscribeRequest("open_orders", "0x0" + "a" * 63),
        ),
        (
            {"topic": "live_trade_history", "address": BOB, "unsubscribe": True},
            SubscribeRequest("live_trade_history", BOB, unsubscribe=True),
        ),
    ],
)
def test_parse_request_accepts_documented_messages(
    body: dict[str, Any], expected: SubscribeRequest
) -> None:
    assert parse_request(json.dumps(body), MARKETS) == expected


@pytest.mark.parametrize(
    ("message", "complaint"),
    [
        ("not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ("{}", "topic: required"),
        ('{"topic": 5}', "topic: required"),
        ('{"topic": "candles"}', "unknown topic 'candles'"),
        ('{"topic": "positions"}', "address: required"),
        ('{"topic": "positions", "address": "alice"}', "address: must be"),
        ('{"topic": "positions", "address": 12}', "address: must be"),
        ('{"topic": "orderbook"}', "market_id: required"),
        ('{"topic": "orderbook", "address": "0x1"}', "market_id: required"),
        ('{"topic": "orderbook", "market_id": "abc"}', "market_id: must be an integer"),
        ('{"topic": "orderbook", "market_id": true}', "market_id: must be an integer"),
        ('{"topic": "orderbook", "market_id": 1.5}', "market_id: must be an integer"),
        ('{"topic": "orderbook", "market_id": "42"}', "unknown market 42"),
        ('{"topic": "live_funding_rate", "unsubscribe": "yes"}', "unsubscribe: must be"),
    ],
)
def test_parse_request_names_what_is_wrong(message: str | bytes, complaint: str) -> None:
    with pytest.raises(RequestError, match=complaint):
        parse_request(message, MARKETS)


def test_every_topic_of_the_table_is_served(engine: ScriptedEngine) -> None:
    """The server reads its topics from the one table: each is subscribable with its key
    field, each snapshot topic has a snapshot and each event topic none."""
    for name, spec in TOPICS.items():
        key = {"address": ALICE, "market_id": "1338", None: None}[spec.key]
        message: dict[str, Any] = {"topic": name}
        if spec.key is not None:
            message[spec.key] = key
        assert parse_request(json.dumps(message), MARKETS) == SubscribeRequest(name, key)
        if spec.is_event:
            with pytest.raises(ValueError, match="has no snapshot"):
                snapshot(engine, name, key)
        else:
            assert isinstance(snapshot(engine, name, key), list)


def test_encode_frame_documented_envelope() -> None:
    frame = encode_frame("orderbook", [level("5.768", "487.649", True)])
    assert json.loads(frame) == {
        "message": "orderbook",
        "data": [
            {
                "market_id": "1338",
                "price": 5.768,
                "size": "487.649",
                "is_ask": True,
                "last_updated": 1700000001,
                "transaction_version": 1,
            }
        ],
    }
    assert frame.startswith(b'{"message":"orderbook"')


def test_encode_frame_faults() -> None:
    record = {"address": ALICE, "order_id": "81291775866809905605246976", "size": "1.5",
              "status": "Open", "leverage": 2}
    with pytest.raises(json.JSONDecodeError):
        json.loads(encode_frame("open_orders", [record], "malformed"))
    assert json.loads(encode_frame("open_orders", [record], "no_message")) == {"data": [record]}
    numbers = json.loads(encode_frame("open_orders", [record], "numbers"))
    assert numbers["data"] == [{"address": ALICE, "order_id": 81291775866809905605246976,
                                "size": 1.5, "status": "Open", "leverage": 2}]


def test_encode_error_shape() -> None:
    assert json.loads(encode_error("topic: required")) == {
        "message": "error", "error": "topic: required", "data": None,
    }


def test_outbox_conflates_snapshots_and_bounds_events() -> None:
    box = Outbox(max_events=2)
    box.put_snapshot(("orderbook", "1338"), b"book-1")
    assert box.put_event(b"event-1")
    box.put_snapshot(("orderbook", "1338"), b"book-2")
    box.put_snapshot(("positions", ALICE), b"pos-1")
    assert box.put_event(b"event-2")
    assert not box.put_event(b"event-3")
    assert (len(box), box.events, box.conflated) == (4, 2, 1)
    assert [box.pop() for _ in range(5)] == [b"book-2", b"event-1", b"pos-1", b"event-2", None]
    assert box.events == 0
    assert box.put_event(b"event-4")


def test_best_price_from_levels() -> None:
    levels = [level("5.80", "1", True, 3), level("5.77", "2", True, 4),
              level("5.70", "1", False, 5), level("5.75", "1", False, 2)]
    assert best_price(levels, "1338") == {
        "market_id": "1338", "best_bid_price": "5.75", "best_ask_price": "5.77",
        "last_updated": 1700000004, "transaction_version": 4,
    }
    assert best_price([], "1338")["best_bid_price"] is None


# -- the server ------------------------------------------------------------------------------


async def test_snapshot_on_subscribe_then_push_per_change(
    server: IndexerServer, engine: ScriptedEngine
) -> None:
    engine.lists[("orderbook", "1338")] = [level("5.768", "487.649", True)]
    async with connect(server.url) as ws:
        await subscribe(ws, topic="orderbook", market_id="1338")
        first = await recv(ws)
        assert first["message"] == "orderbook"
        assert first["data"][0]["price"] == 5.768
        engine.set("orderbook", "1338", [level("5.70", "1", False, 2)])
        second = await recv(ws)
        assert second["data"] == [json.loads(encode_frame("x", [level("5.70", "1", False, 2)]))
                                  ["data"][0]]
        engine.set("orderbook", "1339", [])  # another key: not for this client
        assert await silent(ws)


async def test_several_subscriptions_each_see_their_own_key(
    server: IndexerServer, engine: ScriptedEngine
) -> None:
    async with connect(server.url) as ws:
        await subscribe(ws, topic="positions", address=ALICE)
        await subscribe(ws, topic="positions", address=BOB)
        await subscribe(ws, topic="live_funding_rate")
        assert [(await recv(ws))["message"] for _ in range(3)] == ["positions"] * 2 + [
            "live_funding_rate"
        ]
        engine.set("positions", BOB, [{"address": BOB, "size": "1"}])
        assert (await recv(ws))["data"] == [{"address": BOB, "size": "1"}]
        engine.set("live_funding_rate", None, [{"market_id": "1338", "funding_rate": "0"}])
        assert (await recv(ws))["message"] == "live_funding_rate"
        assert await silent(ws)


async def test_live_topics_send_single_records_and_no_snapshot(
    server: IndexerServer, engine: ScriptedEngine
) -> None:
    async with connect(server.url) as ws:
        await subscribe(ws, topic="live_order_history", address=ALICE)
        assert await silent(ws)
        for n in range(3):
            engine.emit("live_order_history", ALICE, {"order_id": str(n), "status": "Open"})
        engine.emit("live_order_history", BOB, {"order_id": "x"})
        got = [await recv(ws) for _ in range(3)]
        assert got == [{"message": "live_order_history", "data": {"order_id": str(n),
                                                                   "status": "Open"}}
                       for n in range(3)]
        assert await silent(ws)


async def test_bad_requests_get_error_frames_and_the_socket_stays_open(
    server: IndexerServer, engine: ScriptedEngine
) -> None:
    async with connect(server.url) as ws:
        for bad in ("hello", '{"topic": "nope"}', '{"topic": "positions"}'):
            await ws.send(bad)
            reply = await recv(ws)
            assert reply["message"] == "error"
            assert reply["data"] is None
            assert reply["error"]
        await subscribe(ws, topic="live_funding_rate")
        assert (await recv(ws))["message"] == "live_funding_rate"
    assert server.stats["errors"] == 3


async def test_resubscribing_is_idempotent_and_unsubscribe_stops(
    server: IndexerServer, engine: ScriptedEngine
) -> None:
    async with connect(server.url) as ws:
        for _ in range(3):
            await subscribe(ws, topic="open_orders", address=ALICE)
            assert (await recv(ws))["data"] == []
        engine.set("open_orders", ALICE, [{"order_id": "1"}])
        assert (await recv(ws))["data"] == [{"order_id": "1"}]
        assert await silent(ws)
        await subscribe(ws, topic="open_orders", address=ALICE, unsubscribe=True)
        await asyncio.sleep(0.02)
        engine.set("open_orders", ALICE, [])
        assert await silent(ws)


async def test_best_price_follows_the_book_only_when_the_top_moves(
    server: IndexerServer, engine: ScriptedEngine
) -> None:
    engine.lists[("orderbook", "1338")] = [level("5.77", "1", True), level("5.75", "1", False)]
    async with connect(server.url) as ws:
        await subscribe(ws, topic="best_price", market_id=1338)
        first = await recv(ws)
        assert first["data"][0]["best_ask_price"] == "5.77"
        engine.set("orderbook", "1338", [level("5.76", "1", True, 2), level("5.75", "1", False)])
        assert (await recv(ws))["data"][0]["best_ask_price"] == "5.76"
        book = [level("5.76", "7", True, 3), level("5.75", "1", False, 3),
                level("5.90", "3", True, 3)]
        engine.set("orderbook", "1338", book)  # sizes and depth change, best prices do not
        assert await silent(ws)


async def test_alternative_path_and_unknown_path(server: IndexerServer) -> None:
    async with connect(server.url.rstrip("/")) as ws:
        await subscribe(ws, topic="live_funding_rate")
        assert (await recv(ws))["message"] == "live_funding_rate"
    with pytest.raises(InvalidStatus) as caught:
        async with connect(server.url.replace("/ws/", "/other")):
            pass
    assert caught.value.response.status_code == 404


async def test_ping_is_answered(server: IndexerServer) -> None:
    async with connect(server.url, ping_interval=None) as ws:
        latency = await asyncio.wait_for(await ws.ping(), 1.0)
        assert latency >= 0


async def test_push_interval_coalesces_bursts(engine: ScriptedEngine) -> None:
    async with IndexerServer(engine, push_interval=0.2) as srv, connect(srv.url) as ws:
        await subscribe(ws, topic="positions", address=ALICE)
        await recv(ws)
        for n in range(20):
            engine.set("positions", ALICE, [{"size": str(n)}])
            await asyncio.sleep(0.005)
        messages = await drain(ws, quiet=0.4)
        assert 1 <= len(messages) <= 3
        assert messages[-1]["data"] == [{"size": "19"}]


async def test_hopeless_client_is_closed_and_others_keep_receiving(
    engine: ScriptedEngine,
) -> None:
    # max_queue=1: the slow client stops reading its socket until the test calls recv().
    async with (
        IndexerServer(engine, max_events=20) as srv,
        connect(srv.url, max_queue=1) as slow,
        connect(srv.url) as fast,
    ):
        await subscribe(slow, topic="live_trade_history", address=ALICE)
        await subscribe(fast, topic="positions", address=ALICE)
        await recv(fast)
        await asyncio.sleep(0.05)
        record = {"pad": "x" * 60_000}
        for _ in range(200):
            engine.emit("live_trade_history", ALICE, record)
            await asyncio.sleep(0)
            if srv.stats["slow_closed"]:
                break
        assert srv.stats["slow_closed"] == 1
        engine.set("positions", ALICE, [{"size": "2"}])
        assert (await recv(fast))["data"] == [{"size": "2"}]
        await read_until_closed(slow)
        assert slow.close_code == 1008


async def test_abrupt_client_disconnects_mid_push_do_not_hurt(
    server: IndexerServer, engine: ScriptedEngine
) -> None:
    for _ in range(5):
        ws = await connect(server.url)
        await subscribe(ws, topic="live_trade_history", address=ALICE)
        await asyncio.sleep(0.01)
        for n in range(50):
            engine.emit("live_trade_history", ALICE, {"n": n, "pad": "y" * 2000})
        await asyncio.sleep(0)
        ws.transport.abort()
        await ws.wait_closed()
    async with connect(server.url) as ws:
        await subscribe(ws, topic="live_funding_rate")
        assert (await recv(ws))["message"] == "live_funding_rate"
    for _ in range(50):
        if server.clients == 0:
            break
        await asyncio.sleep(0.01)
    assert server.clients == 0


async def test_a_failing_engine_view_costs_one_error_frame_not_the_server(
    server: IndexerServer, engine: ScriptedEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(profile: str) -> list[dict[str, Any]]:
        raise RuntimeError("view bug")

    monkeypatch.setattr(engine, "positions", broken)
    async with connect(server.url) as ws:
        await subscribe(ws, topic="positions", address=ALICE)
        reply = await recv(ws)
        assert reply["message"] == "error"
        assert "positions" in reply["error"]
        engine.emit("positions", ALICE)  # the push round skips it and goes on
        await subscribe(ws, topic="live_funding_rate")
        assert (await recv(ws))["message"] == "live_funding_rate"
        engine.set("live_funding_rate", None, [{"market_id": "1338"}])
        assert (await recv(ws))["data"] == [{"market_id": "1338"}]


async def test_stop_twice_is_harmless_and_closes_clients(engine: ScriptedEngine) -> None:
    srv = IndexerServer(engine)
    await srv.start()
    ws = await connect(srv.url)
    await srv.stop()
    await srv.stop()
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 1.0)
    assert engine._listeners == []


async def test_history_snapshots_carry_the_newest_records_only(
    server: IndexerServer, engine: ScriptedEngine
) -> None:
    history = [{"order_id": str(n)} for n in range(HISTORY_SNAPSHOT_LIMIT + 50, 0, -1)]
    engine.lists[("order_history", ALICE)] = history
    engine.lists[("trade_history", ALICE)] = history
    engine.lists[("deposit_withdraw_history", ALICE)] = history
    async with connect(server.url) as ws:
        for topic in ("order_history", "trade_history", "deposit_withdraw_history"):
            await subscribe(ws, topic=topic, address=ALICE)
            reply = await recv(ws)
            assert reply["message"] == topic
            assert reply["data"] == history[:HISTORY_SNAPSHOT_LIMIT]


async def test_clients_that_come_and_go_leave_no_state_behind(
    server: IndexerServer, engine: ScriptedEngine
) -> None:
    """A bot that reconnects for hours: every connection's subscriptions and queues go
    with it."""
    for n in range(20):
        async with connect(server.url) as ws:
            await subscribe(ws, topic="orderbook", market_id="1338")
            await subscribe(ws, topic="positions", address="0x" + f"{n:064x}")
            await subscribe(ws, topic="live_trade_history", address=ALICE)
            await recv(ws)
            engine.emit("live_trade_history", ALICE, {"n": n})
            engine.set("orderbook", "1338", [level("5.70", str(n + 1), False, n)])
            await asyncio.sleep(0)
        if n % 5 == 4:
            ws.transport.abort()  # abrupt ends as well as clean ones
    for _ in range(100):
        if server.clients == 0:
            break
        await asyncio.sleep(0.01)
    assert server.clients == 0
    assert server._subscribers == {}
    assert server._clients == set()
    assert len(server._last_best) <= len(MARKETS)
    assert len(server._events) == 0
