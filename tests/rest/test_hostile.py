"""A hostile or broken server on the REST path: bad money, redirects, huge bodies, TLS."""

from __future__ import annotations

import contextlib
import gzip
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import BaseTestServer, TestServer

from kana_async import KanaClient
from kana_async.errors import ApiError, RateLimitError, ValidationError
from kana_async.models import MarketPrice
from kana_async.rest.session import DEFAULT_MAX_BODY, MAX_REDIRECTS, RestSession, RetryPolicy
from tests.rest.conftest import API_KEY, ok

PARAMS = {"marketId": "1"}
FAST = RetryPolicy(attempts=2, total_time=2.0, backoff=0.001, max_backoff=0.002)

Handler = Callable[[web.Request], Any]


@asynccontextmanager
async def serve(routes: dict[str, Handler], **server: Any) -> AsyncIterator[BaseTestServer]:
    """A loopback aiohttp server with one GET handler per path."""
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    async with TestServer(app, host="127.0.0.1", port=0, **server) as test_server:
        yield test_server


def base_of(server: BaseTestServer) -> str:
    return str(server.make_url("")).rstrip("/")


@asynccontextmanager
async def rest_on(routes: dict[str, Handler], **options: Any) -> AsyncIterator[RestSession]:
    """A RestSession (with the API key) talking to a loopback server with ``routes``."""
    options = {"api_key": API_KEY, "retry": FAST, **options}
    async with serve(routes) as server, RestSession(base_of(server), **options) as session:
        yield session


@pytest.mark.parametrize("bad", ["NaN", "sNaN", "-Infinity", "1e999"])
async def test_non_finite_money_in_an_answer_is_an_api_error_naming_the_field(bad: str) -> None:
    async def price(request: web.Request) -> web.Response:
        return web.json_response(ok({"bestAskPrice": "5.1", "bestBidPrice": bad}))

    async with rest_on({"/getMarketPrice": price}) as session:
        with pytest.raises(ApiError, match=r"bestBidPrice") as info:
            await session.get("/getMarketPrice", PARAMS, MarketPrice)
    assert "finite decimal" in str(info.value)


# -- redirects ------------------------------------------------------------------------------


class Recorder:
    """A handler that answers a price and remembers the headers of each request."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.headers.append(dict(request.headers))
        return web.json_response(ok(PRICE))


PRICE = {"bestAskPrice": "5.1", "bestBidPrice": "5.0"}


def redirect_to(location: str, status: int = 302) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, headers={"Location": location})

    return handler


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_to_another_host_is_refused_and_gets_no_key(status: int) -> None:
    other = Recorder()
    async with serve({"/getMarketPrice": other.handle}) as elsewhere:
        target = str(elsewhere.make_url("/getMarketPrice"))
        routes = {"/getMarketPrice": redirect_to(target, status)}
        async with rest_on(routes) as session:
            with pytest.raises(ApiError, match="redirect to another origin") as info:
                await session.get("/getMarketPrice", PARAMS, MarketPrice)
    assert other.headers == []  # not followed at all, so the key went nowhere
    assert info.value.status == status
    assert API_KEY not in str(info.value)


async def test_the_same_port_under_another_host_name_is_another_origin() -> None:
    other = Recorder()
    target: list[str] = []

    async def old(request: web.Request) -> web.Response:
        return web.Response(status=307, headers={"Location": target[0]})

    async with serve({"/getMarketPrice": other.handle, "/old": old}) as server:
        target.append(str(server.make_url("/getMarketPrice")).replace("127.0.0.1", "localhost"))
        async with RestSession(base_of(server), api_key=API_KEY, retry=FAST) as session:
            with pytest.raises(ApiError, match="another origin"):
                await session.get("/old", PARAMS, MarketPrice)
    assert other.headers == []


async def test_a_same_origin_redirect_is_followed_with_the_key() -> None:
    price = Recorder()
    routes = {
        "/old": redirect_to("/getMarketPrice?marketId=1", 308),
        "/getMarketPrice": price.handle,
    }
    async with rest_on(routes) as session:
        result = await session.get("/old", PARAMS, MarketPrice)
    assert result.best_bid_price == Decimal("5.0")
    assert [h.get("x-api-key") for h in price.headers] == [API_KEY]


async def test_a_redirect_loop_is_bounded() -> None:
    hops = Recorder()

    async def loop(request: web.Request) -> web.Response:
        hops.headers.append(dict(request.headers))
        return web.Response(status=307, headers={"Location": "/loop"})

    async with rest_on({"/loop": loop}) as session:
        with pytest.raises(ApiError, match=f"more than {MAX_REDIRECTS} redirects"):
            await session.get("/loop", None, MarketPrice)
    assert len(hops.headers) == MAX_REDIRECTS + 1


async def test_a_redirect_without_location_is_an_api_error() -> None:
    async def bare(request: web.Request) -> web.Response:
        return web.Response(status=302)

    async with rest_on({"/getMarketPrice": bare}) as session:
        with pytest.raises(ApiError, match="without a Location"):
            await session.get("/getMarketPrice", PARAMS, MarketPrice)


async def test_a_post_answered_by_303_continues_as_a_get() -> None:
    price = Recorder()
    app = web.Application()
    app.router.add_post("/build", redirect_to("/getMarketPrice", 303))
    app.router.add_get("/getMarketPrice", price.handle)
    async with TestServer(app, host="127.0.0.1", port=0) as server, RestSession(
        base_of(server), api_key=API_KEY, retry=FAST
    ) as session:
        result = await session.post("/build", b"{}", MarketPrice)
    assert result.best_ask_price == Decimal("5.1")
    assert len(price.headers) == 1


# -- body size ------------------------------------------------------------------------------

CAP = 1024 * 1024


async def test_a_declared_oversized_body_is_refused_naming_the_cap() -> None:
    async def huge(request: web.Request) -> web.Response:
        return web.Response(body=b" " * (CAP + 1), content_type="application/json")

    async with rest_on({"/getMarketPrice": huge}, max_body=CAP) as session:
        with pytest.raises(ApiError, match=rf"{CAP + 1} bytes .*\b{CAP}-byte cap \(max_body\)"):
            await session.get("/getMarketPrice", PARAMS, MarketPrice)


async def test_a_streamed_oversized_body_is_refused_without_reading_the_rest() -> None:
    total = 64 * 1024 * 1024
    chunk = b" " * (64 * 1024)
    written = [0]

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            for _ in range(total // len(chunk)):
                await response.write(chunk)
                written[0] += len(chunk)
        return response

    async with rest_on({"/getMarketPrice": endless}, max_body=CAP) as session:
        with pytest.raises(ApiError, match=rf"\b{CAP}-byte cap \(max_body\)"):
            await session.get("/getMarketPrice", PARAMS, MarketPrice)
        # Only what socket buffers hold past the cap was sent, not the 64 MiB.
        assert written[0] < total // 2


async def test_the_cap_applies_after_decompression() -> None:
    bomb = gzip.compress(b" " * (8 * CAP))

    async def compressed(request: web.Request) -> web.Response:
        return web.Response(
            body=bomb, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )

    async with rest_on({"/getMarketPrice": compressed}, max_body=CAP) as session:
        with pytest.raises(ApiError, match="max_body"):
            await session.get("/getMarketPrice", PARAMS, MarketPrice)


async def test_an_answer_at_the_cap_is_read() -> None:
    body = msgspec.json.encode(ok(PRICE))

    async def exact(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    async with rest_on({"/getMarketPrice": exact}, max_body=len(body)) as session:
        assert (await session.get("/getMarketPrice", PARAMS, MarketPrice)).best_bid_price == 5


def test_the_default_cap_and_bad_caps() -> None:
    assert RestSession("http://127.0.0.1:1").max_body == DEFAULT_MAX_BODY == 8 * 1024 * 1024
    for bad in (0, -1, 1.5, True, "8"):
        with pytest.raises(ValidationError, match="max_body"):
            RestSession("http://127.0.0.1:1", max_body=bad)  # type: ignore[arg-type]


async def test_the_client_passes_max_body_to_the_rest_session() -> None:
    async def price(request: web.Request) -> web.Response:
        return web.json_response(ok(PRICE))

    async with serve({"/getMarketPrice": price}) as server, KanaClient(
        "testnet", rest_url=base_of(server), retry=RetryPolicy.never(), max_body=20
    ) as kana:
        with pytest.raises(ApiError, match="20-byte cap"):
            await kana.rest.get_market_price("1")
    with pytest.raises(ValidationError, match="max_body"):
        KanaClient("testnet", max_body=0)


# -- Retry-After ----------------------------------------------------------------------------


@pytest.mark.parametrize("retry_after", ["0", "0.0001", "-5", "Thu, 01 Jan 1970 00:00:00 GMT"])
async def test_a_tiny_retry_after_never_shortens_the_backoff(
    retry_after: str, caplog: pytest.LogCaptureFixture
) -> None:
    hits = Recorder()

    async def busy(request: web.Request) -> web.Response:
        hits.headers.append(dict(request.headers))
        return web.Response(status=429, headers={"Retry-After": retry_after})

    policy = RetryPolicy(attempts=3, total_time=10.0, backoff=0.02, max_backoff=0.04)
    with caplog.at_level(logging.INFO, logger="kana_async.rest"):
        async with rest_on({"/getMarketPrice": busy}, retry=policy) as session:
            with pytest.raises(RateLimitError):
                await session.get("/getMarketPrice", PARAMS, MarketPrice)
    assert len(hits.headers) == 3
    sleeps = [float(s) for s in re.findall(r"retry \d/2 in ([0-9.]+)s", caplog.text)]
    assert len(sleeps) == 2
    # The jittered backoff draws from [backoff/2, delay]: never the server's zero.
    assert all(s >= policy.backoff / 2 for s in sleeps), sleeps


async def test_a_chunked_answer_under_the_cap_is_read_whole() -> None:
    body = msgspec.json.encode(ok(PRICE))

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(body), 7):
            await response.write(body[start:start + 7])
        await response.write_eof()
        return response

    async with rest_on({"/getMarketPrice": chunked}, max_body=len(body)) as session:
        assert (await session.get("/getMarketPrice", PARAMS, MarketPrice)).best_ask_price == (
            Decimal("5.1")
        )
