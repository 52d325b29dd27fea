"""Legacy REST paths: served as older pages and 2024 frontends call them,
with the ``status`` envelope key of that time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from kana_async.sim.engine import Engine
from kana_async.sim.faults import Faults
from kana_async.sim.kana_rest import LEGACY_ROUTES, ROUTES, make_rest_app
from tests.sim.test_kana_rest import ALICE, APT, BOB, HEADERS, NOW, PKG

UNIT = 10**6


@pytest.fixture
def engine() -> Engine:
    """ALICE has 1000 deposited, a closed long on APT (pending pnl) and nothing else."""
    engine = Engine(seed=3, clock=lambda: NOW)
    engine.step(NOW)
    engine.deposit(ALICE, 1000 * UNIT)
    engine.place_market_order(ALICE, APT, True, False, 1000, 2, 0, 0)
    engine.place_market_order(ALICE, APT, True, True, 1000, 2, 0, 0)
    return engine


@pytest.fixture
async def client(engine: Engine) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(make_rest_app(engine, Faults()), host="127.0.0.1")) as c:
        yield c


async def legacy(client: TestClient[Any, Any], path: str, status: int = 200,
                 **params: Any) -> Any:
    response = await client.get(path, params={k: str(v) for k, v in params.items()},
                                headers=HEADERS)
    body = await response.json()
    assert response.status == status, body
    assert set(body) == {"status", "message", "data"}
    assert body["status"] is (status == 200)
    return body


def test_legacy_paths_are_routed_apart_from_the_current_ones() -> None:
    paths = {path for _, path in LEGACY_ROUTES}
    assert {"/getTradingAccountBalance", "/withdraw", "/marketOrder", "/limitOrder"} <= paths
    assert {"/withdraw/", "/marketOrder/", "/limitOrder/"} <= paths
    assert not paths & {path for _, path in ROUTES}


async def test_trading_account_balance_is_what_a_withdrawal_from_the_market_reaches(
    client: TestClient[Any, Any], engine: Engine
) -> None:
    pending = engine.pending_balance(ALICE, APT)
    assert pending > 0
    body = await legacy(client, "/getTradingAccountBalance", address=ALICE, marketId=APT)
    assert Decimal(body["data"]) == engine.profile_balance(ALICE) + pending
    assert body["message"]
    # Another market has no pending balance: the free collateral alone.
    body = await legacy(client, "/getTradingAccountBalance", address=ALICE, marketId=1339)
    assert Decimal(body["data"]) == engine.profile_balance(ALICE)
    # The current parameter name is accepted too; a new wallet has nothing deposited.
    body = await legacy(client, "/getTradingAccountBalance", userAddress=BOB, marketId=APT)
    assert body["data"] == "0"


@pytest.mark.parametrize("path", ["/withdraw", "/withdraw/"])
async def test_withdraw_takes_raw_units(client: TestClient[Any, Any], path: str) -> None:
    # An old frontend: 12.5 coins sent as 12.5 * 1000000.
    body = await legacy(client, path, marketId=APT, amount=12_500_000, userAddress=ALICE)
    assert body["data"] == {
        "function": PKG + "withdraw_specific_market",
        "functionArguments": [ALICE, str(APT), "12500000"],
        "typeArguments": [],
    }


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"marketId": APT, "amount": "12.5", "userAddress": ALICE}, "amount: must be a whole"),
        ({"marketId": APT, "amount": 0, "userAddress": ALICE}, "amount: must be between 1"),
        ({"marketId": APT, "amount": 10}, "userAddress: is required"),
        ({"marketId": 7, "amount": 10, "userAddress": ALICE}, "marketId: unknown market 7"),
    ],
)
async def test_withdraw_refuses_bad_input(
    client: TestClient[Any, Any], params: dict[str, Any], needle: str
) -> None:
    body = await legacy(client, "/withdraw/", 400, **params)
    assert needle in body["message"]


ORDER: dict[str, Any] = {"marketId": APT, "tradeSide": "true", "direction": "false", "size": "1.5",
         "leverage": 20}


@pytest.mark.parametrize("path", ["/marketOrder", "/marketOrder/"])
async def test_market_order_builds_the_current_payload(
    client: TestClient[Any, Any], path: str
) -> None:
    # The old form's ``amount`` (the order's quote value) is accepted; no argument carries it.
    body = await legacy(client, path, **ORDER, amount="171")
    assert body["data"]["function"] == PKG + "place_market_order"
    assert body["data"]["functionArguments"] == [str(APT), True, False, "1500", "20", "0", "0"]
    without = await legacy(client, path, **ORDER)
    assert without["data"] == body["data"]


@pytest.mark.parametrize("path", ["/limitOrder", "/limitOrder/"])
async def test_limit_order_builds_the_current_payload(
    client: TestClient[Any, Any], path: str
) -> None:
    body = await legacy(client, path, **ORDER, price="5.5", amount="8.25", takeProfit="6",
                        stopLoss="5")
    assert body["data"]["function"] == PKG + "place_limit_order"
    assert body["data"]["functionArguments"] == [
        str(APT), True, False, "1500", "5500", "20", "0", "6000", "5000"]


@pytest.mark.parametrize(
    ("path", "params", "needle"),
    [
        ("/marketOrder/", {**ORDER, "amount": "-3"}, "amount: must be positive"),
        ("/marketOrder/", {**ORDER, "amount": "lots"}, "amount: must be a number"),
        ("/limitOrder/", ORDER, "price: is required"),
        ("/limitOrder/", {**ORDER, "price": "5.5", "size": "0.0001"}, "size: must be a multiple"),
    ],
)
async def test_legacy_orders_refuse_bad_input(
    client: TestClient[Any, Any], path: str, params: dict[str, Any], needle: str
) -> None:
    body = await legacy(client, path, 400, **params)
    assert needle in body["message"]


async def test_legacy_errors_before_the_handler_use_the_legacy_envelope(
    client: TestClient[Any, Any]
) -> None:
    response = await client.get("/withdraw/", params={"marketId": "1338", "amount": "1"})
    assert response.status == 401
    assert await response.json() == {
        "status": False, "message": "x-api-key header is required", "data": None}
