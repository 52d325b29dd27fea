"""WebSocket libraries and event loops side by side: what each delivers raw, and what the SDK
delivers on top of it, measured in one interleaved run.

The server is ``stream_server.py``'s (its own process, the same ~1.1 KB Kana mix over
127.0.0.1). For each transport (aiohttp, picows) and each event loop (asyncio's, uvloop's),
three clients:

* ``raw``: the library's own receive loop, one ``bytes`` per frame and nothing else (what
  the socket can give: aiohttp's ``ws.receive()``; picows' ``on_ws_frame`` callback);
* ``seam``: ``receive()`` on the SDK's connector socket (``AiohttpConnector`` /
  ``PicowsConnector``): what the stream's reader gets, so ``seam / raw`` is the adapter's cost;
* ``sdk-all``: ``StreamMux(..., transport=...)`` delivering every item typed to ``async for``
  consumers (``overflow="error"``, a large buffer), as ``stream_throughput.py``'s ``sdk-all``.

Each run gets a fresh event loop of its kind (``asyncio.Runner(loop_factory=...)``). The
order rotates every round so that drift in machine load hits every variant alike; each
variant runs once untimed first; medians and medians of same-round ratios are reported. A
transport or loop that is not installed is left out (and said so in the detail).

Run: ``python benchmarks/transports.py [--quick] [--count 50000] [--rounds 5]``.
Results go to ``benchmarks/results/transports.json``; ``measure(quick)`` gives the flat
``transports.*`` figures ``run_all.py`` collects.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.util
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stream_server

from kana_async.models import Trade
from kana_async.stream import AiohttpConnector, StreamMux, Subscription
from kana_async.stream.transport import WebSocket

RESULTS = Path(__file__).parent / "results" / "transports.json"
SUBS = len(stream_server.SUBSCRIPTIONS)
END = stream_server.end_message()
TRANSPORTS = ("aiohttp", "picows")
LOOPS = ("asyncio", "uvloop")
CLIENTS = ("raw", "seam", "sdk-all")
#: No run may take longer than this (a stuck client fails the run, it does not hang it).
RUN_TIMEOUT = 120.0


def available(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def url(port: int, count: int) -> str:
    return f"ws://127.0.0.1:{port}/ws/?count={count}&rate=0&subs={SUBS}"


def _subscribe_texts() -> list[str]:
    return [json.dumps({"topic": topic, **key}) for topic, key in stream_server.SUBSCRIPTIONS]


class Count:
    """Frames (or items) counted from the first one to the end marker."""

    def __init__(self) -> None:
        self.items = 0
        self.first = 0.0
        self.last = 0.0

    def one(self) -> None:
        if not self.items:
            self.first = time.perf_counter()
        self.items += 1

    def rate(self) -> float:
        took = self.last - self.first
        return self.items / took if took > 0 and self.items > 1 else 0.0


# -- raw: the libraries' own receive loops --------------------------------------------------------

async def raw_aiohttp(target: str, count: Count) -> None:
    end, end_size = END, len(END)
    async with aiohttp.ClientSession() as http, \
            http.ws_connect(target, decode_text=False, autoping=True) as ws:
        for text in _subscribe_texts():
            await ws.send_str(text)
        while True:
            msg = await ws.receive()
            if msg.type is not aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"the feed ended early: {msg.type.name}")
            data = msg.data
            if len(data) == end_size and data == end:
                count.last = time.perf_counter()
                return
            count.one()


async def raw_picows(target: str, count: Count) -> None:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

    end, end_size = END, len(END)
    done = asyncio.get_running_loop().create_future()

    class Listener(WSListener):
        def on_ws_connected(self, transport: WSTransport) -> None:
            for text in _subscribe_texts():
                transport.send(WSMsgType.TEXT, text.encode())

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type is not WSMsgType.TEXT:
                return
            data = frame.get_payload_as_bytes()  # an owned copy, as aiohttp hands out
            if len(data) == end_size and data == end:
                count.last = time.perf_counter()
                if not done.done():
                    done.set_result(None)
                return
            count.one()

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            if not done.done():
                done.set_exception(RuntimeError("the feed ended early"))

    transport, _ = await ws_connect(Listener, target)
    try:
        await done
    finally:
        transport.send_close()
        transport.disconnect()
        with contextlib.suppress(Exception):
            await transport.wait_disconnected()


# -- seam: the SDK's connector socket, as the stream's reader uses it ------------------------------

async def _seam(ws: WebSocket, count: Count) -> None:
    end, end_size = END, len(END)
    try:
        for text in _subscribe_texts():
            await ws.send(text)
        receive = ws.receive
        while True:
            data = await receive()
            if data is None:
                raise RuntimeError("the feed ended early")
            if len(data) == end_size and data == end:
                count.last = time.perf_counter()
                return
            count.one()
    finally:
        await ws.close()


async def seam_aiohttp(target: str, count: Count) -> None:
    async with aiohttp.ClientSession() as http:
        await _seam(await AiohttpConnector(http)(target), count)


async def seam_picows(target: str, count: Count) -> None:
    from kana_async.stream import PicowsConnector

    await _seam(await PicowsConnector()(target), count)


# -- sdk-all: every item typed to async for consumers ----------------------------------------------

async def sdk_all(target: str, count: Count, transport: str) -> None:
    async with contextlib.AsyncExitStack() as stack:
        http = None
        if transport == "aiohttp":
            http = await stack.enter_async_context(aiohttp.ClientSession())
        mux = await stack.enter_async_context(
            StreamMux(http, target, transport=transport, send_interval=0))
        subs: list[Subscription[Any]] = [
            mux.subscribe(topic, **key, overflow="error", buffer_size=1_000_000)
            for topic, key in stream_server.SUBSCRIPTIONS
        ]
        finished = asyncio.Event()

        async def consume(sub: Subscription[Any]) -> None:
            async for item in sub:
                if isinstance(item, Trade) and item.trade_id == "END":
                    count.last = time.perf_counter()
                    finished.set()
                    return
                count.one()

        tasks = [asyncio.create_task(consume(sub)) for sub in subs]
        try:
            await finished.wait()
            # Items already buffered for other consumers count: wait for them to be read.
            for _ in range(1_000_000):
                if not any(s.stats.buffered for s in subs):
                    break
                await asyncio.sleep(0)
            count.last = time.perf_counter()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


Client = Callable[[str, Count], Awaitable[None]]

CLIENT_FUNCS: dict[tuple[str, str], Client] = {
    ("raw", "aiohttp"): raw_aiohttp,
    ("raw", "picows"): raw_picows,
    ("seam", "aiohttp"): seam_aiohttp,
    ("seam", "picows"): seam_picows,
    ("sdk-all", "aiohttp"): lambda t, c: sdk_all(t, c, "aiohttp"),
    ("sdk-all", "picows"): lambda t, c: sdk_all(t, c, "picows"),
}


def loop_factory(loop: str) -> Callable[[], asyncio.AbstractEventLoop]:
    if loop == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def run_once(client: str, transport: str, loop: str, target: str) -> float:
    """One client on a fresh event loop of its kind; its rate in msg/s."""
    count = Count()
    func = CLIENT_FUNCS[(client, transport)]

    async def main() -> None:
        await asyncio.wait_for(func(target, count), RUN_TIMEOUT)

    gc.collect()
    runner_class: Any = getattr(asyncio, "Runner", None)  # Python 3.11+
    if runner_class is not None:
        with runner_class(loop_factory=loop_factory(loop)) as runner:
            runner.run(main())
    else:  # Python 3.10: a loop of the kind for this run only
        event_loop = loop_factory(loop)()
        try:
            event_loop.run_until_complete(main())
        finally:
            event_loop.close()
    return count.rate()


def variants() -> tuple[list[tuple[str, str, str]], list[str]]:
    """Every (client, transport, loop) this machine can run, and what is left out."""
    transports = [t for t in TRANSPORTS if t == "aiohttp" or available(t)]
    loops = [lp for lp in LOOPS if lp == "asyncio" or available(lp)]
    missing = [name for name in ("picows", "uvloop") if not available(name)]
    return [(c, t, lp) for lp in loops for t in transports for c in CLIENTS], missing


def key(client: str, transport: str, loop: str) -> str:
    return f"{client}/{transport}/{loop}"


def paired(rates: dict[str, list[float]], num: str, den: str, digits: int = 2) -> float | None:
    if num not in rates or den not in rates:
        return None
    ratios = [n / d for n, d in zip(rates[num], rates[den], strict=True) if d]
    return round(statistics.median(ratios), digits) if ratios else None


def bench(port: int, count: int, rounds: int) -> dict[str, Any]:
    runs, missing = variants()
    target = url(port, count)
    rates: dict[str, list[float]] = {key(*v): [] for v in runs}
    for variant in runs:  # warm-up, not counted: imports, decoders built once, caches
        run_once(*variant, url(port, 1_000))
    for r in range(rounds):
        shift = r % len(runs)
        for variant in runs[shift:] + runs[:shift]:
            rates[key(*variant)].append(round(run_once(*variant, target)))
    medians = {k: round(statistics.median(v)) for k, v in rates.items()}
    ratios: dict[str, float | None] = {}
    for loop in LOOPS:
        for client in CLIENTS:
            ratios[f"{client.replace('-', '_')}_picows_vs_aiohttp_{loop}"] = paired(
                rates, key(client, "picows", loop), key(client, "aiohttp", loop))
        for transport in TRANSPORTS:
            ratios[f"seam_vs_raw_{transport}_{loop}"] = paired(
                rates, key("seam", transport, loop), key("raw", transport, loop))
            ratios[f"sdk_all_vs_raw_{transport}_{loop}"] = paired(
                rates, key("sdk-all", transport, loop), key("raw", transport, loop), 3)
    for transport in TRANSPORTS:
        for client in CLIENTS:
            ratios[f"{client.replace('-', '_')}_uvloop_vs_asyncio_{transport}"] = paired(
                rates, key(client, transport, "uvloop"), key(client, transport, "asyncio"))
    ratios["sdk_all_fastest_vs_default"] = paired(
        rates, key("sdk-all", "picows", "uvloop"), key("sdk-all", "aiohttp", "asyncio"))
    return {
        "settings": {"count": count, "rounds": rounds,
                     "average_message_bytes": round(
                         sum(map(len, stream_server.mix())) / len(stream_server.mix()))},
        "versions": _versions(),
        "left_out": missing,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "msgs_per_s": medians,
        "rounds_msgs_per_s": rates,
        "ratios": {k: v for k, v in ratios.items() if v is not None},
    }


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("aiohttp", "picows", "uvloop"):
        with contextlib.suppress(PackageNotFoundError):
            found[name] = version(name)
    return found


def run(count: int, rounds: int) -> dict[str, Any]:
    """Start the server process, run :func:`bench` against it, stop the server."""
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=stream_server.serve, args=(child,), daemon=True)
    server.start()
    try:
        if not parent.poll(60):
            raise RuntimeError("the stream benchmark server did not start")
        port = parent.recv()
        return bench(port, count, rounds)
    finally:
        with contextlib.suppress(OSError):
            parent.send("stop")
        server.join(timeout=10)
        if server.is_alive():
            server.terminate()
            server.join()


def flatten(result: dict[str, Any]) -> dict[str, Any]:
    """``run_all.py``'s figures: ``transports.<client>.<transport>.<loop>_msgs_per_s`` as
    plain numbers, the same-round ratios, and the whole result as detail."""
    flat: dict[str, Any] = {}
    for name, rate in result["msgs_per_s"].items():
        client, transport, loop = name.split("/")
        flat[f"transports.{client.replace('-', '_')}_{transport}_{loop}_msgs_per_s"] = rate
    for name, ratio in result["ratios"].items():
        flat[f"transports.{name}"] = ratio
    flat["transports.detail"] = result
    return flat


def settings(quick: bool) -> tuple[int, int]:
    """(frames per run, rounds): a quick run stays well under a minute on 2 busy cores."""
    return (10_000, 1) if quick else (50_000, 5)


def measure(quick: bool) -> dict[str, Any]:
    """Every transport x loop x client in one interleaved run; the flat figures."""
    return flatten(run(*settings(quick)))


def report(result: dict[str, Any]) -> None:
    rates = result["msgs_per_s"]
    print(f"\nmessage mix: {result['settings']['average_message_bytes']} bytes on average; "
          f"{result['settings']['count']:,} frames x {result['settings']['rounds']} round(s)")
    print(f"{'client':<10}{'transport':<10}{'loop':<9}{'msg/s (median)':>16}"
          f"{'vs aiohttp/asyncio':>20}")
    for name, rate in rates.items():
        client, transport, loop = name.split("/")
        base = rates.get(f"{client}/aiohttp/asyncio") or 0
        ratio = f"{rate / base:.2f}" if base else "-"
        print(f"{client:<10}{transport:<10}{loop:<9}{rate:>16,}{ratio:>20}")
    print("\nsame-round ratios (medians):")
    for name, ratio in result["ratios"].items():
        print(f"  {name}: {ratio}")
    if result["left_out"]:
        print(f"not installed, left out: {', '.join(result['left_out'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (CI)")
    parser.add_argument("--count", type=int, default=None, help="frames per run")
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    count, rounds = settings(args.quick)
    result = run(args.count or count, args.rounds or rounds)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    report(result)


if __name__ == "__main__":
    main()
