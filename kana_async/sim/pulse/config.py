"""How the simulated Pulse gateway behaves: one frozen value, checked when it is built."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from ...errors import ValidationError

__all__ = ["PulseConfig"]


@dataclass(frozen=True, slots=True)
class PulseConfig:
    """How the simulated gateway behaves; every field has the document's (or Deribit's) default.

    ``strict=False`` keeps only the JSON type checks (and lets ``set_heartbeat`` go down to 1).
    ``http_wrapped`` wraps HTTP results as ``{jsonrpc, id, result}``; ``http_rpc_errors`` makes
    HTTP errors JSON-RPC ``error`` objects instead of ``connection.Message`` (both HTTP 400).
    ``heartbeat_unit`` is the seconds one unit of ``set_heartbeat``'s interval lasts (tests
    shrink it). ``queue_size``/``queue_bytes`` bound each WebSocket's outgoing queue.

    :raises ValidationError: if a flag is not a bool, a count not an integer >= 1, a duration
       not a finite number of seconds > 0, or ``max_frame`` below 64 bytes
    """

    token_lifetime: float = 900.0
    refresh_lifetime: float = 86_400.0
    strict: bool = True
    ws_only_over_http: bool = False
    http_wrapped: bool = False
    http_rpc_errors: bool = False
    max_frame: int = 32_768
    max_depth: int = 32
    queue_size: int = 4_096
    queue_bytes: int = 8 * 1024 * 1024
    push_interval: float = 0.02
    funding_interval: float = 60.0
    market_maker: bool = True
    heartbeat_unit: float = 1.0
    heartbeat_trade_interval: float = 10.0
    max_connections: int = 1_000
    max_book_levels: int = 1_000

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if item.type == "bool":
                if not isinstance(value, bool):
                    raise ValidationError(item.name, "must be True or False", value)
            elif item.type == "int":
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ValidationError(item.name, "must be an integer >= 1", value)
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                math.isfinite(value) and value > 0
            ):
                raise ValidationError(item.name, "must be a finite number of seconds > 0", value)
        if self.max_frame < 64:
            raise ValidationError("max_frame", "must be at least 64 bytes", self.max_frame)
