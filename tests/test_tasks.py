"""``cancel_and_wait`` stops tasks without swallowing the caller's own cancellation."""

from __future__ import annotations

import asyncio

import pytest

from kana_async._tasks import cancel_and_wait, timeout


async def test_cancels_and_waits_for_every_task() -> None:
    cleaned: list[str] = []

    async def worker(name: str) -> None:
        try:
            await asyncio.sleep(10)
        finally:
            await asyncio.sleep(0)
            cleaned.append(name)

    tasks = [asyncio.create_task(worker(n)) for n in "ab"]
    await asyncio.sleep(0)
    await cancel_and_wait(*tasks, None)
    assert sorted(cleaned) == ["a", "b"]
    assert all(t.cancelled() for t in tasks)


async def test_a_failed_task_is_retrieved_not_raised() -> None:
    async def broken() -> None:
        raise RuntimeError("boom")

    task = asyncio.create_task(broken())
    await asyncio.sleep(0)
    await cancel_and_wait(task)  # no "exception was never retrieved" (warnings are errors)
    assert isinstance(task.exception(), RuntimeError)


async def test_the_callers_cancellation_is_not_swallowed() -> None:
    release = asyncio.Event()

    async def slow_to_stop() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            await release.wait()  # keeps running for a while after being cancelled

    child = asyncio.create_task(slow_to_stop())
    after_stop: list[str] = []

    async def owner() -> None:
        await asyncio.sleep(0)
        await cancel_and_wait(child)
        after_stop.append("carried on")  # must not happen: the owner itself was cancelled

    task = asyncio.create_task(owner())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert after_stop == []
    release.set()
    await cancel_and_wait(child)


async def test_timeout_never_loses_the_callers_cancellation() -> None:
    # The awaited operation finishes in the same loop iteration as the caller is cancelled:
    # asyncio.wait_for before 3.12 returns the result and the cancellation is lost.
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    reached: list[str] = []

    async def caller() -> None:
        async with timeout(5):
            await done
        reached.append("carried on")

    task = asyncio.create_task(caller())
    await asyncio.sleep(0)
    done.set_result(None)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert reached == []


async def test_timeout_expires() -> None:
    with pytest.raises(asyncio.TimeoutError):
        async with timeout(0.01):
            await asyncio.sleep(1)
