"""A small asyncio client for the Aptos fullnode REST API (``/v1``), on aiohttp.

Only what trading needs: ledger info (chain id), account sequence numbers, module ABIs,
submitting BCS-signed transactions and reading them back by hash. Reads are retried when the
failure is transient; a submission never is (see ``docs/order-safety.md``).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Mapping
from typing import Any

import aiohttp
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from ..errors import ApiError, TransportError
from ..models import normalize_address

__all__ = [
    "BCS_SIGNED_TRANSACTION",
    "NodeClient",
    "SubmissionInDoubt",
    "TransactionRejectedError",
    "VmStatus",
]

#: Content type of a BCS-encoded ``SignedTransaction`` body.
BCS_SIGNED_TRANSACTION = "application/x.aptos.signed_transaction+bcs"


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


class TransactionRejectedError(ApiError):
    """The node refused a submission (HTTP 4xx): it was definitely NOT accepted.

    ``error_code`` is the node's (``vm_error``, ``invalid_input``, ...), ``vm_status`` the
    validation status name when the VM rejected it (``SEQUENCE_NUMBER_TOO_OLD``, ...).
    """

    def __init__(
        self, message: str, status: int, error_code: str | None, vm_error_code: int | None
    ) -> None:
        super().__init__("POST /transactions", message, status)
        self.error_code = error_code
        self.vm_error_code = vm_error_code
        try:
            self.vm_status: str | None = (
                VmStatus(vm_error_code).name if vm_error_code is not None else None
            )
        except ValueError:
            self.vm_status = f"VM_STATUS_{vm_error_code}"


class SubmissionInDoubt(Exception):
    """The transaction's bytes may have reached the node but no answer came back."""


class _Transient(TransportError):
    """A read failed in a way worth repeating (connection trouble, 5xx)."""


class NodeClient:
    """``NodeClient(session, "http://host/v1")``. The session belongs to the caller."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        *,
        timeout: float = 10.0,
        read_attempts: int = 3,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("node base_url must be an http(s):// URL")
        self._session = session
        self._base = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._read_attempts = read_attempts
        self._chain_id: int | None = None

    @property
    def base_url(self) -> str:
        return self._base

    # -- reads (safe to repeat) -----------------------------------------------------------

    async def _get(self, path: str, *, allow_404: bool = False) -> Any:
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(self._read_attempts),
            wait=wait_exponential_jitter(multiplier=0.05, max=1.0, jitter=0.05),
            retry=retry_if_exception_type(_Transient),
            reraise=True,
        ):
            with attempt:
                return await self._get_once(path, allow_404)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _get_once(self, path: str, allow_404: bool) -> Any:
        url = self._base + path
        try:
            async with self._session.get(url, timeout=self._timeout) as resp:
                if resp.status == 404 and allow_404:
                    return None
                body = await _json_or_none(resp)
                if resp.status >= 500:
                    raise _Transient(f"GET {path}: HTTP {resp.status}", status=resp.status)
                if resp.status >= 400:
                    raise ApiError(f"GET {path}", _message(body, resp.status), resp.status)
                return body
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise _Transient(f"GET {path}: {type(exc).__name__}: {exc}") from exc

    async def ledger_info(self) -> dict[str, Any]:
        info: dict[str, Any] = await self._get("")
        return info

    async def chain_id(self) -> int:
        """The chain id, fetched once (it never changes for a node)."""
        if self._chain_id is None:
            self._chain_id = int((await self.ledger_info())["chain_id"])
        return self._chain_id

    async def sequence_number(self, address: str) -> int:
        """The account's next sequence number; 0 for an account the chain has not seen."""
        account = await self._get(f"/accounts/{normalize_address(address)}", allow_404=True)
        return 0 if account is None else int(account["sequence_number"])

    async def module(self, address: str, name: str) -> dict[str, Any]:
        module: dict[str, Any] | None = await self._get(
            f"/accounts/{normalize_address(address)}/module/{name}", allow_404=True
        )
        if module is None:
            raise ApiError(f"GET /accounts/{address}/module/{name}", "module not found", 404)
        return module

    async def transaction_by_hash(self, tx_hash: str) -> dict[str, Any] | None:
        """The transaction (pending or committed), or None if the node does not know it."""
        tx: dict[str, Any] | None = await self._get(
            f"/transactions/by_hash/{tx_hash}", allow_404=True
        )
        return tx

    async def wait_by_hash(self, tx_hash: str) -> dict[str, Any] | None:
        """Like :meth:`transaction_by_hash`, but the node holds the request a short while
        until the transaction commits."""
        tx: dict[str, Any] | None = await self._get(
            f"/transactions/wait_by_hash/{tx_hash}", allow_404=True
        )
        return tx

    # -- the one write (never repeated) ------------------------------------------------------

    async def submit(self, signed_transaction: bytes) -> dict[str, Any]:
        """POST the BCS bytes; the pending transaction JSON on acceptance.

        Raises :class:`TransactionRejectedError` (definitely not accepted),
        :class:`~kana_async.TransportError` when the connection could not be opened (nothing
        was sent), and :class:`SubmissionInDoubt` for anything after the bytes may have left.
        """
        url = self._base + "/transactions"
        try:
            async with self._session.post(
                url,
                data=signed_transaction,
                headers={"Content-Type": BCS_SIGNED_TRANSACTION},
                timeout=self._timeout,
            ) as resp:
                body = await _json_or_none(resp)
                if resp.status in (200, 202):
                    if not isinstance(body, dict) or "hash" not in body:
                        raise SubmissionInDoubt(f"HTTP {resp.status} without a transaction")
                    return body
                if 400 <= resp.status < 500:
                    info = body if isinstance(body, dict) else {}
                    raise TransactionRejectedError(
                        _message(body, resp.status),
                        resp.status,
                        info.get("error_code"),
                        info.get("vm_error_code"),
                    )
                if resp.status == 503:
                    # Load balancers and the node itself answer 503 before reading a request.
                    raise TransportError("POST /transactions: HTTP 503", status=503)
                raise SubmissionInDoubt(f"HTTP {resp.status}")
        except aiohttp.ClientConnectorError as exc:
            raise TransportError(f"POST /transactions: cannot connect: {exc}") from exc
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise SubmissionInDoubt(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc


async def _json_or_none(resp: aiohttp.ClientResponse) -> Any:
    try:
        return await resp.json(content_type=None)
    except ValueError:
        return None


def _message(body: Any, status: int) -> str:
    if isinstance(body, Mapping) and isinstance(body.get("message"), str):
        return str(body["message"])
    return f"HTTP {status}"
