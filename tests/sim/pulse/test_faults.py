"""Every fault control of the Pulse gateway: first as a value, then over real sockets."""

from __future__ import annotations

import asyncio
import math
from decimal import Decimal

import aiohttp
import pytest

from kana_async.errors import ValidationError
from kana_async.sim.pulse import PulseConfig, PulseFaults
from kana_async.sim.pulse.errors import Code
from tests.sim.pulse.engines import BTC, Clock
from tests.sim.pulse.wire import connected, served, until

# -- the control object ------------------------------------------------------------------


def test_a_fresh_object_means_nothing_is_wrong() -> None:
    faults = PulseFaults()
    assert not faults.stalled
    assert not faults.refusing
    assert faults.take_hold() is None
    assert faults.take_stray_error() is None
    assert not faults.take_gap(BTC)


def test_scripted_faults_are_consumed_one_at_a_time() -> None:
    clock = Clock(100.0)
    faults = PulseFaults(clock=clock)
    faults.hold_replies(2, release_after=0.5)
    assert faults.take_hold() == 100.5
    assert faults.take_hold() == 100.5
    assert faults.take_hold() is None
    faults.hold_replies(1)
    assert faults.take_hold() == math.inf
    faults.send_stray_errors("no_id", "null_id")
    assert [faults.take_stray_error() for _ in range(3)] == ["no_id", "null_id", None]
    faults.gap(BTC, 2)
    assert [faults.take_gap(BTC) for _ in range(3)] == [True, True, False]
    faults.refuse_connections(1.0)
    assert faults.refusing
    clock.now += 1.0
    assert not faults.refusing
    assert faults.counts == {"held": 3, "stray_error": 2, "gap": 2}


def test_listeners_hear_the_controls_that_act_on_connections() -> None:
    faults = PulseFaults()
    heard: list[str] = []
    remove = faults.add_listener(heard.append)
    faults.drop()
    faults.stall()
    faults.unstall()
    faults.release()
    faults.revoke_tokens()
    faults.stall()
    faults.clear()
    remove()
    remove()
    faults.drop()
    assert heard == ["drop", "stall", "unstall", "release", "revoke", "stall", "unstall",
                     "release"]
    assert not faults.stalled


@pytest.mark.parametrize(("call", "param"), [
    (lambda f: f.hold_replies(-1), "count"),
    (lambda f: f.hold_replies(True), "count"),
    (lambda f: f.hold_replies(1, release_after=math.nan), "release_after"),
    (lambda f: f.shuffle_replies(10**6), "window"),
    (lambda f: f.refuse_connections(-1), "seconds"),
    (lambda f: f.send_stray_errors("nope"), "kinds"),
    (lambda f: f.gap("", 1), "instrument_name"),
])
def test_bad_arguments_name_the_parameter(call: object, param: str) -> None:
    with pytest.raises(ValidationError) as caught:
        call(PulseFaults())  # type: ignore[operator]
    assert caught.value.param == param


# -- over sockets ------------------------------------------------------------------------


async def test_drop_aborts_every_socket_and_fires_cod() -> None:
    async with served() as server, connected(server) as one, connected(server) as two:
        await one.auth("alice")
        await one.result("private/enable_cancel_on_disconnect")
        await one.result("private/buy", {"instrument_name": BTC, "amount": 100,
                                         "price": 50000})
        await two.result("public/test")
        server.faults.drop()
        for client in (one, two):
            message = await client.closed()
            assert message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR,
                                    aiohttp.WSMsgType.CLOSE)
        await until(lambda: not server.connections)
        assert server.engine.open_orders("alice", BTC) == []
        assert server.stats["dropped"] == 2


async def test_stall_withholds_replies_and_notifications_until_unstalled() -> None:
    async with served() as server, connected(server) as client:
        channel = "deribit_price_index.btc_usd"
        await client.result("public/subscribe", {"channels": [channel]})
        await client.notification(channel)
        await client.auth("alice")
        server.faults.stall()
        request_id = await client.send("private/buy", {"instrument_name": BTC, "amount": 100,
                                                       "price": 50000})
        await until(lambda: len(server.engine.open_orders("alice", BTC)) == 1)  # executed
        server.engine.set_index_price("btc_usd", Decimal(61000))
        await until(lambda: server.stats["stalled_notifications"] >= 1)
        with pytest.raises(AssertionError, match="no such frame"):
            await client.reply(request_id, timeout=0.2)
        server.faults.unstall()
        reply = await client.reply(request_id)
        assert reply["result"]["order"]["order_state"] == "open"
        assert not [f for f in client.frames if f.get("method") == "subscription"]
        server.engine.set_index_price("btc_usd", Decimal(62000))
        assert (await client.notification(channel))["price"] == 62000


async def test_stall_also_holds_http_answers() -> None:
    async with served() as server, aiohttp.ClientSession() as http:
        server.faults.stall()
        url = f"{server.http_url}/public/get_index_price?index_name=btc_usd"
        pending = asyncio.ensure_future(http.get(url))
        await asyncio.sleep(0.1)
        assert not pending.done()
        server.faults.unstall()
        async with await asyncio.wait_for(pending, 3) as response:
            assert await response.json() == 60000


async def test_held_replies_wait_for_release_while_notifications_flow() -> None:
    async with served() as server, connected(server) as client:
        await client.auth("alice")
        await client.result("private/subscribe", {"channels": [f"user.orders.{BTC}.raw"]})
        server.faults.hold_replies(1)
        request_id = await client.send("private/buy", {"instrument_name": BTC, "amount": 100,
                                                       "price": 50000})
        order = await client.notification(f"user.orders.{BTC}.raw")   # before the reply
        assert order["order_state"] == "open"
        assert "result" in await client.call("public/test")           # later calls answered
        with pytest.raises(AssertionError, match="no such frame"):
            await client.reply(request_id, timeout=0.1)
        server.faults.release()
        reply = await client.reply(request_id)
        assert reply["result"]["order"]["order_id"] == order["order_id"]


async def test_held_replies_are_released_after_the_delay() -> None:
    async with served() as server, connected(server) as client:
        server.faults.hold_replies(2, release_after=0.05)
        first = await client.send("public/test")
        second = await client.send("public/test")
        third = await client.call("public/test")
        assert third["id"] == 3
        assert (await client.reply(first))["id"] == first
        assert (await client.reply(second))["id"] == second
        assert server.faults.counts["held"] == 2


async def test_held_http_replies_wait_for_release() -> None:
    async with served() as server, aiohttp.ClientSession() as http:
        server.faults.hold_replies(1)
        url = f"{server.http_url}/public/get_index_price?index_name=btc_usd"
        pending = asyncio.ensure_future(http.get(url))
        await until(lambda: server.faults.counts.get("held", 0) == 1)
        server.faults.release()
        async with await asyncio.wait_for(pending, 3) as response:
            assert await response.json() == 60000


async def test_shuffled_replies_come_in_another_order() -> None:
    async with served() as server, connected(server) as client:
        server.faults.shuffle_replies(8, flush_after=30)   # one whole window, however slow
        ids = [await client.send("public/test") for _ in range(8)]
        order = []
        for _ in ids:
            frame = await client.wait(lambda f: "id" in f)
            order.append(frame["id"])
        assert sorted(order) == ids
        assert order != ids   # seed 1 shuffles these 8 away from their order
        server.faults.shuffle_replies(5, flush_after=0.02)
        lone = await client.call("public/test")   # a partial window is flushed in time
        assert lone["id"] == 9


async def test_stray_error_frames_come_before_the_next_replies() -> None:
    async with served() as server, connected(server) as client:
        server.faults.send_stray_errors("no_id", "null_id")
        first = await client.call("public/test")
        second = await client.call("public/test")
        assert "result" in first
        assert "result" in second
        strays = list(client.frames)
        assert len(strays) == 2
        assert "id" not in strays[0]
        assert strays[1]["id"] is None
        assert all(s["error"]["code"] == Code.ERROR for s in strays)


async def test_a_gap_breaks_the_book_chain_once() -> None:
    async with served() as server, connected(server) as client:
        channel = f"book.{BTC}.raw"
        await client.result("public/subscribe", {"channels": [channel]})
        snapshot = await client.notification(channel)
        server.faults.gap(BTC)
        server.engine.place("bob", "buy", BTC, Decimal(10), price=Decimal(50000))
        gapped = await client.notification(channel)
        assert gapped["prev_change_id"] == snapshot["change_id"] + 1
        server.engine.place("bob", "buy", BTC, Decimal(10), price=Decimal(49000))
        chained = await client.notification(channel)
        assert chained["prev_change_id"] == gapped["change_id"]
        await client.result("public/subscribe", {"channels": [channel]})
        fresh = await client.notification(channel)
        assert fresh["type"] == "snapshot"
        assert fresh["change_id"] == chained["change_id"]


async def test_revoked_tokens_stop_private_calls_until_the_next_auth() -> None:
    async with served() as server, connected(server) as client:
        await client.auth("alice")
        assert "result" in await client.call("private/get_positions", {"currency": "BTC"})
        server.faults.revoke_tokens()
        refused = await client.call("private/get_positions", {"currency": "BTC"})
        assert refused["error"]["code"] == Code.UNAUTHORIZED
        await client.auth("alice")
        assert "result" in await client.call("private/get_positions", {"currency": "BTC"})


async def test_refused_connections_get_503_for_a_while() -> None:
    async with served() as server, aiohttp.ClientSession() as http:
        server.faults.refuse_connections(60)
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await http.ws_connect(server.ws_url)
        assert caught.value.status == 503
        async with http.get(f"{server.http_url}/public/test") as response:
            assert response.status == 503
        server.faults.refuse_connections(0)
        async with connected(server) as client:
            assert "result" in await client.call("public/test")
        assert server.stats["refused"] == 2


async def test_a_stall_does_not_count_against_the_heartbeat() -> None:
    config = PulseConfig(push_interval=0.01, heartbeat_unit=0.05)
    async with served(config) as server, connected(server) as client:
        await client.result("public/set_heartbeat", {"interval": 10})   # 0.5 s here
        await client.wait(lambda f: f.get("params") == {"type": "test_request"})
        server.faults.stall()
        await client.send("public/test")          # answered only after the stall
        await asyncio.sleep(1.2)                  # two periods without any frame out
        assert server.stats["heartbeat_closed"] == 0
        server.faults.unstall()
        for _ in range(2):
            await client.wait(lambda f: f.get("params") == {"type": "test_request"})
            await client.result("public/test")
        assert server.stats["heartbeat_closed"] == 0
        assert len(server.connections) == 1


async def test_a_stalled_gateway_answers_no_ping() -> None:
    async with (served() as server, aiohttp.ClientSession() as session,
                session.ws_connect(server.ws_url, autoping=False) as ws):
        await ws.ping(b"before")
        pong = await ws.receive(timeout=2)
        assert (pong.type, pong.data) == (aiohttp.WSMsgType.PONG, b"before")
        server.faults.stall()
        await ws.ping(b"stalled")
        with pytest.raises(asyncio.TimeoutError):
            await ws.receive(timeout=0.2)
        server.faults.unstall()
        await ws.ping(b"after")
        pong = await ws.receive(timeout=2)
        assert (pong.type, pong.data) == (aiohttp.WSMsgType.PONG, b"after")
