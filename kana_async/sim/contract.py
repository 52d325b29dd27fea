"""The simulated ``perpetual_scripts`` Move module: its ABI and what each entry function does.

The ABI is what the node serves at ``/v1/accounts/<package>/module/perpetual_scripts`` (clients
encode their arguments from it) and what the node decodes submitted arguments with. Each entry
function is dispatched to the :class:`~kana_async.sim.engine.Engine` with the on-chain integers
the transaction carries (spec §6.3).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..trade.abi import FunctionAbi, parse_move_type
from .engine import EngineAbort

if TYPE_CHECKING:
    from .engine import Engine

__all__ = [
    "ENTRY_FUNCTIONS",
    "MODULE_NAME",
    "EntryDef",
    "execute",
    "function_abi",
    "module_json",
]

MODULE_NAME = "perpetual_scripts"

#: Abort code of the module's own check that an address argument is the signer.
E_NOT_SIGNER = 0x51001


@dataclass(frozen=True)
class EntryDef:
    """One entry function: its parameter types, the gas it uses and its effect."""

    name: str
    params: tuple[str, ...]
    gas_units: int
    run: Callable[[Engine, str, list[Any]], object]


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
    ),
    EntryDef(
        "place_market_order",
        ("u64", "bool", "bool", "u64", "u64", "u64", "u64"),
        1_400,
        lambda e, s, a: e.place_market_order(s, *a),
    ),
    EntryDef("place_multiple_orders", ("u64", *_ORDERS), 3_600,
             lambda e, s, a: e.place_multiple_orders(s, *a)),
    EntryDef("cancel_multiple_orders", ("u64", "vector<u128>", "vector<bool>"), 1_100,
             lambda e, s, a: e.cancel_multiple_orders(s, *a)),
    EntryDef(
        "cancel_and_place_multiple_orders",
        ("u64", "vector<u128>", "vector<bool>", *_ORDERS),
        4_200,
        lambda e, s, a: e.cancel_and_place_multiple_orders(s, *a),
    ),
    EntryDef("update_take_profit", ("u64", "bool", "u64"), 610,
             lambda e, s, a: e.update_take_profit(s, *a)),
    EntryDef("update_stop_loss", ("u64", "bool", "u64"), 610,
             lambda e, s, a: e.update_stop_loss(s, *a)),
    EntryDef("add_margin", ("u64", "bool", "u64"), 640, lambda e, s, a: e.add_margin(s, *a)),
    EntryDef("collapse_position", ("u64",), 1_500, lambda e, s, a: e.collapse_position(s, *a)),
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
