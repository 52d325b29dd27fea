"""The simulator's indexer protocol, pure: what a client may send and what it gets.

Request parsing, the snapshot of each topic read from the engine, frame encoding with the
scripted corruptions of :class:`~.faults.Faults`, and the per-client :class:`Outbox`. No I/O:
:mod:`.kana_ws` is the asyncio server around these. Topic names, key fields and which topics
are events come from the package's one topic table (:data:`kana_async.stream.topics.TOPICS`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

import msgspec

from ..errors import ValidationError
from ..models.common import ID_FIELDS, normalize_address
from ..stream.topics import TOPICS
from .faults import FrameFault

__all__ = [
    "EVENT_TOPICS",
    "HISTORY_SNAPSHOT_LIMIT",
    "TOPIC_KEYS",
    "ChangeLike",
    "IndexerEngine",
    "Outbox",
    "Record",
    "RequestError",
    "Slot",
    "SubscribeRequest",
    "best_price",
    "encode_error",
    "encode_frame",
    "parse_request",
    "snapshot",
]

#: Every indexer topic and the subscription field that keys it (None: no key), from the
#: package's one topic table.
TOPIC_KEYS: Mapping[str, str | None] = {name: spec.key for name, spec in TOPICS.items()}

#: Topics whose pushes are single new records, never snapshots: each one must be delivered.
EVENT_TOPICS = frozenset(name for name, spec in TOPICS.items() if spec.is_event)

#: Newest records a history snapshot (order, trade, deposit/withdraw history) carries: each
#: change re-sends the list, so its cost must not grow with a long-running bot's history
#: (the whole history, up to the engine's own bound, is on REST, paged).
HISTORY_SNAPSHOT_LIMIT = 100

Slot = tuple[str, str | None]
Record = dict[str, Any]


# -- the engine, as this server sees it ------------------------------------------------------


class ChangeLike(Protocol):
    @property
    def topic(self) -> str: ...
    @property
    def key(self) -> str | None: ...
    @property
    def record(self) -> Record | None: ...


class IndexerEngine(Protocol):
    """The part of :class:`kana_async.sim.engine.Engine` the indexer reads."""

    @property
    def markets(self) -> Mapping[int, Any]: ...

    def add_listener(self, fn: Callable[[Any], None]) -> Callable[[], None]: ...
    def order_history(self, profile: str, *, limit: int | None = None) -> list[Record]: ...
    def deposit_withdraw_history(
        self, profile: str, *, limit: int | None = None
    ) -> list[Record]: ...
    def trade_history(self, profile: str, *, limit: int | None = None) -> list[Record]: ...
    def positions(self, profile: str) -> list[Record]: ...
    def open_orders(self, profile: str) -> list[Record]: ...
    def orderbook(self, market_id: int) -> list[Record]: ...
    def recent_trades(self, market_id: int) -> list[Record]: ...
    def funding_rates(self) -> list[Record]: ...


def snapshot(engine: IndexerEngine, topic: str, key: str | None) -> list[Record]:
    """The whole current state of one snapshot topic and key, in wire shape."""
    read = _SNAPSHOTS.get(topic)
    if read is None:
        raise ValueError(f"{topic} has no snapshot")
    return read(engine, key)


#: How each snapshot topic of :data:`TOPICS` is read (its key: a profile or a market id);
#: the event topics have none. A test holds it in step with the table.
_SNAPSHOTS: dict[str, Callable[[IndexerEngine, str | None], list[Record]]] = {
    "order_history": lambda e, k: e.order_history(
        _required(k), limit=HISTORY_SNAPSHOT_LIMIT),
    "deposit_withdraw_history": lambda e, k: e.deposit_withdraw_history(
        _required(k), limit=HISTORY_SNAPSHOT_LIMIT),
    "trade_history": lambda e, k: e.trade_history(_required(k), limit=HISTORY_SNAPSHOT_LIMIT),
    "positions": lambda e, k: e.positions(_required(k)),
    "open_orders": lambda e, k: e.open_orders(_required(k)),
    "orderbook": lambda e, k: e.orderbook(int(_required(k))),
    "recent_trades": lambda e, k: e.recent_trades(int(_required(k))),
    "best_price": lambda e, k: [best_price(e.orderbook(int(_required(k))), _required(k))],
    "live_funding_rate": lambda e, k: e.funding_rates(),
}


def _required(key: str | None) -> str:
    if key is None:
        raise ValueError("this topic needs a key")
    return key


def best_price(levels: Iterable[Record], market_id: str) -> Record:
    """The ``best_price`` record of one market, derived from its order book levels."""
    best_bid: Record | None = None
    best_ask: Record | None = None
    for level in levels:
        price = Decimal(str(level["price"]))
        if level["is_ask"]:
            if best_ask is None or price < Decimal(str(best_ask["price"])):
                best_ask = level
        elif best_bid is None or price > Decimal(str(best_bid["price"])):
            best_bid = level
    tops = [level for level in (best_bid, best_ask) if level is not None]
    return {
        "market_id": market_id,
        "best_bid_price": None if best_bid is None else str(Decimal(str(best_bid["price"]))),
        "best_ask_price": None if best_ask is None else str(Decimal(str(best_ask["price"]))),
        "last_updated": max((int(t.get("last_updated") or 0) for t in tops), default=0),
        "transaction_version": max(
            (int(t.get("transaction_version") or 0) for t in tops), default=0
        ),
    }


# -- client requests -------------------------------------------------------------------------


class RequestError(ValueError):
    """A client message the server cannot act on; the text goes into the error frame."""


@dataclass(frozen=True)
class SubscribeRequest:
    """One parsed client message: (un)subscribe ``topic`` for ``key``."""

    topic: str
    key: str | None
    unsubscribe: bool = False

    @property
    def slot(self) -> Slot:
        return (self.topic, self.key)


_request_decoder = msgspec.json.Decoder()


def parse_request(message: str | bytes, markets: Iterable[int]) -> SubscribeRequest:
    """Validate a client message; raises :class:`RequestError` saying what is wrong."""
    try:
        body = _request_decoder.decode(message)
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise RequestError("message is not valid JSON") from None
    if not isinstance(body, dict):
        raise RequestError("message must be a JSON object")
    topic = body.get("topic")
    if not isinstance(topic, str):
        raise RequestError("topic: required, a string")
    if topic not in TOPIC_KEYS:
        raise RequestError(f"topic: unknown topic {topic!r}; one of {', '.join(TOPIC_KEYS)}")
    unsubscribe = body.get("unsubscribe", False)
    if not isinstance(unsubscribe, bool):
        raise RequestError("unsubscribe: must be true or false")
    field = TOPIC_KEYS[topic]
    if field is None:
        return SubscribeRequest(topic, None, unsubscribe)
    value = body.get(field)
    if value is None:
        raise RequestError(f"{field}: required for topic {topic}")
    if field == "address":
        try:
            key = normalize_address(value) if isinstance(value, str) else None
        except ValidationError:
            key = None
        if key is None:
            raise RequestError("address: must be a 0x-prefixed hex profile address")
        return SubscribeRequest(topic, key, unsubscribe)
    return SubscribeRequest(topic, _market_key(value, markets), unsubscribe)


def _market_key(value: object, markets: Iterable[int]) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise RequestError("market_id: must be an integer or a numeric string")
    try:
        market_id = int(value)
    except ValueError:
        raise RequestError("market_id: must be an integer or a numeric string") from None
    if market_id not in set(markets):
        raise RequestError(f"market_id: unknown market {market_id}")
    return str(market_id)


# -- frames ----------------------------------------------------------------------------------

_encoder = msgspec.json.Encoder(decimal_format="number")


def encode_frame(topic: str, data: object, fault: FrameFault | None = None) -> bytes:
    """The JSON text of one push, corrupted as ``fault`` says (see :class:`Faults`)."""
    if fault == "no_message":
        return _encoder.encode({"data": data})
    if fault == "numbers":
        data = _as_numbers(data)
    frame = _encoder.encode({"message": topic, "data": data})
    if fault == "malformed":
        # A strict prefix of a JSON object is never valid JSON.
        return frame[: len(frame) // 2]
    return frame


def encode_error(text: str) -> bytes:
    return _encoder.encode({"message": "error", "error": text, "data": None})


def _as_numbers(value: object, field: str = "") -> object:
    """Ids, sizes and prices as JSON numbers, as some documented messages have them."""
    if isinstance(value, dict):
        return {k: _as_numbers(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_numbers(v, field) for v in value]
    if isinstance(value, str) and not value.startswith("0x"):
        try:
            number = Decimal(value)
        except InvalidOperation:
            return value
        if not number.is_finite():
            return value
        return int(number) if field in ID_FIELDS else number
    return value


# -- one client's pending frames -------------------------------------------------------------


class Outbox:
    """Frames waiting to be written to one client, bounded whatever the client's speed.

    A snapshot slot (topic, key) holds only its newest frame: a slow client skips stale states
    and loses nothing. Events and error frames queue in order, at most ``max_events``; beyond
    that the client is hopeless and :meth:`put_event` says so.
    """

    def __init__(self, max_events: int) -> None:
        self.max_events = max_events
        self._frames: OrderedDict[Hashable, bytes] = OrderedDict()
        self._events = 0
        self._serial = 0
        self.conflated = 0
        self.sent = 0

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def events(self) -> int:
        return self._events

    def put_snapshot(self, slot: Slot, frame: bytes) -> None:
        if slot in self._frames:
            self.conflated += 1
        self._frames[slot] = frame

    def put_event(self, frame: bytes) -> bool:
        """Queue ``frame``; False (and nothing queued) when the event bound is reached."""
        if self._events >= self.max_events:
            return False
        self._serial += 1
        self._frames[("event", self._serial)] = frame
        self._events += 1
        return True

    def pop(self) -> bytes | None:
        if not self._frames:
            return None
        key, frame = self._frames.popitem(last=False)
        if isinstance(key, tuple) and key[0] == "event" and isinstance(key[1], int):
            self._events -= 1
        self.sent += 1
        return frame

    def clear(self) -> None:
        self._frames.clear()
        self._events = 0
