"""Hostile clients: garbage, deep nesting, oversized frames, floods and clients that never read
neither crash the gateway nor grow its memory without bound."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kana_async.sim.pulse import PulseConfig
from kana_async.sim.pulse.errors import Code
from kana_async.sim.pulse.frames import FrameError, nesting_depth, parse_request
from tests.sim.pulse.engines import BTC
from tests.sim.pulse.wire import Client, connected, served, until

LIMITS = {"max_bytes": 32_768, "max_depth": 32}


# -- frames as values --------------------------------------------------------------------


@pytest.mark.parametrize(("text", "depth"), [
    ("1", 0),
    ("[]", 1),
    ('{"a": [1, {"b": []}]}', 4),
    ('{"a": "[[[[[[["}', 1),
    ('{"a": "\\"[[[[", "b": [[]]}', 3),
    ("[" * 100_000, 100_000),
])
def test_nesting_depth_counts_brackets_outside_strings(text: str, depth: int) -> None:
    assert nesting_depth(text) == depth


@pytest.mark.timeout(10)   # a quadratic scan of this text takes minutes
def test_nesting_depth_is_linear_in_unterminated_strings() -> None:
    text = "[" * 40 + '"\\' * 300_000
    assert nesting_depth(text) == 40
    assert refusal(text).error.code == Code.REQUEST_TOO_LARGE


def refusal(data: str | bytes) -> FrameError:
    with pytest.raises(FrameError) as caught:
        parse_request(data, **LIMITS)
    return caught.value


@pytest.mark.parametrize(("data", "code", "words"), [
    ("not json", Code.PARSE_ERROR, "not valid JSON"),
    (b"\xff\xfe", Code.PARSE_ERROR, "UTF-8"),
    ('{"id": 1, "method": "public/test", "params": {"a": NaN}}', Code.PARSE_ERROR, "JSON"),
    ("[" * 16_000 + "]" * 16_000, Code.BAD_REQUEST, "nest at most 32"),
    ("[" * 100_000, Code.REQUEST_TOO_LARGE, "at most 32768 bytes"),
    ('[{"id": 1, "method": "public/test"}]', Code.BAD_REQUEST, "batch"),
    ('"public/test"', Code.BAD_REQUEST, "JSON-RPC object"),
    ('{"id": true, "method": "public/test"}', Code.BAD_REQUEST, "id must be"),
    ('{"id": 1.5, "method": "public/test"}', Code.BAD_REQUEST, "id must be"),
    ('{"id": 1, "method": 7}', Code.BAD_REQUEST, "method must be"),
    ('{"id": 1, "jsonrpc": "1.0", "method": "public/test"}', Code.BAD_REQUEST, "jsonrpc"),
    ('{"id": 1, "method": "public/test", "params": [1]}', Code.INVALID_PARAMS, "object"),
])
def test_bad_frames_are_refused_naming_the_rule(data: str | bytes, code: Code,
                                                words: str) -> None:
    error = refusal(data).error
    assert error.code == code
    assert words in error.reason


def test_an_oversized_frame_is_refused_with_its_id_when_readable() -> None:
    big = json.dumps({"id": 7, "method": "public/test", "params": {"pad": "x" * 40_000}})
    caught = refusal(big)
    assert caught.error.code == Code.REQUEST_TOO_LARGE
    assert caught.request_id == 7
    assert "32768 bytes" in caught.error.reason
    assert refusal("x" * 40_000).request_id is None


def test_ids_and_params_are_read_as_sent() -> None:
    request = parse_request('{"jsonrpc": "2.0", "id": "a", "method": "/public/test", '
                            '"params": {"amount": 0.1}}', **LIMITS)
    assert (request.id, request.method) == ("a", "/public/test")
    assert request.params == {"amount": Decimal("0.1")}
    assert parse_request('{"method": "public/test", "params": null}', **LIMITS).params == {}


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200),
                 st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                              lambda inner: st.lists(inner, max_size=4)
                              | st.dictionaries(st.text(max_size=5), inner, max_size=4),
                              max_leaves=30).map(json.dumps)))
def test_any_input_is_a_request_or_a_frame_error(data: str | bytes) -> None:
    reason = "parsed"
    try:
        parse_request(data, **LIMITS)
    except FrameError as exc:
        reason = exc.error.reason
    assert reason


# -- over sockets ------------------------------------------------------------------------


async def still_serves(client: Client) -> None:
    reply = await client.call("public/test")
    assert "result" in reply


async def test_garbage_frames_are_answered_and_the_socket_kept() -> None:
    async with served() as server, connected(server) as client:
        for garbage in ("not json", "[" * 100_000, "[1, 2]", "42", '{"method": []}'):
            await client.ws.send_str(garbage)
            error = await client.wait(lambda f: "error" in f)
            assert error["id"] is None
        await client.ws.send_bytes(b"\xff\xfe\xfd")
        assert (await client.wait(lambda f: "error" in f))["error"]["code"] == Code.PARSE_ERROR
        await client.ws.send_bytes(json.dumps({"id": 50, "method": "public/test"}).encode())
        assert "result" in await client.reply(50)
        await still_serves(client)
        assert server.stats["errors"] == 6


async def test_an_oversized_frame_is_refused_and_the_socket_kept() -> None:
    async with served() as server, connected(server) as client:
        await client.ws.send_str(json.dumps({"jsonrpc": "2.0", "id": 3, "method": "public/test",
                                             "params": {"pad": "x" * 40_000}}))
        error = await client.reply(3)
        assert error["error"]["code"] == Code.REQUEST_TOO_LARGE
        await still_serves(client)


async def test_a_frame_past_the_hard_limit_ends_that_socket_only() -> None:
    async with served() as server, connected(server) as bystander:
        async with connected(server) as client:
            await client.ws.send_str("x" * (16 * 32_768 + 1))
            message = await client.closed()
            assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                    aiohttp.WSMsgType.ERROR)
        await still_serves(bystander)
        await until(lambda: len(server.connections) == 1)


async def test_a_flood_of_calls_is_served_in_order() -> None:
    async with served() as server, connected(server) as client:
        for _ in range(500):
            await client.send("public/get_index_price", {"index_name": "btc_usd"})
        for n in range(1, 501):
            assert (await client.reply(n))["result"] == 60000
        assert server.stats["requests"] == 500


async def test_a_client_that_never_reads_is_disconnected_with_a_bounded_queue() -> None:
    config = PulseConfig(push_interval=0.01, queue_size=50, queue_bytes=256 * 1024)
    async with served(config) as server, connected(server) as bystander:
        engine = server.engine
        for n in range(400):   # a deep book: each snapshot is ~20 KB
            engine.place("bob", "buy", BTC, Decimal(10), price=Decimal(50000 - n))
            engine.place("carol", "sell", BTC, Decimal(10), price=Decimal(60000 + n))
        async with aiohttp.ClientSession() as session, session.ws_connect(server.ws_url) as ws:
            subscribe: dict[str, Any] = {"jsonrpc": "2.0", "method": "public/subscribe",
                                         "params": {"channels": [f"book.{BTC}.raw"]}}
            for n in range(2_000):
                if server.stats["slow_closed"]:
                    break
                try:
                    await ws.send_str(json.dumps({**subscribe, "id": n}))
                except ConnectionError:
                    break
                longest = max((len(c.queue) for c in server.connections), default=0)
                assert longest <= 50
                assert all(c.queued_bytes <= 256 * 1024 for c in server.connections)
            await until(lambda: server.stats["slow_closed"] == 1, timeout=20)
        await until(lambda: len(server.connections) == 1)
        await still_serves(bystander)


async def test_connections_beyond_the_cap_are_refused() -> None:
    config = PulseConfig(push_interval=0.01, max_connections=2)
    async with (served(config) as server, connected(server), connected(server),
                aiohttp.ClientSession() as session):
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await session.ws_connect(server.ws_url)
        assert caught.value.status == 503


async def test_hostile_http_bodies_are_refused() -> None:
    async with served() as server, aiohttp.ClientSession() as http:
        url = f"{server.http_url}/public/get_index_price"
        for body, code in ((b"\xff", Code.PARSE_ERROR), (b"[" * 30_000, Code.BAD_REQUEST),
                           (b'{"params": 5}', Code.INVALID_PARAMS),
                           (b'{"index_name": 5}', Code.INVALID_PARAMS)):
            async with http.post(url, data=body) as response:
                assert response.status == 400
                assert (await response.json())["status"] == code
        async with http.get(url, params={"index_name": "btc_usd"}) as response:
            assert await response.json() == 60000


async def test_a_failing_or_unencodable_method_answers_an_error_and_keeps_serving(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    async with served() as server, connected(server) as client, aiohttp.ClientSession() as http:
        real = server.gateway.handle

        def broken(session: Any, method: object, params: object, **kw: Any) -> Any:
            if method == "public/get_index_price":
                raise RuntimeError("bug")
            if method == "public/get_delivery_prices":
                return object()   # nothing JSON can carry
            return real(session, method, params, **kw)

        monkeypatch.setattr(server.gateway, "handle", broken)
        for method in ("public/get_index_price", "public/get_delivery_prices"):
            reply = await client.call(method, {"index_name": "btc_usd"})
            assert reply["error"]["code"] == Code.ERROR
            async with http.get(f"{server.http_url}/{method}",
                                params={"index_name": "btc_usd"}) as response:
                assert response.status == 400
                assert (await response.json())["status"] == Code.ERROR
        await still_serves(client)
        assert sum("failed" in r.message for r in caplog.records) == 4
