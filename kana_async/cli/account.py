"""Account commands: ``positions`` (with PnL at the mid) and ``orders`` (resting orders).

Both read REST, keyed by the wallet address: your own (the key in the environment) or any
other with ``--address``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from decimal import Decimal
from typing import TYPE_CHECKING

from .args import Command, add_address_options, add_connection_options, market
from .connect import client, market_grids, resolve_market, wallet_address
from .output import Lines, is_terminal, print_table

if TYPE_CHECKING:
    from ..client import KanaClient
    from ..models import MarketInfo

__all__ = ["ORDERS", "POSITIONS", "order_side"]


def order_side(order_type: int) -> str:
    """The position side of a resting order, from its ``order_type`` (the rule is
    :func:`kana_async.models.order_trade_side`)."""
    from ..models import order_trade_side

    return "long" if order_trade_side(order_type) else "short"


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--market", type=market, metavar="MARKET",
                        help="only this market (id or name; default: all)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    add_address_options(parser)
    add_connection_options(parser, wallet=True)


def _short(address: str) -> str:
    """``0x1234…abcd``: enough to recognise a wallet in a title."""
    return f"{address[:6]}…{address[-4:]}"


async def _market_filter(kana: KanaClient, text: str | None) -> MarketInfo | None:
    return None if text is None else await resolve_market(kana, text)


# -- positions -------------------------------------------------------------------------------


async def _positions(args: argparse.Namespace) -> int:
    from .views import Grid, on_grid, unrealized_pnl

    async with client(args) as kana:
        wallet = wallet_address(args, kana)
        only = await _market_filter(kana, args.market)
        items = await kana.rest.get_positions(wallet, None if only is None else only.market_id)
        ids = sorted({p.market_id for p in items})
        prices = await asyncio.gather(*(kana.rest.get_market_price(m) for m in ids))
        markets = await kana.rest.get_perpetual_assets_info() if items else []
    grids = {m.market_id: Grid.of(m) for m in markets}
    marks: dict[int, Decimal | None] = {}
    for market_id, quote in zip(ids, prices, strict=True):
        bid, ask = quote.best_bid_price, quote.best_ask_price
        marks[market_id] = (bid + ask) / 2 if bid is not None and ask is not None else None
    if args.json:
        out = Lines()
        for position in items:
            out.write(on_grid(position, grids))
        return 0
    if is_terminal(sys.stdout):
        from rich.console import Console

        from .views import positions

        names = {m.market_id: m.base_name.partition("/")[0] for m in markets}
        console = Console()
        console.print(positions(items, marks, title=f"Positions of {_short(wallet)}",
                                grids=grids, names=names, width=console.width))
        return 0
    rows = []
    for item in items:
        grid = grids.get(item.market_id)
        mark = marks.get(item.market_id)
        pnl = unrealized_pnl(item, mark)
        p = on_grid(item, grids)
        if grid is not None:
            mark, pnl = grid.price(mark), grid.money(pnl)
        rows.append((
            p.market_id, "?" if p.trade_side is None else ("long" if p.trade_side else "short"),
            p.size, p.entry_price, mark, pnl, p.margin, f"{p.leverage}x", p.liq_price, p.tp,
            p.sl))
    print_table(
        ("market", "side", "size", "entry", "mark", "upnl", "margin", "lev.", "liq", "tp", "sl"),
        rows, right=tuple(range(2, 11)),
    )
    return 0


POSITIONS = Command(
    "positions", "open positions of a wallet, with unrealized PnL at the mid price",
    _configure, lambda args: asyncio.run(_positions(args)),
    epilog="""examples::

  kana-async positions --local-port 8100            (wallet of $KANA_PRIVATE_KEY)
  kana-async positions --address 0x1234... --market APT --json""",
)


# -- orders ----------------------------------------------------------------------------------


async def _orders(args: argparse.Namespace) -> int:
    from .views import on_grid

    async with client(args) as kana:
        wallet = wallet_address(args, kana)
        only = await _market_filter(kana, args.market)
        items = await kana.rest.get_open_orders(wallet, None if only is None else only.market_id)
        grids = await market_grids(kana) if items else {}
    items = on_grid(items, grids)
    if args.json:
        out = Lines()
        for order in items:
            out.write(order)
        return 0
    if is_terminal(sys.stdout):
        from rich.console import Console

        from .views import open_orders

        Console().print(open_orders(items, title=f"Open orders of {_short(wallet)}",
                                    grids=grids))
        return 0
    print_table(
        ("market", "order id", "side", "price", "remaining", "size", "lev."),
        [(o.market_id, o.order_id, order_side(o.order_type), o.price, o.remaining_size,
          o.total_size, f"{o.leverage}x") for o in items],
        right=(3, 4, 5, 6),
    )
    return 0


ORDERS = Command(
    "orders", "resting (open) orders of a wallet",
    _configure, lambda args: asyncio.run(_orders(args)),
    epilog="""examples::

  kana-async orders --local-port 8100
  kana-async orders --market APT --json | jq -r .order_id""",
)
