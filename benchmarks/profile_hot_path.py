"""Where the time goes on the two hot paths, by pyinstrument: stream delivery and order placement.

* stream: ``StreamMux`` delivering every item (``overflow="error"``) of the stream benchmark's
  mix (``stream_server.py`` in its own process) to ``async for`` consumers;
* orders: ``Trader.place_limit_order`` end to end against the embedded simulator (client and
  simulator share this process, so the simulator's own frames show too: read the
  ``kana_async`` frames outside ``kana_async/sim``).

Prints the top hot spots of each (own time per function, the simulator's and the event loop's
frames included, so the share of the SDK is visible) and, with ``--html``, writes the full
pyinstrument trees.

Run: ``python benchmarks/profile_hot_path.py [--count 60000] [--orders 400] [--top 15]``
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import secrets
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
from pyinstrument import Profiler
from pyinstrument.frame import Frame

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stream_server
import stream_throughput
from order_pipeline import APT, _serve

from kana_async.rest.kana import KanaRest
from kana_async.rest.session import RestSession
from kana_async.sim.aptos_node import make_node_app
from kana_async.sim.engine import Engine
from kana_async.sim.faults import Faults
from kana_async.sim.kana_rest import make_rest_app
from kana_async.trade.node import NodeClient
from kana_async.trade.signer import Signer
from kana_async.trade.trader import Trader

RESULTS = Path(__file__).parent / "results"


def _own_times(frame: Frame | None, totals: dict[str, float]) -> None:
    """Adds each frame's own time (not its children's) under ``function (file:line)``."""
    if frame is None:
        return
    stack = [frame]
    while stack:
        node = stack.pop()
        if not node.is_synthetic:
            own = node.total_self_time
            if own > 0:
                path = node.file_path_short or node.file_path or "?"
                name = f"{node.class_name}.{node.function}" if node.class_name else node.function
                totals[f"{name} ({path}:{node.line_no})"] += own
        stack.extend(node.children)


def hot_spots(profiler: Profiler, top: int) -> list[tuple[str, float]]:
    """The ``top`` functions by own time, as (name, share of the profiled time)."""
    session = profiler.last_session
    if session is None:
        return []
    totals: dict[str, float] = defaultdict(float)
    _own_times(session.root_frame(), totals)
    whole = sum(totals.values()) or 1.0
    ranked = sorted(totals.items(), key=lambda item: item[1], reverse=True)[:top]
    return [(name, seconds / whole) for name, seconds in ranked]


async def _stream(count: int) -> None:
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=stream_server.serve, args=(child,), daemon=True)
    server.start()
    try:
        port = parent.recv()
        async with aiohttp.ClientSession() as http:
            run = stream_throughput.Run()
            await asyncio.wait_for(
                stream_throughput.sdk(http, stream_throughput.url(port, count), run, False,
                                      every_item=True),
                300,
            )
    finally:
        server.terminate()
        server.join(5)


async def _orders(orders: int) -> None:
    engine = Engine(seed=0, market_maker=None)
    faults = Faults()
    rest_runner, rest_url = await _serve(make_rest_app(engine, faults))
    node_runner, node_url = await _serve(make_node_app(engine, faults))
    try:
        async with aiohttp.ClientSession() as http:
            session = RestSession(rest_url, api_key="benchmark", session=http)
            trader = Trader(KanaRest(session), NodeClient(http, node_url + "/v1"),
                            Signer(secrets.token_bytes(32)), max_in_flight=10)
            await trader.deposit("50000")
            gate = asyncio.Semaphore(10)

            async def one(i: int) -> None:
                async with gate:
                    price = Decimal("3") + Decimal("0.001") * (i % 1000)
                    await trader.place_limit_order(APT, True, False, "0.5", price, 2)

            await asyncio.gather(*(one(i) for i in range(orders)))
            await session.close()
    finally:
        await node_runner.cleanup()
        await rest_runner.cleanup()


def profile(name: str, coro: Any, top: int, html: bool) -> list[tuple[str, float]]:
    profiler = Profiler(interval=0.0002, async_mode="disabled")
    profiler.start()
    asyncio.run(coro)
    profiler.stop()
    if html:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"profile_{name}.html").write_text(profiler.output_html())
    return hot_spots(profiler, top)


def measure(quick: bool) -> dict[str, Any]:
    """The top hot spots of both paths (detail only; no figure of merit)."""
    count, orders, top = (20_000, 100, 10) if quick else (60_000, 400, 15)
    return {
        "profile.detail": {
            "stream": profile("stream", _stream(count), top, False),
            "orders": profile("orders", _orders(orders), top, False),
        }
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=60_000, help="stream frames")
    parser.add_argument("--orders", type=int, default=400, help="orders placed")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--html", action="store_true", help="write the trees as HTML")
    parser.add_argument("--only", choices=("stream", "orders"))
    args = parser.parse_args()
    for name in ("stream", "orders"):
        if args.only and name != args.only:
            continue
        print(f"\n{name}: top {args.top} by own time")
        coro = _stream(args.count) if name == "stream" else _orders(args.orders)
        for spot, share in profile(name, coro, args.top, args.html):
            print(f"  {share:6.1%}  {spot}")


if __name__ == "__main__":
    main()
