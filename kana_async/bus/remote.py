"""The strategy side of the signer: the Trader's methods, called over NATS request/reply.

:class:`RemoteTrader` offers every trading method of :class:`~kana_async.trade.Trader` with the
same signature, results and errors; ``KanaClient(..., signer_url="nats://...",
signer_account="0x...")`` uses it instead of a local key.

Outcomes. Each call carries a fresh idempotency key. When no answer comes within
``attempt_timeout`` (a lost reply, a dropped connection, a signer busy placing), the call is
sent again with the same key: the signer answers with the first outcome and never places twice.
When the signer cannot be reached at all, nothing was sent: :class:`~kana_async.TransportError`.
When an attempt may have reached it but no answer came before ``timeout``, or the signer
restarted in between, the outcome is unknown: :class:`~kana_async.UnknownOutcomeError` whose
``label`` is the call's key; :meth:`RemoteTrader.in_doubt` lists it (with the transaction
hashes of unknown outcomes the signer reported) and :meth:`RemoteTrader.resolve` settles
either, asking the signer.

Authorization is the NATS server's: a connection the server refuses, or a publish it does not
permit, raises :class:`~kana_async.AuthError` at once (never a slow timeout).
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar, get_type_hints

import msgspec

from ..errors import AuthError, KanaError, TransportError, UnknownOutcomeError, ValidationError
from ..models import normalize_address
from ..trade.results import TxResult
from ..trade.trader import Trader
from . import check_nats_url, connect, redact_url
from .signer import (
    NOT_SENT,
    SIGNER_BUSY,
    SIGNER_RESTARTED,
    Reply,
    SignCall,
    SignerInfo,
    error_from_body,
)
from .subjects import check_network, sign_subject

__all__ = ["RemoteTrader", "redact_url"]

P = ParamSpec("P")
R = TypeVar("R")

_encode = msgspec.json.Encoder().encode
_decode_reply = msgspec.json.Decoder(Reply).decode
#: Longest pause between two attempts of one call.
_MAX_ATTEMPT_WAIT = 5.0


class _InstanceGone(KanaError):
    """A call pinned to a signer instance reached another one (it restarted)."""


class _Call:
    """One call in flight: what came back for its reply subject."""

    __slots__ = ("event", "no_responders", "refused", "reply", "subject")

    def __init__(self, subject: str) -> None:
        self.subject = subject
        self.event = asyncio.Event()
        self.reply: Reply | None = None
        self.no_responders = False
        self.refused: KanaError | None = None


def _remote(method: Callable[Concatenate[Trader, P], Awaitable[R]]
            ) -> Callable[Concatenate[RemoteTrader, P], Awaitable[R]]:
    """A :class:`RemoteTrader` method that calls the same-named Trader method in the signer."""
    name = method.__name__
    returns = get_type_hints(method)["return"]
    signature = inspect.signature(method)

    async def call(self: RemoteTrader, /, *args: P.args, **kwargs: P.kwargs) -> R:
        signature.bind(self, *args, **kwargs)  # a wrong call is a TypeError here, as direct
        raw = await self.call(name, list(args), dict(kwargs))
        result: R = msgspec.convert(raw, returns)
        return result

    call.__name__ = name
    call.__qualname__ = f"RemoteTrader.{name}"
    call.__doc__ = method.__doc__
    call.__wrapped__ = method  # type: ignore[attr-defined]
    return call


class RemoteTrader:
    """Trading for the account a ``kana-async signer`` serves, over NATS.

    ``url``: the NATS server (credentials in it, ``nats://user:password@host:port``, are the
    strategy's NATS user); ``network`` and ``address``: the signer's. ``timeout``: how long
    one call may take in all (placing with ``wait=True`` included); ``attempt_timeout``: how
    long to wait for an answer before sending the call again (same key). Open with
    ``async with`` (or :meth:`open`/:meth:`aclose`).
    """

    def __init__(self, url: str, *, network: str, address: str, timeout: float = 60.0,
                 attempt_timeout: float = 2.0) -> None:
        self._url = check_nats_url(url, "signer_url")
        self.network = check_network(network)
        self._address = normalize_address(address, param="signer_account")
        for param, value in (("timeout", timeout), ("attempt_timeout", attempt_timeout)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0 < value < float("inf"):
                raise ValidationError(param, "must be a finite number of seconds > 0", value)
        self.timeout = float(timeout)
        self.attempt_timeout = float(attempt_timeout)
        self._nc: Any = None
        self._inbox = ""
        self._instance = ""
        self._calls: dict[str, _Call] = {}
        self._tokens = itertools.count(1)
        #: In-doubt hashes (None) and labels (the signer instance the call was sent to).
        self._in_doubt: dict[str, str | None] = {}

    def __repr__(self) -> str:
        state = "open" if self._nc is not None else "closed"
        return (f"RemoteTrader(url={redact_url(self._url)!r}, network={self.network!r}, "
                f"address={self._address}, {state})")

    @property
    def address(self) -> str:
        """The signer's wallet address."""
        return self._address

    async def __aenter__(self) -> RemoteTrader:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Connect and listen for answers; learn the signer's instance if it runs."""
        if self._nc is not None:
            return
        nc = await connect(self._url, name=f"kana-remote-{self._address[:10]}",
                           on_error=self._on_error)
        try:
            self._inbox = nc.new_inbox()
            await nc.subscribe(f"{self._inbox}.*", cb=self._on_reply)
            await nc.flush()
        except BaseException:
            await nc.close()
            raise
        self._nc = nc

    async def aclose(self) -> None:
        """Close the connection (idempotent). In-doubt calls stay listed."""
        nc, self._nc = self._nc, None
        if nc is not None:
            await nc.close()
        for pending in self._calls.values():
            pending.refused = pending.refused or KanaError("the signer connection was closed")
            pending.event.set()

    # -- outcomes ---------------------------------------------------------------------------

    def in_doubt(self) -> list[str]:
        """Calls of this process whose outcome is unknown, oldest first: transaction hashes
        the signer reported in doubt, and the ``label`` (idempotency key) of a call no answer
        came for. Settle either with :meth:`resolve`."""
        return list(self._in_doubt)

    async def signer_in_doubt(self) -> list[str]:
        """The signer's own list: every transaction of the account whose outcome it does not
        know yet, whoever asked for it."""
        result = await self.call("in_doubt", [], {})
        return msgspec.convert(result, list[str])

    async def resolve(self, tx_hash: str, *, timeout: float | None = None) -> TxResult:
        """The true outcome of a transaction hash, or of a call's label (its idempotency key)
        from an :class:`~kana_async.UnknownOutcomeError`; it then leaves :meth:`in_doubt`.
        A call the signer never received is refused from then on and answers
        ``committed=False`` (``vm_status`` ``NOT_PLACED: ...``). A label is asked of the signer
        instance its call went to; when that instance is gone the outcome stays unknown. (A
        label this process never sent is answered by the running instance, which knows only
        the calls it received.)"""
        if not isinstance(tx_hash, str) or not tx_hash.strip():
            raise ValidationError("tx_hash", "must be a transaction hash or a call's label")
        target = tx_hash.strip()
        kwargs: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        limit = self.timeout if timeout is None else max(self.timeout, timeout + 10.0)
        # A label is asked of the instance its call went to: another one cannot know.
        pinned = self._in_doubt.get(target)
        try:
            raw = await self.call("resolve", [target], kwargs, timeout=limit, instance=pinned)
        except _InstanceGone:
            raise UnknownOutcomeError(
                "", "the signer that took this call has restarted and its successor cannot "
                "know whether it was executed; read the account's orders and transactions",
                label=target) from None
        try:
            result = msgspec.convert(raw, TxResult)
        except msgspec.ValidationError:
            raise KanaError(f"resolve: the call labelled {tx_hash.strip()!r} returned several "
                            "results (cancel_all) or no transaction; resolve the hashes of "
                            "its transactions instead") from None
        for settled in (tx_hash.strip(), tx_hash.strip().lower(), result.tx_hash):
            self._in_doubt.pop(settled, None)
        return result

    # -- the call ---------------------------------------------------------------------------

    async def _on_reply(self, msg: Any) -> None:
        pending = self._calls.get(msg.subject)
        if pending is None or pending.event.is_set():
            return  # an answer to an earlier attempt, already taken
        if msg.headers and msg.headers.get("Status") == "503":
            pending.no_responders = True
        else:
            try:
                pending.reply = _decode_reply(msg.data)
            except (msgspec.DecodeError, msgspec.ValidationError):
                return  # not a signer's answer: keep waiting
        pending.event.set()

    async def _on_error(self, exc: Exception) -> None:
        text = str(exc)
        if "permissions violation" not in text.lower():
            return
        for pending in self._calls.values():
            if f'"{pending.subject}"' in text or "subscription" in text.lower():
                pending.refused = AuthError(pending.subject, "the NATS server does not permit "
                                            "this connection to call the signer")
                pending.event.set()

    async def _learn_instance(self, timeout: float) -> str:
        if not self._instance:
            info = msgspec.convert(await self._request("info", None, timeout), SignerInfo)
            if normalize_address(info.address) != self._address:  # pragma: no cover
                raise KanaError("the signer answered for another account")
            self._instance = info.instance
        return self._instance

    async def call(self, method: str, args: list[Any], kwargs: dict[str, Any], *,
                   key: str | None = None, timeout: float | None = None,
                   instance: str | None = None) -> Any:
        """Call ``method`` in the signer; the raw result, or its error raised. ``instance``
        pins the signer instance (refused by any other: :class:`_InstanceGone`)."""
        if self._nc is None:
            raise RuntimeError("the remote trader is not open")
        key = key or f"k{secrets.token_hex(12)}"
        try:
            call = SignCall(key, args, kwargs)
            _encode(call)
        except (TypeError, msgspec.EncodeError) as exc:
            raise ValidationError("arguments", f"{method}: cannot be sent to the signer "
                                  f"({exc})") from None
        return await self._request(method, call, timeout, instance)

    async def _request(self, method: str, call: SignCall | None,
                       timeout: float | None = None, pinned: str | None = None) -> Any:
        """Send until answered or ``timeout``; every attempt carries the same key."""
        loop = asyncio.get_running_loop()
        total = self.timeout if timeout is None else timeout
        deadline = loop.time() + total
        subject = sign_subject(self.network, self._address, method)
        reply_to = f"{self._inbox}.{next(self._tokens)}"
        pending = _Call(subject)
        self._calls[reply_to] = pending
        label = call.idempotency_key if call is not None else None
        maybe_received = published = False
        instance: str | None = None
        wait = self.attempt_timeout
        try:
            while True:
                if call is not None:
                    instance = pinned or await self._learn_instance(
                        max(0.001, deadline - loop.time()))
                    body = _encode(msgspec.structs.replace(call, instance=instance))
                else:
                    body = b""
                pending.event.clear()
                pending.reply, pending.no_responders = None, False
                sent = await self._publish(subject, body, reply_to)
                published = published or sent
                remaining = deadline - loop.time()
                try:
                    await asyncio.wait_for(pending.event.wait(), max(0.0, min(wait, remaining)))
                except asyncio.TimeoutError:
                    maybe_received = maybe_received or sent
                if pending.refused is not None:
                    if isinstance(pending.refused, AuthError) or not published or label is None:
                        raise pending.refused
                    raise self._unknown(label, instance, "the connection to the signer was "
                                        "closed before its answer came")
                reply = pending.reply
                if reply is not None:
                    error = reply.error
                    if error is None:
                        return reply.result
                    if error.type == SIGNER_RESTARTED:
                        if pinned is not None:
                            raise _InstanceGone
                        if maybe_received and label is not None:
                            raise self._unknown(label, instance, "the signer restarted while the "
                                                "call was unanswered; the previous instance "
                                                "may have executed it")
                        self._instance = reply.instance
                        continue  # refused unexecuted: send it to the new instance
                    if error.type != SIGNER_BUSY:
                        raised = error_from_body(error)
                        if isinstance(raised, UnknownOutcomeError):
                            if raised.tx_hash:
                                self._in_doubt[raised.tx_hash] = None
                            else:
                                self._in_doubt[raised.label or label or ""] = instance
                        if error.type == NOT_SENT:
                            raise KanaError(error.message)
                        raise raised
                if loop.time() >= deadline:
                    if maybe_received and label is not None:
                        raise self._unknown(label, instance,
                                            f"no answer from the signer within {total:g}s")
                    raise TransportError(
                        f"no signer for {self._address} on {self.network} answered at "
                        f"{redact_url(self._url)}; nothing was sent")
                if reply is not None or pending.no_responders:
                    # Busy or not running: nothing was executed; wait a little and try again.
                    await asyncio.sleep(min(wait, max(0.0, deadline - loop.time())))
                wait = min(wait * 2, _MAX_ATTEMPT_WAIT)
        except asyncio.CancelledError:
            if published and label is not None:
                self._in_doubt[label] = instance  # the caller gave up; the signer may act on it
            raise
        finally:
            del self._calls[reply_to]

    def _unknown(self, label: str, instance: str | None, reason: str) -> UnknownOutcomeError:
        self._in_doubt[label] = instance
        return UnknownOutcomeError("", reason, label=label)

    async def _publish(self, subject: str, body: bytes, reply_to: str) -> bool:
        """Publish one attempt; False when it surely did not leave (connection closed)."""
        nc = self._nc
        if nc is None:
            raise KanaError("the signer connection was closed")
        try:
            await nc.publish(subject, body, reply=reply_to)
        except Exception:  # closed or reconnecting: this attempt did not leave
            return False
        return True

    # -- the Trader's methods ---------------------------------------------------------------

    place_limit_order = _remote(Trader.place_limit_order)
    place_market_order = _remote(Trader.place_market_order)
    place_multiple_orders = _remote(Trader.place_multiple_orders)
    cancel_multiple_orders = _remote(Trader.cancel_multiple_orders)
    cancel_and_place_multiple_orders = _remote(Trader.cancel_and_place_multiple_orders)
    cancel_order = _remote(Trader.cancel_order)
    cancel_all = _remote(Trader.cancel_all)
    open_order_sides = _remote(Trader.open_order_sides)
    update_take_profit = _remote(Trader.update_take_profit)
    update_stop_loss = _remote(Trader.update_stop_loss)
    add_margin = _remote(Trader.add_margin)
    collapse_position = _remote(Trader.collapse_position)
    deposit = _remote(Trader.deposit)
    withdraw = _remote(Trader.withdraw)
    withdraw_multiple = _remote(Trader.withdraw_multiple)
    settle_pnl = _remote(Trader.settle_pnl)
    wait = _remote(Trader.wait)
