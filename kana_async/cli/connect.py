"""Turning the connection options into an open :class:`~kana_async.KanaClient`, finding the
wallet and the market a command is about, and stopping long commands cleanly.

Keys are read from the environment only (never from the command line, which other users of
the machine can see) and are never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import sys
from collections.abc import Awaitable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import KanaError, ValidationError
from .args import CliError, UsageError, api_key_from

if TYPE_CHECKING:
    from ..client import KanaClient
    from ..models import MarketInfo
    from .views import Grid

__all__ = [
    "api_key",
    "client",
    "endpoints",
    "is_local",
    "market_grids",
    "private_key",
    "profile_address",
    "resolve_market",
    "stop_on_signals",
    "throwaway_wallet",
    "until_stopped",
    "wait_for_stop",
    "wallet_address",
]


def is_local(args: argparse.Namespace) -> bool:
    """True when the command talks to a simulator (embedded or ``kana-async sim``)."""
    return bool(args.network == "local")


def endpoints(args: argparse.Namespace) -> dict[str, str | None]:
    """``rest_url``, ``ws_url`` and ``node_url`` as given, or derived from ``--local-port``
    (``None``: the network's own)."""
    urls = {"rest_url": args.rest_url, "ws_url": args.ws_url, "node_url": args.node_url}
    if args.local_port is not None:
        if args.network != "local":
            raise UsageError("--local-port works with --network local only")
        if any(urls.values()):
            raise UsageError("give --local-port or the URLs, not both")
        if args.local_port == 0:
            raise UsageError("--local-port: must be the port the simulator printed (not 0)")
        n = args.local_port
        urls = {
            "rest_url": f"http://127.0.0.1:{n}",
            "ws_url": f"ws://127.0.0.1:{n + 1}/ws/",
            "node_url": f"http://127.0.0.1:{n + 2}/v1",
        }
    return urls


def throwaway_wallet(args: argparse.Namespace) -> bool:
    """True when a command that signs will use a new throwaway wallet: on a simulator, with
    no key in ``$<--private-key-env>`` (see :func:`private_key`)."""
    name = getattr(args, "private_key_env", None)
    return is_local(args) and not (name and os.environ.get(name))


def api_key(args: argparse.Namespace, environ: Mapping[str, str] | None = None
            ) -> str | None:
    """``--api-key``, else ``$KANA_API_KEY``; required off the simulator. ``None`` on a
    simulator: the client then sends a key it accepts (it wants one, like the real API)."""
    key = api_key_from(args, environ)
    if key is None and not is_local(args):
        raise CliError(f"--network {args.network} needs an API key: set $KANA_API_KEY "
                       "(or pass --api-key)")
    return key


def private_key(args: argparse.Namespace, *, required: bool,
                environ: Mapping[str, str] | None = None) -> str | None:
    """The key in ``$<--private-key-env>`` (of ``environ``, by default the process's),
    checked (the error names the variable, never the value). Without one: on a simulator a
    throwaway key when ``required`` (the faucet funds it), elsewhere an error when
    ``required``, else ``None``."""
    name = getattr(args, "private_key_env", None)
    env = os.environ if environ is None else environ
    value = env.get(name) if name else None
    if value:
        from ..trade.signer import Signer

        try:
            Signer(value)
        except ValidationError as exc:
            raise CliError(f"${name}: {exc.rule}") from None
        return value
    if not required:
        return None
    if is_local(args):
        key = secrets.token_hex(32)
        from ..trade.signer import Signer

        print(
            f"kana-async: no ${name}: signing with a new throwaway wallet "
            f"{Signer(key).address} (the simulator's faucet funds the wallet; 'deposit' "
            "moves collateral into its trading account)",
            file=sys.stderr,
        )
        return key
    raise CliError(f"signing needs a private key: set ${name} (or name another variable "
                   "with --private-key-env)")


def client(args: argparse.Namespace, *, sign: bool = False) -> KanaClient:
    """A client for the connection options (not opened yet). ``sign``: it must be able to
    sign; otherwise the wallet's key is loaded only if present (for its address)."""
    from ..client import KanaClient

    urls = endpoints(args)
    key = api_key(args)
    signing_key = private_key(args, required=sign) if hasattr(args, "private_key_env") else None
    return KanaClient(args.network, api_key=key, private_key=signing_key,
                      rest_url=urls["rest_url"], ws_url=urls["ws_url"], node_url=urls["node_url"])


def wallet_address(args: argparse.Namespace, kana: KanaClient) -> str:
    """``--address``, else the wallet of the key in the environment."""
    given: str | None = getattr(args, "address", None)
    if given:
        return given
    with contextlib.suppress(KanaError):
        return kana.address
    var = getattr(args, "private_key_env", "KANA_PRIVATE_KEY")
    raise UsageError(f"which wallet? pass --address 0x... or set ${var}")


async def profile_address(args: argparse.Namespace, kana: KanaClient) -> str:
    """``--profile``, else the trade profile of :func:`wallet_address` (asked over REST)."""
    given: str | None = getattr(args, "profile", None)
    if given:
        return given
    return await kana.rest.get_profile_address(wallet_address(args, kana))


async def resolve_market(kana: KanaClient, text: str) -> MarketInfo:
    """The market named by an id (``1338``) or a name (``APT``, ``apt/usdc``, ``APT-USD``),
    by the SDK's one rule (:mod:`kana_async.markets`)."""
    try:
        return await kana.rest.resolve_market(text)
    except ValidationError as exc:
        raise CliError(exc.rule) from None


async def market_grids(kana: KanaClient) -> dict[int, Grid]:
    """Every market's :class:`~kana_async.cli.views.Grid`, by id: how its numbers are shown."""
    from .views import Grid

    return {info.market_id: Grid.of(info)
            for info in await kana.rest.get_perpetual_assets_info()}


@contextlib.contextmanager
def stop_on_signals() -> Iterator[asyncio.Event]:
    """An event set by SIGINT or SIGTERM while the block runs (where the platform allows),
    so that a long command ends through its normal cleanup and exits 0."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
            handled.append(signum)
    try:
        yield stop
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)


async def wait_for_stop(signalled: asyncio.Event, stop: asyncio.Event | None = None) -> None:
    """Return once a signal came (``signalled``) or the caller's ``stop`` was set; a long
    running command (sim, bridge, signer) serves until then."""
    waits = [asyncio.ensure_future(signalled.wait())]
    if stop is not None:
        waits.append(asyncio.ensure_future(stop.wait()))
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waits:
            waiter.cancel()
        await asyncio.gather(*waits, return_exceptions=True)


async def until_stopped(
    work: Awaitable[Any], stop: asyncio.Event, duration: float | None
) -> bool:
    """Run ``work`` until it ends, ``stop`` is set or ``duration`` seconds pass (then it is
    cancelled). Returns True if ``work`` finished by itself; re-raises what it raised."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, timeout=duration,
                           return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, stopper):
            pending.cancel()
        await asyncio.gather(task, stopper, return_exceptions=True)
    if task.cancelled():
        return False
    task.result()
    return True
