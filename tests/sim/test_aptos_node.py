"""The simulator's Aptos node: validation like a real node, execution on the Engine, faults."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from aptos_sdk.account import Account
from aptos_sdk.account_address import AccountAddress
from aptos_sdk.bcs import Serializer
from aptos_sdk.transactions import (
    EntryFunction,
    RawTransaction,
    SignedTransaction,
    TransactionArgument,
    TransactionPayload,
)

from kana_async.aptos.transactions import transaction_hash
from kana_async.config import KANA_PACKAGE_ADDRESS
from kana_async.sim import aptos_node
from kana_async.sim.aptos_node import NODE_KEY, make_node_app
from kana_async.sim.engine import Engine
from kana_async.sim.faults import Faults

BCS = {"Content-Type": "application/x.aptos.signed_transaction+bcs"}
MODULE = f"{KANA_PACKAGE_ADDRESS}::perpetual_scripts"


class Node:
    def __init__(self, server: TestServer, http: aiohttp.ClientSession, engine: Engine,
                 faults: Faults) -> None:
        self.server, self.http, self.engine, self.faults = server, http, engine, faults
        self.url = str(server.make_url("/v1"))

    @property
    def state(self) -> aptos_node.AptosNode:
        return self.server.app[NODE_KEY]

    async def get(self, path: str) -> tuple[int, Any]:
        async with self.http.get(self.url + path) as resp:
            return resp.status, await resp.json()

    async def post(self, body: bytes, headers: dict[str, str] = BCS) -> tuple[int, Any]:
        async with self.http.post(self.url + "/transactions", data=body, headers=headers) as r:
            return r.status, await r.json()


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    engine = Engine(seed=1, market_maker=None)
    faults = Faults()
    server = TestServer(make_node_app(engine, faults))
    await server.start_server()
    async with aiohttp.ClientSession() as http:
        yield Node(server, http, engine, faults)
    await server.close()


def deposit_entry(account: Account, units: int) -> EntryFunction:
    return EntryFunction.natural(
        MODULE, "deposit", [],
        [TransactionArgument(account.address(), Serializer.struct),
         TransactionArgument(units, Serializer.u64)],
    )


def sign(
    account: Account, entry: EntryFunction, seq: int = 0, *, chain_id: int = 4,
    expiration: int | None = None, max_gas: int = 20_000, gas_price: int = 100,
    sender: AccountAddress | None = None,
) -> bytes:
    raw = RawTransaction(
        sender or account.address(), seq, TransactionPayload(entry), max_gas, gas_price,
        expiration if expiration is not None else int(time.time()) + 30, chain_id,
    )
    return SignedTransaction(raw, account.sign_transaction(raw)).bytes()


def aptos_hash(body: bytes) -> str:
    prefix = hashlib.sha3_256(b"APTOS::Transaction").digest()
    return "0x" + hashlib.sha3_256(prefix + b"\x00" + body).hexdigest()


async def test_ledger_account_and_module(node: Node) -> None:
    status, info = await node.get("")
    assert status == 200
    assert info["chain_id"] == 4
    assert info["ledger_version"].isdigit()
    assert info["ledger_timestamp"].isdigit()
    address = str(Account.generate().address())
    status, account = await node.get(f"/accounts/{address}")
    assert (status, account) == (200, {"sequence_number": "0", "authentication_key": address})
    status, module = await node.get(f"/accounts/{KANA_PACKAGE_ADDRESS}/module/perpetual_scripts")
    assert status == 200
    functions = {f["name"]: f for f in module["abi"]["exposed_functions"]}
    assert functions["cancel_multiple_orders"]["params"] == [
        "&signer", "u64", "vector<u128>", "vector<bool>"]
    assert all(f["is_entry"] and f["visibility"] == "public" for f in functions.values())
    status, missing = await node.get(f"/accounts/{KANA_PACKAGE_ADDRESS}/module/nope")
    assert status == 404
    assert missing["error_code"] == "module_not_found"
    status, _ = await node.get("/accounts/0x1/module/perpetual_scripts")
    assert status == 404
    status, bad = await node.get("/accounts/zz")
    assert status == 400
    assert bad["error_code"] == "invalid_input"


async def test_good_transaction_executes_and_charges_gas(node: Node) -> None:
    account = Account.generate()
    wallet = str(account.address())
    body = sign(account, deposit_entry(account, 250_000_000))
    status, pending = await node.post(body)
    assert status == 202
    assert pending["type"] == "pending_transaction"
    assert pending["hash"] == aptos_hash(body)
    assert pending["sender"] == wallet
    assert pending["sequence_number"] == "0"
    assert pending["payload"]["function"] == f"{MODULE}::deposit"
    assert pending["payload"]["arguments"] == [wallet, "250000000"]
    status, tx = await node.get(f"/transactions/by_hash/{pending['hash']}")
    assert status == 200
    assert tx["type"] == "user_transaction"
    assert tx["success"] is True
    assert tx["vm_status"] == "Executed successfully"
    assert int(tx["version"]) > 0
    assert int(tx["gas_used"]) > 0
    assert node.engine.profile_balance(wallet) == Decimal(250)
    assert node.engine.wallet_balance(wallet) == Decimal(100_000 - 250)
    fee = Decimal(int(tx["gas_used"]) * 100) / 10**8
    assert node.engine.apt_balance(wallet) == Decimal(10) - fee
    _, acct = await node.get(f"/accounts/{wallet}")
    assert acct["sequence_number"] == "1"


async def test_hash_matches_the_sdk_corpus_transaction(node: Node) -> None:
    """aptos_sdk's validated corpus transfer (chain 4) hashes like Aptos computes it."""
    account = Account.load_key(
        "9bf49a6a0755f953811fce125f2683d50429c3bb49e074147e0089a52eae155f")
    body = sign(account, deposit_entry(account, 1), 0)
    assert transaction_hash(body) == aptos_hash(body)
    assert hashlib.sha3_256(b"APTOS::Transaction").hexdigest() == (
        "fa210a9417ef3e7fa45bfa1d17a8dbd4d883711910a550d265fee189e9266dd4")


def _reject_case(name: str, account: Account) -> bytes:
    entry = deposit_entry(account, 1_000_000)
    if name == "INVALID_SIGNATURE":
        body = bytearray(sign(account, entry))
        body[-1] ^= 0x01
        return bytes(body)
    if name == "BAD_CHAIN_ID":
        return sign(account, entry, chain_id=2)
    if name == "TRANSACTION_EXPIRED":
        return sign(account, entry, expiration=int(time.time()) - 1)
    if name == "INSUFFICIENT_BALANCE_FOR_TRANSACTION_FEE":
        return sign(account, entry, max_gas=2_000_000, gas_price=1_000)
    if name == "INVALID_AUTH_KEY":
        return sign(account, entry, sender=Account.generate().address())
    if name == "GAS_UNIT_PRICE_BELOW_MIN_BOUND":
        return sign(account, entry, gas_price=1)
    raise AssertionError(name)


@pytest.mark.parametrize(
    ("cause", "code"),
    [("INVALID_SIGNATURE", 1), ("BAD_CHAIN_ID", 23), ("TRANSACTION_EXPIRED", 6),
     ("INSUFFICIENT_BALANCE_FOR_TRANSACTION_FEE", 5), ("INVALID_AUTH_KEY", 2),
     ("GAS_UNIT_PRICE_BELOW_MIN_BOUND", 15)],
)
async def test_rejections_name_the_cause_and_change_nothing(
    node: Node, cause: str, code: int
) -> None:
    account = Account.generate()
    status, error = await node.post(_reject_case(cause, account))
    assert status == 400
    assert error["error_code"] == "vm_error"
    assert error["vm_error_code"] == code
    assert cause in error["message"]
    wallet = str(account.address())
    assert node.engine.profile_balance(wallet) == 0
    assert node.state.sequence_numbers.get(wallet, 0) == 0
    assert not node.state.committed


async def test_sequence_number_too_old(node: Node) -> None:
    account = Account.generate()
    assert (await node.post(sign(account, deposit_entry(account, 1_000_000), 0)))[0] == 202
    status, error = await node.post(sign(account, deposit_entry(account, 2_000_000), 0))
    assert status == 400
    assert error["vm_error_code"] == 3
    assert "SEQUENCE_NUMBER_TOO_OLD" in error["message"]
    status, error = await node.post(sign(account, deposit_entry(account, 1_000_000), 102))
    assert status == 400
    assert "SEQUENCE_NUMBER_TOO_NEW" in error["message"]


async def test_a_gap_parks_until_filled_then_runs_in_order(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aptos_node, "WAIT_BY_HASH_SECONDS", 0.05)
    account = Account.generate()
    wallet = str(account.address())
    later = sign(account, deposit_entry(account, 2_000_000), 1)
    status, pending = await node.post(later)
    assert status == 202
    _, seen = await node.get(f"/transactions/wait_by_hash/{pending['hash']}")
    assert seen["type"] == "pending_transaction"
    assert node.engine.profile_balance(wallet) == 0
    status, again = await node.post(later)  # the same bytes again: idempotent
    assert status == 202
    assert again["hash"] == pending["hash"]
    status, clash = await node.post(sign(account, deposit_entry(account, 3_000_000), 1))
    assert status == 400
    assert clash["error_code"] == "invalid_transaction_update"
    first = sign(account, deposit_entry(account, 1_000_000), 0)
    assert (await node.post(first))[0] == 202
    _, tx = await node.get(f"/transactions/by_hash/{aptos_hash(first)}")
    _, second = await node.get(f"/transactions/by_hash/{pending['hash']}")
    assert second["type"] == "user_transaction"
    assert second["success"] is True
    assert int(second["version"]) > int(tx["version"])
    assert node.engine.profile_balance(wallet) == Decimal(3)
    assert node.state.sequence_numbers[wallet] == 2


async def test_move_abort_commits_as_failure_and_bumps_the_sequence(node: Node) -> None:
    account = Account.generate()
    wallet = str(account.address())
    body = sign(account, deposit_entry(account, 10**12))  # 1,000,000 > the faucet's 100,000
    status, pending = await node.post(body)
    assert status == 202
    _, tx = await node.get(f"/transactions/wait_by_hash/{pending['hash']}")
    assert tx["success"] is False
    assert tx["vm_status"].startswith(
        f"Move abort in {KANA_PACKAGE_ADDRESS}::perpetual_core: INSUFFICIENT_BALANCE(0x65): ")
    assert node.state.sequence_numbers[wallet] == 1
    assert node.engine.apt_balance(wallet) < 10
    assert node.engine.profile_balance(wallet) == 0


async def test_depositing_for_someone_else_aborts(node: Node) -> None:
    account, other = Account.generate(), Account.generate()
    entry = EntryFunction.natural(
        MODULE, "deposit", [],
        [TransactionArgument(other.address(), Serializer.struct),
         TransactionArgument(1_000_000, Serializer.u64)],
    )
    _, pending = await node.post(sign(account, entry))
    _, tx = await node.get(f"/transactions/by_hash/{pending['hash']}")
    assert tx["success"] is False
    assert "E_NOT_SIGNER" in tx["vm_status"]


async def test_unknown_function_or_module_fails_at_execution(node: Node) -> None:
    account = Account.generate()
    entry = EntryFunction.natural("0x1::perpetual_scripts", "deposit", [], [])
    _, pending = await node.post(sign(account, entry, 0))
    _, tx = await node.get(f"/transactions/by_hash/{pending['hash']}")
    assert tx["success"] is False
    assert tx["vm_status"].startswith("LINKER_ERROR")
    bad_args = EntryFunction(deposit_entry(account, 1).module, "deposit", [], [b"\x01"])
    _, pending = await node.post(sign(account, bad_args, 1))
    _, tx = await node.get(f"/transactions/by_hash/{pending['hash']}")
    assert tx["vm_status"].startswith("FAILED_TO_DESERIALIZE_ARGUMENT")


async def test_out_of_gas_commits_without_running(node: Node) -> None:
    account = Account.generate()
    _, pending = await node.post(sign(account, deposit_entry(account, 1_000_000), max_gas=10))
    _, tx = await node.get(f"/transactions/by_hash/{pending['hash']}")
    assert (tx["success"], tx["vm_status"], tx["gas_used"]) == (False, "OUT_OF_GAS", "10")
    assert node.engine.profile_balance(str(account.address())) == 0


async def test_malformed_bodies(node: Node) -> None:
    status, error = await node.post(b"\x01\x02")
    assert status == 400
    assert error["error_code"] == "invalid_input"
    status, error = await node.post(b"{}", {"Content-Type": "application/json"})
    assert status == 415
    status, error = await node.get(f"/transactions/by_hash/0x{'ab' * 32}")
    assert status == 404
    assert error["error_code"] == "transaction_not_found"


async def test_fault_refusing_and_rejection(node: Node) -> None:
    account = Account.generate()
    node.faults.refuse_connections(5)
    status, _ = await node.post(sign(account, deposit_entry(account, 1_000_000)))
    assert status == 503
    node.faults.clear()
    node.faults.reject_next_transactions(1, "mempool is full")
    status, error = await node.post(sign(account, deposit_entry(account, 1_000_000)))
    assert status == 400
    assert "mempool is full" in error["message"]
    assert not node.state.committed
    status, _ = await node.post(sign(account, deposit_entry(account, 1_000_000)))
    assert status == 202


async def test_fault_hang_executes_but_never_answers(node: Node) -> None:
    account = Account.generate()
    body = sign(account, deposit_entry(account, 1_000_000))
    node.faults.hang_next_submissions(1)
    with pytest.raises(asyncio.TimeoutError):
        async with node.http.post(node.url + "/transactions", data=body, headers=BCS,
                                  timeout=aiohttp.ClientTimeout(total=0.3)) as resp:
            await resp.read()
    status, tx = await node.get(f"/transactions/by_hash/{aptos_hash(body)}")
    assert status == 200
    assert tx["success"] is True
    assert node.state.submissions == 1


# -- events ----------------------------------------------------------------------------------


def limit_entry(lots: int, ticks: int, *, long: bool = True) -> EntryFunction:
    return EntryFunction.natural(
        MODULE, "place_limit_order", [],
        [TransactionArgument(1338, Serializer.u64), TransactionArgument(long, Serializer.bool),
         TransactionArgument(False, Serializer.bool), TransactionArgument(lots, Serializer.u64),
         TransactionArgument(ticks, Serializer.u64), TransactionArgument(2, Serializer.u64),
         TransactionArgument(0, Serializer.u8), TransactionArgument(0, Serializer.u64),
         TransactionArgument(0, Serializer.u64)],
    )


async def test_a_committed_transaction_lists_its_events_in_the_aptos_shape(node: Node) -> None:
    account = Account.generate()
    wallet = str(account.address())
    _, pending = await node.post(sign(account, deposit_entry(account, 250_000_000)))
    assert "events" not in pending
    _, tx = await node.get(f"/transactions/by_hash/{pending['hash']}")
    _, waited = await node.get(f"/transactions/wait_by_hash/{pending['hash']}")
    assert tx["events"] == waited["events"] == [{
        "guid": {"creation_number": "0", "account_address": "0x0"},
        "sequence_number": "0",
        "type": f"{KANA_PACKAGE_ADDRESS}::perpetual_core::DepositEvent",
        "data": {"__variant__": "V1", "profile_address": node.engine.profile_address(wallet),
                 "amount": "250000000", "timestamp": tx["events"][0]["data"]["timestamp"]},
    }]
    assert abs(int(tx["events"][0]["data"]["timestamp"]) - time.time()) < 5


async def test_a_placed_order_is_named_in_the_events(node: Node) -> None:
    account = Account.generate()
    await node.post(sign(account, deposit_entry(account, 100_000_000), 0))
    _, pending = await node.post(sign(account, limit_entry(500, 4000), 1))
    _, tx = await node.get(f"/transactions/by_hash/{pending['hash']}")
    [event] = tx["events"]
    assert event["type"] == f"{KANA_PACKAGE_ADDRESS}::perpetual_core::PlaceOrderEvent"
    profile = node.engine.profile_address(str(account.address()))
    assert [event["data"]["order_id"]] == node.engine.open_order_ids(profile, 1338)
    assert (event["data"]["size"], event["data"]["price"]) == ("500", "4000")


async def test_a_failed_transaction_has_no_events(node: Node) -> None:
    account = Account.generate()
    await node.post(sign(account, deposit_entry(account, 100_000_000), 0))
    _, pending = await node.post(sign(account, limit_entry(1, 4000), 1))  # below min lots
    _, tx = await node.get(f"/transactions/by_hash/{pending['hash']}")
    assert (tx["success"], tx["events"]) == (False, [])
    _, pending = await node.post(sign(account, limit_entry(500, 4000), 2, max_gas=100))
    _, tx = await node.get(f"/transactions/by_hash/{pending['hash']}")
    assert (tx["vm_status"], tx["events"]) == ("OUT_OF_GAS", [])
    assert node.engine.open_order_ids(node.engine.profile_address(str(account.address())),
                                      1338) == []


async def test_the_committed_store_is_pruned_oldest_first(node: Node) -> None:
    node.state.max_committed = 2
    account = Account.generate()
    hashes = []
    for seq in range(3):
        body = sign(account, deposit_entry(account, 1_000_000), seq)
        assert (await node.post(body))[0] == 202
        hashes.append(aptos_hash(body))
    assert list(node.state.committed) == hashes[1:]
    status, _ = await node.get(f"/transactions/by_hash/{hashes[0]}")
    assert status == 404  # like a pruned fullnode
    status, tx = await node.get(f"/transactions/by_hash/{hashes[2]}")
    assert (status, tx["success"]) == (200, True)


async def test_expired_parked_transactions_leave_no_empty_queue(node: Node) -> None:
    clock = [time.time()]
    node.state.clock = lambda: clock[0]
    account = Account.generate()
    later = sign(account, deposit_entry(account, 1_000_000), 1,
                 expiration=int(clock[0]) + 5)
    assert (await node.post(later))[0] == 202
    assert str(account.address()) in node.state.parked
    clock[0] += 10
    status, _ = await node.get(f"/transactions/by_hash/{aptos_hash(later)}")
    assert status == 404
    assert node.state.parked == {}
