"""What one simulator engine step costs: the market maker on 4 markets, with and without users.

    python benchmarks/sim_engine.py [--steps 1000] [--rounds 5]

Two rows, each the median of ``--rounds`` runs on a fresh engine (seeded, with a clock that
moves one second a step, so every run does the same work; funding falls due every 60 steps):

* ``market maker``: ``engine.step()`` only (quotes, flow trades, triggers, liquidations,
  funding) on the 4 default markets;
* ``with users``: each step also 4 users each place a market order and a limit order on one
  market, and one user's order, trade and position snapshots are read as the indexer server
  reads them for a push (``sim.indexer.snapshot``).

Reported: µs of CPU per step (``time.process_time``, less sensitive to other load than wall
time). Results go to ``benchmarks/results/sim_engine.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

from kana_async.sim.engine import Engine, EngineAbort
from kana_async.sim.indexer import snapshot

RESULTS = Path(__file__).parent / "results" / "sim_engine.json"
USERS = [f"0x{n:064x}" for n in range(1, 5)]
T0 = 1_700_000_000.0


def _run(steps: int, *, users: bool) -> float:
    """CPU seconds for ``steps`` steps of a fresh engine."""
    now = [T0]
    engine = Engine(seed=7, clock=lambda: now[0])
    markets = list(engine.markets)
    profiles = [engine.profile_address(w) for w in USERS]
    for wallet in USERS:
        engine.deposit(wallet, 50_000 * 10**6)
    engine.step(now[0])
    start = time.process_time()
    for n in range(steps):
        now[0] += 1.0
        engine.step(now[0])
        if not users:
            continue
        for i, wallet in enumerate(USERS):
            market = markets[(n + i) % len(markets)]
            spec = engine.markets[market]
            last = engine.last_price(market)
            if last is None:
                continue
            side = (n + i) % 2 == 0
            try:
                engine.place_market_order(wallet, market, side, False, spec.min_lots, 5, 0, 0)
                ticks = spec.ticks(last) * (98 if side else 102) // 100
                engine.place_limit_order(wallet, market, side, False, spec.min_lots,
                                         max(ticks, 1), 5, 0, 0, 0)
            except EngineAbort:
                pass
        for topic in ("order_history", "trade_history", "positions"):
            snapshot(engine, topic, profiles[0])
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, object] = {"python": platform.python_version(), "steps": args.steps}
    for name, users in (("market maker", False), ("with users", True)):
        runs = [_run(args.steps, users=users) for _ in range(args.rounds)]
        per_step = statistics.median(runs) / args.steps * 1e6
        results[name] = {"us_per_step": round(per_step, 1), "runs_s": [round(r, 3) for r in runs]}
        print(f"{name:>14}: {per_step:8.1f} µs CPU per step "
              f"({args.steps} steps, median of {args.rounds})")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
