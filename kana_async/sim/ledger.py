"""The simulated Kana exchange: order books, hedge-mode positions, margin, funding, liquidation.

In memory, synchronous and deterministic under a seed (and an injectable clock): the REST,
WebSocket and node servers around it are thin. Execution methods take the on-chain integers a
transaction carries (lots, ticks, 6-decimal quote units) and are all-or-nothing: a failing
check raises :class:`EngineAbort` and leaves every balance, book and position as it was.
Views answer in the documented wire shapes (spec §4, §9.4), human units, JSON-ready.

Accounting model (the documents leave it open; this is the simulator's choice):

* a wallet holds quote coin not yet deposited (``wallet_balance``) and APT for gas;
* its trading profile holds free collateral (``profile_balance``); margin of positions and of
  resting opening orders (margin + worst-case taker fee) is taken out of it;
* closing trades, liquidation refunds and funding payments land in a per-market *pending*
  balance; ``settle_pnl`` (and any withdrawal from that market) moves it into the free
  collateral, and new orders draw on it automatically when the free collateral is short;
  ``net_profile_balance`` is free collateral plus every pending balance;
* positions are isolated: each holds its own margin and is liquidated when its equity falls to
  the maintenance margin; the liquidator takes the position over at the mark price and what is
  left of the margin is split 20 % insurance fund, 30 % liquidator, 50 % back to the user
  (spec §8).

Money is whole: every amount is an integer number of the quote coin's sub-units (6 decimals),
rounded where it is computed as a contract would (margin and fees up, against the trader;
shares of a position down), and fees, funding remainders and losses beyond a margin go to the
house (``fees_collected``, ``insurance_fund``), so :meth:`Engine.audit` balances exactly.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from decimal import Decimal
from enum import IntEnum
from functools import partial
from operator import attrgetter
from typing import Any

from ..config import KANA_PACKAGE_ADDRESS
from ..models.common import normalize_address
from .book import OrderBook, SelfMatchError, Undo
from .market_maker import MarketMaker, MarketMakerConfig
from .markets import (
    DEFAULT_MARKETS,
    MAX_PRICE_TICKS,
    QUOTE_DECIMALS,
    MarketSpec,
    OrderType,
    Restriction,
    quote_amount,
    quote_units,
)

__all__ = [
    "MAKER_FEE",
    "MARKET_TOPICS",
    "TAKER_FEE",
    "TOPICS",
    "USER_TOPICS",
    "AbortCode",
    "Audit",
    "Change",
    "Engine",
    "EngineAbort",
    "MarketMakerConfig",
    "MarketSpec",
]

log = logging.getLogger(__name__)

#: Topics keyed by a profile address.
USER_TOPICS = (
    "order_history",
    "deposit_withdraw_history",
    "trade_history",
    "positions",
    "open_orders",
    "live_order_history",
    "live_trade_history",
)
#: Topics keyed by a market id (as a string).
MARKET_TOPICS = ("orderbook", "recent_trades", "best_price")
#: Every indexer WebSocket topic (spec §9.4); ``live_funding_rate`` has no key.
TOPICS = (*USER_TOPICS, *MARKET_TOPICS, "live_funding_rate")

TAKER_FEE = Decimal("0.0005")
MAKER_FEE = Decimal(0)
#: Shares of a liquidated position's remaining equity, in percent (spec §8): back to its owner
#: and to the insurance fund; the liquidator takes the rest (30 %, and the rounding).
LIQUIDATION_REFUND_PCT = 50
LIQUIDATION_INSURANCE_PCT = 20
_MARKET_TYPES = frozenset(
    {OrderType.MARKET_OPEN_LONG, OrderType.MARKET_OPEN_SHORT, OrderType.MARKET_CLOSE_LONG,
     OrderType.MARKET_CLOSE_SHORT, OrderType.TRIGGER_CLOSE_LONG, OrderType.TRIGGER_CLOSE_SHORT,
     OrderType.LIQUIDATION_LONG, OrderType.LIQUIDATION_SHORT}
)


_LIQUIDATION_TYPES = frozenset({OrderType.LIQUIDATION_LONG, OrderType.LIQUIDATION_SHORT})


class AbortCode(IntEnum):
    """Abort codes. Econia's (module ``market``) are the real ones (spec §10); Kana's own are
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


def _econia(code: AbortCode, reason: str) -> EngineAbort:
    return EngineAbort(code, reason, module="market")


# -- integer money: quote amounts are sub-units of the quote coin -----------------------------


def _ceil_div(a: int, b: int) -> int:
    """``a / b`` rounded up (``b > 0``)."""
    return -(-a // b)


def _half_even_div(a: int, b: int) -> int:
    """``a / b`` to the nearest integer, ties to even (``b > 0``)."""
    q, r = divmod(a, b)
    if 2 * r > b or (2 * r == b and q % 2):
        q += 1
    return q


def _fee(notional: int, rate: Decimal) -> int:
    """A trading fee: ``notional x rate`` rounded up (the trader pays the part sub-unit)."""
    num, den = rate.as_integer_ratio()
    return _ceil_div(notional * num, den)


def _margin(notional: int, leverage: int) -> int:
    """Initial margin: ``notional / leverage`` rounded up (against the trader)."""
    return _ceil_div(notional, leverage)


def _share(amount: int, part: int, whole: int) -> int:
    """The part of a position's ``amount`` that goes with ``part`` of its ``whole`` lots,
    rounded toward zero; all of it when the whole goes (so the shares add up exactly)."""
    return amount if part == whole else amount * part // whole


def _human(units: int) -> Decimal:
    """Quote sub-units -> quote coins, with no more digits than needed (and no exponent)."""
    value = quote_amount(units)
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def _money(units: int) -> str:
    """Quote sub-units as a wire decimal string in quote coins."""
    return _fmt(_human(units))


@dataclass(frozen=True)
class Audit:
    """Where every sub-unit of quote coin the faucet created is now.

    ``unrealized_pnl`` is what the open positions owe each other: the shorts' entry values
    minus the longs'. Since every market's long and short lots are equal, it is the sum of
    every position's unrealised pnl at any common price, so ``held == minted`` at every price.
    """

    minted: int
    wallets: int
    free: int
    pending: int
    reserved: int
    margins: int
    unrealized_pnl: int
    fees: int
    insurance: int
    #: Per market: long lots minus short lots (0 in a sound ledger).
    open_lots: dict[int, int]

    @property
    def held(self) -> int:
        return (self.wallets + self.free + self.pending + self.reserved + self.margins
                + self.unrealized_pnl + self.fees + self.insurance)

    @property
    def balanced(self) -> bool:
        return self.held == self.minted and not any(self.open_lots.values())


@dataclass(frozen=True)
class Change:
    """One thing a WebSocket subscriber of ``(topic, key)`` should hear about."""

    topic: str
    #: Profile address, market id as a string, or None (``live_funding_rate``).
    key: str | None
    #: For ``live_order_history``/``live_trade_history``: the single new record.
    record: dict[str, Any] | None = None


# -- mutable state --------------------------------------------------------------------------


@dataclass(slots=True)
class _Order:
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
    #: orders only): always :meth:`Engine._reserve` of its ``remaining`` lots.
    reserved: int = 0
    filled: int = 0
    filled_value: int = 0  # quote sub-units
    status: str = "Open"
    last_updated: int = 0
    version: int = 0

    def copy(self) -> _Order:
        """A fast shallow copy (``copy.copy`` is several times slower on slotted classes)."""
        return _Order(*_ORDER_FIELDS(self))


_ORDER_NAMES = tuple(f.name for f in fields(_Order))
_ORDER_FIELDS = attrgetter(*_ORDER_NAMES)


@dataclass(slots=True)
class _Position:
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

    def copy(self) -> _Position:
        return _Position(*_POSITION_FIELDS(self))


_POSITION_FIELDS = attrgetter(*(f.name for f in fields(_Position)))


@dataclass(slots=True)
class _Account:
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
class _Market:
    """Everything of one market that an aborted transaction must be able to undo."""

    spec: MarketSpec
    book: OrderBook[_Order] = field(default_factory=OrderBook)
    positions: dict[tuple[str, bool], _Position] = field(default_factory=dict)
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


def _restore_counters(state: _Market, saved: tuple[int | None, int, int, int, int]) -> None:
    (state.last_price, state.order_counter, state.access_counter, state.book_updated,
     state.book_version) = saved


def _restore_position(
    positions: dict[tuple[str, bool], _Position], key: tuple[str, bool], saved: _Position | None
) -> None:
    if saved is None:
        positions.pop(key, None)
    else:
        positions[key] = saved


def _restore_order(order: _Order, saved: tuple[Any, ...]) -> None:
    for name, value in zip(_ORDER_NAMES, saved, strict=True):
        setattr(order, name, value)


class _History:
    """One profile's records, newest last (views reverse them). Each kind keeps the newest
    ``limit`` records, so that a bot trading for days does not grow the simulator without end."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.orders: OrderedDict[int, dict[str, Any]] = OrderedDict()  # by creation
        self.trades: deque[dict[str, Any]] = deque(maxlen=limit)
        self.transfers: deque[dict[str, Any]] = deque(maxlen=limit)
        self.funding: deque[dict[str, Any]] = deque(maxlen=limit)

    def put_order(self, order_id: int, record: dict[str, Any]) -> None:
        """Add or update an order's record (an update keeps its place)."""
        self.orders[order_id] = record
        if len(self.orders) > self.limit:
            self.orders.popitem(last=False)


@dataclass
class _FundingState:
    rate: Decimal = Decimal(0)
    funding_timestamp: int = 0
    updated: int = 0
    version: int = 0


class _Tx:
    """A transaction in progress: the undo data and what to publish on commit."""

    def __init__(self, version: int, now: int) -> None:
        self.version = version
        self.now = now
        self.saved_accounts: dict[str, tuple[int, int, int, dict[int, int], int]] = {}
        self.saved_house: tuple[int, int] = (0, 0)
        #: Atomic transactions only: what reverts every change to markets, latest last.
        self.undo: list[Undo] | None = None
        self.kept: set[tuple[int, object]] = set()  # orders and positions already in ``undo``
        self.markets: list[_Market] = []
        self.orders: dict[int, _Order] = {}  # latest state of every order touched
        self.trades: list[tuple[str, int, dict[str, Any], bool]] = []
        self.transfers: list[tuple[str, dict[str, Any]]] = []
        self.funding: list[tuple[str, dict[str, Any]]] = []
        self.touched: dict[tuple[str, str | None], None] = {}

    def touch(self, topic: str, key: str | None) -> None:
        self.touched[(topic, key)] = None

    def keep_order(self, order: _Order) -> None:
        """Let an abort restore ``order``'s fields as they are now (first call only)."""
        if self.undo is not None and (order.market_id, order.order_id) not in self.kept:
            self.kept.add((order.market_id, order.order_id))
            self.undo.append(partial(_restore_order, order, _ORDER_FIELDS(order)))

    def keep_position(self, state: _Market, key: tuple[str, bool]) -> None:
        """Let an abort restore position ``key`` as it is now, or its absence."""
        if self.undo is not None and (state.spec.market_id, key) not in self.kept:
            self.kept.add((state.spec.market_id, key))
            position = state.positions.get(key)
            saved = None if position is None else position.copy()
            self.undo.append(partial(_restore_position, state.positions, key, saved))


def _fmt(value: Decimal) -> str:
    """A plain decimal string (no exponent, no ``-0``)."""
    return "0" if value == 0 else format(value, "f")


def _num(value: Decimal) -> float:
    """A JSON number for the few fields the documents show as numbers (no arithmetic)."""
    return float(value)


class Engine:
    """The exchange. Synchronous; the servers call it from one event loop thread."""

    def __init__(
        self,
        *,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
        faucet_quote: Decimal = Decimal(100_000),
        faucet_apt_octas: int = 10 * 10**8,
        markets: Iterable[MarketSpec] | None = None,
        market_maker: MarketMakerConfig | None = MarketMakerConfig(),  # noqa: B008
        funding_interval: float = 60.0,
        recent_trades_limit: int = 50,
        fill_log_limit: int = 10_000,
        history_limit: int = 1_000,
        order_record_limit: int = 100_000,
    ) -> None:
        """Memory is bounded whatever the run's length: ``recent_trades_limit`` and
        ``fill_log_limit`` are per market (``getAllTrades``/``recent_trades``, and the fills
        ``getFills`` searches), ``history_limit`` per profile and kind (orders, fills, transfers,
        funding payments), ``order_record_limit`` the finished orders ``getOrderStatusByOrderId``
        still knows (resting orders are always known)."""
        self._clock = clock
        self._created = int(clock())
        self.faucet_quote = Decimal(faucet_quote)
        self._faucet_units = quote_units(self.faucet_quote)
        self.faucet_apt_octas = faucet_apt_octas
        self.markets: dict[int, MarketSpec] = {
            spec.market_id: spec for spec in (DEFAULT_MARKETS if markets is None else markets)
        }
        for spec in self.markets.values():
            if spec.quote_decimals != QUOTE_DECIMALS:
                raise ValueError(
                    f"market {spec.market_id}: quote_decimals must be {QUOTE_DECIMALS}, the "
                    "decimals of the one quote coin every market settles in"
                )
        #: Quote sub-units the faucet has created (every account's first funds).
        self.minted = 0
        #: Trading fees taken (quote sub-units).
        self.fees_collected = 0
        #: The insurance fund (quote sub-units): its share of liquidations and the rounding of
        #: funding payments in, losses beyond a position's margin out (it may go negative).
        self.insurance_fund = 0
        self.ledger_version = 0
        self.package_address = KANA_PACKAGE_ADDRESS
        self.funding_interval = funding_interval
        self._state = {m: _Market(spec) for m, spec in self.markets.items()}
        self._accounts: dict[str, _Account] = {}  # by wallet
        self._profiles: dict[str, _Account] = {}  # by profile
        self._history: dict[str, _History] = {}
        self._history_limit = history_limit
        self._order_records: OrderedDict[int, tuple[dict[str, Any], int, int]] = OrderedDict()
        self._order_record_limit = order_record_limit
        self._recent: dict[int, deque[dict[str, Any]]] = {
            m: deque(maxlen=recent_trades_limit) for m in self.markets
        }
        self._fill_log: dict[int, deque[tuple[str, int, dict[str, Any]]]] = {
            m: deque(maxlen=fill_log_limit) for m in self.markets
        }
        self._funding = {m: _FundingState() for m in self.markets}
        self._listeners: list[Callable[[Change], None]] = []
        self._trade_seq = 0
        self._next_funding: float | None = None
        self._rng = random.Random(seed ^ 0x5EED)
        self.market_maker = (
            MarketMaker(self.markets, seed, market_maker) if market_maker is not None else None
        )
        self._mm_maker = self._internal_account("kana_sim_market_maker")
        self._mm_taker = self._internal_account("kana_sim_flow_taker")

    # -- wallets and listeners -----------------------------------------------------------------

    def add_listener(self, fn: Callable[[Change], None]) -> Callable[[], None]:
        """Call ``fn`` with every :class:`Change`; returns a function that removes it."""
        self._listeners.append(fn)

        def remove() -> None:
            if fn in self._listeners:
                self._listeners.remove(fn)

        return remove

    @staticmethod
    def profile_address(wallet: str) -> str:
        """The trading profile of ``wallet``: sha3-256(wallet bytes + b"kana_profile")."""
        raw = bytes.fromhex(normalize_address(wallet, param="wallet")[2:])
        return "0x" + hashlib.sha3_256(raw + b"kana_profile").hexdigest()

    def ensure_wallet(self, wallet: str) -> None:
        """Fund a wallet seen for the first time, like testnet's faucet."""
        self._account(wallet)

    @property
    def stored_accounts(self) -> int:
        """How many wallets the engine keeps state for (those that sent a transaction, and
        the market maker's two)."""
        return len(self._accounts)

    def _fresh(self, wallet: str) -> _Account:
        """What the faucet gives a wallet it has not seen: not stored."""
        return _Account(wallet, self.profile_address(wallet), self._faucet_units, 0,
                        self.faucet_apt_octas)

    def _peek(self, wallet: str) -> _Account:
        """The wallet's account for a view: a wallet never seen answers as a fresh one, and
        nothing is stored, so that queries of any number of addresses cost no memory."""
        wallet = normalize_address(wallet, param="wallet")
        return self._accounts.get(wallet) or self._fresh(wallet)

    def _account(self, wallet: str) -> _Account:
        """The wallet's account for a transaction: created (funded) on first use."""
        wallet = normalize_address(wallet, param="wallet")
        account = self._accounts.get(wallet)
        if account is None:
            account = self._fresh(wallet)
            self.minted += account.wallet_balance
            self._accounts[wallet] = self._profiles[account.profile] = account
        return account

    def _internal_account(self, name: str) -> _Account:
        wallet = "0x" + hashlib.sha3_256(name.encode()).hexdigest()
        account = self._account(wallet)
        account.internal = True
        account.balance = quote_units(Decimal(10) ** 15)
        self.minted += account.balance
        return account

    def _market(self, market_id: int) -> _Market:
        state = self._state.get(market_id)
        if state is None:
            raise EngineAbort(AbortCode.UNKNOWN_MARKET, f"unknown market {market_id}")
        return state

    # -- views: markets ------------------------------------------------------------------------

    def market_info(self, market_id: int) -> dict[str, Any]:
        """``getMarketInfo`` element (spec §3.1, current variant)."""
        spec = self._market(market_id).spec
        digest = hashlib.sha3_256(f"kana_market_{spec.market_id}".encode()).hexdigest()
        return {
            "__variant__": "V1",
            "base_decimals": spec.base_decimals,
            "base_name": spec.base_name,
            "counter": str(self._state[market_id].order_counter),
            "creator": self.package_address,
            "custodian_id": "75",
            "fee_address": self.package_address,
            "is_recognised": True,
            "lot_size": str(spec.lot_size),
            "maintenance_margin": str(spec.maintenance_margin_bps),
            "market_address": "0x" + digest,
            "market_id": str(spec.market_id),
            "market_status": 1,
            "max_leverage": str(spec.max_leverage),
            "max_lots": str(spec.max_lots),
            "max_position_value": "125000000",
            "min_lots": str(spec.min_lots),
            "quote_decimals": spec.quote_decimals,
            "quote_precision": spec.quote_precision,
            "tick_size": str(spec.tick_size),
            "timestamp": str(self._created),
            "underwriter_id": "73",
        }

    def all_market_info(self) -> list[dict[str, Any]]:
        return [self.market_info(m) for m in self.markets]

    def market_price(self, market_id: int) -> dict[str, Any]:
        """``{"bestAskPrice": number|None, "bestBidPrice": number|None}``."""
        state = self._market(market_id)
        ask, bid = state.book.best(True), state.book.best(False)
        spec = state.spec
        return {
            "bestAskPrice": None if ask is None else _num(spec.price_of(ask)),
            "bestBidPrice": None if bid is None else _num(spec.price_of(bid)),
        }

    def last_price(self, market_id: int) -> Decimal | None:
        """The price of the market's last trade (None before the first)."""
        state = self._market(market_id)
        return None if state.last_price is None else state.spec.price_of(state.last_price)

    def orderbook(self, market_id: int, depth: int | None = None) -> list[dict[str, Any]]:
        """Price levels: asks ascending, then bids descending (the ``orderbook`` topic)."""
        state = self._market(market_id)
        spec, mid = state.spec, str(market_id)
        return [
            {
                "market_id": mid,
                "price": _num(spec.price_of(price)),
                "size": _fmt(spec.size_of(lots)),
                "is_ask": is_ask,
                "last_updated": state.book_updated,
                "transaction_version": state.book_version,
            }
            for is_ask in (True, False)
            for price, lots in state.book.depth(is_ask, depth)
        ]

    def recent_trades(self, market_id: int) -> list[dict[str, Any]]:
        """The market's latest fills, newest first, both counterparties' rows."""
        self._market(market_id)
        return list(reversed(self._recent[market_id]))

    def funding_rates(self) -> list[dict[str, Any]]:
        """One ``live_funding_rate`` entry per market."""
        return [
            {
                "funding_rate": _fmt(f.rate),
                "funding_timestamp": f.funding_timestamp,
                "last_updated": f.updated,
                "market_id": str(m),
                "transaction_timestamp": f.updated,
                "transaction_version": f.version,
            }
            for m, f in self._funding.items()
        ]

    # -- views: balances (by wallet) -------------------------------------------------------------

    def wallet_balance(self, wallet: str) -> Decimal:
        """Quote coin in the wallet, not deposited."""
        return _human(self._peek(wallet).wallet_balance)

    def profile_balance(self, wallet: str) -> Decimal:
        """Free collateral in the trading profile."""
        return _human(self._peek(wallet).balance)

    def net_profile_balance(self, wallet: str) -> Decimal:
        """Free collateral plus the pending balances of every market."""
        account = self._peek(wallet)
        return _human(account.balance + sum(account.pending.values()))

    def pending_balance(self, wallet: str, market_id: int) -> Decimal:
        """What ``settle_pnl`` would move from ``market_id`` into the free collateral."""
        return _human(self._peek(wallet).pending.get(market_id, 0))

    def apt_balance(self, wallet: str) -> Decimal:
        """APT for gas, in APT."""
        return Decimal(self._peek(wallet).apt_octas).scaleb(-8)

    def audit(self) -> Audit:
        """Count every sub-unit of quote coin: ``audit().balanced`` holds after every
        transaction (deposits, withdrawals, fees, realised pnl, funding and liquidations
        only move money between accounts and the house)."""
        accounts = list(self._accounts.values())
        margins = unrealized = 0
        open_lots: dict[int, int] = {}
        reserved = 0
        for market_id, state in self._state.items():
            lots = 0
            for position in state.positions.values():
                margins += position.margin
                if position.trade_side:
                    unrealized -= position.entry_value
                    lots += position.lots
                else:
                    unrealized += position.entry_value
                    lots -= position.lots
            open_lots[market_id] = lots
            reserved += sum(order.reserved for order in state.book.orders())
        return Audit(
            minted=self.minted,
            wallets=sum(a.wallet_balance for a in accounts),
            free=sum(a.balance for a in accounts),
            pending=sum(sum(a.pending.values()) for a in accounts),
            reserved=reserved,
            margins=margins,
            unrealized_pnl=unrealized,
            fees=self.fees_collected,
            insurance=self.insurance_fund,
            open_lots=open_lots,
        )

    # -- views: orders, trades, positions (by profile) ----------------------------------------

    def open_orders(self, profile: str, market_id: int | None = None) -> list[dict[str, Any]]:
        """Resting orders of ``profile`` (the ``open_orders`` topic), oldest first."""
        profile = normalize_address(profile, param="profile")
        return [self._open_order_record(o) for o in self._resting(profile, market_id)]

    def open_order_ids(self, profile: str, market_id: int) -> list[str]:
        profile = normalize_address(profile, param="profile")
        return [str(o.order_id) for o in self._resting(profile, market_id)]

    def order_history(self, profile: str, market_id: int | None = None) -> list[dict[str, Any]]:
        """Every order of ``profile`` in its latest state, newest first."""
        history = self._history.get(normalize_address(profile, param="profile"))
        if history is None:
            return []
        records = reversed(history.orders.values())
        return [r for r in records if market_id is None or r["market_id"] == str(market_id)]

    def trade_history(self, profile: str, market_id: int | None = None) -> list[dict[str, Any]]:
        """Fills of ``profile``, newest first."""
        history = self._history.get(normalize_address(profile, param="profile"))
        if history is None:
            return []
        return [
            r for r in reversed(history.trades)
            if market_id is None or r["market_id"] == str(market_id)
        ]

    def positions(self, profile: str, market_id: int | None = None) -> list[dict[str, Any]]:
        """Open positions of ``profile`` (hedge mode: up to two per market)."""
        profile = normalize_address(profile, param="profile")
        out = []
        for m, state in self._state.items():
            if market_id is not None and m != market_id:
                continue
            for side in (True, False):
                position = state.positions.get((profile, side))
                if position is not None:
                    out.append(self._position_record(state.spec, position))
        return out

    def deposit_withdraw_history(self, profile: str) -> list[dict[str, Any]]:
        history = self._history.get(normalize_address(profile, param="profile"))
        return [] if history is None else list(reversed(history.transfers))

    def funding_history(self, profile: str, market_id: int | None = None) -> list[dict[str, Any]]:
        """Funding payments on ``profile``'s positions, newest first."""
        history = self._history.get(normalize_address(profile, param="profile"))
        if history is None:
            return []
        return [
            r for r in reversed(history.funding)
            if market_id is None or r["market_id"] == str(market_id)
        ]

    def order_status(self, market_id: int, order_id: str) -> dict[str, Any] | None:
        """An order's latest record plus ``total_filled`` and ``remaining_size``, or None."""
        state = self._market(market_id)
        try:
            oid = int(order_id)
        except ValueError:
            return None
        found = self._order_records.get(oid)
        resting = state.book.get(oid)
        if found is None and resting is not None and not self._profiles[resting.owner].internal:
            found = (self._order_record(resting), resting.filled, resting.remaining)
        if found is None or found[0]["market_id"] != str(market_id):
            return None
        record, filled, remaining = found
        spec = self.markets[market_id]
        return {
            **record,
            "total_filled": _fmt(spec.size_of(filled)),
            "remaining_size": _fmt(spec.size_of(remaining)),
        }

    def fills(
        self,
        market_id: int,
        from_ts: float,
        to_ts: float,
        profile: str | None = None,
        order_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Fills of a market with ``from_ts <= timestamp <= to_ts``, oldest first (with
        ``order_id``), optionally only one profile's or one order's."""
        self._market(market_id)
        who = None if profile is None else normalize_address(profile, param="profile")
        oid = None if order_id is None else int(order_id)
        return [
            {**record, "order_id": str(rec_oid)}
            for owner, rec_oid, record in self._fill_log[market_id]
            if from_ts <= record["timestamp"] <= to_ts
            and (who is None or owner == who)
            and (oid is None or rec_oid == oid)
        ]

    def matches(
        self, market_id: int, version: int
    ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """The fills ledger ``version`` made in ``market_id``, as ``(taker, maker)`` record pairs
        in matching order, each record with its ``order_id`` (what a transaction's events need).

        Every match is logged as its taker's fill followed by its maker's; a liquidation has no
        maker and is left out. Only fills still in the bounded fill log are found.
        """
        self._market(market_id)
        found: list[dict[str, Any]] = []
        for _owner, order_id, record in reversed(self._fill_log[market_id]):
            logged = record["transaction_version"]
            if logged < version:
                break
            if logged == version and record["order_type"] not in _LIQUIDATION_TYPES:
                found.append({**record, "order_id": str(order_id)})
        found.reverse()
        return list(zip(found[::2], found[1::2], strict=True))

    # -- execution: funds ------------------------------------------------------------------------

    def deposit(self, wallet: str, amount: int) -> None:
        """Move ``amount`` quote units from the wallet into the trading profile."""
        self._check_amount(amount)
        with self._transaction() as tx:
            account = self._touch(tx, self._account(wallet))
            if account.wallet_balance < amount:
                raise EngineAbort(
                    AbortCode.INSUFFICIENT_BALANCE,
                    f"wallet holds {_money(account.wallet_balance)}, cannot deposit "
                    f"{_money(amount)}",
                )
            account.wallet_balance -= amount
            account.balance += amount
            self._transfer(tx, account, amount, is_deposit=True)

    def withdraw(self, wallet: str, market_id: int, amount: int) -> None:
        """Settle ``market_id``'s pending balance, then move ``amount`` units to the wallet."""
        self.withdraw_multiple(wallet, [market_id], amount)

    def withdraw_multiple(self, wallet: str, market_ids: list[int], amount: int) -> None:
        """Settle every listed market's pending balance, then withdraw ``amount`` units."""
        self._check_amount(amount)
        for market_id in market_ids:
            self._market(market_id)
        with self._transaction() as tx:
            account = self._touch(tx, self._account(wallet))
            for market_id in market_ids:
                self._settle(account, market_id)
            if account.balance < amount:
                raise EngineAbort(
                    AbortCode.INSUFFICIENT_BALANCE,
                    f"free collateral is {_money(account.balance)}, cannot withdraw "
                    f"{_money(amount)}",
                )
            account.balance -= amount
            account.wallet_balance += amount
            self._transfer(tx, account, amount, is_deposit=False)

    def settle_pnl(self, wallet: str, market_id: int) -> None:
        """Move the market's pending balance (closed pnl, refunds, funding) into collateral."""
        self._market(market_id)
        with self._transaction() as tx:
            self._settle(self._touch(tx, self._account(wallet)), market_id)

    def add_margin(self, wallet: str, market_id: int, trade_side: bool, amount: int) -> None:
        """Add collateral to one position's margin (moves its liquidation price away)."""
        self._check_amount(amount)
        with self._transaction(market_id) as tx:
            account = self._touch(tx, self._account(wallet))
            state = self._state[market_id]
            position = self._position_of(state, account.profile, trade_side)
            tx.keep_position(state, (account.profile, trade_side))
            account.balance -= amount
            self._require_solvent(account)
            position.margin += amount
            position.version = tx.version
            tx.touch("positions", account.profile)

    def charge_gas(self, wallet: str, octas: int) -> None:
        """Take gas in octas from the wallet's APT (the node calls this per transaction)."""
        if octas < 0:
            raise EngineAbort(AbortCode.INVALID_AMOUNT, "gas must not be negative")
        account = self._account(wallet)
        if account.apt_octas < octas:
            raise EngineAbort(
                AbortCode.INSUFFICIENT_GAS,
                f"wallet holds {account.apt_octas} octas, gas costs {octas}",
                module="transaction_validation",
            )
        account.apt_octas -= octas

    # -- execution: orders ------------------------------------------------------------------------

    def place_limit_order(
        self, wallet: str, market_id: int, trade_side: bool, direction: bool, size: int,
        price: int, leverage: int, restriction: int, take_profit: int, stop_loss: int,
    ) -> str:
        """Place a limit order; returns its order id (u128 as a decimal string)."""
        with self._transaction(market_id) as tx:
            account = self._account(wallet)
            order = self._place(
                tx, self._state[market_id], account, is_market=False, trade_side=trade_side,
                direction=direction, lots=size, price=price, leverage=leverage,
                restriction=restriction, take_profit=take_profit, stop_loss=stop_loss,
            )
            return str(order.order_id)

    def place_market_order(
        self, wallet: str, market_id: int, trade_side: bool, direction: bool, size: int,
        leverage: int, take_profit: int, stop_loss: int,
    ) -> str:
        """Take liquidity at any price; whatever cannot fill at once is cancelled."""
        with self._transaction(market_id) as tx:
            order = self._place(
                tx, self._state[market_id], self._account(wallet), is_market=True,
                trade_side=trade_side, direction=direction, lots=size, price=0,
                leverage=leverage, restriction=Restriction.IMMEDIATE_OR_CANCEL,
                take_profit=take_profit, stop_loss=stop_loss,
            )
            return str(order.order_id)

    def place_multiple_orders(
        self, wallet: str, market_id: int, order_types: list[bool], trade_sides: list[bool],
        directions: list[bool], sizes: list[int], prices: list[int], leverages: list[int],
        restrictions: list[int], take_profits: list[int], stop_losses: list[int],
    ) -> list[str]:
        """Place several orders at once (``order_types``: True limit, False market); all or none."""
        return self.cancel_and_place_multiple_orders(
            wallet, market_id, [], [], order_types, trade_sides, directions, sizes, prices,
            leverages, restrictions, take_profits, stop_losses,
        )

    def cancel_multiple_orders(
        self, wallet: str, market_id: int, order_ids: list[int], sides: list[bool]
    ) -> None:
        """Cancel resting orders; ``sides`` is each order's trade side. All or none."""
        self.cancel_and_place_multiple_orders(
            wallet, market_id, order_ids, sides, [], [], [], [], [], [], [], [], []
        )

    def cancel_and_place_multiple_orders(
        self, wallet: str, market_id: int, cancel_ids: list[int], cancel_sides: list[bool],
        order_types: list[bool], trade_sides: list[bool], directions: list[bool],
        sizes: list[int], prices: list[int], leverages: list[int], restrictions: list[int],
        take_profits: list[int], stop_losses: list[int],
    ) -> list[str]:
        """Cancel, then place, in one all-or-nothing transaction; returns the new order ids."""
        if len(cancel_ids) != len(cancel_sides):
            raise EngineAbort(
                AbortCode.VECTOR_LENGTH_MISMATCH, "order ids and sides differ in length"
            )
        columns = (order_types, trade_sides, directions, sizes, prices, leverages,
                   restrictions, take_profits, stop_losses)
        if len({len(c) for c in columns}) > 1:
            raise EngineAbort(
                AbortCode.VECTOR_LENGTH_MISMATCH, "the order vectors differ in length"
            )
        with self._transaction(market_id) as tx:
            state = self._state[market_id]
            account = self._account(wallet)
            for order_id, side in zip(cancel_ids, cancel_sides, strict=True):
                self._cancel(tx, state, account.profile, int(order_id), side)
            ids = []
            for is_limit, side, direction, lots, price, leverage, restriction, tp, sl in zip(
                *columns, strict=True
            ):
                order = self._place(
                    tx, state, account, is_market=not is_limit, trade_side=side,
                    direction=direction, lots=lots, price=price if is_limit else 0,
                    leverage=leverage,
                    restriction=restriction if is_limit else Restriction.IMMEDIATE_OR_CANCEL,
                    take_profit=tp, stop_loss=sl,
                )
                ids.append(str(order.order_id))
            return ids

    def update_take_profit(self, wallet: str, market_id: int, trade_side: bool, price: int) -> None:
        """Set (or with 0 clear) the take-profit trigger of a position."""
        self._update_trigger(wallet, market_id, trade_side, price, take_profit=True)

    def update_stop_loss(self, wallet: str, market_id: int, trade_side: bool, price: int) -> None:
        """Set (or with 0 clear) the stop-loss trigger of a position."""
        self._update_trigger(wallet, market_id, trade_side, price, take_profit=False)

    def collapse_position(self, wallet: str, market_id: int) -> None:
        """Close both sides of the market at market price (resting close orders cancelled)."""
        with self._transaction(market_id) as tx:
            state = self._state[market_id]
            account = self._account(wallet)
            sides = [s for s in (True, False) if (account.profile, s) in state.positions]
            if not sides:
                raise EngineAbort(AbortCode.NO_POSITION, f"no position in market {market_id}")
            for side in sides:
                self._close_at_market(tx, state, account, side, OrderType.of(
                    is_market=True, trade_side=side, direction=True))

    # -- time ----------------------------------------------------------------------------------

    def step(self, now: float | None = None) -> None:
        """One background step: market-maker quotes and flow, TP/SL triggers, liquidations,
        and funding when its interval has passed."""
        now = self._clock() if now is None else now
        if self.market_maker is not None:
            for market_id in self.markets:
                self._market_maker_step(self._state[market_id], now)
        for market_id in self.markets:
            self._trigger_step(self._state[market_id], now)
            self._liquidation_step(self._state[market_id], now)
        if self._next_funding is None:
            self._next_funding = now + self.funding_interval
        elif now >= self._next_funding:
            self._funding_step(now)
            self._next_funding = now + self.funding_interval

    # -- transactions --------------------------------------------------------------------------

    @contextmanager
    def _transaction(
        self, *market_ids: int, now: float | None = None, atomic: bool = True
    ) -> Iterator[_Tx]:
        """Run a block as one ledger transaction: undone on any exception, published on success."""
        for market_id in market_ids:
            self._market(market_id)
        tx = _Tx(self.ledger_version + 1, int(self._clock() if now is None else now))
        tx.saved_house = (self.fees_collected, self.insurance_fund)
        if atomic:
            tx.undo = []
            tx.markets = [self._state[market_id] for market_id in market_ids]
            for state in tx.markets:
                state.begin(tx.undo)
        try:
            yield tx
        except BaseException:
            self._undo(tx)
            raise
        finally:
            for state in tx.markets:
                state.end()
        self._commit(tx)

    def _undo(self, tx: _Tx) -> None:
        for state in tx.markets:
            state.end()  # the undo steps themselves must not be journaled
        for step in reversed(tx.undo or ()):
            step()
        self.fees_collected, self.insurance_fund = tx.saved_house
        for profile, (wallet_balance, balance, apt, pending, covered) in (
            tx.saved_accounts.items()
        ):
            account = self._profiles[profile]
            account.wallet_balance, account.balance = wallet_balance, balance
            account.apt_octas, account.pending, account.covered = apt, pending, covered

    def _history_of(self, profile: str) -> _History:
        history = self._history.get(profile)
        if history is None:
            history = self._history[profile] = _History(self._history_limit)
        return history

    def _touch(self, tx: _Tx, account: _Account) -> _Account:
        """Remember ``account``'s balances before the transaction first changes them."""
        if account.profile not in tx.saved_accounts:
            tx.saved_accounts[account.profile] = (
                account.wallet_balance, account.balance, account.apt_octas,
                dict(account.pending), account.covered,
            )
        return account

    def _commit(self, tx: _Tx) -> None:
        self.ledger_version = tx.version
        changes: list[Change] = []
        for order in tx.orders.values():
            record = self._order_record(order)
            self._order_records[order.order_id] = (record, order.filled, order.remaining)
            if len(self._order_records) > self._order_record_limit:
                self._order_records.popitem(last=False)
            self._history_of(order.owner).put_order(order.order_id, record)
            changes.append(Change("live_order_history", order.owner, record))
            tx.touch("order_history", order.owner)
        for owner, order_id, record, internal in tx.trades:
            market_id = int(record["market_id"])
            self._recent[market_id].append(record)
            self._fill_log[market_id].append((owner, order_id, record))
            tx.touch("recent_trades", record["market_id"])
            if not internal:
                self._history_of(owner).trades.append(record)
                changes.append(
                    Change("live_trade_history", owner, {**record, "order_id": str(order_id)})
                )
                tx.touch("trade_history", owner)
        for owner, record in tx.transfers:
            self._history_of(owner).transfers.append(record)
            tx.touch("deposit_withdraw_history", owner)
        for owner, record in tx.funding:
            self._history_of(owner).funding.append(record)
        changes.extend(Change(topic, key) for topic, key in tx.touched)
        for change in changes:
            for listener in list(self._listeners):
                try:
                    listener(change)
                except Exception:
                    log.exception("engine listener failed on %s", change.topic)

    # -- order placement -------------------------------------------------------------------------

    def _place(
        self, tx: _Tx, state: _Market, account: _Account, *, is_market: bool, trade_side: bool,
        direction: bool, lots: int, price: int, leverage: int, restriction: int,
        take_profit: int, stop_loss: int, order_type: OrderType | None = None,
    ) -> _Order:
        spec = state.spec
        available = 0
        if direction:
            position = self._position_of(state, account.profile, trade_side)
            available = position.lots - position.closing
            if available < lots:
                raise EngineAbort(
                    AbortCode.CLOSE_SIZE_EXCEEDS_POSITION,
                    f"close size {lots} lots exceeds the {available} lots of the position "
                    "not already being closed",
                )
        # Closing all that is left of a position is allowed below the minimum size.
        self._check_order(spec, is_market, lots, price, leverage, restriction, take_profit,
                          stop_loss, whole_rest=direction and lots == available)
        self._touch(tx, account)
        is_ask = trade_side == direction  # open short or close long sell; the others buy
        book = state.book
        limit = None if is_market else price
        if restriction == Restriction.POST_OR_ABORT and book.crosses(is_ask, price):
            raise _econia(AbortCode.E_POST_OR_ABORT_CROSSES_SPREAD, "post-or-abort order crosses")
        fillable = book.fillable(is_ask, limit, lots)
        if restriction == Restriction.FILL_OR_ABORT and fillable < lots:
            if fillable == 0:
                raise _econia(AbortCode.E_FILL_OR_ABORT_NOT_CROSS_SPREAD,
                              "fill-or-abort order does not cross the spread")
            raise _econia(AbortCode.E_MIN_BASE_NOT_TRADED,
                          f"fill-or-abort order could fill only {fillable} of {lots} lots")
        rests = not is_market and restriction in (0, 3) and fillable < lots
        state.order_counter += 1
        order_id = state.order_counter << 64
        if rests:
            state.access_counter += 1
            order_id |= state.access_counter
        self._trade_seq += 1
        order = _Order(
            order_id=order_id, owner=account.profile, is_ask=is_ask, price=price,
            remaining=lots, size=lots, market_id=spec.market_id, trade_side=trade_side,
            direction=direction, leverage=leverage,
            order_type=order_type or OrderType.of(
                is_market=is_market, trade_side=trade_side, direction=direction),
            is_market=is_market, take_profit=take_profit, stop_loss=stop_loss,
            trade_id=(self._trade_seq << 64) | spec.market_id, timestamp=tx.now,
            last_updated=tx.now, version=tx.version,
        )
        if direction:
            tx.keep_position(state, (account.profile, trade_side))
            state.positions[(account.profile, trade_side)].closing += lots
        elif not is_market:
            order.reserved = self._reserve(spec, price, lots, leverage)
            account.balance -= order.reserved
        try:
            fills = book.match(is_ask, limit, lots, account.profile)
        except SelfMatchError as exc:
            raise _econia(AbortCode.E_SELF_MATCH, str(exc)) from None
        for fill in fills:
            order.remaining -= fill.lots
            self._execute_fill(tx, state, order, fill.lots, fill.price, taker=True)
            maker = fill.maker
            self._execute_fill(tx, state, maker, fill.lots, fill.price, taker=False)
        if order.remaining and rests:
            book.add(order)
        elif order.remaining:
            self._release(state, account, order)
            order.status = "Partially Filled" if order.filled else "Cancelled"
        self._require_solvent(account)
        if account.internal:
            if fills or rests:
                self._touch_book(tx, state)
            return order
        tx.orders[order.order_id] = order
        if fills or rests:
            self._touch_book(tx, state)
        tx.touch("open_orders", account.profile)
        return order

    def _check_order(
        self, spec: MarketSpec, is_market: bool, lots: int, price: int, leverage: int,
        restriction: int, take_profit: int, stop_loss: int, *, whole_rest: bool = False,
    ) -> None:
        if lots <= 0 or (lots < spec.min_lots and not whole_rest):
            raise _econia(AbortCode.E_SIZE_TOO_SMALL,
                          f"size {lots} lots is below the minimum {spec.min_lots}")
        if lots > spec.max_lots:
            raise _econia(AbortCode.E_SIZE_BASE_OVERFLOW,
                          f"size {lots} lots is above the maximum {spec.max_lots}")
        if not 1 <= leverage <= spec.max_leverage:
            raise EngineAbort(AbortCode.INVALID_LEVERAGE,
                              f"leverage {leverage} is outside 1..{spec.max_leverage}")
        if not is_market:
            if price <= 0:
                raise _econia(AbortCode.E_PRICE_0, "price must be at least one tick")
            if price > MAX_PRICE_TICKS:
                raise _econia(AbortCode.E_PRICE_TOO_HIGH, f"price {price} ticks is too high")
            if restriction not in (0, 1, 2, 3):
                raise _econia(AbortCode.E_INVALID_RESTRICTION,
                              f"restriction {restriction} is not 0, 1, 2 or 3")
        for name, trigger in (("take profit", take_profit), ("stop loss", stop_loss)):
            if not 0 <= trigger <= MAX_PRICE_TICKS:
                raise EngineAbort(AbortCode.INVALID_TRIGGER_PRICE,
                                  f"{name} {trigger} ticks is out of range")

    @staticmethod
    def _reserve(spec: MarketSpec, price: int, lots: int, leverage: int) -> int:
        """Collateral an opening limit order holds back for ``lots`` unfilled lots: their
        margin plus their worst-case (taker) fee at its limit price, each rounded up. An
        order's ``reserved`` is always this for its ``remaining`` lots."""
        notional = spec.notional(lots, price)
        return _margin(notional, leverage) + _fee(notional, TAKER_FEE)

    def _execute_fill(
        self, tx: _Tx, state: _Market, order: _Order, lots: int, price: int, *, taker: bool
    ) -> None:
        """Book one side of a trade: fee, margin, position, pnl and the records."""
        spec = state.spec
        account = self._touch(tx, self._profiles[order.owner])
        notional = spec.notional(lots, price)
        fee = _fee(notional, TAKER_FEE if taker else MAKER_FEE)
        self.fees_collected += fee
        key = (order.owner, order.trade_side)
        if not taker:
            tx.keep_order(order)
        tx.keep_position(state, key)
        position = state.positions.get(key)
        if order.direction:  # closing
            assert position is not None
            entry = _share(position.entry_value, lots, position.lots)
            margin = _share(position.margin, lots, position.lots)
            gain = notional - entry if order.trade_side else entry - notional
            pnl = gain - fee
            position.lots -= lots
            position.closing -= lots
            position.entry_value -= entry
            position.margin -= margin
            position.version = tx.version
            account.pending[spec.market_id] = (
                account.pending.get(spec.market_id, 0) + margin + pnl
            )
            if position.lots == 0:
                del state.positions[key]
        else:  # opening
            if order.reserved:
                held = self._reserve(spec, order.price, order.remaining, order.leverage)
                account.balance += order.reserved - held
                order.reserved = held
            if taker:
                margin = _margin(notional, order.leverage)
            else:
                # A resting order fills at its own price: each fill takes the difference of
                # the rounded-up margin before and after it, so its fills add up to what it
                # held and never take more than they release.
                margin = (_margin(spec.notional(order.remaining + lots, price), order.leverage)
                          - _margin(spec.notional(order.remaining, price), order.leverage))
            account.balance -= margin + fee
            pnl = -fee
            if position is None:
                position = state.positions[key] = _Position(
                    owner=order.owner, market_id=spec.market_id, trade_side=order.trade_side,
                    lots=0, entry_value=0, margin=0, leverage=order.leverage,
                    trade_id=order.trade_id, timestamp=tx.now,
                )
            position.lots += lots
            position.entry_value += notional
            position.margin += margin
            position.leverage = order.leverage
            position.tp = order.take_profit or position.tp
            position.sl = order.stop_loss or position.sl
            position.version = tx.version
        order.filled += lots
        order.filled_value += notional
        order.last_updated = tx.now
        order.version = tx.version
        order.status = "Filled" if order.remaining == 0 else "Partially Filled"
        state.last_price = price
        record = {
            "address": order.owner,
            "trade_id": str(order.trade_id),
            "market_id": str(spec.market_id),
            "order_type": int(order.order_type),
            "size": _fmt(spec.size_of(lots)),
            "price": _fmt(spec.price_of(price)),
            "order_value": _money(notional),
            "leverage": order.leverage,
            "fee": _money(fee),
            "pnl": _money(pnl),
            "timestamp": tx.now,
            "last_updated": tx.now,
            "transaction_version": tx.version,
        }
        tx.trades.append((order.owner, order.order_id, record, account.internal))
        if not account.internal:
            tx.touch("positions", order.owner)
            if not taker:
                tx.orders[order.order_id] = order
                tx.touch("open_orders", order.owner)

    def _release(self, state: _Market, account: _Account, order: _Order) -> None:
        """Give back what an order held for its unfilled rest."""
        if order.direction:
            position = state.positions.get((order.owner, order.trade_side))
            if position is not None:
                position.closing -= order.remaining
        account.balance += order.reserved
        order.reserved = 0

    def _cancel(self, tx: _Tx, state: _Market, profile: str, order_id: int, side: bool) -> None:
        order = state.book.get(order_id)
        if order is None or order.owner != profile:
            raise EngineAbort(AbortCode.ORDER_NOT_FOUND,
                              f"order {order_id} is not an open order of this profile")
        if order.trade_side != side:
            raise EngineAbort(AbortCode.SIDE_MISMATCH,
                              f"order {order_id} has trade side {order.trade_side}, not {side}")
        state.book.remove(order_id)
        tx.keep_order(order)
        tx.keep_position(state, (profile, side))
        account = self._touch(tx, self._profiles[profile])
        self._release(state, account, order)
        order.status = "Cancelled"
        order.last_updated = tx.now
        order.version = tx.version
        self._touch_book(tx, state)
        if not account.internal:
            tx.orders[order_id] = order
            tx.touch("open_orders", profile)

    def _close_at_market(
        self, tx: _Tx, state: _Market, account: _Account, side: bool, order_type: OrderType
    ) -> None:
        """Cancel the position's resting close orders and close all of it against the book."""
        for order in list(self._resting(account.profile, state.spec.market_id)):
            if order.direction and order.trade_side == side:
                self._cancel(tx, state, account.profile, order.order_id, side)
        position = state.positions.get((account.profile, side))
        if position is None:
            # An earlier close in the same step (another trigger selling into this
            # position's resting close order) already closed it: nothing is left to close.
            return
        self._place(
            tx, state, account, is_market=True, trade_side=side, direction=True,
            lots=position.lots, price=0, leverage=position.leverage,
            restriction=Restriction.IMMEDIATE_OR_CANCEL, take_profit=0, stop_loss=0,
            order_type=order_type,
        )

    def _update_trigger(
        self, wallet: str, market_id: int, trade_side: bool, price: int, *, take_profit: bool
    ) -> None:
        if not 0 <= price <= MAX_PRICE_TICKS:
            raise EngineAbort(AbortCode.INVALID_TRIGGER_PRICE, f"price {price} ticks out of range")
        with self._transaction(market_id) as tx:
            account = self._account(wallet)
            state = self._state[market_id]
            position = self._position_of(state, account.profile, trade_side)
            tx.keep_position(state, (account.profile, trade_side))
            if take_profit:
                position.tp = price
            else:
                position.sl = price
            position.version = tx.version
            tx.touch("positions", account.profile)

    # -- background --------------------------------------------------------------------------------

    def _market_maker_step(self, state: _Market, now: float) -> None:
        assert self.market_maker is not None
        mm = self.market_maker
        spec = state.spec
        mm.move(spec.market_id)
        with self._transaction(spec.market_id, now=now, atomic=False) as tx:
            maker = self._mm_maker
            wanted = mm.ladder(spec)
            keep = set(wanted)
            quoted = set()
            for order in state.book.owned(maker.profile):
                if (order.is_ask, order.price) in keep:
                    quoted.add((order.is_ask, order.price))
                else:
                    self._cancel(tx, state, maker.profile, order.order_id, order.trade_side)
            for is_ask, price in wanted:
                if (is_ask, price) not in quoted:
                    quote = mm.quote(spec, is_ask, price)
                    self._internal_order(tx, state, maker, quote.is_ask, quote.price, quote.lots)
            for trade in mm.trades(spec, self._net_lots(state, maker.profile)):
                self._internal_order(tx, state, self._mm_taker, trade.is_ask, None, trade.lots)
            for account in (maker, self._mm_taker):
                self._net_hedge(state, account)

    @staticmethod
    def _net_lots(state: _Market, profile: str) -> int:
        """``profile``'s long minus short lots in the market."""
        long, short = state.positions.get((profile, True)), state.positions.get((profile, False))
        return (0 if long is None else long.lots) - (0 if short is None else short.lots)

    def _net_hedge(self, state: _Market, account: _Account) -> None:
        """Offset an internal account's long against its short (what is not being closed):
        the background liquidity carries one net position per market, not two ever-growing
        ones. The pnl of closing both at any price is the difference of their entry values."""
        key_long, key_short = (account.profile, True), (account.profile, False)
        long, short = state.positions.get(key_long), state.positions.get(key_short)
        if long is None or short is None:
            return
        lots = min(long.lots - long.closing, short.lots - short.closing)
        if lots <= 0:
            return
        released = 0
        for key, position in ((key_long, long), (key_short, short)):
            entry = _share(position.entry_value, lots, position.lots)
            margin = _share(position.margin, lots, position.lots)
            released += margin + (-entry if position.trade_side else entry)
            position.lots -= lots
            position.entry_value -= entry
            position.margin -= margin
            if position.lots == 0:
                del state.positions[key]
        account.balance += released

    def _internal_order(
        self, tx: _Tx, state: _Market, account: _Account, is_ask: bool, price: int | None,
        lots: int,
    ) -> None:
        """An order of an internal account: closes its opposite position first, else opens."""
        closing_side = is_ask  # a sell closes a long, a buy closes a short
        position = state.positions.get((account.profile, closing_side))
        direction = position is not None and position.lots - position.closing >= lots
        trade_side = closing_side if direction else not is_ask
        try:
            self._place(
                tx, state, account, is_market=price is None, trade_side=trade_side,
                direction=direction, lots=lots, price=price or 0, leverage=1,
                restriction=Restriction.NO_RESTRICTION if price else 2,
                take_profit=0, stop_loss=0,
            )
        except EngineAbort as exc:  # e.g. the book is empty on that side
            log.debug("market maker order skipped: %s", exc)

    def _trigger_step(self, state: _Market, now: float) -> None:
        last = state.last_price
        if last is None:
            return
        for (profile, side), position in list(state.positions.items()):
            account = self._profiles[profile]
            if account.internal or not (position.tp or position.sl):
                continue
            hit_tp = position.tp and (last >= position.tp if side else last <= position.tp)
            hit_sl = position.sl and (last <= position.sl if side else last >= position.sl)
            if not (hit_tp or hit_sl):
                continue
            try:
                with self._transaction(state.spec.market_id, now=now) as tx:
                    self._close_at_market(
                        tx, self._state[state.spec.market_id], account, side,
                        OrderType.trigger(side),
                    )
            except EngineAbort as exc:  # stays armed; tried again next step
                log.debug("trigger of %s side %s not executed: %s", profile, side, exc)
            state = self._state[state.spec.market_id]

    def _liquidation_step(self, state: _Market, now: float) -> None:
        if state.last_price is None:
            return
        spec = state.spec
        mark = state.last_price
        bps = spec.maintenance_margin_bps
        doomed = [
            p for (profile, _), p in state.positions.items()
            if not self._profiles[profile].internal
            and self._equity(spec, p, mark) * 10_000 <= spec.notional(p.lots, mark) * bps
        ]
        if not doomed:
            return
        with self._transaction(spec.market_id, now=now) as tx:
            state = self._state[spec.market_id]
            for stale in doomed:
                position = state.positions[(stale.owner, stale.trade_side)]
                self._liquidate(tx, state, position, mark)

    def _liquidate(self, tx: _Tx, state: _Market, position: _Position, mark: int) -> None:
        """Close ``position`` at ``mark``: the liquidator (the market maker's account) takes it
        over at that price; of the equity left, half goes back to the owner, 20 % to the
        insurance fund and the rest to the liquidator. A negative equity is the insurance
        fund's loss."""
        spec = state.spec
        account = self._touch(tx, self._profiles[position.owner])
        for order in list(self._resting(position.owner, spec.market_id)):
            if order.direction and order.trade_side == position.trade_side:
                self._cancel(tx, state, position.owner, order.order_id, order.trade_side)
        equity = self._equity(spec, position, mark)
        refund = max(equity, 0) * LIQUIDATION_REFUND_PCT // 100
        insurance = equity * LIQUIDATION_INSURANCE_PCT // 100 if equity > 0 else equity
        liquidator = self._touch(tx, self._mm_maker)
        liquidator.balance += equity - refund - insurance
        self.insurance_fund += insurance
        account.pending[spec.market_id] = account.pending.get(spec.market_id, 0) + refund
        tx.keep_position(state, (position.owner, position.trade_side))
        del state.positions[(position.owner, position.trade_side)]
        value = spec.notional(position.lots, mark)
        key = (liquidator.profile, position.trade_side)
        tx.keep_position(state, key)
        taken = state.positions.get(key)
        if taken is None:
            taken = state.positions[key] = _Position(
                owner=liquidator.profile, market_id=spec.market_id,
                trade_side=position.trade_side, lots=0, entry_value=0, margin=0, leverage=1,
                trade_id=position.trade_id, timestamp=tx.now,
            )
        taken.lots += position.lots
        taken.entry_value += value
        taken.version = tx.version
        state.order_counter += 1
        self._trade_seq += 1
        size = spec.size_of(position.lots)
        order = _Order(
            order_id=state.order_counter << 64, owner=position.owner,
            is_ask=position.trade_side, price=0, remaining=0, size=position.lots,
            market_id=spec.market_id, trade_side=position.trade_side, direction=True,
            leverage=position.leverage, order_type=OrderType.liquidation(position.trade_side),
            is_market=True, take_profit=0, stop_loss=0,
            trade_id=(self._trade_seq << 64) | spec.market_id, timestamp=tx.now,
            filled=position.lots, filled_value=value, status="Filled",
            last_updated=tx.now, version=tx.version,
        )
        tx.orders[order.order_id] = order
        record = {
            "address": position.owner,
            "trade_id": str(position.trade_id),
            "market_id": str(spec.market_id),
            "order_type": int(order.order_type),
            "size": _fmt(size),
            "price": _fmt(spec.price_of(mark)),
            "order_value": _money(value),
            "leverage": position.leverage,
            "fee": "0",
            "pnl": _money(refund - position.margin),
            "timestamp": tx.now,
            "last_updated": tx.now,
            "transaction_version": tx.version,
        }
        tx.trades.append((position.owner, order.order_id, record, False))
        tx.touch("positions", position.owner)

    def _funding_step(self, now: float) -> None:
        """Charge every position the current rate, then publish each market's next rate."""
        with self._transaction(*self._state, now=now, atomic=False) as tx:
            for market_id, state in self._state.items():
                funding = self._funding[market_id]
                mark = state.last_price
                if funding.rate and mark is not None:
                    num, den = funding.rate.as_integer_ratio()
                    paid = 0
                    for (profile, side), position in state.positions.items():
                        account = self._touch(tx, self._profiles[profile])
                        notional = state.spec.notional(position.lots, mark)
                        # Rounded down from the holder's view: a payer pays the part
                        # sub-unit, a receiver does not get it; the insurance fund keeps it.
                        amount = (-notional if side else notional) * num // den
                        paid -= amount
                        if account.internal:
                            account.balance += amount
                            continue
                        account.pending[market_id] = account.pending.get(market_id, 0) + amount
                        tx.funding.append((profile, {
                            "address": profile,
                            "market_id": str(market_id),
                            "trade_side": side,
                            "funding_rate": _fmt(funding.rate),
                            "amount": _money(amount),
                            "timestamp": tx.now,
                            "transaction_version": tx.version,
                        }))
                    self.insurance_fund += paid
                    funding.funding_timestamp = tx.now
                funding.rate = self._next_funding_rate()
                funding.updated = tx.now
                funding.version = tx.version
            tx.touch("live_funding_rate", None)

    def _next_funding_rate(self) -> Decimal:
        """A small seeded rate in [-0.0005, 0.0005], 6 decimals."""
        return Decimal(self._rng.randint(-500, 500)).scaleb(-6)

    # -- helpers ---------------------------------------------------------------------------------

    def _resting(self, profile: str, market_id: int | None) -> list[_Order]:
        states = self._state.values() if market_id is None else [self._market(market_id)]
        out = [o for state in states for o in state.book.owned(profile)]
        out.sort(key=lambda o: (o.market_id, o.timestamp, o.order_id))
        return out

    def _position_of(self, state: _Market, profile: str, trade_side: bool) -> _Position:
        position = state.positions.get((profile, trade_side))
        if position is None:
            side = "long" if trade_side else "short"
            raise EngineAbort(AbortCode.NO_POSITION,
                              f"no {side} position in market {state.spec.market_id}")
        return position

    @staticmethod
    def _equity(spec: MarketSpec, position: _Position, mark: int) -> int:
        """Margin plus unrealised pnl at ``mark`` ticks, in quote sub-units."""
        now = spec.notional(position.lots, mark)
        gain = now - position.entry_value if position.trade_side else position.entry_value - now
        return position.margin + gain

    def _require_solvent(self, account: _Account) -> None:
        """Draw pending balances into a negative free balance, or abort."""
        if account.balance >= 0:
            return
        for market_id in sorted(account.pending):
            if account.pending[market_id] > 0:
                self._settle(account, market_id)
                if account.balance >= 0:
                    return
        raise EngineAbort(
            AbortCode.INSUFFICIENT_BALANCE,
            f"insufficient collateral: short by {_money(-account.balance)}",
        )

    def _settle(self, account: _Account, market_id: int) -> None:
        amount = account.pending.pop(market_id, 0)
        account.balance += amount
        if amount < 0 and account.balance < 0:
            # A loss beyond the position's margin is absorbed by the insurance fund.
            self.insurance_fund += account.balance
            account.covered -= account.balance
            account.balance = 0

    @staticmethod
    def _check_amount(amount: int) -> None:
        if amount <= 0:
            raise EngineAbort(AbortCode.INVALID_AMOUNT, f"amount {amount} must be positive")

    def _transfer(self, tx: _Tx, account: _Account, value: int, *, is_deposit: bool) -> None:
        tx.transfers.append((account.profile, {
            "address": account.profile,
            "amount": _money(value),
            "is_deposit": is_deposit,
            "timestamp": tx.now,
            "last_updated": tx.now,
            "transaction_version": tx.version,
        }))

    def _touch_book(self, tx: _Tx, state: _Market) -> None:
        state.book_updated = tx.now
        state.book_version = tx.version
        key = str(state.spec.market_id)
        tx.touch("orderbook", key)
        tx.touch("best_price", key)

    def _order_record(self, order: _Order) -> dict[str, Any]:
        spec = self.markets[order.market_id]
        if order.is_market:  # the average fill price, to the nearest tick (ties to even)
            ticks = _half_even_div(order.filled_value, order.filled * spec.tick_size) if (
                order.filled) else self._state[order.market_id].last_price or 0
        else:
            ticks = order.price
        price = spec.price_of(ticks)
        size = spec.size_of(order.size)
        return {
            "address": order.owner,
            "order_id": str(order.order_id),
            "market_id": str(order.market_id),
            "order_type": int(order.order_type),
            "is_market_order": order.is_market,
            "size": _fmt(size),
            "price": _fmt(price),
            "order_value": _money(order.filled_value if order.is_market
                                  else spec.notional(order.size, order.price)),
            "leverage": order.leverage,
            "status": order.status,
            "timestamp": order.timestamp,
            "last_updated": order.last_updated,
            "trade_id": str(order.trade_id),
            "transaction_version": order.version,
        }

    def _open_order_record(self, order: _Order) -> dict[str, Any]:
        spec = self.markets[order.market_id]
        price = spec.price_of(order.price)
        total = spec.size_of(order.size)
        return {
            "address": order.owner,
            "order_id": str(order.order_id),
            "market_id": str(order.market_id),
            "order_type": int(order.order_type),
            "price": _fmt(price),
            "total_size": _fmt(total),
            "remaining_size": _fmt(spec.size_of(order.remaining)),
            "order_value": _money(spec.notional(order.size, order.price)),
            "leverage": order.leverage,
            "timestamp": order.timestamp,
            "last_updated": order.last_updated,
            "trade_id": str(order.trade_id),
            "transaction_version": order.version,
        }

    def _position_record(self, spec: MarketSpec, position: _Position) -> dict[str, Any]:
        # Prices to the nearest tick (ties to even): the average entry price and the price at
        # which equity meets the maintenance margin, (entry x size -/+ margin) /
        # (size x (1 -/+ maintenance rate)) for a long/short. Both are display figures: money
        # moves by the exact entry value and margin.
        per_tick = position.lots * spec.tick_size  # quote sub-units per tick of price
        bps = spec.maintenance_margin_bps
        entry = _half_even_div(position.entry_value, per_tick)
        if position.trade_side:
            liq = _half_even_div(10_000 * max(position.entry_value - position.margin, 0),
                                 per_tick * (10_000 - bps))
        else:
            liq = _half_even_div(10_000 * (position.entry_value + position.margin),
                                 per_tick * (10_000 + bps))
        return {
            "address": position.owner,
            "market_id": str(position.market_id),
            "trade_id": str(position.trade_id),
            "size": _fmt(spec.size_of(position.lots)),
            "entry_price": _fmt(spec.price_of(entry)),
            "value": _money(position.entry_value),
            "leverage": position.leverage,
            "margin": _money(position.margin),
            "liq_price": _fmt(spec.price_of(liq)),
            "available_order_size": _fmt(spec.size_of(position.lots - position.closing)),
            "trade_side": position.trade_side,
            "sl": _fmt(spec.price_of(position.sl)) if position.sl else None,
            "tp": _fmt(spec.price_of(position.tp)) if position.tp else None,
            "timestamp": position.timestamp,
            "transaction_version": position.version,
        }
