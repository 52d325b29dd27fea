"""Channel names of the simulated gateway: which ones exist, what they name, who may hear them.

Pure: a name in, a :class:`Channel` out (or a :class:`~.errors.PulseError` naming the rule).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .errors import Code, PulseError
from .instruments import Instrument

__all__ = ["INTERVALS", "Channel", "parse_channel"]

#: Intervals the simulator publishes; the document mentions ``raw`` only (Deribit adds these).
INTERVALS = frozenset({"raw", "100ms", "agg2"})

#: pattern name -> (parameter kinds after the prefix, private?)
_PATTERNS: dict[str, tuple[tuple[str, ...], bool]] = {
    "book": (("instrument", "interval"), False),
    "deribit_price_index": (("index",), False),
    "funding_payments": (("instrument",), False),
    "funding_prices": (("instrument",), False),
    "funding_rates": (("instrument",), False),
    "quote": (("instrument",), False),
    "settlement_prices": (("index",), False),
    "heartbeat_trade": ((), True),
    "user_fee": ((), True),
    "user.changes": (("instrument", "interval"), True),
    "user.orders": (("instrument", "interval"), True),
    "user.trades": (("instrument", "interval"), True),
    "user.mmp_trigger": (("index",), True),
}


@dataclass(frozen=True, slots=True)
class Channel:
    """A parsed channel name. ``key`` is the instrument or (lower-case) index name, if any."""

    name: str                 # as the client wrote it (notifications carry it back verbatim)
    kind: str                 # one of the 13 patterns' prefixes, e.g. "book", "user.orders"
    key: str | None
    interval: str | None
    private: bool


def parse_channel(name: str, instruments: Mapping[str, Instrument]) -> Channel:
    """The channel ``name`` stands for; unknown patterns, instruments or indexes are refused."""
    if not isinstance(name, str) or not name or len(name) > 200:
        raise PulseError(Code.INVALID_ARGUMENTS, "a channel name must be a non-empty string")
    for kind in sorted(_PATTERNS, key=len, reverse=True):
        if name != kind and not name.startswith(kind + "."):
            continue
        parts, private = _PATTERNS[kind]
        rest = name[len(kind) + 1:].split(".") if name != kind else []
        # Instrument names contain no dots; "book.BTC_USD-PERPETUAL.raw" splits cleanly.
        if len(rest) != len(parts):
            break
        key: str | None = None
        interval: str | None = None
        for part, value in zip(parts, rest, strict=True):
            if part == "instrument":
                if value not in instruments:
                    raise PulseError(Code.INVALID_OR_UNSUPPORTED_INSTRUMENT,
                                     f"unknown instrument {value!r} in channel {name!r}")
                key = value
            elif part == "index":
                indexes = {i.index_name for i in instruments.values()}
                if value.lower() not in indexes:
                    raise PulseError(Code.INVALID_ARGUMENTS,
                                     f"unknown index {value!r} in channel {name!r}; "
                                     f"known: {', '.join(sorted(indexes))}")
                key = value.lower()
            else:
                if value not in INTERVALS:
                    raise PulseError(Code.INVALID_ARGUMENTS,
                                     f"interval must be one of {', '.join(sorted(INTERVALS))} "
                                     f"in channel {name!r}")
                interval = value
        return Channel(name, kind, key, interval, private)
    raise PulseError(Code.INVALID_ARGUMENTS, f"unknown channel {name!r}")
