"""RateLimiter: a token bucket that paces callers in arrival order."""

from __future__ import annotations

import asyncio

import pytest

from kana_async.errors import ValidationError
from kana_async.rest.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill() -> None:
    clock = Clock()
    limiter = RateLimiter(10, burst=3, clock=clock)
    assert [limiter.try_acquire() for _ in range(4)] == [True, True, True, False]
    clock.now += 0.1  # one token per 0.1 s
    assert limiter.try_acquire()
    assert not limiter.try_acquire()
    clock.now += 10  # refills up to the burst, not beyond
    assert sum(limiter.try_acquire() for _ in range(5)) == 3


async def test_waiters_are_paced(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    monkeypatch.setattr("kana_async.rest.ratelimit.asyncio.sleep", fake_sleep)
    limiter = RateLimiter(4, burst=1, clock=clock)
    for _ in range(4):
        await limiter.acquire()
    # The first passes, then each reserves the next 0.25 s slot.
    assert sleeps == pytest.approx([0.25, 0.5, 0.75])


async def test_cancelled_waiter_returns_its_slot() -> None:
    limiter = RateLimiter(1, burst=1)
    await limiter.acquire()
    waiter = asyncio.ensure_future(limiter.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert limiter._tokens > -1  # the reserved token was given back


async def test_real_pacing_is_not_faster_than_the_rate() -> None:
    limiter = RateLimiter(200, burst=1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(5):
        await limiter.acquire()
    assert loop.time() - started >= 4 / 200 * 0.9


@pytest.mark.parametrize(
    ("rate", "burst", "param"),
    [(0, None, "rate"), (float("inf"), None, "rate"), (True, None, "rate"), (5, 0, "burst")],
)
def test_bad_arguments(rate: float, burst: int | None, param: str) -> None:
    with pytest.raises(ValidationError) as info:
        RateLimiter(rate, burst)
    assert info.value.param == param


def test_repr() -> None:
    assert repr(RateLimiter(2.5, burst=4)) == "RateLimiter(rate=2.5/s, burst=4)"
