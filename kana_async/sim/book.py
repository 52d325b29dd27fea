"""A price-time-priority limit order book over integer ticks and lots (pure, no I/O).

Orders at one price wait in arrival order; a taker walks the opposite side from the best
price until its size or limit is exhausted. The book knows nothing about margin or positions:
the engine keeps that in the order objects it stores here.
"""

from __future__ import annotations

import copy
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

__all__ = ["BookEntry", "Fill", "OrderBook", "SelfMatchError"]


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
        self._orders: dict[int, E] = {}

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

    def best(self, is_ask: bool) -> int | None:
        """Best price of a side: the lowest ask or the highest bid."""
        keys = self._keys[is_ask]
        if not keys:
            return None
        return keys[0] if is_ask else -keys[0]

    def depth(self, is_ask: bool, levels: int | None = None) -> list[tuple[int, int]]:
        """``(price, total lots)`` per level from the best price outwards."""
        keys = self._keys[is_ask]
        side = self._levels[is_ask]
        chosen = keys if levels is None else keys[:levels]
        out = []
        for key in chosen:
            price = key if is_ask else -key
            out.append((price, sum(order.remaining for order in side[price])))
        return out

    def crosses(self, is_ask: bool, price: int) -> bool:
        """Would an order on side ``is_ask`` at ``price`` trade at once?"""
        best = self.best(not is_ask)
        if best is None:
            return False
        return price <= best if is_ask else price >= best

    def fillable(self, is_ask: bool, limit: int | None, lots: int) -> int:
        """How many of ``lots`` a taker on side ``is_ask`` could fill now (no change made)."""
        opposite = not is_ask
        side = self._levels[opposite]
        total = 0
        for key in self._keys[opposite]:
            price = key if opposite else -key
            if limit is not None and (price < limit if is_ask else price > limit):
                break
            total += sum(order.remaining for order in side[price])
            if total >= lots:
                return lots
        return total

    # -- changes ----------------------------------------------------------------------------

    def add(self, order: E) -> None:
        """Rest ``order`` behind every order already at its price."""
        if order.order_id in self._orders:
            raise ValueError(f"order {order.order_id} is already on the book")
        side = self._levels[order.is_ask]
        queue = side.get(order.price)
        if queue is None:
            queue = side[order.price] = deque()
            insort(self._keys[order.is_ask], order.price if order.is_ask else -order.price)
        queue.append(order)
        self._orders[order.order_id] = order

    def remove(self, order_id: int) -> E:
        """Take an order off the book; ``KeyError`` if it is not resting."""
        order = self._orders.pop(order_id)
        side = self._levels[order.is_ask]
        queue = side[order.price]
        queue.remove(order)
        if not queue:
            self._drop_level(order.is_ask, order.price)
        return order

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
        while lots > 0 and keys:
            price = keys[0] if opposite else -keys[0]
            if limit is not None and (price < limit if is_ask else price > limit):
                break
            queue = side[price]
            while lots > 0 and queue:
                maker = queue[0]
                traded = min(lots, maker.remaining)
                maker.remaining -= traded
                lots -= traded
                fills.append(Fill(maker, traded, price))
                if maker.remaining == 0:
                    queue.popleft()
                    del self._orders[maker.order_id]
            if not queue:
                self._drop_level(opposite, price)
        return fills

    def clone(self, copy_order: Callable[[E], E] = copy.copy) -> OrderBook[E]:
        """An independent copy (orders copied with ``copy_order``), used to undo an aborted
        transaction."""
        twin: OrderBook[E] = OrderBook()
        copies = {oid: copy_order(order) for oid, order in self._orders.items()}
        for is_ask in (False, True):
            for key in self._keys[is_ask]:
                price = key if is_ask else -key
                twin._levels[is_ask][price] = deque(
                    copies[o.order_id] for o in self._levels[is_ask][price]
                )
            twin._keys[is_ask].extend(self._keys[is_ask])
        twin._orders = copies
        return twin

    # -- internals ----------------------------------------------------------------------------

    def _drop_level(self, is_ask: bool, price: int) -> None:
        del self._levels[is_ask][price]
        keys = self._keys[is_ask]
        key = price if is_ask else -price
        del keys[bisect_left(keys, key)]

    def _check_self_match(
        self, side_is_ask: bool, limit: int | None, lots: int, owner: str
    ) -> None:
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
