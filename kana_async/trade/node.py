"""A small asyncio client for the Aptos fullnode REST API (``/v1``), on aiohttp.

Only what trading needs: ledger info (chain id), account sequence numbers, module ABIs,
submitting BCS-signed transactions and reading them back by hash. Reads are retried when the
failure is transient; a submission never is (see ``docs/order-safety.md``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import aiohttp
import msgspec
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from ..aptos.status import NODE_ERROR_CODES, VmStatus, node_error, vm_status_name
from ..aptos.transactions import BCS_SIGNED_TRANSACTION
from ..errors import ApiError, TransportError, ValidationError
from ..models import normalize_address

__all__ = [
    "BCS_SIGNED_TRANSACTION",
    "MAX_BODY_BYTES",
    "NODE_ERROR_CODES",
    "NodeClient",
    "SubmissionInDoubt",
    "TransactionRejectedError",
    "VmStatus",
    "node_error",
]

#: The largest response body read from the node by default (a module ABI is tens of KB).
MAX_BODY_BYTES = 1 << 20


class TransactionRejectedError(ApiError):
    """The node refused a submission (a 4xx with the node's own error body): it was
    definitely NOT accepted.

    ``error_code`` is the node's (``vm_error``, ``invalid_input``, ...), ``vm_status`` the
    validation status name when the VM rejected it (``SEQUENCE_NUMBER_TOO_OLD``, ...).
    """

    def __init__(
        self, message: str, status: int, error_code: str | None, vm_error_code: int | None
    ) -> None:
        super().__init__("POST /transactions", message, status)
        self.error_code = error_code
        self.vm_error_code = vm_error_code
        self.vm_status = None if vm_error_code is None else vm_status_name(vm_error_code)


class SubmissionInDoubt(Exception):
    """The transaction's bytes may have reached the node, and nothing proves it refused them."""


class _Transient(TransportError):
    """A read failed in a way worth repeating (connection trouble, 5xx)."""


class _TooLarge(Exception):
    """The response body is larger than the cap."""


class NodeClient:
    """``NodeClient(session, "http://host/v1")``. The session belongs to the caller."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        *,
        timeout: float = 10.0,
        read_attempts: int = 3,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("node base_url must be an http(s):// URL")
        if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int) \
                or max_body_bytes < 1:
            raise ValidationError("max_body_bytes", "must be a positive integer",
                                  max_body_bytes)
        self.max_body_bytes = max_body_bytes
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
            async with self._session.get(url, timeout=self._timeout,
                                         allow_redirects=False) as resp:
                if resp.status == 404 and allow_404:
                    return None
                if 300 <= resp.status < 400:
                    # Chain id and sequence numbers must come from the node we were given.
                    raise ApiError(f"GET {path}", _redirect_refused(resp), resp.status)
                try:
                    body = await _json_or_none(resp, self.max_body_bytes)
                except _TooLarge:
                    # Not retried: the same question would get the same oversized answer.
                    raise TransportError(
                        f"GET {path}: the answer is larger than {self.max_body_bytes} bytes",
                        status=resp.status,
                    ) from None
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

        Raises :class:`TransactionRejectedError` only when the node's own error body says it
        refused the transaction, :class:`~kana_async.TransportError` only when the connection
        could not be opened (nothing was sent), and :class:`SubmissionInDoubt` for everything
        else: a 429 or 5xx (a proxy may answer so after forwarding), a 4xx in another shape,
        an oversized or unreadable answer, a dropped connection, a timeout.
        """
        url = self._base + "/transactions"
        try:
            async with self._session.post(
                url,
                data=signed_transaction,
                headers={"Content-Type": BCS_SIGNED_TRANSACTION},
                timeout=self._timeout,
                # Never re-post a signed transaction elsewhere: a 3xx is answered like any
                # answer that proves nothing (in doubt).
                allow_redirects=False,
            ) as resp:
                try:
                    body = await _json_or_none(resp, self.max_body_bytes)
                except _TooLarge:
                    raise SubmissionInDoubt(
                        f"HTTP {resp.status} with an answer larger than "
                        f"{self.max_body_bytes} bytes") from None
                return _submission_outcome(resp.status, body)
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise TransportError(f"POST /transactions: cannot connect: {exc}") from exc
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise SubmissionInDoubt(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc


def _redirect_refused(resp: aiohttp.ClientResponse) -> str:
    target = resp.headers.get("Location", "")
    return (f"the node answered HTTP {resp.status} (a redirect to {target[:200] or 'nowhere'}); "
            "redirects are not followed: pass the node URL itself as node_url")


def _submission_outcome(status: int, body: Any) -> dict[str, Any]:
    """What an answer to ``POST /transactions`` proves (the pure half of :meth:`submit`)."""
    if status in (200, 202):
        if not isinstance(body, dict) or not isinstance(body.get("hash"), str):
            raise SubmissionInDoubt(f"HTTP {status} without a transaction")
        return body
    error = node_error(body)
    if 400 <= status < 500 and status not in (408, 429) and error is not None:
        raise TransactionRejectedError(
            str(error["message"]), status, str(error["error_code"]), error.get("vm_error_code")
        )
    # A 429, a 408, a 5xx, or a 4xx that is not the node's: something in between may have
    # forwarded the transaction before answering.
    detail = f": {error['message']}" if error is not None else ""
    raise SubmissionInDoubt(f"HTTP {status}{detail}")


async def _json_or_none(resp: aiohttp.ClientResponse, limit: int) -> Any:
    """The JSON body, or None if it is not JSON; :class:`_TooLarge` past ``limit`` bytes
    (checked against ``Content-Length`` first, then while reading)."""
    if resp.content_length is not None and resp.content_length > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await resp.content.read(65536)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    try:
        return msgspec.json.decode(b"".join(chunks))
    except msgspec.DecodeError:
        return None


def _message(body: Any, status: int) -> str:
    if isinstance(body, Mapping) and isinstance(body.get("message"), str):
        return str(body["message"])
    return f"HTTP {status}"
