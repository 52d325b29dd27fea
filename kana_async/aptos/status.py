"""How an Aptos node says no: the VM validation status codes and the shape of its error body.

The client reads a rejection with :func:`node_error` (only that shape proves the node itself
refused a submission); the simulated node writes one with :func:`error_body`. Pure code.
"""

from __future__ import annotations

import enum
from typing import Any

__all__ = ["NODE_ERROR_CODES", "VmStatus", "error_body", "node_error", "vm_status_name"]


class VmStatus(enum.IntEnum):
    """The Aptos validation status codes a submission can be rejected with."""

    UNKNOWN_VALIDATION_STATUS = 0
    INVALID_SIGNATURE = 1
    INVALID_AUTH_KEY = 2
    SEQUENCE_NUMBER_TOO_OLD = 3
    SEQUENCE_NUMBER_TOO_NEW = 4
    INSUFFICIENT_BALANCE_FOR_TRANSACTION_FEE = 5
    TRANSACTION_EXPIRED = 6
    SENDING_ACCOUNT_DOES_NOT_EXIST = 7
    EXCEEDED_MAX_TRANSACTION_SIZE = 10
    UNKNOWN_MODULE = 12
    MAX_GAS_UNITS_EXCEEDS_MAX_GAS_UNITS_BOUND = 13
    MAX_GAS_UNITS_BELOW_MIN_TRANSACTION_GAS_UNITS = 14
    GAS_UNIT_PRICE_BELOW_MIN_BOUND = 15
    GAS_UNIT_PRICE_ABOVE_MAX_BOUND = 16
    BAD_CHAIN_ID = 23


def vm_status_name(code: int) -> str:
    """The status's name; ``VM_STATUS_<code>`` for a code this table does not list."""
    try:
        return VmStatus(code).name
    except ValueError:
        return f"VM_STATUS_{code}"


#: The ``error_code`` values of the Aptos node API (``AptosErrorCode``).
NODE_ERROR_CODES = frozenset({
    "account_not_found", "resource_not_found", "module_not_found", "struct_field_not_found",
    "version_not_found", "transaction_not_found", "table_item_not_found", "block_not_found",
    "state_value_not_found", "version_pruned", "block_pruned", "invalid_input",
    "invalid_transaction_update", "sequence_number_too_old", "vm_error", "rejected_by_filter",
    "health_check_failed", "mempool_is_full", "internal_error", "web_framework_error",
    "bcs_not_supported", "api_disabled",
})


def node_error(body: object) -> dict[str, Any] | None:
    """``body`` if it is an Aptos node error: ``message`` (str), ``error_code`` (one of the
    node's codes) and optionally ``vm_error_code`` (an integer or null).

    Only such a body proves that the node itself refused a submission: a proxy, gateway or
    load balancer in between answers in its own shape."""
    if not isinstance(body, dict):
        return None
    code = body.get("vm_error_code")
    if not (isinstance(body.get("message"), str) and body.get("error_code") in NODE_ERROR_CODES
            and (code is None or (isinstance(code, int) and not isinstance(code, bool)))):
        return None
    return body


def error_body(message: str, error_code: str, vm_status: int | None = None) -> dict[str, Any]:
    """The node's error JSON: ``{"message", "error_code", "vm_error_code"}``."""
    return {
        "message": message,
        "error_code": error_code,
        "vm_error_code": None if vm_status is None else int(vm_status),
    }
