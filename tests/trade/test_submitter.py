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
from aiohttp import web
from aiohttp.test_utils import TestServer
from aptos_sdk.account_address import AccountAddress
from aptos_sdk.transactions import EntryFunction, RawTransaction, TransactionPayload

from kana_async.aptos.abi import AbiCache
from kana_async.aptos.transactions import transaction_hash
from kana_async.config import KANA_PACKAGE_ADDRESS
from kana_async.errors import TransactionFailedError, UnknownOutcomeError, ValidationError
from kana_async.models import TxPayload
from kana_async.sim.aptos_node import NODE_KEY, AptosNode, make_node_app
from kana_async.sim.engine import Engine
from kana_async.sim.faults import Faults
from kana_async.trade.node import NodeClient, TransactionRejectedError
from kana_async.trade.signer import Signer
from kana_async.trade.submitter import (
    FILLER_FUNCTION,
    Submitter,
    TradingOptions,
    TxResult,
)

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
    made: list[Submitter] = []
    async with aiohttp.ClientSession() as http:
        client = NodeClient(http, str(server.make_url("/v1")), timeout=5)
        signer = Signer("0x" + "42" * 32)

        def make(**options: Any) -> Submitter:
            options.setdefault("clock", clock)
            options.setdefault("fill_delay", 0.05)
            made.append(Submitter(options.pop("node", client), signer, **options))
            return made[-1]

        yield Env(engine, faults, server.app[NODE_KEY], client, signer,
                  AbiCache(client.module), clock, make)
        for submitter in made:
            await submitter.aclose()
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


async def settled(submitter: Submitter) -> None:
    """Until nothing is in doubt (bounded: 5 s)."""
    for _ in range(100):
        if not submitter.in_doubt():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"still in doubt: {submitter.in_doubt()}")


class Proxy:
    """A hop on 127.0.0.1 between the submitter and the node, as a gateway would be: it
    forwards each POST /transactions (unless told not to), then answers as scripted."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        #: (status, body, forward) for the next POSTs, in order; then plain forwarding.
        self.script: list[tuple[int, bytes, bool]] = []
        #: (status, body) answered instead of the next status reads (GET .../by_hash/...).
        self.reads: list[tuple[int, bytes]] = []
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.server = TestServer(app, host="127.0.0.1")
        self.http: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return str(self.server.make_url("/v1"))

    async def handle(self, request: web.Request) -> web.Response:
        assert self.http is not None
        body = await request.read()
        if request.method == "GET" and "by_hash" in request.path and self.reads:
            status, answer = self.reads.pop(0)
            return web.Response(status=status, body=answer)
        scripted = self.script.pop(0) if request.method == "POST" and self.script else None
        if scripted is not None and not scripted[2]:
            return web.Response(status=scripted[0], body=scripted[1])
        async with self.http.request(
            request.method, self.upstream + request.path.removeprefix("/v1"), data=body,
            headers={"Content-Type": request.content_type},
        ) as upstream:
            answer = await upstream.read()
            if scripted is None:
                return web.Response(status=upstream.status, body=answer,
                                    content_type="application/json")
        return web.Response(status=scripted[0], body=scripted[1])


def through(proxy: Proxy, env: Env, **options: Any) -> Submitter:
    """A submitter whose node requests all pass through ``proxy``."""
    return env.make(node=NodeClient(env.client.transport, proxy.url, timeout=5), **options)


async def executed_but_in_doubt(env: Env, submitter: Submitter, entry: EntryFunction) -> str:
    """Submit ``entry``: it must raise UnknownOutcomeError though the node executed it, and
    stay listed in doubt; its hash is returned."""
    with pytest.raises(UnknownOutcomeError) as info:
        await submitter.submit(entry)
    tx_hash = info.value.tx_hash
    assert tx_hash in env.node.committed  # the node did execute it
    assert submitter.in_doubt() == [tx_hash]
    return tx_hash


@pytest.fixture
async def proxy(env: Env) -> AsyncIterator[Proxy]:
    hop = Proxy(env.client.base_url)
    await hop.server.start_server()
    async with aiohttp.ClientSession() as http:
        hop.http = http
        yield hop
    await hop.server.close()


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (503, b'{"message": "node is busy", "error_code": "internal_error", '
              b'"vm_error_code": null}'),
        (429, b"Too Many Requests"),
        (500, b"<html>Internal Server Error</html>"),
        (400, b"<html>400 Bad Request</html>"),
    ],
)
async def test_an_error_after_forwarding_is_in_doubt_never_a_second_order(
    env: Env, proxy: Proxy, status: int, body: bytes
) -> None:
    submitter = through(proxy, env)
    entry = await env.entry("deposit", env.signer.address, "1000000")
    proxy.script.append((status, body, True))
    tx_hash = await executed_but_in_doubt(env, submitter, entry)
    result = await submitter.resolve(tx_hash)
    assert result.success is True
    assert submitter.in_doubt() == []
    after = await submitter.submit(entry)  # the next intent gets the next number
    assert after.sequence_number == 1
    assert env.node.submissions == 2
    assert env.engine.profile_balance(env.signer.address) == Decimal(2)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, b'{"message": "bad request", "error_code": "invalid_input", '
              b'"vm_error_code": null}'),
        (403, b"<html>403 Forbidden</html>"),
        (429, b"Too Many Requests"),
    ],
)
async def test_a_refused_status_read_after_submission_is_in_doubt_never_a_plain_error(
    env: Env, proxy: Proxy, status: int, body: bytes
) -> None:
    # The transaction was accepted; a gateway then refuses every status read. A caller told
    # "ApiError" or "RateLimitError" would take it as "nothing happened" and may place again.
    submitter = through(proxy, env, wait_timeout=1.0)
    entry = await env.entry("deposit", env.signer.address, "1000000")
    proxy.reads.extend([(status, body)] * 1000)
    tx_hash = await executed_but_in_doubt(env, submitter, entry)
    proxy.reads.clear()
    assert (await submitter.resolve(tx_hash)).success is True
    assert submitter.in_doubt() == []
    assert env.node.submissions == 1


async def test_a_busy_status_read_is_asked_again(env: Env, proxy: Proxy) -> None:
    submitter = through(proxy, env, wait_timeout=10.0)
    proxy.reads.extend([(429, b"Too Many Requests")] * 3)
    result = await submitter.submit(await env.entry("deposit", env.signer.address, "1000000"))
    assert result.success is True
    assert not proxy.reads  # the refused reads were all asked, then one was answered


async def test_a_node_rejection_passed_through_is_a_rejection(env: Env, proxy: Proxy) -> None:
    submitter = through(proxy, env)
    env.faults.reject_next_transactions(1, "mempool is full")
    with pytest.raises(TransactionRejectedError, match="mempool is full"):
        await submitter.submit(await env.entry("deposit", env.signer.address, "1000000"))
    assert submitter.in_doubt() == []


async def test_a_cancelled_callers_transaction_stays_in_doubt_until_it_commits(
    env: Env,
) -> None:
    submitter = env.make(submit_timeout=5)
    entry = await env.entry("deposit", env.signer.address, "1000000")
    env.faults.hang_next_submissions(3)
    callers = [asyncio.create_task(submitter.submit(entry)) for _ in range(3)]
    for _ in range(500):
        if env.node.submissions == 3:
            break
        await asyncio.sleep(0.01)
    assert env.node.submissions == 3
    for task in callers:
        task.cancel()
    for task in callers:
        with pytest.raises(asyncio.CancelledError):
            await task
    hashes = submitter.in_doubt()
    assert sorted(hashes) == sorted(env.node.committed)  # all three executed, none lost
    assert len(hashes) == 3
    await settled(submitter)  # the reconciler saw them commit
    results = [await submitter.resolve(h) for h in hashes]
    assert sorted(r.sequence_number for r in results) == [0, 1, 2]
    assert all(r.success for r in results)
    after = await submitter.submit(entry)
    assert after.sequence_number == 3


async def test_a_timed_out_caller_can_resolve_by_hash(env: Env) -> None:
    submitter = env.make(submit_timeout=5)
    env.faults.hang_next_submissions(1)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(
            submitter.submit(await env.entry("deposit", env.signer.address, "1000000")), 0.3)
    [tx_hash] = submitter.in_doubt()
    result = await submitter.resolve(tx_hash)
    assert result.success is True
    assert submitter.in_doubt() == []


async def test_an_in_doubt_number_is_never_reused_until_it_expires(
    env: Env, proxy: Proxy
) -> None:
    submitter = through(proxy, env, fill_delay=0.2)
    entry = await env.entry("deposit", env.signer.address, "1000000")
    proxy.script.append((503, b"", False))  # lost on the way: never reaches the node
    with pytest.raises(UnknownOutcomeError) as info:
        await submitter.submit(entry)
    lost = info.value.tx_hash
    env.clock.offset = 31  # past the lost one's expiry, on the chain's clock too
    later = await submitter.submit(entry, wait=False)
    assert later.sequence_number == 1  # 0 stays reserved while its fate is open
    result = await submitter.wait(later.tx_hash, timeout=10)
    assert result.success is True
    # The lost one expired, its number was freed and filled by a zero transfer to self.
    expired = await submitter.resolve(lost)
    assert (expired.committed, expired.success) == (False, False)
    fillers = [tx for tx in env.node.committed.values()
               if tx["payload"]["function"] == FILLER_FUNCTION]
    assert [(f["sequence_number"], f["payload"]["arguments"]) for f in fillers] == [
        ("0", [env.signer.address, "0"])]
    await settled(submitter)  # the filler too
    assert env.engine.profile_balance(env.signer.address) == Decimal(1)


async def test_one_rejection_in_a_concurrent_batch_holds_back_no_other(env: Env) -> None:
    submitter = env.make(wait_timeout=10)
    await submitter.submit(await env.entry("deposit", env.signer.address, "1000000000"))
    spec = env.engine.markets[APT]
    entries = [
        await env.entry("place_limit_order", APT, True, False, spec.min_lots,
                        spec.ticks(Decimal("3") + Decimal("0.001") * i), 2, 0, 0, 0)
        for i in range(20)
    ]
    env.faults.reject_next_transactions(1, "mempool is full")
    outcomes = await asyncio.gather(*(submitter.submit(e) for e in entries),
                                    return_exceptions=True)
    rejected = [o for o in outcomes if isinstance(o, TransactionRejectedError)]
    placed = [o for o in outcomes if isinstance(o, TxResult) and o.success]
    assert (len(rejected), len(placed)) == (1, 19), outcomes
    profile = env.engine.profile_address(env.signer.address)
    assert len(env.engine.open_order_ids(profile, APT)) == 19
    await settled(submitter)
    # Nothing executed twice: 1 deposit + 19 orders (+ at most one filler) used 1..20.
    assert env.node.sequence_numbers[env.signer.address] in (20, 21)


async def test_closed_submitter_keeps_its_in_doubt_list(env: Env) -> None:
    submitter = env.make(submit_timeout=0.3)
    env.faults.hang_next_submissions(1)
    with pytest.raises(UnknownOutcomeError) as info:
        await submitter.submit(await env.entry("deposit", env.signer.address, "1000000"))
    await submitter.aclose()
    await submitter.aclose()
    assert submitter.in_doubt() == [info.value.tx_hash]
    successor = env.make()
    successor.take_over(submitter)
    assert successor.in_doubt() == [info.value.tx_hash]
    await settled(successor)
    after = await successor.submit(await env.entry("deposit", env.signer.address, "1000000"))
    assert after.sequence_number == 1


def test_trading_options_name_the_rule() -> None:
    assert TradingOptions.coerce({"expiry_secs": 12}).expiry_secs == 12
    options = TradingOptions(max_in_flight=4)
    assert TradingOptions.coerce(options) is options
    with pytest.raises(ValidationError, match="max_in_flight: must be a positive integer"):
        TradingOptions(max_in_flight=0)
    with pytest.raises(ValidationError, match="submit_timeout: must be a finite number"):
        TradingOptions(submit_timeout=float("inf"))
    with pytest.raises(ValidationError, match="expiry_secs: must be at least 1 second"):
        TradingOptions(expiry_secs=0.5)
    with pytest.raises(ValidationError, match="gas_unit_price: must be a positive integer"):
        TradingOptions(gas_unit_price=True)
    with pytest.raises(ValidationError, match=r"unknown option\(s\) expiry; known: "):
        TradingOptions.coerce({"expiry": 3})
    with pytest.raises(ValidationError, match="must be a TradingOptions or a mapping"):
        TradingOptions.coerce(30)


async def test_after_a_restart_a_pending_hash_is_tracked_and_its_number_kept(env: Env) -> None:
    # An earlier process signed number 1 (parked on the node behind 0) and then died.
    entry = await env.entry("deposit", env.signer.address, "1000000")
    raw = RawTransaction(AccountAddress.from_str(env.signer.address), 1,
                         TransactionPayload(entry), 20_000, 100, int(env.clock()) + 30, 4)
    body = env.signer.sign(raw).bytes()
    await env.client.submit(body)
    earlier = transaction_hash(body)
    submitter = env.make()
    with pytest.raises(UnknownOutcomeError, match="still pending"):
        await submitter.resolve(earlier.upper().replace("0X", "0x"), timeout=0.05)
    assert submitter.in_doubt() == [earlier]
    first = await submitter.submit(entry)  # takes 0, not the earlier one's 1
    assert first.sequence_number == 0
    resolved = await submitter.resolve(earlier)
    assert (resolved.sequence_number, resolved.success) == (1, True)
    assert (await submitter.submit(entry)).sequence_number == 2
    assert submitter.in_doubt() == []


@pytest.mark.parametrize("bad", ["0x1234", "", "0x" + "g" * 64, 7])
async def test_a_malformed_hash_is_refused(env: Env, bad: Any) -> None:
    with pytest.raises(ValidationError, match="tx_hash: must be 0x followed by 64 hex digits"):
        await env.make().resolve(bad)


async def test_taken_over_before_the_loop_runs_then_followed(env: Env) -> None:
    submitter = env.make(submit_timeout=0.3)
    env.faults.hang_next_submissions(1)
    with pytest.raises(UnknownOutcomeError) as info:
        await submitter.submit(await env.entry("deposit", env.signer.address, "1000000"))
    await submitter.aclose()
    successor = env.make()

    def take_over_without_a_loop() -> None:
        successor.take_over(submitter)

    await asyncio.get_running_loop().run_in_executor(None, take_over_without_a_loop)
    assert successor.in_doubt() == [info.value.tx_hash]
    after = await successor.submit(await env.entry("deposit", env.signer.address, "1000000"))
    assert after.sequence_number == 1
    await settled(successor)  # the carried-over one was followed to its commit
