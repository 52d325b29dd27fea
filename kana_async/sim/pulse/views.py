"""Domain values as the document's JSON shapes, every documented field present, and the one
encoder of the gateway.

Field names are the document's schema fields (``models.OrderConfirmation`` and friends);
fields that do not apply to a perpetual (options, linked orders) are present as ``null``.
Amounts are USD, prices USD, money in the coin, timestamps integer ms. Numbers stay
:class:`~decimal.Decimal` until :func:`encode`, which writes them as exact JSON numbers
(``msgspec`` with ``decimal_format="number"``); integral values are written without a
fraction. Where the document types a decimal as a string (settlement ``index_price`` and
``profit_loss``, funding notifications) it gets a string.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import msgspec

from .domain import (
    AccountSummary,
    BookSummary,
    Candles,
    Deposit,
    FundingRound,
    MMPConfig,
    Order,
    PositionReport,
    Settlement,
    Trade,
    order_id_text,
)
from .instruments import Instrument

__all__ = [
    "PERPETUAL_EXPIRY_MS",
    "account_summary",
    "book_summary",
    "candles",
    "decode",
    "delivery_price",
    "deposit",
    "encode",
    "funding_chart",
    "funding_payment",
    "funding_price",
    "funding_rate",
    "instrument",
    "message",
    "mmp_config",
    "num",
    "order_confirmation",
    "position_confirmation",
    "rfc3339",
    "settlement",
    "trade_confirmation",
    "trades_response",
]

Json = dict[str, Any]

#: Deribit's expiration timestamp for perpetuals (3000-01-01).
PERPETUAL_EXPIRY_MS = 32_503_708_800_000

_ENCODER = msgspec.json.Encoder(decimal_format="number")
_DECODER = msgspec.json.Decoder(float_hook=Decimal)


def encode(obj: object) -> bytes:
    """The gateway's one JSON encoder: Decimals become exact JSON numbers."""
    return _ENCODER.encode(obj)


def decode(data: bytes | str) -> Any:
    """JSON with every fractional number as an exact Decimal (integers stay ints)."""
    return _DECODER.decode(data)


def num(value: Decimal | int | None) -> Decimal | int | None:
    """A number for the wire: integral values as int (``60000``, not ``60000.0``)."""
    if value is None or isinstance(value, int):
        return value
    if value == value.to_integral_value():
        return int(value)
    return value


def _text(value: Decimal) -> str:
    """A decimal string the document types as string; never exponent notation."""
    return format(value, "f")


def rfc3339(ms: int) -> str:
    """An RFC 3339 UTC time (``range_start``/``range_end`` of ``funding_prices``)."""
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def message(description: str = "ok") -> Json:
    """``connection.Message``: the reply of heartbeat and unsubscribe_all calls."""
    return {"description": description, "response": None, "status": 200}


# -- orders and trades ---------------------------------------------------------------------------


def order_confirmation(order: Order) -> Json:
    """``models.OrderConfirmation`` (all 29 fields)."""
    inst = order.instrument
    trigger_price = None if order.trigger_price is None else num(inst.price(order.trigger_price))
    max_show = inst.amount(order.amount if order.max_show is None else order.max_show)
    return {
        "amount": num(inst.amount(order.amount)),
        "api": order.api,
        "average_price": num(order.average_price) if order.filled else 0,
        "cancel_reason": order.cancel_reason,
        "creation_timestamp": order.creation_ms,
        "direction": order.direction,
        "filled_amount": num(inst.amount(order.filled)),
        "instrument_name": inst.instrument_name,
        "is_primary_otoco": False,
        "is_secondary_oto": False,
        "label": order.label,
        "last_update_timestamp": order.update_ms,
        "linked_order_type": None,
        "max_show": num(max_show),
        "mmp": order.mmp,
        "order_id": order_id_text(order.order_id),
        "order_state": order.state,
        "order_type": order.order_type,
        "oto_order_ids": None,
        "post_only": order.post_only,
        "price": num(inst.price(order.price)) if order.price else None,
        "primary_order_id": None,
        "reduce_only": order.reduce_only,
        "replaced": order.replaced,
        "status_otoco": None,
        "time_in_force": order.time_in_force,
        "trigger": order.trigger,
        "trigger_fill_condition": None,
        "trigger_price": trigger_price,
        "usd": None,
    }


def _party_fields(trade: Trade, account: str) -> tuple[int, str, str]:
    """(order id, order type, label) of ``account``'s side of ``trade``."""
    if account == trade.taker:
        return trade.taker_order_id, trade.taker_order_type, trade.taker_label
    return trade.maker_order_id, trade.maker_order_type, trade.maker_label


def trade_confirmation(trade: Trade, account: str, *, state: str | None = None) -> Json:
    """``models.TradeConfirmation`` of ``account``'s side (buy, sell and edit results).

    ``state`` is the state of the account's order after the call (the document's ``state``).
    """
    inst = trade.instrument
    order_id, order_type, label = _party_fields(trade, account)
    return {
        "advanced": None,
        "amount": num(inst.amount(trade.amount)),
        "api": True,
        "direction": trade.direction_of(account),
        "index_price": num(trade.index_price),
        "instrument_name": inst.instrument_name,
        "label": label,
        "mark_price": num(trade.mark_price),
        "order_id": order_id_text(order_id),
        "order_type": order_type,
        "price": num(inst.price(trade.price)),
        "state": state,
        "tick_direction": trade.tick_direction,
        "timestamp": trade.timestamp,
        "trade_id": trade.trade_id,
        "trade_seq": trade.trade_seq,
        "underlying_index": inst.index_name,
        "underlying_price": num(trade.index_price),
    }


def trades_response(trade: Trade, account: str | None = None) -> Json:
    """``models.TradesResponse``; the taker's side for the public, the viewer's own side (plus
    an extra ``order_id``) when the viewer is a party."""
    inst = trade.instrument
    party = account is not None and account in (trade.taker, trade.maker)
    out: Json = {
        "amount": num(inst.amount(trade.amount)),
        "api": True,
        "direction": trade.direction_of(account) if party and account else trade.taker_direction,
        "index_price": num(trade.index_price),
        "instrument_name": inst.instrument_name,
        "mark_iv": None,
        "mark_price": num(trade.mark_price),
        "price": num(inst.price(trade.price)),
        "tick_direction": trade.tick_direction,
        "timestamp": trade.timestamp,
        "trade_id": trade.trade_id,
        "trade_seq": trade.trade_seq,
    }
    if party and account:
        out["order_id"] = order_id_text(_party_fields(trade, account)[0])
    return out


# -- account -------------------------------------------------------------------------------------

_POSITION_FIELDS = (
    "average_price", "delta", "direction", "estimated_liquidation_price",
    "floating_profit_loss", "index_price", "initial_margin", "instrument_name",
    "interest_value", "kind", "leverage", "maintenance_margin", "mark_price",
    "open_orders_margin", "realized_profit_loss", "settlement_price", "size", "size_currency",
    "size_out", "total_profit_loss",
)

_SUMMARY_FIELDS = (
    "balance", "creation_timestamp", "currency", "email", "equity", "futures_session_rpl",
    "futures_session_upl", "id", "initial_margin", "maintenance_margin", "margin_balance",
    "options_session_rpl", "options_session_upl", "session_rpl", "session_upl", "total_pl",
)


def _fields(value: object, names: Iterable[str]) -> Json:
    out: Json = {}
    for name in names:
        field = getattr(value, name)
        out[name] = num(field) if isinstance(field, Decimal) else field
    return out


def position_confirmation(report: PositionReport) -> Json:
    """``models.PositionConfirmation`` (all 20 fields)."""
    return _fields(report, _POSITION_FIELDS)


def account_summary(summary: AccountSummary) -> Json:
    """``models.GetAccountSummaryResponse`` (all 16 fields)."""
    return _fields(summary, _SUMMARY_FIELDS)


def deposit(value: Deposit) -> Json:
    """``models.DepositWithdrawalConfirmation``."""
    return {
        "amount": num(value.amount),
        "currency": value.currency,
        "received_timestamp": value.received_timestamp,
        "state": value.state,
        "transaction_id": value.transaction_id,
    }


def settlement(value: Settlement) -> Json:
    """``models.SettlementConfirmation``: ``index_price`` and ``profit_loss`` are strings."""
    return {
        "index_price": _text(value.index_price),
        "instrument_name": value.instrument.instrument_name,
        "position": value.position,
        "profit_loss": _text(value.profit_loss),
        "timestamp": value.timestamp,
        "type": value.type,
    }


def mmp_config(config: MMPConfig) -> Json:
    """``models.SetMMPConfig``."""
    return {
        "frozen_time": num(config.frozen_time),
        "index_name": config.index_name,
        "interval": num(config.interval),
        "quantity_limit": num(config.quantity_limit),
    }


# -- market data ---------------------------------------------------------------------------------


def instrument(inst: Instrument) -> Json:
    """``models.GetInstrumentResponse``, plus Deribit's ``tick_size`` and ``min_trade_amount``
    (the document lacks them; a client needs them to place a valid order)."""
    return {
        "base_currency": inst.base_currency,
        "contract_size": num(inst.contract_size),
        "expiration_timestamp": PERPETUAL_EXPIRY_MS,
        "instrument_name": inst.instrument_name,
        "is_active": True,
        "kind": inst.kind,
        "option_type": None,
        "price_index": inst.index_name,
        "quote_currency": inst.quote_currency,
        "settlement_currency": inst.settlement_currency,
        "strike": None,
        "tick_size": num(inst.tick_size),
        "min_trade_amount": num(inst.contract_size),
        "creation_timestamp": inst.creation_ms,
    }


def _level(level: list[Decimal]) -> list[Decimal | int | None]:
    return [num(v) for v in level]


def book_summary(book: BookSummary) -> Json:
    """``models.GetOrderBookResponse`` (all 18 fields; levels ``[price, amount]``)."""
    return {
        "ask_iv": book.ask_iv,
        "asks": [_level(level) for level in book.asks],
        "best_ask_amount": num(book.best_ask_amount),
        "best_ask_price": num(book.best_ask_price),
        "best_bid_amount": num(book.best_bid_amount),
        "best_bid_price": num(book.best_bid_price),
        "bid_iv": book.bid_iv,
        "bids": [_level(level) for level in book.bids],
        "greeks": book.greeks,
        "index_price": num(book.index_price),
        "instrument_name": book.instrument_name,
        "last_price": num(book.last_price),
        "mark_price": num(book.mark_price),
        "settlement_price": num(book.settlement_price),
        "state": book.state,
        "stats": {
            "high": num(book.stats_high),
            "low": num(book.stats_low),
            "price_change": num(book.stats_price_change),
            "volume": num(book.stats_volume),
        },
        "timestamp": book.timestamp,
        "underlying_index": book.underlying_index,
        "underlying_price": num(book.underlying_price),
    }


def candles(value: Candles) -> Json:
    """``models.GetTradingviewChartDataResponse``."""
    return {
        "close": [num(v) for v in value.close],
        "cost": [num(v) for v in value.cost],
        "high": [num(v) for v in value.high],
        "low": [num(v) for v in value.low],
        "open": [num(v) for v in value.open],
        "status": value.status,
        "ticks": list(value.ticks),
        "volume": [num(v) for v in value.volume],
    }


def delivery_price(date: str, price: Decimal) -> Json:
    """``models.GetDeliveryPricesResponse``."""
    return {"date": date, "delivery_price": num(price)}


def funding_chart(rounds: Iterable[FundingRound], current_payment: Decimal) -> Json:
    """``models.GetFundingChartDataResponse`` (also each element of the rate history)."""
    payments: list[Json] = []
    prices: list[Json] = []
    for r in rounds:
        payments.append({"payment": num(r.paid), "range_end": r.range_end,
                         "range_start": r.range_start, "timestamp": r.range_end})
        prices.append({"perp_close": num(r.perp_close), "perp_high": num(r.perp_high),
                       "perp_low": num(r.perp_low), "perp_open": num(r.perp_open),
                       "spot_close": num(r.spot_close), "spot_high": num(r.spot_high),
                       "spot_low": num(r.spot_low), "spot_open": num(r.spot_open),
                       "timestamp": r.range_end})
    return {"current_payment": num(current_payment), "funding_payments": payments,
            "funding_prices": prices}


# -- funding notifications (the channel layer sends these) ---------------------------------------


def funding_payment(r: FundingRound) -> Json:
    """``models.FundingPaymentNotification``: ``amount`` and ``volume`` are decimal strings."""
    return {"amount": _text(r.paid), "instrument_name": r.instrument.instrument_name,
            "volume": _text(r.volume)}


def funding_price(r: FundingRound, timestamp: int) -> Json:
    """``models.FundingPriceNotification``: OHLC strings, RFC 3339 range."""
    return {
        "instrument_name": r.instrument.instrument_name,
        "metadata": {"type": "twap", "version": "1"},
        "perpetual_price": {"close": _text(r.perp_close), "high": _text(r.perp_high),
                            "low": _text(r.perp_low), "open": _text(r.perp_open)},
        "range_end": rfc3339(r.range_end),
        "range_start": rfc3339(r.range_start),
        "spot_price": {"close": _text(r.spot_close), "high": _text(r.spot_high),
                       "low": _text(r.spot_low), "open": _text(r.spot_open)},
        "timestamp": timestamp,
    }


def funding_rate(r: FundingRound) -> Json:
    """``models.FundingRateNotification``: ``rate`` is a decimal string, the range ms."""
    return {"instrument_name": r.instrument.instrument_name, "range_end": r.range_end,
            "range_start": r.range_start, "rate": _text(r.rate)}
