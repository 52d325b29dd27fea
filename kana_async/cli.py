"""The ``kana-async`` command.

Every subcommand is a :class:`Command` in :data:`COMMANDS`: a name, a help line, a function
that adds its options to an ``argparse`` parser and a function that runs it and returns the
exit status. Adding a subcommand is adding one entry. Heavy imports happen inside ``run``, so
``kana-async --help`` stays fast.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from ._version import __version__
from .errors import ValidationError

__all__ = ["COMMANDS", "Command", "build_parser", "main", "serve_simulator"]


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# -- sim -------------------------------------------------------------------------------------


def _loopback(value: str) -> str:
    from .sim.server import check_loopback  # here, to keep --help fast

    try:
        return check_loopback(value)
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(exc.rule) from None


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be an integer") from None
    if not 0 <= port <= 65533:
        raise argparse.ArgumentTypeError("must be 0 (ephemeral) or from 1 to 65533")
    return port


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number of seconds") from None
    if not seconds >= 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return seconds


def _configure_sim(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=_port, default=0,
                        help="REST port N (WebSocket N+1, node N+2); 0 = ephemeral ports")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated market")
    parser.add_argument("--host", type=_loopback, default="127.0.0.1",
                        help="loopback address to bind (default 127.0.0.1; nothing else)")
    parser.add_argument("--step-interval", type=_seconds, default=0.1, metavar="SECONDS",
                        help="seconds between engine steps (market maker, funding); 0 = none")
    parser.add_argument("--push-interval", type=_seconds, default=0.0, metavar="SECONDS",
                        help="least seconds between two WebSocket push rounds")


def _run_sim(args: argparse.Namespace) -> int:
    return asyncio.run(
        serve_simulator(
            host=args.host,
            port=args.port,
            seed=args.seed,
            step_interval=args.step_interval or None,
            push_interval=args.push_interval,
        )
    )


async def serve_simulator(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    seed: int = 0,
    step_interval: float | None = 0.1,
    push_interval: float = 0.0,
    out: TextIO | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Serve the simulator until SIGINT/SIGTERM (or ``stop`` is set); print its URLs first."""
    from .sim import Simulator  # here, to keep --help fast

    out = out if out is not None else sys.stdout
    stop = stop if stop is not None else asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
            handled.append(signum)
    try:
        async with Simulator(
            seed=seed, port=port, host=host, step_interval=step_interval,
            push_interval=push_interval,
        ) as sim:
            print(f"Kana simulator (seed {seed}) on {host}", file=out)
            print(f"  REST        {sim.rest_url}", file=out)
            print(f"  WebSocket   {sim.ws_url}", file=out)
            print(f"  Aptos node  {sim.node_url}", file=out)
            print("Any x-api-key is accepted. Press Ctrl-C to stop.", file=out, flush=True)
            await stop.wait()
        print("Simulator stopped.", file=out, flush=True)
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
    return 0


COMMANDS: tuple[Command, ...] = (
    Command("sim", "serve the local Kana exchange simulator on 127.0.0.1",
            _configure_sim, _run_sim),
)


# -- entry point -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kana-async", description="Kana Perps SDK tools (asyncio)."
    )
    parser.add_argument("--version", action="version", version=f"kana-async {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        sub = commands.add_parser(command.name, help=command.help, description=command.help)
        command.configure(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        status: int = args.run(args)
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
