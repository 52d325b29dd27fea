"""Backoff schedule and the connection supervisor, with in-memory sockets."""

from __future__ import annotations

import asyncio

import pytest

from kana_async.errors import TransportError, ValidationError
from kana_async.stream.connection import Backoff, Connection, Outgoing, ReconnectPolicy
from tests.stream.fakes import FakeConnector, FakeSocket


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []
        self.frames: list[bytes | str] = []
        self.done = asyncio.Event()

    def connection_made(self) -> None:
        self.events.append(("made", None))

    def frame_received(self, frame: bytes | str) -> None:
        self.frames.append(frame)

    def connection_lost(self, reason: str) -> None:
        self.events.append(("lost", reason))

    def reconnecting(self, attempt: int, delay: float) -> None:
        self.events.append(("reconnecting", (attempt, round(delay, 6))))

    def gave_up(self, error: TransportError) -> None:
        self.events.append(("gave_up", str(error)))
        self.done.set()

    def delays(self) -> list[float]:
        return [value[1] for kind, value in self.events  # type: ignore[index]
                if kind == "reconnecting"]


FAST = ReconnectPolicy(initial_delay=0.001, max_delay=0.008, jitter=0.0, stable_after=10.0)


def test_backoff_is_exponential_capped_and_jittered() -> None:
    policy = ReconnectPolicy(initial_delay=1.0, max_delay=8.0, multiplier=2.0, jitter=0.5)
    backoff = Backoff(policy, rng=lambda: 1.0)  # the largest jitter: half the delay
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    backoff = Backoff(policy, rng=lambda: 0.0)
    assert [backoff.next_delay() for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert backoff.attempt == 5
    backoff.reset()
    assert backoff.next_delay() == 1.0


def test_backoff_survives_days_of_attempts() -> None:
    backoff = Backoff(ReconnectPolicy(), rng=lambda: 0.0)
    for _ in range(10_000):
        delay = backoff.next_delay()
    assert delay == 30.0


@pytest.mark.parametrize(
    ("field", "value"),
    [("initial_delay", 0.0), ("initial_delay", 60.0), ("multiplier", 0.5), ("jitter", 2.0),
     ("stable_after", -1.0), ("max_attempts", 0)],
)
def test_policy_rejects_nonsense(field: str, value: float) -> None:
    with pytest.raises(ValidationError) as info:
        ReconnectPolicy(**{field: value})  # type: ignore[arg-type]
    assert info.value.param == field


async def test_open_then_drop_keeps_backing_off() -> None:
    connector = FakeConnector(*(FakeSocket(None) for _ in range(6)), FakeSocket())
    handler = Recorder()
    conn = Connection(connector, "ws://test", handler, policy=FAST, send_interval=0)
    conn.start()
    for _ in range(200):
        if conn.connects == 7:
            break
        await asyncio.sleep(0.005)
    await conn.close()
    assert handler.delays() == [0.001, 0.002, 0.004, 0.008, 0.008, 0.008]
    assert conn.disconnects == 6
    assert not conn.running


async def test_a_connection_that_stayed_up_resets_the_backoff() -> None:
    policy = ReconnectPolicy(initial_delay=0.001, max_delay=0.008, jitter=0.0, stable_after=0.0)
    connector = FakeConnector(*(FakeSocket(None) for _ in range(4)), FakeSocket())
    handler = Recorder()
    conn = Connection(connector, "ws://test", handler, policy=policy, send_interval=0)
    conn.start()
    for _ in range(200):
        if conn.connects == 5:
            break
        await asyncio.sleep(0.005)
    await conn.close()
    assert handler.delays() == [0.001] * 4


async def test_connect_failures_back_off_and_give_up_after_max_attempts() -> None:
    policy = ReconnectPolicy(initial_delay=0.001, max_delay=0.002, jitter=0.0, max_attempts=3)
    connector = FakeConnector(None, None, None, None, None)
    handler = Recorder()
    conn = Connection(connector, "ws://test", handler, policy=policy, send_interval=0)
    conn.start()
    await asyncio.wait_for(handler.done.wait(), 1)
    await asyncio.sleep(0)
    assert connector.calls == 4
    assert handler.delays() == [0.001, 0.002, 0.002]
    assert handler.events[-1][0] == "gave_up"
    assert not conn.running
    await conn.close()


async def test_a_connector_raising_anything_is_retried() -> None:
    calls = 0

    async def flaky(url: str) -> FakeSocket:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("network is unreachable")
        return FakeSocket()

    handler = Recorder()
    conn = Connection(flaky, "ws://test", handler, policy=FAST, send_interval=0)
    conn.start()
    for _ in range(100):
        if conn.connected:
            break
        await asyncio.sleep(0.005)
    await conn.close()
    assert calls == 2


async def test_frames_are_handed_over_in_order_and_messages_sent_paced() -> None:
    socket = FakeSocket(b"1", "2", b"3")
    connector = FakeConnector(socket)
    handler = Recorder()
    conn = Connection(connector, "ws://test", handler, policy=FAST, send_interval=0.001)
    conn.send(Outgoing("dropped: not connected yet"))
    conn.start()
    await asyncio.sleep(0.01)
    vetoed: list[str] = []
    after: list[str] = []

    def veto() -> bool:
        vetoed.append("b")
        return False

    conn.send(Outgoing("a", after=lambda: after.append("a")))
    conn.send(Outgoing("b", prepare=veto))
    conn.send(Outgoing("c"))
    await asyncio.sleep(0.02)
    assert handler.frames == [b"1", "2", b"3"]
    assert socket.sent == ["a", "c"]
    assert (vetoed, after) == (["b"], ["a"])
    await conn.close()
    assert socket.closed


async def test_abort_replaces_the_socket() -> None:
    first, second = FakeSocket(), FakeSocket()
    handler = Recorder()
    conn = Connection(FakeConnector(first, second), "ws://test", handler, policy=FAST,
                      send_interval=0)
    conn.start()
    await asyncio.sleep(0.01)
    await conn.abort("watchdog: quiet")
    for _ in range(100):
        if conn.connects == 2:
            break
        await asyncio.sleep(0.005)
    await conn.close()
    assert ("lost", "watchdog: quiet") in handler.events
    assert first.closed
    assert second.closed


async def test_abort_survives_a_socket_whose_close_raises() -> None:
    class Brittle(FakeSocket):
        async def close(self) -> None:
            await super().close()
            raise OSError("close failed")

    first, second = Brittle(), FakeSocket()
    handler = Recorder()
    conn = Connection(FakeConnector(first, second), "ws://test", handler, policy=FAST,
                      send_interval=0)
    conn.start()
    await asyncio.sleep(0.01)
    await conn.abort("watchdog: quiet")  # raised into the watchdog, which then died
    for _ in range(100):
        if conn.connects == 2:
            break
        await asyncio.sleep(0.005)
    await conn.close()
    assert ("lost", "watchdog: quiet") in handler.events


async def test_a_failed_send_replaces_the_socket() -> None:
    first = FakeSocket()
    handler = Recorder()
    conn = Connection(FakeConnector(first), "ws://test", handler, policy=FAST, send_interval=0)
    conn.start()
    await asyncio.sleep(0.01)
    first.fail_sends = True
    conn.send(Outgoing("x"))
    for _ in range(100):
        if conn.connects == 2:
            break
        await asyncio.sleep(0.005)
    await conn.close()
    lost = [reason for kind, reason in handler.events if kind == "lost"]
    assert lost
    assert str(lost[0]).startswith("send failed")


async def test_close_is_idempotent_and_stops_everything() -> None:
    conn = Connection(FakeConnector(), "ws://test", Recorder(), policy=FAST, send_interval=0)
    await conn.close()
    conn.start()
    await asyncio.sleep(0.005)
    await conn.close()
    await conn.close()
    assert not conn.running
    assert not conn.connected
