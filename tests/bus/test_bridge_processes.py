"""One bridge process, consumer processes, a real nats-server: every event once, the latest
snapshot, gaps and resubscription across bridge and server restarts, late joiners, and a
slow consumer that holds nobody back."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from kana_async.models import normalize_address
from kana_async.sim import Simulator
from kana_async.stream import ReconnectPolicy, StreamMux, Subscription
from tests.bus.consumer_process import digest
from tests.bus.nats_server import NatsServer

ROOT = Path(__file__).resolve().parents[2]
MARKET = 1338
WALLETS = ("0x" + "d1" * 32, "0x" + "d2" * 32)
FAST = ReconnectPolicy(initial_delay=0.005, max_delay=0.02, jitter=0.0)


class Process:
    """A child process whose stdout lines are collected as JSON (or text) as they come."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[Any] = []
        assert proc.stdout is not None
        self._reader = asyncio.ensure_future(self._read(proc.stdout))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            text = line.decode().strip()
            try:
                self.lines.append(json.loads(text))
            except ValueError:
                self.lines.append(text)

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")

    async def stop(self) -> None:
        if self.proc.returncode is None:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except asyncio.TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        await asyncio.wait_for(self._reader, 5)

    async def kill(self) -> None:
        self.proc.kill()
        await self.proc.wait()
        await asyncio.wait_for(self._reader, 5)

    def items(self, topic: str, key: str) -> list[str]:
        return [line["item"] for line in self.lines if isinstance(line, dict)
                and line.get("topic") == topic and line.get("key") == key and "item" in line]

    def snapshots(self, topic: str, key: str) -> list[str]:
        return [line["snapshot"] for line in self.lines if isinstance(line, dict)
                and line.get("topic") == topic and line.get("key") == key
                and "snapshot" in line]

    def gaps(self) -> int:
        return sum(1 for line in self.lines if isinstance(line, dict) and line.get("gap"))


async def spawn(*args: str) -> Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, cwd=ROOT, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    return Process(proc)


async def until(condition: Any, what: str, timeout: float = 20.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not in time: {what}")


@asynccontextmanager
async def collected(mux: StreamMux, specs: list[tuple[str, str]]
                    ) -> AsyncIterator[dict[tuple[str, str], list[str]]]:
    """The direct stream's items per (topic, key): the truth the consumers are held to."""
    seen: dict[tuple[str, str], list[str]] = {spec: [] for spec in specs}

    async def read(sub: Subscription[Any], into: list[str]) -> None:
        async for item in sub:
            levels = getattr(item, "bids", None)
            into.append(digest(item if levels is None else [item.bids, item.asks]))

    tasks = []
    for topic, key in specs:
        sub = (mux.subscribe(topic, market_id=key) if topic == "orderbook"
               else mux.subscribe(topic, address=key))
        tasks.append(asyncio.ensure_future(read(sub, seen[(topic, key)])))
    try:
        yield seen
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_one_bridge_four_consumer_processes_through_restarts() -> None:
    async with AsyncExitStack() as stack:
        sim = await stack.enter_async_context(Simulator(seed=5, step_interval=None))
        server = stack.enter_context(NatsServer())
        for wallet in WALLETS:
            sim.engine.ensure_wallet(wallet)
            sim.engine.deposit(wallet, 1_000 * 10**6)
        a, b = (normalize_address(sim.engine.profile_address(w)) for w in WALLETS)
        events = [("live_order_history", a), ("live_order_history", b)]
        snapshots = [("orderbook", str(MARKET)), ("open_orders", a)]
        specs = [f"{topic}:{key}" for topic, key in events + snapshots]
        assert sim.ws_url is not None
        bridge_args = ["-m", "kana_async.cli", "bridge", "--nats", server.url, "--network",
                       "local", "--rest-url", str(sim.rest_url), "--ws-url", sim.ws_url,
                       "--node-url", str(sim.node_url)]
        processes: list[Process] = []

        async def stop_all() -> None:
            for process in processes:
                await process.stop()

        stack.push_async_callback(stop_all)
        bridge = await spawn(*bridge_args)
        processes.append(bridge)
        await until(lambda: any("publishing" in str(line) for line in bridge.lines), "bridge")
        consumers = [await spawn("tests/bus/consumer_process.py", server.url, *specs,
                                 *(["--hold"] if index == 3 else [])) for index in range(4)]
        processes.extend(consumers)
        fast, slow = consumers[:3], consumers[3]
        await until(lambda: all({"ready": True} in c.lines for c in consumers), "consumers")
        http = await stack.enter_async_context(aiohttp.ClientSession())
        direct = await stack.enter_async_context(StreamMux(http, sim.ws_url, reconnect=FAST))
        truth = await stack.enter_async_context(collected(direct, events + snapshots))
        # The bridge streams each key once; the direct stream is the other subscriber.
        await until(lambda: all(sim.ws.subscribers(t, k) == 2 for t, k in events),
                    "upstream keys")

        def trade(count: int) -> None:
            """Orders resting far below the market: events, a changing book and open orders."""
            for n in range(count):
                wallet = WALLETS[n % 2]
                sim.engine.place_limit_order(wallet, MARKET, True, False, 500,
                                             1000 + 10 * len(placed), 2, 0, 0, 0)
                placed.append(n)

        placed: list[int] = []

        def caught_up(consumer: Process) -> bool:
            return all(sorted(consumer.items(*spec)) == sorted(truth[spec]) for spec in events)

        def no_duplicates(consumer: Process) -> bool:
            return all(len(set(consumer.items(*spec))) == len(consumer.items(*spec))
                       for spec in events)

        # Every event once, in every fast consumer, while the slow one reads nothing.
        trade(12)
        await until(lambda: all(len(truth[spec]) > 0 for spec in events), "direct events")
        await until(lambda: all(caught_up(c) for c in fast), "fast consumers")
        assert slow.items(*events[0]) == []
        book = ("orderbook", str(MARKET))
        await until(lambda: all(c.snapshots(*book)[-1:] == truth[book][-1:] for c in fast),
                    "latest book")
        slow.send("go")
        await until(lambda: caught_up(slow), "slow consumer")
        assert all(no_duplicates(c) for c in consumers)

        # A late joiner gets the current open orders at once (nothing trades meanwhile).
        position = ("open_orders", a)
        late = await spawn("tests/bus/consumer_process.py", server.url, f"open_orders:{a}")
        processes.append(late)
        await until(lambda: late.snapshots(*position)[-1:] == truth[position][-1:],
                    "late joiner")

        # The bridge dies and comes back: a gap for every consumer, keys asked for again.
        await bridge.kill()
        bridge = await spawn(*bridge_args)
        processes.append(bridge)
        await until(lambda: all(c.gaps() >= 1 for c in consumers), "gaps after the bridge")
        await until(lambda: all(sim.ws.subscribers(t, k) == 2 for t, k in events),
                    "resubscribed upstream")
        trade(6)
        await until(lambda: all(caught_up(c) for c in consumers), "after the bridge restart")

        # The NATS server dies and comes back: gaps, nothing lost, nothing twice.
        gaps = [c.gaps() for c in consumers]
        server.restart()
        await until(lambda: all(c.gaps() > g for c, g in zip(consumers, gaps, strict=True)),
                    "gaps after the server")
        trade(6)
        await until(lambda: all(caught_up(c) for c in consumers), "after the server restart")
        assert all(no_duplicates(c) for c in consumers)
