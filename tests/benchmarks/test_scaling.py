"""benchmarks/scaling.py: the book-only feed has the markets and levels asked for, each point
counts every item across its subscriptions, and a tiny run yields the scaling figures."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
import scaling
import stream_server
import stream_throughput


@pytest.fixture
async def port() -> AsyncIterator[int]:
    bench = stream_server.BenchServer()
    server = await asyncio.start_server(bench.handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def test_the_book_mix_cycles_the_markets_with_the_levels_asked_for() -> None:
    messages = [json.loads(m) for m in stream_server.book_mix(7, 5, size=21)]
    assert [m["data"][0]["market_id"] for m in messages[:8]] == [
        *(stream_server.book_market(i) for i in range(7)), stream_server.book_market(0)]
    for message in messages:
        assert message["message"] == "orderbook"
        assert len(message["data"]) == 5
        assert sum(level["is_ask"] for level in message["data"]) == 3
    end = json.loads(stream_server.book_end_message(5))
    assert {lv["transaction_version"] for lv in end["data"]} == {stream_server.END_VERSION}
    with pytest.raises(ValueError, match="at least one market"):
        stream_server.book_mix(0, 5)


@pytest.mark.parametrize("markets", [1, 3])
async def test_the_sdk_point_counts_every_book_across_its_subscriptions(
    port: int, markets: int
) -> None:
    run = stream_throughput.Run()
    async with aiohttp.ClientSession() as http:
        await scaling.sdk_books(http, scaling.book_url(port, markets, 5, 90), markets, run,
                                False)
    assert run.items == 90


async def test_the_raw_point_counts_every_frame(port: int) -> None:
    run = stream_throughput.Run()
    async with aiohttp.ClientSession() as http:
        await scaling.raw_books(http, scaling.book_url(port, 2, 200, 40), 2, 200, run)
    assert run.items == 40


async def test_one_tiny_run_gives_the_scaling_figures(port: int) -> None:
    config = {"count": 200, "latency_count": 50, "rounds": 1, "memory_subs": 20}
    result = await scaling.bench(port, config)
    assert list(result["subscriptions"]) == ["1", "10", "100"]
    assert list(result["levels"]) == ["5", "20", "200"]
    for row in (*result["subscriptions"].values(), *result["levels"].values()):
        assert row["msgs_per_s"] > 0
        assert row["p50_us"] <= row["p99_us"]
        assert 0 < row["rate"] <= scaling.RATE
    assert all(r["raw_msgs_per_s"] > 0 for r in result["levels"].values())
    runs = result["runs"]
    assert result["subs100_vs_subs1"] == pytest.approx(
        runs["subs-100"][0]["msgs_per_s"] / runs["subs-1"][0]["msgs_per_s"], rel=0.01)
    assert result["memory_per_subscription_bytes"] > 0
