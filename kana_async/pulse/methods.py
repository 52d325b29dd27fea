"""The Pulse method table: the 38 wire methods, how each travels and what each returns.

One :class:`MethodSpec` per method of the document (§5): its wire name (``private/buy``, T1),
its typed name (``buy``; S2 maps the two ``subscribe`` and the two ``unsubscribe_all`` methods to
one name each), whether it needs auth (AU6), whether it is WebSocket-only (T2/T3), its HTTP body
style (T8), and its result. :func:`decode_result` turns a result (already unwrapped from its
JSON-RPC wrapper, T5) into the typed value, taking the shapes the document and Deribit disagree
on (T7, P5).

Params built for these methods hold ``Decimal`` for numbers: encode them as JSON numbers
(``msgspec.json.Encoder(decimal_format="number")``), the document's type (P1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import msgspec

from ..errors import ValidationError
from ..models.common import WireBytes, WireStruct
from ..models.pulse import (
    BuySellResponse,
    DepositWithdrawalConfirmation,
    GetAccountSummaryResponse,
    GetDeliveryPricesResponse,
    GetFundingChartDataResponse,
    GetFundingRateHistoryResponse,
    GetInstrumentResponse,
    GetOrderBookResponse,
    GetTradingviewChartDataResponse,
    LoginResponse,
    MMPConfig,
    OrderConfirmation,
    PositionConfirmation,
    PulseDecoder,
    SettlementConfirmation,
    TradesResponse,
)

__all__ = [
    "METHODS",
    "HttpStyle",
    "MethodSpec",
    "ResultShape",
    "decode_result",
    "decode_untyped",
    "method_spec",
    "specs_named",
]

#: How a method's params travel over HTTP (T8): a JSON-RPC envelope in a POST body, the bare
#: params object as a POST body, a query string, or nothing.
HttpStyle = Literal["envelope", "bare", "query", "none"]

#: How :func:`decode_result` reads a result:
#: ``value`` decodes into :attr:`MethodSpec.result`; ``one_order`` is one order from an array
#: or an object (P5); ``index_price`` a Decimal from a number or ``{index_price, ...}``;
#: ``cod`` a bool from a boolean or ``{enabled, ...}`` (T7); ``none`` ignores the body (T7);
#: ``channels`` is the subscribe reply (S3); ``any`` generic JSON with Decimal numbers.
ResultShape = Literal["value", "one_order", "index_price", "cod", "none", "channels", "any"]


@dataclass(frozen=True, eq=False)
class MethodSpec:
    """Everything the client needs to send one method and read its result."""

    #: The wire name, ``public/...`` or ``private/...`` (no leading slash, T1).
    method: str
    #: The typed coroutine's name (the wire name without its prefix).
    name: str
    #: Needs an authenticated connection or a Bearer token (AU6: every ``private/*``).
    private: bool
    #: Served on the WebSocket only (T2); over HTTP it is refused before sending (T3).
    ws_only: bool
    http_style: HttpStyle
    #: The type a ``value`` result decodes into (``None`` for the other shapes).
    result: Any
    #: Places an order (``buy``, ``sell``): never re-sent, an unknown outcome is reported (L6).
    places_order: bool = False
    shape: ResultShape = "value"
    #: The decoder of :attr:`result`, built once.
    decoder: PulseDecoder[Any] | None = field(default=None, repr=False)

    @property
    def http_verb(self) -> Literal["GET", "POST"]:
        """GET for the query-style ``public/auth`` (T8), POST for everything else."""
        return "GET" if self.method == "public/auth" else "POST"

    @property
    def http_path(self) -> str:
        """The path under the HTTP base (``.../api/v2``): the wire name."""
        return self.method


def _spec(
    method: str,
    http_style: HttpStyle,
    result: Any = None,
    *,
    ws_only: bool = False,
    shape: ResultShape = "value",
    places_order: bool = False,
) -> MethodSpec:
    prefix, _, name = method.partition("/")
    return MethodSpec(
        method=method,
        name=name,
        private=prefix == "private",
        ws_only=ws_only,
        http_style=http_style,
        result=result,
        places_order=places_order,
        shape=shape,
        decoder=PulseDecoder(result) if shape == "value" else None,
    )


_ORDERS = list[OrderConfirmation]
_TRADES = list[TradesResponse]

#: The 38 methods of the document by wire name.
METHODS: dict[str, MethodSpec] = {
    spec.method: spec
    for spec in (
        # Authentication
        _spec("public/auth", "query", LoginResponse),
        _spec("private/logout", "query", ws_only=True, shape="none"),
        # Market data
        _spec("private/get_instruments", "bare", list[GetInstrumentResponse]),
        _spec("private/get_tradingview_chart_data", "bare", GetTradingviewChartDataResponse),
        _spec("public/get_delivery_prices", "bare", list[GetDeliveryPricesResponse]),
        _spec("public/get_funding_chart_data", "bare", GetFundingChartDataResponse),
        _spec("public/get_funding_rate_history", "bare", list[GetFundingRateHistoryResponse]),
        _spec("public/get_index_price", "bare", shape="index_price"),
        _spec("public/last_trades_by_instrument", "bare", _TRADES),
        _spec("public/disable_heartbeat", "none", ws_only=True, shape="none"),
        _spec("public/set_heartbeat", "query", ws_only=True, shape="none"),
        # Trading
        _spec("private/buy", "envelope", BuySellResponse, places_order=True),
        _spec("private/cancel", "envelope", OrderConfirmation),
        _spec("private/cancel_all", "envelope", _ORDERS),
        _spec("private/cancel_all_by_instrument", "envelope", _ORDERS),
        _spec("private/disable_cancel_on_disconnect", "none", shape="none"),
        _spec("private/edit", "envelope", BuySellResponse),
        _spec("private/enable_cancel_on_disconnect", "none", shape="none"),
        _spec("private/get_mmp_config", "bare", MMPConfig),
        _spec("private/get_open_orders_by_instrument", "bare", _ORDERS),
        _spec("private/get_order_book", "bare", GetOrderBookResponse),
        _spec("private/get_order_history_by_instrument", "bare", _ORDERS),
        _spec("private/get_order_state", "bare", shape="one_order"),
        _spec("private/get_order_state_by_label", "bare", _ORDERS),
        _spec("private/get_settlement_history_by_currency", "bare",
              list[SettlementConfirmation]),
        _spec("private/get_settlement_history_by_instrument", "bare",
              list[SettlementConfirmation]),
        _spec("private/get_user_trades_by_instrument", "bare", _TRADES),
        _spec("private/get_user_trades_by_order", "bare", _TRADES),
        _spec("private/sell", "envelope", BuySellResponse, places_order=True),
        _spec("private/set_mmp_config", "bare", MMPConfig),
        _spec("private/get_cancel_on_disconnect", "none", ws_only=True, shape="cod"),
        # Wallet
        _spec("private/get_account_summary", "envelope", GetAccountSummaryResponse),
        _spec("private/get_deposits", "envelope", list[DepositWithdrawalConfirmation]),
        _spec("private/get_positions", "bare", list[PositionConfirmation]),
        # Subscription management
        _spec("private/subscribe", "query", ws_only=True, shape="channels"),
        _spec("private/unsubscribe_all", "none", ws_only=True, shape="none"),
        _spec("public/subscribe", "query", ws_only=True, shape="channels"),
        _spec("public/unsubscribe_all", "none", ws_only=True, shape="none"),
    )
}

_BY_NAME: dict[str, tuple[MethodSpec, ...]] = {}
for _method_spec in METHODS.values():
    _BY_NAME[_method_spec.name] = (*_BY_NAME.get(_method_spec.name, ()), _method_spec)
del _method_spec


def specs_named(name: str) -> tuple[MethodSpec, ...]:
    """The specs behind one typed name (two for ``subscribe`` and ``unsubscribe_all``, S2);
    empty for an unknown name."""
    return _BY_NAME.get(name, ())


def method_spec(method: object) -> MethodSpec:
    """The spec of a wire method, ``private/buy`` or ``/private/buy``.

    A well-formed method the document does not list (``public/test`` among them) gets a generic
    spec: private by its prefix, allowed on both transports, sent as a bare params object over
    HTTP, its result decoded as plain JSON. Anything else raises :class:`ValidationError`.
    """
    if not isinstance(method, str):
        raise ValidationError("method", "must be a string such as private/buy", method)
    wire = method[1:] if method.startswith("/") else method
    known = METHODS.get(wire)
    if known is not None:
        return known
    prefix, slash, name = wire.partition("/")
    if (
        prefix not in ("public", "private")
        or not slash
        or not name
        or not all(c.isalnum() or c == "_" for c in name)
    ):
        raise ValidationError(
            "method", "must be public/NAME or private/NAME (letters, digits, _)", method
        )
    return MethodSpec(
        method=wire, name=name, private=prefix == "private", ws_only=False,
        http_style="bare", result=None, shape="any",
    )


# -- results ----------------------------------------------------------------------------------


class _IndexPrice(WireStruct, frozen=True, kw_only=True):
    """Deribit's ``get_index_price`` result (T7)."""

    index_price: Decimal


class _CodState(WireStruct, frozen=True, kw_only=True):
    """Deribit's ``get_cancel_on_disconnect`` result (T7)."""

    enabled: bool


_one_order = PulseDecoder[OrderConfirmation | list[OrderConfirmation]](
    OrderConfirmation | list[OrderConfirmation]
)
_index_price = PulseDecoder[Decimal | _IndexPrice](Decimal | _IndexPrice)
_cod = msgspec.json.Decoder(bool | _CodState).decode
_untyped = msgspec.json.Decoder(float_hook=Decimal).decode


def decode_untyped(raw: WireBytes) -> Any:
    """Plain JSON with every non-integer number as ``Decimal`` (``call()``'s results);
    raises ``msgspec.DecodeError`` for bad or too deeply nested JSON."""
    try:
        return _untyped(raw)
    except RecursionError:
        raise msgspec.DecodeError("JSON nested too deeply") from None


def decode_result(spec: MethodSpec, raw: WireBytes) -> Any:
    """The typed result of ``spec`` from its JSON (the result itself, not its wrapper).

    Raises ``msgspec.DecodeError`` for bad JSON and ``msgspec.ValidationError`` for a result
    of the wrong shape (naming the field); a ``none`` result never fails.
    """
    try:
        return _decode_result(spec, raw)
    except RecursionError:
        raise msgspec.DecodeError("JSON nested too deeply") from None


def _decode_result(spec: MethodSpec, raw: WireBytes) -> Any:
    shape = spec.shape
    if shape == "value":
        decoder = spec.decoder
        if decoder is None:  # a hand-made spec
            return PulseDecoder[Any](spec.result).decode(raw)
        return decoder.decode(raw)
    if shape == "none":
        return None  # success means "no error", whatever the body (T7)
    if shape == "one_order":
        value = _one_order.decode(raw)
        if isinstance(value, list):
            if len(value) != 1:
                raise msgspec.ValidationError(
                    f"Expected one order, got an array of {len(value)}"
                )
            return value[0]
        return value
    if shape == "index_price":
        price = _index_price.decode(raw)
        return price.index_price if isinstance(price, _IndexPrice) else price
    if shape == "cod":
        state = _cod(raw)
        return state.enabled if isinstance(state, _CodState) else state
    if shape == "channels":
        return _channels(decode_untyped(raw))
    return decode_untyped(raw)


def _channels(value: Any) -> list[str] | None:
    """S3: the channels a subscribe reply names, or ``None`` when it names none (the
    document's string: every channel accepted)."""
    if isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            raise msgspec.ValidationError("Expected a list of channel names")
        return value
    return None
