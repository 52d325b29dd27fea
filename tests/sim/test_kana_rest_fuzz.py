"""Fuzzing the REST API: any query string or body gets a JSON envelope, and bad input a 400
whose message starts with the name of the parameter at fault; never a 500."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kana_async.sim.engine import Engine
from kana_async.sim.faults import Faults
from kana_async.sim.kana_rest import LEGACY_ROUTES, ROUTES, make_rest_app
from tests.sim.test_kana_rest import ALICE, APT, HEADERS, NOW

GET_PATHS = sorted(path for method, path in (*ROUTES, *LEGACY_ROUTES) if method == "GET")
POST_PATHS = sorted(path for method, path in ROUTES if method == "POST")

#: Every parameter some endpoint reads, with values that pass its checks (so that the fuzzer
#: also reaches the checks behind it).
VALID: dict[str, list[Any]] = {
    "marketId": [APT, "1339"],
    "userAddress": [ALICE],
    "address": [ALICE],
    "amount": ["10", "12500000"],
    "marketIds": ["1338,1339"],
    "offset": ["0"],
    "limit": ["5"],
    "order": ["asc", "desc"],
    "orderId": ["18446744073709551617"],
    "from": ["2023-11-14T00:00:00Z", "0"],
    "to": ["2023-11-15T00:00:00Z", str(int(NOW))],
    "fromTimestamp": ["0"],
    "toTimestamp": [str(int(NOW))],
    "tradeSide": ["true", "false"],
    "direction": ["false"],
    "size": ["1", "0.5"],
    "price": ["5.5"],
    "leverage": ["2"],
    "restriction": ["0", "3"],
    "takeProfit": ["6"],
    "stopLoss": ["0"],
    "newTakeProfitPrice": ["6"],
    "newStopLossPrice": ["5"],
}
#: The body fields of the batch endpoints, with valid lists.
VALID_BODY: dict[str, list[Any]] = {
    "marketId": [APT],
    "orderTypes": [[True, False]],
    "tradeSides": [[True, False]],
    "orderTradeSides": [[True, False]],
    "directions": [[False, False]],
    "sizes": [[1, "0.5"]],
    "prices": [[5.5, 0]],
    "leverages": [[2, 3]],
    "leverage": [2],
    "restrictions": [[0, 0]],
    "restriction": [0],
    "takeProfits": [[0, 0]],
    "stopLosses": [[0, 0]],
    "orderIds": [["1"]],
    "cancelOrderIds": [["1"]],
    "cancelTradeSides": [[True]],
    "orderSides": [[True]],
}
NAMES = {*VALID, *VALID_BODY, "body"}

junk_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=24)
junk = st.one_of(
    junk_text,
    st.integers(-(10**40), 10**40).map(str),
    st.floats().map(str),
    st.decimals().map(str),
    st.sampled_from([
        "", " ", "true", "TRUE", "NaN", "sNaN", "-Infinity", "-0", "1e999999", "1e-999999",
        "0x", "0x" + "g" * 64, "0x" + "1" * 65, "9999-12-31T23:59:59-23:59", "0001-01-01",
        "1338,abc", ",", "18446744073709551616", str(2**128), "0.0000001", "5.5.5",
    ]),
)


def query(name: str) -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(VALID[name]), junk)


json_junk: st.SearchStrategy[Any] = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(10**30), 10**30),
              st.floats(allow_nan=False, allow_infinity=False), junk_text),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(junk_text, inner, max_size=2),
    max_leaves=6,
)


def body_field(name: str) -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(VALID_BODY[name]), json_junk, st.lists(junk, max_size=3))


@pytest.fixture
def engine() -> Engine:
    engine = Engine(seed=3, clock=lambda: NOW)
    engine.step(NOW)
    engine.deposit(ALICE, 1000 * 10**6)
    engine.place_limit_order(ALICE, APT, True, False, 1000, 4000, 2, 0, 0, 0)
    return engine


@pytest.fixture
async def client(engine: Engine) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(make_rest_app(engine, Faults()), host="127.0.0.1")) as c:
        yield c


def check_envelope(status: int, body: Any) -> None:
    assert status in (200, 400), (status, body)
    assert isinstance(body, dict)
    ok = body.get("success", body.get("status"))
    assert ok is (status == 200), body
    assert set(body) - {"success", "status"} == {"message", "data"}
    if status == 400:
        assert body["data"] is None
        param, _, rule = body["message"].partition(": ")
        assert re.sub(r"\[\d+\]$", "", param) in NAMES, body["message"]
        assert rule, body["message"]


FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@FUZZ
@given(path=st.sampled_from(GET_PATHS),
       params=st.fixed_dictionaries({}, optional={name: query(name) for name in VALID}))
async def test_any_query_string_gets_an_envelope_and_a_named_parameter(
    client: TestClient[Any, Any], path: str, params: dict[str, Any]
) -> None:
    response = await client.get(path, params={k: str(v) for k, v in params.items()},
                                headers=HEADERS)
    check_envelope(response.status, await response.json())


@FUZZ
@given(path=st.sampled_from(POST_PATHS),
       body=st.one_of(
           st.fixed_dictionaries({}, optional={n: body_field(n) for n in VALID_BODY}),
           json_junk,
       ))
async def test_any_batch_body_gets_an_envelope_and_a_named_parameter(
    client: TestClient[Any, Any], path: str, body: Any
) -> None:
    response = await client.post(path, data=json.dumps(body), headers=HEADERS)
    check_envelope(response.status, await response.json())


async def test_a_body_that_is_not_json_names_the_body(client: TestClient[Any, Any]) -> None:
    response = await client.post("/placeMultipleOrders", data=b"\xff{", headers=HEADERS)
    body = await response.json()
    assert response.status == 400
    assert body["message"].startswith("body: ")
