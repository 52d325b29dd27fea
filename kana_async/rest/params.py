"""Query-string forms of checked values (flags, times, sort order, decimal text).

Pure functions, no I/O. The argument checks shared with the trader live in
:mod:`kana_async.checks`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from ..checks import non_negative_int
from ..errors import ValidationError

__all__ = [
    "decimal_text",
    "flag",
    "iso_text",
    "iso_time",
    "sort_order",
    "unix_time",
]


def flag(value: bool) -> str:
    """Query-string form of a bool (Kana expects ``true``/``false``)."""
    return "true" if value else "false"


def sort_order(value: object, param: str = "order") -> str:
    if value not in ("asc", "desc"):
        raise ValidationError(param, "must be 'asc' or 'desc'", value)
    return str(value)


def decimal_text(value: Decimal) -> str:
    """Plain decimal notation (``0.0001``, ``100``), never exponent form, trailing zeros
    kept as given."""
    return format(value, "f")


def _aware(value: datetime, param: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(param, "must be timezone-aware (a naive time is ambiguous)", value)
    return value.astimezone(timezone.utc)


def iso_time(value: object, param: str) -> datetime:
    """An aware ``datetime`` or an ISO-8601 string with an offset (``...Z`` or ``+00:00``)."""
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            raise ValidationError(
                param, "must be an ISO-8601 time such as 2024-11-21T00:00:00Z", value
            ) from None
        return _aware(parsed, param)
    if isinstance(value, datetime):
        return _aware(value, param)
    raise ValidationError(param, "must be an aware datetime or an ISO-8601 string", value)


def iso_text(value: datetime) -> str:
    """UTC ISO-8601 with a ``Z``, as the documents show (``2024-11-21T00:00:00Z``)."""
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def unix_time(value: object, param: str) -> int:
    """Unix seconds, from an int >= 0 or an aware ``datetime``."""
    if isinstance(value, datetime):
        return int(_aware(value, param).timestamp())
    return non_negative_int(value, param)


