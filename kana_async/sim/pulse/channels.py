"""Channels of the simulated gateway: their names, and the data their notifications carry.

Pure: a name in, a :class:`Channel` out (or a :class:`~.errors.PulseError` naming the rule);
values in, the document's notification ``data`` dicts out (numbers as ``views.num`` gives them,
which :func:`.views.encode` writes as exact JSON numbers; the funding channels' payloads, with
their decimal strings, are :mod:`.views`' own). :class:`BookFeed` turns successive states of one
book into a ``change_id`` chain. The server (:mod:`.server`) decides who hears what and when.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .errors import Code, PulseError
from .instruments import Instrument
from .views import num

__all__ = [
    "INTERVALS",
    "BookFeed",
    "Channel",
    "Level",
    "heartbeat_trade",
    "mmp_trigger",
    "parse_channel",
    "price_notification",
    "quote",
    "user_changes",
    "user_fee",
]

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


# -- book ------------------------------------------------------------------------------------

#: One level of a book side as the engine gives it: (price in ticks, amount in contracts).
Level = tuple[int, int]


class BookFeed:
    """The ``book.{instrument}.*`` channels of one instrument: snapshots and chained changes.

    :meth:`update` is fed the engine's book (both sides best first) whenever the server looks;
    it answers the ``change`` notification that leads from the previous state to this one
    (``None`` if nothing changed), each with ``prev_change_id`` = the previous ``change_id``.
    :meth:`snapshot` is the state of the last update, so a snapshot followed by the next
    changes is a valid chain. Levels are ``[action, price, amount]`` (``new``/``change``/
    ``delete``; a deleted level carries amount 0), price and amount in USD. Only the best
    ``max_levels`` of each side are published.
    """

    def __init__(self, instrument: Instrument, *, max_levels: int = 1000) -> None:
        if max_levels < 1:
            raise ValueError("max_levels must be >= 1")
        self.instrument = instrument
        self.max_levels = max_levels
        self.change_id = 0          # 0: no state yet (the first update only primes the feed)
        self._bids: dict[int, int] = {}
        self._asks: dict[int, int] = {}
        self._skip = 0

    @property
    def primed(self) -> bool:
        return self.change_id > 0

    def skip(self) -> None:
        """Leave out one ``change_id`` before the next change (a gap, for fault injection)."""
        self._skip += 1

    def update(self, bids: Sequence[Level], asks: Sequence[Level],
               timestamp: int) -> dict[str, Any] | None:
        """The ``change`` from the last state to this one, or None (unchanged, or first look)."""
        new_bids = _side(bids, self.max_levels)
        new_asks = _side(asks, self.max_levels)
        if not self.primed:
            self._bids, self._asks = new_bids, new_asks
            self.change_id = 1
            return None
        bid_levels = self._diff(self._bids, new_bids, descending=True)
        ask_levels = self._diff(self._asks, new_asks, descending=False)
        if not bid_levels and not ask_levels:
            return None
        self._bids, self._asks = new_bids, new_asks
        prev = self.change_id + self._skip
        self._skip = 0
        self.change_id = prev + 1
        return self._notification("change", prev, bid_levels, ask_levels, timestamp)

    def snapshot(self, timestamp: int) -> dict[str, Any]:
        """The whole published book at the last update (``prev_change_id`` 0, as documented)."""
        if not self.primed:
            raise RuntimeError("a book feed has no snapshot before its first update")
        price, amount = self._price, self._amount
        bids = [["new", price(t), amount(c)] for t, c in sorted(self._bids.items(), reverse=True)]
        asks = [["new", price(t), amount(c)] for t, c in sorted(self._asks.items())]
        return self._notification("snapshot", 0, bids, asks, timestamp)

    def _diff(self, old: dict[int, int], new: dict[int, int],
              *, descending: bool) -> list[list[Any]]:
        price, amount = self._price, self._amount
        levels: list[tuple[int, list[Any]]] = []
        for ticks, contracts in new.items():
            before = old.get(ticks)
            if before is None:
                levels.append((ticks, ["new", price(ticks), amount(contracts)]))
            elif before != contracts:
                levels.append((ticks, ["change", price(ticks), amount(contracts)]))
        for ticks in old.keys() - new.keys():
            levels.append((ticks, ["delete", price(ticks), 0]))
        levels.sort(key=lambda item: item[0], reverse=descending)
        return [level for _, level in levels]

    def _price(self, ticks: int) -> Decimal | int | None:
        return num(self.instrument.price(ticks))

    def _amount(self, contracts: int) -> Decimal | int | None:
        return num(self.instrument.amount(contracts))

    def _notification(self, kind: str, prev: int, bids: list[list[Any]], asks: list[list[Any]],
                      timestamp: int) -> dict[str, Any]:
        return {
            "type": kind,
            "change_id": self.change_id,
            "prev_change_id": prev,
            "bids": bids,
            "asks": asks,
            "instrument_name": self.instrument.instrument_name,
            "timestamp": timestamp,
        }


def _side(levels: Iterable[Level], limit: int) -> dict[int, int]:
    side: dict[int, int] = {}
    for ticks, contracts in levels:
        if contracts > 0:
            side[ticks] = side.get(ticks, 0) + contracts
            if len(side) >= limit:
                break
    return side


def quote(instrument: Instrument, bids: Sequence[Level], asks: Sequence[Level],
          timestamp: int) -> dict[str, Any]:
    """``quote.{instrument}``: the best bid and ask (price None and amount 0 for an empty side)."""
    bid = bids[0] if bids else None
    ask = asks[0] if asks else None
    return {
        "best_ask_amount": num(instrument.amount(ask[1])) if ask else 0,
        "best_ask_price": num(instrument.price(ask[0])) if ask else None,
        "best_bid_amount": num(instrument.amount(bid[1])) if bid else 0,
        "best_bid_price": num(instrument.price(bid[0])) if bid else None,
        "instrument_name": instrument.instrument_name,
        "timestamp": timestamp,
    }


# -- prices ----------------------------------------------------------------------------------


def price_notification(index_name: str, price: Decimal, timestamp: int) -> dict[str, Any]:
    """``deribit_price_index.{index}`` and ``settlement_prices.{index}`` (lower-case name)."""
    return {"index_name": index_name.lower(), "price": num(price), "timestamp": timestamp}


# -- private ---------------------------------------------------------------------------------


def mmp_trigger(index_name: str, frozen_until: int) -> dict[str, Any]:
    """``user.mmp_trigger.{index}``: frozen until this time (ms)."""
    return {"frozen_until": frozen_until, "index_name": index_name.lower()}


def user_changes(orders: list[dict[str, Any]], trades: list[dict[str, Any]]) -> dict[str, Any]:
    """``user.changes.{instrument}.{interval}``: the orders and trades of one push round."""
    return {"orders": orders, "trades": trades}


def user_fee(user_id: str, *, percentage: Decimal, volume: Decimal) -> dict[str, Any]:
    """``user_fee``: the taker fee in percent and the USD volume traded, for perpetuals
    (futures the same; no options are listed, so theirs is 0)."""
    perpetual = {"percentage": num(percentage), "volume": num(volume)}
    return {
        "future": dict(perpetual),
        "option": {"percentage": 0, "volume": 0},
        "perpetual": perpetual,
        "user_id": user_id,
    }


def heartbeat_trade(active: bool = True) -> dict[str, Any]:
    """``heartbeat_trade``: whether trading is on (the simulator always trades)."""
    return {"status_trade": "active" if active else "inactive"}
