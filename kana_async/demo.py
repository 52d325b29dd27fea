"""Deprecated import path, kept for one release: the demo moved to :mod:`kana_async.cli.demo`
(``kana-async demo`` is one of the command line's commands). Import from there; this module
only re-exports its public names, and ``python -m kana_async.demo`` still runs
``kana-async demo``. It will be removed in the next release."""

import sys

from .cli.demo import (
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

if __name__ == "__main__":
    sys.exit(main())
