"""How the stream scales: with subscriptions on one connection, and with message size.

The stand-in indexer (``stream_server.py``) streams order books only, ``M`` markets in turn:

* subscriptions: 1, 10 and 100 order book subscriptions on ONE ``StreamMux`` connection
  (20-level books), every item delivered (``overflow="error"``, a large buffer) to one
  ``async for`` consumer per subscription;
* message size: one subscription, books of 5, 20 and 200 levels, beside the raw aiohttp
  receive rate of the same frames (no decode), so that growth in bytes is told apart from
  growth in decode work.

Each point's throughput counts frames from the first delivered item to the end marker; then
the same point runs at a steady rate (10,000 msg/s, or half its throughput when that is lower:
the rate used is reported) with the server's send time stamped into each book, for p50/p99
latency and the share of one core this process spends. Points run interleaved, round by
round; medians and medians of same-round ratios are reported. Last, the memory one
subscription holds (``tracemalloc``, with its buffer empty) over a few hundred subscriptions.

Run: ``python benchmarks/scaling.py [--quick]``; ``measure(quick)`` gives the flat figures
``run_all.py`` collects (``stream.subs100_vs_subs1`` and ``scaling.*``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import multiprocessing
import statistics
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stream_server
from stream_throughput import Run, percentile, stamp_of

from kana_async.stream import StreamMux, Subscription

RESULTS = Path(__file__).parent / "results"
SUBSCRIPTIONS = (1, 10, 100)
LEVELS = (5, 20, 200)
#: Levels of the books in the subscription series.
SUBS_LEVELS = 20
RATE = 10_000.0


def book_url(port: int, markets: int, levels: int, count: int, rate: float = 0.0) -> str:
    return (f"ws://127.0.0.1:{port}/ws/?count={count}&rate={rate}&subs={markets}"
            f"&markets={markets}&levels={levels}")


async def sdk_books(http: aiohttp.ClientSession, target: str, markets: int, run: Run,
                    stamped: bool) -> None:
    """One ``async for`` per market's book, every item delivered, until the end marker."""
    async with StreamMux(http, target, send_interval=0) as mux:
        subs: list[Subscription[Any]] = [
            mux.subscribe("orderbook", market_id=stream_server.book_market(i),
                          overflow="error", buffer_size=1_000_000)
            for i in range(markets)
        ]

        async def consume(sub: Subscription[Any]) -> None:
            async for item in sub:
                stamp = stamp_of(item)
                if stamp == stream_server.END_VERSION:
                    run.end()
                    return
                run.item(stamp if stamped else None)

        tasks = [asyncio.create_task(consume(sub)) for sub in subs]
        try:
            await run.done.wait()
            while any(s.stats.buffered for s in subs):  # noqa: ASYNC110 (polling the counters)
                await asyncio.sleep(0)
            run.finished = time.perf_counter()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def raw_books(http: aiohttp.ClientSession, target: str, markets: int, levels: int,
                    run: Run) -> None:
    """Receive and count the frames, no decode; the end marker is found by its bytes."""
    end = stream_server.book_end_message(levels)
    async with http.ws_connect(target, decode_text=False) as ws:
        for i in range(markets):
            await ws.send_str(json.dumps(
                {"topic": "orderbook", "market_id": stream_server.book_market(i)}))
        while True:
            msg = await ws.receive()
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            if len(msg.data) == len(end) and msg.data == end:
                run.end()
                return
            if run.first is None:
                run.first = time.perf_counter()
            run.items += 1


async def _timed(work: Callable[[Run], Awaitable[None]]) -> tuple[Run, float, float]:
    """Run ``work``; return it with the process CPU seconds and wall seconds it took."""
    run = Run()
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.wait_for(work(run), 300)
    return run, time.process_time() - cpu, time.perf_counter() - wall


def _rate(run: Run) -> float:
    elapsed = run.finished - (run.first or run.finished)
    return run.items / elapsed if elapsed > 0 else 0.0


async def point(http: aiohttp.ClientSession, port: int, markets: int, levels: int,
                count: int, latency_count: int, raw_too: bool) -> dict[str, Any]:
    """One point: throughput (and the raw rate of the same frames), then latency and CPU."""
    out: dict[str, Any] = {}
    if raw_too:
        run, _, _ = await _timed(lambda r: raw_books(
            http, book_url(port, markets, levels, count), markets, levels, r))
        out["raw_msgs_per_s"] = _rate(run)
    run, _, _ = await _timed(lambda r: sdk_books(
        http, book_url(port, markets, levels, count), markets, r, False))
    out["msgs_per_s"] = _rate(run)
    out["items"] = run.items
    rate = min(RATE, out["msgs_per_s"] / 2) or RATE
    run, cpu, wall = await _timed(lambda r: sdk_books(
        http, book_url(port, markets, levels, latency_count, rate), markets, r, True))
    out.update(rate=round(rate), p50_us=percentile(run.latencies_ns, 0.50),
               p99_us=percentile(run.latencies_ns, 0.99),
               cpu_share=round(cpu / wall, 3) if wall else 0.0)
    return out


async def memory_per_subscription(http: aiohttp.ClientSession, port: int, subs: int) -> float:
    """Bytes one idle order book subscription holds (traced allocations / ``subs``)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        async with StreamMux(http, book_url(port, subs, 5, 0), send_interval=0) as mux:
            held = [mux.subscribe("orderbook", market_id=stream_server.book_market(i))
                    for i in range(subs)]
            deadline = time.monotonic() + 60
            # The server answers the last subscribe frame with the end marker.
            while mux.stats().frames < 1 and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            gc.collect()
            after = tracemalloc.take_snapshot()
            grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
            del held
    finally:
        tracemalloc.stop()
    return grown / subs


def settings(quick: bool) -> dict[str, int]:
    if quick:
        return {"count": 4_000, "latency_count": 1_500, "rounds": 1, "memory_subs": 200}
    return {"count": 40_000, "latency_count": 10_000, "rounds": 3, "memory_subs": 1_000}


def _count(base: int, levels: int) -> int:
    """Fewer frames for big books, so that each point moves a similar number of bytes."""
    return max(500, base * SUBS_LEVELS // max(levels, SUBS_LEVELS))


async def bench(port: int, config: dict[str, int]) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {}
    async with aiohttp.ClientSession() as http:
        for round_ in range(config["rounds"]):
            for subs in SUBSCRIPTIONS:
                runs.setdefault(f"subs-{subs}", []).append(await point(
                    http, port, subs, SUBS_LEVELS, config["count"], config["latency_count"],
                    raw_too=False))
            for levels in LEVELS:
                runs.setdefault(f"levels-{levels}", []).append(await point(
                    http, port, 1, levels, _count(config["count"], levels),
                    _count(config["latency_count"], levels), raw_too=True))
            print(f"round {round_ + 1}: " + ", ".join(
                f"{name} {r[-1]['msgs_per_s']:,.0f}/s" for name, r in runs.items()), flush=True)
        memory = await memory_per_subscription(http, port, config["memory_subs"])

    def median(name: str, key: str) -> float:
        return round(statistics.median(float(r[key]) for r in runs[name]), 1)

    subs1 = [r["msgs_per_s"] for r in runs["subs-1"]]
    ratios = [r["msgs_per_s"] / one for r, one in zip(runs["subs-100"], subs1, strict=True)
              if one]
    return {
        "settings": config,
        "subscriptions": {
            str(n): {key: median(f"subs-{n}", key)
                     for key in ("msgs_per_s", "p50_us", "p99_us", "cpu_share", "rate")}
            for n in SUBSCRIPTIONS
        },
        "levels": {
            str(n): {key: median(f"levels-{n}", key)
                     for key in ("msgs_per_s", "raw_msgs_per_s", "p50_us", "p99_us",
                                 "cpu_share", "rate")}
            for n in LEVELS
        },
        "subs100_vs_subs1": round(statistics.median(ratios), 3) if ratios else 0.0,
        "memory_per_subscription_bytes": round(memory),
        "runs": {name: [{k: round(v, 1) for k, v in r.items()} for r in rs]
                 for name, rs in runs.items()},
    }


def run(config: dict[str, int]) -> dict[str, Any]:
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=stream_server.serve, args=(child,), daemon=True)
    server.start()
    try:
        if not parent.poll(60):
            raise RuntimeError("the stream benchmark server did not start")
        return asyncio.run(bench(parent.recv(), config))
    finally:
        with contextlib.suppress(OSError):
            parent.send("stop")
        server.join(timeout=10)
        if server.is_alive():
            server.terminate()
            server.join()


def flatten(result: dict[str, Any]) -> dict[str, Any]:
    """``run_all.py``'s figures from one :func:`bench` result."""
    subs, levels = result["subscriptions"], result["levels"]
    return {
        "stream.subs100_vs_subs1": result["subs100_vs_subs1"],
        **{f"scaling.subs{n}_msgs_per_s": subs[str(n)]["msgs_per_s"] for n in SUBSCRIPTIONS},
        **{f"scaling.subs{n}_p99_us": subs[str(n)]["p99_us"] for n in SUBSCRIPTIONS},
        **{f"scaling.levels{n}_msgs_per_s": levels[str(n)]["msgs_per_s"] for n in LEVELS},
        **{f"scaling.levels{n}_p99_us": levels[str(n)]["p99_us"] for n in LEVELS},
        "scaling.memory_per_subscription_bytes": result["memory_per_subscription_bytes"],
        "scaling.detail": result,
    }


def measure(quick: bool) -> dict[str, Any]:
    """The scaling series; flat figures for ``run_all.py``."""
    return flatten(run(settings(quick)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts, one round")
    outcome = run(settings(parser.parse_args().quick))
    for name, series in (("subscriptions", outcome["subscriptions"]),
                         ("levels", outcome["levels"])):
        print(f"\n{name:<14}" + "".join(f"{k:>16}" for k in next(iter(series.values()))))
        for n, row in series.items():
            print(f"{n:<14}" + "".join(f"{v:>16,.1f}" for v in row.values()))
    print(f"\n100 subscriptions / 1: {outcome['subs100_vs_subs1']}x; one idle subscription "
          f"holds ~{outcome['memory_per_subscription_bytes']:,} bytes")
    RESULTS.mkdir(exist_ok=True)
    with contextlib.suppress(OSError):
        (RESULTS / "scaling.json").write_text(json.dumps(outcome, indent=2) + "\n")
