"""A hostile or broken server on the REST path: bad money, redirects, huge bodies, TLS."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import BaseTestServer, TestServer

from kana_async.errors import ApiError
from kana_async.models import MarketPrice
from kana_async.rest.session import RestSession, RetryPolicy
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
