"""``kana-async demo``: the SDK end to end against the embedded simulator (see
:mod:`kana_async.demo`, which owns the options and the run)."""

from __future__ import annotations

import argparse

from .args import Command

__all__ = ["DEMO"]


def _configure(parser: argparse.ArgumentParser) -> None:
    from ..demo import configure

    configure(parser)


def _run(args: argparse.Namespace) -> int:
    from ..demo import run

    return run(args)


DEMO = Command(
    "demo", "watch a trading bot use the SDK end to end for ~30 s (embedded simulator)",
    _configure, _run,
    epilog="""examples:
  kana-async demo                     no key, no network: an embedded simulator
  kana-async demo --duration 10 --plain
  KANA_API_KEY=... kana-async demo --network testnet --private-key-env MY_TESTNET_KEY""",
)
