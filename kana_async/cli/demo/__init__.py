"""``kana-async demo``: the SDK end to end as a trading bot would use it, in about 30 seconds,
against the embedded simulator by default (no key, no network).

The package, by concern: :mod:`.options` (what to run against, from the command line),
:mod:`.scenario` (:class:`Demo`, the asyncio layer that trades), :mod:`.state` (what its
stream consumers saw), :mod:`.report` (the pure record of what it did and measured, and the
summary), :mod:`.display` (plain lines or a live screen). Here: :data:`DEMO`, the command's
entry, and :func:`run_demo`, which runs the demo once; from Python,
``await run_demo(DemoOptions(duration=10))`` returns its :class:`DemoReport`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from typing import TextIO

from ..args import CliError, Command
from ..output import PipeClosed
from ..views import decimals
from .display import summary_view
from .options import DEFAULT_DURATION, DemoOptions, configure, options_from_args
from .report import (
    DemoReport,
    TxRecord,
    deposit_for,
    percentile,
    short_status,
    to_tick,
)
from .scenario import TOPICS, Demo

__all__ = [
    "DEFAULT_DURATION",
    "DEMO",
    "TOPICS",
    "Demo",
    "DemoOptions",
    "DemoReport",
    "TxRecord",
    "configure",
    "decimals",
    "deposit_for",
    "main",
    "options_from_args",
    "percentile",
    "run",
    "run_demo",
    "short_status",
    "summary_view",
    "to_tick",
]


async def run_demo(options: DemoOptions, *, out: TextIO | None = None,
                   live: bool | None = None) -> DemoReport:
    """Run the demo once (Ctrl-C stops it cleanly: clean-up, then the summary)."""
    demo = Demo(options, out=out, live=live)
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    presses = 0

    def interrupt() -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            demo.stop()
        elif main is not None:
            main.cancel()  # a second Ctrl-C: no more clean-up

    installed = False
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGINT, interrupt)
        installed = True
    try:
        report = await demo.run()
    except asyncio.CancelledError:
        if presses < 2:
            raise
        report = demo.report
        report.interrupted = True
        report.ended = time.monotonic()
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGINT)
    demo.display.summary(report)
    return report


def run(args: argparse.Namespace) -> int:
    """``kana-async demo``: run it and return the exit status (0 done, 130 interrupted).

    Bad options and a failed run (shown in the summary first) are raised, so that
    :func:`kana_async.cli.main` reports them in one line with the status every command
    uses; a reader that left ends the command quietly, as it does every command."""
    options = options_from_args(args)
    report = asyncio.run(run_demo(options))
    if report.error is not None:
        raise CliError(report.error)
    if report.reader_gone:
        raise PipeClosed
    if options.pulse and report.exit_status == 0:
        from .pulse import run_pulse_leg

        pace = options.pace if options.pace is not None else min(options.duration / 30, 1.0)
        leg = asyncio.run(run_pulse_leg(options.pulse_ws_url, sys.stdout, pace=pace))
        if leg.error is not None:
            raise CliError(f"Pulse leg: {leg.error}")
        if leg.reader_gone:
            raise PipeClosed
    return report.exit_status


def main(argv: list[str] | None = None) -> int:
    """``python -m kana_async.cli.demo``: the same as ``kana-async demo`` (one place decides how
    each outcome, a reader that left included, becomes an exit status)."""
    from ..app import main as cli_main

    return cli_main(["demo", *(sys.argv[1:] if argv is None else argv)])


DEMO = Command(
    "demo", "watch a trading bot use the SDK end to end for ~30 s (embedded simulator)",
    configure, run,
    epilog="""examples::

  kana-async demo                     no key, no network: an embedded simulator
  kana-async demo --duration 10 --plain
  kana-async demo --pulse             then the same bot on the simulator's Pulse gateway
  KANA_API_KEY=... kana-async demo --network testnet --private-key-env MY_TESTNET_KEY""",
)
