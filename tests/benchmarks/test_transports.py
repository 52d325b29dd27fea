"""benchmarks/transports.py's clients count every frame up to the end marker on each
transport, and one tiny interleaved run yields every ``transports.*`` figure; nothing here
is timed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import stream_server
import transports


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


@pytest.mark.parametrize(("client", "transport"), sorted(transports.CLIENT_FUNCS))
async def test_each_client_counts_every_frame_up_to_the_end_marker(
    port: int, client: str, transport: str,
) -> None:
    count = transports.Count()
    await asyncio.wait_for(
        transports.CLIENT_FUNCS[(client, transport)](transports.url(port, 300), count), 30)
    assert count.items == 300
    assert count.last >= count.first > 0


def test_one_tiny_run_gives_every_variant_and_ratio() -> None:
    flat = transports.flatten(transports.run(count=200, rounds=1))
    for loop in transports.LOOPS:
        for transport in transports.TRANSPORTS:
            for client in ("raw", "seam", "sdk_all"):
                assert flat[f"transports.{client}_{transport}_{loop}_msgs_per_s"] > 0
    assert flat["transports.sdk_all_picows_vs_aiohttp_asyncio"] > 0
    assert flat["transports.sdk_all_uvloop_vs_asyncio_aiohttp"] > 0
    assert flat["transports.sdk_all_fastest_vs_default"] > 0
    detail = flat["transports.detail"]
    assert detail["left_out"] == []
    assert set(detail["versions"]) == {"aiohttp", "picows", "uvloop"}
    assert all(len(rates) == 1 for rates in detail["rounds_msgs_per_s"].values())
