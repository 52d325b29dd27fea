"""What the SDK's REST layer costs on top of a bare aiohttp request.

A local aiohttp server (in its own process, so its work does not hide the client's) answers
``/getMarketPrice`` with a fixed Kana envelope. Two clients call it on one shared
``aiohttp.ClientSession``:

* bare: ``session.get(url, params, headers)`` and ``await response.read()``;
* sdk: ``KanaRest.get_market_price(1338)``: argument validation, retry policy wrapper,
  envelope decode and typed ``MarketPrice`` decode with ``Decimal`` prices.

Each mode (sequential, 50 concurrent) alternates bare/sdk rounds (A/B/A/B...) so drift in
machine load hits both alike. Reported per client: the median rate (wall clock) and the
median client CPU time per request (``time.process_time`` of this process only; the server
runs elsewhere), which is far less sensitive to other load on a shared machine. Ratios are
medians of adjacent bare/sdk pairs. Results go to ``benchmarks/results/rest_overhead.json``.

Run: ``python benchmarks/rest_overhead.py [--requests 1000] [--rounds 10]``; ``measure(quick)``
gives ``run_all.py`` its ``rest.sdk_vs_bare``: the SDK's time per request over bare aiohttp's
with 50 concurrent callers, where the client's CPU is the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from kana_async.rest import KanaRest, RestSession

RESULTS = Path(__file__).parent / "results"
BODY = json.dumps(
    {
        "success": True,
        "message": "Market price fetched successfully",
        "data": {"bestAskPrice": 5.769, "bestBidPrice": "5.768"},
    }
).encode()
API_KEY = "bench-key"
CONCURRENCY = 50


def serve(conn: Connection) -> None:
    """Child process: serve the fixed answer on 127.0.0.1 until told to stop."""

    async def main() -> None:
        async def market_price(request: web.Request) -> web.Response:
            return web.Response(body=BODY, content_type="application/json")

        app = web.Application()
        app.router.add_get("/getMarketPrice", market_price)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        conn.send(port)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, conn.recv)  # any message means stop
        await runner.cleanup()

    asyncio.run(main())


Call = Callable[[], Awaitable[Any]]


async def run_round(call: Call, total: int, concurrency: int) -> tuple[float, float]:
    """(requests per second, client CPU microseconds per request) for ``total`` calls spread
    over ``concurrency`` workers."""

    async def worker(count: int) -> None:
        for _ in range(count):
            await call()

    share, extra = divmod(total, concurrency)
    cpu = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(worker(share + (i < extra)) for i in range(concurrency)))
    wall = time.perf_counter() - started
    return total / wall, (time.process_time() - cpu) / total * 1e6


async def bench(port: int, total: int, rounds: int) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/getMarketPrice"
    params = {"marketId": "1338"}
    headers = {"x-api-key": API_KEY}
    connector = aiohttp.TCPConnector(limit=100)
    async with aiohttp.ClientSession(connector=connector) as http:
        rest = KanaRest(RestSession(base, api_key=API_KEY, session=http))

        async def bare() -> bytes:
            async with http.get(url, params=params, headers=headers) as response:
                return await response.read()

        async def sdk() -> Any:
            return await rest.get_market_price(1338)

        assert (await sdk()).best_bid_price is not None
        results: dict[str, Any] = {}
        for mode, concurrency in (("sequential", 1), ("concurrent_50", CONCURRENCY)):
            await run_round(bare, min(total, 200), concurrency)  # warm up both paths
            await run_round(sdk, min(total, 200), concurrency)
            rounds_out: dict[str, list[tuple[float, float]]] = {"bare": [], "sdk": []}
            for _ in range(rounds):
                rounds_out["bare"].append(await run_round(bare, total, concurrency))
                rounds_out["sdk"].append(await run_round(sdk, total, concurrency))
            pairs = list(zip(rounds_out["bare"], rounds_out["sdk"], strict=True))
            results[mode] = {
                "concurrency": concurrency,
                "bare_rps": round(statistics.median(r for r, _ in rounds_out["bare"]), 1),
                "sdk_rps": round(statistics.median(r for r, _ in rounds_out["sdk"]), 1),
                "bare_cpu_us_per_request": round(
                    statistics.median(c for _, c in rounds_out["bare"]), 1
                ),
                "sdk_cpu_us_per_request": round(
                    statistics.median(c for _, c in rounds_out["sdk"]), 1
                ),
                "time_ratio_sdk_over_bare": round(
                    statistics.median(b[0] / s[0] for b, s in pairs), 3
                ),
                "cpu_ratio_sdk_over_bare": round(
                    statistics.median(s[1] / b[1] for b, s in pairs), 3
                ),
                "rounds": {
                    k: [{"rps": round(r, 1), "cpu_us": round(c, 1)} for r, c in v]
                    for k, v in rounds_out.items()
                },
            }
    return results


def run(total: int, rounds: int) -> dict[str, Any]:
    """Start the server process, run :func:`bench` against it, stop the server."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    server = context.Process(target=serve, args=(child,), daemon=True)
    server.start()
    try:
        if not parent.poll(20):
            raise SystemExit("the benchmark server did not start")
        port = parent.recv()
        return asyncio.run(bench(port, total, rounds))
    finally:
        parent.send("stop")
        server.join(10)
        if server.is_alive():
            server.terminate()
            server.join()


def measure(quick: bool) -> dict[str, Any]:
    """``rest.sdk_vs_bare`` (50 concurrent callers, time ratio) and the detail of both modes."""
    results = run(200, 3) if quick else run(1000, 10)
    return {
        "rest.sdk_vs_bare": results["concurrent_50"]["time_ratio_sdk_over_bare"],
        "rest.sdk_vs_bare_cpu": results["concurrent_50"]["cpu_ratio_sdk_over_bare"],
        "rest.sdk_vs_bare_sequential": results["sequential"]["time_ratio_sdk_over_bare"],
        "rest.detail": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=10, help="rounds per client and mode")
    args = parser.parse_args()
    if not (1 <= args.requests <= 100_000 and 1 <= args.rounds <= 20):
        parser.error("--requests must be 1..100000 and --rounds 1..20")
    results = run(args.requests, args.rounds)

    print(
        f"{'mode':<15}{'bare req/s':>11}{'sdk req/s':>11}{'time ratio':>11}"
        f"{'bare cpu us':>12}{'sdk cpu us':>12}{'cpu ratio':>11}"
    )
    for mode, row in results.items():
        print(
            f"{mode:<15}{row['bare_rps']:>11.0f}{row['sdk_rps']:>11.0f}"
            f"{row['time_ratio_sdk_over_bare']:>11.3f}{row['bare_cpu_us_per_request']:>12.1f}"
            f"{row['sdk_cpu_us_per_request']:>12.1f}{row['cpu_ratio_sdk_over_bare']:>11.3f}"
        )
    report = {
        "benchmark": "rest_overhead",
        "target": "sdk within 1.15x of bare aiohttp",
        "requests_per_round": args.requests,
        "rounds": args.rounds,
        "python": platform.python_version(),
        "aiohttp": aiohttp.__version__,
        "machine": platform.machine(),
        "cpus": multiprocessing.cpu_count(),
        "results": results,
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "rest_overhead.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"saved {out}")


if __name__ == "__main__":
    main()
