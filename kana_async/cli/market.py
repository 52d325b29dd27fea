"""Market data commands: ``markets``, ``price MARKET`` and ``book MARKET`` (a live view)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from decimal import Decimal
from typing import TYPE_CHECKING

import msgspec

from .args import Command, add_connection_options, count, market, seconds
from .connect import client, resolve_market, stop_on_signals, until_stopped
from .output import Lines, is_terminal, print_table, say
from .views import fmt

if TYPE_CHECKING:
    from ..models import MarketInfo, OrderBookLevel
    from ..stream.book import OrderBook
    from ..stream.subscription import Subscription

__all__ = ["BOOK", "MARKETS", "PRICE"]


# -- markets ---------------------------------------------------------------------------------


class _MarketLine(msgspec.Struct):
    market_id: int
    name: str
    size_step: Decimal
    min_size: Decimal
    max_size: Decimal | None
    price_step: Decimal
    max_leverage: int
    status: int | None


def _market_line(info: MarketInfo) -> _MarketLine:
    from ..units import lots_to_size, price_step, size_step

    return _MarketLine(
        market_id=info.market_id,
        name=info.base_name,
        size_step=size_step(info),
        min_size=lots_to_size(info, info.min_lots),
        max_size=None if info.max_lots is None else lots_to_size(info, info.max_lots),
        price_step=price_step(info),
        max_leverage=info.max_leverage,
        status=info.market_status,
    )


def _configure_markets(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON object per market")
    add_connection_options(parser)


async def _markets(args: argparse.Namespace) -> int:
    async with client(args) as kana:
        lines = [_market_line(m) for m in await kana.rest.get_perpetual_assets_info()]
    lines.sort(key=lambda m: int(m.market_id))
    if args.json:
        out = Lines()
        for line in lines:
            out.write(line)
        return 0
    print_table(
        ("id", "market", "size step", "min size", "price step", "max lev.", "status"),
        [(m.market_id, m.name, m.size_step, m.min_size, m.price_step, f"{m.max_leverage}x",
          m.status) for m in lines],
        right=(2, 3, 4, 5),
    )
    return 0


MARKETS = Command(
    "markets", "list the markets and their trading rules (size and price steps, leverage)",
    _configure_markets, lambda args: asyncio.run(_markets(args)),
    epilog="""examples::

  kana-async markets
  kana-async markets --json | jq -r .name
  kana-async markets --network testnet        (needs $KANA_API_KEY)""",
)


# -- price -----------------------------------------------------------------------------------


class _PriceLine(msgspec.Struct):
    market_id: int
    name: str
    bid: Decimal | None
    ask: Decimal | None
    mid: Decimal | None
    spread: Decimal | None
    last: Decimal | None


def _configure_price(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("market", type=market, metavar="MARKET",
                        help="market id (1338) or name (APT)")
    parser.add_argument("--json", action="store_true", help="one JSON object")
    add_connection_options(parser)


async def _price(args: argparse.Namespace) -> int:
    async with client(args) as kana:
        info = await resolve_market(kana, args.market)
        quote, last = await asyncio.gather(
            kana.rest.get_market_price(info.market_id),
            kana.rest.get_last_placed_price(info.market_id),
        )
    from .views import Grid

    grid = Grid.of(info)
    bid, ask = quote.best_bid_price, quote.best_ask_price
    both = bid is not None and ask is not None
    line = _PriceLine(
        market_id=info.market_id, name=info.base_name, bid=grid.price(bid),
        ask=grid.price(ask),
        mid=grid.price((bid + ask) / 2) if both else None,  # type: ignore[operator]
        spread=grid.price(ask - bid) if both else None,  # type: ignore[operator]
        last=grid.price(last),
    )
    if args.json:
        Lines().write(line)
        return 0
    say(f"{line.name} ({line.market_id})  bid {fmt(line.bid)}  ask {fmt(line.ask)}  "
           f"mid {fmt(line.mid)}  spread {fmt(line.spread)}  last {fmt(line.last)}")
    return 0


PRICE = Command(
    "price", "best bid, best ask, mid, spread and last traded price of a market",
    _configure_price, lambda args: asyncio.run(_price(args)),
    epilog="""examples::

  kana-async price APT
  kana-async price 1338 --json""",
)


# -- book ------------------------------------------------------------------------------------


def _configure_book(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("market", type=market, metavar="MARKET",
                        help="market id (1338) or name (APT)")
    parser.add_argument("--depth", type=count, default=10, metavar="N",
                        help="levels per side (default 10)")
    parser.add_argument("--duration", type=seconds, metavar="S",
                        help="stop after S seconds (default: until Ctrl-C)")
    parser.add_argument("--interval", type=seconds, default=1.0, metavar="S",
                        help="without a terminal: print the book at most every S seconds "
                             "(default 1)")
    add_connection_options(parser)


def _plain_book(info: MarketInfo, book: OrderBook, depth: int) -> str:
    """The book as text lines, for logs and pipes (numbers on the market's grid)."""
    from .views import Grid

    grid = Grid.of(info)

    def price(level: OrderBookLevel) -> str:
        return fmt(grid.price(level.price))

    def size(level: OrderBookLevel) -> str:
        return fmt(grid.size(level.size))

    stamp = time.strftime("%H:%M:%S")
    lines = [f"{info.base_name} ({info.market_id}) at {stamp}  mid {fmt(grid.price(book.mid))}"
             f"  spread {fmt(grid.price(book.spread))}"]
    bids, asks = book.bids[:depth], book.asks[:depth]
    cells = [("bid size", "bid", "ask", "ask size")]
    for i in range(max(len(bids), len(asks))):
        bid = bids[i] if i < len(bids) else None
        ask = asks[i] if i < len(asks) else None
        cells.append((
            size(bid) if bid else "", price(bid) if bid else "",
            price(ask) if ask else "", size(ask) if ask else "",
        ))
    widths = [max(len(row[i]) for row in cells) for i in range(4)]
    for row in cells:
        lines.append(f"  {row[0]:>{widths[0]}}  {row[1]:>{widths[1]}} | "
                     f"{row[2]:<{widths[2]}}  {row[3]:<{widths[3]}}".rstrip())
    return "\n".join(lines)


async def _book(args: argparse.Namespace) -> int:
    async with client(args) as kana:
        info = await resolve_market(kana, args.market)
        with stop_on_signals() as stop:
            async with kana.stream.orderbook(info.market_id) as sub:
                if is_terminal(sys.stdout):
                    work = _live_book(info, sub, args.depth)
                else:
                    work = _plain_books(info, sub, args.depth, args.interval)
                await until_stopped(work, stop, args.duration)
    return 0


async def _live_book(info: MarketInfo, sub: Subscription[OrderBook], depth: int) -> None:
    from rich.console import Console
    from rich.live import Live

    from .views import Grid, book_top

    title = f"{info.base_name} ({info.market_id})"
    grid = Grid.of(info)
    with Live(book_top(None, depth=depth, title=title), console=Console(),
              refresh_per_second=8, auto_refresh=True) as live:
        async for book in sub:
            live.update(book_top(book, depth=depth, title=title, grid=grid))


async def _plain_books(info: MarketInfo, sub: Subscription[OrderBook], depth: int,
                       interval: float) -> None:
    shown = float("-inf")
    async for book in sub:
        now = time.monotonic()
        if now - shown < interval:
            continue
        shown = now
        say(_plain_book(info, book, depth) + "\n")


BOOK = Command(
    "book", "watch a market's order book live (plain text when not on a terminal)",
    _configure_book, lambda args: asyncio.run(_book(args)),
    epilog="""examples::

  kana-async book APT
  kana-async book APT --depth 5 --duration 30
  kana-async book 1338 --local-port 8100 --interval 5 > book.log""",
)
