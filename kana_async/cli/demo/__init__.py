"""``kana-async demo``: the SDK end to end against the embedded simulator, as a trading bot
would use it. The command's entry is :data:`DEMO`; the run is in :mod:`.scenario`.

From Python: ``await run_demo(DemoOptions(duration=10))`` returns the :class:`DemoReport`.
"""

from __future__ import annotations

import argparse

from ..args import Command
from .scenario import (
    DEFAULT_DURATION,
    TOPICS,
    Demo,
    DemoOptions,
    DemoReport,
    TxRecord,
    configure,
    decimals,
    deposit_for,
    main,
    options_from_args,
    percentile,
    run,
    run_demo,
    short_status,
    summary_view,
    to_tick,
)

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


def _run(args: argparse.Namespace) -> int:
    return run(args)


DEMO = Command(
    "demo", "watch a trading bot use the SDK end to end for ~30 s (embedded simulator)",
    configure, _run,
    epilog="""examples:
  kana-async demo                     no key, no network: an embedded simulator
  kana-async demo --duration 10 --plain
  KANA_API_KEY=... kana-async demo --network testnet --private-key-env MY_TESTNET_KEY""",
)
