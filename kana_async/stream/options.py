"""The stream multiplexer's settings: :class:`StreamOptions` (one frozen value, checked when it
is made) and :class:`StreamHooks` (observability callbacks). ``KanaClient(..., stream=...)``
takes either the object or a mapping of its field names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..errors import ValidationError
from .connection import ReconnectPolicy
from .router import DEFAULT_MAX_FRAME_BYTES
from .subscription import DEFAULT_BUFFER_BYTES
from .topics import topic_spec
from .transport import TRANSPORTS

__all__ = ["DEFAULT_WATCHDOG", "StreamHooks", "StreamOptions"]


@dataclass(frozen=True)
class StreamHooks:
    """Optional callbacks for observability. They run synchronously in the event loop and
    must be quick; an exception in a hook is logged and otherwise ignored."""

    #: ``(url)``: a socket opened.
    on_connected: Callable[[str], None] | None = None
    #: ``(reason)``: the socket ended.
    on_disconnected: Callable[[str], None] | None = None
    #: ``(attempt, delay)``: the next connect is in ``delay`` seconds.
    on_reconnecting: Callable[[int, float], None] | None = None
    #: ``(count)``: after a reconnect, ``count`` subscriptions were sent again.
    on_resubscribed: Callable[[int], None] | None = None
    #: ``(topic, key, error)``: a payload could not be decoded; it was skipped.
    on_decode_error: Callable[[str, str, Exception], None] | None = None
    #: ``(topic, key, capacity)``: a slow consumer's buffer started dropping its oldest items.
    on_dropped: Callable[[str, str, int], None] | None = None
    #: ``(kind, frame excerpt)``: a frame the router could not deliver (see ``router``).
    on_anomaly: Callable[[str, str], None] | None = None
    #: ``(topic, key, action)``: the watchdog found a silent topic; action is
    #: ``"resubscribe"`` or ``"reconnect"`` (at once for the ``live_*`` event topics).
    on_watchdog: Callable[[str, str, str], None] | None = None


#: Topics that are busy by nature, and the seconds of silence after which a key of one is
#: asked again (and its socket replaced if that brings nothing either).
DEFAULT_WATCHDOG: Mapping[str, float] = MappingProxyType({"orderbook": 30.0})


def _seconds(name: str, value: object, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0 < value < float("inf"):
        rule = "must be None or a finite number of seconds > 0" if allow_none else \
            "must be a finite number of seconds > 0"
        raise ValidationError(name, rule, value)


@dataclass(frozen=True, kw_only=True)
class StreamOptions:
    """Every setting of the stream multiplexer (``KanaClient(..., stream=...)`` takes this or
    a mapping of the same names).

    Liveness with the defaults: a socket whose pong does not answer our ping within
    ``heartbeat + pong_timeout`` (30 s) is replaced, whatever else it sends; a subscribed key
    of a ``watchdog`` topic that says nothing for its seconds is asked again, and its socket
    is replaced if another period passes in silence. Both are logged at WARNING.

    A value that breaks its rule raises :class:`~kana_async.ValidationError` naming the field
    when the options are made (so at ``KanaClient(...)``, before anything opens).
    """

    #: Seconds between our pings (``None``: no ping).
    heartbeat: float | None = 20.0
    #: Seconds our ping's pong may take before the socket is replaced (``None``: half of
    #: ``heartbeat``, 10 s by default).
    pong_timeout: float | None = None
    #: Topic -> seconds of silence before the watchdog acts; also each subscription's
    #: ``stale_after``. ``{}`` turns it off.
    watchdog: Mapping[str, float] = field(default_factory=lambda: DEFAULT_WATCHDOG)
    hooks: StreamHooks = field(default_factory=lambda: StreamHooks())
    reconnect: ReconnectPolicy = field(default_factory=ReconnectPolicy)
    #: Seconds between two subscribe messages (paced, e.g. after a reconnect).
    send_interval: float = 0.01
    #: Items an error-policy buffer holds (per subscription unless given to ``subscribe``).
    buffer_size: int = 1024
    #: Bytes an error-policy buffer holds.
    buffer_bytes: int = DEFAULT_BUFFER_BYTES
    #: Larger frames are refused (counted as ``oversize``; aiohttp ends such a socket).
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    #: Seconds the opening handshake may take.
    connect_timeout: float = 10.0
    #: Seconds between two warnings about the same connection failure.
    warn_interval: float = 60.0
    #: The WebSocket library when no ``connector`` is given: ``"aiohttp"`` or ``"picows"``
    #: (the ``fast`` extra; see :class:`~kana_async.stream.transport.PicowsConnector`).
    transport: str = "aiohttp"

    def __post_init__(self) -> None:
        _seconds("heartbeat", self.heartbeat, allow_none=True)
        _seconds("pong_timeout", self.pong_timeout, allow_none=True)
        _seconds("connect_timeout", self.connect_timeout)
        _seconds("warn_interval", self.warn_interval)
        if isinstance(self.send_interval, bool) or not isinstance(
                self.send_interval, (int, float)) or not 0 <= self.send_interval < 60:
            raise ValidationError("send_interval", "must be >= 0 seconds", self.send_interval)
        check_buffer_size(self.buffer_size)
        for name, value, low in (("buffer_bytes", self.buffer_bytes, 1024),
                                 ("max_frame_bytes", self.max_frame_bytes, 1024)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValidationError(name, f"must be an integer >= {low}", value)
        if not isinstance(self.watchdog, Mapping):
            raise ValidationError("watchdog", "must be a mapping of topic to seconds")
        for topic, seconds in self.watchdog.items():
            topic_spec(topic)
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
                    or not 0 < seconds < float("inf"):
                raise ValidationError("watchdog", f"seconds for {topic} must be > 0", seconds)
        if self.transport not in TRANSPORTS:
            raise ValidationError("transport", "must be 'aiohttp' or 'picows'", self.transport)
        if not isinstance(self.hooks, StreamHooks):
            raise ValidationError("hooks", "must be a StreamHooks")
        if not isinstance(self.reconnect, ReconnectPolicy):
            raise ValidationError("reconnect", "must be a ReconnectPolicy")

    @classmethod
    def coerce(cls, value: StreamOptions | Mapping[str, Any] | None = None,
               **overrides: Any) -> StreamOptions:
        """Options from an object, a mapping or nothing (the defaults), then ``overrides``.
        In a mapping, ``hooks`` and ``reconnect`` may be mappings too; ``watchdog=None``
        turns the watchdog off."""
        if value is None:
            base: dict[str, Any] = {}
        elif isinstance(value, StreamOptions):
            base = {f.name: getattr(value, f.name) for f in dataclasses.fields(cls)}
        elif isinstance(value, Mapping):
            base = dict(value)
        else:
            raise ValidationError("stream", "must be a StreamOptions or a mapping of its fields")
        base.update(overrides)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(str(name) for name in set(base) - known)
        if unknown:
            raise ValidationError(
                "stream", f"unknown option(s) {', '.join(unknown)}; known: "
                f"{', '.join(sorted(known))}")
        if "watchdog" in base and base["watchdog"] is None:
            base["watchdog"] = {}
        for name, kind in (("hooks", StreamHooks), ("reconnect", ReconnectPolicy)):
            given = base.get(name)
            if given is None:
                base.pop(name, None)
            elif isinstance(given, Mapping):
                fields = {f.name for f in dataclasses.fields(kind)}
                unknown = sorted(str(key) for key in set(given) - fields)
                if unknown:
                    raise ValidationError(
                        name, f"unknown field(s) {', '.join(unknown)}; known: "
                        f"{', '.join(sorted(fields))}")
                base[name] = kind(**given)
        if isinstance(base.get("watchdog"), Mapping):
            base["watchdog"] = MappingProxyType(dict(base["watchdog"]))
        return cls(**base)


def check_buffer_size(value: object) -> int:
    """``value`` if it is a valid item bound of an event subscription's buffer."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1_000_000:
        raise ValidationError("buffer_size", "must be an integer from 1 to 1000000", value)
    return value
