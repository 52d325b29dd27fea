"""Wire models (msgspec Structs) for Kana REST and WebSocket payloads."""

from .common import (
    MONEY_DIGITS,
    ModelDecoder,
    check_money,
    decode_lenient,
    decoder,
    is_address,
    normalize_address,
)
from .kana import (
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
)

__all__ = [
    "MONEY_DIGITS",
    "DepositWithdraw",
    "FundingPayment",
    "FundingRate",
    "MarketInfo",
    "MarketPrice",
    "ModelDecoder",
    "OpenOrder",
    "Order",
    "OrderBookLevel",
    "Position",
    "RestEnvelope",
    "Trade",
    "TxPayload",
    "check_money",
    "decode_lenient",
    "decoder",
    "is_address",
    "normalize_address",
]
