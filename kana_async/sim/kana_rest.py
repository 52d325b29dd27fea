"""The simulator's Kana REST API: every documented endpoint on its documented path.

Queries answer from the :class:`~kana_async.sim.engine.Engine` (REST takes WALLET addresses and
maps them to profiles). Transaction builders validate human units against the market grid,
convert them to the on-chain integers exactly and return the unsigned entry-function payload;
they never change state. Bad input answers HTTP 400 ``{"success": false, "message": "<param>:
<rule>", "data": null}``. The spellings and body-field variants the documents and live clients
disagree on are all accepted, and the legacy paths of older pages and frontends
(``getTradingAccountBalance``, ``withdraw``, ``marketOrder``, ``limitOrder``) are served with the
envelope of their time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Mapping
from decimal import Decimal
from typing import Any

import msgspec
from aiohttp import web

from . import rest_params as p
from .engine import Engine, EngineAbort
from .faults import Faults
from .markets import MarketSpec
from .rest_params import Params, RestParamError

__all__ = ["LEGACY_ROUTES", "ROUTES", "RestParamError", "make_rest_app"]

_ENCODER = msgspec.json.Encoder()
_BODY = msgspec.json.Decoder(float_hook=Decimal)

Data = Any
Handler = Callable[[Engine, Params], tuple[str, Data]]


def _envelope(
    success: bool, message: str, data: Data, status: int = 200, *, legacy: bool = False
) -> web.Response:
    """The JSON envelope; ``legacy`` paths answer with the oldest pages' ``status`` key."""
    key = "status" if legacy else "success"
    body = _ENCODER.encode({key: success, "message": message, "data": data})
    return web.Response(body=body, status=status, content_type="application/json")


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


def _market_info(engine: Engine, q: Params) -> tuple[str, Data]:
    spec = q.market(engine)
    return "Market information fetched successfully", [engine.market_info(spec.market_id)]


def _assets_info(engine: Engine, q: Params) -> tuple[str, Data]:
    spec = q.optional_market(engine)
    data = engine.all_market_info() if spec is None else [engine.market_info(spec.market_id)]
    return "Perpetual assets info fetched successfully", data


def _all_markets(engine: Engine, q: Params) -> tuple[str, Data]:
    return "Perpetual assets info fetched successfully", engine.all_market_info()


def _market_price(engine: Engine, q: Params) -> tuple[str, Data]:
    return "Market price fetched successfully", engine.market_price(q.market(engine).market_id)


def _last_price(engine: Engine, q: Params) -> tuple[str, Data]:
    price = engine.last_price(q.market(engine).market_id)
    return "Last execution price fetched successfully", None if price is None else float(price)


def _all_trades(engine: Engine, q: Params) -> tuple[str, Data]:
    return "Trades fetched successfully", engine.recent_trades(q.market(engine).market_id)


# -- handlers: account ---------------------------------------------------------------------------


def _wallet(q: Params) -> str:
    return q.address("userAddress", "address")


def _profile(engine: Engine, q: Params) -> str:
    return engine.profile_address(_wallet(q))


def _profile_address(engine: Engine, q: Params) -> tuple[str, Data]:
    return "Profile address fetched successfully", _profile(engine, q)


def _wallet_balance(engine: Engine, q: Params) -> tuple[str, Data]:
    return "Fetched wallet account balance successfully", _text(engine.wallet_balance(_wallet(q)))


def _profile_balance(engine: Engine, q: Params) -> tuple[str, Data]:
    balance = engine.profile_balance(_wallet(q))
    return "Profile balance snapshot fetched successfully", _text(balance)


def _net_profile_balance(engine: Engine, q: Params) -> tuple[str, Data]:
    balance = engine.net_profile_balance(_wallet(q))
    return "Net profile balance fetched successfully", _text(balance)


def _apt_balance(engine: Engine, q: Params) -> tuple[str, Data]:
    return "Account APT balance fetched successfully", float(engine.apt_balance(_wallet(q)))


def _text(value: Decimal) -> str:
    return "0" if value == 0 else format(value, "f")


# -- handlers: histories and queries ------------------------------------------------------------


def _paged(
    q: Params, fetch: Callable[[int | None], list[dict[str, Any]]]
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


def _transfers(engine: Engine, q: Params) -> tuple[str, Data]:
    data = engine.deposit_withdraw_history(_profile(engine, q))
    return "Deposit and withdraw history fetched successfully", data


def _funding_history(engine: Engine, q: Params) -> tuple[str, Data]:
    profile = _profile(engine, q)
    spec = q.optional_market(engine)
    market_id = None if spec is None else spec.market_id
    return "Funding history fetched successfully", _paged(
        q, lambda newest: engine.funding_history(profile, market_id, limit=newest))


def _open_orders(engine: Engine, q: Params) -> tuple[str, Data]:
    profile = _profile(engine, q)
    spec = q.optional_market(engine)
    data = engine.open_orders(profile, None if spec is None else spec.market_id)
    return "Open orders fetched successfully", data


def _order_history(engine: Engine, q: Params) -> tuple[str, Data]:
    profile = _profile(engine, q)
    spec = q.optional_market(engine)
    market_id = None if spec is None else spec.market_id
    return "Order history fetched successfully", _paged(
        q, lambda newest: engine.order_history(profile, market_id, limit=newest))


def _positions(engine: Engine, q: Params) -> tuple[str, Data]:
    profile = _profile(engine, q)
    spec = q.optional_market(engine)
    return "Positions fetched successfully", engine.positions(
        profile, None if spec is None else spec.market_id
    )


def _order_status(engine: Engine, q: Params) -> tuple[str, Data]:
    spec = q.market(engine)
    order_id = p.order_id(q.raw("orderId"), "orderId")
    record = engine.order_status(spec.market_id, str(order_id))
    if record is None:
        raise RestParamError("orderId", f"no order {order_id} in market {spec.market_id}")
    return "Order status fetched successfully", record


def _fills(engine: Engine, q: Params) -> tuple[str, Data]:
    spec = q.market(engine)
    start = p.timestamp(q.raw("from", "fromTimestamp"), "from")
    end = p.timestamp(q.raw("to", "toTimestamp"), "to")
    wallet = q.optional_address("userAddress", "address")
    order = q.raw("orderId", required=False)
    data = engine.fills(
        spec.market_id, start, end,
        profile=None if wallet is None else engine.profile_address(wallet),
        order_id=None if order is None else str(p.order_id(order, "orderId")),
    )
    return "Fills fetched successfully", data


def _fills_for_timestamp(engine: Engine, q: Params) -> tuple[str, Data]:
    profile = _profile(engine, q)
    start = p.timestamp(q.raw("fromTimestamp", "from"), "fromTimestamp")
    end = p.timestamp(q.raw("toTimestamp", "to"), "toTimestamp")
    spec = q.optional_market(engine)
    markets = list(engine.markets) if spec is None else [spec.market_id]
    data = [f for m in markets for f in engine.fills(m, start, end, profile=profile)]
    data.sort(key=lambda f: (f["timestamp"], f["transaction_version"]))
    return "Fills fetched successfully", data


def _trade_history(engine: Engine, q: Params) -> tuple[str, Data]:
    profile = _profile(engine, q)
    spec = q.optional_market(engine)
    data = engine.trade_history(profile, None if spec is None else spec.market_id)
    return "Trade history fetched successfully", data


def _open_order_ids(engine: Engine, q: Params) -> tuple[str, Data]:
    profile = _profile(engine, q)
    spec = q.market(engine)
    return "Open order ids fetched successfully", engine.open_order_ids(profile, spec.market_id)


# -- handlers: transaction builders ----------------------------------------------------------------


def _deposit(engine: Engine, q: Params) -> tuple[str, Data]:
    wallet = _wallet(q)
    amount = p.amount(q.raw("amount"), "amount")
    return "Deposit payload built successfully", _payload(engine, "deposit", wallet, amount)


def _withdraw_specific(engine: Engine, q: Params) -> tuple[str, Data]:
    wallet = _wallet(q)
    spec = q.market(engine)
    amount = p.amount(q.raw("amount"), "amount")
    payload = _payload(engine, "withdraw_specific_market", wallet, spec.market_id, amount)
    return "Withdraw payload built successfully", payload


def _withdraw_multiple(engine: Engine, q: Params) -> tuple[str, Data]:
    wallet = _wallet(q)
    ids = q.vector("marketIds", "marketId") or []
    if not ids:
        raise RestParamError("marketIds", "must name at least one market")
    market_ids = []
    for i, value in enumerate(ids):
        market_id = p.integer(value, f"marketIds[{i}]", 0, p.MAX_U64)
        if market_id not in engine.markets:
            raise RestParamError(f"marketIds[{i}]", f"unknown market {market_id}")
        market_ids.append(market_id)
    amount = p.amount(q.raw("amount"), "amount")
    payload = _payload(engine, "withdraw_multiple_markets", wallet, market_ids, amount)
    return "Withdraw payload built successfully", payload


def _triggers(spec: MarketSpec, q: Params) -> tuple[int, int]:
    take_profit = q.raw("takeProfit", required=False)
    stop_loss = q.raw("stopLoss", required=False)
    return (
        0 if take_profit is None else p.ticks(spec, take_profit, "takeProfit", allow_zero=True),
        0 if stop_loss is None else p.ticks(spec, stop_loss, "stopLoss", allow_zero=True),
    )


def _limit_order(engine: Engine, q: Params) -> tuple[str, Data]:
    spec = q.market(engine)
    trade_side = q.boolean("tradeSide")
    direction = q.boolean("direction")
    lots = p.lots(spec, q.raw("size"), "size")
    ticks = p.ticks(spec, q.raw("price"), "price")
    leverage = p.leverage(spec, q.raw("leverage"), "leverage")
    restriction = q.raw("restriction", required=False)
    rule = 0 if restriction is None else p.restriction(restriction, "restriction")
    take_profit, stop_loss = _triggers(spec, q)
    payload = _payload(
        engine, "place_limit_order", spec.market_id, trade_side, direction, lots, ticks,
        leverage, rule, take_profit, stop_loss,
    )
    return "Limit order payload built successfully", payload


def _market_order(engine: Engine, q: Params) -> tuple[str, Data]:
    spec = q.market(engine)
    trade_side = q.boolean("tradeSide")
    direction = q.boolean("direction")
    lots = p.lots(spec, q.raw("size"), "size")
    leverage = p.leverage(spec, q.raw("leverage"), "leverage")
    take_profit, stop_loss = _triggers(spec, q)
    payload = _payload(
        engine, "place_market_order", spec.market_id, trade_side, direction, lots, leverage,
        take_profit, stop_loss,
    )
    return "Market order payload built successfully", payload


def _update_trigger(engine: Engine, q: Params, function: str, name: str) -> tuple[str, Data]:
    spec = q.market(engine)
    trade_side = q.boolean("tradeSide")
    ticks = p.ticks(spec, q.raw(name), name, allow_zero=True)
    payload = _payload(engine, function, spec.market_id, trade_side, ticks)
    return f"{function.replace('_', ' ').capitalize()} payload built successfully", payload


def _take_profit(engine: Engine, q: Params) -> tuple[str, Data]:
    return _update_trigger(engine, q, "update_take_profit", "newTakeProfitPrice")


def _stop_loss(engine: Engine, q: Params) -> tuple[str, Data]:
    return _update_trigger(engine, q, "update_stop_loss", "newStopLossPrice")


def _add_margin(engine: Engine, q: Params) -> tuple[str, Data]:
    spec = q.market(engine)
    trade_side = q.boolean("tradeSide")
    amount = p.amount(q.raw("amount"), "amount")
    payload = _payload(engine, "add_margin", spec.market_id, trade_side, amount)
    return "Add margin payload built successfully", payload


def _collapse(engine: Engine, q: Params) -> tuple[str, Data]:
    spec = q.market(engine)
    payload = _payload(engine, "collapse_position", spec.market_id)
    return "Collapse position payload built successfully", payload


def _settle_pnl(engine: Engine, q: Params) -> tuple[str, Data]:
    wallet = _wallet(q)
    spec = q.market(engine)
    payload = _payload(engine, "settle_pnl", wallet, spec.market_id)
    return "Settle pnl payload built successfully", payload


# -- handlers: legacy paths ------------------------------------------------
#
# Older pages and 2024 frontends call these; they answer with the ``status`` envelope key of that
# time and build the same payloads as their current successors.


def _trading_account_balance(engine: Engine, q: Params) -> tuple[str, Data]:
    """``getTradingAccountBalance?address=&marketId=``: the balance one market's withdrawal can
    reach — free collateral plus that market's pending balance (closed pnl, refunds, funding)."""
    wallet = q.address("address", "userAddress")
    spec = q.market(engine)
    balance = engine.profile_balance(wallet) + engine.pending_balance(wallet, spec.market_id)
    return "Fetched trading account balance successfully", _text(balance)


def _legacy_withdraw(engine: Engine, q: Params) -> tuple[str, Data]:
    """``withdraw?marketId=&amount=``: ``amount`` in raw 6-decimal units (old frontends sent
    ``amount * 1000000``). The payload names the wallet, so the wallet is needed here too."""
    spec = q.market(engine)
    amount = p.integer(q.raw("amount"), "amount", 1, p.MAX_U64)
    wallet = q.address("userAddress", "address")
    payload = _payload(engine, "withdraw_specific_market", wallet, spec.market_id, amount)
    return "Withdraw payload built successfully", payload


def _legacy_amount(q: Params) -> None:
    """Old order forms also sent ``amount``, the order's quote value as the UI computed it;
    no on-chain argument carries it, but a malformed one is still refused."""
    amount = q.raw("amount", required=False)
    if amount is not None and p.decimal(amount, "amount") <= 0:
        raise RestParamError("amount", "must be positive")


def _legacy_market_order(engine: Engine, q: Params) -> tuple[str, Data]:
    message, payload = _market_order(engine, q)
    _legacy_amount(q)
    return message, payload


def _legacy_limit_order(engine: Engine, q: Params) -> tuple[str, Data]:
    message, payload = _limit_order(engine, q)
    _legacy_amount(q)
    return message, payload


def _place_multiple(engine: Engine, q: Params) -> tuple[str, Data]:
    spec = q.market(engine)
    columns = p.orders(spec, q, required=True)
    payload = _payload(engine, "place_multiple_orders", spec.market_id, *columns)
    return "Place multiple orders payload built successfully", payload


def _cancel_multiple(engine: Engine, q: Params) -> tuple[str, Data]:
    spec = q.market(engine)
    ids, sides = p.cancels(q, required=True)
    payload = _payload(engine, "cancel_multiple_orders", spec.market_id, ids, sides)
    return "Cancel multiple orders payload built successfully", payload


def _cancel_and_place(engine: Engine, q: Params) -> tuple[str, Data]:
    spec = q.market(engine)
    ids, sides = p.cancels(q, required=False)
    columns = p.orders(spec, q, required=False)
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
#: The legacy paths served besides.
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
                message, data = function(engine, Params(source))
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

