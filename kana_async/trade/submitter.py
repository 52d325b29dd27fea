"""Sign, submit and confirm transactions for one account, with safe sequence numbers.

Sequence numbers are handed out locally under a lock so many transactions can be in flight
at once (bounded), fetched from the node on first use and resynchronised after the node says
they are stale, or after a submission whose fate is unknown once nothing else is in flight.

A submission is never re-sent when its fate is unknown: the caller gets
:class:`~kana_async.UnknownOutcomeError` with the transaction hash, and :meth:`Submitter.resolve`
later tells what happened. The policy is written down in ``docs/order-safety.md``.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aptos_sdk.account_address import AccountAddress
from aptos_sdk.transactions import (
    EntryFunction,
    RawTransaction,
    SignedTransaction,
    TransactionPayload,
)

from .._tasks import timeout as time_limit
from ..errors import TransactionFailedError, TransportError, UnknownOutcomeError, ValidationError
from . import events as _events
from .events import Fill, TxEvent
from .node import NodeClient, SubmissionInDoubt, TransactionRejectedError, VmStatus
from .signer import Signer

__all__ = ["Submitter", "TxResult", "transaction_hash"]

_HASH_PREFIX = hashlib.sha3_256(b"APTOS::Transaction").digest()
_USER_TRANSACTION = b"\x00"  # the UserTransaction variant of the Transaction enum

#: Rejections that mean "this sequence number is stale"; the transaction was not accepted, so
#: signing it again with a fresh number is safe (done at most once).
_STALE_SEQUENCE = frozenset(
    {VmStatus.SEQUENCE_NUMBER_TOO_OLD.name, VmStatus.SEQUENCE_NUMBER_TOO_NEW.name}
)


#: How many submitted transactions are remembered before old ones are pruned.
_REMEMBER = 4096


def transaction_hash(signed_bcs: bytes) -> str:
    """The hash Aptos gives a signed user transaction (known before it is sent)."""
    return "0x" + hashlib.sha3_256(_HASH_PREFIX + _USER_TRANSACTION + signed_bcs).hexdigest()


@dataclass(frozen=True, slots=True)
class TxResult:
    """What became of a transaction.

    ``committed`` is False while it is pending (``wait=False``) and when it expired without
    ever being committed. ``success`` is None while pending. A committed transaction that
    failed (a Move abort) has ``success=False`` and the reason in ``vm_status``; call
    :meth:`raise_for_status` to turn that into :class:`~kana_async.TransactionFailedError`.

    ``events`` are the events the node reported for the committed transaction (none while
    pending, none when it failed); :attr:`order_ids`, :attr:`cancelled_order_ids` and
    :attr:`fills` read Kana's order events among them.
    """

    tx_hash: str
    sequence_number: int
    committed: bool
    success: bool | None
    vm_status: str
    version: int | None = None
    gas_used: int | None = None
    events: tuple[TxEvent, ...] = field(default=(), repr=False, hash=False)

    @property
    def pending(self) -> bool:
        return self.success is None

    @property
    def order_ids(self) -> list[str]:
        """Ids of the orders this transaction placed, in placement order, as the node reported
        them. Empty when it placed none, is pending or failed, or the node reports no events.
        An order whose rest could not stay on the book (a market or immediate-or-cancel order
        not filled in full) is placed and cancelled at once: it is in both lists."""
        return _events.placed_order_ids(self.events)

    @property
    def cancelled_order_ids(self) -> list[str]:
        """Ids of the orders this transaction cancelled, as the node reported them."""
        return _events.cancelled_order_ids(self.events)

    @property
    def fills(self) -> list[Fill]:
        """The matches this transaction's orders made, in order, as the node reported them."""
        return _events.fills(self.events)

    def raise_for_status(self) -> TxResult:
        if self.success is False:
            raise TransactionFailedError(self.tx_hash, self.vm_status)
        return self

    @classmethod
    def from_node(cls, tx: Mapping[str, Any]) -> TxResult:
        if tx.get("type") == "pending_transaction":
            return cls(str(tx["hash"]), int(tx["sequence_number"]), False, None, "pending")
        return cls(
            tx_hash=str(tx["hash"]),
            sequence_number=int(tx["sequence_number"]),
            committed=True,
            success=bool(tx["success"]),
            vm_status=str(tx.get("vm_status", "")),
            version=int(tx["version"]) if tx.get("version") is not None else None,
            gas_used=int(tx["gas_used"]) if tx.get("gas_used") is not None else None,
            events=_events.parse_events(tx.get("events")),
        )


@dataclass(frozen=True, slots=True)
class _Sent:
    sequence_number: int
    expiration: int


class Submitter:
    """Submits entry functions for ``signer`` through ``node``.

    ``max_in_flight`` bounds the submissions between sequence-number allocation and the node's
    answer; ``expiry_secs`` is how long the chain may still commit a transaction;
    ``submit_timeout`` how long to wait for the node to answer a POST; ``wait_timeout`` how
    long :meth:`submit` waits for the commit before reporting an unknown outcome. With
    ``chain_id`` set, nothing is signed for a node that serves another chain.
    """

    def __init__(
        self,
        node: NodeClient,
        signer: Signer,
        *,
        max_in_flight: int = 32,
        max_gas_amount: int = 20_000,
        gas_unit_price: int = 100,
        expiry_secs: float = 30.0,
        submit_timeout: float = 10.0,
        wait_timeout: float = 30.0,
        poll_interval: float = 0.05,
        chain_id: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        for name, value in (("max_in_flight", max_in_flight), ("max_gas_amount", max_gas_amount),
                            ("gas_unit_price", gas_unit_price)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValidationError(name, "must be a positive integer", value)
        for name, seconds in (("expiry_secs", expiry_secs), ("submit_timeout", submit_timeout),
                              ("wait_timeout", wait_timeout), ("poll_interval", poll_interval)):
            if not seconds > 0:
                raise ValidationError(name, "must be a positive number of seconds", seconds)
        self._node = node
        self._signer = signer
        self.chain_id = chain_id
        self._sender = AccountAddress.from_str_relaxed(signer.address)
        self.max_gas_amount = max_gas_amount
        self.gas_unit_price = gas_unit_price
        self.expiry_secs = expiry_secs
        self.submit_timeout = submit_timeout
        self.wait_timeout = wait_timeout
        self._poll = poll_interval
        self._clock = clock
        self._slots = asyncio.Semaphore(max_in_flight)
        self._lock = asyncio.Lock()
        self._next: int | None = None
        self._free: list[int] = []  # numbers handed out but definitely unused: reuse first
        self._unanswered = 0
        self._resync = False
        self._sent: dict[str, _Sent] = {}

    @property
    def address(self) -> str:
        return self._signer.address

    # -- sequence numbers -----------------------------------------------------------------

    async def _allocate(self) -> int:
        async with self._lock:
            if self._next is None or (self._resync and self._unanswered == 0):
                self._next = await self._node.sequence_number(self._signer.address)
                self._free.clear()
                self._resync = False
            if self._free:
                number = heapq.heappop(self._free)
            else:
                number = self._next
                self._next += 1
            self._unanswered += 1
            return number

    def _release(self, number: int, *, unused: bool) -> None:
        """The node answered (or will never answer) for ``number``."""
        self._unanswered -= 1
        if unused:
            heapq.heappush(self._free, number)

    async def _catch_up(self) -> None:
        """After a stale-number rejection: skip past what the chain has already used."""
        async with self._lock:
            on_chain = await self._node.sequence_number(self._signer.address)
            if self._next is None or on_chain > self._next:
                self._next = on_chain
            self._free = [n for n in self._free if n >= on_chain]
            heapq.heapify(self._free)
            self._resync = True

    def _remember(self, tx_hash: str, number: int, expiration: int) -> None:
        """Keep what :meth:`resolve` needs; forget transactions long past their expiry."""
        if len(self._sent) >= _REMEMBER:
            horizon = self._clock() - 3600
            self._sent = {h: s for h, s in self._sent.items() if s.expiration > horizon}
        self._sent[tx_hash] = _Sent(number, expiration)

    # -- submission -------------------------------------------------------------------------

    def _build(self, entry: EntryFunction, number: int, chain_id: int) -> tuple[bytes, int]:
        expiration = int(self._clock() + self.expiry_secs)
        raw = RawTransaction(
            self._sender, number, TransactionPayload(entry), self.max_gas_amount,
            self.gas_unit_price, expiration, chain_id,
        )
        signed: SignedTransaction = self._signer.sign(raw)
        return signed.bytes(), expiration

    async def submit(
        self, entry: EntryFunction, *, wait: bool = True, timeout: float | None = None
    ) -> TxResult:
        """Sign and submit ``entry``; with ``wait`` (default) return once it is committed.

        Raises :class:`TransactionRejectedError` when the node refused it (nothing happened),
        :class:`~kana_async.TransportError` when the node could not be reached before anything
        was sent, and :class:`~kana_async.UnknownOutcomeError` (with ``tx_hash``) when it may
        or may not have been executed.
        """
        chain_id = await self._node.chain_id()
        if self.chain_id is not None and chain_id != self.chain_id:
            raise ValidationError(
                "chain_id",
                f"the node at {self._node.base_url} serves chain {chain_id}, expected "
                f"{self.chain_id}; nothing was signed",
            )
        async with self._slots:
            accepted, tx_hash, number, expiration = await self._submit_once(entry, chain_id)
        if not wait:
            return TxResult.from_node(accepted)
        return await self._wait(tx_hash, number, expiration,
                                self.wait_timeout if timeout is None else timeout)

    async def _submit_once(
        self, entry: EntryFunction, chain_id: int
    ) -> tuple[dict[str, Any], str, int, int]:
        for attempt in (1, 2):
            number = await self._allocate()
            body, expiration = self._build(entry, number, chain_id)
            tx_hash = transaction_hash(body)
            try:
                async with time_limit(self.submit_timeout):
                    accepted = await self._node.submit(body)
            except TransactionRejectedError as exc:
                stale = exc.vm_status in _STALE_SEQUENCE
                self._release(number, unused=not stale)
                if stale:
                    await self._catch_up()
                    if attempt == 1:
                        continue  # definitely not accepted: a fresh number is safe
                raise
            except TransportError:
                self._release(number, unused=True)  # never left this process
                raise
            except (SubmissionInDoubt, asyncio.TimeoutError) as exc:
                self._release(number, unused=False)
                self._resync = True
                self._remember(tx_hash, number, expiration)
                reason = "no answer from the node within " \
                    f"{self.submit_timeout:g}s" if isinstance(exc, asyncio.TimeoutError) \
                    else f"connection lost after sending ({exc})"
                raise UnknownOutcomeError(tx_hash, reason) from None
            except BaseException:  # cancelled mid-POST, or a bug: the bytes may have left
                self._release(number, unused=False)
                self._resync = True
                self._remember(tx_hash, number, expiration)
                raise
            self._release(number, unused=False)
            self._remember(tx_hash, number, expiration)
            return accepted, tx_hash, number, expiration
        raise AssertionError("unreachable")  # pragma: no cover

    # -- confirmation -----------------------------------------------------------------------

    async def _wait(self, tx_hash: str, number: int, expiration: int, timeout: float) -> TxResult:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        probe = self._node.transaction_by_hash  # a quick look first, then long polls
        seen_pending = False
        while True:
            remaining = deadline - loop.time()
            tx: dict[str, Any] | None = None
            if remaining > 0:
                try:
                    async with time_limit(remaining):
                        tx = await probe(tx_hash)
                except (TransportError, asyncio.TimeoutError):
                    tx = None
                probe = self._node.wait_by_hash
            if tx is not None and tx.get("type") != "pending_transaction":
                self._sent.pop(tx_hash, None)
                return TxResult.from_node(tx)
            if tx is not None:  # pending: the node tells its number and expiry
                seen_pending = True
                number = int(tx.get("sequence_number", number))
                expiration = int(tx.get("expiration_timestamp_secs", expiration))
                self._remember(tx_hash, number, expiration)
            if tx is None and self._clock() > expiration + 1:
                # Past its expiry a transaction the node does not know can never commit.
                self._sent.pop(tx_hash, None)
                self._resync = True
                return TxResult(tx_hash, number, False, False,
                                f"{VmStatus.TRANSACTION_EXPIRED.name}: expired without "
                                "being committed")
            if loop.time() >= deadline:
                self._resync = True
                state = "still pending" if seen_pending else "not found on the node"
                raise UnknownOutcomeError(tx_hash, f"{state} after {timeout:g}s")
            if tx is None:
                await asyncio.sleep(min(self._poll, max(0.0, deadline - loop.time())))

    async def wait(self, tx_hash: str, *, timeout: float | None = None) -> TxResult:
        """Wait for a transaction submitted with ``wait=False``."""
        sent = self._sent.get(tx_hash)
        number = sent.sequence_number if sent else -1
        expiration = sent.expiration if sent else int(self._clock() + self.expiry_secs)
        return await self._wait(tx_hash, number, expiration,
                                self.wait_timeout if timeout is None else timeout)

    async def resolve(self, tx_hash: str, *, timeout: float | None = None) -> TxResult:
        """The true outcome of a transaction whose fate was unknown.

        Waits until it is committed or, at the latest, until its expiry has passed (then it
        can no longer commit and the result says ``committed=False``). ``timeout`` caps the
        wait; by default it lasts until the expiry (plus a second).
        """
        sent = self._sent.get(tx_hash)
        if sent is None:
            expiration = int(self._clock() + self.expiry_secs)
            number = -1
        else:
            expiration, number = sent.expiration, sent.sequence_number
        if timeout is None:
            timeout = max(0.0, expiration + 1.5 - self._clock())
        return await self._wait(tx_hash, number, expiration, timeout)
