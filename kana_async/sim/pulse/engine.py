"""The Pulse gateway's trading engine: accounts, orders, matching, funding (pure, synchronous).

Fed with values and a clock, it keeps one price-time :class:`~kana_async.sim.book.OrderBook` per
instrument, the accounts' money (:mod:`.accounts`) and bounded histories, and publishes
:class:`~.domain.Event` values that the channel layer reads with :meth:`PulseEngine.events_since`.

Every mutating call is all-or-nothing: it runs in a transaction whose journal (shared with the
books) undoes every change when a rule refuses it, and its events are published only on success.

The engine is split by concept: this module enters, matches and cancels orders inside
transactions; :mod:`.entry` checks order parameters; :mod:`.accounts` owns the money;
:mod:`.queries` holds the state and answers every read; :mod:`.history` has the read helpers
(candles, 24 h stats); :mod:`.market` runs what happens with time (index, marks, triggers,
expiry, funding, liquidation) and drives the :mod:`.market_maker` planner.
"""

from __future__ import annotations

import copy
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal

from ..book import OrderBook, SelfMatchError
from .accounts import (
    MAKER_FEE,
    TAKER_FEE,
    Journal,
    Ledger,
    coin,
    fee_of,
)
from .domain import (
    Account,
    Deposit,
    Direction,
    Event,
    FundingRound,
    MMPConfig,
    Order,
    Settlement,
    Trade,
)
from .entry import number, order_terms
from .errors import Code, PulseError
from .history import CLOSED_STATES, next_0800_ms
from .instruments import DEFAULT_INSTRUMENTS, Instrument, by_name
from .market import Background
from .market_maker import FLOW_ACCOUNT, INTERNAL_PREFIX, MAKER_ACCOUNT, MarketMaker
from .queries import Queries

__all__ = ["DEFAULT_FAUCET", "PulseEngine"]

DEFAULT_FAUCET: Mapping[str, Decimal] = {"BTC": Decimal(10), "ETH": Decimal(100)}
#: The internal accounts start with this many times the faucet (they are never margin-checked).
_INTERNAL_FUNDS = 1000


class PulseEngine(Queries):
    """Simulated Pulse v2 exchange state. Synchronous; drive :meth:`step` from a timer.

    Calls answer what the gateway answers; a call the gateway would refuse raises its
    JSON-RPC error (``kana_async.sim.pulse.errors.PulseError``: ``code`` and message) and
    changes nothing.

    :raises ValueError: if a limit or ``funding_interval`` is not positive, there is no
       instrument, or a faucet amount is negative
    """

    def __init__(self, *, seed: int = 0, clock: Callable[[], float] = time.time,
                 instruments: Iterable[Instrument] = DEFAULT_INSTRUMENTS,
                 faucet: Mapping[str, Decimal] | None = None,
                 market_maker: bool = True, funding_interval: float = 60.0,
                 max_open_orders: int = 1000, max_history: int = 10_000,
                 max_events: int = 10_000, max_accounts: int = 10_000) -> None:
        for name, cap in (("max_open_orders", max_open_orders), ("max_history", max_history),
                          ("max_events", max_events), ("max_accounts", max_accounts)):
            if cap < 1:
                raise ValueError(f"{name} must be >= 1")
        if not funding_interval > 0:
            raise ValueError("funding_interval must be > 0 seconds")
        self._clock = clock
        self.instruments = by_name(instruments)
        if not self.instruments:
            raise ValueError("the engine needs at least one instrument")
        self.currencies = tuple(dict.fromkeys(i.base_currency for i in self.instruments.values()))
        faucet = DEFAULT_FAUCET if faucet is None else faucet
        self._faucet = {c: Decimal(faucet.get(c, 0)) for c in self.currencies}
        if any(v < 0 for v in self._faucet.values()):
            raise ValueError("faucet amounts must be >= 0")
        self.max_open_orders, self.max_history = max_open_orders, max_history
        self.max_events, self.max_accounts = max_events, max_accounts
        self.funding_interval = funding_interval
        self.ledger = Ledger(self.currencies)
        self._accounts: dict[str, Account] = {}
        self._books: dict[str, OrderBook[Order]] = {n: OrderBook() for n in self.instruments}
        self._live: dict[int, Order] = {}            # users' open and untriggered orders
        self._by_owner: dict[str, dict[int, Order]] = {}   # the same, per account
        self._expiring: dict[int, Order] = {}        # the good_til_day ones among them
        self._untriggered: dict[int, Order] = {}
        self._closed: OrderedDict[int, Order] = OrderedDict()   # users' closed orders, bounded
        self._trades: dict[str, deque[Trade]] = {n: deque(maxlen=max_history)
                                                 for n in self.instruments}
        self._user_trades: dict[str, deque[Trade]] = {}
        self._deposits: dict[str, list[Deposit]] = {}
        self._settlements: dict[str, deque[Settlement]] = {}
        self._events: deque[Event] = deque(maxlen=max_events)
        self._seq = 0
        self._next_id = 1
        self._trade_seq: dict[str, int] = {n: 0 for n in self.instruments}
        self._tick_dir: dict[str, tuple[int, int]] = {}   # instrument -> (last ticks, direction)
        self._mmp_fills: dict[tuple[str, str], tuple[tuple[int, Decimal], ...]] = {}
        self._journal: Journal | None = None
        self.index: dict[str, Decimal] = {}
        for inst in self.instruments.values():
            self.index.setdefault(inst.index_name, inst.start_price)
        self.mark: dict[str, Decimal] = {n: i.start_price for n, i in self.instruments.items()}
        self._funding_rounds: dict[str, deque[FundingRound]] = {
            n: deque(maxlen=max_history) for n in self.instruments}
        self._delivery: dict[str, deque[tuple[str, Decimal]]] = {
            n: deque(maxlen=max_history) for n in self.index}
        self._settlement_price: dict[str, Decimal] = {}
        funds = {c: v * _INTERNAL_FUNDS for c, v in self._faucet.items()}
        for name in (MAKER_ACCOUNT, FLOW_ACCOUNT):
            self._open_account(name, funds)
        self._background = Background(self, MarketMaker(seed) if market_maker else None)
        self._background.quote()

    # -- transactions -----------------------------------------------------------------------

    @contextmanager
    def _txn(self) -> Iterator[Journal]:
        assert self._journal is None, "engine transactions do not nest"
        j = Journal()
        self._journal = j
        for book in self._books.values():
            book.journal = j.undo
        try:
            yield j
        except BaseException:
            for book in self._books.values():
                book.journal = None
            j.rollback()
            raise
        finally:
            for book in self._books.values():
                book.journal = None
            self._journal = None
        self._publish(j)

    def _emit(self, kind: str, key: str, value: object, account: str | None = None) -> None:
        self._seq += 1
        self._events.append(Event(self._seq, kind, key, value, account))

    def _publish(self, j: Journal) -> None:
        for kind, key, value, account in j.events:
            if kind == "trade":
                assert isinstance(value, Trade)
                self._record_trade(value)
            else:
                self._emit(kind, key, value, account)
        for order in j.orders.values():
            if order.owner.startswith(INTERNAL_PREFIX):
                continue
            self._emit("order", order.instrument.instrument_name, copy.copy(order), order.owner)
            if order.state in CLOSED_STATES:
                self._closed[order.order_id] = order
                while len(self._closed) > self.max_history:
                    self._closed.popitem(last=False)

    def _record_trade(self, trade: Trade) -> None:
        name = trade.instrument.instrument_name
        self._trades[name].append(trade)
        for party in dict.fromkeys((trade.taker, trade.maker)):
            if party.startswith(INTERNAL_PREFIX):
                continue
            mine = self._user_trades.get(party)
            if mine is None:
                mine = self._user_trades[party] = deque(maxlen=self.max_history)
            mine.append(trade)
            self._emit("trade", name, trade, party)

    # -- order entry ------------------------------------------------------------------------

    def place(self, client_id: str, direction: Direction, instrument_name: str, amount: Decimal,
              *, type: str = "limit", price: Decimal | None = None,
              time_in_force: str = "good_til_cancelled", label: str = "",
              post_only: bool = False, reduce_only: bool = False, mmp: bool = False,
              max_show: Decimal | None = None, trigger: str | None = None,
              trigger_price: Decimal | None = None, origin: str | None = None
              ) -> tuple[Order, list[Trade]]:
        """Enter an order; returns it with the trades it made at once. Raises PulseError."""
        account = self.account(client_id)
        inst = self.instrument(instrument_name)
        terms = order_terms(inst, direction, amount, type=type, price=price,
                            time_in_force=time_in_force, label=label, post_only=post_only,
                            reduce_only=reduce_only, mmp=mmp, max_show=max_show,
                            trigger=trigger, trigger_price=trigger_price)
        contracts = terms.contracts
        index_name = inst.index_name
        if terms.mmp:
            frozen = account.frozen_until.get(index_name, 0)
            if frozen > self.now_ms():
                raise PulseError(Code.QUOTES_FROZEN,
                                 f"mmp orders on {index_name} are frozen until {frozen} ms",
                                 param="mmp")
        if terms.reduce_only:
            contracts = self._reduce_cap(account, inst, direction, contracts)
        if len(self._by_owner.get(client_id, ())) >= self.max_open_orders:
            raise PulseError(Code.INVALID_ARGUMENTS,
                             f"an account may hold at most {self.max_open_orders} open orders")
        now = self.now_ms()
        order = Order(
            order_id=self._take_id(), owner=client_id, instrument=inst, direction=direction,
            order_type=type, amount=contracts, price=terms.ticks, time_in_force=time_in_force,
            label=label, post_only=terms.post_only, reduce_only=terms.reduce_only,
            mmp=terms.mmp, max_show=terms.max_show, trigger=terms.trigger,
            trigger_price=terms.trigger_ticks, remaining=contracts, creation_ms=now,
            update_ms=now, origin=origin,
            expire_ms=next_0800_ms(now) if time_in_force == "good_til_day" else None,
            state="untriggered" if terms.is_trigger else "open",
        )
        with self._txn() as j:
            before = self._required(account, inst.base_currency)
            self._track(j, order)
            j.orders[order.order_id] = order
            trades: list[Trade] = []
            if terms.is_trigger:
                j.put(self._untriggered, order.order_id, order)
            else:
                trades = self._execute(j, order)
            if not terms.reduce_only:
                self._check_margin(account, inst.base_currency, before)
        return order, trades

    def _take_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _reduce_cap(self, account: Account, inst: Instrument, direction: str,
                    contracts: int) -> int:
        pos = account.positions.get(inst.instrument_name)
        size = pos.size if pos else 0
        if size == 0 or (size > 0) == (direction == "buy"):
            raise PulseError(Code.INVALID_ARGUMENTS,
                             f"reduce_only: no {inst.instrument_name} position to reduce by a "
                             f"{direction}", param="reduce_only")
        return min(contracts, abs(size))

    def _execute(self, j: Journal, order: Order) -> list[Trade]:
        """Match ``order`` against its book, then rest, cancel or fill what is left."""
        book = self._books[order.instrument.instrument_name]
        is_market = order.order_type.endswith("market")
        if order.post_only and book.crosses(order.is_ask, order.price):
            best = book.best(not order.is_ask)
            assert best is not None
            j.set(order, "price", best + 1 if order.is_ask else max(1, best - 1))
        limit = None if is_market else order.price
        if order.time_in_force == "fill_or_kill" and \
                book.fillable(order.is_ask, limit, order.remaining) < order.remaining:
            self._close(j, order, "cancelled", "fill_or_kill")
            return []
        try:
            fills = book.match(order.is_ask, limit, order.remaining, order.owner)
        except SelfMatchError:
            raise PulseError(Code.ORDER_OVERLAP, "the order would trade against an order of "
                             "the same account (self-trade)") from None
        trades = [self._fill(j, order, f.maker, f.lots, f.price) for f in fills]
        if order.remaining:
            if is_market or order.time_in_force in ("immediate_or_cancel", "fill_or_kill"):
                self._close(j, order, "cancelled", "immediate_or_cancel")
            else:
                book.add(order)
        self._check_mmp(j, trades)
        return trades

    def _fill(self, j: Journal, taker: Order, maker: Order, lots: int, ticks: int) -> Trade:
        inst = taker.instrument
        price = inst.price(ticks)
        value = coin(inst.amount(lots) / price)
        j.set(taker, "remaining", taker.remaining - lots)
        now = self.now_ms()
        for order in (taker, maker):
            j.set(order, "filled", order.filled + lots)
            j.set(order, "notional_filled", order.notional_filled + lots * price)
            j.set(order, "update_ms", now)
            j.set(order, "state", "filled" if order.remaining == 0 else "partially_filled")
            j.orders.setdefault(order.order_id, order)
            if order.remaining == 0 and order.order_id in self._live:
                self._untrack(j, order)
            sign = 1 if order.direction == "buy" else -1
            self.ledger.trade(j, self._accounts[order.owner], inst, sign * lots, sign * value,
                              price)
        taker_fee, maker_fee = fee_of(value, TAKER_FEE), fee_of(value, MAKER_FEE)
        self.ledger.charge_fee(j, self._accounts[taker.owner], inst.base_currency, taker_fee)
        self.ledger.charge_fee(j, self._accounts[maker.owner], inst.base_currency, maker_fee)
        return self._trade(j, inst, ticks, lots, taker, maker, taker_fee, maker_fee)

    def _trade(self, j: Journal, inst: Instrument, ticks: int, lots: int, taker: Order,
               maker: Order, taker_fee: Decimal, maker_fee: Decimal) -> Trade:
        name = inst.instrument_name
        last = self._tick_dir.get(name)
        if last is None or ticks > last[0]:
            direction = 0
        elif ticks < last[0]:
            direction = 2
        else:
            direction = 1 if last[1] in (0, 1) else 3
        j.put(self._tick_dir, name, (ticks, direction))
        j.put(self._trade_seq, name, self._trade_seq[name] + 1)
        trade_id = self._take_id()  # ids are never reused, even when the order is refused
        trade = Trade(
            trade_seq=self._trade_seq[name], trade_id=f"{trade_id:024x}", instrument=inst,
            timestamp=self.now_ms(), price=ticks, amount=lots,
            taker_direction=taker.direction, taker=taker.owner, maker=maker.owner,
            taker_order_id=taker.order_id, maker_order_id=maker.order_id,
            taker_order_type=taker.order_type, maker_order_type=maker.order_type,
            taker_label=taker.label, maker_label=maker.label, taker_fee=taker_fee,
            maker_fee=maker_fee, index_price=self.index[inst.index_name],
            mark_price=self.mark[name], tick_direction=direction,
        )
        j.events.append(("trade", name, trade, None))
        return trade

    def _track(self, j: Journal, order: Order) -> None:
        mine = self._by_owner.get(order.owner)
        if mine is None:
            mine = {}
            j.put(self._by_owner, order.owner, mine)
        j.put(mine, order.order_id, order)
        j.put(self._live, order.order_id, order)
        if order.expire_ms is not None:
            j.put(self._expiring, order.order_id, order)

    def _untrack(self, j: Journal, order: Order) -> None:
        j.drop(self._live, order.order_id)
        if order.order_id in self._expiring:
            j.drop(self._expiring, order.order_id)
        mine = self._by_owner[order.owner]
        j.drop(mine, order.order_id)
        if not mine:
            j.drop(self._by_owner, order.owner)

    def _close(self, j: Journal, order: Order, state: str, reason: str | None) -> None:
        """Take a user's or the market maker's order out of play for good."""
        book = self._books[order.instrument.instrument_name]
        if order.order_id in book:
            book.remove(order.order_id)
        if order.order_id in self._untriggered:
            j.drop(self._untriggered, order.order_id)
        if order.order_id in self._live:
            self._untrack(j, order)
        j.set(order, "state", state)
        j.set(order, "cancel_reason", reason if state == "cancelled" else None)
        j.set(order, "update_ms", self.now_ms())
        j.orders.setdefault(order.order_id, order)

    # -- margin and protection ----------------------------------------------------------------

    def _check_margin(self, account: Account, currency: str, before: Decimal) -> None:
        if account.client_id.startswith(INTERNAL_PREFIX):
            return
        required = self._required(account, currency)
        equity = self.equity(account, currency)
        if equity < required and required > before:
            raise PulseError(Code.NOT_ENOUGH_FUNDS,
                             f"equity {equity} {currency} would be below the initial margin "
                             f"{required} {currency} of positions and open orders")

    def _check_mmp(self, j: Journal, trades: list[Trade]) -> None:
        """Count fills of mmp orders; past the limit, cancel and freeze (user.mmp_trigger)."""
        now = self.now_ms()
        for trade in trades:
            for owner, order_id in ((trade.taker, trade.taker_order_id),
                                    (trade.maker, trade.maker_order_id)):
                order = j.orders.get(order_id)
                if order is None or not order.mmp:
                    continue
                account = self._accounts[owner]
                index_name = trade.instrument.index_name
                config = account.mmp.get(index_name)
                if config is None:
                    continue
                key = (owner, index_name)
                window = now - int(config.interval * 1000)
                fills = tuple(f for f in self._mmp_fills.get(key, ()) if f[0] > window)
                fills += ((now, trade.instrument.amount(trade.amount)),)
                j.put(self._mmp_fills, key, fills)
                if sum(f[1] for f in fills) > config.quantity_limit:
                    self._trip_mmp(j, account, index_name, config)

    def _trip_mmp(self, j: Journal, account: Account, index_name: str, config: MMPConfig
                  ) -> None:
        until = self.now_ms() + int(config.frozen_time * 1000)
        j.put(account.frozen_until, index_name, until)
        j.drop(self._mmp_fills, (account.client_id, index_name))
        for order in [o for o in self._mine(account.client_id)
                      if o.mmp and o.instrument.index_name == index_name]:
            self._close(j, order, "cancelled", "mmp_trigger")
        j.events.append(("mmp_trigger", index_name, until, account.client_id))

    # -- edit and cancel ----------------------------------------------------------------------

    def _own_live(self, client_id: str, order_id: str) -> Order:
        order = self.order(client_id, order_id)
        if order.order_id not in self._live:
            raise PulseError(Code.NOT_OPEN_ORDER, f"order {order_id} is {order.state}",
                             param="order_id")
        return order

    def edit(self, client_id: str, order_id: str, *, amount: Decimal | None = None,
             price: Decimal | None = None, trigger_price: Decimal | None = None
             ) -> tuple[Order, list[Trade]]:
        """Change an open order; it keeps its place only if the price stays and the amount
        does not grow."""
        account = self.account(client_id)
        order = self._own_live(client_id, order_id)
        inst = order.instrument
        if amount is None and price is None and trigger_price is None:
            raise PulseError(Code.INVALID_ARGUMENTS,
                             "edit needs amount, price or trigger_price", param="amount")
        contracts = order.amount if amount is None else inst.contracts(
            number(amount, "amount", Code.INVALID_AMOUNT))
        if contracts <= order.filled:
            raise PulseError(Code.INVALID_AMOUNT, f"amount must exceed the filled amount "
                             f"{inst.amount(order.filled)} USD", param="amount")
        if order.reduce_only:
            contracts = order.filled + self._reduce_cap(account, inst, order.direction,
                                                        contracts - order.filled)
        ticks = order.price
        if price is not None:
            if order.order_type.endswith("market"):
                raise PulseError(Code.INVALID_ARGUMENTS,
                                 f"a {order.order_type} order has no price", param="price")
            ticks = inst.ticks(number(price, "price", Code.INVALID_PRICE))
        trigger_ticks = order.trigger_price
        if trigger_price is not None:
            if order.state != "untriggered":
                raise PulseError(Code.INVALID_ARGUMENTS,
                                 "trigger_price applies to untriggered orders only",
                                 param="trigger_price")
            trigger_ticks = inst.ticks(number(trigger_price, "trigger_price", Code.INVALID_PRICE),
                                       "trigger_price")
        remaining = contracts - order.filled
        with self._txn() as j:
            before = self._required(account, inst.base_currency)
            j.orders[order.order_id] = order
            j.set(order, "replaced", True)
            j.set(order, "update_ms", self.now_ms())
            j.set(order, "amount", contracts)
            j.set(order, "trigger_price", trigger_ticks)
            trades: list[Trade] = []
            book = self._books[inst.instrument_name]
            if order.state == "untriggered":
                j.set(order, "price", ticks)
                j.set(order, "remaining", remaining)
            elif ticks == order.price and remaining <= order.remaining:
                # Same price, not larger: shrink in place and keep the queue position.
                book.shrink(order.order_id, order.remaining - remaining)
            else:
                book.remove(order.order_id)
                j.set(order, "price", ticks)
                j.set(order, "remaining", remaining)
                trades = self._execute(j, order)
            if order.max_show is not None and order.max_show > order.amount:
                j.set(order, "max_show", order.amount)
            self._check_margin(account, inst.base_currency, before)
        return order, trades

    def cancel(self, client_id: str, order_id: str) -> Order:
        """Cancel one of ``client_id``'s live orders; the cancelled order."""
        order = self._own_live(client_id, order_id)
        with self._txn() as j:
            self._close(j, order, "cancelled", "user_request")
        return order

    def cancel_all(self, client_id: str, *, instrument_name: str | None = None,
                   type: str | None = None) -> list[Order]:
        """Cancel the account's open orders (of one instrument, of one type filter)."""
        from .history import check_type, type_matches
        if instrument_name is not None:
            self.instrument(instrument_name)
        check_type(type)
        chosen = [o for o in self._mine(client_id)
                  if instrument_name in (None, o.instrument.instrument_name)
                  and type_matches(o, type)]
        return self._cancel_many(chosen, "user_request")

    def cancel_by_origin(self, client_id: str, origin: str) -> list[Order]:
        """Cancel-on-disconnect: the orders placed through one connection."""
        chosen = [o for o in self._mine(client_id) if o.origin == origin]
        return self._cancel_many(chosen, "cancel_on_disconnect")

    def _cancel_many(self, orders: list[Order], reason: str) -> list[Order]:
        if not orders:
            return []
        with self._txn() as j:
            for order in orders:
                self._close(j, order, "cancelled", reason)
        return orders

    def set_mmp_config(self, client_id: str, index_name: str, *, interval: Decimal,
                       frozen_time: Decimal, quantity_limit: Decimal) -> MMPConfig:
        """Set (or, with interval 0, remove) the account's MMP for one index; resets a freeze."""
        account = self.account(client_id)
        name = self._index_name(index_name)
        values = []
        for param, value in (("interval", interval), ("frozen_time", frozen_time),
                             ("quantity_limit", quantity_limit)):
            values.append(number(value, param))
            if values[-1] < 0:
                raise PulseError(Code.INVALID_ARGUMENTS, f"{param} must be >= 0", param=param)
        config = MMPConfig(name, *values)
        if config.interval == 0:
            account.mmp.pop(name, None)
        else:
            account.mmp[name] = config
        account.frozen_until.pop(name, None)
        self._mmp_fills.pop((client_id, name), None)
        return config

    # -- time -------------------------------------------------------------------------------

    def step(self) -> None:
        """Index walk, marks, triggers, good-til-day expiry, funding, delivery prices,
        liquidations and the market maker (keeps every book two-sided, trades flowing)."""
        self._background.step()

    def set_index_price(self, index_name: str, price: Decimal) -> None:
        """Move an index (the market maker's walk; tests and fault scenarios set it too)."""
        name = self._index_name(index_name)
        if not isinstance(price, Decimal) or not price.is_finite() or price <= 0:
            raise PulseError(Code.INVALID_PRICE, "index price must be > 0", param="price")
        self.index[name] = price
        self._emit("index", name, price)

    def current_funding(self, instrument_name: str) -> Decimal:
        """The rate the next funding round would apply now (fraction per period)."""
        return self._background.funding_rate(self.instrument(instrument_name))

    def _internal_order(self, owner: str, inst: Instrument, is_ask: bool, ticks: int | None,
                        lots: int, order_type: str) -> Order:
        """An order of the market maker, the flow, or a liquidation (never listed to users)."""
        now = self.now_ms()
        tif = "good_til_cancelled" if ticks is not None else "immediate_or_cancel"
        return Order(order_id=self._take_id(), owner=owner, instrument=inst,
                     direction="sell" if is_ask else "buy", order_type=order_type, amount=lots,
                     price=ticks or 0, time_in_force=tif, remaining=lots, creation_ms=now,
                     update_ms=now, api=False)

    def _trigger(self, order: Order) -> None:
        """A trigger order whose price was crossed enters the book (or is rejected)."""
        account = self._accounts[order.owner]
        currency = order.instrument.base_currency
        try:
            with self._txn() as j:
                before = self._required(account, currency)
                j.drop(self._untriggered, order.order_id)
                j.set(order, "state", "open")
                j.set(order, "update_ms", self.now_ms())
                j.orders[order.order_id] = order
                if order.reduce_only:
                    cap = self._reduce_cap(account, order.instrument, order.direction,
                                           order.remaining)
                    j.set(order, "amount", order.amount - order.remaining + cap)
                    j.set(order, "remaining", cap)
                self._execute(j, order)
                if not order.reduce_only:
                    self._check_margin(account, currency, before)
        except PulseError:
            with self._txn() as j:
                self._close(j, order, "rejected", None)

    def audit(self) -> None:
        """AssertionError unless money is conserved exactly and no book is crossed."""
        self.ledger.audit(self._accounts.values())
        for name, book in self._books.items():
            bid, ask = book.best(False), book.best(True)
            assert bid is None or ask is None or bid < ask, f"{name}: crossed book {bid}/{ask}"
            for order in book.orders():
                assert order.remaining > 0, f"{name}: empty order {order.order_id} rests"
                internal = order.owner.startswith(INTERNAL_PREFIX)
                assert internal or self._live.get(order.order_id) is order, (
                    f"{name}: resting order {order.order_id} is not open")
        assert sum(len(m) for m in self._by_owner.values()) == len(self._live)
        assert all(self._live.get(i) is o for i, o in self._expiring.items())
        for order in self._live.values():
            assert self._by_owner[order.owner][order.order_id] is order
            assert order.state in ("open", "partially_filled", "untriggered"), order.state
