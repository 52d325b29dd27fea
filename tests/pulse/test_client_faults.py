"""PulseClient under the gateway's faults: shuffled replies and stray errors, short-lived
tokens, drops, stalls, book gaps, lost order replies and hostile frames."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from kana_async import PulseClient, StreamGapError, TransportError, UnknownOutcomeError
from kana_async.pulse import PulseBook
from kana_async.sim.pulse.faults import StrayError
from tests.pulse.client_support import (
    BTC,
    CLIENT_ID,
    ETH,
    SECRET,
    RecordingConnector,
    faults,
    gateway,
    order_id,
    pulse_sim,
    until,
)


def client(sim: Any, **options: Any) -> PulseClient:
    values: dict[str, Any] = {"client_id": CLIENT_ID, "client_secret": SECRET,
                              "timeout": 5.0, "silence_timeout": 1.0,
                              "stream": {"reconnect": {"initial_delay": 0.05,
                                                       "max_delay": 0.2}}}
    values.update(options)
    return PulseClient(sim.pulse_ws_url, **values)


async def test_a_thousand_calls_with_shuffled_replies_and_stray_errors() -> None:
    # The gateway answers a burst of 1,000 requests (and 200 stray errors) faster than one
    # socket drains: its default outgoing queue holds them all. Silence is not what this test
    # is about: on a loaded machine the burst may keep the reader busy past the 1 s default.
    async with pulse_sim() as sim, client(sim, timeout=30.0, silence_timeout=15.0) as pulse:
        ids = []
        for i in range(20):
            placed = await pulse.buy(instrument_name=BTC, amount=10, type="limit",
                                     price=40000 + 10 * i)
            ids.append(order_id(placed))
        faults(sim).shuffle_replies(50, flush_after=0.02)
        strays: list[StrayError] = ["no_id", "null_id"]
        faults(sim).send_stray_errors(*(strays * 100))

        async def one(i: int) -> tuple[int, Any]:
            if i % 3 == 0:
                return i, await pulse.get_index_price(
                    index_name="btc_usd" if i % 2 else "eth_usd")
            return i, await pulse.get_order_state(order_id=ids[i % len(ids)])

        results = await asyncio.gather(*(one(i) for i in range(1000)))
        btc = await pulse.get_index_price(index_name="btc_usd")
        eth = await pulse.get_index_price(index_name="eth_usd")
        assert btc != eth
        for i, result in results:
            if i % 3 == 0:
                assert result == (btc if i % 2 else eth), i
            else:
                assert result.order_id == ids[i % len(ids)], i
                assert result.price == Decimal(40000 + 10 * (i % len(ids)))
        stats = pulse.stats()
        assert stats.idless_errors == 200
        assert stats.connects == 1
        assert stats.in_flight == 0


async def test_short_lived_tokens_are_refreshed_without_a_failed_call() -> None:
    async with pulse_sim(token_lifetime=1.0) as sim, client(sim) as pulse:
        failures = 0
        for _ in range(40):  # about 4 lifetimes
            try:
                await pulse.get_positions(currency="BTC")
            except Exception:
                failures += 1
            await asyncio.sleep(0.1)
        assert failures == 0
        assert pulse.stats().token_refreshes >= 3


async def test_http_tokens_are_refreshed_too() -> None:
    async with pulse_sim(token_lifetime=1.0) as sim, PulseClient(
        http_url=sim.pulse_http_url, client_id=CLIENT_ID, client_secret=SECRET, timeout=5.0,
    ) as pulse:
        for _ in range(25):
            await pulse.get_positions(currency="BTC")
            await asyncio.sleep(0.1)
        assert pulse.stats().token_refreshes >= 2


async def test_a_revoked_token_is_renewed_and_the_call_goes_through() -> None:
    async with pulse_sim() as sim, client(sim) as pulse:
        await pulse.get_positions(currency="BTC")
        faults(sim).revoke_tokens()
        positions = await pulse.get_positions(currency="BTC")
        assert positions[0].instrument_name == BTC


async def test_reconnect_restores_auth_heartbeat_cod_and_channels_in_order() -> None:
    async with pulse_sim() as sim, aiohttp.ClientSession() as http:
        connector = RecordingConnector(http)
        async with client(sim, session=http, connector=connector,
                          cancel_on_disconnect=True) as pulse:
            book = pulse.subscribe(f"book.{BTC}.raw")
            orders = pulse.subscribe(f"user.orders.{BTC}.raw")
            await asyncio.wait_for(book.get(), 3)
            await until(lambda: orders.current)
            faults(sim).drop()
            await until(lambda: pulse.stats().connects == 2 and pulse.stats().ready,
                        what="the second connection")
            sent = [m for m in connector.sockets[1].methods() if m != "public/test"]
            assert sent[:5] == ["public/auth", "public/set_heartbeat",
                                "private/enable_cancel_on_disconnect", "public/subscribe",
                                "private/subscribe"]
            sessions = [conn.session for conn in gateway(sim).connections]
            assert len(sessions) == 1
            session = sessions[0]
            assert session.cancel_on_disconnect
            assert session.heartbeat_interval == 10
            assert set(session.subscriptions) == {f"book.{BTC}.raw", f"user.orders.{BTC}.raw"}
            fresh = await asyncio.wait_for(book.get(), 3)
            assert isinstance(fresh, PulseBook)
            assert fresh.synced


async def test_cod_turned_off_by_the_user_stays_off_after_a_reconnect() -> None:
    async with pulse_sim() as sim, client(sim, cancel_on_disconnect=True) as pulse:
        await pulse.disable_cancel_on_disconnect()
        faults(sim).drop()
        await until(lambda: pulse.stats().connects == 2 and pulse.stats().ready)
        assert await pulse.get_cancel_on_disconnect() is False


async def test_calls_made_while_reconnecting_wait_for_the_new_connection() -> None:
    async with pulse_sim() as sim, client(sim) as pulse:
        faults(sim).refuse_connections(0.3)
        faults(sim).drop()
        await until(lambda: not pulse.stats().connected)
        assert await pulse.get_index_price(index_name="btc_usd") > 0
        assert pulse.stats().connects == 2


async def test_test_requests_are_answered_and_the_socket_lives() -> None:
    async with pulse_sim() as sim, client(sim) as pulse:
        await until(lambda: pulse.stats().test_requests >= 5, what="five test requests")
        assert pulse.stats().connects == 1
        assert gateway(sim).stats.get("heartbeat_closed", 0) == 0


async def test_a_silent_socket_is_replaced() -> None:
    async with pulse_sim() as sim, client(sim) as pulse:
        faults(sim).stall()
        await until(lambda: pulse.stats().silent_replacements >= 1, what="the replacement")
        faults(sim).unstall()
        await until(lambda: pulse.stats().ready and pulse.stats().connects >= 2,
                    what="a new connection")
        assert await pulse.get_index_price(index_name="btc_usd") > 0


async def test_a_gap_on_one_book_resyncs_that_book_only() -> None:
    async with pulse_sim() as sim, client(sim) as pulse:
        btc = pulse.subscribe(f"book.{BTC}.raw")
        eth = pulse.subscribe(f"book.{ETH}.raw")
        await asyncio.wait_for(btc.get(), 3)
        await asyncio.wait_for(eth.get(), 3)
        faults(sim).gap(BTC)
        eth_books: list[PulseBook] = []
        for i in range(3):
            await pulse.buy(instrument_name=BTC, amount=10, type="limit", price=50000 + i)
            await pulse.buy(instrument_name=ETH, amount=10, type="limit", price=2000 + i)
        await until(lambda: pulse.stats().book_resyncs >= 1, what="the resync")
        for _ in range(50):
            book = await asyncio.wait_for(btc.get(), 3)
            if book.synced and len(book.bids) == 3:
                break
        assert book.synced
        assert [price for price, _ in book.bids] == [Decimal(50002), Decimal(50001),
                                                     Decimal(50000)]
        for _ in range(50):
            eth_book = await asyncio.wait_for(eth.get(), 3)
            eth_books.append(eth_book)
            if len(eth_book.bids) == 3:
                break
        assert all(b.synced for b in eth_books)
        assert pulse.stats().book_resyncs == 1
        await btc.close()
        await eth.close()


async def test_an_order_in_flight_at_a_drop_is_sent_once_and_reported_unknown() -> None:
    async with pulse_sim() as sim, aiohttp.ClientSession() as http:
        connector = RecordingConnector(http)
        async with client(sim, session=http, connector=connector) as pulse:
            faults(sim).hold_replies(1)
            order = asyncio.ensure_future(pulse.buy(
                instrument_name=BTC, amount=10, type="limit", price=45000, label="in-doubt"))
            await until(lambda: faults(sim).counts.get("held", 0) == 1, what="the held reply")
            faults(sim).drop()
            with pytest.raises(UnknownOutcomeError) as caught:
                await order
            assert caught.value.label == "in-doubt"
            await until(lambda: pulse.stats().ready and pulse.stats().connects == 2)
            found = await pulse.get_order_state_by_label(currency="BTC", label="in-doubt")
            assert len(found) == 1
            buys = [text for socket in connector.sockets for text in socket.sent
                    if json.loads(text)["method"] == "private/buy"]
            assert len(buys) == 1


async def test_a_lost_order_reply_names_its_label_and_a_lost_read_does_not() -> None:
    async with pulse_sim() as sim, client(sim, timeout=0.5) as pulse:
        faults(sim).hold_replies(50)
        with pytest.raises(UnknownOutcomeError) as caught:
            await pulse.sell(instrument_name=BTC, amount=10, type="limit", price=80000)
        label = caught.value.label
        assert label is not None
        assert label in str(caught.value)
        assert pulse.stats().in_doubt == [label]
        with pytest.raises(TransportError, match="no reply"):
            await pulse.get_positions(currency="BTC")
        faults(sim).release()
        found = await pulse.get_order_state_by_label(currency="BTC", label=label)
        assert len(found) == 1


async def test_garbage_and_deep_nesting_never_end_the_reader() -> None:
    async with pulse_sim() as sim, aiohttp.ClientSession() as http:
        connector = RecordingConnector(http)
        async with client(sim, session=http, connector=connector) as pulse:
            book = pulse.subscribe(f"book.{BTC}.raw")
            await asyncio.wait_for(book.get(), 3)
            hostile: list[bytes | str] = [
                b"not json", b"[" * 100_000, b'{"a":' * 100_000, "\x00\xff", b"42",
                b'{"jsonrpc":"2.0","id":999999,"result":1}',
                b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book.'
                + BTC.encode() + b'.raw","data":' + b"[" * 50_000 + b"}}",
                b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book.'
                + BTC.encode() + b'.raw","data":{"type":"change","change_id":"x"}}}',
                b'{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"other"}}',
            ]
            connector.inject(*hostile)
            await pulse.buy(instrument_name=BTC, amount=10, type="limit", price=50000)
            assert await pulse.get_index_price(index_name="btc_usd") > 0
            stats = pulse.stats()
            assert stats.connects == 1
            assert stats.frames["malformed"] + stats.frames["too_deep"] \
                + stats.frames["unrecognized"] >= 5
            for _ in range(50):
                latest = await asyncio.wait_for(book.get(), 3)
                if latest.synced and latest.bids:
                    break
            assert latest.best_bid == (Decimal(50000), Decimal(10))
            await book.close()


async def test_no_order_leaves_before_cancel_on_disconnect_is_on_again() -> None:
    async with pulse_sim() as sim, aiohttp.ClientSession() as http:
        connector = RecordingConnector(http)
        async with client(sim, session=http, connector=connector,
                          cancel_on_disconnect=True) as pulse:
            faults(sim).drop()
            await until(lambda: not pulse.stats().ready)
            placed = await pulse.buy(instrument_name=BTC, amount=10, type="limit",
                                     price=45000)
            assert order_id(placed)
            methods = connector.sockets[1].methods()
            assert methods.index("private/enable_cancel_on_disconnect") \
                < methods.index("private/buy")


async def test_an_event_channel_reports_the_gap_of_a_drop_then_flows_again() -> None:
    async with pulse_sim() as sim, client(sim) as pulse:
        orders = pulse.subscribe(f"user.orders.{BTC}.raw")
        quiet = pulse.subscribe(f"user.trades.{ETH}.raw")
        await until(lambda: orders.current and quiet.current, what="both channels")
        faults(sim).drop()
        await until(lambda: pulse.stats().connects == 2 and pulse.stats().ready)
        placed = await pulse.buy(instrument_name=BTC, amount=10, type="limit", price=45000)
        with pytest.raises(StreamGapError):
            await asyncio.wait_for(orders.get(), 3)
        event = await asyncio.wait_for(orders.get(), 3)
        assert event.order_id == order_id(placed)
        assert orders.stats.gaps == 1
        await orders.close()
        await quiet.close()


async def test_a_read_in_flight_at_a_drop_fails_and_is_not_sent_again() -> None:
    async with pulse_sim() as sim, aiohttp.ClientSession() as http:
        connector = RecordingConnector(http)
        async with client(sim, session=http, connector=connector) as pulse:
            faults(sim).hold_replies(1)
            read = asyncio.ensure_future(pulse.get_positions(currency="ETH"))
            await until(lambda: faults(sim).counts.get("held", 0) == 1, what="the held reply")
            faults(sim).drop()
            with pytest.raises(TransportError, match="never re-sent"):
                await read
            await until(lambda: pulse.stats().ready and pulse.stats().connects == 2)
            assert await pulse.get_index_price(index_name="btc_usd") > 0
            sent = [m for socket in connector.sockets for m in socket.methods()]
            assert sent.count("private/get_positions") == 1


async def test_without_a_heartbeat_none_is_set_and_silence_is_no_reason_to_leave() -> None:
    async with pulse_sim() as sim, aiohttp.ClientSession() as http:
        connector = RecordingConnector(http)
        async with client(sim, session=http, connector=connector, heartbeat=None,
                          silence_timeout=None) as pulse:
            await asyncio.sleep(0.5)
            assert await pulse.get_index_price(index_name="btc_usd") > 0
            assert "public/set_heartbeat" not in connector.sockets[0].methods()
            stats = pulse.stats()
            assert stats.connects == 1
            assert stats.test_requests == 0


async def test_the_users_heartbeat_choice_is_restored_after_a_reconnect() -> None:
    async with pulse_sim() as sim, aiohttp.ClientSession() as http:
        connector = RecordingConnector(http)
        async with client(sim, session=http, connector=connector) as pulse:
            await pulse.set_heartbeat(interval=20)
            faults(sim).drop()
            await until(lambda: pulse.stats().connects == 2 and pulse.stats().ready)
            second = [json.loads(text) for text in connector.sockets[1].sent]
            beats = [r["params"]["interval"] for r in second
                     if r["method"] == "public/set_heartbeat"]
            assert beats == [20]
            await pulse.disable_heartbeat()
            faults(sim).drop()
            await until(lambda: pulse.stats().connects == 3 and pulse.stats().ready)
            assert "public/set_heartbeat" not in connector.sockets[2].methods()


async def test_undecodable_book_frames_resync_the_book_once() -> None:
    async with pulse_sim() as sim, aiohttp.ClientSession() as http:
        connector = RecordingConnector(http)
        async with client(sim, session=http, connector=connector) as pulse:
            book = pulse.subscribe(f"book.{BTC}.raw")
            await asyncio.wait_for(book.get(), 3)
            junk = (b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book.'
                    + BTC.encode() + b'.raw","data":{"type":"change","change_id":"x"}}}')
            connector.inject(*[junk] * 5)
            await pulse.buy(instrument_name=BTC, amount=10, type="limit", price=50000)
            for _ in range(50):
                latest = await asyncio.wait_for(book.get(), 3)
                if latest.synced and latest.bids:
                    break
            assert latest.best_bid == (Decimal(50000), Decimal(10))
            assert pulse.stats().book_resyncs == 1
            await book.close()


async def test_a_busy_answer_to_auth_is_no_refusal_of_the_credentials() -> None:
    async with pulse_sim() as sim, aiohttp.ClientSession() as http:
        connector = RecordingConnector(http)
        connector.refuse["public/auth"] = 1
        async with client(sim, session=http, connector=connector) as pulse:
            assert (await pulse.get_positions(currency="BTC"))[0].instrument_name == BTC
            assert pulse.stats().connects == 2


async def test_an_order_cancelled_after_it_left_is_listed_in_doubt(
        caplog: pytest.LogCaptureFixture) -> None:
    async with pulse_sim() as sim, client(sim) as pulse:
        faults(sim).hold_replies(1)
        order = asyncio.ensure_future(pulse.buy(
            instrument_name=BTC, amount=10, type="limit", price=45000, label="cancelled"))
        await until(lambda: faults(sim).counts.get("held", 0) == 1, what="the held reply")
        order.cancel()
        with pytest.raises(asyncio.CancelledError):
            await order
        assert pulse.stats().in_doubt == ["cancelled"]
        assert "'cancelled': outcome unknown" in caplog.text
        faults(sim).release()
        found = await pulse.get_order_state_by_label(currency="BTC", label="cancelled")
        assert len(found) == 1


async def test_an_http_order_without_an_answer_is_in_doubt_and_sent_once() -> None:
    async with pulse_sim() as sim, PulseClient(
        http_url=sim.pulse_http_url, client_id=CLIENT_ID, client_secret=SECRET, timeout=0.5,
    ) as pulse:
        await pulse.get_positions(currency="BTC")  # logged in
        faults(sim).hold_replies(1)
        with pytest.raises(UnknownOutcomeError) as caught:
            await pulse.buy(instrument_name=BTC, amount=10, type="limit", price=45000,
                            label="http-doubt")
        assert caught.value.label == "http-doubt"
        faults(sim).release()
        found = await pulse.get_order_state_by_label(currency="BTC", label="http-doubt")
        assert len(found) == 1
