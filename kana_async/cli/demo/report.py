"""The demo's pure core: what it did and measured, and the summary computed from that alone.

:class:`DemoReport` holds the events, each transaction with its timings (:class:`TxRecord`),
messages per topic, the stream's counters, the position and the fills; its summary is text
lines for logs and pipes (the terminal's tables are :func:`.display.summary_view`). A few
price helpers the scenario uses live here too, since they are pure.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from ...errors import KanaError, UnknownOutcomeError
from ...models import MarketInfo, Position, Trade
from ...stream.mux import StreamStats
from ...trade.node import TransactionRejectedError
from ...trade.results import TxResult
from .. import views

__all__ = [
    "DEMO_ORDERS",
    "MIN_DEPOSIT",
    "DemoReport",
    "Event",
    "PositionSnapshot",
    "TxRecord",
    "deposit_for",
    "failure_outcome",
    "failure_reason",
    "percentile",
    "short_status",
    "spread_text",
    "to_tick",
]

#: The least collateral the demo deposits.
MIN_DEPOSIT = Decimal(20)
#: Orders of the market's minimum size the demo may hold at once: the position, a resting
#: bid, and a spare (a bid placed again while the book moves).
DEMO_ORDERS = 3


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) by the nearest-rank method; ``None`` for no values."""
    if not 0 <= q <= 100:
        raise ValueError("q must be between 0 and 100")
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def to_tick(price: Decimal, tick: Decimal, *, up: bool) -> Decimal:
    """``price`` moved onto the price grid, up or down to the next multiple of ``tick``."""
    return (price / tick).to_integral_value(ROUND_CEILING if up else ROUND_FLOOR) * tick


def short_status(vm_status: str) -> str:
    """The abort's name when the status has one (``E_...``), else the status, shortened."""
    named = re.search(r"\bE_[A-Z0-9_]+", vm_status)
    if named:
        return named.group(0)
    return vm_status if len(vm_status) <= 60 else vm_status[:59] + "…"


def deposit_for(info: MarketInfo, price: Decimal, leverage: int) -> Decimal:
    """The collateral the demo deposits in ``info``'s market at ``price``: what
    :data:`DEMO_ORDERS` orders of the minimum size need (margin and fee), in whole units,
    at least :data:`MIN_DEPOSIT`."""
    from ..trading import collateral_for  # the CLI's rule for what an order needs

    need = collateral_for(info.lot * info.min_lots, price, leverage, orders=DEMO_ORDERS)
    return max(MIN_DEPOSIT, need.to_integral_value(ROUND_CEILING))


@dataclass
class TxRecord:
    """One transaction the demo sent, and when it was confirmed and seen on the stream.

    Times are ``time.monotonic()`` readings; ``effect`` names what the stream must show for
    it (an empty string: nothing on the demo's topics).
    """

    action: str
    effect: str
    submitted: float
    confirmed: float | None = None
    seen: float | None = None
    outcome: str = "pending"
    tx_hash: str | None = None

    @property
    def confirm_seconds(self) -> float | None:
        """Submit to committed."""
        return None if self.confirmed is None else self.confirmed - self.submitted

    @property
    def seen_seconds(self) -> float | None:
        """Submit to the effect seen on the stream (it may precede the confirmation)."""
        return None if self.seen is None else self.seen - self.submitted


@dataclass(frozen=True)
class Event:
    """A line of the demo's log: ``at`` seconds after the start."""

    at: float
    text: str

    def line(self) -> str:
        return f"[{self.at:6.2f}s] {self.text}"


@dataclass
class PositionSnapshot:
    """The demo's position as last seen open, valued at the book's mid at that moment."""

    position: Position
    mark: Decimal | None


class DemoReport:
    """Everything the demo did and measured; the summary is computed from it alone."""

    def __init__(self, *, network: str, market: str, started: float) -> None:
        self.network = network
        self.market = market
        self.started = started
        self.ended: float | None = None
        self.events: list[Event] = []
        self.transactions: list[TxRecord] = []
        #: Items the demo's consumers received, per topic.
        self.messages: Counter[str] = Counter()
        #: The stream's counters just before it was closed.
        self.stream: StreamStats | None = None
        self.position: PositionSnapshot | None = None
        self.position_closed = False
        #: The demo's own fills in its market (trades that existed before it started excluded).
        self.trades: list[Trade] = []
        self.interrupted = False
        #: The reader of the output went away (``| head``): the run stopped early, quietly.
        self.reader_gone = False
        #: The market's grid, once known: prices and sizes are shown on it.
        self.grid: views.Grid | None = None
        self.error: str | None = None

    # -- recording ------------------------------------------------------------------------

    def event(self, now: float, text: str) -> Event:
        event = Event(now - self.started, text)
        self.events.append(event)
        return event

    def sent(self, action: str, effect: str, now: float) -> TxRecord:
        record = TxRecord(action, effect, now)
        self.transactions.append(record)
        return record

    @staticmethod
    def confirmed(record: TxRecord, result: TxResult, now: float) -> None:
        record.confirmed = now
        record.tx_hash = result.tx_hash
        record.outcome = "ok" if result.success else f"failed: {short_status(result.vm_status)}"

    @staticmethod
    def failed(record: TxRecord, reason: str) -> None:
        record.outcome = f"failed: {reason}"

    @staticmethod
    def seen(record: TxRecord, now: float) -> None:
        if record.seen is None:
            record.seen = now

    def message(self, topic: str) -> None:
        self.messages[topic] += 1

    # -- figures --------------------------------------------------------------------------

    @property
    def succeeded(self) -> bool:
        return self.error is None and not self.interrupted

    @property
    def exit_status(self) -> int:
        """0 after a complete run (or one whose reader left), 130 when interrupted, 1 after
        an error."""
        if self.error is not None:
            return 1
        return 130 if self.interrupted else 0

    @property
    def elapsed(self) -> float | None:
        return None if self.ended is None else self.ended - self.started

    def stream_latencies(self) -> list[float]:
        """Submit-to-stream seconds of every transaction whose effect was seen."""
        return [r.seen_seconds for r in self.transactions if r.seen_seconds is not None]

    def confirm_latencies(self) -> list[float]:
        """Submit-to-commit seconds of every confirmed transaction."""
        return [r.confirm_seconds for r in self.transactions if r.confirm_seconds is not None]

    @property
    def realized_pnl(self) -> Decimal:
        """The sum of the fills' PnL (the exchange reports it net of fees)."""
        return sum((t.pnl for t in self.trades), Decimal(0))

    @property
    def fees(self) -> Decimal:
        return sum((t.fee for t in self.trades), Decimal(0))

    def topic_counts(self) -> list[tuple[str, int, int, int]]:
        """``(topic, received, delivered, conflated)`` per topic: the stream's counters when
        known, else what the consumers counted."""
        if self.stream is not None and self.stream.subscriptions:
            return [(s.topic, s.received, s.delivered, s.conflated)
                    for s in self.stream.subscriptions]
        return [(topic, n, n, 0) for topic, n in self.messages.items()]

    # -- the summary ----------------------------------------------------------------------

    def summary_lines(self) -> list[str]:
        """The summary as plain text lines (CI logs, pipes)."""
        lines = [f"Summary: {self.network}, market {self.market}, "
                 f"{views.format_seconds(self.elapsed, 1)} — {self.verdict()}"]
        lines.append("Transactions (confirmed = submit to commit; stream = submit to the "
                     "effect seen on the stream):")
        width = max((len(r.action) for r in self.transactions), default=0)
        for r in self.transactions:
            seen = f"stream {views.format_seconds(r.seen_seconds)}" if r.effect else "not streamed"
            lines.append(f"  {r.action:<{width}}  {r.outcome:<8} "
                         f"confirmed {views.format_seconds(r.confirm_seconds):>9}  {seen}")
        lines.append(f"Delivery latency, submit to effect on the stream: "
                     f"{spread_text(self.stream_latencies())}")
        lines.append(f"Confirmation time, submit to commit: "
                     f"{spread_text(self.confirm_latencies())}")
        lines.append("Messages per topic (received / delivered / conflated):")
        for topic, received, delivered, conflated in self.topic_counts():
            lines.append(f"  {topic:<20} {received:>7,} {delivered:>7,} {conflated:>7,}")
        stream = self.stream
        if stream is not None:
            lines.append(f"Stream: {stream.connects} connection(s) for {len(stream.subscriptions)}"
                         f" subscriptions, {stream.frames:,} frames, "
                         f"{stream.disconnects} disconnect(s), {views.anomalies(stream)} anomalies")
        lines.append(f"Position: {self.position_text()}")
        lines.append(f"PnL: realized {views.format_decimal(self.realized_pnl, 6, sign=True)} "
                     f"(fees {views.format_decimal(self.fees, 6)}) over {len(self.trades)} "
                     f"fill(s){self.unrealized_text()}")
        return lines

    def verdict(self) -> str:
        if self.error is not None:
            return f"FAILED: {self.error}"
        return "interrupted" if self.interrupted else "completed"

    def price(self, value: Decimal | None) -> str:
        """A price as shown: on the market's tick."""
        grid = self.grid
        return views.format_decimal(value if grid is None else grid.price(value, rounded=True))

    def size(self, value: Decimal) -> str:
        """A size as shown: on the market's lot."""
        grid = self.grid
        return views.format_decimal(value.normalize() if grid is None
                                    else grid.size(value, rounded=True))

    def position_text(self) -> str:
        snap = self.position
        if snap is None:
            return "none opened"
        p = snap.position
        side = "long" if p.trade_side else "short"
        text = (f"{side} {self.size(p.size)} @ {self.price(p.entry_price)}, "
                f"margin {views.format_decimal(p.margin, 4)}, "
                f"TP {self.price(p.tp)}, SL {self.price(p.sl)}")
        return text + (", closed at the end" if self.position_closed else ", still open")

    def unrealized_text(self) -> str:
        snap = self.position
        if snap is None or self.position_closed:
            return ""
        pnl = views.unrealized_pnl(snap.position, snap.mark)
        mark = snap.mark if self.grid is None else self.grid.price(snap.mark)
        return f"; unrealized {views.format_decimal(pnl, 6, sign=True)} at mid " \
               f"{views.format_decimal(mark)}"


def spread_text(values: Sequence[float]) -> str:
    """``p50 …, max … over N`` of latencies in seconds (``no sample`` without any)."""
    if not values:
        return "no sample"
    return (f"p50 {views.format_seconds(percentile(values, 50))}, "
            f"max {views.format_seconds(max(values))} over {len(values)}")


def failure_outcome(error: KanaError) -> str:
    """A transaction's failure in a word or two, for the order log."""
    if isinstance(error, TransactionRejectedError):
        return "rejected"
    if isinstance(error, UnknownOutcomeError):
        return "outcome unknown"
    return type(error).__name__


def failure_reason(error: BaseException) -> str:
    """One line about a failure (exception texts never carry secrets)."""
    if isinstance(error, asyncio.TimeoutError):
        return "timed out"
    text = str(error) or type(error).__name__
    return text.splitlines()[0]
