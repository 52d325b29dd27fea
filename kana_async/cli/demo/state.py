"""What the demo's consumers saw on the stream (:class:`State`: the latest snapshot of each
topic, and waiters for a condition on them) and the tasks that consume it (:class:`TaskSet`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from ...models import FundingRate, OpenOrder, Position, Trade
from ...stream.book import OrderBook
from .report import DemoReport, PositionSnapshot

__all__ = ["State", "TaskSet", "has_message"]


class TaskSet:
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

    async def __aenter__(self) -> TaskSet:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()



class State:
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
        self._waiters: list[tuple[Callable[[State], bool], asyncio.Future[float]]] = []

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

    def watch(self, predicate: Callable[[State], bool]) -> asyncio.Future[float]:
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

    @property
    def funding_rate(self) -> Decimal | None:
        """The market's funding rate, once the stream sent one."""
        return next((r.funding_rate for r in self.funding if r.market_id == self.market),
                    None)

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


def has_message(topic: str) -> Callable[[State], bool]:
    """A condition: at least one item of ``topic`` arrived."""

    def predicate(state: State) -> bool:
        return state.report.messages[topic] > 0

    return predicate
