"""Shared pieces of the reliability suite: what a row is, process figures, log capture.

A row records what happened (counts, times, error classes). Invariants are the few figures
that must hold whatever the implementation (no duplicate order, no lost or misattributed item,
no escaping exception, no secret in logs); everything else is reported, never judged.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import statistics
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from kana_async.sim import Simulator

APT = 1338
#: Quote sub-units per quote coin in the simulator.
UNIT = 10**6


@dataclass
class Check:
    """One invariant: ``ok`` False fails the suite (unless reports only)."""

    name: str
    ok: bool
    detail: str = ""


@dataclass
class Row:
    """One line of the table: a fault, what was measured, how to reproduce it."""

    scenario: str
    fault: str
    figures: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    #: ``measured``, ``unsupported`` (the environment lacks what the row needs, e.g. an
    #: ``openssl`` binary to make a certificate) or ``error`` (the scenario itself could not
    #: finish: a finding too).
    status: str = "measured"
    notes: list[str] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        self.checks.append(Check(name, ok, detail))

    def unsupported(self, what: str) -> None:
        self.status = "unsupported"
        self.notes.append(f"unsupported: {what}")

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]


def command(scenario: str) -> str:
    return f"python benchmarks/reliability.py --only {scenario}"


# -- figures ---------------------------------------------------------------------------------


def process_figures() -> dict[str, Any]:
    """Tasks of the running loop, open file descriptors and resident memory (MiB)."""
    try:
        fds: int | None = len(os.listdir("/proc/self/fd"))
    except OSError:
        fds = None
    rss = rss_mib()
    return {"tasks": len(asyncio.all_tasks()), "fds": fds, "rss_mib": rss}


def rss_mib() -> float:
    """Current resident set size in MiB (peak where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except (OSError, ValueError, IndexError):
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return round(ordered[index], 3)


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def error_name(exc: BaseException | None) -> str:
    """``ok`` or the exception's class name (what a caller would catch)."""
    return "ok" if exc is None else type(exc).__name__


def excerpt(exc: BaseException, limit: int = 120) -> str:
    text = str(exc).replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "..."


async def outcome(coro: Any, seconds: float) -> tuple[Any, BaseException | None, float]:
    """Run ``coro`` with a bound; (result, exception, seconds taken). A timeout of the bound
    is reported as ``asyncio.TimeoutError`` (the client never answered within it)."""
    started = time.monotonic()
    try:
        result = await asyncio.wait_for(coro, seconds)
    except Exception as exc:  # the outcome is the figure
        return None, exc, time.monotonic() - started
    return result, None, time.monotonic() - started


async def eventually(check: Callable[[], bool], seconds: float, step: float = 0.01) -> bool:
    """Whether ``check()`` came true within ``seconds`` (bounded poll)."""
    deadline = time.monotonic() + seconds
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(step)


# -- logs ------------------------------------------------------------------------------------


class LogCapture(logging.Handler):
    """Keeps formatted records (with tracebacks), bounded in count."""

    def __init__(self, limit: int = 100_000) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[int, str]] = []
        self.limit = limit
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.records) < self.limit:
            try:
                self.records.append((record.levelno, self.format(record)))
            except Exception:  # a record that cannot be formatted is a finding, not a crash
                self.records.append((record.levelno, f"<unformattable {record.msg!r}>"))

    def at_least(self, level: int) -> list[str]:
        return [text for levelno, text in self.records if levelno >= level]


@contextmanager
def capture_logs(level: int, logger: str = "") -> Iterator[LogCapture]:
    handler = LogCapture()
    target = logging.getLogger(logger)
    saved = target.level
    target.addHandler(handler)
    target.setLevel(level)
    try:
        yield handler
    finally:
        target.removeHandler(handler)
        target.setLevel(saved)


def exception_text(exc: BaseException) -> str:
    """Everything an exception shows: str, repr and the formatted traceback with causes."""
    return "\n".join([str(exc), repr(exc), *traceback.format_exception(exc)])


# -- the exchange --------------------------------------------------------------------------


def fund(sim: Simulator, wallet: str, quote: int = 10_000) -> str:
    """Deposit ``quote`` coins for ``wallet`` straight on the engine; its profile address."""
    sim.engine.deposit(wallet, quote * UNIT)
    return sim.engine.profile_address(wallet)


def orders_of(sim: Simulator, wallet: str) -> int:
    """Orders the exchange holds for ``wallet`` (every state: resting, filled, cancelled)."""
    return len(sim.engine.order_history(sim.engine.profile_address(wallet)))
