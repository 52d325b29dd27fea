"""Trading on Kana Perps: sign (Aptos ed25519), submit, confirm.

:class:`Trader` is the high-level entry point; :class:`Submitter` owns sequence numbers and
confirmation; :class:`NodeClient` speaks to the Aptos fullnode; :class:`Signer` holds the key.
"""

from ..aptos.abi import AbiCache, FunctionAbi, ModuleAbi, parse_move_type
from .events import Fill, TxEvent
from .node import NodeClient, TransactionRejectedError, VmStatus
from .options import TradingOptions
from .results import TxResult
from .signer import Signer
from .submitter import Submitter, transaction_hash
from .trader import PayloadMismatchError, Trader

__all__ = [
    "AbiCache",
    "Fill",
    "FunctionAbi",
    "ModuleAbi",
    "NodeClient",
    "PayloadMismatchError",
    "Signer",
    "Submitter",
    "Trader",
    "TradingOptions",
    "TransactionRejectedError",
    "TxEvent",
    "TxResult",
    "VmStatus",
    "parse_move_type",
    "transaction_hash",
]
