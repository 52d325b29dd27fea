"""Argument checks: Python values in, Kana wire values out, or a ValidationError naming the
parameter and the rule."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from kana_async import checks
from kana_async.errors import ValidationError
from kana_async.rest import params as p


@pytest.mark.parametrize(
    ("value", "expected"), [(1338, 1338), ("14", 14), (2**64 - 1, 2**64 - 1)]
)
def test_market_id_accepts_ints_and_numeric_strings(value: Any, expected: int) -> None:
    assert checks.market_id(value) == expected


@pytest.mark.parametrize("value", [0, -1, True, False, "", " 14", "1e3", "0x10", 14.0, None,
                                   2**64, "١٤"])
def test_market_id_rejects(value: Any) -> None:
    with pytest.raises(ValidationError, match="positive integer market id") as info:
        checks.market_id(value)
    assert info.value.param == "market_id"
    assert "or a market name such as APT or APT-USD" in info.value.rule


def test_order_ids_stay_exact_beyond_64_bits() -> None:
    assert checks.order_id(11905620858892513160724480) == "11905620858892513160724480"
    assert checks.order_id("161668980614256490457451450") == "161668980614256490457451450"
    with pytest.raises(ValidationError, match="2\\*\\*128"):
        checks.order_id(2**128)


def test_booleans_must_be_real_bools() -> None:
    assert checks.boolean(True, "trade_side") is True
    assert p.flag(False) == "false"
    for value in (1, 0, "true", None):
        with pytest.raises(ValidationError, match="True or False") as info:
            checks.boolean(value, "trade_side")
        assert info.value.param == "trade_side"


def test_addresses_are_normalised() -> None:
    short = "0x3C78886aa67752706b3502b12959edf92e68d85ae64b24226783d26ce6efc1e"
    assert checks.address(short) == (
        "0x03c78886aa67752706b3502b12959edf92e68d85ae64b24226783d26ce6efc1e"
    )
    assert checks.address("0x1") == "0x" + "0" * 63 + "1"
    for bad in ("3c78", "0x", "0xg1", 5, None):
        with pytest.raises(ValidationError) as info:
            checks.address(bad)
        assert info.value.param == "user_address"


def test_restriction_and_sort_order() -> None:
    assert [checks.restriction(v) for v in (0, 1, 2, 3)] == [0, 1, 2, 3]
    for bad in (4, -1, True, "0", 1.0):
        with pytest.raises(ValidationError, match="post-or-abort"):
            checks.restriction(bad)
    assert p.sort_order("asc") == "asc"
    with pytest.raises(ValidationError):
        p.sort_order("ASC")


def test_decimal_text_never_uses_exponents() -> None:
    assert p.decimal_text(Decimal("1E+2")) == "100"
    assert p.decimal_text(Decimal("1E-7")) == "0.0000001"
    assert p.decimal_text(Decimal("5.7680")) == "5.7680"


def test_iso_times() -> None:
    utc = p.iso_time("2024-11-21T00:00:00Z", "from_time")
    assert utc == datetime(2024, 11, 21, tzinfo=timezone.utc)
    shifted = p.iso_time("2024-11-21T02:30:00+02:30", "from_time")
    assert p.iso_text(shifted) == "2024-11-21T00:00:00Z"
    aware = datetime(2024, 11, 21, 1, tzinfo=timezone(timedelta(hours=1)))
    assert p.iso_text(p.iso_time(aware, "to_time")) == "2024-11-21T00:00:00Z"
    for bad, rule in [("2024-11-21T00:00:00", "timezone-aware"), ("soon", "ISO-8601"),
                      (1732147200, "aware datetime or an ISO-8601 string"),
                      (datetime(2024, 11, 21), "timezone-aware")]:
        with pytest.raises(ValidationError, match=rule):
            p.iso_time(bad, "from_time")


def test_unix_times() -> None:
    assert p.unix_time(1747075649, "t") == 1747075649
    assert p.unix_time(datetime(2025, 5, 12, 18, 47, 29, tzinfo=timezone.utc), "t") == 1747075649
    with pytest.raises(ValidationError, match="timezone-aware"):
        p.unix_time(datetime(2025, 5, 12), "t")


def test_lists() -> None:
    assert checks.same_length(a=[1, 2], b=(3, 4)) == 2
    with pytest.raises(ValidationError, match="a=2, b=1") as info:
        checks.same_length(a=[1, 2], b=[3])
    assert info.value.param == "a"
    with pytest.raises(ValidationError, match="list or tuple"):
        checks.sequence("abc", "order_ids")


def test_counts() -> None:
    assert checks.positive_int("5", "limit") == 5
    assert checks.non_negative_int(0, "offset") == 0
    with pytest.raises(ValidationError, match="> 0"):
        checks.positive_int(0, "limit")
    with pytest.raises(ValidationError, match=">= 0"):
        checks.non_negative_int(-1, "offset")
    with pytest.raises(ValidationError, match=">= 0"):
        checks.non_negative_decimal("-0.1", "take_profit")
