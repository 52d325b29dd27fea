"""Trading through ``KanaClient`` against the simulator, observed on the client's own streams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any, TypeVar

import pytest

from kana_async import KanaClient, KanaError, UnknownOutcomeError, ValidationError
from kana_async.sim import Simulator
from kana_async.stream import Subscription

T = TypeVar("T")

ALICE = "11" * 32
BOB = "22" * 32
APT = 1338


async def until(sub: Subscription[T], predicate: Callable[[T], bool], timeout: float = 5.0) -> T:
    """The first item of ``sub`` that satisfies ``predicate`` (fails after ``timeout``)."""

    async def first() -> T:
        async for item in sub:
            if predicate(item):
                return item
        raise AssertionError("subscription ended")

    return await asyncio.wait_for(first(), timeout)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    # No market maker: the book holds only what the test puts there.
    async with Simulator(seed=3, market_maker=None, step_interval=None) as simulator:
        yield simulator


def client(sim: Simulator, key: str) -> KanaClient:
    return KanaClient(
        "local",
        rest_url=sim.rest_url,
        ws_url=sim.ws_url,
        node_url=sim.node_url,
        api_key="test-key",
        private_key=key,
    )


async def test_order_lifecycle_is_seen_on_streams(sim: Simulator) -> None:
    async with client(sim, ALICE) as alice, client(sim, BOB) as bob:
        assert (await alice.deposit(1000)).success
        assert (await bob.deposit(1000)).success
        profile = await alice.profile_address()

        async with alice.stream.open_orders(profile) as orders, alice.stream.orderbook(
            APT
        ) as book, alice.stream.trade_history(profile) as trades, alice.stream.positions(
            profile
        ) as positions:
            placed = await alice.place_limit_order(APT, True, False, "1", "5.000", 2)
            assert placed.success, placed.vm_status
            resting = await until(orders, lambda items: len(items) == 1)
            assert resting[0].price == Decimal("5")
            assert resting[0].remaining_size == Decimal("1")
            top = await until(book, lambda b: b.best_bid is not None)
            assert top.best_bid is not None
            assert top.best_bid.price == Decimal("5")
            assert top.best_bid.size == Decimal("1")

            # Bob opens a short at market: it crosses Alice's bid.
            crossed = await bob.place_market_order(APT, False, False, "1", 2)
            assert crossed.success, crossed.vm_status
            fills = await until(trades, lambda items: len(items) >= 1)
            assert fills[0].price == Decimal("5")
            assert fills[0].size == Decimal("1")
            longs = await until(positions, lambda items: any(p.trade_side for p in items))
            (long,) = [p for p in longs if p.trade_side]
            assert long.size == Decimal("1")
            assert long.entry_price == Decimal("5")
            await until(orders, lambda items: items == [])

            assert (await alice.update_take_profit(APT, True, "6.5")).success
            assert (await alice.update_stop_loss(APT, True, "4.2")).success
            guarded = await until(
                positions, lambda items: any(p.tp is not None and p.sl is not None for p in items)
            )
            assert (guarded[0].tp, guarded[0].sl) == (Decimal("6.5"), Decimal("4.2"))

            margin_before = guarded[0].margin
            assert (await alice.add_margin(APT, True, "1.5")).success
            topped = await until(positions, lambda items: items[0].margin != margin_before)
            assert topped[0].margin == margin_before + Decimal("1.5")

            # A second order rests, then is cancelled.
            assert (await alice.place_limit_order(APT, True, False, "0.5", "4.500", 2)).success
            (second,) = await until(orders, lambda items: len(items) == 1)
            cancelled = await alice.cancel_multiple_orders(APT, [second.order_id], [True])
            assert cancelled.success, cancelled.vm_status
            await until(orders, lambda items: items == [])

        wallet_before = await alice.rest.get_wallet_account_balance(alice.address)
        assert (await alice.withdraw(APT, "10")).success
        wallet_after = await alice.rest.get_wallet_account_balance(alice.address)
        assert wallet_after == wallet_before + Decimal("10")


async def test_fifty_concurrent_orders_all_land(sim: Simulator) -> None:
    async with client(sim, ALICE) as alice:
        assert (await alice.deposit(10_000)).success
        prices = [Decimal("4.000") + Decimal("0.001") * i for i in range(50)]
        results = await asyncio.gather(
            *(alice.place_limit_order(APT, True, False, "0.5", price, 2) for price in prices)
        )
        assert all(r.success for r in results)
        assert len({r.tx_hash for r in results}) == 50
        ids = await alice.rest.get_all_open_order_ids(alice.address, APT)
        assert len(ids) == 50


async def test_off_grid_price_is_refused_before_anything_is_sent(sim: Simulator) -> None:
    async with client(sim, ALICE) as alice:
        version = sim.engine.ledger_version
        with pytest.raises(ValidationError, match="price"):
            await alice.place_limit_order(APT, True, False, "1", "5.0005", 2)
        with pytest.raises(ValidationError, match="size"):
            await alice.place_limit_order(APT, True, False, "0.0001", "5", 2)
        assert sim.engine.ledger_version == version


async def test_trading_without_a_key_says_so(sim: Simulator) -> None:
    async with KanaClient("local", rest_url=sim.rest_url, ws_url=sim.ws_url,
                          node_url=sim.node_url, api_key="k") as kana:
        with pytest.raises(KanaError, match="private key"):
            await kana.place_market_order(APT, True, False, "1", 2)
        with pytest.raises(KanaError, match="private_key"):
            _ = kana.address


def test_private_key_is_checked_at_construction_and_never_echoed() -> None:
    secret = "zz" * 32
    with pytest.raises(ValidationError) as info:
        KanaClient("local", private_key=secret)
    assert secret not in str(info.value)
    good = KanaClient("local", private_key=ALICE)
    assert ALICE not in repr(good)
    assert good.address.startswith("0x")


async def test_default_local_network_runs_the_embedded_simulator() -> None:
    async with KanaClient(private_key=ALICE) as kana:
        markets: Any = await kana.rest.get_perpetual_assets_info()
        assert {m.market_id for m in markets} >= {1338, 1339, 1340, 2387}
        async with kana.stream.orderbook(APT) as book:
            snapshot = await until(
                book, lambda b: b.best_bid is not None and b.best_ask is not None
            )
            assert snapshot.best_bid is not None
            assert snapshot.best_ask is not None
            assert snapshot.best_bid.price < snapshot.best_ask.price


async def test_embedded_simulator_takes_options() -> None:
    async with KanaClient(simulator={"seed": 9, "market_maker": None}) as kana:
        assert kana.simulator is not None
        assert kana.simulator.engine.orderbook(APT) == []


def test_simulator_options_are_checked() -> None:
    with pytest.raises(ValidationError, match="unknown Simulator argument"):
        KanaClient(simulator={"sead": 1})
    with pytest.raises(ValidationError, match="only to network='local' without explicit URLs"):
        KanaClient(rest_url="http://127.0.0.1:1", simulator={"seed": 1})


async def test_explicit_local_urls_get_the_local_key(sim: Simulator) -> None:
    # `kana-async sim` wants some x-api-key; a local client sends one without being told.
    async with KanaClient("local", rest_url=sim.rest_url, ws_url=sim.ws_url,
                          node_url=sim.node_url) as kana:
        assert (await kana.rest.get_market_info(APT))[0].market_id == 1338


def test_trading_options_reach_the_client() -> None:
    from kana_async import TradingOptions

    with pytest.raises(ValidationError, match="max_in_flight: must be a positive integer"):
        KanaClient("local", private_key=ALICE, trading={"max_in_flight": 0})
    with pytest.raises(ValidationError, match=r"trading: unknown option\(s\) expiry"):
        KanaClient("local", private_key=ALICE, trading={"expiry": 5})
    with pytest.raises(ValidationError, match="trading: must be a TradingOptions or a mapping"):
        KanaClient("local", private_key=ALICE, trading=5)  # type: ignore[arg-type]
    assert TradingOptions(expiry_secs=12).expiry_secs == 12


@pytest.mark.parametrize("trading", [{"expiry_secs": 12, "max_in_flight": 3},
                                     "options"])
async def test_trading_options_configure_submission(sim: Simulator, trading: Any) -> None:
    from kana_async import TradingOptions

    if trading == "options":
        trading = TradingOptions(expiry_secs=12, max_in_flight=3)
    async with KanaClient("local", rest_url=sim.rest_url, ws_url=sim.ws_url,
                          node_url=sim.node_url, api_key="k", private_key=ALICE,
                          trading=trading) as kana:
        result = await kana.deposit(10)
        assert result.success
        submitted = await kana.trader.node.transaction_by_hash(result.tx_hash)
        assert submitted is not None
        signed_at = int(submitted["timestamp"]) // 1_000_000
        assert 11 <= int(submitted["expiration_timestamp_secs"]) - signed_at <= 12
        assert kana.trader.submitter.options.max_in_flight == 3


async def test_a_timed_out_caller_leaves_the_hash_in_doubt(sim: Simulator) -> None:
    async with client(sim, ALICE) as alice:
        assert (await alice.deposit(100)).success
        assert (await alice.place_limit_order(APT, True, False, "1", "4", 2)).success
        assert alice.in_doubt() == []
        sim.faults.hang_next_submissions(1)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(alice.place_limit_order(APT, True, False, "1", "5", 2), 2)
        [tx_hash] = alice.in_doubt()
        result = await alice.resolve(tx_hash)
        assert result.success is True
        assert result.order_ids
        assert alice.in_doubt() == []
    assert alice.in_doubt() == []


async def test_in_doubt_survives_closing_the_client(sim: Simulator) -> None:
    kana = KanaClient("local", rest_url=sim.rest_url, ws_url=sim.ws_url, node_url=sim.node_url,
                      api_key="k", private_key=ALICE, trading={"submit_timeout": 0.3})
    async with kana:
        sim.faults.hang_next_submissions(1)
        with pytest.raises(UnknownOutcomeError) as info:
            await kana.deposit(5)
    assert kana.in_doubt() == [info.value.tx_hash]
    async with kana:  # opened again on the same chain: still tracked, then settled
        result = await kana.resolve(info.value.tx_hash)
        assert result.success is True
        assert kana.in_doubt() == []
        assert (await kana.deposit(5)).sequence_number == 1
