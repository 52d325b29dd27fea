"""TxPayload accepts the current ts-sdk shape and the legacy Aptos REST shape."""

from __future__ import annotations

import msgspec

from kana_async.models import TxPayload, decoder
from tests.conftest import load_fixture


def test_current_shape() -> None:
    payload = decoder(TxPayload).decode(
        b'{"function":"0x1::perpetual_scripts::deposit",'
        b'"functionArguments":["0x2","10000000"],"typeArguments":[]}'
    )
    assert payload.module == "0x1::perpetual_scripts"
    assert payload.function_name == "deposit"
    assert payload.function_arguments == ["0x2", "10000000"]


def test_legacy_shape_from_the_chain_is_folded_in() -> None:
    onchain = load_fixture("rest_cancelMultipleOrders.json")["onchain_evidence"]["payload"]
    payload = decoder(TxPayload).decode(msgspec.json.encode(onchain))
    assert payload.function_name == "cancel_multiple_orders"
    assert payload.function_arguments[0] == "15"
    assert payload.function_arguments[1][0] == "161668980614256490457451450"
    assert payload.type_arguments == []
    legacy = decoder(TxPayload).decode(
        b'{"type":"entry_function_payload","function":"0x1::m::f",'
        b'"arguments":[1],"type_arguments":["0x1::aptos_coin::AptosCoin"]}'
    )
    assert legacy.function_arguments == [1]
    assert legacy.type_arguments == ["0x1::aptos_coin::AptosCoin"]
