"""ABI-driven encoding: loosely typed REST payload values -> exact BCS, and back."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from aptos_sdk.bcs import Serializer
from aptos_sdk.transactions import EntryFunction

from kana_async.aptos.abi import (
    AbiCache,
    FunctionAbi,
    ModuleAbi,
    decode_arguments,
    encode_entry_function,
    parse_move_type,
)
from kana_async.errors import ValidationError
from kana_async.models import TxPayload

PKG = "0x7a38039fffd016adcac2c53795ee49325e5ec6fddf3bf02651c09f9a583655a6"
MODULE = f"{PKG}::perpetual_scripts"


def abi(name: str, *params: str) -> FunctionAbi:
    return FunctionAbi(name, True, tuple(parse_move_type(p) for p in ("&signer", *params)))


def payload(name: str, *args: Any) -> TxPayload:
    return TxPayload(function=f"{MODULE}::{name}", function_arguments=list(args))


def bcs(method: str, value: Any) -> bytes:
    ser = Serializer()  # type: ignore[no-untyped-call]
    getattr(ser, method)(value)
    return ser.output()


def test_parse_move_types() -> None:
    assert parse_move_type("&signer").kind == "signer"
    nested = parse_move_type("vector<vector<u8>>")
    assert nested.kind == "vector"
    assert nested.inner is not None
    assert nested.inner.kind == "vector"
    assert parse_move_type("0x1::string::String").kind == "string"
    assert parse_move_type("0x0000000000000000000000000000000000000000000000000000000000000001"
                           "::string::String").kind == "string"
    opt = parse_move_type("0x1::option::Option<u64>")
    assert opt.kind == "option"
    assert opt.inner is not None
    assert opt.inner.kind == "u64"
    with pytest.raises(ValueError, match="unsupported"):
        parse_move_type("0x1::coin::Coin<T0>")


def test_cancel_multiple_orders_matches_the_chain_payload() -> None:
    """The executed mainnet payload: u128 ids as strings, bools as JSON booleans."""
    fn = abi("cancel_multiple_orders", "u64", "vector<u128>", "vector<bool>")
    entry = encode_entry_function(
        fn, MODULE,
        payload("cancel_multiple_orders", "15",
                ["161668980614256490457451450", "161668999059311546803014681"], [True, False]),
    )
    assert isinstance(entry, EntryFunction)
    assert entry.function == "cancel_multiple_orders"
    assert entry.module.name == "perpetual_scripts"
    assert entry.args[0] == bcs("u64", 15)
    ids = Serializer()  # type: ignore[no-untyped-call]
    ids.sequence([161668980614256490457451450, 161668999059311546803014681], Serializer.u128)
    assert entry.args[1] == ids.output()
    assert entry.args[2] == b"\x02\x01\x00"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True), ("FALSE", False), (True, True), (False, False),
    ],
)
def test_booleans_from_strings(value: Any, expected: bool) -> None:
    fn = abi("f", "bool")
    entry = encode_entry_function(fn, MODULE, payload("f", value))
    assert entry.args[0] == bcs("bool", expected)


@pytest.mark.parametrize("value", ["42", 42, 42.0, Decimal("42")])
def test_integers_from_strings_numbers_and_decimals(value: Any) -> None:
    entry = encode_entry_function(abi("f", "u64"), MODULE, payload("f", value))
    assert entry.args[0] == bcs("u64", 42)


def test_u128_id_as_json_number_is_exact() -> None:
    big = 11905620858892513160724480
    entry = encode_entry_function(abi("f", "vector<u128>"), MODULE, payload("f", [big, str(big)]))
    assert decode_arguments(abi("f", "vector<u128>"), entry.args) == [[big, big]]


def test_every_kind_round_trips() -> None:
    fn = abi("f", "u8", "u16", "u32", "u256", "address", "0x1::string::String",
             "vector<vector<u64>>", "vector<u8>", "0x1::option::Option<u64>")
    values = [255, "65535", 7, str(2**256 - 1), "0x1", "héllo", [["1", 2], []], "0x0aff", None]
    entry = encode_entry_function(fn, MODULE, payload("f", *values))
    assert decode_arguments(fn, entry.args) == [
        255, 65535, 7, 2**256 - 1, "0x" + "0" * 63 + "1", "héllo", [[1, 2], []], [10, 255], None,
    ]


@pytest.mark.parametrize(
    ("param", "value", "rule"),
    [
        ("u8", 256, "between 0 and 2**8-1"),
        ("u64", -1, "between 0 and 2**64-1"),
        ("u64", "1.5", "decimal string"),
        ("u64", True, "not a boolean"),
        ("u128", 2.0**60, "not exact"),
        ("u64", 1.5, "not exact"),
        ("bool", "yes", "must be a boolean"),
        ("bool", 1, "must be a boolean"),
        ("address", "xyz", "hex address"),
        ("vector<u64>", "1,2", "JSON array"),
        ("0x1::string::String", 5, "must be a string"),
    ],
)
def test_unconvertible_values_name_function_index_type_and_value(
    param: str, value: Any, rule: str
) -> None:
    with pytest.raises(ValidationError) as info:
        encode_entry_function(abi("place", "u64", param), MODULE, payload("place", "1", value))
    err = info.value
    assert err.param == f"{MODULE}::place argument 1 ({param})"
    assert rule in err.rule
    assert err.value == value


def test_wrong_argument_count() -> None:
    with pytest.raises(ValidationError, match="expected 2 arguments"):
        encode_entry_function(abi("f", "u64", "bool"), MODULE, payload("f", "1"))


def test_wrong_type_argument_count() -> None:
    with pytest.raises(ValidationError, match="type arguments"):
        encode_entry_function(
            abi("f", "u64"), MODULE,
            TxPayload(function=f"{MODULE}::f", function_arguments=["1"],
                      type_arguments=["0x1::aptos_coin::AptosCoin"]),
        )


def test_decode_rejects_trailing_or_short_bytes() -> None:
    fn = abi("f", "u64")
    with pytest.raises(ValueError, match="trailing"):
        decode_arguments(fn, [bcs("u64", 1) + b"\x00"])
    with pytest.raises(ValueError, match="not a valid u64"):
        decode_arguments(fn, [b"\x01"])
    with pytest.raises(ValueError, match="expected 1"):
        decode_arguments(fn, [])


MODULE_JSON = {
    "bytecode": "0x",
    "abi": {
        "address": PKG,
        "name": "perpetual_scripts",
        "exposed_functions": [
            {"name": "collapse_position", "visibility": "public", "is_entry": True,
             "generic_type_params": [], "params": ["&signer", "u64"], "return": []},
            {"name": "helper", "visibility": "public", "is_entry": False,
             "generic_type_params": [], "params": ["u64"], "return": ["u64"]},
        ],
    },
}


async def test_cache_fetches_each_module_once() -> None:
    calls: list[tuple[str, str]] = []

    async def fetch(address: str, name: str) -> dict[str, Any]:
        calls.append((address, name))
        return MODULE_JSON

    cache = AbiCache(fetch)
    p = payload("collapse_position", "1338")
    first = await cache.encode(p)
    second = await cache.encode(p)
    assert first.args == second.args == [bcs("u64", 1338)]
    assert calls == [(PKG, "perpetual_scripts")]
    with pytest.raises(ValidationError, match="no entry function 'helper'"):
        await cache.encode(payload("helper", "1"))
    with pytest.raises(ValidationError, match="<address>::<module>::<function>"):
        await cache.encode(TxPayload(function="collapse_position"))


def test_module_abi_from_json_skips_signer_params() -> None:
    module = ModuleAbi.from_json(MODULE_JSON)
    fn = module.entry_function("collapse_position")
    assert [str(p) for p in fn.value_params] == ["u64"]
    assert module.address == PKG
