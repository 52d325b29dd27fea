"""How orders are submitted: :class:`TradingOptions`, one frozen value checked when made.
``KanaClient(..., trading=...)`` takes it or a mapping of its field names.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import ValidationError
from .node import MAX_BODY_BYTES

__all__ = ["TradingOptions", "check_seconds"]


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(name, "must be a positive integer", value)


def check_seconds(name: str, value: object, minimum: float = 0.0) -> None:
    """Refuse anything but a finite number of seconds above ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value <= minimum:
        raise ValidationError(name, f"must be a finite number of seconds > {minimum:g}", value)


@dataclass(frozen=True, slots=True, kw_only=True)
class TradingOptions:
    """How orders are submitted: ``KanaClient(..., trading=TradingOptions(...))`` or a mapping.

    ``expiry_secs``: how long after signing the chain may still commit a transaction (whole
    seconds, at least 1); ``submit_timeout``: how long to wait for the node to answer a POST
    before the outcome is unknown; ``wait_timeout``: how long ``wait=True`` calls wait for the
    commit; ``max_in_flight``: submissions between signing and the node's answer;
    ``max_gas_amount`` and ``gas_unit_price`` (octas): the fee ceiling; ``fill_delay``: how
    long a freed sequence number that blocks later transactions waits for a new submission
    before a filler takes it; ``max_response_bytes``: the largest node answer read.

    A value that breaks its rule (a non-positive count, a non-finite time, an expiry under
    1 s) raises :class:`~kana_async.ValidationError` naming the field when the options are
    made.
    """

    expiry_secs: float = 30.0
    submit_timeout: float = 10.0
    wait_timeout: float = 30.0
    max_in_flight: int = 32
    max_gas_amount: int = 20_000
    gas_unit_price: int = 100
    fill_delay: float = 0.5
    max_response_bytes: int = MAX_BODY_BYTES

    def __post_init__(self) -> None:
        for name in ("max_in_flight", "max_gas_amount", "gas_unit_price", "max_response_bytes"):
            _positive_int(name, getattr(self, name))
        for name in ("submit_timeout", "wait_timeout", "fill_delay"):
            check_seconds(name, getattr(self, name))
        check_seconds("expiry_secs", self.expiry_secs)
        if self.expiry_secs < 1:
            raise ValidationError("expiry_secs", "must be at least 1 second (the chain counts "
                                  "expiry in whole seconds)", self.expiry_secs)

    @classmethod
    def coerce(cls, value: object, param: str = "trading") -> TradingOptions:
        """``value`` as options: a TradingOptions, a mapping of its fields, or None (defaults)."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise ValidationError(param, "must be a TradingOptions or a mapping of its fields")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(str(k) for k in value if k not in known)
        if unknown:
            raise ValidationError(
                param, f"unknown option(s) {', '.join(unknown)}; known: {', '.join(known)}")
        return cls(**value)
