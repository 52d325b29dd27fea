"""The simulated exchange's state as domain values: accounts, markets, positions, orders, and the
records of what happened (fills, order states, transfers, funding payments).

Amounts are integers (quote sub-units, lots, ticks), never wire text: :mod:`.records` turns the
frozen records into JSON-ready dicts where a server or a view needs them. The mutable values
(:class:`Order`, :class:`Position`, :class:`Account`, :class:`Market`) are changed only inside a
ledger transaction (:mod:`.ledger`), which can restore them on abort.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field, fields
from decimal import Decimal
from enum import IntEnum
from functools import partial
from operator import attrgetter
from typing import Any

from .book import OrderBook, Undo
from .markets import MarketSpec, OrderType
from .risk import half_even_div

__all__ = [
    "AbortCode",
    "Account",
    "EngineAbort",
    "Fill",
    "FundingPayment",
    "FundingState",
    "History",
    "Market",
    "Order",
    "OrderSnapshot",
    "Position",
    "Transfer",
]

LIQUIDATION_TYPES = frozenset({OrderType.LIQUIDATION_LONG, OrderType.LIQUIDATION_SHORT})


class AbortCode(IntEnum):
    """Abort codes. Econia's (module ``market``) are the real ones; Kana's own are
    undocumented, so the ``perpetual_core`` codes (100+) are the simulator's choice."""

    E_MIN_BASE_NOT_TRADED = 9
    E_PRICE_0 = 11
    E_PRICE_TOO_HIGH = 12
    E_POST_OR_ABORT_CROSSES_SPREAD = 13
    E_SIZE_TOO_SMALL = 14
    E_SIZE_BASE_OVERFLOW = 15
    E_INVALID_RESTRICTION = 18
    E_SELF_MATCH = 19
    E_FILL_OR_ABORT_NOT_CROSS_SPREAD = 25
    INSUFFICIENT_BALANCE = 101
    INVALID_LEVERAGE = 102
    NO_POSITION = 103
    CLOSE_SIZE_EXCEEDS_POSITION = 104
    ORDER_NOT_FOUND = 105
    VECTOR_LENGTH_MISMATCH = 106
    UNKNOWN_MARKET = 107
    INVALID_AMOUNT = 108
    SIDE_MISMATCH = 109
    INVALID_TRIGGER_PRICE = 110
    INSUFFICIENT_GAS = 111


class EngineAbort(Exception):
    """A transaction aborted: nothing changed. ``code`` is a Move abort code, ``module`` where."""

    def __init__(self, code: int, reason: str, module: str = "perpetual_core") -> None:
        self.code = int(code)
        self.reason = reason
        self.module = module
        super().__init__(f"{module}: abort code {self.code}: {reason}")


def econia(code: AbortCode, reason: str) -> EngineAbort:
    """An abort of Econia's ``market`` module."""
    return EngineAbort(code, reason, module="market")


# -- mutable state --------------------------------------------------------------------------


@dataclass(slots=True)
class Order:
    """An order while it lives; the book holds it while it rests."""

    order_id: int
    owner: str
    is_ask: bool
    price: int  # limit price in ticks; for market orders the worst price it may take
    remaining: int
    size: int
    market_id: int
    trade_side: bool
    direction: bool
    leverage: int
    order_type: int
    is_market: bool
    take_profit: int
    stop_loss: int
    trade_id: int
    timestamp: int
    #: Collateral (quote sub-units) still held back for the unfilled rest (opening limit
    #: orders only): always :func:`.risk.reserve` of its ``remaining`` lots.
    reserved: int = 0
    filled: int = 0
    filled_value: int = 0  # quote sub-units
    status: str = "Open"
    last_updated: int = 0
    version: int = 0

    def copy(self) -> Order:
        """A fast shallow copy (``copy.copy`` is several times slower on slotted classes)."""
        return Order(*ORDER_FIELDS(self))


ORDER_NAMES = tuple(f.name for f in fields(Order))
ORDER_FIELDS = attrgetter(*ORDER_NAMES)


@dataclass(slots=True)
class Position:
    owner: str
    market_id: int
    trade_side: bool
    lots: int
    entry_value: int  # notional (quote sub-units) paid to open the current size
    margin: int  # quote sub-units
    leverage: int
    trade_id: int
    timestamp: int
    tp: int = 0
    sl: int = 0
    closing: int = 0  # lots held by resting close orders
    version: int = 0

    def copy(self) -> Position:
        return Position(*_POSITION_FIELDS(self))


_POSITION_FIELDS = attrgetter(*(f.name for f in fields(Position)))


@dataclass(slots=True)
class Account:
    wallet: str
    profile: str
    # Quote amounts in sub-units of the quote coin.
    wallet_balance: int
    balance: int
    apt_octas: int
    internal: bool = False
    pending: dict[int, int] = field(default_factory=dict)
    #: Losses beyond a margin that the insurance fund absorbed for this account.
    covered: int = 0


@dataclass
class Market:
    """Everything of one market that an aborted transaction must be able to undo."""

    spec: MarketSpec
    book: OrderBook[Order] = field(default_factory=OrderBook)
    positions: dict[tuple[str, bool], Position] = field(default_factory=dict)
    last_price: int | None = None
    order_counter: int = 0
    access_counter: int = 0
    book_updated: int = 0
    book_version: int = 0

    def begin(self, undo: list[Undo]) -> None:
        """Journal this market's changes into ``undo`` (one atomic transaction)."""
        undo.append(partial(_restore_counters, self, (
            self.last_price, self.order_counter, self.access_counter, self.book_updated,
            self.book_version,
        )))
        self.book.journal = undo

    def end(self) -> None:
        self.book.journal = None


def _restore_counters(state: Market, saved: tuple[int | None, int, int, int, int]) -> None:
    (state.last_price, state.order_counter, state.access_counter, state.book_updated,
     state.book_version) = saved


def restore_position(
    positions: dict[tuple[str, bool], Position], key: tuple[str, bool], saved: Position | None
) -> None:
    if saved is None:
        positions.pop(key, None)
    else:
        positions[key] = saved


def restore_order(order: Order, saved: tuple[Any, ...]) -> None:
    for name, value in zip(ORDER_NAMES, saved, strict=True):
        setattr(order, name, value)


@dataclass
class FundingState:
    rate: Decimal = Decimal(0)
    funding_timestamp: int = 0
    updated: int = 0
    version: int = 0


# -- records: what happened, frozen -----------------------------------------------------------
#
# Not slotted: :mod:`.records` memoises each one's wire form in its ``__dict__`` (a record
# never changes, and a history view re-reads the same newest records at every push).


@dataclass(frozen=True)
class Fill:
    """One side of a trade (or a liquidation), as committed."""

    spec: MarketSpec
    owner: str
    order_id: int
    trade_id: int
    order_type: int
    lots: int
    price: int  # ticks
    value: int  # quote sub-units
    leverage: int
    fee: int
    pnl: int
    timestamp: int
    version: int
    #: A fill of the simulator's own liquidity (kept out of every profile's history).
    internal: bool = False

    @property
    def market_id(self) -> int:
        return self.spec.market_id


@dataclass(frozen=True)
class OrderSnapshot:
    """An order as one transaction left it."""

    spec: MarketSpec
    owner: str
    order_id: int
    order_type: int
    is_market: bool
    lots: int
    #: The limit price, or for a market order its average fill price (ticks, nearest, ties to
    #: even), or the market's last price when it did not fill.
    price: int
    value: int  # quote sub-units: the limit notional, or what a market order filled for
    leverage: int
    status: str
    timestamp: int
    last_updated: int
    trade_id: int
    version: int
    filled: int
    remaining: int

    @property
    def market_id(self) -> int:
        return self.spec.market_id

    @classmethod
    def of(cls, order: Order, spec: MarketSpec, last_price: int | None) -> OrderSnapshot:
        if order.is_market:
            ticks = half_even_div(order.filled_value, order.filled * spec.tick_size) if (
                order.filled) else last_price or 0
            value = order.filled_value
        else:
            ticks = order.price
            value = spec.notional(order.size, order.price)
        return cls(
            spec=spec, owner=order.owner, order_id=order.order_id, order_type=order.order_type,
            is_market=order.is_market, lots=order.size, price=ticks, value=value,
            leverage=order.leverage, status=order.status, timestamp=order.timestamp,
            last_updated=order.last_updated, trade_id=order.trade_id, version=order.version,
            filled=order.filled, remaining=order.remaining,
        )


@dataclass(frozen=True)
class Transfer:
    """A deposit into or a withdrawal from a trading profile."""

    owner: str
    value: int
    is_deposit: bool
    timestamp: int
    version: int


@dataclass(frozen=True)
class FundingPayment:
    """What one position paid (negative) or received at a funding time."""

    owner: str
    market_id: int
    trade_side: bool
    rate: Decimal
    amount: int
    timestamp: int
    version: int


class History:
    """One profile's records, newest last (views reverse them). Each kind keeps the newest
    ``limit`` records, so that a bot trading for days does not grow the simulator without end."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.orders: OrderedDict[int, OrderSnapshot] = OrderedDict()  # by creation
        self.trades: deque[Fill] = deque(maxlen=limit)
        self.transfers: deque[Transfer] = deque(maxlen=limit)
        self.funding: deque[FundingPayment] = deque(maxlen=limit)

    def put_order(self, snapshot: OrderSnapshot) -> None:
        """Add or update an order's record (an update keeps its place)."""
        self.orders[snapshot.order_id] = snapshot
        if len(self.orders) > self.limit:
            self.orders.popitem(last=False)
