"""The suite drops asyncio's slow-callback notes (timings) and keeps everything else."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from tests.conftest import without_slow_callback_notes


def test_a_child_processes_slow_callback_notes_are_dropped_and_nothing_else() -> None:
    stderr = ("Executing <Task pending name='Task-1' coro=<main()>> took 0.126 seconds\n"
              "error: --size: minimum size is 0.5 APT (got 0.1)\n")
    assert without_slow_callback_notes(stderr) == "error: --size: minimum size is 0.5 APT (got 0.1)"


async def test_in_process_slow_callbacks_are_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.get_running_loop()
    assert loop.get_debug()
    loop.slow_callback_duration = 0.001
    loop.call_soon(time.sleep, 0.01)
    await asyncio.sleep(0.05)
    assert not [r for r in caplog.records if "took" in r.getMessage()]
    caplog.clear()
    # Other asyncio warnings still pass through the filter.
    logging.getLogger("asyncio").warning("something else")
    assert [r.getMessage() for r in caplog.records] == ["something else"]
