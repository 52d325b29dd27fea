"""Human amounts <-> lots, ticks and quote units: exact, grid-checked, bounded."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kana_async.errors import ValidationError
from kana_async.models import MarketInfo
from kana_async.units import (
    MAX_PRICE_TICKS,
    check_leverage,
    check_order,
    leverage_of,
    lots_of,
    lots_to_size,
    price_step,
    price_to_ticks,
    quote_to_units,
    size_step,
    size_to_lots,
    snap_price,
    snap_size,
    ticks_of,
    ticks_to_price,
    to_decimal,
    units_to_quote,
)
from tests.conftest import load_fixture


def market(**overrides: Any) -> MarketInfo:
    fields: dict[str, Any] = {
        "market_id": "1338",
        "base_name": "APT/USDC",
        "base_decimals": 8,
        "quote_decimals": 6,
        "lot_size": 100000,
        "tick_size": 1,
        "min_lots": 500,
        "max_lots": 150000000,
        "max_leverage": 20,
    }
    fields.update(overrides)
    return MarketInfo(**fields)


APT = market()


def test_documented_market_decodes_and_gives_the_worked_example() -> None:
    body = load_fixture("rest_getMarketInfo.json")["examples"][0]["body"]
    info = msgspec.convert(body["data"][0], MarketInfo, strict=False)
    # The documented APT market: one lot = 0.001 APT, min 500 lots = 0.5 APT, price step 0.001 USD.
    assert size_step(info) == Decimal("0.001")
    assert price_step(info) == Decimal("0.001")
    assert size_to_lots(info, "0.5") == 500
    assert lots_to_size(info, 500) == Decimal("0.5")
    assert price_to_ticks(info, "6.050") == 6050
    assert ticks_to_price(info, 6050) == Decimal("6.05")


def test_legacy_lot_size_market() -> None:
    # Market 301 of an older page: lot_size 150000000 -> one lot = 1.5 APT.
    info = market(lot_size=150000000, max_lots=1500000)
    assert size_step(info) == Decimal("1.5")
    assert size_to_lots(info, "750") == 500
    with pytest.raises(ValidationError, match=r"multiple of the lot size 1\.5"):
        size_to_lots(info, "751")


def test_messages_show_values_as_written() -> None:
    with pytest.raises(ValidationError) as info:
        price_to_ticks(APT, Decimal("5.0005"))
    assert str(info.value) == "price: must be a multiple of the tick size 0.001 (got 5.0005)"
    with pytest.raises(ValidationError) as info:
        size_to_lots(APT, Decimal("0.4"))
    assert str(info.value) == "size: minimum size is 0.5 APT (got 0.4)"
    with pytest.raises(ValidationError) as info:
        size_to_lots(market(base_name=""), Decimal("0.4"))
    assert str(info.value) == "size: minimum size is 0.5 (got 0.4)"


@pytest.mark.parametrize(
    ("size", "rule"),
    [
        ("0.0005", "multiple of the lot size"),
        ("0.5001", "multiple of the lot size"),
        ("0.499", r"minimum size is 0\.5 APT \(got 0\.499\)"),
        ("150000.001", r"maximum size is 150000 APT \(got 150000\.001\)"),
        ("0", "greater than 0"),
        ("-1", "greater than 0"),
        ("NaN", "finite"),
        ("Infinity", "finite"),
        ("abc", "decimal number"),
        (True, "not a bool"),
        (None, "Decimal, int or str"),
        ("1e60", "out of range"),
    ],
)
def test_bad_sizes_are_rejected_naming_the_rule(size: Any, rule: str) -> None:
    with pytest.raises(ValidationError, match=rule) as info:
        size_to_lots(APT, size)
    assert info.value.param == "size"


@pytest.mark.parametrize(
    ("price", "rule"),
    [
        ("5.7685", "multiple of the tick size 0.001"),
        ("0", "greater than 0"),
        ("4294967.296", "at most 4294967.295"),
    ],
)
def test_bad_prices_are_rejected_naming_the_rule(price: Any, rule: str) -> None:
    with pytest.raises(ValidationError, match=rule) as info:
        price_to_ticks(APT, price)
    assert info.value.param == "price"


def test_floats_count_at_their_exact_binary_value() -> None:
    assert size_to_lots(APT, 0.5) == 500  # 0.5 is exact in binary
    assert price_to_ticks(APT, 5.75) == 5750
    with pytest.raises(ValidationError, match="exact binary value"):
        price_to_ticks(APT, 5.768)  # 5.768 is 5.76799999... in binary
    with pytest.raises(ValidationError, match="exact binary value"):
        quote_to_units(APT, 0.1)


def test_quote_units() -> None:
    assert quote_to_units(APT, "10.5") == 10_500_000
    assert quote_to_units(None, 3) == 3_000_000
    assert units_to_quote(APT, 6_050_000) == Decimal("6.05")
    with pytest.raises(ValidationError, match="at most 6 decimal places") as info:
        quote_to_units(APT, "0.0000001", param="amount")
    assert info.value.param == "amount"


def test_leverage() -> None:
    assert check_leverage(APT, 20) == 20
    assert check_leverage(APT, "5") == 5
    assert check_leverage(None, 20) == 20
    assert check_leverage(market(max_leverage=50), 50) == 50
    for bad, rule in [(0, "between 1 and max_leverage 20"), (21, "max_leverage 20"),
                      (2.5, "whole number"), (True, "not a bool")]:
        with pytest.raises(ValidationError, match=rule):
            check_leverage(APT, bad)
    with pytest.raises(ValidationError, match="max_leverage 20"):
        check_leverage(None, 21)


def test_check_order() -> None:
    units = check_order(APT, "1.5", "5.768", 10)
    assert (units.lots, units.ticks, units.leverage) == (1500, 5768, 10)
    assert check_order(APT, "1.5", None, 10).ticks is None
    with pytest.raises(ValidationError, match="leverage"):
        check_order(APT, "1.5", "5.768", 25)


def test_snapping_rounds_on_purpose() -> None:
    assert snap_price(APT, "5.7685") == Decimal("5.768")  # half-even
    assert snap_price(APT, "5.7681", ROUND_UP) == Decimal("5.769")
    assert snap_size(APT, "1.23456") == Decimal("1.234")
    assert snap_size(APT, "1.23456", ROUND_UP) == Decimal("1.235")
    assert snap_size(APT, "0.0009", ROUND_DOWN) == 0


def test_to_decimal_keeps_value_exactly() -> None:
    assert to_decimal("0.0287894570000000005993009656", "fee") == Decimal(
        "0.0287894570000000005993009656"
    )
    assert to_decimal(11905620858892513160724480, "x") == Decimal(11905620858892513160724480)


# -- properties ------------------------------------------------------------------------------

# A lot size of the form 2**a * 5**b keeps the price step (tick / lot) a terminating decimal,
# as in every real market; a price step like 1/3 could not be written as a decimal price.
lot_sizes_st = st.builds(lambda a, b: 2**a * 5**b, st.integers(0, 8), st.integers(0, 10))
tick_sizes_st = st.integers(1, 10**6)
markets_st = st.builds(
    market,
    base_decimals=st.integers(0, 10),
    quote_decimals=st.integers(0, 8),
    lot_size=lot_sizes_st,
    tick_size=tick_sizes_st,
    min_lots=st.integers(1, 1000),
    max_lots=st.none() | st.integers(1000, 10**12),
)


@given(markets_st, st.integers(1, 10**12))
def test_lots_size_lots_round_trip(info: MarketInfo, lots: int) -> None:
    upper = info.max_lots if info.max_lots is not None else 2**64 - 1
    lots = max(info.min_lots, min(lots, upper))
    size = lots_to_size(info, lots)
    assert size_to_lots(info, size) == lots
    assert size_to_lots(info, str(size)) == lots


@given(markets_st, st.integers(1, MAX_PRICE_TICKS))
def test_ticks_price_ticks_round_trip(info: MarketInfo, ticks: int) -> None:
    price = ticks_to_price(info, ticks)
    assert price_to_ticks(info, price) == ticks
    assert price_to_ticks(info, format(price, "f")) == ticks


@given(markets_st, st.integers(1, 10**9), st.integers(1, 99))
def test_off_grid_sizes_and_prices_are_rejected(info: MarketInfo, n: int, pct: int) -> None:
    # A fraction of a step strictly between two grid points is never accepted.
    off_size = lots_to_size(info, n) + size_step(info) * Decimal(pct) / 100
    with pytest.raises(ValidationError):
        size_to_lots(info, off_size)
    off_price = ticks_to_price(info, n) + price_step(info) * Decimal(pct) / 100
    with pytest.raises(ValidationError):
        price_to_ticks(info, off_price)


@given(markets_st, st.integers(1, 10**15))
def test_lot_bounds_are_enforced(info: MarketInfo, lots: int) -> None:
    upper = info.max_lots if info.max_lots is not None else 2**64 - 1
    size = lots_to_size(info, lots)
    if info.min_lots <= lots <= upper:
        assert size_to_lots(info, size) == lots
    else:
        with pytest.raises(ValidationError, match=r"minimum size|maximum size"):
            size_to_lots(info, size)


@given(markets_st, st.decimals(min_value=Decimal("0.000001"), max_value=Decimal(10**9),
                               allow_nan=False, places=9))
def test_snapped_prices_are_on_the_grid(info: MarketInfo, price: Decimal) -> None:
    snapped = snap_price(info, price, ROUND_UP)
    assert snapped >= price
    assert snapped - price < price_step(info)
    ticks = (snapped / price_step(info))
    assert ticks == ticks.to_integral_value()


@given(st.integers(0, 10**15), st.integers(0, 8))
def test_quote_units_round_trip(units: int, decimals: int) -> None:
    info = market(quote_decimals=decimals)
    if units:
        assert quote_to_units(info, units_to_quote(info, units)) == units


@pytest.mark.parametrize(
    "text", ["1_0", "1_000.5", "١٢", "٥.٥", "５", " 5 ", "5 ", "\t5", "5\n"]
)
def test_amount_text_must_be_plain_ascii_decimal(text: str) -> None:
    with pytest.raises(ValidationError, match="plain decimal text") as info:
        to_decimal(text, "size")
    assert info.value.param == "size"


@pytest.mark.parametrize(
    ("text", "value"),
    [("5", 5), ("-5", -5), ("+5", 5), ("0.5", Decimal("0.5")), (".5", Decimal("0.5")),
     ("5.", 5), ("1e-3", Decimal("0.001")), ("1E+2", 100), ("007", 7)],
)
def test_plain_decimal_text_is_accepted(text: str, value: Decimal) -> None:
    assert to_decimal(text, "size") == value


def test_parsed_values_are_checked_by_the_same_rules_showing_what_was_given() -> None:
    # For callers that parsed once with to_decimal: same rules, the caller's value in messages.
    assert lots_of(APT, Decimal("1.5"), given="1.5") == 1500
    assert ticks_of(APT, Decimal("5.1"), given="5.1") == 5100
    assert leverage_of(APT, Decimal(3), given=3) == 3
    with pytest.raises(ValidationError) as info:
        ticks_of(APT, to_decimal(5.768, "prices[0]"), given=5.768, param="prices[0]")
    assert str(info.value) == (
        "prices[0]: must be a multiple of the tick size 0.001 (a float is taken at its exact "
        "binary value; pass a str or Decimal) (got 5.768)"
    )
    with pytest.raises(ValidationError, match=r"^sizes\[1\]: minimum size is 0\.5 APT \(got 0\.4"):
        lots_of(APT, Decimal("0.4"), given="0.4", param="sizes[1]")
    with pytest.raises(ValidationError, match=r"^leverage: must be a whole number \(got 2\.5\)$"):
        leverage_of(None, Decimal("2.5"), given="2.5")
