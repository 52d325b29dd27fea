"""What ``PulseClient`` costs: calls per second and round trips, and typed notifications per
second to ``async for``.

1. **Calls.** The simulator's Pulse gateway runs in its own process; ``public/get_index_price``
   (typed: a ``Decimal``) is called over ONE WebSocket with 1, 100 and 1,000 calls in flight,
   then over HTTP with 50 concurrent callers. Reported: calls/s and the round trip of each
   call (p50, p99).
2. **Notifications.** A stand-in gateway in its own process floods one socket with a Pulse mix
   (book changes on a change chain, quotes, index prices, funding payments); every item is
   delivered, typed, to an ``async for`` consumer per channel (``overflow="error"``, a large
   buffer: nothing is conflated). The Kana stream is measured the same way right after, on the
   same loopback and in the same process (``stream_throughput.py``'s every-item variant on
   its stand-in indexer). Both count items from the first delivered to the end marker.

Floors (reported, not enforced): WebSocket pipelined >= 2x HTTP calls/s; Pulse notifications
>= 0.8x the Kana stream's every-item rate. Timings depend on the machine: this is a
measurement, not a test.

Run: ``python benchmarks/pulse_rpc.py [--quick] [--rounds 3]``
Results go to ``benchmarks/results/pulse_rpc.json``; ``measure(quick)`` gives ``run_all.py`` its
``pulse.*`` figures.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import multiprocessing
import platform
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stream_server
import stream_throughput

from kana_async import PulseClient
from kana_async.pulse import PulseBook
from kana_async.stream import Subscription

RESULTS = Path(__file__).parent / "results"
INSTRUMENT = "BTC_USD-PERPETUAL"
CHANNELS = (
    f"book.{INSTRUMENT}.raw",
    f"quote.{INSTRUMENT}",
    "deribit_price_index.btc_usd",
    f"funding_payments.{INSTRUMENT}",
)
END_CHANNEL = "deribit_price_index.btc_usd"
WEIGHTS = (0.3, 0.3, 0.2, 0.2)


# -- the simulator's gateway in a process of its own -----------------------------------------


def serve_simulator(conn: Connection) -> None:
    """Child-process entry: a simulator (no background steps), its Pulse URLs sent back
    through ``conn``, until the parent says stop."""

    async def main() -> None:
        from kana_async.sim import Simulator

        async with Simulator(step_interval=None) as sim:
            conn.send((sim.pulse_ws_url, sim.pulse_http_url))
            await asyncio.get_running_loop().run_in_executor(None, conn.recv)

    asyncio.run(main())


# -- a stand-in gateway that floods notifications ---------------------------------------------


def _notification(channel: str, data: Any) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "method": "subscription",
                       "params": {"channel": channel, "data": data}},
                      separators=(",", ":")).encode()


def pulse_mix(count: int, seed: int = 1) -> list[bytes]:
    """``count`` notification frames of the mix, then the end marker. Book changes follow
    one change chain (a snapshot first) and only change amounts, so the book never crosses."""
    rng = random.Random(seed)
    bids = [60_000 - 0.5 * (i + 1) for i in range(10)]
    asks = [60_000 + 0.5 * (i + 1) for i in range(10)]
    change_id = 1
    frames = [_notification(CHANNELS[0], {
        "type": "snapshot", "instrument_name": INSTRUMENT, "timestamp": 1_796_000_000_000,
        "change_id": change_id, "prev_change_id": 0,
        "bids": [["new", p, rng.randint(1, 500) * 10] for p in bids],
        "asks": [["new", p, rng.randint(1, 500) * 10] for p in asks],
    })]
    kinds = rng.choices(range(4), weights=WEIGHTS, k=count - 1)
    for n, kind in enumerate(kinds):
        ts = 1_796_000_000_000 + n
        if kind == 0:
            change_id += 1
            frames.append(_notification(CHANNELS[0], {
                "type": "change", "instrument_name": INSTRUMENT, "timestamp": ts,
                "change_id": change_id, "prev_change_id": change_id - 1,
                "bids": [["change", rng.choice(bids), rng.randint(1, 500) * 10]
                         for _ in range(rng.randint(1, 3))],
                "asks": [["change", rng.choice(asks), rng.randint(1, 500) * 10]
                         for _ in range(rng.randint(1, 3))],
            }))
        elif kind == 1:
            frames.append(_notification(CHANNELS[1], {
                "instrument_name": INSTRUMENT, "timestamp": ts,
                "best_bid_price": bids[0], "best_bid_amount": rng.randint(1, 500) * 10,
                "best_ask_price": asks[0], "best_ask_amount": rng.randint(1, 500) * 10,
            }))
        elif kind == 2:
            frames.append(_notification(CHANNELS[2], {
                "index_name": "btc_usd", "price": round(60_000 + rng.random() * 10, 2),
                "timestamp": ts}))
        else:
            frames.append(_notification(CHANNELS[3], {
                "instrument_name": INSTRUMENT, "amount": f"{rng.random() / 1000:.8f}",
                "volume": str(rng.randint(1, 10_000) * 10)}))
    frames.append(_notification(END_CHANNEL, {"index_name": "end", "price": 0,
                                              "timestamp": 0}))
    return frames


class FloodGateway:
    """Answers subscribe requests, then sends ``count`` frames of the mix as fast as the
    socket takes them (the client, not the server, is measured)."""

    def __init__(self, count: int) -> None:
        self.framed = [stream_server.frame(f) for f in pulse_mix(count)]
        self.mean_bytes = statistics.fmean(len(f) for f in self.framed)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await self._serve(reader, writer)
        writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        key = next(line.split(":", 1)[1].strip() for line in head.split("\r\n")
                   if line.lower().startswith("sec-websocket-key:"))
        accept = base64.b64encode(
            hashlib.sha1(key.encode() + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        subscribed: set[str] = set()
        flooded = False
        while True:
            opcode, payload = await stream_server.read_frame(reader)
            if opcode == 0x9:
                writer.write(stream_server.frame(payload, 0xA))
                continue
            if opcode == 0x8:
                writer.write(stream_server.frame(payload[:2], 0x8))
                await writer.drain()
                return
            request = json.loads(payload)
            params = request.get("params") or {}
            result: Any = "ok"
            if str(request.get("method", "")).endswith("/subscribe"):
                result = list(params.get("channels", []))
                subscribed.update(result)
            writer.write(stream_server.frame(json.dumps(
                {"jsonrpc": "2.0", "id": request.get("id"), "result": result}).encode()))
            await writer.drain()
            if not flooded and subscribed >= set(CHANNELS):
                flooded = True
                for start in range(0, len(self.framed), 64):
                    writer.write(b"".join(self.framed[start:start + 64]))
                    await writer.drain()


def serve_flood(conn: Connection, count: int) -> None:
    async def main() -> None:
        gateway = FloodGateway(count)
        server = await asyncio.start_server(gateway.handle, "127.0.0.1", 0)
        conn.send((server.sockets[0].getsockname()[1], gateway.mean_bytes))
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        server.close()
        await server.wait_closed()

    asyncio.run(main())


@contextlib.contextmanager
def child(target: Callable[..., None], *args: Any) -> Any:
    """Run ``target(conn, *args)`` in a process; yield what it sends first."""
    parent, conn = multiprocessing.Pipe()
    process = multiprocessing.Process(target=target, args=(conn, *args), daemon=True)
    process.start()
    try:
        if not parent.poll(60):
            raise RuntimeError(f"{target.__name__} did not start")
        yield parent.recv()
    finally:
        with contextlib.suppress(OSError):
            parent.send("stop")
        process.join(timeout=10)
        if process.is_alive():
            process.terminate()
            process.join()


# -- calls -----------------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def calls(pulse: PulseClient, total: int, in_flight: int) -> dict[str, Any]:
    """``total`` calls by ``in_flight`` concurrent callers; calls/s and round trips (ms)."""
    round_trips: list[float] = []
    per_caller = [total // in_flight + (1 if i < total % in_flight else 0)
                  for i in range(in_flight)]

    async def caller(n: int) -> None:
        for _ in range(n):
            sent = time.perf_counter()
            await pulse.get_index_price(index_name="btc_usd")
            round_trips.append(time.perf_counter() - sent)

    started = time.perf_counter()
    await asyncio.gather(*(caller(n) for n in per_caller if n))
    elapsed = time.perf_counter() - started
    return {
        "in_flight": in_flight, "calls": len(round_trips),
        "calls_per_s": round(len(round_trips) / elapsed),
        "p50_ms": round(_percentile(round_trips, 0.50) * 1e3, 3),
        "p99_ms": round(_percentile(round_trips, 0.99) * 1e3, 3),
    }


async def measure_calls(ws_url: str, http_url: str, counts: dict[int, int], http_count: int,
                        rounds: int) -> dict[str, list[dict[str, Any]]]:
    """Each variant ``rounds`` times, interleaved so that drift hits all alike."""
    runs: dict[str, list[dict[str, Any]]] = {}
    async with PulseClient(ws_url, heartbeat=None) as ws, \
            PulseClient(None, http_url=http_url) as http:
        await ws.get_index_price(index_name="btc_usd")  # warm both up
        await http.get_index_price(index_name="btc_usd")
        for _ in range(rounds):
            for in_flight, total in counts.items():
                runs.setdefault(f"ws-{in_flight}", []).append(
                    await calls(ws, total, in_flight))
            runs.setdefault("http-50", []).append(await calls(http, http_count, 50))
    return runs


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(runs, key=lambda r: float(r["calls_per_s"]))
    return ordered[len(ordered) // 2]


# -- notifications ---------------------------------------------------------------------------


async def pulse_notifications(port: int) -> tuple[int, float]:
    """Every item of the flood, typed, to one ``async for`` per channel: (items, seconds)."""
    first: float | None = None
    items = 0
    done = asyncio.Event()
    finished = 0.0
    async with PulseClient(f"ws://127.0.0.1:{port}/ws/api/v2", heartbeat=None,
                           stream={"send_interval": 0}) as pulse:
        subs: list[Subscription[Any]] = [
            pulse.subscribe(name, overflow="error", capacity=1_000_000) for name in CHANNELS]

        async def consume(sub: Subscription[Any]) -> None:
            nonlocal first, items, finished
            async for item in sub:
                if getattr(item, "index_name", None) == "end":
                    finished = time.perf_counter()
                    done.set()
                    return
                if first is None:
                    first = time.perf_counter()
                if isinstance(item, PulseBook) and not item.synced:
                    raise RuntimeError("the flood's change chain broke")
                items += 1

        tasks = [asyncio.create_task(consume(sub)) for sub in subs]
        try:
            await asyncio.wait_for(done.wait(), 600)
            # Every channel's buffer drained before the run counts as done.
            while any(s.stats.buffered for s in subs):  # noqa: ASYNC110 (polling counters)
                await asyncio.sleep(0)
            finished = max(finished, time.perf_counter())
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    assert first is not None
    return items, finished - first


async def kana_notifications(port: int, count: int) -> tuple[int, float]:
    """The Kana stream's every-item typed rate (``stream_throughput``'s variant (b'))."""
    run = stream_throughput.Run()
    async with aiohttp.ClientSession() as http:
        await asyncio.wait_for(stream_throughput.sdk(
            http, stream_throughput.url(port, count), run, False, every_item=True), 600)
    assert run.first is not None
    return run.items, run.finished - run.first


# -- the run ---------------------------------------------------------------------------------


async def _timed(work: Awaitable[tuple[int, float]]) -> float:
    items, seconds = await work
    return items / seconds


def main(args: argparse.Namespace) -> dict[str, Any]:
    quick = args.quick
    counts = {1: 500, 100: 3_000, 1000: 5_000} if quick else {1: 3_000, 100: 20_000,
                                                             1000: 30_000}
    http_count = 1_000 if quick else 5_000
    flood = 20_000 if quick else 200_000
    rounds = 1 if quick else args.rounds

    with child(serve_simulator) as (ws_url, http_url):
        runs = asyncio.run(measure_calls(ws_url, http_url, counts, http_count, rounds))
    medians = {name: _median_run(r) for name, r in runs.items()}

    pulse_rates: list[float] = []
    kana_rates: list[float] = []
    with child(serve_flood, flood) as (flood_port, pulse_bytes), \
            child(stream_server.serve) as kana_port:
        for _ in range(rounds):  # interleaved, medians reported
            pulse_rates.append(asyncio.run(_timed(pulse_notifications(flood_port))))
            kana_rates.append(asyncio.run(_timed(kana_notifications(kana_port, flood))))
    pulse_rate, kana_rate = statistics.median(pulse_rates), statistics.median(kana_rates)
    ws_best = max(medians[f"ws-{n}"]["calls_per_s"] for n in (100, 1000))
    http_rate = medians["http-50"]["calls_per_s"]
    return {
        "mode": "quick" if quick else "full",
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {multiprocessing.cpu_count()} cores",
        "calls": medians,
        "rounds": rounds,
        "notifications": {
            "frames": flood,
            "pulse_per_s": round(pulse_rate), "pulse_mean_bytes": round(pulse_bytes),
            "kana_every_item_per_s": round(kana_rate),
            "kana_mean_bytes": round(statistics.fmean(
                len(stream_server.frame(m)) for m in stream_server.mix())),
            "runs_pulse": [round(r) for r in pulse_rates],
            "runs_kana": [round(r) for r in kana_rates],
        },
        "floors": {
            "ws_pipelined_vs_http": round(ws_best / http_rate, 2),
            "ws_pipelined_vs_http_ok": ws_best >= 2 * http_rate,
            "notifications_vs_kana": round(pulse_rate / kana_rate, 2),
            "notifications_vs_kana_ok": pulse_rate >= 0.8 * kana_rate,
        },
    }


def measure(quick: bool) -> dict[str, Any]:
    """Calls/s over one WebSocket (the better of 100 and 1,000 in flight) and over HTTP, the
    p99 round trip of a lone call, typed notifications/s."""
    outcome = main(argparse.Namespace(quick=quick, rounds=3))
    calls = outcome["calls"]
    return {
        "pulse.calls_per_s_ws": max(calls[f"ws-{n}"]["calls_per_s"] for n in (100, 1000)),
        "pulse.calls_per_s_http": calls["http-50"]["calls_per_s"],
        "pulse.p99_rtt_us": round(calls["ws-1"]["p99_ms"] * 1000, 1),
        "pulse.notifications_per_s": outcome["notifications"]["pulse_per_s"],
        "pulse.detail": outcome,
    }


def report(outcome: dict[str, Any]) -> None:
    print(f"Pulse client ({outcome['mode']}, Python {outcome['python']}, "
          f"{outcome['machine']}, median of {outcome['rounds']} round(s))\n")
    print(f"{'calls (public/get_index_price)':<34}{'calls/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for name, run in outcome["calls"].items():
        label = (f"WebSocket, {run['in_flight']} in flight" if name.startswith("ws")
                 else f"HTTP, {run['in_flight']} concurrent")
        print(f"  {label:<32}{run['calls_per_s']:>10,}{run['p50_ms']:>10.2f}"
              f"{run['p99_ms']:>10.2f}")
    n = outcome["notifications"]
    print(f"\ntyped notifications to async for, every item ({n['frames']:,} frames)")
    print(f"  Pulse mix   {n['pulse_per_s']:>10,}/s  (~{n['pulse_mean_bytes']} B per frame)")
    print(f"  Kana stream {n['kana_every_item_per_s']:>10,}/s  (~{n['kana_mean_bytes']} B per "
          "frame)")
    f = outcome["floors"]
    print(f"\nfloors: WebSocket pipelined / HTTP = {f['ws_pipelined_vs_http']}x (>= 2: "
          f"{'met' if f['ws_pipelined_vs_http_ok'] else 'NOT met'}); Pulse / Kana "
          f"notifications = {f['notifications_vs_kana']}x (>= 0.8: "
          f"{'met' if f['notifications_vs_kana_ok'] else 'NOT met'})")


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="reduced counts, one round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds in full mode")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    outcome = main(args)
    report(outcome)
    RESULTS.mkdir(exist_ok=True)
    with contextlib.suppress(OSError):
        (RESULTS / "pulse_rpc.json").write_text(json.dumps(outcome, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(cli())
