"""How the command line writes values and exchange state for people.

The one owner of turning a number into text: :func:`format_decimal` (views: thousands
separators, an en dash for a missing figure), :func:`fmt` (plain output for pipes and outcome
lines: no separators, an ASCII ``-``, the same digits), :func:`format_seconds` (every duration),
and :class:`Grid` (a market's decimals). The rest are views as ``rich`` renderables.
:mod:`.output` owns where text goes (stdout or stderr, NDJSON, tables laid out for a terminal
or a pipe); it writes what this module formats.

Every function here is pure: data in, text or a renderable out, no I/O and no clock. The
demo's live screen and the CLI's live commands compose them, and tests render them into a
string. A view accepts empty data (a book not received yet, no position) and says so instead
of failing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from typing import Any, Protocol

import msgspec
from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..models import FundingRate, MarketInfo, OpenOrder, OrderBookLevel, Position
from ..stream.book import OrderBook
from ..stream.mux import StreamStats

__all__ = [
    "Grid",
    "OrderLine",
    "anomalies",
    "book_top",
    "decimals",
    "fmt",
    "format_decimal",
    "format_seconds",
    "funding_rates",
    "on_grid",
    "on_step",
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


def format_decimal(value: Decimal | None, places: int | None = None, *, sign: bool = False,
                   grouping: bool = True) -> str:
    """``value`` in plain notation, with thousands separators unless ``grouping`` is off;
    ``places`` fixes the decimals (rounded half-even).

    ``None`` prints as an en dash, so a missing figure is visible but not alarming.
    """
    if value is None:
        return "–"
    if places is not None:
        value = value.quantize(Decimal(1).scaleb(-places))
    return f"{value:{'+' if sign else ''}{',' if grouping else ''}f}"


def fmt(value: object) -> str:
    """A value in plain output (aligned tables for ``grep``/``awk``, outcome lines): a
    ``Decimal`` as :func:`format_decimal` writes it without separators, ``None`` as ``-``,
    booleans as yes/no, anything else as ``str``."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return format_decimal(value, grouping=False)
    return str(value)


#: Enough digits for any amount the wire carries (the default context's 28 are not).
_WIDE = Context(prec=120)


@dataclass(frozen=True)
class Grid:
    """How one market's numbers are shown: prices on its tick (``5.760``, not ``5.76``
    next to ``5.759``; ``94896``, not ``94896.0``), sizes on its lot, money in its quote
    coin's decimals. The one owner of that, for views, tables, NDJSON and the demo.

    The wire's exponent says nothing (a price may come as ``5.76`` or ``94896.0``). A value
    on the grid is written with exactly the grid's decimals. One that is off the grid (an
    average entry price, a mid between two ticks) keeps its digits in :meth:`price` and
    :meth:`size` (data: nothing is lost) and is rounded by ``rounded=True`` (a view that must
    stay narrow; the exact figure is one ``--json`` away).
    """

    tick: Decimal
    lot: Decimal
    quote_decimals: int = 6

    @classmethod
    def of(cls, info: MarketInfo) -> Grid:
        from ..units import price_step, size_step

        return cls(price_step(info), size_step(info), info.quote_decimals)

    def price(self, value: Decimal | None, *, rounded: bool = False) -> Decimal | None:
        return on_step(value, self.tick, rounded=rounded)

    def size(self, value: Decimal | None, *, rounded: bool = False) -> Decimal | None:
        return on_step(value, self.lot, rounded=rounded)

    def money(self, value: Decimal | None, *, rounded: bool = False) -> Decimal | None:
        """An amount of the quote coin (margin, PnL, fees): its decimals."""
        return on_step(value, Decimal(1).scaleb(-self.quote_decimals), rounded=rounded)

    @property
    def price_places(self) -> int:
        return decimals(self.tick)

    @property
    def size_places(self) -> int:
        return decimals(self.lot)


def decimals(value: Decimal) -> int:
    """Digits after the point that ``value`` needs (0.00100 -> 3): a step's decimals."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def on_step(value: Decimal | None, step: Decimal, *, rounded: bool = False) -> Decimal | None:
    """``value`` written with ``step``'s decimals when that loses nothing (or ``rounded``),
    else as it is without trailing zeros; ``None`` and non-finite values pass through."""
    if value is None or not value.is_finite():
        return value
    exponent = Decimal(1).scaleb(-decimals(step))
    try:
        shown = value.quantize(exponent, rounding=ROUND_HALF_EVEN, context=_WIDE)
    except InvalidOperation:  # beyond any sensible size: leave it alone
        return value
    if rounded or shown == value:
        return shown
    return value.normalize(_WIDE)


#: Fields of the wire's records that are prices, sizes and quote-coin amounts.
_PRICE_FIELDS = frozenset({"price", "entry_price", "liq_price", "tp", "sl"})
_SIZE_FIELDS = frozenset({"size", "total_size", "remaining_size", "total_filled",
                          "total_trade_size", "available_order_size"})
_MONEY_FIELDS = frozenset({"margin", "value", "order_value", "fee", "pnl"})


def on_grid(item: Any, grids: Mapping[int, Grid]) -> Any:
    """``item`` (a record, a list of them, an order book) with its prices, sizes and amounts
    on the grid of its market (by its ``market_id``; markets not in ``grids`` unchanged).
    Nothing is rounded: see :class:`Grid`."""
    if isinstance(item, list):
        return [on_grid(element, grids) for element in item]
    if isinstance(item, OrderBook):
        return OrderBook(item.market_id, [on_grid(level, grids) for level in
                                          (*item.bids, *item.asks)])
    if not isinstance(item, msgspec.Struct):
        return item
    grid = grids.get(getattr(item, "market_id", None) or 0)
    if grid is None:
        return item
    changes: dict[str, Any] = {}
    for name in item.__struct_fields__:
        value = getattr(item, name)
        if not isinstance(value, Decimal):
            continue
        if name in _PRICE_FIELDS:
            changes[name] = grid.price(value)
        elif name in _SIZE_FIELDS:
            changes[name] = grid.size(value)
        elif name in _MONEY_FIELDS:
            changes[name] = grid.money(value)
    return msgspec.structs.replace(item, **changes) if changes else item


def format_seconds(seconds: float | None, places: int = 2) -> str:
    """A duration as ms below one second (``"12.3 ms"``), else seconds with ``places``
    decimals (``"1.25 s"``; a run's length: ``places=1``, ``"30.0 s"``)."""
    if seconds is None:
        return "–"
    if abs(seconds) < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.{places}f} s"


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
    grid: Grid | None = None,
) -> RenderableType:
    """The best ``depth`` levels of each side: asks above (best lowest), bids below.

    The line between them shows the mid and the spread. Levels whose price is in
    ``own_prices`` (the viewer's resting orders) are marked with a star. ``grid`` (the
    market's) puts prices and sizes on its tick and lot, so that they line up;
    ``size_places`` and ``price_places`` fix the decimals instead.
    """
    if depth < 1:
        raise ValueError("depth must be >= 1")
    if grid is not None:
        price_places = grid.price_places if price_places is None else price_places
        size_places = grid.size_places if size_places is None else size_places
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
        if grid is not None:  # the mid may fall between two ticks: shown exactly
            mid, spread = grid.price(mid), grid.price(spread)
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


#: The columns of :func:`positions`, and the order in which a narrow terminal drops them.
_POSITION_COLUMNS = ("market", "side", "size", "entry", "mark", "uPnL", "margin", "liq.", "TP",
                     "SL")
_DROPPED_FIRST = ("SL", "TP", "liq.", "mark")


def positions(
    items: Sequence[Position],
    marks: Mapping[int, Decimal | None] | None = None,
    *,
    title: str | None = "Positions",
    grids: Mapping[int, Grid] | None = None,
    names: Mapping[int, str] | None = None,
    width: int | None = None,
) -> RenderableType:
    """One row per position: side, size, entry, mark, unrealized PnL, margin, liq., TP/SL.

    ``marks`` maps a market id to the price PnL is valued at (the book's mid, say);
    ``grids`` to its :class:`Grid` (prices on its tick, sizes on its lot, money in its quote
    coin's decimals, rounded so that the table stays narrow); ``names`` to its name.
    Within ``width`` columns, SL, TP, liq. and mark are left out (in that order, said in the
    caption) rather than cut a number short.
    """
    marks = marks or {}
    grids = grids or {}
    names = names or {}
    rows: list[tuple[str, ...]] = []
    pnls: list[Decimal | None] = []
    for position in items:
        mark = marks.get(position.market_id)
        pnl = unrealized_pnl(position, mark)
        side = position.trade_side
        price, size, money = _shown(grids.get(position.market_id))
        pnls.append(pnl)
        rows.append((
            names.get(position.market_id, str(position.market_id)),
            "?" if side is None else ("long" if side else "short"),
            size(position.size), price(position.entry_price), price(mark),
            money(pnl, sign=True), money(position.margin), price(position.liq_price),
            price(position.tp), price(position.sl),
        ))
    shown = list(_POSITION_COLUMNS)
    if width is not None:
        for name in _DROPPED_FIRST:
            if _table_width(shown, rows) <= width:
                break
            shown.remove(name)
    keep = [_POSITION_COLUMNS.index(name) for name in shown]
    left_out = [name for name in _POSITION_COLUMNS if name not in shown]
    # One space between columns, so that a row of ten numbers fits 80 columns.
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  padding=0,  # the box draws a space between columns
                  caption=f"{', '.join(left_out)} left out: the terminal is too narrow"
                  if left_out else None)
    for name in shown:
        table.add_column(name, justify="left" if name in ("market", "side") else "right",
                         overflow="fold")  # a number too wide wraps: never cut short
    if not items:
        table.add_row(Text("no open position", style=_DIM), *[""] * (len(shown) - 1))
        return table
    for row, pnl, position in zip(rows, pnls, items, strict=True):
        side = position.trade_side
        styles = {1: "" if side is None else (_BID if side else _ASK), 5: _signed_style(pnl)}
        table.add_row(*(Text(row[i], style=styles.get(i, "")) for i in keep))
    return table


def _table_width(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> int:
    """Columns :func:`positions` needs for ``columns`` of ``rows``: widths plus one space
    between two columns."""
    indexes = [_POSITION_COLUMNS.index(name) for name in columns]
    widths = [max([len(_POSITION_COLUMNS[i]), *(len(row[i]) for row in rows)]) for i in indexes]
    return sum(widths) + len(widths) - 1


class _Show(Protocol):
    def __call__(self, value: Decimal | None, *, sign: bool = False) -> str: ...


def _shown(grid: Grid | None) -> tuple[_Show, _Show, _Show]:
    """How a view writes prices, sizes and money: on ``grid``, rounded; without one, as
    they are (money to 4 decimals)."""

    def price(value: Decimal | None, *, sign: bool = False) -> str:
        return format_decimal(value if grid is None else grid.price(value, rounded=True),
                              sign=sign)

    def size(value: Decimal | None, *, sign: bool = False) -> str:
        return format_decimal(value if grid is None else grid.size(value, rounded=True),
                              sign=sign)

    def money(value: Decimal | None, *, sign: bool = False) -> str:
        if grid is None:
            return format_decimal(value, 4, sign=sign)
        return format_decimal(grid.money(value, rounded=True), sign=sign)

    return price, size, money


def position_card(
    position: Position | None,
    mark: Decimal | None = None,
    *,
    realized_pnl: Decimal | None = None,
    title: str | None = "Position",
    grid: Grid | None = None,
) -> RenderableType:
    """One position as a narrow two-column card (a bot watching one market).

    ``mark`` values the unrealized PnL; ``realized_pnl``, when given, adds a line for what
    the fills have already booked; ``grid`` puts the figures on the market's grid.
    """
    price, size, _ = _shown(grid)
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
        card.add_row("size", size(position.size))
        card.add_row("entry", price(position.entry_price))
        card.add_row("mark", price(mark))
        card.add_row("unrealized", Text(format_decimal(pnl, 6, sign=True),
                                        style=_signed_style(pnl)))
        card.add_row("margin", format_decimal(position.margin, 4))
        card.add_row("liquidation", price(position.liq_price))
        card.add_row("TP / SL", f"{price(position.tp)} / {price(position.sl)}")
    if realized_pnl is not None:
        card.add_row("realized", Text(format_decimal(realized_pnl, 6, sign=True),
                                      style=_signed_style(realized_pnl)))
    if title is None:
        return card
    return Group(Text(title, style="italic"), card)


def open_orders(items: Sequence[OpenOrder], *, title: str | None = "Open orders",
                grids: Mapping[int, Grid] | None = None) -> RenderableType:
    """One row per resting order: id, market, price, remaining of total size, leverage
    (on the market's grid when ``grids`` has it)."""
    grids = grids or {}
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in ("order id", "market", "price", "remaining", "total", "lev."):
        table.add_column(name, justify="left" if name in ("order id", "market") else "right")
    if not items:
        table.add_row(Text("nothing rests", style=_DIM), "", "", "", "", "")
    for order in items:
        price, size, _ = _shown(grids.get(order.market_id))
        table.add_row(
            _short_id(order.order_id), str(order.market_id), price(order.price),
            size(order.remaining_size), size(order.total_size), f"{order.leverage}x",
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
        (f"  anomalies {anomalies(stats)}" if anomalies(stats) else ""),
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


def anomalies(stats: StreamStats) -> int:
    """Frames the stream could not route or decode, all causes together."""
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
