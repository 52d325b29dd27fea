"""Order terms parsed once: one value per order, batch or TP/SL update, from one path.

An order's arguments are checked in two steps, because the second needs the market:

1. :func:`parse_order`, :func:`parse_placements`, :func:`parse_cancels`,
   :func:`parse_trigger`, :func:`parse_collateral` (pure, no market): sides and flags are
   real bools, the restriction is known, every number is a finite decimal >= 0 and the
   lists of a batch have one length. A bad value raises
   :class:`~kana_async.ValidationError` here, before any request.
2. ``draft.on(market)``: sizes on the lot grid and within min/max lots, prices on the tick
   grid, leverage within the market's maximum (:mod:`kana_async.units`), again a
   ``ValidationError`` if not. ``market=None`` (the REST client with ``check_grid=False``)
   checks only that sizes and prices are > 0 and leverage is within 1..20.

The result (:class:`OrderTerms`, :class:`BatchTerms`, :class:`TriggerTerms`, and
:class:`CollateralTerms` for deposits, withdrawals and margin) holds the market,
lots, ticks, leverage, TP/SL ticks and restriction together with the wire text the REST
builder sends (:meth:`~OrderTerms.query`, :meth:`~BatchTerms.body`) and the on-chain
arguments the transaction must carry (:meth:`~OrderTerms.arguments`), which the trader
compares with the payload the REST API returns before signing. Each money argument goes
through :func:`~kana_async.units.to_decimal` once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from . import checks
from .errors import ValidationError
from .models.kana import MarketInfo
from .units import leverage_of, lots_of, quote_units_of, ticks_of, to_decimal

__all__ = [
    "BatchDraft",
    "BatchOrder",
    "BatchTerms",
    "CollateralDraft",
    "CollateralTerms",
    "OrderDraft",
    "OrderTerms",
    "Terms",
    "Trigger",
    "TriggerDraft",
    "TriggerTerms",
    "parse_cancels",
    "parse_collateral",
    "parse_order",
    "parse_placements",
    "parse_trigger",
]


# -- numbers: parsed once, then put on the grid ---------------------------------------------


@dataclass(frozen=True, slots=True)
class _Number:
    """A money argument after :func:`to_decimal` and the ``>= 0`` check; ``given`` is what
    the caller wrote (messages show it, and a float's exactness is judged from it)."""

    value: Decimal
    given: object
    param: str


def _number(value: object, param: str) -> _Number:
    return _Number(checks.non_negative_decimal(value, param), value, param)


def _any_number(value: object, param: str) -> _Number:
    """A number whose bounds are checked later (leverage: against the market's maximum)."""
    return _Number(to_decimal(value, param), value, param)


def _text(number: _Number) -> str:
    """Wire text of a number. A float must be exactly what it looks like (0.5, not 0.1, whose
    binary value is 0.1000000000000000055...): money is never rounded on the way out."""
    if isinstance(number.given, float) and number.value != Decimal(repr(number.given)):
        raise ValidationError(
            number.param,
            "a float that is not exactly representable; pass a str or Decimal",
            number.given,
        )
    return format(number.value, "f")


def _require_positive(number: _Number) -> None:
    if number.value <= 0:
        raise ValidationError(number.param, "must be greater than 0", number.given)


def _size(market: MarketInfo | None, number: _Number) -> tuple[int | None, str]:
    """Lots (``None`` when the market is unknown) and wire text of a size."""
    return _on_grid(market, number, lots_of)


def _price(market: MarketInfo | None, number: _Number) -> tuple[int | None, str]:
    """Ticks (``None`` when the market is unknown) and wire text of a price."""
    return _on_grid(market, number, ticks_of)


def _on_grid(
    market: MarketInfo | None, number: _Number, rule: Callable[..., int]
) -> tuple[int | None, str]:
    if market is None:
        _require_positive(number)
        steps = None
    else:
        steps = rule(market, number.value, given=number.given, param=number.param)
    return steps, _text(number)


def _leverage(market: MarketInfo | None, number: _Number) -> int:
    return leverage_of(market, number.value, given=number.given, param=number.param)


@dataclass(frozen=True, slots=True)
class Trigger:
    """A TP/SL price: ``ticks`` 0 and ``text`` ``"0"`` when unset (0 means "none" on chain);
    ``ticks`` is ``None`` only when the market is unknown."""

    price: Decimal
    ticks: int | None
    text: str


_UNSET = Trigger(Decimal(0), 0, "0")


def _trigger(market: MarketInfo | None, number: _Number | None) -> Trigger:
    if number is None or number.value == 0:
        return _UNSET
    ticks, text = _price(market, number)
    return Trigger(number.value, ticks, text)


def _ticks(trigger: Trigger | None) -> int:
    if trigger is None:
        return 0
    return _known(trigger.ticks)


def _known(value: int | None) -> int:
    if value is None:
        raise ValueError("on-chain arguments need the market's grid (terms built without it)")
    return value


def _flag(value: bool) -> str:
    return "true" if value else "false"


# -- one order -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderTerms:
    """A limit order (``price`` set) or a market order (``price`` ``None``), checked."""

    market_id: int
    market: MarketInfo | None
    trade_side: bool
    direction: bool
    size: Decimal
    lots: int | None
    size_text: str
    price: Decimal | None
    ticks: int | None
    price_text: str | None
    leverage: int
    restriction: int | None
    take_profit: Trigger | None
    stop_loss: Trigger | None

    @property
    def function(self) -> str:
        """The ``perpetual_scripts`` entry function."""
        return "place_market_order" if self.price is None else "place_limit_order"

    def query(self) -> dict[str, str]:
        """The REST builder's query (human units as plain decimal text)."""
        query = {
            "marketId": str(self.market_id),
            "tradeSide": _flag(self.trade_side),
            "direction": _flag(self.direction),
            "size": self.size_text,
        }
        if self.price_text is not None:
            query["price"] = self.price_text
        query["leverage"] = str(self.leverage)
        if self.restriction is not None:
            query["restriction"] = str(self.restriction)
        if self.take_profit is not None:
            query["takeProfit"] = self.take_profit.text
        if self.stop_loss is not None:
            query["stopLoss"] = self.stop_loss.text
        return query

    def arguments(self) -> list[Any]:
        """The entry function's arguments, in on-chain integers.

        :raises ValueError: if the terms were built without the market (no lots or ticks).
        """
        head: list[Any] = [self.market_id, self.trade_side, self.direction, _known(self.lots)]
        if self.price is not None:
            head.append(_known(self.ticks))
        head.append(self.leverage)
        if self.restriction is not None:
            head.append(self.restriction)
        return [*head, _ticks(self.take_profit), _ticks(self.stop_loss)]


@dataclass(frozen=True, slots=True)
class OrderDraft:
    """An order's arguments checked as far as they can be without the market."""

    market_id: int
    trade_side: bool
    direction: bool
    size: _Number
    price: _Number | None
    leverage: _Number
    restriction: int | None
    take_profit: _Number | None
    stop_loss: _Number | None

    def on(self, market: MarketInfo | None) -> OrderTerms:
        """The terms on the market's grid (``None``: sign and bound checks only).

        :raises ValidationError: if the size, price, TP/SL or leverage is off the market's
            grid or bounds.
        """
        lots, size_text = _size(market, self.size)
        ticks, price_text = (None, None) if self.price is None else _price(market, self.price)
        leverage = _leverage(market, self.leverage)
        return OrderTerms(
            market_id=self.market_id,
            market=market,
            trade_side=self.trade_side,
            direction=self.direction,
            size=self.size.value,
            lots=lots,
            size_text=size_text,
            price=None if self.price is None else self.price.value,
            ticks=ticks,
            price_text=price_text,
            leverage=leverage,
            restriction=self.restriction,
            take_profit=None if self.take_profit is None else _trigger(market, self.take_profit),
            stop_loss=None if self.stop_loss is None else _trigger(market, self.stop_loss),
        )


def parse_order(
    market_id: int, trade_side: object, direction: object, size: object, price: object,
    leverage: object, restriction: object = 0, take_profit: object = None,
    stop_loss: object = None, *, limit: bool = True,
) -> OrderDraft:
    """Check one order's arguments (``limit=False``: a market order, ``price`` and
    ``restriction`` ignored); ``market_id`` is already resolved.

    :raises ValidationError: if a side is not a bool, the restriction is not 0..3, or a number
        is not a finite decimal >= 0.
    """
    side = checks.boolean(trade_side, "trade_side")
    close = checks.boolean(direction, "direction")
    rule = checks.restriction(restriction) if limit else None
    parsed_size = _number(size, "size")
    parsed_price = _number(price, "price") if limit else None
    tp = None if take_profit is None else _number(take_profit, "take_profit")
    sl = None if stop_loss is None else _number(stop_loss, "stop_loss")
    lev = _any_number(leverage, "leverage")
    return OrderDraft(market_id, side, close, parsed_size, parsed_price, lev, rule, tp, sl)


# -- TP/SL of a position ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TriggerTerms:
    """A new take-profit or stop-loss of the position (``market_id``, ``trade_side``)."""

    function: str
    market_id: int
    market: MarketInfo | None
    trade_side: bool
    trigger: Trigger

    def query(self) -> dict[str, str]:
        """The REST builder's query (the price as plain decimal text, ``"0"`` to clear)."""
        field = ("newTakeProfitPrice" if self.function == "update_take_profit"
                 else "newStopLossPrice")
        return {"marketId": str(self.market_id), "tradeSide": _flag(self.trade_side),
                field: self.trigger.text}

    def arguments(self) -> list[Any]:
        """The entry function's arguments, in on-chain integers.

        :raises ValueError: if the terms were built without the market (no ticks known).
        """
        return [self.market_id, self.trade_side, _ticks(self.trigger)]


@dataclass(frozen=True, slots=True)
class TriggerDraft:
    """A TP/SL update checked as far as it can be without the market."""

    function: str
    market_id: int
    trade_side: bool
    price: _Number

    def on(self, market: MarketInfo | None) -> TriggerTerms:
        """The terms on the market's tick grid (``None``: the sign check only).

        :raises ValidationError: if the price is off the market's tick grid.
        """
        return TriggerTerms(self.function, self.market_id, market, self.trade_side,
                            _trigger(market, self.price))


_TRIGGER_PARAMS = {
    "update_take_profit": "new_take_profit_price",
    "update_stop_loss": "new_stop_loss_price",
}


def parse_trigger(function: str, market_id: int, trade_side: object, price: object
                  ) -> TriggerDraft:
    """Check a TP/SL update: ``function`` is ``update_take_profit`` or ``update_stop_loss``; a
    price of 0 clears.

    :raises ValidationError: if ``trade_side`` is not a bool or the price is not a finite
        decimal >= 0.
    """
    side = checks.boolean(trade_side, "trade_side")
    return TriggerDraft(function, market_id, side, _number(price, _TRIGGER_PARAMS[function]))


# -- batches: cancels and placements in one transaction --------------------------------------


@dataclass(frozen=True, slots=True)
class BatchOrder:
    """Order *i* of a batch; a market order's ``ticks`` is ``None`` (the slot is not checked)
    and its ``price`` 0 when the caller left it unset."""

    is_limit: bool
    trade_side: bool
    direction: bool
    size: Decimal
    lots: int | None
    price: Decimal
    ticks: int | None
    leverage: int


@dataclass(frozen=True, slots=True)
class BatchTerms:
    """Cancels (``cancel_ids`` ``None``: none asked) and placements of one transaction."""

    market_id: int
    market: MarketInfo | None
    cancel_ids: tuple[str, ...] | None
    cancel_sides: tuple[bool, ...]
    orders: tuple[BatchOrder, ...] | None
    restriction: int
    take_profits: tuple[Trigger, ...] | None
    stop_losses: tuple[Trigger, ...] | None

    @property
    def function(self) -> str:
        """The ``perpetual_scripts`` entry function: cancels, placements or both."""
        if self.orders is None:
            return "cancel_multiple_orders"
        if self.cancel_ids is None:
            return "place_multiple_orders"
        return "cancel_and_place_multiple_orders"

    def body(self) -> dict[str, Any]:
        """The REST builder's JSON body (numbers as ``Decimal``: JSON numbers)."""
        body: dict[str, Any] = {"marketId": self.market_id}
        if self.cancel_ids is not None:
            body["cancelOrderIds"] = list(self.cancel_ids)
            body["orderSides"] = list(self.cancel_sides)
        if self.orders is None:
            return body
        body["orderTypes"] = [o.is_limit for o in self.orders]
        body["tradeSides"] = [o.trade_side for o in self.orders]
        body["directions"] = [o.direction for o in self.orders]
        body["sizes"] = [o.size for o in self.orders]
        body["prices"] = [o.price for o in self.orders]
        body["leverages"] = [o.leverage for o in self.orders]
        body["restriction"] = self.restriction
        if self.take_profits is not None:
            body["takeProfits"] = [Decimal(t.text) for t in self.take_profits]
        if self.stop_losses is not None:
            body["stopLosses"] = [Decimal(t.text) for t in self.stop_losses]
        return body

    def arguments(self) -> list[Any]:
        """The entry function's arguments (``None`` matches whatever the server put there:
        a market order's price and restriction slots).

        :raises ValueError: if the terms were built without the market (no lots or ticks).
        """
        head: list[Any] = [self.market_id]
        if self.cancel_ids is not None:
            head += [[int(i) for i in self.cancel_ids], list(self.cancel_sides)]
        if self.orders is None:
            return head
        orders = self.orders
        unset = [_UNSET] * len(orders)
        return [
            *head,
            [o.is_limit for o in orders],
            [o.trade_side for o in orders],
            [o.direction for o in orders],
            [_known(o.lots) for o in orders],
            [_known(o.ticks) if o.is_limit else None for o in orders],
            [o.leverage for o in orders],
            [self.restriction if o.is_limit else None for o in orders],
            [_ticks(t) for t in (self.take_profits or unset)],
            [_ticks(t) for t in (self.stop_losses or unset)],
        ]


@dataclass(frozen=True, slots=True)
class _DraftOrder:
    is_limit: bool
    trade_side: bool
    direction: bool
    size: _Number
    price: _Number | None  # None: a market order's unset slot
    leverage: _Number


@dataclass(frozen=True, slots=True)
class BatchDraft:
    """A batch checked as far as it can be without the market."""

    market_id: int
    cancel_ids: tuple[str, ...] | None
    cancel_sides: tuple[bool, ...]
    orders: tuple[_DraftOrder, ...] | None
    restriction: int
    take_profits: tuple[_Number | None, ...] | None
    stop_losses: tuple[_Number | None, ...] | None

    @property
    def needs_market(self) -> bool:
        """Whether there are placements to put on the grid."""
        return bool(self.orders)

    def on(self, market: MarketInfo | None) -> BatchTerms:
        """The terms on the market's grid (``None``: sign and bound checks only).

        :raises ValidationError: if a size, price, TP/SL or leverage is off the market's grid
            or bounds (naming the list item, e.g. ``sizes[2]``).
        """
        orders = None
        if self.orders is not None:
            placed = []
            for order in self.orders:
                lots, size_text = _size(market, order.size)
                if order.price is None:
                    price, ticks = Decimal(0), None
                else:
                    ticks, text = _price(market, order.price)
                    price = Decimal(text)
                placed.append(BatchOrder(
                    order.is_limit, order.trade_side, order.direction,
                    Decimal(size_text), lots, price, ticks,
                    _leverage(market, order.leverage),
                ))
            orders = tuple(placed)
        tps = (None if self.take_profits is None
               else tuple(_trigger(market, n) for n in self.take_profits))
        sls = (None if self.stop_losses is None
               else tuple(_trigger(market, n) for n in self.stop_losses))
        return BatchTerms(self.market_id, market, self.cancel_ids, self.cancel_sides, orders,
                          self.restriction, tps, sls)


def _cancels(order_ids: object, sides: object) -> tuple[tuple[str, ...], tuple[bool, ...]]:
    ids = checks.sequence(order_ids, "order_ids")
    flags = checks.sequence(sides, "cancel_trade_sides")
    checks.same_length(order_ids=ids, cancel_trade_sides=flags)
    return (
        tuple(checks.order_id(v, f"order_ids[{i}]") for i, v in enumerate(ids)),
        tuple(checks.boolean(v, f"cancel_trade_sides[{i}]") for i, v in enumerate(flags)),
    )


def _lists(
    order_types: object, trade_sides: object, directions: object, sizes: object,
    prices: object, leverages: object, take_profits: object, stop_losses: object,
    *, allow_empty: bool,
) -> tuple[dict[str, Sequence[object]], int]:
    """The parallel lists of a batch's placements, of one length, and that length."""
    lists = {
        "order_types": checks.sequence(order_types, "order_types"),
        "trade_sides": checks.sequence(trade_sides, "trade_sides"),
        "directions": checks.sequence(directions, "directions"),
        "sizes": checks.sequence(sizes, "sizes"),
        "prices": checks.sequence(prices, "prices"),
        "leverages": checks.sequence(leverages, "leverages"),
    }
    if take_profits is not None:
        lists["take_profits"] = checks.sequence(take_profits, "take_profits")
    if stop_losses is not None:
        lists["stop_losses"] = checks.sequence(stop_losses, "stop_losses")
    count = checks.same_length(**lists)
    if count == 0 and not allow_empty:
        raise ValidationError("order_types", "must contain at least one order")
    return lists, count


def parse_cancels(market_id: int, order_ids: object, cancel_trade_sides: object) -> BatchDraft:
    """Check the cancels of ``cancel_multiple_orders`` (``market_id`` already resolved).

    :raises ValidationError: if an order id or side is malformed, the lists differ in length,
        or they are empty.
    """
    ids, sides = _cancels(order_ids, cancel_trade_sides)
    if not ids:
        raise ValidationError("order_ids", "must name at least one order")
    return BatchDraft(market_id, ids, sides, None, 0, None, None)


def parse_placements(
    market_id: int,
    order_types: object,
    trade_sides: object,
    directions: object,
    sizes: object,
    prices: object,
    leverages: object,
    restriction: object = 0,
    take_profits: object = None,
    stop_losses: object = None,
    *,
    cancels: tuple[object, object] | None = None,
) -> BatchDraft:
    """Check the parallel order lists of ``place_multiple_orders``; with
    ``cancels=(order_ids, cancel_trade_sides)``, of ``cancel_and_place_multiple_orders``
    (cancels checked first; either part may be empty, not both).

    :raises ValidationError: if a list is not a sequence, the lists differ in length, a flag is
        not a bool, a number is not a finite decimal >= 0, a limit order has no price, or
        there is nothing to do.
    """
    ids: tuple[str, ...] | None = None
    sides: tuple[bool, ...] = ()
    if cancels is not None:
        ids, sides = _cancels(*cancels)
        if not ids and not len(checks.sequence(order_types, "order_types")):
            raise ValidationError("order_ids", "cancel or place at least one order")
    lists, count = _lists(order_types, trade_sides, directions, sizes, prices, leverages,
                          take_profits, stop_losses, allow_empty=cancels is not None)
    rule = checks.restriction(restriction)
    types = [checks.boolean(v, f"order_types[{i}]") for i, v in enumerate(lists["order_types"])]
    tsides = [checks.boolean(v, f"trade_sides[{i}]") for i, v in enumerate(lists["trade_sides"])]
    dirs = [checks.boolean(v, f"directions[{i}]") for i, v in enumerate(lists["directions"])]
    orders = []
    triggers: dict[str, list[_Number | None]] = {"take_profits": [], "stop_losses": []}
    for i in range(count):
        size = _number(lists["sizes"][i], f"sizes[{i}]")
        given = lists["prices"][i]
        if given is None:
            if types[i]:
                raise ValidationError(f"prices[{i}]", "a limit order needs a price > 0")
            price = None
        else:
            price = _number(given, f"prices[{i}]")
            if not types[i] and price.value == 0:
                price = None
        for name, found in triggers.items():
            if name in lists:
                value = lists[name][i]
                found.append(None if value is None else _number(value, f"{name}[{i}]"))
        leverage = _any_number(lists["leverages"][i], f"leverages[{i}]")
        orders.append(_DraftOrder(types[i], tsides[i], dirs[i], size, price, leverage))
    tps = tuple(triggers["take_profits"]) if "take_profits" in lists else None
    sls = tuple(triggers["stop_losses"]) if "stop_losses" in lists else None
    return BatchDraft(market_id, ids, sides, tuple(orders), rule, tps, sls)


# -- collateral: deposits, withdrawals, margin -----------------------------------------------


@dataclass(frozen=True, slots=True)
class CollateralTerms:
    """An amount of quote coin moved: ``deposit``, ``withdraw_specific_market``,
    ``withdraw_multiple_markets`` or ``add_margin``."""

    function: str
    user_address: str | None
    market_ids: tuple[int, ...]
    trade_side: bool | None
    amount: Decimal
    units: int
    text: str

    def query(self) -> dict[str, str]:
        """The REST builder's query (the amount as plain decimal text)."""
        query = {} if self.user_address is None else {"userAddress": self.user_address}
        if self.function == "withdraw_multiple_markets":
            query["marketIds"] = ",".join(map(str, self.market_ids))
        elif self.market_ids:
            query["marketId"] = str(self.market_ids[0])
        if self.trade_side is not None:
            query["tradeSide"] = _flag(self.trade_side)
        query["amount"] = self.text
        return query

    def arguments(self) -> list[Any]:
        """The entry function's arguments (the amount in quote-coin base units)."""
        head: list[Any] = [] if self.user_address is None else [self.user_address]
        if self.function == "withdraw_multiple_markets":
            head.append(list(self.market_ids))
        else:
            head += self.market_ids
        if self.trade_side is not None:
            head.append(self.trade_side)
        return [*head, self.units]


@dataclass(frozen=True, slots=True)
class CollateralDraft:
    """An amount checked against the quote coin's 6 decimals, before the market is known."""

    function: str
    user_address: str | None
    market_ids: tuple[int, ...]
    trade_side: bool | None
    amount: _Number
    units: int

    def on(self, market: MarketInfo | None) -> CollateralTerms:
        """The terms; a known market's own quote decimals are checked too.

        :raises ValidationError: if the amount has more decimals than the market's quote coin.
        """
        units = self.units
        if market is not None:
            units = quote_units_of(market, self.amount.value, given=self.amount.given,
                                   param=self.amount.param)
        return CollateralTerms(self.function, self.user_address, self.market_ids,
                               self.trade_side, self.amount.value, units, _text(self.amount))


def parse_collateral(
    function: str, amount: object, *, user_address: str | None = None,
    market_ids: Sequence[int] = (), trade_side: object = None,
) -> CollateralDraft:
    """Check a collateral move (``user_address`` and ``market_ids`` already checked; a
    ``trade_side`` is given for ``add_margin`` only).

    :raises ValidationError: if ``trade_side`` is not a bool, or ``amount`` is not a positive
        amount of at most 6 decimals.
    """
    side = None if trade_side is None else checks.boolean(trade_side, "trade_side")
    number = _any_number(amount, "amount")
    units = quote_units_of(None, number.value, given=amount, param="amount")
    return CollateralDraft(function, user_address, tuple(market_ids), side, number, units)


#: Every kind of checked terms a REST builder turns into a payload.
Terms = OrderTerms | BatchTerms | TriggerTerms | CollateralTerms
