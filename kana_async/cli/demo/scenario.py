"""``kana-async demo``: the SDK end to end, as a trading bot would use it, in about 30 seconds.

Against the embedded simulator (the default: no key, no network) the demo reads the markets,
opens ONE stream connection carrying five topics, deposits, rests a limit order, has it
crossed by a market order, sets take-profit and stop-loss, cancels what rests, watches the
market until the time is up, closes the position and prints a summary of what it measured.

The pure core is :class:`DemoReport` (events, transactions with their timings, messages per
topic, figures and the summary text) plus a few price helpers; :class:`Demo` is the asyncio
layer that trades and feeds the report; :func:`run` is what ``kana-async demo`` calls.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import re
import secrets
import signal
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any, TextIO

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..._tasks import timeout
from ...client import LOCAL_API_KEY, KanaClient
from ...config import NETWORKS, resolve_network
from ...errors import (
    KanaError,
    SlowConsumerError,
    StreamGapError,
    UnknownOutcomeError,
    ValidationError,
)
from ...models import FundingRate, MarketInfo, OpenOrder, Position, Trade
from ...stream.book import OrderBook
from ...stream.mux import StreamStats
from ...trade.node import TransactionRejectedError
from ...trade.submitter import TxResult
from .. import views
from ..views import decimals

__all__ = [
    "DEFAULT_DURATION",
    "TOPICS",
    "Demo",
    "DemoOptions",
    "DemoReport",
    "TxRecord",
    "configure",
    "decimals",
    "deposit_for",
    "main",
    "options_from_args",
    "percentile",
    "run",
    "run_demo",
    "short_status",
    "to_tick",
]

#: Seconds the demo runs by default.
DEFAULT_DURATION = 30.0
#: The topics the demo carries on its one stream connection.
TOPICS = ("orderbook", "positions", "open_orders", "live_funding_rate", "trade_history")
#: Seconds a transaction's effect may take to appear on the stream before the demo gives up.
EFFECT_TIMEOUT = 15.0
#: Seconds to wait for an effect that may not come (a counterparty filling someone else).
QUICK_TIMEOUT = 2.0
#: Seconds the clean-up (cancel what rests, close the position) may take after a stop.
CLEANUP_TIMEOUT = 20.0
#: Columns and lines the full live screen needs; on a smaller terminal it is compact.
FULL_SCREEN = (110, 40)
#: Distance of the passive bids below the best bid, and of TP/SL from the entry.
PASSIVE_OFFSET = Decimal("0.01")
TRIGGER_OFFSET = Decimal("0.05")
#: The least collateral the demo deposits, and what its counterparty deposits at least.
MIN_DEPOSIT = Decimal(20)
COUNTERPARTY_DEPOSIT = Decimal(1000)
#: Orders of the market's minimum size the demo may hold at once: the position, a resting
#: bid, and a spare (a bid placed again while the book moves).
DEMO_ORDERS = 3


# == the pure core =============================================================================


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
                     f"{_spread(self.stream_latencies())}")
        lines.append(f"Confirmation time, submit to commit: {_spread(self.confirm_latencies())}")
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


def _spread(values: Sequence[float]) -> str:
    if not values:
        return "no sample"
    return (f"p50 {views.format_seconds(percentile(values, 50))}, "
            f"max {views.format_seconds(max(values))} over {len(values)}")


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
                    + _spread(report.stream_latencies()))
    figures.add_row("confirmation", "submit → commit: " + _spread(report.confirm_latencies()))
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


# == options ===================================================================================


@dataclass(frozen=True)
class DemoOptions:
    """What to run against and how. ``private_key`` is never shown (not in the repr)."""

    network: str = "local"
    duration: float = DEFAULT_DURATION
    #: A market id (1338) or name (APT, apt/usdc, APT-USDC), resolved like the CLI does.
    market: int | str = 1338
    #: Collateral to deposit (``None``: what the demo's orders need in this market, at least
    #: :data:`MIN_DEPOSIT`; see :func:`deposit_for`).
    deposit: Decimal | None = None
    leverage: int = 2
    keep_position: bool = False
    api_key: str | None = field(default=None, repr=False)
    private_key: str | None = field(default=None, repr=False)
    rest_url: str | None = None
    ws_url: str | None = None
    node_url: str | None = None
    #: Force plain lines (``None``: plain unless the output is a terminal).
    plain: bool | None = None
    #: Seconds between two steps, so that a viewer can follow (``None``: a fifteenth of the
    #: duration, at most 2 s).
    pace: float | None = None
    #: A second wallet takes the other side of the resting order (``None``: on the local
    #: network only). Without one, the demo's own market order crosses the book, as it must
    #: on a real network where the demo has a single key.
    counterparty: bool | None = None
    #: Mainnet trades real money: the demo runs there only when this is True.
    mainnet_confirmed: bool = False

    def __post_init__(self) -> None:
        resolve_network(self.network, rest_url=self.rest_url, ws_url=self.ws_url,
                        node_url=self.node_url)  # checks the network's name and the URLs
        if not 0 < self.duration <= 86_400:
            raise ValidationError("duration", "must be > 0 and at most 86400 seconds",
                                  self.duration)
        if self.deposit is not None and not self.deposit > 0:
            raise ValidationError("deposit", "must be > 0", self.deposit)
        if self.pace is not None and not 0 <= self.pace <= 60:
            raise ValidationError("pace", "must be from 0 to 60 seconds", self.pace)
        if not 1 <= self.leverage <= 1000:
            raise ValidationError("leverage", "must be an integer from 1", self.leverage)
        if self.counterparty and not self.local:
            raise ValidationError("counterparty", "needs the local network: a second wallet "
                                  "is funded by the simulator's faucet", self.counterparty)
        if self.network == "mainnet" and not self.mainnet_confirmed:
            raise ValidationError("network", "mainnet trades real money: pass --yes to run "
                                  "the demo there", self.network)
        if self.network != "local" and self.private_key is None:
            raise ValidationError("private_key_env", f"trading on {self.network} needs a key: "
                                  "--private-key-env VAR names the variable holding it")
        if self.network != "local" and self.api_key is None:
            raise ValidationError("api_key", f"{self.network} needs an API key (--api-key or "
                                  "KANA_API_KEY)")

    @property
    def local(self) -> bool:
        return self.network == "local"

    @property
    def use_counterparty(self) -> bool:
        return self.local if self.counterparty is None else self.counterparty


# == the asyncio layer =========================================================================


class _Stopped(Exception):
    """The demo was asked to stop (Ctrl-C, or a consumer failed)."""


class _NotSeen(KanaError):
    """Something expected did not reach the stream in time."""


class _TxFailed(KanaError):
    """A transaction was committed but failed (a Move abort)."""

    def __init__(self, action: str, vm_status: str) -> None:
        self.vm_status = vm_status
        super().__init__(f"{action} failed: {vm_status}")

    @property
    def crossed(self) -> bool:
        """A post-only order that would have crossed (Econia abort 13): the book moved."""
        return "POST_OR_ABORT" in self.vm_status or bool(
            re.search(r"::market: 0xd\b", self.vm_status))


class _TaskSet:
    """Background tasks owned by the demo: cancelled and awaited on exit, none left behind.

    A task that fails calls ``on_failure`` (Python 3.10 has no ``asyncio.TaskGroup``)."""

    def __init__(self, on_failure: Callable[[BaseException], None]) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._on_failure = on_failure

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is not None:
            self._on_failure(error)

    async def aclose(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def __aenter__(self) -> _TaskSet:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class _State:
    """The latest snapshot of each topic, and waiters for a condition on them."""

    def __init__(self, report: DemoReport, market: int) -> None:
        self.report = report
        self.market = market
        self.book: OrderBook | None = None
        self.positions: list[Position] = []
        self.open_orders: list[OpenOrder] = []
        self.funding: list[FundingRate] = []
        self.trades: list[Trade] | None = None
        #: Fills that existed before the demo traded (not the demo's doing).
        self.old_trades: set[tuple[Any, ...]] | None = None
        self._waiters: list[tuple[Callable[[_State], bool], asyncio.Future[float]]] = []

    def update(self, topic: str, value: Any) -> None:
        now = time.monotonic()
        self.report.message(topic)
        if topic == "orderbook":
            self.book = value
        elif topic == "positions":
            self.positions = [p for p in value if p.market_id == self.market]
        elif topic == "open_orders":
            self.open_orders = [o for o in value if o.market_id == self.market]
        elif topic == "live_funding_rate":
            self.funding = value
        elif topic == "trade_history":
            if self.old_trades is None:
                self.old_trades = {_trade_key(t) for t in value}
            self.trades = value
            self.report.trades = self.new_trades()
        long = self.long()
        if long is not None:  # valued at the latest mid
            self.report.position = PositionSnapshot(long, self.mid)
        for waiter in list(self._waiters):
            predicate, future = waiter
            if future.done():
                self._waiters.remove(waiter)
            elif predicate(self):
                self._waiters.remove(waiter)
                future.set_result(now)

    def watch(self, predicate: Callable[[_State], bool]) -> asyncio.Future[float]:
        """A future set to the ``time.monotonic()`` at which ``predicate`` first held."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        if predicate(self):
            future.set_result(time.monotonic())
        else:
            self._waiters.append((predicate, future))
        return future

    @property
    def mid(self) -> Decimal | None:
        return None if self.book is None else self.book.mid

    def new_trades(self) -> list[Trade]:
        old = self.old_trades or set()
        return [t for t in self.trades or () if t.market_id == self.market
                and _trade_key(t) not in old]

    def order(self, order_id: str) -> OpenOrder | None:
        return next((o for o in self.open_orders if o.order_id == order_id), None)

    def long(self) -> Position | None:
        return next((p for p in self.positions if p.trade_side), None)


def _trade_key(trade: Trade) -> tuple[Any, ...]:
    return (trade.trade_id, trade.transaction_version, trade.size, trade.price, trade.timestamp)


class _Display:
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


class _LiveDisplay(_Display):
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


class Demo:
    """The scenario, run once by :meth:`run`; :meth:`stop` ends it early (with clean-up)."""

    def __init__(self, options: DemoOptions, *, out: TextIO | None = None,
                 live: bool | None = None) -> None:
        self.options = options
        out = out if out is not None else sys.stdout
        if live is None:
            live = not options.plain and out.isatty()
        #: The market's id, once resolved from ``options.market`` (which may be a name).
        #: (0 until then: no market has that id).
        self.market_id = options.market if isinstance(options.market, int) else 0
        self.report = DemoReport(network=self._network_name(), market=str(options.market),
                                 started=time.monotonic())
        self.state = _State(self.report, self.market_id)
        self.display: _Display = (_LiveDisplay(out, self.screen, self._reader_gone) if live
                                  else _Display(out, self._reader_gone))
        self.info: MarketInfo | None = None
        self.names: dict[int, str] = {}
        self._kana: KanaClient | None = None
        self._counterparty: KanaClient | None = None
        self._stopped: asyncio.Future[None] | None = None
        self._phase = "starting"
        #: What the demo's orders need in its market (known once the market is read).
        self._deposit_amount = MIN_DEPOSIT

    def _network_name(self) -> str:
        o = self.options
        if o.local and not (o.rest_url or o.ws_url or o.node_url):
            return "embedded simulator"
        return o.network

    # -- control ------------------------------------------------------------------------

    def stop(self, reason: str | None = None) -> None:
        """End the scenario at its next step (or wait), then clean up and summarise.

        ``reason`` set: the demo failed with it; unset: the user interrupted it."""
        if reason is not None and self.report.error is None:
            self.report.error = reason
        elif reason is None:
            self.report.interrupted = True
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(None)

    def _reader_gone(self) -> None:
        """Nobody reads the output any more: stop (and clean up), not an error."""
        self.report.reader_gone = True
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(None)

    @property
    def stopping(self) -> bool:
        return self._stopped is not None and self._stopped.done()

    def _checkpoint(self) -> None:
        if self.stopping:
            raise _Stopped

    async def _pause(self, seconds: float) -> None:
        """Let the viewer see a step; a stop ends the pause at once."""
        assert self._stopped is not None
        if seconds > 0:
            await asyncio.wait([self._stopped], timeout=seconds)
        self._checkpoint()

    def event(self, text: str) -> None:
        self.display.event(self.report.event(time.monotonic(), text))

    # -- the run ------------------------------------------------------------------------

    async def run(self) -> DemoReport:
        """Run the scenario and the clean-up; the report says how it went (a trading or
        connection failure becomes ``report.error``). The caller shows the summary."""
        self._stopped = asyncio.get_running_loop().create_future()
        self.display.start()
        try:
            await self._run()
        except (KanaError, OSError, asyncio.TimeoutError) as exc:
            self._fail(exc)
        finally:
            self.report.ended = time.monotonic()
            self.display.stop()
        return self.report

    def _fail(self, error: BaseException) -> None:
        reason = _reason(error)
        self.stop(reason)
        self.event(f"error: {reason}")

    async def _run(self) -> None:
        o = self.options
        kana = KanaClient(o.network, api_key=o.api_key, rest_url=o.rest_url, ws_url=o.ws_url,
                          node_url=o.node_url, private_key=o.private_key or secrets.token_hex(32))
        async with contextlib.AsyncExitStack() as stack:
            self._kana = await stack.enter_async_context(kana)
            where = "the embedded simulator" if kana.simulator is not None else kana.config.rest_url
            self.event(f"connected to {where}; wallet {kana.address}")
            if o.use_counterparty:
                # A second wallet (a fresh key) takes the other side: the exchange refuses
                # trades of a wallet against itself.
                config = kana.config
                self._counterparty = await stack.enter_async_context(KanaClient(
                    "local", rest_url=config.rest_url, ws_url=config.ws_url,
                    node_url=config.node_url, api_key=o.api_key or LOCAL_API_KEY,
                    private_key=secrets.token_hex(32)))
            tasks = await stack.enter_async_context(_TaskSet(self._fail))
            if isinstance(self.display, _LiveDisplay):
                tasks.spawn(self._refresh(), name="kana-demo screen")
            try:
                await self._scenario(kana, stack, tasks)
            except _Stopped:
                pass
            except (KanaError, OSError, asyncio.TimeoutError) as exc:
                self._fail(exc)
            finally:
                self._phase = "cleaning up"
                await self._cleanup(kana)
                self.report.stream = kana.stream.stats()

    # -- the scenario -------------------------------------------------------------------

    async def _scenario(self, kana: KanaClient, stack: contextlib.AsyncExitStack,
                        tasks: _TaskSet) -> None:
        o = self.options
        pace = min(2.0, o.duration / 15) if o.pace is None else o.pace
        self._phase = "reading markets"
        info = await self._read_markets(kana)
        await self._pause(pace)

        self._phase = "opening the stream"
        profile = await kana.profile_address()
        await self._open_stream(kana, profile, stack, tasks)
        await self._pause(pace)

        self._phase = "trading"
        await self._deposit(kana)
        await self._pause(pace)
        await self._rest_and_cross(kana, info)
        await self._pause(pace)
        if self.state.long() is not None:
            await self._protect(kana, info)
            await self._pause(pace)
        if self._counterparty is not None:  # the first bid was filled: rest another one
            await self._rest_passive(kana, info, "a second bid, to cancel")
            await self._pause(pace)
        await self._cancel_resting(kana)

        self._phase = "watching"
        self.event(f"watching the market until {o.duration:g} s have passed")
        deadline = self.report.started + o.duration
        status_every = 5.0
        while (left := deadline - time.monotonic()) > 0:
            await self._pause(min(left, status_every))
            self.display.status(self.status_line())

    async def _read_markets(self, kana: KanaClient) -> MarketInfo:
        markets = await kana.rest.get_perpetual_assets_info()
        self.names = {m.market_id: m.base_name for m in markets}
        from ..connect import resolve_market  # the CLI's names: APT, apt/usdc, APT-USDC

        info = self.info = await resolve_market(kana, str(self.options.market))
        self.market_id = self.state.market = info.market_id
        self.report.market = str(info.market_id)
        self.report.grid = views.Grid.of(info)
        price = await kana.rest.get_market_price(self.market_id)
        reference = price.best_ask_price or price.best_bid_price
        if reference is not None:
            self._deposit_amount = deposit_for(info, reference, self.options.leverage)
        listed = ", ".join(f"{m.base_name} ({m.market_id})" for m in markets)
        self.event(f"markets: {listed}")
        self.event(f"{info.base_name}: lot {info.lot.normalize()}, price step "
                   f"{info.tick.normalize()}, min size {self._min_size(info)}, max leverage "
                   f"{info.max_leverage}x; bid {views.format_decimal(price.best_bid_price)} "
                   f"ask {views.format_decimal(price.best_ask_price)}")
        if self.options.leverage > info.max_leverage:
            raise ValidationError("leverage", f"must be at most {info.max_leverage} on "
                                  f"{info.base_name}", self.options.leverage)
        return info

    def _quote(self) -> str:
        """The quote coin's name, from the market's name (``APT/USDC``)."""
        name = self.info.base_name if self.info is not None else ""
        return name.rpartition("/")[2] if "/" in name else "quote coin"

    @staticmethod
    def _min_size(info: MarketInfo) -> Decimal:
        return (info.lot * info.min_lots).normalize()

    async def _open_stream(self, kana: KanaClient, profile: str,
                           stack: contextlib.AsyncExitStack, tasks: _TaskSet) -> None:
        stream = kana.stream
        subs: list[tuple[str, Any]] = [
            ("orderbook", stream.orderbook(self.market_id)),
            ("positions", stream.positions(profile)),
            ("open_orders", stream.open_orders(profile)),
            ("live_funding_rate", stream.live_funding_rate()),
            ("trade_history", stream.trade_history(profile)),
        ]
        first = {topic: self.state.watch(_has_message(topic)) for topic, _ in subs}
        subscribed = time.monotonic()
        for topic, sub in subs:
            await stack.enter_async_context(sub)
            tasks.spawn(self._consume(topic, sub), name=f"kana-demo {topic}")
        book = await self._effect(first["orderbook"], "the order book")
        # Other topics may stay silent until something happens on a real network.
        await asyncio.wait(list(first.values()), timeout=3.0)
        silent = [topic for topic, f in first.items() if not f.done()]
        stats = stream.stats()
        self.event(f"stream: {stats.connects} connection carrying {len(stats.subscriptions)} "
                   f"topics ({', '.join(TOPICS)}); first book after "
                   f"{views.format_seconds(book - subscribed)}"
                   + (f"; silent so far: {', '.join(silent)}" if silent else ""))

    async def _consume(self, topic: str, sub: Any) -> None:
        while True:
            try:
                async for item in sub:
                    self.state.update(topic, item)
                return
            except (StreamGapError, SlowConsumerError) as exc:
                self.event(f"stream: {exc}")

    async def _refresh(self) -> None:
        while True:
            self.display.refresh()
            await asyncio.sleep(0.25)

    async def _deposit(self, kana: KanaClient) -> None:
        need = self._deposit_amount
        amount = self.options.deposit or need
        if self._counterparty is not None:
            counterparty = self._counterparty
            theirs = max(COUNTERPARTY_DEPOSIT, need)
            await self._transact(f"counterparty: deposit {theirs}", "",
                                 lambda: counterparty.deposit(theirs))
        await self._transact(f"deposit {amount} {self._quote()}", "",
                             lambda: kana.deposit(amount))
        balance = await kana.rest.get_profile_balance_snapshot(kana.address)
        self.event(f"profile balance now {views.format_decimal(balance)}")

    async def _transact(self, action: str, effect: str,
                        call: Callable[[], Awaitable[TxResult]],
                        seen: Callable[[_State], bool] | None = None, *,
                        required: bool = True) -> TxRecord:
        """Send one transaction; wait for its commit, then for ``seen`` on the stream.

        The watch starts before the transaction is sent: its effect may reach the stream
        before the confirmation does. Not seen in time: an error if ``required``, else an
        event and ``record.seen`` stays ``None``.
        """
        self._checkpoint()
        self.event(f"{action}: sent")
        watcher = self.state.watch(seen) if seen is not None else None
        record = self.report.sent(action, effect, time.monotonic())
        try:
            result = await call()
        except KanaError as exc:
            self.report.failed(record, _failure(exc))
            if watcher is not None:
                watcher.cancel()
            raise
        self.report.confirmed(record, result, time.monotonic())
        if not result.success:
            if watcher is not None:
                watcher.cancel()
            self.event(f"{action}: {record.outcome}")
            raise _TxFailed(action, result.vm_status)
        if watcher is None:
            self.event(f"{action}: confirmed in {views.format_seconds(record.confirm_seconds)}")
            return record
        try:
            at = await self._effect(watcher, f"{effect} after {action}",
                                    EFFECT_TIMEOUT if required else QUICK_TIMEOUT)
        except _NotSeen as exc:
            if required:
                raise
            self.event(str(exc))
            return record
        self.report.seen(record, at)
        self.event(f"{action}: confirmed in {views.format_seconds(record.confirm_seconds)}, "
                   f"{effect} on the stream in {views.format_seconds(record.seen_seconds)}")
        return record

    async def _effect(self, watcher: asyncio.Future[float], what: str,
                      timeout: float = EFFECT_TIMEOUT) -> float:
        """When ``watcher``'s condition held; raises ``_NotSeen`` after ``timeout``."""
        assert self._stopped is not None
        waits: list[asyncio.Future[Any]] = [watcher, self._stopped]
        done, _ = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if watcher in done:
            return watcher.result()
        watcher.cancel()
        self._checkpoint()
        raise _NotSeen(f"{what}: not seen on the stream within {timeout:g} s")

    async def _rest_passive(self, kana: KanaClient, info: MarketInfo, why: str
                            ) -> OpenOrder | None:
        """A post-only bid 1 % under the best bid: it rests and nobody is likely to fill it."""
        bid, _ = self._top()
        price = to_tick(bid * (1 - PASSIVE_OFFSET), info.tick, up=False)
        return await self._place_resting(kana, info, price, why)

    def _top(self) -> tuple[Decimal, Decimal | None]:
        """The best bid and ask; a book without bids leaves no price to bid near."""
        book = self.state.book
        if book is None or book.best_bid is None:
            raise KanaError(f"market {self.market_id} has no bid to quote against")
        ask = book.best_ask
        return book.best_bid.price, None if ask is None else ask.price

    async def _place_resting(self, kana: KanaClient, info: MarketInfo, price: Decimal,
                             why: str) -> OpenOrder | None:
        """A post-only bid, once seen resting; ``None`` if the market filled it first (its
        snapshots conflated: the consumer saw the fill, not the resting order)."""
        size = self._min_size(info)
        known = {o.order_id for o in self.state.open_orders}
        fills = len(self.state.new_trades())

        def new(state: _State) -> OpenOrder | None:
            return next((o for o in state.open_orders
                         if o.order_id not in known and o.price == price), None)

        def resting(state: _State) -> bool:
            return new(state) is not None or len(state.new_trades()) > fills

        await self._transact(
            f"limit buy {size} @ {price} post-only ({why})", "resting order",
            lambda: kana.place_limit_order(self.market_id, True, False, size, price,
                                           self.options.leverage, 3),
            resting,
        )
        return new(self.state)

    async def _rest_and_cross(self, kana: KanaClient, info: MarketInfo) -> None:
        """Rest a bid, then fill it: locally the counterparty sells into it at market; on a
        real network (one key) the demo's own market buy crosses the book instead."""
        size = self._min_size(info)
        if self._counterparty is None:
            await self._rest_passive(kana, info, "rests")
            await self._fill(lambda: kana.place_market_order(self.market_id, True, False,
                                                             size, self.options.leverage),
                             f"market buy {size} (crosses the book)", None)
            return
        for attempt in range(1, 4):
            bid, ask = self._top()
            # The highest price that still rests: the top of the book, to be crossed.
            price = bid if ask is None or ask - info.tick <= bid else ask - info.tick
            try:
                order = await self._place_resting(kana, info, price, "top of the book")
            except _TxFailed as exc:
                if not exc.crossed:
                    raise
                self.event(f"the book moved: the bid would have crossed (attempt {attempt})")
                await self._next_book()
                continue
            if order is None:
                self.event("the bid was filled by the market at once")
                await self._position_seen()
                return
            if await self._cross(order):
                return
            self.event(f"the bid was outbid before the counterparty came (attempt {attempt})")
            await self._cancel(kana, [order])
            await self._next_book()
        raise KanaError("could not get a resting bid filled in 3 attempts")

    async def _position_seen(self) -> None:
        """Wait until the stream shows the long position (the fill came first)."""
        await self._effect(self.state.watch(lambda s: s.long() is not None), "the position")

    async def _next_book(self) -> None:
        """Wait for a fresher book (at most a second)."""
        count = self.report.messages["orderbook"]
        with contextlib.suppress(_NotSeen):
            await self._effect(
                self.state.watch(lambda s: s.report.messages["orderbook"] > count),
                "a new book", 1.0)

    async def _cross(self, order: OpenOrder) -> bool:
        """The counterparty sells the order's remaining size at market; True once filled."""
        assert self._counterparty is not None
        current = self.state.order(order.order_id)
        if current is None:
            self.event("the bid was filled by the market before the counterparty came")
            await self._position_seen()
            return True
        book = self.state.book
        if book is not None and book.best_bid is not None and book.best_bid.price > order.price:
            return False
        counterparty = self._counterparty
        await self._fill(
            lambda: counterparty.place_market_order(self.market_id, False, False,
                                                    current.remaining_size,
                                                    self.options.leverage),
            f"counterparty: market sell {current.remaining_size.normalize()}", order.order_id)
        return self.state.order(order.order_id) is None

    async def _fill(self, call: Callable[[], Awaitable[TxResult]], action: str,
                    order_id: str | None) -> None:
        """Send ``call`` and wait for the demo's fill (and, with ``order_id``, for that order
        to be filled completely). A counterparty's order may fill someone else's bid: then
        the fill is not required."""
        before = len(self.state.new_trades())

        def filled(state: _State) -> bool:
            fills = len(state.new_trades()) > before and state.long() is not None
            return fills and (order_id is None or state.order(order_id) is None)

        await self._transact(action, "fill and position", call, filled,
                             required=order_id is None)
        long = self.state.long()
        if long is not None:
            self.event(f"position: long {self.report.size(long.size)} @ "
                       f"{self.report.price(long.entry_price)}, margin "
                       f"{views.format_decimal(long.margin, 4)}")

    async def _protect(self, kana: KanaClient, info: MarketInfo) -> None:
        long = self.state.long()
        assert long is not None
        tp = to_tick(long.entry_price * (1 + TRIGGER_OFFSET), info.tick, up=True)
        sl = to_tick(long.entry_price * (1 - TRIGGER_OFFSET), info.tick, up=False)
        market = self.market_id

        def tp_set(state: _State) -> bool:
            p = state.long()
            return p is not None and p.tp == tp

        def sl_set(state: _State) -> bool:
            p = state.long()
            return p is not None and p.sl == sl

        await self._transact(f"take-profit {tp}", "TP on the position",
                             lambda: kana.update_take_profit(market, True, tp), tp_set)
        await self._transact(f"stop-loss {sl}", "SL on the position",
                             lambda: kana.update_stop_loss(market, True, sl), sl_set)

    async def _cancel_resting(self, kana: KanaClient) -> None:
        resting = list(self.state.open_orders)
        if not resting:
            self.event("nothing rests: nothing to cancel")
            return
        await self._cancel(kana, resting)

    async def _cancel(self, kana: KanaClient, orders: Sequence[OpenOrder]) -> None:
        ids = {o.order_id for o in orders}

        def gone(state: _State) -> bool:
            return not ids & {o.order_id for o in state.open_orders}

        # Every resting order here is a bid of the long side.
        await self._transact(
            f"cancel {len(ids)} resting order(s)", "orders gone",
            lambda: kana.cancel_multiple_orders(self.market_id, sorted(ids),
                                                [True] * len(ids)),
            gone,
        )

    async def _cleanup(self, kana: KanaClient) -> None:
        """Leave nothing behind: cancel what rests and (unless kept) close the position.

        Runs after a stop too; a second stop (Ctrl-C again) ends it."""
        if self.info is None or kana.closed:
            return
        # A fresh stop signal: the clean-up runs after a stop too.
        self._stopped = asyncio.get_running_loop().create_future()
        try:
            async with timeout(CLEANUP_TIMEOUT):
                await self._leave_nothing(kana)
        except _Stopped:
            pass
        except (KanaError, OSError, asyncio.TimeoutError) as exc:
            self.event(f"clean-up incomplete: {_reason(exc)}")

    async def _leave_nothing(self, kana: KanaClient) -> None:
        if self.state.open_orders:
            await self._cancel_resting(kana)
        if self.state.long() is None:
            return
        if self.options.keep_position:
            self.event("the position stays open (--keep-position)")
            return

        def closed(state: _State) -> bool:
            return state.long() is None

        await self._transact("close the position", "position gone",
                             lambda: kana.collapse_position(self.market_id), closed)
        self.report.position_closed = True

    # -- what is shown ------------------------------------------------------------------

    def status_line(self) -> str:
        """One line of state for plain output while watching."""
        book, long, report = self.state.book, self.state.long(), self.report
        top = "no book" if book is None or book.best_bid is None or book.best_ask is None \
            else f"bid {report.price(book.best_bid.price)} ask {report.price(book.best_ask.price)}"
        pos = "no position" if long is None else (
            f"long {report.size(long.size)} @ {report.price(long.entry_price)} uPnL "
            f"{views.format_decimal(views.unrealized_pnl(long, self.state.mid), 6, sign=True)}")
        frames = self._kana.stream.stats().frames if self._kana and not self._kana.closed else 0
        return f"{top}; {pos}; {frames:,} frames"

    def screen(self, width: int | None = None, height: int | None = None) -> RenderableType:
        """The live screen: book, position, orders, stream and the latest events; on a
        terminal smaller than :data:`FULL_SCREEN` (``width`` x ``height``), the same figures
        as short lines that fit it."""
        if (width is not None and width < FULL_SCREEN[0]) or (
                height is not None and height < FULL_SCREEN[1]):
            return self.compact_screen(width or FULL_SCREEN[0], height or FULL_SCREEN[1])
        state, info = self.state, self.info
        name = info.base_name if info is not None else str(self.market_id)
        grid = self.report.grid
        grids = {} if grid is None else {self.market_id: grid}
        elapsed = time.monotonic() - self.report.started
        rate = self._funding_rate()
        header = Text.assemble(
            ("Kana demo", "bold"), f" — {self.report.network} — {name} — ",
            (self._phase, "cyan"), f" — {elapsed:4.1f} s / {self.options.duration:g} s",
            ("" if rate is None else
             f" — funding {views.format_decimal(rate * 100, 4, sign=True)} %"),
        )
        book = views.book_top(
            state.book, depth=4, title=f"{name} book", own_prices=[o.price for o in
                                                                   state.open_orders],
            grid=self.report.grid,
        )
        right = Group(
            views.position_card(state.long(), state.mid, realized_pnl=self.report.realized_pnl,
                                grid=self.report.grid),
            Text(""),
            views.open_orders(state.open_orders, grids=grids),
        )
        top = Table.grid(padding=(0, 4))
        top.add_column()
        top.add_column()
        top.add_row(book, right)
        stats = self._kana.stream.stats() if self._kana and not self._kana.closed else None
        events = Text("\n".join(e.line() for e in self.report.events[-3:]), style="dim",
                      no_wrap=True, overflow="ellipsis")
        return Group(header, Text(""), top, Text(""),
                     views.order_log(self.report.transactions, limit=5), Text(""),
                     views.stream_stats(stats), Text(""), events)

    def _funding_rate(self) -> Decimal | None:
        state = self.state
        return next((r.funding_rate for r in state.funding if r.market_id == state.market),
                    None)

    def compact_screen(self, width: int, height: int) -> RenderableType:
        """The live screen as one line per figure, each cut to ``width``, at most
        ``height`` lines (the latest events fill what is left)."""
        state, report = self.state, self.report
        info = self.info
        name = info.base_name if info is not None else str(self.market_id)
        elapsed = time.monotonic() - report.started
        rate = self._funding_rate()
        book = state.book
        lines: list[Text] = [Text.assemble(
            ("Kana demo", "bold"), f" {name} ", (self._phase, "cyan"),
            f" {elapsed:.1f}/{self.options.duration:g} s",
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
        long = state.long()
        if long is None:
            lines.append(Text("position: none"))
        else:
            pnl = views.unrealized_pnl(long, state.mid)
            lines.append(Text(
                f"long {report.size(long.size)} @ {report.price(long.entry_price)}  uPnL "
                f"{views.format_decimal(pnl, 6, sign=True)}  margin "
                f"{views.format_decimal(long.margin, 4)}  TP {report.price(long.tp)} SL "
                f"{report.price(long.sl)}"))
        lines.append(Text(f"realized {views.format_decimal(report.realized_pnl, 6, sign=True)}"
                          f"  resting orders {len(state.open_orders)}"))
        stats = self._kana.stream.stats() if self._kana and not self._kana.closed else None
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


def _has_message(topic: str) -> Callable[[_State], bool]:
    def predicate(state: _State) -> bool:
        return state.report.messages[topic] > 0

    return predicate


def _failure(error: KanaError) -> str:
    """A transaction's failure in a word or two, for the order log."""
    if isinstance(error, TransactionRejectedError):
        return "rejected"
    if isinstance(error, UnknownOutcomeError):
        return "outcome unknown"
    return type(error).__name__


def _reason(error: BaseException) -> str:
    """One line about a failure (exception texts never carry secrets)."""
    if isinstance(error, asyncio.TimeoutError):
        return "timed out"
    text = str(error) or type(error).__name__
    return text.splitlines()[0]


# == entry points ==============================================================================


async def run_demo(options: DemoOptions, *, out: TextIO | None = None,
                   live: bool | None = None) -> DemoReport:
    """Run the demo once (Ctrl-C stops it cleanly: clean-up, then the summary)."""
    demo = Demo(options, out=out, live=live)
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    presses = 0

    def interrupt() -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            demo.stop()
        elif main is not None:
            main.cancel()  # a second Ctrl-C: no more clean-up

    installed = False
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGINT, interrupt)
        installed = True
    try:
        report = await demo.run()
    except asyncio.CancelledError:
        if presses < 2:
            raise
        report = demo.report
        report.interrupted = True
        report.ended = time.monotonic()
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGINT)
    demo.display.summary(report)
    return report


def _decimal(value: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation:
        raise argparse.ArgumentTypeError("must be a decimal number") from None


def _positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number of seconds") from None
    if not 0 < seconds <= 86_400:
        raise argparse.ArgumentTypeError("must be > 0 and at most 86400")
    return seconds


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the demo's options to ``parser`` (``kana-async demo`` and ``python -m``)."""
    from ..args import market
    parser.add_argument("--duration", type=_positive_seconds, default=DEFAULT_DURATION,
                        metavar="SECONDS", help="how long the demo runs (default %(default)g)")
    parser.add_argument("--plain", action="store_true", default=None,
                        help="plain lines instead of the live view (automatic without a "
                        "terminal)")
    parser.add_argument("--network", choices=sorted(NETWORKS), default="local",
                        help="local = the embedded simulator (default), or a real Kana network")
    parser.add_argument("--api-key", default=None, metavar="KEY",
                        help="Kana API key (default: $KANA_API_KEY; not needed locally)")
    parser.add_argument("--private-key-env", default=None, metavar="VAR",
                        help="name of the environment variable holding the wallet's private "
                        "key (default locally: a fresh key)")
    parser.add_argument("--rest-url", default=None, metavar="URL",
                        help="override the network's REST URL")
    parser.add_argument("--ws-url", default=None, metavar="URL",
                        help="override the network's WebSocket URL")
    parser.add_argument("--node-url", default=None, metavar="URL",
                        help="override the network's Aptos node URL (…/v1)")
    parser.add_argument("--market", type=market, default="1338", metavar="MARKET",
                        help="market id or name: 1338, APT, apt/usdc, APT-USDC (default "
                        "%(default)s, APT)")
    parser.add_argument("--deposit", type=_decimal, default=None, metavar="AMOUNT",
                        help="collateral to deposit first (default: what the demo's orders "
                        f"need in the market, at least {MIN_DEPOSIT})")
    parser.add_argument("--leverage", type=int, default=2, help="leverage (default %(default)s)")
    parser.add_argument("--keep-position", action="store_true",
                        help="leave the position open at the end (default: close it)")
    parser.add_argument("--yes", action="store_true",
                        help="confirm running on mainnet, with real money")


def options_from_args(args: argparse.Namespace, environ: dict[str, str] | None = None
                      ) -> DemoOptions:
    """:class:`DemoOptions` from parsed arguments; the key is read from the named variable."""
    env = environ if environ is not None else dict(os.environ)
    private_key = None
    if args.private_key_env is not None:
        private_key = env.get(args.private_key_env)
        if not private_key:
            raise ValidationError("private_key_env",
                                  f"the environment variable {args.private_key_env} is not set")
    api_key = args.api_key or env.get("KANA_API_KEY") or None
    return DemoOptions(
        network=args.network, duration=args.duration,
        market=int(args.market) if args.market.isdigit() else args.market,
        deposit=args.deposit, leverage=args.leverage, keep_position=args.keep_position,
        api_key=api_key, private_key=private_key, rest_url=args.rest_url, ws_url=args.ws_url,
        node_url=args.node_url, plain=args.plain, mainnet_confirmed=args.yes,
    )


def run(args: argparse.Namespace) -> int:
    """``kana-async demo``: run it and return the exit status (errors: one line, non-zero)."""
    try:
        options = options_from_args(args)
    except ValidationError as exc:
        print(f"kana-async demo: error: {exc}", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(run_demo(options))
    except KanaError as exc:
        print(f"kana-async demo: error: {_reason(exc)}", file=sys.stderr)
        return 1
    if report.error is not None:
        print(f"kana-async demo: error: {report.error}", file=sys.stderr)
    elif report.reader_gone:
        from ..output import PipeClosed

        raise PipeClosed  # the command ends quietly, as every command whose reader left
    return report.exit_status


def main(argv: list[str] | None = None) -> int:
    """``python -m kana_async.cli.demo``: the same as ``kana-async demo`` (one place decides how
    each outcome, a reader that left included, becomes an exit status)."""
    from ..app import main as cli_main

    return cli_main(["demo", *(sys.argv[1:] if argv is None else argv)])
