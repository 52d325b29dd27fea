"""JSON-RPC frames of the simulated gateway: requests in, replies and notifications out. Pure.

Every request is bounded before it is parsed: in bytes (``max_bytes``, 32 KB by default, like
Deribit) and in nesting (``max_depth``), the latter counted with a scan that never recurses, so
100,000 opening brackets cost one pass over the text and no stack. Parsing is :func:`.views.decode`
(exact numbers: ints and :class:`~decimal.Decimal`; ``NaN`` and ``Infinity`` are not JSON).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

import msgspec

from .errors import Code, PulseError
from .views import decode

__all__ = [
    "FrameError",
    "Request",
    "decode_json",
    "error_reply",
    "heartbeat",
    "nesting_depth",
    "notification",
    "parse_request",
    "reply",
]

RequestId = int | str | None

#: A JSON string literal (escapes included), removed before brackets are counted. An
#: unterminated one runs to the end of the text: without the optional closing quote, a text of
#: many ``"\\`` would make the search restart at every quote (quadratic time).
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"?', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


@dataclass(frozen=True, slots=True)
class Request:
    """One call: ``method`` as sent (leading slash and all), ``params`` an object."""

    id: RequestId
    method: str
    params: dict[str, Any]


class FrameError(Exception):
    """A frame refused before any method ran; ``request_id`` is the id it carried, if known."""

    def __init__(self, error: PulseError, request_id: RequestId = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.request_id = request_id


def nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in ``text`` (brackets in strings ignored)."""
    if text.count("[") + text.count("{") == 0:
        return 0
    stripped = _STRING.sub("", text) if '"' in text else text
    steps = (1 if b in "[{" else -1 for b in _BRACKET.findall(stripped))
    return max(accumulate(steps, initial=0))


def decode_json(data: str | bytes, *, max_depth: int) -> Any:
    """The JSON value in ``data``; :class:`PulseError` naming the nesting limit or the syntax
    error. The caller bounds the size."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise PulseError(Code.PARSE_ERROR, "a frame must be UTF-8 text") from None
    else:
        text = data
    if (text.count("[") + text.count("{")) > max_depth and nesting_depth(text) > max_depth:
        raise PulseError(Code.BAD_REQUEST,
                         f"JSON may nest at most {max_depth} arrays or objects deep")
    try:
        return decode(text)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
        raise PulseError(Code.PARSE_ERROR, f"not valid JSON: {_short(exc)}") from None


def _short(exc: BaseException) -> str:
    text = str(exc).split("\n", 1)[0]
    return text[:120]


def size_of(data: str | bytes) -> int:
    return len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))


def parse_request(data: str | bytes, *, max_bytes: int, max_depth: int) -> Request:
    """One JSON-RPC request object, or :class:`FrameError` naming the broken rule (with the
    request's id whenever it can be read, so that the caller's call fails at once)."""
    size = size_of(data)
    if size > max_bytes:
        too_large = PulseError(Code.REQUEST_TOO_LARGE,
                               f"a frame may hold at most {max_bytes} bytes (got {size})")
        try:
            request_id = request_of(decode_json(data, max_depth=max_depth)).id
        except (PulseError, FrameError):
            request_id = None
        raise FrameError(too_large, request_id)
    try:
        value = decode_json(data, max_depth=max_depth)
    except PulseError as exc:
        raise FrameError(exc) from None
    request = request_of(value)
    return request


def request_of(value: Any) -> Request:
    """The request a decoded frame holds, or :class:`FrameError` naming the rule it breaks."""
    if isinstance(value, list):
        raise FrameError(PulseError(Code.BAD_REQUEST, "batch requests are not supported; "
                                                      "send one JSON-RPC object per frame"))
    if not isinstance(value, dict):
        raise FrameError(PulseError(Code.BAD_REQUEST, "a request must be a JSON-RPC object"))
    request_id = value.get("id")
    if request_id is not None and (
        isinstance(request_id, bool) or not isinstance(request_id, (int, str))
    ):
        raise FrameError(PulseError(Code.BAD_REQUEST, "id must be an integer or a string"))
    if isinstance(request_id, str) and len(request_id) > 100:
        raise FrameError(PulseError(Code.BAD_REQUEST, "id may be at most 100 characters"))
    if "jsonrpc" in value and value["jsonrpc"] != "2.0":
        raise FrameError(PulseError(Code.BAD_REQUEST, 'jsonrpc must be "2.0"'), request_id)
    method = value.get("method")
    if not isinstance(method, str) or not method:
        raise FrameError(PulseError(Code.BAD_REQUEST, "method must be a non-empty string"),
                         request_id)
    params = value.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise FrameError(PulseError(Code.INVALID_PARAMS, "params must be an object",
                                    param="params"), request_id)
    return Request(request_id, method, params)


def reply(request_id: RequestId, result: Any, *, us_in: int | None = None,
          us_out: int | None = None) -> dict[str, Any]:
    """A success reply; ``usIn``/``usOut``/``usDiff`` (microseconds) when both times are given."""
    frame: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "result": result}
    if us_in is not None and us_out is not None:
        frame.update(usIn=us_in, usOut=us_out, usDiff=us_out - us_in)
    return frame


def error_reply(request_id: RequestId, error: PulseError, *,
                with_id: bool = True) -> dict[str, Any]:
    """An error reply; ``with_id=False`` leaves the ``id`` member out altogether."""
    frame: dict[str, Any] = {"jsonrpc": "2.0"}
    if with_id:
        frame["id"] = request_id
    frame["error"] = error.rpc_error()
    return frame


def notification(channel: str, data: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": "subscription",
            "params": {"channel": channel, "data": data}}


def heartbeat(kind: str) -> dict[str, Any]:
    """``heartbeat`` (nothing to answer) or ``test_request`` (answer with ``public/test``)."""
    return {"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": kind}}
