"""Where commands' output goes, for people and for pipelines (how a value is written is
:mod:`.views`'s: this module lays out and writes what it formats).

Data goes to stdout: NDJSON (one object per line, ``Decimal`` as strings, flushed per line) or
a table (rich on a terminal, plain aligned columns otherwise, so ``grep``/``awk`` work).
Prompts, spinners, warnings and summaries go to stderr, so stdout stays clean for pipes.
A reader that goes away (``| head``) raises :class:`PipeClosed`, which ends the command
quietly with status 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any, TextIO

import msgspec

from ..stream.book import OrderBook
from .args import CliError
from .views import fmt

__all__ = [
    "Lines",
    "PipeClosed",
    "confirm",
    "is_terminal",
    "print_table",
    "read_line",
    "say",
    "silence_stdout",
    "spinner",
    "warn",
]


class PipeClosed(Exception):
    """Whoever read stdout has gone (``| head``): stop, it is not an error."""


class _BookLevel(msgspec.Struct):
    price: Decimal
    size: Decimal


class _Book(msgspec.Struct):
    """An order book as NDJSON shows it: sides split and sorted, best first."""

    market_id: int
    bids: list[_BookLevel]
    asks: list[_BookLevel]


def _to_json(value: Any) -> Any:
    if isinstance(value, OrderBook):
        return _Book(
            value.market_id,
            [_BookLevel(lv.price, lv.size) for lv in value.bids],
            [_BookLevel(lv.price, lv.size) for lv in value.asks],
        )
    raise TypeError(f"cannot show {type(value).__name__} as JSON")


_encoder = msgspec.json.Encoder(enc_hook=_to_json, decimal_format="string")


def is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Lines:
    """NDJSON on ``out`` (stdout by default), one flushed line per object."""

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out
        #: Lines written.
        self.count = 0

    def write(self, obj: Any) -> None:
        out = self._out if self._out is not None else sys.stdout
        line = _encoder.encode(obj).decode() + "\n"
        try:
            out.write(line)
            out.flush()
        except BrokenPipeError:
            raise PipeClosed from None
        self.count += 1


def say(text: str) -> None:
    """A line for people on stdout (an outcome, a text view); a reader that left raises
    :class:`PipeClosed`."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        raise PipeClosed from None


def silence_stdout() -> None:
    """After the reader of stdout left: point stdout at /dev/null, so that the interpreter's
    final flush does not complain about the broken pipe."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def warn(message: str) -> None:
    print(f"kana-async: warning: {message}", file=sys.stderr, flush=True)


def print_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    title: str | None = None,
    out: TextIO | None = None,
    right: Sequence[int] = (),
) -> None:
    """A table: rich on a terminal, plain aligned text elsewhere (``right``: column indexes
    to align right, e.g. numbers); each cell written by :func:`~.views.fmt`."""
    out = out if out is not None else sys.stdout
    cells = [[fmt(value) for value in row] for row in rows]
    try:
        if is_terminal(out):
            from rich.console import Console
            from rich.table import Table

            table = Table(title=title, title_justify="left")
            for index, name in enumerate(columns):
                table.add_column(name, justify="right" if index in right else "left")
            for row in cells:
                table.add_row(*row)
            Console(file=out).print(table)
            return
        widths = [max(len(name), *(len(row[i]) for row in cells)) if cells else len(name)
                  for i, name in enumerate(columns)]

        def line(values: Sequence[str]) -> str:
            parts = [value.rjust(w) if i in right else value.ljust(w)
                     for i, (value, w) in enumerate(zip(values, widths, strict=True))]
            return "  ".join(parts).rstrip()

        text = [title] if title else []
        text.append(line(columns))
        text.extend(line(row) for row in cells)
        out.write("\n".join(text) + "\n")
        out.flush()
    except BrokenPipeError:
        raise PipeClosed from None


async def confirm(question: str, *, assume_yes: bool, stdin: TextIO | None = None) -> None:
    """Ask before signing. ``--yes`` skips the question; without a terminal to ask on, refuse
    (a script must say ``--yes`` on purpose). Ctrl-C while asking ends the command at once."""
    if assume_yes:
        return
    stdin = stdin if stdin is not None else sys.stdin
    if not is_terminal(stdin):
        raise CliError("refusing to sign without confirmation: stdin is not a terminal "
                       "(pass --yes to sign anyway)")
    print(question, file=sys.stderr)
    sys.stderr.write("Sign and send? [y/N] ")
    sys.stderr.flush()
    try:
        answer = (await read_line(stdin)).strip().lower()
    except asyncio.CancelledError:  # Ctrl-C: end the question's line before leaving
        print(file=sys.stderr, flush=True)
        raise
    if answer not in ("y", "yes"):
        raise CliError("cancelled: nothing was signed")


async def read_line(stdin: TextIO) -> str:
    """A line of ``stdin``, awaited without blocking the event loop.

    A blocking ``readline`` on the loop's thread would keep Ctrl-C (which cancels the main
    task) waiting until Enter; an executor thread blocked in it would hold up the
    interpreter's exit. So: wait for the descriptor to be readable (a terminal answers a
    whole line at once), else read in a daemon thread. A stream without a descriptor is read
    directly (it does not block)."""
    try:
        fd = stdin.fileno()
    except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation: no descriptor
        return stdin.readline()
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not ready.done():
            ready.set_result(None)

    try:
        loop.add_reader(fd, readable)
    except (NotImplementedError, OSError, ValueError):  # e.g. a loop without add_reader
        return await _line_in_thread(stdin)
    try:
        await ready
    finally:
        loop.remove_reader(fd)
    return stdin.readline()


def _line_in_thread(stdin: TextIO) -> asyncio.Future[str]:
    loop = asyncio.get_running_loop()
    line: asyncio.Future[str] = loop.create_future()

    def deliver(text: str | None, error: BaseException | None) -> None:
        if line.done():
            return
        if error is not None:
            line.set_exception(error)
        else:
            line.set_result(text or "")

    def read() -> None:
        text, error = None, None
        try:
            text = stdin.readline()
        except Exception as exc:  # handed to the waiting coroutine
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(deliver, text, error)

    threading.Thread(target=read, name="kana-async stdin", daemon=True).start()
    return line


@contextlib.contextmanager
def spinner(message: str) -> Iterator[None]:
    """A spinner on stderr while something is awaited (only when stderr is a terminal)."""
    if not is_terminal(sys.stderr):
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(message):
        yield
