"""The simulator's REST API over aiohttp on 127.0.0.1: endpoints, builders, errors, faults."""

from __future__ import annotations

import glob
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any, TypedDict

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from kana_async.config import KANA_PACKAGE_ADDRESS
from kana_async.sim.engine import Engine
from kana_async.sim.faults import Faults
from kana_async.sim.kana_rest import ROUTES, make_rest_app
from tests.conftest import FIXTURES, load_fixture

APT = 1338
ALICE, BOB = "0x" + "a" * 64, "0x" + "b" * 64
HEADERS = {"x-api-key": "test-key"}
NOW = 1_700_000_000.0
PKG = KANA_PACKAGE_ADDRESS + "::perpetual_scripts::"

#: A ``/getFills`` time window; its keys are Python keywords, so it travels as ``**window``.
TimeWindow = TypedDict("TimeWindow", {"from": str, "to": str})


@pytest.fixture
def engine() -> Engine:
    """A market with a book, and ALICE with a deposit, a position, a fill and an open order."""
    engine = Engine(seed=3, clock=lambda: NOW)
    engine.step(NOW)
    engine.deposit(ALICE, 1000 * 10**6)
    engine.place_market_order(ALICE, APT, True, False, 1000, 2, 0, 0)
    engine.place_limit_order(ALICE, APT, True, False, 1000, 4000, 2, 0, 0, 0)
    return engine


@pytest.fixture
def faults() -> Faults:
    return Faults()


@pytest.fixture
async def client(engine: Engine, faults: Faults) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(make_rest_app(engine, faults), host="127.0.0.1")) as c:
        yield c


async def get(client: TestClient[Any, Any], path: str, status: int = 200, **params: Any) -> Any:
    response = await client.get(path, params={k: str(v) for k, v in params.items()},
                                headers=HEADERS)
    body = await response.json()
    assert response.status == status, body
    assert body["success"] is (status == 200)
    return body


async def post(client: TestClient[Any, Any], path: str, body: Any, status: int = 200) -> Any:
    response = await client.post(path, json=body, headers=HEADERS)
    answer = await response.json()
    assert response.status == status, answer
    return answer


def profile(wallet: str) -> str:
    return Engine.profile_address(wallet)


# -- every endpoint ----------------------------------------------------------------------------

QUERIES: dict[str, dict[str, Any]] = {
    "/getMarketInfo": {"marketId": APT},
    "/getPerpetualAssetsInfo": {"marketId": APT},
    "/getPerpetualAssetsInfo/allMarkets": {},
    "/getMarketPrice": {"marketId": APT},
    "/getLastPlacedPrice": {"marketId": APT},
    "/getLastExecutionPrice": {"marketId": APT},
    "/getAllTrades": {"marketId": APT},
    "/getProfileAddress": {"userAddress": ALICE},
    "/getWalletAccountBalance": {"userAddress": ALICE},
    "/getProfileBalanceSnapshot": {"userAddress": ALICE},
    "/getNetProfileBalance": {"userAddress": ALICE},
    "/getAccountAptBalance": {"userAddress": ALICE},
    "/deposit": {"userAddress": ALICE, "amount": "10"},
    "/withdrawSpecifiMarket": {"userAddress": ALICE, "marketId": APT, "amount": "10"},
    "/withdrawSpecificMarket": {"userAddress": ALICE, "marketId": APT, "amount": "10"},
    "/withdrawMultipleMarkets": {"userAddress": ALICE, "marketIds": "1338,1339", "amount": "1"},
    "/getDepositAndWithdrawHistory": {"userAddress": ALICE},
    "/getFundingHistory": {"userAddress": ALICE},
    "/placeLimitOrder": {"marketId": APT, "tradeSide": "true", "direction": "false",
                         "size": "1", "price": "5.5", "leverage": 2},
    "/placeMarketOrder": {"marketId": APT, "tradeSide": "false", "direction": "false",
                          "size": "1", "leverage": 3},
    "/updateTakeProfit": {"marketId": APT, "tradeSide": "true", "newTakeProfitPrice": "6"},
    "/updateStopLoss": {"marketId": APT, "tradeSide": "true", "newStopLossPrice": "5"},
    "/addMargin": {"marketId": APT, "tradeSide": "true", "amount": "1.5"},
    "/collapsePosition": {"marketId": APT},
    "/settlePnl": {"userAddress": ALICE, "marketId": APT},
    "/getOpenOrders": {"userAddress": ALICE},
    "/getOpenOrdersFromContract": {"userAddress": ALICE, "marketId": APT},
    "/getOrderHistory": {"userAddress": ALICE},
    "/getPositions": {"userAddress": ALICE},
    "/getPositionsFromContract": {"userAddress": ALICE, "marketId": APT},
    "/getOrderStatusByOrderId": {"marketId": APT},  # orderId added in the test
    "/fetchOrderStatusById": {"marketId": APT},
    "/getFills": {"marketId": APT, "from": "2023-11-14T00:00:00Z", "to": "2023-11-15T00:00:00Z"},
    "/getFillsForGivenTimestamp": {"userAddress": ALICE, "fromTimestamp": 0,
                                   "toTimestamp": int(NOW)},
    "/getTradeHistory": {"userAddress": ALICE},
    "/getAllOpenOrderIds": {"userAddress": ALICE, "marketId": APT},
}
BODIES: dict[str, dict[str, Any]] = {
    "/placeMultipleOrders": {
        "marketId": APT, "orderTypes": [True, False], "tradeSides": [True, False],
        "directions": [False, False], "sizes": [1, 2], "prices": [5.5, 0], "leverages": [2, 3],
    },
    "/cancelMultipleOrders": {"marketId": APT, "orderIds": ["1"], "cancelTradeSides": [True]},
    "/cancelAndPlaceMultipleOrders": {
        "marketId": APT, "orderIds": ["1"], "cancelTradeSides": [True], "orderTypes": [True],
        "orderTradeSides": [True], "directions": [False], "sizes": [1], "prices": [5.5],
        "leverages": [2],
    },
}


def test_every_documented_endpoint_is_routed() -> None:
    documented = set()
    for name in glob.glob(str(FIXTURES / "rest_*.json")):
        fixture = load_fixture(Path(name).name)
        documented.add((fixture["method"], fixture["path"]))
    assert len(documented) == 35
    assert documented <= set(ROUTES)
    assert {path for _, path in ROUTES} == set(QUERIES) | set(BODIES)


async def test_every_endpoint_answers(client: TestClient[Any, Any], engine: Engine) -> None:
    order_id = engine.open_order_ids(profile(ALICE), APT)[0]
    for path, params in QUERIES.items():
        if "OrderStatus" in path:
            params = {**params, "orderId": order_id}
        body = await get(client, path, **params)
        assert body["message"], path
    for path, payload in BODIES.items():
        body = await post(client, path, payload)
        assert body["success"] is True, path


async def test_queries_answer_from_the_engine(client: TestClient[Any, Any], engine: Engine) -> None:
    alice = profile(ALICE)
    assert (await get(client, "/getProfileAddress", userAddress=ALICE))["data"] == alice
    orders = (await get(client, "/getOpenOrders", userAddress=ALICE))["data"]
    assert orders == engine.open_orders(alice)
    positions = (await get(client, "/getPositions", userAddress=ALICE, marketId=APT))["data"]
    assert positions == engine.positions(alice)
    assert (await get(client, "/getPositions", userAddress=ALICE, marketId=1339))["data"] == []
    balance = (await get(client, "/getProfileBalanceSnapshot", userAddress=ALICE))["data"]
    assert Decimal(balance) == engine.profile_balance(ALICE)
    wallet = (await get(client, "/getWalletAccountBalance", address=ALICE))["data"]
    assert Decimal(wallet) == 99000
    apt = (await get(client, "/getAccountAptBalance", userAddress=ALICE))["data"]
    assert apt == 10
    price = (await get(client, "/getMarketPrice", marketId=APT))["data"]
    assert price == engine.market_price(APT)
    last = (await get(client, "/getLastExecutionPrice", marketId=APT))["data"]
    assert Decimal(str(last)) == engine.last_price(APT)
    ids = (await get(client, "/getAllOpenOrderIds", userAddress=ALICE, marketId=APT))["data"]
    status = (await get(client, "/fetchOrderStatusById", marketId=APT, orderId=ids[0]))["data"]
    assert status["status"] == "Open"
    assert Decimal(status["remaining_size"]) == 1
    markets = (await get(client, "/getPerpetualAssetsInfo/allMarkets"))["data"]
    assert [m["market_id"] for m in markets] == ["1338", "1339", "1340", "2387"]


async def test_order_history_pages(client: TestClient[Any, Any], engine: Engine) -> None:
    newest_first = engine.order_history(profile(ALICE))
    assert len(newest_first) == 2
    page = (await get(client, "/getOrderHistory", userAddress=ALICE, limit=1))["data"]
    assert page == newest_first[:1]
    page = (await get(client, "/getOrderHistory", userAddress=ALICE, order="asc", limit=1))
    assert page["data"] == newest_first[-1:]
    page = (await get(client, "/getOrderHistory", address=ALICE, offset=1, marketId=APT))
    assert page["data"] == newest_first[1:]


async def test_fills_by_time_user_and_order(client: TestClient[Any, Any], engine: Engine) -> None:
    # NOW = 22:13:20
    window: TimeWindow = {"from": "2023-11-14T22:13:00Z", "to": "2023-11-14T22:14:00Z"}
    fills = (await get(client, "/getFills", marketId=APT, **window))["data"]
    assert len(fills) == 2  # both sides of ALICE's market order
    mine = (await get(client, "/getFills", marketId=APT, userAddress=ALICE, **window))["data"]
    [fill] = mine
    assert fill["address"] == profile(ALICE)
    by_order = await get(client, "/getFills", marketId=APT, orderId=fill["order_id"], **window)
    assert by_order["data"] == mine
    early: TimeWindow = {"from": "2023-11-14T00:00:00Z", "to": "2023-11-14T22:00:00Z"}
    assert (await get(client, "/getFills", marketId=APT, **early))["data"] == []
    unix = await get(client, "/getFillsForGivenTimestamp", userAddress=ALICE,
                     fromTimestamp=int(NOW), toTimestamp=int(NOW))
    assert unix["data"] == mine


async def test_builders_do_not_change_state(client: TestClient[Any, Any], engine: Engine) -> None:
    version = engine.ledger_version
    await get(client, "/deposit", userAddress=ALICE, amount="5")
    await get(client, "/placeMarketOrder", marketId=APT, tradeSide="true", direction="false",
              size="1", leverage=2)
    assert engine.ledger_version == version
    assert engine.profile_balance(ALICE) < 1000


# -- builder payloads ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "function", "arguments"),
    [
        ("/deposit", {"userAddress": ALICE, "amount": "10.5"}, "deposit",
         [ALICE, "10500000"]),
        ("/withdrawSpecifiMarket", {"userAddress": ALICE, "marketId": "1339", "amount": "2"},
         "withdraw_specific_market", [ALICE, "1339", "2000000"]),
        ("/withdrawMultipleMarkets",
         {"userAddress": ALICE, "marketIds": "1338,2387", "amount": "0.000001"},
         "withdraw_multiple_markets", [ALICE, ["1338", "2387"], "1"]),
        ("/placeLimitOrder",
         {"marketId": 1338, "tradeSide": "true", "direction": "false", "size": "0.5",
          "price": "5.768", "leverage": "20", "restriction": "3", "takeProfit": "6.1",
          "stopLoss": "5.2"},
         "place_limit_order", ["1338", True, False, "500", "5768", "20", "3", "6100", "5200"]),
        ("/placeLimitOrder",
         {"marketId": "1339", "tradeSide": "False", "direction": "TRUE", "size": "0.00012",
          "price": "115600", "leverage": "5"},
         "place_limit_order", ["1339", False, True, "12", "115600", "5", "0", "0", "0"]),
        ("/placeMarketOrder",
         {"marketId": 1340, "tradeSide": "false", "direction": "false", "size": "0.25",
          "leverage": "3", "takeProfit": "3000.5"},
         "place_market_order", ["1340", False, False, "250", "3", "300050", "0"]),
        ("/updateTakeProfit", {"marketId": 2387, "tradeSide": "true", "newTakeProfitPrice": "0"},
         "update_take_profit", ["2387", True, "0"]),
        ("/updateStopLoss", {"marketId": 2387, "tradeSide": "false", "newStopLossPrice": "150.5"},
         "update_stop_loss", ["2387", False, "150500"]),
        ("/addMargin", {"marketId": 1338, "tradeSide": "true", "amount": "12.345678"},
         "add_margin", ["1338", True, "12345678"]),
        ("/collapsePosition", {"marketId": 1338}, "collapse_position", ["1338"]),
        ("/settlePnl", {"userAddress": ALICE, "marketId": 1338}, "settle_pnl",
         [ALICE, "1338"]),
    ],
)
async def test_builder_payloads(
    client: TestClient[Any, Any], path: str, params: dict[str, Any], function: str,
    arguments: list[Any],
) -> None:
    data = (await get(client, path, **params))["data"]
    assert data == {"function": PKG + function, "functionArguments": arguments,
                    "typeArguments": []}


async def test_batch_bodies_accept_every_documented_variant(
    client: TestClient[Any, Any],
) -> None:
    doc_names = {
        "marketId": 1338, "orderIds": ["161668980614256490457451450", "2"],
        "cancelTradeSides": [True, False], "orderTypes": [True, False],
        "orderTradeSides": [True, False], "directions": [False, True], "sizes": [1.5, 0.5],
        "leverages": [2, 3], "prices": [5.768, 0], "restriction": 3,
        "takeProfits": [6, 0], "stopLosses": [5, 0],
    }
    client_names = {
        "marketId": "1338", "cancelOrderIds": "161668980614256490457451450,2",
        "orderSides": "true,false", "orderTypes": "true,false", "tradeSides": [True, False],
        "directions": ["false", "true"], "sizes": ["1.5", "0.5"], "leverage": [2, 3],
        "prices": ["5.768", "0"], "restrictions": [3, 0], "takeProfits": ["6", "0"],
        "stopLosses": ["5", "0"],
    }
    expected = [
        "1338", ["161668980614256490457451450", "2"], [True, False], [True, False],
        [True, False], [False, True], ["1500", "500"], ["5768", "0"], ["2", "3"], ["3", "0"],
        ["6000", "0"], ["5000", "0"],
    ]
    for body in (doc_names, client_names):
        data = (await post(client, "/cancelAndPlaceMultipleOrders", body))["data"]
        assert data["function"] == PKG + "cancel_and_place_multiple_orders"
        assert data["functionArguments"] == expected
    placed = (await post(client, "/placeMultipleOrders", {
        "marketId": 1338, "orderTypes": [True], "tradeSides": [True], "directions": [False],
        "sizes": [1], "prices": [5.5], "leverage": 4,
    }))["data"]
    assert placed["functionArguments"] == [
        "1338", [True], [True], [False], ["1000"], ["5500"], ["4"], ["0"], ["0"], ["0"]]
    cancelled = (await post(client, "/cancelMultipleOrders", {
        "marketId": 1339, "cancelOrderIds": [7, "8"], "orderSides": [False, True],
    }))["data"]
    assert cancelled["function"] == PKG + "cancel_multiple_orders"
    assert cancelled["functionArguments"] == ["1339", ["7", "8"], [False, True]]


# -- errors --------------------------------------------------------------------------------------

LIMIT = {"marketId": APT, "tradeSide": "true", "direction": "false", "size": "1",
         "price": "5", "leverage": "2"}


@pytest.mark.parametrize(
    ("path", "params", "needle"),
    [
        ("/placeLimitOrder", {**LIMIT, "size": "1.0005"}, "size: must be a multiple of the lot"),
        ("/placeLimitOrder", {**LIMIT, "size": "0.4"}, "size: must be at least 0.5"),
        ("/placeLimitOrder", {**LIMIT, "size": "150001"}, "size: must be at most"),
        ("/placeLimitOrder", {**LIMIT, "price": "5.0001"}, "price: must be a multiple of the tick"),
        ("/placeLimitOrder", {**LIMIT, "price": "0"}, "price: must be positive"),
        ("/placeLimitOrder", {**LIMIT, "leverage": "21"}, "leverage: must be a whole number"),
        ("/placeLimitOrder", {**LIMIT, "leverage": "1.5"}, "leverage: must be a whole number"),
        ("/placeLimitOrder", {**LIMIT, "restriction": "4"}, "restriction: must be 0"),
        ("/placeLimitOrder", {**LIMIT, "tradeSide": "yes"}, "tradeSide: must be true or false"),
        ("/placeLimitOrder", {**LIMIT, "marketId": "9"}, "marketId: unknown market 9"),
        ("/placeLimitOrder", {**LIMIT, "marketId": "abc"}, "marketId: must be a number"),
        ("/placeLimitOrder", {**LIMIT, "takeProfit": "-1"}, "takeProfit: must not be negative"),
        ("/placeLimitOrder", {k: v for k, v in LIMIT.items() if k != "price"},
         "price: is required"),
        ("/placeMarketOrder", {k: v for k, v in LIMIT.items() if k != "direction"},
         "direction: is required"),
        ("/deposit", {"userAddress": ALICE, "amount": "0.0000001"}, "amount: must have at most 6"),
        ("/deposit", {"userAddress": ALICE, "amount": "-1"}, "amount: must be positive"),
        ("/deposit", {"userAddress": "0xZZ", "amount": "1"}, "userAddress:"),
        ("/deposit", {"amount": "1"}, "userAddress: is required"),
        ("/withdrawMultipleMarkets", {"userAddress": ALICE, "marketIds": "1338,7", "amount": 1},
         "marketIds[1]: unknown market 7"),
        ("/getOrderHistory", {"userAddress": ALICE, "order": "up"}, "order: must be asc or desc"),
        ("/getOrderHistory", {"userAddress": ALICE, "limit": "-1"}, "limit: must be between"),
        ("/getOrderStatusByOrderId", {"marketId": APT, "orderId": "5"}, "orderId: no order 5"),
        ("/getFills", {"marketId": APT, "from": "yesterday", "to": "1"}, "from: must be Unix"),
        ("/getMarketInfo", {}, "marketId: is required"),
    ],
)
async def test_bad_parameters_answer_400_naming_the_parameter(
    client: TestClient[Any, Any], path: str, params: dict[str, Any], needle: str
) -> None:
    body = await get(client, path, status=400, **params)
    assert needle in body["message"]
    assert body["data"] is None


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"marketId": APT, "orderTypes": [True], "tradeSides": [True, False],
          "directions": [False], "sizes": [1], "prices": [5], "leverages": [2]},
         "tradeSides: must have 1 entries"),
        ({"marketId": APT, "orderTypes": [True], "tradeSides": [True], "directions": [False],
          "sizes": [0.30000000000000004], "prices": [5], "leverages": [2]},
         "sizes[0]: must be a multiple"),
        ({"marketId": APT, "orderTypes": [], "tradeSides": [], "directions": [], "sizes": [],
          "prices": [], "leverages": []}, "orderTypes: must contain at least one order"),
        ({"marketId": APT, "orderTypes": ["maybe"], "tradeSides": [True], "directions": [False],
          "sizes": [1], "prices": [5], "leverages": [2]}, "orderTypes[0]: must be true or false"),
        ([1, 2], "body: must be a JSON object"),
    ],
)
async def test_bad_batch_bodies(client: TestClient[Any, Any], body: Any, needle: str) -> None:
    answer = await post(client, "/placeMultipleOrders", body, status=400)
    assert needle in answer["message"]
    assert answer["success"] is False


async def test_cancel_needs_matching_sides(client: TestClient[Any, Any]) -> None:
    answer = await post(client, "/cancelMultipleOrders",
                        {"marketId": APT, "orderIds": ["1", "2"], "cancelTradeSides": [True]},
                        status=400)
    assert answer["message"].startswith("cancelTradeSides:")
    answer = await post(client, "/cancelMultipleOrders", {"marketId": APT}, status=400)
    assert answer["message"].startswith("orderIds:")


# -- auth and faults -------------------------------------------------------------------------------


async def test_api_key_is_required(client: TestClient[Any, Any]) -> None:
    response = await client.get("/getMarketInfo", params={"marketId": "1338"})
    assert response.status == 401
    assert (await response.json()) == {
        "success": False, "message": "x-api-key header is required", "data": None}
    legacy = await client.get("/getMarketInfo", params={"marketId": "1338"},
                              headers={"api_key": "k"})
    assert legacy.status == 200


async def test_accepted_keys_are_configurable(engine: Engine, faults: Faults) -> None:
    app = make_rest_app(engine, faults, api_keys={"good"})
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        bad = await client.get("/getMarketInfo", params={"marketId": "1338"},
                               headers={"x-api-key": "bad"})
        assert bad.status == 403
        assert "bad" not in await bad.text()
        good = await client.get("/getMarketInfo", params={"marketId": "1338"},
                                headers={"x-api-key": "good"})
        assert good.status == 200


async def test_unknown_path_is_an_envelope(client: TestClient[Any, Any]) -> None:
    response = await client.get("/nope", headers=HEADERS)
    assert response.status == 404
    assert (await response.json())["success"] is False
    wrong_method = await client.get("/placeMultipleOrders", headers=HEADERS)
    assert wrong_method.status == 405


async def test_scripted_failures_and_retry_after(
    client: TestClient[Any, Any], faults: Faults
) -> None:
    faults.fail_rest(1, 503)
    response = await client.get("/getMarketInfo", params={"marketId": "1338"}, headers=HEADERS)
    assert response.status == 503
    assert (await response.json())["success"] is False
    faults.fail_rest(1, 429, retry_after=2)
    response = await client.get("/getMarketInfo", params={"marketId": "1338"}, headers=HEADERS)
    assert response.status == 429
    assert response.headers["Retry-After"] == "2"
    await get(client, "/getMarketInfo", marketId=APT)


async def test_delay(client: TestClient[Any, Any], faults: Faults) -> None:
    faults.rest_delay = 0.05
    start = time.monotonic()
    await get(client, "/getMarketInfo", marketId=APT)
    assert time.monotonic() - start >= 0.05


async def test_refusing_closes_the_connection(client: TestClient[Any, Any], faults: Faults) -> None:
    faults.refuse_connections(30)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.get("/getMarketInfo", params={"marketId": "1338"}, headers=HEADERS)
    faults.clear()
    await get(client, "/getMarketInfo", marketId=APT)


# -- fidelity with the documented examples -----------------------------------------------------


def shape(value: Any) -> dict[str, str] | str:
    """Keys and JSON value kinds of an object (or the kind of a scalar)."""
    def kind(v: Any) -> str:
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, (int, float)):
            return "number"
        return type(v).__name__

    if isinstance(value, dict):
        return {k: kind(v) for k, v in value.items()}
    return kind(value)


def same_shape(ours: Any, documented: Any) -> None:
    ours_shape, doc_shape = shape(ours), shape(documented)
    if isinstance(doc_shape, dict):
        assert isinstance(ours_shape, dict)
        assert set(ours_shape) == set(doc_shape)
        for key, kind in doc_shape.items():
            # a documented null (unset tp/sl) may be a price string once set
            assert ours_shape[key] == kind or kind == "null", key
    else:
        assert ours_shape == doc_shape


FIDELITY_QUERIES: dict[str, dict[str, Any]] = {
    "/getMarketInfo": {"marketId": APT},
    "/getWalletAccountBalance": {"userAddress": ALICE},
    "/getProfileAddress": {"userAddress": ALICE},
}


async def test_documented_rest_examples_have_our_shape(client: TestClient[Any, Any]) -> None:
    checked = 0
    for name in sorted(glob.glob(str(FIXTURES / "rest_*.json"))):
        fixture = load_fixture(Path(name).name)
        if not fixture["examples"]:
            continue
        documented = fixture["examples"][0]["body"]  # the current variant comes first
        ours = await get(client, fixture["path"], **FIDELITY_QUERIES[fixture["path"]])
        assert set(ours) == set(documented)
        assert isinstance(ours["message"], str)
        if isinstance(documented["data"], list):
            same_shape(ours["data"][0], documented["data"][0])
        else:
            same_shape(ours["data"], documented["data"])
        checked += 1
    assert checked == 3


SHARED_SHAPES = {  # REST endpoint -> the WS topic whose elements it shares
    "/getOpenOrders": "ws_open_orders.json",
    "/getOrderHistory": "ws_order_history.json",
    "/getPositions": "ws_positions.json",
    "/getTradeHistory": "ws_trade_history.json",
    "/getAllTrades": "ws_recent_trades.json",
    "/getDepositAndWithdrawHistory": "ws_deposit_withdraw_history.json",
}


async def test_rest_queries_share_the_ws_element_shapes(
    client: TestClient[Any, Any], engine: Engine
) -> None:
    engine.update_take_profit(ALICE, APT, True, 9000)
    for path, fixture in SHARED_SHAPES.items():
        documented = load_fixture(fixture)["examples"][0]["body"]["data"][0]
        params = {"marketId": APT} if path == "/getAllTrades" else {"userAddress": ALICE}
        data = (await get(client, path, **params))["data"]
        assert data, path
        for element in data:
            same_shape(element, documented)
