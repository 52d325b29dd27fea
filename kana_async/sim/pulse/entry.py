"""Order-entry checks of the Pulse engine: parameters in, validated terms out (pure).

Every refusal is a :class:`~.errors.PulseError` naming the parameter and the rule; nothing here
looks at accounts or books (the engine adds the rules that need them: reduce_only, MMP freeze,
open-order cap, self-trade, margin).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .errors import Code, PulseError
from .instruments import Instrument

__all__ = ["MAX_NUMBER", "ORDER_TYPES", "TIME_IN_FORCE", "Terms", "flag", "millis", "number",
           "order_terms"]

ORDER_TYPES = ("limit", "market", "stop_limit", "stop_market", "take_limit", "take_market")
TIME_IN_FORCE = ("good_til_cancelled", "good_til_day", "fill_or_kill", "immediate_or_cancel")
TRIGGERS = ("index_price", "last_price")
MAX_LABEL = 64


#: Largest number accepted anywhere (USD amounts and prices, MMP settings): keeps every coin
#: figure well inside the 28 significant digits of the decimal context.
MAX_NUMBER = Decimal(10) ** 12


def number(value: object, param: str, code: Code = Code.INVALID_ARGUMENTS) -> Decimal:
    """A finite number given as Decimal or int (the gateway decodes JSON numbers so), at
    most ``MAX_NUMBER`` in size."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int) or (
            isinstance(value, Decimal) and not value.is_finite()):
        raise PulseError(code, f"{param} must be a finite number", param=param)
    result = Decimal(value)
    if abs(result) > MAX_NUMBER:
        raise PulseError(code, f"{param} must be at most 10^12", param=param)
    return result


def flag(value: object, param: str) -> bool:
    if not isinstance(value, bool):
        raise PulseError(Code.INVALID_ARGUMENTS, f"{param} must be true or false", param=param)
    return value


def millis(value: object, param: str) -> int | None:
    """An optional integer (a timestamp in ms, a sequence number)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise PulseError(Code.INVALID_ARGUMENTS, f"{param} must be an integer", param=param)
    return value


@dataclass(frozen=True, slots=True)
class Terms:
    """A new order's validated terms in the instrument's units."""

    contracts: int
    ticks: int                    # 0 for market types
    trigger: str | None
    trigger_ticks: int | None
    max_show: int | None
    post_only: bool
    reduce_only: bool
    mmp: bool

    @property
    def is_trigger(self) -> bool:
        return self.trigger is not None


def order_terms(inst: Instrument, direction: object, amount: object, *, type: object,
                price: object, time_in_force: object, label: object, post_only: object,
                reduce_only: object, mmp: object, max_show: object, trigger: object,
                trigger_price: object) -> Terms:
    if direction not in ("buy", "sell"):
        raise PulseError(Code.INVALID_ARGUMENTS, "direction must be buy or sell",
                         param="direction")
    if type in ("all", "trigger_all"):
        raise PulseError(Code.INVALID_ARGUMENTS, f"type {type} is a filter, not an order type",
                         param="type")
    if not isinstance(type, str) or type not in ORDER_TYPES:
        raise PulseError(Code.INVALID_ARGUMENTS, f"type must be one of {', '.join(ORDER_TYPES)}",
                         param="type")
    if not isinstance(time_in_force, str) or time_in_force not in TIME_IN_FORCE:
        raise PulseError(Code.INVALID_ARGUMENTS,
                         f"time_in_force must be one of {', '.join(TIME_IN_FORCE)}",
                         param="time_in_force")
    if not isinstance(label, str) or len(label) > MAX_LABEL:
        raise PulseError(Code.INVALID_ARGUMENTS,
                         f"label must be a string of at most {MAX_LABEL} characters",
                         param="label")
    post_only = flag(post_only, "post_only")
    contracts = inst.contracts(number(amount, "amount", Code.INVALID_AMOUNT))
    is_market = type.endswith("market")
    ticks = 0
    if not is_market:  # a market order's price is ignored, as Deribit does
        if price is None:
            raise PulseError(Code.INVALID_PRICE, f"price is required for {type} orders",
                             param="price")
        ticks = inst.ticks(number(price, "price", Code.INVALID_PRICE))
    if post_only and (is_market or time_in_force != "good_til_cancelled"):
        raise PulseError(Code.INVALID_ARGUMENTS,
                         "post_only needs a limit order with time_in_force good_til_cancelled",
                         param="post_only")
    trigger_ticks: int | None = None
    if type.startswith(("stop_", "take_")):
        if trigger_price is None:
            raise PulseError(Code.INVALID_ARGUMENTS, f"trigger_price is required for {type} "
                             "orders", param="trigger_price")
        trigger_ticks = inst.ticks(number(trigger_price, "trigger_price", Code.INVALID_PRICE),
                                   "trigger_price")
        trigger = "index_price" if trigger is None else trigger
        if trigger not in TRIGGERS:
            raise PulseError(Code.INVALID_ARGUMENTS, "trigger must be index_price or last_price",
                             param="trigger")
    elif trigger is not None or trigger_price is not None:
        raise PulseError(Code.INVALID_ARGUMENTS,
                         "trigger and trigger_price apply to stop and take orders only",
                         param="trigger")
    chosen = str(trigger) if trigger_ticks is not None else None
    return Terms(contracts, ticks, chosen, trigger_ticks, show_of(inst, max_show, contracts),
                 post_only, flag(reduce_only, "reduce_only"), flag(mmp, "mmp"))


def show_of(inst: Instrument, max_show: object, contracts: int) -> int | None:
    """``max_show`` in contracts: a multiple of the contract size, at most the amount."""
    if max_show is None:
        return None
    value = number(max_show, "max_show", Code.INVALID_MAX_SHOW)
    count, rest = divmod(value, inst.contract_size)
    if value < 0 or rest or count > contracts:
        raise PulseError(Code.INVALID_MAX_SHOW, "max_show must be a multiple of the contract "
                         f"size {inst.contract_size} USD, from 0 to the amount", param="max_show")
    return int(count)
