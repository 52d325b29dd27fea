"""The simulated REST API's request parameters: typed access to a query string or JSON body,
and human units checked against the market grid and turned into the on-chain integers.

Every error is a :class:`RestParamError` naming the parameter and the rule it broke; the
server (:mod:`.kana_rest`) answers it with HTTP 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from ..models.common import normalize_address
from .markets import MAX_PRICE_TICKS, MarketSpec, Restriction, quote_units

if TYPE_CHECKING:
    from .engine import Engine

__all__ = ["Params", "RestParamError"]

MAX_U64 = 2**64 - 1
MAX_U128 = 2**128 - 1


class RestParamError(Exception):
    """A request parameter broke a rule; answered with HTTP 400 naming it."""

    def __init__(self, param: str, rule: str) -> None:
        self.param = param
        self.rule = rule
        super().__init__(f"{param}: {rule}")


# -- parameter parsing -------------------------------------------------------------------------


class Params:
    """Typed access to a query string or JSON body; every error names the parameter."""

    def __init__(self, source: Mapping[str, Any]) -> None:
        self._source = source

    def raw(self, name: str, *aliases: str, required: bool = True) -> Any:
        for key in (name, *aliases):
            value = self._source.get(key)
            if value is not None and value != "":
                return value
        if required:
            raise RestParamError(name, "is required")
        return None

    def text(self, name: str, *aliases: str, required: bool = True) -> str | None:
        value = self.raw(name, *aliases, required=required)
        return None if value is None else str(value)

    def market(self, engine: Engine, name: str = "marketId") -> MarketSpec:
        market_id = integer(self.raw(name), name, 0, MAX_U64)
        spec = engine.markets.get(market_id)
        if spec is None:
            raise RestParamError(name, f"unknown market {market_id}")
        return spec

    def optional_market(self, engine: Engine, name: str = "marketId") -> MarketSpec | None:
        return None if self.raw(name, required=False) is None else self.market(engine, name)

    def address(self, name: str = "userAddress", *aliases: str) -> str:
        value = self.raw(name, *aliases)
        return address(value, name)

    def optional_address(self, name: str = "userAddress", *aliases: str) -> str | None:
        value = self.raw(name, *aliases, required=False)
        return None if value is None else address(value, name)

    def boolean(self, name: str, *aliases: str) -> bool:
        return boolean(self.raw(name, *aliases), name)

    def integer(self, name: str, low: int, high: int, *, default: int) -> int:
        """An optional whole number within ``low..high``."""
        value = self.raw(name, required=False)
        return default if value is None else integer(value, name, low, high)

    def vector(self, name: str, *aliases: str, required: bool = True) -> list[Any] | None:
        """A JSON array, a comma-joined string, or a single value; None if absent."""
        value = self.raw(name, *aliases, required=required)
        if value is None:
            return None
        if isinstance(value, list):
            return value
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return [value]


def address(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise RestParamError(name, "must be a 0x-prefixed hex address")
    try:
        return normalize_address(value, param=name)
    except ValidationError as exc:
        raise RestParamError(name, exc.rule) from None


def boolean(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise RestParamError(name, f'must be true or false, got {value!r}')


def decimal(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        raise RestParamError(name, f"must be a number, got {value!r}")
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise RestParamError(name, f"must be a number, got {value!r}") from None
    if not number.is_finite():
        raise RestParamError(name, f"must be a finite number, got {value!r}")
    return number


def integer(value: Any, name: str, low: int, high: int) -> int:
    number = decimal(value, name)
    if number != number.to_integral_value():
        raise RestParamError(name, f"must be a whole number, got {value!r}")
    if not low <= number <= high:
        raise RestParamError(name, f"must be between {low} and {high}, got {value!r}")
    return int(number)


def timestamp(value: Any, name: str) -> float:
    """Unix seconds, or an ISO-8601 time (``2024-11-21T00:00:00Z``; naive means UTC)."""
    if isinstance(value, str) and not value.strip().lstrip("-").replace(".", "", 1).isdigit():
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise RestParamError(name, "must be Unix seconds or an ISO-8601 time") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    return float(decimal(value, name))


# -- human units -> on-chain integers ------------------------------------------------------------


def lots(spec: MarketSpec, value: Any, name: str) -> int:
    size = decimal(value, name)
    if size <= 0:
        raise RestParamError(name, "must be positive")
    try:
        lots = spec.lots(size)
    except ValueError:
        raise RestParamError(name, f"must be a multiple of the lot size {spec.lot}") from None
    if lots < spec.min_lots:
        minimum = spec.size_of(spec.min_lots)
        raise RestParamError(name, f"must be at least {minimum} ({spec.min_lots} lots)")
    if lots > spec.max_lots:
        maximum = spec.size_of(spec.max_lots)
        raise RestParamError(name, f"must be at most {maximum} ({spec.max_lots} lots)")
    return lots


def ticks(spec: MarketSpec, value: Any, name: str, *, allow_zero: bool = False) -> int:
    price = decimal(value, name)
    if price < 0 or (price == 0 and not allow_zero):
        raise RestParamError(name, "must be positive" if not allow_zero else "must not be negative")
    try:
        ticks = spec.ticks(price)
    except ValueError:
        raise RestParamError(name, f"must be a multiple of the tick size {spec.tick}") from None
    if ticks > MAX_PRICE_TICKS:
        raise RestParamError(name, f"must be at most {spec.price_of(MAX_PRICE_TICKS)}")
    return ticks


def leverage(spec: MarketSpec, value: Any, name: str) -> int:
    leverage = decimal(value, name)
    if leverage != leverage.to_integral_value() or not 1 <= leverage <= spec.max_leverage:
        raise RestParamError(name, f"must be a whole number from 1 to {spec.max_leverage}")
    return int(leverage)


def restriction(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise RestParamError(name, "must be 0, 1, 2 or 3")
    try:
        return int(Restriction(integer(value, name, 0, 255)))
    except ValueError:
        raise RestParamError(
            name, "must be 0 (none), 1 (fill or abort), 2 (immediate or cancel) or 3 (post or "
            "abort)"
        ) from None


def amount(value: Any, name: str) -> int:
    amount = decimal(value, name)
    if amount <= 0:
        raise RestParamError(name, "must be positive")
    try:
        units = quote_units(amount)
    except ValueError:
        raise RestParamError(name, "must have at most 6 decimals") from None
    if units > MAX_U64:
        raise RestParamError(name, "is too large")
    return units


def order_id(value: Any, name: str) -> int:
    return integer(value, name, 0, MAX_U128)


# -- batch bodies ---------------------------------------------------------------------------------


def cancels(q: Params, *, required: bool) -> tuple[list[int], list[bool]]:
    ids = q.vector("orderIds", "cancelOrderIds", required=False) or []
    sides = q.vector("cancelTradeSides", "orderSides", required=False) or []
    if required and not ids:
        raise RestParamError("orderIds", "must name at least one order")
    if len(ids) != len(sides):
        raise RestParamError(
            "cancelTradeSides", f"must have one entry per order id ({len(ids)}), got {len(sides)}"
        )
    return (
        [order_id(v, f"orderIds[{i}]") for i, v in enumerate(ids)],
        [boolean(v, f"cancelTradeSides[{i}]") for i, v in enumerate(sides)],
    )


def orders(
    spec: MarketSpec, q: Params, *, required: bool
) -> list[list[Any]]:
    """The nine parallel vectors of a batch placement (order types ... stop losses),
    validated and converted. A scalar (``restriction``, ``leverage``) applies to every order."""
    types_raw = q.vector("orderTypes", required=required) or []
    count = len(types_raw)
    if required and count == 0:
        raise RestParamError("orderTypes", "must contain at least one order")

    def column(name: str, *aliases: str, default: Any = None) -> list[Any]:
        values = q.vector(name, *aliases, required=default is None and count > 0)
        if values is None:
            return [default] * count
        if len(values) == 1 and count > 1 and not isinstance(q.raw(name, *aliases), list):
            values = values * count  # a scalar applies to every order
        if len(values) != count:
            raise RestParamError(name, f"must have {count} entries (one per order), got "
                                       f"{len(values)}")
        return values

    sides = column("tradeSides", "orderTradeSides")
    directions = column("directions")
    sizes = column("sizes")
    prices = column("prices", default=0)
    leverages = column("leverages", "leverage")
    restrictions = column("restrictions", "restriction", default=0)
    take_profits = column("takeProfits", default=0)
    stop_losses = column("stopLosses", default=0)
    out: list[list[Any]] = [[] for _ in range(9)]
    for i in range(count):
        is_limit = boolean(types_raw[i], f"orderTypes[{i}]")
        row = [
            is_limit,
            boolean(sides[i], f"tradeSides[{i}]"),
            boolean(directions[i], f"directions[{i}]"),
            lots(spec, sizes[i], f"sizes[{i}]"),
            ticks(spec, prices[i], f"prices[{i}]") if is_limit else 0,
            leverage(spec, leverages[i], f"leverages[{i}]"),
            restriction(restrictions[i], f"restrictions[{i}]") if is_limit else 0,
            ticks(spec, take_profits[i], f"takeProfits[{i}]", allow_zero=True),
            ticks(spec, stop_losses[i], f"stopLosses[{i}]", allow_zero=True),
        ]
        for column_out, value in zip(out, row, strict=True):
            column_out.append(value)
    return out
