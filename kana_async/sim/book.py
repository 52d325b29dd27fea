"""A price-time-priority limit order book over integer ticks and lots (pure, no I/O).

Orders at one price wait in arrival order; a taker walks the opposite side from the best
price until its size or limit is exhausted. The book knows nothing about margin or positions:
the engine keeps that in the order objects it stores here.

Every change costs what it touches, never the size of the book: each level keeps its total
size, each owner its own orders, and an aborted transaction is undone from a journal of the
changes it made (see :attr:`OrderBook.journal`) instead of from a copy of the whole book.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Generic, Protocol, TypeVar

__all__ = ["BookEntry", "Fill", "OrderBook", "SelfMatchError", "Undo"]

#: One step of a journal: calling it reverts one change (whatever it returns is ignored).
Undo = Callable[[], object]


class BookEntry(Protocol):
    """What the book needs from an order; the engine's orders carry more."""

    order_id: int
    owner: str
    is_ask: bool
    price: int
    remaining: int


E = TypeVar("E", bound=BookEntry)


class SelfMatchError(Exception):
    """A taker would trade against an order of its own owner."""


@dataclass(slots=True)
class Fill(Generic[E]):
    """``lots`` traded against the resting ``maker`` at the maker's ``price``."""

    maker: E
    lots: int
    price: int


class OrderBook(Generic[E]):
    """Both sides of one market. Prices are ticks per lot, sizes lots."""

    def __init__(self) -> None:
        self._levels: tuple[dict[int, deque[E]], dict[int, deque[E]]] = ({}, {})  # (bids, asks)
        # Sorted keys per side: bids store -price so that index 0 is always the best level.
        self._keys: tuple[list[int], list[int]] = ([], [])
        # Total remaining lots per level, kept as orders come, fill and go.
        self._sizes: tuple[dict[int, int], dict[int, int]] = ({}, {})
        self._orders: dict[int, E] = {}
        self._owners: dict[str, dict[int, E]] = {}
        #: While a list, every change appends an :data:`Undo` that reverts it: run them in
        #: reverse order (with ``journal`` set back to None) to restore the book exactly,
        #: queue positions included. The engine shares one list across a transaction.
        self.journal: list[Undo] | None = None

    # -- queries ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._orders)

    def __contains__(self, order_id: int) -> bool:
        return order_id in self._orders

    def get(self, order_id: int) -> E | None:
        return self._orders.get(order_id)

    def orders(self) -> Iterator[E]:
        """Every resting order, in no particular order."""
        return iter(self._orders.values())

    def owned(self, owner: str) -> list[E]:
        """The resting orders of ``owner``, in no particular order."""
        mine = self._owners.get(owner)
        return [] if mine is None else list(mine.values())

    def best(self, is_ask: bool) -> int | None:
        """Best price of a side: the lowest ask or the highest bid."""
        keys = self._keys[is_ask]
        if not keys:
            return None
        return keys[0] if is_ask else -keys[0]

    def depth(self, is_ask: bool, levels: int | None = None) -> list[tuple[int, int]]:
        """``(price, total lots)`` per level from the best price outwards."""
        keys = self._keys[is_ask]
        sizes = self._sizes[is_ask]
        chosen = keys if levels is None else keys[:levels]
        sign = 1 if is_ask else -1
        return [(sign * key, sizes[sign * key]) for key in chosen]

    def crosses(self, is_ask: bool, price: int) -> bool:
        """Would an order on side ``is_ask`` at ``price`` trade at once?"""
        best = self.best(not is_ask)
        if best is None:
            return False
        return price <= best if is_ask else price >= best

    def fillable(self, is_ask: bool, limit: int | None, lots: int) -> int:
        """How many of ``lots`` a taker on side ``is_ask`` could fill now (no change made)."""
        opposite = not is_ask
        sizes = self._sizes[opposite]
        total = 0
        for key in self._keys[opposite]:
            price = key if opposite else -key
            if limit is not None and (price < limit if is_ask else price > limit):
                break
            total += sizes[price]
            if total >= lots:
                return lots
        return total

    # -- changes ----------------------------------------------------------------------------

    def add(self, order: E) -> None:
        """Rest ``order`` behind every order already at its price."""
        if order.order_id in self._orders:
            raise ValueError(f"order {order.order_id} is already on the book")
        queue = self._levels[order.is_ask].get(order.price)
        self._attach(order, 0 if queue is None else len(queue))
        if self.journal is not None:
            self.journal.append(partial(self._detach, order))

    def remove(self, order_id: int) -> E:
        """Take an order off the book; ``KeyError`` if it is not resting."""
        order = self._orders[order_id]
        index = self._detach(order)
        if self.journal is not None:
            self.journal.append(partial(self._attach, order, index))
        return order

    def shrink(self, order_id: int, lots: int) -> None:
        """Take ``lots`` off a resting order in place: it keeps its place in the queue."""
        order = self._orders[order_id]
        if not 0 <= lots < order.remaining:
            raise ValueError(f"can shrink order {order_id} by 0 to {order.remaining - 1} lots")
        if lots:
            self._resize(order, -lots)
            if self.journal is not None:
                self.journal.append(partial(self._resize, order, lots))

    def match(self, is_ask: bool, limit: int | None, lots: int, owner: str) -> list[Fill[E]]:
        """Take up to ``lots`` from the opposite side, best price first, oldest first.

        ``limit`` None means a market order. Makers that are used up leave the book. Raises
        :class:`SelfMatchError` before changing anything if ``owner`` would meet itself.
        """
        opposite = not is_ask
        side = self._levels[opposite]
        keys = self._keys[opposite]
        self._check_self_match(opposite, limit, lots, owner)
        fills: list[Fill[E]] = []
        journal = self.journal
        while lots > 0 and keys:
            price = keys[0] if opposite else -keys[0]
            if limit is not None and (price < limit if is_ask else price > limit):
                break
            queue = side[price]
            while lots > 0 and queue:
                maker = queue[0]
                traded = min(lots, maker.remaining)
                self._resize(maker, -traded)
                if journal is not None:
                    journal.append(partial(self._resize, maker, traded))
                lots -= traded
                fills.append(Fill(maker, traded, price))
                if maker.remaining == 0:
                    self._detach(maker)
                    if journal is not None:
                        journal.append(partial(self._attach, maker, 0))
        return fills

    # -- internals: the only code that changes the structures ---------------------------------

    def _attach(self, order: E, index: int) -> None:
        """Put ``order`` at ``index`` of its price level (created if missing)."""
        is_ask, price = order.is_ask, order.price
        side = self._levels[is_ask]
        queue = side.get(price)
        if queue is None:
            queue = side[price] = deque()
            self._sizes[is_ask][price] = 0
            insort(self._keys[is_ask], price if is_ask else -price)
        if index == len(queue):
            queue.append(order)
        else:
            queue.insert(index, order)
        self._sizes[is_ask][price] += order.remaining
        self._orders[order.order_id] = order
        self._owners.setdefault(order.owner, {})[order.order_id] = order

    def _detach(self, order: E) -> int:
        """Take ``order`` out of its level (dropped when empty); returns where it stood."""
        is_ask, price = order.is_ask, order.price
        queue = self._levels[is_ask][price]
        index = 0 if queue[0] is order else queue.index(order)
        del queue[index]
        del self._orders[order.order_id]
        mine = self._owners[order.owner]
        del mine[order.order_id]
        if not mine:
            del self._owners[order.owner]
        if queue:
            self._sizes[is_ask][price] -= order.remaining
        else:
            del self._levels[is_ask][price]
            del self._sizes[is_ask][price]
            keys = self._keys[is_ask]
            del keys[bisect_left(keys, price if is_ask else -price)]
        return index

    def _resize(self, order: E, lots: int) -> None:
        """Change a resting order's remaining size by ``lots`` (negative when it trades)."""
        order.remaining += lots
        self._sizes[order.is_ask][order.price] += lots

    def _check_self_match(
        self, side_is_ask: bool, limit: int | None, lots: int, owner: str
    ) -> None:
        if owner not in self._owners:
            return
        side = self._levels[side_is_ask]
        for key in self._keys[side_is_ask]:
            price = key if side_is_ask else -key
            if limit is not None and (price > limit if side_is_ask else price < limit):
                return
            for order in side[price]:
                if order.owner == owner:
                    raise SelfMatchError(f"order {order.order_id} of the same owner would match")
                lots -= order.remaining
                if lots <= 0:
                    return
