"""Every documented WebSocket example decodes into its typed model."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import pytest

from kana_async.errors import ValidationError
from kana_async.models import (
    DepositWithdraw,
    FundingRate,
    MarketInfo,
    OpenOrder,
    Order,
    OrderBookLevel,
    Position,
    RestEnvelope,
    Trade,
    decode_lenient,
    decoder,
    normalize_address,
)

#: The type each topic's ``data`` decodes into, one list (of one item or many).
TOPIC_TYPES: dict[str, type[list[Any]]] = {
    "ws_order_history.json": list[Order],
    "ws_live_order_history.json": list[Order],
    "ws_deposit_withdraw_history.json": list[DepositWithdraw],
    "ws_trade_history.json": list[Trade],
    "ws_live_trade_history.json": list[Trade],
    "ws_recent_trades.json": list[Trade],
    "ws_positions.json": list[Position],
    "ws_open_orders.json": list[OpenOrder],
    "ws_orderbook.json": list[OrderBookLevel],
    "ws_live_funding_rate.json": list[FundingRate],
}


@pytest.mark.parametrize("name", sorted(TOPIC_TYPES))
def test_every_documented_ws_example_decodes(name: str, fixture_bodies: Any) -> None:
    list_type = TOPIC_TYPES[name]
    bodies = fixture_bodies(name)
    assert bodies
    for body in bodies:
        data = body["data"]
        items = data if isinstance(data, list) else [data]
        dec = decoder(list_type)
        decoded = dec.decode(msgspec.json.encode(items))
        assert len(decoded) == len(items)
        for item, raw in zip(decoded, items, strict=True):
            if "market_id" in raw:
                assert item.market_id == int(raw["market_id"])


def test_orderbook_price_number_becomes_exact_decimal() -> None:
    level = decoder(OrderBookLevel).decode(
        b'{"market_id":"1338","price":5.768,"size":"487.649","is_ask":true,"last_updated":1}'
    )
    assert level.price == Decimal("5.768")
    assert level.size == Decimal("487.649")


def test_legacy_position_is_long_maps_to_trade_side(fixture_bodies: Any) -> None:
    legacy = fixture_bodies("ws_positions.json")[1]["data"][0]
    pos = decoder(Position).decode(msgspec.json.encode(legacy))
    assert pos.trade_side is False
    assert pos.is_long is False
    assert pos.last_updated == 1739788459  # a string timestamp on the wire


def test_short_address_is_normalised(fixture_bodies: Any) -> None:
    body = fixture_bodies("ws_live_order_history.json")[0]["data"]
    assert len(body["address"]) == 65  # 63 hex digits in the document
    order = decoder(Order).decode(msgspec.json.encode(body))
    assert order.address == "0x0" + body["address"][2:]


@pytest.mark.parametrize("market_id", [b"1338", b'"1338"'])
def test_market_ids_are_ints_whether_numbers_or_text_on_the_wire(market_id: bytes) -> None:
    raw = b'{"market_id":' + market_id + b',"funding_rate":"0.1"}'
    assert decoder(FundingRate).decode(raw).market_id == 1338
    assert decode_lenient(raw, FundingRate).market_id == 1338


@pytest.mark.parametrize("market_id", [b'"APT"', b'"-1"', b"true", b"1.5"])
def test_a_market_id_that_is_not_a_whole_number_is_refused(market_id: bytes) -> None:
    raw = b'{"market_id":' + market_id + b',"funding_rate":"0.1"}'
    with pytest.raises(msgspec.ValidationError):
        decode_lenient(raw, FundingRate)


def test_numeric_ids_need_the_lenient_path() -> None:
    raw = (b'{"address":"0x1","trade_id":77,"market_id":1338,"order_type":1,"size":"1",'
           b'"price":"5","fee":"0","pnl":"0","timestamp":1}')
    with pytest.raises(msgspec.ValidationError):
        decoder(Trade).decode(raw)
    assert decode_lenient(raw, Trade).trade_id == "77"


def test_market_info_examples_and_grid(fixture_bodies: Any) -> None:
    for body in fixture_bodies("rest_getMarketInfo.json"):
        env = msgspec.json.decode(msgspec.json.encode(body), type=RestEnvelope)
        assert env.ok
        (info,) = decoder(list[MarketInfo]).decode(env.data)
        assert info.lot_size > 0
    current = decoder(list[MarketInfo]).decode(
        msgspec.json.encode(fixture_bodies("rest_getMarketInfo.json")[0]["data"])
    )[0]
    assert current.lot == Decimal("0.001")
    assert current.tick == Decimal("0.001")


def test_envelope_accepts_legacy_status_flag() -> None:
    env = msgspec.json.decode(b'{"status":true,"message":"x","data":1}', type=RestEnvelope)
    assert env.ok
    assert not msgspec.json.decode(b'{"success":false,"data":null}', type=RestEnvelope).ok


@pytest.mark.parametrize(
    "bad",
    ["", "0x", "abc", "0xzz", "0x" + "1" * 65, 12, "0x1\n", "0x" + "a" * 64 + "\n", " 0x1",
     "0x1 ", "0x\n1"],
)
def test_bad_address_names_the_rule(bad: Any) -> None:
    with pytest.raises(ValidationError, match="user_address: must be a 0x-prefixed hex"):
        normalize_address(bad, param="user_address")


@pytest.mark.parametrize("junk", ["0x" + "a" * 63 + "\n", "0x" + "z" * 64, "0X" + "a" * 64])
def test_a_wire_address_of_full_length_is_checked_too(junk: str) -> None:
    row = {"address": junk, "amount": "1", "is_deposit": True, "timestamp": 1}
    with pytest.raises(msgspec.ValidationError, match="address: must be a 0x-prefixed hex"):
        decoder(DepositWithdraw).decode(msgspec.json.encode(row))
