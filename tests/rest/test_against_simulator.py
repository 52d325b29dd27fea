"""KanaRest against the embedded simulator: the wire choices (paths, field names, human-unit
text) are understood end to end, and the payloads carry the integers ``units`` predicts."""

from __future__ import annotations

from typing import Any

import pytest

from kana_async.client import KanaClient
from kana_async.errors import ApiError, AuthError, TransportError
from kana_async.rest import RetryPolicy
from kana_async.units import lots_to_size, price_to_ticks, quote_to_units, size_to_lots, snap_price

WALLET = "0x" + "ab" * 32
pytestmark = pytest.mark.kana_sim(step_interval=None)


def client(sim: Any, **options: Any) -> KanaClient:
    return KanaClient(
        "local", api_key="sim-key", rest_url=sim.rest_url, ws_url=sim.ws_url,
        node_url=sim.node_url, **options,
    )


async def test_builders_carry_the_predicted_integers(kana_sim: Any) -> None:
    async with client(kana_sim) as kana:
        rest = kana.rest
        (info, *_) = await rest.get_perpetual_assets_info()
        mid = int(info.market_id)
        quote = await rest.get_market_price(mid)
        price = snap_price(info, quote.best_bid_price or 5)
        size = lots_to_size(info, info.min_lots * 3)
        lots, ticks = size_to_lots(info, size), price_to_ticks(info, price)

        limit = await rest.place_limit_order(mid, True, False, size, price, 5, restriction=3)
        assert limit.function_name == "place_limit_order"
        assert [str(a) for a in limit.function_arguments[3:7]] == [
            str(lots), str(ticks), "5", "3"
        ]

        deposit = await rest.deposit(WALLET, "12.5")
        assert str(deposit.function_arguments[1]) == str(quote_to_units(info, "12.5"))

        batch = await rest.place_multiple_orders(
            mid, [True, False], [True, False], [False, False], [size, size], [price, None], [2, 3]
        )
        assert [str(v) for v in batch.function_arguments[4]] == [str(lots)] * 2

        cancel = await rest.cancel_multiple_orders(mid, ["11905620858892513160724480"], [False])
        assert [str(v) for v in cancel.function_arguments[1]] == ["11905620858892513160724480"]
        assert cancel.function_arguments[2] == [False]

        both = await rest.cancel_and_place_multiple_orders(
            mid, ["11905620858892513160724480"], [True], [True], [False], [False], [size],
            [price], [4],
        )
        assert both.function_name == "cancel_and_place_multiple_orders"
        assert both.function_arguments[4] == [False]  # trade side of the new order

        withdraw = await rest.withdraw_specific_market(WALLET, mid, "1")
        assert withdraw.function_name == "withdraw_specific_market"
        tp = await rest.update_take_profit(mid, True, price * 2)
        assert str(tp.function_arguments[2]) == str(price_to_ticks(info, price * 2))


async def test_queries_decode(kana_sim: Any) -> None:
    async with client(kana_sim) as kana:
        rest = kana.rest
        markets = await rest.get_perpetual_assets_info()
        mid = markets[0].market_id
        assert await rest.get_market_info(mid)
        assert (await rest.get_profile_address(WALLET)).startswith("0x")
        assert await rest.get_wallet_account_balance(WALLET) >= 0
        assert await rest.get_open_orders(WALLET) == []
        assert await rest.get_positions(WALLET, mid) == []
        assert await rest.get_all_open_order_ids(WALLET, mid) == []
        assert isinstance(await rest.get_fills(mid, "2024-01-01T00:00:00Z", "2030-01-01T00:00Z"),
                          list)
        with pytest.raises(ApiError) as info:
            await rest.get_order_status_by_order_id(mid, 1)
        assert info.value.status == 400


async def test_simulator_faults_map_to_errors(kana_sim: Any) -> None:
    policy = RetryPolicy(attempts=3, total_time=2, backoff=0.001, max_backoff=0.002)
    async with client(kana_sim, retry=policy) as kana:
        kana_sim.faults.fail_rest(2, status=503)
        assert await kana.rest.get_perpetual_assets_info()  # two 503s, then success
        kana_sim.faults.fail_rest(5, status=500)
        with pytest.raises(TransportError) as info:
            await kana.rest.get_perpetual_assets_info()
        assert info.value.status == 500
        kana_sim.faults.fail_rest(0)


@pytest.mark.kana_sim(api_keys=["only-this-key"], step_interval=None)
async def test_a_wrong_key_is_an_auth_error(kana_sim: Any) -> None:
    async with client(kana_sim) as kana:
        with pytest.raises(AuthError) as info:
            await kana.rest.get_perpetual_assets_info()
        assert info.value.status == 403
        assert "sim-key" not in str(info.value)
