"""Suite-wide settings: asyncio debug mode for every loop, fixtures from the shared spec."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kana_async import KanaClient
from kana_async.sim import Simulator

# Every event loop created from here on runs in debug mode (slow callbacks, unawaited
# coroutines and unclosed resources are reported; warnings are errors, see pyproject).
os.environ["PYTHONASYNCIODEBUG"] = "1"

FIXTURES = Path(__file__).parent / "fixtures" / "kana"


class _NoSlowCallbackNotes(logging.Filter):
    """Debug mode also notes callbacks slower than 0.1 s: on a loaded machine that is a timing,
    not a defect, and tests never assert timings (benchmarks/ measures them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Executing %s took %.3f seconds")


logging.getLogger("asyncio").addFilter(_NoSlowCallbackNotes())


def without_slow_callback_notes(stderr: str) -> str:
    """``stderr`` of a child process running in debug mode, less its slow-callback notes."""
    return "\n".join(line for line in stderr.splitlines()
                     if not SLOW_CALLBACK_NOTE.match(line))


SLOW_CALLBACK_NOTE = re.compile(r"Executing <.*> took \d+\.\d+ seconds$")


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """A simulator whose books hold only what the test puts there (no market maker, no
    background steps). A test module may define its own ``sim``."""
    async with Simulator(seed=3, market_maker=None, step_interval=None) as simulator:
        yield simulator


def local_client(sim: Simulator, private_key: str | None = None) -> KanaClient:
    """A client of ``sim`` (not opened yet)."""
    return KanaClient("local", rest_url=sim.rest_url, ws_url=sim.ws_url, node_url=sim.node_url,
                      private_key=private_key)


def load_fixture(name: str) -> dict[str, Any]:
    """One fixture file from ``tests/fixtures/kana`` (copied from the API documents)."""
    with (FIXTURES / name).open() as f:
        data: dict[str, Any] = json.load(f)
    return data


@pytest.fixture
def fixture_bodies() -> Any:
    def bodies(name: str) -> list[Any]:
        return [example["body"] for example in load_fixture(name)["examples"]]

    return bodies
