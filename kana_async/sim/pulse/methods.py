"""The gateway's 38 documented methods (plus ``public/test``) and the checks of their parameters.

Each :class:`MethodSpec` carries the document's parameter names and JSON types. Required flags
are the document's, corrected where the decisions say so: ``instrument_name`` on buy/sell, the
"by" key of every "by X" method, ``edit``'s ``amount`` optional, ``logout``'s ``invalidate_token``
optional (default true), the ``public/auth`` fields left to the grant (:mod:`.auth` checks them).
Unknown parameters are tolerated. With ``strict=False`` only the JSON types are checked.

Errors name the rule: -32601 unknown method, -32602 a value of the wrong JSON type (or params
that are not an object), 13010 a missing required parameter, 11029 a value a rule refuses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from .entry import ORDER_TYPES, TIME_IN_FORCE
from .errors import Code, PulseError

__all__ = [
    "DOCUMENTED",
    "METHODS",
    "MethodSpec",
    "Param",
    "coerce_query",
    "lookup",
    "validate",
]

#: Values of the document's enums (``types.*``) a request may carry.
TYPE_FILTERS = ("all", *ORDER_TYPES, "trigger_all")
TRIGGERS = ("index_price", "last_price")
LINKED = ("one_triggers_other", "one_triggers_one_cancels_other")
FILL_CONDITIONS = ("first_hit", "complete_fill", "incremental")
SORTING = ("asc", "desc", "default")
MIN_HEARTBEAT = 10
MAX_LABEL = 64
MAX_NUMBER = Decimal(10) ** 15
_MAX_INT = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Param:
    """One request parameter: the document's name and JSON type (``string``, ``integer``,
    ``number``, ``boolean``, ``array[string]``, ``array[object]``)."""

    name: str
    json_type: str
    required: bool = False
    choices: tuple[str, ...] = ()     # checked in strict mode
    max_length: int | None = None     # strings, checked in strict mode


@dataclass(frozen=True, slots=True)
class MethodSpec:
    """A method: ``handler`` names the :class:`~.gateway.Gateway` method that serves it."""

    name: str                       # "private/buy"
    private: bool
    ws_only: bool
    params: tuple[Param, ...]
    handler: str
    documented: bool = True

    def param(self, name: str) -> Param | None:
        for p in self.params:
            if p.name == name:
                return p
        return None


def _s(name: str, required: bool = False, choices: tuple[str, ...] = (),
       max_length: int | None = None) -> Param:
    return Param(name, "string", required, choices, max_length)


def _i(name: str, required: bool = False) -> Param:
    return Param(name, "integer", required)


def _n(name: str, required: bool = False) -> Param:
    return Param(name, "number", required)


def _b(name: str, required: bool = False) -> Param:
    return Param(name, "boolean", required)


_ORDER = (
    _n("amount", True), _s("instrument_name", True), _s("label", max_length=MAX_LABEL),
    _s("linked_order_type", choices=LINKED), _n("max_show"), _b("mmp"),
    Param("otoco_config", "array[object]"), _b("post_only"), _n("price"), _b("reduce_only"),
    _s("time_in_force", choices=TIME_IN_FORCE), _s("trigger", choices=TRIGGERS),
    _s("trigger_fill_condition", choices=FILL_CONDITIONS), _n("trigger_price"),
    _s("type", choices=ORDER_TYPES),
)
_CHANNELS = (Param("channels", "array[string]", True),)


def _m(name: str, handler: str, *params: Param, ws_only: bool = False,
       documented: bool = True) -> MethodSpec:
    return MethodSpec(name, name.startswith("private/"), ws_only, params, handler, documented)


_TABLE = (
    # Authentication
    _m("public/auth", "auth", _s("grant_type", True), _s("client_id"), _s("client_secret"),
       _s("refresh_token"), _s("signature"), _i("timestamp"), _s("nonce"), _s("data")),
    _m("private/logout", "logout", _b("invalidate_token"), ws_only=True),
    # Market data
    _m("private/get_instruments", "get_instruments", _s("currency", True), _b("expired"),
       _s("kind")),
    _m("private/get_tradingview_chart_data", "get_tradingview_chart_data",
       _i("end_timestamp", True), _s("instrument_name", True), _s("resolution", True),
       _i("start_timestamp", True)),
    _m("public/get_delivery_prices", "get_delivery_prices", _i("count"),
       _s("index_name", True), _i("offset")),
    _m("public/get_funding_chart_data", "get_funding_chart_data", _s("instrument_name", True),
       _s("length", True, choices=("8h", "24h", "1m"))),
    _m("public/get_funding_rate_history", "get_funding_rate_history", _i("end_timestamp"),
       _s("instrument_name"), _i("start_timestamp")),
    _m("public/get_index_price", "get_index_price", _s("index_name", True)),
    _m("public/last_trades_by_instrument", "last_trades_by_instrument", _i("count"),
       _i("end_seq"), _i("end_timestamp"), _s("instrument_name", True),
       _s("sorting", choices=SORTING), _i("start_seq"), _i("start_timestamp")),
    _m("public/disable_heartbeat", "disable_heartbeat", ws_only=True),
    _m("public/set_heartbeat", "set_heartbeat", _i("interval", True), ws_only=True),
    # Trading
    _m("private/buy", "buy", *_ORDER),
    _m("private/cancel", "cancel", _s("order_id", True)),
    _m("private/cancel_all", "cancel_all", _b("detailed")),
    _m("private/cancel_all_by_instrument", "cancel_all_by_instrument", _b("detailed"),
       _s("instrument_name", True), _s("type", choices=TYPE_FILTERS)),
    _m("private/disable_cancel_on_disconnect", "disable_cancel_on_disconnect"),
    _m("private/edit", "edit", _n("amount"), _s("order_id", True), _n("price"),
       _n("trigger_price")),
    _m("private/enable_cancel_on_disconnect", "enable_cancel_on_disconnect"),
    _m("private/get_mmp_config", "get_mmp_config", _s("index_name")),
    _m("private/get_open_orders_by_instrument", "get_open_orders_by_instrument", _i("count"),
       _s("instrument_name", True), _s("type", choices=TYPE_FILTERS)),
    _m("private/get_order_book", "get_order_book", _i("depth"), _s("instrument_name", True)),
    _m("private/get_order_history_by_instrument", "get_order_history_by_instrument",
       _i("count"), _b("include_old"), _b("include_unfilled"), _s("instrument_name", True),
       _i("offset")),
    _m("private/get_order_state", "get_order_state", _s("order_id", True)),
    _m("private/get_order_state_by_label", "get_order_state_by_label", _i("count"),
       _s("currency", True), _s("label", True), _i("offset")),
    _m("private/get_settlement_history_by_currency", "get_settlement_history_by_currency",
       _i("count"), _s("currency", True), _i("search_start_timestamp"), _s("type", True)),
    _m("private/get_settlement_history_by_instrument", "get_settlement_history_by_instrument",
       _i("count"), _s("instrument_name", True), _i("search_start_timestamp"),
       _s("type", True)),
    _m("private/get_user_trades_by_instrument", "get_user_trades_by_instrument", _i("count"),
       _i("end_timestamp"), _s("instrument_name", True), _s("sorting", choices=SORTING),
       _i("start_timestamp")),
    _m("private/get_user_trades_by_order", "get_user_trades_by_order", _i("count"),
       _s("order_id", True), _s("sorting", choices=SORTING)),
    _m("private/sell", "sell", *_ORDER),
    _m("private/set_mmp_config", "set_mmp_config", _n("frozen_time"), _s("index_name", True),
       _n("interval"), _n("quantity_limit")),
    _m("private/get_cancel_on_disconnect", "get_cancel_on_disconnect", ws_only=True),
    # Wallet
    _m("private/get_account_summary", "get_account_summary", _s("currency")),
    _m("private/get_deposits", "get_deposits", _i("count"), _s("currency"), _i("offset")),
    _m("private/get_positions", "get_positions", _s("currency"), _s("kind")),
    # Subscription management
    _m("private/subscribe", "subscribe", *_CHANNELS, ws_only=True),
    _m("private/unsubscribe_all", "unsubscribe_all", ws_only=True),
    _m("public/subscribe", "subscribe", *_CHANNELS, ws_only=True),
    _m("public/unsubscribe_all", "unsubscribe_all", ws_only=True),
    # Deribit's answer to a heartbeat test_request; not in the document.
    _m("public/test", "test", _s("expected_result"), documented=False),
)

METHODS: Mapping[str, MethodSpec] = MappingProxyType({m.name: m for m in _TABLE})
#: The document's 38 methods, in its order.
DOCUMENTED: tuple[str, ...] = tuple(m.name for m in _TABLE if m.documented)


def lookup(method: object) -> MethodSpec:
    """The method ``method`` names, with or without a leading slash (-32601 otherwise)."""
    if not isinstance(method, str) or not method:
        raise PulseError(Code.METHOD_NOT_FOUND, "method must be a non-empty string")
    spec = METHODS.get(method[1:] if method.startswith("/") else method)
    if spec is None:
        shown = method if len(method) <= 80 else method[:80] + "..."
        raise PulseError(Code.METHOD_NOT_FOUND, f"unknown method {shown!r}")
    return spec


def validate(spec: MethodSpec, params: object, *, strict: bool = True) -> dict[str, Any]:
    """A normalised copy of ``params``: numbers as Decimal, integers as int, nulls dropped.

    Unknown keys are kept as they are. Strict mode adds the required flags, the document's
    enum values, label length and the rules of the decisions (P3, P4, L1).
    """
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise PulseError(Code.INVALID_PARAMS, "params must be a JSON object")
    out: dict[str, Any] = {}
    for key, value in params.items():
        if not isinstance(key, str):
            raise PulseError(Code.INVALID_PARAMS, "parameter names must be strings")
        if value is None:
            continue
        param = spec.param(key)
        out[key] = value if param is None else _typed(param, value)
    _method_rules(spec, out, strict)
    for param in spec.params:
        value = out.get(param.name)
        if value is None:
            if strict and param.required:
                raise PulseError(Code.VALUE_REQUIRED, f"{param.name} is required for "
                                 f"{spec.name}", param=param.name)
            continue
        if strict:
            _rules(param, value)
    return out


def _typed(param: Param, value: Any) -> Any:
    kind = param.json_type
    name = param.name
    if kind == "string":
        if isinstance(value, str):
            return value
    elif kind == "boolean":
        if isinstance(value, bool):
            return value
    elif kind == "integer":
        if isinstance(value, bool):
            pass
        elif isinstance(value, int):
            if abs(value) > _MAX_INT:
                raise PulseError(Code.INVALID_ARGUMENTS, f"{name} is out of range", param=name)
            return value
        elif isinstance(value, (float, Decimal)):
            number = _decimal(value, name)
            if number == number.to_integral_value() and abs(number) <= _MAX_INT:
                return int(number)
            raise PulseError(Code.INVALID_PARAMS, f"{name} must be an integer", param=name)
    elif kind == "number":
        if not isinstance(value, bool) and isinstance(value, (int, float, Decimal)):
            return _decimal(value, name)
    elif kind == "array[string]":
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
    elif kind == "array[object]":
        if isinstance(value, list) and all(isinstance(v, Mapping) for v in value):
            return list(value)
    else:  # pragma: no cover - the table uses only the kinds above
        raise AssertionError(kind)
    raise PulseError(Code.INVALID_PARAMS, f"{name} must be {_article(kind)}", param=name)


def _article(kind: str) -> str:
    if kind.startswith("array["):
        return f"an array of {kind[6:-1]}s"
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _decimal(value: int | float | Decimal, name: str) -> Decimal:
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, ValueError):
        raise PulseError(Code.INVALID_PARAMS, f"{name} must be a number", param=name) from None
    if not number.is_finite():
        raise PulseError(Code.INVALID_ARGUMENTS, f"{name} must be a finite number", param=name)
    if abs(number) > MAX_NUMBER:
        # Far beyond any amount or price, and beyond what 28-digit arithmetic divides exactly.
        raise PulseError(Code.INVALID_ARGUMENTS, f"{name} must be within +-10^15", param=name)
    return number


def _rules(param: Param, value: Any) -> None:
    if param.choices and value not in param.choices:
        raise PulseError(Code.INVALID_ARGUMENTS, f"{param.name} must be one of "
                         f"{', '.join(param.choices)}", param=param.name)
    if param.max_length is not None and len(value) > param.max_length:
        raise PulseError(Code.INVALID_ARGUMENTS, f"{param.name} must be at most "
                         f"{param.max_length} characters", param=param.name)


def _method_rules(spec: MethodSpec, params: dict[str, Any], strict: bool) -> None:
    if spec.name in ("private/buy", "private/sell"):
        kind = params.get("type")
        if kind in ("all", "trigger_all"):
            raise PulseError(Code.INVALID_ARGUMENTS, f"type {kind} is a filter, not an order "
                             f"type; use one of {', '.join(ORDER_TYPES)}", param="type")
    elif spec.name == "public/set_heartbeat" and "interval" in params:
        low = MIN_HEARTBEAT if strict else 1
        if params["interval"] < low:
            raise PulseError(Code.INVALID_ARGUMENTS, f"interval must be at least {low} seconds",
                             param="interval")


def coerce_query(spec: MethodSpec, query: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters from a query string (every value text) in their declared JSON types.

    ``channels`` may be repeated (a list) or comma-separated; ``true``/``false`` are booleans;
    numbers are parsed exactly. A value that does not parse is left as text for
    :func:`validate` to refuse, naming the parameter.
    """
    out: dict[str, Any] = {}
    for key, value in query.items():
        param = spec.param(key)
        if param is None:
            out[key] = value
            continue
        kind = param.json_type
        if kind == "array[string]":
            items = value if isinstance(value, list) else [value]
            out[key] = [part for item in items if isinstance(item, str)
                        for part in item.split(",") if part] if all(
                isinstance(i, str) for i in items) else value
            continue
        if isinstance(value, list):
            value = value[-1] if value else None
        if not isinstance(value, str):
            out[key] = value
        elif kind == "boolean" and value.lower() in ("true", "false"):
            out[key] = value.lower() == "true"
        elif kind in ("integer", "number"):
            out[key] = _parse_number(value, kind)
        else:
            out[key] = value
    return out


def _parse_number(text: str, kind: str) -> Any:
    if len(text) > 64:
        return text
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        return text
    if kind == "integer" and number.is_finite() and number == number.to_integral_value():
        return int(number)
    return number
