"""PulseClient against the simulator's Pulse gateway: connect, auth, typed and untyped calls,
channels, HTTP, credentials and logout."""

from __future__ import annotations

import asyncio
import inspect
import logging
from decimal import Decimal
from typing import Any

import aiohttp
import msgspec
import pytest

from kana_async import (
    ApiError,
    AuthError,
    KanaError,
    PulseClient,
    PulseRpcError,
    SlowConsumerError,
    StreamOptions,
    UnknownOutcomeError,
    ValidationError,
)
from kana_async.models.pulse import BuySellResponse, OrderConfirmation
from kana_async.pulse import PulseBook
from kana_async.pulse.routing import MAX_REQUEST_BYTES, chunks
from tests.pulse.client_support import (
    BTC,
    CLIENT_ID,
    ETH,
    SECRET,
    RecordingConnector,
    faults,
    gateway,
    order_id,
    order_of,
    pulse_sim,
    until,
)


def client(sim: Any, **options: Any) -> PulseClient:
    values: dict[str, Any] = {"client_id": CLIENT_ID, "client_secret": SECRET,
                              "timeout": 3.0, "silence_timeout": 2.0}
    values.update(options)
    return PulseClient(sim.pulse_ws_url, **values)


async def test_connect_authenticate_call_and_place_an_order() -> None:
    async with pulse_sim() as sim, client(sim) as pulse:
        assert await pulse.call("public/test") == {"version": "0.1.0"}
        assert await pulse.get_index_price(index_name="BTC_USD") == Decimal(60000)
        placed = await pulse.buy(instrument_name=BTC, amount=100, type="limit",
                                 price=Decimal(50000), label="mm-1")
        assert isinstance(placed, BuySellResponse)
        assert order_of(placed).label == "mm-1"
        assert order_of(placed).price == Decimal(50000)
        again = await pulse.get_order_state(order_id=order_id(placed))
        assert isinstance(again, OrderConfirmation)
        assert again.order_id == order_id(placed)
        stats = pulse.stats()
        assert stats.connected
        assert stats.ready
        assert stats.connects == 1
        assert stats.in_flight == 0


async def test_an_order_without_a_label_gets_one() -> None:
    async with pulse_sim() as sim, client(sim) as pulse:
        placed = await pulse.sell(instrument_name=BTC, amount=100, type="limit",
                                  price=70000)
        label = order_of(placed).label
        assert label is not None
        assert label.startswith("ka-")
        found = await pulse.get_order_state_by_label(currency="BTC", label=label)
        assert [order.order_id for order in found] == [order_id(placed)]


async def test_untyped_call_decodes_fractions_as_decimal() -> None:
    async with pulse_sim() as sim, client(sim) as pulse:
        positions = await pulse.call("/private/get_positions", currency="BTC")
        assert isinstance(positions, list)
        assert positions[0]["instrument_name"] == BTC
        assert all(not isinstance(v, float) for v in positions[0].values())


async def test_an_error_reply_is_a_pulse_rpc_error_and_the_socket_stays() -> None:
    async with pulse_sim() as sim, client(sim) as pulse:
        with pytest.raises(PulseRpcError) as caught:
            await pulse.call("public/no_such_method")
        assert caught.value.code == -32601
        with pytest.raises(PulseRpcError):
            await pulse.cancel(order_id="does-not-exist")
        assert await pulse.call("public/test")
        assert pulse.stats().connects == 1


async def test_a_book_channel_yields_synced_books_with_change_ids() -> None:
    async with pulse_sim() as sim, client(sim) as pulse, \
            pulse.subscribe(f"book.{BTC}.raw") as books:
        first = await asyncio.wait_for(books.get(), 3)
        assert isinstance(first, PulseBook)
        assert first.synced
        await pulse.buy(instrument_name=BTC, amount=100, type="limit", price=50000)
        for _ in range(50):
            book = await asyncio.wait_for(books.get(), 3)
            if book.bids:
                break
        assert book.synced
        assert book.change_id > first.change_id
        assert book.best_bid == (Decimal(50000), Decimal(100))


async def test_private_channel_delivers_each_order_event() -> None:
    async with pulse_sim() as sim, client(sim) as pulse, \
            pulse.subscribe(f"user.orders.{BTC}.raw") as orders:
        await until(lambda: orders.current, what="the private subscription")
        placed = await pulse.buy(instrument_name=BTC, amount=100, type="limit",
                                 price=50000, label="watch-me")
        event = await asyncio.wait_for(orders.get(), 3)
        assert isinstance(event, OrderConfirmation)
        assert event.order_id == order_id(placed)
        assert event.label == "watch-me"


async def test_closing_one_subscription_leaves_the_others_flowing() -> None:
    async with pulse_sim() as sim, aiohttp.ClientSession() as http:
        connector = RecordingConnector(http)
        async with client(sim, session=http, connector=connector) as pulse:
            btc = pulse.subscribe(f"book.{BTC}.raw")
            eth = pulse.subscribe(f"book.{ETH}.raw")
            await asyncio.wait_for(btc.get(), 3)
            await asyncio.wait_for(eth.get(), 3)
            await btc.close()
            await pulse.buy(instrument_name=ETH, amount=10, type="limit", price=2000)
            for _ in range(50):
                book = await asyncio.wait_for(eth.get(), 3)
                if book.bids:
                    break
            assert book.best_bid == (Decimal(2000), Decimal(10))
            sent = connector.sockets[0].methods()
            assert "public/unsubscribe_all" not in sent
            assert "private/unsubscribe_all" not in sent
            await eth.close()


async def test_unsubscribe_all_sends_both_and_ends_every_subscription() -> None:
    async with pulse_sim() as sim, aiohttp.ClientSession() as http:
        connector = RecordingConnector(http)
        async with client(sim, session=http, connector=connector) as pulse:
            book = pulse.subscribe(f"book.{BTC}.raw")
            orders = pulse.subscribe(f"user.orders.{BTC}.raw")
            await asyncio.wait_for(book.get(), 3)
            await pulse.unsubscribe_all()
            assert book.closed
            assert orders.closed
            sent = connector.sockets[0].methods()
            assert "public/unsubscribe_all" in sent
            assert "private/unsubscribe_all" in sent


# -- credentials and secrets ---------------------------------------------------------------


async def test_a_private_call_without_credentials_fails_at_once() -> None:
    async with pulse_sim() as sim, PulseClient(sim.pulse_ws_url, timeout=3.0) as pulse:
        assert await pulse.get_index_price(index_name="eth_usd") > 0
        with pytest.raises(AuthError, match="client_id"):
            await pulse.get_positions(currency="BTC")
        with pytest.raises(AuthError):
            pulse.subscribe(f"user.orders.{BTC}.raw")


async def test_wrong_credentials_raise_once_and_are_not_retried() -> None:
    async with pulse_sim() as sim:
        async with client(sim) as first:  # registers the client id with SECRET
            await first.get_positions(currency="BTC")
        wrong = client(sim, client_secret="another-secret")
        with pytest.raises(AuthError, match="credentials refused"):
            await wrong.connect()
        with pytest.raises(AuthError):
            await wrong.get_positions(currency="BTC")
        assert wrong.stats().connects == 1
        await wrong.close()
        await wrong.close()  # twice is fine


async def test_secrets_never_reach_logs_reprs_or_errors(caplog: pytest.LogCaptureFixture,
                                                        ) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    async with pulse_sim(token_lifetime=2.0) as sim:
        async with client(sim) as pulse:
            await pulse.get_positions(currency="BTC")
            tokens = pulse._session._tokens
            assert tokens is not None
            token = tokens.token
            assert token is not None
            secrets = [SECRET, token.access_token, token.refresh_token or SECRET]
            texts += [repr(pulse), repr(token), repr(tokens), str(pulse.stats())]
            with pytest.raises(PulseRpcError) as caught:
                await pulse.call("public/auth", grant_type="refresh_token",
                                 refresh_token="x" + token.access_token)
            texts.append(str(caught.value))
            faults(sim).drop()
            await until(lambda: pulse.stats().connects == 2 and pulse.stats().ready)
            await pulse.get_positions(currency="BTC")
        bad = client(sim, client_secret="wrong-" + SECRET)
        with pytest.raises(AuthError) as refused:
            await bad.connect()
        texts.append(str(refused.value))
        await bad.close()
    logged = caplog.text + "\n".join(texts)
    for secret in secrets:
        assert secret not in logged


# -- HTTP ----------------------------------------------------------------------------------


async def test_http_only_client_calls_public_and_private_methods() -> None:
    async with pulse_sim() as sim, PulseClient(
        http_url=sim.pulse_http_url, client_id=CLIENT_ID, client_secret=SECRET, timeout=3.0,
    ) as pulse:
        assert await pulse.get_index_price(index_name="btc_usd") == Decimal(60000)
        placed = await pulse.buy(instrument_name=BTC, amount=100, type="limit", price=50000)
        state = await pulse.get_order_state(order_id=order_id(placed))
        assert state.order_id == order_id(placed)
        with pytest.raises(PulseRpcError):
            await pulse.cancel(order_id="nope")
        assert pulse.stats().transport == "http"


async def test_http_only_client_refuses_websocket_methods_before_sending() -> None:
    async with pulse_sim() as sim, PulseClient(
        http_url=sim.pulse_http_url, client_id=CLIENT_ID, client_secret=SECRET, timeout=3.0,
    ) as pulse:
        before = pulse.stats().calls
        with pytest.raises(ValidationError, match="WebSocket"):
            await pulse.set_heartbeat(interval=10)
        with pytest.raises(ValidationError, match="WebSocket"):
            pulse.subscribe(f"book.{BTC}.raw")
        with pytest.raises(ValidationError, match="WebSocket"):
            await pulse.logout()
        with pytest.raises(ValidationError, match="WebSocket"):
            await pulse.unsubscribe_all()
        assert pulse.stats().calls == before


def test_constructor_rules_name_the_parameter() -> None:
    with pytest.raises(ValidationError, match="ws_url"):
        PulseClient()
    with pytest.raises(ValidationError, match="heartbeat"):
        PulseClient("ws://127.0.0.1:1/ws", heartbeat=5)
    with pytest.raises(ValidationError, match="client_secret"):
        PulseClient("ws://127.0.0.1:1/ws", client_id="only-id")
    with pytest.raises(ValidationError, match="grant"):
        PulseClient("ws://127.0.0.1:1/ws", grant="password")
    with pytest.raises(ValidationError, match="http_url"):
        PulseClient(http_url="ftp://x")
    with pytest.raises(ValidationError, match="stream"):
        PulseClient("ws://127.0.0.1:1/ws", stream={"nonsense": 1})
    assert "client_id" in str(inspect.signature(PulseClient))
    assert isinstance(StreamOptions.coerce({"buffer_size": 8}), StreamOptions)


# -- logout --------------------------------------------------------------------------------


async def test_logout_ends_the_client_without_reconnecting() -> None:
    async with pulse_sim() as sim:
        async with client(sim, cancel_on_disconnect=True) as pulse:
            placed = await pulse.buy(instrument_name=BTC, amount=100, type="limit",
                                     price=50000)
            await pulse.logout()
            with pytest.raises(KanaError, match="logged out"):
                await pulse.get_positions(currency="BTC")
            await asyncio.sleep(0.2)
            assert pulse.stats().connects == 1
        async with client(sim) as other:  # cancel-on-disconnect did not fire on logout
            state = await other.get_order_state(order_id=order_id(placed))
            assert state.order_state == "open"


async def test_a_subscription_made_before_connecting_is_sent_with_the_connection() -> None:
    async with pulse_sim() as sim:
        pulse = client(sim)
        try:
            books = pulse.subscribe(f"book.{BTC}.raw")
            orders = pulse.subscribe(f"user.orders.{BTC}.raw")
            first = await asyncio.wait_for(books.get(), 3)
            assert first.synced
            await until(lambda: orders.current, what="the private channel")
        finally:
            await pulse.close()
        assert books.closed


async def test_a_refused_channel_fails_alone() -> None:
    async with pulse_sim() as sim, client(sim) as pulse:
        good = pulse.subscribe(f"book.{BTC}.raw")
        bad = pulse.subscribe("book.NOPE-PERPETUAL.raw")
        with pytest.raises(PulseRpcError):
            await asyncio.wait_for(bad.get(), 3)
        assert (await asyncio.wait_for(good.get(), 3)).synced
        assert pulse.stats().connects == 1


async def test_a_second_subscriber_of_a_book_gets_the_book_at_once() -> None:
    async with pulse_sim() as sim, client(sim) as pulse:
        await pulse.buy(instrument_name=BTC, amount=100, type="limit", price=50000)
        first = pulse.subscribe(f"book.{BTC}.raw")
        assert (await asyncio.wait_for(first.get(), 3)).best_bid is not None
        second = pulse.subscribe(f"book.{BTC}.raw")
        book = await asyncio.wait_for(second.get(), 3)
        assert book.best_bid == (Decimal(50000), Decimal(100))
        await first.close()
        await second.close()


async def test_a_busy_gateway_is_waited_out_except_for_orders() -> None:
    async with pulse_sim() as sim, aiohttp.ClientSession() as http:
        connector = RecordingConnector(http)
        async with client(sim, session=http, connector=connector) as pulse:
            connector.refuse["private/get_positions"] = 2
            positions = await pulse.get_positions(currency="BTC")
            assert positions[0].instrument_name == BTC
            connector.refuse["private/buy"] = 1
            with pytest.raises(PulseRpcError) as caught:
                await pulse.buy(instrument_name=BTC, amount=10, type="limit", price=50000)
            assert caught.value.code == 10028
            methods = connector.sockets[0].methods()
            assert methods.count("private/get_positions") == 3
            assert methods.count("private/buy") == 1


async def test_closing_a_channel_tries_one_unsubscribe_until_the_gateway_has_none() -> None:
    async with pulse_sim() as sim, aiohttp.ClientSession() as http:
        connector = RecordingConnector(http)
        async with client(sim, session=http, connector=connector) as pulse:
            for name in (BTC, ETH):
                sub = pulse.subscribe(f"book.{name}.raw")
                await asyncio.wait_for(sub.get(), 3)
                await sub.close()
            await pulse.call("public/test")  # after the unsubscribe's reply
            methods = connector.sockets[0].methods()
            assert methods.count("public/unsubscribe") == 1  # -32601: not tried again
            assert "public/unsubscribe_all" not in methods


async def test_the_signature_grant_authenticates_without_sending_the_secret() -> None:
    async with pulse_sim() as sim, aiohttp.ClientSession() as http:
        async with client(sim) as first:  # registers the id and its secret
            await first.get_positions(currency="BTC")
        connector = RecordingConnector(http)
        async with client(sim, session=http, connector=connector,
                          grant="client_signature") as pulse:
            assert (await pulse.get_positions(currency="BTC"))[0].instrument_name == BTC
            sent = "\n".join(connector.sockets[0].sent)
            assert "client_signature" in sent
            assert SECRET not in sent


def test_long_channel_lists_are_split_under_32_kb() -> None:
    names = [f'book.I"{n:05d}\\-PERPETUAL.100ms' for n in range(5_000)]  # escaped in JSON
    parts = chunks(names, MAX_REQUEST_BYTES - 200)
    assert [name for part in parts for name in part] == names
    assert len(parts) > 1
    for chunk in parts:
        request = msgspec.json.encode({"jsonrpc": "2.0", "id": 2**53,
                                       "method": "private/subscribe",
                                       "params": {"channels": chunk}})
        assert len(request) <= MAX_REQUEST_BYTES


async def test_a_slow_event_consumer_is_told_how_much_it_lost() -> None:
    dropped: list[tuple[str, str, int]] = []
    async with pulse_sim() as sim, client(
        sim, stream={"hooks": {"on_dropped": lambda *args: dropped.append(args)}},
    ) as pulse:
        orders = pulse.subscribe(f"user.orders.{BTC}.raw", capacity=2)
        await until(lambda: orders.current, what="the private channel")
        for i in range(5):
            await pulse.buy(instrument_name=BTC, amount=10, type="limit", price=40000 + i)
        await until(lambda: orders.stats.received >= 5, what="five order events")
        with pytest.raises(SlowConsumerError) as caught:
            await orders.get()
        assert caught.value.lost == 3
        assert dropped == [("user.orders", f"user.orders.{BTC}.raw", 2)]
        assert (await orders.get()).price == Decimal(40003)
        await orders.close()


async def test_a_result_of_the_wrong_shape_is_an_api_error_and_for_an_order_in_doubt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with pulse_sim() as sim, client(sim) as pulse:
        real = gateway(sim).gateway.handle

        def garbled(session: Any, method: Any, params: Any, **kw: Any) -> Any:
            result = real(session, method, params, **kw)   # it executes for real
            if method in ("private/buy", "private/get_positions"):
                return {"order": "not an order"} if method == "private/buy" else 42
            return result

        monkeypatch.setattr(gateway(sim).gateway, "handle", garbled)
        with pytest.raises(UnknownOutcomeError) as doubt:
            await pulse.buy(instrument_name=BTC, amount=100, type="limit",
                            price=Decimal(50000), label="garbled-1")
        assert doubt.value.label == "garbled-1"
        assert "garbled-1" in pulse.stats().in_doubt
        with pytest.raises(ApiError, match="private/get_positions: unexpected result"):
            await pulse.get_positions(currency="BTC")
        # the order did execute: it is found by its label, once
        found = await pulse.get_order_state_by_label(currency="BTC", label="garbled-1")
        assert [o.label for o in found] == ["garbled-1"]
