"""VM status codes and the node's error body: what the simulated node writes, the client reads."""

from __future__ import annotations

from typing import Any

import pytest

from kana_async.aptos.status import (
    NODE_ERROR_CODES,
    VmStatus,
    error_body,
    node_error,
    vm_status_name,
)


@pytest.mark.parametrize("status", list(VmStatus))
def test_a_vm_rejection_written_by_the_node_is_read_as_one(status: VmStatus) -> None:
    body = error_body(f"Invalid transaction: {status.name}", "vm_error", status)
    assert body == {"message": f"Invalid transaction: {status.name}", "error_code": "vm_error",
                    "vm_error_code": int(status)}
    assert node_error(body) is body
    assert vm_status_name(body["vm_error_code"]) == status.name


@pytest.mark.parametrize("code", sorted(NODE_ERROR_CODES))
def test_every_node_error_code_without_a_vm_status(code: str) -> None:
    body = error_body("refused", code)
    assert body["vm_error_code"] is None
    assert node_error(body) is body


def test_an_unlisted_vm_status_keeps_its_number() -> None:
    assert vm_status_name(3) == "SEQUENCE_NUMBER_TOO_OLD"
    assert vm_status_name(9999) == "VM_STATUS_9999"


@pytest.mark.parametrize(
    "body",
    [
        None,
        "Bad Gateway",
        ["message"],
        {"error": "forbidden"},
        {"message": "x", "error_code": "not_an_aptos_code"},
        {"message": 3, "error_code": "vm_error"},
        {"message": "x", "error_code": "vm_error", "vm_error_code": "3"},
        {"message": "x", "error_code": "vm_error", "vm_error_code": True},
        {"message": "x", "error_code": "vm_error", "vm_error_code": 3.0},
    ],
)
def test_other_shapes_prove_nothing(body: Any) -> None:
    assert node_error(body) is None
