"""``cancel_order`` (the side is looked up) and ``cancel_all`` (batched), against the simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import kana_async.trade.trader as trader_module
from kana_async import KanaClient, ValidationError
from kana_async.models import OpenOrder, order_trade_side
from kana_async.sim import Simulator
from tests.conftest import local_client

ALICE = "11" * 32


@pytest.fixture
async def kana(sim: Simulator) -> AsyncIterator[KanaClient]:
    async with local_client(sim, ALICE) as client:
        assert (await client.deposit(1000)).success
        yield client


async def rest_long_and_short(kana: KanaClient) -> tuple[str, str]:
    long = await kana.place_limit_order("APT", True, False, "0.5", "5.000", 2)
    short = await kana.place_limit_order("APT", False, False, "0.5", "6.000", 2)
    assert long.success
    assert short.success
    return long.order_ids[0], short.order_ids[0]


async def open_orders(kana: KanaClient, market: int | str = "APT") -> list[OpenOrder]:
    return await kana.rest.get_open_orders_from_contract(kana.address, market)


def test_the_side_of_an_order_type() -> None:
    # The documents' examples: 1 resting long, 3 cancelled long, 4 cancelled short.
    assert [order_trade_side(t) for t in (1, 2, 3, 4)] == [True, False, True, False]


async def test_cancel_order_finds_the_side(kana: KanaClient) -> None:
    long_id, short_id = await rest_long_and_short(kana)
    result = await kana.cancel_order("APT", short_id)
    assert result.success
    assert result.cancelled_order_ids == [short_id]
    assert [o.order_id for o in await open_orders(kana)] == [long_id]
    result = await kana.cancel_order(1338, int(long_id))
    assert result.cancelled_order_ids == [long_id]
    assert await open_orders(kana) == []


async def test_cancel_order_of_an_order_that_is_not_open_sends_nothing(
    kana: KanaClient, sim: Simulator
) -> None:
    long_id, _ = await rest_long_and_short(kana)
    version = sim.engine.ledger_version
    with pytest.raises(ValidationError) as info:
        await kana.cancel_order("BTC", long_id)  # open, but in another market
    assert info.value.param == "order_id"
    assert "not an open order of the signer in market 1339" in str(info.value)
    assert "nothing was sent" in str(info.value)
    with pytest.raises(ValidationError, match="not an open order"):
        await kana.cancel_order("APT", 12345)
    with pytest.raises(ValidationError, match="order_id"):
        await kana.cancel_order("APT", "x1")
    assert sim.engine.ledger_version == version


async def test_open_order_sides(kana: KanaClient) -> None:
    long_id, short_id = await rest_long_and_short(kana)
    assert await kana.open_order_sides("APT", [short_id, long_id]) == [False, True]
    with pytest.raises(ValidationError, match=r"order_ids\[1\]: is not an open order"):
        await kana.open_order_sides("APT", [short_id, 999])


async def test_cancel_all_without_open_orders_sends_nothing(
    kana: KanaClient, sim: Simulator
) -> None:
    version = sim.engine.ledger_version
    assert await kana.cancel_all("APT") == []
    assert sim.engine.ledger_version == version


async def test_cancel_all_batches_and_keeps_other_markets(
    kana: KanaClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trader_module, "MAX_CANCELS_PER_TRANSACTION", 2)
    placed = await kana.place_multiple_orders(
        "APT", [True] * 5, [True, True, False, False, True], [False] * 5, ["0.5"] * 5,
        ["5.000", "5.001", "6.000", "6.001", "5.002"], [2] * 5,
    )
    assert len(placed.order_ids) == 5
    btc = await kana.place_limit_order("BTC", True, False, "0.001", "90000", 2)
    results = await kana.cancel_all("APT-USD")
    assert [len(r.cancelled_order_ids) for r in results] == [2, 2, 1]
    assert all(r.success for r in results)
    assert sorted(i for r in results for i in r.cancelled_order_ids) == sorted(placed.order_ids)
    assert await open_orders(kana) == []
    assert [o.order_id for o in await open_orders(kana, "BTC")] == btc.order_ids
