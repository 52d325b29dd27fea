"""CLI test support: a simulator running in a thread (so that commands, which run their own
event loop through ``main([...])``, can share it) and a fresh wallet per test."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from kana_async.sim import Simulator


class ThreadedSimulator:
    """A :class:`Simulator` served by its own event loop in a background thread."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.sim: Simulator | None = None
        self._thread = threading.Thread(target=self._main, name="cli-test-simulator")

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to the test thread
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with Simulator(**self._options) as sim:
            self.sim = sim
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> Simulator:
        self._thread.start()
        assert self._ready.wait(10), "the simulator did not start"
        if self._error is not None:
            raise self._error
        assert self.sim is not None
        return self.sim

    def __exit__(self, *exc_info: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        assert not self._thread.is_alive()

    def call(self, function: Any, *args: Any) -> Any:
        """Run ``function(*args)`` in the simulator's loop (its engine is not thread-safe)."""
        assert self._loop is not None

        async def run() -> Any:
            return function(*args)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(5)


@pytest.fixture(scope="module")
def threaded_sim() -> Iterator[ThreadedSimulator]:
    runner = ThreadedSimulator(seed=11)
    with runner:
        yield runner


@pytest.fixture
def sim(threaded_sim: ThreadedSimulator) -> Simulator:
    assert threaded_sim.sim is not None
    return threaded_sim.sim


@pytest.fixture
def urls(sim: Simulator) -> list[str]:
    """Connection options that point a command at the shared simulator."""
    assert sim.rest_url is not None
    assert sim.ws_url is not None
    assert sim.node_url is not None
    return ["--rest-url", sim.rest_url, "--ws-url", sim.ws_url, "--node-url", sim.node_url]


@pytest.fixture
def wallet(monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh private key in $KANA_PRIVATE_KEY (the faucet funds it on first use)."""
    key = secrets.token_hex(32)
    monkeypatch.setenv("KANA_PRIVATE_KEY", key)
    monkeypatch.delenv("KANA_API_KEY", raising=False)
    return key


@pytest.fixture(autouse=True)
def _no_ambient_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the keys they set."""
    monkeypatch.delenv("KANA_PRIVATE_KEY", raising=False)
    monkeypatch.delenv("KANA_API_KEY", raising=False)
