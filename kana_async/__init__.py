"""kana_async: an asyncio-native SDK for Kana Perps (perpetual futures on Aptos)."""

from ._version import __version__
from .config import NETWORKS, NetworkConfig
from .errors import (
    ApiError,
    AuthError,
    KanaError,
    PulseRpcError,
    RateLimitError,
    SlowConsumerError,
    StreamGapError,
    TransactionFailedError,
    TransportError,
    UnknownOutcomeError,
    ValidationError,
)
from .models import (
    DepositWithdraw,
    FundingPayment,
    FundingRate,
    MarketInfo,
    MarketPrice,
    OpenOrder,
    Order,
    OrderBookLevel,
    Position,
    Trade,
    TxPayload,
)

__all__ = [
    "NETWORKS",
    "ApiError",
    "AuthError",
    "DepositWithdraw",
    "FundingPayment",
    "FundingRate",
    "KanaError",
    "MarketInfo",
    "MarketPrice",
    "NetworkConfig",
    "OpenOrder",
    "Order",
    "OrderBookLevel",
    "Position",
    "PulseRpcError",
    "RateLimitError",
    "SlowConsumerError",
    "StreamGapError",
    "Trade",
    "TransactionFailedError",
    "TransportError",
    "TxPayload",
    "UnknownOutcomeError",
    "ValidationError",
    "__version__",
]
