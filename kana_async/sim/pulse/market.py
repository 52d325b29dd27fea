"""What happens to the Pulse engine with time: index walk, marks, trigger orders, good-til-day
expiry, funding settlements, daily delivery prices, liquidations and the market maker.

:class:`Background` drives :class:`~.engine.PulseEngine` one :meth:`~Background.step` at a time;
each change runs in an engine transaction, so a refused piece (a trigger order without margin)
changes nothing and is reported on the order itself.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import TYPE_CHECKING

from .accounts import MAINTENANCE_MARGIN, coin
from .domain import FundingRound, Order, Settlement
from .errors import PulseError
from .history import date_of, next_0800_ms
from .instruments import Instrument
from .market_maker import FLOW_ACCOUNT, INTERNAL_PREFIX, MAKER_ACCOUNT, MarketMaker

if TYPE_CHECKING:
    from .engine import PulseEngine

__all__ = ["FUNDING_CAP", "MARK_BAND", "Background"]

MARK_BAND = Decimal("0.005")      # the mark stays within 0.5 % of the index
FUNDING_CAP = Decimal("0.0005")   # funding rate per period, +- 0.05 %
_RATE_QUANTUM = Decimal("0.00000001")


def _clamp(value: Decimal, bound: Decimal) -> Decimal:
    return max(-bound, min(bound, value))


class Background:
    """The engine's clock-driven side. ``market_maker`` None: the index stays where it is set."""

    def __init__(self, engine: PulseEngine, market_maker: MarketMaker | None) -> None:
        self.engine = engine
        self.maker = market_maker
        now = engine.now_ms()
        self.period_start = now
        self.next_funding = now + int(engine.funding_interval * 1000)
        self.next_delivery = next_0800_ms(now)
        # instrument -> [perp open, high, low, close, spot open, high, low, close]
        self.ohlc: dict[str, list[Decimal]] = {}
        self.track_prices()

    def step(self) -> None:
        engine = self.engine
        for name, price in list(engine.index.items()):
            # Published every step (the index channel's heartbeat), moved by the walk.
            engine.set_index_price(name, price if self.maker is None else self.maker.walk(price))
        self.track_prices()
        self.triggers()
        self.expire()
        now = engine.now_ms()
        if now >= self.next_funding:
            self.fund(now)
        if now >= self.next_delivery:
            for name, price in engine.index.items():
                engine._delivery[name].append((date_of(self.next_delivery), price))
            self.next_delivery = next_0800_ms(now)
        self.liquidate()
        self.quote()
        self.flow()

    # -- prices -----------------------------------------------------------------------------

    def mark_of(self, inst: Instrument) -> Decimal:
        """Index plus the book's premium, held within ``MARK_BAND`` of the index, on a tick."""
        engine = self.engine
        index = engine.index[inst.index_name]
        book = engine._books[inst.instrument_name]
        bid, ask = book.best(False), book.best(True)
        raw = index
        if bid is not None and ask is not None:
            mid = inst.price(bid + ask) / 2
            raw = index + _clamp(mid - index, index * MARK_BAND)
        return inst.price(inst.snap(raw))

    def track_prices(self) -> None:
        engine = self.engine
        for name, inst in engine.instruments.items():
            mark = engine.mark[name] = self.mark_of(inst)
            spot = engine.index[inst.index_name]
            bar = self.ohlc.get(name)
            if bar is None:
                self.ohlc[name] = [mark, mark, mark, mark, spot, spot, spot, spot]
                continue
            bar[1], bar[2], bar[3] = max(bar[1], mark), min(bar[2], mark), mark
            bar[5], bar[6], bar[7] = max(bar[5], spot), min(bar[6], spot), spot

    def funding_rate(self, inst: Instrument) -> Decimal:
        index = self.engine.index[inst.index_name]
        premium = (self.engine.mark[inst.instrument_name] - index) / index
        return _clamp(premium, FUNDING_CAP).quantize(_RATE_QUANTUM)

    # -- orders -----------------------------------------------------------------------------

    def triggers(self) -> None:
        engine = self.engine
        for order in list(engine._untriggered.values()):
            inst = order.instrument
            if order.trigger == "last_price":
                trades = engine._trades[inst.instrument_name]
                if not trades:
                    continue
                source = inst.price(trades[-1].price)
            else:
                source = engine.index[inst.index_name]
            assert order.trigger_price is not None
            level = inst.price(order.trigger_price)
            rising = order.order_type.startswith("stop_") == (order.direction == "buy")
            if (source >= level) if rising else (source <= level):
                engine._trigger(order)

    def expire(self) -> None:
        engine = self.engine
        now = engine.now_ms()
        due = [o for o in engine._expiring.values() if o.expire_ms is not None
               and o.expire_ms <= now]
        engine._cancel_many(due, "good_til_day")

    # -- money ------------------------------------------------------------------------------

    def fund(self, now: int) -> None:
        """Settle funding on every position: longs pay shorts' side to the insurance fund
        when the mark is above the index, and the reverse below it."""
        engine = self.engine
        rounds: list[FundingRound] = []
        settlements: list[tuple[str, Settlement]] = []
        with engine._txn() as j:
            for name, inst in engine.instruments.items():
                index = engine.index[inst.index_name]
                rate = self.funding_rate(inst)
                paid = volume = Decimal(0)
                for account in engine.ledger.holders.values():
                    pos = account.positions.get(name)
                    if pos is None or not pos.size:
                        continue
                    usd = inst.amount(pos.size)
                    payment = coin(usd / index * rate)
                    if payment:
                        engine.ledger.fund(j, account, pos, payment)
                    if pos.size > 0:
                        paid += payment
                        volume += usd
                    if not account.client_id.startswith(INTERNAL_PREFIX):
                        settlements.append((account.client_id, Settlement(
                            inst, now, index, "long" if pos.size > 0 else "short", -payment)))
                bar = self.ohlc[name]
                rounds.append(FundingRound(inst, self.period_start, now, rate, paid, volume,
                                           *bar))
                j.events.append(("funding", name, rounds[-1], None))
            for index_name, price in engine.index.items():
                j.events.append(("settlement", index_name, price, None))
        for funding in rounds:
            engine._funding_rounds[funding.instrument.instrument_name].append(funding)
            engine._settlement_price[funding.instrument.instrument_name] = \
                engine.mark[funding.instrument.instrument_name]
        for client_id, record in settlements:
            history = engine._settlements.get(client_id)
            if history is None:
                history = engine._settlements[client_id] = deque(maxlen=engine.max_history)
            history.append(record)
        self.period_start = now
        self.next_funding = max(self.next_funding + int(engine.funding_interval * 1000), now + 1)
        self.ohlc.clear()
        self.track_prices()

    def liquidate(self) -> None:
        """Accounts whose equity fell below maintenance margin hand their positions of that
        coin to the market maker at the mark (their open orders of that coin are cancelled)."""
        engine = self.engine
        maker = engine._accounts[MAKER_ACCOUNT]
        for account in list(engine.ledger.holders.values()):
            if account.client_id.startswith(INTERNAL_PREFIX):
                continue
            for currency in engine.currencies:
                held = [p for p in account.positions.values()
                        if p.size and p.instrument.base_currency == currency]
                if not held:
                    continue
                need = sum((engine.ledger.margin(p.instrument.amount(p.size),
                                                 engine.mark[p.instrument.instrument_name],
                                                 MAINTENANCE_MARGIN) for p in held), Decimal(0))
                if engine.equity(account, currency) >= need:
                    continue
                with engine._txn() as j:
                    for order in [o for o in engine._mine(account.client_id)
                                  if o.instrument.base_currency == currency]:
                        engine._close(j, order, "cancelled", "liquidation")
                    for pos in held:
                        inst = pos.instrument
                        ticks = inst.snap(engine.mark[inst.instrument_name])
                        lots = pos.size
                        value = coin(inst.amount(abs(lots)) / inst.price(ticks))
                        sign = 1 if lots > 0 else -1
                        engine.ledger.trade(j, account, inst, -lots, -sign * value,
                                            inst.price(ticks))
                        engine.ledger.trade(j, maker, inst, lots, sign * value,
                                            inst.price(ticks))
                        side = "sell" if lots > 0 else "buy"
                        taker = engine._internal_order(account.client_id, inst, side == "sell",
                                                       ticks, abs(lots), "liquidation")
                        other = engine._internal_order(MAKER_ACCOUNT, inst, side == "buy",
                                                       ticks, abs(lots), "liquidation")
                        engine._trade(j, inst, ticks, abs(lots), taker, other, Decimal(0),
                                      Decimal(0))
                    deficit = -account.balances.get(currency, Decimal(0))
                    if deficit > 0:  # bankrupt: the insurance fund covers the loss
                        engine.ledger.credit(j, account, currency, deficit)
                        engine.ledger.pool(j, engine.ledger.insurance, currency, -deficit)

    # -- the market maker -------------------------------------------------------------------

    def quote(self) -> None:
        """Bring every book's maker levels to the ladder around the index."""
        if self.maker is None:
            return
        engine = self.engine
        for name, inst in engine.instruments.items():
            wanted = self.maker.ladder(inst, engine.index[inst.index_name])
            book = engine._books[name]
            stale: list[Order] = []
            for order in book.owned(MAKER_ACCOUNT):
                key = (order.is_ask, order.price)
                if wanted.get(key) == order.remaining:
                    del wanted[key]
                else:
                    stale.append(order)
            try:
                with engine._txn() as j:
                    for order in stale:
                        engine._close(j, order, "cancelled", "user_request")
                    for (is_ask, ticks), lots in sorted(wanted.items()):
                        engine._execute(j, engine._internal_order(MAKER_ACCOUNT, inst, is_ask,
                                                                  ticks, lots, "limit"))
            except PulseError:
                continue  # cannot happen with ladders that never cross; keep the old quotes

    def flow(self) -> None:
        """Small market orders of the flow account, so trades keep happening."""
        if self.maker is None:
            return
        engine = self.engine
        for name, inst in engine.instruments.items():
            pos = engine._accounts[MAKER_ACCOUNT].positions.get(name)
            for quote in self.maker.flow(inst, engine.index[inst.index_name],
                                         pos.size if pos else 0):
                try:
                    with engine._txn() as j:
                        engine._execute(j, engine._internal_order(
                            FLOW_ACCOUNT, inst, quote.is_ask, None, quote.contracts, "market"))
                except PulseError:
                    continue  # not expected (the flow rests no orders): skip this one
