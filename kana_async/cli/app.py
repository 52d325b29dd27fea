"""The command table, the parser built from it, and :func:`main`: how each outcome becomes
an exit status.

Statuses: 0 done (also when the reader of stdout went away); 1 a runtime failure
(:class:`~kana_async.KanaError`, shown as one line); 2 a usage error (argparse, options that
do not fit together, input that breaks a market rule); 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from .._version import __version__
from ..errors import KanaError, ValidationError
from .account import ORDERS, POSITIONS
from .args import CliError, Command
from .bridge import BRIDGE
from .demo import DEMO
from .market import BOOK, MARKETS, PRICE
from .output import PipeClosed, silence_stdout
from .pulse import PULSE
from .signer import SIGNER
from .sim import SIM
from .streams import RECORD, REPLAY, TAIL
from .trading import CANCEL, DEPOSIT, PLACE, WITHDRAW

__all__ = ["COMMANDS", "build_parser", "main"]

PROG = "kana-async"

#: Every subcommand, in the order ``--help`` lists them.
COMMANDS: tuple[Command, ...] = (
    DEMO, MARKETS, PRICE, BOOK, TAIL, POSITIONS, ORDERS, PLACE, CANCEL, DEPOSIT, WITHDRAW, RECORD,
    REPLAY, SIM, PULSE, SIGNER, BRIDGE,
)


class _Parser(argparse.ArgumentParser):
    """argparse, with its complaints on one line."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Kana Perps SDK tools (asyncio): market data, streams, trading, a local "
                    "exchange simulator.",
        epilog="Every command takes --help. Start with: kana-async demo (or kana-async "
               "markets).",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        sub = commands.add_parser(
            command.name, help=command.help, description=command.help,
            epilog=command.epilog or None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.configure(sub)
        sub.set_defaults(run=command.run)
    return parser


def _fail(message: str) -> None:
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr, flush=True)


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
    except PipeClosed:
        silence_stdout()
        return 0
    except CliError as exc:
        _fail(str(exc))
        return exc.status
    except ValidationError as exc:
        _fail(str(exc))
        return 2
    except KanaError as exc:
        _fail(str(exc))
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
