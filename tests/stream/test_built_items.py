"""Stream additions the Pulse client rides on: items built by the reader (books assembled
from deltas) buffered as they are, and a message sent ahead of everything queued."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from kana_async.errors import SlowConsumerError
from kana_async.stream.connection import Connection, Outgoing, ReconnectPolicy
from kana_async.stream.subscription import Subscription
from kana_async.stream.topics import TOPICS, Overflow
from tests.stream.fakes import FakeConnector, FakeSocket

ADDR = "0x" + "a" * 64
FAST = ReconnectPolicy(initial_delay=0.001, max_delay=0.01, jitter=0.0)


class Built:
    """Stands for a book the reader assembled: not a payload, never decoded."""

    def __init__(self, n: int) -> None:
        self.n = n


class Handler:
    def __init__(self) -> None:
        self.frames: list[bytes | str] = []

    def connection_made(self) -> None: ...

    def frame_received(self, frame: bytes | str) -> None:
        self.frames.append(frame)

    def connection_lost(self, reason: str) -> None: ...

    def reconnecting(self, attempt: int, delay: float) -> None: ...

    def gave_up(self, error: Any) -> None: ...


async def test_a_built_item_is_delivered_as_is_and_conflated_like_a_snapshot() -> None:
    sub: Subscription[Any] = Subscription(TOPICS["orderbook"], "1", "1",
                                          overflow=Overflow.KEEP_LATEST, capacity=10)
    for n in range(5):
        sub.push_item(Built(n), 100)
    item = await sub.get()
    assert isinstance(item, Built)
    assert item.n == 4
    stats = sub.stats
    assert (stats.received, stats.delivered, stats.conflated, stats.decode_errors) == (5, 1, 4, 0)


async def test_built_items_obey_the_error_policy_bounds() -> None:
    sub: Subscription[Any] = Subscription(TOPICS["live_trade_history"], ADDR, ADDR,
                                          overflow=Overflow.ERROR, capacity=2,
                                          capacity_bytes=1024)
    sub.push(msgspec.Raw(b"{}"))
    for n in range(3):
        sub.push_item(Built(n), 10)
    assert sub.stats.buffered_bytes == 20
    with pytest.raises(SlowConsumerError):
        await sub.get()
    assert [(await sub.get()).n, (await sub.get()).n] == [1, 2]
    assert sub.stats.buffered_bytes == 0


async def test_a_first_message_goes_out_ahead_of_the_queue() -> None:
    socket = FakeSocket()
    conn = Connection(FakeConnector(socket), "ws://test", Handler(), policy=FAST,
                      send_interval=0.01)
    conn.start()
    for _ in range(100):
        if conn.connected:
            break
        await asyncio.sleep(0.005)
    for text in ("a", "b", "c"):
        conn.send(Outgoing(text))
    conn.send(Outgoing("urgent"), first=True)
    for _ in range(100):
        if len(socket.sent) == 4:
            break
        await asyncio.sleep(0.005)
    await conn.close()
    assert socket.sent == ["urgent", "a", "b", "c"]
