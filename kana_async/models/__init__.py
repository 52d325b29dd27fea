"""Wire models (msgspec Structs) for Kana REST and WebSocket payloads."""

from .common import decode_lenient, decoder, is_address, normalize_address
from .kana import (
    BestPrice,
    DepositWithdraw,
    FundingPayment,
    FundingRate,
    MarketInfo,
    MarketPrice,
    OpenOrder,
    Order,
    OrderBookLevel,
    Position,
    RestEnvelope,
    Trade,
    TxPayload,
    order_trade_side,
)

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
    "decode_lenient",
    "decoder",
    "is_address",
    "normalize_address",
    "order_trade_side",
]
