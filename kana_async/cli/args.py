"""What every subcommand shares on the command line: the :class:`Command` entry, argument
types that reject bad input with the rule, and the connection and wallet options.

Argument types raise ``argparse.ArgumentTypeError`` so argparse reports a bad value as a usage
error (exit status 2) naming the option; :class:`CliError` is a runtime failure (status 1).
"""

from __future__ import annotations

import argparse
import decimal
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from ..errors import KanaError

__all__ = [
    "DEFAULT_API_KEY_ENV",
    "DEFAULT_KEY_ENV",
    "CliError",
    "Command",
    "UsageError",
    "add_address_options",
    "add_connection_options",
    "address",
    "count",
    "decimal_number",
    "leverage",
    "market",
    "port",
    "positive_decimal",
    "seconds",
    "speed",
    "url",
]

#: The environment variable ``--private-key-env`` names by default.
DEFAULT_KEY_ENV = "KANA_PRIVATE_KEY"
#: The environment variable read when ``--api-key`` is not given.
DEFAULT_API_KEY_ENV = "KANA_API_KEY"


@dataclass(frozen=True)
class Command:
    """One subcommand: its name, a help line, how it adds its options, how it runs.

    ``epilog`` holds examples shown at the end of ``--help``.
    """

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    epilog: str = ""


class CliError(KanaError):
    """A failure to report in one line; ``status`` is the exit status (1: runtime)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


class UsageError(CliError):
    """Options that parse but do not fit together (exit status 2, like argparse)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=2)


# -- argument types ---------------------------------------------------------------------------


def port(value: str) -> int:
    """A simulator's first port N, with room for its four servers (N to N+3)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be an integer") from None
    if not 0 <= number <= 65532:
        raise argparse.ArgumentTypeError("must be 0 (ephemeral) or from 1 to 65532 (the "
                                         "simulator uses N to N+3)")
    return number


def seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number of seconds") from None
    if not 0 <= number < float("inf"):
        raise argparse.ArgumentTypeError("must be >= 0")
    return number


def speed(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number") from None
    if not 0 < number < float("inf"):
        raise argparse.ArgumentTypeError("must be > 0")
    return number


def count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return number


def leverage(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number (e.g. 2 for 2x)") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return number


def decimal_number(value: str) -> Decimal:
    """Money as typed: an exact ``Decimal`` (the market grid is checked later)."""
    try:
        number = Decimal(value.strip())
    except decimal.InvalidOperation:
        raise argparse.ArgumentTypeError("must be a decimal number") from None
    if not number.is_finite():
        raise argparse.ArgumentTypeError("must be a finite number")
    if number < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return number


def positive_decimal(value: str) -> Decimal:
    number = decimal_number(value)
    if number == 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return number


_MARKET = re.compile(r"[0-9]{1,20}|[A-Za-z][A-Za-z0-9./_-]{0,31}")


def market(value: str) -> str:
    """A market id (``1338``) or name (``APT``, ``APT/USDC``); names are resolved later."""
    text = value.strip()
    if not _MARKET.fullmatch(text):
        raise argparse.ArgumentTypeError("must be a market id (e.g. 1338) or name (e.g. APT)")
    return text


_ADDRESS = re.compile(r"0x[0-9a-fA-F]{1,64}")


def address(value: str) -> str:
    text = value.strip()
    if not _ADDRESS.fullmatch(text):
        raise argparse.ArgumentTypeError("must be a 0x-prefixed hex address of at most 64 digits")
    return "0x" + text[2:].lower().rjust(64, "0")


def url(value: str) -> str:
    if not value.startswith(("http://", "https://", "ws://", "wss://")):
        raise argparse.ArgumentTypeError("must be an http(s):// or ws(s):// URL")
    return value


def _env_name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise argparse.ArgumentTypeError("must be the name of an environment variable")
    return value


# -- shared option groups ---------------------------------------------------------------------


def add_connection_options(parser: argparse.ArgumentParser, *, wallet: bool = False) -> None:
    """``--network``, the URLs, ``--local-port``, ``--api-key`` (and ``--private-key-env``
    for commands that sign or act for the wallet)."""
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--network", choices=("local", "testnet", "mainnet"), default="local",
        help="where to connect (default local: an embedded simulator started for this "
             "command, unless --local-port or URLs point at a running 'kana-async sim')",
    )
    group.add_argument(
        "--local-port", type=port, metavar="N",
        help="use a running 'kana-async sim --port N': REST on N, WebSocket N+1, node N+2, "
             "Pulse N+3",
    )
    group.add_argument("--rest-url", type=url, metavar="URL", help="REST API base URL")
    group.add_argument("--ws-url", type=url, metavar="URL", help="indexer WebSocket URL")
    group.add_argument("--node-url", type=url, metavar="URL", help="Aptos node URL (…/v1)")
    group.add_argument(
        "--api-key", metavar="KEY", default=None,
        help=f"Kana API key (default: ${DEFAULT_API_KEY_ENV}; prefer the variable: command "
             "lines are visible to other users of the machine)",
    )
    if wallet:
        group.add_argument(
            "--private-key-env", type=_env_name, metavar="VAR", default=DEFAULT_KEY_ENV,
            help=f"environment variable holding the wallet's private key (default "
                 f"{DEFAULT_KEY_ENV}); the key itself is never printed",
        )


def add_address_options(parser: argparse.ArgumentParser, *, profile: bool = False) -> None:
    """``--address`` (a wallet to look at instead of your own) and, for WebSocket topics,
    ``--profile`` (a trade-profile address, used as given)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--address", type=address, metavar="WALLET",
        help="look at this wallet instead of the one whose key is in the environment",
    )
    if profile:
        group.add_argument(
            "--profile", type=address, metavar="PROFILE",
            help="a trade-profile address (what WebSocket topics are keyed by); "
                 "default: the profile of --address or of your wallet",
        )


def api_key_from(args: argparse.Namespace, environ: Mapping[str, str] | None = None
                 ) -> str | None:
    """``--api-key``, else ``$KANA_API_KEY`` (of ``environ``, by default the process's),
    else ``None``."""
    env = os.environ if environ is None else environ
    key: str | None = args.api_key or env.get(DEFAULT_API_KEY_ENV) or None
    return key
