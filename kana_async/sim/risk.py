"""The simulator's risk arithmetic, pure and in whole quote sub-units: fees, initial margin, the
collateral a resting order holds, a position's equity and liquidation price, who is liquidated
and how what is left is shared, and what a funding payment moves.

Rounding is a contract's: margin and fees up (against the trader), shares of a position toward
zero, funding down from the holder's view, so that every sub-unit has a place and
:meth:`~kana_async.sim.engine.Engine.audit` balances exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .markets import MarketSpec
    from .state import Account, Position

__all__ = [
    "LIQUIDATION_INSURANCE_PCT",
    "LIQUIDATION_REFUND_PCT",
    "MAKER_FEE",
    "TAKER_FEE",
    "ceil_div",
    "entry_price",
    "equity",
    "fee",
    "fill_margin",
    "funding_amount",
    "half_even_div",
    "liquidatable",
    "liquidation_price",
    "liquidation_shares",
    "margin",
    "reserve",
    "share",
]

TAKER_FEE = Decimal("0.0005")
MAKER_FEE = Decimal(0)
#: Shares of a liquidated position's remaining equity, in percent: back to its owner
#: and to the insurance fund; the liquidator takes the rest (30 %, and the rounding).
LIQUIDATION_REFUND_PCT = 50
LIQUIDATION_INSURANCE_PCT = 20


def ceil_div(a: int, b: int) -> int:
    """``a / b`` rounded up (``b > 0``)."""
    return -(-a // b)


def half_even_div(a: int, b: int) -> int:
    """``a / b`` to the nearest integer, ties to even (``b > 0``)."""
    q, r = divmod(a, b)
    if 2 * r > b or (2 * r == b and q % 2):
        q += 1
    return q


def fee(notional: int, rate: Decimal) -> int:
    """A trading fee: ``notional x rate`` rounded up (the trader pays the part sub-unit)."""
    num, den = rate.as_integer_ratio()
    return ceil_div(notional * num, den)


def margin(notional: int, leverage: int) -> int:
    """Initial margin: ``notional / leverage`` rounded up (against the trader)."""
    return ceil_div(notional, leverage)


def share(amount: int, part: int, whole: int) -> int:
    """The part of a position's ``amount`` that goes with ``part`` of its ``whole`` lots,
    rounded toward zero; all of it when the whole goes (so the shares add up exactly)."""
    return amount if part == whole else amount * part // whole


def reserve(spec: MarketSpec, price: int, lots: int, leverage: int) -> int:
    """Collateral an opening limit order holds back for ``lots`` unfilled lots: their margin
    plus their worst-case (taker) fee at its limit price, each rounded up. An order's
    ``reserved`` is always this for its ``remaining`` lots."""
    notional = spec.notional(lots, price)
    return margin(notional, leverage) + fee(notional, TAKER_FEE)


def fill_margin(spec: MarketSpec, remaining: int, lots: int, price: int, leverage: int) -> int:
    """The margin a resting order's fill of ``lots`` takes (``remaining`` lots left after it):
    the difference of the rounded-up margin before and after, so that an order's fills add up
    to what it held and never take more than they release."""
    return (margin(spec.notional(remaining + lots, price), leverage)
            - margin(spec.notional(remaining, price), leverage))


def equity(spec: MarketSpec, position: Position, mark: int) -> int:
    """Margin plus unrealised pnl at ``mark`` ticks, in quote sub-units."""
    now = spec.notional(position.lots, mark)
    gain = now - position.entry_value if position.trade_side else position.entry_value - now
    return position.margin + gain


def liquidation_price(spec: MarketSpec, position: Position) -> int:
    """Ticks at which equity meets the maintenance margin, to the nearest tick (ties to even):
    ``(entry x size -/+ margin) / (size x (1 -/+ maintenance rate))`` for a long/short. A
    display figure: money moves by the exact entry value and margin."""
    per_tick = position.lots * spec.tick_size  # quote sub-units per tick of price
    bps = spec.maintenance_margin_bps
    if position.trade_side:
        return half_even_div(10_000 * max(position.entry_value - position.margin, 0),
                             per_tick * (10_000 - bps))
    return half_even_div(10_000 * (position.entry_value + position.margin),
                         per_tick * (10_000 + bps))


def entry_price(spec: MarketSpec, position: Position) -> int:
    """The average entry price in ticks, to the nearest tick (ties to even)."""
    return half_even_div(position.entry_value, position.lots * spec.tick_size)


def liquidatable(
    spec: MarketSpec, positions: Mapping[tuple[str, bool], Position],
    accounts: Mapping[str, Account], mark: int,
) -> list[Position]:
    """The positions whose equity at ``mark`` has fallen to the maintenance margin (the
    simulator's own accounts are never liquidated)."""
    bps = spec.maintenance_margin_bps
    return [
        p for (profile, _), p in positions.items()
        if not accounts[profile].internal
        and equity(spec, p, mark) * 10_000 <= spec.notional(p.lots, mark) * bps
    ]


def liquidation_shares(position_equity: int) -> tuple[int, int, int]:
    """``(refund, insurance, liquidator)`` of a liquidated position's equity: half back to the
    owner, 20 % to the insurance fund, the rest to the liquidator. A negative equity is the
    insurance fund's loss."""
    refund = max(position_equity, 0) * LIQUIDATION_REFUND_PCT // 100
    insurance = (position_equity * LIQUIDATION_INSURANCE_PCT // 100 if position_equity > 0
                 else position_equity)
    return refund, insurance, position_equity - refund - insurance


def funding_amount(notional: int, trade_side: bool, rate: Decimal) -> int:
    """What a position of ``notional`` receives (negative: pays) at ``rate``: longs pay a
    positive rate. Rounded down from the holder's view: a payer pays the part sub-unit, a
    receiver does not get it; the insurance fund keeps it."""
    num, den = rate.as_integer_ratio()
    return (-notional if trade_side else notional) * num // den

