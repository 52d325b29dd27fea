"""Subscription buffers: policies, bounded memory, loss reporting, gaps, lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from kana_async._tasks import timeout
from kana_async.errors import SlowConsumerError, StreamGapError, TransportError
from kana_async.models import FundingRate, Trade
from kana_async.stream.subscription import Subscription
from kana_async.stream.topics import TOPICS, Overflow

ADDR = "0x" + "a" * 64


def raw(value: Any) -> msgspec.Raw:
    return msgspec.Raw(msgspec.json.encode(value))


def trade(n: int) -> dict[str, Any]:
    return {"address": ADDR, "trade_id": str(n), "market_id": "14", "order_type": 1,
            "size": "1", "price": "5.5", "fee": "0", "pnl": "0", "timestamp": n}


def rates(n: int) -> list[dict[str, Any]]:
    return [{"market_id": "14", "funding_rate": f"0.000{n}", "last_updated": n}]


def events(capacity: int = 4, **kwargs: Any) -> Subscription[Trade]:
    return Subscription(TOPICS["live_trade_history"], ADDR, ADDR,
                        overflow=Overflow.ERROR, capacity=capacity, **kwargs)


def snapshots(**kwargs: Any) -> Subscription[list[FundingRate]]:
    return Subscription(TOPICS["live_funding_rate"], "", "",
                        overflow=Overflow.KEEP_LATEST, capacity=100, **kwargs)


async def test_keep_latest_conflates_and_decodes_only_what_is_read() -> None:
    sub = snapshots()
    for n in range(1, 1001):
        sub.push(raw(rates(n)))
        assert sub.stats.buffered == 1
    sub.push(raw("not a funding list"))  # superseded before anyone reads it...
    sub.push(raw(rates(7)))
    [rate] = await sub.get()
    assert rate.funding_rate == Decimal("0.0007")
    stats = sub.stats
    assert (stats.received, stats.delivered, stats.conflated) == (1002, 1, 1001)
    assert stats.decode_errors == 0  # ...so it was never decoded


async def test_error_policy_bounds_memory_and_names_the_loss() -> None:
    dropped: list[int] = []
    sub = events(capacity=4, on_dropped=lambda s: dropped.append(s.stats.dropped))
    for n in range(10):
        sub.push(raw(trade(n)))
        assert sub.stats.buffered <= 4
    with pytest.raises(SlowConsumerError) as info:
        await sub.get()
    assert info.value.lost == 6
    assert info.value.capacity == 4
    assert "6 item(s) lost" in str(info.value)
    # iteration continues with the newest items, in order
    assert [(await sub.get()).trade_id for _ in range(4)] == ["6", "7", "8", "9"]
    assert dropped == [1]  # the hook fires once per overflow episode
    assert sub.stats.dropped == 6


async def test_loss_is_reported_again_for_a_new_overflow() -> None:
    sub = events(capacity=2)
    for n in range(3):
        sub.push(raw(trade(n)))
    with pytest.raises(SlowConsumerError):
        await sub.get()
    assert (await sub.get()).trade_id == "1"
    for n in range(3, 6):
        sub.push(raw(trade(n)))
    with pytest.raises(SlowConsumerError) as info:
        await sub.get()
    assert info.value.lost == 2


async def test_async_for_yields_typed_items_as_they_arrive() -> None:
    sub = events()
    got: list[str] = []

    async def consume() -> None:
        async for item in sub:
            got.append(item.trade_id)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0)
    for n in range(3):
        sub.push(raw(trade(n)))
        await asyncio.sleep(0)
    await sub.close()
    await asyncio.wait_for(task, 1)
    assert got == ["0", "1", "2"]


async def test_gap_marker_sits_after_what_came_before_the_drop() -> None:
    sub = events(capacity=10)
    sub.push(raw(trade(1)))
    sub.mark_gap()
    sub.mark_gap()  # two drops in a row are one gap for the consumer
    sub.push(raw(trade(2)))
    assert (await sub.get()).trade_id == "1"
    with pytest.raises(StreamGapError) as info:
        await sub.get()
    assert info.value.topic == "live_trade_history"
    assert (await sub.get()).trade_id == "2"
    assert sub.stats.gaps == 1


async def test_a_gap_evicted_by_overflow_is_still_reported() -> None:
    sub = events(capacity=2)
    sub.mark_gap()
    for n in range(3):
        sub.push(raw(trade(n)))
    with pytest.raises(SlowConsumerError) as lost:
        await sub.get()
    assert lost.value.lost == 1
    with pytest.raises(StreamGapError):
        await sub.get()
    assert [(await sub.get()).trade_id for _ in range(2)] == ["1", "2"]


async def test_keep_latest_subscriptions_are_not_told_about_gaps() -> None:
    sub = snapshots()
    sub.mark_gap()
    sub.push(raw(rates(1)))
    assert len(await sub.get()) == 1


async def test_a_waiting_consumer_is_woken_by_a_gap() -> None:
    sub = events()
    reader = asyncio.create_task(sub.get())
    await asyncio.sleep(0)
    sub.mark_gap()
    with pytest.raises(StreamGapError):
        await asyncio.wait_for(reader, 1)


async def test_numbers_where_strings_are_usual_are_decoded_leniently() -> None:
    sub = events()
    row = trade(5) | {"trade_id": 5, "market_id": 14, "price": 5.5, "size": 1}
    sub.push(raw(row))
    item = await sub.get()
    assert (item.trade_id, item.market_id, item.price) == ("5", 14, Decimal("5.5"))


async def test_undecodable_payloads_are_skipped_and_reported() -> None:
    errors: list[Exception] = []
    sub = events(on_decode_error=lambda s, exc: errors.append(exc))
    sub.push(msgspec.Raw(b'{"address": "not an address"}'))
    sub.push(msgspec.Raw(b"[broken"))
    sub.push(raw(trade(1)))
    assert (await sub.get()).trade_id == "1"
    assert len(errors) == 2
    assert sub.stats.decode_errors == 2


async def test_close_ends_a_pending_read_and_discards_the_buffer() -> None:
    closed: list[Subscription[Any]] = []
    sub = events(on_close=closed.append)
    reader = asyncio.create_task(sub.get())
    await asyncio.sleep(0)
    await sub.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(reader, 1)
    sub.push(raw(trade(1)))  # late frames are ignored
    await sub.close()  # twice is fine
    assert closed == [sub]
    assert sub.stats.received == 0
    assert [item async for item in sub] == []


async def test_async_with_closes() -> None:
    async with events() as sub:
        sub.push(raw(trade(1)))
    assert sub.closed
    assert "closed" in repr(sub)


async def test_cancelling_a_waiting_consumer_leaves_the_subscription_usable() -> None:
    sub = events()
    reader = asyncio.create_task(sub.get())
    await asyncio.sleep(0)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    sub.push(raw(trade(3)))
    assert (await sub.get()).trade_id == "3"


async def test_a_consumer_cancelled_as_an_item_arrives_does_not_strand_the_next_reader(
) -> None:
    # The cancelled reader resumes only after its successor started waiting: its cleanup
    # must not take the successor's waiter away, or nothing would ever wake it again.
    sub = events()
    cancelled = asyncio.create_task(sub.get())
    await asyncio.sleep(0)
    sub.push(raw(trade(1)))  # wakes the first reader...
    cancelled.cancel()  # ...which is cancelled before it runs
    assert (await sub.get()).trade_id == "1"  # buffered: taken without waiting
    loop = asyncio.get_running_loop()
    later = loop.call_later(0.01, sub.push, raw(trade(2)))
    try:
        async with timeout(1):
            assert (await sub.get()).trade_id == "2"  # waits; the first reader ends meanwhile
    finally:
        later.cancel()
    assert cancelled.cancelled()


@pytest.mark.parametrize("last", ["item", "gap"])
async def test_a_subscription_closed_by_its_dropped_hook_stays_empty(last: str) -> None:
    # "Too slow: stop and resync from REST" in on_dropped, which runs inside push.
    sub = events(capacity=1, on_dropped=lambda s: s.close_nowait())
    sub.push(raw(trade(1)))
    if last == "item":
        sub.push(raw(trade(2)))
    else:
        sub.mark_gap()
    assert sub.closed
    assert sub.stats.buffered == 0
    with pytest.raises(StopAsyncIteration):
        await sub.get()


async def test_only_one_task_may_read_at_a_time() -> None:
    sub = events()
    first = asyncio.create_task(sub.get())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="already reading"):
        await sub.get()
    sub.push(raw(trade(1)))
    assert (await first).trade_id == "1"


async def test_fail_delivers_buffered_items_then_the_error_then_stops() -> None:
    sub = events()
    sub.push(raw(trade(1)))
    sub.fail(TransportError("gave up"))
    assert (await sub.get()).trade_id == "1"
    with pytest.raises(TransportError, match="gave up"):
        await sub.get()
    with pytest.raises(StopAsyncIteration):
        await sub.get()


@pytest.mark.parametrize("overflow", [Overflow.KEEP_LATEST, Overflow.ERROR])
async def test_every_received_payload_is_accounted_for(overflow: Overflow) -> None:
    sub: Subscription[Any] = Subscription(TOPICS["live_trade_history"], ADDR, ADDR,
                                          overflow=overflow, capacity=5)
    for n in range(40):
        sub.push(raw(trade(n)) if n % 7 else msgspec.Raw(b"{}"))
        if n % 3 == 0 and sub.stats.buffered:
            with contextlib.suppress(SlowConsumerError, asyncio.TimeoutError):
                await asyncio.wait_for(sub.get(), 0.01)  # times out if only {} was left
        stats = sub.stats
        assert stats.received == (stats.delivered + stats.conflated + stats.dropped
                                  + stats.decode_errors + stats.buffered)
    assert sub.stats.buffered <= 5


async def test_error_policy_is_bounded_in_bytes_too() -> None:
    """40 unread 1 MB events under a 4 MB bound: the oldest go, the loss is reported."""
    sub = events(capacity=1000, capacity_bytes=4 * 1024 * 1024)
    padding = "x" * (1024 * 1024 - 200)
    for n in range(40):
        sub.push(raw({**trade(n), "pad": padding}))
        assert sub.stats.buffered_bytes <= 4 * 1024 * 1024
    stats = sub.stats
    assert (stats.buffered, stats.dropped) == (4, 36)
    with pytest.raises(SlowConsumerError) as info:
        await sub.get()
    assert info.value.lost == 36
    assert info.value.capacity_bytes == 4 * 1024 * 1024
    assert "4194304 bytes" in str(info.value)
    assert sub.stats.received == 40


async def test_one_item_larger_than_the_byte_bound_is_kept_alone() -> None:
    sub = events(capacity=10, capacity_bytes=1024)
    sub.push(raw(trade(1)))
    sub.push(raw({**trade(2), "pad": "y" * 5000}))
    assert sub.stats.buffered == 1
    with pytest.raises(SlowConsumerError):
        await sub.get()
    assert (await sub.get()).trade_id == "2"
    assert sub.stats.buffered_bytes == 0
