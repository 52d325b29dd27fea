"""Argument checks shared by the REST builders and the trader: Python values in, checked
values out, or a ``ValidationError`` naming the parameter and the rule.

Pure functions, no I/O, below both :mod:`kana_async.rest` and :mod:`kana_async.trade`, so a
rule has one wording wherever it is applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from .errors import ValidationError
from .models.common import normalize_address
from .units import to_decimal

__all__ = [
    "RESTRICTIONS",
    "address",
    "boolean",
    "market_id",
    "non_negative_decimal",
    "non_negative_int",
    "order_id",
    "positive_int",
    "restriction",
    "same_length",
    "sequence",
]

#: Econia order restrictions: 0 none, 1 fill-or-abort, 2 immediate-or-cancel (Econia defines
#: it; Kana's pages do not list it), 3 post-or-abort.
RESTRICTIONS = (0, 1, 2, 3)
_MAX_U64 = 2**64 - 1
_MAX_U128 = 2**128 - 1


def _whole_number(value: object, param: str, rule: str) -> int:
    """An ``int`` (not ``bool``) or a string of decimal digits."""
    if isinstance(value, bool):
        raise ValidationError(param, rule, value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    raise ValidationError(param, rule, value)


def market_id(value: object, param: str = "market_id") -> int:
    """A positive integer market id, from an int or a numeric string (names are resolved by
    :mod:`kana_async.markets`, which calls this for everything that is not a name)."""
    rule = ("must be a positive integer market id (int or numeric str) or a market name such "
            "as APT or APT-USD")
    number = _whole_number(value, param, rule)
    if not 0 < number <= _MAX_U64:
        raise ValidationError(param, rule, value)
    return number


def order_id(value: object, param: str = "order_id") -> str:
    """An order id (a u128, often beyond 2**64) as its decimal string."""
    rule = "must be a positive integer order id (int or numeric str, < 2**128)"
    number = _whole_number(value, param, rule)
    if not 0 < number <= _MAX_U128:
        raise ValidationError(param, rule, value)
    return str(number)


def positive_int(value: object, param: str) -> int:
    number = _whole_number(value, param, "must be an integer > 0")
    if number <= 0:
        raise ValidationError(param, "must be an integer > 0", value)
    return number


def non_negative_int(value: object, param: str) -> int:
    number = _whole_number(value, param, "must be an integer >= 0")
    if number < 0:
        raise ValidationError(param, "must be an integer >= 0", value)
    return number


def boolean(value: object, param: str) -> bool:
    """A real ``bool``: ``1``/``"true"`` are refused, a side flag must not be guessed."""
    if not isinstance(value, bool):
        raise ValidationError(param, "must be True or False", value)
    return value


def address(value: object, param: str = "user_address") -> str:
    """A ``0x`` hex Aptos address, normalised to 64 lower-case digits."""
    if not isinstance(value, str):
        raise ValidationError(param, "must be a 0x-prefixed hex address string", value)
    return normalize_address(value, param=param)


def restriction(value: object, param: str = "restriction") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value not in RESTRICTIONS:
        raise ValidationError(
            param,
            "must be 0 (none), 1 (fill-or-abort), 2 (immediate-or-cancel) or 3 (post-or-abort)",
            value,
        )
    return value


def sequence(value: object, param: str) -> Sequence[object]:
    """A list or tuple (a str is a sequence too, but never what a caller meant here)."""
    if not isinstance(value, (list, tuple)):
        raise ValidationError(param, "must be a list or tuple", value)
    return value


def same_length(**lists: Sequence[object]) -> int:
    """The common length of the given lists; rejects unequal lengths, naming each."""
    lengths = {name: len(items) for name, items in lists.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{name}={n}" for name, n in lengths.items())
        first = next(iter(lengths))
        raise ValidationError(first, f"all order lists must have the same length ({shown})")
    return next(iter(lengths.values()), 0)


def non_negative_decimal(value: object, param: str) -> Decimal:
    number = to_decimal(value, param)
    if number < 0:
        raise ValidationError(param, "must be >= 0", value)
    return number

