"""The signer process: one account's key and sequence numbers, serving strategies over NATS.

Strategies call ``kana-sign.<network>.<address>.<method>`` (request/reply) with a
:class:`SignCall`; :class:`SignerService` runs the same-named :class:`~kana_async.trade.Trader`
method and answers a :class:`Reply`: ``{result}`` or ``{error: {type, message, ...}}``, the
exception rebuilt on the strategy side (:func:`error_from_body`) with its type and outcome
details, so ``UnknownOutcomeError`` and ``in_doubt()``/``resolve()`` mean what they mean in
one process.

Why an idempotency store: a strategy that hears nothing back (its connection dropped, the reply
was lost) sends the same call again with the same ``idempotency_key``; the store answers a
finished call with its first outcome and attaches a call still running to it, so a retry never
places twice. The store is bounded (entries and bytes; running calls are never evicted).

Why an instance id: the store lives in this process. A call retried after the signer restarted
could otherwise be placed by both instances; every call names the instance it expects, and a
call for another instance is refused unexecuted (:data:`SIGNER_RESTARTED`), so the strategy
knows when an earlier attempt may have been placed by the instance that died.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
import secrets
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

import msgspec

from ..errors import (
    ApiError,
    AuthError,
    KanaError,
    PayloadMismatchError,
    RateLimitError,
    TransactionFailedError,
    TransactionRejectedError,
    TransportError,
    UnknownOutcomeError,
    ValidationError,
)
from ..models import normalize_address
from ..trade.results import TxResult
from .subjects import SIGN_ROOT, SignErrorBody, SignRequest, check_network, sign_wildcard

__all__ = [
    "BAD_REQUEST",
    "MAX_KEY_CHARS",
    "METHODS",
    "NOT_SENT",
    "QUEUE_GROUP",
    "SIGNER_BUSY",
    "SIGNER_RESTARTED",
    "ErrorBody",
    "IdempotencyStore",
    "Reply",
    "SignCall",
    "SignerInfo",
    "SignerService",
    "error_body",
    "error_from_body",
    "never_placed",
]

log = logging.getLogger(__name__)

#: The Trader methods a strategy may call through the signer (mutating and not).
METHODS: tuple[str, ...] = (
    "place_limit_order", "place_market_order", "place_multiple_orders",
    "cancel_multiple_orders", "cancel_and_place_multiple_orders", "cancel_order", "cancel_all",
    "open_order_sides", "update_take_profit", "update_stop_loss", "add_margin",
    "collapse_position", "deposit", "withdraw", "withdraw_multiple", "settle_pnl", "wait",
    "resolve",
)
#: Methods that only read: an unexpected failure in them cannot have moved money.
_READS = frozenset({"open_order_sides", "wait", "resolve", "in_doubt", "info"})
#: Signers of one account share this queue group: a call reaches exactly one of them.
QUEUE_GROUP = "kana-signer"

# Error types that exist only on the bus; each says the call was NOT executed.
#: The call names another signer instance (this one restarted since the strategy last heard).
SIGNER_RESTARTED = "SignerRestarted"
#: Too many calls are running; nothing was done, try again.
SIGNER_BUSY = "SignerBusy"
#: The body is not a call this signer understands; nothing was done.
BAD_REQUEST = "BadRequest"
#: ``resolve`` of a key the signer never received: that call is now refused if it arrives.
NOT_SENT = "NotSent"

_HASH = re.compile(r"0x[0-9a-f]{64}")
#: Longest idempotency key kept (the store's bytes bound counts replies, keys stay small).
MAX_KEY_CHARS = 128


class SignCall(SignRequest, frozen=True):
    """A :class:`~kana_async.bus.subjects.SignRequest` naming the signer ``instance`` it is
    meant for (learnt from ``info``); empty only for ``info`` and ``in_doubt``."""

    instance: str = ""


class ErrorBody(SignErrorBody, frozen=True, omit_defaults=True):
    """An exception crossing the bus, with what rebuilding its type needs."""

    param: str | None = None
    rule: str | None = None
    status: int | None = None
    endpoint: str | None = None
    reason: str | None = None
    error_code: str | None = None
    vm_error_code: int | None = None
    vm_status: str | None = None
    retry_after: float | None = None


class Reply(msgspec.Struct, frozen=True, omit_defaults=True):
    """The signer's answer: ``result`` or ``error``, and the instance that answered."""

    result: Any = None
    error: ErrorBody | None = None
    instance: str = ""


class SignerInfo(msgspec.Struct, frozen=True):
    """What ``info`` answers: whose key the signer holds, on which network, which instance."""

    address: str
    network: str
    instance: str
    methods: list[str]


# -- exceptions on the wire (pure) ----------------------------------------------------------


def error_body(exc: BaseException, *, key: str = "", reads: bool = False) -> ErrorBody:
    """``exc`` as it crosses the bus. An error that is not the SDK's own (a bug) in a call
    that moves money is reported as an unknown outcome, labelled with the call's key: the
    signer cannot prove nothing was sent."""
    name = type(exc).__name__
    message = str(exc)
    if isinstance(exc, UnknownOutcomeError):
        return ErrorBody(name, message, tx_hash=exc.tx_hash, label=exc.label or key or None,
                         reason=exc.reason)
    if isinstance(exc, ValidationError):
        return ErrorBody(name, message, param=exc.param, rule=exc.rule)
    if isinstance(exc, TransactionRejectedError):
        return ErrorBody(name, message, status=exc.status, reason=exc.message,
                         error_code=exc.error_code, vm_error_code=exc.vm_error_code,
                         vm_status=exc.vm_status)
    if isinstance(exc, RateLimitError):
        return ErrorBody(name, message, status=exc.status, endpoint=exc.endpoint,
                         reason=exc.message, retry_after=exc.retry_after)
    if isinstance(exc, ApiError):
        return ErrorBody(name, message, status=exc.status, endpoint=exc.endpoint,
                         reason=exc.message)
    if isinstance(exc, TransportError):
        return ErrorBody(name, message, status=exc.status)
    if isinstance(exc, TransactionFailedError):
        return ErrorBody(name, message, tx_hash=exc.tx_hash, vm_status=exc.vm_status)
    if isinstance(exc, KanaError):
        return ErrorBody("KanaError", message)
    if reads:
        return ErrorBody("KanaError", f"the signer failed ({name})")
    reason = f"the signer failed ({name}) after taking the call; it may have been sent"
    return ErrorBody(UnknownOutcomeError.__name__,
                     str(UnknownOutcomeError("", reason, label=key or None)),
                     tx_hash="", label=key or None, reason=reason)


def _keep_message(exc: KanaError, message: str) -> KanaError:
    """``exc`` showing exactly the signer's text (its value quoting included)."""
    exc.args = (message,)
    return exc


def error_from_body(body: ErrorBody) -> KanaError:
    """The exception :func:`error_body` describes, of the same type where the SDK has it."""
    kind, message = body.type, body.message
    exc: KanaError
    if kind == "UnknownOutcomeError":
        exc = UnknownOutcomeError(body.tx_hash or "", body.reason or message, label=body.label)
    elif kind == "ValidationError":
        exc = ValidationError(body.param or "arguments", body.rule or message)
    elif kind == "TransactionRejectedError":
        exc = TransactionRejectedError(body.reason or message, body.status or 400,
                                       body.error_code, body.vm_error_code)
    elif kind == "RateLimitError":
        exc = RateLimitError(body.endpoint or "", body.reason or message, body.status,
                             retry_after=body.retry_after)
    elif kind in ("AuthError", "PayloadMismatchError", "ApiError"):
        cls = {"AuthError": AuthError, "PayloadMismatchError": PayloadMismatchError}.get(
            kind, ApiError)
        exc = cls(body.endpoint or "", body.reason or message, body.status)
    elif kind in ("TransportError", "ConnectionRejectedError", SIGNER_BUSY):
        exc = TransportError(message, status=body.status)
    elif kind == "TransactionFailedError":
        exc = TransactionFailedError(body.tx_hash or "", body.vm_status or message)
    else:
        exc = KanaError(message)
    return _keep_message(exc, message)


def never_placed(reason: str) -> TxResult:
    """What ``resolve`` answers for a call that can never execute: not committed."""
    return TxResult("", -1, False, False, f"NOT_PLACED: {reason}")


# -- the idempotency store (pure) -----------------------------------------------------------


class IdempotencyStore:
    """Outcomes by idempotency key: finished ones (encoded replies, oldest evicted first past
    ``max_entries`` or ``max_bytes``) and running ones (never evicted; bounded by the
    service's ``max_running``)."""

    def __init__(self, *, max_entries: int = 65_536, max_bytes: int = 64 * 1024 * 1024) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValidationError("max_entries", "the store must keep at least one outcome")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._done: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self._running: dict[str, asyncio.Future[bytes]] = {}
        #: Finished outcomes evicted so far (a retry of one of them would run again).
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._done)

    @property
    def running(self) -> int:
        return len(self._running)

    def done(self, key: str) -> bytes | None:
        return self._done.get(key)

    def pending(self, key: str) -> asyncio.Future[bytes] | None:
        return self._running.get(key)

    def begin(self, key: str) -> asyncio.Future[bytes]:
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._running[key] = future
        return future

    def finish(self, key: str, reply: bytes) -> None:
        """Record ``key``'s outcome and wake whoever waits for it."""
        future = self._running.pop(key, None)
        if key not in self._done:
            self._done[key] = reply
            self._bytes += len(reply)
        while self._done and (len(self._done) > self.max_entries or self._bytes > self.max_bytes):
            _, old = self._done.popitem(last=False)
            self._bytes -= len(old)
            self.evicted += 1
        if future is not None and not future.done():
            future.set_result(reply)


# -- the service (asyncio + nats) -----------------------------------------------------------


class TradingTarget(Protocol):
    """What the service needs: a :class:`~kana_async.trade.Trader` (its address, its
    methods, its in-doubt list)."""

    @property
    def address(self) -> str: ...

    def in_doubt(self) -> list[str]: ...

    async def resolve(self, tx_hash: str, *, timeout: float | None = None) -> TxResult: ...


_encode = msgspec.json.Encoder().encode
_decode_call = msgspec.json.Decoder(SignCall).decode


class SignerService:
    """Serves one account's :class:`~kana_async.trade.Trader` on ``network`` over a NATS
    connection: ``await service.start(nc)``, ``await service.stop()``.

    ``max_running`` bounds the calls in progress (more are refused unexecuted, so memory stays
    bounded); ``store`` keeps outcomes for retries. ``on_outcome(method, seconds, result,
    error)`` (optional, e.g. for metrics) is told of every call run, with its result or the
    exception it raised.
    """

    def __init__(
        self,
        trader: TradingTarget,
        *,
        network: str,
        max_running: int = 1024,
        store: IdempotencyStore | None = None,
        on_outcome: Callable[[str, float, Any, BaseException | None], None] | None = None,
    ) -> None:
        self.trader = trader
        self.network = check_network(network)
        self.address = normalize_address(trader.address)
        #: A new random id per process: calls for another instance are refused unexecuted.
        self.instance = secrets.token_hex(8)
        self.max_running = max_running
        self.store = store if store is not None else IdempotencyStore()
        self._on_outcome = on_outcome
        self._nc: Any = None
        self._sub: Any = None
        self._tasks: set[asyncio.Task[None]] = set()
        #: Calls answered, refused busy, and bodies that were not calls.
        self.calls = 0
        self.busy = 0
        self.bad = 0

    def __repr__(self) -> str:
        return (f"SignerService(network={self.network!r}, address={self.address}, "
                f"instance={self.instance}, running={self.store.running})")

    @property
    def subject(self) -> str:
        return sign_wildcard(self.network, self.address)

    async def start(self, nc: Any) -> None:
        """Subscribe (in the queue group) on ``nc``, a connected ``nats`` client."""
        self._nc = nc
        self._sub = await nc.subscribe(self.subject, queue=QUEUE_GROUP, cb=self._on_message)
        await nc.flush()

    async def stop(self, drain_timeout: float = 10.0) -> None:
        """Take no new call; let running ones finish for up to ``drain_timeout`` seconds, then
        cancel them (their transactions stay in the trader's ``in_doubt()``). Idempotent."""
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        tasks = list(self._tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=drain_timeout)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- dispatch ---------------------------------------------------------------------------

    async def _on_message(self, msg: Any) -> None:
        """nats-py calls this in order for every call: decide at once, run in a task."""
        method = msg.subject.rsplit(".", 1)[-1]
        reply_to: str = msg.reply
        if not reply_to or not msg.subject.startswith(SIGN_ROOT + "."):
            self.bad += 1
            return
        if method == "info":
            info = SignerInfo(self.address, self.network, self.instance, list(METHODS))
            await self._send(reply_to, _encode(Reply(result=info, instance=self.instance)))
            return
        try:
            call = _decode_call(msg.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self.bad += 1
            await self._refuse(reply_to, BAD_REQUEST, f"not a signer call: {exc}")
            return
        if not 0 < len(call.idempotency_key) <= MAX_KEY_CHARS:
            await self._refuse(reply_to, BAD_REQUEST,
                               f"idempotency_key: must be 1 to {MAX_KEY_CHARS} characters")
            return
        if method not in METHODS and method != "in_doubt":
            await self._refuse(reply_to, BAD_REQUEST, f"the signer has no method {method!r}")
            return
        if method != "in_doubt" and call.instance != self.instance:
            await self._refuse(reply_to, SIGNER_RESTARTED,
                               "the call names another signer instance; it was not executed")
            return
        key = call.idempotency_key
        finished = self.store.done(key)
        if finished is not None:
            await self._send(reply_to, finished)
            return
        running = self.store.pending(key)
        # Bounded: calls running, and answers waiting for them (retries of running calls).
        if len(self._tasks) >= 4 * self.max_running or (
                running is None and self.store.running >= self.max_running):
            self.busy += 1
            state = "still running" if running is not None else "not executed"
            await self._refuse(reply_to, SIGNER_BUSY,
                               f"the signer is busy ({self.store.running} calls running); this "
                               f"call is {state}: ask again with the same key")
            return
        if running is None:
            running = self.store.begin(key)
            self._spawn(self._run(method, call))
        self._spawn(self._answer(reply_to, running))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, reply_to: str, outcome: asyncio.Future[bytes]) -> None:
        await self._send(reply_to, await asyncio.shield(outcome))

    async def _refuse(self, reply_to: str, kind: str, message: str) -> None:
        await self._send(reply_to, _encode(Reply(error=ErrorBody(kind, message),
                                                 instance=self.instance)))

    async def _send(self, reply_to: str, body: bytes) -> None:
        try:
            await self._nc.publish(reply_to, body)
        except Exception as exc:  # a lost reply: the strategy retries with the same key
            log.debug("signer reply to %s not sent: %s", reply_to, exc)

    async def _run(self, method: str, call: SignCall) -> None:
        key = call.idempotency_key
        loop = asyncio.get_running_loop()
        started = loop.time()
        error: ErrorBody | None = None
        failure: BaseException | None = None
        result: Any = None
        try:
            result = await self._execute(method, call)
        except asyncio.CancelledError as exc:
            error = error_body(exc, key=key, reads=method in _READS)
            self.store.finish(key, _encode(Reply(error=error, instance=self.instance)))
            raise
        except Exception as exc:
            failure = exc
            error = error_body(exc, key=key, reads=method in _READS)
        try:
            body = _encode(Reply(result=result, error=error, instance=self.instance))
        except (TypeError, msgspec.EncodeError) as exc:  # pragma: no cover - a result type bug
            body = _encode(Reply(error=error_body(exc, key=key, reads=method in _READS),
                                 instance=self.instance))
        self.calls += 1
        self.store.finish(key, body)
        if self._on_outcome is not None:
            try:
                self._on_outcome(method, loop.time() - started, result, failure)
            except Exception:  # a metrics bug must not stop the signer
                log.warning("the signer's on_outcome hook failed", exc_info=True)

    async def _execute(self, method: str, call: SignCall) -> Any:
        if method == "in_doubt":
            return self.trader.in_doubt()
        if method == "resolve" and call.args and isinstance(call.args[0], str) \
                and not _HASH.fullmatch(call.args[0].strip().lower()):
            return await self._resolve_key(call.args[0], call.kwargs.get("timeout"))
        function = getattr(self.trader, method)
        try:
            inspect.signature(function).bind(*call.args, **call.kwargs)
        except TypeError as exc:
            raise ValidationError("arguments", f"{method}: {exc}") from None
        return await function(*call.args, **call.kwargs)

    async def _resolve_key(self, key: str, timeout: object = None) -> Any:
        """The true outcome of the call sent with idempotency key ``key``."""
        running = self.store.pending(key)
        stored = self.store.done(key) if running is None else await asyncio.shield(running)
        if stored is None:
            # Never received: refuse it from now on, so the answer stays true if it arrives.
            reason = "the signer never received this call; it will not be executed"
            self.store.finish(key, _encode(Reply(error=ErrorBody(NOT_SENT, reason),
                                                 instance=self.instance)))
            return never_placed(reason)
        reply = msgspec.json.decode(stored, type=Reply)
        if reply.error is None:
            return reply.result
        if reply.error.type == "UnknownOutcomeError" and reply.error.tx_hash:
            limit = timeout if isinstance(timeout, (int, float)) \
                and not isinstance(timeout, bool) else None
            return await self.trader.resolve(reply.error.tx_hash, timeout=limit)
        if reply.error.type == "UnknownOutcomeError":
            raise error_from_body(reply.error)
        return never_placed(reply.error.message)
