"""The signer over a real nats-server: results and outcomes as in one process, idempotent
retries (the same key again, a reply lost with its connection), a signer restart, bad calls."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import msgspec
import nats
import pytest

from kana_async import KanaClient, KanaError, TransportError, UnknownOutcomeError, ValidationError
from kana_async.bus import connect
from kana_async.bus.remote import RemoteTrader, redact_url
from kana_async.bus.signer import (
    BAD_REQUEST,
    SIGNER_RESTARTED,
    IdempotencyStore,
    Reply,
    SignCall,
    SignerService,
)
from kana_async.bus.subjects import sign_subject
from kana_async.sim import Simulator
from kana_async.trade.results import TxResult
from tests.bus.nats_server import NatsServer

ALICE = "31" * 32
APT = 1338


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(seed=5, market_maker=None, step_interval=None) as simulator:
        yield simulator


def signing_client(sim: Simulator, **trading: Any) -> KanaClient:
    return KanaClient("local", rest_url=sim.rest_url, ws_url=sim.ws_url,
                      node_url=sim.node_url, private_key=ALICE, trading=trading)


@contextlib.asynccontextmanager
async def signer(sim: Simulator, server: NatsServer, url: str | None = None, **trading: Any
                 ) -> AsyncIterator[tuple[KanaClient, SignerService]]:
    async with signing_client(sim, **trading) as kana:
        nc = await connect(url or server.url, name="test-signer")
        service = SignerService(kana.trader, network="local")
        try:
            await service.start(nc)
            yield kana, service
        finally:
            await service.stop()
            await nc.close()


def remote_client(sim: Simulator, url: str, address: str) -> KanaClient:
    return KanaClient("local", rest_url=sim.rest_url, ws_url=sim.ws_url, node_url=sim.node_url,
                      signer_url=url, signer_account=address)


async def test_orders_through_the_signer_match_the_direct_results(
    sim: Simulator, nats_server: NatsServer
) -> None:
    async with signer(sim, nats_server) as (kana, _), \
            remote_client(sim, nats_server.url, kana.address) as strategy:
        assert strategy.address == kana.address
        deposit = await strategy.deposit(1000)
        assert isinstance(deposit, TxResult)
        assert deposit.success
        placed = await strategy.place_limit_order(APT, True, False, "1", Decimal("5.000"), 2)
        assert placed.success
        assert len(placed.order_ids) == 1
        sides = await strategy.open_order_sides(APT, placed.order_ids)
        assert sides == [True]
        pending = await strategy.place_limit_order(APT, True, False, "1", "4.5", 2, wait=False)
        assert pending.pending
        assert (await strategy.wait(pending.tx_hash)).success
        cancelled = await strategy.cancel_all(APT)
        assert [r.success for r in cancelled] == [True]
        assert sorted(cancelled[0].cancelled_order_ids) == sorted(
            [*placed.order_ids, *(await kana.wait(pending.tx_hash)).order_ids])
        assert strategy.in_doubt() == []


async def test_errors_keep_their_type_and_text(sim: Simulator, nats_server: NatsServer) -> None:
    async with signer(sim, nats_server) as (kana, _), \
            remote_client(sim, nats_server.url, kana.address) as strategy:
        with pytest.raises(ValidationError) as remote:
            await strategy.place_limit_order(APT, True, False, "1", "5.0005", 2)
        with pytest.raises(ValidationError) as local:
            await kana.place_limit_order(APT, True, False, "1", "5.0005", 2)
        assert str(remote.value) == str(local.value)
        assert (remote.value.param, remote.value.rule) == (local.value.param, local.value.rule)
        with pytest.raises(TypeError):
            await strategy.place_market_order(APT)  # type: ignore[call-arg]
        raw = RemoteTrader(nats_server.url, network="local", address=kana.address)
        async with raw:
            with pytest.raises(ValidationError, match="arguments: place_market_order"):
                await raw.call("place_market_order", [APT], {})


async def test_the_same_key_again_returns_the_first_outcome(
    sim: Simulator, nats_server: NatsServer
) -> None:
    async with signer(sim, nats_server) as (kana, service), \
            RemoteTrader(nats_server.url, network="local", address=kana.address) as remote:
        await remote.deposit(1000)
        first = await remote.call("place_limit_order", [APT, True, False, "1", "5", 2], {},
                                  key="order-1")
        again = await remote.call("place_limit_order", [APT, True, False, "1", "5", 2], {},
                                  key="order-1")
        assert again == first
        orders = await kana.rest.get_open_orders_from_contract(kana.address, APT)
        assert len(orders) == 1
        assert service.store.done("order-1") is not None


async def test_a_reply_lost_with_its_connection_is_not_placed_twice(
    sim: Simulator, nats_server: NatsServer
) -> None:
    async with signer(sim, nats_server) as (kana, service), \
            RemoteTrader(nats_server.url, network="local", address=kana.address) as remote:
        await remote.deposit(1000)
        # A strategy sends its call and its connection drops before the answer: the signer
        # answers to an inbox nobody listens to any more.
        lost = await nats.connect(nats_server.url)
        info = msgspec.json.decode((await lost.request(
            sign_subject("local", kana.address, "info"), b"", timeout=5)).data, type=Reply)
        call = SignCall("lost-1", [APT, True, False, "1", "5", 2], {},
                        instance=info.result["instance"])
        await lost.publish(sign_subject("local", kana.address, "place_limit_order"),
                           msgspec.json.encode(call), reply=lost.new_inbox())
        await lost.flush()
        await lost.close()
        for _ in range(200):  # bounded: until the signer finished it
            if service.store.done("lost-1") is not None:
                break
            await asyncio.sleep(0.05)
        # The strategy, reconnected, sends the call again with the same key.
        result = msgspec.convert(
            await remote.call("place_limit_order", [APT, True, False, "1", "5", 2], {},
                              key="lost-1"), TxResult)
        assert result.success
        orders = await kana.rest.get_open_orders_from_contract(kana.address, APT)
        assert [o.order_id for o in orders] == result.order_ids
        # resolve by the call's label gives the same outcome
        assert (await remote.resolve("lost-1")).tx_hash == result.tx_hash


async def test_resolve_of_a_call_never_received_refuses_it_later(
    sim: Simulator, nats_server: NatsServer
) -> None:
    async with signer(sim, nats_server) as (kana, _), \
            RemoteTrader(nats_server.url, network="local", address=kana.address) as remote:
        outcome = await remote.resolve("never-sent")
        assert (outcome.committed, outcome.success) == (False, False)
        assert outcome.vm_status.startswith("NOT_PLACED")
        with pytest.raises(KanaError, match="never received"):
            await remote.call("deposit", [10], {}, key="never-sent")
        assert await remote.signer_in_doubt() == []


async def test_no_signer_running_is_a_transport_error(nats_server: NatsServer) -> None:
    async with RemoteTrader(nats_server.url, network="local", address="0x1", timeout=0.5,
                            attempt_timeout=0.1) as remote:
        with pytest.raises(TransportError, match="nothing was sent"):
            await remote.deposit(1)
        assert remote.in_doubt() == []


async def test_a_call_unanswered_then_refused_by_a_new_instance_is_in_doubt(
    sim: Simulator, nats_server: NatsServer
) -> None:
    """The first attempt reaches an instance that never answers (it died); the retry reaches
    a new one: it must not place (the first may have), and the call is in doubt by label."""
    async with signing_client(sim) as kana:
        mute = await connect(nats_server.url, name="mute-signer")
        taken: list[Any] = []

        async def swallow(msg: Any) -> None:
            taken.append(msg)
            if msg.subject.endswith(".info"):
                await mute.publish(msg.reply, msgspec.json.encode(
                    Reply(result={"address": kana.address, "network": "local",
                                  "instance": "old", "methods": []}, instance="old")))

        sub = await mute.subscribe(f"kana-sign.local.{kana.address}.*", cb=swallow)
        await mute.flush()
        async with RemoteTrader(nats_server.url, network="local", address=kana.address,
                                attempt_timeout=0.2, timeout=10) as remote:
            await remote.open()
            task = asyncio.ensure_future(remote.deposit(10))
            for _ in range(100):
                if any(m.subject.endswith(".deposit") for m in taken):
                    break
                await asyncio.sleep(0.02)
            await sub.unsubscribe()
            await mute.close()
            nc = await connect(nats_server.url, name="new-signer")
            service = SignerService(kana.trader, network="local")
            await service.start(nc)
            try:
                with pytest.raises(UnknownOutcomeError) as caught:
                    await task
                label = caught.value.label
                assert label is not None
                assert remote.in_doubt() == [label]
                # The new instance cannot know what the old one did: still unknown, never
                # "not placed".
                with pytest.raises(UnknownOutcomeError, match="restarted"):
                    await remote.resolve(label)
                assert remote.in_doubt() == [label]
                assert kana.in_doubt() == []
                assert service.calls == 0
            finally:
                await service.stop()
                await nc.close()


async def test_a_refusal_by_a_new_instance_of_a_first_attempt_is_sent_again(
    sim: Simulator, nats_server: NatsServer
) -> None:
    async with signer(sim, nats_server) as (kana, _), \
            RemoteTrader(nats_server.url, network="local", address=kana.address) as remote:
        await remote.deposit(10)
        remote._instance = "an-earlier-instance"  # the signer restarted since
        assert (await remote.deposit(10)).success
        assert remote.in_doubt() == []


async def test_bad_bodies_are_refused_unexecuted(sim: Simulator, nats_server: NatsServer) -> None:
    async with signer(sim, nats_server) as (kana, service):
        nc = await nats.connect(nats_server.url)
        try:
            subject = sign_subject("local", kana.address, "deposit")
            for body in (b"", b"{", b"[1,2]", b'{"idempotency_key": 5}',
                         msgspec.json.encode(SignCall("", instance=service.instance)),
                         msgspec.json.encode(SignCall("k" * 129, instance=service.instance))):
                answer = msgspec.json.decode((await nc.request(subject, body, timeout=5)).data,
                                             type=Reply)
                assert answer.error is not None
                assert answer.error.type == BAD_REQUEST
            stale = SignCall("k", [1], {}, instance="x")
            answer = msgspec.json.decode((await nc.request(
                subject, msgspec.json.encode(stale), timeout=5)).data, type=Reply)
            assert answer.error is not None
            assert answer.error.type == SIGNER_RESTARTED
            unknown = sign_subject("local", kana.address, "transfer_everything")
            answer = msgspec.json.decode((await nc.request(
                unknown, msgspec.json.encode(SignCall("k2", instance=service.instance)),
                timeout=5)).data, type=Reply)
            assert answer.error is not None
            assert answer.error.type == BAD_REQUEST
            assert service.calls == 0
            assert kana.in_doubt() == []
        finally:
            await nc.close()


def test_the_store_is_bounded_in_entries_and_bytes() -> None:
    async def run() -> None:
        store = IdempotencyStore(max_entries=3, max_bytes=10)
        for i in range(5):
            store.begin(f"k{i}")
            store.finish(f"k{i}", b"ab")
        assert len(store) == 3
        assert store.done("k0") is None
        assert store.done("k4") == b"ab"
        store.begin("big")
        store.finish("big", b"x" * 9)
        assert store.done("big") is not None
        assert len(store) == 1
        assert store.evicted == 5

    asyncio.run(run())


def test_urls_never_show_credentials() -> None:
    assert redact_url("nats://alice:s3cret@127.0.0.1:4222") == "nats://127.0.0.1:4222"
    remote = RemoteTrader("nats://tok3n@127.0.0.1:4222", network="local", address="0x1")
    assert "tok3n" not in repr(remote)
    kana = KanaClient("local", rest_url="http://127.0.0.1:1",
                      signer_url="nats://alice:s3cret@127.0.0.1:1", signer_account="0x1")
    assert "s3cret" not in repr(kana)
    assert "signer=remote" in repr(kana)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"signer_url": "nats://127.0.0.1:1"}, "together"),
        ({"signer_url": "http://x", "signer_account": "0x1"}, "nats://"),
        ({"signer_url": "nats://127.0.0.1:1", "signer_account": "0x1",
          "private_key": "11" * 32}, "not both"),
        ({"signer_url": "nats://127.0.0.1:1", "signer_account": 5}, "wallet address"),
    ],
)
def test_signer_options_are_checked(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        KanaClient("local", rest_url="http://127.0.0.1:1", **options)


async def test_the_client_without_its_key_explains_where_trading_goes(
    nats_server: NatsServer, sim: Simulator
) -> None:
    kana = remote_client(sim, nats_server.url, "0x1")
    with pytest.raises(RuntimeError, match="not open"):
        await kana.deposit(1)
    async with kana:
        with pytest.raises(KanaError, match="signer process"):
            _ = kana.trader
    assert kana.in_doubt() == []


def test_the_signer_command_takes_nats_credentials_from_the_environment() -> None:
    from kana_async.cli.args import UsageError
    from kana_async.cli.signer import nats_url

    url = "nats://127.0.0.1:4222"
    assert nats_url(url, "CREDS", {}) == url
    assert nats_url(url, "CREDS", {"CREDS": "bob:p@ss"}) == "nats://bob:p%40ss@127.0.0.1:4222"
    assert nats_url(url, "CREDS", {"CREDS": "t0ken"}) == "nats://t0ken@127.0.0.1:4222"
    with pytest.raises(UsageError, match="give one of them"):
        nats_url("nats://a:b@127.0.0.1:4222", "CREDS", {"CREDS": "bob:x"})


async def test_a_busy_signer_refuses_new_calls_unexecuted(
    sim: Simulator, nats_server: NatsServer
) -> None:
    async with signing_client(sim) as kana:
        nc = await connect(nats_server.url, name="busy-signer")
        service = SignerService(kana.trader, network="local", max_running=1)
        await service.start(nc)
        try:
            async with RemoteTrader(nats_server.url, network="local",
                                    address=kana.address) as remote:
                # One slow call holds the only slot: a wait for a hash the node never saw.
                slow = asyncio.ensure_future(remote.wait("0x" + "ab" * 32, timeout=1.0))
                for _ in range(200):
                    if service.store.running:
                        break
                    await asyncio.sleep(0.01)
                answer = msgspec.json.decode((await nc.request(
                    sign_subject("local", kana.address, "deposit"),
                    msgspec.json.encode(SignCall("busy-1", [5], {}, instance=service.instance)),
                    timeout=5)).data, type=Reply)
                assert answer.error is not None
                assert answer.error.type == "SignerBusy"
                assert "not executed" in answer.error.message
                with pytest.raises(UnknownOutcomeError):
                    await slow
                # The refused call was not run; asked again it runs once.
                assert service.store.done("busy-1") is None
                assert (await remote.call("deposit", [5], {}, key="busy-1"))["success"]
        finally:
            await service.stop()
            await nc.close()


async def test_a_cancelled_caller_leaves_the_call_in_doubt_and_resolvable(
    sim: Simulator, nats_server: NatsServer
) -> None:
    async with signer(sim, nats_server, submit_timeout=0.5) as (kana, service), \
            remote_client(sim, nats_server.url, kana.address) as strategy:
        sim.faults.hang_next_submissions(1)  # the call stays running in the signer
        task = asyncio.ensure_future(strategy.deposit(25))
        for _ in range(500):
            if service.store.running:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        (label,) = strategy.in_doubt()
        outcome = await strategy.resolve(label)
        assert outcome.success
        assert strategy.in_doubt() == []


async def test_resolve_of_a_call_with_several_results_says_so(
    sim: Simulator, nats_server: NatsServer
) -> None:
    async with signer(sim, nats_server) as (kana, _), \
            RemoteTrader(nats_server.url, network="local", address=kana.address) as remote:
        await remote.call("cancel_all", [APT], {}, key="several")
        with pytest.raises(KanaError, match="several results"):
            await remote.resolve("several")


async def test_closing_before_the_answer_leaves_the_call_in_doubt(
    sim: Simulator, nats_server: NatsServer
) -> None:
    async with signer(sim, nats_server, submit_timeout=0.5) as (kana, service):
        remote = RemoteTrader(nats_server.url, network="local", address=kana.address)
        await remote.open()
        sim.faults.hang_next_submissions(1)  # the call stays running in the signer
        task = asyncio.ensure_future(remote.deposit(25))
        for _ in range(500):
            if service.store.running:
                break
            await asyncio.sleep(0.01)
        await remote.aclose()
        with pytest.raises(UnknownOutcomeError) as caught:
            await task
        assert remote.in_doubt() == [caught.value.label]
        async with remote:
            assert (await remote.resolve(str(caught.value.label))).success
        assert remote.in_doubt() == []



async def test_orders_in_flight_across_a_nats_server_restart_land_once(sim: Simulator) -> None:
    with NatsServer() as server:
        async with signer(sim, server) as (kana, service), \
                remote_client(sim, server.url, kana.address) as strategy:
            assert (await strategy.deposit(10_000)).success
            prices = [Decimal("3.000") + Decimal("0.001") * i for i in range(60)]
            limit = asyncio.Semaphore(10)
            done: list[TxResult] = []

            async def place(price: Decimal) -> TxResult:
                async with limit:
                    result = await strategy.place_limit_order(APT, True, False, "1", price, 2)
                    done.append(result)
                    return result

            orders = asyncio.ensure_future(asyncio.gather(*(place(p) for p in prices)))
            for _ in range(500):  # restart the server once some have landed
                if len(done) >= 10:
                    break
                await asyncio.sleep(0.01)
            at_restart = len(done)
            await asyncio.get_running_loop().run_in_executor(None, server.restart)
            assert at_restart < len(prices)  # calls were in flight when the server died
            results = await asyncio.wait_for(orders, 120)
            assert all(r.success for r in results)
            assert len({r.sequence_number for r in results}) == len(prices)
            resting = await kana.rest.get_open_orders_from_contract(kana.address, APT)
            assert sorted(o.order_id for o in resting) == sorted(
                oid for r in results for oid in r.order_ids)
            assert strategy.in_doubt() == []
            assert service.calls == len(prices) + 1


async def test_an_unknown_outcome_in_the_signer_is_one_in_the_strategy(
    sim: Simulator, nats_server: NatsServer
) -> None:
    async with signer(sim, nats_server, submit_timeout=0.3) as (kana, _), \
            remote_client(sim, nats_server.url, kana.address) as strategy:
        assert (await strategy.deposit(100)).success
        sim.faults.hang_next_submissions(1)
        with pytest.raises(UnknownOutcomeError) as by_hash:
            await strategy.place_limit_order(APT, True, False, "1", "4", 2)
        assert by_hash.value.tx_hash
        assert strategy.in_doubt() == [by_hash.value.tx_hash]
        assert await strategy._remote_trader.signer_in_doubt() in (  # type: ignore[union-attr]
            [by_hash.value.tx_hash], [])  # the signer's reconciler may have settled it
        settled = await strategy.resolve(by_hash.value.tx_hash)
        assert settled.success
        assert settled.order_ids
        assert strategy.in_doubt() == []

        # The same, settled by the call's label: the signer resolves the hash it signed.
        remote = strategy._remote_trader
        assert remote is not None
        sim.faults.hang_next_submissions(1)
        with pytest.raises(UnknownOutcomeError) as by_label:
            await remote.call("deposit", [7], {}, key="hung-deposit")
        assert remote.in_doubt() == [by_label.value.tx_hash]
        outcome = await remote.resolve("hung-deposit")
        assert outcome.tx_hash == by_label.value.tx_hash
        assert outcome.success
        assert remote.in_doubt() == []
        assert kana.in_doubt() == []
