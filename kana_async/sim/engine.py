"""The simulated Kana exchange: order books, hedge-mode positions, margin, funding, liquidation.

In memory, synchronous and deterministic under a seed (and an injectable clock): the REST,
WebSocket and node servers around it are thin. :class:`Engine` is the one object they use; it
is assembled from one module per concept, each a layer over the one before:

* :mod:`.state`: accounts, markets, positions, orders and records as domain values (integers);
* :mod:`.ledger`: the state's owner and the all-or-nothing transaction, its commit and audit;
* :mod:`.risk`: margin, fees, equity, liquidation and funding arithmetic (pure functions);
* :mod:`.core`: placing, matching and cancelling orders;
* :mod:`.views` and :mod:`.records`: the queries, and the domain values as wire records;
* this module: the engine itself, with the funds transactions and the background step (the
  market maker, TP/SL triggers, liquidations and funding).

Execution methods take the on-chain integers a transaction carries and raise
:class:`EngineAbort` leaving everything as it was; views answer in the documented wire shapes,
human units, JSON-ready. A liquidated position is taken over by the
liquidator (the market maker's account) at the mark price and what is left of its margin is
split 20 % insurance fund, 30 % liquidator, 50 % back to the user.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from decimal import Decimal

from .core import Core
from .ledger import Audit, Tx
from .market_maker import MarketMaker, MarketMakerConfig
from .markets import MarketSpec, OrderType, Restriction
from .records import Change, money
from .risk import (
    MAKER_FEE,
    TAKER_FEE,
    equity,
    funding_amount,
    liquidatable,
    liquidation_shares,
    share,
)
from .state import (
    AbortCode,
    Account,
    EngineAbort,
    Fill,
    FundingPayment,
    Market,
    Order,
    Position,
)
from .views import Views

__all__ = [
    "MAKER_FEE",
    "TAKER_FEE",
    "AbortCode",
    "Audit",
    "Change",
    "Engine",
    "EngineAbort",
    "MarketMakerConfig",
    "MarketSpec",
]

log = logging.getLogger(__name__)


class Engine(Core, Views):
    """The exchange. Synchronous; the servers call it from one event loop thread.

    Execution methods (:meth:`deposit`, :meth:`place_limit_order`...) take the on-chain
    integers a transaction carries and raise :class:`~kana_async.sim.engine.EngineAbort` (a
    Move abort code and its reason) leaving everything as it was; the views answer in the
    documented wire shapes.
    """

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
        super().__init__(
            clock=clock, faucet_quote=faucet_quote, faucet_apt_octas=faucet_apt_octas,
            markets=markets, recent_trades_limit=recent_trades_limit,
            fill_log_limit=fill_log_limit, history_limit=history_limit,
            order_record_limit=order_record_limit,
        )
        self.funding_interval = funding_interval
        self._next_funding: float | None = None
        self._rng = random.Random(seed ^ 0x5EED)
        self.market_maker = (
            MarketMaker(self.markets, seed, market_maker) if market_maker is not None else None
        )
        self._mm_maker = self._internal_account("kana_sim_market_maker")
        self._mm_taker = self._internal_account("kana_sim_flow_taker")

    # -- execution: funds ------------------------------------------------------------------------

    def deposit(self, wallet: str, amount: int) -> None:
        """Move ``amount`` quote units from the wallet into the trading profile."""
        self._check_amount(amount)
        with self._transaction() as tx:
            account = self._touch(tx, self._account(wallet))
            if account.wallet_balance < amount:
                raise EngineAbort(
                    AbortCode.INSUFFICIENT_BALANCE,
                    f"wallet holds {money(account.wallet_balance)}, cannot deposit "
                    f"{money(amount)}",
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
                    f"free collateral is {money(account.balance)}, cannot withdraw "
                    f"{money(amount)}",
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

    # -- background --------------------------------------------------------------------------------

    def _market_maker_step(self, state: Market, now: float) -> None:
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
    def _net_lots(state: Market, profile: str) -> int:
        """``profile``'s long minus short lots in the market."""
        long, short = state.positions.get((profile, True)), state.positions.get((profile, False))
        return (0 if long is None else long.lots) - (0 if short is None else short.lots)

    def _net_hedge(self, state: Market, account: Account) -> None:
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
            entry = share(position.entry_value, lots, position.lots)
            margin = share(position.margin, lots, position.lots)
            released += margin + (-entry if position.trade_side else entry)
            position.lots -= lots
            position.entry_value -= entry
            position.margin -= margin
            if position.lots == 0:
                del state.positions[key]
        account.balance += released

    def _internal_order(
        self, tx: Tx, state: Market, account: Account, is_ask: bool, price: int | None,
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

    def _trigger_step(self, state: Market, now: float) -> None:
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

    def _liquidation_step(self, state: Market, now: float) -> None:
        if state.last_price is None:
            return
        spec = state.spec
        mark = state.last_price
        doomed = liquidatable(spec, state.positions, self._profiles, mark)
        if not doomed:
            return
        with self._transaction(spec.market_id, now=now) as tx:
            state = self._state[spec.market_id]
            for stale in doomed:
                position = state.positions[(stale.owner, stale.trade_side)]
                self._liquidate(tx, state, position, mark)

    def _liquidate(self, tx: Tx, state: Market, position: Position, mark: int) -> None:
        """Close ``position`` at ``mark``: the liquidator (the market maker's account) takes it
        over at that price; of the equity left, half goes back to the owner, 20 % to the
        insurance fund and the rest to the liquidator. A negative equity is the insurance
        fund's loss."""
        spec = state.spec
        account = self._touch(tx, self._profiles[position.owner])
        for order in list(self._resting(position.owner, spec.market_id)):
            if order.direction and order.trade_side == position.trade_side:
                self._cancel(tx, state, position.owner, order.order_id, order.trade_side)
        refund, insurance, kept = liquidation_shares(equity(spec, position, mark))
        liquidator = self._touch(tx, self._mm_maker)
        liquidator.balance += kept
        self.insurance_fund += insurance
        account.pending[spec.market_id] = account.pending.get(spec.market_id, 0) + refund
        tx.keep_position(state, (position.owner, position.trade_side))
        del state.positions[(position.owner, position.trade_side)]
        value = spec.notional(position.lots, mark)
        key = (liquidator.profile, position.trade_side)
        tx.keep_position(state, key)
        taken = state.positions.get(key)
        if taken is None:
            taken = state.positions[key] = Position(
                owner=liquidator.profile, market_id=spec.market_id,
                trade_side=position.trade_side, lots=0, entry_value=0, margin=0, leverage=1,
                trade_id=position.trade_id, timestamp=tx.now,
            )
        taken.lots += position.lots
        taken.entry_value += value
        taken.version = tx.version
        state.order_counter += 1
        self._trade_seq += 1
        order = Order(
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
        tx.fills.append(Fill(
            spec=spec, owner=position.owner, order_id=order.order_id,
            trade_id=position.trade_id, order_type=int(order.order_type), lots=position.lots,
            price=mark, value=value, leverage=position.leverage, fee=0,
            pnl=refund - position.margin, timestamp=tx.now, version=tx.version,
        ))
        tx.touch("positions", position.owner)

    def _funding_step(self, now: float) -> None:
        """Charge every position the current rate, then publish each market's next rate."""
        with self._transaction(*self._state, now=now, atomic=False) as tx:
            for market_id, state in self._state.items():
                funding = self._funding[market_id]
                mark = state.last_price
                if funding.rate and mark is not None:
                    paid = 0
                    for (profile, side), position in state.positions.items():
                        account = self._touch(tx, self._profiles[profile])
                        amount = funding_amount(state.spec.notional(position.lots, mark),
                                                side, funding.rate)
                        paid -= amount
                        if account.internal:
                            account.balance += amount
                            continue
                        account.pending[market_id] = account.pending.get(market_id, 0) + amount
                        tx.funding.append(FundingPayment(
                            profile, market_id, side, funding.rate, amount, tx.now, tx.version,
                        ))
                    self.insurance_fund += paid
                    funding.funding_timestamp = tx.now
                funding.rate = self._next_funding_rate()
                funding.updated = tx.now
                funding.version = tx.version
            tx.touch("live_funding_rate", None)

    def _next_funding_rate(self) -> Decimal:
        """A small seeded rate in [-0.0005, 0.0005], 6 decimals."""
        return Decimal(self._rng.randint(-500, 500)).scaleb(-6)

