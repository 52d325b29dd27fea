"""Transaction events: parsed leniently from node JSON, read by module and struct name."""

from __future__ import annotations

from typing import Any

import pytest

from kana_async.config import KANA_PACKAGE_ADDRESS
from kana_async.trade import Fill, TxEvent, TxResult
from kana_async.trade.events import EventGuid, parse_events
from tests.conftest import load_fixture

ECONIA = "0xc0deb00c405f84c85dc13442e305df75d1288100cdd82675695f6148c7ece51c"
KANA = f"{KANA_PACKAGE_ADDRESS}::perpetual_core"
USER = "0x14fc6539a79b3cb8eedaae6243b561a9cd176c9f3ddde7655a9ad49d87f01e61"


def event(type_: str, data: Any, *, sequence: str = "0") -> dict[str, Any]:
    return {"guid": {"creation_number": "0", "account_address": "0x0"},
            "sequence_number": sequence, "type": type_, "data": data}


def committed(events: Any) -> dict[str, Any]:
    """A user transaction as an Aptos fullnode returns it (fields trimmed)."""
    tx = {"type": "user_transaction", "hash": "0x" + "ab" * 32, "sequence_number": "7",
          "version": "123", "gas_used": "12", "success": True,
          "vm_status": "Executed successfully"}
    if events is not None:
        tx["events"] = events
    return tx


#: Framework events every real transaction carries (coin moves, the fee statement).
FRAMEWORK = [
    {"guid": {"creation_number": "3", "account_address": USER}, "sequence_number": "41",
     "type": "0x1::coin::WithdrawEvent", "data": {"amount": "1200"}},
    event("0x1::transaction_fee::FeeStatement",
          {"execution_gas_units": "6", "io_gas_units": "6", "storage_fee_octas": "0",
           "storage_fee_refund_octas": "0", "total_charge_gas_units": "12"}),
]


@pytest.mark.parametrize("events", [None, [], FRAMEWORK, "not a list", {"type": "x"}])
def test_without_kana_events_every_accessor_is_empty(events: Any) -> None:
    result = TxResult.from_node(committed(events))
    assert result.success is True
    assert (result.order_ids, result.cancelled_order_ids, result.fills) == ([], [], [])


def test_framework_events_are_kept_typed() -> None:
    result = TxResult.from_node(committed(FRAMEWORK))
    withdraw, fee = result.events
    assert withdraw.type == "0x1::coin::WithdrawEvent"
    assert (withdraw.name, withdraw.sequence_number) == ("coin::WithdrawEvent", 41)
    assert withdraw.guid == EventGuid(3, USER)
    assert fee.data["total_charge_gas_units"] == "12"
    assert "events" not in repr(result)  # the repr stays one short line


def test_entries_in_an_unknown_shape_are_skipped_not_raised() -> None:
    events = [42, {"data": {}}, event(f"{KANA}::PlaceOrderEvent", "not an object"),
              event(f"{KANA}::PlaceOrderEvent", {"order_id": "5"}, sequence="x"),
              event(f"{KANA}::PlaceOrderEvent", {"order_id": "9"})]
    result = TxResult.from_node(committed(events))
    assert result.order_ids == ["9"]
    assert len(result.events) == 1


def test_a_pending_transaction_has_no_events() -> None:
    pending = {"type": "pending_transaction", "hash": "0x01", "sequence_number": "3"}
    result = TxResult.from_node(pending)
    assert (result.pending, result.events, result.order_ids) == (True, (), [])


def test_the_real_chain_cancel_events_give_the_cancelled_ids() -> None:
    real = load_fixture("rest_cancelMultipleOrders.json")["onchain_evidence"]
    kana = real["sample_event_perpetual_core_CancelOrderEvent"]
    econia = real["sample_event_econia_user_CancelOrderEvent"]
    result = TxResult.from_node(committed([
        *FRAMEWORK, event(f"{KANA}::CancelOrderEvent", kana),
        event(f"{ECONIA}::user::CancelOrderEvent", econia),
        event(f"{KANA}::CancelOrderEvent", {**kana, "order_id": "161668999059311546803014681"}),
    ]))
    assert result.cancelled_order_ids == [
        "161668980614256490457451450", "161668999059311546803014681"]
    assert result.order_ids == []


def test_placed_ids_keep_their_order_and_econia_events_count_too() -> None:
    result = TxResult.from_node(committed([
        event(f"{KANA}::PlaceOrderEvent", {"order_id": "30"}),
        event(f"{ECONIA}::user::PlaceLimitOrderEvent", {"order_id": "30"}),
        event(f"{KANA}::PlaceOrderEvent", {"order_id": "10"}),
        event(f"{ECONIA}::user::PlaceMarketOrderEvent", {"order_id": 20}),
        event("0xbad::other::PlaceOrderEvent", {"order_id": "99"}),
    ]))
    assert result.order_ids == ["30", "10", "20"]


FILL = {"__variant__": "V1", "market_id": "1338", "size": "500", "price": "5000",
        "maker_side": True, "maker": "0xaa", "maker_order_id": "11", "maker_trade_id": "111",
        "taker": "0xbb", "taker_order_id": "22", "taker_trade_id": "222",
        "timestamp": "1753165487"}
#: Econia's user::FillEvent, emitted once for the maker's handle and once for the taker's.
ECONIA_FILL = {"market_id": "1338", "size": "500", "price": "5000", "maker_side": True,
               "maker": "0xaa", "maker_custodian_id": "75", "maker_order_id": "11",
               "taker": "0xbb", "taker_custodian_id": "75", "taker_order_id": "22",
               "taker_quote_fees_paid": "1250", "sequence_number_for_trade": "0"}


def test_fills_are_typed_on_chain_integers() -> None:
    result = TxResult.from_node(committed([event(f"{KANA}::FillEvent", FILL)]))
    assert result.fills == [Fill(market_id=1338, lots=500, ticks=5000, maker_order_id="11",
                                 taker_order_id="22", maker="0xaa", taker="0xbb",
                                 maker_is_ask=True, maker_trade_id="111",
                                 taker_trade_id="222")]


def test_one_match_reported_by_kana_and_twice_by_econia_is_one_fill() -> None:
    result = TxResult.from_node(committed([
        event(f"{ECONIA}::user::FillEvent", ECONIA_FILL),
        event(f"{ECONIA}::user::FillEvent", ECONIA_FILL),
        event(f"{KANA}::FillEvent", FILL),
        event(f"{KANA}::FillEvent", {**FILL, "maker_order_id": "12", "price": "5001"}),
        event(f"{KANA}::FillEvent", {"market_id": "1338"}),  # incomplete: skipped
    ]))
    first, second = result.fills
    assert (first.maker_order_id, first.taker_trade_id) == ("11", "222")  # Kana's wins
    assert (second.maker_order_id, second.ticks) == ("12", 5001)


def test_econia_only_fills_have_no_trade_ids() -> None:
    result = TxResult.from_node(committed([event(f"{ECONIA}::user::FillEvent", ECONIA_FILL)]))
    [fill] = result.fills
    assert (fill.lots, fill.maker_trade_id, fill.taker_trade_id) == (500, None, None)


def test_event_names_ignore_the_address_and_type_arguments() -> None:
    (parsed,) = parse_events([event("0x1::coin::CoinDeposit<0x1::aptos_coin::AptosCoin>", {})])
    assert parsed == TxEvent("0x1::coin::CoinDeposit<0x1::aptos_coin::AptosCoin>", {}, 0,
                             EventGuid())
    assert parsed.name == "coin::CoinDeposit"
