"""Money of the simulated gateway: balances, positions, fees, funding, margin (pure, no I/O).

Every change goes through a :class:`Journal` so that a refused order undoes exactly what it did
(the order book shares the same journal). Coin amounts are exact: each fill moves ``v = A/p``
rounded half-even to ``COIN_QUANTUM`` from one side's ``open_cash`` to the other's, fees are
rounded up into a fee pool and funding moves between balances and an insurance fund, so for each
coin ``sum(balances) + sum(open_cash) + fee pool + insurance fund == sum(deposits)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal
from functools import partial
from typing import Any

from .domain import Account, Order, Position
from .instruments import COIN_QUANTUM, Instrument

__all__ = [
    "INITIAL_MARGIN",
    "MAINTENANCE_MARGIN",
    "MAKER_FEE",
    "TAKER_FEE",
    "Journal",
    "Ledger",
    "coin",
]

TAKER_FEE = Decimal("0.0005")
MAKER_FEE = Decimal(0)
INITIAL_MARGIN = Decimal("0.02")
MAINTENANCE_MARGIN = Decimal("0.01")

Undo = Callable[[], object]
_MISSING = object()


def coin(value: Decimal) -> Decimal:
    """A coin amount on the grid, rounded half-even."""
    return value.quantize(COIN_QUANTUM, rounding=ROUND_HALF_EVEN)


def fee_of(value: Decimal, rate: Decimal) -> Decimal:
    """A fee on ``value`` coin, rounded up so the pool never pays for rounding."""
    return (abs(value) * rate).quantize(COIN_QUANTUM, rounding=ROUND_CEILING)


@dataclass
class Journal:
    """The undo steps of one transaction, and what it changed (published when it commits)."""

    undo: list[Undo] = field(default_factory=list)
    orders: dict[int, Order] = field(default_factory=dict)   # touched, in first-touch order
    events: list[tuple[str, str, object, str | None]] = field(default_factory=list)

    def set(self, obj: object, attr: str, value: object) -> None:
        old = getattr(obj, attr)
        setattr(obj, attr, value)
        self.undo.append(partial(setattr, obj, attr, old))

    def put(self, mapping: dict[Any, Any], key: object, value: object) -> None:
        old = mapping.get(key, _MISSING)
        mapping[key] = value
        self.undo.append(partial(_restore, mapping, key, old))

    def drop(self, mapping: dict[Any, Any], key: object) -> None:
        old = mapping.pop(key, _MISSING)
        self.undo.append(partial(_restore, mapping, key, old))

    def rollback(self) -> None:
        for step in reversed(self.undo):
            step()
        self.undo.clear()


def _restore(mapping: dict[Any, Any], key: object, old: object) -> None:
    if old is _MISSING:
        mapping.pop(key, None)
    else:
        mapping[key] = old


class Ledger:
    """Balances, pools and positions of every account, changed only through a journal."""

    def __init__(self, currencies: Iterable[str]) -> None:
        self.currencies = tuple(currencies)
        self.deposited: dict[str, Decimal] = {c: Decimal(0) for c in self.currencies}
        self.fee_pool: dict[str, Decimal] = {c: Decimal(0) for c in self.currencies}
        self.insurance: dict[str, Decimal] = {c: Decimal(0) for c in self.currencies}
        #: Accounts that ever held a position (a superset of those holding one now), in the
        #: order they first traded: funding and liquidation look only at these.
        self.holders: dict[str, Account] = {}

    # -- plain transfers --------------------------------------------------------------------

    def deposit(self, account: Account, currency: str, amount: Decimal) -> None:
        """Money entering the system (the faucet); not journaled (accounts are never undone)."""
        account.balances[currency] = account.balances.get(currency, Decimal(0)) + amount
        self.deposited[currency] += amount

    def credit(self, j: Journal, account: Account, currency: str, delta: Decimal) -> None:
        j.put(account.balances, currency, account.balances.get(currency, Decimal(0)) + delta)

    def pool(self, j: Journal, pool: dict[str, Decimal], currency: str, delta: Decimal) -> None:
        j.put(pool, currency, pool[currency] + delta)

    # -- positions --------------------------------------------------------------------------

    def position(self, j: Journal, account: Account, instrument: Instrument) -> Position:
        pos = account.positions.get(instrument.instrument_name)
        if pos is None:
            pos = Position(instrument)
            j.put(account.positions, instrument.instrument_name, pos)
            self.holders.setdefault(account.client_id, account)  # a superset: never undone
        return pos

    def trade(self, j: Journal, account: Account, instrument: Instrument, lots: int,
              cash: Decimal, price: Decimal) -> Decimal:
        """Book ``lots`` (signed, buy > 0) bought at ``price`` for ``cash`` coin (its value
        rounded to the grid) into open cash (buyer +).

        Returns the realized P&L moved into the balance (the closed share of open cash).
        """
        pos = self.position(j, account, instrument)
        old, new, open_cash = pos.size, pos.size + lots, pos.open_cash
        exact = instrument.amount(abs(lots)) / price
        if old == 0 or (old > 0) == (lots > 0):
            retained, realized = open_cash + cash, Decimal(0)
            entry = pos.entry_value + exact
        elif abs(lots) <= abs(old):
            retained = coin(open_cash * abs(new) / abs(old))
            realized = open_cash + cash - retained
            entry = pos.entry_value * abs(new) / abs(old)
        else:
            retained = coin(cash * abs(new) / abs(lots))
            realized = open_cash + cash - retained
            entry = exact * abs(new) / abs(lots)
        j.set(pos, "size", new)
        j.set(pos, "open_cash", retained)
        j.set(pos, "entry_value", entry if new else Decimal(0))
        if new == 0 or entry == 0:
            j.set(pos, "average_ticks", Decimal(0))
        else:
            j.set(pos, "average_ticks", abs(instrument.amount(new)) / entry
                  / instrument.tick_size)
        if realized:
            j.set(pos, "realized", pos.realized + realized)
            self.credit(j, account, instrument.base_currency, realized)
        return realized

    def charge_fee(self, j: Journal, account: Account, currency: str, fee: Decimal) -> None:
        if not fee:
            return
        self.credit(j, account, currency, -fee)
        j.put(account.fees_paid, currency, account.fees_paid.get(currency, Decimal(0)) + fee)
        self.pool(j, self.fee_pool, currency, fee)

    def fund(self, j: Journal, account: Account, pos: Position, payment: Decimal) -> None:
        """``payment`` coin from the position's holder to the insurance fund (negative: back)."""
        currency = pos.instrument.base_currency
        self.credit(j, account, currency, -payment)
        self.pool(j, self.insurance, currency, payment)
        j.set(pos, "funding", pos.funding - payment)

    # -- figures ----------------------------------------------------------------------------

    @staticmethod
    def unrealized(pos: Position, mark: Decimal) -> Decimal:
        if not pos.size:
            return pos.open_cash
        return coin(pos.open_cash - pos.instrument.amount(pos.size) / mark)

    @staticmethod
    def margin(pos_usd: Decimal, mark: Decimal, rate: Decimal) -> Decimal:
        return coin(abs(pos_usd) / mark * rate)

    def audit(self, accounts: Iterable[Account]) -> None:
        """AssertionError unless every coin is accounted for exactly."""
        totals = {c: self.fee_pool[c] + self.insurance[c] for c in self.currencies}
        sizes: dict[str, int] = {}
        for account in accounts:
            for currency, balance in account.balances.items():
                totals[currency] += balance
            for name, pos in account.positions.items():
                totals[pos.instrument.base_currency] += pos.open_cash
                sizes[name] = sizes.get(name, 0) + pos.size
        for currency in self.currencies:
            assert totals[currency] == self.deposited[currency], (
                f"{currency}: {totals[currency]} held but {self.deposited[currency]} deposited")
        for name, size in sizes.items():
            assert size == 0, f"{name}: positions sum to {size} contracts"
