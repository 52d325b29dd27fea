"""The order book a consumer of the ``orderbook`` topic sees.

The wire sends every level of both sides in one list (``is_ask`` tells them apart) and the
documents disagree on their order; :class:`OrderBook` sorts them once, when the consumer reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from ..models import OrderBookLevel

__all__ = ["OrderBook"]


def _price(level: OrderBookLevel) -> Decimal:
    return level.price


class OrderBook:
    """A full snapshot of one market's book: ``bids`` price-descending, ``asks`` ascending."""

    __slots__ = ("asks", "bids", "last_updated", "market_id")

    def __init__(
        self,
        market_id: str,
        bids: tuple[OrderBookLevel, ...],
        asks: tuple[OrderBookLevel, ...],
        last_updated: int | None = None,
    ) -> None:
        self.market_id = market_id
        self.bids = bids
        self.asks = asks
        #: The newest ``last_updated`` of any level (Unix seconds), ``None`` if none carries it.
        self.last_updated = last_updated

    @classmethod
    def from_levels(cls, levels: Sequence[OrderBookLevel], market_id: str = "") -> OrderBook:
        """Split and sort the wire's level list. ``market_id`` is used when the list is empty."""
        bids = sorted((lv for lv in levels if not lv.is_ask), key=_price, reverse=True)
        asks = sorted((lv for lv in levels if lv.is_ask), key=_price)
        stamps = [lv.last_updated for lv in levels if lv.last_updated is not None]
        return cls(
            levels[0].market_id if levels else market_id,
            tuple(bids),
            tuple(asks),
            max(stamps) if stamps else None,
        )

    @property
    def best_bid(self) -> OrderBookLevel | None:
        """The highest bid level (``.price``, ``.size``), ``None`` when no one bids."""
        return self.bids[0] if self.bids else None

    @property
    def best_ask(self) -> OrderBookLevel | None:
        """The lowest ask level (``.price``, ``.size``), ``None`` when no one offers."""
        return self.asks[0] if self.asks else None

    @property
    def mid(self) -> Decimal | None:
        """Halfway between the best bid and ask; ``None`` unless both sides are present."""
        if not self.bids or not self.asks:
            return None
        return (self.bids[0].price + self.asks[0].price) / 2

    @property
    def spread(self) -> Decimal | None:
        """Best ask minus best bid; ``None`` unless both sides are present."""
        if not self.bids or not self.asks:
            return None
        return self.asks[0].price - self.bids[0].price

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OrderBook):
            return NotImplemented
        return (self.market_id, self.bids, self.asks, self.last_updated) == (
            other.market_id, other.bids, other.asks, other.last_updated
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        bid = self.bids[0].price if self.bids else None
        ask = self.asks[0].price if self.asks else None
        return (
            f"OrderBook(market_id={self.market_id!r}, best_bid={bid}, best_ask={ask}, "
            f"bids={len(self.bids)}, asks={len(self.asks)}, last_updated={self.last_updated})"
        )
