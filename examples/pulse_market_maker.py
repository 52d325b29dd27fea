"""A market maker on the Pulse v2 gateway, with cancel-on-disconnect on.

Run it against the embedded simulator (no key, no network)::

    python examples/pulse_market_maker.py --duration 20

or against a gateway (the secret is read from an environment variable, never from the
command line)::

    PULSE_CLIENT_SECRET=... python examples/pulse_market_maker.py \
        --ws-url wss://.../ws/api/v2 --client-id ... --amount 10 --spread-bps 20

What it shows:

* one ``PulseClient`` and ONE WebSocket carrying the calls, the book and the bot's fills;
* ``cancel_on_disconnect=True``: the gateway cancels every order of the connection when it
  drops (a crash, ``kill -9``, a lost network), and the client turns it on again on every new
  connection before any order leaves on it;
* post-only quotes on both sides, each with its own ``label``; an order whose reply is lost
  raises ``UnknownOutcomeError`` and is looked up by that label, never sent again;
* books that say whether they can be trusted (``book.synced``): the bot quotes on synced books
  only;
* a clean exit on ``--duration``, Ctrl-C, SIGTERM, an error or a reader of stdout that went
  away: everything resting is cancelled and the open orders are checked to be none. Clean-up
  never depends on stdout (logging never raises), and cancel-on-disconnect covers the case
  where clean-up cannot run at all.

Amounts are USD notional in whole contracts (inverse perpetuals, as on Deribit).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import _common
from _common import log

from kana_async import KanaError, PulseClient, UnknownOutcomeError, ValidationError
from kana_async.pulse import PulseBook
from kana_async.stream import Subscription

BPS = Decimal(10_000)
#: After this many failed requotes in a row the bot stops (and cancels what rests).
MAX_FAILURES = 5


@dataclass(frozen=True)
class Settings:
    instrument: str
    currency: str
    amount: Decimal
    tick: Decimal
    half_spread: Decimal  # a fraction of the mid
    requote_bps: Decimal
    max_position: Decimal  # USD, per side


@dataclass
class Maker:
    """What the bot knows: its resting quotes (by side), its position, its counters."""

    pulse: PulseClient
    settings: Settings
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))
    quotes: dict[str, str] = field(default_factory=dict)  # "buy"/"sell" -> order id
    mid: Decimal | None = None
    position: Decimal = Decimal(0)
    placed: int = 0
    fills: int = 0
    requotes: int = 0

    def prices(self, mid: Decimal) -> tuple[Decimal, Decimal]:
        """Bid and ask around ``mid``, on the tick grid, never inside the spread asked."""
        tick = self.settings.tick
        bid = (mid * (1 - self.settings.half_spread) / tick).to_integral_value(ROUND_FLOOR)
        ask = (mid * (1 + self.settings.half_spread) / tick).to_integral_value(ROUND_CEILING)
        return bid * tick, ask * tick

    async def requote(self, best_bid: Decimal, best_ask: Decimal) -> None:
        mid = (best_bid + best_ask) / 2
        moved = None if self.mid is None else abs(mid - self.mid) / self.mid * BPS
        if moved is not None and moved < self.settings.requote_bps:
            return
        self.mid = mid
        await self.cancel_quotes()
        bid, ask = self.prices(mid)
        self.requotes += 1
        sides = []
        if self.position < self.settings.max_position:
            sides.append(("buy", bid))
        if self.position > -self.settings.max_position:
            sides.append(("sell", ask))
        placed = [f"{side} {self.settings.amount} @ {price}" for side, price in sides
                  if await self.place(side, price)]
        why = "first" if moved is None else f"mid moved {moved:.1f} bps"
        log(f"quote #{self.requotes} ({why}, mid {mid}): {' | '.join(placed) or 'none'}"
            f"  position {self.position}")

    async def place(self, side: str, price: Decimal) -> bool:
        """One post-only quote. A lost reply is resolved by label, never sent again."""
        self.placed += 1
        label = f"pmm-{self.run_id}-{self.placed}"
        order = self.pulse.buy if side == "buy" else self.pulse.sell
        try:
            result = await order(instrument_name=self.settings.instrument,
                                 amount=self.settings.amount, type="limit", price=price,
                                 post_only=True, label=label)
            order_id = result.order.order_id if result.order is not None else None
        except UnknownOutcomeError as exc:
            log(f"{side} {label}: outcome unknown ({exc.reason}); looking it up by label")
            found = await self.pulse.get_order_state_by_label(
                currency=self.settings.currency, label=label)
            order_id = next((o.order_id for o in found if o.order_state == "open"), None)
            log(f"{side} {label}: {'resting as ' + order_id if order_id else 'not resting'}")
        if order_id is None:
            return False
        self.quotes[side] = order_id
        return True

    async def cancel_quotes(self) -> None:
        for side, order_id in list(self.quotes.items()):
            with contextlib.suppress(KanaError):  # already filled or gone: nothing to cancel
                await self.pulse.cancel(order_id=order_id)
            del self.quotes[side]

    async def quote(self, books: Subscription[PulseBook]) -> None:
        failures = 0
        async for book in books:
            if not book.synced or book.best_bid is None or book.best_ask is None:
                continue  # a book off its change chain is never quoted on
            try:
                await self.requote(book.best_bid[0], book.best_ask[0])
                failures = 0
            except KanaError as exc:
                failures += 1
                log(f"requote failed ({failures}/{MAX_FAILURES}): {exc}")
                if failures >= MAX_FAILURES:
                    raise

    async def track_fills(self, trades: Subscription[object]) -> None:
        async for trade in trades:
            amount = getattr(trade, "amount", None) or Decimal(0)
            direction = getattr(trade, "direction", None)
            self.position += amount if direction == "buy" else -amount
            self.fills += 1
            log(f"fill: {direction} {amount} @ {getattr(trade, 'price', None)}  "
                f"position {self.position}")

    async def clean_up(self) -> None:
        """Cancel everything of the instrument and check that nothing rests."""
        log("cancelling every resting order")
        await self.pulse.cancel_all_by_instrument(instrument_name=self.settings.instrument)
        self.quotes.clear()
        left = await self.pulse.get_open_orders_by_instrument(
            instrument_name=self.settings.instrument)
        if left:
            raise KanaError(f"{len(left)} order(s) still rest on {self.settings.instrument}")
        log(f"open orders: none rest on {self.settings.instrument}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    where = p.add_argument_group("connection (default: an embedded simulator, no key)")
    where.add_argument("--ws-url", help="the gateway's WebSocket URL (…/ws/api/v2)")
    where.add_argument("--client-id", default=os.environ.get("PULSE_CLIENT_ID"),
                       help="Pulse client id (default $PULSE_CLIENT_ID; on the simulator a "
                            "throwaway one)")
    where.add_argument("--client-secret-env", default="PULSE_CLIENT_SECRET", metavar="VAR",
                       help="environment variable holding the secret (default "
                            "PULSE_CLIENT_SECRET)")
    where.add_argument("--timeout", type=_common.decimal_arg, default=Decimal(10),
                       metavar="SECONDS", help="seconds one call may take (default 10)")
    p.add_argument("--instrument", default="BTC_USD-PERPETUAL")
    p.add_argument("--currency", default=None,
                   help="the instrument's currency, for lookups by label (default: the "
                        "instrument's base currency)")
    p.add_argument("--amount", type=_common.decimal_arg, default=Decimal(10),
                   help="USD per quote, whole contracts (default 10)")
    p.add_argument("--tick", type=_common.decimal_arg, default=Decimal("0.5"),
                   help="the instrument's price step (default 0.5, BTC_USD-PERPETUAL)")
    p.add_argument("--spread-bps", type=_common.decimal_arg, default=Decimal(10),
                   help="distance of each quote from the mid, in bps (default 10)")
    p.add_argument("--requote-bps", type=_common.decimal_arg, default=Decimal(2),
                   help="requote when the mid moves this much, in bps (default 2)")
    p.add_argument("--max-position", type=_common.decimal_arg, default=Decimal(100),
                   help="stop quoting a side beyond this position, USD (default 100)")
    p.add_argument("--duration", type=_common.decimal_arg, default=None, metavar="SECONDS",
                   help="stop by itself after this many seconds (default: until Ctrl-C)")
    return p.parse_args(argv)


@contextlib.asynccontextmanager
async def gateway(args: argparse.Namespace) -> AsyncIterator[tuple[str, str, str]]:
    """``(ws_url, client_id, secret)``: the named gateway, or an embedded simulator's."""
    secret = os.environ.get(args.client_secret_env)
    if args.ws_url is not None:
        if not (args.client_id and secret):
            raise ValidationError("client_id", f"a gateway needs --client-id and its secret "
                                  f"in ${args.client_secret_env}")
        yield args.ws_url, args.client_id, secret
        return
    from kana_async.sim import Simulator

    async with Simulator() as sim:
        assert sim.pulse_ws_url is not None
        yield (sim.pulse_ws_url, args.client_id or f"pmm-{secrets.token_hex(4)}",
               secret or secrets.token_urlsafe(24))


async def main(args: argparse.Namespace) -> int:
    currency = args.currency or args.instrument.split("_", 1)[0]
    settings = Settings(args.instrument, currency, args.amount, args.tick,
                        args.spread_bps / BPS, args.requote_bps, args.max_position)
    duration = float(args.duration) if args.duration is not None else None
    async with gateway(args) as (ws_url, client_id, secret), PulseClient(
            ws_url, client_id=client_id, client_secret=secret, cancel_on_disconnect=True,
            timeout=float(args.timeout)) as pulse:
        log(f"connected as {client_id}; cancel-on-disconnect "
            f"{'on' if await pulse.get_cancel_on_disconnect() else 'OFF'}")
        maker = Maker(pulse, settings)
        books = pulse.subscribe(f"book.{settings.instrument}.raw")
        trades = pulse.subscribe(f"user.trades.{settings.instrument}.raw")
        async with _common.stop_signal(duration) as stop:
            workers = [asyncio.create_task(maker.quote(books), name="quote"),
                       asyncio.create_task(maker.track_fills(trades), name="fills")]
            try:
                await _common.wait_for_stop(stop, *workers)
            finally:
                try:
                    await _common.cancel_and_wait(*workers)
                finally:
                    await maker.clean_up()
        log(f"summary: {maker.requotes} quote round(s), {maker.placed} order(s) sent, "
            f"{maker.fills} fill(s), position {maker.position}")
    return 0


if __name__ == "__main__":
    sys.exit(_common.run(main, parse_args()))
