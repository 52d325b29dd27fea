"""RestSession: envelope decoding, error mapping, retry policy, secrets."""

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
from aioresponses import aioresponses as Aioresponses

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
from tests.rest.conftest import API_KEY, BASE, ok

URL = f"{BASE}/getMarketPrice?marketId=1338"
PARAMS = {"marketId": "1338"}
PRICE = {"bestAskPrice": 5.769, "bestBidPrice": "5.768"}


def calls(mock: Aioresponses, method: str = "GET") -> list[Any]:
    return [c for (m, _), cs in mock.requests.items() if m == method for c in cs]


async def test_success_decodes_data_into_the_type(mock: Aioresponses, session: RestSession) -> None:
    mock.get(URL, payload=ok(PRICE))
    price = await session.get("/getMarketPrice", PARAMS, MarketPrice)
    assert price == MarketPrice(best_ask_price=Decimal("5.769"), best_bid_price=Decimal("5.768"))
    (call,) = calls(mock)
    assert call.kwargs["headers"]["x-api-key"] == API_KEY


async def test_every_documented_market_info_example_decodes(
    mock: Aioresponses, session: RestSession
) -> None:
    # Includes the oldest page's {"status": true, ...} envelope.
    for example in load_fixture("rest_getMarketInfo.json")["examples"]:
        mock.get(f"{BASE}/getMarketInfo?marketId=1", payload=example["body"])
        (info,) = await session.get("/getMarketInfo", {"marketId": "1"}, list[MarketInfo])
        assert info.market_id == int(example["body"]["data"][0]["market_id"])
        assert info.lot_size == int(example["body"]["data"][0]["lot_size"])


async def test_numeric_ids_are_tolerated(mock: Aioresponses, session: RestSession) -> None:
    body = load_fixture("rest_getMarketInfo.json")["examples"][1]["body"]
    body["data"][0]["market_id"] = 501
    mock.get(URL, payload=body)
    (info,) = await session.get("/getMarketPrice", PARAMS, list[MarketInfo])
    assert info.market_id == 501


async def test_success_false_is_an_api_error(mock: Aioresponses, session: RestSession) -> None:
    mock.get(URL, payload={"success": False, "message": "Invalid market", "data": None})
    with pytest.raises(ApiError) as info:
        await session.get("/getMarketPrice", PARAMS, MarketPrice)
    assert type(info.value) is ApiError
    assert (info.value.endpoint, info.value.message, info.value.status) == (
        "/getMarketPrice", "Invalid market", 200
    )


async def test_legacy_status_false_is_an_api_error(
    mock: Aioresponses, session: RestSession
) -> None:
    mock.get(URL, payload={"status": False, "message": "nope"})
    with pytest.raises(ApiError, match="nope"):
        await session.get("/getMarketPrice", PARAMS, MarketPrice)


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        ("<html>Bad gateway</html>", "not a Kana envelope"),
        ('{"data": 1}', "no success/status field"),
        ('{"success": true, "message": "", "data": {"bestAskPrice": "x"}}', "unexpected data"),
    ],
)
async def test_bodies_that_are_not_the_envelope(
    mock: Aioresponses, session: RestSession, body: str, rule: str
) -> None:
    mock.get(URL, body=body)
    with pytest.raises(ApiError, match=rule):
        await session.get("/getMarketPrice", PARAMS, MarketPrice)
    assert len(calls(mock)) == 1


async def test_4xx_is_not_retried(mock: Aioresponses, session: RestSession) -> None:
    mock.get(URL, status=400, payload={"success": False, "message": "marketId is required"})
    mock.get(URL, payload=ok(PRICE))
    with pytest.raises(ApiError) as info:
        await session.get("/getMarketPrice", PARAMS, MarketPrice)
    assert info.value.status == 400
    assert info.value.message == "marketId is required"
    assert len(calls(mock)) == 1


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_errors(mock: Aioresponses, session: RestSession, status: int) -> None:
    mock.get(URL, status=status, body="Forbidden")
    with pytest.raises(AuthError) as info:
        await session.get("/getMarketPrice", PARAMS, MarketPrice)
    assert info.value.status == status
    assert len(calls(mock)) == 1


async def test_503_503_200_succeeds(mock: Aioresponses, session: RestSession) -> None:
    mock.get(URL, status=503)
    mock.get(URL, status=503, body="upstream down")
    mock.get(URL, payload=ok(PRICE))
    price = await session.get("/getMarketPrice", PARAMS, MarketPrice)
    assert price.best_bid_price == Decimal("5.768")
    assert len(calls(mock)) == 3


async def test_attempts_are_bounded(mock: Aioresponses, session: RestSession) -> None:
    mock.get(URL, status=502, repeat=True)
    with pytest.raises(TransportError) as info:
        await session.get("/getMarketPrice", PARAMS, MarketPrice)
    assert info.value.status == 502
    assert len(calls(mock)) == session.retry.attempts == 3


async def test_connection_errors_and_timeouts_are_retried(
    mock: Aioresponses, session: RestSession
) -> None:
    mock.get(URL, exception=aiohttp.ClientConnectionError("connection refused"))
    mock.get(URL, exception=asyncio.TimeoutError())
    mock.get(URL, payload=ok(PRICE))
    assert (await session.get("/getMarketPrice", PARAMS, MarketPrice)).best_ask_price
    assert len(calls(mock)) == 3


async def test_connection_error_becomes_transport_error(mock: Aioresponses) -> None:
    mock.get(URL, exception=aiohttp.ClientConnectionError("refused"), repeat=True)
    async with RestSession(BASE, retry=RetryPolicy.never()) as session:
        with pytest.raises(TransportError, match="ClientConnectionError: refused"):
            await session.get("/getMarketPrice", PARAMS, MarketPrice)
    assert len(calls(mock)) == 1


async def test_timeout_becomes_transport_error(mock: Aioresponses) -> None:
    mock.get(URL, exception=asyncio.TimeoutError())
    async with RestSession(BASE, retry=RetryPolicy.never(), timeout=3) as session:
        with pytest.raises(TransportError, match="no answer within 3s"):
            await session.get("/getMarketPrice", PARAMS, MarketPrice)


async def test_429_honours_retry_after(
    mock: Aioresponses, session: RestSession, caplog: pytest.LogCaptureFixture
) -> None:
    mock.get(URL, status=429, headers={"Retry-After": "0.05"})
    mock.get(URL, payload=ok(PRICE))
    with caplog.at_level(logging.INFO, logger="kana_async.rest"):
        await session.get("/getMarketPrice", PARAMS, MarketPrice)
    assert len(calls(mock)) == 2
    assert "retry 1/2 in 0.05s" in caplog.text


async def test_429_beyond_the_budget_is_raised_at_once(
    mock: Aioresponses, session: RestSession
) -> None:
    mock.get(URL, status=429, headers={"Retry-After": "30"}, repeat=True)
    started = time.monotonic()
    with pytest.raises(RateLimitError) as info:
        await session.get("/getMarketPrice", PARAMS, MarketPrice)
    assert info.value.retry_after == 30
    assert len(calls(mock)) == 1
    assert time.monotonic() - started < session.retry.total_time  # did not wait 30 s


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


async def test_api_key_never_appears_in_repr_or_errors(mock: Aioresponses) -> None:
    echo = f'{{"success": false, "message": "bad key {API_KEY}"}}'
    mock.get(URL, status=401, body=echo)
    mock.get(URL, status=400, body=f"<p>{API_KEY}</p>")
    mock.get(URL, exception=aiohttp.ClientConnectionError(f"proxy said {API_KEY}"))
    async with RestSession(BASE, api_key=API_KEY, retry=RetryPolicy.never()) as session:
        assert API_KEY not in repr(session)
        assert "api_key=set" in repr(session)
        for _ in range(3):
            with pytest.raises(KanaError) as info:
                await session.get("/getMarketPrice", PARAMS, MarketPrice)
            assert API_KEY not in str(info.value)
            assert API_KEY not in repr(info.value)
            assert "***" in str(info.value)


async def test_no_api_key_sends_no_header(mock: Aioresponses) -> None:
    mock.get(URL, payload=ok(PRICE))
    async with RestSession(BASE) as session:
        await session.get("/getMarketPrice", PARAMS, MarketPrice)
        assert "api_key=none" in repr(session)
    assert "x-api-key" not in calls(mock)[0].kwargs["headers"]


async def test_post_sends_json(mock: Aioresponses, session: RestSession) -> None:
    mock.post(f"{BASE}/cancelMultipleOrders", payload=ok("done"))
    assert await session.post("/cancelMultipleOrders", b'{"marketId":1}', str) == "done"
    (call,) = calls(mock, "POST")
    assert call.kwargs["data"] == b'{"marketId":1}'
    assert call.kwargs["headers"]["Content-Type"] == "application/json"
    assert call.kwargs["headers"]["x-api-key"] == API_KEY


async def test_rate_limiter_is_consulted_per_attempt(mock: Aioresponses) -> None:
    mock.get(URL, status=503)
    mock.get(URL, payload=ok(PRICE))

    class Counting(RateLimiter):
        acquired = 0

        async def acquire(self) -> None:
            Counting.acquired += 1
            await super().acquire()

    policy = RetryPolicy(attempts=2, backoff=0.001, max_backoff=0.001)
    async with RestSession(BASE, retry=policy, rate_limiter=Counting(1000)) as session:
        await session.get("/getMarketPrice", PARAMS, MarketPrice)
    assert Counting.acquired == 2


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
