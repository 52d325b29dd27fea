"""What the demo shows: plain lines (CI, pipes, ``--plain``) or a live ``rich`` screen, and
the summary as tables.

The screens are pure functions of a :class:`Frame` (the values one drawing shows), built of
:mod:`kana_async.cli.views`, which owns how every number is written; the displays only decide
when to draw and survive an output that went away.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TextIO

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ...models import OpenOrder, Position
from ...stream.book import OrderBook
from ...stream.mux import StreamStats
from .. import views
from .report import DemoReport, Event, spread_text

__all__ = [
    "FULL_SCREEN",
    "Frame",
    "LiveDisplay",
    "PlainDisplay",
    "compact_screen",
    "screen",
    "status_line",
    "summary_view",
]

#: Columns and lines the full live screen needs; on a smaller terminal it is compact.
FULL_SCREEN = (110, 40)


@dataclass(frozen=True)
class Frame:
    """What one drawing of the screen (or one status line) shows, taken at one moment."""

    report: DemoReport
    #: The market's name (its id until the markets are read) and id.
    name: str
    market_id: int
    phase: str
    #: Seconds since the start, and the run's planned length.
    elapsed: float
    duration: float
    book: OrderBook | None
    #: The demo's (long) position in the market, valued at ``mid``.
    position: Position | None
    mid: Decimal | None
    open_orders: Sequence[OpenOrder]
    funding_rate: Decimal | None
    #: The stream's counters (``None``: not open).
    stream: StreamStats | None


def status_line(frame: Frame) -> str:
    """One line of state for plain output while watching."""
    book, long, report = frame.book, frame.position, frame.report
    top = "no book" if book is None or book.best_bid is None or book.best_ask is None \
        else f"bid {report.price(book.best_bid.price)} ask {report.price(book.best_ask.price)}"
    pos = "no position" if long is None else (
        f"long {report.size(long.size)} @ {report.price(long.entry_price)} uPnL "
        f"{views.format_decimal(views.unrealized_pnl(long, frame.mid), 6, sign=True)}")
    frames = 0 if frame.stream is None else frame.stream.frames
    return f"{top}; {pos}; {frames:,} frames"


def screen(frame: Frame, width: int | None = None, height: int | None = None
           ) -> RenderableType:
    """The live screen: book, position, orders, stream and the latest events; on a
    terminal smaller than :data:`FULL_SCREEN` (``width`` x ``height``), the same figures
    as short lines that fit it (:func:`compact_screen`)."""
    if (width is not None and width < FULL_SCREEN[0]) or (
            height is not None and height < FULL_SCREEN[1]):
        return compact_screen(frame, width or FULL_SCREEN[0], height or FULL_SCREEN[1])
    report, name, rate = frame.report, frame.name, frame.funding_rate
    grid = report.grid
    grids = {} if grid is None else {frame.market_id: grid}
    header = Text.assemble(
        ("Kana demo", "bold"), f" — {report.network} — {name} — ",
        (frame.phase, "cyan"), f" — {frame.elapsed:4.1f} s / {frame.duration:g} s",
        ("" if rate is None else
         f" — funding {views.format_decimal(rate * 100, 4, sign=True)} %"),
    )
    book = views.book_top(
        frame.book, depth=4, title=f"{name} book",
        own_prices=[o.price for o in frame.open_orders], grid=grid,
    )
    right = Group(
        views.position_card(frame.position, frame.mid, realized_pnl=report.realized_pnl,
                            grid=grid),
        Text(""),
        views.open_orders(frame.open_orders, grids=grids),
    )
    top = Table.grid(padding=(0, 4))
    top.add_column()
    top.add_column()
    top.add_row(book, right)
    events = Text("\n".join(e.line() for e in report.events[-3:]), style="dim",
                  no_wrap=True, overflow="ellipsis")
    return Group(header, Text(""), top, Text(""),
                 views.order_log(report.transactions, limit=5), Text(""),
                 views.stream_stats(frame.stream), Text(""), events)


def compact_screen(frame: Frame, width: int, height: int) -> RenderableType:
    """The live screen as one line per figure, each cut to ``width``, at most
    ``height`` lines (the latest events fill what is left)."""
    report, rate, book = frame.report, frame.funding_rate, frame.book
    lines: list[Text] = [Text.assemble(
        ("Kana demo", "bold"), f" {frame.name} ", (frame.phase, "cyan"),
        f" {frame.elapsed:.1f}/{frame.duration:g} s",
        "" if rate is None else f" funding {views.format_decimal(rate * 100, 4, sign=True)}%",
    )]
    if book is None:
        lines.append(Text("book: waiting…", style="dim"))
    else:
        bid, ask = book.best_bid, book.best_ask
        lines.append(Text.assemble(
            "bid ", ("–" if bid is None else
                     f"{report.price(bid.price)} x {report.size(bid.size)}", "green"),
            "  ask ", ("–" if ask is None else
                       f"{report.price(ask.price)} x {report.size(ask.size)}", "red"),
            f"  spread {report.price(book.spread)}"))
    long = frame.position
    if long is None:
        lines.append(Text("position: none"))
    else:
        pnl = views.unrealized_pnl(long, frame.mid)
        lines.append(Text(
            f"long {report.size(long.size)} @ {report.price(long.entry_price)}  uPnL "
            f"{views.format_decimal(pnl, 6, sign=True)}  margin "
            f"{views.format_decimal(long.margin, 4)}  TP {report.price(long.tp)} SL "
            f"{report.price(long.sl)}"))
    lines.append(Text(f"realized {views.format_decimal(report.realized_pnl, 6, sign=True)}"
                      f"  resting orders {len(frame.open_orders)}"))
    stats = frame.stream
    lines.append(Text("stream: not open" if stats is None else
                      f"stream: {'connected' if stats.connected else 'disconnected'}, "
                      f"{stats.connects} connection(s), {stats.frames:,} frames"))
    for record in report.transactions[-3:]:
        lines.append(Text(
            f"{record.outcome:<4.12} {views.format_seconds(record.confirm_seconds):>8} "
            f"{record.action}", style="" if record.outcome in ("ok", "pending") else "red"))
    room = height - len(lines) - 1  # a line for the cursor
    if room > 0:
        lines.extend(Text(event.line(), style="dim") for event in report.events[-room:])
    for line in lines:
        line.no_wrap = True
        line.overflow = "ellipsis"
        line.truncate(width, overflow="ellipsis")
    return Group(*lines[:max(1, height - 1)])


def summary_view(report: DemoReport) -> RenderableType:
    """The summary for a terminal: the same figures as :meth:`DemoReport.summary_lines`."""
    head = Text.assemble(
        ("Summary ", "bold"), f"{report.network}, market {report.market}, "
        f"{views.format_seconds(report.elapsed, 1)} — ",
        (report.verdict(), "green" if report.succeeded else "red"),
    )
    figures = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, show_header=False)
    figures.add_column(style="bold")
    figures.add_column()
    figures.add_row("delivery latency", "submit → effect on the stream: "
                    + spread_text(report.stream_latencies()))
    figures.add_row("confirmation", "submit → commit: " + spread_text(report.confirm_latencies()))
    stream = report.stream
    if stream is not None:
        figures.add_row("stream", f"{stream.connects} connection(s), {stream.frames:,} frames, "
                        f"{stream.disconnects} disconnect(s), {views.anomalies(stream)} anomalies")
    figures.add_row("position", report.position_text())
    figures.add_row("PnL", f"realized {views.format_decimal(report.realized_pnl, 6, sign=True)}"
                    f" (fees {views.format_decimal(report.fees, 6)}), {len(report.trades)} "
                    f"fill(s){report.unrealized_text()}")
    topics = Table(title="Messages per topic", box=box.SIMPLE_HEAD, show_edge=False,
                   pad_edge=False)
    for name in ("topic", "received", "delivered", "conflated"):
        topics.add_column(name, justify="left" if name == "topic" else "right")
    for topic, received, delivered, conflated in report.topic_counts():
        topics.add_row(topic, f"{received:,}", f"{delivered:,}", f"{conflated:,}")
    return Group(head, Text(""), views.order_log(report.transactions, title="Transactions"),
                 Text(""), topics, Text(""), figures)


class PlainDisplay:
    """Plain lines, one per event, and a status line now and then while watching.

    Showing never raises: when the output goes away (a reader that left, ``| head``; a
    closed file), ``on_gone`` is called once and the rest is dropped, so that the demo's
    clean-up, which shows what it does, still runs."""

    def __init__(self, out: TextIO, on_gone: Callable[[], None] = lambda: None) -> None:
        self.out = out
        self.gone = False
        self._on_gone = on_gone

    def _show(self, draw: Callable[[], object]) -> None:
        if self.gone:
            return
        try:
            draw()
        except (OSError, ValueError):  # BrokenPipeError, EBADF; ValueError: a closed file
            self.gone = True
            self._on_gone()

    def _print(self, text: str) -> None:
        def draw() -> None:
            self.out.write(text + "\n")
            self.out.flush()

        self._show(draw)

    def event(self, event: Event) -> None:
        self._print(event.line())

    def status(self, text: str) -> None:
        self._print(f"          {text}")

    def refresh(self) -> None:
        """Plain output has no screen to redraw."""

    def start(self) -> None:
        """Nothing to set up."""

    def stop(self) -> None:
        """Nothing to tear down."""

    def summary(self, report: DemoReport) -> None:
        self._print("\n".join(report.summary_lines()))


class LiveDisplay(PlainDisplay):
    """A rich live screen redrawn by the demo's refresh task; the summary as tables."""

    def __init__(self, out: TextIO, screen: Callable[[int, int], RenderableType],
                 on_gone: Callable[[], None] = lambda: None) -> None:
        super().__init__(out, on_gone)
        self.console = Console(file=out)
        self._screen = screen
        self._live = Live(console=self.console, auto_refresh=False, transient=False,
                          redirect_stdout=False, redirect_stderr=False)

    def event(self, event: Event) -> None:
        """The refresh task shows it within a quarter of a second (drawing here would add
        the drawing time to the latencies being measured)."""

    def status(self, text: str) -> None:
        """The screen shows the state already."""

    def refresh(self) -> None:
        def draw() -> None:
            width, height = self.console.size
            self._live.update(self._screen(width, height), refresh=True)

        self._show(draw)

    def start(self) -> None:
        self._show(lambda: self._live.start(refresh=False))
        self.refresh()

    def stop(self) -> None:
        self.refresh()
        with contextlib.suppress(OSError, ValueError):
            self._live.stop()

    def summary(self, report: DemoReport) -> None:
        self._show(lambda: self.console.print(summary_view(report)))
