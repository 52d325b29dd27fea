"""The demo's scenario: :class:`Demo` trades as a bot would and feeds the report.

Against the embedded simulator (the default: no key, no network) the demo reads the markets,
opens ONE stream connection carrying five topics, deposits, rests a limit order, has it
crossed by a market order, sets take-profit and stop-loss, cancels what rests, watches the
market until the time is up, closes the position and prints a summary of what it measured.

This is the asyncio layer: what was seen is :class:`~.state.State`, what was done and measured
is the pure :class:`~.report.DemoReport`, what is shown is :mod:`.display`. ``run_demo`` (in the
package) runs it once, Ctrl-C included.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any, TextIO

from rich.console import RenderableType

from ..._tasks import timeout
from ...client import KanaClient
from ...errors import (
    KanaError,
    SlowConsumerError,
    StreamGapError,
    ValidationError,
)
from ...models import MarketInfo, OpenOrder
from ...trade.results import TxResult
from .. import views
from . import display
from .display import Frame, LiveDisplay, PlainDisplay
from .options import DemoOptions
from .report import (
    MIN_DEPOSIT,
    DemoReport,
    TxRecord,
    deposit_for,
    failure_outcome,
    failure_reason,
    to_tick,
)
from .state import State, TaskSet, has_message

__all__ = ["TOPICS", "Demo"]

#: The topics the demo carries on its one stream connection.
TOPICS = ("orderbook", "positions", "open_orders", "live_funding_rate", "trade_history")
#: Seconds a transaction's effect may take to appear on the stream before the demo gives up.
EFFECT_TIMEOUT = 15.0
#: Seconds to wait for an effect that may not come (a counterparty filling someone else).
QUICK_TIMEOUT = 2.0
#: Seconds the clean-up (cancel what rests, close the position) may take after a stop.
CLEANUP_TIMEOUT = 20.0
#: Distance of the passive bids below the best bid, and of TP/SL from the entry.
PASSIVE_OFFSET = Decimal("0.01")
TRIGGER_OFFSET = Decimal("0.05")
#: What the demo's counterparty deposits at least.
COUNTERPARTY_DEPOSIT = Decimal(1000)


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
        self.state = State(self.report, self.market_id)
        self.display: PlainDisplay = (
            LiveDisplay(out, self.screen, self._reader_gone) if live
            else PlainDisplay(out, self._reader_gone))
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
        reason = failure_reason(error)
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
                    node_url=config.node_url, api_key=o.api_key,
                    private_key=secrets.token_hex(32)))
            tasks = await stack.enter_async_context(TaskSet(self._fail))
            if isinstance(self.display, LiveDisplay):
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
                        tasks: TaskSet) -> None:
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
                           stack: contextlib.AsyncExitStack, tasks: TaskSet) -> None:
        stream = kana.stream
        subs: list[tuple[str, Any]] = [
            ("orderbook", stream.orderbook(self.market_id)),
            ("positions", stream.positions(profile)),
            ("open_orders", stream.open_orders(profile)),
            ("live_funding_rate", stream.live_funding_rate()),
            ("trade_history", stream.trade_history(profile)),
        ]
        first = {topic: self.state.watch(has_message(topic)) for topic, _ in subs}
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
                        seen: Callable[[State], bool] | None = None, *,
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
            self.report.failed(record, failure_outcome(exc))
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

        def new(state: State) -> OpenOrder | None:
            return next((o for o in state.open_orders
                         if o.order_id not in known and o.price == price), None)

        def resting(state: State) -> bool:
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

        def filled(state: State) -> bool:
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

        def tp_set(state: State) -> bool:
            p = state.long()
            return p is not None and p.tp == tp

        def sl_set(state: State) -> bool:
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

        def gone(state: State) -> bool:
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
            self.event(f"clean-up incomplete: {failure_reason(exc)}")

    async def _leave_nothing(self, kana: KanaClient) -> None:
        if self.state.open_orders:
            await self._cancel_resting(kana)
        if self.state.long() is None:
            return
        if self.options.keep_position:
            self.event("the position stays open (--keep-position)")
            return

        def closed(state: State) -> bool:
            return state.long() is None

        await self._transact("close the position", "position gone",
                             lambda: kana.collapse_position(self.market_id), closed)
        self.report.position_closed = True

    # -- what is shown ------------------------------------------------------------------

    def frame(self) -> Frame:
        """What the screen shows now."""
        state, info, kana = self.state, self.info, self._kana
        return Frame(
            report=self.report,
            name=info.base_name if info is not None else str(self.market_id),
            market_id=self.market_id, phase=self._phase,
            elapsed=time.monotonic() - self.report.started, duration=self.options.duration,
            book=state.book, position=state.long(), mid=state.mid,
            open_orders=state.open_orders, funding_rate=state.funding_rate,
            stream=kana.stream.stats() if kana is not None and not kana.closed else None,
        )

    def status_line(self) -> str:
        """One line of state for plain output while watching."""
        return display.status_line(self.frame())

    def screen(self, width: int | None = None, height: int | None = None) -> RenderableType:
        """The live screen, full or compact for a ``width`` x ``height`` terminal."""
        return display.screen(self.frame(), width, height)
