"""benchmarks/stream_throughput.py's clients count what they receive, decode what they claim,
and one tiny interleaved run yields every ``stream.*`` figure; nothing here is timed."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest
import stream_server
import stream_throughput


@pytest.fixture
async def port() -> AsyncIterator[int]:
    """The benchmark's server on this test's event loop."""
    bench = stream_server.BenchServer()
    server = await asyncio.start_server(bench.handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("name", ["raw", "decode-all", "minimal", "sdk-all"])
async def test_each_every_item_client_counts_every_frame_up_to_the_end_marker(
    port: int, name: str
) -> None:
    async with aiohttp.ClientSession() as http:
        run = await stream_throughput.run_client(
            stream_throughput.CLIENTS[name], http, stream_throughput.url(port, 300), False)
    assert run.items == 300
    assert run.first is not None
    assert run.finished >= run.first


async def test_the_default_sdk_client_delivers_some_and_never_more_than_sent(port: int) -> None:
    async with aiohttp.ClientSession() as http:
        run = await stream_throughput.run_client(
            stream_throughput.CLIENTS["sdk"], http, stream_throughput.url(port, 300), False)
    assert 1 <= run.items <= 300


def test_the_decode_everything_loop_builds_exact_decimals_from_the_wire_text() -> None:
    for raw in stream_server.mix(50):
        message = json.loads(raw)
        data = message["data"]
        value = stream_throughput.EAGER[message["message"]].decode(
            json.dumps(data).encode())
        first_wire = data[0] if isinstance(data, list) else data
        first = value[0] if isinstance(value, list) else value
        money = "price" if "price" in first_wire else "funding_rate" \
            if "funding_rate" in first_wire else "entry_price"
        decoded = getattr(first, money)
        assert isinstance(decoded, Decimal)
        assert decoded == Decimal(str(first_wire[money]))


def test_the_decode_everything_loop_normalises_addresses_as_the_models_do() -> None:
    body = stream_server.message("live_trade_history", random.Random(0), 0)["data"]
    body["address"] = "0x" + "A" * 63
    decoded = stream_throughput.EAGER["live_trade_history"].decode(json.dumps(body).encode())
    assert decoded.address == "0x0" + "a" * 63


async def test_one_tiny_run_gives_every_stream_figure(port: int) -> None:
    args = stream_throughput.settings(quick=True)
    args.count, args.reference_count, args.latency_count = 200, 50, 100
    args.rate, args.stall_count = 5_000.0, 200
    result = await stream_throughput.bench(port, args)
    figures = stream_throughput.flatten(result)
    for key in ("raw", "decode_all", "minimal", "sdk", "sdk_all", "reference"):
        assert figures[f"stream.{key}_msgs_per_s"] > 0
    for key in ("sdk_vs_minimal", "sdk_all_vs_raw", "sdk_all_vs_decode_all",
                "sdk_vs_reference", "p50_latency_us", "p99_latency_us", "added_p99_us",
                "cpu_at_10k"):
        assert isinstance(figures[f"stream.{key}"], (int, float))
    assert figures["stream.p50_latency_us"] <= figures["stream.p99_latency_us"]
    lat = result["latency_at_rate"]
    assert [lat[k]["samples"] for k in ("minimal", "sdk-all")] == [100, 100]
    quantiles = result["latency_quantiles_us"]["sdk-all"]
    assert len(quantiles) == 100
    assert quantiles == sorted(quantiles)
    # Ratios are of the same run: with one round, sdk-all/raw is the two rates' quotient.
    thr = result["throughput_runs"]
    assert abs(figures["stream.sdk_all_vs_raw"] - thr["sdk-all"][0] / thr["raw"][0]) < 0.002


def test_percentile_of_nothing_is_zero_and_of_samples_in_microseconds() -> None:
    assert stream_throughput.percentile([], 0.99) == 0.0
    assert stream_throughput.percentile([1000 * i for i in range(1, 101)], 0.5) == 51.0
