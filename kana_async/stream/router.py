"""Frame routing: bytes in, raw payloads handed to the right subscriptions. No I/O.

Only the envelope is decoded here (``message`` plus ``data`` kept as ``msgspec.Raw``); the typed
decode happens when a consumer reads, so a snapshot that conflation supersedes is never decoded.

Kana puts the routing key inside ``data`` (each element's ``address`` or ``market_id``), not in
the envelope. While the server streams a single key of a topic on this connection, frames of
that topic go to its subscriptions without looking; with several keys, a key-only view of
``data`` is decoded (msgspec skips every other field) and the first element's key names the
frame (the server sends each subscription its own list). No unsubscribe message exists, so a key
stays "streaming" until the connection ends even after its last subscription closed; that is
why the fast path depends on what the server was asked for, not on what is still wanted.

Anomalies never raise: they are counted (in the :class:`RouterStats` field of the same name)
and reported through ``on_anomaly(kind, detail)``:

- ``malformed``: not JSON, or not an object;
- ``server_error``: ``{"message": "error", ...}`` or an ``error`` field;
- ``unknown_topic``: a ``message`` that names no known topic;
- ``unroutable``: no ``message`` and a shape that matches no subscribed topic unambiguously,
  or a ``data`` whose key cannot be read;
- ``unattributed``: an empty list for a topic streaming several keys that no pending
  subscription explains (see :meth:`Router._attribute_empty`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import msgspec

from ..errors import ValidationError
from ..models import normalize_address
from .topics import TOPICS, MarketKey, TopicSpec

__all__ = ["Router", "RouterStats", "Sink"]

#: How much of an anomalous frame a hook sees.
_DETAIL_CHARS = 200

_DecodeErrors = (msgspec.DecodeError, msgspec.ValidationError)


class Sink(Protocol):
    """Whatever receives a topic's raw payloads (a Subscription, or a test double)."""

    def push(self, payload: msgspec.Raw) -> None: ...


class _Envelope(msgspec.Struct, gc=False):
    message: str | None = None
    data: msgspec.Raw = msgspec.Raw()
    error: msgspec.Raw = msgspec.Raw()


class RouterStats(msgspec.Struct, kw_only=True):
    """Frame counters since the router was created (a snapshot; not updated later)."""

    frames: int = 0
    #: Frames of a known topic and key that no live subscription wants (e.g. after a close).
    ignored: int = 0
    malformed: int = 0
    server_error: int = 0
    unknown_topic: int = 0
    unroutable: int = 0
    unattributed: int = 0
    #: Frames without ``message`` that were routed by the shape of ``data``.
    routed_by_shape: int = 0


class _Route:
    """One topic's routing state on the current connection."""

    __slots__ = ("only", "pending", "server_keys", "sinks", "spec")

    def __init__(self, spec: TopicSpec) -> None:
        self.spec = spec
        #: route key -> live sinks.
        self.sinks: dict[str, list[Sink]] = {}
        #: Keys the server was asked to stream on this connection, in subscribe order.
        self.server_keys: dict[str, None] = {}
        #: Keys subscribed on this connection that have not been answered yet (FIFO).
        self.pending: list[str] = []
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


def _key_of(view: Any) -> str | None:
    """The route key of one decoded key view, or ``None`` if it has none."""
    if isinstance(view, MarketKey):
        value = view.market_id
        if value is None or isinstance(value, bool):
            return None
        return value if isinstance(value, str) else str(value)
    address = view.address
    return None if address is None else _address_key(address)


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
)

_shape_decoder = msgspec.json.Decoder(list[dict[str, Any]] | dict[str, Any])


class Router:
    """Routes frames to sinks by (topic, key). Feed it frames with :meth:`feed`."""

    def __init__(self, on_anomaly: Callable[[str, str], None] | None = None) -> None:
        self._routes: dict[str, _Route] = {name: _Route(spec) for name, spec in TOPICS.items()}
        self._envelope = msgspec.json.Decoder(_Envelope).decode
        self._on_anomaly = on_anomaly
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

    def subscribed(self, spec: TopicSpec, key: str) -> None:
        """Record that a subscribe for ``(spec, key)`` went out on the current connection."""
        route = self._routes[spec.name]
        route.server_keys[key] = None
        route.pending.append(key)
        route.refresh()

    def connection_reset(self) -> None:
        """A new connection: the server streams nothing until subscribes are sent again."""
        for route in self._routes.values():
            route.server_keys.clear()
            route.pending.clear()
            route.only = None

    def live_keys(self) -> list[tuple[TopicSpec, str]]:
        """Every (topic, key) that has a live sink, in subscription order."""
        return [(r.spec, key) for r in self._routes.values() for key in r.sinks]

    def stats(self) -> RouterStats:
        return msgspec.structs.replace(self._stats)

    # -- the hot path ---------------------------------------------------------------------

    def feed(self, frame: bytes | bytearray | memoryview | str) -> None:
        """Route one frame. Never raises."""
        self._stats.frames += 1
        if not isinstance(frame, (bytes, str)):
            frame = bytes(frame)  # msgspec.Raw keeps a view: it must own its bytes.
        try:
            envelope = self._envelope(frame)
        except _DecodeErrors:
            self._anomaly("malformed", frame)
            return
        topic = envelope.message
        route = self._routes.get(topic) if topic is not None else None
        data = envelope.data
        if route is None or not data:
            self._unmatched(envelope, frame)
            return
        only = route.only
        if only is not None:
            if route.pending:
                route.pending.clear()
            for sink in only:
                sink.push(data)
            return
        self._route_by_key(route, data, frame)

    def _route_by_key(self, route: _Route, data: msgspec.Raw, frame: bytes | str) -> None:
        spec = route.spec
        if spec.key_decoder is None:  # unkeyed topic that nobody wants
            self._stats.ignored += 1
            return
        try:
            view = spec.key_decoder.decode(data)
        except _DecodeErrors:
            self._anomaly("unroutable", frame)
            return
        if spec.is_list:
            if not view:
                self._attribute_empty(route, data, frame)
                return
            view = view[0]
        key = _key_of(view)
        if key is None:
            self._anomaly("unroutable", frame)
            return
        sinks = route.sinks.get(key)
        if route.pending and key in route.pending:
            route.pending.remove(key)
        if not sinks:
            self._stats.ignored += 1
            return
        for sink in sinks:
            sink.push(data)

    def _attribute_empty(self, route: _Route, data: msgspec.Raw, frame: bytes | str) -> None:
        """An empty list names no key. The server answers each subscribe with a snapshot,
        in order, so an empty list goes to the oldest subscription not answered yet; when
        none is pending it cannot be attributed and is reported instead of guessed."""
        if not route.pending:
            self._anomaly("unattributed", frame)
            return
        key = route.pending.pop(0)
        for sink in route.sinks.get(key, ()):
            sink.push(data)

    # -- frames that are not a plain topic message -----------------------------------------

    def _unmatched(self, envelope: _Envelope, frame: bytes | str) -> None:
        topic = envelope.message
        if topic == "error" or envelope.error:
            self._anomaly("server_error", frame)
        elif topic is not None and topic not in TOPICS:
            self._anomaly("unknown_topic", frame)
        elif topic is None and envelope.data:
            self._route_by_shape(envelope.data, frame)
        else:
            self._anomaly("unroutable", frame)

    def _route_by_shape(self, data: msgspec.Raw, frame: bytes | str) -> None:
        """A frame without ``message`` (a legacy print shows one): infer the topic from
        the fields of ``data``, among the topics that have subscriptions."""
        try:
            shape = _shape_decoder.decode(data)
        except _DecodeErrors:
            self._anomaly("unroutable", frame)
            return
        is_list = isinstance(shape, list)
        first: object = (shape[0] if shape else None) if isinstance(shape, list) else shape
        if not isinstance(first, dict) or not first:
            self._anomaly("unroutable", frame)
            return
        names = next((names for field, names in _SHAPES if field in first), ())
        routes = [
            self._routes[name]
            for name in names
            if self._routes[name].spec.is_list == is_list and self._routes[name].sinks
        ]
        if len(routes) > 1 and isinstance(shape, list):
            routes = _narrow_trades(routes, shape)
        if len(routes) != 1:
            self._anomaly("unroutable", frame)
            return
        self._stats.routed_by_shape += 1
        route = routes[0]
        if route.only is not None:
            for sink in route.only:
                sink.push(data)
        else:
            self._route_by_key(route, data, frame)

    def _anomaly(self, kind: str, frame: bytes | str) -> None:
        setattr(self._stats, kind, getattr(self._stats, kind) + 1)
        if self._on_anomaly is not None:
            text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
            self._on_anomaly(kind, text[:_DETAIL_CHARS])


def _narrow_trades(routes: list[_Route], rows: list[dict[str, Any]]) -> list[_Route]:
    """``trade_history`` lists one trader's fills, ``recent_trades`` one market's: a list
    with several traders is market trades, one with several markets is a trader's fills;
    otherwise keep the topics whose subscribed key matches the rows."""
    addresses = {str(row.get("address")) for row in rows}
    markets = {str(row.get("market_id")) for row in rows}
    by_name = {route.spec.name: route for route in routes}
    if len(addresses) > 1 and "recent_trades" in by_name:
        return [by_name["recent_trades"]]
    if len(markets) > 1 and "trade_history" in by_name:
        return [by_name["trade_history"]]
    matching = []
    for route in routes:
        key = rows[0].get(route.spec.key) if route.spec.key else None
        if isinstance(key, str) and route.spec.key == "address":
            key = _address_key(key)
        if key is not None and str(key) in route.sinks:
            matching.append(route)
    return matching
