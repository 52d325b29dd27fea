"""The embedded Kana exchange simulator: REST, indexer WebSocket and Aptos node on 127.0.0.1.

``async with Simulator() as sim:`` serves it; ``sim.faults`` scripts what goes wrong.
"""

from .engine import Engine, MarketMakerConfig
from .faults import Faults
from .kana_ws import IndexerServer
from .server import Simulator

__all__ = ["Engine", "Faults", "IndexerServer", "MarketMakerConfig", "Simulator"]
