"""``kana-async pulse``: the Pulse v2 gateway from the shell.

``pulse call METHOD k=v ...`` sends one method and prints its result as one JSON line;
``pulse tail CHANNEL`` prints a channel as NDJSON (one typed item per line);
``pulse book INSTRUMENT`` watches a book (a live view on a terminal, plain text otherwise).

Where: an embedded simulator by default (its Pulse gateway, as the other commands start one),
``--local-port N`` for a running ``kana-async sim --port N`` (its gateway is on N+3), or
``--ws-url``/``--http-url`` for any gateway. Credentials: ``--client-id`` (or
``$PULSE_CLIENT_ID``) and the secret in ``$PULSE_CLIENT_SECRET`` (or the variable
``--client-secret-env`` names): never on the command line, never printed. On a simulator
without them, a throwaway ``client_id`` is used (the gateway registers it on first sight).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import decimal
import json
import os
import re
import secrets
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec

from ..errors import SlowConsumerError, StreamGapError
from .args import Command, UsageError, _env_name, count, port, seconds, url
from .connect import stop_on_signals, until_stopped
from .output import Lines, PipeClosed, is_terminal, say, warn

if TYPE_CHECKING:
    from ..pulse import PulseBook, PulseClient
    from ..stream.subscription import Subscription

__all__ = [
    "DEFAULT_CLIENT_ID_ENV",
    "DEFAULT_SECRET_ENV",
    "PULSE",
    "parse_params",
    "plain_book",
    "pulse_endpoints",
]

#: Where the client id is read from when ``--client-id`` is not given.
DEFAULT_CLIENT_ID_ENV = "PULSE_CLIENT_ID"
#: The environment variable holding the client secret, unless ``--client-secret-env`` names
#: another.
DEFAULT_SECRET_ENV = "PULSE_CLIENT_SECRET"

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

#: The result of ``pulse call``: numbers as the gateway sent them (exact, via ``Decimal``).
_result_encoder = msgspec.json.Encoder(decimal_format="number")


class _Line(msgspec.Struct):
    ts: float
    channel: str
    data: Any


# -- options ---------------------------------------------------------------------------------


def _ws(value: str) -> str:
    if not value.startswith(("ws://", "wss://")):
        raise argparse.ArgumentTypeError("must be a ws:// or wss:// URL")
    return url(value)


def _http(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError("must be an http:// or https:// URL")
    return url(value)


def _add_connection_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection (default: an embedded simulator)")
    group.add_argument(
        "--local-port", type=port, metavar="N",
        help="use a running 'kana-async sim --port N': its Pulse gateway is on N+3",
    )
    group.add_argument("--ws-url", type=_ws, metavar="URL",
                       help="the gateway's WebSocket URL (…/ws/api/v2)")
    group.add_argument("--http-url", type=_http, metavar="URL",
                       help="the gateway's HTTP base URL (…/api/v2)")
    group.add_argument(
        "--client-id", metavar="ID", default=None,
        help=f"Pulse client id (default ${DEFAULT_CLIENT_ID_ENV}; on a simulator without one, "
             "a throwaway id)",
    )
    group.add_argument(
        "--client-secret-env", type=_env_name, metavar="VAR", default=DEFAULT_SECRET_ENV,
        help=f"environment variable holding the client secret (default {DEFAULT_SECRET_ENV}); "
             "the secret itself is never printed",
    )
    group.add_argument("--timeout", type=seconds, default=10.0, metavar="S",
                       help="seconds one call may take (default 10)")


def pulse_endpoints(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """The gateway's ``(ws_url, http_url)`` from ``--local-port`` or the URLs; ``(None,
    None)``: start an embedded simulator."""
    if args.local_port is not None:
        if args.ws_url or args.http_url:
            raise UsageError("give --local-port or the URLs, not both")
        if args.local_port == 0:
            raise UsageError("--local-port: must be the port the simulator printed (not 0)")
        if args.local_port > 65532:
            raise UsageError("--local-port: the simulator's REST port N (Pulse is on N+3) "
                             "is at most 65532")
        gateway = args.local_port + 3
        return (f"ws://127.0.0.1:{gateway}/ws/api/v2", f"http://127.0.0.1:{gateway}/api/v2")
    ws_url: str | None = args.ws_url
    http_url: str | None = args.http_url
    return ws_url, http_url


def _credentials(args: argparse.Namespace, *, simulator: bool,
                 environ: Mapping[str, str] | None = None) -> tuple[str | None, str | None]:
    """``(client_id, client_secret)``: given, from the environment, a throwaway pair on a
    simulator, or ``(None, None)`` (public methods only)."""
    env = os.environ if environ is None else environ
    client_id = args.client_id or env.get(DEFAULT_CLIENT_ID_ENV) or None
    secret = env.get(args.client_secret_env) or None
    if client_id and secret:
        return client_id, secret
    if client_id and not secret:
        raise UsageError(f"--client-id needs its secret in ${args.client_secret_env}")
    if secret and not client_id:
        raise UsageError(f"${args.client_secret_env} is set: give --client-id (or "
                         f"${DEFAULT_CLIENT_ID_ENV}) too")
    if simulator:
        return f"kana-async-{secrets.token_hex(6)}", secrets.token_urlsafe(24)
    return None, None


@contextlib.asynccontextmanager
async def _client(args: argparse.Namespace, *, websocket: bool = True
                  ) -> AsyncIterator[PulseClient]:
    """An open :class:`~kana_async.PulseClient` for the options (and the embedded simulator
    it talks to, when no gateway was named)."""
    from ..pulse import PulseClient

    ws_url, http_url = pulse_endpoints(args)
    simulator = args.local_port is not None or (ws_url is None and http_url is None)
    client_id, secret = _credentials(args, simulator=simulator)
    async with contextlib.AsyncExitStack() as stack:
        if ws_url is None and http_url is None:
            from ..sim import Simulator  # here, to keep --help fast

            sim = await stack.enter_async_context(Simulator())
            ws_url, http_url = sim.pulse_ws_url, sim.pulse_http_url
        if not websocket:
            if http_url is None:
                raise UsageError("--http needs --http-url (or --local-port)")
            ws_url = None
        elif ws_url is None:
            raise UsageError("this command needs the WebSocket: give --ws-url (or --local-port)")
        pulse = PulseClient(ws_url, http_url=http_url, client_id=client_id,
                            client_secret=secret, timeout=args.timeout or 10.0)
        yield await stack.enter_async_context(pulse)


# -- call ------------------------------------------------------------------------------------


def _json_value(text: str) -> Any:
    """``text`` as JSON when it parses (numbers with a fraction as exact ``Decimal``), else
    the string itself; ``NaN``/``Infinity`` stay strings."""
    def constant(name: str) -> Any:
        raise ValueError(name)

    try:
        return json.loads(text, parse_float=Decimal, parse_constant=constant)
    except (ValueError, decimal.InvalidOperation):
        return text


def parse_params(pairs: Sequence[str]) -> dict[str, Any]:
    """``["amount=10", "type=limit", "post_only=true"]`` -> ``{"amount": 10, "type":
    "limit", "post_only": True}``; a bad pair raises :class:`UsageError` naming it."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not _KEY.fullmatch(key):
            raise UsageError(f"parameter {pair}: must be NAME=VALUE with a name of letters, "
                             "digits and _ (e.g. amount=10)")
        if key in params:
            raise UsageError(f"parameter {key}: given twice")
        params[key] = _json_value(value)
    return params


def _configure_call(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("method", metavar="METHOD",
                        help="a method of the document, e.g. public/get_index_price, "
                             "private/buy")
    parser.add_argument("params", nargs="*", metavar="NAME=VALUE",
                        help="parameters; a VALUE that parses as JSON is sent as JSON "
                             "(10, 0.5, true, [\"a\"]), anything else as a string")
    parser.add_argument("--http", action="store_true",
                        help="over HTTP instead of the WebSocket (not for WebSocket-only "
                             "methods)")
    _add_connection_options(parser)


async def _call(args: argparse.Namespace) -> int:
    params = parse_params(args.params)
    async with _client(args, websocket=not args.http) as pulse:
        result = await pulse.call(args.method, **params)
    try:
        sys.stdout.write(_result_encoder.encode(result).decode() + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        raise PipeClosed from None
    return 0


CALL = Command(
    "call", "send one method; its result as one JSON line",
    _configure_call, lambda args: asyncio.run(_call(args)),
    epilog="""examples::

  kana-async pulse call public/get_index_price index_name=btc_usd
  kana-async pulse call private/get_account_summary currency=BTC --local-port 8100
  kana-async pulse call private/buy instrument_name=BTC_USD-PERPETUAL amount=10 \\
      type=limit price=59000 post_only=true
  kana-async pulse call public/get_instruments currency=BTC --http | jq '.[0]'""",
)


# -- tail ------------------------------------------------------------------------------------


def _configure_tail(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("channel", metavar="CHANNEL",
                        help="e.g. book.BTC_USD-PERPETUAL.raw, quote.BTC_USD-PERPETUAL, "
                             "deribit_price_index.btc_usd, user.orders.any.raw")
    parser.add_argument("--count", type=count, metavar="N", help="stop after N items")
    parser.add_argument("--duration", type=seconds, metavar="S",
                        help="stop after S seconds (default: until Ctrl-C or --count)")
    _add_connection_options(parser)


async def _tail(args: argparse.Namespace) -> int:
    out = Lines()
    async with _client(args) as pulse:
        sub = pulse.subscribe(args.channel)
        with stop_on_signals() as stop:
            await until_stopped(_print_items(sub, args.channel, out, args.count), stop,
                                args.duration)
    return 0


async def _print_items(sub: Subscription[Any], channel: str, out: Lines,
                       limit: int | None) -> None:
    while limit is None or out.count < limit:
        try:
            item = await sub.get()
        except StopAsyncIteration:
            return
        except (StreamGapError, SlowConsumerError) as exc:
            warn(str(exc))
            continue
        out.write(_Line(round(time.time(), 6), channel, _shown(item)))


def _shown(item: Any) -> Any:
    from ..pulse import PulseBook

    if isinstance(item, PulseBook):
        return {
            "instrument_name": item.instrument_name, "change_id": item.change_id,
            "timestamp": item.timestamp, "status": item.status,
            "bids": [list(level) for level in item.bids],
            "asks": [list(level) for level in item.asks],
        }
    return item


TAIL = Command(
    "tail", "print a channel as NDJSON (one typed item per line) for pipelines",
    _configure_tail, lambda args: asyncio.run(_tail(args)),
    epilog="""examples::

  kana-async pulse tail deribit_price_index.btc_usd --count 3
  kana-async pulse tail book.BTC_USD-PERPETUAL.raw --count 1 | jq '.data.bids[0]'
  kana-async pulse tail user.orders.any.raw --local-port 8100

Lines are {"ts", "channel", "data"}: ts is when the item was read (Unix time), numbers of
data are exact decimal strings; books are built ones with their change_id and status.""",
)


# -- book ------------------------------------------------------------------------------------


def _configure_book(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("instrument", metavar="INSTRUMENT", help="e.g. BTC_USD-PERPETUAL")
    parser.add_argument("--depth", type=count, default=10, metavar="N",
                        help="levels per side (default 10)")
    parser.add_argument("--duration", type=seconds, metavar="S",
                        help="stop after S seconds (default: until Ctrl-C)")
    parser.add_argument("--count", type=count, metavar="N",
                        help="without a terminal: stop after printing N books")
    parser.add_argument("--interval", type=seconds, default=1.0, metavar="S",
                        help="without a terminal: print the book at most every S seconds "
                             "(default 1)")
    parser.add_argument("--plain", action="store_true",
                        help="plain text even on a terminal")
    _add_connection_options(parser)


def plain_book(book: PulseBook, depth: int) -> str:
    """The book as text lines, for logs and pipes."""
    stamp = time.strftime("%H:%M:%S")
    head = f"{book.instrument_name} at {stamp}  change {book.change_id}  {book.status}"
    if book.best_bid is not None and book.best_ask is not None:
        head += f"  spread {book.best_ask[0] - book.best_bid[0]}"
    cells = [("bid amount", "bid", "ask", "ask amount")]
    bids, asks = book.bids[:depth], book.asks[:depth]
    for i in range(max(len(bids), len(asks))):
        bid = bids[i] if i < len(bids) else None
        ask = asks[i] if i < len(asks) else None
        cells.append((
            str(bid[1]) if bid else "", str(bid[0]) if bid else "",
            str(ask[0]) if ask else "", str(ask[1]) if ask else "",
        ))
    widths = [max(len(row[i]) for row in cells) for i in range(4)]
    lines = [head]
    for row in cells:
        lines.append(f"  {row[0]:>{widths[0]}}  {row[1]:>{widths[1]}} | "
                     f"{row[2]:<{widths[2]}}  {row[3]:<{widths[3]}}".rstrip())
    return "\n".join(lines)


async def _book(args: argparse.Namespace) -> int:
    from ..pulse.channels import channel_spec

    channel = f"book.{args.instrument}.raw"
    if not channel_spec(channel).book:  # names the rule a bad instrument name breaks
        raise UsageError(f"{args.instrument}: not an instrument name")
    async with _client(args) as pulse:
        sub = pulse.subscribe(channel)
        with stop_on_signals() as stop:
            if is_terminal(sys.stdout) and not args.plain:
                work = _live_book(sub, args.depth)
            else:
                work = _plain_books(sub, args.depth, args.interval, args.count)
            await until_stopped(work, stop, args.duration)
    return 0


async def _live_book(sub: Subscription[Any], depth: int) -> None:
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    with Live(Text("waiting for the first snapshot…"), console=Console(),
              refresh_per_second=8, auto_refresh=True) as live:
        async for book in sub:
            live.update(Text(plain_book(book, depth)))


async def _plain_books(sub: Subscription[Any], depth: int, interval: float,
                       limit: int | None) -> None:
    shown, printed = float("-inf"), 0
    async for book in sub:
        now = time.monotonic()
        if now - shown < interval:
            continue
        shown = now
        say(plain_book(book, depth) + "\n")
        printed += 1
        if limit is not None and printed >= limit:
            return


BOOK = Command(
    "book", "watch an instrument's book (plain text when not on a terminal)",
    _configure_book, lambda args: asyncio.run(_book(args)),
    epilog="""examples::

  kana-async pulse book BTC_USD-PERPETUAL
  kana-async pulse book ETH_USD-PERPETUAL --depth 5 --duration 30 --local-port 8100

The header says the book's change_id and whether it is synced; a book whose change chain
broke shows 'syncing' at its last good state until the next snapshot.""",
)


# -- the command -----------------------------------------------------------------------------

_SUBCOMMANDS = (CALL, TAIL, BOOK)


def _configure(parser: argparse.ArgumentParser) -> None:
    subs = parser.add_subparsers(dest="pulse_command", metavar="SUBCOMMAND", required=True)
    for command in _SUBCOMMANDS:
        sub = subs.add_parser(
            command.name, help=command.help, description=command.help,
            epilog=command.epilog or None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.configure(sub)
        sub.set_defaults(pulse_run=command.run)


def _run(args: argparse.Namespace) -> int:
    status: int = args.pulse_run(args)
    return status


PULSE = Command(
    "pulse", "the Pulse v2 gateway: call a method, tail a channel, watch a book",
    _configure, _run,
    epilog="""examples::

  kana-async pulse call public/get_index_price index_name=btc_usd
  kana-async pulse tail quote.BTC_USD-PERPETUAL --count 5
  kana-async pulse book BTC_USD-PERPETUAL

Every subcommand takes --help. Default: an embedded simulator; --local-port N: a running
'kana-async sim --port N' (Pulse on N+3).""",
)
