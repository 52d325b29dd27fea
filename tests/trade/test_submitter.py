"""Submitter against the simulator's node: sequence numbers, confirmation, unknown outcomes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from aptos_sdk.account_address import AccountAddress
from aptos_sdk.transactions import EntryFunction, RawTransaction, TransactionPayload

from kana_async.config import KANA_PACKAGE_ADDRESS
from kana_async.errors import TransactionFailedError, UnknownOutcomeError, ValidationError
from kana_async.models import TxPayload
from kana_async.sim.aptos_node import NODE_KEY, AptosNode, make_node_app
from kana_async.sim.engine import Engine
from kana_async.sim.faults import Faults
from kana_async.trade.abi import AbiCache
from kana_async.trade.node import NodeClient, TransactionRejectedError
from kana_async.trade.signer import Signer
from kana_async.trade.submitter import Submitter, transaction_hash

MODULE = f"{KANA_PACKAGE_ADDRESS}::perpetual_scripts"
APT = 1338


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class Env:
    engine: Engine
    faults: Faults
    node: AptosNode
    client: NodeClient
    signer: Signer
    abi: AbiCache
    clock: Clock
    make: Callable[..., Submitter]

    async def entry(self, function: str, *args: Any) -> EntryFunction:
        return await self.abi.encode(
            TxPayload(function=f"{MODULE}::{function}", function_arguments=list(args)))


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    engine = Engine(seed=2, market_maker=None)
    faults = Faults()
    clock = Clock()
    server = TestServer(make_node_app(engine, faults, clock=clock))
    await server.start_server()
    async with aiohttp.ClientSession() as http:
        client = NodeClient(http, str(server.make_url("/v1")), timeout=5)
        signer = Signer("0x" + "42" * 32)

        def make(**options: Any) -> Submitter:
            options.setdefault("clock", clock)
            return Submitter(client, signer, **options)

        yield Env(engine, faults, server.app[NODE_KEY], client, signer,
                  AbiCache(client.module), clock, make)
    await server.close()


async def test_submit_waits_for_the_commit(env: Env) -> None:
    submitter = env.make()
    result = await submitter.submit(await env.entry("deposit", env.signer.address, "5000000"))
    assert result.committed
    assert result.success is True
    assert result.vm_status == "Executed successfully"
    assert result.sequence_number == 0
    assert result.version is not None
    assert result.gas_used is not None
    assert result.tx_hash.startswith("0x")
    assert len(result.tx_hash) == 66
    assert env.engine.profile_balance(env.signer.address) == Decimal(5)
    assert result.raise_for_status() is result


async def test_fifty_concurrent_orders_all_land_without_collisions(env: Env) -> None:
    submitter = env.make(max_in_flight=16)
    await submitter.submit(await env.entry("deposit", env.signer.address, "1000000000"))
    spec = env.engine.markets[APT]
    entries = [
        await env.entry("place_limit_order", APT, True, False, spec.min_lots,
                        spec.ticks(Decimal("3") + Decimal("0.001") * i), 2, 0, 0, 0)
        for i in range(50)
    ]
    results = await asyncio.gather(*(submitter.submit(e) for e in entries))
    assert all(r.success for r in results)
    assert sorted(r.sequence_number for r in results) == list(range(1, 51))
    assert len({r.tx_hash for r in results}) == 50
    profile = env.engine.profile_address(env.signer.address)
    assert len(env.engine.open_order_ids(profile, APT)) == 50
    assert env.node.submissions == 51


async def test_a_move_abort_is_a_failed_result(env: Env) -> None:
    submitter = env.make()
    result = await submitter.submit(await env.entry("deposit", env.signer.address, str(10**12)))
    assert result.committed
    assert result.success is False
    assert "INSUFFICIENT_BALANCE" in result.vm_status
    with pytest.raises(TransactionFailedError) as info:
        result.raise_for_status()
    assert info.value.tx_hash == result.tx_hash


async def test_a_rejected_number_is_reused_so_no_gap_forms(env: Env) -> None:
    submitter = env.make()
    entry = await env.entry("deposit", env.signer.address, "1000000")
    env.faults.reject_next_transactions(1, "mempool is full")
    with pytest.raises(TransactionRejectedError) as info:
        await submitter.submit(entry)
    assert "mempool is full" in str(info.value)
    result = await submitter.submit(entry)
    assert result.success is True
    assert result.sequence_number == 0


async def test_stale_sequence_number_resyncs_and_resigns_once(env: Env) -> None:
    ours = env.make()
    entry = await env.entry("deposit", env.signer.address, "1000000")
    await ours.submit(entry)  # our next number is now 1
    other = env.make()  # the same key used elsewhere takes 1 and 2
    await other.submit(entry)
    await other.submit(entry)
    result = await ours.submit(entry)
    assert result.success is True
    assert result.sequence_number == 3
    assert env.node.submissions == 5  # one rejected as SEQUENCE_NUMBER_TOO_OLD, then resigned


@pytest.mark.parametrize(
    ("options", "status"),
    [({"max_gas_amount": 2_000_000, "gas_unit_price": 1_000},
      "INSUFFICIENT_BALANCE_FOR_TRANSACTION_FEE"),
     ({"gas_unit_price": 1}, "GAS_UNIT_PRICE_BELOW_MIN_BOUND")],
)
async def test_rejections_name_the_cause(env: Env, options: dict[str, Any], status: str) -> None:
    submitter = env.make(**options)
    with pytest.raises(TransactionRejectedError) as info:
        await submitter.submit(await env.entry("deposit", env.signer.address, "1000000"))
    assert info.value.vm_status == status
    assert status in str(info.value)
    assert env.engine.profile_balance(env.signer.address) == 0


async def test_expired_by_clock_skew_is_rejected(env: Env) -> None:
    skewed = Clock()
    skewed.offset = -120
    submitter = env.make(clock=skewed)
    with pytest.raises(TransactionRejectedError) as info:
        await submitter.submit(await env.entry("deposit", env.signer.address, "1000000"))
    assert info.value.vm_status == "TRANSACTION_EXPIRED"


async def test_wrong_chain_is_refused_before_signing(env: Env) -> None:
    submitter = env.make(chain_id=1)
    with pytest.raises(ValidationError, match="serves chain 4, expected 1"):
        await submitter.submit(await env.entry("deposit", env.signer.address, "1000000"))
    assert env.node.submissions == 0


async def test_hang_gives_unknown_outcome_then_resolve_tells_the_truth(env: Env) -> None:
    submitter = env.make(submit_timeout=0.3)
    entry = await env.entry("deposit", env.signer.address, "2000000")
    env.faults.hang_next_submissions(1)
    with pytest.raises(UnknownOutcomeError) as info:
        await submitter.submit(entry)
    tx_hash = info.value.tx_hash
    assert tx_hash in env.node.committed
    assert env.node.submissions == 1  # never re-sent
    result = await submitter.resolve(tx_hash)
    assert result.tx_hash == tx_hash
    assert result.success is True
    assert env.engine.profile_balance(env.signer.address) == Decimal(2)
    after = await submitter.submit(entry)  # the next one resyncs and lands after it
    assert after.sequence_number == 1
    assert after.success is True


async def test_wait_false_then_wait(env: Env) -> None:
    submitter = env.make()
    pending = await submitter.submit(
        await env.entry("deposit", env.signer.address, "1000000"), wait=False)
    assert pending.success is None
    assert pending.pending
    done = await submitter.wait(pending.tx_hash)
    assert done.success is True


async def test_resolve_reports_a_transaction_that_expired_uncommitted(env: Env) -> None:
    submitter = env.make()
    entry = await env.entry("deposit", env.signer.address, "1000000")
    raw = RawTransaction(AccountAddress.from_str(env.signer.address), 5,
                         TransactionPayload(entry), 20_000, 100, int(env.clock()) + 2, 4)
    body = env.signer.sign(raw).bytes()
    parked = await env.client.submit(body)  # parked behind the gap 0..4
    assert parked["type"] == "pending_transaction"
    with pytest.raises(UnknownOutcomeError, match="still pending"):
        await submitter.resolve(transaction_hash(body), timeout=0.05)
    env.clock.offset = 10  # time passes beyond its expiry
    result = await submitter.resolve(transaction_hash(body), timeout=1)
    assert result.committed is False
    assert result.success is False
    assert "TRANSACTION_EXPIRED" in result.vm_status
    assert env.engine.profile_balance(env.signer.address) == 0


async def test_unknown_hash_not_committed_in_time(env: Env) -> None:
    submitter = env.make()
    with pytest.raises(UnknownOutcomeError, match="not found"):
        await submitter.resolve("0x" + "00" * 32, timeout=0.1)


async def test_cancelled_mid_submission_keeps_sequence_numbers_straight(env: Env) -> None:
    submitter = env.make(submit_timeout=5)
    entry = await env.entry("deposit", env.signer.address, "1000000")
    env.faults.hang_next_submissions(1)
    task = asyncio.create_task(submitter.submit(entry))
    for _ in range(100):
        if env.node.submissions:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    after = await submitter.submit(entry)  # resynced: the cancelled one did commit as 0
    assert after.sequence_number == 1
    assert after.success is True
