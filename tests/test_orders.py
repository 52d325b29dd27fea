"""Order terms parsed once: one value carries the grid integers, the wire text and the
on-chain arguments of an order, a batch or a TP/SL update."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest

import kana_async.checks
import kana_async.orders
import kana_async.units
from kana_async.errors import ValidationError
from kana_async.models import MarketInfo
from kana_async.orders import (
    parse_cancels,
    parse_collateral,
    parse_order,
    parse_placements,
    parse_trigger,
)

APT = MarketInfo(market_id=1338, base_name="APT/USDC", base_decimals=8, quote_decimals=6,
                 lot_size=100000, tick_size=1, min_lots=500, max_lots=150000000,
                 max_leverage=20)


def test_a_limit_order_carries_its_wire_text_and_its_on_chain_arguments() -> None:
    terms = parse_order(1338, True, False, "1.50", "5.1", 3, 3, "6", None).on(APT)
    assert terms.function == "place_limit_order"
    assert (terms.lots, terms.ticks, terms.leverage, terms.restriction) == (1500, 5100, 3, 3)
    assert terms.query() == {
        "marketId": "1338", "tradeSide": "true", "direction": "false", "size": "1.50",
        "price": "5.1", "leverage": "3", "restriction": "3", "takeProfit": "6",
    }
    assert terms.arguments() == [1338, True, False, 1500, 5100, 3, 3, 6000, 0]


def test_a_market_order_has_no_price_and_no_restriction() -> None:
    terms = parse_order(1338, False, True, "0.5", None, 2, None, None, "0",
                        limit=False).on(APT)
    assert terms.function == "place_market_order"
    assert terms.query() == {
        "marketId": "1338", "tradeSide": "false", "direction": "true", "size": "0.5",
        "leverage": "2", "stopLoss": "0",
    }
    assert terms.arguments() == [1338, False, True, 500, 2, 0, 0]


def test_each_money_argument_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []
    real = kana_async.units.to_decimal

    def counting(value: object, param: str) -> Decimal:
        seen.append(value)
        return real(value, param)

    for module in (kana_async.units, kana_async.checks, kana_async.orders):
        monkeypatch.setattr(module, "to_decimal", counting)
    size, price, tp = "1.5", "5.1", "6.2"
    parse_order(1338, True, False, size, price, 3, 0, tp, None).on(APT)
    assert [v for v in seen if v in (size, price, tp)] == [size, price, tp]


def test_without_the_market_only_signs_and_bounds_are_checked() -> None:
    terms = parse_order(1338, True, False, "0.0001", "5.0001", 20).on(None)
    assert (terms.lots, terms.ticks) == (None, None)
    assert terms.query()["size"] == "0.0001"
    with pytest.raises(ValueError, match="grid"):
        terms.arguments()
    with pytest.raises(ValidationError, match=r"^leverage: must be between 1 and max_leverage 20"):
        parse_order(1338, True, False, "1", "5", 21).on(None)
    with pytest.raises(ValidationError, match=r"^size: must be greater than 0"):
        parse_order(1338, True, False, "0", "5", 2).on(None)


def test_floats_only_when_exactly_what_they_look_like() -> None:
    assert parse_order(1338, True, False, 0.5, "5", 2).on(APT).query()["size"] == "0.5"
    with pytest.raises(ValidationError, match=r"^price: a float that is not exactly"):
        parse_order(1338, True, False, "1", 5.768, 2).on(None)
    with pytest.raises(ValidationError, match=r"tick size 0\.001 \(a float is taken"):
        parse_order(1338, True, False, "1", 5.768, 2).on(APT)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((1, False, "1", "5", 2), "trade_side: must be True or False (got 1)"),
        ((True, False, "1", "5", 2, 4), "restriction: must be 0 (none), 1 (fill-or-abort), "
         "2 (immediate-or-cancel) or 3 (post-or-abort) (got 4)"),
        ((True, False, "-1", "5", 2), "size: must be >= 0 (got -1)"),
        ((True, False, "1", "5", 2, 0, "x"), "take_profit: must be a decimal number (got 'x')"),
    ],
)
def test_arguments_that_need_no_market_fail_before_it_is_known(
    args: tuple[Any, ...], message: str
) -> None:
    with pytest.raises(ValidationError, match="^" + re.escape(message) + "$"):
        parse_order(1338, *args)


def test_a_trigger_update() -> None:
    terms = parse_trigger("update_stop_loss", 1338, True, "4.2").on(APT)
    assert terms.query() == {"marketId": "1338", "tradeSide": "true", "newStopLossPrice": "4.2"}
    assert terms.arguments() == [1338, True, 4200]
    cleared = parse_trigger("update_take_profit", 1338, False, 0).on(APT)
    assert cleared.query()["newTakeProfitPrice"] == "0"
    assert cleared.arguments() == [1338, False, 0]
    with pytest.raises(ValidationError, match=r"^new_take_profit_price: must be a multiple"):
        parse_trigger("update_take_profit", 1338, False, "7.0001").on(APT)


def test_a_batch_body_and_arguments() -> None:
    draft = parse_placements(1338, [True, False], [True, False], [False, True], ["1", "0.5"],
                             ["5.5", None], [3, 2], 3, None, ["5", None])
    assert draft.needs_market
    terms = draft.on(APT)
    assert terms.function == "place_multiple_orders"
    assert terms.body() == {
        "marketId": 1338, "orderTypes": [True, False], "tradeSides": [True, False],
        "directions": [False, True], "sizes": [Decimal(1), Decimal("0.5")],
        "prices": [Decimal("5.5"), Decimal(0)], "leverages": [3, 2], "restriction": 3,
        "stopLosses": [Decimal(5), Decimal(0)],
    }
    assert terms.arguments() == [
        1338, [True, False], [True, False], [False, True], [1000, 500], [5500, None], [3, 2],
        [3, None], [0, 0], [5000, 0],
    ]


def test_cancels_alone_and_with_placements() -> None:
    cancel = parse_cancels(1338, [7, "8"], [True, False])
    assert not cancel.needs_market
    terms = cancel.on(None)
    assert terms.function == "cancel_multiple_orders"
    assert terms.body() == {"marketId": 1338, "cancelOrderIds": ["7", "8"],
                            "orderSides": [True, False]}
    assert terms.arguments() == [1338, [7, 8], [True, False]]
    both = parse_placements(1338, [True], [False], [False], ["1"], ["6"], [2],
                            cancels=([7], [True])).on(APT)
    assert both.function == "cancel_and_place_multiple_orders"
    assert both.arguments()[:3] == [1338, [7], [True]]
    assert both.body()["cancelOrderIds"] == ["7"]


BATCH_ERRORS: list[tuple[tuple[Any, ...], str]] = [
    (([True], [True], [False], ["1", "2"], ["5"], [2]),
     "order_types: all order lists must have the same length (order_types=1, trade_sides=1, "
     "directions=1, sizes=2, prices=1, leverages=1)"),
    (([], [], [], [], [], []), "order_types: must contain at least one order"),
    (([True], [True], [False], ["1"], [None], [2]), "prices[0]: a limit order needs a price > 0"),
    (([True], [True], [False], ["1"], ["5"], [2], 0, []),
     "order_types: all order lists must have the same length (order_types=1, trade_sides=1, "
     "directions=1, sizes=1, prices=1, leverages=1, take_profits=0)"),
]


@pytest.mark.parametrize(("lists", "message"), BATCH_ERRORS)
def test_batch_rules_have_one_wording(lists: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValidationError, match="^" + re.escape(message) + "$"):
        parse_placements(1338, *lists)


def test_cancel_rules() -> None:
    with pytest.raises(ValidationError, match=r"^order_ids: must name at least one order$"):
        parse_cancels(1338, [], [])
    with pytest.raises(ValidationError, match=r"^order_ids: cancel or place at least one order$"):
        parse_placements(1338, [], [], [], [], [], [], cancels=([], []))


WALLET = "0x" + "ab" * 32


def test_collateral_moves() -> None:
    deposit = parse_collateral("deposit", "12.5", user_address=WALLET).on(None)
    assert deposit.query() == {"userAddress": WALLET, "amount": "12.5"}
    assert deposit.arguments() == [WALLET, 12_500_000]
    withdraw = parse_collateral("withdraw_multiple_markets", 3, user_address=WALLET,
                                market_ids=[1338, 14]).on(None)
    assert withdraw.query() == {"userAddress": WALLET, "marketIds": "1338,14", "amount": "3"}
    assert withdraw.arguments() == [WALLET, [1338, 14], 3_000_000]
    margin = parse_collateral("add_margin", "0.5", market_ids=[1338], trade_side=False).on(APT)
    assert margin.query() == {"marketId": "1338", "tradeSide": "false", "amount": "0.5"}
    assert margin.arguments() == [1338, False, 500_000]


def test_collateral_rules() -> None:
    with pytest.raises(ValidationError, match=r"^amount: must have at most 6 decimal places"):
        parse_collateral("deposit", "1.0000001", user_address=WALLET)
    with pytest.raises(ValidationError, match=r"^trade_side: must be True or False"):
        parse_collateral("add_margin", "1", market_ids=[1338], trade_side=1)
    two_decimals = MarketInfo(**{**{f: getattr(APT, f) for f in APT.__struct_fields__},
                                 "quote_decimals": 2})
    with pytest.raises(ValidationError, match=r"^amount: must have at most 2 decimal places"):
        parse_collateral("add_margin", "1.005", market_ids=[1338], trade_side=True
                         ).on(two_decimals)
