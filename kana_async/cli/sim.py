"""``kana-async sim``: serve the local exchange simulator until told to stop."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import re
import sys
from typing import TextIO

from ..errors import ValidationError
from .args import CliError, Command, port, seconds
from .connect import stop_on_signals, wait_for_stop

__all__ = ["SIM", "serve_simulator"]


def _loopback(value: str) -> str:
    from ..sim.server import check_loopback  # here, to keep --help fast

    try:
        return check_loopback(value)
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(exc.rule) from None


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=port, default=0,
                        help="REST port N (WebSocket N+1, node N+2, Pulse N+3); 0 = ephemeral "
                        "ports")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated market")
    parser.add_argument("--host", type=_loopback, default="127.0.0.1",
                        help="loopback address to bind (default 127.0.0.1; nothing else)")
    parser.add_argument("--step-interval", type=seconds, default=0.1, metavar="SECONDS",
                        help="seconds between engine steps (market maker, funding); 0 = none")
    parser.add_argument("--push-interval", type=seconds, default=0.0, metavar="SECONDS",
                        help="least seconds between two WebSocket push rounds")


def _run(args: argparse.Namespace) -> int:
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
    from ..sim import Simulator  # here, to keep --help fast

    out = out if out is not None else sys.stdout
    with stop_on_signals() as signalled:
        async with contextlib.AsyncExitStack() as stack:
            try:
                sim = await stack.enter_async_context(Simulator(
                    seed=seed, port=port, host=host, step_interval=step_interval,
                    push_interval=push_interval,
                ))
            except OSError as exc:
                raise CliError(_bind_failure(exc, host, port)) from None
            print(f"Kana simulator (seed {seed}) on {host}", file=out)
            print(f"  REST        {sim.rest_url}", file=out)
            print(f"  WebSocket   {sim.ws_url}", file=out)
            print(f"  Aptos node  {sim.node_url}", file=out)
            print(f"  Pulse WS    {sim.pulse_ws_url}", file=out)
            print(f"  Pulse HTTP  {sim.pulse_http_url}", file=out)
            print("Any x-api-key is accepted; a Pulse client_id is registered with the secret it "
                  "first authenticates with.", file=out)
            print("Press Ctrl-C to stop.", file=out, flush=True)
            await wait_for_stop(signalled, stop)
        print("Simulator stopped.", file=out, flush=True)
    return 0


def _bind_failure(error: OSError, host: str, port: int) -> str:
    """One line naming the port that could not be bound (the error's text says which)."""
    reason = "address already in use" if error.errno == errno.EADDRINUSE else (
        error.strerror or str(error))
    bound = re.search(r"\(\'[^']*\', (\d+)\)", str(error))
    where = f"port {bound.group(1)}" if bound else f"port {port}"
    if port:
        where += f" (--port {port} serves REST on {port}, WebSocket on {port + 1}, node on " \
                 f"{port + 2}, Pulse on {port + 3})"
    return f"cannot serve the simulator on {host} {where}: {reason}; choose another --port " \
           "(0: ephemeral ports)"


SIM = Command(
    "sim", "serve the local Kana exchange simulator on 127.0.0.1", _configure, _run,
    epilog="""examples::

  kana-async sim                      ephemeral ports, printed at start
  kana-async sim --port 8100 --seed 7 REST 8100, WebSocket 8101, node 8102, Pulse 8103

then, in another shell::

  kana-async markets --local-port 8100
  kana-async tail orderbook --market APT --local-port 8100 --count 3
  kana-async pulse call public/get_index_price index_name=btc_usd --local-port 8100""",
)
