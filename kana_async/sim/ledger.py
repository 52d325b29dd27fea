"""The simulated exchange's ledger: every account, market and record, and the transaction that
changes them all or nothing.

:class:`Ledger` holds the state (:mod:`.state` values) and the journal: a block run in
:meth:`Ledger._transaction` is undone on any exception and, on success, committed as one
ledger version whose records are stored and whose :class:`~.records.Change` values are
published to the listeners (the indexer server). The engine core (:mod:`.engine`) and the
views (:mod:`.views`) build on it.

Accounting model (the documents leave it open; this is the simulator's choice):

* a wallet holds quote coin not yet deposited (``wallet_balance``) and APT for gas;
* its trading profile holds free collateral (``profile_balance``); margin of positions and of
  resting opening orders (margin + worst-case taker fee) is taken out of it;
* closing trades, liquidation refunds and funding payments land in a per-market *pending*
  balance; ``settle_pnl`` (and any withdrawal from that market) moves it into the free
  collateral, and new orders draw on it automatically when the free collateral is short;
  ``net_profile_balance`` is free collateral plus every pending balance;
* positions are isolated: each holds its own margin and is liquidated when its equity falls to
  the maintenance margin (:mod:`.risk`).

Money is whole: every amount is an integer number of the quote coin's sub-units (6 decimals),
and fees, funding remainders and losses beyond a margin go to the house (``fees_collected``,
``insurance_fund``), so :meth:`Ledger.audit` balances exactly.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from functools import partial

from ..config import KANA_PACKAGE_ADDRESS
from ..models.common import normalize_address
from .book import Undo
from .markets import DEFAULT_MARKETS, QUOTE_DECIMALS, MarketSpec, quote_units
from .records import Change, money
from .state import (
    ORDER_FIELDS,
    AbortCode,
    Account,
    EngineAbort,
    Fill,
    FundingPayment,
    FundingState,
    History,
    Market,
    Order,
    OrderSnapshot,
    Position,
    Transfer,
    restore_order,
    restore_position,
)

__all__ = ["Audit", "Ledger", "Tx"]

log = logging.getLogger(__name__)


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
        """Every place quote coin can be, summed (sub-units)."""
        return (self.wallets + self.free + self.pending + self.reserved + self.margins
                + self.unrealized_pnl + self.fees + self.insurance)

    @property
    def balanced(self) -> bool:
        """Whether ``held == minted`` and every market's long and short lots match."""
        return self.held == self.minted and not any(self.open_lots.values())


class Tx:
    """A transaction in progress: the undo data and what to publish on commit."""

    def __init__(self, version: int, now: int) -> None:
        self.version = version
        self.now = now
        self.saved_accounts: dict[str, tuple[int, int, int, dict[int, int], int]] = {}
        self.saved_house: tuple[int, int] = (0, 0)
        #: Atomic transactions only: what reverts every change to markets, latest last.
        self.undo: list[Undo] | None = None
        self.kept: set[tuple[int, object]] = set()  # orders and positions already in ``undo``
        self.markets: list[Market] = []
        self.orders: dict[int, Order] = {}  # latest state of every order touched
        self.fills: list[Fill] = []
        self.transfers: list[Transfer] = []
        self.funding: list[FundingPayment] = []
        self.touched: dict[tuple[str, str | None], None] = {}

    def touch(self, topic: str, key: str | None) -> None:
        self.touched[(topic, key)] = None

    def keep_order(self, order: Order) -> None:
        """Let an abort restore ``order``'s fields as they are now (first call only)."""
        if self.undo is not None and (order.market_id, order.order_id) not in self.kept:
            self.kept.add((order.market_id, order.order_id))
            self.undo.append(partial(restore_order, order, ORDER_FIELDS(order)))

    def keep_position(self, state: Market, key: tuple[str, bool]) -> None:
        """Let an abort restore position ``key`` as it is now, or its absence."""
        if self.undo is not None and (state.spec.market_id, key) not in self.kept:
            self.kept.add((state.spec.market_id, key))
            position = state.positions.get(key)
            saved = None if position is None else position.copy()
            self.undo.append(partial(restore_position, state.positions, key, saved))


class Ledger:
    """Accounts, markets, records and the journal; synchronous, one event loop thread."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        faucet_quote: Decimal = Decimal(100_000),
        faucet_apt_octas: int = 10 * 10**8,
        markets: Iterable[MarketSpec] | None = None,
        recent_trades_limit: int = 50,
        fill_log_limit: int = 10_000,
        history_limit: int = 1_000,
        order_record_limit: int = 100_000,
    ) -> None:
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
        self._state = {m: Market(spec) for m, spec in self.markets.items()}
        self._accounts: dict[str, Account] = {}  # by wallet
        self._profiles: dict[str, Account] = {}  # by profile
        self._history: dict[str, History] = {}
        self._history_limit = history_limit
        self._order_records: OrderedDict[int, OrderSnapshot] = OrderedDict()
        self._order_record_limit = order_record_limit
        self._recent: dict[int, deque[Fill]] = {
            m: deque(maxlen=recent_trades_limit) for m in self.markets
        }
        self._fill_log: dict[int, deque[Fill]] = {
            m: deque(maxlen=fill_log_limit) for m in self.markets
        }
        self._funding = {m: FundingState() for m in self.markets}
        self._listeners: list[Callable[[Change], None]] = []
        #: Numbers every order's trade id (with the market id in its low 64 bits).
        self._trade_seq = 0

    # -- wallets and listeners -----------------------------------------------------------------

    def add_listener(self, fn: Callable[[Change], None]) -> Callable[[], None]:
        """Call ``fn`` with every :class:`~kana_async.sim.engine.Change`; returns a function
        that removes it."""
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

    def _fresh(self, wallet: str) -> Account:
        """What the faucet gives a wallet it has not seen: not stored."""
        return Account(wallet, self.profile_address(wallet), self._faucet_units, 0,
                       self.faucet_apt_octas)

    def _peek(self, wallet: str) -> Account:
        """The wallet's account for a view: a wallet never seen answers as a fresh one, and
        nothing is stored, so that queries of any number of addresses cost no memory."""
        wallet = normalize_address(wallet, param="wallet")
        return self._accounts.get(wallet) or self._fresh(wallet)

    def _account(self, wallet: str) -> Account:
        """The wallet's account for a transaction: created (funded) on first use."""
        wallet = normalize_address(wallet, param="wallet")
        account = self._accounts.get(wallet)
        if account is None:
            account = self._fresh(wallet)
            self.minted += account.wallet_balance
            self._accounts[wallet] = self._profiles[account.profile] = account
        return account

    def _internal_account(self, name: str) -> Account:
        wallet = "0x" + hashlib.sha3_256(name.encode()).hexdigest()
        account = self._account(wallet)
        account.internal = True
        account.balance = quote_units(Decimal(10) ** 15)
        self.minted += account.balance
        return account

    def _market(self, market_id: int) -> Market:
        state = self._state.get(market_id)
        if state is None:
            raise EngineAbort(AbortCode.UNKNOWN_MARKET, f"unknown market {market_id}")
        return state

    def _resting(self, profile: str, market_id: int | None) -> list[Order]:
        states = self._state.values() if market_id is None else [self._market(market_id)]
        out = [o for state in states for o in state.book.owned(profile)]
        out.sort(key=lambda o: (o.market_id, o.timestamp, o.order_id))
        return out

    def _position_of(self, state: Market, profile: str, trade_side: bool) -> Position:
        position = state.positions.get((profile, trade_side))
        if position is None:
            side = "long" if trade_side else "short"
            raise EngineAbort(AbortCode.NO_POSITION,
                              f"no {side} position in market {state.spec.market_id}")
        return position

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

    # -- collateral ------------------------------------------------------------------------------

    def _require_solvent(self, account: Account) -> None:
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
            f"insufficient collateral: short by {money(-account.balance)}",
        )

    def _settle(self, account: Account, market_id: int) -> None:
        amount = account.pending.pop(market_id, 0)
        account.balance += amount
        if amount < 0 and account.balance < 0:
            # A loss beyond the position's margin is absorbed by the insurance fund.
            self.insurance_fund += account.balance
            account.covered -= account.balance
            account.balance = 0

    # -- transactions --------------------------------------------------------------------------

    @contextmanager
    def _transaction(
        self, *market_ids: int, now: float | None = None, atomic: bool = True
    ) -> Iterator[Tx]:
        """Run a block as one ledger transaction: undone on any exception, published on success."""
        for market_id in market_ids:
            self._market(market_id)
        tx = Tx(self.ledger_version + 1, int(self._clock() if now is None else now))
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

    def _undo(self, tx: Tx) -> None:
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

    def _history_of(self, profile: str) -> History:
        history = self._history.get(profile)
        if history is None:
            history = self._history[profile] = History(self._history_limit)
        return history

    def _touch(self, tx: Tx, account: Account) -> Account:
        """Remember ``account``'s balances before the transaction first changes them."""
        if account.profile not in tx.saved_accounts:
            tx.saved_accounts[account.profile] = (
                account.wallet_balance, account.balance, account.apt_octas,
                dict(account.pending), account.covered,
            )
        return account

    def _touch_book(self, tx: Tx, state: Market) -> None:
        state.book_updated = tx.now
        state.book_version = tx.version
        key = str(state.spec.market_id)
        tx.touch("orderbook", key)
        tx.touch("best_price", key)

    def _commit(self, tx: Tx) -> None:
        self.ledger_version = tx.version
        changes: list[Change] = []
        for order in tx.orders.values():
            snapshot = OrderSnapshot.of(order, self.markets[order.market_id],
                                        self._state[order.market_id].last_price)
            self._order_records[order.order_id] = snapshot
            if len(self._order_records) > self._order_record_limit:
                self._order_records.popitem(last=False)
            self._history_of(order.owner).put_order(snapshot)
            changes.append(Change("live_order_history", order.owner, snapshot))
            tx.touch("order_history", order.owner)
        for fill in tx.fills:
            market_id = fill.spec.market_id
            self._recent[market_id].append(fill)
            self._fill_log[market_id].append(fill)
            tx.touch("recent_trades", str(market_id))
            if not fill.internal:
                self._history_of(fill.owner).trades.append(fill)
                changes.append(Change("live_trade_history", fill.owner, fill))
                tx.touch("trade_history", fill.owner)
        for transfer in tx.transfers:
            self._history_of(transfer.owner).transfers.append(transfer)
            tx.touch("deposit_withdraw_history", transfer.owner)
        for payment in tx.funding:
            self._history_of(payment.owner).funding.append(payment)
        changes.extend(Change(topic, key) for topic, key in tx.touched)
        for change in changes:
            for listener in list(self._listeners):
                try:
                    listener(change)
                except Exception:
                    log.exception("engine listener failed on %s", change.topic)
