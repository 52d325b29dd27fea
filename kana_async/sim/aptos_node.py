"""A minimal Aptos fullnode for the simulator: accounts, the Kana module ABI, and BCS
transaction submission that executes ``perpetual_scripts`` entry functions on the Engine.

It validates a submission the way an Aptos node does (signature, authentication key, chain id,
expiry, gas, sequence number) and answers in the node's JSON shapes and error format
(``{"message", "error_code", "vm_error_code"}``). Choices where a real node differs or the
documents are silent:

* Every account exists: an unknown address has sequence number 0 and its address as its
  authentication key (the faucet funds wallets on first sight). A real node answers 404.
* A sequence number ahead of the account's (by at most :data:`MAX_SEQUENCE_GAP`) is accepted
  and parked, like mempool, then executed in order once the gap fills; it is dropped if it
  expires first. Farther ahead: ``SEQUENCE_NUMBER_TOO_NEW``.
* Accepted transactions whose number is next execute at once (one transaction per version).
  A Move abort commits with ``success: false``; gas is charged and the sequence number bumps.
* ``0x1::aptos_account::transfer`` is known with a zero amount only (the no-op a client
  uses to fill a sequence number); the simulator moves no APT between wallets.
* A committed transaction lists the events the contract emitted (``kana_async.sim.contract``);
  one that aborted lists none. A real node also lists framework events (the gas fee
  statement, coin moves); the simulator does not.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aptos_sdk.account_address import AccountAddress
from aptos_sdk.authenticator import Ed25519Authenticator
from aptos_sdk.bcs import Deserializer
from aptos_sdk.transactions import EntryFunction, SignedTransaction, TransactionPayload

from .._tasks import timeout
from ..aptos.abi import MoveType, decode_arguments
from ..aptos.status import VmStatus, error_body
from ..aptos.transactions import (
    BCS_SIGNED_TRANSACTION,
    authentication_key,
    decode_signed_transaction,
    transaction_hash,
)
from ..models import normalize_address
from . import contract
from .engine import AbortCode, Engine, EngineAbort
from .faults import Faults

__all__ = [
    "MAX_SEQUENCE_GAP",
    "NODE_KEY",
    "AptosNode",
    "NodeRejection",
    "make_node_app",
]

#: How far ahead of an account's sequence number a transaction may be parked.
MAX_SEQUENCE_GAP = 100
#: Gas bounds of the real networks.
MIN_GAS_UNIT_PRICE = 100
MAX_GAS_UNITS = 2_000_000
#: Gas a transaction that fails before running its function still uses.
_BASE_GAS_UNITS = 6
#: How long ``wait_by_hash`` holds a request for a pending transaction (like the real node).
WAIT_BY_HASH_SECONDS = 1.0
_OCTAS_PER_APT = 10**8


class NodeRejection(Exception):
    """A submission the node refuses (HTTP 400): nothing was accepted."""

    def __init__(
        self, message: str, error_code: str = "vm_error", vm_status: VmStatus | None = None,
        status: int = 400,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code
        self.vm_status = vm_status
        self.status = status

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.error_code, self.vm_status)


def _vm_rejection(status: VmStatus, detail: str) -> NodeRejection:
    return NodeRejection(
        f"Invalid transaction: Type: Validation Code: {status.name}: {detail}", "vm_error", status
    )


@dataclass
class _Pending:
    signed: SignedTransaction
    tx_hash: str
    sender: str
    json: dict[str, Any]


@dataclass
class AptosNode:
    """The node's state and rules, free of HTTP. ``submit`` takes the raw BCS body."""

    engine: Engine
    faults: Faults
    chain_id: int = 4
    clock: Callable[[], float] = time.time
    sequence_numbers: dict[str, int] = field(default_factory=dict)
    #: Committed transactions by hash, newest last; the oldest are pruned past
    #: ``max_committed`` (an old hash then answers 404, like a pruned fullnode).
    committed: dict[str, dict[str, Any]] = field(default_factory=dict)
    max_committed: int = 100_000
    parked: dict[str, dict[int, _Pending]] = field(default_factory=dict)
    #: Every POST /transactions that reached validation (tests count submissions with it).
    submissions: int = 0
    _listeners: list[Callable[[str], None]] = field(default_factory=list)
    _last_version: int = 0

    # -- reads --------------------------------------------------------------------------------

    def ledger_info(self) -> dict[str, Any]:
        version = max(self._last_version, int(self.engine.ledger_version))
        return {
            "chain_id": self.chain_id,
            "epoch": "1",
            "ledger_version": str(version),
            "oldest_ledger_version": "0",
            "ledger_timestamp": str(int(self.clock() * 1_000_000)),
            "node_role": "full_node",
            "oldest_block_height": "0",
            "block_height": str(version),
            "git_hash": "kana-async-simulator",
        }

    def account(self, address: str) -> dict[str, Any]:
        address = normalize_address(address)
        return {
            "sequence_number": str(self.sequence_numbers.get(address, 0)),
            "authentication_key": address,
        }

    def module(self, address: str, name: str) -> dict[str, Any] | None:
        if normalize_address(address) != normalize_address(self.engine.package_address):
            return None
        if name != contract.MODULE_NAME:
            return None
        return contract.module_json(normalize_address(self.engine.package_address))

    def transaction(self, tx_hash: str) -> dict[str, Any] | None:
        tx_hash = tx_hash.lower()
        found = self.committed.get(tx_hash)
        if found is not None:
            return found
        self._expire_parked()
        for queue in self.parked.values():
            for pending in queue.values():
                if pending.tx_hash == tx_hash:
                    return pending.json
        return None

    def add_listener(self, fn: Callable[[str], None]) -> Callable[[], None]:
        """Call ``fn(tx_hash)`` on every commit; returns the remover."""
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn)

    # -- submission ----------------------------------------------------------------------------

    def submit(self, body: bytes) -> dict[str, Any]:
        """Validate, accept and (when its turn has come) execute a signed transaction.

        Returns the pending-transaction JSON (HTTP 202); raises :class:`NodeRejection`.
        """
        self.submissions += 1
        signed = self._deserialize(body)
        tx_hash = transaction_hash(body)
        reason = self.faults.take_rejection()
        if reason is not None:
            raise NodeRejection(f"Invalid transaction: {reason}", "vm_error",
                                VmStatus.UNKNOWN_VALIDATION_STATUS)
        raw = signed.transaction
        sender = normalize_address(str(raw.sender))
        self._validate(signed, sender)
        known = self.transaction(tx_hash)
        if known is not None and known["type"] == "pending_transaction":
            return known  # the same bytes again: already accepted
        current = self.sequence_numbers.get(sender, 0)
        number = raw.sequence_number
        if number < current:
            raise _vm_rejection(
                VmStatus.SEQUENCE_NUMBER_TOO_OLD,
                f"sequence number {number} is below the account's {current}",
            )
        if number > current + MAX_SEQUENCE_GAP:
            raise _vm_rejection(
                VmStatus.SEQUENCE_NUMBER_TOO_NEW,
                f"sequence number {number} is more than {MAX_SEQUENCE_GAP} ahead of {current}",
            )
        queue = self.parked.setdefault(sender, {})
        if number in queue:
            raise NodeRejection(
                f"Transaction already in mempool with sequence number {number} for {sender}",
                "invalid_transaction_update",
            )
        pending = _Pending(signed, tx_hash, sender, self._pending_json(signed, tx_hash, sender))
        queue[number] = pending
        self._run_ready(sender)
        return pending.json

    def _deserialize(self, body: bytes) -> SignedTransaction:
        try:
            signed = decode_signed_transaction(body)
        except ValueError as exc:
            raise NodeRejection(
                f"Failed to deserialize input into SignedTransaction: {exc}", "invalid_input"
            ) from None
        return signed

    def _validate(self, signed: SignedTransaction, sender: str) -> None:
        raw = signed.transaction
        auth = signed.authenticator.authenticator
        if not isinstance(auth, Ed25519Authenticator):
            raise NodeRejection("Only single-signer ed25519 transactions are supported",
                                "invalid_input")
        if not signed.verify():
            raise _vm_rejection(VmStatus.INVALID_SIGNATURE, "the signature does not verify")
        if raw.chain_id != self.chain_id:
            raise _vm_rejection(
                VmStatus.BAD_CHAIN_ID, f"chain id {raw.chain_id}, this chain is {self.chain_id}"
            )
        auth_key = authentication_key(auth.public_key)
        if auth_key != self.account(sender)["authentication_key"]:
            raise _vm_rejection(
                VmStatus.INVALID_AUTH_KEY,
                f"the public key's authentication key {auth_key} is not {sender}'s",
            )
        if raw.expiration_timestamps_secs <= self.clock():
            raise _vm_rejection(
                VmStatus.TRANSACTION_EXPIRED,
                f"expired at {raw.expiration_timestamps_secs}, now {int(self.clock())}",
            )
        if raw.gas_unit_price < MIN_GAS_UNIT_PRICE:
            raise _vm_rejection(
                VmStatus.GAS_UNIT_PRICE_BELOW_MIN_BOUND,
                f"gas unit price {raw.gas_unit_price} is below {MIN_GAS_UNIT_PRICE}",
            )
        if raw.max_gas_amount > MAX_GAS_UNITS:
            raise _vm_rejection(
                VmStatus.MAX_GAS_UNITS_EXCEEDS_MAX_GAS_UNITS_BOUND,
                f"max gas amount {raw.max_gas_amount} is above {MAX_GAS_UNITS}",
            )
        self.engine.ensure_wallet(sender)
        balance = int(self.engine.apt_balance(sender) * _OCTAS_PER_APT)
        fee = raw.max_gas_amount * raw.gas_unit_price
        if fee > balance:
            raise _vm_rejection(
                VmStatus.INSUFFICIENT_BALANCE_FOR_TRANSACTION_FEE,
                f"max gas fee {fee} octas exceeds the balance of {balance} octas",
            )

    # -- execution -----------------------------------------------------------------------------

    def _expire_parked(self) -> None:
        now = self.clock()
        for sender, queue in self.parked.items():
            current = self.sequence_numbers.get(sender, 0)
            for number in [
                n for n, p in queue.items()
                if n > current and p.signed.transaction.expiration_timestamps_secs <= now
            ]:
                del queue[number]
        for sender in [sender for sender, queue in self.parked.items() if not queue]:
            del self.parked[sender]

    def _run_ready(self, sender: str) -> None:
        """Execute this account's parked transactions while the next number is present."""
        queue = self.parked.get(sender, {})
        while True:
            number = self.sequence_numbers.get(sender, 0)
            pending = queue.pop(number, None)
            if pending is None:
                break
            raw = pending.signed.transaction
            if raw.expiration_timestamps_secs <= self.clock():
                continue  # expired while waiting: dropped, the number stays free
            self._execute(pending)
        if not queue:
            self.parked.pop(sender, None)

    def _execute(self, pending: _Pending) -> None:
        raw = pending.signed.transaction
        sender = pending.sender
        success, vm_status, gas_units, events = self._run_payload(raw.payload, sender,
                                                                  raw.max_gas_amount)
        self._charge(sender, gas_units * raw.gas_unit_price)
        self.sequence_numbers[sender] = raw.sequence_number + 1
        self._last_version = max(self._last_version + 1, int(self.engine.ledger_version))
        committed = dict(pending.json)
        committed.update(
            {
                "type": "user_transaction",
                "version": str(self._last_version),
                "state_change_hash": _digest("state", pending.tx_hash),
                "event_root_hash": _digest("events", pending.tx_hash),
                "state_checkpoint_hash": None,
                "accumulator_root_hash": _digest("accumulator", pending.tx_hash),
                "gas_used": str(gas_units),
                "success": success,
                "vm_status": vm_status,
                "changes": [],
                "events": [_event_json(event) for event in events],
                "timestamp": str(int(self.clock() * 1_000_000)),
            }
        )
        self.committed[pending.tx_hash] = committed
        while len(self.committed) > self.max_committed:
            del self.committed[next(iter(self.committed))]
        for listener in list(self._listeners):
            listener(pending.tx_hash)

    def _charge(self, sender: str, octas: int) -> None:
        """Take the fee; the balance was checked at submission, but a parked transaction may
        find less, and then takes what is left (a committed transaction always pays)."""
        try:
            self.engine.charge_gas(sender, octas)
        except EngineAbort:
            left = int(self.engine.apt_balance(sender) * _OCTAS_PER_APT)
            self.engine.charge_gas(sender, min(octas, left))

    def _run_payload(
        self, payload: TransactionPayload, sender: str, max_gas: int
    ) -> tuple[bool, str, int, list[contract.Event]]:
        """Execute an entry function: (success, vm_status, gas units, events); a transaction
        that does not succeed emits no events."""
        entry = payload.value
        if not isinstance(entry, EntryFunction):
            return False, "FEATURE_UNDER_GATING: only entry functions are supported", \
                min(_BASE_GAS_UNITS, max_gas), []
        if _is_transfer(entry):
            return _run_transfer(entry, max_gas)
        package = normalize_address(self.engine.package_address)
        module_address = normalize_address(str(entry.module.address))
        definition = contract.ENTRY_FUNCTIONS.get(entry.function)
        abi = contract.function_abi(entry.function)
        if module_address != package or entry.module.name != contract.MODULE_NAME \
                or definition is None or abi is None:
            return False, (
                f"LINKER_ERROR: no entry function {module_address}::{entry.module.name}::"
                f"{entry.function}"
            ), min(_BASE_GAS_UNITS, max_gas), []
        if definition.gas_units > max_gas:
            return False, "OUT_OF_GAS", max_gas, []
        try:
            args = decode_arguments(abi, entry.args)
        except ValueError as exc:
            return False, f"FAILED_TO_DESERIALIZE_ARGUMENT: {exc}", \
                min(_BASE_GAS_UNITS, max_gas), []
        try:
            executed = contract.run(self.engine, sender, entry.function, args,
                                    now=int(self.clock()))
        except EngineAbort as exc:
            return False, _abort_status(package, exc), definition.gas_units // 2, []
        return True, "Executed successfully", definition.gas_units, executed.events

    def _pending_json(self, signed: SignedTransaction, tx_hash: str, sender: str) -> dict[str, Any]:
        raw = signed.transaction
        auth = signed.authenticator.authenticator
        return {
            "type": "pending_transaction",
            "hash": tx_hash,
            "sender": sender,
            "sequence_number": str(raw.sequence_number),
            "max_gas_amount": str(raw.max_gas_amount),
            "gas_unit_price": str(raw.gas_unit_price),
            "expiration_timestamp_secs": str(raw.expiration_timestamps_secs),
            "payload": _payload_json(raw.payload),
            "signature": {
                "type": "ed25519_signature",
                "public_key": str(auth.public_key),
                "signature": "0x" + auth.signature.data().hex(),
            },
        }


_TRANSFER_GAS_UNITS = 9


def _is_transfer(entry: EntryFunction) -> bool:
    return (normalize_address(str(entry.module.address)) == normalize_address("0x1")
            and entry.module.name == "aptos_account" and entry.function == "transfer")


def _transfer_arguments(entry: EntryFunction) -> tuple[str, int]:
    """``(to, amount)`` of ``aptos_account::transfer``; ValueError if malformed."""
    if entry.ty_args or len(entry.args) != 2:
        raise ValueError("transfer takes (address, u64)")
    to = Deserializer(entry.args[0])
    address = normalize_address(str(AccountAddress.deserialize(to)))
    amount = Deserializer(entry.args[1])
    value = amount.u64()
    if to.remaining() or amount.remaining():
        raise ValueError("trailing bytes")
    return address, value


def _run_transfer(entry: EntryFunction, max_gas: int
                  ) -> tuple[bool, str, int, list[contract.Event]]:
    try:
        _, amount = _transfer_arguments(entry)
    except Exception as exc:  # the SDK raises bare Exception on malformed input
        return False, f"FAILED_TO_DESERIALIZE_ARGUMENT: {exc}", min(_BASE_GAS_UNITS, max_gas), []
    if max_gas < _TRANSFER_GAS_UNITS:
        return False, "OUT_OF_GAS", max_gas, []
    if amount != 0:
        return False, ("FEATURE_UNDER_GATING: the simulator moves no APT between wallets; "
                       "only a zero transfer is supported"), _TRANSFER_GAS_UNITS, []
    return True, "Executed successfully", _TRANSFER_GAS_UNITS, []


def _abort_status(package: str, exc: EngineAbort) -> str:
    """Aptos's wording: ``Move abort in <pkg>::<module>: <NAME>(0x<code>): <description>``."""
    name, _, description = exc.reason.partition(": ")
    if not (name.isupper() and name.replace("_", "").isalnum()) or not description:
        try:
            name = AbortCode(exc.code).name
        except ValueError:
            name = "E_ABORT"
        description = exc.reason
    return f"Move abort in {package}::{exc.module}: {name}(0x{exc.code:x}): {description}"


def _event_json(event: contract.Event) -> dict[str, Any]:
    """An event as the node shows it. Module events (Aptos events v2, which Kana's are:
    versioned ``__variant__`` structs) have no event handle: a zero guid and sequence number."""
    return {
        "guid": {"creation_number": "0", "account_address": "0x0"},
        "sequence_number": "0",
        "type": event.type,
        "data": event.data,
    }


def _digest(kind: str, tx_hash: str) -> str:
    return "0x" + hashlib.sha3_256(f"{kind}:{tx_hash}".encode()).hexdigest()


def _payload_json(payload: TransactionPayload) -> dict[str, Any]:
    entry = payload.value
    if not isinstance(entry, EntryFunction):
        return {"type": "unsupported_payload"}
    function = f"{normalize_address(str(entry.module.address))}::{entry.module.name}::" \
        f"{entry.function}"
    if _is_transfer(entry):
        try:
            to, amount = _transfer_arguments(entry)
        except Exception:  # the SDK raises bare Exception on malformed input
            pass
        else:
            return {"type": "entry_function_payload", "function": "0x1::aptos_account::transfer",
                    "type_arguments": [], "arguments": [to, str(amount)]}
    abi = contract.function_abi(entry.function)
    arguments: list[Any]
    try:
        if abi is None:
            raise ValueError(entry.function)
        arguments = [_arg_json(t, v) for t, v in
                     zip(abi.value_params, decode_arguments(abi, entry.args), strict=True)]
    except ValueError:
        arguments = ["0x" + a.hex() for a in entry.args]
    return {
        "type": "entry_function_payload",
        "function": function,
        "type_arguments": [str(t) for t in entry.ty_args],
        "arguments": arguments,
    }


def _arg_json(t: MoveType, value: Any) -> Any:
    """The node's JSON for an argument: 64-bit and wider integers as strings."""
    if t.kind in ("u64", "u128", "u256"):
        return str(value)
    if t.kind == "vector" and t.inner is not None:
        return [_arg_json(t.inner, v) for v in value]
    return value


# -- HTTP ------------------------------------------------------------------------------------

NODE_KEY = web.AppKey("aptos_node", AptosNode)
_HELD_KEY = web.AppKey("held_submissions", asyncio.Event)


def _error(status: int, message: str, error_code: str) -> web.Response:
    return web.json_response(error_body(message, error_code), status=status)


def make_node_app(
    engine: Engine, faults: Faults, *, chain_id: int = 4, clock: Callable[[], float] | None = None
) -> web.Application:
    """The node's aiohttp application; every route lives under ``/v1``."""
    node = AptosNode(engine, faults, chain_id=chain_id, clock=clock or time.time)
    app = web.Application()
    app[NODE_KEY] = node
    app[_HELD_KEY] = asyncio.Event()

    @web.middleware
    async def refuse(request: web.Request, handler: Any) -> web.StreamResponse:
        if faults.refusing:
            return _error(503, "node is not accepting requests", "internal_error")
        response: web.StreamResponse = await handler(request)
        return response

    async def release_held(app: web.Application) -> None:
        app[_HELD_KEY].set()

    app.middlewares.append(refuse)
    app.on_shutdown.append(release_held)

    async def ledger(request: web.Request) -> web.Response:
        return web.json_response(node.ledger_info())

    async def account(request: web.Request) -> web.Response:
        try:
            return web.json_response(node.account(request.match_info["address"]))
        except ValueError:
            return _error(400, "invalid account address", "invalid_input")

    async def module(request: web.Request) -> web.Response:
        address, name = request.match_info["address"], request.match_info["name"]
        try:
            found = node.module(address, name)
        except ValueError:
            return _error(400, "invalid account address", "invalid_input")
        if found is None:
            return _error(
                404,
                f"Module not found by Address({address}), Module name({name}) and Ledger "
                f"version({node.ledger_info()['ledger_version']})",
                "module_not_found",
            )
        return web.json_response(found)

    async def by_hash(request: web.Request) -> web.Response:
        tx_hash = request.match_info["hash"]
        found = node.transaction(tx_hash)
        if found is None:
            return _not_found(tx_hash)
        return web.json_response(found)

    async def wait_by_hash(request: web.Request) -> web.Response:
        tx_hash = request.match_info["hash"].lower()
        found = node.transaction(tx_hash)
        if found is not None and found["type"] == "pending_transaction":
            committed = asyncio.Event()

            def on_commit(h: str) -> None:
                if h == tx_hash:
                    committed.set()

            remove = node.add_listener(on_commit)
            try:
                async with timeout(WAIT_BY_HASH_SECONDS):
                    await committed.wait()
            except asyncio.TimeoutError:
                pass
            finally:
                remove()
            found = node.transaction(tx_hash)
        if found is None:
            return _not_found(tx_hash)
        return web.json_response(found)

    async def submit(request: web.Request) -> web.Response:
        if request.content_type != BCS_SIGNED_TRANSACTION:
            return _error(
                415, f"Content-Type must be {BCS_SIGNED_TRANSACTION}", "unsupported_media_type"
            )
        body = await request.read()
        try:
            pending = node.submit(body)
        except NodeRejection as exc:
            return web.json_response(exc.body(), status=exc.status)
        if faults.take_hang():
            await _hold(request, app[_HELD_KEY])
            return _error(503, "the connection was dropped", "internal_error")
        return web.json_response(pending, status=202)

    app.router.add_get("/v1", ledger)
    app.router.add_get("/v1/", ledger)
    app.router.add_get("/v1/accounts/{address}", account)
    app.router.add_get("/v1/accounts/{address}/module/{name}", module)
    app.router.add_post("/v1/transactions", submit)
    app.router.add_get("/v1/transactions/by_hash/{hash}", by_hash)
    app.router.add_get("/v1/transactions/wait_by_hash/{hash}", wait_by_hash)
    return app


def _not_found(tx_hash: str) -> web.Response:
    return _error(404, f"Transaction not found by Transaction hash({tx_hash})",
                  "transaction_not_found")


async def _hold(request: web.Request, released: asyncio.Event) -> None:
    """Never answer: wait until the client goes away or the app shuts down."""
    while not released.is_set():
        transport = request.transport
        if transport is None or transport.is_closing():
            break
        try:
            async with timeout(0.05):
                await released.wait()
        except asyncio.TimeoutError:
            continue
    if request.transport is not None:
        request.transport.close()  # drop the connection without a response
