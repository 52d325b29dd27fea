"""Every benchmark in one run: the figures, the targets met or not, tables and charts.

Each benchmark module exposes ``measure(quick) -> dict``: flat figures named
``<area>.<figure>`` (plain numbers) and optional ``<area>.detail`` entries. This script runs
them one after the other (REST overhead, stream throughput and latency, scaling, order
pipeline, Pulse, and, when their modules are present, decode costs and transports), then
writes:

* ``benchmarks/results.json``: every figure, its detail, each target with pass/fail, and the
  run (machine, commit, mode, seconds per benchmark);
* ``docs/benchmarks.md``: the tables, the targets and the charts;
* ``docs/benchmarks/*.png``: throughput by client, latency distribution, scaling curves.

``--quick`` (for CI) uses small counts and writes under ``benchmarks/results/quick/`` so that a
quick run never replaces the committed figures; it fails only when a benchmark crashes, never
because a target is missed on a slow machine. Ratios are what to compare: each is measured in
one run, interleaved; absolute rates depend on the machine.

Run: ``python benchmarks/run_all.py [--quick] [--only stream,rest] [--out DIR]``
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

Measure = Callable[[bool], dict[str, Any]]
Loader = Callable[[str], "Measure | None"]

#: (area, module, required): the run order. Optional modules may be absent from a checkout.
BENCHMARKS: tuple[tuple[str, str, bool], ...] = (
    ("rest", "rest_overhead", True),
    ("stream", "stream_throughput", True),
    ("scaling", "scaling", True),
    ("orders", "order_pipeline", True),
    ("pulse", "pulse_rpc", True),
    ("decode", "decode_costs", False),
    ("transports", "transports", False),
)

#: The figures every full run must produce.
REQUIRED_KEYS: tuple[str, ...] = (
    "stream.raw_msgs_per_s", "stream.decode_all_msgs_per_s", "stream.minimal_msgs_per_s",
    "stream.sdk_msgs_per_s", "stream.sdk_all_msgs_per_s", "stream.reference_msgs_per_s",
    "stream.sdk_vs_minimal", "stream.sdk_all_vs_raw", "stream.sdk_all_vs_decode_all",
    "stream.sdk_vs_reference", "stream.p50_latency_us", "stream.p99_latency_us",
    "stream.added_p99_us", "stream.subs100_vs_subs1", "stream.cpu_at_10k",
    "rest.sdk_vs_bare", "orders.client_cost_us", "orders.per_s_50_inflight",
    "pulse.calls_per_s_ws", "pulse.calls_per_s_http", "pulse.p99_rtt_us",
    "pulse.notifications_per_s",
)

DETAIL = "detail"


@dataclass(frozen=True)
class Target:
    """A bound on one figure: ``value >= bound`` or ``value <= bound``."""

    key: str
    op: str
    bound: float
    what: str

    def check(self, value: float | None) -> bool | None:
        """True or False; None when the figure is missing or not a finite number."""
        if value is None or not math.isfinite(value):
            return None
        return value >= self.bound if self.op == ">=" else value <= self.bound


TARGETS: tuple[Target, ...] = (
    Target("stream.sdk_all_vs_decode_all", ">=", 2.0,
           "SDK every-item typed delivery / decode-everything loop (Decimal)"),
    Target("stream.sdk_all_vs_raw", ">=", 0.5,
           "SDK every-item typed delivery / raw aiohttp receive"),
    Target("stream.sdk_vs_reference", ">=", 100.0, "SDK default / reference client"),
    Target("stream.subs100_vs_subs1", ">=", 0.9, "100 subscriptions / 1 (one connection)"),
    Target("stream.added_p99_us", "<=", 25.0,
           "SDK every-item: added p99 latency over the minimal loop at 10k msg/s (µs)"),
    Target("rest.sdk_vs_bare", "<=", 1.05, "REST: SDK time per request / bare aiohttp"),
)


# -- running -------------------------------------------------------------------------------------

def load(module: str) -> Measure | None:
    """The module's ``measure``; None when the module does not exist (an optional benchmark
    not in this checkout). Any other import error propagates: that is a crash."""
    try:
        imported = importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name == module:
            return None
        raise
    found: Measure | None = getattr(imported, "measure", None)
    if found is None:
        raise TypeError(f"benchmarks/{module}.py has no measure(quick) function")
    return found


def check_figures(area: str, figures: Mapping[str, Any]) -> None:
    """Every key is ``<area>.<name>`` (or another area's, e.g. scaling's ``stream.*``); every
    figure but ``*.detail`` is a plain number."""
    for key, value in figures.items():
        if not isinstance(key, str) or "." not in key:
            raise TypeError(f"{area}: a figure's name must be '<area>.<name>', got {key!r}")
        if key.endswith("." + DETAIL):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{area}: figure {key} must be a plain number, "
                            f"got a {type(value).__name__}")


def collect(selected: Iterable[str], quick: bool, loader: Loader = load,
            log: Callable[[str], None] = print) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the selected benchmarks in order: (figures, run information)."""
    wanted = set(selected)
    figures: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    skipped: list[str] = []
    for area, module, required in BENCHMARKS:
        if area not in wanted:
            continue
        measure = loader(module)
        if measure is None:
            if required:
                raise RuntimeError(f"benchmarks/{module}.py is missing")
            skipped.append(area)
            log(f"== {area}: benchmarks/{module}.py not present, skipped")
            continue
        log(f"== {area} ({module}.measure, {'quick' if quick else 'full'})")
        started = time.perf_counter()
        out = measure(quick)
        seconds[area] = round(time.perf_counter() - started, 1)
        check_figures(area, out)
        figures.update(out)
    return figures, {"seconds": seconds, "skipped": skipped}


def evaluate(figures: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each target beside the figure of this run, with pass/fail (None: not measured)."""
    rows = []
    for target in TARGETS:
        raw = figures.get(target.key)
        value = float(raw) if isinstance(raw, (int, float)) and not isinstance(raw, bool) \
            else None
        rows.append({"key": target.key, "what": target.what, "op": target.op,
                     "bound": target.bound, "value": value, "passed": target.check(value)})
    return rows


def missing(figures: Mapping[str, Any]) -> list[str]:
    return [key for key in REQUIRED_KEYS if key not in figures]


def machine() -> dict[str, Any]:
    commit = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True, timeout=10,
                                check=False).stdout.strip()
    return {"python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": platform.platform(), "cpus": os.cpu_count(), "commit": commit}


def results(figures: Mapping[str, Any], info: Mapping[str, Any], quick: bool) -> dict[str, Any]:
    """The content of ``results.json``: the figures at top level, then targets and the run."""
    return {
        **{k: figures[k] for k in sorted(figures) if not k.endswith("." + DETAIL)},
        **{k: figures[k] for k in sorted(figures) if k.endswith("." + DETAIL)},
        "targets": evaluate(figures),
        "run": {"mode": "quick" if quick else "full",
                "date": datetime.datetime.now(datetime.timezone.utc).strftime(
                    "%Y-%m-%d %H:%M UTC"),
                "machine": machine(), **info},
    }


# -- the report ----------------------------------------------------------------------------------

def fmt(value: Any) -> str:
    """A figure for a table: rates with separators, ratios and microseconds to 3 digits."""
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if value == int(value):
        return str(int(value))
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.3g}" if abs(value) < 100 \
        else f"{value:.0f}"


def verdict(passed: bool | None) -> str:
    return {True: "pass", False: "**FAIL**", None: "not measured"}[passed]


def table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    head = list(header)
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(fmt(c) if not isinstance(c, str) else c for c in row) + " |"
              for row in rows]
    return [*lines, ""]


STREAM_LABELS = {
    "raw": "raw aiohttp receive, no decode (the limit)",
    "decode-all": "decode-everything loop (envelope + payloads, Decimal)",
    "minimal": "minimal hand-written loop (decode, route, queues)",
    "sdk": "SDK `async for`, default policies",
    "sdk-all": "SDK `async for`, every item delivered",
    "reference": "reference client (websocket-client, json, callback)",
}


def matrix(detail: Any) -> tuple[list[str], list[list[Any]]] | None:
    """A ``{row: {column: number}}`` detail as (columns, rows); None for any other shape."""
    if not isinstance(detail, dict) or not detail:
        return None
    columns: list[str] = []
    rows: list[list[Any]] = []
    for name, row in detail.items():
        if not isinstance(row, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in row.values()):
            return None
        columns += [c for c in row if c not in columns]
        rows.append([str(name), *(row.get(c) for c in columns)])
    return columns, [r + [None] * (len(columns) + 1 - len(r)) for r in rows]


def markdown(data: Mapping[str, Any], charts: Iterable[str]) -> str:
    """``docs/benchmarks.md`` from the content of ``results.json``."""
    run = data["run"]
    m = run["machine"]
    out = [
        "# Benchmarks",
        "",
        "Every figure below comes from one run of `python benchmarks/run_all.py` "
        f"({run['mode']} mode, {run['date']}, commit `{m['commit'] or 'unknown'}`, "
        f"{m['implementation']} {m['python']}, {m['cpus']} CPUs, {m['platform']}). "
        "Rates depend on the machine: compare the ratios, each measured in one run with the "
        "variants interleaved so that other load on the machine hits them alike. "
        "The raw figures and their detail are in `benchmarks/results.json`.",
        "",
        "Rerun: `pip install -e '.[dev]'`, then `python benchmarks/run_all.py` (a few minutes; "
        "`--quick` for a smoke run in under two, written under `benchmarks/results/quick/`).",
        "",
        "## Targets",
        "",
    ]
    out += table(["target", "bound", "this run", "verdict"], [
        [t["what"], f"{t['op']} {fmt(t['bound'])}", fmt(t["value"]), verdict(t["passed"])]
        for t in data["targets"]])
    stream = data.get("stream.detail")
    if isinstance(stream, dict):
        thr = stream["throughput_msg_per_s"]
        raw, decode = thr.get("raw") or 0, thr.get("decode-all") or 0
        size = stream["settings"].get("average_message_bytes", "?")
        out += ["## Stream: throughput by client", "",
                f"One WebSocket on 127.0.0.1, the Kana mix (~{size} bytes a message: "
                "order books, positions, trades, funding), "
                f"{stream['settings'].get('count', '?'):,} frames a run, median of "
                f"{stream['settings'].get('rounds', '?')} interleaved round(s).", ""]
        out += table(["client", "msg/s", "/ raw receive", "/ decode-everything"], [
            [STREAM_LABELS.get(k, k), v, v / raw if raw else None,
             v / decode if decode else None] for k, v in thr.items()])
        lat = stream["latency_at_rate"]
        rate = stream["settings"].get("rate", 10_000)
        cpu = stream.get("cpu_share_at_rate", {})
        out += [f"## Stream: latency at {fmt(rate)} msg/s", "",
                "From the server's send (stamped into each frame) to the consumer; the share "
                "of one core the client process spends at this rate (the server runs in "
                "another process).", ""]
        out += table(["client", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "samples",
                      "core share"], [
            [STREAM_LABELS.get(k, k), v["p50_us"], v.get("p90_us"), v["p99_us"],
             v.get("p999_us"), v["samples"], cpu.get(k) if isinstance(cpu, dict) else None]
            for k, v in lat.items()])
        out += table(["added over the minimal loop", "p50 µs", "p99 µs"], [
            [STREAM_LABELS.get(k, k), v["p50"], v["p99"]]
            for k, v in stream["added_latency_us"].items()])
    scaling = data.get("scaling.detail")
    if isinstance(scaling, dict):
        out += ["## Scaling", "",
                "Order books only. Subscriptions: 20-level books, every item delivered, one "
                "`async for` per subscription, all on one connection. Levels: one "
                "subscription. Latency at 10k msg/s, or half the point's throughput when lower "
                "(the rate column).", ""]
        out += table(["subscriptions", "msg/s", "p50 µs", "p99 µs", "core share", "rate"], [
            [n, r["msgs_per_s"], r["p50_us"], r["p99_us"], r["cpu_share"], r["rate"]]
            for n, r in scaling["subscriptions"].items()])
        out += table(["levels", "msg/s", "raw receive msg/s", "p50 µs", "p99 µs",
                      "core share", "rate"], [
            [n, r["msgs_per_s"], r["raw_msgs_per_s"], r["p50_us"], r["p99_us"], r["cpu_share"],
             r["rate"]] for n, r in scaling["levels"].items()])
        out += [f"One idle order book subscription holds about "
                f"{fmt(scaling['memory_per_subscription_bytes'])} bytes "
                f"(traced over {scaling['settings']['memory_subs']:,} subscriptions).", ""]
    decode = data.get("decode.detail")
    grid = matrix(decode)
    if grid is not None:
        out += ["## Decode cost per message (µs)", "",
                "Per message kind, each way of decoding the same frame (`decode_costs.py`).", ""]
        out += table(["kind", *grid[0]], grid[1])
    out += ["## How the figures are measured", "",
            "- `benchmarks/stream_throughput.py`: one server process streams the mix; each "
            "client receives a fixed count of frames; the rows run interleaved, round by round, "
            "and each ratio is the median of same-round quotients. The decode-everything loop "
            "is a fixed copy of the typed models with eager `Decimal` money, so it stays the "
            "same yardstick whatever the SDK's models do.",
            "- `benchmarks/scaling.py`: order books only, every item delivered; memory per "
            "subscription is traced with `tracemalloc`.",
            "- `benchmarks/rest_overhead.py`: bare aiohttp and the SDK on one session against "
            "a local server process, alternating rounds; the ratio is with 50 concurrent "
            "callers, where the client's CPU is the bottleneck.",
            "- `benchmarks/order_pipeline.py`: client-side cost of one limit order (validate, "
            "encode, sign, hash), and orders/s end to end on the simulator.",
            "- `benchmarks/pulse_rpc.py`: Pulse calls over one WebSocket and over HTTP, and "
            "typed notifications per second.",
            "- `benchmarks/decode_costs.py` and `benchmarks/transports.py`, when present: "
            "decode cost per message type and library, and each transport and event loop side "
            "by side.",
            ""]
    out += ["## Every figure", ""]
    out += table(["figure", "value"], [
        [f"`{k}`", v] for k, v in data.items()
        if k not in ("targets", "run") and not k.endswith("." + DETAIL)])
    skipped = run.get("skipped") or []
    if skipped:
        out += [f"Not in this run (module absent): {', '.join(skipped)}.", ""]
    out += ["Seconds per benchmark: " + ", ".join(
        f"{k} {v}" for k, v in run.get("seconds", {}).items()) + ".", ""]
    charts = list(charts)
    if charts:
        out += ["## Charts", ""]
        out += [f"![{Path(c).stem}]({c})" for c in charts] + [""]
    return "\n".join(out)


# -- charts --------------------------------------------------------------------------------------

def throughput_series(data: Mapping[str, Any]) -> dict[str, float]:
    """Every ``*_msgs_per_s`` figure of the stream and transports areas, by label."""
    series: dict[str, float] = {}
    stream = data.get("stream.detail")
    if isinstance(stream, dict):
        series.update({STREAM_LABELS.get(k, k): float(v)
                       for k, v in stream["throughput_msg_per_s"].items()})
    for key, value in data.items():
        if key.startswith("transports.") and key.endswith("_msgs_per_s") \
                and isinstance(value, (int, float)):
            series[key.removeprefix("transports.").removesuffix("_msgs_per_s")
                   .replace("_", " ")] = float(value)
    return series


def charts(data: Mapping[str, Any], directory: Path, prefix: str) -> list[str]:
    """Write the PNG charts into ``directory``; return their paths as ``prefix/name.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    written: list[str] = []

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        fig.savefig(directory / name, dpi=100)
        plt.close(fig)
        written.append(f"{prefix}/{name}")

    series = throughput_series(data)
    if series:
        fig, ax = plt.subplots(figsize=(9, 0.5 * len(series) + 1.5))
        labels = list(series)[::-1]
        ax.barh([k.replace("`", "") for k in labels], [series[k] for k in labels],
                color="#4c72b0")
        ax.set_xscale("log")
        ax.set_xlim(right=max(series.values()) * 4)
        ax.set_xlabel("messages per second (log scale)")
        ax.set_title("Stream throughput by client")
        for y, label in enumerate(labels):
            ax.text(series[label], y, f" {series[label]:,.0f}", va="center", fontsize=8)
        save(fig, "throughput.png")

    stream = data.get("stream.detail")
    quantiles = stream.get("latency_quantiles_us") if isinstance(stream, dict) else None
    if isinstance(stream, dict) and quantiles:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for name, values in quantiles.items():
            if values:
                ys = [100 * i / max(1, len(values) - 1) for i in range(len(values))]
                ax.plot(values, ys, label=STREAM_LABELS.get(name, name).replace("`", ""))
        ax.set_xscale("log")
        ax.set_xlabel("latency, server send to consumer (µs, log scale)")
        ax.set_ylabel("percentile")
        ax.set_title(f"Latency distribution at {fmt(stream['settings'].get('rate'))} msg/s")
        ax.legend(fontsize=8)
        ax.grid(True, alpha=0.3)
        save(fig, "latency.png")

    scaling = data.get("scaling.detail")
    if isinstance(scaling, dict):
        fig, axes = plt.subplots(2, 2, figsize=(10, 7))
        subs = scaling["subscriptions"]
        xs = [int(n) for n in subs]
        axes[0][0].plot(xs, [r["msgs_per_s"] for r in subs.values()], "o-")
        axes[0][0].set(xscale="log", xlabel="subscriptions on one connection",
                       ylabel="msg/s", title="Throughput vs subscriptions")
        axes[0][1].plot(xs, [r["p99_us"] for r in subs.values()], "o-", color="#c44e52")
        axes[0][1].set(xscale="log", xlabel="subscriptions on one connection",
                       ylabel="p99 µs", title="p99 latency vs subscriptions")
        levels = scaling["levels"]
        xs = [int(n) for n in levels]
        axes[1][0].plot(xs, [r["msgs_per_s"] for r in levels.values()], "o-", label="SDK")
        axes[1][0].plot(xs, [r["raw_msgs_per_s"] for r in levels.values()], "s--",
                        label="raw receive")
        axes[1][0].set(xscale="log", yscale="log", xlabel="levels per book message",
                       ylabel="msg/s", title="Throughput vs message size")
        axes[1][0].legend(fontsize=8)
        axes[1][1].plot(xs, [r["p99_us"] for r in levels.values()], "o-", color="#c44e52")
        axes[1][1].set(xscale="log", xlabel="levels per book message", ylabel="p99 µs",
                       title="p99 latency vs message size")
        for ax in (axes[0][0], axes[0][1], axes[1][1]):
            ax.set_ylim(bottom=0)
        for ax in axes.flat:
            ax.grid(True, alpha=0.3)
        save(fig, "scaling.png")
    return written


# -- entry point ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outputs:
    json: Path
    markdown: Path
    charts: Path


def outputs(quick: bool, out: Path | None) -> Outputs:
    """Full run: the committed places. Quick run or ``--out DIR``: all under one directory."""
    if out is None and not quick:
        return Outputs(HERE / "results.json", ROOT / "docs" / "benchmarks.md",
                       ROOT / "docs" / "benchmarks")
    base = out if out is not None else HERE / "results" / "quick"
    return Outputs(base / "results.json", base / "benchmarks.md", base / "benchmarks")


def write(data: Mapping[str, Any], where: Outputs) -> None:
    where.json.parent.mkdir(parents=True, exist_ok=True)
    where.json.write_text(json.dumps(data, indent=2, default=str) + "\n")
    prefix = os.path.relpath(where.charts, where.markdown.parent).replace(os.sep, "/")
    drawn = charts(data, where.charts, prefix)
    where.markdown.parent.mkdir(parents=True, exist_ok=True)
    where.markdown.write_text(markdown(data, drawn))


def main(argv: list[str] | None = None, loader: Loader = load) -> int:
    areas = [area for area, _, _ in BENCHMARKS]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small counts (under two minutes), written under "
                             "benchmarks/results/quick/")
    parser.add_argument("--only", default=",".join(areas),
                        help=f"comma-separated areas to run (default: all of {', '.join(areas)})")
    parser.add_argument("--out", type=Path, help="write results.json, benchmarks.md and the "
                                                 "charts under this directory")
    args = parser.parse_args(argv)
    selected = [a.strip() for a in args.only.split(",") if a.strip()]
    unknown = sorted(set(selected) - set(areas))
    if unknown or not selected:
        parser.error(f"--only takes areas among {', '.join(areas)}; "
                     f"unknown: {', '.join(unknown) or '(none given)'}")
    figures, info = collect(selected, args.quick, loader)
    if set(selected) == set(areas):
        absent = missing(figures)
        if absent:
            raise RuntimeError(f"the benchmarks did not produce: {', '.join(absent)}")
    data = results(figures, info, args.quick)
    where = outputs(args.quick, args.out)
    write(data, where)
    print(f"\nwrote {where.json}, {where.markdown} and charts in {where.charts}")
    for row in data["targets"]:
        print(f"  {verdict(row['passed']):>12}  {row['what']}: {fmt(row['value'])} "
              f"(target {row['op']} {fmt(row['bound'])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
