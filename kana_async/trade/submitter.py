"""Sign, submit and confirm transactions for one account, with safe sequence numbers.

Sequence numbers are handed out locally under a lock so many transactions can be in flight
at once (bounded). They are fetched from the node on first use, moved forward after the node
says they are stale, and re-read only when nothing of ours is outstanding.

Every signed transaction is tracked from the moment before its bytes may leave until its
outcome is known (committed, expired, or refused by the node itself): :meth:`Submitter.in_doubt`
lists those still open, including the ones whose caller was cancelled or timed out, and their
sequence numbers are never given to another transaction meanwhile. A submission is never
re-sent: the caller gets :class:`~kana_async.UnknownOutcomeError` with the hash, and
:meth:`Submitter.resolve` (or the background reconciler) later tells what happened.

A number freed in the middle (its transaction was refused, never sent, or expired) would park
every later transaction behind it; if no new submission takes it within ``fill_delay``, a
harmless filler (a zero transfer of APT to oneself) uses it. The policy is written down in
``docs/order-safety.md``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aptos_sdk.account_address import AccountAddress
from aptos_sdk.bcs import Serializer
from aptos_sdk.transactions import (
    EntryFunction,
    RawTransaction,
    SignedTransaction,
    TransactionArgument,
    TransactionPayload,
)

from .._tasks import cancel_and_wait
from .._tasks import timeout as time_limit
from ..aptos.transactions import transaction_hash
from ..errors import (
    KanaError,
    RateLimitError,
    TransportError,
    UnknownOutcomeError,
    ValidationError,
)
from ..models import normalize_address
from .node import (
    NodeClient,
    SubmissionInDoubt,
    TransactionRejectedError,
    VmStatus,
)
from .options import TradingOptions, check_seconds
from .results import TxResult
from .signer import Signer

__all__ = ["FILLER_FUNCTION", "Submitter", "TradingOptions", "TxResult", "transaction_hash"]

log = logging.getLogger(__name__)

#: Rejections that mean "this sequence number is stale"; the transaction was not accepted, so
#: signing it again with a fresh number is safe (done at most once).
_STALE_SEQUENCE = frozenset(
    {VmStatus.SEQUENCE_NUMBER_TOO_OLD.name, VmStatus.SEQUENCE_NUMBER_TOO_NEW.name}
)
#: Node error codes saying the number is held by another transaction (not ours to reuse).
_NUMBER_TAKEN = frozenset({"invalid_transaction_update", "sequence_number_too_old"})

#: How many settled outcomes are remembered for :meth:`Submitter.resolve`.
_REMEMBER = 4096
#: The filler that uses up a freed sequence number: ``transfer(own address, 0)``.
FILLER_FUNCTION = "0x1::aptos_account::transfer"
#: Consecutive filler failures after which filling waits for the next freed number.
_FILL_ATTEMPTS = 3
#: Transactions the reconciler looks at per pass.
_RECONCILE_BATCH = 64


_HASH = re.compile(r"0x[0-9a-f]{64}")


def _checked_hash(tx_hash: object) -> str:
    """A transaction hash in the node's spelling (``0x`` + 64 lower-case hex digits)."""
    text = tx_hash.strip().lower() if isinstance(tx_hash, str) else ""
    if not _HASH.fullmatch(text):
        raise ValidationError("tx_hash", "must be 0x followed by 64 hex digits")
    return text


@dataclass(slots=True)
class _Open:
    """A transaction signed and maybe sent whose outcome is not known yet."""

    tx_hash: str
    number: int
    expiration: int
    filler: bool = False
    #: Callers currently following it (submitting or waiting); 0: the reconciler does.
    attended: int = 0


class Submitter:
    """Submits entry functions for ``signer`` through ``node``.

    ``options`` (a :class:`TradingOptions` or a mapping) sets expiry, timeouts, the in-flight
    limit and gas; the same names as keywords override it. With ``chain_id`` set, nothing is
    signed for a node that serves another chain. Close it (``await submitter.aclose()``) to
    stop its background reconciler; what is still in doubt stays listed.
    """

    def __init__(
        self,
        node: NodeClient,
        signer: Signer,
        options: TradingOptions | Mapping[str, Any] | None = None,
        *,
        max_in_flight: int | None = None,
        max_gas_amount: int | None = None,
        gas_unit_price: int | None = None,
        expiry_secs: float | None = None,
        submit_timeout: float | None = None,
        wait_timeout: float | None = None,
        fill_delay: float | None = None,
        poll_interval: float = 0.05,
        chain_id: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        overrides: dict[str, Any] = {
            name: value for name, value in (
                ("max_in_flight", max_in_flight), ("max_gas_amount", max_gas_amount),
                ("gas_unit_price", gas_unit_price), ("expiry_secs", expiry_secs),
                ("submit_timeout", submit_timeout), ("wait_timeout", wait_timeout),
                ("fill_delay", fill_delay),
            ) if value is not None
        }
        opts = TradingOptions.coerce(options, "options")
        if overrides:
            opts = dataclasses.replace(opts, **overrides)
        check_seconds("poll_interval", poll_interval)
        self.options = opts
        self._node = node
        self._signer = signer
        self.chain_id = chain_id
        self._sender = AccountAddress.from_str_relaxed(signer.address)
        self._poll = poll_interval
        self._clock = clock
        self._slots = asyncio.Semaphore(opts.max_in_flight)
        self._lock = asyncio.Lock()
        self._next: int | None = None
        self._free: set[int] = set()  # numbers handed out but definitely unused: reuse first
        self._resync = False
        self._open: dict[str, _Open] = {}
        self._settled: OrderedDict[str, TxResult] = OrderedDict()
        self._reconciler: asyncio.Task[None] | None = None
        self._fill_failures = 0
        self._closed = False

    # Read-only views of the options, under their historical names.
    @property
    def max_gas_amount(self) -> int:
        return self.options.max_gas_amount

    @property
    def gas_unit_price(self) -> int:
        return self.options.gas_unit_price

    @property
    def expiry_secs(self) -> float:
        return self.options.expiry_secs

    @property
    def submit_timeout(self) -> float:
        return self.options.submit_timeout

    @property
    def wait_timeout(self) -> float:
        return self.options.wait_timeout

    @property
    def address(self) -> str:
        return self._signer.address

    def in_doubt(self) -> list[str]:
        """Hashes of the transactions signed and maybe sent whose outcome is not known yet,
        oldest first: unanswered, in doubt after an error, a timeout or a cancelled caller,
        or accepted and not committed yet. Each leaves the list once it commits, expires or
        is resolved; its sequence number is not reused meanwhile."""
        return list(self._open)

    def take_over(self, previous: Submitter) -> None:
        """Carry on for ``previous`` (same account and chain, e.g. a client opened again): its
        open transactions, outcomes and sequence numbers, so none of them is forgotten or
        reused. Call before the first submission."""
        if previous.address != self.address:
            raise ValueError("take_over: the previous submitter signs for another account")
        self._open.update((h, dataclasses.replace(tx, attended=0))
                          for h, tx in previous._open.items())
        self._settled.update(previous._settled)
        self._next, self._free = previous._next, set(previous._free)
        self._resync = previous._resync
        self._care()

    async def aclose(self) -> None:
        """Stop the background reconciler (idempotent). In-doubt transactions stay listed."""
        self._closed = True
        task, self._reconciler = self._reconciler, None
        await cancel_and_wait(task)

    # -- sequence numbers -----------------------------------------------------------------

    async def _sign_next(self, entry: EntryFunction, chain_id: int, *, filler: bool = False,
                         number: int | None = None) -> tuple[_Open, bytes]:
        """Take a number (``number`` if it is still free), sign, and track the transaction as
        attended by the caller (who must :meth:`_leave` it); nothing awaits between tracking
        it and the caller's POST."""
        async with self._lock:
            next_number = self._next
            if next_number is None or (self._resync and not self._open):
                next_number = self._sync(await self._node.sequence_number(self.address))
            if number is not None:
                if number not in self._free:
                    raise LookupError(number)
                self._free.discard(number)
            elif self._free:
                number = min(self._free)
                self._free.discard(number)
            else:
                number = next_number
                self._next = next_number + 1
            body, expiration = self._build(entry, number, chain_id)
            tx = _Open(transaction_hash(body), number, expiration, filler, attended=1)
            self._open[tx.tx_hash] = tx
            return tx, body

    def _sync(self, on_chain: int) -> int:
        """Numbers from the chain's: on first use, or when nothing of ours is outstanding.
        Transactions already tracked (adopted by :meth:`resolve`, or taken over) keep theirs;
        the numbers between are free."""
        held = {tx.number for tx in self._open.values()}
        self._next = max([on_chain, *(n + 1 for n in held)])
        self._free = set(range(on_chain, self._next)) - held
        self._resync = False
        return self._next

    def _free_number(self, number: int) -> None:
        """``number`` was definitely not used: reuse it, and give back the top of the range."""
        if self._next is None or number >= self._next:
            return
        self._free.add(number)
        while self._next - 1 in self._free:
            self._next -= 1
            self._free.discard(self._next)
        self._care()

    def _holes(self) -> list[int]:
        """Free numbers below an open transaction's: they hold it back until used."""
        if not self._free or not self._open:
            return []
        top = max(tx.number for tx in self._open.values())
        return sorted(n for n in self._free if n < top)

    async def _catch_up(self) -> None:
        """After a stale-number rejection: skip past what the chain has already used."""
        async with self._lock:
            on_chain = await self._node.sequence_number(self._signer.address)
            if self._next is None or on_chain > self._next:
                self._next = on_chain
            self._free = {n for n in self._free if n >= on_chain}
            self._resync = True

    # -- outcomes ---------------------------------------------------------------------------

    def _settle(self, result: TxResult) -> TxResult:
        """Record a known outcome: the transaction leaves :meth:`in_doubt`; a number that an
        expired transaction never used is free again."""
        known = self._settled.get(result.tx_hash)
        if known is not None:
            return known
        tx = self._open.pop(result.tx_hash, None)
        self._settled[result.tx_hash] = result
        while len(self._settled) > _REMEMBER:
            self._settled.popitem(last=False)
        if tx is not None and not result.committed:
            self._resync = True
            self._fill_failures = 0
            self._free_number(tx.number)
        return result

    def _drop(self, tx: _Open, *, unused: bool) -> None:
        """The node refused ``tx`` or it never left: it can never execute."""
        self._open.pop(tx.tx_hash, None)
        if unused:
            if not tx.filler:
                self._fill_failures = 0  # a new hole: filling may be tried again
            self._free_number(tx.number)

    def _leave(self, tx: _Open) -> None:
        """A caller stops following ``tx``; if it is still open, the reconciler takes over."""
        tx.attended -= 1
        if tx.tx_hash in self._open:
            self._care()

    async def _expired_for_sure(self, tx_hash: str, expiration: int) -> bool:
        """True once the chain's own clock has passed ``expiration`` and the node still does
        not know the transaction: it can never be committed."""
        if self._clock() < expiration:
            return False
        info = await self._node.ledger_info()
        if int(info.get("ledger_timestamp", 0)) < expiration * 1_000_000:
            return False
        return await self._node.transaction_by_hash(tx_hash) is None

    def _expired(self, tx_hash: str, number: int) -> TxResult:
        return TxResult(tx_hash, number, False, False,
                        f"{VmStatus.TRANSACTION_EXPIRED.name}: expired without being committed")

    # -- the background reconciler ----------------------------------------------------------

    def _care(self) -> None:
        """Start the reconciler if something needs it and it is not running."""
        if self._closed or (self._reconciler is not None and not self._reconciler.done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # not on a loop yet (take_over before opening): the next call starts it
        if self._needs_care():
            self._reconciler = loop.create_task(
                self._reconcile(), name=f"kana-reconcile-{self.address[:10]}")

    def _needs_care(self) -> bool:
        unattended = any(not tx.attended for tx in self._open.values())
        return unattended or (bool(self._holes()) and self._fill_failures < _FILL_ATTEMPTS)

    async def _reconcile(self) -> None:
        """Fill blocking holes and settle the transactions no caller follows, until none is
        left; each pass first leaves new submissions a moment to take a freed number."""
        while not self._closed and self._needs_care():
            await asyncio.sleep(self.options.fill_delay)
            try:
                await self._fill_holes()
                for tx in [t for t in self._open.values() if not t.attended][:_RECONCILE_BATCH]:
                    await self._check(tx)
            except (TransportError, asyncio.TimeoutError) as exc:
                log.debug("reconciling %s: %s", self.address, exc)
            except Exception:  # keep following what is in doubt; say why a pass failed
                log.warning("reconciling %s failed; trying again", self.address, exc_info=True)

    async def _check(self, tx: _Open) -> None:
        async with time_limit(self.submit_timeout):
            found = await self._node.transaction_by_hash(tx.tx_hash)
        if found is not None and found.get("type") != "pending_transaction":
            self._settle(TxResult.from_node(found))
        elif found is None and await self._expired_for_sure(tx.tx_hash, tx.expiration):
            self._settle(self._expired(tx.tx_hash, tx.number))

    async def _fill_holes(self) -> None:
        holes = self._holes()
        if not holes or self._fill_failures >= _FILL_ATTEMPTS:
            return
        chain_id = await self._node.chain_id()
        entry = EntryFunction.natural(
            FILLER_FUNCTION.rsplit("::", 1)[0], FILLER_FUNCTION.rsplit("::", 1)[1], [],
            [TransactionArgument(self._sender, Serializer.struct),
             TransactionArgument(0, Serializer.u64)],
        )
        for number in holes:
            try:
                tx, body = await self._sign_next(entry, chain_id, filler=True, number=number)
            except LookupError:
                continue  # a new submission took it meanwhile
            try:
                await self._post(tx, body)
            except TransactionRejectedError as exc:
                self._fill_failures += 1
                log.warning("the filler for sequence number %d was refused: %s", number, exc)
                if exc.vm_status in _STALE_SEQUENCE:
                    await self._catch_up()
                return
            except TransportError:
                return
            except UnknownOutcomeError:
                continue  # in doubt like any other: the reconciler follows it
            finally:
                tx.attended -= 1  # the reconciler (this task) follows it from here
            self._fill_failures = 0

    # -- submission -------------------------------------------------------------------------

    def _build(self, entry: EntryFunction, number: int, chain_id: int) -> tuple[bytes, int]:
        expiration = int(self._clock() + self.options.expiry_secs)
        raw = RawTransaction(
            self._sender, number, TransactionPayload(entry), self.options.max_gas_amount,
            self.options.gas_unit_price, expiration, chain_id,
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
        or may not have been executed. A cancelled caller's transaction stays in
        :meth:`in_doubt` until its outcome is known.
        """
        if self._closed:
            raise KanaError("the submitter is closed")
        self._care()  # transactions taken over before the loop ran are followed from now
        chain_id = await self._node.chain_id()
        if self.chain_id is not None and chain_id != self.chain_id:
            raise ValidationError(
                "chain_id",
                f"the node at {self._node.base_url} serves chain {chain_id}, expected "
                f"{self.chain_id}; nothing was signed",
            )
        async with self._slots:
            tx, accepted = await self._submit_once(entry, chain_id)
        try:
            if not wait:
                return TxResult.from_node(accepted)
            return await self._follow(tx.tx_hash, [tx], self.options.wait_timeout
                                      if timeout is None else timeout)
        finally:
            self._leave(tx)

    async def _submit_once(self, entry: EntryFunction, chain_id: int
                           ) -> tuple[_Open, dict[str, Any]]:
        """Sign and POST; the accepted transaction is returned still attended."""
        for attempt in (1, 2):
            tx, body = await self._sign_next(entry, chain_id)
            try:
                return tx, await self._post(tx, body)
            except TransactionRejectedError as exc:
                self._leave(tx)
                if exc.vm_status in _STALE_SEQUENCE:
                    await self._catch_up()
                    if attempt == 1:
                        continue  # definitely not accepted: a fresh number is safe
                raise
            except BaseException:
                self._leave(tx)
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _post(self, tx: _Open, body: bytes) -> dict[str, Any]:
        """POST one tracked transaction; it stays tracked unless the answer proves it can
        never execute (a refusal by the node, or a connection that never opened)."""
        try:
            async with time_limit(self.options.submit_timeout):
                return await self._node.submit(body)
        except TransactionRejectedError as exc:
            stale = exc.vm_status in _STALE_SEQUENCE or exc.error_code in _NUMBER_TAKEN
            self._drop(tx, unused=not stale)
            raise
        except TransportError:
            self._drop(tx, unused=True)  # never left this process
            raise
        except (SubmissionInDoubt, asyncio.TimeoutError) as exc:
            reason = (f"no answer from the node within {self.options.submit_timeout:g}s"
                      if isinstance(exc, asyncio.TimeoutError) else f"{exc}; it may have been "
                      "received")
            raise UnknownOutcomeError(tx.tx_hash, reason) from None

    # -- confirmation -----------------------------------------------------------------------

    async def _wait(self, tx_hash: str, timeout: float) -> TxResult:
        """:meth:`_follow` for a caller that did not submit ``tx_hash`` itself."""
        followed: list[_Open | None] = [self._open.get(tx_hash)]
        if followed[0] is not None:
            followed[0].attended += 1
        try:
            return await self._follow(tx_hash, followed, timeout)
        finally:
            if followed[0] is not None:
                self._leave(followed[0])

    def _adopt(self, tx_hash: str, found: Mapping[str, Any]) -> _Open | None:
        """Track a pending transaction of our account that this submitter did not sign (an
        earlier process, say): it is listed in :meth:`in_doubt` until its outcome is known.
        Its number is already taken on the node, so it is never handed out here meanwhile."""
        try:
            ours = normalize_address(str(found.get("sender", ""))) == self.address
            tx = _Open(tx_hash, int(found["sequence_number"]),
                       int(found["expiration_timestamp_secs"]), attended=1)
        except (KeyError, TypeError, ValueError):
            return None
        if not ours:
            return None
        self._open[tx_hash] = tx
        if self._next is not None and tx.number >= self._next:
            self._next = tx.number + 1
        return tx

    async def _follow(self, tx_hash: str, followed: list[_Open | None], timeout: float
                      ) -> TxResult:
        """Poll until ``tx_hash`` is committed or surely expired, or ``timeout`` passes.

        ``followed[0]`` is the tracked transaction the caller attends, if any; a pending
        transaction of ours found on the way is adopted into it."""
        tx = followed[0]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        number = tx.number if tx is not None else -1
        # A transaction signed before now (this process or an earlier one) expires by then.
        expiration = tx.expiration if tx is not None else \
            int(self._clock() + self.options.expiry_secs)
        probe = self._node.transaction_by_hash  # a quick look first, then long polls
        seen_pending = False
        while True:
            settled = self._settled.get(tx_hash)
            if settled is not None:
                return settled
            remaining = deadline - loop.time()
            found: dict[str, Any] | None = None
            if remaining > 0:
                try:
                    async with time_limit(remaining):
                        found = await probe(tx_hash)
                        if found is None and await self._expired_for_sure(tx_hash, expiration):
                            return self._settle(self._expired(tx_hash, number))
                except (TransportError, RateLimitError, asyncio.TimeoutError):
                    found = None  # no answer this time: ask again until the deadline
                except KanaError as exc:
                    # A refused status read tells nothing of the transaction's fate: a caller
                    # told "ApiError" would take it as "nothing happened" and might place
                    # again. It stays in doubt until resolve() learns the outcome.
                    raise UnknownOutcomeError(
                        tx_hash, f"the node refused to tell its status: {exc}") from exc
                probe = self._node.wait_by_hash
            if found is not None and found.get("type") != "pending_transaction":
                return self._settle(TxResult.from_node(found))
            if found is not None:  # pending: the node tells its number and expiry
                seen_pending = True
                if followed[0] is None and tx_hash not in self._open:
                    followed[0] = self._adopt(tx_hash, found)
                number = int(found.get("sequence_number", number))
                expiration = int(found.get("expiration_timestamp_secs", expiration))
            if loop.time() >= deadline:
                state = "still pending" if seen_pending else "not found on the node"
                raise UnknownOutcomeError(tx_hash, f"{state} after {timeout:g}s")
            if found is None:
                await asyncio.sleep(min(self._poll, max(0.0, deadline - loop.time())))

    async def wait(self, tx_hash: str, *, timeout: float | None = None) -> TxResult:
        """Wait for a transaction submitted with ``wait=False``."""
        return await self._wait(_checked_hash(tx_hash), self.options.wait_timeout
                                if timeout is None else timeout)

    async def resolve(self, tx_hash: str, *, timeout: float | None = None) -> TxResult:
        """The true outcome of a transaction whose fate was unknown; it leaves
        :meth:`in_doubt`.

        Waits until it is committed or, at the latest, until its expiry has passed on chain
        (then it can no longer commit and the result says ``committed=False``). ``timeout``
        caps the wait; by default it lasts until the expiry (plus a little). A hash this
        submitter never saw (e.g. from before a restart) is resolved the same way, assuming
        it was signed with the same ``expiry_secs``.
        """
        tx_hash = _checked_hash(tx_hash)
        settled = self._settled.get(tx_hash)
        if settled is not None:
            return settled
        tx = self._open.get(tx_hash)
        expiration = tx.expiration if tx is not None else \
            int(self._clock() + self.options.expiry_secs)
        if timeout is None:
            timeout = max(0.0, expiration + 2.0 - self._clock())
        return await self._wait(tx_hash, timeout)
