"""The gateway's one error type and the Deribit error codes it answers with.

The Pulse document defines no error codes (only HTTP 400 ``connection.Message`` with an integer
``status``); the simulator uses Deribit's long-standing v2 table, which Pulse follows elsewhere.
Every layer of the gateway (engine, auth, parameter checks) raises :class:`PulseError`; the
server writes it as a JSON-RPC ``error`` object on WebSocket and as HTTP 400 on HTTP.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

__all__ = ["Code", "PulseError"]


class Code(IntEnum):
    """Deribit's error codes used by the simulated gateway (name = Deribit's message)."""

    AUTHORIZATION_REQUIRED = 10000
    ERROR = 10001
    QTY_TOO_LOW = 10002
    ORDER_OVERLAP = 10003  # self-trade: the taker would meet an order of its own account
    ORDER_NOT_FOUND = 10004
    NOT_ENOUGH_FUNDS = 10009
    ALREADY_CLOSED = 10010
    PRICE_NOT_ALLOWED = 10011
    INVALID_OR_UNSUPPORTED_INSTRUMENT = 10020
    INVALID_AMOUNT = 10021
    INVALID_PRICE = 10023
    INVALID_MAX_SHOW = 10024
    INVALID_ORDER_ID = 10025
    TOO_MANY_REQUESTS = 10028
    NOT_OWNER_OF_ORDER = 10029
    MUST_BE_WEBSOCKET_REQUEST = 10030
    PRICE_WRONG_TICK = 10043
    INVALID_ARGUMENTS = 11029
    NOT_OPEN_ORDER = 11044
    BAD_REQUEST = 11050
    INVALID_CREDENTIALS = 13004
    UNAUTHORIZED = 13009
    VALUE_REQUIRED = 13010
    NOT_FOUND = 13020
    FORBIDDEN = 13021
    MMP_TRIGGER = 13030
    COD_NOT_ENABLED = 13042
    QUOTES_FROZEN = 13043
    REQUEST_TOO_LARGE = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    PARSE_ERROR = -32700
    MISSING_PARAMS = -32000


#: The message Deribit sends with each code; a :class:`PulseError` adds the reason as ``data``.
MESSAGES: dict[Code, str] = {
    Code.AUTHORIZATION_REQUIRED: "authorization_required",
    Code.ERROR: "error",
    Code.QTY_TOO_LOW: "qty_too_low",
    Code.ORDER_OVERLAP: "order_overlap",
    Code.ORDER_NOT_FOUND: "order_not_found",
    Code.NOT_ENOUGH_FUNDS: "not_enough_funds",
    Code.ALREADY_CLOSED: "already_closed",
    Code.PRICE_NOT_ALLOWED: "price_not_allowed",
    Code.INVALID_OR_UNSUPPORTED_INSTRUMENT: "invalid_or_unsupported_instrument",
    Code.INVALID_AMOUNT: "invalid_amount",
    Code.INVALID_PRICE: "invalid_price",
    Code.INVALID_MAX_SHOW: "invalid_max_show",
    Code.INVALID_ORDER_ID: "invalid_order_id",
    Code.TOO_MANY_REQUESTS: "too_many_requests",
    Code.NOT_OWNER_OF_ORDER: "not_owner_of_order",
    Code.MUST_BE_WEBSOCKET_REQUEST: "must_be_websocket_request",
    Code.PRICE_WRONG_TICK: "price_wrong_tick",
    Code.INVALID_ARGUMENTS: "invalid_arguments",
    Code.NOT_OPEN_ORDER: "not_open_order",
    Code.BAD_REQUEST: "bad_request",
    Code.INVALID_CREDENTIALS: "invalid_credentials",
    Code.UNAUTHORIZED: "unauthorized",
    Code.VALUE_REQUIRED: "value_required",
    Code.NOT_FOUND: "not_found",
    Code.FORBIDDEN: "forbidden",
    Code.MMP_TRIGGER: "mmp_trigger",
    Code.COD_NOT_ENABLED: "cod_not_enabled",
    Code.QUOTES_FROZEN: "quotes_frozen",
    Code.REQUEST_TOO_LARGE: "request entity too large",
    Code.METHOD_NOT_FOUND: "Method not found",
    Code.INVALID_PARAMS: "Invalid params",
    Code.PARSE_ERROR: "Parse error",
    Code.MISSING_PARAMS: "Missing params",
}


class PulseError(Exception):
    """A refusal with a Deribit code; ``reason`` says which rule was broken, for people.

    ``param`` names the offending parameter when there is one (it goes into ``data``).
    """

    def __init__(self, code: Code, reason: str, *, param: str | None = None) -> None:
        super().__init__(f"{MESSAGES[code]}: {reason}")
        self.code = code
        self.reason = reason
        self.param = param

    @property
    def message(self) -> str:
        return MESSAGES[self.code]

    @property
    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"reason": self.reason}
        if self.param is not None:
            data["param"] = self.param
        return data

    def rpc_error(self) -> dict[str, Any]:
        """The JSON-RPC ``error`` member for a WebSocket reply."""
        return {"code": int(self.code), "message": self.message, "data": self.data}

    def http_body(self) -> dict[str, Any]:
        """The document's HTTP 400 body, ``connection.Message``."""
        return {"description": f"{self.message}: {self.reason}", "response": self.rpc_error(),
                "status": int(self.code)}
