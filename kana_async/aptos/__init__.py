"""The Aptos wire protocol, shared by the client (:mod:`kana_async.trade`) and the simulated
node (:mod:`kana_async.sim`): entry-function arguments as BCS, driven by the module ABI
(:mod:`.abi`); signed transactions, their hash and their sender's authentication key
(:mod:`.transactions`); VM status codes and the node's error body (:mod:`.status`).

This layer imports neither ``trade`` nor ``sim``, so the fake node does not lean on the client.
"""

from .abi import (
    AbiCache,
    FunctionAbi,
    ModuleAbi,
    MoveType,
    decode_arguments,
    encode_entry_function,
    parse_move_type,
)
from .status import NODE_ERROR_CODES, VmStatus, error_body, node_error, vm_status_name
from .transactions import (
    BCS_SIGNED_TRANSACTION,
    authentication_key,
    decode_signed_transaction,
    transaction_hash,
)

__all__ = [
    "BCS_SIGNED_TRANSACTION",
    "NODE_ERROR_CODES",
    "AbiCache",
    "FunctionAbi",
    "ModuleAbi",
    "MoveType",
    "VmStatus",
    "authentication_key",
    "decode_arguments",
    "decode_signed_transaction",
    "encode_entry_function",
    "error_body",
    "node_error",
    "parse_move_type",
    "transaction_hash",
    "vm_status_name",
]
