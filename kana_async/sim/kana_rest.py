"""The simulator's Kana REST API (spec §4): every documented endpoint on its documented path.

Queries answer from the :class:`~kana_async.sim.engine.Engine` (REST takes WALLET addresses and
maps them to profiles). Transaction builders validate human units against the market grid,
convert them to the on-chain integers exactly and return the unsigned entry-function payload;
they never change state. Bad input answers HTTP 400 ``{"success": false, "message": "<param>:
<rule>", "data": null}``. The spellings and body-field variants the documents and live clients
disagree on (spec §11) are all accepted, and the legacy paths of older pages and frontends
(``getTradingAccountBalance``, ``withdraw``, ``marketOrder``, ``limitOrder``) are served with the
envelope of their time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Mapping
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
from aiohttp import web

from ..errors import ValidationError
from ..models.common import normalize_address
from .engine import Engine, EngineAbort
from .faults import Faults
from .markets import MAX_PRICE_TICKS, MarketSpec, Restriction, quote_units

__all__ = ["LEGACY_ROUTES", "ROUTES", "RestParamError", "make_rest_app"]

_ENCODER = msgspec.json.Encoder()
_BODY = msgspec.json.Decoder(float_hook=Decimal)
_MAX_U64 = 2**64 - 1
_MAX_U128 = 2**128 - 1

Data = Any
Handler = Callable[[Engine, "_Params"], tuple[str, Data]]


class RestParamError(Exception):
    """A request parameter broke a rule; answered with HTTP 400 naming it."""

    def __init__(self, param: str, rule: str) -> None:
        self.param = param
        self.rule = rule
        super().__init__(f"{param}: {rule}")


def _envelope(
    success: bool, message: str, data: Data, status: int = 200, *, legacy: bool = False
) -> web.Response:
    """The JSON envelope; ``legacy`` paths answer with the oldest pages' ``status`` key."""
    key = "status" if legacy else "success"
    body = _ENCODER.encode({key: success, "message": message, "data": data})
    return web.Response(body=body, status=status, content_type="application/json")


# -- parameter parsing -------------------------------------------------------------------------


class _Params:
    """Typed access to a query string or JSON body; every error names the parameter."""

    def __init__(self, source: Mapping[str, Any]) -> None:
        self._source = source

    def raw(self, name: str, *aliases: str, required: bool = True) -> Any:
        for key in (name, *aliases):
            value = self._source.get(key)
            if value is not None and value != "":
                return value
        if required:
            raise RestParamError(name, "is required")
        return None

    def text(self, name: str, *aliases: str, required: bool = True) -> str | None:
        value = self.raw(name, *aliases, required=required)
        return None if value is None else str(value)

    def market(self, engine: Engine, name: str = "marketId") -> MarketSpec:
        market_id = _integer(self.raw(name), name, 0, _MAX_U64)
        spec = engine.markets.get(market_id)
        if spec is None:
            raise RestParamError(name, f"unknown market {market_id}")
        return spec

    def optional_market(self, engine: Engine, name: str = "marketId") -> MarketSpec | None:
        return None if self.raw(name, required=False) is None else self.market(engine, name)

    def address(self, name: str = "userAddress", *aliases: str) -> str:
        value = self.raw(name, *aliases)
        return _address(value, name)

    def optional_address(self, name: str = "userAddress", *aliases: str) -> str | None:
        value = self.raw(name, *aliases, required=False)
        return None if value is None else _address(value, name)

    def boolean(self, name: str, *aliases: str) -> bool:
        return _boolean(self.raw(name, *aliases), name)

    def integer(self, name: str, low: int, high: int, *, default: int) -> int:
        """An optional whole number within ``low..high``."""
        value = self.raw(name, required=False)
        return default if value is None else _integer(value, name, low, high)

    def vector(self, name: str, *aliases: str, required: bool = True) -> list[Any] | None:
        """A JSON array, a comma-joined string, or a single value; None if absent."""
        value = self.raw(name, *aliases, required=required)
        if value is None:
            return None
        if isinstance(value, list):
            return value
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return [value]


def _address(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise RestParamError(name, "must be a 0x-prefixed hex address")
    try:
        return normalize_address(value, param=name)
    except ValidationError as exc:
        raise RestParamError(name, exc.rule) from None


def _boolean(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise RestParamError(name, f'must be true or false, got {value!r}')


def _decimal(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        raise RestParamError(name, f"must be a number, got {value!r}")
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise RestParamError(name, f"must be a number, got {value!r}") from None
    if not number.is_finite():
        raise RestParamError(name, f"must be a finite number, got {value!r}")
    return number


def _integer(value: Any, name: str, low: int, high: int) -> int:
    number = _decimal(value, name)
    if number != number.to_integral_value():
        raise RestParamError(name, f"must be a whole number, got {value!r}")
    if not low <= number <= high:
        raise RestParamError(name, f"must be between {low} and {high}, got {value!r}")
    return int(number)


def _timestamp(value: Any, name: str) -> float:
    """Unix seconds, or an ISO-8601 time (``2024-11-21T00:00:00Z``; naive means UTC)."""
    if isinstance(value, str) and not value.strip().lstrip("-").replace(".", "", 1).isdigit():
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise RestParamError(name, "must be Unix seconds or an ISO-8601 time") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    return float(_decimal(value, name))


# -- human units -> on-chain integers ------------------------------------------------------------


def _lots(spec: MarketSpec, value: Any, name: str) -> int:
    size = _decimal(value, name)
    if size <= 0:
        raise RestParamError(name, "must be positive")
    try:
        lots = spec.lots(size)
    except ValueError:
        raise RestParamError(name, f"must be a multiple of the lot size {spec.lot}") from None
    if lots < spec.min_lots:
        minimum = spec.size_of(spec.min_lots)
        raise RestParamError(name, f"must be at least {minimum} ({spec.min_lots} lots)")
    if lots > spec.max_lots:
        maximum = spec.size_of(spec.max_lots)
        raise RestParamError(name, f"must be at most {maximum} ({spec.max_lots} lots)")
    return lots


def _ticks(spec: MarketSpec, value: Any, name: str, *, allow_zero: bool = False) -> int:
    price = _decimal(value, name)
    if price < 0 or (price == 0 and not allow_zero):
        raise RestParamError(name, "must be positive" if not allow_zero else "must not be negative")
    try:
        ticks = spec.ticks(price)
    except ValueError:
        raise RestParamError(name, f"must be a multiple of the tick size {spec.tick}") from None
    if ticks > MAX_PRICE_TICKS:
        raise RestParamError(name, f"must be at most {spec.price_of(MAX_PRICE_TICKS)}")
    return ticks


def _leverage(spec: MarketSpec, value: Any, name: str) -> int:
    leverage = _decimal(value, name)
    if leverage != leverage.to_integral_value() or not 1 <= leverage <= spec.max_leverage:
        raise RestParamError(name, f"must be a whole number from 1 to {spec.max_leverage}")
    return int(leverage)


def _restriction(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise RestParamError(name, "must be 0, 1, 2 or 3")
    try:
        return int(Restriction(_integer(value, name, 0, 255)))
    except ValueError:
        raise RestParamError(
            name, "must be 0 (none), 1 (fill or abort), 2 (immediate or cancel) or 3 (post or "
            "abort)"
        ) from None


def _amount(value: Any, name: str) -> int:
    amount = _decimal(value, name)
    if amount <= 0:
        raise RestParamError(name, "must be positive")
    try:
        units = quote_units(amount)
    except ValueError:
        raise RestParamError(name, "must have at most 6 decimals") from None
    if units > _MAX_U64:
        raise RestParamError(name, "is too large")
    return units


def _order_id(value: Any, name: str) -> int:
    return _integer(value, name, 0, _MAX_U128)


# -- payloads ----------------------------------------------------------------------------------


def _payload(engine: Engine, function: str, *args: Any) -> dict[str, Any]:
    """The unsigned entry-function payload: integers as decimal strings, bools as booleans."""
    return {
        "function": f"{engine.package_address}::perpetual_scripts::{function}",
        "functionArguments": [_arg(a) for a in args],
        "typeArguments": [],
    }


def _arg(value: Any) -> Any:
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return str(value)
    return [_arg(v) for v in value]


# -- handlers: market data -------------------------------------------------------------------------


def _market_info(engine: Engine, q: _Params) -> tuple[str, Data]:
    spec = q.market(engine)
    return "Market information fetched successfully", [engine.market_info(spec.market_id)]


def _assets_info(engine: Engine, q: _Params) -> tuple[str, Data]:
    spec = q.optional_market(engine)
    data = engine.all_market_info() if spec is None else [engine.market_info(spec.market_id)]
    return "Perpetual assets info fetched successfully", data


def _all_markets(engine: Engine, q: _Params) -> tuple[str, Data]:
    return "Perpetual assets info fetched successfully", engine.all_market_info()


def _market_price(engine: Engine, q: _Params) -> tuple[str, Data]:
    return "Market price fetched successfully", engine.market_price(q.market(engine).market_id)


def _last_price(engine: Engine, q: _Params) -> tuple[str, Data]:
    price = engine.last_price(q.market(engine).market_id)
    return "Last execution price fetched successfully", None if price is None else float(price)


def _all_trades(engine: Engine, q: _Params) -> tuple[str, Data]:
    return "Trades fetched successfully", engine.recent_trades(q.market(engine).market_id)


# -- handlers: account ---------------------------------------------------------------------------


def _wallet(q: _Params) -> str:
    return q.address("userAddress", "address")


def _profile(engine: Engine, q: _Params) -> str:
    return engine.profile_address(_wallet(q))


def _profile_address(engine: Engine, q: _Params) -> tuple[str, Data]:
    return "Profile address fetched successfully", _profile(engine, q)


def _wallet_balance(engine: Engine, q: _Params) -> tuple[str, Data]:
    return "Fetched wallet account balance successfully", _text(engine.wallet_balance(_wallet(q)))


def _profile_balance(engine: Engine, q: _Params) -> tuple[str, Data]:
    balance = engine.profile_balance(_wallet(q))
    return "Profile balance snapshot fetched successfully", _text(balance)


def _net_profile_balance(engine: Engine, q: _Params) -> tuple[str, Data]:
    balance = engine.net_profile_balance(_wallet(q))
    return "Net profile balance fetched successfully", _text(balance)


def _apt_balance(engine: Engine, q: _Params) -> tuple[str, Data]:
    return "Account APT balance fetched successfully", float(engine.apt_balance(_wallet(q)))


def _text(value: Decimal) -> str:
    return "0" if value == 0 else format(value, "f")


# -- handlers: histories and queries ------------------------------------------------------------


def _paged(
    q: _Params, fetch: Callable[[int | None], list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """``offset``/``limit``/``order`` of the records ``fetch(newest)`` gives newest first
    (only the newest ``newest`` of them, or all with None: only a page is formatted)."""
    offset = q.integer("offset", 0, 10**9, default=0)
    limit = q.integer("limit", 0, 10**6, default=10)
    order = q.text("order", required=False) or "desc"
    if order not in ("asc", "desc"):
        raise RestParamError("order", "must be asc or desc")
    if order == "asc":
        return fetch(None)[::-1][offset : offset + limit]
    return fetch(offset + limit)[offset:]


def _transfers(engine: Engine, q: _Params) -> tuple[str, Data]:
    data = engine.deposit_withdraw_history(_profile(engine, q))
    return "Deposit and withdraw history fetched successfully", data


def _funding_history(engine: Engine, q: _Params) -> tuple[str, Data]:
    profile = _profile(engine, q)
    spec = q.optional_market(engine)
    market_id = None if spec is None else spec.market_id
    return "Funding history fetched successfully", _paged(
        q, lambda newest: engine.funding_history(profile, market_id, limit=newest))


def _open_orders(engine: Engine, q: _Params) -> tuple[str, Data]:
    profile = _profile(engine, q)
    spec = q.optional_market(engine)
    data = engine.open_orders(profile, None if spec is None else spec.market_id)
    return "Open orders fetched successfully", data


def _order_history(engine: Engine, q: _Params) -> tuple[str, Data]:
    profile = _profile(engine, q)
    spec = q.optional_market(engine)
    market_id = None if spec is None else spec.market_id
    return "Order history fetched successfully", _paged(
        q, lambda newest: engine.order_history(profile, market_id, limit=newest))


def _positions(engine: Engine, q: _Params) -> tuple[str, Data]:
    profile = _profile(engine, q)
    spec = q.optional_market(engine)
    return "Positions fetched successfully", engine.positions(
        profile, None if spec is None else spec.market_id
    )


def _order_status(engine: Engine, q: _Params) -> tuple[str, Data]:
    spec = q.market(engine)
    order_id = _order_id(q.raw("orderId"), "orderId")
    record = engine.order_status(spec.market_id, str(order_id))
    if record is None:
        raise RestParamError("orderId", f"no order {order_id} in market {spec.market_id}")
    return "Order status fetched successfully", record


def _fills(engine: Engine, q: _Params) -> tuple[str, Data]:
    spec = q.market(engine)
    start = _timestamp(q.raw("from", "fromTimestamp"), "from")
    end = _timestamp(q.raw("to", "toTimestamp"), "to")
    wallet = q.optional_address("userAddress", "address")
    order = q.raw("orderId", required=False)
    data = engine.fills(
        spec.market_id, start, end,
        profile=None if wallet is None else engine.profile_address(wallet),
        order_id=None if order is None else str(_order_id(order, "orderId")),
    )
    return "Fills fetched successfully", data


def _fills_for_timestamp(engine: Engine, q: _Params) -> tuple[str, Data]:
    profile = _profile(engine, q)
    start = _timestamp(q.raw("fromTimestamp", "from"), "fromTimestamp")
    end = _timestamp(q.raw("toTimestamp", "to"), "toTimestamp")
    spec = q.optional_market(engine)
    markets = list(engine.markets) if spec is None else [spec.market_id]
    data = [f for m in markets for f in engine.fills(m, start, end, profile=profile)]
    data.sort(key=lambda f: (f["timestamp"], f["transaction_version"]))
    return "Fills fetched successfully", data


def _trade_history(engine: Engine, q: _Params) -> tuple[str, Data]:
    profile = _profile(engine, q)
    spec = q.optional_market(engine)
    data = engine.trade_history(profile, None if spec is None else spec.market_id)
    return "Trade history fetched successfully", data


def _open_order_ids(engine: Engine, q: _Params) -> tuple[str, Data]:
    profile = _profile(engine, q)
    spec = q.market(engine)
    return "Open order ids fetched successfully", engine.open_order_ids(profile, spec.market_id)


# -- handlers: transaction builders ----------------------------------------------------------------


def _deposit(engine: Engine, q: _Params) -> tuple[str, Data]:
    wallet = _wallet(q)
    amount = _amount(q.raw("amount"), "amount")
    return "Deposit payload built successfully", _payload(engine, "deposit", wallet, amount)


def _withdraw_specific(engine: Engine, q: _Params) -> tuple[str, Data]:
    wallet = _wallet(q)
    spec = q.market(engine)
    amount = _amount(q.raw("amount"), "amount")
    payload = _payload(engine, "withdraw_specific_market", wallet, spec.market_id, amount)
    return "Withdraw payload built successfully", payload


def _withdraw_multiple(engine: Engine, q: _Params) -> tuple[str, Data]:
    wallet = _wallet(q)
    ids = q.vector("marketIds", "marketId") or []
    if not ids:
        raise RestParamError("marketIds", "must name at least one market")
    market_ids = []
    for i, value in enumerate(ids):
        market_id = _integer(value, f"marketIds[{i}]", 0, _MAX_U64)
        if market_id not in engine.markets:
            raise RestParamError(f"marketIds[{i}]", f"unknown market {market_id}")
        market_ids.append(market_id)
    amount = _amount(q.raw("amount"), "amount")
    payload = _payload(engine, "withdraw_multiple_markets", wallet, market_ids, amount)
    return "Withdraw payload built successfully", payload


def _triggers(spec: MarketSpec, q: _Params) -> tuple[int, int]:
    take_profit = q.raw("takeProfit", required=False)
    stop_loss = q.raw("stopLoss", required=False)
    return (
        0 if take_profit is None else _ticks(spec, take_profit, "takeProfit", allow_zero=True),
        0 if stop_loss is None else _ticks(spec, stop_loss, "stopLoss", allow_zero=True),
    )


def _limit_order(engine: Engine, q: _Params) -> tuple[str, Data]:
    spec = q.market(engine)
    trade_side = q.boolean("tradeSide")
    direction = q.boolean("direction")
    lots = _lots(spec, q.raw("size"), "size")
    ticks = _ticks(spec, q.raw("price"), "price")
    leverage = _leverage(spec, q.raw("leverage"), "leverage")
    restriction = q.raw("restriction", required=False)
    rule = 0 if restriction is None else _restriction(restriction, "restriction")
    take_profit, stop_loss = _triggers(spec, q)
    payload = _payload(
        engine, "place_limit_order", spec.market_id, trade_side, direction, lots, ticks,
        leverage, rule, take_profit, stop_loss,
    )
    return "Limit order payload built successfully", payload


def _market_order(engine: Engine, q: _Params) -> tuple[str, Data]:
    spec = q.market(engine)
    trade_side = q.boolean("tradeSide")
    direction = q.boolean("direction")
    lots = _lots(spec, q.raw("size"), "size")
    leverage = _leverage(spec, q.raw("leverage"), "leverage")
    take_profit, stop_loss = _triggers(spec, q)
    payload = _payload(
        engine, "place_market_order", spec.market_id, trade_side, direction, lots, leverage,
        take_profit, stop_loss,
    )
    return "Market order payload built successfully", payload


def _update_trigger(engine: Engine, q: _Params, function: str, name: str) -> tuple[str, Data]:
    spec = q.market(engine)
    trade_side = q.boolean("tradeSide")
    ticks = _ticks(spec, q.raw(name), name, allow_zero=True)
    payload = _payload(engine, function, spec.market_id, trade_side, ticks)
    return f"{function.replace('_', ' ').capitalize()} payload built successfully", payload


def _take_profit(engine: Engine, q: _Params) -> tuple[str, Data]:
    return _update_trigger(engine, q, "update_take_profit", "newTakeProfitPrice")


def _stop_loss(engine: Engine, q: _Params) -> tuple[str, Data]:
    return _update_trigger(engine, q, "update_stop_loss", "newStopLossPrice")


def _add_margin(engine: Engine, q: _Params) -> tuple[str, Data]:
    spec = q.market(engine)
    trade_side = q.boolean("tradeSide")
    amount = _amount(q.raw("amount"), "amount")
    payload = _payload(engine, "add_margin", spec.market_id, trade_side, amount)
    return "Add margin payload built successfully", payload


def _collapse(engine: Engine, q: _Params) -> tuple[str, Data]:
    spec = q.market(engine)
    payload = _payload(engine, "collapse_position", spec.market_id)
    return "Collapse position payload built successfully", payload


def _settle_pnl(engine: Engine, q: _Params) -> tuple[str, Data]:
    wallet = _wallet(q)
    spec = q.market(engine)
    payload = _payload(engine, "settle_pnl", wallet, spec.market_id)
    return "Settle pnl payload built successfully", payload


# -- handlers: legacy paths (spec §4.2-4.4, §4.6) ------------------------------------------------
#
# Older pages and 2024 frontends call these; they answer with the ``status`` envelope key of that
# time and build the same payloads as their current successors.


def _trading_account_balance(engine: Engine, q: _Params) -> tuple[str, Data]:
    """``getTradingAccountBalance?address=&marketId=``: the balance one market's withdrawal can
    reach — free collateral plus that market's pending balance (closed pnl, refunds, funding)."""
    wallet = q.address("address", "userAddress")
    spec = q.market(engine)
    balance = engine.profile_balance(wallet) + engine.pending_balance(wallet, spec.market_id)
    return "Fetched trading account balance successfully", _text(balance)


def _legacy_withdraw(engine: Engine, q: _Params) -> tuple[str, Data]:
    """``withdraw?marketId=&amount=``: ``amount`` in raw 6-decimal units (old frontends sent
    ``amount * 1000000``). The payload names the wallet, so the wallet is needed here too."""
    spec = q.market(engine)
    amount = _integer(q.raw("amount"), "amount", 1, _MAX_U64)
    wallet = q.address("userAddress", "address")
    payload = _payload(engine, "withdraw_specific_market", wallet, spec.market_id, amount)
    return "Withdraw payload built successfully", payload


def _legacy_amount(q: _Params) -> None:
    """Old order forms also sent ``amount``, the order's quote value as the UI computed it;
    no on-chain argument carries it, but a malformed one is still refused."""
    amount = q.raw("amount", required=False)
    if amount is not None and _decimal(amount, "amount") <= 0:
        raise RestParamError("amount", "must be positive")


def _legacy_market_order(engine: Engine, q: _Params) -> tuple[str, Data]:
    message, payload = _market_order(engine, q)
    _legacy_amount(q)
    return message, payload


def _legacy_limit_order(engine: Engine, q: _Params) -> tuple[str, Data]:
    message, payload = _limit_order(engine, q)
    _legacy_amount(q)
    return message, payload


# -- batch bodies ---------------------------------------------------------------------------------


def _cancels(q: _Params, *, required: bool) -> tuple[list[int], list[bool]]:
    ids = q.vector("orderIds", "cancelOrderIds", required=False) or []
    sides = q.vector("cancelTradeSides", "orderSides", required=False) or []
    if required and not ids:
        raise RestParamError("orderIds", "must name at least one order")
    if len(ids) != len(sides):
        raise RestParamError(
            "cancelTradeSides", f"must have one entry per order id ({len(ids)}), got {len(sides)}"
        )
    return (
        [_order_id(v, f"orderIds[{i}]") for i, v in enumerate(ids)],
        [_boolean(v, f"cancelTradeSides[{i}]") for i, v in enumerate(sides)],
    )


def _orders(
    spec: MarketSpec, q: _Params, *, required: bool
) -> list[list[Any]]:
    """The nine parallel vectors of a batch placement (order types ... stop losses),
    validated and converted. A scalar (``restriction``, ``leverage``) applies to every order."""
    types_raw = q.vector("orderTypes", required=required) or []
    count = len(types_raw)
    if required and count == 0:
        raise RestParamError("orderTypes", "must contain at least one order")

    def column(name: str, *aliases: str, default: Any = None) -> list[Any]:
        values = q.vector(name, *aliases, required=default is None and count > 0)
        if values is None:
            return [default] * count
        if len(values) == 1 and count > 1 and not isinstance(q.raw(name, *aliases), list):
            values = values * count  # a scalar applies to every order
        if len(values) != count:
            raise RestParamError(name, f"must have {count} entries (one per order), got "
                                       f"{len(values)}")
        return values

    sides = column("tradeSides", "orderTradeSides")
    directions = column("directions")
    sizes = column("sizes")
    prices = column("prices", default=0)
    leverages = column("leverages", "leverage")
    restrictions = column("restrictions", "restriction", default=0)
    take_profits = column("takeProfits", default=0)
    stop_losses = column("stopLosses", default=0)
    out: list[list[Any]] = [[] for _ in range(9)]
    for i in range(count):
        is_limit = _boolean(types_raw[i], f"orderTypes[{i}]")
        row = [
            is_limit,
            _boolean(sides[i], f"tradeSides[{i}]"),
            _boolean(directions[i], f"directions[{i}]"),
            _lots(spec, sizes[i], f"sizes[{i}]"),
            _ticks(spec, prices[i], f"prices[{i}]") if is_limit else 0,
            _leverage(spec, leverages[i], f"leverages[{i}]"),
            _restriction(restrictions[i], f"restrictions[{i}]") if is_limit else 0,
            _ticks(spec, take_profits[i], f"takeProfits[{i}]", allow_zero=True),
            _ticks(spec, stop_losses[i], f"stopLosses[{i}]", allow_zero=True),
        ]
        for column_out, value in zip(out, row, strict=True):
            column_out.append(value)
    return out


def _place_multiple(engine: Engine, q: _Params) -> tuple[str, Data]:
    spec = q.market(engine)
    columns = _orders(spec, q, required=True)
    payload = _payload(engine, "place_multiple_orders", spec.market_id, *columns)
    return "Place multiple orders payload built successfully", payload


def _cancel_multiple(engine: Engine, q: _Params) -> tuple[str, Data]:
    spec = q.market(engine)
    ids, sides = _cancels(q, required=True)
    payload = _payload(engine, "cancel_multiple_orders", spec.market_id, ids, sides)
    return "Cancel multiple orders payload built successfully", payload


def _cancel_and_place(engine: Engine, q: _Params) -> tuple[str, Data]:
    spec = q.market(engine)
    ids, sides = _cancels(q, required=False)
    columns = _orders(spec, q, required=False)
    if not ids and not columns[0]:
        raise RestParamError("orderIds", "cancel or place at least one order")
    payload = _payload(
        engine, "cancel_and_place_multiple_orders", spec.market_id, ids, sides, *columns
    )
    return "Cancel and place multiple orders payload built successfully", payload


# -- routing -------------------------------------------------------------------------------------

_GET: dict[str, Handler] = {
    "/getMarketInfo": _market_info,
    "/getPerpetualAssetsInfo": _assets_info,
    "/getPerpetualAssetsInfo/allMarkets": _all_markets,
    "/getMarketPrice": _market_price,
    "/getLastPlacedPrice": _last_price,
    "/getLastExecutionPrice": _last_price,
    "/getAllTrades": _all_trades,
    "/getProfileAddress": _profile_address,
    "/getWalletAccountBalance": _wallet_balance,
    "/getProfileBalanceSnapshot": _profile_balance,
    "/getNetProfileBalance": _net_profile_balance,
    "/getAccountAptBalance": _apt_balance,
    "/deposit": _deposit,
    "/withdrawSpecifiMarket": _withdraw_specific,
    "/withdrawSpecificMarket": _withdraw_specific,
    "/withdrawMultipleMarkets": _withdraw_multiple,
    "/getDepositAndWithdrawHistory": _transfers,
    "/getFundingHistory": _funding_history,
    "/placeLimitOrder": _limit_order,
    "/placeMarketOrder": _market_order,
    "/updateTakeProfit": _take_profit,
    "/updateStopLoss": _stop_loss,
    "/addMargin": _add_margin,
    "/collapsePosition": _collapse,
    "/settlePnl": _settle_pnl,
    "/getOpenOrders": _open_orders,
    "/getOpenOrdersFromContract": _open_orders,
    "/getOrderHistory": _order_history,
    "/getPositions": _positions,
    "/getPositionsFromContract": _positions,
    "/getOrderStatusByOrderId": _order_status,
    "/fetchOrderStatusById": _order_status,
    "/getFills": _fills,
    "/getFillsForGivenTimestamp": _fills_for_timestamp,
    "/getTradeHistory": _trade_history,
    "/getAllOpenOrderIds": _open_order_ids,
}
#: Legacy paths (trailing slashes as old frontends wrote them); ``status`` envelope key.
_LEGACY_GET: dict[str, Handler] = {
    "/getTradingAccountBalance": _trading_account_balance,
    "/withdraw": _legacy_withdraw,
    "/withdraw/": _legacy_withdraw,
    "/marketOrder": _legacy_market_order,
    "/marketOrder/": _legacy_market_order,
    "/limitOrder": _legacy_limit_order,
    "/limitOrder/": _legacy_limit_order,
}
_POST: dict[str, Handler] = {
    "/placeMultipleOrders": _place_multiple,
    "/cancelMultipleOrders": _cancel_multiple,
    "/cancelAndPlaceMultipleOrders": _cancel_and_place,
}

#: Every path served (documented paths and the aliases clients use).
ROUTES: tuple[tuple[str, str], ...] = (
    *(("GET", path) for path in _GET),
    *(("POST", path) for path in _POST),
)
#: The legacy paths served besides (spec §4.6).
LEGACY_ROUTES: tuple[tuple[str, str], ...] = tuple(("GET", path) for path in _LEGACY_GET)

_API_KEY_HEADERS = ("x-api-key", "api_key")


def make_rest_app(
    engine: Engine, faults: Faults, *, api_keys: Collection[str] | None = None
) -> web.Application:
    """The REST API over ``engine``. ``api_keys`` None accepts any non-empty ``x-api-key``."""
    accepted = None if api_keys is None else frozenset(api_keys)

    @web.middleware
    async def transport(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Faults, then the API key, then the handler; every error as an envelope."""
        legacy = request.path in _LEGACY_GET
        if faults.refusing:
            if request.transport is not None:
                request.transport.close()
            raise web.HTTPServiceUnavailable()
        if faults.rest_delay > 0:
            await asyncio.sleep(faults.rest_delay)
        status = faults.take_rest_failure()
        if status is not None:
            response = _envelope(False, f"simulated failure (HTTP {status})", None, status,
                                 legacy=legacy)
            if status == 429 and faults.rest_retry_after is not None:
                response.headers["Retry-After"] = f"{faults.rest_retry_after:g}"
            return response
        key = next((request.headers[h] for h in _API_KEY_HEADERS if request.headers.get(h)), None)
        if key is None:
            return _envelope(False, "x-api-key header is required", None, 401, legacy=legacy)
        if accepted is not None and key not in accepted:
            return _envelope(False, "x-api-key is not valid", None, 403, legacy=legacy)
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return _envelope(False, exc.reason, None, exc.status, legacy=legacy)

    def endpoint(
        function: Handler, *, body: bool, legacy: bool = False
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            try:
                source: Mapping[str, Any]
                if body:
                    source = _json_body(await request.read())
                    # The batch endpoints also take their scalars from the query string.
                    source = {**request.query, **source}
                else:
                    source = request.query
                message, data = function(engine, _Params(source))
            except RestParamError as exc:
                return _envelope(False, str(exc), None, 400, legacy=legacy)
            except EngineAbort as exc:
                return _envelope(False, exc.reason, None, 400, legacy=legacy)
            return _envelope(True, message, data, legacy=legacy)

        return handle

    app = web.Application(middlewares=[transport])
    for path, function in _GET.items():
        app.router.add_get(path, endpoint(function, body=False), allow_head=False)
    for path, function in _LEGACY_GET.items():
        app.router.add_get(path, endpoint(function, body=False, legacy=True), allow_head=False)
    for path, function in _POST.items():
        app.router.add_post(path, endpoint(function, body=True))
    return app


def _json_body(raw: bytes) -> Mapping[str, Any]:
    if not raw.strip():
        return {}
    try:
        decoded = _BODY.decode(raw)
    except msgspec.DecodeError:
        raise RestParamError("body", "must be a JSON object") from None
    if not isinstance(decoded, dict):
        raise RestParamError("body", "must be a JSON object")
    return decoded

