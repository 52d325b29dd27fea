"""The simulated ``perpetual_scripts`` Move module: its ABI, what each entry function does,
and the events it emits.

The ABI is what the node serves at ``/v1/accounts/<package>/module/perpetual_scripts`` (clients
encode their arguments from it) and what the node decodes submitted arguments with. Each entry
function is dispatched to the :class:`~kana_async.sim.engine.Engine` with the on-chain integers
the transaction carries.

Events are derived from what the engine did (the records it publishes, its fill log, positions
and order counter before and after) rather than from the arguments, so they tell what happened,
not what was asked. The documents show one real Kana event, ``perpetual_core::CancelOrderEvent``
(with Econia's ``user::CancelOrderEvent`` beside it, which carries the reason); the simulator
copies those two shapes exactly. The other types (``PlaceOrderEvent``, ``FillEvent``,
``UpdatePositionEvent``, ``DepositEvent``, ``WithdrawEvent``) are its own, in the same style:
``__variant__`` ``"V1"``, u64/u128 as decimal strings, u8 as numbers, sizes in lots and prices
in ticks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from ..aptos.abi import FunctionAbi, parse_move_type
from ..models import normalize_address
from .engine import Change, EngineAbort
from .markets import MarketSpec, OrderType, Restriction, quote_units

if TYPE_CHECKING:
    from .engine import Engine

__all__ = [
    "ECONIA_ADDRESS",
    "ENTRY_FUNCTIONS",
    "MODULE_NAME",
    "CancelReason",
    "EntryDef",
    "Event",
    "Executed",
    "execute",
    "function_abi",
    "module_json",
    "run",
]

log = logging.getLogger(__name__)

MODULE_NAME = "perpetual_scripts"

#: Abort code of the module's own check that an address argument is the signer.
E_NOT_SIGNER = 0x51001

#: Econia's package on mainnet, whose ``user::CancelOrderEvent`` Kana orders emit.
ECONIA_ADDRESS = "0xc0deb00c405f84c85dc13442e305df75d1288100cdd82675695f6148c7ece51c"


class CancelReason(IntEnum):
    """Econia's ``user::CancelOrderEvent.reason`` codes."""

    EVICTION = 1
    IMMEDIATE_OR_CANCEL = 2
    MANUAL_CANCEL = 3
    MAX_QUOTE_TRADED = 4
    NOT_ENOUGH_LIQUIDITY = 5
    SELF_MATCH_MAKER = 6
    SELF_MATCH_TAKER = 7
    TOO_SMALL_TO_FILL_LOT = 8
    VIOLATED_LIMIT_PRICE = 9


#: What the arguments say of a placed order and the engine's records do not:
#: (restriction, take-profit ticks, stop-loss ticks).
_Terms = tuple[int, int, int]


def _no_orders(args: list[Any]) -> list[_Terms]:
    return []


@dataclass(frozen=True)
class EntryDef:
    """One entry function: its parameter types, the gas it uses and its effect.

    ``in_market``: the first argument is the market whose book and positions it acts on.
    ``terms``: the terms of the orders it places, in the order it places them.
    """

    name: str
    params: tuple[str, ...]
    gas_units: int
    run: Callable[[Engine, str, list[Any]], object]
    in_market: bool = False
    terms: Callable[[list[Any]], list[_Terms]] = field(default=_no_orders)


def _same_user(sender: str, user: str, function: str) -> None:
    if user != sender:
        raise EngineAbort(E_NOT_SIGNER, f"E_NOT_SIGNER: {function} acts only for the signer",
                          MODULE_NAME)


def _deposit(engine: Engine, sender: str, a: list[Any]) -> object:
    _same_user(sender, a[0], "deposit")
    engine.deposit(sender, a[1])
    return None


def _withdraw_specific(engine: Engine, sender: str, a: list[Any]) -> object:
    _same_user(sender, a[0], "withdraw_specific_market")
    engine.withdraw(sender, a[1], a[2])
    return None


def _withdraw_multiple(engine: Engine, sender: str, a: list[Any]) -> object:
    _same_user(sender, a[0], "withdraw_multiple_markets")
    engine.withdraw_multiple(sender, a[1], a[2])
    return None


_ORDERS = (
    "vector<bool>", "vector<bool>", "vector<bool>", "vector<u64>", "vector<u64>",
    "vector<u64>", "vector<u8>", "vector<u64>", "vector<u64>",
)
_IOC = int(Restriction.IMMEDIATE_OR_CANCEL)  # what the engine gives every market order


def _batch_terms(first: int) -> Callable[[list[Any]], list[_Terms]]:
    """Terms of a batch whose order vectors (``_ORDERS``) start at argument ``first``."""

    def terms(a: list[Any]) -> list[_Terms]:
        limits, restrictions, tps, sls = a[first], a[first + 6], a[first + 7], a[first + 8]
        return [(r if limit else _IOC, tp, sl)
                for limit, r, tp, sl in zip(limits, restrictions, tps, sls, strict=True)]

    return terms


_DEFS = (
    EntryDef("deposit", ("address", "u64"), 520, _deposit),
    EntryDef("withdraw_specific_market", ("address", "u64", "u64"), 540, _withdraw_specific),
    EntryDef("withdraw_multiple_markets", ("address", "vector<u64>", "u64"), 900,
             _withdraw_multiple),
    EntryDef(
        "place_limit_order",
        ("u64", "bool", "bool", "u64", "u64", "u64", "u8", "u64", "u64"),
        1_250,
        lambda e, s, a: e.place_limit_order(s, *a),
        in_market=True,
        terms=lambda a: [(a[6], a[7], a[8])],
    ),
    EntryDef(
        "place_market_order",
        ("u64", "bool", "bool", "u64", "u64", "u64", "u64"),
        1_400,
        lambda e, s, a: e.place_market_order(s, *a),
        in_market=True,
        terms=lambda a: [(_IOC, a[5], a[6])],
    ),
    EntryDef("place_multiple_orders", ("u64", *_ORDERS), 3_600,
             lambda e, s, a: e.place_multiple_orders(s, *a), in_market=True,
             terms=_batch_terms(1)),
    EntryDef("cancel_multiple_orders", ("u64", "vector<u128>", "vector<bool>"), 1_100,
             lambda e, s, a: e.cancel_multiple_orders(s, *a), in_market=True),
    EntryDef(
        "cancel_and_place_multiple_orders",
        ("u64", "vector<u128>", "vector<bool>", *_ORDERS),
        4_200,
        lambda e, s, a: e.cancel_and_place_multiple_orders(s, *a),
        in_market=True,
        terms=_batch_terms(3),
    ),
    EntryDef("update_take_profit", ("u64", "bool", "u64"), 610,
             lambda e, s, a: e.update_take_profit(s, *a), in_market=True),
    EntryDef("update_stop_loss", ("u64", "bool", "u64"), 610,
             lambda e, s, a: e.update_stop_loss(s, *a), in_market=True),
    EntryDef("add_margin", ("u64", "bool", "u64"), 640, lambda e, s, a: e.add_margin(s, *a),
             in_market=True),
    # Its market close orders are the engine's: their terms are the defaults (IOC, no TP/SL).
    EntryDef("collapse_position", ("u64",), 1_500, lambda e, s, a: e.collapse_position(s, *a),
             in_market=True),
    # Anyone may settle a user's PnL (keepers do); the user is the argument, not the signer.
    EntryDef("settle_pnl", ("address", "u64"), 700, lambda e, s, a: e.settle_pnl(a[0], a[1])),
)

#: Entry functions by name.
ENTRY_FUNCTIONS: dict[str, EntryDef] = {d.name: d for d in _DEFS}

_ABIS: dict[str, FunctionAbi] = {
    d.name: FunctionAbi(d.name, True, tuple(parse_move_type(p) for p in ("&signer", *d.params)))
    for d in _DEFS
}


def function_abi(name: str) -> FunctionAbi | None:
    """The parsed ABI of entry function ``name`` (None if the module has no such function)."""
    return _ABIS.get(name)


def module_json(package_address: str) -> dict[str, Any]:
    """The module as ``GET /v1/accounts/{addr}/module/perpetual_scripts`` returns it."""
    return {
        # The simulator runs no Move VM, so there is no bytecode to serve.
        "bytecode": "0x",
        "abi": {
            "address": package_address,
            "name": MODULE_NAME,
            "friends": [],
            "exposed_functions": [
                {
                    "name": d.name,
                    "visibility": "public",
                    "is_entry": True,
                    "is_view": False,
                    "generic_type_params": [],
                    "params": ["&signer", *d.params],
                    "return": [],
                }
                for d in _DEFS
            ],
            "structs": [],
        },
    }


def execute(engine: Engine, sender: str, function: str, args: Sequence[Any]) -> object:
    """Run entry function ``function`` for ``sender``; raises ``EngineAbort`` on abort."""
    return ENTRY_FUNCTIONS[function].run(engine, sender, list(args))


# -- events ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One event: its Move type (``<address>::<module>::<Struct>``) and its data as JSON."""

    type: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Executed:
    """What an entry function returned and the events it emitted, in emission order."""

    result: object
    events: list[Event]


@dataclass(frozen=True)
class _Before:
    """What the events are measured against: the market's order counter and the sender's
    positions there, just before the call."""

    spec: MarketSpec
    counter: int
    custodian_id: str
    positions: dict[bool, dict[str, Any]]


def run(engine: Engine, sender: str, function: str, args: Sequence[Any], *, now: int
        ) -> Executed:
    """Run ``function`` for ``sender`` and say what it did as events (``now``: their
    timestamp, in seconds). Raises ``EngineAbort`` on abort: then nothing happened, and
    there are no events."""
    definition = ENTRY_FUNCTIONS[function]
    arguments = list(args)
    profile = engine.profile_address(sender)
    market_id = arguments[0] if definition.in_market else None
    before = None
    if isinstance(market_id, int) and market_id in engine.markets:
        info = engine.market_info(market_id)
        before = _Before(engine.markets[market_id], int(info["counter"]), info["custodian_id"],
                         _positions(engine, profile, market_id))
    changes: list[Change] = []
    remove = engine.add_listener(changes.append)
    try:
        result = definition.run(engine, sender, arguments)
    finally:
        remove()
    emit = _Emitter(engine, normalize_address(engine.package_address), profile, str(now))
    try:
        if before is not None:
            matches = engine.matches(before.spec.market_id, engine.ledger_version)
            emit.orders(before, changes, definition.terms(arguments), matches)
            emit.positions(before, matches)
        if any(c.topic == "deposit_withdraw_history" and c.key == profile for c in changes):
            emit.transfers()
    except Exception:  # the call is done and committed: a reporting bug must not undo that
        log.exception("events of %s could not be derived", function)
        return Executed(result, [])
    return Executed(result, emit.events)


def _positions(engine: Engine, profile: str, market_id: int) -> dict[bool, dict[str, Any]]:
    return {p["trade_side"]: p for p in engine.positions(profile, market_id)}


def _side_and_direction(order_type: int) -> tuple[bool, bool]:
    """(trade side, direction) of an order type: long is True, close is True."""
    name = OrderType(order_type).name
    return name.endswith("_LONG"), "_OPEN_" not in name


class _Emitter:
    """Builds one transaction's events from what the engine reports after the call."""

    def __init__(self, engine: Engine, package: str, profile: str, timestamp: str) -> None:
        self.engine = engine
        self.package = package
        self.profile = profile
        self.timestamp = timestamp
        self.version = engine.ledger_version
        self.events: list[Event] = []

    def _kana(self, name: str, **data: Any) -> None:
        self.events.append(Event(f"{self.package}::perpetual_core::{name}",
                                 {"__variant__": "V1", **data, "timestamp": self.timestamp}))

    def orders(self, before: _Before, changes: list[Change], terms: list[_Terms],
               matches: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
        """Cancels of resting orders first (they run first), then each new order with its
        fills and, when its rest could not stay on the book, its cancel."""
        mine = [c.record for c in changes if c.topic == "live_order_history"
                and c.key == self.profile and c.record is not None]
        # Econia order ids carry the market's order counter in their high 64 bits.
        placed = sorted((r for r in mine if int(r["order_id"]) >> 64 > before.counter),
                        key=lambda r: int(r["order_id"]))
        new_ids = {r["order_id"] for r in placed}
        for record in mine:
            if record["order_id"] not in new_ids and record["status"] == "Cancelled":
                self._cancel(before, record, CancelReason.MANUAL_CANCEL)
        resting: set[str] | None = None
        for i, record in enumerate(placed):
            order_terms = terms[i] if i < len(terms) else (
                _IOC if record["is_market_order"] else 0, 0, 0)
            self._place(before.spec, record, order_terms)
            for taker, maker in matches:
                if taker["order_id"] == record["order_id"]:
                    self._fill(before.spec, taker, maker)
            if record["status"] in ("Cancelled", "Partially Filled"):
                if resting is None:
                    resting = set(self.engine.open_order_ids(self.profile,
                                                             before.spec.market_id))
                if record["order_id"] not in resting:
                    self._cancel(before, record, CancelReason.NOT_ENOUGH_LIQUIDITY
                                 if record["is_market_order"]
                                 else CancelReason.IMMEDIATE_OR_CANCEL)

    def _place(self, spec: MarketSpec, record: dict[str, Any], terms: _Terms) -> None:
        restriction, take_profit, stop_loss = terms
        side, direction = _side_and_direction(record["order_type"])
        market = record["is_market_order"]
        self._kana(
            "PlaceOrderEvent",
            market_id=record["market_id"],
            order_id=record["order_id"],
            order_type=record["order_type"],
            profile_address=self.profile,
            trade_side=side,
            direction=direction,
            is_market_order=market,
            size=str(spec.lots(Decimal(record["size"]))),
            price="0" if market else str(spec.ticks(Decimal(record["price"]))),
            leverage=str(record["leverage"]),
            restriction=restriction,
            take_profit=str(take_profit),
            stop_loss=str(stop_loss),
        )

    def _fill(self, spec: MarketSpec, taker: dict[str, Any], maker: dict[str, Any]) -> None:
        maker_side, maker_direction = _side_and_direction(maker["order_type"])
        self._kana(
            "FillEvent",
            market_id=taker["market_id"],
            size=str(spec.lots(Decimal(taker["size"]))),
            price=str(spec.ticks(Decimal(taker["price"]))),
            maker_side=maker_side == maker_direction,  # Econia's side: True = ask
            maker=maker["address"],
            maker_order_id=maker["order_id"],
            maker_trade_id=maker["trade_id"],
            taker=taker["address"],
            taker_order_id=taker["order_id"],
            taker_trade_id=taker["trade_id"],
        )

    def _cancel(self, before: _Before, record: dict[str, Any], reason: CancelReason) -> None:
        """The pair a real Kana cancel emits (fixture kana/rest_cancelMultipleOrders.json)."""
        side, _ = _side_and_direction(record["order_type"])
        self._kana(
            "CancelOrderEvent",
            market_id=record["market_id"],
            order_id=record["order_id"],
            order_type=record["order_type"],
            profile_address=self.profile,
            trade_side=side,
        )
        self.events.append(Event(f"{ECONIA_ADDRESS}::user::CancelOrderEvent", {
            "custodian_id": before.custodian_id,
            "market_id": record["market_id"],
            "order_id": record["order_id"],
            "reason": int(reason),
            "user": self.profile,
        }))

    def positions(self, before: _Before,
                  matches: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
        """The sender's positions that changed, then each counterparty's that a fill moved."""
        spec = before.spec
        after = _positions(self.engine, self.profile, spec.market_id)
        for side in (True, False):
            if before.positions.get(side) != after.get(side):
                self._position(spec, self.profile, side, after.get(side))
        seen = {(self.profile, True), (self.profile, False)}
        for _taker, maker in matches:
            owner = maker["address"]
            side, _ = _side_and_direction(maker["order_type"])
            if (owner, side) in seen:
                continue
            seen.add((owner, side))
            now = _positions(self.engine, owner, spec.market_id).get(side)
            self._position(spec, owner, side, now)

    def _position(self, spec: MarketSpec, owner: str, side: bool,
                  position: dict[str, Any] | None) -> None:
        """A position's state after the transaction (size 0: closed)."""
        if position is None:
            lots = leverage = take_profit = stop_loss = 0
        else:
            lots = spec.lots(Decimal(position["size"]))
            leverage = position["leverage"]
            take_profit = spec.ticks(Decimal(position["tp"])) if position["tp"] else 0
            stop_loss = spec.ticks(Decimal(position["sl"])) if position["sl"] else 0
        self._kana(
            "UpdatePositionEvent",
            market_id=str(spec.market_id),
            profile_address=owner,
            trade_side=side,
            size=str(lots),
            leverage=str(leverage),
            take_profit=str(take_profit),
            stop_loss=str(stop_loss),
        )

    def transfers(self) -> None:
        """The sender's deposits and withdrawals of this transaction (history: newest first)."""
        found = []
        for record in self.engine.deposit_withdraw_history(self.profile):
            if record["transaction_version"] < self.version:
                break
            if record["transaction_version"] == self.version:
                found.append(record)
        for record in reversed(found):
            self._kana("DepositEvent" if record["is_deposit"] else "WithdrawEvent",
                       profile_address=self.profile,
                       amount=str(quote_units(Decimal(record["amount"]))))
