"""A position tracker: unrealised PnL, margin and distance to liquidation, live.

Run it against the embedded simulator, opening a small position first so there is something
to track (it is closed again on exit)::

    python examples/position_tracker.py --open-demo-position --duration 20

or watch a wallet on Kana testnet (reading needs no key)::

    python examples/position_tracker.py --network testnet --api-key ... --address 0x...

What it shows: the ``positions`` topic (every change of the profile's positions) and one
``orderbook`` subscription per market held, all on ONE WebSocket; each position valued at
the book's mid (the mark used here), in exact Decimals. On a terminal the table redraws in
place (rich); in a pipe or with ``--plain`` each change prints one line per position.

Unrealised PnL here is ``(mark - entry) x size`` for a long (reversed for a short), before the
fee of closing; distance to liquidation is how far the mark may still move against the
position, as a share of the mark.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import _common
from _common import log
from rich.console import Console
from rich.live import Live
from rich.table import Table

from kana_async import KanaClient, MarketInfo, OrderBook, Position, ValidationError
from kana_async.stream import Subscription
from kana_async.units import lots_to_size, price_step, size_step

CENT = Decimal("0.0001")  # money shown to 4 decimals
PERCENT = Decimal(100)


@dataclass(frozen=True)
class Row:
    """One position, valued at ``mark``."""

    market_id: int
    long: bool
    size: Decimal
    entry: Decimal
    mark: Decimal | None
    unrealised: Decimal | None
    margin: Decimal
    liq_price: Decimal | None
    liq_distance: Decimal | None  # a fraction of the mark; negative = past liquidation


def unrealised_pnl(position: Position, mark: Decimal) -> Decimal:
    """What closing at ``mark`` would realise, before the fee."""
    move = mark - position.entry_price
    return move * position.size if position.trade_side else -move * position.size


def liquidation_distance(position: Position, mark: Decimal) -> Decimal | None:
    """How far the mark may move against the position before liquidation (share of mark)."""
    liq = position.liq_price
    if liq is None or not liq or not mark:
        return None
    return (mark - liq) / mark if position.trade_side else (liq - mark) / mark


def value(position: Position, mark: Decimal | None) -> Row:
    return Row(
        market_id=position.market_id,
        long=bool(position.trade_side),
        size=position.size,
        entry=position.entry_price,
        mark=mark,
        unrealised=None if mark is None else unrealised_pnl(position, mark),
        margin=position.margin,
        liq_price=position.liq_price,
        liq_distance=None if mark is None else liquidation_distance(position, mark),
    )


def _show(number: Decimal | None, step: Decimal, sign: bool = False) -> str:
    if number is None:
        return "-"
    shown = number.quantize(step)
    return f"{shown:+}" if sign else str(shown)


def _pct(fraction: Decimal | None) -> str:
    return "-" if fraction is None else f"{fraction * PERCENT:.2f}%"


@dataclass
class Tracker:
    """Holds the latest positions and marks, and shows them when they change."""

    kana: KanaClient
    markets: Mapping[int, MarketInfo]
    plain: bool
    refresh: float
    live: Live | None = None
    positions: list[Position] = field(default_factory=list)
    marks: dict[int, Decimal] = field(default_factory=dict)
    books: dict[int, asyncio.Task[None]] = field(default_factory=dict)
    shown_at: float = 0.0
    last_lines: list[str] = field(default_factory=list)
    updates: int = 0

    def rows(self) -> list[Row]:
        return [value(p, self.marks.get(p.market_id)) for p in self.positions]

    def line(self, row: Row) -> str:
        """One plain line; the ``PnL`` prefix makes it easy to grep."""
        info = self.markets.get(row.market_id)
        tick = price_step(info) if info else CENT
        lot = size_step(info) if info else CENT
        name = info.base_name if info else "?"
        roe = None if row.unrealised is None or not row.margin else row.unrealised / row.margin
        return (f"PnL {row.market_id} {name} {'long' if row.long else 'short'} "
                f"size {_show(row.size, lot)} entry {_show(row.entry, tick)} "
                f"mark {_show(row.mark, tick)} uPnL {_show(row.unrealised, CENT, sign=True)} "
                f"({_pct(roe)} of margin) margin {_show(row.margin, CENT)} "
                f"liq {_show(row.liq_price, tick)} ({_pct(row.liq_distance)} away)")

    def table(self) -> Table:
        table = Table(title="Positions (mark = book mid)")
        for header in ("market", "side", "size", "entry", "mark", "uPnL", "margin", "liq",
                       "to liq"):
            table.add_column(header, no_wrap=True,
                             justify="left" if header in ("market", "side") else "right")
        for row in self.rows():
            info = self.markets.get(row.market_id)
            tick = price_step(info) if info else CENT
            pnl = _show(row.unrealised, CENT, sign=True)
            colour = "green" if row.unrealised and row.unrealised > 0 else "red" \
                if row.unrealised and row.unrealised < 0 else ""
            table.add_row(
                f"{row.market_id} {info.base_name if info else ''}",
                "long" if row.long else "short",
                str(row.size),
                _show(row.entry, tick),
                _show(row.mark, tick),
                f"[{colour}]{pnl}[/]" if colour else pnl,
                _show(row.margin, CENT),
                _show(row.liq_price, tick),
                _pct(row.liq_distance),
            )
        if not self.positions:
            table.caption = "no open positions"
        return table

    def show(self, *, now: bool = False) -> None:
        """Show the positions: at once after a position change, else at most once per
        ``refresh`` seconds (marks move many times a second)."""
        if not now and time.monotonic() - self.shown_at < self.refresh:
            return
        self.shown_at = time.monotonic()
        if self.live is not None:
            self.live.update(self.table(), refresh=True)
            self.updates += 1
            return
        lines = [self.line(r) for r in self.rows()] or ["no open positions"]
        if lines != self.last_lines:  # print changes only
            self.last_lines = lines
            self.updates += 1
            for text in lines:
                log(text)

    async def watch_positions(self, positions: Subscription[list[Position]]) -> None:
        async for items in positions:  # the profile's whole list, on every change
            self.positions = items
            for market_id in {p.market_id for p in items} - set(self.books):
                # One more topic on the same WebSocket: this market's book, for its mark.
                self.books[market_id] = asyncio.create_task(self.watch_book(market_id))
            self.show(now=True)

    async def watch_book(self, market_id: int) -> None:
        async with self.kana.stream.orderbook(market_id) as books:
            async for book in books:
                self.update_mark(market_id, book)

    def update_mark(self, market_id: int, book: OrderBook) -> None:
        mark = book.mid
        if mark is not None and mark != self.marks.get(market_id):
            first = market_id not in self.marks
            self.marks[market_id] = mark
            self.show(now=first)

    def long_size(self, market_id: int) -> Decimal:
        return sum((p.size for p in self.positions
                    if p.market_id == market_id and p.trade_side), Decimal(0))


# -- the optional demo position --------------------------------------------------------------


async def open_demo_position(kana: KanaClient, info: MarketInfo, deposit: Decimal | None
                             ) -> Decimal:
    """Deposit, then buy the market's minimum size at market (a small long, leverage 2)."""
    if deposit:
        (await kana.deposit(deposit, wait=True)).raise_for_status()
        log(f"deposited {deposit}")
    size = lots_to_size(info, info.min_lots)
    result = await kana.place_market_order(int(info.market_id), trade_side=True,
                                           direction=False, size=size, leverage=2, wait=True)
    result.raise_for_status()
    log(f"opened a demo long of {size} in {info.market_id} {info.base_name} "
        f"(tx {result.tx_hash[:12]}…)")
    return size


async def close_demo_position(kana: KanaClient, info: MarketInfo, size: Decimal,
                              wallet: str) -> None:
    """Close the demo long with a market order (direction True = close), if it is still open.

    Asks the exchange rather than the stream: the run may have been stopped before the
    ``positions`` topic said anything."""
    held = await kana.rest.get_positions(wallet, info.market_id)
    if sum((p.size for p in held if p.trade_side), Decimal(0)) < size:
        log("demo long already closed")
        return
    result = await kana.place_market_order(int(info.market_id), trade_side=True,
                                           direction=True, size=size, leverage=2, wait=True)
    state = "closed" if result.success else f"not closed ({result.vm_status})"
    log(f"demo long {state} (tx {result.tx_hash[:12]}…)")


# -- wiring ----------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> int:
    # A key is needed to open the demo position, or to know whose positions to show.
    needs_key = args.open_demo_position or args.address is None
    async with _common.stop_signal(args.duration) as stop, \
            _common.open_client(args, wallet=needs_key) as kana:
        markets = {m.market_id: m for m in await kana.rest.get_perpetual_assets_info()}
        info = markets.get(args.market)
        if info is None:
            raise ValidationError("--market", f"must be one of {', '.join(map(str, markets))}",
                                  args.market)
        wallet = args.address or kana.address
        profile = await kana.rest.get_profile_address(wallet)  # streams use the profile
        deposit = args.deposit or (Decimal(100) if _common.on_simulator(args) else None)
        demo = await open_demo_position(kana, info, deposit) if args.open_demo_position \
            else None

        plain = args.plain or not sys.stdout.isatty()
        live = None if plain else Live(console=Console(), auto_refresh=False)
        tracker = Tracker(kana, markets, plain, args.refresh, live)
        log(f"tracking the positions of {wallet}")
        try:
            if live is not None:
                live.start()
            async with kana.stream.positions(profile) as positions:
                watching = asyncio.create_task(tracker.watch_positions(positions))
                try:
                    await _common.wait_for_stop(stop, watching)
                finally:
                    await _common.cancel_and_wait(watching, *tracker.books.values())
        finally:
            if live is not None:
                live.stop()
            log(f"summary: {tracker.updates} updates shown, {len(tracker.positions)} "
                "position(s) open")
            if demo is not None:
                await close_demo_position(kana, info, demo, wallet)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = _common.parser("Show unrealised PnL, margin and distance to liquidation, live.")
    whose = p.add_mutually_exclusive_group()
    whose.add_argument("--address", help="wallet to watch (default: the key's wallet)")
    whose.add_argument("--open-demo-position", action="store_true",
                       help="first open a small long in --market (closed again on exit)")
    p.add_argument("--deposit", type=_common.decimal_arg,
                   help="quote coin to deposit for the demo position (default 100 on the "
                        "simulator, none elsewhere)")
    p.add_argument("--plain", action="store_true",
                   help="print lines instead of a live table (automatic in a pipe)")
    p.add_argument("--refresh", type=float, default=1.0, metavar="SECONDS",
                   help="show mark changes at most this often (default 1 s)")
    return p


if __name__ == "__main__":
    sys.exit(_common.run(main, build_parser().parse_args()))
