"""Pulse order books built from ``book.{instrument_name}.{interval}`` notifications. Pure.

:class:`BookSync` applies the chain rule of the Pulse decisions (B1-B5) to one channel's decoded
notifications:

- a ``snapshot`` resets the book whatever its ``prev_change_id`` (the document's carries 0);
- a ``change`` applies only when its ``prev_change_id`` equals the last applied ``change_id``;
  anything else is a gap;
- after a gap (or a crossed book, or a notification that cannot be read) the book is
  *syncing*: every change is dropped, those chained on the broken one included, until the next
  snapshot. :meth:`BookSync.apply` answers the first such event with a :class:`Gap` so that the
  caller asks for a fresh snapshot (by subscribing that channel again);
- levels are ``[price, amount]`` or ``[action, price, amount]`` (``new``, ``change``,
  ``delete``); ``delete`` or an amount of 0 removes the level.

No book built on a broken chain is ever returned as synced.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal, Protocol

from ..models.pulse import book_level

__all__ = [
    "BookStats",
    "BookSync",
    "BookUpdate",
    "Gap",
    "GapReason",
    "Level",
    "PulseBook",
]

#: One price level: (price, amount), both exact.
Level = tuple[Decimal, Decimal]

BookStatus = Literal["synced", "syncing"]

#: Why a chain broke: a ``change`` that does not follow the last one, a crossed book, or a
#: notification that cannot be applied (unknown ``type``, missing ``change_id``, bad level).
GapReason = Literal["gap", "crossed", "malformed"]

_ACTIONS = frozenset({"new", "change", "delete"})


class BookUpdate(Protocol):
    """What :class:`BookSync` reads of a decoded ``BookNotification`` (read-only attributes)."""

    @property
    def type(self) -> str | None: ...

    @property
    def change_id(self) -> int | None: ...

    @property
    def prev_change_id(self) -> int | None: ...

    @property
    def instrument_name(self) -> str | None: ...

    @property
    def timestamp(self) -> int | None: ...

    @property
    def bids(self) -> Sequence[Sequence[object]] | None: ...

    @property
    def asks(self) -> Sequence[Sequence[object]] | None: ...


@dataclass(frozen=True, slots=True)
class PulseBook:
    """One instrument's book after a notification: bids best (highest) first, asks best
    (lowest) first. ``status`` says whether it can be trusted (``synced``) or stands at the
    last good state while a fresh snapshot is awaited (``syncing``)."""

    instrument_name: str
    change_id: int
    timestamp: int | None
    status: BookStatus
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]

    @property
    def synced(self) -> bool:
        """Whether the book can be trusted (``status == "synced"``)."""
        return self.status == "synced"

    @property
    def best_bid(self) -> Level | None:
        """The highest bid as ``(price, amount)``; None when there is none."""
        return self.bids[0] if self.bids else None

    @property
    def best_ask(self) -> Level | None:
        """The lowest ask as ``(price, amount)``; None when there is none."""
        return self.asks[0] if self.asks else None


@dataclass(frozen=True, slots=True)
class Gap:
    """The chain broke: ask for a fresh snapshot. ``expected`` is the ``prev_change_id`` a
    change had to carry (the last applied ``change_id``), ``got`` what it carried; ``book`` is
    the last synced book, now marked ``syncing`` (None before the first one)."""

    instrument_name: str
    reason: GapReason
    expected: int | None
    got: int | None
    detail: str
    book: PulseBook | None


@dataclass(slots=True)
class BookStats:
    """Counters of one :class:`BookSync`: ``snapshots`` and ``changes`` received while they
    could be applied, ``dropped`` while waiting for a snapshot; ``gaps`` counts the breaks
    reported, ``crossed`` and ``malformed`` their causes besides a plain gap."""

    snapshots: int = 0
    changes: int = 0
    gaps: int = 0
    crossed: int = 0
    malformed: int = 0
    #: Changes dropped while waiting for a snapshot (after a gap, or before the first one).
    dropped: int = 0


class _Side:
    """One side's levels: amounts by price, and the prices kept sorted ascending as levels
    come and go, so a book is read out in one pass instead of a sort per change."""

    __slots__ = ("amounts", "prices")

    def __init__(self) -> None:
        self.amounts: dict[Decimal, Decimal] = {}
        self.prices: list[Decimal] = []

    def set(self, levels: list[tuple[Decimal, Decimal | None]]) -> None:
        amounts, prices = self.amounts, self.prices
        for price, amount in levels:
            if amount is None:
                if amounts.pop(price, None) is not None:
                    del prices[bisect_left(prices, price)]
            else:
                if price not in amounts:
                    insort(prices, price)
                amounts[price] = amount

    def ascending(self) -> tuple[Level, ...]:
        amounts = self.amounts
        return tuple([(price, amounts[price]) for price in self.prices])

    def descending(self) -> tuple[Level, ...]:
        amounts = self.amounts
        return tuple([(price, amounts[price]) for price in reversed(self.prices)])


class _Broken(Exception):
    """A notification that cannot be applied; the text names the rule."""


@dataclass(slots=True)
class BookSync:
    """The chain state of one book channel; feed it every notification of that channel in
    order. ``instrument_name`` is the channel's: notifications are routed by channel (S4), so
    their own ``instrument_name`` is not relied upon."""

    instrument_name: str
    stats: BookStats = field(default_factory=BookStats)
    _bids: _Side = field(default_factory=_Side, repr=False)
    _asks: _Side = field(default_factory=_Side, repr=False)
    _change_id: int | None = None
    _synced: bool = False
    _last: PulseBook | None = field(default=None, repr=False)

    @property
    def synced(self) -> bool:
        """True while the chain is unbroken since the last snapshot."""
        return self._synced

    @property
    def change_id(self) -> int | None:
        """The last applied ``change_id`` (None while syncing)."""
        return self._change_id if self._synced else None

    @property
    def book(self) -> PulseBook | None:
        """The last book returned as synced (None before the first one)."""
        return self._last

    def reset(self) -> None:
        """Forget the state (a new connection): nothing is applied until the next snapshot."""
        self._unsync()

    def undecodable(self, detail: str) -> Gap | None:
        """A notification of this channel that could not be decoded at all: the chain is
        broken as by a gap (a :class:`Gap` the first time, None while already syncing)."""
        return self._break("malformed", self._change_id, None, detail)

    def apply(self, update: BookUpdate) -> PulseBook | Gap | None:
        """The book after ``update``; a :class:`Gap` when the chain broke here; None when the
        update was dropped (the book is syncing and this is not a snapshot)."""
        kind = update.type
        if kind == "snapshot":
            return self._snapshot(update)
        if kind == "change":
            return self._change(update)
        return self._break("malformed", None, None,
                           f'type must be "snapshot" or "change" (got {_show(kind)})')

    # -- the two kinds ---------------------------------------------------------------------------

    def _snapshot(self, update: BookUpdate) -> PulseBook | Gap | None:
        self.stats.snapshots += 1
        change_id = update.change_id
        if not isinstance(change_id, int) or isinstance(change_id, bool):
            return self._break("malformed", None, None, "a snapshot must carry an integer "
                               "change_id", snapshot=True)
        bids, asks = _Side(), _Side()
        try:
            bids.set(_levels(update.bids, "bids"))
            asks.set(_levels(update.asks, "asks"))
        except _Broken as exc:
            return self._break("malformed", None, change_id, str(exc), snapshot=True)
        self._bids, self._asks = bids, asks
        self._change_id = change_id
        self._synced = True
        return self._deliver(change_id, update.timestamp, snapshot=True)

    def _change(self, update: BookUpdate) -> PulseBook | Gap | None:
        if not self._synced:
            self.stats.dropped += 1
            return None
        self.stats.changes += 1
        expected = self._change_id
        prev, change_id = update.prev_change_id, update.change_id
        if (not isinstance(change_id, int) or isinstance(change_id, bool)
                or not _is_int(prev)):
            return self._break("malformed", expected, None, "a change must carry integer "
                               "change_id and prev_change_id")
        if prev != expected:
            return self._break("gap", expected, prev, f"prev_change_id {prev} does not follow "
                               f"the last change_id {expected}")
        try:
            # Both sides are checked before either is touched: a bad level leaves no trace.
            bid_levels = _levels(update.bids, "bids")
            ask_levels = _levels(update.asks, "asks")
        except _Broken as exc:
            return self._break("malformed", expected, prev, str(exc))
        self._bids.set(bid_levels)
        self._asks.set(ask_levels)
        self._change_id = change_id
        return self._deliver(change_id, update.timestamp)

    # -- results ---------------------------------------------------------------------------------

    def _deliver(self, change_id: int, timestamp: int | None, *,
                 snapshot: bool = False) -> PulseBook | Gap | None:
        bid_prices, ask_prices = self._bids.prices, self._asks.prices
        if bid_prices and ask_prices and bid_prices[-1] >= ask_prices[0]:
            return self._break("crossed", None, change_id, f"best bid {bid_prices[-1]} is at "
                               f"or above best ask {ask_prices[0]}", snapshot=snapshot)
        bids, asks = self._bids.descending(), self._asks.ascending()
        self._last = PulseBook(self.instrument_name, change_id,
                               timestamp if _is_int(timestamp) else None, "synced", bids, asks)
        return self._last

    def _break(self, reason: GapReason, expected: int | None, got: int | None,
               detail: str, *, snapshot: bool = False) -> Gap | None:
        if reason == "crossed":
            self.stats.crossed += 1
        elif reason == "malformed":
            self.stats.malformed += 1
        was_synced = self._synced
        self._unsync()
        if not (was_synced or snapshot):
            # Already waiting for a snapshot: the fresh one was asked for at the first break.
            self.stats.dropped += 1
            return None
        self.stats.gaps += 1
        last = self._last
        held = None if last is None else PulseBook(
            last.instrument_name, last.change_id, last.timestamp, "syncing", last.bids,
            last.asks)
        return Gap(self.instrument_name, reason, expected, got, detail, held)

    def _unsync(self) -> None:
        self._synced = False
        self._change_id = None
        self._bids = _Side()
        self._asks = _Side()


# -- levels ---------------------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _show(value: object) -> str:
    """A decoded value for an error text: short, never a Python repr of an object."""
    if isinstance(value, str):
        return '"' + value[:40] + '"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return f"a {type(value).__name__}"


def _levels(levels: Sequence[Sequence[object]] | None,
            side: str) -> list[tuple[Decimal, Decimal | None]]:
    """``(price, amount)`` per level, amount None for a removal. Each level is read by the
    models' :func:`~kana_async.models.pulse.book_level`; what an action means is decided here."""
    if levels is None:
        return []
    if isinstance(levels, (str, bytes)) or not isinstance(levels, Sequence):
        raise _Broken(f"{side} must be a list of levels")
    out: list[tuple[Decimal, Decimal | None]] = []
    for raw in levels:
        try:
            level = book_level(raw)
        except ValueError as exc:
            raise _Broken(f"{side}: {exc}") from None
        action = "new" if level.action is None else level.action
        if action not in _ACTIONS:
            raise _Broken(f'{side}: a level action must be "new", "change" or "delete" '
                          f"(got {_show(action)})")
        if action == "delete":
            out.append((level.price, None))
            continue
        if level.amount < 0:
            raise _Broken(f"{side}: a level amount must be >= 0 (got {level.amount})")
        out.append((level.price, None if level.amount == 0 else level.amount))
    return out
