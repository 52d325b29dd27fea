"""The Pulse gateway over real sockets: envelopes, HTTP, every channel's notifications against
its fixture, heartbeats, cancel-on-disconnect and logout."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from kana_async.errors import ValidationError
from kana_async.sim import Simulator
from kana_async.sim.pulse import PulseConfig, PulseServer
from kana_async.sim.pulse.errors import Code
from kana_async.sim.pulse.server import CLOSE_HEARTBEAT, CLOSE_LOGOUT
from tests.sim.pulse.engines import BTC, ETH, Clock
from tests.sim.pulse.wire import Client, connected, fixture, served, until


def fields_of(channel_fixture: str) -> set[str]:
    return set(fixture(channel_fixture)["notification_data_example"])


async def buy(client: Client, amount: int = 100, price: int = 50000,
              instrument: str = BTC, **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = await client.result("private/buy", {
        "instrument_name": instrument, "amount": amount, "price": price, "type": "limit",
        **extra})
    return result


# -- envelopes ---------------------------------------------------------------------------


async def test_ws_replies_carry_the_id_and_json_rpc_members() -> None:
    async with served() as server, connected(server) as client:
        reply = await client.call("public/test")
        assert reply["jsonrpc"] == "2.0"
        assert reply["id"] == 1
        assert set(reply["result"]) == {"version"}
        assert reply["usDiff"] == reply["usOut"] - reply["usIn"] >= 0
        assert "result" in await client.call("/public/test")      # leading slash accepted
        unknown = await client.call("public/nothing")
        assert unknown["id"] == 3
        assert unknown["error"]["code"] == Code.METHOD_NOT_FOUND
        private = await client.call("private/get_positions", {"currency": "BTC"})
        assert private["error"]["code"] == Code.AUTHORIZATION_REQUIRED
        assert server.stats["errors"] == 2


async def test_the_websocket_path_takes_a_trailing_slash_too() -> None:
    async with served() as server, aiohttp.ClientSession() as http:
        async with http.ws_connect(server.ws_url + "/") as ws:
            assert "result" in await Client(ws).call("public/test")
        async with http.get(f"http://127.0.0.1:{server.port}/ws/api/v3") as response:
            assert response.status == 404


async def test_http_get_post_envelope_and_bearer() -> None:
    async with served() as server, aiohttp.ClientSession() as http:
        base = server.http_url
        async with http.get(f"{base}/public/get_index_price",
                            params={"index_name": "btc_usd"}) as response:
            assert response.status == 200
            assert await response.json() == 60000
        async with http.post(f"{base}/public/get_index_price",
                             json={"index_name": "eth_usd"}) as response:
            assert await response.json() == 3000
        async with http.post(f"{base}/public/get_index_price", json={
                "jsonrpc": "2.0", "id": 9, "method": "public/get_index_price",
                "params": {"index_name": "btc_usd"}}) as response:
            assert await response.json() == 60000
        async with http.get(f"{base}/public/auth", params={
                "grant_type": "client_credentials", "client_id": "carol",
                "client_secret": "s"}) as response:
            token = (await response.json())["access_token"]
        async with http.get(f"{base}/private/get_account_summary",
                            params={"currency": "BTC"}) as response:
            assert response.status == 400
            body = await response.json()
            assert body["status"] == Code.AUTHORIZATION_REQUIRED
            assert set(body) == {"description", "response", "status"}
        async with http.post(f"{base}/private/get_account_summary", json={"currency": "BTC"},
                             headers={"Authorization": f"Bearer {token}"}) as response:
            assert response.status == 200
            assert (await response.json())["currency"] == "BTC"
        async with http.post(f"{base}/private/buy", json={
                "instrument_name": BTC, "amount": 100, "price": 50000},
                headers={"Authorization": f"Bearer {token}"}) as response:
            order = (await response.json())["order"]
            assert order["order_state"] == "open"
        assert len(server.engine.open_orders("carol", BTC)) == 1
        async with http.post(f"{base}/public/set_heartbeat", json={"interval": 10}) as response:
            assert (await response.json())["status"] == Code.MUST_BE_WEBSOCKET_REQUEST
        async with http.post(f"{base}/public/nothing", json={}) as response:
            assert (await response.json())["status"] == Code.METHOD_NOT_FOUND
        async with http.post(f"{base}/public/get_index_price", data="[1, 2]") as response:
            assert (await response.json())["status"] == Code.BAD_REQUEST
        async with http.post(f"{base}/public/get_index_price", data="{nope") as response:
            assert (await response.json())["status"] == Code.PARSE_ERROR


async def test_http_switches_wrap_results_rpc_errors_and_ws_only_methods() -> None:
    config = PulseConfig(http_wrapped=True, http_rpc_errors=True, ws_only_over_http=True,
                         push_interval=0.01)
    async with served(config) as server, aiohttp.ClientSession() as http:
        base = server.http_url
        async with http.post(f"{base}/public/get_index_price", json={
                "jsonrpc": "2.0", "id": 4, "params": {"index_name": "btc_usd"}}) as response:
            body = await response.json()
            assert (body["jsonrpc"], body["id"], body["result"]) == ("2.0", 4, 60000)
        async with http.get(f"{base}/public/get_index_price",
                            params={"index_name": "xxx"}) as response:
            assert response.status == 400
            body = await response.json()
            assert body["id"] is None
            assert set(body["error"]) == {"code", "message", "data"}
        async with http.post(f"{base}/public/set_heartbeat", json={"interval": 10}) as response:
            assert (await response.json())["result"]["status"] == 200


async def test_http_body_over_the_frame_limit_is_refused() -> None:
    async with (served() as server, aiohttp.ClientSession() as http,
                http.post(f"{server.http_url}/public/get_index_price",
                          data=b'{"index_name": "' + b"x" * 40_000 + b'"}') as response):
        assert response.status == 400
        assert (await response.json())["status"] == Code.REQUEST_TOO_LARGE


# -- channels ----------------------------------------------------------------------------


async def test_book_snapshot_then_chained_changes_and_a_fresh_snapshot_on_resubscribe() -> None:
    async with served() as server, connected(server) as client:
        engine = server.engine
        engine.place("bob", "sell", BTC, Decimal(100), price=Decimal(61000))
        channel = f"book.{BTC}.raw"
        assert await client.result("public/subscribe", {"channels": [channel]}) == "ok"
        snapshot = await client.notification(channel)
        assert set(snapshot) == fields_of("channel.book.instrument_name.interval")
        assert snapshot["type"] == "snapshot"
        assert snapshot["prev_change_id"] == 0
        assert snapshot["asks"] == [["new", 61000, 100]]
        assert snapshot["bids"] == []
        engine.place("bob", "buy", BTC, Decimal(50), price=Decimal(59000))
        change = await client.notification(channel)
        assert change["type"] == "change"
        assert change["prev_change_id"] == snapshot["change_id"]
        assert change["bids"] == [["new", 59000, 50]]
        engine.place("bob", "buy", BTC, Decimal(30), price=Decimal(59000))
        again = await client.notification(channel)
        assert again["prev_change_id"] == change["change_id"]
        assert again["bids"] == [["change", 59000, 80]]
        await client.result("public/subscribe", {"channels": [channel]})
        fresh = await client.notification(channel, where=lambda d: d["type"] == "snapshot")
        assert fresh["change_id"] == again["change_id"]
        assert fresh["bids"] == [["new", 59000, 80]]
        assert server.subscribers(channel) == 1


async def test_a_second_subscriber_joins_the_same_chain() -> None:
    async with served() as server, connected(server) as first, connected(server) as second:
        engine = server.engine
        channel = f"book.{ETH}.100ms"
        await first.result("public/subscribe", {"channels": [channel]})
        await first.notification(channel)
        engine.place("bob", "sell", ETH, Decimal(5), price=Decimal(3100))
        await second.result("public/subscribe", {"channels": [channel]})
        first_change = await first.notification(channel)
        snapshot = await second.notification(channel)
        assert snapshot["change_id"] == first_change["change_id"]
        assert snapshot["asks"] == [["new", 3100, 5]]
        engine.place("bob", "sell", ETH, Decimal(5), price=Decimal(3200))
        one = await first.notification(channel)
        two = await second.notification(channel)
        assert one == two
        assert one["prev_change_id"] == snapshot["change_id"]


async def test_quote_and_index_channels() -> None:
    async with served() as server, connected(server) as client:
        engine = server.engine
        engine.place("bob", "sell", BTC, Decimal(100), price=Decimal(61000))
        channels = [f"quote.{BTC}", "deribit_price_index.BTC_USD"]
        await client.result("public/subscribe", {"channels": channels})
        quote = await client.notification(channels[0])
        assert set(quote) == fields_of("channel.quote.instrument_name")
        assert (quote["best_ask_price"], quote["best_ask_amount"]) == (61000, 100)
        assert quote["best_bid_price"] is None
        index = await client.notification(channels[1])
        assert set(index) == fields_of("channel.deribit_price_index.index_name")
        assert index == {"index_name": "btc_usd", "price": 60000, "timestamp": index["timestamp"]}
        engine.place("bob", "buy", BTC, Decimal(20), price=Decimal(60000))
        quote = await client.notification(channels[0])
        assert (quote["best_bid_price"], quote["best_bid_amount"]) == (60000, 20)
        engine.set_index_price("btc_usd", Decimal("60100.5"))
        index = await client.notification(channels[1])
        assert index["price"] == 60100.5


async def test_funding_and_settlement_channels() -> None:
    clock = Clock()
    async with served(clock=clock, funding_interval=60) as server, connected(server) as client:
        channels = [f"funding_payments.{BTC}", f"funding_prices.{BTC}", f"funding_rates.{BTC}",
                    "settlement_prices.btc_usd"]
        await client.result("public/subscribe", {"channels": channels})
        clock.now += 61
        server.engine.step()
        payment = await client.notification(channels[0])
        assert set(payment) == fields_of("channel.funding_payments.instrument_name")
        assert isinstance(payment["amount"], str)
        prices = await client.notification(channels[1])
        assert set(prices) == fields_of("channel.funding_prices.instrument_name")
        assert prices["range_end"].endswith("Z")
        rates = await client.notification(channels[2])
        assert set(rates) == fields_of("channel.funding_rates.instrument_name")
        assert rates["range_end"] - rates["range_start"] == 61_000
        settlement = await client.notification(channels[3])
        assert set(settlement) == fields_of("channel.settlement_prices.index_name")
        assert settlement["index_name"] == "btc_usd"


async def test_private_channels_reach_their_account_only() -> None:
    async with served() as server, connected(server) as alice, connected(server) as eve:
        await alice.auth("alice")
        await eve.auth("eve")
        names = [f"user.orders.{BTC}.raw", f"user.trades.{BTC}.raw", f"user.changes.{BTC}.raw",
                 "user_fee"]
        assert await alice.result("private/subscribe", {"channels": names}) == "ok"
        await eve.result("private/subscribe", {"channels": names[:3]})
        fee = await alice.notification("user_fee")
        assert set(fee) == fields_of("channel.user_fee")
        assert fee["perpetual"] == {"percentage": 0.05, "volume": 0}
        server.engine.place("bob", "sell", BTC, Decimal(100), price=Decimal(60000))
        placed = await buy(alice, amount=100, price=60000)
        assert placed["order"]["order_state"] == "filled"
        order = await alice.notification(names[0])
        assert set(order) >= fields_of("channel.user.orders.instrument_name.interval")
        assert order["order_id"] == placed["order"]["order_id"]
        trade = await alice.notification(names[1])
        assert set(trade) >= fields_of("channel.user.trades.instrument_name.interval")
        assert (trade["direction"], trade["amount"], trade["price"]) == ("buy", 100, 60000)
        changes = await alice.notification(names[2])
        assert set(changes) == fields_of("channel.user.changes.instrument_name.interval")
        assert [o["order_id"] for o in changes["orders"]] == [order["order_id"]]
        assert [t["trade_id"] for t in changes["trades"]] == [trade["trade_id"]]
        fee = await alice.notification("user_fee")
        assert fee["perpetual"]["volume"] == 100
        await eve.result("public/test")   # alice heard everything: the round is over
        assert not [f for f in eve.frames if f.get("method") == "subscription"]


async def test_mmp_trigger_and_heartbeat_trade_channels() -> None:
    async with served() as server, connected(server) as alice:
        await alice.auth("alice")
        names = ["user.mmp_trigger.btc_usd", "heartbeat_trade"]
        await alice.result("private/subscribe", {"channels": names})
        status = await alice.notification("heartbeat_trade")
        assert set(status) == fields_of("channel.heartbeat_trade")
        assert status == {"status_trade": "active"}
        await alice.result("private/set_mmp_config", {"index_name": "btc_usd", "interval": 60,
                                                      "frozen_time": 30, "quantity_limit": 10})
        await buy(alice, amount=100, price=59000, mmp=True)
        server.engine.place("bob", "sell", BTC, Decimal(100), price=Decimal(59000))
        trigger = await alice.notification(names[0])
        assert set(trigger) == fields_of("channel.user.mmp_trigger.index_name")
        assert trigger["index_name"] == "btc_usd"
        assert trigger["frozen_until"] > server.engine.now_ms()


async def test_subscriptions_follow_the_public_private_split_and_unsubscribe_all() -> None:
    async with served() as server, connected(server) as client:
        refused = await client.call("public/subscribe", {"channels": [f"user.orders.{BTC}.raw"]})
        assert refused["error"]["code"] == Code.INVALID_ARGUMENTS
        unauthorized = await client.call("private/subscribe", {"channels": ["user_fee"]})
        assert unauthorized["error"]["code"] == Code.AUTHORIZATION_REQUIRED
        await client.result("public/subscribe", {"channels": [f"quote.{BTC}", "heartbeat_trade"]})
        await client.notification("heartbeat_trade")
        assert server.pusher.subscribers(f"quote.{BTC}") == 1
        message = await client.result("public/unsubscribe_all")
        assert message == {"description": "ok", "response": None, "status": 200}
        assert server.pusher.subscribers(f"quote.{BTC}") == 0


# -- heartbeat, cancel-on-disconnect, logout ---------------------------------------------


async def place_with_cod(server: PulseServer, client: Client, enable: bool = True) -> None:
    await client.auth("alice")
    if enable:
        assert await client.result("private/enable_cancel_on_disconnect") is None
        assert await client.result("private/get_cancel_on_disconnect") is True
    before = len(server.engine.open_orders("alice", BTC))
    await buy(client)
    assert len(server.engine.open_orders("alice", BTC)) == before + 1


async def test_heartbeats_keep_an_answering_connection_open() -> None:
    config = PulseConfig(push_interval=0.01, heartbeat_unit=0.05)
    async with served(config) as server, connected(server) as client:
        await client.result("public/set_heartbeat", {"interval": 10})   # 0.5 s here
        for _ in range(3):
            await client.wait(lambda f: f.get("params") == {"type": "heartbeat"})
            await client.wait(lambda f: f.get("params") == {"type": "test_request"})
            await client.result("public/test")
        assert server.stats["heartbeat_closed"] == 0
        await client.result("public/disable_heartbeat")
        assert len(server.connections) == 1


async def test_an_unanswered_test_request_closes_the_socket_and_cancels_its_orders() -> None:
    async with served() as server, connected(server) as client:
        await place_with_cod(server, client)
        await client.result("public/set_heartbeat", {"interval": 10})
        message = await client.closed(timeout=5)
        assert message.type == aiohttp.WSMsgType.CLOSE
        assert message.data == CLOSE_HEARTBEAT
        assert any(f.get("params") == {"type": "test_request"} for f in client.frames)
        await until(lambda: not server.connections)
        assert server.engine.open_orders("alice", BTC) == []
        assert server.stats["heartbeat_closed"] == 1
        assert server.stats["cod_cancelled"] == 1


async def test_closing_cancels_only_with_cod_enabled() -> None:
    async with served() as server:
        async with connected(server) as client:
            await place_with_cod(server, client, enable=False)
        await until(lambda: not server.connections)
        assert len(server.engine.open_orders("alice", BTC)) == 1
        async with connected(server) as client:
            await place_with_cod(server, client)
            await client.result("private/disable_cancel_on_disconnect")
            await client.result("private/enable_cancel_on_disconnect")
        await until(lambda: not server.connections)
        # only the orders of the connection that closed
        assert len(server.engine.open_orders("alice", BTC)) == 1


async def test_logout_replies_closes_and_never_cancels() -> None:
    async with served() as server, connected(server) as client:
        await place_with_cod(server, client)
        token = server.auth
        reply = await client.call("private/logout", {"invalidate_token": True})
        assert "error" not in reply
        message = await client.closed()
        assert (message.type, message.data) == (aiohttp.WSMsgType.CLOSE, CLOSE_LOGOUT)
        await until(lambda: not server.connections)
        assert len(server.engine.open_orders("alice", BTC)) == 1
        assert server.stats["cod_cancelled"] == 0
        assert token.token_count == 0


async def test_server_shutdown_closes_sockets_and_fires_cod() -> None:
    async with served() as server, connected(server) as client:
        await place_with_cod(server, client)
        await server.stop()
        await server.stop()
        message = await client.closed()
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert server.engine.open_orders("alice", BTC) == []
        assert not server.running
        with pytest.raises(RuntimeError, match="not running"):
            _ = server.ws_url


# -- a new subscriber and the current ones ------------------------------------------------


async def test_a_new_subscriber_never_hides_a_change_from_the_others() -> None:
    config = PulseConfig(push_interval=30)   # no round unless a subscribe makes one
    async with served(config) as server, connected(server) as old, connected(server) as new:
        channel = f"quote.{BTC}"
        await old.result("public/subscribe", {"channels": [channel]})
        assert (await old.notification(channel))["best_bid_price"] is None
        server.engine.place("bob", "buy", BTC, Decimal(10), price=Decimal(59000))
        await new.result("public/subscribe", {"channels": [channel]})
        assert (await new.notification(channel))["best_bid_price"] == 59000
        assert (await old.notification(channel))["best_bid_price"] == 59000


async def test_a_new_subscriber_hears_no_event_older_than_its_first_notification() -> None:
    config = PulseConfig(push_interval=30)
    async with served(config) as server, connected(server) as old, connected(server) as new:
        channel = "deribit_price_index.btc_usd"
        await old.result("public/subscribe", {"channels": [channel]})
        server.engine.set_index_price("btc_usd", Decimal(61000))
        await new.result("public/subscribe", {"channels": [channel]})
        server.engine.set_index_price("btc_usd", Decimal(62000))
        server.push()
        heard_old = [(await old.notification(channel))["price"] for _ in range(3)]
        heard_new = [(await new.notification(channel))["price"] for _ in range(2)]
        assert heard_old == [60000, 61000, 62000]
        assert heard_new == [61000, 62000]
        await new.result("public/test")
        assert not [f for f in new.frames if f.get("method") == "subscription"]


def apply(book: dict[str, dict[Any, Any]], change: dict[str, Any]) -> None:
    for side in ("bids", "asks"):
        for action, price, amount in change[side]:
            if action == "delete":
                del book[side][price]
            else:
                book[side][price] = amount


async def test_a_busy_book_chain_rebuilds_the_published_book() -> None:
    """Under the market maker's flow, the changes chain without a gap and, applied to the
    snapshot, give exactly the book a fresh subscription shows."""
    config = PulseConfig(push_interval=0.01)
    async with (Simulator(step_interval=0.01, pulse=config, seed=5) as sim,
                aiohttp.ClientSession() as session):
        assert sim.pulse_ws_url is not None
        async with session.ws_connect(sim.pulse_ws_url) as ws:
            client = Client(ws)
            channel = f"book.{BTC}.raw"
            await client.result("public/subscribe", {"channels": [channel]})
            book: dict[str, dict[Any, Any]] = {}
            last = 0
            changes = 0
            while changes < 30:
                note = await client.notification(channel)
                if note["type"] == "snapshot":
                    book = {side: {p: a for _, p, a in note[side]} for side in ("bids", "asks")}
                else:
                    assert note["prev_change_id"] == last
                    changes += 1
                    apply(book, note)
                last = note["change_id"]
                if book["bids"] and book["asks"]:
                    assert max(book["bids"]) < min(book["asks"])
            await client.result("public/subscribe", {"channels": [channel]})
            for _ in range(100):
                note = await client.notification(channel)
                if note["type"] == "snapshot":
                    break
                assert note["prev_change_id"] == last
                last = note["change_id"]
                apply(book, note)
            assert note["change_id"] == last
            fresh = {side: {p: a for _, p, a in note[side]} for side in ("bids", "asks")}
            assert fresh == book


@pytest.mark.parametrize(("field", "value"), [
    ("strict", 1), ("max_frame", 10), ("queue_size", 0), ("push_interval", 0),
    ("heartbeat_unit", float("nan")), ("token_lifetime", True), ("max_connections", 1.5),
])
def test_bad_config_values_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        PulseConfig(**{field: value})  # type: ignore[arg-type]
    assert caught.value.param == field
