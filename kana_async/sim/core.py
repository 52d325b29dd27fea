"""The simulated exchange's transaction core: placing, matching and cancelling orders.

Execution methods take the on-chain integers a transaction carries (lots, ticks, 6-decimal
quote units) and are all-or-nothing: a failing check raises :class:`~.state.EngineAbort` and
leaves every balance, book and position as it was (:meth:`~.ledger.Ledger._transaction`).
The money each step moves comes from :mod:`.risk`; the records it leaves are domain values
(:class:`~.state.Fill`, order states), formatted only where they are read.
"""

from __future__ import annotations

from .book import SelfMatchError
from .ledger import Ledger, Tx
from .markets import MAX_PRICE_TICKS, MarketSpec, OrderType, Restriction
from .risk import MAKER_FEE, TAKER_FEE, fee, fill_margin, margin, reserve, share
from .state import (
    AbortCode,
    Account,
    EngineAbort,
    Fill,
    Market,
    Order,
    Position,
    Transfer,
    econia,
)

__all__ = ["Core"]


class Core(Ledger):
    """Orders: the public execution methods and the steps they share with the background."""

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


    # -- order placement -------------------------------------------------------------------------

    def _place(
        self, tx: Tx, state: Market, account: Account, *, is_market: bool, trade_side: bool,
        direction: bool, lots: int, price: int, leverage: int, restriction: int,
        take_profit: int, stop_loss: int, order_type: OrderType | None = None,
    ) -> Order:
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
            raise econia(AbortCode.E_POST_OR_ABORT_CROSSES_SPREAD, "post-or-abort order crosses")
        fillable = book.fillable(is_ask, limit, lots)
        if restriction == Restriction.FILL_OR_ABORT and fillable < lots:
            if fillable == 0:
                raise econia(AbortCode.E_FILL_OR_ABORT_NOT_CROSS_SPREAD,
                              "fill-or-abort order does not cross the spread")
            raise econia(AbortCode.E_MIN_BASE_NOT_TRADED,
                          f"fill-or-abort order could fill only {fillable} of {lots} lots")
        rests = not is_market and restriction in (0, 3) and fillable < lots
        state.order_counter += 1
        order_id = state.order_counter << 64
        if rests:
            state.access_counter += 1
            order_id |= state.access_counter
        self._trade_seq += 1
        order = Order(
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
            order.reserved = reserve(spec, price, lots, leverage)
            account.balance -= order.reserved
        try:
            fills = book.match(is_ask, limit, lots, account.profile)
        except SelfMatchError as exc:
            raise econia(AbortCode.E_SELF_MATCH, str(exc)) from None
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
            raise econia(AbortCode.E_SIZE_TOO_SMALL,
                          f"size {lots} lots is below the minimum {spec.min_lots}")
        if lots > spec.max_lots:
            raise econia(AbortCode.E_SIZE_BASE_OVERFLOW,
                          f"size {lots} lots is above the maximum {spec.max_lots}")
        if not 1 <= leverage <= spec.max_leverage:
            raise EngineAbort(AbortCode.INVALID_LEVERAGE,
                              f"leverage {leverage} is outside 1..{spec.max_leverage}")
        if not is_market:
            if price <= 0:
                raise econia(AbortCode.E_PRICE_0, "price must be at least one tick")
            if price > MAX_PRICE_TICKS:
                raise econia(AbortCode.E_PRICE_TOO_HIGH, f"price {price} ticks is too high")
            if restriction not in (0, 1, 2, 3):
                raise econia(AbortCode.E_INVALID_RESTRICTION,
                              f"restriction {restriction} is not 0, 1, 2 or 3")
        for name, trigger in (("take profit", take_profit), ("stop loss", stop_loss)):
            if not 0 <= trigger <= MAX_PRICE_TICKS:
                raise EngineAbort(AbortCode.INVALID_TRIGGER_PRICE,
                                  f"{name} {trigger} ticks is out of range")

    def _execute_fill(
        self, tx: Tx, state: Market, order: Order, lots: int, price: int, *, taker: bool
    ) -> None:
        """Book one side of a trade: fee, margin, position, pnl and the records."""
        spec = state.spec
        account = self._touch(tx, self._profiles[order.owner])
        notional = spec.notional(lots, price)
        paid = fee(notional, TAKER_FEE if taker else MAKER_FEE)
        self.fees_collected += paid
        key = (order.owner, order.trade_side)
        if not taker:
            tx.keep_order(order)
        tx.keep_position(state, key)
        position = state.positions.get(key)
        if order.direction:  # closing
            assert position is not None
            entry = share(position.entry_value, lots, position.lots)
            freed = share(position.margin, lots, position.lots)
            gain = notional - entry if order.trade_side else entry - notional
            pnl = gain - paid
            position.lots -= lots
            position.closing -= lots
            position.entry_value -= entry
            position.margin -= freed
            position.version = tx.version
            account.pending[spec.market_id] = (
                account.pending.get(spec.market_id, 0) + freed + pnl
            )
            if position.lots == 0:
                del state.positions[key]
        else:  # opening
            if order.reserved:
                held = reserve(spec, order.price, order.remaining, order.leverage)
                account.balance += order.reserved - held
                order.reserved = held
            # A resting order fills at its own price, a share of what it held.
            taken = (margin(notional, order.leverage) if taker
                     else fill_margin(spec, order.remaining, lots, price, order.leverage))
            account.balance -= taken + paid
            pnl = -paid
            if position is None:
                position = state.positions[key] = Position(
                    owner=order.owner, market_id=spec.market_id, trade_side=order.trade_side,
                    lots=0, entry_value=0, margin=0, leverage=order.leverage,
                    trade_id=order.trade_id, timestamp=tx.now,
                )
            position.lots += lots
            position.entry_value += notional
            position.margin += taken
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
        tx.fills.append(Fill(
            spec=spec, owner=order.owner, order_id=order.order_id, trade_id=order.trade_id,
            order_type=int(order.order_type), lots=lots, price=price, value=notional,
            leverage=order.leverage, fee=paid, pnl=pnl, timestamp=tx.now, version=tx.version,
            internal=account.internal,
        ))
        if not account.internal:
            tx.touch("positions", order.owner)
            if not taker:
                tx.orders[order.order_id] = order
                tx.touch("open_orders", order.owner)

    def _release(self, state: Market, account: Account, order: Order) -> None:
        """Give back what an order held for its unfilled rest."""
        if order.direction:
            position = state.positions.get((order.owner, order.trade_side))
            if position is not None:
                position.closing -= order.remaining
        account.balance += order.reserved
        order.reserved = 0

    def _cancel(self, tx: Tx, state: Market, profile: str, order_id: int, side: bool) -> None:
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
        self, tx: Tx, state: Market, account: Account, side: bool, order_type: OrderType
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

    @staticmethod
    def _check_amount(amount: int) -> None:
        if amount <= 0:
            raise EngineAbort(AbortCode.INVALID_AMOUNT, f"amount {amount} must be positive")

    def _transfer(self, tx: Tx, account: Account, value: int, *, is_deposit: bool) -> None:
        tx.transfers.append(Transfer(account.profile, value, is_deposit, tx.now, tx.version))
