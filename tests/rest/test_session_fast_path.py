"""The common case (one attempt, no redirect) takes a short path; it must mean the same."""

from __future__ import annotations

import logging
import time
from decimal import Decimal

import pytest
from yarl import URL

from kana_async._http import MockTransport, Response, RetryPolicy
from kana_async.errors import TransportError
from kana_async.models import MarketPrice
from kana_async.rest import session as session_module
from kana_async.rest.session import RestSession
from tests.rest.conftest import API_KEY, BASE, Script, ok

PRICE = {"bestAskPrice": "5.769", "bestBidPrice": "5.768"}
FAST = RetryPolicy(attempts=3, total_time=2.0, backoff=0.001, max_backoff=0.002)


def on(script: Script) -> RestSession:
    return RestSession(BASE, api_key=API_KEY, retry=FAST, transport=MockTransport(script))


async def test_remembered_urls_follow_path_and_query() -> None:
    script = Script(Response(200, json=ok(PRICE)), repeat=True)
    async with on(script) as session:
        for market in ("1338", "1339", "1338"):
            await session.get("/getMarketPrice", {"marketId": market}, MarketPrice)
        await session.get("/getMarketPrice", None, MarketPrice)
        await session.get("/other", {"marketId": "1338"}, MarketPrice)
    assert [r.url for r in script.requests] == [
        URL(f"{BASE}/getMarketPrice?marketId=1338"),
        URL(f"{BASE}/getMarketPrice?marketId=1339"),
        URL(f"{BASE}/getMarketPrice?marketId=1338"),
        URL(f"{BASE}/getMarketPrice"),
        URL(f"{BASE}/other?marketId=1338"),
    ]


async def test_remembered_urls_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_module, "_URL_CACHE_SIZE", 4)
    script = Script(Response(200, json=ok(PRICE)), repeat=True)
    async with on(script) as session:
        for market in range(10):
            price = await session.get("/getMarketPrice", {"marketId": str(market)}, MarketPrice)
            assert price.best_bid_price == Decimal("5.768")
        assert len(session._urls) <= 4
    assert script.requests[-1].url == URL(f"{BASE}/getMarketPrice?marketId=9")


async def test_a_failed_first_attempt_enters_the_retry_loop() -> None:
    script = Script(Response(503), Response(503), Response(200, json=ok(PRICE)))
    async with on(script) as session:
        price = await session.get("/getMarketPrice", {"marketId": "1"}, MarketPrice)
    assert price.best_ask_price == Decimal("5.769")
    assert len(script.requests) == 3


async def test_one_attempt_policy_raises_the_first_error() -> None:
    script = Script(Response(503), repeat=True)
    session = RestSession(
        BASE, retry=RetryPolicy.never(), transport=MockTransport(script)
    )
    async with session:
        with pytest.raises(TransportError, match="HTTP 503"):
            await session.get("/getMarketPrice", None, MarketPrice)
    assert len(script.requests) == 1


async def test_retry_policy_again_continues_after_the_callers_attempt() -> None:
    calls: list[float] = []

    async def attempt(timeout: float) -> str:
        calls.append(timeout)
        return "ok"

    log = logging.getLogger("test")
    started = time.monotonic()
    assert await FAST.again(TransportError("x"), started, attempt, timeout=1.0, what="x",
                            log=log) == "ok"
    assert len(calls) == 1
    with pytest.raises(TransportError, match="first"):
        await RetryPolicy.never().again(TransportError("first"), 0.0, attempt, timeout=1.0,
                                        what="x", log=log)
