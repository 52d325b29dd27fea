"""msgspec models for every Kana REST response and indexer WebSocket payload.

Money is ``Decimal``; ``market_id`` is an ``int`` (what users type: ``1338``; the wire's
``"1338"`` is decoded into it), other ids are ``str`` (order and trade ids exceed 2**64);
timestamps are Unix seconds as ``int``. Optional fields cover the legacy shapes the documents
still show.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from .common import MarketId, WireStruct, normalize_address

__all__ = [
    "BestPrice",
    "DepositWithdraw",
    "FundingPayment",
    "FundingRate",
    "MarketInfo",
    "MarketPrice",
    "OpenOrder",
    "Order",
    "OrderBookLevel",
    "Position",
    "RestEnvelope",
    "Trade",
    "TxPayload",
    "order_trade_side",
]


#: Addresses already checked, wire form -> normal form: a stream repeats a few addresses in
#: every item, and a dict lookup costs a tenth of the check. Bounded: cleared when full.
_ADDRESSES: dict[str, str] = {}
_ADDRESSES_MAX = 4096


def _fix_address(struct: msgspec.Struct, field: str = "address") -> None:
    # Checked whatever its length: 66 characters may still hold junk ("0x" + 63 digits + "\n").
    value = getattr(struct, field)
    if value is not None:
        fixed = _ADDRESSES.get(value)
        if fixed is None:
            fixed = normalize_address(value, param=field)
            if len(_ADDRESSES) >= _ADDRESSES_MAX:
                _ADDRESSES.clear()
            _ADDRESSES[value] = fixed
        if fixed != value:
            msgspec.structs.force_setattr(struct, field, fixed)


class RestEnvelope(msgspec.Struct, frozen=True, kw_only=True):
    """``{success, message, data}``; the oldest pages say ``status`` instead of ``success``."""

    success: bool | None = None
    status: bool | None = None
    message: str = ""
    data: msgspec.Raw = msgspec.Raw(b"null")

    @property
    def ok(self) -> bool:
        flag = self.success if self.success is not None else self.status
        return bool(flag)


class MarketInfo(WireStruct, frozen=True, kw_only=True):
    """One market's parameters (``getMarketInfo``, ``getPerpetualAssetsInfo``)."""

    market_id: MarketId
    base_name: str
    base_decimals: int
    quote_decimals: int
    lot_size: int
    tick_size: int
    min_lots: int
    #: Absent on the oldest documented page; ``None`` means no upper bound is known.
    max_lots: int | None = None
    quote_precision: int | None = None
    max_leverage: int
    maintenance_margin: int | None = None
    max_position_value: int | None = None
    market_status: int | None = None
    counter: str | None = None
    creator: str | None = None
    creator_address: str | None = None
    market_address: str | None = None
    fee_address: str | None = None
    custodian_id: str | None = None
    underwriter_id: str | None = None
    is_recognised: bool | None = None
    timestamp: int | None = None
    last_updated: int | None = None
    quote_type: str | None = None

    @property
    def lot(self) -> Decimal:
        """Base units in one lot (e.g. 0.001 APT)."""
        return Decimal(self.lot_size).scaleb(-self.base_decimals)

    @property
    def tick(self) -> Decimal:
        """The smallest human price step (quote per base)."""
        return Decimal(self.tick_size).scaleb(-self.quote_decimals) / self.lot


class MarketPrice(WireStruct, frozen=True, kw_only=True):
    """Best bid and ask (``getMarketPrice``); a side is ``None`` when that side is empty."""

    best_ask_price: Decimal | None = msgspec.field(default=None, name="bestAskPrice")
    best_bid_price: Decimal | None = msgspec.field(default=None, name="bestBidPrice")


class TxPayload(WireStruct, frozen=True, kw_only=True, repr_omit_defaults=True):
    """An unsigned Aptos entry-function payload, as the transaction builders return it.

    The current shape is the ts-sdk's ``{function, functionArguments, typeArguments}``; the
    legacy Aptos REST shape (``arguments``, ``type_arguments``) is folded into the
    same two fields.
    """

    function: str
    function_arguments: list[Any] = msgspec.field(default_factory=list, name="functionArguments")
    type_arguments: list[str] = msgspec.field(default_factory=list, name="typeArguments")
    arguments: list[Any] | None = None
    legacy_type_arguments: list[str] | None = msgspec.field(default=None, name="type_arguments")

    def __post_init__(self) -> None:
        if self.arguments is not None and not self.function_arguments:
            msgspec.structs.force_setattr(self, "function_arguments", self.arguments)
        if self.legacy_type_arguments is not None and not self.type_arguments:
            msgspec.structs.force_setattr(self, "type_arguments", self.legacy_type_arguments)

    @property
    def module(self) -> str:
        """``<address>::<module>``."""
        return self.function.rsplit("::", 1)[0]

    @property
    def function_name(self) -> str:
        """The entry function's name alone (``place_limit_order``)."""
        return self.function.rsplit("::", 1)[1]


class Order(WireStruct, frozen=True, kw_only=True):
    """An order record (``order_history``, ``live_order_history``, ``getOrderHistory``)."""

    address: str
    order_id: str
    market_id: MarketId
    order_type: int
    is_market_order: bool | None = None
    size: Decimal
    price: Decimal
    order_value: Decimal | None = None
    leverage: int
    status: str
    timestamp: int
    last_updated: int | None = None
    trade_id: str | None = None
    transaction_version: int | None = None
    total_filled: Decimal | None = None
    remaining_size: Decimal | None = None
    total_trade_size: Decimal | None = None

    def __post_init__(self) -> None:
        _fix_address(self)


def order_trade_side(order_type: int) -> bool:
    """The position side of an order (True long) from its ``order_type``.

    Kana's wire has no side field. Every documented example (1 resting long, 3 cancelled on
    the long side, 4 on the short side) and the simulator's numbering agree: odd is the long
    side, even the short side.
    """
    return order_type % 2 == 1


class OpenOrder(WireStruct, frozen=True, kw_only=True):
    """A resting order (``open_orders``, ``getOpenOrders``). The wire has no side field:
    :attr:`trade_side` derives it from ``order_type``."""

    address: str
    order_id: str
    market_id: MarketId
    order_type: int
    price: Decimal
    total_size: Decimal
    remaining_size: Decimal
    order_value: Decimal | None = None
    leverage: int
    timestamp: int
    last_updated: int | None = None
    trade_id: str | None = None
    transaction_version: int | None = None

    def __post_init__(self) -> None:
        _fix_address(self)

    @property
    def trade_side(self) -> bool:
        """The position side the order is on (True long), from ``order_type``."""
        return order_trade_side(self.order_type)


class Trade(WireStruct, frozen=True, kw_only=True):
    """A fill (``trade_history``, ``recent_trades``, ``live_trade_history``, ``getFills``)."""

    address: str
    trade_id: str
    market_id: MarketId
    order_type: int
    size: Decimal
    price: Decimal
    order_value: Decimal | None = None
    leverage: int | None = None
    fee: Decimal
    pnl: Decimal
    timestamp: int
    last_updated: int | None = None
    transaction_version: int | None = None
    order_id: str | None = None
    entry_price: Decimal | None = None

    def __post_init__(self) -> None:
        _fix_address(self)


class Position(WireStruct, frozen=True, kw_only=True):
    """An open position (``positions``, ``getPositions``); hedge mode: one per (market, side).

    ``trade_side`` is True for long; legacy payloads say ``is_long`` and it is copied over.
    """

    address: str
    market_id: MarketId
    trade_id: str | None = None
    size: Decimal
    entry_price: Decimal
    value: Decimal
    leverage: int
    margin: Decimal
    liq_price: Decimal | None = None
    available_order_size: Decimal | None = None
    trade_side: bool | None = None
    is_long: bool | None = None
    sl: Decimal | None = None
    tp: Decimal | None = None
    timestamp: int | None = None
    last_updated: int | None = None
    transaction_version: int | None = None

    def __post_init__(self) -> None:
        _fix_address(self)
        if self.trade_side is None and self.is_long is not None:
            msgspec.structs.force_setattr(self, "trade_side", self.is_long)
        elif self.is_long is None and self.trade_side is not None:
            msgspec.structs.force_setattr(self, "is_long", self.trade_side)


class OrderBookLevel(WireStruct, frozen=True, kw_only=True, gc=False):
    """One price level of the ``orderbook`` topic; ``price`` is a JSON number on the wire."""

    market_id: MarketId
    price: Decimal
    size: Decimal
    is_ask: bool
    last_updated: int | None = None
    transaction_version: int | None = None


class FundingRate(WireStruct, frozen=True, kw_only=True, gc=False):
    """One market's current funding rate (``live_funding_rate``)."""

    market_id: MarketId
    funding_rate: Decimal
    funding_timestamp: int | None = None
    last_updated: int | None = None
    transaction_timestamp: int | None = None
    transaction_version: int | None = None


class DepositWithdraw(WireStruct, frozen=True, kw_only=True):
    """A deposit or withdrawal (``deposit_withdraw_history``, ``getDepositAndWithdrawHistory``)."""

    address: str
    amount: Decimal
    is_deposit: bool
    timestamp: int
    last_updated: int | None = None
    transaction_version: int | None = None

    def __post_init__(self) -> None:
        _fix_address(self)


class FundingPayment(WireStruct, frozen=True, kw_only=True):
    """One funding settlement on a position (``getFundingHistory``).

    The documents do not show this shape; ``amount`` is signed from the holder's view
    (negative = paid).
    """

    address: str
    market_id: MarketId
    trade_side: bool | None = None
    funding_rate: Decimal
    amount: Decimal
    timestamp: int
    transaction_version: int | None = None

    def __post_init__(self) -> None:
        _fix_address(self)


class BestPrice(WireStruct, frozen=True, kw_only=True):
    """One market's best bid and ask (``best_price`` topic). PROVISIONAL.

    The documents list the topic but show neither its key nor its payload; this follows the
    embedded simulator's shape and may change when the live one is known. Decoding is
    lenient: every field may be missing, prices may be JSON numbers or strings, and fields
    not known here are kept in :attr:`extra`.
    """

    market_id: MarketId | None = None
    best_bid_price: Decimal | None = None
    best_ask_price: Decimal | None = None
    last_updated: int | None = None
    transaction_version: int | None = None
    #: Fields of the payload that this version does not know, as received.
    extra: dict[str, Any] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        for price in (self.best_bid_price, self.best_ask_price):
            if price is not None and not price.is_finite():
                raise ValueError("a best price must be finite")


_BEST_PRICE_FIELDS = frozenset(f for f in BestPrice.__struct_fields__ if f != "extra")
_GENERIC_LIST = msgspec.json.Decoder(list[dict[str, Any]], float_hook=Decimal)


class BestPriceDecoder:
    """Decodes a ``best_price`` payload (a list) into :class:`BestPrice` items, keeping unknown
    fields; raises ``msgspec.ValidationError``/``DecodeError`` like a msgspec decoder."""

    __slots__ = ()

    def decode(self, buf: Any, /) -> list[BestPrice]:
        rows = _GENERIC_LIST.decode(buf)
        items = []
        for row in rows:
            known = {k: v for k, v in row.items() if k in _BEST_PRICE_FIELDS}
            known["extra"] = {k: v for k, v in row.items() if k not in _BEST_PRICE_FIELDS}
            items.append(msgspec.convert(known, BestPrice, strict=False))
        return items
