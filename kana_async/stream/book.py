"""The order book a consumer of the ``orderbook`` topic sees.

The wire sends every level of both sides in one list (``is_ask`` tells them apart) and the
documents disagree on their order. :class:`OrderBook` splits and sorts the levels the first
time a side is looked at, so a snapshot that is read but never inspected costs nothing more.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import msgspec

from ..models import OrderBookLevel

__all__ = ["OrderBook"]

_price = operator.attrgetter("price")
#: The price slot as stored: a Decimal, or the wire text of a level whose money is decoded
#: on first read (reading it through the attribute would build every Decimal of the level).
_stored_price = OrderBookLevel.__dict__["price"].__get__
_Raw = msgspec.Raw


def _rough_price(level: OrderBookLevel) -> float:
    price: Any = _stored_price(level)
    if type(price) is _Raw:
        text = bytes(price)
        return float(text[1:-1] if text[:1] == b'"' else text)
    return float(price)


def _sorted(levels: list[OrderBookLevel], descending: bool) -> list[OrderBookLevel]:
    """Levels by price without building their Decimals: floats order as the decimals they
    come from, except that distinct long decimals may round to one float; then (and for two
    levels of one price) the exact sort decides."""
    if not levels or type(_stored_price(levels[0])) is not _Raw:
        return sorted(levels, key=_price, reverse=descending)  # Decimals already built
    keys = list(map(_rough_price, levels))
    if len(set(keys)) == len(keys):
        order = sorted(range(len(levels)), key=keys.__getitem__, reverse=descending)
        return [levels[i] for i in order]
    return sorted(levels, key=_price, reverse=descending)


class OrderBook:
    """A full snapshot of one market's book: ``bids`` price-descending, ``asks`` ascending."""

    __slots__ = ("_asks", "_bids", "_levels", "market_id")

    def __init__(self, market_id: int, levels: Sequence[OrderBookLevel] = ()) -> None:
        self.market_id = market_id
        self._levels = levels
        self._bids: tuple[OrderBookLevel, ...] | None = None
        self._asks: tuple[OrderBookLevel, ...] | None = None

    @classmethod
    def from_levels(cls, levels: Sequence[OrderBookLevel], market_id: int = 0) -> OrderBook:
        """A book from the wire's level list. ``market_id`` is used when the list is empty."""
        return cls(levels[0].market_id if levels else market_id, levels)

    def _split(self) -> None:
        levels = self._levels
        bids = [lv for lv in levels if not lv.is_ask]
        asks = [lv for lv in levels if lv.is_ask]
        # The wire usually sends each side already ordered: sorting that is linear.
        self._bids = tuple(_sorted(bids, descending=True))
        self._asks = tuple(_sorted(asks, descending=False))

    @property
    def bids(self) -> tuple[OrderBookLevel, ...]:
        """Bid levels, best (highest price) first."""
        if self._bids is None:
            self._split()
        return self._bids  # type: ignore[return-value]

    @property
    def asks(self) -> tuple[OrderBookLevel, ...]:
        """Ask levels, best (lowest price) first."""
        if self._asks is None:
            self._split()
        return self._asks  # type: ignore[return-value]

    @property
    def levels(self) -> Sequence[OrderBookLevel]:
        """The levels as the wire sent them."""
        return self._levels

    @property
    def last_updated(self) -> int | None:
        """The newest ``last_updated`` of any level (Unix seconds), ``None`` if none has one."""
        return max(
            (lv.last_updated for lv in self._levels if lv.last_updated is not None),
            default=None,
        )

    @property
    def best_bid(self) -> OrderBookLevel | None:
        """The highest bid level (``.price``, ``.size``), ``None`` when no one bids."""
        bids = self.bids
        return bids[0] if bids else None

    @property
    def best_ask(self) -> OrderBookLevel | None:
        """The lowest ask level (``.price``, ``.size``), ``None`` when no one offers."""
        asks = self.asks
        return asks[0] if asks else None

    @property
    def mid(self) -> Decimal | None:
        """Halfway between the best bid and ask; ``None`` unless both sides are present."""
        bid, ask = self.best_bid, self.best_ask
        if bid is None or ask is None:
            return None
        return (bid.price + ask.price) / 2

    @property
    def spread(self) -> Decimal | None:
        """Best ask minus best bid; ``None`` unless both sides are present."""
        bid, ask = self.best_bid, self.best_ask
        if bid is None or ask is None:
            return None
        return ask.price - bid.price

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OrderBook):
            return NotImplemented
        return (self.market_id, self.bids, self.asks) == (other.market_id, other.bids, other.asks)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        bid, ask = self.best_bid, self.best_ask
        return (
            f"OrderBook(market_id={self.market_id!r}, "
            f"best_bid={None if bid is None else bid.price}, "
            f"best_ask={None if ask is None else ask.price}, "
            f"bids={len(self.bids)}, asks={len(self.asks)}, last_updated={self.last_updated})"
        )
