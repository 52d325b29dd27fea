"""KanaRest: every endpoint's request (method, path, parameter names, key) and typed result."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from aioresponses import aioresponses as Aioresponses

from kana_async.errors import ApiError, ValidationError
from kana_async.models import (
    DepositWithdraw,
    FundingPayment,
    MarketInfo,
    MarketPrice,
    OpenOrder,
    Order,
    Position,
    Trade,
    TxPayload,
)
from kana_async.orders import parse_cancels, parse_order
from kana_async.rest.kana import KanaRest
from kana_async.rest.session import RestSession
from tests.conftest import load_fixture
from tests.rest.conftest import API_KEY, BASE, ok

WALLET = "0x4d6dc68e391e86991e58ab4d548b7e92872430d1f51bc666fe0c206bad7ff770"
PROFILE_63 = "0x3c78886aa67752706b3502b12959edf92e68d85ae64b24226783d26ce6efc1e"
ORDER_ID = "11905620858892513160724480"


def ws_data(name: str, index: int = 0) -> Any:
    return load_fixture(f"ws_{name}.json")["examples"][index]["body"]["data"]


MARKET_BODY = load_fixture("rest_getMarketInfo.json")["examples"][0]["body"]
FUNDING = [
    {"address": WALLET, "market_id": "1338", "trade_side": True,
     "funding_rate": "-0.0002642469135802469135802469", "amount": "-0.0123",
     "timestamp": 1747075649}
]


def payload(function: str, *args: Any) -> dict[str, Any]:
    return {
        "function": f"0x7a38039fffd016adcac2c53795ee49325e5ec6fddf3bf02651c09f9a583655a6"
        f"::perpetual_scripts::{function}",
        "functionArguments": list(args),
        "typeArguments": [],
    }


def reply(mock: Aioresponses, method: str, path: str, data: Any, **kwargs: Any) -> None:
    pattern = re.compile(rf"^{re.escape(BASE + path)}(\?.*)?$")
    mock.add(pattern, method=method, payload=ok(data), **kwargs)


def requests(mock: Aioresponses) -> list[tuple[str, str, Any]]:
    """(method, path, params-or-json-body) of every request made, in order."""
    made = []
    for (method, url), calls in mock.requests.items():
        for call in calls:
            assert call.kwargs["headers"]["x-api-key"] == API_KEY
            body = call.kwargs.get("data")
            sent = json.loads(body) if body else dict(url.query)
            made.append((method, url.path, sent))
    return made


def with_market(mock: Aioresponses) -> None:
    mock.get(f"{BASE}/getMarketInfo?marketId=1338", payload=MARKET_BODY, repeat=True)


# -- queries ---------------------------------------------------------------------------------

QUERIES: list[tuple[str, tuple[Any, ...], dict[str, Any], str, dict[str, str], Any]] = [
    ("get_market_info", (1338,), {}, "/getMarketInfo", {"marketId": "1338"},
     MARKET_BODY["data"]),
    ("get_perpetual_assets_info", (), {}, "/getPerpetualAssetsInfo/allMarkets", {},
     MARKET_BODY["data"]),
    ("get_perpetual_assets_info", ("1338",), {}, "/getPerpetualAssetsInfo",
     {"marketId": "1338"}, MARKET_BODY["data"]),
    ("get_market_price", (1338,), {}, "/getMarketPrice", {"marketId": "1338"},
     {"bestAskPrice": 5.769, "bestBidPrice": None}),
    ("get_last_placed_price", (1338,), {}, "/getLastPlacedPrice", {"marketId": "1338"}, 5.768),
    ("get_all_trades", (1338,), {}, "/getAllTrades", {"marketId": "1338"},
     ws_data("recent_trades", 1)),
    ("get_profile_address", (WALLET,), {}, "/getProfileAddress", {"userAddress": WALLET},
     PROFILE_63),
    ("get_wallet_account_balance", (WALLET,), {}, "/getWalletAccountBalance",
     {"userAddress": WALLET}, "16391.60"),
    ("get_profile_balance_snapshot", (WALLET,), {}, "/getProfileBalanceSnapshot",
     {"userAddress": WALLET}, 611899),
    ("get_net_profile_balance", (WALLET,), {}, "/getNetProfileBalance",
     {"userAddress": WALLET}, "1234.5"),
    ("get_account_apt_balance", (WALLET,), {}, "/getAccountAptBalance",
     {"userAddress": WALLET}, 1.5),
    ("get_deposit_and_withdraw_history", (WALLET,), {}, "/getDepositAndWithdrawHistory",
     {"userAddress": WALLET}, ws_data("deposit_withdraw_history")),
    ("get_funding_history", (WALLET,), {"market_id": 1338, "limit": 5}, "/getFundingHistory",
     {"userAddress": WALLET, "marketId": "1338", "offset": "0", "limit": "5", "order": "desc"},
     FUNDING),
    ("get_open_orders", (WALLET,), {}, "/getOpenOrders", {"userAddress": WALLET},
     ws_data("open_orders")),
    ("get_open_orders_from_contract", (WALLET, 1338), {}, "/getOpenOrdersFromContract",
     {"userAddress": WALLET, "marketId": "1338"}, ws_data("open_orders")),
    ("get_order_history", (WALLET, 14), {"offset": 10, "order": "asc"}, "/getOrderHistory",
     {"userAddress": WALLET, "marketId": "14", "offset": "10", "limit": "10", "order": "asc"},
     ws_data("order_history")),
    ("get_positions", (WALLET,), {"market_id": "14"}, "/getPositions",
     {"userAddress": WALLET, "marketId": "14"}, ws_data("positions")),
    ("get_positions", (WALLET,), {}, "/getPositions", {"userAddress": WALLET},
     ws_data("positions", 1)),  # legacy is_long shape
    ("get_positions_from_contract", (WALLET, 14), {}, "/getPositionsFromContract",
     {"userAddress": WALLET, "marketId": "14"}, ws_data("positions")),
    ("get_order_status_by_order_id", (14, ORDER_ID), {}, "/getOrderStatusByOrderId",
     {"marketId": "14", "orderId": ORDER_ID}, ws_data("order_history")[0]),
    ("get_fills", (14, "2024-11-21T00:00:00Z", datetime(2024, 11, 22, 1, tzinfo=timezone(
        timedelta(hours=1)))), {"user_address": WALLET, "order_id": int(ORDER_ID)}, "/getFills",
     {"marketId": "14", "from": "2024-11-21T00:00:00Z", "to": "2024-11-22T00:00:00Z",
      "userAddress": WALLET, "orderId": ORDER_ID}, ws_data("trade_history")),
    ("get_fills_for_given_timestamp", (WALLET, 1747075000, 1747076000), {"market_id": 14},
     "/getFillsForGivenTimestamp", {"userAddress": WALLET, "marketId": "14",
                                    "fromTimestamp": "1747075000", "toTimestamp": "1747076000"},
     ws_data("trade_history")),
    ("get_trade_history", (WALLET,), {}, "/getTradeHistory", {"userAddress": WALLET},
     ws_data("trade_history")),
    ("get_all_open_order_ids", (WALLET, 1338), {}, "/getAllOpenOrderIds",
     {"userAddress": WALLET, "marketId": "1338"}, [ORDER_ID, 161668980614256490457451450]),
]

RESULT_TYPES = {
    "get_market_info": MarketInfo, "get_perpetual_assets_info": MarketInfo,
    "get_all_trades": Trade, "get_deposit_and_withdraw_history": DepositWithdraw,
    "get_funding_history": FundingPayment, "get_open_orders": OpenOrder,
    "get_open_orders_from_contract": OpenOrder, "get_order_history": Order,
    "get_positions": Position, "get_positions_from_contract": Position, "get_fills": Trade,
    "get_fills_for_given_timestamp": Trade, "get_trade_history": Trade,
}


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "path", "params", "data"),
    QUERIES,
    ids=[f"{q[0]}-{i}" for i, q in enumerate(QUERIES)],
)
async def test_query_endpoints(
    mock: Aioresponses, rest: KanaRest, method: str, args: tuple[Any, ...],
    kwargs: dict[str, Any], path: str, params: dict[str, str], data: Any,
) -> None:
    reply(mock, "GET", path, data)
    result = await getattr(rest, method)(*args, **kwargs)
    assert requests(mock) == [("GET", path, params)]
    if method in RESULT_TYPES:
        assert isinstance(result, list)
        assert len(result) == len(data)
        assert all(isinstance(item, RESULT_TYPES[method]) for item in result)


async def test_typed_results(mock: Aioresponses, rest: KanaRest) -> None:
    reply(mock, "GET", "/getMarketPrice", {"bestAskPrice": 5.769, "bestBidPrice": None})
    assert await rest.get_market_price(1338) == MarketPrice(best_ask_price=Decimal("5.769"))
    reply(mock, "GET", "/getWalletAccountBalance", "16391.60")
    assert await rest.get_wallet_account_balance(WALLET) == Decimal("16391.60")
    reply(mock, "GET", "/getProfileBalanceSnapshot", 611899)
    assert await rest.get_profile_balance_snapshot(WALLET) == Decimal(611899)
    reply(mock, "GET", "/getLastPlacedPrice", None)
    assert await rest.get_last_placed_price(1338) is None
    reply(mock, "GET", "/getProfileAddress", PROFILE_63)
    assert await rest.get_profile_address(WALLET) == "0x0" + PROFILE_63[2:]
    reply(mock, "GET", "/getAllOpenOrderIds", [ORDER_ID, 161668980614256490457451450])
    assert await rest.get_all_open_order_ids(WALLET, 1338) == [
        ORDER_ID, "161668980614256490457451450"
    ]
    reply(mock, "GET", "/getPositions", ws_data("positions"))
    (position,) = await rest.get_positions(WALLET)
    assert position.entry_price == Decimal("5.8370434782608695652173913043")


async def test_profile_address_that_is_not_an_address(mock: Aioresponses, rest: KanaRest) -> None:
    reply(mock, "GET", "/getProfileAddress", "nobody")
    with pytest.raises(ApiError, match="not an address"):
        await rest.get_profile_address(WALLET)


# -- transaction builders (GET) --------------------------------------------------------------

BUILDERS: list[tuple[str, tuple[Any, ...], dict[str, Any], str, dict[str, str]]] = [
    ("deposit", (WALLET, "10"), {}, "/deposit", {"userAddress": WALLET, "amount": "10"}),
    ("withdraw_specific_market", (WALLET, 1338, Decimal("2.5")), {}, "/withdrawSpecifiMarket",
     {"userAddress": WALLET, "marketId": "1338", "amount": "2.5"}),
    ("withdraw_multiple_markets", (WALLET, [1338, "1339"], 7), {}, "/withdrawMultipleMarkets",
     {"userAddress": WALLET, "marketIds": "1338,1339", "amount": "7"}),
    ("place_limit_order", (1338, True, False, "1.5", "5.768", 5), {}, "/placeLimitOrder",
     {"marketId": "1338", "tradeSide": "true", "direction": "false", "size": "1.5",
      "price": "5.768", "leverage": "5", "restriction": "0"}),
    ("place_limit_order", (1338, False, True, 0.5, Decimal("6"), "20"),
     {"restriction": 3, "take_profit": "5.5", "stop_loss": 0}, "/placeLimitOrder",
     {"marketId": "1338", "tradeSide": "false", "direction": "true", "size": "0.5",
      "price": "6", "leverage": "20", "restriction": "3", "takeProfit": "5.5", "stopLoss": "0"}),
    ("place_market_order", (1338, True, False, "2", 10), {"stop_loss": "5.1"},
     "/placeMarketOrder", {"marketId": "1338", "tradeSide": "true", "direction": "false",
                           "size": "2", "leverage": "10", "stopLoss": "5.1"}),
    ("update_take_profit", (1338, True, "7.25"), {}, "/updateTakeProfit",
     {"marketId": "1338", "tradeSide": "true", "newTakeProfitPrice": "7.25"}),
    ("update_stop_loss", (1338, False, 0), {}, "/updateStopLoss",
     {"marketId": "1338", "tradeSide": "false", "newStopLossPrice": "0"}),
    ("add_margin", (1338, True, "12.000001"), {}, "/addMargin",
     {"marketId": "1338", "tradeSide": "true", "amount": "12.000001"}),
    ("collapse_position", (1338,), {}, "/collapsePosition", {"marketId": "1338"}),
    ("settle_pnl", (WALLET, 1338), {}, "/settlePnl", {"userAddress": WALLET, "marketId": "1338"}),
]


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "path", "params"),
    BUILDERS,
    ids=[f"{b[0]}-{i}" for i, b in enumerate(BUILDERS)],
)
async def test_builder_endpoints(
    mock: Aioresponses, rest: KanaRest, method: str, args: tuple[Any, ...],
    kwargs: dict[str, Any], path: str, params: dict[str, str],
) -> None:
    with_market(mock)
    reply(mock, "GET", path, payload(path.strip("/"), "1338", "true"))
    result = await getattr(rest, method)(*args, **kwargs)
    assert isinstance(result, TxPayload)
    assert result.function_arguments == ["1338", "true"]
    made = [r for r in requests(mock) if r[1] != "/getMarketInfo"]
    assert made == [("GET", path, params)]


async def test_market_info_is_fetched_once_for_many_orders(
    mock: Aioresponses, rest: KanaRest
) -> None:
    with_market(mock)
    reply(mock, "GET", "/placeLimitOrder", payload("place_limit_order"), repeat=True)
    await asyncio.gather(
        *(rest.place_limit_order(1338, True, False, "1", "5.5", 2) for _ in range(5))
    )
    paths = [r[1] for r in requests(mock)]
    assert paths.count("/getMarketInfo") == 1
    assert paths.count("/placeLimitOrder") == 5
    assert rest.cached_market_info(1338) is not None


# -- transaction builders (POST) -------------------------------------------------------------


async def test_place_multiple_orders_body(mock: Aioresponses, rest: KanaRest) -> None:
    with_market(mock)
    reply(mock, "POST", "/placeMultipleOrders", payload("place_multiple_orders"))
    result = await rest.place_multiple_orders(
        1338,
        order_types=[True, False],
        trade_sides=[True, False],
        directions=[False, False],
        sizes=["1.5", Decimal("0.5")],
        prices=["5.768", None],
        leverages=[5, 2],
        restriction=3,
        take_profits=["6.5", None],
    )
    assert result.function_name == "place_multiple_orders"
    (_, (method, path, body)) = requests(mock)
    assert (method, path) == ("POST", "/placeMultipleOrders")
    assert body == {
        "marketId": 1338, "orderTypes": [True, False], "tradeSides": [True, False],
        "directions": [False, False], "sizes": [1.5, 0.5], "prices": [5.768, 0],
        "leverages": [5, 2], "restriction": 3, "takeProfits": [6.5, 0],
    }


async def test_cancel_multiple_orders_body(mock: Aioresponses, rest: KanaRest) -> None:
    onchain = load_fixture("rest_cancelMultipleOrders.json")["onchain_evidence"]["payload"]
    reply(mock, "POST", "/cancelMultipleOrders", onchain)
    ids = onchain["arguments"][1][:2]
    result = await rest.cancel_multiple_orders(15, [ids[0], int(ids[1])], [True, False])
    assert result.function_name == "cancel_multiple_orders"
    assert result.function_arguments[0] == "15"
    assert requests(mock) == [
        ("POST", "/cancelMultipleOrders",
         {"marketId": 15, "cancelOrderIds": ids, "orderSides": [True, False]})
    ]


async def test_cancel_and_place_body(mock: Aioresponses, rest: KanaRest) -> None:
    with_market(mock)
    reply(mock, "POST", "/cancelAndPlaceMultipleOrders", payload("cancel_and_place"))
    await rest.cancel_and_place_multiple_orders(
        1338, [ORDER_ID], [True], [True], [True], [False], ["1"], ["5.5"], [3],
        stop_losses=["5"],
    )
    (*_, (method, path, body)) = requests(mock)
    assert (method, path) == ("POST", "/cancelAndPlaceMultipleOrders")
    assert body == {
        "marketId": 1338, "cancelOrderIds": [ORDER_ID], "orderSides": [True],
        "orderTypes": [True], "tradeSides": [True], "directions": [False], "sizes": [1],
        "prices": [5.5], "leverages": [3], "restriction": 0, "stopLosses": [5],
    }


async def test_cancel_and_place_with_cancels_only(mock: Aioresponses, rest: KanaRest) -> None:
    reply(mock, "POST", "/cancelAndPlaceMultipleOrders", payload("cancel_and_place"))
    await rest.cancel_and_place_multiple_orders(1338, [ORDER_ID], [False], [], [], [], [], [], [])
    (only,) = requests(mock)  # no market info needed without placements
    assert only[2]["cancelOrderIds"] == [ORDER_ID]
    assert only[2]["sizes"] == []


async def test_transaction_sends_the_wire_text_of_checked_terms(
    mock: Aioresponses, rest: KanaRest
) -> None:
    # The trader builds terms on the market's grid once; the builder sends exactly their text.
    market = msgspec.convert(MARKET_BODY["data"][0], MarketInfo, strict=False)
    order = parse_order(1338, True, False, "1.500", "5.768", 5, 3, None, "5").on(market)
    batch = parse_cancels(1338, [ORDER_ID], [True]).on(None)
    reply(mock, "GET", "/placeLimitOrder", payload("place_limit_order"))
    reply(mock, "POST", "/cancelMultipleOrders", payload("cancel_multiple_orders"))
    await rest.transaction(order)
    await rest.transaction(batch)
    assert requests(mock) == [
        ("GET", "/placeLimitOrder", order.query()),
        ("POST", "/cancelMultipleOrders", {"marketId": 1338, "cancelOrderIds": [ORDER_ID],
                                           "orderSides": [True]}),
    ]
    assert order.query()["size"] == "1.500"


# -- validation: nothing is sent -------------------------------------------------------------

INVALID: list[tuple[str, tuple[Any, ...], dict[str, Any], str, str]] = [
    ("get_market_info", (0,), {}, "market_id", "positive integer"),
    ("get_market_info", (True,), {}, "market_id", "positive integer"),
    ("get_market_info", ("-5",), {}, "market_id", "positive integer"),
    ("get_market_info", (13.0,), {}, "market_id", "positive integer"),
    ("get_positions", ("0xZZ",), {}, "user_address", "hex address"),
    ("get_positions", (None,), {}, "user_address", "hex address"),
    ("get_positions", ("0x" + "1" * 65,), {}, "user_address", "at most 64"),
    ("get_order_history", (WALLET,), {"order": "newest"}, "order", "'asc' or 'desc'"),
    ("get_order_history", (WALLET,), {"limit": 0}, "limit", "> 0"),
    ("get_order_history", (WALLET,), {"offset": -1}, "offset", ">= 0"),
    ("get_order_status_by_order_id", (14, "12ab"), {}, "order_id", "positive integer"),
    ("get_order_status_by_order_id", (14, 2**128), {}, "order_id", "2**128"),
    ("get_fills", (14, "yesterday", "2024-11-21T00:00:00Z"), {}, "from_time", "ISO-8601"),
    ("get_fills", (14, datetime(2024, 11, 21), "2024-11-21T00:00:00Z"), {}, "from_time",
     "timezone-aware"),
    ("get_fills", (14, "2024-11-22T00:00:00Z", "2024-11-21T00:00:00Z"), {}, "from_time",
     "not be after"),
    ("get_fills_for_given_timestamp", (WALLET, 10, 5), {}, "from_timestamp", "not be after"),
    ("get_fills_for_given_timestamp", (WALLET, -1, 5), {}, "from_timestamp", ">= 0"),
    ("deposit", (WALLET, "0"), {}, "amount", "greater than 0"),
    ("deposit", (WALLET, "0.0000001"), {}, "amount", "6 decimal places"),
    ("deposit", (WALLET, 0.1), {}, "amount", "exact binary value"),
    ("deposit", (WALLET, float("nan")), {}, "amount", "finite"),
    ("withdraw_multiple_markets", (WALLET, [], 1), {}, "market_ids", "at least one"),
    ("withdraw_multiple_markets", (WALLET, "1338", 1), {}, "market_ids", "list or tuple"),
    ("withdraw_multiple_markets", (WALLET, [1, 0], 1), {}, "market_ids[1]", "positive"),
    ("place_limit_order", (1338, 1, False, "1", "5", 2), {}, "trade_side", "True or False"),
    ("place_limit_order", (1338, True, "false", "1", "5", 2), {}, "direction", "True or False"),
    ("place_limit_order", (1338, True, False, "-1", "5", 2), {}, "size", ">= 0"),
    ("place_limit_order", (1338, True, False, "1", "x", 2), {}, "price", "decimal number"),
    ("place_limit_order", (1338, True, False, "1", "5", 2), {"restriction": 4},
     "restriction", "post-or-abort"),
    ("place_limit_order", (1338, True, False, "1", "5", 2), {"take_profit": "-1"},
     "take_profit", ">= 0"),
    ("place_market_order", (1338, True, False, "inf", 2), {}, "size", "finite"),
    ("cancel_multiple_orders", (15, [1, 2], [True]), {}, "order_ids", "same length"),
    ("cancel_multiple_orders", (15, [], []), {}, "order_ids", "at least one"),
    ("cancel_multiple_orders", (15, [1], ["true"]), {}, "cancel_trade_sides[0]", "True or False"),
    ("place_multiple_orders", (1338, [True], [True], [False], ["1", "2"], ["5"], [2]), {},
     "order_types", "same length"),
    ("place_multiple_orders", (1338, [], [], [], [], [], []), {}, "order_types", "at least one"),
    ("place_multiple_orders", (1338, [True], [True], [False], ["1"], [None], [2]), {},
     "prices[0]", "needs a price"),
    ("place_multiple_orders", (1338, [True], [True], [False], ["1"], ["5"], [2]),
     {"take_profits": []}, "order_types", "same length"),
    ("cancel_and_place_multiple_orders", (1338, [], [], [], [], [], [], [], []), {},
     "order_ids", "at least one"),
]


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "param", "rule"),
    INVALID,
    ids=[f"{c[0]}-{c[3]}-{i}" for i, c in enumerate(INVALID)],
)
async def test_bad_input_is_rejected_before_any_request(
    mock: Aioresponses, rest: KanaRest, method: str, args: tuple[Any, ...],
    kwargs: dict[str, Any], param: str, rule: str,
) -> None:
    with pytest.raises(ValidationError, match=re.escape(rule)) as info:
        await getattr(rest, method)(*args, **kwargs)
    assert info.value.param == param
    assert not mock.requests


GRID_INVALID: list[tuple[str, tuple[Any, ...], dict[str, Any], str, str]] = [
    ("place_limit_order", (1338, True, False, "0.4", "5", 2), {}, "size",
     "minimum size is 0.5 APT (got 0.4)"),
    ("place_limit_order", (1338, True, False, "1.0005", "5", 2), {}, "size", "lot size 0.001"),
    ("place_limit_order", (1338, True, False, "1", "5.0001", 2), {}, "price", "tick size"),
    ("place_limit_order", (1338, True, False, "1", 5.768, 2), {}, "price", "tick size"),
    ("place_limit_order", (1338, True, False, "1", "5", 21), {}, "leverage", "max_leverage 20"),
    ("place_limit_order", (1338, True, False, "1", "5", 2), {"stop_loss": "4.0001"},
     "stop_loss", "tick size"),
    ("place_market_order", (1338, True, False, "200000", 2), {}, "size",
     "maximum size is 150000 APT"),
    ("update_take_profit", (1338, True, "7.0001"), {}, "new_take_profit_price", "tick size"),
    ("place_multiple_orders", (1338, [True, True], [True, True], [False, False], ["1", "1"],
                               ["5", "5.0001"], [2, 2]), {}, "prices[1]", "tick size"),
    ("place_multiple_orders", (1338, [False], [True], [False], ["1"], [None], [99]), {},
     "leverages[0]", "max_leverage 20"),
]


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "param", "rule"),
    GRID_INVALID,
    ids=[f"{c[0]}-{c[3]}-{i}" for i, c in enumerate(GRID_INVALID)],
)
async def test_orders_off_the_market_grid_are_never_built(
    mock: Aioresponses, rest: KanaRest, method: str, args: tuple[Any, ...],
    kwargs: dict[str, Any], param: str, rule: str,
) -> None:
    with_market(mock)
    with pytest.raises(ValidationError, match=re.escape(rule)) as info:
        await getattr(rest, method)(*args, **kwargs)
    assert info.value.param == param
    assert [r[1] for r in requests(mock)] == ["/getMarketInfo"]


# -- market info cache -----------------------------------------------------------------------


async def test_market_info_cache(mock: Aioresponses, rest: KanaRest) -> None:
    with_market(mock)
    first, second = await asyncio.gather(rest.market_info(1338), rest.market_info("1338"))
    assert first is second
    assert first.lot_size == 100000
    assert len(requests(mock)) == 1
    rest.invalidate_market_info(1338)
    assert rest.cached_market_info(1338) is None
    await rest.market_info(1338)
    assert len(requests(mock)) == 2
    rest.invalidate_market_info()
    assert rest.cached_market_info(1338) is None


async def test_market_info_answered_under_another_id(mock: Aioresponses, rest: KanaRest) -> None:
    # The documents show marketId=501 answered with market 1338.
    reply(mock, "GET", "/getMarketInfo", MARKET_BODY["data"])
    info = await rest.market_info(501)
    assert info.market_id == 1338
    assert rest.cached_market_info(501) is info


async def test_market_info_missing_from_a_longer_answer(
    mock: Aioresponses, rest: KanaRest
) -> None:
    two = [dict(MARKET_BODY["data"][0], market_id=m) for m in ("1", "2")]
    reply(mock, "GET", "/getMarketInfo", two)
    with pytest.raises(ApiError, match="no market 7"):
        await rest.market_info(7)


async def test_all_markets_fill_the_cache(mock: Aioresponses, rest: KanaRest) -> None:
    markets = [dict(MARKET_BODY["data"][0], market_id=m) for m in ("14", "15")]
    reply(mock, "GET", "/getPerpetualAssetsInfo/allMarkets", markets)
    await rest.get_perpetual_assets_info()
    info = rest.cached_market_info(15)
    assert info is not None
    assert await rest.market_info(15) is info
    assert len(requests(mock)) == 1


async def test_without_grid_checks_no_market_info_is_fetched(
    mock: Aioresponses, session: RestSession
) -> None:
    rest = KanaRest(session, check_grid=False)
    reply(mock, "GET", "/placeLimitOrder", payload("place_limit_order"))
    await rest.place_limit_order(1338, True, False, "0.0001", "5.0001", 20)
    assert [r[1] for r in requests(mock)] == ["/placeLimitOrder"]
    with pytest.raises(ValidationError, match="max_leverage 20"):
        await rest.place_limit_order(1338, True, False, "1", "5", 21)
    with pytest.raises(ValidationError, match="exactly representable"):
        await rest.place_limit_order(1338, True, False, "1", 5.768, 2)


def test_check_grid_must_be_a_bool(session: RestSession) -> None:
    with pytest.raises(ValidationError, match="check_grid"):
        KanaRest(session, check_grid="yes")  # type: ignore[arg-type]


def test_repr_has_no_secret(rest: KanaRest) -> None:
    assert API_KEY not in repr(rest)


def test_every_current_endpoint_has_a_method() -> None:
    expected = {
        "get_market_info", "get_perpetual_assets_info", "get_market_price",
        "get_last_placed_price", "get_all_trades", "get_profile_address",
        "get_wallet_account_balance", "get_profile_balance_snapshot", "get_net_profile_balance",
        "get_account_apt_balance", "deposit", "withdraw_specific_market",
        "withdraw_multiple_markets", "get_deposit_and_withdraw_history", "get_funding_history",
        "place_limit_order", "place_market_order", "place_multiple_orders",
        "cancel_multiple_orders", "cancel_and_place_multiple_orders", "update_take_profit",
        "update_stop_loss", "add_margin", "collapse_position", "settle_pnl", "get_open_orders",
        "get_open_orders_from_contract", "get_order_history", "get_positions",
        "get_positions_from_contract", "get_order_status_by_order_id", "get_fills",
        "get_fills_for_given_timestamp", "get_trade_history", "get_all_open_order_ids",
    }
    assert len(expected) == 35
    assert all(asyncio.iscoroutinefunction(getattr(KanaRest, name)) for name in expected)
    tested = {q[0] for q in QUERIES} | {b[0] for b in BUILDERS} | {
        "place_multiple_orders", "cancel_multiple_orders", "cancel_and_place_multiple_orders"
    }
    assert tested == expected
