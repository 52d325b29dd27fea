"""What every example shares: connection options, opening the client, and stopping cleanly.

Kept apart so that each example shows only its own idea. Nothing here is specific to an
example; copy this file along with the one you start from.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from decimal import Decimal, InvalidOperation
from typing import Any, TextIO

from kana_async import KanaClient, KanaError, ValidationError
from kana_async.client import LOCAL_API_KEY

#: Where the wallet's private key is read from, unless ``--private-key-env`` says otherwise.
DEFAULT_KEY_ENV = "KANA_PRIVATE_KEY"


def parser(description: str, *, market: int | None = 1338) -> argparse.ArgumentParser:
    """An argument parser with the options every example accepts (``market=None``: the
    example covers every market unless ``--market`` narrows it)."""
    p = argparse.ArgumentParser(description=description)
    where = p.add_argument_group(
        "connection (default: an embedded simulator on 127.0.0.1, no key, no network)"
    )
    where.add_argument("--network", choices=("local", "testnet", "mainnet"), default="local",
                       help="which Kana deployment to use (default local)")
    where.add_argument("--api-key", default=os.environ.get("KANA_API_KEY"),
                       help="Kana REST API key (default: $KANA_API_KEY)")
    where.add_argument("--private-key-env", default=DEFAULT_KEY_ENV, metavar="VAR",
                       help=f"environment variable holding the wallet key (default "
                            f"{DEFAULT_KEY_ENV}); on the simulator a throwaway key is used "
                            "when it is not set")
    where.add_argument("--rest-url", help="REST base URL (e.g. of a running `kana-async sim`)")
    where.add_argument("--ws-url", help="indexer WebSocket URL")
    where.add_argument("--node-url", help="Aptos node URL")
    where.add_argument("--timeout", type=_seconds, default=10.0, metavar="SECONDS",
                       help="seconds one request may take (default 10); a transaction whose "
                            "answer takes longer has an unknown outcome, which is resolved")
    p.add_argument("--market", type=int, default=market,
                   help="market id (default: " + ("every market)" if market is None
                                                  else f"{market})"))
    p.add_argument("--duration", type=_seconds, default=None, metavar="SECONDS",
                   help="stop by itself after this many seconds (default: run until Ctrl-C)")
    return p


def decimal_arg(text: str) -> Decimal:
    """An argparse type for money and rates: exact ``Decimal``, never a float."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a decimal number") from None
    if not value.is_finite():
        raise argparse.ArgumentTypeError("must be a finite number")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number of seconds") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


def open_client(args: argparse.Namespace, *, wallet: bool) -> KanaClient:
    """The ``KanaClient`` the options describe; ``wallet=True`` gives it a signing key.

    The key comes from the environment, never from the command line (it would show in the
    process list and the shell history). On the local network, a missing key is replaced by a
    fresh throwaway one: the simulator's faucet funds every wallet it has not seen before.
    """
    key = None
    if wallet:
        key = os.environ.get(args.private_key_env) or None
        if key is None:
            if args.network != "local":
                raise ValidationError(
                    args.private_key_env,
                    "environment variable is not set; it must hold the wallet's private key",
                )
            key = secrets.token_hex(32)
    # A local simulator accepts any API key, but wants one like the real API does.
    api_key = args.api_key or (LOCAL_API_KEY if args.network == "local" else None)
    return KanaClient(
        args.network,
        api_key=api_key,
        rest_url=args.rest_url,
        ws_url=args.ws_url,
        node_url=args.node_url,
        private_key=key,
        timeout=args.timeout,
    )


def on_simulator(args: argparse.Namespace) -> bool:
    """True when the example trades on a local simulator (embedded or ``kana-async sim``)."""
    return bool(args.network == "local")


@contextlib.asynccontextmanager
async def stop_signal(duration: float | None) -> AsyncIterator[asyncio.Event]:
    """An event set by Ctrl-C, SIGTERM or, with ``duration``, after that many seconds.

    The reader of stdout going away sets it too (see :func:`log`). After the first signal the
    default handlers are back, so a second Ctrl-C interrupts a shutdown that hangs.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []

    def request_stop() -> None:
        stop.set()
        for signum in handled:
            loop.remove_signal_handler(signum)
        handled.clear()

    _on_stdout_gone.append(stop.set)  # nobody reads any more: stop, and clean up
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Not available on Windows: there Ctrl-C cancels the main task, which also cleans up.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, request_stop)
            handled.append(signum)
    timer = loop.call_later(duration, stop.set) if duration is not None else None
    try:
        if _stdout_gone:
            stop.set()
        yield stop
    finally:
        _on_stdout_gone.remove(stop.set)
        if timer is not None:
            timer.cancel()
        for signum in handled:
            loop.remove_signal_handler(signum)


async def wait_for_stop(stop: asyncio.Event, *tasks: asyncio.Task[Any]) -> None:
    """Return when ``stop`` is set or any of ``tasks`` ends (a worker that ends has failed)."""
    waiter = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({waiter, *tasks}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiter


async def cancel_and_wait(*tasks: asyncio.Task[Any]) -> None:
    """Cancel ``tasks``, wait until each has ended, then raise the first real error."""
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            raise result


#: Called once when the reader of stdout goes away (``| head``): see :func:`log`.
_on_stdout_gone: list[Callable[[], None]] = []
_stdout_gone = False


def log(message: str) -> None:
    """One timestamped line on stdout, flushed at once (examples are often piped).

    Never raises: clean-up logs too, and must go on when nobody reads any more. If the reader
    of stdout left (``| head``) or stdout was closed, the rest of the output is dropped and the
    bot is asked to stop (see :func:`stop_signal`), as any command whose reader left would.
    """
    global _stdout_gone
    if _stdout_gone:
        return
    if _write(sys.stdout, f"{time.strftime('%H:%M:%S')} {message}\n"):
        return
    _stdout_gone = True
    with contextlib.suppress(OSError, ValueError, AttributeError):
        # The interpreter's final flush would complain about the broken pipe otherwise.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    for callback in _on_stdout_gone:
        callback()


def _write(stream: TextIO | None, text: str) -> bool:
    """Write and flush ``text``; False if the stream went away (broken pipe, closed)."""
    if stream is None:  # started with the descriptor closed: there is nothing to write to
        return True
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):  # BrokenPipeError, EBADF; ValueError: closed file
        return False
    return True


def error(message: str) -> None:
    """One line on stderr, if there is still a stderr to write to."""
    _write(sys.stderr, message + "\n")


def run(main: Callable[[argparse.Namespace], Coroutine[Any, Any, int]],
        args: argparse.Namespace) -> int:
    """Run ``main(args)``; an SDK error becomes one line on stderr and exit status 1."""
    try:
        return asyncio.run(main(args))
    except KanaError as exc:
        error(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130
