"""Market names: the pure rule and the directory that fetches the list once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kana_async.errors import ValidationError
from kana_async.markets import MarketDirectory, find_market, is_market_name
from kana_async.models import MarketInfo


def market(market_id: int, base_name: str) -> MarketInfo:
    fields: dict[str, Any] = {
        "market_id": market_id, "base_name": base_name, "base_decimals": 8,
        "quote_decimals": 6, "lot_size": 100000, "tick_size": 1, "min_lots": 500,
        "max_leverage": 20,
    }
    return MarketInfo(**fields)


MARKETS = [market(1338, "APT/USDC"), market(1339, "BTC/USDC"), market(2387, "SOL/USDT")]


@pytest.mark.parametrize(
    ("name", "market_id"),
    [("APT", 1338), ("apt", 1338), ("APT-USD", 1338), ("APT-USDC", 1338), ("apt/usdc", 1338),
     ("APT_USDC", 1338), (" APT USD ", 1338), ("btc", 1339), ("SOL-USD", 2387),
     ("SOL/USDT", 2387)],
)
def test_names_find_their_market(name: str, market_id: int) -> None:
    assert find_market(MARKETS, name).market_id == market_id


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ValidationError) as info:
        find_market(MARKETS, "DOGE")
    assert info.value.param == "market_id"
    assert str(info.value) == (
        "market_id: no market named 'DOGE'; known: APT/USDC (1338), BTC/USDC (1339), "
        "SOL/USDT (2387) (give a market id, or a name such as APT, APT-USD or APT/USDC)"
    )


@pytest.mark.parametrize("name", ["APT-USDT", "SOL-USDC", "APT/BTC"])
def test_a_wrong_quote_is_unknown(name: str) -> None:
    with pytest.raises(ValidationError, match="no market named"):
        find_market(MARKETS, name)


def test_an_ambiguous_name_names_the_candidates() -> None:
    markets = [*MARKETS, market(1400, "APT/USDT")]
    both = r"ambiguous \(APT/USDC \(1338\), APT/USDT \(1400\)\)"
    with pytest.raises(ValidationError, match=both):
        find_market(markets, "APT")
    assert find_market(markets, "APT-USDT").market_id == 1400


@pytest.mark.parametrize("value", ["1338", 1338, "", "1.5", "x" * 100, "APT/USD/X", None, 3.0])
def test_what_is_not_a_name(value: object) -> None:
    assert not is_market_name(value)


class Fetcher:
    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()

    async def __call__(self) -> list[MarketInfo]:
        self.calls += 1
        await self.release.wait()
        return MARKETS


async def test_concurrent_first_names_share_one_fetch() -> None:
    fetch = Fetcher()
    directory = MarketDirectory(fetch)
    assert directory.lookup("APT") is None
    tasks = [asyncio.ensure_future(directory.market_id(n)) for n in ("APT", "btc", "SOL-USD")]
    await asyncio.sleep(0)
    fetch.release.set()
    assert await asyncio.gather(*tasks) == [1338, 1339, 2387]
    assert fetch.calls == 1
    assert directory.lookup("APT-USD") == 1338
    assert await directory.market_id("APT") == 1338
    assert fetch.calls == 1


async def test_ids_never_fetch_and_bad_values_fail_before_any_fetch() -> None:
    fetch = Fetcher()
    directory = MarketDirectory(fetch)
    assert await directory.market_id(1338) == 1338
    assert await directory.market_id("14") == 14
    assert directory.lookup(7) == 7
    with pytest.raises(ValidationError, match="market_id"):
        await directory.market_id(0)
    with pytest.raises(ValidationError, match="market_id"):
        await directory.market_id(True)
    assert fetch.calls == 0


async def test_a_failed_fetch_is_retried_by_the_next_name() -> None:
    calls = 0

    async def flaky() -> list[MarketInfo]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("down")
        return MARKETS

    directory = MarketDirectory(flaky)
    with pytest.raises(OSError, match="down"):
        await directory.market_id("APT")
    assert await directory.market_id("APT") == 1338
