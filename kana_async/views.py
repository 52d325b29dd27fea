"""Terminal views of exchange state, as ``rich`` renderables.

Every function here is pure: data in, a renderable out, no I/O and no clock. The demo's live
screen and the CLI's live commands compose them, and tests render them into a string. A view
accepts empty data (a book not received yet, no position) and says so instead of failing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Protocol

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from .models import FundingRate, OpenOrder, OrderBookLevel, Position
from .stream.book import OrderBook
from .stream.mux import StreamStats

__all__ = [
    "OrderLine",
    "book_top",
    "format_decimal",
    "format_seconds",
    "funding_rates",
    "open_orders",
    "order_log",
    "position_card",
    "positions",
    "stream_stats",
    "unrealized_pnl",
]

_BID = "green"
_ASK = "red"
_DIM = "dim"


# -- formatting --------------------------------------------------------------------------------


def format_decimal(value: Decimal | None, places: int | None = None, *, sign: bool = False
                   ) -> str:
    """``value`` with thousands separators; ``places`` fixes the decimals (rounded half-even).

    ``None`` prints as an en dash, so a missing figure is visible but not alarming.
    """
    if value is None:
        return "–"
    if places is not None:
        value = value.quantize(Decimal(1).scaleb(-places))
    return f"{value:{'+' if sign else ''},f}"


def format_seconds(seconds: float | None) -> str:
    """A duration as ms below one second (``"12.3 ms"``), else seconds (``"1.25 s"``)."""
    if seconds is None:
        return "–"
    if abs(seconds) < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


def _signed_style(value: Decimal | None) -> str:
    if value is None or value == 0:
        return ""
    return _BID if value > 0 else _ASK


# -- the order book ----------------------------------------------------------------------------


def book_top(
    book: OrderBook | None,
    *,
    depth: int = 5,
    title: str | None = None,
    own_prices: Iterable[Decimal] = (),
    size_places: int | None = None,
    price_places: int | None = None,
) -> RenderableType:
    """The best ``depth`` levels of each side: asks above (best lowest), bids below.

    The line between them shows the mid and the spread. Levels whose price is in
    ``own_prices`` (the viewer's resting orders) are marked with a star. ``size_places``
    and ``price_places`` fix the decimals of sizes and prices, so that they line up (a
    market's lot and price-step decimals, say).
    """
    if depth < 1:
        raise ValueError("depth must be >= 1")
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, expand=False, pad_edge=False)
    table.add_column("", width=1)
    table.add_column("price", justify="right", min_width=10)
    table.add_column("size", justify="right", min_width=10)
    table.add_column("total", justify="right", min_width=10)
    if book is None:
        table.add_row("", Text("waiting for the book…", style=_DIM), "", "")
        return table
    mine = set(own_prices)
    asks = _cumulative(book.asks[:depth])
    bids = _cumulative(book.bids[:depth])
    if not asks:
        table.add_row("", Text("no asks", style=_DIM), "", "", end_section=True)
    for index, (level, total) in enumerate(reversed(asks)):
        table.add_row(*_level_cells(level, total, _ASK, level.price in mine, size_places,
                                    price_places),
                      end_section=index == len(asks) - 1)
    spread, mid = book.spread, book.mid
    if spread is None:
        table.add_row("", Text("one side empty", style=_DIM), "", "", end_section=True)
    else:
        table.add_row("", Text(format_decimal(mid), style="bold"),
                      Text(f"spread {format_decimal(spread)}", style=_DIM), "",
                      end_section=True)
    for level, total in bids:
        table.add_row(*_level_cells(level, total, _BID, level.price in mine, size_places,
                                    price_places))
    if not bids:
        table.add_row("", Text("no bids", style=_DIM), "", "")
    return table


def _cumulative(levels: Sequence[OrderBookLevel]) -> list[tuple[OrderBookLevel, Decimal]]:
    running = Decimal(0)
    out = []
    for level in levels:
        running += level.size
        out.append((level, running))
    return out


def _level_cells(level: OrderBookLevel, total: Decimal, style: str, own: bool,
                 size_places: int | None, price_places: int | None
                 ) -> tuple[Text, Text, Text, Text]:
    return (
        Text("*" if own else "", style="bold yellow"),
        Text(format_decimal(level.price, price_places), style=style),
        Text(format_decimal(level.size, size_places)),
        Text(format_decimal(total, size_places), style=_DIM),
    )


# -- positions ---------------------------------------------------------------------------------


def unrealized_pnl(position: Position, mark: Decimal | None) -> Decimal | None:
    """Profit of closing ``position`` at ``mark``: (mark - entry) x size, negated for shorts.

    ``None`` when the mark or the side is unknown. Fees and funding are not included.
    """
    if mark is None or position.trade_side is None:
        return None
    move = mark - position.entry_price
    return move * position.size if position.trade_side else -move * position.size


def positions(
    items: Sequence[Position],
    marks: Mapping[int, Decimal | None] | None = None,
    *,
    title: str | None = "Positions",
) -> RenderableType:
    """One row per position: side, size, entry, mark, unrealized PnL, margin, liq., TP/SL.

    ``marks`` maps a market id to the price PnL is valued at (the book's mid, say).
    """
    marks = marks or {}
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in ("market", "side", "size", "entry", "mark", "uPnL", "margin", "liq.", "TP",
                 "SL"):
        table.add_column(name, justify="left" if name in ("market", "side") else "right")
    if not items:
        table.add_row(Text("no open position", style=_DIM), *[""] * 9)
        return table
    for position in items:
        mark = marks.get(position.market_id)
        pnl = unrealized_pnl(position, mark)
        side = position.trade_side
        table.add_row(
            str(position.market_id),
            Text("?" if side is None else ("long" if side else "short"),
                 style="" if side is None else (_BID if side else _ASK)),
            format_decimal(position.size),
            format_decimal(position.entry_price),
            format_decimal(mark),
            Text(format_decimal(pnl, 4, sign=True), style=_signed_style(pnl)),
            format_decimal(position.margin, 4),
            format_decimal(position.liq_price),
            format_decimal(position.tp),
            format_decimal(position.sl),
        )
    return table


def position_card(
    position: Position | None,
    mark: Decimal | None = None,
    *,
    realized_pnl: Decimal | None = None,
    title: str | None = "Position",
) -> RenderableType:
    """One position as a narrow two-column card (a bot watching one market).

    ``mark`` values the unrealized PnL; ``realized_pnl``, when given, adds a line for what
    the fills have already booked.
    """
    card = Table.grid(padding=(0, 2))
    card.add_column(style=_DIM)
    card.add_column(justify="right")
    if position is None:
        card.add_row("no open position", "")
    else:
        side = position.trade_side
        pnl = unrealized_pnl(position, mark)
        card.add_row("side", Text("?" if side is None else ("long" if side else "short"),
                                  style="" if side is None else (_BID if side else _ASK)))
        card.add_row("size", format_decimal(position.size))
        card.add_row("entry", format_decimal(position.entry_price))
        card.add_row("mark", format_decimal(mark))
        card.add_row("unrealized", Text(format_decimal(pnl, 6, sign=True),
                                        style=_signed_style(pnl)))
        card.add_row("margin", format_decimal(position.margin, 4))
        card.add_row("liquidation", format_decimal(position.liq_price))
        card.add_row("TP / SL", f"{format_decimal(position.tp)} / {format_decimal(position.sl)}")
    if realized_pnl is not None:
        card.add_row("realized", Text(format_decimal(realized_pnl, 6, sign=True),
                                      style=_signed_style(realized_pnl)))
    if title is None:
        return card
    return Group(Text(title, style="italic"), card)


def open_orders(items: Sequence[OpenOrder], *, title: str | None = "Open orders"
                ) -> RenderableType:
    """One row per resting order: id, market, price, remaining of total size, leverage."""
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in ("order id", "market", "price", "remaining", "total", "lev."):
        table.add_column(name, justify="left" if name in ("order id", "market") else "right")
    if not items:
        table.add_row(Text("nothing rests", style=_DIM), "", "", "", "", "")
    for order in items:
        table.add_row(
            _short_id(order.order_id), str(order.market_id), format_decimal(order.price),
            format_decimal(order.remaining_size), format_decimal(order.total_size),
            f"{order.leverage}x",
        )
    return table


def _short_id(order_id: str, keep: int = 12) -> str:
    """Kana order ids run to 40 digits: keep the distinctive tail."""
    return order_id if len(order_id) <= keep else "…" + order_id[-keep:]


# -- funding -----------------------------------------------------------------------------------


def funding_rates(
    rates: Sequence[FundingRate],
    *,
    names: Mapping[int, str] | None = None,
    title: str | None = "Funding",
) -> RenderableType:
    """One row per market: its name (from ``names``) and current funding rate in percent."""
    names = names or {}
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("market")
    table.add_column("rate", justify="right")
    if not rates:
        table.add_row(Text("no funding rate yet", style=_DIM), "")
    for rate in sorted(rates, key=lambda r: r.market_id):
        percent = rate.funding_rate * 100
        table.add_row(
            names.get(rate.market_id, str(rate.market_id)),
            Text(format_decimal(percent, 4, sign=True) + " %", style=_signed_style(percent)),
        )
    return table


# -- the stream --------------------------------------------------------------------------------


def stream_stats(stats: StreamStats | None, *, title: str | None = "Stream") -> RenderableType:
    """The connection's state and, per subscription, what was received and delivered."""
    if stats is None:
        return Text("stream not open", style=_DIM)
    state = Text("connected", style=_BID) if stats.connected else Text("disconnected",
                                                                       style=_ASK)
    header = Text.assemble(
        state,
        f"  connections {stats.connects}  frames {stats.frames:,}",
        (f"  anomalies {_anomalies(stats)}" if _anomalies(stats) else ""),
    )
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in ("topic", "received", "delivered", "conflated", "dropped", "gaps"):
        table.add_column(name, justify="left" if name == "topic" else "right")
    if not stats.subscriptions:
        table.add_row(Text("no subscription", style=_DIM), "", "", "", "", "")
    for sub in stats.subscriptions:
        table.add_row(
            sub.topic, f"{sub.received:,}", f"{sub.delivered:,}", f"{sub.conflated:,}",
            Text(f"{sub.dropped:,}", style=_ASK if sub.dropped else ""),
            Text(f"{sub.gaps:,}", style=_ASK if sub.gaps else ""),
        )
    return Group(table, header)


def _anomalies(stats: StreamStats) -> int:
    return (stats.malformed + stats.server_error + stats.unknown_topic + stats.unroutable
            + stats.unattributed)


# -- orders sent -------------------------------------------------------------------------------


class OrderLine(Protocol):
    """One transaction the viewer sent, as :func:`order_log` shows it."""

    @property
    def action(self) -> str:
        """What was asked, e.g. ``"limit buy 0.5 @ 5.699"``."""

    @property
    def outcome(self) -> str:
        """``"pending"``, ``"ok"`` or what went wrong, in a few words."""

    @property
    def confirm_seconds(self) -> float | None:
        """Submit to confirmed; ``None`` while pending."""

    @property
    def seen_seconds(self) -> float | None:
        """Submit to its effect seen on the stream; ``None`` until seen."""


def order_log(lines: Sequence[OrderLine], *, title: str | None = "Orders",
              limit: int | None = None) -> RenderableType:
    """The transactions sent, newest last (the last ``limit`` only, when given)."""
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("action")
    table.add_column("outcome", no_wrap=True, overflow="ellipsis", max_width=32)
    table.add_column("confirmed in", justify="right")
    table.add_column("on stream in", justify="right")
    shown = lines if limit is None else lines[-limit:] if limit > 0 else []
    if not shown:
        table.add_row(Text("no order yet", style=_DIM), "", "", "")
    for line in shown:
        outcome = line.outcome
        style = "" if outcome == "pending" else (_BID if outcome == "ok" else _ASK)
        table.add_row(line.action, Text(outcome, style=style),
                      format_seconds(line.confirm_seconds), format_seconds(line.seen_seconds))
    return table
