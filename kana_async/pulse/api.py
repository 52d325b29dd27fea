"""One typed coroutine per Pulse method: :class:`PulseMethods`.

Each coroutine takes the document's parameter names as keyword-only arguments (P1; ``type``
included), required where P3 says so, checks them (a :class:`~kana_async.ValidationError`
naming the rule, before anything is sent), builds the params of the arguments given (``None``
is not sent) and hands them to :meth:`PulseMethods._request`, which the client implements and
which returns the typed result (:func:`~kana_async.pulse.methods.decode_result`).

``subscribe`` and ``unsubscribe_all`` are the client's own (S2), not here.
"""

from __future__ import annotations

import re
import textwrap
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from .._docfields import with_fields
from ..errors import ValidationError
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
    SettlementConfirmation,
    TradesResponse,
)
from .auth import GRANT_FIELDS, SECRET_FIELDS
from .methods import METHODS, MethodSpec

__all__ = ["MIN_HEARTBEAT", "NON_ORDER_TYPES", "Number", "PulseMethods"]

#: What an amount or a price may be given as (a float is refused: it is inexact).
Number = Decimal | int | str

#: L1: the smallest heartbeat interval, in seconds (Deribit's minimum).
MIN_HEARTBEAT = 10

#: P4: ``types.Type`` values that are filters, never an order's type.
NON_ORDER_TYPES = frozenset({"all", "trigger_all"})


#: Largest magnitude accepted for a number (as Decimal.adjusted()): far beyond any price.
_MAX_ADJUSTED = 38
_PLAIN_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_MAX_INT = 2**63 - 1
_OTOCO_FIELDS = frozenset(
    {"amount", "direction", "price", "time_in_force", "trigger", "trigger_price", "type"}
)
_SIDES = ("buy", "sell")


# -- checks -------------------------------------------------------------------------------


def _number(value: object, param: str) -> Decimal:
    """A finite Decimal from a Decimal, int or plain decimal text."""
    if isinstance(value, bool):
        raise ValidationError(param, "must be a number (Decimal, int or str), not a bool", value)
    if isinstance(value, float):
        raise ValidationError(
            param, "must be a Decimal, int or str: a float is inexact (use Decimal or str)",
            value,
        )
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, str):
        if _PLAIN_DECIMAL.fullmatch(value) is None:
            raise ValidationError(param, "must be a plain decimal number", value)
        try:
            number = Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern above admits only numbers
            raise ValidationError(param, "must be a plain decimal number", value) from None
    else:
        raise ValidationError(param, "must be a Decimal, int or str", value)
    if not number.is_finite():
        raise ValidationError(param, "must be finite", value)
    if number and abs(number.adjusted()) > _MAX_ADJUSTED:
        raise ValidationError(param, "is out of range", value)
    return number


def _positive(value: object, param: str) -> Decimal:
    number = _number(value, param)
    if number <= 0:
        raise ValidationError(param, "must be > 0", value)
    return number


def _non_negative(value: object, param: str) -> Decimal:
    number = _number(value, param)
    if number < 0:
        raise ValidationError(param, "must be >= 0", value)
    return number


def _int(value: object, param: str, *, minimum: int = 0) -> int:
    """An ``int`` (not ``bool``) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(param, f"must be an integer >= {minimum}", value)
    if not minimum <= value <= _MAX_INT:
        raise ValidationError(param, f"must be an integer >= {minimum}", value)
    return value


def _bool(value: object, param: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(param, "must be True or False", value)
    return value


def _text(value: object, param: str, *, secret: bool = False) -> str:
    """A non-empty string."""
    shown = None if secret else value
    if not isinstance(value, str):
        raise ValidationError(param, "must be a string", None if secret else value)
    if not value:
        raise ValidationError(param, "must not be empty")
    if not value.isprintable():
        raise ValidationError(param, "must not contain control characters", shown)
    return value


def _name(value: object, param: str) -> str:
    """An instrument name, currency, kind...: non-empty, without whitespace."""
    text = _text(value, param)
    if any(c.isspace() for c in text):
        raise ValidationError(param, "must not contain whitespace", value)
    return text


def _index(value: object, param: str = "index_name") -> str:
    """P8: index names go out in lower case."""
    return _name(value, param).lower()


def _order_type(value: object, param: str = "type") -> str:
    """P4: an order's type; the filters ``all`` and ``trigger_all`` are refused."""
    text = _name(value, param)
    if text in NON_ORDER_TYPES:
        raise ValidationError(
            param,
            "must be an order type such as limit or market: all and trigger_all are filters, "
            "not order types",
            value,
        )
    return text


def _otoco(value: object) -> list[dict[str, Any]]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValidationError("otoco_config", "must be a list of mappings", value)
    configs: list[dict[str, Any]] = []
    for index, item in enumerate(value):
        where = f"otoco_config[{index}]"
        if not isinstance(item, Mapping):
            raise ValidationError(where, "must be a mapping", item)
        unknown = sorted(str(key) for key in item if key not in _OTOCO_FIELDS)
        if unknown:
            raise ValidationError(
                where, f"unknown field {unknown[0]}; known: {', '.join(sorted(_OTOCO_FIELDS))}"
            )
        config: dict[str, Any] = {}
        for key in sorted(_OTOCO_FIELDS):
            given = item.get(key)
            if given is None:
                continue
            param = f"{where}.{key}"
            if key == "amount":
                config[key] = _positive(given, param)
            elif key in ("price", "trigger_price"):
                config[key] = _number(given, param)
            elif key == "type":
                config[key] = _order_type(given, param)
            elif key == "direction":
                if given not in _SIDES:
                    raise ValidationError(param, "must be buy or sell", given)
                config[key] = given
            else:
                config[key] = _name(given, param)
        configs.append(config)
    return configs


def _params(**given: tuple[object, Any]) -> dict[str, Any]:
    """``name -> checked value`` of the arguments given; ``given`` maps each name to
    ``(value, check)``, and a ``None`` value is not sent."""
    return {
        name: check(value, name)
        for name, (value, check) in given.items()
        if value is not None
    }


def _order_params(
    instrument_name: str,
    amount: Number,
    type: str | None,
    price: Number | None,
    label: str | None,
    time_in_force: str | None,
    max_show: Number | None,
    post_only: bool | None,
    reduce_only: bool | None,
    trigger: str | None,
    trigger_price: Number | None,
    trigger_fill_condition: str | None,
    linked_order_type: str | None,
    otoco_config: Sequence[Mapping[str, Any]] | None,
    mmp: bool | None,
) -> dict[str, Any]:
    params = _params(
        instrument_name=(instrument_name, _name),
        amount=(amount, _positive),
        type=(type, _order_type),
        price=(price, _number),
        label=(label, _text),
        time_in_force=(time_in_force, _name),
        max_show=(max_show, _non_negative),
        post_only=(post_only, _bool),
        reduce_only=(reduce_only, _bool),
        trigger=(trigger, _name),
        trigger_price=(trigger_price, _number),
        trigger_fill_condition=(trigger_fill_condition, _name),
        linked_order_type=(linked_order_type, _name),
        mmp=(mmp, _bool),
    )
    if otoco_config is not None:
        params["otoco_config"] = _otoco(otoco_config)
    return params


def _auth_params(grant_type: str, given: dict[str, object]) -> dict[str, Any]:
    """AU1: exactly the fields of ``grant_type``; secrets never shown in an error."""
    if grant_type not in GRANT_FIELDS:
        raise ValidationError(
            "grant_type", f"must be one of {', '.join(GRANT_FIELDS)}", grant_type
        )
    required, optional = GRANT_FIELDS[grant_type]
    allowed = set(required) | set(optional)
    params: dict[str, Any] = {"grant_type": grant_type}
    for field, value in given.items():
        if value is None:
            if field in required:
                raise ValidationError(field, f"is required by grant_type {grant_type}")
            continue
        if field not in allowed:
            raise ValidationError(field, f"is not a field of grant_type {grant_type}")
        if field == "timestamp":
            params[field] = _int(value, field)
        elif field == "data" and value == "":
            params[field] = value  # AU1: the signed data may be empty
        else:
            params[field] = _text(value, field, secret=field in SECRET_FIELDS)
    return params


_M = METHODS


class PulseMethods:
    """The typed Pulse methods (a mixin: the client supplies :meth:`_request`)."""

    __slots__ = ()

    @abstractmethod
    async def _request(self, spec: MethodSpec, params: dict[str, Any]) -> Any:
        """Send ``spec`` with ``params`` and return its typed result (the client's)."""
        raise NotImplementedError

    # -- authentication ----------------------------------------------------------------------

    async def auth(
        self,
        *,
        grant_type: str,
        client_id: str | None = None,
        client_secret: str | None = None,
        refresh_token: str | None = None,
        signature: str | None = None,
        timestamp: int | None = None,
        nonce: str | None = None,
        data: str | None = None,
    ) -> LoginResponse:
        """``public/auth``: tokens for one grant, sending only that grant's fields.

        ``client_credentials`` needs ``client_id`` and ``client_secret``;
        ``client_signature`` needs ``client_id``, ``timestamp`` (ms) and ``signature``
        (``nonce`` and ``data`` optional); ``refresh_token`` needs ``refresh_token``. The
        client then uses the tokens returned (and keeps them out of its logs and errors).
        """
        params = _auth_params(_text(grant_type, "grant_type"), {
            "client_id": client_id,
            "client_secret": client_secret,
            "refresh_token": refresh_token,
            "signature": signature,
            "timestamp": timestamp,
            "nonce": nonce,
            "data": data,
        })
        return cast(LoginResponse, await self._request(_M["public/auth"], params))

    async def logout(self, *, invalidate_token: bool = True) -> None:
        """``private/logout`` (WebSocket only): end the session; cancel-on-disconnect does
        not fire. The client is finished: every later call raises
        :class:`~kana_async.KanaError` (create a new one)."""
        params = {"invalidate_token": _bool(invalidate_token, "invalidate_token")}
        await self._request(_M["private/logout"], params)

    # -- market data -------------------------------------------------------------------------

    async def get_instruments(
        self, *, currency: str, expired: bool | None = None, kind: str | None = None
    ) -> list[GetInstrumentResponse]:
        """``private/get_instruments``: the instruments of one currency."""
        params = _params(currency=(currency, _name), expired=(expired, _bool),
                         kind=(kind, _name))
        return cast(list[GetInstrumentResponse],
                    await self._request(_M["private/get_instruments"], params))

    async def get_tradingview_chart_data(
        self, *, instrument_name: str, start_timestamp: int, end_timestamp: int,
        resolution: str,
    ) -> GetTradingviewChartDataResponse:
        """``private/get_tradingview_chart_data``: OHLC bars of one instrument."""
        params = _params(
            instrument_name=(instrument_name, _name),
            start_timestamp=(start_timestamp, _int),
            end_timestamp=(end_timestamp, _int),
            resolution=(resolution, _name),
        )
        if params["end_timestamp"] < params["start_timestamp"]:
            raise ValidationError("end_timestamp", "must not be before start_timestamp",
                                  end_timestamp)
        return cast(GetTradingviewChartDataResponse,
                    await self._request(_M["private/get_tradingview_chart_data"], params))

    async def get_delivery_prices(
        self, *, index_name: str, count: int | None = None, offset: int | None = None
    ) -> list[GetDeliveryPricesResponse]:
        """``public/get_delivery_prices`` of one index (its name is sent lower-cased)."""
        params = _params(index_name=(index_name, _index), count=(count, _int),
                         offset=(offset, _int))
        return cast(list[GetDeliveryPricesResponse],
                    await self._request(_M["public/get_delivery_prices"], params))

    async def get_funding_chart_data(
        self, *, instrument_name: str, length: str
    ) -> GetFundingChartDataResponse:
        """``public/get_funding_chart_data`` (``length``: ``8h``, ``24h`` or ``1m``)."""
        params = _params(instrument_name=(instrument_name, _name), length=(length, _name))
        return cast(GetFundingChartDataResponse,
                    await self._request(_M["public/get_funding_chart_data"], params))

    async def get_funding_rate_history(
        self, *, instrument_name: str | None = None, start_timestamp: int | None = None,
        end_timestamp: int | None = None,
    ) -> list[GetFundingRateHistoryResponse]:
        """``public/get_funding_rate_history`` (every parameter optional, as documented)."""
        params = _params(
            instrument_name=(instrument_name, _name),
            start_timestamp=(start_timestamp, _int),
            end_timestamp=(end_timestamp, _int),
        )
        return cast(list[GetFundingRateHistoryResponse],
                    await self._request(_M["public/get_funding_rate_history"], params))

    async def get_index_price(self, *, index_name: str) -> Decimal:
        """``public/get_index_price``: the price of one index (its name is sent
        lower-cased)."""
        params = _params(index_name=(index_name, _index))
        return cast(Decimal, await self._request(_M["public/get_index_price"], params))

    async def last_trades_by_instrument(
        self, *, instrument_name: str, count: int | None = None, end_seq: int | None = None,
        end_timestamp: int | None = None, sorting: str | None = None,
        start_seq: int | None = None, start_timestamp: int | None = None,
    ) -> list[TradesResponse]:
        """``public/last_trades_by_instrument`` (``sorting``: ``asc``, ``desc``,
        ``default``)."""
        params = _params(
            instrument_name=(instrument_name, _name),
            count=(count, _int),
            end_seq=(end_seq, _int),
            end_timestamp=(end_timestamp, _int),
            sorting=(sorting, _name),
            start_seq=(start_seq, _int),
            start_timestamp=(start_timestamp, _int),
        )
        return cast(list[TradesResponse],
                    await self._request(_M["public/last_trades_by_instrument"], params))

    async def disable_heartbeat(self) -> None:
        """``public/disable_heartbeat`` (WebSocket only); kept for the connections that
        follow."""
        await self._request(_M["public/disable_heartbeat"], {})

    async def set_heartbeat(self, *, interval: int) -> None:
        """``public/set_heartbeat`` (WebSocket only): ``interval`` in whole seconds, at
        least 10; kept for the connections that follow."""
        params = {"interval": _int(interval, "interval", minimum=MIN_HEARTBEAT)}
        await self._request(_M["public/set_heartbeat"], params)

    # -- trading -----------------------------------------------------------------------------

    async def buy(
        self, *, instrument_name: str, amount: Number, type: str | None = None,
        price: Number | None = None, label: str | None = None,
        time_in_force: str | None = None, max_show: Number | None = None,
        post_only: bool | None = None, reduce_only: bool | None = None,
        trigger: str | None = None, trigger_price: Number | None = None,
        trigger_fill_condition: str | None = None, linked_order_type: str | None = None,
        otoco_config: Sequence[Mapping[str, Any]] | None = None, mmp: bool | None = None,
    ) -> BuySellResponse:
        """``private/buy``: place a buy order. Never re-sent; without a ``label`` one is
        generated, so that an order whose reply is lost can be found again."""
        params = _order_params(
            instrument_name, amount, type, price, label, time_in_force, max_show, post_only,
            reduce_only, trigger, trigger_price, trigger_fill_condition, linked_order_type,
            otoco_config, mmp,
        )
        return cast(BuySellResponse, await self._request(_M["private/buy"], params))

    async def sell(
        self, *, instrument_name: str, amount: Number, type: str | None = None,
        price: Number | None = None, label: str | None = None,
        time_in_force: str | None = None, max_show: Number | None = None,
        post_only: bool | None = None, reduce_only: bool | None = None,
        trigger: str | None = None, trigger_price: Number | None = None,
        trigger_fill_condition: str | None = None, linked_order_type: str | None = None,
        otoco_config: Sequence[Mapping[str, Any]] | None = None, mmp: bool | None = None,
    ) -> BuySellResponse:
        """``private/sell``: place a sell order. Never re-sent; without a ``label`` one is
        generated, so that an order whose reply is lost can be found again."""
        params = _order_params(
            instrument_name, amount, type, price, label, time_in_force, max_show, post_only,
            reduce_only, trigger, trigger_price, trigger_fill_condition, linked_order_type,
            otoco_config, mmp,
        )
        return cast(BuySellResponse, await self._request(_M["private/sell"], params))

    async def edit(
        self, *, order_id: str, amount: Number | None = None, price: Number | None = None,
        trigger_price: Number | None = None,
    ) -> BuySellResponse:
        """``private/edit``: change an order's amount, price or trigger price (the amount
        is optional)."""
        params = _params(
            order_id=(order_id, _name),
            amount=(amount, _positive),
            price=(price, _number),
            trigger_price=(trigger_price, _number),
        )
        return cast(BuySellResponse, await self._request(_M["private/edit"], params))

    async def cancel(self, *, order_id: str) -> OrderConfirmation:
        """``private/cancel``: cancel one order."""
        params = _params(order_id=(order_id, _name))
        return cast(OrderConfirmation, await self._request(_M["private/cancel"], params))

    async def cancel_all(self, *, detailed: bool | None = None) -> list[OrderConfirmation]:
        """``private/cancel_all``: cancel every order."""
        params = _params(detailed=(detailed, _bool))
        return cast(list[OrderConfirmation],
                    await self._request(_M["private/cancel_all"], params))

    async def cancel_all_by_instrument(
        self, *, instrument_name: str, detailed: bool | None = None, type: str | None = None
    ) -> list[OrderConfirmation]:
        """``private/cancel_all_by_instrument``: cancel the orders of one instrument
        (``type`` filters them; ``all`` is allowed)."""
        params = _params(instrument_name=(instrument_name, _name),
                         detailed=(detailed, _bool), type=(type, _name))
        return cast(list[OrderConfirmation],
                    await self._request(_M["private/cancel_all_by_instrument"], params))

    async def enable_cancel_on_disconnect(self) -> None:
        """``private/enable_cancel_on_disconnect`` for this connection; the client turns
        it on again on every new connection."""
        await self._request(_M["private/enable_cancel_on_disconnect"], {})

    async def disable_cancel_on_disconnect(self) -> None:
        """``private/disable_cancel_on_disconnect`` for this connection, and for the ones
        that follow."""
        await self._request(_M["private/disable_cancel_on_disconnect"], {})

    async def get_cancel_on_disconnect(self) -> bool:
        """``private/get_cancel_on_disconnect`` (WebSocket only): whether it is on for
        this connection."""
        return cast(bool, await self._request(_M["private/get_cancel_on_disconnect"], {}))

    async def get_mmp_config(self, *, index_name: str | None = None) -> MMPConfig:
        """``private/get_mmp_config``: the market-maker protection settings (the index
        name is sent lower-cased)."""
        params = _params(index_name=(index_name, _index))
        return cast(MMPConfig, await self._request(_M["private/get_mmp_config"], params))

    async def set_mmp_config(
        self, *, index_name: str | None = None, interval: Number | None = None,
        frozen_time: Number | None = None, quantity_limit: Number | None = None,
    ) -> MMPConfig:
        """``private/set_mmp_config``: set (and reset) market-maker protection."""
        params = _params(
            index_name=(index_name, _index),
            interval=(interval, _non_negative),
            frozen_time=(frozen_time, _non_negative),
            quantity_limit=(quantity_limit, _non_negative),
        )
        return cast(MMPConfig, await self._request(_M["private/set_mmp_config"], params))

    async def get_open_orders_by_instrument(
        self, *, instrument_name: str, count: int | None = None, type: str | None = None
    ) -> list[OrderConfirmation]:
        """``private/get_open_orders_by_instrument`` (``type`` filters them; ``all`` is
        allowed)."""
        params = _params(instrument_name=(instrument_name, _name), count=(count, _int),
                         type=(type, _name))
        return cast(list[OrderConfirmation],
                    await self._request(_M["private/get_open_orders_by_instrument"], params))

    async def get_order_book(
        self, *, instrument_name: str, depth: int | None = None
    ) -> GetOrderBookResponse:
        """``private/get_order_book``: a book snapshot without ``change_id``, never joined
        to a ``book.*`` channel's chain."""
        params = _params(instrument_name=(instrument_name, _name), depth=(depth, _int))
        return cast(GetOrderBookResponse,
                    await self._request(_M["private/get_order_book"], params))

    async def get_order_history_by_instrument(
        self, *, instrument_name: str, count: int | None = None,
        include_old: bool | None = None, include_unfilled: bool | None = None,
        offset: int | None = None,
    ) -> list[OrderConfirmation]:
        """``private/get_order_history_by_instrument``: past orders of one instrument."""
        params = _params(
            instrument_name=(instrument_name, _name),
            count=(count, _int),
            include_old=(include_old, _bool),
            include_unfilled=(include_unfilled, _bool),
            offset=(offset, _int),
        )
        return cast(list[OrderConfirmation],
                    await self._request(_M["private/get_order_history_by_instrument"], params))

    async def get_order_state(self, *, order_id: str) -> OrderConfirmation:
        """``private/get_order_state``: one order, by id."""
        params = _params(order_id=(order_id, _name))
        return cast(OrderConfirmation,
                    await self._request(_M["private/get_order_state"], params))

    async def get_order_state_by_label(
        self, *, currency: str, label: str, count: int | None = None,
        offset: int | None = None,
    ) -> list[OrderConfirmation]:
        """``private/get_order_state_by_label``: how an order of unknown outcome is found
        (:attr:`~kana_async.UnknownOutcomeError.label`)."""
        params = _params(currency=(currency, _name), label=(label, _text),
                         count=(count, _int), offset=(offset, _int))
        return cast(list[OrderConfirmation],
                    await self._request(_M["private/get_order_state_by_label"], params))

    async def get_settlement_history_by_currency(
        self, *, currency: str, type: str, count: int | None = None,
        search_start_timestamp: int | None = None,
    ) -> list[SettlementConfirmation]:
        """``private/get_settlement_history_by_currency`` (``type``: e.g. ``settlement``)."""
        params = _params(
            currency=(currency, _name),
            type=(type, _name),
            count=(count, _int),
            search_start_timestamp=(search_start_timestamp, _int),
        )
        return cast(list[SettlementConfirmation], await self._request(
            _M["private/get_settlement_history_by_currency"], params))

    async def get_settlement_history_by_instrument(
        self, *, instrument_name: str, type: str, count: int | None = None,
        search_start_timestamp: int | None = None,
    ) -> list[SettlementConfirmation]:
        """``private/get_settlement_history_by_instrument`` (``type``: e.g.
        ``settlement``)."""
        params = _params(
            instrument_name=(instrument_name, _name),
            type=(type, _name),
            count=(count, _int),
            search_start_timestamp=(search_start_timestamp, _int),
        )
        return cast(list[SettlementConfirmation], await self._request(
            _M["private/get_settlement_history_by_instrument"], params))

    async def get_user_trades_by_instrument(
        self, *, instrument_name: str, count: int | None = None,
        end_timestamp: int | None = None, sorting: str | None = None,
        start_timestamp: int | None = None,
    ) -> list[TradesResponse]:
        """``private/get_user_trades_by_instrument``: this account's trades on one
        instrument."""
        params = _params(
            instrument_name=(instrument_name, _name),
            count=(count, _int),
            end_timestamp=(end_timestamp, _int),
            sorting=(sorting, _name),
            start_timestamp=(start_timestamp, _int),
        )
        return cast(list[TradesResponse],
                    await self._request(_M["private/get_user_trades_by_instrument"], params))

    async def get_user_trades_by_order(
        self, *, order_id: str, count: int | None = None, sorting: str | None = None
    ) -> list[TradesResponse]:
        """``private/get_user_trades_by_order``: the trades of one order."""
        params = _params(order_id=(order_id, _name), count=(count, _int),
                         sorting=(sorting, _name))
        return cast(list[TradesResponse],
                    await self._request(_M["private/get_user_trades_by_order"], params))

    # -- wallet ------------------------------------------------------------------------------

    async def get_account_summary(
        self, *, currency: str | None = None
    ) -> GetAccountSummaryResponse:
        """``private/get_account_summary``: balances and margins."""
        params = _params(currency=(currency, _name))
        return cast(GetAccountSummaryResponse,
                    await self._request(_M["private/get_account_summary"], params))

    async def get_deposits(
        self, *, currency: str | None = None, count: int | None = None,
        offset: int | None = None,
    ) -> list[DepositWithdrawalConfirmation]:
        """``private/get_deposits``: deposit history."""
        params = _params(currency=(currency, _name), count=(count, _int),
                         offset=(offset, _int))
        return cast(list[DepositWithdrawalConfirmation],
                    await self._request(_M["private/get_deposits"], params))

    async def get_positions(
        self, *, currency: str | None = None, kind: str | None = None
    ) -> list[PositionConfirmation]:
        """``private/get_positions``: open positions."""
        params = _params(currency=(currency, _name), kind=(kind, _name))
        return cast(list[PositionConfirmation],
                    await self._request(_M["private/get_positions"], params))


# -- what each typed method raises ------------------------------------------------------------


def raises_fields(spec: MethodSpec) -> str:
    """The ``:raises`` fields of the typed method of ``spec``, from how the spec makes it
    travel (private, WebSocket only, an order) and what the session does with each outcome."""
    refused = (
        "if the client has no ``client_id`` and ``client_secret`` (a private method) or the "
        "gateway refused them" if spec.private
        else "if the gateway refused the client's credentials (or, over HTTP, the request)"
    )
    fields = [
        ("ValidationError", "if an argument breaks its rule (the message names it)"
         + (", or the client is HTTP only: this method is served on the WebSocket only"
            if spec.ws_only else "") + "; nothing is sent"),
        ("AuthError", refused),
        ("PulseRpcError", "if the gateway answers with an error (its ``code``, ``message`` "
         "and ``data``): the call was refused, not executed"
         + ("" if spec.places_order else
            "; a busy gateway ('too many requests') is waited out first, within ``timeout``")),
    ]
    if spec.places_order:
        fields += [
            ("UnknownOutcomeError", "if the order left but no readable reply came back (none "
             "within ``timeout``, the connection dropped, an unreadable answer): it may have "
             "executed and is never re-sent; find it by the error's ``label`` with "
             ":meth:`get_order_state_by_label` or on ``user.orders``"),
            ("TransportError", "if the order never left (the connection was not ready within "
             "``timeout`` or could not be made), the client was closed while it waited, or it "
             "gave up reconnecting"),
        ]
    else:
        fields.append(
            ("TransportError", "if the connection was not ready within ``timeout``, dropped "
             "before the reply, or no reply came in time (the call is never re-sent), or the "
             "client gave up reconnecting"))
        if spec.shape != "none":
            fields.append(("ApiError", "if the result is not the documented shape"))
    fields.append(("KanaError", "if the client is closed or logged out"))
    return "\n".join(
        textwrap.fill(f":raises {error}: {why}", width=96, subsequent_indent="   ",
                      break_on_hyphens=False)
        for error, why in fields
    )


def _document_raises() -> None:
    """Append its ``:raises`` fields to every typed method's docstring (``help()`` and the
    reference show them)."""
    for spec in METHODS.values():
        method = PulseMethods.__dict__.get(spec.name)
        if method is None:  # subscribe and unsubscribe_all are the client's own
            continue
        method.__doc__ = with_fields(method.__doc__, raises_fields(spec))


_document_raises()
