"""What a committed transaction reported: its events, typed, and what they say about orders.

A node lists each transaction's events in its JSON as ``{"guid", "sequence_number", "type",
"data"}``. The readers below look for Kana's events (``perpetual_core::PlaceOrderEvent``,
``FillEvent``, ``CancelOrderEvent``) and Econia's (``user::PlaceLimitOrderEvent``,
``user::PlaceMarketOrderEvent``, ``user::FillEvent``, ``user::CancelOrderEvent``, which Kana's
order book emits too) by module and struct name; every other event is kept and ignored. They
report what the node reported, nothing more: a node that lists no events, or a transaction
that failed, gives empty lists, never an error, because a confirmed transaction must never be
turned into a failure by the way its events look.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import msgspec

__all__ = [
    "EventGuid",
    "Fill",
    "TxEvent",
    "cancelled_order_ids",
    "fills",
    "parse_events",
    "placed_order_ids",
]

log = logging.getLogger(__name__)


class EventGuid(msgspec.Struct, frozen=True):
    """The event handle an event was emitted to (all zero for module events)."""

    creation_number: int = 0
    account_address: str = "0x0"


class TxEvent(msgspec.Struct, frozen=True):
    """One event of a transaction: its Move ``type`` (``<address>::<module>::<Struct>``) and
    its ``data`` as the node showed it (u64 and wider integers are decimal strings)."""

    type: str
    data: dict[str, Any] = msgspec.field(default_factory=dict)
    sequence_number: int = 0
    guid: EventGuid | None = None

    @property
    def name(self) -> str:
        """``module::Struct``: the type without its address and type arguments."""
        return "::".join(self.type.split("<", 1)[0].split("::")[-2:])


class Fill(msgspec.Struct, frozen=True, kw_only=True):
    """One match of a taker order of this transaction against a resting maker order.

    ``lots`` and ``ticks`` are the on-chain integers (the events' ``size`` and ``price``):
    :func:`kana_async.units.lots_to_size` and :func:`~kana_async.units.ticks_to_price`, with
    the market's :class:`~kana_async.MarketInfo`, give the human size and price. ``maker`` and
    ``taker`` are profile addresses; the trade ids are Kana's (None when the node reported
    only Econia's event).
    """

    market_id: int
    lots: int = msgspec.field(name="size")
    ticks: int = msgspec.field(name="price")
    maker_order_id: str
    taker_order_id: str
    maker: str = ""
    taker: str = ""
    #: Econia's ``maker_side``: True when the maker's order was an ask (the taker bought).
    maker_is_ask: bool | None = msgspec.field(default=None, name="maker_side")
    maker_trade_id: str | None = None
    taker_trade_id: str | None = None


_PLACED = frozenset(
    {"perpetual_core::PlaceOrderEvent", "user::PlaceLimitOrderEvent",
     "user::PlaceMarketOrderEvent"}
)
_CANCELLED = frozenset({"perpetual_core::CancelOrderEvent", "user::CancelOrderEvent"})
_FILLED = frozenset({"perpetual_core::FillEvent", "user::FillEvent"})


def parse_events(raw: object) -> tuple[TxEvent, ...]:
    """The events of a node's transaction JSON (its ``events`` value); entries that are not
    events are skipped (and logged), a missing or odd value gives none."""
    if not isinstance(raw, list):
        return ()
    events = []
    for item in raw:
        try:
            events.append(msgspec.convert(item, TxEvent, strict=False))
        except msgspec.ValidationError as exc:
            log.debug("skipping an event the node reported in an unknown shape: %s", exc)
    return tuple(events)


def _order_ids(events: Iterable[TxEvent], names: frozenset[str]) -> list[str]:
    """``order_id`` of each event named in ``names``, first appearance first, once each (Kana
    and Econia may both report the same order)."""
    found: dict[str, None] = {}
    for event in events:
        if event.name in names:
            order_id = event.data.get("order_id")
            if isinstance(order_id, (str, int)) and not isinstance(order_id, bool):
                found.setdefault(str(order_id), None)
    return list(found)


def placed_order_ids(events: Iterable[TxEvent]) -> list[str]:
    """Ids of the orders the events say were placed, in placement order."""
    return _order_ids(events, _PLACED)


def cancelled_order_ids(events: Iterable[TxEvent]) -> list[str]:
    """Ids of the orders the events say were cancelled, in order."""
    return _order_ids(events, _CANCELLED)


def fills(events: Iterable[TxEvent]) -> list[Fill]:
    """The matches the events report, in matching order, each once."""
    found: dict[tuple[int, str, str], Fill] = {}
    for event in events:
        if event.name in _FILLED:
            try:
                fill = msgspec.convert(event.data, Fill, strict=False)
            except msgspec.ValidationError as exc:
                log.debug("skipping a fill event in an unknown shape: %s", exc)
                continue
            key = (fill.market_id, fill.maker_order_id, fill.taker_order_id)
            known = found.get(key)
            if known is None or (known.taker_trade_id is None and fill.taker_trade_id):
                found[key] = fill  # Kana's event (with trade ids) wins over Econia's
    return list(found.values())
