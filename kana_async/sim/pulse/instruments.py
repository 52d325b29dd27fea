"""The simulated gateway's instruments: inverse perpetuals quoted in USD, settled in their coin.

Deribit-style: an order's ``amount`` is USD notional in whole contracts (``contract_size`` USD
each), prices are USD per coin on a ``tick_size`` grid, and profit, margin and fees are paid in
the settlement coin (``BTC``/``ETH``), each rounded to ``COIN_QUANTUM``. The engine works in
integers (contracts, ticks) and converts here, at the edge, so nothing drifts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

from .errors import Code, PulseError

__all__ = ["COIN_QUANTUM", "DEFAULT_INSTRUMENTS", "Instrument", "by_name", "index_name_of"]

#: Smallest coin amount the engine books (1 satoshi; also used for ETH).
COIN_QUANTUM = Decimal("0.00000001")
#: Largest amount or price the engine accepts (far beyond any real order, far below the point
#: where decimal division stops being exact).
MAX_VALUE = Decimal(10) ** 15


@dataclass(frozen=True, slots=True)
class Instrument:
    """One perpetual. ``amount`` = contracts * ``contract_size``; price = ticks * ``tick_size``."""

    instrument_name: str
    base_currency: str          # the coin (BTC/ETH), also the settlement currency
    quote_currency: str         # USD
    contract_size: Decimal      # USD per contract
    tick_size: Decimal          # USD per tick
    index_name: str             # lower case, e.g. "btc_usd"
    start_price: Decimal        # the index's first value
    creation_ms: int = 1_672_531_200_000  # 2023-01-01, when the simulated instruments were listed

    @property
    def kind(self) -> str:
        """``future``: Deribit lists perpetuals as futures."""
        return "future"  # Deribit lists perpetuals as futures

    @property
    def settlement_currency(self) -> str:
        """The coin margin, profit and funding are paid in (the base currency)."""
        return self.base_currency

    # -- conversions at the edge (raise PulseError naming the rule) -------------------------------

    def contracts(self, amount: Decimal, param: str = "amount") -> int:
        """USD ``amount`` as whole contracts; it must be a positive multiple of the size."""
        return _steps(amount, self.contract_size, param, Code.INVALID_AMOUNT, Code.INVALID_AMOUNT,
                      f"the contract size {self.contract_size} USD")

    def ticks(self, price: Decimal, param: str = "price") -> int:
        """USD ``price`` as ticks; it must be positive and on the grid."""
        return _steps(price, self.tick_size, param, Code.INVALID_PRICE, Code.PRICE_WRONG_TICK,
                      f"the tick size {self.tick_size}")

    def amount(self, contracts: int) -> Decimal:
        """Whole contracts -> USD amount."""
        return contracts * self.contract_size

    def price(self, ticks: int) -> Decimal:
        """Whole ticks -> USD price."""
        return ticks * self.tick_size

    def snap(self, price: Decimal) -> int:
        """The nearest tick to any positive ``price`` (for marks, indexes, the market maker)."""
        return max(1, int((price / self.tick_size).to_integral_value()))


def _steps(value: Decimal, step: Decimal, param: str, range_code: Code, grid_code: Code,
           grid: str) -> int:
    """``value`` as a whole number of ``step``s, refused by rule if it is not one."""
    if not value.is_finite() or value <= 0:
        raise PulseError(range_code, f"{param} must be > 0", param=param)
    if value > MAX_VALUE:
        raise PulseError(range_code, f"{param} must be <= {MAX_VALUE:E}", param=param)
    count, rest = divmod(value, step)
    if rest:
        raise PulseError(grid_code, f"{param} must be a multiple of {grid} (got {value})",
                         param=param)
    return int(count)


DEFAULT_INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument("BTC_USD-PERPETUAL", "BTC", "USD", Decimal(10), Decimal("0.5"), "btc_usd",
               Decimal(60000)),
    Instrument("ETH_USD-PERPETUAL", "ETH", "USD", Decimal(1), Decimal("0.05"), "eth_usd",
               Decimal(3000)),
)


def by_name(instruments: Iterable[Instrument]) -> Mapping[str, Instrument]:
    return MappingProxyType({i.instrument_name: i for i in instruments})


def index_name_of(name: str) -> str:
    """Index names compare case-insensitively (the document writes ``Btc_usd``)."""
    return name.lower()
