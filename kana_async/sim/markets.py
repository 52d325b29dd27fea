"""Market parameters of the simulated exchange and exact human <-> on-chain unit conversion.

Econia semantics: an order's size is a whole number of *lots* and its price a whole
number of *ticks per lot*; one lot is ``lot_size / 10**base_decimals`` base units and one price
tick is ``tick_size / 10**quote_decimals`` quote per lot. Quote amounts (deposits, margin) travel
as 6-decimal integer sub-units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import IntEnum

__all__ = [
    "DEFAULT_MARKETS",
    "MAX_PRICE_TICKS",
    "QUOTE_DECIMALS",
    "MarketSpec",
    "OrderType",
    "Restriction",
    "quote_amount",
    "quote_units",
]

#: Every Kana market settles in a 6-decimal quote coin.
QUOTE_DECIMALS = 6
#: Econia stores prices in 32 bits.
MAX_PRICE_TICKS = 2**32 - 1


class Restriction(IntEnum):
    """Econia limit-order restrictions."""

    NO_RESTRICTION = 0
    FILL_OR_ABORT = 1
    IMMEDIATE_OR_CANCEL = 2
    POST_OR_ABORT = 3


class OrderType(IntEnum):
    """The simulator's numbering of the wire field ``order_type``.

    The documents never define it. This mapping agrees with every documented
    example: resting opening limit orders are 1 (long), a cancelled long-side order 3 and a
    short-side 4, market orders that close a position 7 and triggered closes 9. It never changes.
    """

    LIMIT_OPEN_LONG = 1
    LIMIT_OPEN_SHORT = 2
    LIMIT_CLOSE_LONG = 3
    LIMIT_CLOSE_SHORT = 4
    MARKET_OPEN_LONG = 5
    MARKET_OPEN_SHORT = 6
    MARKET_CLOSE_LONG = 7
    MARKET_CLOSE_SHORT = 8
    TRIGGER_CLOSE_LONG = 9
    TRIGGER_CLOSE_SHORT = 10
    LIQUIDATION_LONG = 11
    LIQUIDATION_SHORT = 12

    @classmethod
    def of(cls, *, is_market: bool, trade_side: bool, direction: bool) -> OrderType:
        """The type of a user order: limit/market x open/close x long/short."""
        base = 5 if is_market else 1
        return cls(base + (2 if direction else 0) + (0 if trade_side else 1))

    @classmethod
    def trigger(cls, trade_side: bool) -> OrderType:
        return cls.TRIGGER_CLOSE_LONG if trade_side else cls.TRIGGER_CLOSE_SHORT

    @classmethod
    def liquidation(cls, trade_side: bool) -> OrderType:
        return cls.LIQUIDATION_LONG if trade_side else cls.LIQUIDATION_SHORT


def quote_units(amount: Decimal) -> int:
    """Human quote amount -> 6-decimal sub-units; raises ``ValueError`` below one sub-unit."""
    units = amount.scaleb(QUOTE_DECIMALS)
    if units != units.to_integral_value():
        raise ValueError(f"{amount} has more than {QUOTE_DECIMALS} decimals")
    return int(units)


def quote_amount(units: int) -> Decimal:
    """6-decimal sub-units -> human quote amount."""
    return Decimal(units).scaleb(-QUOTE_DECIMALS)


@dataclass(frozen=True)
class MarketSpec:
    """One market's parameters (the fields of ``getMarketInfo``)."""

    market_id: int
    base_name: str
    base_decimals: int
    quote_decimals: int
    lot_size: int
    tick_size: int
    min_lots: int
    max_lots: int
    quote_precision: int
    max_leverage: int
    maintenance_margin_bps: int
    #: Where the simulator's market maker starts quoting (human price).
    initial_price: Decimal = Decimal(1)
    lot: Decimal = field(init=False, repr=False)
    tick: Decimal = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Normalised, so that sizes and prices print with no more digits than the grid has.
        lot = Decimal(self.lot_size).scaleb(-self.base_decimals).normalize()
        tick = (Decimal(self.tick_size).scaleb(-self.quote_decimals) / lot).normalize()
        object.__setattr__(self, "lot", lot)
        object.__setattr__(self, "tick", tick)

    def lots(self, size: Decimal) -> int:
        """Human size -> lots; ``ValueError`` if ``size`` is not a whole number of lots."""
        lots = size / self.lot
        if lots != lots.to_integral_value():
            raise ValueError(f"size {size} is not a multiple of the lot {self.lot.normalize()}")
        return int(lots)

    def ticks(self, price: Decimal) -> int:
        """Human price -> ticks per lot; ``ValueError`` if off the price grid."""
        ticks = price / self.tick
        if ticks != ticks.to_integral_value():
            raise ValueError(f"price {price} is not a multiple of the tick {self.tick.normalize()}")
        return int(ticks)

    def size_of(self, lots: int) -> Decimal:
        """Lots -> human size."""
        return lots * self.lot

    def price_of(self, ticks: int) -> Decimal:
        """Ticks per lot -> human price."""
        return ticks * self.tick

    def quote_units(self, amount: Decimal) -> int:
        """Human quote amount -> 6-decimal sub-units."""
        return quote_units(amount)

    def notional(self, lots: int, ticks: int) -> int:
        """The quote sub-units ``lots`` lots at ``ticks`` ticks per lot are worth (exact:
        Econia's ``lots x price x tick_size``)."""
        return lots * ticks * self.tick_size

    @property
    def maintenance_rate(self) -> Decimal:
        """The maintenance margin as a fraction (``maintenance_margin_bps`` / 10,000)."""
        return Decimal(self.maintenance_margin_bps) / 10_000


def _market(
    market_id: int, name: str, lot_size: int, tick_size: int, min_lots: int,
    quote_precision: int, initial_price: str,
) -> MarketSpec:
    return MarketSpec(
        market_id=market_id, base_name=name, base_decimals=8, quote_decimals=QUOTE_DECIMALS,
        lot_size=lot_size, tick_size=tick_size, min_lots=min_lots, max_lots=150_000_000,
        quote_precision=quote_precision, max_leverage=20, maintenance_margin_bps=250,
        initial_price=Decimal(initial_price),
    )


#: Testnet market ids. APT carries the documented testnet parameters (lot 0.001 APT, price step
#: 0.001 USD, min 0.5 APT); BTC, ETH and SOL parameters and every starting price are the
#: simulator's own choice (BTC lot 0.00001 / step 1 USD, ETH lot 0.001 / step 0.01 USD,
#: SOL lot 0.01 / step 0.001 USD), since the documents only show APT's.
DEFAULT_MARKETS: tuple[MarketSpec, ...] = (
    _market(1338, "APT/USDC", 100_000, 1, 500, 3, "5.700"),
    _market(1339, "BTC/USDC", 1_000, 10, 10, 0, "95000"),
    _market(1340, "ETH/USDC", 100_000, 10, 10, 2, "3500.00"),
    _market(2387, "SOL/USDC", 1_000_000, 10, 10, 3, "150.000"),
)
