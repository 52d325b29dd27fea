"""Pulse v2 JSON-RPC client: one WebSocket or HTTP, typed methods and channels."""

from .book import PulseBook
from .client import PulseClient, PulseStats

__all__ = ["PulseBook", "PulseClient", "PulseStats"]
