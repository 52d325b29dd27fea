"""RestSession: envelope decoding, error mapping, retry policy, secrets.

Answers come from an in-memory MockTransport (a Script of answers), so every case runs the
real request path without a server or a patched library.
"""

from __future__ import annotations

import asyncio
import logging
import time
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from kana_async._http import MockTransport, Response
from kana_async.errors import (
    ApiError,
    AuthError,
    KanaError,
    RateLimitError,
    TransportError,
    ValidationError,
)
from kana_async.models import MarketInfo, MarketPrice
from kana_async.rest.ratelimit import RateLimiter
from kana_async.rest.session import RestSession, RetryPolicy, parse_retry_after
from tests.conftest import load_fixture
from tests.rest.conftest import API_KEY, BASE, Script, ok

PRICE_URL = URL(f"{BASE}/getMarketPrice?marketId=1338")
PARAMS = {"marketId": "1338"}
PRICE = {"bestAskPrice": 5.769, "bestBidPrice": "5.768"}
FAST = RetryPolicy(attempts=3, total_time=2.0, backoff=0.001, max_backoff=0.002)


def on(script: Script, **options: Any) -> RestSession:
    """A RestSession (with the key and a fast retry policy) answered by ``script``."""
    options = {"api_key": API_KEY, "retry": FAST, **options}
    return RestSession(BASE, transport=MockTransport(script), **options)


def answer(status: int = 200, body: bytes = b"", **kwargs: Any) -> Response:
    return Response(status, body, **kwargs)


async def test_success_decodes_data_into_the_type() -> None:
    script = Script(answer(json=ok(PRICE)))
    async with on(script) as session:
        price = await session.get("/getMarketPrice", PARAMS, MarketPrice)
    assert price == MarketPrice(best_ask_price=Decimal("5.769"), best_bid_price=Decimal("5.768"))
    (request,) = script.requests
    assert (request.method, request.url) == ("GET", PRICE_URL)
    assert request.headers["x-api-key"] == API_KEY


async def test_every_documented_market_info_example_decodes() -> None:
    # Includes the oldest page's {"status": true, ...} envelope.
    for example in load_fixture("rest_getMarketInfo.json")["examples"]:
        async with on(Script(answer(json=example["body"]))) as session:
            (info,) = await session.get("/getMarketInfo", {"marketId": "1"}, list[MarketInfo])
        assert info.market_id == int(example["body"]["data"][0]["market_id"])
        assert info.lot_size == int(example["body"]["data"][0]["lot_size"])


async def test_numeric_ids_are_tolerated() -> None:
    body = load_fixture("rest_getMarketInfo.json")["examples"][1]["body"]
    body["data"][0]["market_id"] = 501
    async with on(Script(answer(json=body))) as session:
        (info,) = await session.get("/getMarketPrice", PARAMS, list[MarketInfo])
    assert info.market_id == 501


async def test_success_false_is_an_api_error() -> None:
    script = Script(answer(json={"success": False, "message": "Invalid market", "data": None}))
    async with on(script) as session:
        with pytest.raises(ApiError) as info:
            await session.get("/getMarketPrice", PARAMS, MarketPrice)
    assert type(info.value) is ApiError
    assert (info.value.endpoint, info.value.message, info.value.status) == (
        "/getMarketPrice", "Invalid market", 200
    )


async def test_legacy_status_false_is_an_api_error() -> None:
    async with on(Script(answer(json={"status": False, "message": "nope"}))) as session:
        with pytest.raises(ApiError, match="nope"):
            await session.get("/getMarketPrice", PARAMS, MarketPrice)


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        (b"<html>Bad gateway</html>", "not a Kana envelope"),
        (b'{"data": 1}', "no success/status field"),
        (b'{"success": true, "message": "", "data": {"bestAskPrice": "x"}}', "unexpected data"),
    ],
)
async def test_bodies_that_are_not_the_envelope(body: bytes, rule: str) -> None:
    script = Script(answer(body=body), repeat=True)
    async with on(script) as session:
        with pytest.raises(ApiError, match=rule):
            await session.get("/getMarketPrice", PARAMS, MarketPrice)
    assert len(script.requests) == 1


async def test_4xx_is_not_retried() -> None:
    script = Script(
        answer(400, json={"success": False, "message": "marketId is required"}),
        answer(json=ok(PRICE)),
    )
    async with on(script) as session:
        with pytest.raises(ApiError) as info:
            await session.get("/getMarketPrice", PARAMS, MarketPrice)
    assert info.value.status == 400
    assert info.value.message == "marketId is required"
    assert len(script.requests) == 1


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_errors(status: int) -> None:
    script = Script(answer(status, b"Forbidden"), repeat=True)
    async with on(script) as session:
        with pytest.raises(AuthError) as info:
            await session.get("/getMarketPrice", PARAMS, MarketPrice)
    assert info.value.status == status
    assert len(script.requests) == 1


async def test_503_503_200_succeeds() -> None:
    script = Script(answer(503), answer(503, b"upstream down"), answer(json=ok(PRICE)))
    async with on(script) as session:
        price = await session.get("/getMarketPrice", PARAMS, MarketPrice)
    assert price.best_bid_price == Decimal("5.768")
    assert len(script.requests) == 3


async def test_attempts_are_bounded() -> None:
    script = Script(answer(502), repeat=True)
    async with on(script) as session:
        with pytest.raises(TransportError) as info:
            await session.get("/getMarketPrice", PARAMS, MarketPrice)
    assert info.value.status == 502
    assert len(script.requests) == session.retry.attempts == 3


async def test_connection_errors_and_timeouts_are_retried() -> None:
    script = Script(
        aiohttp.ClientConnectionError("connection refused"),
        asyncio.TimeoutError(),
        answer(json=ok(PRICE)),
    )
    async with on(script) as session:
        assert (await session.get("/getMarketPrice", PARAMS, MarketPrice)).best_ask_price
    assert len(script.requests) == 3


async def test_connection_error_becomes_transport_error() -> None:
    script = Script(aiohttp.ClientConnectionError("refused"), repeat=True)
    async with on(script, retry=RetryPolicy.never()) as session:
        with pytest.raises(TransportError, match="ClientConnectionError: refused"):
            await session.get("/getMarketPrice", PARAMS, MarketPrice)
    assert len(script.requests) == 1


async def test_timeout_becomes_transport_error() -> None:
    async with on(Script(asyncio.TimeoutError()), retry=RetryPolicy.never(), timeout=3) as s:
        with pytest.raises(TransportError, match="no answer within 3s"):
            await s.get("/getMarketPrice", PARAMS, MarketPrice)


async def test_429_honours_retry_after(caplog: pytest.LogCaptureFixture) -> None:
    script = Script(answer(429, headers={"Retry-After": "0.05"}), answer(json=ok(PRICE)))
    async with on(script) as session:
        with caplog.at_level(logging.INFO, logger="kana_async.rest"):
            await session.get("/getMarketPrice", PARAMS, MarketPrice)
    assert len(script.requests) == 2
    assert "retry 1/2 in 0.05s" in caplog.text


async def test_429_beyond_the_budget_is_raised_at_once() -> None:
    script = Script(answer(429, headers={"Retry-After": "30"}), repeat=True)
    async with on(script) as session:
        with pytest.raises(RateLimitError) as info:
            await session.get("/getMarketPrice", PARAMS, MarketPrice)
    assert info.value.retry_after == 30
    assert len(script.requests) == 1  # did not wait 30 s for a second try


async def test_total_time_is_bounded_against_a_slow_server() -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.json_response(ok(PRICE))

    app = web.Application()
    app.router.add_get("/getMarketPrice", slow)
    policy = RetryPolicy(attempts=10, total_time=0.3, backoff=0.01, max_backoff=0.02)
    async with TestServer(app, host="127.0.0.1", port=0) as server:
        base = str(server.make_url("")).rstrip("/")
        async with RestSession(base, timeout=0.1, retry=policy) as session:
            started = time.monotonic()
            with pytest.raises(TransportError, match="no answer"):
                await session.get("/getMarketPrice", PARAMS, MarketPrice)
            # Each attempt times out at 0.1 s and the budget stops the loop near 0.3 s,
            # well before 10 attempts (1 s) would.
            assert time.monotonic() - started < 0.9


async def test_api_key_never_appears_in_repr_or_errors() -> None:
    script = Script(
        answer(401, f'{{"success": false, "message": "bad key {API_KEY}"}}'.encode()),
        answer(400, f"<p>{API_KEY}</p>".encode()),
        aiohttp.ClientConnectionError(f"proxy said {API_KEY}"),
    )
    async with on(script, retry=RetryPolicy.never()) as session:
        assert API_KEY not in repr(session)
        assert "api_key=set" in repr(session)
        for _ in range(3):
            with pytest.raises(KanaError) as info:
                await session.get("/getMarketPrice", PARAMS, MarketPrice)
            assert API_KEY not in str(info.value)
            assert API_KEY not in repr(info.value)
            assert "***" in str(info.value)
        assert API_KEY not in repr(script.requests[0])


async def test_no_api_key_sends_no_header() -> None:
    script = Script(answer(json=ok(PRICE)))
    async with on(script, api_key=None) as session:
        await session.get("/getMarketPrice", PARAMS, MarketPrice)
        assert "api_key=none" in repr(session)
    assert "x-api-key" not in script.requests[0].headers


async def test_post_sends_json() -> None:
    script = Script(answer(json=ok("done")))
    async with on(script) as session:
        assert await session.post("/cancelMultipleOrders", b'{"marketId":1}', str) == "done"
    (request,) = script.requests
    assert (request.method, request.url) == ("POST", URL(f"{BASE}/cancelMultipleOrders"))
    assert request.body == b'{"marketId":1}'
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["x-api-key"] == API_KEY


async def test_rate_limiter_is_consulted_per_attempt() -> None:
    class Counting(RateLimiter):
        acquired = 0

        async def acquire(self) -> None:
            Counting.acquired += 1
            await super().acquire()

    policy = RetryPolicy(attempts=2, backoff=0.001, max_backoff=0.001)
    script = Script(answer(503), answer(json=ok(PRICE)))
    async with on(script, retry=policy, rate_limiter=Counting(1000)) as session:
        await session.get("/getMarketPrice", PARAMS, MarketPrice)
    assert Counting.acquired == 2


async def test_a_closed_session_sends_nothing() -> None:
    script = Script(answer(json=ok(PRICE)), repeat=True)
    session = on(script)
    await session.close()
    with pytest.raises(TransportError, match="closed"):
        await session.get("/getMarketPrice", PARAMS, MarketPrice)
    assert script.requests == []


async def test_owned_session_is_closed_and_borrowed_one_is_not() -> None:
    owned = RestSession(BASE)
    http = owned._http()
    await owned.close()
    await owned.close()
    assert http.closed
    assert owned.closed
    with pytest.raises(TransportError, match="closed"):
        owned._http()

    async with aiohttp.ClientSession() as shared:
        borrowed = RestSession(BASE, session=shared)
        await borrowed.close()
        assert not shared.closed


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"base_url": "kana.trade"}, "base_url"),
        ({"base_url": BASE, "api_key": ""}, "api_key"),
        ({"base_url": BASE, "timeout": 0}, "timeout"),
        ({"base_url": BASE, "timeout": float("nan")}, "timeout"),
    ],
)
def test_bad_session_arguments(kwargs: dict[str, Any], param: str) -> None:
    with pytest.raises(ValidationError) as info:
        RestSession(**kwargs)
    assert info.value.param == param


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"attempts": 0}, "attempts"),
        ({"attempts": True}, "attempts"),
        ({"total_time": -1}, "total_time"),
        ({"backoff": float("inf")}, "backoff"),
    ],
)
def test_bad_retry_policy(kwargs: dict[str, Any], param: str) -> None:
    with pytest.raises(ValidationError) as info:
        RetryPolicy(**kwargs)
    assert info.value.param == param


def test_parse_retry_after() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
