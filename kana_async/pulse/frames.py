"""Classify inbound Pulse JSON-RPC frames without building their payloads. Pure and total.

Only the envelope is decoded (``jsonrpc``, ``id``, ``method``, ``params.channel``,
``params.type``); ``result``, ``error.data`` and ``params.data`` stay :class:`msgspec.Raw` for
the typed decode of whoever consumes them. Every input gives exactly one of:

- :class:`Reply` ``(id, result)``: a success reply;
- :class:`ErrorReply` ``(id | None, code, message, data)``: a JSON-RPC error; ``id`` None when
  the frame carries no id or ``"id": null`` (T6: counted, never attributed to a call);
- :class:`Notification` ``(channel, data)``: a ``subscription`` frame, routed by channel (S4);
- :class:`Heartbeat` ``(type)``: ``heartbeat`` or ``test_request`` (answer the latter at once);
- :class:`Bad` ``(kind, excerpt)``: ``oversize`` (refused before decoding), ``malformed`` (not
  UTF-8 JSON, not an object, a field of the wrong type), ``too_deep`` (nested deeper than the
  decoder's limit: msgspec refuses it after reading ~1,000 levels, so 100,000 opening brackets
  cost microseconds and no stack), ``unrecognized`` (an object that is none of the above).

:func:`unwrap_http` reads an HTTP body the same way (T5: a ``{jsonrpc, result|error}`` wrapper
is unwrapped, anything else is the bare result; a 400 ``connection.Message`` is an error, T6).
:class:`FrameStats` counts outcomes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import msgspec

__all__ = [
    "DEFAULT_MAX_FRAME_BYTES",
    "Bad",
    "BadKind",
    "ErrorReply",
    "Frame",
    "FrameStats",
    "Heartbeat",
    "Notification",
    "Reply",
    "classify",
    "excerpt",
    "unwrap_http",
]

#: The default bound of one inbound frame or HTTP body.
DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024
#: How much of a bad frame is kept for a log line (characters).
EXCERPT_CHARS = 200

RequestId = int | str
_T = TypeVar("_T")
BadKind = Literal["oversize", "malformed", "too_deep", "unrecognized", "http_status"]
HeartbeatType = Literal["heartbeat", "test_request"]


@dataclass(frozen=True, slots=True)
class Reply:
    """A success reply; ``id`` None for an HTTP body (matched by its request, not by id)."""

    id: RequestId | None
    result: msgspec.Raw


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """A JSON-RPC error (or an HTTP 400 ``connection.Message``); ``data`` raw (empty when
    absent)."""

    id: RequestId | None
    code: int
    message: str
    data: msgspec.Raw


@dataclass(frozen=True, slots=True)
class Notification:
    channel: str
    data: msgspec.Raw


@dataclass(frozen=True, slots=True)
class Heartbeat:
    type: HeartbeatType


@dataclass(frozen=True, slots=True)
class Bad:
    """A frame that is dropped and counted (S7); ``excerpt`` is its start, for a log line."""

    kind: BadKind
    excerpt: str


Frame = Reply | ErrorReply | Notification | Heartbeat | Bad


class _Params(msgspec.Struct, gc=False):
    channel: str | None = None
    # Raw: only a heartbeat's ``type`` is read, a notification's may be anything.
    type: msgspec.Raw = msgspec.Raw()
    data: msgspec.Raw = msgspec.Raw()


class _Error(msgspec.Struct, gc=False):
    code: int
    message: str = ""
    data: msgspec.Raw = msgspec.Raw()


class _Envelope(msgspec.Struct, gc=False):
    jsonrpc: msgspec.Raw = msgspec.Raw()
    id: int | str | None = None
    method: str | None = None
    params: _Params | None = None
    result: msgspec.Raw = msgspec.Raw()
    error: _Error | None = None


class _HttpBody(msgspec.Struct, gc=False):
    """What :func:`unwrap_http` reads of a body: every field raw, because a bare result may
    use these names with any type (an order's ``status`` text, say)."""

    jsonrpc: msgspec.Raw = msgspec.Raw()
    id: msgspec.Raw = msgspec.Raw()
    result: msgspec.Raw = msgspec.Raw()
    error: msgspec.Raw = msgspec.Raw()
    # Deribit's HTTP 400 body, ``connection.Message``.
    description: msgspec.Raw = msgspec.Raw()
    status: msgspec.Raw = msgspec.Raw()
    response: msgspec.Raw = msgspec.Raw()


_decode_envelope = msgspec.json.Decoder(_Envelope).decode
_decode_body = msgspec.json.Decoder(_HttpBody).decode
_decode_error = msgspec.json.Decoder(_Error).decode
_decode_id = msgspec.json.Decoder(int | str | None).decode
_decode_text = msgspec.json.Decoder(str).decode
_decode_int = msgspec.json.Decoder(int).decode
_DecodeErrors = (msgspec.DecodeError, msgspec.ValidationError)


def excerpt(frame: bytes | str, limit: int = EXCERPT_CHARS) -> str:
    """The start of a frame as text (undecodable bytes replaced), for a log line."""
    head = frame[: limit * 4] if isinstance(frame, bytes) else frame[:limit]
    text = head.decode("utf-8", "replace") if isinstance(head, bytes) else head
    return text[:limit]


def _envelope(frame: bytes | str, max_bytes: int,
              decode: Callable[[bytes | str], _T]) -> _T | Bad:
    if not isinstance(frame, (bytes, str)):
        return Bad("malformed", f"a frame must be bytes or text (got a {type(frame).__name__})")
    size = len(frame)
    if isinstance(frame, str) and max_bytes < size * 4:
        # A character is 1-4 UTF-8 bytes: encode only when the count alone cannot tell.
        size = size if size > max_bytes else len(frame.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        return Bad("oversize", f"{size} bytes, more than {max_bytes}: " + excerpt(frame, 80))
    try:
        # msgspec.Raw must own its bytes: a str input is encoded into a fresh buffer anyway.
        return decode(frame)
    except RecursionError:
        return Bad("too_deep", excerpt(frame, 80))
    except _DecodeErrors as exc:
        return Bad("malformed", f"{_first_line(exc)}: {excerpt(frame, 120)}")
    except (UnicodeError, ValueError, TypeError, OverflowError) as exc:
        return Bad("malformed", f"{_first_line(exc)}: {excerpt(frame, 120)}")


def _first_line(exc: BaseException) -> str:
    return str(exc).split("\n", 1)[0][:120]


def classify(frame: bytes | str, *, max_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> Frame:
    """What one WebSocket frame is. Never raises."""
    env = _envelope(frame, max_bytes, _decode_envelope)
    if isinstance(env, Bad):
        return env
    if env.error is not None:
        if env.result:
            return Bad("malformed", "a reply holds both result and error: " + excerpt(frame))
        err = env.error
        return ErrorReply(env.id, err.code, err.message, err.data)
    if env.method is not None:
        return _message(env, frame)
    if env.result:
        if env.id is None:
            return Bad("unrecognized", "a result without an id: " + excerpt(frame))
        return Reply(env.id, env.result)
    return Bad("unrecognized", "neither a reply, an error nor a notification: "
               + excerpt(frame))


def _message(env: _Envelope, frame: bytes | str) -> Frame:
    params = env.params
    if env.method == "subscription":
        if params is None or not params.channel:
            return Bad("unrecognized", "a subscription frame without params.channel: "
                       + excerpt(frame))
        if not params.data:
            return Bad("unrecognized", "a subscription frame without params.data: "
                       + excerpt(frame))
        return Notification(params.channel, params.data)
    if env.method == "heartbeat":
        kind = bytes(params.type) if params is not None else b""
        if kind == b'"test_request"':
            return Heartbeat("test_request")
        if kind == b'"heartbeat"':
            return Heartbeat("heartbeat")
        return Bad("unrecognized", "a heartbeat whose params.type is neither heartbeat nor "
                   "test_request: " + excerpt(frame))
    return Bad("unrecognized", f"unknown method: {excerpt(env.method or '', 60)}")


def unwrap_http(body: bytes | str, *, status: int = 200,
                max_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> Reply | ErrorReply | Bad:
    """What an HTTP reply body means (T5, T6). Never raises.

    A JSON object holding ``jsonrpc`` and ``result`` or ``error`` is a wrapper and is
    unwrapped, at any status. Otherwise, on a 2xx status the whole body is the bare result
    (``Reply(None, body)``); on 400 a ``connection.Message`` is an :class:`ErrorReply` with
    ``code`` its ``status`` (the HTTP status when absent), ``message`` its ``description``,
    ``data`` its ``response``. Anything else is :class:`Bad`: ``malformed`` for a 2xx body
    that is not JSON, ``http_status`` for a non-2xx reply that says nothing readable (the
    caller decides what that status means).
    """
    ok = 200 <= status < 300
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    env = _envelope(raw, max_bytes, _decode_body)
    if isinstance(env, Bad):
        if env.kind == "malformed" and _is_json(raw):
            # Valid JSON that is not an object: a bare scalar or array result.
            return Reply(None, msgspec.Raw(raw)) if ok else Bad("http_status", f"HTTP {status}: "
                                                               + excerpt(raw))
        return env if ok or env.kind != "malformed" else Bad("http_status", f"HTTP {status}: "
                                                            + excerpt(raw))
    try:
        if env.jsonrpc and (env.error or env.result):
            request_id = _decode_id(env.id) if env.id else None
            if env.error:
                if env.result:
                    return Bad("malformed", "a reply holds both result and error: "
                               + excerpt(raw))
                err = _decode_error(env.error)
                return ErrorReply(request_id, err.code, err.message, err.data)
            if ok:
                return Reply(request_id, env.result)
        if ok:
            return Reply(None, msgspec.Raw(raw))
        if status == 400 and env.description:
            sent = bytes(env.status)
            code = status if sent in (b"", b"null") else _decode_int(sent)
            return ErrorReply(None, code, _decode_text(env.description), env.response)
    except (*_DecodeErrors, RecursionError) as exc:
        return Bad("malformed", f"{_first_line(exc)}: {excerpt(raw, 120)}")
    return Bad("http_status", f"HTTP {status}: {excerpt(raw)}")


def _is_json(body: bytes) -> bool:
    try:
        _decode_any(body)
    except (*_DecodeErrors, RecursionError):
        return False
    return True


_decode_any: Callable[[bytes], Any] = msgspec.json.Decoder(msgspec.Raw).decode


@dataclass(slots=True)
class FrameStats:
    """Counters of one connection's inbound frames: each frame counted once in ``frames``
    and once in the field of its outcome; ``unknown_id`` and ``unrouted`` are counted by the
    caller (a reply no call waits for, a notification no subscription wants)."""

    frames: int = 0
    replies: int = 0
    errors: int = 0
    idless_errors: int = 0
    notifications: int = 0
    heartbeats: int = 0
    test_requests: int = 0
    malformed: int = 0
    too_deep: int = 0
    oversize: int = 0
    unrecognized: int = 0
    unknown_id: int = 0
    unrouted: int = 0

    def count(self, frame: Frame) -> Frame:
        """Count ``frame``'s outcome; returns it, so ``stats.count(classify(data))`` reads."""
        self.frames += 1
        if isinstance(frame, Notification):
            self.notifications += 1
        elif isinstance(frame, Reply):
            self.replies += 1
        elif isinstance(frame, ErrorReply):
            if frame.id is None:
                self.idless_errors += 1
            else:
                self.errors += 1
        elif isinstance(frame, Heartbeat):
            if frame.type == "test_request":
                self.test_requests += 1
            else:
                self.heartbeats += 1
        elif frame.kind == "oversize":
            self.oversize += 1
        elif frame.kind == "too_deep":
            self.too_deep += 1
        elif frame.kind == "unrecognized":
            self.unrecognized += 1
        else:
            self.malformed += 1
        return frame

    @property
    def bad(self) -> int:
        """Frames dropped for their shape (S7)."""
        return self.malformed + self.too_deep + self.oversize + self.unrecognized
