"""The Pulse engine's state and read side: accounts, margin figures and every query.

:class:`Queries` holds what the engine stores (declared here, filled by
:class:`~.engine.PulseEngine`) and answers the read-only methods of the gateway; it never changes
anything except opening an account on first sight.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from decimal import Decimal

from ..book import OrderBook
from .accounts import INITIAL_MARGIN, MAINTENANCE_MARGIN, Ledger, coin
from .domain import (
    Account,
    AccountSummary,
    BookSummary,
    Candles,
    Deposit,
    Event,
    FundingRound,
    MMPConfig,
    Order,
    PositionReport,
    Settlement,
    Trade,
    parse_order_id,
)
from .entry import flag, millis
from .errors import Code, PulseError
from .history import (
    CLOSED_STATES,
    candles,
    check_count,
    check_type,
    day_stats,
    type_matches,
)
from .instruments import Instrument, index_name_of
from .market_maker import INTERNAL_PREFIX

__all__ = ["KINDS", "Queries"]

#: Instrument kinds a filter may name; the simulator lists futures (perpetuals) only.
KINDS = ("future", "option", "spot", "future_combo", "option_combo")
_TWO_DAYS_MS = 2 * 86_400_000
_LEVERAGE = int(1 / INITIAL_MARGIN)


class Queries:
    """State of the engine and its read-only methods (newest first for histories)."""

    instruments: Mapping[str, Instrument]
    currencies: tuple[str, ...]
    ledger: Ledger
    index: dict[str, Decimal]            # index name -> USD
    mark: dict[str, Decimal]             # instrument -> USD
    max_accounts: int
    _clock: Callable[[], float]
    _faucet: dict[str, Decimal]
    _accounts: dict[str, Account]
    _books: dict[str, OrderBook[Order]]
    _live: dict[int, Order]
    _by_owner: dict[str, dict[int, Order]]
    _expiring: dict[int, Order]
    _untriggered: dict[int, Order]
    _closed: OrderedDict[int, Order]
    _trades: dict[str, deque[Trade]]
    _user_trades: dict[str, deque[Trade]]
    _deposits: dict[str, list[Deposit]]
    _settlements: dict[str, deque[Settlement]]
    _events: deque[Event]
    _seq: int
    _funding_rounds: dict[str, deque[FundingRound]]
    _delivery: dict[str, deque[tuple[str, Decimal]]]
    _settlement_price: dict[str, Decimal]

    # -- accounts ---------------------------------------------------------------------------

    def instrument(self, name: str) -> Instrument:
        """The instrument called ``name``; an unknown one raises the gateway's error."""
        inst = self.instruments.get(name) if isinstance(name, str) else None
        if inst is None:
            raise PulseError(Code.INVALID_OR_UNSUPPORTED_INSTRUMENT,
                             f"unknown instrument_name (known: {', '.join(self.instruments)})",
                             param="instrument_name")
        return inst

    def account(self, client_id: str) -> Account:
        """The account of ``client_id``, created and funded by the faucet on first sight."""
        self._client(client_id)
        if client_id.startswith(INTERNAL_PREFIX):
            raise PulseError(Code.FORBIDDEN, f"client ids starting with {INTERNAL_PREFIX} "
                             "are reserved for the simulator", param="client_id")
        account = self._accounts.get(client_id)
        if account is not None:
            return account
        if len(self._accounts) >= self.max_accounts + 2:
            raise PulseError(Code.FORBIDDEN, f"the simulator holds at most {self.max_accounts} "
                             "accounts", param="client_id")
        return self._open_account(client_id, self._faucet)

    def _open_account(self, client_id: str, funds: Mapping[str, Decimal]) -> Account:
        now = self.now_ms()
        account = Account(hashlib.sha256(client_id.encode()).hexdigest()[:24], client_id, now)
        self._accounts[client_id] = account
        self._deposits[client_id] = []
        for currency in self.currencies:
            account.balances[currency] = Decimal(0)
            amount = funds.get(currency, Decimal(0))
            if amount:
                self.ledger.deposit(account, currency, amount)
                txid = hashlib.sha256(f"{client_id}/{currency}".encode()).hexdigest()[:24]
                self._deposits[client_id].append(
                    Deposit(amount, currency, now, "completed", txid))
        return account

    def now_ms(self) -> int:
        """The engine's clock, in milliseconds (the gateway's timestamps)."""
        return int(self._clock() * 1000)

    def _required(self, account: Account, currency: str) -> Decimal:
        """Initial margin of positions plus resting orders in ``currency`` (coin)."""
        total = Decimal(0)
        for pos in account.positions.values():
            if pos.size and pos.instrument.base_currency == currency:
                total += self.ledger.margin(pos.instrument.amount(pos.size),
                                            self.mark[pos.instrument.instrument_name],
                                            INITIAL_MARGIN)
        return total + self._orders_margin(account, currency, None)

    def _orders_margin(self, account: Account, currency: str, instrument: str | None) -> Decimal:
        total = Decimal(0)
        for name, inst in self.instruments.items():
            if inst.base_currency != currency or instrument not in (None, name):
                continue
            usd = sum((inst.amount(o.remaining) for o in self._books[name].owned(account.client_id)
                       if not o.reduce_only), Decimal(0))
            total += self.ledger.margin(usd, self.mark[name], INITIAL_MARGIN)
        return total

    def equity(self, account: Account, currency: str) -> Decimal:
        """Balance plus floating P&L of the positions settled in ``currency``."""
        total = account.balances.get(currency, Decimal(0))
        for name, pos in account.positions.items():
            if pos.instrument.base_currency == currency:
                total += self.ledger.unrealized(pos, self.mark[name])
        return total

    def _index_name(self, index_name: str) -> str:
        name = index_name_of(index_name) if isinstance(index_name, str) else ""
        if name not in self.index:
            raise PulseError(Code.INVALID_ARGUMENTS,
                             f"unknown index_name (known: {', '.join(self.index)})",
                             param="index_name")
        return name


    @staticmethod
    def _client(client_id: str) -> str:
        """A client id as a key (checked like :meth:`account`, without opening one)."""
        if not isinstance(client_id, str) or not client_id or len(client_id) > 256:
            raise PulseError(Code.INVALID_ARGUMENTS, "client_id must be 1 to 256 characters",
                             param="client_id")
        return client_id

    def _mine(self, client_id: str) -> list[Order]:
        """The account's open and untriggered orders."""
        return list(self._by_owner.get(self._client(client_id), {}).values())

    # -- orders -----------------------------------------------------------------------------

    def order(self, client_id: str, order_id: str) -> Order:
        """One order of the account, open or closed (10025 / 10004 / 10029)."""
        self._client(client_id)
        number = parse_order_id(order_id) if isinstance(order_id, str) else None
        if number is None:
            raise PulseError(Code.INVALID_ORDER_ID, "order_id must be 24 hex digits",
                             param="order_id")
        order = self._live.get(number) or self._closed.get(number)
        if order is None:
            raise PulseError(Code.ORDER_NOT_FOUND, f"no order {order_id}", param="order_id")
        if order.owner != client_id:
            raise PulseError(Code.NOT_OWNER_OF_ORDER, f"order {order_id} is not yours",
                             param="order_id")
        return order

    def open_orders(self, client_id: str, instrument_name: str, *, type: str = "all",
                    count: int | None = None) -> list[Order]:
        """``client_id``'s open orders on one instrument, newest first (``type`` filters)."""
        self.instrument(instrument_name)
        check_type(type)
        check_count(count, optional=True)
        mine = [o for o in self._mine(client_id)
                if o.instrument.instrument_name == instrument_name and type_matches(o, type)]
        mine.sort(key=lambda o: (o.creation_ms, o.order_id), reverse=True)
        return mine if count is None else mine[:count]

    def order_history(self, client_id: str, instrument_name: str, *, count: int = 20,
                      offset: int = 0, include_old: bool = False,
                      include_unfilled: bool = False) -> list[Order]:
        """Orders that traded (and, with ``include_unfilled``, closed ones that never did)."""
        self.instrument(instrument_name)
        check_count(count)
        check_count(offset, "offset", minimum=0, limit=10**9)
        include_old, include_unfilled = flag(include_old, "include_old"), flag(
            include_unfilled, "include_unfilled")
        oldest = self.now_ms() - _TWO_DAYS_MS
        chosen = [
            o for o in (*self._closed.values(), *self._mine(client_id))
            if o.owner == client_id and o.instrument.instrument_name == instrument_name
            and (o.filled or (include_unfilled and o.state in CLOSED_STATES))
            and (include_old or o.update_ms >= oldest)
        ]
        chosen.sort(key=lambda o: (o.update_ms, o.order_id), reverse=True)
        return chosen[offset:offset + count]

    def orders_by_label(self, client_id: str, currency: str, label: str | None = None, *,
                        count: int = 20, offset: int = 0) -> list[Order]:
        """``client_id``'s orders (open and finished) in ``currency`` carrying ``label`` (any
        label when None)."""
        coins = self._coins(currency)
        check_count(count)
        check_count(offset, "offset", minimum=0, limit=10**9)
        chosen = [
            o for o in (*self._closed.values(), *self._mine(client_id))
            if o.owner == client_id and o.instrument.base_currency in coins
            and (label is None or o.label == label)
        ]
        chosen.sort(key=lambda o: (o.creation_ms, o.order_id), reverse=True)
        return chosen[offset:offset + count]

    # -- trades -----------------------------------------------------------------------------

    def user_trades(self, client_id: str, *, instrument_name: str | None = None,
                    order_id: str | None = None, start_ms: int | None = None,
                    end_ms: int | None = None, count: int = 10, sorting: str = "desc"
                    ) -> list[Trade]:
        """``client_id``'s trades, filtered by instrument, order and time."""
        if instrument_name is not None:
            self.instrument(instrument_name)
        number = None
        if order_id is not None:
            number = self.order(client_id, order_id).order_id
        check_count(count)
        start_ms, end_ms = millis(start_ms, "start_timestamp"), millis(end_ms, "end_timestamp")
        trades = [
            t for t in self._user_trades.get(self._client(client_id), ())
            if instrument_name in (None, t.instrument.instrument_name)
            and (number is None or number in (t.taker_order_id, t.maker_order_id))
        ]
        return self._window(trades, start_ms, end_ms, count, sorting)

    def last_trades(self, instrument_name: str, *, start_seq: int | None = None,
                    end_seq: int | None = None, start_ms: int | None = None,
                    end_ms: int | None = None, count: int = 10, sorting: str = "desc"
                    ) -> list[Trade]:
        """The public trades of one instrument, filtered by sequence number and time."""
        self.instrument(instrument_name)
        check_count(count)
        start_seq, end_seq = millis(start_seq, "start_seq"), millis(end_seq, "end_seq")
        start_ms, end_ms = millis(start_ms, "start_timestamp"), millis(end_ms, "end_timestamp")
        trades = [t for t in self._trades[instrument_name]
                  if (start_seq is None or t.trade_seq >= start_seq)
                  and (end_seq is None or t.trade_seq <= end_seq)]
        return self._window(trades, start_ms, end_ms, count, sorting)

    @staticmethod
    def _window(trades: list[Trade], start_ms: int | None, end_ms: int | None, count: int,
                sorting: str) -> list[Trade]:
        """Trades (oldest first) between the times; ``count`` newest, or oldest when asc."""
        if sorting not in ("asc", "desc", "default"):
            raise PulseError(Code.INVALID_ARGUMENTS, "sorting must be asc, desc or default",
                             param="sorting")
        chosen = [t for t in trades if (start_ms is None or t.timestamp >= start_ms)
                  and (end_ms is None or t.timestamp <= end_ms)]
        if sorting == "desc":
            return chosen[::-1][:count]
        return chosen[:count]

    # -- money ------------------------------------------------------------------------------

    def _coins(self, currency: str | None) -> tuple[str, ...]:
        """``BTC``/``ETH`` select one coin; ``USD`` or None select all (11029 otherwise)."""
        if currency is None or currency == "USD":
            return self.currencies
        if currency in self.currencies:
            return (currency,)
        raise PulseError(Code.INVALID_ARGUMENTS, "currency must be one of "
                         f"{', '.join((*self.currencies, 'USD'))}", param="currency")

    def positions(self, client_id: str, *, currency: str | None = None,
                  kind: str | None = None) -> list[PositionReport]:
        """Every perpetual of the selected coins, flat ones included (size 0)."""
        coins = self._coins(currency)
        if kind is not None and kind not in (*KINDS, "any"):
            raise PulseError(Code.INVALID_ARGUMENTS, f"kind must be one of {', '.join(KINDS)}",
                             param="kind")
        if kind not in (None, "any", "future"):
            return []
        account = self.account(client_id)
        return [self._report(account, inst) for inst in self.instruments.values()
                if inst.base_currency in coins]

    def _report(self, account: Account, inst: Instrument) -> PositionReport:
        name, currency = inst.instrument_name, inst.base_currency
        pos = account.positions.get(name)
        size = pos.size if pos else 0
        mark = self.mark[name]
        usd = inst.amount(size)
        floating = self.ledger.unrealized(pos, mark) if pos else Decimal(0)
        realized = pos.realized if pos else Decimal(0)
        average = Decimal(0)
        if pos and size:
            average = (pos.average_ticks * inst.tick_size).quantize(Decimal("0.0001"))
        closing = [o for o in self._books[name].owned(account.client_id)
                   if size and (o.direction == "sell") == (size > 0)]
        liquidation = None
        if size:
            rest = self.equity(account, currency) - floating + (pos.open_cash if pos else 0)
            need = usd + MAINTENANCE_MARGIN * abs(usd)
            if rest and need / rest > 0:
                liquidation = inst.price(inst.snap(need / rest))
        return PositionReport(
            instrument_name=name, kind=inst.kind,
            direction="zero" if not size else ("buy" if size > 0 else "sell"),
            size=usd, size_currency=coin(usd / mark),
            size_out=sum((inst.amount(o.remaining) for o in closing), Decimal(0)),
            average_price=average, mark_price=mark, index_price=self.index[inst.index_name],
            settlement_price=self._settlement_price.get(name, Decimal(0)),
            estimated_liquidation_price=liquidation, delta=coin(usd / mark),
            floating_profit_loss=floating, realized_profit_loss=realized,
            total_profit_loss=floating + realized,
            interest_value=pos.funding if pos else Decimal(0),
            initial_margin=self.ledger.margin(usd, mark, INITIAL_MARGIN),
            maintenance_margin=self.ledger.margin(usd, mark, MAINTENANCE_MARGIN),
            open_orders_margin=self._orders_margin(account, currency, name),
            leverage=_LEVERAGE,
        )

    def summary(self, client_id: str, currency: str | None) -> AccountSummary:
        """One coin's figures, or (``USD``/None) every coin valued at its index in USD.

        The session figures run from the account's creation (perpetuals have no expiry);
        ``session_rpl`` includes funding."""
        coins = self._coins(currency)
        usd = currency is None or currency == "USD"
        account = self.account(client_id)
        fields = dict.fromkeys(("balance", "equity", "initial", "maintenance", "rpl", "upl"),
                               Decimal(0))
        for c in coins:
            rate = self._coin_index(c) if usd else Decimal(1)
            upl = rpl = maintenance = Decimal(0)
            for name, pos in account.positions.items():
                if pos.instrument.base_currency != c:
                    continue
                upl += self.ledger.unrealized(pos, self.mark[name])
                rpl += pos.realized + pos.funding
                maintenance += self.ledger.margin(pos.instrument.amount(pos.size),
                                                  self.mark[name], MAINTENANCE_MARGIN)
            for key, value in (("balance", account.balances.get(c, Decimal(0))),
                               ("equity", self.equity(account, c)),
                               ("initial", self._required(account, c)),
                               ("maintenance", maintenance), ("rpl", rpl), ("upl", upl)):
                fields[key] += value * rate
        figures = {k: (v.quantize(Decimal("0.01")) if usd else v) for k, v in fields.items()}
        return AccountSummary(
            id=account.account_id, email=f"{account.account_id}@pulse.invalid",
            currency="USD" if usd else coins[0], creation_timestamp=account.creation_ms,
            balance=figures["balance"], equity=figures["equity"],
            margin_balance=figures["equity"], initial_margin=figures["initial"],
            maintenance_margin=figures["maintenance"], session_rpl=figures["rpl"],
            session_upl=figures["upl"], futures_session_rpl=figures["rpl"],
            futures_session_upl=figures["upl"], options_session_rpl=Decimal(0),
            options_session_upl=Decimal(0), total_pl=figures["rpl"] + figures["upl"],
        )

    def _coin_index(self, currency: str) -> Decimal:
        for inst in self.instruments.values():
            if inst.base_currency == currency:
                return self.index[inst.index_name]
        raise AssertionError(currency)

    def deposits(self, client_id: str, *, currency: str | None = None, count: int = 10,
                 offset: int = 0) -> list[Deposit]:
        """``client_id``'s deposits (the faucet's), newest first."""
        coins = self._coins(currency)
        check_count(count)
        check_count(offset, "offset", minimum=0, limit=10**9)
        self.account(client_id)
        chosen = [d for d in reversed(self._deposits[client_id]) if d.currency in coins]
        return chosen[offset:offset + count]

    def settlements(self, client_id: str, *, type: str, currency: str | None = None,
                    instrument_name: str | None = None, search_start_ms: int | None = None,
                    count: int = 20) -> list[Settlement]:
        """Funding settlements of the account's positions, newest first, at or before
        ``search_start_ms`` (``delivery``/``bankruptcy``: none happen on perpetuals)."""
        if type not in ("settlement", "delivery", "bankruptcy"):
            raise PulseError(Code.INVALID_ARGUMENTS,
                             "type must be settlement, delivery or bankruptcy", param="type")
        coins = self._coins(currency)
        if instrument_name is not None:
            self.instrument(instrument_name)
        check_count(count)
        search_start_ms = millis(search_start_ms, "search_start_timestamp")
        return [s for s in reversed(self._settlements.get(self._client(client_id), ()))
                if s.type == type and s.instrument.base_currency in coins
                and instrument_name in (None, s.instrument.instrument_name)
                and (search_start_ms is None or s.timestamp <= search_start_ms)][:count]

    def mmp_config(self, client_id: str, index_name: str | None = None) -> list[MMPConfig]:
        """The account's MMP settings (one index, or all); empty when disabled."""
        account = self.account(client_id)
        if index_name is None:
            return list(account.mmp.values())
        config = account.mmp.get(self._index_name(index_name))
        return [] if config is None else [config]

    # -- market data ------------------------------------------------------------------------

    def book(self, instrument_name: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(bids best first, asks best first) as (ticks, contracts)."""
        self.instrument(instrument_name)
        book = self._books[instrument_name]
        return book.depth(False), book.depth(True)

    def order_book(self, instrument_name: str, depth: int | None = None) -> BookSummary:
        """A snapshot of one instrument's book with its day figures (``get_order_book``)."""
        inst = self.instrument(instrument_name)
        check_count(depth, "depth", optional=True)
        book = self._books[instrument_name]
        bids = [[inst.price(p), inst.amount(a)] for p, a in book.depth(False, depth)]
        asks = [[inst.price(p), inst.amount(a)] for p, a in book.depth(True, depth)]
        now = self.now_ms()
        trades = self._trades[instrument_name]
        high, low, change, volume = day_stats(trades, now)
        index = self.index[inst.index_name]
        mark = self.mark[instrument_name]
        return BookSummary(
            instrument_name=instrument_name, timestamp=now, bids=bids, asks=asks,
            best_bid_price=bids[0][0] if bids else None,
            best_bid_amount=bids[0][1] if bids else Decimal(0),
            best_ask_price=asks[0][0] if asks else None,
            best_ask_amount=asks[0][1] if asks else Decimal(0),
            last_price=inst.price(trades[-1].price) if trades else None,
            index_price=index, mark_price=mark,
            settlement_price=self._settlement_price.get(instrument_name, mark),
            underlying_price=index, stats_high=high, stats_low=low,
            stats_price_change=change, stats_volume=volume,
        )

    def index_price(self, index_name: str) -> Decimal:
        """The current price of an index (``btc_usd``)."""
        return self.index[self._index_name(index_name)]

    def mark_price(self, instrument_name: str) -> Decimal:
        """The current mark price of one instrument."""
        self.instrument(instrument_name)
        return self.mark[instrument_name]

    def funding_rounds(self, instrument_name: str | None = None, *,
                       start_ms: int | None = None, end_ms: int | None = None
                       ) -> list[FundingRound]:
        """Past funding periods, oldest first, that ended within the times."""
        names = list(self.instruments) if instrument_name is None else [instrument_name]
        if instrument_name is not None:
            self.instrument(instrument_name)
        start_ms, end_ms = millis(start_ms, "start_timestamp"), millis(end_ms, "end_timestamp")
        chosen = [r for n in names for r in self._funding_rounds[n]
                  if (start_ms is None or r.range_end >= start_ms)
                  and (end_ms is None or r.range_end <= end_ms)]
        return sorted(chosen, key=lambda r: (r.range_end, r.instrument.instrument_name))

    def candles(self, instrument_name: str, resolution: str, start_ms: int,
                end_ms: int) -> Candles:
        """OHLC bars of one instrument's trades (``get_tradingview_chart_data``)."""
        self.instrument(instrument_name)
        return candles(self._trades[instrument_name], resolution, start_ms, end_ms)

    def delivery_prices(self, index_name: str, *, count: int = 10, offset: int = 0
                        ) -> list[tuple[str, Decimal]]:
        """(date, index at 08:00 UTC) per day the engine ran through, newest first."""
        name = self._index_name(index_name)
        check_count(count)
        check_count(offset, "offset", minimum=0, limit=10**9)
        return list(reversed(self._delivery[name]))[offset:offset + count]

    # -- events -----------------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        """The sequence number of the newest event (see :meth:`events_since`)."""
        return self._seq

    def events_since(self, seq: int) -> list[Event]:
        """Events after ``seq``, oldest first; a reader that fell behind sees a seq jump."""
        if not self._events or seq >= self._seq:
            return []
        first = self._events[0].seq
        start = max(0, seq + 1 - first)
        return [self._events[i] for i in range(start, len(self._events))]

    def user_volume(self, client_id: str) -> Decimal:
        """USD traded by the account over its kept trades (the user_fee channel's volume)."""
        return sum((t.instrument.amount(t.amount)
                    for t in self._user_trades.get(self._client(client_id), ())),
                   Decimal(0))
