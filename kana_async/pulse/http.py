"""One Pulse call over HTTP (T2, T3, T5, T6, T8), on the SDK's HTTP seam (``_http``).

``public/auth`` is a GET with its params in the query; the other methods are POSTs whose body
is the JSON-RPC envelope or the bare params object, as the method table says; private calls
carry ``Authorization: Bearer``. A reply is unwrapped whether it is a wrapper or the bare
result. An order whose answer is not the gateway's own (no answer, a 5xx, a body no gateway
would send) is in doubt: ``unknown`` builds the error, never a second request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec
from yarl import URL

from .._http import ConnectFailed, HttpFailure, Request, Transport
from ..errors import AuthError, PulseRpcError, TransportError, UnknownOutcomeError
from . import frames

__all__ = ["BUSY", "HttpCaller"]

#: Deribit's too_many_requests; an HTTP 429 without the gateway's body is read as it.
BUSY = 10028

_encode = msgspec.json.Encoder(decimal_format="number").encode

#: ``(method, reason, label) -> the error`` of an order whose outcome is unknown.
Unknown = Callable[[str, str, "str | None"], UnknownOutcomeError]
#: ``(error reply) -> the error`` raised for it (redacted).
RpcError = Callable[[frames.ErrorReply], PulseRpcError]


class HttpCaller:
    """Sends one call to ``{base_url}/{method}`` and returns its raw result."""

    def __init__(self, transport: Transport, base_url: str, *, max_body: int,
                 redact: Callable[[str], str], unknown: Unknown, rpc_error: RpcError) -> None:
        self._transport = transport
        self._base = base_url
        self._max_body = max_body
        self._redact = redact
        self._unknown = unknown
        self._rpc_error = rpc_error
        self._next_id = 0
        #: Requests handed to the transport.
        self.requests = 0

    async def call(self, method: str, params: dict[str, Any], *, style: str,
                   bearer: str | None, order: bool, label: str | None,
                   deadline: float) -> Any:
        url = URL(f"{self._base}/{method}")
        headers = {"Accept": "application/json"}
        body: bytes | None = None
        verb = "POST"
        if style == "query":
            verb = "GET"
            url = url.with_query({key: _query_value(value) for key, value in params.items()})
        elif style == "envelope":
            self._next_id += 1
            body = _encode({"jsonrpc": "2.0", "id": self._next_id, "method": method,
                            "params": params})
        else:
            body = _encode(params)
        if body is not None:
            headers["Content-Type"] = "application/json"
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        left = max(deadline - asyncio.get_running_loop().time(), 0.001)
        self.requests += 1
        try:
            response = await self._transport.handle(Request(verb, url, headers, body),
                                                    timeout=left, max_body=self._max_body)
        except HttpFailure as exc:
            detail = self._redact(str(exc))
            if order and not isinstance(exc, ConnectFailed):  # a byte may have left
                raise self._unknown(method, f"over HTTP: {detail}", label) from None
            raise TransportError(f"{method} over HTTP: {detail}") from None
        except asyncio.CancelledError:
            if order:
                self._unknown(method, "the caller cancelled it while it was sent", label)
            raise
        status = response.status
        reply = frames.unwrap_http(response.body, status=status, max_bytes=self._max_body)
        if isinstance(reply, frames.ErrorReply):
            raise self._rpc_error(reply)  # the gateway's own refusal: not executed
        if isinstance(reply, frames.Reply):
            return reply.result
        text = self._redact(reply.excerpt)
        if order:  # no proof either way
            raise self._unknown(method, f"over HTTP: answered {status} ({text})", label)
        if status in (401, 403):
            raise AuthError(method, text, status=status)
        if status == 429:
            raise PulseRpcError(BUSY, f"HTTP 429: {text}")
        if status >= 500 or status < 300:
            raise TransportError(f"{method} over HTTP: status {status}: {text}",
                                 status=status)
        raise PulseRpcError(status, text)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, Decimal)):
        return str(value)
    return _encode(value).decode()
