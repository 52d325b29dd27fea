"""The simulated gateway's state as domain values (no wire text, no I/O).

Amounts are whole contracts and prices whole ticks of the order's :class:`~.instruments.Instrument`;
coin money is :class:`~decimal.Decimal` on the ``COIN_QUANTUM`` grid. Timestamps are milliseconds.
The gateway's views turn these values into the document's JSON shapes; the engine alone changes
them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from .instruments import Instrument

__all__ = [
    "Account",
    "AccountSummary",
    "BookSummary",
    "Candles",
    "Deposit",
    "Direction",
    "Event",
    "FundingRound",
    "MMPConfig",
    "Order",
    "Position",
    "PositionReport",
    "Settlement",
    "Trade",
    "order_id_text",
    "parse_order_id",
]

Direction = Literal["buy", "sell"]


@dataclass(slots=True, eq=False)
class Order:
    """A user's order; the simulator's order book holds it while it rests."""

    order_id: int                 # wire: ``order_id_text(order_id)`` (24 hex digits)
    owner: str                    # the account (client_id)
    instrument: Instrument
    direction: Direction
    order_type: str               # limit, market, stop_limit, stop_market, take_limit, take_market
    amount: int                   # contracts
    price: int                    # ticks (limit price; 0 for market orders)
    time_in_force: str
    label: str = ""
    post_only: bool = False
    reduce_only: bool = False
    mmp: bool = False
    max_show: int | None = None   # contracts
    trigger: str | None = None    # index_price | last_price (trigger orders only)
    trigger_price: int | None = None  # ticks
    remaining: int = 0            # contracts still working (on the book, or untriggered)
    filled: int = 0               # contracts traded
    notional_filled: Decimal = Decimal(0)  # sum of contracts * price-in-USD, for average_price
    state: str = "open"           # types.OrderStatus
    cancel_reason: str | None = None
    replaced: bool = False
    creation_ms: int = 0
    update_ms: int = 0
    origin: str | None = None     # the connection that placed it (cancel-on-disconnect)
    api: bool = True
    expire_ms: int | None = None  # good_til_day: when the order expires (next 08:00 UTC)
    #: The book's side flag (a plain attribute, as ``kana_async.sim.book.BookEntry``
    #: needs); always ``direction == "sell"``.
    is_ask: bool = field(init=False)

    def __post_init__(self) -> None:
        self.is_ask = self.direction == "sell"

    @property
    def average_price(self) -> Decimal | None:
        """Average fill price in USD, None before the first fill."""
        if not self.filled:
            return None
        return self.notional_filled / self.filled

    @property
    def is_trigger(self) -> bool:
        """Whether it is a stop or take-profit order (waiting for its trigger price)."""
        return self.order_type.startswith(("stop_", "take_"))


@dataclass(frozen=True, slots=True)
class Trade:
    """One fill between a taker and a maker order, seen from both sides."""

    trade_seq: int                # per instrument, from 1
    trade_id: str                 # unique, 24 hex digits
    instrument: Instrument
    timestamp: int                # ms
    price: int                    # ticks
    amount: int                   # contracts
    taker_direction: Direction
    taker: str                    # account
    maker: str                    # account
    taker_order_id: int
    maker_order_id: int
    taker_order_type: str
    maker_order_type: str
    taker_label: str
    maker_label: str
    taker_fee: Decimal            # coin, >= 0
    maker_fee: Decimal            # coin
    index_price: Decimal          # USD at the time of the trade
    mark_price: Decimal
    tick_direction: int           # 0 plus tick, 1 zero-plus, 2 minus, 3 zero-minus (Deribit)

    def direction_of(self, account: str) -> Direction:
        """The side ``account`` traded on (the taker's side, or the opposite for the maker)."""
        if account == self.taker:
            return self.taker_direction
        return "sell" if self.taker_direction == "buy" else "buy"


@dataclass(slots=True)
class Position:
    """An account's net position in one instrument. ``size`` is signed contracts (long > 0)."""

    instrument: Instrument
    size: int = 0
    #: Coin received for the open part (cash-flow accounting of an inverse contract: a buy of
    #: ``A`` USD at ``p`` adds ``A/p``, a sell subtracts it). Unrealized P&L at mark ``m`` is
    #: ``open_cash - size_usd / m``; closing moves the matching share into the balance.
    open_cash: Decimal = Decimal(0)
    realized: Decimal = Decimal(0)    # coin, since the account was created (fees excluded)
    funding: Decimal = Decimal(0)     # coin, received (+) or paid (-) in funding
    average_ticks: Decimal = Decimal(0)  # average entry price in ticks of the open part
    #: Coin value of the open part at its entry prices, unrounded: the average entry price is
    #: the harmonic mean ``usd / entry_value``, which the rounded ``open_cash`` would blur.
    entry_value: Decimal = Decimal(0)


@dataclass(slots=True)
class Account:
    """One ``client_id``: coin balances and positions. Created and funded on first sight."""

    account_id: str               # 24 hex digits, stable per client_id
    client_id: str
    creation_ms: int
    balances: dict[str, Decimal] = field(default_factory=dict)   # currency -> coin
    fees_paid: dict[str, Decimal] = field(default_factory=dict)
    positions: dict[str, Position] = field(default_factory=dict)  # instrument_name -> position
    mmp: dict[str, MMPConfig] = field(default_factory=dict)       # index_name -> config
    frozen_until: dict[str, int] = field(default_factory=dict)    # index_name -> ms


@dataclass(frozen=True, slots=True)
class Deposit:
    """A deposit into an account (the faucet's on first sight), as ``private/get_deposits``
    lists it."""

    amount: Decimal
    currency: str
    received_timestamp: int       # ms
    state: str                    # "completed"
    transaction_id: str


@dataclass(frozen=True, slots=True)
class Settlement:
    """A funding settlement of one position (``type`` "settlement")."""

    instrument: Instrument
    timestamp: int                # ms
    index_price: Decimal
    position: Literal["long", "short"]
    profit_loss: Decimal          # coin paid (-) or received (+)
    type: str = "settlement"


@dataclass(frozen=True, slots=True)
class MMPConfig:
    """Market-maker protection for one index: freeze mmp orders past ``quantity_limit``
    (USD amount) traded within ``interval`` seconds, for ``frozen_time`` seconds."""

    index_name: str
    interval: Decimal
    frozen_time: Decimal
    quantity_limit: Decimal


@dataclass(frozen=True, slots=True)
class Event:
    """Something subscribers may want to hear about, in the engine's order of events.

    ``kind`` is one of ``order`` (value: :class:`Order` copy), ``trade`` (:class:`Trade`),
    ``mmp_trigger`` (value: frozen_until ms, ``key`` the index name), ``index`` (value: price,
    ``key`` the index name), ``funding`` (value: :class:`FundingRound`), ``settlement``
    (value: price, ``key`` the index name). ``account`` is set for private events.
    """

    seq: int
    kind: str
    key: str                      # instrument or index name
    value: object
    account: str | None = None


@dataclass(frozen=True, slots=True)
class FundingRound:
    """One funding period of one instrument, as published on the funding channels."""

    instrument: Instrument
    range_start: int              # ms
    range_end: int                # ms
    rate: Decimal                 # fraction of notional per period (longs pay when > 0)
    paid: Decimal                 # coin paid by longs in total (the document's ``amount``)
    volume: Decimal               # open interest in USD at settlement
    perp_open: Decimal
    perp_high: Decimal
    perp_low: Decimal
    perp_close: Decimal
    spot_open: Decimal
    spot_high: Decimal
    spot_low: Decimal
    spot_close: Decimal


@dataclass(frozen=True, slots=True)
class PositionReport:
    """One position as ``private/get_positions`` reports it (USD sizes, coin money)."""

    instrument_name: str
    kind: str
    direction: str                # buy | sell | zero
    size: Decimal                 # USD, signed (long > 0)
    size_currency: Decimal        # coin at the mark price, signed
    size_out: Decimal             # USD of the account's open orders on the closing side
    average_price: Decimal        # USD, 0 when flat
    mark_price: Decimal
    index_price: Decimal
    settlement_price: Decimal     # mark at the last funding settlement, 0 before the first
    estimated_liquidation_price: Decimal | None
    delta: Decimal                # coin, signed
    floating_profit_loss: Decimal
    realized_profit_loss: Decimal
    total_profit_loss: Decimal
    interest_value: Decimal       # funding received (+) or paid (-) since the account was opened
    initial_margin: Decimal
    maintenance_margin: Decimal
    open_orders_margin: Decimal
    leverage: int


@dataclass(frozen=True, slots=True)
class AccountSummary:
    """``private/get_account_summary``: one coin, or every coin valued in USD at the index."""

    id: str
    email: str
    currency: str
    creation_timestamp: int
    balance: Decimal
    equity: Decimal
    margin_balance: Decimal
    initial_margin: Decimal
    maintenance_margin: Decimal
    session_rpl: Decimal
    session_upl: Decimal
    futures_session_rpl: Decimal
    futures_session_upl: Decimal
    options_session_rpl: Decimal
    options_session_upl: Decimal
    total_pl: Decimal


@dataclass(frozen=True, slots=True)
class BookSummary:
    """``private/get_order_book``: levels as ``[price, amount]`` in USD plus market figures."""

    instrument_name: str
    timestamp: int
    bids: list[list[Decimal]]     # best first
    asks: list[list[Decimal]]
    best_bid_price: Decimal | None
    best_bid_amount: Decimal
    best_ask_price: Decimal | None
    best_ask_amount: Decimal
    last_price: Decimal | None
    index_price: Decimal
    mark_price: Decimal
    settlement_price: Decimal
    underlying_price: Decimal
    stats_high: Decimal | None    # 24 h, None without trades
    stats_low: Decimal | None
    stats_price_change: Decimal | None  # percent
    stats_volume: Decimal         # coin
    state: str = "open"
    underlying_index: str = "index_price"
    greeks: None = None
    ask_iv: None = None
    bid_iv: None = None


@dataclass(frozen=True, slots=True)
class Candles:
    """``get_tradingview_chart_data``: one bar per resolution period that saw trades."""

    ticks: list[int]              # bar start, ms
    open: list[Decimal]
    high: list[Decimal]
    low: list[Decimal]
    close: list[Decimal]
    volume: list[Decimal]         # coin
    cost: list[Decimal]           # USD
    status: str                   # ok | no_data


def order_id_text(order_id: int) -> str:
    """Order ids are 24 hex digits on the wire, like the document's examples."""
    return f"{order_id:024x}"


def parse_order_id(text: str) -> int | None:
    """The number behind an order id string, or None if it is not one of ours."""
    if len(text) != 24:
        return None
    try:
        return int(text, 16)
    except ValueError:
        return None
