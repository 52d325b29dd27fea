"""Wire models of the Pulse v2 gateway: every result and notification schema of its document.

Each Struct is named after the document's schema without its namespace (``models.``,
``services.``, ``user.``, ``connection.``, ``funding.``) and exposes every documented field
under the document's name; each field is optional and ``None`` when absent, and unknown
fields are ignored. Numbers that are money, prices, amounts, rates or other measurements decode
to ``Decimal``, from JSON numbers and numeric strings alike, and a non-finite or absurd one
fails the decode like the Kana models. Integer timestamps are kept as sent: the document mixes
seconds and milliseconds. Sides, order types and states are plain strings: the document's enums
mix actions and filters into them.

Order-book levels are kept as sent (``[price, amount]`` or ``[action, price, amount]``), with
JSON numbers as ``Decimal``; :func:`book_level` reads one.
"""

from __future__ import annotations

import decimal
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, NamedTuple, TypeVar

import msgspec

from .common import WireBytes, WireStruct, check_money, decode_lenient

__all__ = [
    "BookLevel",
    "BookNotification",
    "BuySellResponse",
    "ConnectionMessage",
    "DepositWithdrawalConfirmation",
    "Fee",
    "FundingPaymentArray",
    "FundingPaymentNotification",
    "FundingPriceArray",
    "FundingPriceNotification",
    "FundingRateNotification",
    "GetAccountSummaryResponse",
    "GetDeliveryPricesResponse",
    "GetFundingChartDataResponse",
    "GetFundingRateHistoryResponse",
    "GetInstrumentResponse",
    "GetOrderBookResponse",
    "GetTradingviewChartDataResponse",
    "HeartbeatTrade",
    "LoginResponse",
    "MMPConfig",
    "MMPNotification",
    "Metadata",
    "OrderBookGreek",
    "OrderBookStats",
    "OrderConfirmation",
    "PositionConfirmation",
    "PriceNotification",
    "Prices",
    "PublishFee",
    "PulseDecoder",
    "QuoteNotification",
    "SettlementConfirmation",
    "TradeConfirmation",
    "TradesResponse",
    "UserChangesNotification",
    "book_level",
]

T = TypeVar("T")

#: A level of a book side as sent: ``[price, amount]`` or ``[action, price, amount]``.
RawLevel = list[Any]


# -- transport and authentication -----------------------------------------------------------


class ConnectionMessage(WireStruct, frozen=True, kw_only=True):
    """``connection.Message``: the status reply of heartbeat and unsubscribe calls, and the
    body of every documented HTTP 400."""

    description: str | None = None
    response: Any = None
    status: int | None = None


class LoginResponse(WireStruct, frozen=True, kw_only=True):
    """``services.LoginResponse``. Its repr never shows the tokens."""

    access_token: str | None = None
    #: Seconds, per the schema (the document's example is an epoch value: AU3).
    expires_in: int | None = None
    refresh_token: str | None = None
    scope: str | None = None
    token_type: str | None = None

    def __repr__(self) -> str:
        def shown(token: str | None) -> str:
            return "None" if token is None else "'***'"

        return (
            f"LoginResponse(access_token={shown(self.access_token)}, "
            f"expires_in={self.expires_in}, refresh_token={shown(self.refresh_token)}, "
            f"scope={self.scope!r}, token_type={self.token_type!r})"
        )

    __str__ = __repr__

    def __rich_repr__(self) -> Any:  # rich would otherwise list the fields itself
        yield "access_token", None if self.access_token is None else "***"
        yield "expires_in", self.expires_in
        yield "refresh_token", None if self.refresh_token is None else "***"
        yield "scope", self.scope
        yield "token_type", self.token_type


# -- orders and trades ----------------------------------------------------------------------


class OrderConfirmation(WireStruct, frozen=True, kw_only=True):
    """``models.OrderConfirmation``: the order object of every trading result and of
    ``user.orders``."""

    amount: Decimal | None = None
    api: bool | None = None
    average_price: Decimal | None = None
    cancel_reason: str | None = None
    creation_timestamp: int | None = None
    direction: str | None = None
    filled_amount: Decimal | None = None
    instrument_name: str | None = None
    is_primary_otoco: bool | None = None
    is_secondary_oto: bool | None = None
    label: str | None = None
    last_update_timestamp: int | None = None
    linked_order_type: str | None = None
    max_show: Decimal | None = None
    mmp: bool | None = None
    order_id: str | None = None
    order_state: str | None = None
    order_type: str | None = None
    oto_order_ids: list[str] | None = None
    post_only: bool | None = None
    price: Decimal | None = None
    primary_order_id: str | None = None
    reduce_only: bool | None = None
    replaced: bool | None = None
    status_otoco: str | None = None
    time_in_force: str | None = None
    trigger: str | None = None
    trigger_fill_condition: str | None = None
    trigger_price: Decimal | None = None
    usd: Decimal | None = None


class TradeConfirmation(WireStruct, frozen=True, kw_only=True):
    """``models.TradeConfirmation``: a fill inside a buy, sell or edit result."""

    advanced: str | None = None
    amount: Decimal | None = None
    api: bool | None = None
    direction: str | None = None
    index_price: Decimal | None = None
    instrument_name: str | None = None
    label: str | None = None
    mark_price: Decimal | None = None
    order_id: str | None = None
    order_type: str | None = None
    price: Decimal | None = None
    state: str | None = None
    tick_direction: int | None = None
    timestamp: int | None = None
    trade_id: str | None = None
    trade_seq: int | None = None
    underlying_index: str | None = None
    underlying_price: Decimal | None = None


class TradesResponse(WireStruct, frozen=True, kw_only=True):
    """``models.TradesResponse``: a trade of the trade queries and of ``user.trades``.

    The document lists no ``order_id``; one sent anyway is kept.
    """

    amount: Decimal | None = None
    api: bool | None = None
    direction: str | None = None
    index_price: Decimal | None = None
    instrument_name: str | None = None
    mark_iv: Decimal | None = None
    mark_price: Decimal | None = None
    price: Decimal | None = None
    tick_direction: int | None = None
    timestamp: int | None = None
    trade_id: str | None = None
    trade_seq: int | None = None
    order_id: str | None = None


class BuySellResponse(WireStruct, frozen=True, kw_only=True):
    """``models.BuySellResponse``: the result of ``buy``, ``sell`` and ``edit``."""

    order: OrderConfirmation | None = None
    trades: list[TradeConfirmation] | None = None


class PositionConfirmation(WireStruct, frozen=True, kw_only=True):
    """``models.PositionConfirmation``. ``leverage`` and ``size_currency`` are typed integer
    in the document but may be fractional."""

    average_price: Decimal | None = None
    delta: Decimal | None = None
    direction: str | None = None
    estimated_liquidation_price: Decimal | None = None
    floating_profit_loss: Decimal | None = None
    index_price: Decimal | None = None
    initial_margin: Decimal | None = None
    instrument_name: str | None = None
    interest_value: Decimal | None = None
    kind: str | None = None
    leverage: Decimal | None = None
    maintenance_margin: Decimal | None = None
    mark_price: Decimal | None = None
    open_orders_margin: Decimal | None = None
    realized_profit_loss: Decimal | None = None
    settlement_price: Decimal | None = None
    size: Decimal | None = None
    size_currency: Decimal | None = None
    size_out: Decimal | None = None
    total_profit_loss: Decimal | None = None


class SettlementConfirmation(WireStruct, frozen=True, kw_only=True):
    """``models.SettlementConfirmation`` (``index_price`` and ``profit_loss`` are decimal
    strings on the wire)."""

    index_price: Decimal | None = None
    instrument_name: str | None = None
    position: str | None = None
    profit_loss: Decimal | None = None
    timestamp: int | None = None
    type: str | None = None


class MMPConfig(WireStruct, frozen=True, kw_only=True):
    """``models.SetMMPConfig``: the market-maker-protection settings."""

    frozen_time: Decimal | None = None
    index_name: str | None = None
    interval: Decimal | None = None
    quantity_limit: Decimal | None = None


# -- wallet -----------------------------------------------------------------------------------


class GetAccountSummaryResponse(WireStruct, frozen=True, kw_only=True):
    """``models.GetAccountSummaryResponse``."""

    balance: Decimal | None = None
    creation_timestamp: int | None = None
    currency: str | None = None
    email: str | None = None
    equity: Decimal | None = None
    futures_session_rpl: Decimal | None = None
    futures_session_upl: Decimal | None = None
    id: str | None = None
    initial_margin: Decimal | None = None
    maintenance_margin: Decimal | None = None
    margin_balance: Decimal | None = None
    options_session_rpl: Decimal | None = None
    options_session_upl: Decimal | None = None
    session_rpl: Decimal | None = None
    session_upl: Decimal | None = None
    total_pl: Decimal | None = None


class DepositWithdrawalConfirmation(WireStruct, frozen=True, kw_only=True):
    """``models.DepositWithdrawalConfirmation``."""

    amount: Decimal | None = None
    currency: str | None = None
    received_timestamp: int | None = None
    state: str | None = None
    transaction_id: str | None = None


# -- market data ------------------------------------------------------------------------------


class GetInstrumentResponse(WireStruct, frozen=True, kw_only=True):
    """``models.GetInstrumentResponse``. ``contract_size`` may be fractional."""

    base_currency: str | None = None
    contract_size: Decimal | None = None
    expiration_timestamp: int | None = None
    instrument_name: str | None = None
    is_active: bool | None = None
    kind: str | None = None
    option_type: str | None = None
    price_index: str | None = None
    quote_currency: str | None = None
    settlement_currency: str | None = None
    strike: Decimal | None = None


class OrderBookGreek(WireStruct, frozen=True, kw_only=True):
    """``models.OrderBookGreek`` (options only)."""

    delta: Decimal | None = None
    gamma: Decimal | None = None
    rho: Decimal | None = None
    theta: Decimal | None = None
    vega: Decimal | None = None


class OrderBookStats(WireStruct, frozen=True, kw_only=True):
    """``models.OrderBookStats``: rolling 24 h figures."""

    high: Decimal | None = None
    low: Decimal | None = None
    price_change: Decimal | None = None
    volume: Decimal | None = None


class GetOrderBookResponse(WireStruct, frozen=True, kw_only=True):
    """``models.GetOrderBookResponse``. It has no ``change_id``: it is never joined to a
    ``book.*`` chain. Levels as sent; read one with :func:`book_level`."""

    ask_iv: Decimal | None = None
    asks: list[RawLevel] | None = None
    best_ask_amount: Decimal | None = None
    best_ask_price: Decimal | None = None
    best_bid_amount: Decimal | None = None
    best_bid_price: Decimal | None = None
    bid_iv: Decimal | None = None
    bids: list[RawLevel] | None = None
    greeks: OrderBookGreek | None = None
    index_price: Decimal | None = None
    instrument_name: str | None = None
    last_price: Decimal | None = None
    settlement_price: Decimal | None = None
    state: str | None = None
    stats: OrderBookStats | None = None
    timestamp: int | None = None
    underlying_index: str | None = None
    underlying_price: Decimal | None = None


class GetTradingviewChartDataResponse(WireStruct, frozen=True, kw_only=True):
    """``models.GetTradingviewChartDataResponse``: columns of bars (``ticks`` in ms)."""

    close: list[Decimal] | None = None
    cost: list[Decimal] | None = None
    high: list[Decimal] | None = None
    low: list[Decimal] | None = None
    open: list[Decimal] | None = None
    status: str | None = None
    ticks: list[int] | None = None
    volume: list[Decimal] | None = None


class FundingPaymentArray(WireStruct, frozen=True, kw_only=True):
    """``models.FundingPaymentArray``."""

    payment: Decimal | None = None
    range_end: int | None = None
    range_start: int | None = None
    timestamp: int | None = None


class FundingPriceArray(WireStruct, frozen=True, kw_only=True):
    """``models.FundingPriceArray``: perpetual and spot OHLC of one window."""

    perp_close: Decimal | None = None
    perp_high: Decimal | None = None
    perp_low: Decimal | None = None
    perp_open: Decimal | None = None
    spot_close: Decimal | None = None
    spot_high: Decimal | None = None
    spot_low: Decimal | None = None
    spot_open: Decimal | None = None
    timestamp: int | None = None


class GetFundingChartDataResponse(WireStruct, frozen=True, kw_only=True):
    """``models.GetFundingChartDataResponse``."""

    current_payment: Decimal | None = None
    funding_payments: list[FundingPaymentArray] | None = None
    funding_prices: list[FundingPriceArray] | None = None


class GetFundingRateHistoryResponse(WireStruct, frozen=True, kw_only=True):
    """``models.GetFundingRateHistoryResponse`` (same fields as the chart data)."""

    current_payment: Decimal | None = None
    funding_payments: list[FundingPaymentArray] | None = None
    funding_prices: list[FundingPriceArray] | None = None


class GetDeliveryPricesResponse(WireStruct, frozen=True, kw_only=True):
    """``models.GetDeliveryPricesResponse`` (``date`` as sent, ``YYYY-MM-DD``)."""

    date: str | None = None
    delivery_price: Decimal | None = None


# -- notifications ----------------------------------------------------------------------------


class BookNotification(WireStruct, frozen=True, kw_only=True):
    """``models.BookNotification``: a ``snapshot`` or a ``change`` of one book's chain.

    Levels as sent; read one with :func:`book_level`.
    """

    asks: list[RawLevel] | None = None
    bids: list[RawLevel] | None = None
    change_id: int | None = None
    instrument_name: str | None = None
    prev_change_id: int | None = None
    timestamp: int | None = None
    type: str | None = None


class PriceNotification(WireStruct, frozen=True, kw_only=True):
    """``models.PriceNotification`` (``deribit_price_index`` and ``settlement_prices``)."""

    index_name: str | None = None
    price: Decimal | None = None
    timestamp: int | None = None


class QuoteNotification(WireStruct, frozen=True, kw_only=True):
    """``models.QuoteNotification``: best bid and ask with their amounts."""

    best_ask_amount: Decimal | None = None
    best_ask_price: Decimal | None = None
    best_bid_amount: Decimal | None = None
    best_bid_price: Decimal | None = None
    instrument_name: str | None = None
    timestamp: int | None = None


class FundingPaymentNotification(WireStruct, frozen=True, kw_only=True):
    """``models.FundingPaymentNotification`` (decimal strings on the wire)."""

    amount: Decimal | None = None
    instrument_name: str | None = None
    volume: Decimal | None = None


class Metadata(WireStruct, frozen=True, kw_only=True):
    """``funding.Metadata``."""

    type: str | None = None
    version: str | None = None


class Prices(WireStruct, frozen=True, kw_only=True):
    """``funding.Prices``: OHLC (decimal strings on the wire)."""

    close: Decimal | None = None
    high: Decimal | None = None
    low: Decimal | None = None
    open: Decimal | None = None


class FundingPriceNotification(WireStruct, frozen=True, kw_only=True):
    """``models.FundingPriceNotification``. ``range_start``/``range_end`` are RFC 3339
    strings in the document; kept as sent (an integer too)."""

    instrument_name: str | None = None
    metadata: Metadata | None = None
    perpetual_price: Prices | None = None
    range_end: str | int | None = None
    range_start: str | int | None = None
    spot_price: Prices | None = None
    timestamp: int | None = None


class FundingRateNotification(WireStruct, frozen=True, kw_only=True):
    """``models.FundingRateNotification`` (``rate`` is a decimal string on the wire)."""

    instrument_name: str | None = None
    range_end: int | None = None
    range_start: int | None = None
    rate: Decimal | None = None


class MMPNotification(WireStruct, frozen=True, kw_only=True):
    """``models.MMPNotification``: a market-maker-protection limit was crossed."""

    frozen_until: int | None = None
    index_name: str | None = None


class UserChangesNotification(WireStruct, frozen=True, kw_only=True):
    """``models.UserChangesNotification``: the user's order and trade updates of one
    instrument (no positions, unlike Deribit)."""

    orders: list[OrderConfirmation] | None = None
    trades: list[TradesResponse] | None = None


class HeartbeatTrade(WireStruct, frozen=True, kw_only=True):
    """``user.HeartbeatTrade``: the trading status, ``active`` or ``inactive``."""

    status_trade: str | None = None


class Fee(WireStruct, frozen=True, kw_only=True):
    """``user.Fee``."""

    percentage: Decimal | None = None
    volume: Decimal | None = None


class PublishFee(WireStruct, frozen=True, kw_only=True):
    """``user.PublishFee``: the user's fee per product family."""

    future: Fee | None = None
    option: Fee | None = None
    perpetual: Fee | None = None
    user_id: str | None = None


# -- levels and decoding ----------------------------------------------------------------------


class BookLevel(NamedTuple):
    """One level read by :func:`book_level`; ``action`` is ``None`` for ``[price, amount]``."""

    # decimal.Decimal spelled out: a NamedTuple's annotations stay text in its signature.
    action: str | None
    price: decimal.Decimal
    amount: decimal.Decimal


def _number(value: object, what: str) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"a level's {what} must be a number, got a boolean")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))  # the shortest text that round-trips: what was sent
    elif isinstance(value, str):
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"a level's {what} must be a number") from None
    else:
        raise ValueError(f"a level's {what} must be a number")
    check_money(number, Decimal)
    return number


def book_level(level: object) -> BookLevel:
    """Read one level, ``[price, amount]`` or ``[action, price, amount]``.

    :raises ValueError: naming the rule, for any other shape, a non-numeric or non-finite
       price or amount, or a non-string action
    """
    if not isinstance(level, (list, tuple)):
        raise ValueError("a level must be [price, amount] or [action, price, amount]")
    if len(level) == 2:
        action: str | None = None
        price, amount = level
    elif len(level) == 3:
        first, price, amount = level
        if not isinstance(first, str):
            raise ValueError("a level's action must be a string (new, change or delete)")
        action = first
    else:
        raise ValueError("a level must be [price, amount] or [action, price, amount]")
    try:
        return BookLevel(action, _number(price, "price"), _number(amount, "amount"))
    except msgspec.ValidationError:
        raise ValueError("a level's price and amount must be finite numbers") from None


class PulseDecoder(Generic[T]):
    """A JSON decoder for one Pulse wire type.

    Numbers and numeric strings are accepted interchangeably; JSON numbers inside untyped
    parts (book levels, ``connection.Message.response``) become ``Decimal``, never ``float``;
    non-finite money is refused (``msgspec.ValidationError`` naming the field); a frame that
    still fails is retried once with numeric ids turned into strings.
    """

    __slots__ = ("_decode", "type")

    def __init__(self, type_: Any) -> None:
        self.type: Any = type_
        self._decode = msgspec.json.Decoder(type_, strict=False, float_hook=Decimal).decode

    def __repr__(self) -> str:
        return f"PulseDecoder({getattr(self.type, '__name__', self.type)})"

    def decode(self, data: WireBytes) -> T:
        """Decode ``data`` (JSON bytes or text) into the decoder's type.

        :raises msgspec.DecodeError: if ``data`` is not JSON, or is nested too deeply
        :raises msgspec.ValidationError: if it is not the type's shape, or holds non-finite
           money (the message names the field)
        """
        try:
            try:
                value: T = self._decode(data)
            except msgspec.ValidationError:
                value = decode_lenient(data, self.type)
        except RecursionError:
            raise msgspec.DecodeError("JSON nested too deeply") from None
        return check_money(value, self.type)
