"""The documents' own Python clients (websocket-client) work against the simulator.

The scripts in ``reference_clients/`` are the documents' code; each run swaps only the
WebSocket URL and the address or market id, runs the script in a subprocess, reads what it
prints and stops it (it would reconnect forever otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kana_async.sim import Simulator
from tests.sim.ws_scenario import MARKET, trade_a_little

CLIENTS = Path(__file__).parent / "reference_clients"
TESTNET_URL = "'wss://perpetuals-indexer-ws-develop.kanalabs.io/ws/'"
MAINNET_URL = "'wss://perpetuals-indexer-ws.kana.trade/ws/'"
RECEIVED = "[client] Received message: "


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(seed=6, step_interval=None) as simulator:
        simulator.engine.step()
        yield simulator


def adapted(script: str, replacements: dict[str, str]) -> str:
    """The script's source with each placeholder swapped (each must occur exactly once)."""
    source = (CLIENTS / script).read_text()
    for old, new in replacements.items():
        assert source.count(old) == 1, f"{script}: {old} not found once"
        source = source.replace(old, new)
    return source


async def first_message(source: str, tmp_path: Path, timeout: float = 5.0) -> dict[str, Any]:
    """Run the client until it prints its first received message; return that message."""
    path = tmp_path / "client.py"
    path.write_text(source)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-u", str(path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    stdout = proc.stdout
    lines: list[str] = []

    async def read_until_received() -> dict[str, Any]:
        while True:
            raw = await stdout.readline()
            if not raw:
                raise AssertionError("client exited:\n" + "".join(lines))
            line = raw.decode()
            lines.append(line)
            if line.startswith(RECEIVED):
                message: dict[str, Any] = json.loads(line[len(RECEIVED):])
                return message

    try:
        return await asyncio.wait_for(read_until_received(), timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.communicate()


async def test_positions_client(sim: Simulator, tmp_path: Path) -> None:
    profile = trade_a_little(sim.engine)
    source = adapted("positions_client.py",
                     {TESTNET_URL: repr(sim.ws_url), "'your_address'": repr(profile)})
    message = await first_message(source, tmp_path)
    assert message["message"] == "positions"
    (position,) = message["data"]
    assert position["address"] == profile
    assert position["market_id"] == str(MARKET)
    assert position["trade_side"] is True


async def test_orderbook_client(sim: Simulator, tmp_path: Path) -> None:
    source = adapted("orderbook_client.py",
                     {TESTNET_URL: repr(sim.ws_url), "'your_market_id'": repr(str(MARKET))})
    message = await first_message(source, tmp_path)
    assert message["message"] == "orderbook"
    assert {level["is_ask"] for level in message["data"]} == {True, False}
    assert all(level["market_id"] == str(MARKET) for level in message["data"])


async def test_recent_trades_client(sim: Simulator, tmp_path: Path) -> None:
    trade_a_little(sim.engine)
    source = adapted("recent_trades_client.py", {TESTNET_URL: repr(sim.ws_url)})
    message = await first_message(source, tmp_path)
    assert message["message"] == "recent_trades"
    assert message["data"]
    assert {"address", "trade_id", "price", "size", "fee", "pnl"} <= set(message["data"][0])


async def test_live_funding_rate_client(sim: Simulator, tmp_path: Path) -> None:
    source = adapted("live_funding_rate_client.py", {MAINNET_URL: repr(sim.ws_url)})
    message = await first_message(source, tmp_path)
    assert message["message"] == "live_funding_rate"
    assert sorted(rate["market_id"] for rate in message["data"]) == sorted(
        str(m) for m in sim.engine.markets
    )
