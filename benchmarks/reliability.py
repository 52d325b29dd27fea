"""Reliability under injected faults, on 127.0.0.1: what the client does, in counts.

    python benchmarks/reliability.py [--quick] [--only SCENARIO ...] [--connector picows]

Each scenario runs the embedded simulator behind :class:`kana_async.sim.proxy.FaultProxy`
(or the simulator's own fault controls) and records what happened: subscriptions lost,
duplicates, gaps announced, recovery times, error classes, orders per intent, in-doubt
hashes, secrets seen in logs. ``--quick`` (CI) runs a reduced count of each. ``--connector``
picks the stream scenarios' WebSocket library (``aiohttp``, the default, or ``picows``).

Writes ``benchmarks/results/reliability.json`` and prints a markdown table
(fault | figure | command). Exits 1 when an invariant is violated (a duplicate order, an
executed order not tracked, a lost or misattributed item, an escaping exception, an unbounded
buffer, a stall not noticed in time, a secret in logs, the API key sent elsewhere, TLS not
verified); report-only figures never fail it. ``RELIABILITY_REPORT_ONLY=1`` turns invariant
failures into warnings. A row the environment cannot run (no ``openssl`` to make a
certificate) reports ``unsupported``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import reliability_orders
import reliability_stream
from reliability_common import Row, command

from kana_async.stream.transport import TRANSPORTS

RESULTS = Path(__file__).parent / "results" / "reliability.json"

Scenario = Callable[[bool], Coroutine[Any, Any, list[Row]]]

SCENARIOS: dict[str, Scenario] = {
    "storm": reliability_stream.reconnect_storm,
    "stalls": reliability_stream.stalls,
    "hostile": reliability_stream.hostile,
    "slow": reliability_stream.slow_consumer,
    "rest": reliability_orders.rest_faults,
    "node": reliability_orders.node_faults,
    "trading": reliability_orders.trading,
    "secrets": reliability_orders.secrets_scenario,
    "tls": reliability_orders.tls,
}


def run_one(name: str, quick: bool) -> tuple[list[Row], float]:
    """One scenario on a fresh event loop; a scenario that crashes is an ``error`` row."""
    started = time.monotonic()
    rows: list[Row]
    try:
        rows = asyncio.run(SCENARIOS[name](quick))
    except Exception as exc:
        row = Row(name, f"{name}: scenario did not finish", status="error")
        row.notes.append("".join(traceback.format_exception_only(exc)).strip()[:300])
        row.check("scenario finishes", False, f"{type(exc).__name__}: {exc}"[:200])
        rows = [row]
    return rows, time.monotonic() - started


def figure_text(row: Row) -> str:
    parts = []
    for key, value in row.figures.items():
        if isinstance(value, dict):
            inner = ", ".join(f"{k} {v}" for k, v in value.items())
            value = f"{{{inner}}}"
        parts.append(f"{key} {value}")
    text = "; ".join(parts)
    if row.status != "measured":
        text = f"**{row.status}** {text}".strip()
    failed = row.failed
    if failed:
        text += " — **VIOLATED:** " + "; ".join(f"{c.name} ({c.detail})" for c in failed)
    return text.replace("|", "/")


def table(rows: list[Row]) -> str:
    lines = ["| fault | figure | command |", "|---|---|---|"]
    for row in rows:
        fault = row.fault.replace("|", "/")
        lines.append(f"| {fault} | {figure_text(row)} | `{command(row.scenario)}` |")
    return "\n".join(lines)


def commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=True, cwd=Path(__file__).parent, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True,
                               cwd=Path(__file__).parent, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() + ("+changes" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="reduced counts (CI)")
    parser.add_argument("--only", nargs="+", choices=sorted(SCENARIOS), default=None,
                        help="run these scenarios only")
    parser.add_argument("--connector", choices=TRANSPORTS, default="aiohttp",
                        help="the stream scenarios' WebSocket library (StreamOptions.transport)")
    parser.add_argument("--out", type=Path, default=None,
                        help="default: results/reliability.json, reliability-picows.json, ...")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = RESULTS if args.connector == "aiohttp" else \
            RESULTS.with_name(f"reliability-{args.connector}.json")
    report_only = os.environ.get("RELIABILITY_REPORT_ONLY") == "1"
    names = args.only or list(SCENARIOS)
    print(f"== reliability ({'quick' if args.quick else 'full'}, {args.connector}): "
          f"{', '.join(names)}",
          file=sys.stderr, flush=True)
    rows: list[Row] = []
    durations: dict[str, float] = {}
    default_transport = reliability_stream.TRANSPORT
    reliability_stream.TRANSPORT = args.connector
    try:
        for name in names:
            print(f"== {name}", file=sys.stderr, flush=True)
            got, took = run_one(name, args.quick)
            rows.extend(got)
            durations[name] = round(took, 1)
    finally:
        reliability_stream.TRANSPORT = default_transport
    violations = [(row, check) for row in rows for check in row.failed]
    result: dict[str, Any] = {
        "commit": commit(),
        "mode": "quick" if args.quick else "full",
        "connector": args.connector,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "seconds": durations,
        "rows": [
            {
                "scenario": row.scenario,
                "fault": row.fault,
                "status": row.status,
                "figures": row.figures,
                "invariants": [{"name": c.name, "ok": c.ok, "detail": c.detail}
                               for c in row.checks],
                "notes": row.notes,
            }
            for row in rows
        ],
        "violations": len(violations),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(table(rows))
    print(f"\n{result['mode']} run on {args.connector} at {result['commit']}; "
          f"seconds per scenario: {durations}")
    notes = dict.fromkeys(f"note ({row.scenario}): {note}" for row in rows for note in row.notes)
    for note in notes:
        print(note)
    if violations:
        word = "WARNING" if report_only else "FAILED"
        print(f"\n{word}: {len(violations)} invariant(s) violated:", file=sys.stderr)
        for row, check in violations:
            print(f"  {row.scenario}: {row.fault}: {check.name}: {check.detail}",
                  file=sys.stderr)
        if report_only:
            print("(RELIABILITY_REPORT_ONLY=1: reported, not failed)", file=sys.stderr)
            return 0
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
