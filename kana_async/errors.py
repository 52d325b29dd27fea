"""Every public exception the SDK raises, in one place.

Catch :class:`KanaError` to handle anything the SDK reports. Messages never contain secrets
(API keys, client secrets, private keys, tokens)::

    KanaError
    ├── ValidationError          input broke a rule; nothing was sent (also a ValueError)
    ├── ApiError                 the server answered with an error
    │   ├── AuthError            401 / 403
    │   ├── RateLimitError       429, with retry_after
    │   ├── TransactionRejectedError   the node's own error body: definitely not accepted
    │   └── PayloadMismatchError the REST payload does not do what was asked; not signed
    ├── TransportError           no usable answer (connection, timeout, 5xx)
    │   └── ConnectionRejectedError    a WebSocket handshake or certificate refused for good
    ├── SlowConsumerError        a subscription's buffer overflowed; says how much was lost
    ├── StreamGapError           the socket was replaced; event topics may have missed items
    ├── TransactionFailedError   committed, but the Move call aborted
    ├── UnknownOutcomeError      maybe executed: carries tx_hash (see kana.in_doubt())
    └── PulseRpcError            a Pulse JSON-RPC error object (code, message, data)
"""

from __future__ import annotations

import datetime
import re
from decimal import Decimal
from typing import Any

__all__ = [
    "ApiError",
    "AuthError",
    "ConnectionRejectedError",
    "KanaError",
    "PayloadMismatchError",
    "PulseRpcError",
    "RateLimitError",
    "SlowConsumerError",
    "StreamGapError",
    "TransactionFailedError",
    "TransactionRejectedError",
    "TransportError",
    "UnknownOutcomeError",
    "ValidationError",
    "describe_value",
]

#: Longest text of a value shown in a message (hostile input must not flood a log).
_SHOWN_CHARS = 60
_SHOWN_ITEMS = 5
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def describe_value(value: object) -> str:
    """A value as the user wrote it, for error texts: ``5.0005``, not ``Decimal('5.0005')``.

    Numbers and bools as literals (numeric text too), other strings quoted, lists bracketed
    (the first few items), times in ISO-8601; any other object by its type only. Long texts
    are cut.
    """
    if isinstance(value, Decimal):
        text = format(value, "f") if value.is_finite() else str(value)
    elif isinstance(value, (bool, int, float)):
        text = str(value)
    elif isinstance(value, str):
        # Numeric text is shown as the number it spells; any other text quoted.
        text = value if _NUMBER.fullmatch(value) else repr(value)
    elif isinstance(value, (datetime.datetime, datetime.date)):
        text = value.isoformat()
    elif isinstance(value, (list, tuple)):
        items = [describe_value(item) for item in value[:_SHOWN_ITEMS]]
        if len(value) > _SHOWN_ITEMS:
            items.append(f"… {len(value)} items")
        text = "[" + ", ".join(items) + "]"
    else:
        name = type(value).__name__
        return f"an {name}" if name[:1].lower() in "aeiou" else f"a {name}"
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


class KanaError(Exception):
    """Base of every error raised by kana_async; ``except KanaError`` catches them all.

    Raised as itself for a setup the SDK cannot work with, e.g. trading without a private key,
    a network with no REST or node URL, or a call on a closed stream or submitter: the message
    says what to pass or open.
    """


class ValidationError(KanaError, ValueError):
    """An input broke a rule before anything was sent: a bad argument, a size or price off the
    market's grid, an unknown market name, a node serving another chain.

    ``param`` names the offending parameter, ``rule`` the rule it broke and ``value`` what was
    given (never a secret). Fix the input; retrying the same call fails the same way. Also a
    :class:`ValueError`.
    """

    def __init__(self, param: str, rule: str, value: object = None) -> None:
        self.param = param
        self.rule = rule
        self.value = value
        shown = "" if value is None else f" (got {describe_value(value)})"
        super().__init__(f"{param}: {rule}{shown}")


class ApiError(KanaError):
    """The server answered, but said the request failed: ``success: false``, a 4xx, an answer
    that cannot be read (not a Kana envelope, larger than ``max_body``) or a redirect to
    another origin, which is never followed.

    ``endpoint`` names the call, ``message`` is the server's reason and ``status`` the HTTP
    status (``None`` when the answer had none). Not retried: the same request gets the same
    answer, so read the message and change the request (or ``rest_url``).
    """

    def __init__(self, endpoint: str, message: str, status: int | None = None) -> None:
        self.endpoint = endpoint
        self.message = message
        self.status = status
        where = f"{endpoint} (HTTP {status})" if status is not None else endpoint
        super().__init__(f"{where}: {message}")


class AuthError(ApiError):
    """The API key is missing, wrong or lacks the permission (HTTP 401/403).

    Not retried: pass a valid ``api_key`` to the client.
    """


class RateLimitError(ApiError):
    """The server asked us to slow down (HTTP 429) and kept asking until the retry policy was
    spent. ``retry_after`` is the seconds it asked for, if given.

    Wait that long before the next call, and pace the bot (``KanaClient(rate_limit=...)``).
    """

    def __init__(
        self,
        endpoint: str,
        message: str,
        status: int | None = 429,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(endpoint, message, status)
        self.retry_after = retry_after


class TransactionRejectedError(ApiError):
    """The node refused a submission (a 4xx with the node's own error body): it was
    definitely NOT accepted and will never execute.

    ``error_code`` is the node's (``vm_error``, ``invalid_input``, ...), ``vm_status`` the
    validation status name when the VM rejected it (``INSUFFICIENT_BALANCE_FOR_TRANSACTION_FEE``,
    ...). A stale sequence number is retried once with a fresh one before this is raised.
    Sending the order again is safe; fix what ``vm_status`` names first (gas, balance).
    """

    def __init__(
        self, message: str, status: int, error_code: str | None, vm_error_code: int | None
    ) -> None:
        # Here, not at the top: the aptos package imports this module.
        from .aptos.status import vm_status_name

        super().__init__("POST /transactions", message, status)
        self.error_code = error_code
        self.vm_error_code = vm_error_code
        self.vm_status = None if vm_error_code is None else vm_status_name(vm_error_code)


class PayloadMismatchError(ApiError):
    """The REST API returned a payload that does not do what was asked (another function, or
    other arguments than the checked terms); it was not signed, nothing was sent.

    A server bug or a tampered answer: do not work around it; report it, and check
    ``rest_url`` points at the real API.
    """


class TransportError(KanaError):
    """No usable answer: a connection failure, a timeout or a 5xx, after the retry policy
    (REST calls and node reads are retried; a submission never is).

    ``status`` is the HTTP status of a 5xx, else ``None``. Raised by a submission only when the
    connection never opened, so nothing was sent. Also ends a stream's subscriptions when
    ``ReconnectPolicy.max_attempts`` connects failed in a row. Usually temporary: try again
    later, and alert if it persists.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class ConnectionRejectedError(TransportError):
    """A connection was refused in a way retrying cannot fix (a 4xx answer to the WebSocket
    handshake, a TLS certificate that fails verification). ``cause`` says which.

    The stream does not reconnect after it: every subscription's next read raises it. Check
    the URL, the API key and the certificate (``ca_file=``/``ssl_context=``).
    """

    def __init__(self, url: str, cause: str, *, status: int | None = None) -> None:
        self.url = url
        self.cause = cause
        super().__init__(
            f"cannot connect to {url}: {cause}; retrying cannot fix this (check the URL, "
            "the API key and the certificate)",
            status=status,
        )


class SlowConsumerError(KanaError):
    """An event subscription's buffer overflowed: ``lost`` items were dropped before this read.

    Raised once by the consumer's next read of an ``Overflow.ERROR`` subscription; iterating
    again continues with the items kept. Resync what was lost through REST, then read faster
    (hand work to another task) or raise ``buffer_size``.
    """

    def __init__(
        self, topic: str, lost: int, capacity: int, *, capacity_bytes: int | None = None
    ) -> None:
        self.topic = topic
        self.lost = lost
        self.capacity = capacity
        #: The buffer's bound in bytes, when it has one (it is bounded in items and bytes).
        self.capacity_bytes = capacity_bytes
        bound = f"{capacity}" if capacity_bytes is None else (
            f"{capacity} items or {capacity_bytes} bytes"
        )
        super().__init__(
            f"{topic}: consumer too slow, {lost} item(s) lost after the buffer of {bound} filled"
        )


class StreamGapError(KanaError):
    """An event subscription may have missed items (the connection dropped and came back).

    Raised once by the consumer's next read after a reconnect, where the gap is; iterating
    again continues with the events received since. Resync through REST if every event
    matters.
    """

    def __init__(self, topic: str, reconnects: int) -> None:
        self.topic = topic
        self.reconnects = reconnects
        super().__init__(f"{topic}: stream reconnected; events may have been missed")


class TransactionFailedError(KanaError):
    """A transaction was committed but its execution failed (a Move abort): the sequence
    number and the gas were used, nothing else happened.

    Raised only by :meth:`TxResult.raise_for_status <kana_async.TxResult.raise_for_status>`
    (trading calls return such a result with ``success=False``). ``vm_status`` says why, e.g.
    an order the market's rules refused; fix that before sending again.
    """

    def __init__(self, tx_hash: str, vm_status: str) -> None:
        self.tx_hash = tx_hash
        self.vm_status = vm_status
        super().__init__(f"transaction {tx_hash} failed: {vm_status}")


class UnknownOutcomeError(KanaError):
    """A transaction (or a Pulse order) was sent but its fate is unknown: no answer within
    ``submit_timeout``, an answer that proves nothing, or no commit within the wait.

    It is never re-sent automatically, and sending it again may trade twice. Settle it by
    ``tx_hash`` with :meth:`KanaClient.resolve <kana_async.KanaClient.resolve>` (it is listed
    in :meth:`KanaClient.in_doubt <kana_async.KanaClient.in_doubt>` meanwhile); a Pulse order by
    its ``label``. ``reason`` says what was seen.
    """

    def __init__(self, tx_hash: str, reason: str, *, label: str | None = None) -> None:
        self.tx_hash = tx_hash
        self.reason = reason
        #: The order's label when it has one (a Pulse order: find it by label, never resend).
        self.label = label
        what = f"transaction {tx_hash}" if tx_hash or label is None \
            else f"order labelled {label!r}"
        super().__init__(f"outcome of {what} unknown: {reason}")


class PulseRpcError(KanaError):
    """A Pulse JSON-RPC call returned an error object: ``code``, ``message`` and ``data`` are
    the server's (a subscription the gateway did not accept fails its reads with code 0).

    The request was answered: an order refused this way was not placed. Code 10028 (busy, or
    HTTP 429) means try again later (the client already waited it out, except for orders);
    any other code names what to fix, and the same request gets the same answer.
    """

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        self.code = code
        self.message = message
        self.data = data
        super().__init__(f"Pulse error {code}: {message}")
