"""``--metrics-port`` for long-running commands (``bridge``, ``signer``): the options, and an
exporter serving ``/metrics`` for as long as the command runs.

A command adds the options with :func:`add_metrics_options` and runs inside
:func:`metrics_from_args`, which yields ``None`` when no port was asked for (then nothing is
imported), else a :class:`~kana_async.metrics.Metrics` to feed: ``stream_hooks()`` before its
client opens, ``watch_stream()`` / ``watch_trader()`` / ``track()`` after.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, TextIO

from .args import CliError

if TYPE_CHECKING:
    from ..metrics import Metrics

__all__ = ["add_metrics_options", "metrics_from_args", "metrics_port"]


def metrics_port(value: str) -> int:
    """A TCP port for the metrics endpoint (0: any free one, printed at start)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be an integer") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError("must be from 0 to 65535 (0: any free port)")
    return number


def add_metrics_options(parser: argparse.ArgumentParser) -> None:
    """``--metrics-port N`` and ``--metrics-host HOST``."""
    group = parser.add_argument_group("metrics")
    group.add_argument(
        "--metrics-port", type=metrics_port, metavar="N", default=None,
        help="serve Prometheus metrics on http://HOST:N/metrics while running (needs the "
             "metrics extra: pip install 'kana-async[metrics]')",
    )
    group.add_argument(
        "--metrics-host", metavar="HOST", default="127.0.0.1",
        help="address the metrics endpoint listens on (default 127.0.0.1; 0.0.0.0 exposes it "
             "to the network)",
    )


@asynccontextmanager
async def metrics_from_args(args: argparse.Namespace, *, out: TextIO | None = None
                            ) -> AsyncIterator[Metrics | None]:
    """The exporter ``--metrics-port`` asks for, serving until the block ends (``None``
    without the option). Its URL is printed on ``out`` (stderr by default)."""
    port: int | None = getattr(args, "metrics_port", None)
    if port is None:
        yield None
        return
    try:
        from ..metrics import Metrics

        metrics = Metrics()
    except ImportError as error:
        raise CliError(str(error)) from None
    server = await metrics.serve(port, getattr(args, "metrics_host", "127.0.0.1"))
    try:
        print(f"metrics: {server.url}", file=out or sys.stderr, flush=True)
        yield metrics
    finally:
        await server.close()
