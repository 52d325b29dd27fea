"""The perpetual_scripts module: its ABI, and each entry function's effect on the Engine."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from kana_async.config import KANA_PACKAGE_ADDRESS
from kana_async.sim import contract
from kana_async.sim.engine import AbortCode, Engine, EngineAbort
from tests.conftest import load_fixture

WALLET = "0x" + "ab" * 32
OTHER = "0x" + "cd" * 32
APT = 1338


@pytest.fixture
def engine() -> Engine:
    return Engine(seed=3, market_maker=None)


def test_module_json_lists_every_entry_function_with_its_params() -> None:
    module = contract.module_json(KANA_PACKAGE_ADDRESS)
    abi = module["abi"]
    assert abi["address"] == KANA_PACKAGE_ADDRESS
    assert abi["name"] == "perpetual_scripts"
    names = {f["name"] for f in abi["exposed_functions"]}
    assert names == set(contract.ENTRY_FUNCTIONS)
    assert len(names) == 13
    limit = next(f for f in abi["exposed_functions"] if f["name"] == "place_limit_order")
    assert limit["params"] == [
        "&signer", "u64", "bool", "bool", "u64", "u64", "u64", "u8", "u64", "u64"]
    for fn in abi["exposed_functions"]:
        parsed = contract.function_abi(fn["name"])
        assert parsed is not None
        assert [str(p) for p in parsed.params] == fn["params"]
    assert contract.function_abi("nope") is None


def test_deposit_withdraw_and_margin(engine: Engine) -> None:
    contract.execute(engine, WALLET, "deposit", [WALLET, 1_000_000_000])
    assert engine.profile_balance(WALLET) == Decimal(1000)
    contract.execute(engine, WALLET, "withdraw_specific_market", [WALLET, APT, 100_000_000])
    contract.execute(engine, WALLET, "withdraw_multiple_markets", [WALLET, [APT, 1339], 1])
    assert engine.profile_balance(WALLET) == Decimal("899.999999")


@pytest.mark.parametrize(
    ("function", "args"),
    [("deposit", [OTHER, 1]), ("withdraw_specific_market", [OTHER, APT, 1]),
     ("withdraw_multiple_markets", [OTHER, [APT], 1])],
)
def test_collateral_moves_only_for_the_signer(
    engine: Engine, function: str, args: list[object]
) -> None:
    with pytest.raises(EngineAbort) as info:
        contract.execute(engine, WALLET, function, args)
    assert info.value.code == contract.E_NOT_SIGNER
    assert info.value.reason.startswith("E_NOT_SIGNER")


def test_orders_reach_the_book_and_cancel(engine: Engine) -> None:
    contract.execute(engine, WALLET, "deposit", [WALLET, 1_000_000_000])
    spec = engine.markets[APT]
    price = spec.ticks(Decimal("4.5"))
    lots = spec.min_lots
    order_id = contract.execute(engine, WALLET, "place_limit_order",
                                [APT, True, False, lots, price, 2, 0, 0, 0])
    profile = engine.profile_address(WALLET)
    assert engine.open_order_ids(profile, APT) == [order_id]
    ids = contract.execute(
        engine, WALLET, "place_multiple_orders",
        [APT, [True], [False], [False], [lots], [price * 2], [2], [3], [0], [0]],
    )
    assert isinstance(ids, list)
    assert len(engine.open_order_ids(profile, APT)) == 2
    contract.execute(engine, WALLET, "cancel_and_place_multiple_orders",
                     [APT, [int(str(order_id))], [True], [], [], [], [], [], [], [], [], []])
    contract.execute(engine, WALLET, "cancel_multiple_orders", [APT, [int(ids[0])], [False]])
    assert engine.open_order_ids(profile, APT) == []


def test_position_functions_reach_the_engine(engine: Engine) -> None:
    """Without a position the position functions abort in the engine, named."""
    for function, args in [
        ("update_take_profit", [APT, True, 10]), ("update_stop_loss", [APT, True, 10]),
        ("add_margin", [APT, True, 1_000_000]), ("collapse_position", [APT]),
    ]:
        with pytest.raises(EngineAbort) as info:
            contract.execute(engine, WALLET, function, args)
        assert info.value.code == AbortCode.NO_POSITION, function
    contract.execute(engine, WALLET, "settle_pnl", [OTHER, APT])  # anyone may settle anyone


# -- events ----------------------------------------------------------------------------------

BOB = "0x" + "ef" * 32
KANA = f"{KANA_PACKAGE_ADDRESS}::perpetual_core::"
ECONIA_CANCEL = f"{contract.ECONIA_ADDRESS}::user::CancelOrderEvent"
NOW = 1_753_165_487


def run(engine: Engine, wallet: str, function: str, args: list[Any]) -> list[contract.Event]:
    return contract.run(engine, wallet, function, args, now=NOW).events


def kinds(events: list[contract.Event]) -> list[str]:
    return [e.type.rsplit("::", 2)[-2] + "::" + e.type.rsplit("::", 1)[-1] for e in events]


@pytest.fixture
def funded(engine: Engine) -> Engine:
    for wallet in (WALLET, OTHER, BOB):
        contract.run(engine, wallet, "deposit", [wallet, 1_000_000_000], now=NOW)
    return engine


def limit_args(side: bool, lots: int, ticks: int, *, close: bool = False,
               restriction: int = 0, tp: int = 0, sl: int = 0) -> list[Any]:
    return [APT, side, close, lots, ticks, 2, restriction, tp, sl]


def test_deposit_and_withdrawal_events(engine: Engine) -> None:
    profile = engine.profile_address(WALLET)
    [deposit] = run(engine, WALLET, "deposit", [WALLET, 250_500_000])
    assert deposit.type == KANA + "DepositEvent"
    assert deposit.data == {"__variant__": "V1", "profile_address": profile,
                            "amount": "250500000", "timestamp": str(NOW)}
    [withdrawal] = run(engine, WALLET, "withdraw_multiple_markets", [WALLET, [APT, 1339], 500])
    assert withdrawal.type == KANA + "WithdrawEvent"
    assert withdrawal.data["amount"] == "500"
    assert run(engine, WALLET, "settle_pnl", [OTHER, APT]) == []


def test_a_resting_limit_order_is_placed_with_its_terms(funded: Engine) -> None:
    executed = contract.run(funded, WALLET, "place_limit_order",
                            limit_args(True, 700, 4500, restriction=3, tp=6000, sl=4000),
                            now=NOW)
    [placed] = executed.events
    assert placed.type == KANA + "PlaceOrderEvent"
    assert placed.data == {
        "__variant__": "V1", "market_id": "1338", "order_id": executed.result,
        "order_type": 1, "profile_address": funded.profile_address(WALLET),
        "trade_side": True, "direction": False, "is_market_order": False, "size": "700",
        "price": "4500", "leverage": "2", "restriction": 3, "take_profit": "6000",
        "stop_loss": "4000", "timestamp": str(NOW),
    }


def test_a_crossing_order_fills_both_sides_and_moves_both_positions(funded: Engine) -> None:
    maker_id = contract.execute(funded, OTHER, "place_limit_order", limit_args(False, 500, 5000))
    executed = contract.run(funded, WALLET, "place_market_order",
                            [APT, True, False, 500, 3, 0, 0], now=NOW)
    events = executed.events
    assert kinds(events) == ["perpetual_core::PlaceOrderEvent", "perpetual_core::FillEvent",
                             "perpetual_core::UpdatePositionEvent",
                             "perpetual_core::UpdatePositionEvent"]
    placed, fill, mine, theirs = events
    assert (placed.data["order_id"], placed.data["is_market_order"]) == (executed.result, True)
    assert (placed.data["price"], placed.data["restriction"]) == ("0", 2)
    me, other = funded.profile_address(WALLET), funded.profile_address(OTHER)
    [my_trade] = funded.trade_history(me)
    [their_trade] = funded.trade_history(other)
    assert fill.data == {
        "__variant__": "V1", "market_id": "1338", "size": "500", "price": "5000",
        "maker_side": True, "maker": other, "maker_order_id": maker_id,
        "maker_trade_id": their_trade["trade_id"], "taker": me,
        "taker_order_id": executed.result, "taker_trade_id": my_trade["trade_id"],
        "timestamp": str(NOW),
    }
    assert mine.data | {"timestamp": ""} == {
        "__variant__": "V1", "market_id": "1338", "profile_address": me, "trade_side": True,
        "size": "500", "leverage": "3", "take_profit": "0", "stop_loss": "0", "timestamp": ""}
    assert (theirs.data["profile_address"], theirs.data["trade_side"]) == (other, False)
    assert theirs.data["size"] == "500"


def test_cancel_events_match_the_real_chain_shapes(funded: Engine) -> None:
    order_id = contract.execute(funded, WALLET, "place_limit_order", limit_args(False, 500, 6000))
    events = run(funded, WALLET, "cancel_multiple_orders", [APT, [int(str(order_id))], [False]])
    kana, econia = events
    real = load_fixture("rest_cancelMultipleOrders.json")["onchain_evidence"]
    assert set(kana.data) == set(real["sample_event_perpetual_core_CancelOrderEvent"])
    assert set(econia.data) == set(real["sample_event_econia_user_CancelOrderEvent"])
    profile = funded.profile_address(WALLET)
    assert kana.type == KANA + "CancelOrderEvent"
    assert kana.data == {"__variant__": "V1", "market_id": "1338", "order_id": order_id,
                         "order_type": 2, "profile_address": profile, "timestamp": str(NOW),
                         "trade_side": False}
    assert econia.type == ECONIA_CANCEL
    assert econia.data == {"custodian_id": "75", "market_id": "1338", "order_id": order_id,
                           "reason": contract.CancelReason.MANUAL_CANCEL, "user": profile}


def test_cancel_and_place_reports_the_cancels_first_then_the_new_orders(funded: Engine) -> None:
    old = contract.execute(funded, WALLET, "place_limit_order", limit_args(True, 500, 4000))
    executed = contract.run(
        funded, WALLET, "cancel_and_place_multiple_orders",
        [APT, [int(str(old))], [True], [True, True], [True, False], [False, False], [500, 600],
         [4100, 6100], [2, 2], [3, 0], [0, 7000], [0, 0]], now=NOW)
    assert kinds(executed.events) == [
        "perpetual_core::CancelOrderEvent", "user::CancelOrderEvent",
        "perpetual_core::PlaceOrderEvent", "perpetual_core::PlaceOrderEvent"]
    assert executed.events[0].data["order_id"] == old
    placed = [e.data for e in executed.events[2:]]
    assert [p["order_id"] for p in placed] == executed.result
    assert [(p["trade_side"], p["price"], p["restriction"], p["take_profit"]) for p in placed] \
        == [(True, "4100", 3, "0"), (False, "6100", 0, "7000")]


@pytest.mark.parametrize(("market", "reason"), [
    (False, contract.CancelReason.IMMEDIATE_OR_CANCEL),
    (True, contract.CancelReason.NOT_ENOUGH_LIQUIDITY),
])
def test_an_unfilled_rest_is_cancelled_with_econias_reason(
    funded: Engine, market: bool, reason: contract.CancelReason
) -> None:
    contract.execute(funded, OTHER, "place_limit_order", limit_args(False, 500, 5000))
    args = [APT, True, False, 800, 2, 0, 0] if market else limit_args(True, 800, 5000,
                                                                      restriction=2)
    executed = contract.run(funded, WALLET, "place_market_order" if market
                            else "place_limit_order", args, now=NOW)
    assert kinds(executed.events)[:4] == [
        "perpetual_core::PlaceOrderEvent", "perpetual_core::FillEvent",
        "perpetual_core::CancelOrderEvent", "user::CancelOrderEvent"]
    cancel = executed.events[3]
    assert (cancel.data["order_id"], cancel.data["reason"]) == (executed.result, reason)
    assert executed.events[1].data["size"] == "500"


def test_a_partly_filled_limit_order_that_rests_is_not_cancelled(funded: Engine) -> None:
    contract.execute(funded, OTHER, "place_limit_order", limit_args(False, 500, 5000))
    executed = contract.run(funded, WALLET, "place_limit_order", limit_args(True, 800, 5000),
                            now=NOW)
    assert "perpetual_core::CancelOrderEvent" not in kinds(executed.events)
    assert funded.open_order_ids(funded.profile_address(WALLET), APT) == [executed.result]


def test_position_functions_report_the_position_after(funded: Engine) -> None:
    contract.execute(funded, OTHER, "place_limit_order", limit_args(False, 1000, 5000))
    contract.execute(funded, WALLET, "place_market_order", [APT, True, False, 1000, 2, 0, 0])
    [margin] = run(funded, WALLET, "add_margin", [APT, True, 1_000_000])
    assert (margin.type, margin.data["size"]) == (KANA + "UpdatePositionEvent", "1000")
    [tp] = run(funded, WALLET, "update_take_profit", [APT, True, 5500])
    assert tp.data["take_profit"] == "5500"
    [sl] = run(funded, WALLET, "update_stop_loss", [APT, True, 4500])
    assert (sl.data["take_profit"], sl.data["stop_loss"]) == ("5500", "4500")
    contract.execute(funded, BOB, "place_limit_order", limit_args(True, 1000, 4900))
    executed = contract.run(funded, WALLET, "collapse_position", [APT], now=NOW)
    assert kinds(executed.events) == [
        "perpetual_core::PlaceOrderEvent", "perpetual_core::FillEvent",
        "perpetual_core::UpdatePositionEvent", "perpetual_core::UpdatePositionEvent"]
    placed, fill, closed, bob = (e.data for e in executed.events)
    assert (placed["direction"], placed["trade_side"], placed["restriction"]) == (True, True, 2)
    assert fill["taker_order_id"] == placed["order_id"]
    assert closed == {"__variant__": "V1", "market_id": "1338",
                      "profile_address": funded.profile_address(WALLET), "trade_side": True,
                      "size": "0", "leverage": "0", "take_profit": "0", "stop_loss": "0",
                      "timestamp": str(NOW)}
    assert (bob["profile_address"], bob["size"]) == (funded.profile_address(BOB), "1000")


def test_an_abort_emits_nothing_and_changes_nothing(funded: Engine) -> None:
    profile = funded.profile_address(WALLET)
    with pytest.raises(EngineAbort):
        contract.run(funded, WALLET, "place_limit_order", limit_args(True, 1, 5000), now=NOW)
    with pytest.raises(EngineAbort):
        contract.run(funded, WALLET, "cancel_multiple_orders", [APT, [123], [True]], now=NOW)
    assert funded.order_history(profile) == []
