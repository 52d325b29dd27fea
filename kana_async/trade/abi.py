"""The ABI/BCS encoding now lives in :mod:`kana_async.aptos.abi` (shared with the simulated
node); this module keeps the old import path working."""

from ..aptos.abi import (
    AbiCache,
    FunctionAbi,
    ModuleAbi,
    ModuleFetcher,
    MoveType,
    decode_arguments,
    encode_entry_function,
    parse_move_type,
)

__all__ = [
    "AbiCache",
    "FunctionAbi",
    "ModuleAbi",
    "ModuleFetcher",
    "MoveType",
    "decode_arguments",
    "encode_entry_function",
    "parse_move_type",
]
