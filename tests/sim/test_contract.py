"""The perpetual_scripts module: its ABI, and each entry function's effect on the Engine."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kana_async.config import KANA_PACKAGE_ADDRESS
from kana_async.sim import contract
from kana_async.sim.engine import AbortCode, Engine, EngineAbort

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
                     [APT, [int(order_id)], [True], [], [], [], [], [], [], [], [], []])
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
