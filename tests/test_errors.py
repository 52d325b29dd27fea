"""Error texts speak the user's language: values as written, never Python reprs."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from kana_async.errors import ValidationError, describe_value


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (Decimal("5.0005"), "5.0005"),
        (Decimal("1E+3"), "1000"),
        (Decimal("NaN"), "NaN"),
        (7, "7"),
        (0.5, "0.5"),
        (True, "True"),
        ("abc", "'abc'"),
        ("0.4", "0.4"),
        (" 0.4", "' 0.4'"),
        ("", "''"),
        ([Decimal("1.5"), 2], "[1.5, 2]"),
        ((Decimal("1"),), "[1]"),
        (datetime(2024, 1, 2, tzinfo=timezone.utc), "2024-01-02T00:00:00+00:00"),
        (object(), "an object"),
        ({"a": 1}, "a dict"),
    ],
)
def test_values_are_shown_as_written(value: object, shown: str) -> None:
    assert describe_value(value) == shown


def test_long_values_are_cut() -> None:
    text = describe_value("x" * 500)
    assert len(text) < 100
    assert text.endswith("…")
    assert len(describe_value(list(range(100)))) < 100


def test_validation_error_shows_the_value_without_repr() -> None:
    error = ValidationError("size", "must be greater than 0", Decimal("-5.0005"))
    assert str(error) == "size: must be greater than 0 (got -5.0005)"
    assert "Decimal(" not in str(error)
    assert error.value == Decimal("-5.0005")
