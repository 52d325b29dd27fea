"""The embedded Kana exchange simulator: REST, indexer WebSocket, Aptos node and the Pulse v2
gateway on 127.0.0.1.

``async with Simulator() as sim:`` serves it; ``sim.faults`` (and ``sim.pulse.faults``) script
what goes wrong.
"""

from .engine import Engine, MarketMakerConfig
from .faults import Faults
from .kana_ws import IndexerServer
from .pulse import PulseConfig, PulseFaults, PulseServer
from .server import Simulator

__all__ = [
    "Engine",
    "Faults",
    "IndexerServer",
    "MarketMakerConfig",
    "PulseConfig",
    "PulseFaults",
    "PulseServer",
    "Simulator",
]
