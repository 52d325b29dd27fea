"""A small asyncio client for the Aptos fullnode REST API (``/v1``), on the HTTP seam.

Only what trading needs: ledger info (chain id), account sequence numbers, module ABIs,
submitting BCS-signed transactions and reading them back by hash. Reads are retried when the
failure is transient (the shared :class:`~kana_async._http.RetryPolicy`); a submission never
is, and no redirect is ever followed (see ``docs/order-safety.md``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import aiohttp
import msgspec
from yarl import URL

from .._http import (
    AiohttpTransport,
    AnswerTooLarge,
    ConnectFailed,
    HttpFailure,
    Request,
    Response,
    RetryPolicy,
    Transport,
    parse_retry_after,
)
from ..aptos.status import NODE_ERROR_CODES, VmStatus, node_error
from ..aptos.transactions import BCS_SIGNED_TRANSACTION
from ..errors import (
    ApiError,
    RateLimitError,
    TransactionRejectedError,
    TransportError,
    ValidationError,
)
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

logger = logging.getLogger("kana_async.trade.node")
_SUBMIT_HEADERS = {"Content-Type": BCS_SIGNED_TRANSACTION}
_NO_HEADERS: dict[str, str] = {}


class SubmissionInDoubt(Exception):
    """The transaction's bytes may have reached the node, and nothing proves it refused them."""


class _Transient(TransportError):
    """A read failed in a way worth repeating (connection trouble, 5xx)."""


#: What a read repeats: no usable answer, a 5xx, a 429 (an oversized answer would come again).
_READ_RETRYABLE = (_Transient, RateLimitError)


class NodeClient:
    """``NodeClient(session, "http://host/v1")``. The session belongs to the caller.

    ``session`` may also be a :class:`~kana_async._http.Transport` (a ``MockTransport`` in
    tests). Reads follow ``retry``; without one, a default policy of ``read_attempts`` tries.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | Transport,
        base_url: str,
        *,
        timeout: float = 10.0,
        read_attempts: int = 3,
        max_body_bytes: int = MAX_BODY_BYTES,
        retry: RetryPolicy | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("node base_url must be an http(s):// URL")
        if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int) \
                or max_body_bytes < 1:
            raise ValidationError("max_body_bytes", "must be a positive integer",
                                  max_body_bytes)
        self.max_body_bytes = max_body_bytes
        #: What requests go through (shared: another client may reuse it).
        self.transport: Transport = (
            AiohttpTransport(session) if isinstance(session, aiohttp.ClientSession) else session
        )
        self._base = base_url.rstrip("/")
        self._timeout = float(timeout)
        if retry is None:
            if isinstance(read_attempts, bool) or not isinstance(read_attempts, int) \
                    or read_attempts < 1:
                raise ValidationError("read_attempts", "must be an int >= 1", read_attempts)
            retry = RetryPolicy(attempts=read_attempts)
        self.retry = retry
        self._chain_id: int | None = None

    @property
    def base_url(self) -> str:
        return self._base

    # -- reads (safe to repeat) -----------------------------------------------------------

    async def _get(self, path: str, *, allow_404: bool = False) -> Any:
        return await self.retry.run(
            lambda timeout: self._get_once(path, allow_404, timeout),
            timeout=self._timeout,
            what=f"GET {path}",
            log=logger,
            retry_on=_READ_RETRYABLE,
        )

    async def _get_once(self, path: str, allow_404: bool, timeout: float) -> Any:
        request = Request("GET", URL(self._base + path), _NO_HEADERS)
        try:
            resp = await self.transport.handle(
                request, timeout=timeout, max_body=self.max_body_bytes
            )
        except AnswerTooLarge as exc:
            # Not retried: the same question would get the same oversized answer.
            raise TransportError(
                f"GET {path}: the answer is larger than {self.max_body_bytes} bytes",
                status=exc.status,
            ) from None
        except HttpFailure as exc:
            raise _Transient(f"GET {path}: {exc.detail}") from exc
        status = resp.status
        if status == 404 and allow_404:
            return None
        if 300 <= status < 400:
            # Chain id and sequence numbers must come from the node we were given.
            raise ApiError(f"GET {path}", _redirect_refused(resp), status)
        body = _json_or_none(resp.body)
        if status == 429:
            raise RateLimitError(f"GET {path}", _message(body, status), status,
                                 retry_after=parse_retry_after(resp.headers.get("Retry-After")))
        if status >= 500:
            raise _Transient(f"GET {path}: HTTP {status}", status=status)
        if status >= 400:
            raise ApiError(f"GET {path}", _message(body, status), status)
        return body

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
        request = Request(
            "POST", URL(self._base + "/transactions"), _SUBMIT_HEADERS, signed_transaction
        )
        try:
            # The transport never follows a redirect: a signed transaction is never re-posted
            # elsewhere, and a 3xx is answered like any answer that proves nothing (in doubt).
            resp = await self.transport.handle(
                request, timeout=self._timeout, max_body=self.max_body_bytes
            )
        except AnswerTooLarge as exc:
            raise SubmissionInDoubt(
                f"HTTP {exc.status} with an answer larger than {self.max_body_bytes} bytes"
            ) from None
        except ConnectFailed as exc:
            raise TransportError(f"POST /transactions: cannot connect: {exc.detail}") from exc
        except HttpFailure as exc:
            raise SubmissionInDoubt(exc.detail) from exc
        return _submission_outcome(resp.status, _json_or_none(resp.body))


def _redirect_refused(resp: Response) -> str:
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


def _json_or_none(body: bytes) -> Any:
    """The JSON body, or None if it is not JSON."""
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None


def _message(body: Any, status: int) -> str:
    if isinstance(body, Mapping) and isinstance(body.get("message"), str):
        return str(body["message"])
    return f"HTTP {status}"
