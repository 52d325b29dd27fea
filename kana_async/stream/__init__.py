"""Streaming: every Kana indexer topic over one WebSocket, as typed async iterators."""

from .book import OrderBook
from .connection import ReconnectPolicy
from .mux import StreamMux, StreamStats
from .options import DEFAULT_WATCHDOG, StreamHooks, StreamOptions
from .router import Router, RouterStats
from .subscription import Subscription, SubscriptionStats
from .topics import TOPICS, Overflow, TopicSpec
from .transport import AiohttpConnector, Connector, PicowsConnector, WebSocket

__all__ = [
    "DEFAULT_WATCHDOG",
    "TOPICS",
    "AiohttpConnector",
    "Connector",
    "OrderBook",
    "Overflow",
    "PicowsConnector",
    "ReconnectPolicy",
    "Router",
    "RouterStats",
    "StreamHooks",
    "StreamMux",
    "StreamOptions",
    "StreamStats",
    "Subscription",
    "SubscriptionStats",
    "TopicSpec",
    "WebSocket",
]
