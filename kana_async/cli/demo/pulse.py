"""The demo's Pulse leg (``kana-async demo --pulse``): the same bot story on the Pulse v2
gateway, through ONE ``PulseClient`` WebSocket with cancel-on-disconnect on.

It connects (auth, heartbeat, cancel-on-disconnect: timed), subscribes the book and the bot's
orders and trades on that socket, rests a post-only bid 1 % under the market, buys at market
(a fill), cancels what rests, closes the position with a reduce-only sell, pipelines a burst of
calls, and prints what it measured: each call's round trip, each effect's delivery on the
stream, the burst's calls/s and the socket's counters. Clean-up (cancel everything, close the
position) runs whatever ends the leg and never depends on the output; cancel-on-disconnect
covers the case where it cannot run at all.

Plain lines only, on the local network: the embedded simulator's gateway, or the one of a
running ``kana-async sim --port N`` (on N+3).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Any, TextIO

from ...errors import KanaError
from .report import percentile

__all__ = ["INSTRUMENT", "PulseLegReport", "run_pulse_leg"]

#: The instrument the leg trades (the simulator's), its tick and one order's amount (USD).
INSTRUMENT = "BTC_USD-PERPETUAL"
TICK = Decimal("0.5")
AMOUNT = Decimal(10)
#: Seconds an effect may take to reach the stream before the leg gives up.
EFFECT_TIMEOUT = 15.0
#: Calls in the pipelined burst.
BURST = 200


class _NotSeen(KanaError):
    """An effect did not reach the stream in time."""


@dataclass
class PulseLegReport:
    """What the leg did and measured (seconds)."""

    started: float
    lines: list[str] = field(default_factory=list)
    connect: float | None = None
    round_trips: list[float] = field(default_factory=list)
    deliveries: list[float] = field(default_factory=list)
    burst_rate: float | None = None
    burst_p50: float | None = None
    notifications: dict[str, int] = field(default_factory=dict)
    frames: int = 0
    disconnects: int = 0
    book_resyncs: int = 0
    cancel_on_disconnect: bool | None = None
    error: str | None = None
    cleaned: bool = False
    #: The reader of the output went away (the leg still cleaned up).
    reader_gone: bool = False

    def line(self, text: str) -> str:
        at = time.monotonic() - self.started
        self.lines.append(text)
        return f"[{at:6.2f}s] pulse: {text}"

    def summary_lines(self) -> list[str]:
        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value * 1e3:.1f} ms"

        def spread(values: list[float]) -> str:
            if not values:
                return "none"
            return f"p50 {ms(percentile(values, 0.5))}, max {ms(max(values))} over " \
                   f"{len(values)}"

        counts = ", ".join(f"{name} {n}" for name, n in self.notifications.items())
        lines = [
            "Pulse leg" + (f": FAILED: {self.error}" if self.error else ""),
            f"Connect (auth, heartbeat, cancel-on-disconnect): {ms(self.connect)}; "
            f"cancel-on-disconnect {'on' if self.cancel_on_disconnect else 'off'}",
            f"Round trip, call to reply: {spread(self.round_trips)}",
            f"Delivery, call to effect on the stream: {spread(self.deliveries)}",
        ]
        if self.burst_rate is not None:
            lines.append(f"Pipelined burst: {BURST} calls in flight, {self.burst_rate:,.0f} "
                         f"calls/s, p50 {ms(self.burst_p50)}")
        lines.append(f"Socket: 1 connection, {self.frames} frames, {self.disconnects} "
                     f"disconnect(s), {self.book_resyncs} book resync(s); notifications: "
                     f"{counts or 'none'}")
        lines.append("Clean-up: nothing rests, no position" if self.cleaned
                     else "Clean-up: NOT confirmed")
        return lines


class _Feed:
    """Items of one subscription, kept so that an effect that arrives before the reply is
    still found (the leg looks from the index it noted before sending)."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._changed = asyncio.Event()

    def add(self, item: Any) -> None:
        self.items.append(item)
        self._changed.set()

    async def wait_for(self, since: int, match: Callable[[Any], bool], what: str) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + EFFECT_TIMEOUT
        seen = since
        while True:
            for item in self.items[seen:]:
                if match(item):
                    return item
            seen = len(self.items)
            self._changed.clear()
            left = deadline - loop.time()
            if left <= 0:
                raise _NotSeen(f"{what} not seen on the stream within {EFFECT_TIMEOUT:g} s")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)


class PulseLeg:
    def __init__(self, ws_url: str, out: TextIO, *, pace: float) -> None:
        self.ws_url = ws_url
        self.out = out
        self.pace = pace
        self.report = PulseLegReport(started=time.monotonic())
        self.orders = _Feed()
        self.trades = _Feed()
        self.run_id = secrets.token_hex(4)
        self._labels = 0

    def say(self, text: str) -> None:
        """A line of the log; never raises (clean-up must go on without a reader)."""
        line = self.report.line(text)
        if self.report.reader_gone:
            return
        try:
            self.out.write(line + "\n")
            self.out.flush()
        except (OSError, ValueError):  # BrokenPipeError, EBADF; ValueError: a closed file
            self.report.reader_gone = True

    def label(self) -> str:
        self._labels += 1
        return f"demo-{self.run_id}-{self._labels}"

    async def timed(self, call: Any) -> tuple[Any, float]:
        sent = time.perf_counter()
        result = await call
        took = time.perf_counter() - sent
        self.report.round_trips.append(took)
        return result, took

    async def effect(self, feed: _Feed, since: int, sent: float,
                     match: Callable[[Any], bool], what: str) -> tuple[Any, float]:
        item = await feed.wait_for(since, match, what)
        took = time.perf_counter() - sent
        self.report.deliveries.append(took)
        return item, took

    async def run(self) -> PulseLegReport:
        from ...pulse import PulseClient

        client_id, secret = f"demo-{self.run_id}", secrets.token_urlsafe(24)
        pulse = PulseClient(self.ws_url, client_id=client_id, client_secret=secret,
                            cancel_on_disconnect=True)
        try:
            sent = time.perf_counter()
            await pulse.connect()
            self.report.connect = time.perf_counter() - sent
            self.report.cancel_on_disconnect = await pulse.get_cancel_on_disconnect()
            self.say(f"connected as {client_id} in {self.report.connect * 1e3:.1f} ms (auth, "
                     "heartbeat, cancel-on-disconnect "
                     f"{'on' if self.report.cancel_on_disconnect else 'OFF'})")
            async with self._consumers(pulse) as book:
                try:
                    await self._scenario(pulse, book)
                finally:
                    await self._clean_up(pulse)
        except KanaError as exc:
            self.report.error = str(exc)
            self.say(f"failed: {exc}")
        finally:
            self._collect(pulse)
            await pulse.close()
        return self.report

    def _collect(self, pulse: Any) -> None:
        stats = pulse.stats()
        self.report.frames = stats.frames.get("frames", 0)
        self.report.disconnects = stats.disconnects
        self.report.book_resyncs = stats.book_resyncs
        if stats.subscriptions:
            self.report.notifications = {s.key: s.received for s in stats.subscriptions}

    @contextlib.asynccontextmanager
    async def _consumers(self, pulse: Any) -> AsyncIterator[Any]:
        """The book and the bot's orders and trades on the one socket, consumed by tasks the
        leg owns (cancelled and awaited on exit)."""
        books = pulse.subscribe(f"book.{INSTRUMENT}.raw")
        orders = pulse.subscribe(f"user.orders.{INSTRUMENT}.raw")
        trades = pulse.subscribe(f"user.trades.{INSTRUMENT}.raw")

        async def feed(sub: Any, into: _Feed) -> None:
            async for item in sub:
                into.add(item)

        tasks = [asyncio.create_task(feed(orders, self.orders), name="demo-pulse-orders"),
                 asyncio.create_task(feed(trades, self.trades), name="demo-pulse-trades")]
        try:
            yield books
        finally:
            self._collect(pulse)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for sub in (books, orders, trades):
                await sub.close()

    async def _scenario(self, pulse: Any, books: Any) -> None:
        book = await asyncio.wait_for(self._synced(books), EFFECT_TIMEOUT)
        bid, ask = book.best_bid[0], book.best_ask[0]
        self.say(f"book {INSTRUMENT} synced at change {book.change_id}: bid {bid}, ask {ask}")
        await asyncio.sleep(self.pace)

        price = ((bid * Decimal("0.99")) / TICK).to_integral_value(ROUND_FLOOR) * TICK
        label = self.label()
        since, sent = len(self.orders.items), time.perf_counter()
        result, took = await self.timed(pulse.buy(
            instrument_name=INSTRUMENT, amount=AMOUNT, type="limit", price=price,
            post_only=True, label=label))
        order_id = result.order.order_id
        _, seen = await self.effect(self.orders, since, sent,
                                    lambda o: o.order_id == order_id, "the resting bid")
        self.say(f"post-only bid {AMOUNT} @ {price} (1 % under): reply in {took * 1e3:.1f} ms, "
                 f"on user.orders in {seen * 1e3:.1f} ms")
        await asyncio.sleep(self.pace)

        since, sent = len(self.trades.items), time.perf_counter()
        result, took = await self.timed(pulse.buy(
            instrument_name=INSTRUMENT, amount=AMOUNT, type="market", label=self.label()))
        taker_id = result.order.order_id
        fill, seen = await self.effect(self.trades, since, sent,
                                       lambda t: t.order_id == taker_id, "the fill")
        self.say(f"market buy {AMOUNT}: filled @ {fill.price}, reply in {took * 1e3:.1f} ms, "
                 f"on user.trades in {seen * 1e3:.1f} ms")
        await asyncio.sleep(self.pace)

        since, sent = len(self.orders.items), time.perf_counter()
        _, took = await self.timed(pulse.cancel_all_by_instrument(instrument_name=INSTRUMENT))
        _, seen = await self.effect(
            self.orders, since, sent,
            lambda o: o.order_id == order_id and o.order_state == "cancelled",
            "the cancelled bid")
        self.say(f"cancel everything resting: reply in {took * 1e3:.1f} ms, the bid cancelled "
                 f"on user.orders in {seen * 1e3:.1f} ms")
        await asyncio.sleep(self.pace)

        since, sent = len(self.trades.items), time.perf_counter()
        result, took = await self.timed(pulse.sell(
            instrument_name=INSTRUMENT, amount=AMOUNT, type="market", reduce_only=True,
            label=self.label()))
        closing_id = result.order.order_id
        fill, seen = await self.effect(self.trades, since, sent,
                                       lambda t: t.order_id == closing_id, "the closing fill")
        self.say(f"reduce-only market sell {AMOUNT}: position closed @ {fill.price}, reply in "
                 f"{took * 1e3:.1f} ms, on user.trades in {seen * 1e3:.1f} ms")

        round_trips: list[float] = []

        async def one() -> None:
            start = time.perf_counter()
            await pulse.get_index_price(index_name="btc_usd")
            round_trips.append(time.perf_counter() - start)

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(BURST)))
        elapsed = time.perf_counter() - started
        self.report.burst_rate = BURST / elapsed
        self.report.burst_p50 = percentile(round_trips, 0.5)
        self.say(f"{BURST} get_index_price calls in flight on the one socket: "
                 f"{self.report.burst_rate:,.0f} calls/s")

    @staticmethod
    async def _synced(books: Any) -> Any:
        async for book in books:
            if book.synced and book.best_bid is not None and book.best_ask is not None:
                return book
        raise _NotSeen("the book subscription ended")

    async def _clean_up(self, pulse: Any) -> None:
        """Cancel what rests and close what is held; check both."""
        with contextlib.suppress(KanaError):
            await pulse.cancel_all_by_instrument(instrument_name=INSTRUMENT)
            positions = await pulse.get_positions(currency="BTC")
            for position in positions:
                if position.instrument_name == INSTRUMENT and position.size:
                    side = pulse.sell if position.size > 0 else pulse.buy
                    await side(instrument_name=INSTRUMENT, amount=abs(position.size),
                               type="market", reduce_only=True, label=self.label())
            resting = await pulse.get_open_orders_by_instrument(instrument_name=INSTRUMENT)
            held = [p for p in await pulse.get_positions(currency="BTC")
                    if p.instrument_name == INSTRUMENT and p.size]
            self.report.cleaned = not resting and not held
        self.say("clean-up: nothing rests, no position" if self.report.cleaned
                 else "clean-up: NOT confirmed")


async def run_pulse_leg(ws_url: str | None, out: TextIO, *, pace: float = 0.0
                        ) -> PulseLegReport:
    """Run the leg against ``ws_url`` (``None``: an embedded simulator's gateway) and print
    its lines and summary on ``out``."""
    async with contextlib.AsyncExitStack() as stack:
        if ws_url is None:
            from ...sim import Simulator

            sim = await stack.enter_async_context(Simulator())
            ws_url = sim.pulse_ws_url
            assert ws_url is not None
        leg = PulseLeg(ws_url, out, pace=pace)
        report = await leg.run()
        if not report.reader_gone:
            try:
                out.write("\n" + "\n".join(report.summary_lines()) + "\n")
                out.flush()
            except (OSError, ValueError):
                report.reader_gone = True
    return report
