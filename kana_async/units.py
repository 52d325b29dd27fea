"""Human amounts (``Decimal``) <-> on-chain integers (lots, ticks, quote units), per market.

Kana matches on Econia: an order size is a whole number of *lots* and a price a
whole number of *ticks per lot*. With ``L = lot_size``, ``T = tick_size``, ``bd``/``qd`` the
base/quote decimals::

    one lot       = L / 10**bd                   (base units, e.g. 0.001 APT)
    size_lots     = size / one lot               (integer, min_lots..max_lots)
    price_ticks   = price * one lot * 10**qd / T (integer, 1..2**32-1)
    quote units   = amount * 10**qd              (integer)

Everything here is exact: inputs become ``fractions.Fraction`` and a value that is not on the
grid is rejected with a :class:`~kana_async.errors.ValidationError` naming the rule, never
rounded silently. Use :func:`snap_size` / :func:`snap_price` to round on purpose.

Floats: a ``float`` is taken at its exact binary value (``Decimal(0.5)`` is 0.5, but
``Decimal(0.1)`` is 0.1000000000000000055...), so ``0.5`` passes a 0.001 grid and ``0.1`` does
not. Pass ``str`` or ``Decimal`` for money; rounding a float through its ``repr`` would hide a
value the caller never wrote.
"""

from __future__ import annotations

import decimal
import re
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import NamedTuple

from .errors import ValidationError
from .models.kana import MarketInfo

__all__ = [
    "DEFAULT_MAX_LEVERAGE",
    "DEFAULT_QUOTE_DECIMALS",
    "MAX_PRICE_TICKS",
    "Money",
    "OrderUnits",
    "base_asset",
    "check_leverage",
    "check_order",
    "leverage_of",
    "lots_of",
    "lots_to_size",
    "price_step",
    "price_to_ticks",
    "quote_to_units",
    "quote_units_of",
    "size_step",
    "size_to_lots",
    "snap_price",
    "snap_size",
    "ticks_of",
    "ticks_to_price",
    "to_decimal",
    "units_to_quote",
]

#: What callers may pass where money is expected.
Money = Decimal | int | str | float

#: Leverage bound used when a market's own ``max_leverage`` is not known (every documented
#: market says 20).
DEFAULT_MAX_LEVERAGE = 20
#: Decimals of the quote collateral in every documented market (USDT/USDC, 6).
DEFAULT_QUOTE_DECIMALS = 6
#: Econia's highest price in ticks per lot (``HI_PRICE``, a u32).
MAX_PRICE_TICKS = 2**32 - 1
_MAX_U64 = 2**64 - 1

# Amounts beyond these magnitudes are nonsense for any market and would make exact
# arithmetic on them needlessly expensive (``Decimal("1e999999")``).
_MAX_ADJUSTED = 40
_MAX_DIGITS = 80
# What a money string may look like. ``Decimal()`` alone also takes "1_0", " 5 " and other
# scripts' digits ("١٢"): text a bot did not mean to send as an amount.
_PLAIN_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# Wide enough that conversions of in-range values never round.
_EXACT = decimal.Context(prec=200, Emax=10_000, Emin=-10_000)


class OrderUnits(NamedTuple):
    """An order's size, price and leverage after validation, in on-chain integers."""

    lots: int
    ticks: int | None
    leverage: int


# -- parsing -------------------------------------------------------------------------------


def to_decimal(value: object, param: str) -> Decimal:
    """``value`` as an exact finite ``Decimal``; ``Decimal``, ``int``, numeric ``str`` or
    ``float`` (taken at its exact binary value). ``bool`` is refused.

    :raises ValidationError: if ``value`` is not a finite number of one of those types (or is
        absurdly large or long), naming ``param``.
    """
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise ValidationError(param, "must be a number (Decimal, int or str), not a bool", value)
    elif isinstance(value, (int, float)):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value)
        except decimal.InvalidOperation:
            raise ValidationError(param, "must be a decimal number", value) from None
        if result.is_finite() and _PLAIN_DECIMAL.fullmatch(value) is None:
            raise ValidationError(
                param,
                "must be plain decimal text: ASCII digits with an optional sign, point and "
                "exponent (no spaces, underscores or other scripts' digits)",
                value,
            )
    else:
        raise ValidationError(param, "must be a Decimal, int or str", value)
    if not result.is_finite():
        raise ValidationError(param, "must be finite", value)
    if result and (
        abs(result.adjusted()) > _MAX_ADJUSTED or len(result.as_tuple().digits) > _MAX_DIGITS
    ):
        raise ValidationError(param, "is out of range (too large or too many digits)", value)
    return result


def _positive(value: object, param: str) -> Fraction:
    return _positive_parsed(to_decimal(value, param), value, param)


def _positive_parsed(number: Decimal, given: object, param: str) -> Fraction:
    if number <= 0:
        raise ValidationError(param, "must be greater than 0", given)
    return Fraction(number)


def _float_hint(value: object) -> str:
    return " (a float is taken at its exact binary value; pass a str or Decimal)" if isinstance(
        value, float
    ) else ""


def _to_exact_decimal(value: Fraction) -> Decimal:
    """The exact Decimal of a Fraction whose denominator is 2**a * 5**b; any other (only for
    a market whose grid step does not terminate in base 10) to 50 significant digits."""
    rest, twos, fives = value.denominator, 0, 0
    while rest % 2 == 0:
        rest, twos = rest // 2, twos + 1
    while rest % 5 == 0:
        rest, fives = rest // 5, fives + 1
    if rest == 1:
        scale = max(twos, fives)
        coefficient = value.numerator * (10**scale // value.denominator)
        return _tidy(Decimal(coefficient).scaleb(-scale, _EXACT))
    with decimal.localcontext(_EXACT) as ctx:
        ctx.prec = 50
        return _tidy(Decimal(value.numerator) / Decimal(value.denominator))


def _tidy(value: Decimal) -> Decimal:
    """Drop trailing zeros without switching to exponent notation (``50``, not ``5E+1``)."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1), context=_EXACT)
    return value.normalize(_EXACT)


# -- grids ---------------------------------------------------------------------------------


def _lot(info: MarketInfo) -> Fraction:
    return Fraction(info.lot_size, 10**info.base_decimals)


def _tick(info: MarketInfo) -> Fraction:
    """The human price step: ``T / 10**qd / one lot``."""
    return Fraction(info.tick_size, 10**info.quote_decimals) / _lot(info)


def size_step(info: MarketInfo) -> Decimal:
    """The smallest size step of the market (one lot), e.g. ``0.001`` APT."""
    return _to_exact_decimal(_lot(info))


def price_step(info: MarketInfo) -> Decimal:
    """The smallest price step of the market (one tick per lot), e.g. ``0.001`` USD."""
    return _to_exact_decimal(_tick(info))


# -- size ----------------------------------------------------------------------------------


def size_to_lots(info: MarketInfo, size: Money, *, param: str = "size") -> int:
    """Whole lots for a human ``size``; rejects sizes off the lot grid or outside
    ``min_lots..max_lots``.

    :raises ValidationError: if ``size`` is not a number, is off the lot grid or outside the
        market's bounds (naming ``param``; a float that is not exact gets a hint).
    """
    return lots_of(info, to_decimal(size, param), given=size, param=param)


def lots_of(info: MarketInfo, number: Decimal, *, given: object, param: str = "size") -> int:
    """:func:`size_to_lots` of a size already parsed by :func:`to_decimal` (``given`` is the
    value as the caller wrote it, which messages show)."""
    size = given
    lots = _positive_parsed(number, given, param) / _lot(info)
    if lots.denominator != 1:
        raise ValidationError(
            param,
            f"must be a multiple of the lot size {size_step(info)}{_float_hint(size)}",
            size,
        )
    count = lots.numerator
    if count < info.min_lots:
        raise ValidationError(
            param, f"minimum size is {_in_base(info, lots_to_size(info, info.min_lots))}", size
        )
    upper = info.max_lots if info.max_lots is not None else _MAX_U64
    if count > upper:
        raise ValidationError(
            param, f"maximum size is {_in_base(info, lots_to_size(info, upper))}", size
        )
    return count


def base_asset(info: MarketInfo) -> str:
    """The base asset's symbol (``APT`` of ``APT/USDC``); ``""`` when the market has no name."""
    return info.base_name.replace("-", "/").split("/")[0].strip()


def _in_base(info: MarketInfo, size: Decimal) -> str:
    unit = base_asset(info)
    return f"{size} {unit}" if unit else str(size)


def lots_to_size(info: MarketInfo, lots: int) -> Decimal:
    """The human size of ``lots`` whole lots (exact)."""
    return _to_exact_decimal(lots * _lot(info))


def snap_size(info: MarketInfo, size: Money, rounding: str = ROUND_DOWN) -> Decimal:
    """``size`` rounded to the lot grid (down by default: never more than asked for).
    Bounds are not checked; pass the result to :func:`size_to_lots` for that.

    :raises ValidationError: if ``size`` is not a finite number.
    """
    step = _lot(info)
    lots = _round(Fraction(to_decimal(size, "size")) / step, rounding)
    return _to_exact_decimal(lots * step)


# -- price ---------------------------------------------------------------------------------


def price_to_ticks(info: MarketInfo, price: Money, *, param: str = "price") -> int:
    """Ticks per lot for a human ``price``; rejects prices off the tick grid or above
    Econia's maximum (2**32-1 ticks).

    :raises ValidationError: if ``price`` is not a number > 0, is off the tick grid or too
        high (naming ``param``).
    """
    return ticks_of(info, to_decimal(price, param), given=price, param=param)


def ticks_of(info: MarketInfo, number: Decimal, *, given: object, param: str = "price") -> int:
    """:func:`price_to_ticks` of a price already parsed by :func:`to_decimal` (``given`` as
    the caller wrote it)."""
    price = given
    ticks = _positive_parsed(number, given, param) / _tick(info)
    if ticks.denominator != 1:
        raise ValidationError(
            param,
            f"must be a multiple of the tick size {price_step(info)}{_float_hint(price)}",
            price,
        )
    if ticks.numerator > MAX_PRICE_TICKS:
        raise ValidationError(
            param,
            f"must be at most {ticks_to_price(info, MAX_PRICE_TICKS)} (2**32-1 ticks)",
            price,
        )
    return ticks.numerator


def ticks_to_price(info: MarketInfo, ticks: int) -> Decimal:
    """The human price of ``ticks`` ticks per lot."""
    return _to_exact_decimal(ticks * _tick(info))


def snap_price(info: MarketInfo, price: Money, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    """``price`` rounded to the tick grid (``ROUND_DOWN``/``ROUND_UP`` to stay behind or
    ahead of a level on purpose).

    :raises ValidationError: if ``price`` is not a finite number.
    """
    step = _tick(info)
    ticks = _round(Fraction(to_decimal(price, "price")) / step, rounding)
    return _to_exact_decimal(ticks * step)


def _round(value: Fraction, rounding: str) -> int:
    with decimal.localcontext(_EXACT):
        quotient = Decimal(value.numerator) / Decimal(value.denominator)
    return int(quotient.to_integral_value(rounding=rounding))


# -- quote amounts ---------------------------------------------------------------------------


def quote_to_units(
    info: MarketInfo | None, amount: Money, *, param: str = "amount"
) -> int:
    """Quote-coin base units (``amount * 10**quote_decimals``) for a positive human amount;
    rejects more decimals than the coin has. ``info=None`` assumes 6 decimals.

    :raises ValidationError: if ``amount`` is not a number > 0, has more decimals than the
        coin, or is too large (naming ``param``).
    """
    return quote_units_of(info, to_decimal(amount, param), given=amount, param=param)


def quote_units_of(
    info: MarketInfo | None, number: Decimal, *, given: object, param: str = "amount"
) -> int:
    """:func:`quote_to_units` of an amount already parsed by :func:`to_decimal`."""
    amount = given
    decimals = info.quote_decimals if info is not None else DEFAULT_QUOTE_DECIMALS
    units = _positive_parsed(number, given, param) * Fraction(10**decimals)
    if units.denominator != 1:
        raise ValidationError(
            param,
            f"must have at most {decimals} decimal places{_float_hint(amount)}",
            amount,
        )
    if units.numerator > _MAX_U64:
        raise ValidationError(param, "is too large (over 2**64-1 quote units)", amount)
    return units.numerator


def units_to_quote(info: MarketInfo | None, units: int) -> Decimal:
    """The human amount of ``units`` quote-coin base units."""
    decimals = info.quote_decimals if info is not None else DEFAULT_QUOTE_DECIMALS
    return _to_exact_decimal(Fraction(units, 10**decimals))


# -- leverage and whole orders --------------------------------------------------------------


def check_leverage(info: MarketInfo | None, leverage: object, *, param: str = "leverage") -> int:
    """``leverage`` as an int in ``1..max_leverage`` (``1..20`` when the market is unknown).

    :raises ValidationError: if ``leverage`` is not a whole number (a ``bool`` is refused)
        within those bounds.
    """
    return leverage_of(info, to_decimal(leverage, param), given=leverage, param=param)


def leverage_of(
    info: MarketInfo | None, number: Decimal, *, given: object, param: str = "leverage"
) -> int:
    """:func:`check_leverage` of a value already parsed by :func:`to_decimal`."""
    leverage = given
    if number != number.to_integral_value():
        raise ValidationError(param, "must be a whole number", leverage)
    value = int(number)
    upper = info.max_leverage if info is not None else DEFAULT_MAX_LEVERAGE
    if not 1 <= value <= upper:
        raise ValidationError(param, f"must be between 1 and max_leverage {upper}", leverage)
    return value


def check_order(
    info: MarketInfo, size: Money, price: Money | None, leverage: object
) -> OrderUnits:
    """Validate a whole order against the market (lot grid and bounds, tick grid, leverage);
    ``price=None`` for a market order. Size, price and leverage only: the whole order (sides,
    restriction, TP/SL, wire text) is :func:`kana_async.orders.parse_order`.

    :raises ValidationError: naming the first of size, price and leverage that breaks its
        rule.
    """
    lots = size_to_lots(info, size)
    ticks = None if price is None else price_to_ticks(info, price)
    return OrderUnits(lots, ticks, check_leverage(info, leverage))

