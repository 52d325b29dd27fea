"""Frame routing: bytes in, raw payloads handed to the right subscriptions. No I/O.

Only the envelope is decoded here (``message`` plus ``data`` kept as ``msgspec.Raw``); the typed
decode happens when a consumer reads, so a snapshot that conflation supersedes is never decoded.

Kana puts the routing key inside ``data`` (each element's ``address`` or ``market_id``), not in
the envelope. While the server streams a single key of a topic on this connection, frames of
that topic go to its subscriptions without looking; with several keys, a key-only view of
``data`` is decoded (msgspec skips every other field without building it) and every element
must carry the same key. No unsubscribe message exists, so a key stays "streaming" until the
connection ends even after its last subscription closed; that is why the fast path depends on
what the server was asked for, not on what is still wanted.

The router is total: any frame in, exactly one counted outcome out (the :class:`RouterStats`
field of the same name), never an exception. Anomalies are also reported through
``on_anomaly(kind, excerpt)``:

- ``oversize``: longer than ``max_frame_bytes``; refused before any decoding;
- ``malformed``: not JSON, not an object, nested too deep, or text that is not valid Unicode;
- ``server_error``: ``{"message": "error", ...}`` or an ``error`` field;
- ``unknown_topic``: a ``message`` that names no known topic;
- ``unroutable``: no ``message`` and a shape that matches no subscribed topic unambiguously,
  a ``data`` whose key cannot be read, or a list whose elements carry different keys;
- ``unattributed``: an empty list for a topic streaming several keys (see
  :meth:`Router._attribute_empty`).
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable
from typing import Any, Protocol

import msgspec

from ..errors import ValidationError
from ..models import normalize_address
from .topics import TOPICS, MarketKey, TopicSpec

__all__ = ["DEFAULT_MAX_FRAME_BYTES", "Router", "RouterStats", "Sink"]

#: The default bound of one frame (the transport refuses larger ones too).
DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024

#: How much of an anomalous frame a hook sees (characters).
_DETAIL_CHARS = 200

_DecodeErrors = (msgspec.DecodeError, msgspec.ValidationError)

logger = logging.getLogger("kana_async.stream")


class Sink(Protocol):
    """Whatever receives a topic's raw payloads (a Subscription, or a test double)."""

    def push(self, payload: msgspec.Raw) -> None: ...


class _Envelope(msgspec.Struct, gc=False):
    message: str | None = None
    data: msgspec.Raw = msgspec.Raw()
    error: msgspec.Raw = msgspec.Raw()


class _Shape(msgspec.Struct, gc=False):
    """What routing by shape reads of one element of ``data``: which fields are present
    (kept raw, never built) and the two keys."""

    is_ask: msgspec.Raw = msgspec.Raw()
    funding_rate: msgspec.Raw = msgspec.Raw()
    is_deposit: msgspec.Raw = msgspec.Raw()
    margin: msgspec.Raw = msgspec.Raw()
    total_size: msgspec.Raw = msgspec.Raw()
    status: msgspec.Raw = msgspec.Raw()
    fee: msgspec.Raw = msgspec.Raw()
    best_bid_price: msgspec.Raw = msgspec.Raw()
    address: msgspec.Raw = msgspec.Raw()
    market_id: msgspec.Raw = msgspec.Raw()


class RouterStats(msgspec.Struct, kw_only=True):
    """Frame counters since the router was created (a snapshot; not updated later).

    Every frame is counted in ``frames`` and in exactly one of ``routed``, ``ignored`` and
    the anomaly counters."""

    frames: int = 0
    #: Frames handed to at least one subscription.
    routed: int = 0
    #: Frames of a known topic and key that no live subscription wants (e.g. after a close).
    ignored: int = 0
    malformed: int = 0
    oversize: int = 0
    server_error: int = 0
    unknown_topic: int = 0
    unroutable: int = 0
    unattributed: int = 0
    #: Of ``routed``: frames without ``message`` that were routed by the shape of ``data``.
    routed_by_shape: int = 0


class _Route:
    """One topic's routing state on the current connection."""

    __slots__ = ("only", "server_keys", "sinks", "spec")

    def __init__(self, spec: TopicSpec) -> None:
        self.spec = spec
        #: route key -> live sinks.
        self.sinks: dict[str, list[Sink]] = {}
        #: Keys the server was asked to stream on this connection, in subscribe order.
        self.server_keys: dict[str, None] = {}
        #: The sinks to use without looking, when the server streams exactly one key.
        self.only: list[Sink] | None = None

    def refresh(self) -> None:
        only = None
        if len(self.server_keys) == 1:
            only = self.sinks.get(next(iter(self.server_keys))) or None
        self.only = only


def _address_key(value: str) -> str | None:
    if len(value) == 66 and value.islower():
        return value
    try:
        return normalize_address(value)
    except ValidationError:
        return None


def _market_key(value: object) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    return value if isinstance(value, str) else str(value)


#: ``data`` fields that identify a topic when a frame has no ``message``: first match wins;
#: several candidates remain only for trades (``trade_history`` vs ``recent_trades``).
_SHAPES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("is_ask", ("orderbook",)),
    ("funding_rate", ("live_funding_rate",)),
    ("is_deposit", ("deposit_withdraw_history",)),
    ("margin", ("positions",)),
    ("total_size", ("open_orders",)),
    ("status", ("order_history", "live_order_history")),
    ("fee", ("trade_history", "recent_trades", "live_trade_history")),
    ("best_bid_price", ("best_price",)),
)

_shape_decoder = msgspec.json.Decoder(list[_Shape] | _Shape)
_scalar_decoder = msgspec.json.Decoder(str | int | float | bool | None)

#: Kinds of anomaly, each a :class:`RouterStats` field.
ANOMALIES = ("malformed", "oversize", "server_error", "unknown_topic", "unroutable",
             "unattributed")


class Router:
    """Routes frames to sinks by (topic, key). Feed it frames with :meth:`feed`.

    ``on_anomaly(kind, excerpt)`` hears about every frame that was not delivered for a reason
    other than "nobody wants it"; ``on_unattributed(topic, keys)`` is told, in addition, which
    keys an undeliverable empty list may have belonged to. ``max_frame_bytes`` bounds a frame
    (characters for text frames, which are never shorter in bytes).
    """

    def __init__(
        self,
        on_anomaly: Callable[[str, str], None] | None = None,
        *,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        on_unattributed: Callable[[TopicSpec, list[str]], None] | None = None,
    ) -> None:
        if isinstance(max_frame_bytes, bool) or not isinstance(max_frame_bytes, int) \
                or max_frame_bytes < 1024:
            raise ValidationError("max_frame_bytes", "must be an integer >= 1024",
                                  max_frame_bytes)
        self._routes: dict[str, _Route] = {name: _Route(spec) for name, spec in TOPICS.items()}
        self._envelope = msgspec.json.Decoder(_Envelope).decode
        self._on_anomaly = on_anomaly
        self._on_unattributed = on_unattributed
        self._max_frame = max_frame_bytes
        self._stats = RouterStats()

    # -- registration ---------------------------------------------------------------------

    def add(self, sink: Sink, spec: TopicSpec, key: str) -> None:
        """Deliver frames of ``(spec, key)`` to ``sink`` from now on."""
        route = self._routes[spec.name]
        route.sinks.setdefault(key, []).append(sink)
        route.refresh()

    def remove(self, sink: Sink, spec: TopicSpec, key: str) -> None:
        """Stop delivering to ``sink``; unknown sinks are ignored."""
        route = self._routes[spec.name]
        sinks = route.sinks.get(key)
        if sinks is None or sink not in sinks:
            return
        if len(sinks) == 1:
            del route.sinks[key]
        else:
            # A new list, so a fan-out loop in progress is not disturbed.
            route.sinks[key] = [s for s in sinks if s is not sink]
        route.refresh()

    def is_streaming(self, spec: TopicSpec, key: str) -> bool:
        """True if the server was asked for ``(spec, key)`` on this connection."""
        return key in self._routes[spec.name].server_keys

    def streams_alone(self, spec: TopicSpec, key: str) -> bool:
        """True if ``key`` is the only key of ``spec`` the server streams on this connection
        (so even an empty list of that topic is certainly its own)."""
        keys = self._routes[spec.name].server_keys
        return len(keys) == 1 and key in keys

    def subscribed(self, spec: TopicSpec, key: str) -> None:
        """Record that a subscribe for ``(spec, key)`` went out on the current connection."""
        route = self._routes[spec.name]
        route.server_keys[key] = None
        route.refresh()

    def connection_reset(self) -> None:
        """A new connection: the server streams nothing until subscribes are sent again."""
        for route in self._routes.values():
            route.server_keys.clear()
            route.only = None

    def stats(self) -> RouterStats:
        return msgspec.structs.replace(self._stats)

    # -- the hot path ---------------------------------------------------------------------

    def feed(self, frame: bytes | bytearray | memoryview | str) -> None:
        """Route one frame. Never raises: whatever goes wrong (a decoder's RecursionError,
        text that is not valid Unicode, ...) counts the frame as malformed."""
        self._stats.frames += 1
        try:
            if type(frame) is not bytes:
                if len(frame) > self._max_frame:  # a character is at least one byte
                    self._anomaly("oversize", frame)
                    return
                # msgspec.Raw keeps a view: it must own its bytes. Text that is not valid
                # Unicode (a lone surrogate) fails here.
                frame = frame.encode() if isinstance(frame, str) else bytes(frame)
            if len(frame) > self._max_frame:
                self._anomaly("oversize", frame)
                return
            envelope = self._envelope(frame)
            topic = envelope.message
            route = self._routes.get(topic) if topic is not None else None
            data = envelope.data
            if route is None or not data:
                self._unmatched(envelope, frame)
                return
            only = route.only
            if only is not None:
                for sink in only:
                    sink.push(data)
                self._stats.routed += 1
                return
            self._route_by_key(route, data, frame)
        except Exception:
            self._anomaly("malformed", frame)

    def _deliver(self, sinks: list[Sink], data: msgspec.Raw) -> None:
        for sink in sinks:
            sink.push(data)
        self._stats.routed += 1

    def _route_by_key(self, route: _Route, data: msgspec.Raw, frame: bytes) -> bool:
        """Deliver by the key inside ``data``; ``True`` if some sink got it."""
        spec = route.spec
        if spec.key_decoder is None:  # unkeyed topic that nobody wants
            self._stats.ignored += 1
            return False
        try:
            view = spec.key_decoder.decode(data)
        except _DecodeErrors:
            self._anomaly("unroutable", frame)
            return False
        if spec.is_list:
            if not view:
                self._attribute_empty(route, frame)
                return False
            key = _common_key(view)
        else:
            key = _key_of(view)
        if key is None:
            self._anomaly("unroutable", frame)
            return False
        sinks = route.sinks.get(key)
        if not sinks:
            self._stats.ignored += 1
            return False
        self._deliver(sinks, data)
        return True

    def _call(self, hook: Callable[..., None] | None, *args: object) -> None:
        """A callback's failure must not turn one frame's outcome into two."""
        if hook is None:
            return
        try:
            hook(*args)
        except Exception:
            logger.warning("router callback %r raised", hook, exc_info=True)

    def _attribute_empty(self, route: _Route, frame: bytes) -> None:
        """An empty list names no key. It is delivered only when the server streams a
        single key of the topic (the fast path, before this is reached); with several, it
        may be any of them: the answer to a pending subscribe, or the update of a key that
        just became empty. Guessing could tell one account it has nothing open when it has,
        so it is reported instead, with the keys it may have belonged to. A topic nobody
        asked for on this connection has no such keys: that list is merely ignored."""
        if not route.server_keys:
            self._stats.ignored += 1
            return
        self._anomaly("unattributed", frame)
        self._call(self._on_unattributed, route.spec, list(route.server_keys))

    # -- frames that are not a plain topic message -----------------------------------------

    def _unmatched(self, envelope: _Envelope, frame: bytes) -> None:
        topic = envelope.message
        if topic == "error" or envelope.error:
            self._anomaly("server_error", frame)
        elif topic is not None and topic not in TOPICS:
            self._anomaly("unknown_topic", frame)
        elif topic is None and envelope.data:
            self._route_by_shape(envelope.data, frame)
        else:
            self._anomaly("unroutable", frame)

    def _route_by_shape(self, data: msgspec.Raw, frame: bytes) -> None:
        """A frame without ``message`` (a legacy print shows one): infer the topic from
        the fields of ``data``, among the topics that have subscriptions. Only the field
        names and the two keys are read; values stay raw."""
        try:
            shape = _shape_decoder.decode(data)
        except _DecodeErrors:
            self._anomaly("unroutable", frame)
            return
        rows = shape if isinstance(shape, list) else [shape]
        if not rows:
            self._anomaly("unroutable", frame)
            return
        first = rows[0]
        names = next((names for field, names in _SHAPES if getattr(first, field)), ())
        is_list = isinstance(shape, list)
        routes = [
            self._routes[name]
            for name in names
            if self._routes[name].spec.is_list == is_list and self._routes[name].sinks
        ]
        if len(routes) > 1:
            routes = _narrow_trades(routes, rows)
        if len(routes) != 1:
            self._anomaly("unroutable", frame)
            return
        route = routes[0]
        if route.only is not None:
            self._deliver(route.only, data)
        elif not self._route_by_key(route, data, frame):
            return
        self._stats.routed_by_shape += 1

    def _anomaly(self, kind: str, frame: bytes | bytearray | memoryview | str) -> None:
        setattr(self._stats, kind, getattr(self._stats, kind) + 1)
        if self._on_anomaly is not None:
            self._call(self._on_anomaly, kind, _excerpt(frame))


def _excerpt(frame: bytes | bytearray | memoryview | str) -> str:
    """The start of a frame as printable, valid text (never the whole of a huge frame)."""
    if isinstance(frame, str):
        return frame[:_DETAIL_CHARS].encode("utf-8", "replace").decode("utf-8")
    head = bytes(frame[: _DETAIL_CHARS * 4])
    return head.decode("utf-8", "replace")[:_DETAIL_CHARS]


def _key_of(view: object) -> str | None:
    """The route key of one decoded key view, or ``None`` if it has none."""
    if isinstance(view, MarketKey):
        return _market_key(view.market_id)
    address = getattr(view, "address", None)
    return _address_key(address) if isinstance(address, str) else None


_market_id_of = operator.attrgetter("market_id")
_address_of = operator.attrgetter("address")


def _common_key(views: list[Any]) -> str | None:
    """The key every element shares; ``None`` if one has none or two differ (a list that
    mixes accounts or markets is never handed to one of them)."""
    first = views[0]
    if isinstance(first, MarketKey):
        value: object = first.market_id
        if len(views) > 1:
            values = set(map(_market_id_of, views))  # C calls: no generator per element
            if len(values) > 1:
                # 1338 and "1338" are one key: compare what they mean.
                keys = {_market_key(v) for v in values}
                return keys.pop() if len(keys) == 1 else None
        return _market_key(value)
    value = first.address
    if len(views) > 1:
        addresses = set(map(_address_of, views))
        if len(addresses) > 1:
            keys = {_address_key(v) if isinstance(v, str) else None for v in addresses}
            return keys.pop() if len(keys) == 1 else None
    return _address_key(value) if isinstance(value, str) else None


def _raw_key(raw: bytes, kind: str) -> str | None:
    if not raw:
        return None
    try:
        value = _scalar_decoder.decode(raw)
    except _DecodeErrors:
        return None
    if kind == "address":
        return _address_key(value) if isinstance(value, str) else None
    return _market_key(value)


def _narrow_trades(routes: list[_Route], rows: list[_Shape]) -> list[_Route]:
    """``trade_history`` lists one trader's fills, ``recent_trades`` one market's: a list
    with several traders is market trades, one with several markets is a trader's fills;
    otherwise keep the topics whose subscribed key matches the rows."""
    addresses = {_raw_key(raw, "address") for raw in {bytes(row.address) for row in rows}}
    markets = {_raw_key(raw, "market_id") for raw in {bytes(row.market_id) for row in rows}}
    by_name = {route.spec.name: route for route in routes}
    if len(addresses) > 1 and "recent_trades" in by_name:
        return [by_name["recent_trades"]]
    if len(markets) > 1 and "trade_history" in by_name:
        return [by_name["trade_history"]]
    matching = []
    for route in routes:
        kind = route.spec.key
        if kind is None:
            continue
        key = next(iter(addresses if kind == "address" else markets))
        if key is not None and key in route.sinks:
            matching.append(route)
    return matching
