"""How fast typed items reach ``async for`` consumers over one WebSocket, and at what latency,
against the physical limit measured in the same run.

A server in a separate process (``stream_server.py``) streams a realistic Kana mix (~1.1 KB
per message: 20-level order books of two markets, positions, recent trades, funding rates,
trade events) over 127.0.0.1. Clients, each over the same wire:

* ``raw``: aiohttp receive and nothing else (no decode): what the transport delivers;
* ``decode-all``: aiohttp receive, then the envelope and every payload decoded into typed
  structs with ``Decimal`` money built eagerly and addresses normalised (a fixed copy of the
  typed models as they were before money became lazy, independent of the SDK's models, so
  that it stays the same yardstick whatever the SDK does);
* (a) ``minimal``: a hand-written loop on aiohttp: receive, msgspec envelope + typed decode
  into the SDK's models, dict routing by (topic, key), one ``asyncio.Queue`` and consumer task
  per subscription;
* (b) ``sdk``: ``StreamMux`` delivering typed items to ``async for`` consumers, with its
  default policies (snapshots conflated when a consumer is behind);
* (b') ``sdk-all``: the same with every item delivered (``overflow="error"``, a large
  buffer): the strict like-for-like with (a);
* (c) ``reference``: the pattern of the documents' Python client: ``websocket-client`` in a
  thread, ``json.loads``, a callback.

Throughput counts frames from the first delivered item to the end marker. Then (a), (b) and
(b') receive a steady 10,000 msg/s with the server's send time stamped into each frame;
latency is measured from server send to consumer, and the share of one core this process
spends for (b) is recorded. Runs are interleaved (raw, decode-all, a, b, b', c, raw, ...) so
drift in machine load hits all alike; medians and medians of same-round ratios are reported.
Finally a stalled consumer shows what it costs in memory.

Run: ``python benchmarks/stream_throughput.py [--quick] [--count 200000] [--rounds 3]``
Results go to ``benchmarks/results/stream_throughput.json``; ``measure(quick)`` gives the
flat figures ``run_all.py`` collects.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import multiprocessing
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stream_server

from kana_async.models import (
    FundingRate,
    OrderBookLevel,
    Position,
    Trade,
    normalize_address,
)
from kana_async.stream import OrderBook, StreamMux, Subscription

RESULTS = Path(__file__).parent / "results"
SUBS = len(stream_server.SUBSCRIPTIONS)
STAMP_BASE = stream_server.STAMP_BASE


class Run:
    """What one client run measured."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.items = 0
        self.latencies_ns: list[int] = []
        self.done = asyncio.Event()
        self.finished = 0.0
        #: Process CPU seconds and wall seconds over the whole client run.
        self.cpu_s = 0.0
        self.wall_s = 0.0

    def item(self, stamp: int | None = None) -> None:
        if self.first is None:
            self.first = time.perf_counter()
        self.items += 1
        if stamp is not None:
            self.latencies_ns.append(time.monotonic_ns() - (stamp - STAMP_BASE))

    def end(self) -> None:
        self.finished = time.perf_counter()
        self.done.set()


def url(port: int, count: int, rate: float = 0.0) -> str:
    return f"ws://127.0.0.1:{port}/ws/?count={count}&rate={rate}&subs={SUBS}"


def stamp_of(item: Any) -> int | None:
    """The send time the server put into ``transaction_version`` (any typed item)."""
    if isinstance(item, OrderBook):
        level = item.best_bid or item.best_ask
        return None if level is None else level.transaction_version
    if isinstance(item, list):
        return item[0].transaction_version if item else None
    stamp: int | None = getattr(item, "transaction_version", None)
    return stamp


# -- the limit: raw receive, and the decode-everything loop ------------------------------------

class _Envelope(msgspec.Struct):
    message: str = ""
    data: msgspec.Raw = msgspec.Raw(b"null")


_END = stream_server.end_message()


async def _subscribe_all(ws: aiohttp.ClientWebSocketResponse[bool]) -> None:
    for topic, key in stream_server.SUBSCRIPTIONS:
        await ws.send_str(json.dumps({"topic": topic, **key}))


async def raw(http: aiohttp.ClientSession, target: str, run: Run, stamped: bool) -> None:
    """Receive every frame and count it; the only look at the bytes is for the end marker."""
    end, end_size = _END, len(_END)
    async with http.ws_connect(target, decode_text=False) as ws:
        await _subscribe_all(ws)
        while True:
            msg = await ws.receive()
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            data = msg.data
            if len(data) == end_size and data == end:
                run.end()
                return
            if run.first is None:
                run.first = time.perf_counter()
            run.items += 1


def _fix_address(struct: _Position | _Trade) -> None:
    """The typed models' address rule (64 lower-case digits), done here the same way."""
    fixed = normalize_address(struct.address)
    if fixed != struct.address:
        msgspec.structs.force_setattr(struct, "address", fixed)


class _Level(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    market_id: str
    price: Decimal
    size: Decimal
    is_ask: bool
    last_updated: int | None = None
    transaction_version: int | None = None


class _Position(msgspec.Struct, frozen=True, kw_only=True):
    address: str
    market_id: str
    trade_id: str | None = None
    size: Decimal
    entry_price: Decimal
    value: Decimal
    leverage: int
    margin: Decimal
    liq_price: Decimal | None = None
    available_order_size: Decimal | None = None
    trade_side: bool | None = None
    sl: Decimal | None = None
    tp: Decimal | None = None
    timestamp: int | None = None
    transaction_version: int | None = None


    def __post_init__(self) -> None:
        _fix_address(self)


class _Trade(msgspec.Struct, frozen=True, kw_only=True):
    address: str
    market_id: str
    trade_id: str
    order_id: str | None = None
    order_type: int
    price: Decimal
    size: Decimal
    order_value: Decimal | None = None
    leverage: int | None = None
    fee: Decimal
    pnl: Decimal
    timestamp: int
    last_updated: int | None = None
    transaction_version: int | None = None


    def __post_init__(self) -> None:
        _fix_address(self)


class _Funding(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    market_id: str
    funding_rate: Decimal
    funding_timestamp: int | None = None
    last_updated: int | None = None
    transaction_timestamp: int | None = None
    transaction_version: int | None = None


#: The decode-everything loop's decoders: every amount becomes a ``Decimal`` at decode time.
EAGER: dict[str, Any] = {
    "orderbook": msgspec.json.Decoder(list[_Level], strict=False),
    "positions": msgspec.json.Decoder(list[_Position], strict=False),
    "recent_trades": msgspec.json.Decoder(list[_Trade], strict=False),
    "live_funding_rate": msgspec.json.Decoder(list[_Funding], strict=False),
    "live_trade_history": msgspec.json.Decoder(_Trade, strict=False),
}


async def decode_all(http: aiohttp.ClientSession, target: str, run: Run, stamped: bool) -> None:
    """Receive, decode the envelope and every payload with eager ``Decimal`` money; no routing."""
    envelope = msgspec.json.Decoder(_Envelope)
    async with http.ws_connect(target, decode_text=False) as ws:
        await _subscribe_all(ws)
        while True:
            msg = await ws.receive()
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            env = envelope.decode(msg.data)
            value = EAGER[env.message].decode(env.data)
            if isinstance(value, _Trade) and value.trade_id == "END":
                run.end()
                return
            run.item(stamp_of(value) if stamped else None)


# -- (a) the minimal hand-written loop -------------------------------------------------------

_TYPED: dict[str, Any] = {
    "orderbook": msgspec.json.Decoder(list[OrderBookLevel], strict=False),
    "positions": msgspec.json.Decoder(list[Position], strict=False),
    "recent_trades": msgspec.json.Decoder(list[Trade], strict=False),
    "live_funding_rate": msgspec.json.Decoder(list[FundingRate], strict=False),
    "live_trade_history": msgspec.json.Decoder(Trade, strict=False),
}


async def minimal(http: aiohttp.ClientSession, target: str, run: Run, stamped: bool) -> None:
    envelope = msgspec.json.Decoder(_Envelope)
    queues: dict[tuple[str, str], asyncio.Queue[Any]] = {}
    for topic, fields in stream_server.SUBSCRIPTIONS:
        value = next(iter(fields.values()), "")
        # The models normalise addresses to 64 digits; route on that form.
        queues[(topic, normalize_address(value) if "address" in fields else value)] = \
            asyncio.Queue()

    async def consume(queue: asyncio.Queue[Any]) -> None:
        while True:
            item = await queue.get()
            if isinstance(item, Trade) and item.trade_id == "END":
                run.end()
                return
            run.item(stamp_of(item) if stamped else None)

    tasks = [asyncio.create_task(consume(q)) for q in queues.values()]
    async with http.ws_connect(target, decode_text=False) as ws:
        await _subscribe_all(ws)
        while not run.done.is_set():
            msg = await ws.receive()
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            env = envelope.decode(msg.data)
            value = _TYPED[env.message].decode(env.data)
            first = value[0] if isinstance(value, list) else value
            route = str(getattr(first, "address", "") if env.message in (
                "positions", "live_trade_history") else getattr(first, "market_id", ""))
            if env.message == "live_funding_rate":
                route = ""
            queues[(env.message, route)].put_nowait(value)
            if env.message == "live_trade_history" and value.trade_id == "END":
                await run.done.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# -- (b) the SDK -------------------------------------------------------------------------------

async def sdk(
    http: aiohttp.ClientSession, target: str, run: Run, stamped: bool, *, every_item: bool
) -> None:
    options: dict[str, Any] = {"overflow": "error", "buffer_size": 1_000_000} \
        if every_item else {}
    async with StreamMux(http, target, send_interval=0) as mux:
        subs: list[Subscription[Any]] = [
            mux.subscribe(topic, **key, **options)
            for topic, key in stream_server.SUBSCRIPTIONS
        ]

        async def consume(sub: Subscription[Any]) -> None:
            async for item in sub:
                if isinstance(item, Trade) and item.trade_id == "END":
                    run.end()
                    return
                run.item(stamp_of(item) if stamped else None)

        tasks = [asyncio.create_task(consume(sub)) for sub in subs]
        await run.done.wait()
        # Snapshot consumers finish what is already buffered before the run counts as done.
        while any(s.stats.buffered for s in subs):  # noqa: ASYNC110 (polling the counters)
            await asyncio.sleep(0)
        run.finished = time.perf_counter()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# -- (c) the documents' reference client -----------------------------------------------------

def reference(target: str, count: int) -> tuple[int, float]:
    """``websocket-client`` in a thread with ``json.loads`` and a callback, as the documents'
    Python examples do (minus their printing). Returns (items, seconds)."""
    import websocket  # the reference client's library

    state: dict[str, Any] = {"items": 0, "first": None, "end": 0.0}
    finished = threading.Event()

    def on_open(ws: Any) -> None:
        for topic, key in stream_server.SUBSCRIPTIONS:
            ws.send(json.dumps({"topic": topic, **key}))

    def on_message(ws: Any, message: str) -> None:
        data = json.loads(message)
        if state["first"] is None:
            state["first"] = time.perf_counter()
        body = data["data"]
        if data.get("message") == "live_trade_history" and body["trade_id"] == "END":
            state["end"] = time.perf_counter()
            finished.set()
            ws.close()
            return
        state["items"] += 1

    app = websocket.WebSocketApp(target, on_open=on_open, on_message=on_message)
    thread = threading.Thread(target=app.run_forever, daemon=True)
    thread.start()
    finished.wait(timeout=max(60.0, count / 1000))
    app.close()
    thread.join(timeout=5)
    return state["items"], state["end"] - (state["first"] or state["end"])


# -- orchestration -----------------------------------------------------------------------------

Client = Callable[[aiohttp.ClientSession, str, Run, bool], Awaitable[None]]

#: The throughput variants in the order a round runs them (``reference`` runs last, apart).
CLIENTS: dict[str, Client] = {
    "raw": raw,
    "decode-all": decode_all,
    "minimal": minimal,
    "sdk": lambda h, t, r, s: sdk(h, t, r, s, every_item=False),
    "sdk-all": lambda h, t, r, s: sdk(h, t, r, s, every_item=True),
}
#: The variants measured for latency at a steady rate.
LATENCY_CLIENTS = ("minimal", "sdk", "sdk-all")


async def run_client(client: Client, http: aiohttp.ClientSession, target: str,
                     stamped: bool) -> Run:
    run = Run()
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.wait_for(client(http, target, run, stamped), 300)
    run.cpu_s, run.wall_s = time.process_time() - cpu, time.perf_counter() - wall
    return run


def paired(numerators: list[float], denominators: list[float], digits: int) -> float:
    ratios = [n / d for n, d in zip(numerators, denominators, strict=True) if d]
    return round(statistics.median(ratios), digits) if ratios else 0.0


def percentile(values: list[int], q: float) -> float:
    """The ``q`` quantile of nanosecond samples, in microseconds (0 with no samples)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000.0


async def stalled_consumer(http: aiohttp.ClientSession, port: int, count: int) -> dict[str, Any]:
    """Nobody reads: the buffers stay at their bound while ``count`` frames pass."""
    rss_before = _rss()
    async with StreamMux(http, url(port, count), send_interval=0) as mux:
        subs = [mux.subscribe(topic, **key, buffer_size=1000)
                for topic, key in stream_server.SUBSCRIPTIONS]
        deadline = time.monotonic() + 120
        while mux.stats().frames < count + 1 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        stats = [s.stats for s in subs]
        rss_after = _rss()
        return {
            "frames": mux.stats().frames,
            "subscriptions": [
                {"topic": s.topic, "overflow": s.overflow, "capacity": s.capacity,
                 "received": s.received, "buffered": s.buffered, "conflated": s.conflated,
                 "dropped": s.dropped}
                for s in stats
            ],
            "rss_growth_mb": round((rss_after - rss_before) / 2**20, 1),
            "bytes_streamed_mb": round(count * _average_size() / 2**20, 1),
        }


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _average_size() -> float:
    return statistics.fmean(len(m) for m in stream_server.mix())


def settings(quick: bool) -> argparse.Namespace:
    """The run's sizes: full, or small enough for CI (a few seconds)."""
    if quick:
        return argparse.Namespace(count=20_000, reference_count=2_000, rounds=1,
                                  rate=10_000.0, latency_count=5_000, stall_count=20_000)
    return argparse.Namespace(count=200_000, reference_count=20_000, rounds=3,
                              rate=10_000.0, latency_count=20_000, stall_count=100_000)


async def bench(port: int, args: argparse.Namespace) -> dict[str, Any]:
    """Every variant against the server on ``port``, interleaved round by round."""
    rates: dict[str, list[float]] = {name: [] for name in (*CLIENTS, "reference")}
    latency: dict[str, list[int]] = {name: [] for name in LATENCY_CLIENTS}
    cpu_share: dict[str, list[float]] = {name: [] for name in LATENCY_CLIENTS}
    async with aiohttp.ClientSession() as http:
        for round_ in range(args.rounds):
            for name, client in CLIENTS.items():
                run = await run_client(client, http, url(port, args.count), False)
                rates[name].append(args.count / (run.finished - (run.first or 0)))
            items, seconds = await asyncio.to_thread(
                reference, url(port, args.reference_count), args.reference_count)
            rates["reference"].append(items / seconds if seconds else 0.0)
            print(f"round {round_ + 1}: " + ", ".join(
                f"{k} {v[-1]:,.0f}/s" for k, v in rates.items()), flush=True)
        for _ in range(args.rounds):
            for name in LATENCY_CLIENTS:
                run = await run_client(CLIENTS[name], http,
                                       url(port, args.latency_count, args.rate), True)
                latency[name].extend(run.latencies_ns)
                if run.wall_s:
                    cpu_share[name].append(run.cpu_s / run.wall_s)
        stall = await stalled_consumer(http, port, args.stall_count)

    median = {k: statistics.median(v) for k, v in rates.items()}
    lat = {k: {"p50_us": percentile(v, 0.50), "p90_us": percentile(v, 0.90),
               "p99_us": percentile(v, 0.99), "p999_us": percentile(v, 0.999),
               "samples": len(v)} for k, v in latency.items()}
    return {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
        "settings": vars(args) | {"average_message_bytes": round(_average_size())},
        "throughput_msg_per_s": {k: round(v) for k, v in median.items()},
        "throughput_runs": {k: [round(x) for x in v] for k, v in rates.items()},
        # Medians of same-round ratios: a round's runs are adjacent in time, so they share
        # whatever else the machine was doing.
        "ratios": {
            "sdk_vs_minimal": paired(rates["sdk"], rates["minimal"], 3),
            "sdk_all_vs_minimal": paired(rates["sdk-all"], rates["minimal"], 3),
            "sdk_all_vs_raw": paired(rates["sdk-all"], rates["raw"], 3),
            "sdk_all_vs_decode_all": paired(rates["sdk-all"], rates["decode-all"], 3),
            "sdk_vs_raw": paired(rates["sdk"], rates["raw"], 3),
            "decode_all_vs_raw": paired(rates["decode-all"], rates["raw"], 3),
            "sdk_vs_reference": paired(rates["sdk"], rates["reference"], 1),
            "sdk_all_vs_reference": paired(rates["sdk-all"], rates["reference"], 1),
        },
        "latency_at_rate": lat,
        # Sorted samples thinned to at most 1,000 points each, for the distribution chart.
        "latency_quantiles_us": {k: _quantiles(v) for k, v in latency.items()},
        "added_latency_us": {
            name: {"p50": round(lat[name]["p50_us"] - lat["minimal"]["p50_us"], 1),
                   "p99": round(lat[name]["p99_us"] - lat["minimal"]["p99_us"], 1)}
            for name in ("sdk", "sdk-all")
        },
        # Share of one core this process spent (server elsewhere) while receiving at the rate.
        "cpu_share_at_rate": {k: round(statistics.median(v), 3) if v else 0.0
                              for k, v in cpu_share.items()},
        "stalled_consumer": stall,
    }


def _quantiles(samples_ns: list[int], points: int = 1000) -> list[float]:
    ordered = sorted(samples_ns)
    if len(ordered) <= points:
        return [round(v / 1000, 1) for v in ordered]
    step = (len(ordered) - 1) / (points - 1)
    return [round(ordered[round(i * step)] / 1000, 1) for i in range(points)]


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start the server process, run :func:`bench` against it, stop the server."""
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=stream_server.serve, args=(child,), daemon=True)
    server.start()
    try:
        if not parent.poll(60):
            raise RuntimeError("the stream benchmark server did not start")
        port = parent.recv()
        return asyncio.run(bench(port, args))
    finally:
        with contextlib.suppress(OSError):
            parent.send("stop")
        server.join(timeout=10)
        if server.is_alive():
            server.terminate()
            server.join()


def flatten(result: dict[str, Any]) -> dict[str, Any]:
    """``run_all.py``'s figures (``stream.*``) from one :func:`bench` result."""
    thr, ratios = result["throughput_msg_per_s"], result["ratios"]
    lat = result["latency_at_rate"]
    return {
        "stream.raw_msgs_per_s": thr["raw"],
        "stream.decode_all_msgs_per_s": thr["decode-all"],
        "stream.minimal_msgs_per_s": thr["minimal"],
        "stream.sdk_msgs_per_s": thr["sdk"],
        "stream.sdk_all_msgs_per_s": thr["sdk-all"],
        "stream.reference_msgs_per_s": thr["reference"],
        "stream.sdk_vs_minimal": ratios["sdk_vs_minimal"],
        "stream.sdk_all_vs_raw": ratios["sdk_all_vs_raw"],
        "stream.sdk_all_vs_decode_all": ratios["sdk_all_vs_decode_all"],
        "stream.sdk_vs_reference": ratios["sdk_vs_reference"],
        # Every item delivered, as by the minimal loop: conflation cannot hide a late item.
        "stream.p50_latency_us": lat["sdk-all"]["p50_us"],
        "stream.p99_latency_us": lat["sdk-all"]["p99_us"],
        "stream.added_p99_us": result["added_latency_us"]["sdk-all"]["p99"],
        "stream.cpu_at_10k": result["cpu_share_at_rate"]["sdk-all"],
        "stream.detail": result,
    }


def measure(quick: bool) -> dict[str, Any]:
    """Every stream variant in one interleaved run; the flat ``stream.*`` figures."""
    return flatten(run(settings(quick)))


def report(result: dict[str, Any]) -> None:
    thr = result["throughput_msg_per_s"]
    ratios = result["ratios"]
    print(f"\nmessage mix: {result['settings']['average_message_bytes']} bytes on average")
    print(f"{'client':<38}{'msg/s (median)':>16}{'vs raw':>10}")
    for key, label in NAMES.items():
        print(f"{label:<38}{thr[key]:>16,}{thr[key] / thr['raw']:>10.2f}")
    print("  ".join(f"{k} = {v}" for k, v in ratios.items()))
    rate = result["settings"]["rate"]
    print(f"\nlatency server send -> consumer at {rate:,.0f} msg/s")
    print(f"{'client':<38}{'p50 µs':>10}{'p99 µs':>10}{'core':>8}")
    for key in LATENCY_CLIENTS:
        lat = result["latency_at_rate"][key]
        print(f"{NAMES[key]:<38}{lat['p50_us']:>10.1f}{lat['p99_us']:>10.1f}"
              f"{result['cpu_share_at_rate'][key]:>8.0%}")
    for key, added in result["added_latency_us"].items():
        print(f"added by {key}: p50 {added['p50']} µs, p99 {added['p99']} µs")
    stall = result["stalled_consumer"]
    print(f"\nstalled consumers ({stall['frames']:,} frames, "
          f"~{stall['bytes_streamed_mb']} MB streamed, RSS grew {stall['rss_growth_mb']} MB):")
    for sub in stall["subscriptions"]:
        print(f"  {sub['topic']:<20}{sub['overflow']:<12} buffered {sub['buffered']:>5} "
              f"of {sub['capacity']:>5}; received {sub['received']:,}, "
              f"conflated {sub['conflated']:,}, dropped {sub['dropped']:,}")


#: Labels of the variants in reports and charts.
NAMES = {
    "raw": "raw aiohttp receive (no decode)",
    "decode-all": "decode-everything loop (Decimal)",
    "minimal": "(a) minimal aiohttp+msgspec loop",
    "sdk": "(b) SDK async for",
    "sdk-all": "(b') SDK, every item delivered",
    "reference": "(c) reference websocket-client",
}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts, one round")
    parser.add_argument("--count", type=int, help="frames per throughput run")
    parser.add_argument("--reference-count", type=int,
                        help="frames per reference-client run (it is slow)")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--rate", type=float, help="msg/s for latency")
    parser.add_argument("--latency-count", type=int)
    parser.add_argument("--stall-count", type=int)
    arguments = parser.parse_args()
    chosen = settings(arguments.quick)
    for name, value in vars(arguments).items():
        if name != "quick" and value is not None:
            if value <= 0:
                parser.error(f"--{name.replace('_', '-')} must be positive")
            setattr(chosen, name, value)
    outcome = run(chosen)
    report(outcome)
    RESULTS.mkdir(exist_ok=True)
    with contextlib.suppress(OSError):
        (RESULTS / "stream_throughput.json").write_text(json.dumps(outcome, indent=2) + "\n")
