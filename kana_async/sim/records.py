"""Wire records: the simulator's domain values as the documented JSON-ready dicts.

The one place where lots, ticks and quote sub-units become human decimal strings. The engine
stores and publishes domain values (:mod:`.state`); the REST and indexer servers get these
dicts through the engine's views and through :attr:`Change.record`, formatted when first read
(a frozen record keeps its wire form: the indexer re-sends the newest history at every push).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any, TypeVar

from .markets import MarketSpec, quote_amount
from .risk import entry_price, liquidation_price
from .state import (
    Fill,
    FundingPayment,
    FundingState,
    Market,
    Order,
    OrderSnapshot,
    Position,
    Transfer,
)

__all__ = [
    "Change",
    "fill",
    "fill_with_order_id",
    "funding_payment",
    "funding_rate",
    "market_info",
    "market_price",
    "money",
    "open_order",
    "order",
    "orderbook",
    "position",
    "transfer",
]

Record = dict[str, Any]
R = TypeVar("R", Fill, OrderSnapshot, Transfer, FundingPayment)


def fmt(value: Decimal) -> str:
    """A plain decimal string (no exponent, no ``-0``)."""
    return "0" if value == 0 else format(value, "f")


def num(value: Decimal) -> float:
    """A JSON number for the few fields the documents show as numbers (no arithmetic)."""
    return float(value)


def human(units: int) -> Decimal:
    """Quote sub-units -> quote coins, with no more digits than needed (and no exponent)."""
    value = quote_amount(units)
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def money(units: int) -> str:
    """Quote sub-units as a wire decimal string in quote coins."""
    return fmt(human(units))


def _memoised(make: Callable[[R], Record]) -> Callable[[R], Record]:
    """``make``, remembered with each frozen record it formats: made on first read and kept
    with the record (callers must not change it)."""
    name = "_wire" + make.__name__

    def read(value: R) -> Record:
        cache = value.__dict__
        wire: Record | None = cache.get(name)
        if wire is None:
            wire = cache[name] = make(value)
        return wire

    read.__doc__ = make.__doc__
    return read


@_memoised
def fill(f: Fill) -> Record:
    """A fill (``trade_history``, ``recent_trades``)."""
    spec = f.spec
    return {
        "address": f.owner,
        "trade_id": str(f.trade_id),
        "market_id": str(spec.market_id),
        "order_type": f.order_type,
        "size": fmt(spec.size_of(f.lots)),
        "price": fmt(spec.price_of(f.price)),
        "order_value": money(f.value),
        "leverage": f.leverage,
        "fee": money(f.fee),
        "pnl": money(f.pnl),
        "timestamp": f.timestamp,
        "last_updated": f.timestamp,
        "transaction_version": f.version,
    }


@_memoised
def fill_with_order_id(f: Fill) -> Record:
    """A fill with its ``order_id`` (``live_trade_history``, ``getFills``, transaction events)."""
    return {**fill(f), "order_id": str(f.order_id)}


@_memoised
def order(o: OrderSnapshot) -> Record:
    """An order in its latest state (``order_history``, ``live_order_history``)."""
    spec = o.spec
    return {
        **_order_head(o),
        "is_market_order": o.is_market,
        "size": fmt(spec.size_of(o.lots)),
        "price": fmt(spec.price_of(o.price)),
        "order_value": money(o.value),
        "leverage": o.leverage,
        "status": o.status,
        **_order_tail(o),
    }


def open_order(spec: MarketSpec, o: Order) -> Record:
    """A resting order (``open_orders``)."""
    return {
        **_order_head(o),
        "price": fmt(spec.price_of(o.price)),
        "total_size": fmt(spec.size_of(o.size)),
        "remaining_size": fmt(spec.size_of(o.remaining)),
        "order_value": money(spec.notional(o.size, o.price)),
        "leverage": o.leverage,
        **_order_tail(o),
    }


def _order_head(o: Order | OrderSnapshot) -> Record:
    """The fields every order record starts with."""
    return {
        "address": o.owner,
        "order_id": str(o.order_id),
        "market_id": str(o.market_id),
        "order_type": int(o.order_type),
    }


def _order_tail(o: Order | OrderSnapshot) -> Record:
    """The fields every order record ends with."""
    return {
        "timestamp": o.timestamp,
        "last_updated": o.last_updated,
        "trade_id": str(o.trade_id),
        "transaction_version": o.version,
    }


def position(spec: MarketSpec, p: Position) -> Record:
    """An open position (``positions``); entry and liquidation prices are display figures."""
    return {
        "address": p.owner,
        "market_id": str(p.market_id),
        "trade_id": str(p.trade_id),
        "size": fmt(spec.size_of(p.lots)),
        "entry_price": fmt(spec.price_of(entry_price(spec, p))),
        "value": money(p.entry_value),
        "leverage": p.leverage,
        "margin": money(p.margin),
        "liq_price": fmt(spec.price_of(liquidation_price(spec, p))),
        "available_order_size": fmt(spec.size_of(p.lots - p.closing)),
        "trade_side": p.trade_side,
        "sl": fmt(spec.price_of(p.sl)) if p.sl else None,
        "tp": fmt(spec.price_of(p.tp)) if p.tp else None,
        "timestamp": p.timestamp,
        "transaction_version": p.version,
    }


@_memoised
def transfer(t: Transfer) -> Record:
    """A deposit or withdrawal (``deposit_withdraw_history``)."""
    return {
        "address": t.owner,
        "amount": money(t.value),
        "is_deposit": t.is_deposit,
        "timestamp": t.timestamp,
        "last_updated": t.timestamp,
        "transaction_version": t.version,
    }


@_memoised
def funding_payment(p: FundingPayment) -> Record:
    """A funding payment of one position (``getFundingHistory``)."""
    return {
        "address": p.owner,
        "market_id": str(p.market_id),
        "trade_side": p.trade_side,
        "funding_rate": fmt(p.rate),
        "amount": money(p.amount),
        "timestamp": p.timestamp,
        "transaction_version": p.version,
    }


def funding_rate(market_id: int, f: FundingState) -> Record:
    """One market's entry of ``live_funding_rate``."""
    return {
        "funding_rate": fmt(f.rate),
        "funding_timestamp": f.funding_timestamp,
        "last_updated": f.updated,
        "market_id": str(market_id),
        "transaction_timestamp": f.updated,
        "transaction_version": f.version,
    }


def orderbook(state: Market, depth: int | None = None) -> list[Record]:
    """Price levels: asks ascending, then bids descending (the ``orderbook`` topic)."""
    spec, mid = state.spec, str(state.spec.market_id)
    return [
        {
            "market_id": mid,
            "price": num(spec.price_of(price)),
            "size": fmt(spec.size_of(lots)),
            "is_ask": is_ask,
            "last_updated": state.book_updated,
            "transaction_version": state.book_version,
        }
        for is_ask in (True, False)
        for price, lots in state.book.depth(is_ask, depth)
    ]


def market_price(state: Market) -> Record:
    """``{"bestAskPrice": number|None, "bestBidPrice": number|None}``."""
    ask, bid = state.book.best(True), state.book.best(False)
    spec = state.spec
    return {
        "bestAskPrice": None if ask is None else num(spec.price_of(ask)),
        "bestBidPrice": None if bid is None else num(spec.price_of(bid)),
    }


def market_info(state: Market, package_address: str, created: int) -> Record:
    """``getMarketInfo`` element."""
    spec = state.spec
    digest = hashlib.sha3_256(f"kana_market_{spec.market_id}".encode()).hexdigest()
    return {
        "__variant__": "V1",
        "base_decimals": spec.base_decimals,
        "base_name": spec.base_name,
        "counter": str(state.order_counter),
        "creator": package_address,
        "custodian_id": "75",
        "fee_address": package_address,
        "is_recognised": True,
        "lot_size": str(spec.lot_size),
        "maintenance_margin": str(spec.maintenance_margin_bps),
        "market_address": "0x" + digest,
        "market_id": str(spec.market_id),
        "market_status": 1,
        "max_leverage": str(spec.max_leverage),
        "max_lots": str(spec.max_lots),
        "max_position_value": "125000000",
        "min_lots": str(spec.min_lots),
        "quote_decimals": spec.quote_decimals,
        "quote_precision": spec.quote_precision,
        "tick_size": str(spec.tick_size),
        "timestamp": str(created),
        "underwriter_id": "73",
    }


@dataclass(frozen=True)
class Change:
    """One thing a WebSocket subscriber of ``(topic, key)`` should hear about."""

    topic: str
    #: Profile address, market id as a string, or None (``live_funding_rate``).
    key: str | None
    #: For ``live_order_history``/``live_trade_history``: the single new order state or fill.
    value: OrderSnapshot | Fill | None = None

    @cached_property
    def record(self) -> Record | None:
        """The wire record of :attr:`value`, formatted on first read (only a change somebody
        reads is ever formatted)."""
        if isinstance(self.value, Fill):
            return fill_with_order_id(self.value)
        if isinstance(self.value, OrderSnapshot):
            return order(self.value)
        return None
