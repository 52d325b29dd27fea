"""A market maker: quotes both sides around the mid and requotes when the book moves.

Run it against the embedded simulator (no key, no network)::

    python examples/market_maker.py --duration 20

or against Kana testnet (the key is read from an environment variable, never from the
command line)::

    KANA_PRIVATE_KEY=... python examples/market_maker.py --network testnet \
        --api-key ... --deposit 100 --size 0.5 --spread-bps 30

What it shows:

* one ``KanaClient`` and ONE WebSocket carrying the order book, positions, fills and open
  orders of the bot;
* prices and sizes put on the market's grid with ``kana_async.units`` (never rounded by the
  exchange, never off by a float);
* an atomic requote (``cancel_and_place_multiple_orders``): the old quotes go and the new ones
  arrive in one transaction, so the bot is never quoting twice nor absent in between;
* confirmed transactions (``wait=True``) and the reference handling of an unknown outcome:
  resolve it by hash, never send it again blindly (see ``transact``);
* what a transaction did, from its events: the ids of the quotes it placed
  (``result.order_ids``) and of those it cancelled, so nothing is read back after a requote;
* inventory tracked from the ``positions`` stream and fills from ``trade_history``;
* a clean exit on ``--duration``, Ctrl-C, SIGTERM or an error: every resting order is cancelled
  and the ``open_orders`` view is checked to be empty.

Kana positions are in hedge mode (a long and a short can coexist in one market): this maker's
bids open longs and its asks open shorts, and ``--max-position`` caps each side.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal

import _common
from _common import log

from kana_async import (
    KanaClient,
    KanaError,
    MarketInfo,
    OpenOrder,
    OrderBook,
    OrderBookLevel,
    Position,
    Trade,
    UnknownOutcomeError,
    ValidationError,
)
from kana_async.stream import Subscription
from kana_async.trade import TxResult
from kana_async.units import check_leverage, lots_to_size, price_step, size_to_lots, snap_price

#: Econia's post-or-abort restriction: a maker's order must never take liquidity.
POST_ONLY = 3
#: After this many failed requotes in a row the bot stops (and cancels what rests).
MAX_FAILURES = 5
BPS = Decimal(10_000)


@dataclass(frozen=True)
class Settings:
    """How the bot quotes, checked once against the market's grid."""

    size: Decimal
    half_spread: Decimal  # a fraction of the mid
    requote_bps: Decimal
    leverage: int
    max_position: Decimal  # per side


@dataclass(frozen=True)
class Quote:
    """One resting order of ours: its side is what cancelling it needs."""

    order_id: str
    is_bid: bool
    price: Decimal
    remaining: Decimal


# -- the pure part: prices from a book ---------------------------------------------------------


def best_other(levels: Sequence[OrderBookLevel], own: Mapping[Decimal, Decimal]) -> Decimal | None:
    """The best price of a side once our own orders are taken out (quoting around our own
    quotes would make the mid follow us)."""
    for level in levels:
        if level.size > own.get(level.price, Decimal(0)):
            return level.price
    return None


def fair_mid(book: OrderBook, own: Mapping[Decimal, Decimal]) -> Decimal | None:
    """The mid of everyone else's best bid and ask; ``None`` while a side is empty."""
    bid, ask = best_other(book.bids, own), best_other(book.asks, own)
    if bid is None or ask is None:
        return None
    return (bid + ask) / 2


def quote_prices(info: MarketInfo, mid: Decimal, half_spread: Decimal) -> tuple[Decimal, Decimal]:
    """Bid and ask around ``mid`` on the tick grid, rounded away from the mid (never tighter
    than asked), and at least one tick apart."""
    step = price_step(info)  # also fixes how many decimals a price shows: 5.700, not 5.7
    bid = snap_price(info, mid * (1 - half_spread), ROUND_DOWN).quantize(step)
    ask = snap_price(info, mid * (1 + half_spread), ROUND_UP).quantize(step)
    if ask <= bid:
        ask = bid + step
    return bid, ask


def moved_bps(before: Decimal, now: Decimal) -> Decimal:
    """How far the mid moved, in basis points."""
    return abs(now - before) / before * BPS


# -- the bot ---------------------------------------------------------------------------------


class MarketMaker:
    """The quoting loop, the stream watchers and the exit, around one ``KanaClient``."""

    def __init__(self, kana: KanaClient, info: MarketInfo, settings: Settings) -> None:
        self.kana = kana
        self.info = info
        self.market = int(info.market_id)
        self.settings = settings
        self.quotes: dict[str, Quote] = {}  # what rests, as the chain last said
        self.quoted_mid: Decimal | None = None
        self.refresh = False  # a fill happened: place the filled side again
        self.long = Decimal(0)
        self.short = Decimal(0)
        self.quote_count = 0
        self.requotes = 0
        self.fills = 0

    # -- transactions ------------------------------------------------------------------------

    async def transact(self, what: str, sending: Awaitable[TxResult]) -> TxResult:
        """Send one transaction and return its DEFINITE outcome.

        This is the reference pattern for an unknown outcome: the node may or may not have
        executed the transaction (a timeout, a connection lost after sending). Sending it again
        could place the orders twice, so wait for the truth instead: ``resolve`` polls by hash
        until it is committed (success or not) or has expired (then it can never execute, and
        acting again is safe).
        """
        try:
            return await sending
        except UnknownOutcomeError as exc:
            log(f"{what}: outcome unknown ({exc.reason}); resolving {exc.tx_hash}")
            result = await self.kana.resolve(exc.tx_hash)
            state = "committed" if result.committed else "expired: it never executed"
            log(f"{what}: resolved, {state}")
            return result

    async def load_quotes(self, mid: Decimal) -> None:
        """Read what rests from the chain itself (no indexer lag): after a fill, a failed
        transaction, or on a node that does not report events.

        The wire has no side field: our bids are below the mid they were quoted around, our
        asks above it.
        """
        orders = await self.kana.rest.get_open_orders_from_contract(
            self.kana.address, self.market
        )
        self.quotes = {
            o.order_id: Quote(o.order_id, o.price < mid, o.price, o.remaining_size)
            for o in orders
        }

    # -- quoting -----------------------------------------------------------------------------

    async def quote(self, books: Subscription[OrderBook]) -> None:
        """Requote on every book whose mid moved far enough. Runs until ``books`` closes;
        closing it lets the transaction in flight finish first."""
        failures = 0
        async for book in books:  # keep-latest: always the newest book, never a backlog
            own = {q.price: q.remaining for q in self.quotes.values()}
            mid = fair_mid(book, own)
            if mid is None:
                continue
            moved = None if self.quoted_mid is None else moved_bps(self.quoted_mid, mid)
            if moved is not None and moved < self.settings.requote_bps and not self.refresh:
                continue
            if self.refresh:  # a fill took (part of) a quote: see what is left of them
                self.refresh = False
                await self.load_quotes(self.quoted_mid or mid)
            result = await self.requote(mid, moved)
            if result is None or result.success:  # None: nothing to do (both sides capped)
                failures = 0
                continue
            failures += 1
            if failures >= MAX_FAILURES:
                raise KanaError(f"{failures} requotes in a row failed; stopping")
            await asyncio.sleep(0.2 * failures)  # the book may settle; do not hammer the node

    async def requote(self, mid: Decimal, moved: Decimal | None) -> TxResult | None:
        """Replace every resting quote with a fresh bid and ask around ``mid``, atomically."""
        s = self.settings
        bid, ask = quote_prices(self.info, mid, s.half_spread)
        # Hedge mode: a bid opens (or adds to) the long, an ask the short; cap both.
        sides = [is_bid for is_bid, held in ((True, self.long), (False, self.short))
                 if held + s.size <= s.max_position]
        prices = [bid if is_bid else ask for is_bid in sides]
        cancel_ids = list(self.quotes)
        cancel_sides = [self.quotes[i].is_bid for i in cancel_ids]  # trade side: long = bid
        if not sides and not cancel_ids:
            return None
        what = "quote" if self.quoted_mid is None else "requote"
        started = time.monotonic()
        if sides:
            result = await self.transact(what, self.kana.cancel_and_place_multiple_orders(
                self.market, cancel_ids, cancel_sides,
                order_types=[True] * len(sides),      # limit orders
                trade_sides=sides,                    # True = long side (our bids)
                directions=[False] * len(sides),      # open
                sizes=[s.size] * len(sides),
                prices=prices,
                leverages=[s.leverage] * len(sides),
                restriction=POST_ONLY,
                wait=True,
            ))
        else:
            result = await self.transact(what, self.kana.cancel_multiple_orders(
                self.market, cancel_ids, cancel_sides, wait=True))
        elapsed = time.monotonic() - started
        if not result.success:
            # Committed but aborted, or expired: nothing changed. A quote may have filled in
            # the meantime (its id is gone), so read again what rests; the next book retries.
            log(f"{what} not done ({result.vm_status}); the previous quotes stand")
            await self.load_quotes(self.quoted_mid or mid)
            return result
        self.quote_count += len(sides)
        if self.quoted_mid is not None:
            self.requotes += 1
        self.quoted_mid = mid
        placed = result.order_ids
        if len(placed) == len(sides) and set(result.cancelled_order_ids) == set(cancel_ids):
            # The events say what rests now: post-only quotes rest whole or not at all.
            self.quotes = {
                order_id: Quote(order_id, is_bid, price, s.size)
                for order_id, is_bid, price in zip(placed, sides, prices, strict=True)
            }
        else:  # the node reported no events
            await self.load_quotes(mid)
        shown = " | ".join(f"{'bid' if b else 'ask'} {s.size} @ {p}"
                           for b, p in zip(sides, prices, strict=True)) or "no quotes (caps)"
        why = "" if moved is None else f" (mid moved {moved:.1f} bps)"
        label = "quote #1" if what == "quote" else f"requote #{self.requotes}{why}"
        log(f"{label}: {shown}  mid {mid:.4f}  confirmed in {elapsed * 1000:.0f} ms")
        return result

    # -- what the streams say ----------------------------------------------------------------

    async def track_inventory(self, positions: Subscription[list[Position]]) -> None:
        """Keep the long and short sizes in this market up to date."""
        async for items in positions:
            mine = [p for p in items if p.market_id == self.info.market_id]
            long = sum((p.size for p in mine if p.trade_side), Decimal(0))
            short = sum((p.size for p in mine if p.trade_side is False), Decimal(0))
            if (long, short) != (self.long, self.short):
                self.long, self.short = long, short
                log(f"inventory: long {long} short {short} net {long - short:+}")

    async def report_fills(self, trades: Subscription[list[Trade]]) -> None:
        """Log each new fill of this market and ask for a fresh quote on that side."""
        seen: set[str] | None = None  # the first snapshot is history, not news
        async for items in trades:
            ids = {t.trade_id for t in items}
            for trade in items:
                if seen is not None and trade.trade_id not in seen \
                        and trade.market_id == self.info.market_id:
                    self.fills += 1
                    self.refresh = True
                    log(f"fill: {trade.size} @ {trade.price} (fee {trade.fee})")
            seen = ids  # only the latest snapshot's ids: memory stays bounded

    # -- leaving -----------------------------------------------------------------------------

    async def cancel_everything(self, open_orders: Subscription[list[OpenOrder]]) -> bool:
        """Cancel every resting order of this market; True once the stream shows none rest."""
        for _attempt in range(3):
            log(f"cancelling every resting order in market {self.market}")
            try:
                results = await self.kana.cancel_all(self.market)
            except UnknownOutcomeError as exc:
                # Maybe cancelled, maybe not: learn which before asking again.
                log(f"cancel: outcome unknown ({exc.reason}); resolving {exc.tx_hash}")
                await self.kana.resolve(exc.tx_hash)
                continue
            if not results:
                break
            log(f"cancelled resting orders in {len(results)} transaction(s)")
            failed = [r for r in results if not r.success]
            if failed:
                log(f"cancel not done ({failed[0].vm_status}); trying again")
        self.quotes.clear()
        # The chain says nothing rests; the indexer's open_orders view must agree.
        try:
            await asyncio.wait_for(self._until_no_open_orders(open_orders), timeout=10)
        except (asyncio.TimeoutError, KanaError) as exc:
            why = str(exc) or "still lists orders after 10 s"
            log(f"open_orders view of market {self.market} not confirmed empty: {why}")
            return False
        log(f"open_orders view: nothing rests in market {self.market}")
        return True

    async def _until_no_open_orders(self, open_orders: Subscription[list[OpenOrder]]) -> None:
        async for items in open_orders:
            if not any(o.market_id == self.info.market_id for o in items):
                return
        raise KanaError("the open_orders stream ended")

    def summary(self) -> str:
        return (f"summary: {self.quote_count} quotes placed, {self.requotes} requotes, "
                f"{self.fills} fills; inventory long {self.long} short {self.short} "
                f"(net {self.long - self.short:+})")


# -- wiring ----------------------------------------------------------------------------------


def settings_from(args: argparse.Namespace, info: MarketInfo) -> Settings:
    """The options, checked against the market before anything is sent (a ValidationError
    names the option and the rule)."""
    size = args.size if args.size is not None else lots_to_size(info, info.min_lots)
    size_to_lots(info, size, param="--size")  # on the lot grid, within min/max lots
    if args.spread_bps <= 0:
        raise ValidationError("--spread-bps", "must be more than 0", args.spread_bps)
    if args.requote_bps < 0:
        raise ValidationError("--requote-bps", "must be 0 or more", args.requote_bps)
    max_position = args.max_position if args.max_position is not None else size * 10
    if max_position < size:
        raise ValidationError("--max-position", f"must be at least the size {size}",
                              max_position)
    return Settings(size=size, half_spread=args.spread_bps / BPS / 2,
                    requote_bps=args.requote_bps,
                    leverage=check_leverage(info, args.leverage, param="--leverage"),
                    max_position=max_position)


async def main(args: argparse.Namespace) -> int:
    async with _common.stop_signal(args.duration) as stop, \
            _common.open_client(args, wallet=True) as kana:
        info = await kana.rest.market_info(args.market)
        settings = settings_from(args, info)
        deposit = args.deposit or (Decimal(1000) if _common.on_simulator(args) else None)
        if deposit:
            result = await kana.deposit(deposit, wait=True)
            result.raise_for_status()
            log(f"deposited {deposit} (tx {result.tx_hash[:12]}…)")
        log(f"market {info.market_id} {info.base_name}: size {settings.size}, spread "
            f"{args.spread_bps} bps, requote at {settings.requote_bps} bps, leverage "
            f"{settings.leverage}")

        maker = MarketMaker(kana, info, settings)
        profile = await kana.profile_address()  # streams are keyed by the profile address
        # Four topics, one WebSocket.
        async with kana.stream.orderbook(args.market) as books, \
                kana.stream.positions(profile) as positions, \
                kana.stream.trade_history(profile) as trades, \
                kana.stream.open_orders(profile) as open_orders:
            quoting = asyncio.create_task(maker.quote(books))
            watchers = [asyncio.create_task(maker.track_inventory(positions)),
                        asyncio.create_task(maker.report_fills(trades))]
            clean = False
            try:
                await _common.wait_for_stop(stop, quoting, *watchers)
            finally:
                # Whatever ended the run (duration, signal, error): stop quoting, then cancel.
                await books.close()   # the quoting loop ends after its transaction in flight
                try:
                    await _common.cancel_and_wait(*watchers)
                    await quoting     # re-raises what made it stop, if anything
                finally:
                    clean = await maker.cancel_everything(open_orders)
                    log(maker.summary())
            return 0 if clean else 1


def build_parser() -> argparse.ArgumentParser:
    p = _common.parser("Quote both sides around the mid; requote when the book moves.")
    money = _common.decimal_arg
    p.add_argument("--size", type=money, help="size of each quote (default: the market's minimum)")
    p.add_argument("--spread-bps", type=money, default=Decimal(20),
                   help="distance between our bid and ask, in basis points of the mid (20)")
    p.add_argument("--requote-bps", type=money, default=Decimal(5),
                   help="requote when the mid moves this far, in basis points (5)")
    p.add_argument("--leverage", type=int, default=2, help="leverage of the quotes (2)")
    p.add_argument("--max-position", type=money,
                   help="largest long and largest short to build (default 10 quote sizes)")
    p.add_argument("--deposit", type=money,
                   help="quote coin to deposit first (default 1000 on the simulator, none "
                        "elsewhere)")
    return p


if __name__ == "__main__":
    sys.exit(_common.run(main, build_parser().parse_args()))
