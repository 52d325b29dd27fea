"""Smoke tests: each example runs as its own process against a simulator and exits cleanly.

The examples are how people learn the SDK, so they must keep working: every script runs as a
user would run it (``python examples/x.py ...``), in Python's development mode (asyncio debug,
resource warnings shown), and must exit 0 within a bounded time, print what proves it did its
job, and leave nothing behind on stderr (no traceback, leaked task or unclosed socket).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from kana_async import KanaClient, MarketInfo, OrderBook, OrderBookLevel, Position
from kana_async.config import KANA_PACKAGE_ADDRESS
from kana_async.sim import Simulator
from kana_async.trade import Signer, TxResult
from tests.conftest import without_slow_callback_notes

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
#: What a clean run never prints on stderr.
TROUBLE = ("Traceback", "Task was destroyed", "never awaited", "Unclosed", "ResourceWarning")


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    def assert_clean(self) -> None:
        assert self.returncode == 0, f"exit {self.returncode}\n{self.stdout}\n{self.stderr}"
        for marker in TROUBLE:
            assert marker not in self.stderr, self.stderr


async def start(script: str, *args: str, key: str | None = None) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("KANA_PRIVATE_KEY", None)  # the examples use a throwaway key on the simulator
    if key is not None:
        env["KANA_PRIVATE_KEY"] = key
    return await asyncio.create_subprocess_exec(
        sys.executable, "-X", "dev", str(EXAMPLES / script), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )


async def finish(proc: asyncio.subprocess.Process, timeout: float = 30) -> Run:
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"did not exit within {timeout} s") from None
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


async def run(script: str, *args: str) -> Run:
    return await finish(await start(script, *args))


# -- market maker ----------------------------------------------------------------------------


async def test_market_maker_quotes_requotes_and_leaves_nothing_resting() -> None:
    # The embedded simulator's own market maker moves the mid every 0.1 s.
    result = await run("market_maker.py", "--duration", "3")
    result.assert_clean()
    out = result.stdout
    assert "deposited 1000" in out
    assert "quote #1: bid 0.5" in out
    assert "| ask 0.5 @" in out
    assert "requote #1 (mid moved" in out
    assert "open_orders view: nothing rests in market 1338" in out
    assert "summary:" in out


async def read_until(stream: asyncio.StreamReader, text: str) -> str:
    """Lines of ``stream`` up to the first that contains ``text``."""
    seen = ""
    while text not in seen:
        line = (await stream.readline()).decode()
        assert line, f"the output ended before {text!r}:\n{seen}"
        seen += line
    return seen


async def test_market_maker_cancels_everything_on_ctrl_c() -> None:
    proc = await start("market_maker.py")  # no --duration: runs until interrupted
    assert proc.stdout is not None
    try:
        before = await asyncio.wait_for(read_until(proc.stdout, "quote #1"), 20)
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    proc.send_signal(signal.SIGINT)
    result = await finish(proc)
    result.assert_clean()
    assert "cancelling" in result.stdout, before + result.stdout
    assert "open_orders view: nothing rests in market 1338" in result.stdout


async def test_market_maker_resolves_an_unknown_outcome_and_never_resends() -> None:
    key = "33" * 32
    async with Simulator(seed=2) as sim:
        proc = await start("market_maker.py", "--timeout", "1", "--rest-url", str(sim.rest_url),
                           "--ws-url", str(sim.ws_url), "--node-url", str(sim.node_url), key=key)
        assert proc.stdout is not None
        try:
            before = await asyncio.wait_for(read_until(proc.stdout, "quote #1"), 20)
            # The next transaction executes, but its HTTP answer never comes.
            sim.faults.hang_next_submissions(1)
            before += await asyncio.wait_for(read_until(proc.stdout, "resolved"), 20)
        except BaseException:
            proc.kill()
            await proc.wait()
            raise
        proc.send_signal(signal.SIGINT)
        result = await finish(proc)
        profile = sim.engine.profile_address(Signer(key).address)
        orders = sim.engine.order_history(profile, 1338)
    result.assert_clean()
    assert "outcome unknown" in before
    assert "requote: resolved, committed" in before
    assert "open_orders view: nothing rests in market 1338" in result.stdout
    placed = re.search(r"summary: (\d+) quotes placed", result.stdout)
    assert placed is not None, result.stdout
    # Every order the exchange ever saw was counted once by the bot: nothing was sent twice.
    assert len(orders) == int(placed.group(1))


# -- funding monitor -------------------------------------------------------------------------


async def test_funding_monitor_prints_rates_changes_and_alerts() -> None:
    # A running simulator of our own (like `kana-async sim`) whose funding changes often.
    async with Simulator(seed=5, funding_interval=0.5) as sim:
        result = await run(
            "funding_monitor.py", "--duration", "2.5", "--alert-apr", "1",
            "--rest-url", str(sim.rest_url), "--ws-url", str(sim.ws_url),
            "--node-url", str(sim.node_url),
        )
    result.assert_clean()
    out = result.stdout
    for market in ("1338 APT/USDC", "1339 BTC/USDC", "1340 ETH/USDC", "2387 SOL/USDC"):
        assert f"{market}   funding" in out or f"{market}  funding" in out
    assert "annualised" in out
    assert "(was " in out  # a change after the first snapshot
    assert "ALERT " in out
    assert "summary:" in out


# -- position tracker ------------------------------------------------------------------------


async def test_position_tracker_shows_a_pnl_row_for_the_demo_position() -> None:
    result = await run("position_tracker.py", "--open-demo-position", "--duration", "3")
    result.assert_clean()
    out = result.stdout
    assert "opened a demo long of 0.5 in 1338" in out
    rows = [line for line in out.splitlines() if " PnL 1338 APT/USDC long size 0.500" in line]
    assert any(" mark 5." in row and " uPnL " in row and "% away" in row for row in rows), out
    assert "demo long closed" in out


# -- bad input: one clear line, exit 1, nothing sent ----------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--size", "0.1", "--duration", "1"], "error: --size: minimum size is 0.5 APT (got 0.1)"),
        (["--size", "0.0005", "--duration", "1"], "error: --size: must be a multiple of"),
        (["--leverage", "99", "--duration", "1"], "error: --leverage: must be between 1 and"),
        (["--network", "testnet", "--private-key-env", "NO_SUCH_KEY_VARIABLE"],
         "error: NO_SUCH_KEY_VARIABLE: environment variable is not set"),
    ],
)
async def test_bad_options_fail_with_one_clear_line(args: list[str], message: str) -> None:
    result = await run("market_maker.py", *args)
    assert result.returncode == 1
    stderr = without_slow_callback_notes(result.stderr).strip()
    assert stderr.startswith(message), result.stderr
    assert len(stderr.splitlines()) == 1
    assert "deposited" not in result.stdout


# -- the examples' pure parts ---------------------------------------------------------------


def load(name: str) -> ModuleType:
    """Import an example as a module (they import ``_common`` from their own folder)."""
    import importlib

    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    return importlib.import_module(name)


APT = MarketInfo(market_id=1338, base_name="APT/USDC", base_decimals=8, quote_decimals=6,
                 lot_size=100000, tick_size=1, min_lots=500, max_lots=150000000,
                 max_leverage=20)


def level(price: str, size: str, is_ask: bool) -> OrderBookLevel:
    return OrderBookLevel(market_id=1338, price=Decimal(price), size=Decimal(size),
                          is_ask=is_ask)


def test_fair_mid_leaves_out_our_own_quotes() -> None:
    mm: Any = load("market_maker")
    book = OrderBook(1338, [level("5.690", "0.5", False), level("5.680", "3", False),
                              level("5.700", "2", True)])
    assert mm.fair_mid(book, {}) == Decimal("5.695")
    # Our 0.5 at 5.690 is the whole best bid: the mid is taken from the next level.
    assert mm.fair_mid(book, {Decimal("5.690"): Decimal("0.5")}) == Decimal("5.690")
    assert mm.fair_mid(OrderBook(1338, [level("5.7", "1", True)]), {}) is None


def test_quotes_are_on_the_grid_and_never_tighter_than_asked() -> None:
    mm: Any = load("market_maker")
    bid, ask = mm.quote_prices(APT, Decimal("5.7033"), Decimal("0.001"))
    assert (bid, ask) == (Decimal("5.697"), Decimal("5.710"))
    assert str(bid) == "5.697"
    # A spread narrower than one tick still leaves bid and ask a tick apart.
    bid, ask = mm.quote_prices(APT, Decimal("5.7"), Decimal("0"))
    assert ask - bid == Decimal("0.001")
    assert mm.moved_bps(Decimal("5"), Decimal("5.005")) == Decimal(10)


def test_annualised_funding() -> None:
    fm: Any = load("funding_monitor")
    assert fm.annualised(Decimal("0.0001"), Decimal(1)) == Decimal("0.876")
    assert fm.annualised(Decimal("0.0001"), Decimal(8)) == Decimal("0.1095")
    assert fm.percent(Decimal("-0.000264"), 4) == "-0.0264%"


def position(long: bool, liq: str | None = "4.5") -> Position:
    return Position(address="0x" + "1" * 64, market_id=1338, size=Decimal("2"),
                    entry_price=Decimal("5"), value=Decimal("10"), leverage=5,
                    margin=Decimal("2"), trade_side=long,
                    liq_price=None if liq is None else Decimal(liq))


def test_pnl_and_distance_to_liquidation() -> None:
    pt: Any = load("position_tracker")
    assert pt.unrealised_pnl(position(True), Decimal("5.5")) == Decimal("1.0")
    assert pt.unrealised_pnl(position(False), Decimal("5.5")) == Decimal("-1.0")
    assert pt.liquidation_distance(position(True, "4.5"), Decimal("5")) == Decimal("0.1")
    assert pt.liquidation_distance(position(False, "5.5"), Decimal("5")) == Decimal("0.1")
    assert pt.liquidation_distance(position(True, None), Decimal("5")) is None
    row = pt.value(position(True), None)
    assert row.unrealised is None
    assert row.liq_distance is None


class QuotingKana:
    """Just what ``MarketMaker.requote`` calls: one transaction, and the read-back it may
    need (counted)."""

    address = "0x" + "2" * 64

    def __init__(self, result: TxResult) -> None:
        self.result = result
        self.rest = self
        self.read_backs = 0

    async def cancel_and_place_multiple_orders(self, *args: Any, **kwargs: Any) -> TxResult:
        return self.result

    async def get_open_orders_from_contract(self, *args: Any) -> list[Any]:
        self.read_backs += 1
        return []


def _committed(events: list[dict[str, Any]]) -> TxResult:
    return TxResult.from_node({"type": "user_transaction", "hash": "0x01", "version": "9",
                               "sequence_number": "1", "success": True, "events": events})


def _event(name: str, order_id: str) -> dict[str, Any]:
    return {"type": f"{KANA_PACKAGE_ADDRESS}::perpetual_core::{name}",
            "data": {"order_id": order_id}}


async def test_market_maker_takes_its_quotes_from_the_events() -> None:
    mm: Any = load("market_maker")
    settings = mm.Settings(size=Decimal("0.5"), half_spread=Decimal("0.001"),
                           requote_bps=Decimal(5), leverage=2, max_position=Decimal(5))
    kana = QuotingKana(_committed([_event("PlaceOrderEvent", "7"),
                                   _event("PlaceOrderEvent", "8")]))
    maker = mm.MarketMaker(kana, APT, settings)
    await maker.requote(Decimal("5.7"), None)
    assert kana.read_backs == 0
    assert {i: (q.is_bid, q.price, q.remaining) for i, q in maker.quotes.items()} == {
        "7": (True, Decimal("5.694"), Decimal("0.5")),
        "8": (False, Decimal("5.706"), Decimal("0.5"))}
    kana.result = _committed([_event("CancelOrderEvent", "7"), _event("CancelOrderEvent", "8"),
                              _event("PlaceOrderEvent", "9"), _event("PlaceOrderEvent", "10")])
    await maker.requote(Decimal("5.8"), Decimal(175))
    assert (list(maker.quotes), kana.read_backs) == (["9", "10"], 0)
    kana.result = _committed([])  # a node that reports no events: read back what rests
    await maker.requote(Decimal("5.9"), Decimal(172))
    assert (maker.quotes, kana.read_backs) == ({}, 1)


# -- a reader of stdout that goes away (``| head``) -------------------------------------------


async def start_piped(script: str, *args: str, key: str
                      ) -> tuple[asyncio.subprocess.Process, asyncio.StreamReader,
                                 asyncio.ReadTransport]:
    """Start an example whose stdout is a pipe the test reads and may close (like ``head``)."""
    read_fd, write_fd = os.pipe()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "KANA_PRIVATE_KEY": key}
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-X", "dev", str(EXAMPLES / script), *args,
            stdout=write_fd, stderr=asyncio.subprocess.PIPE, env=env,
        )
    finally:
        os.close(write_fd)
    reader = asyncio.StreamReader()
    transport, _ = await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", 0))
    return proc, reader, transport


async def head(script: str, lines: int, *args: str, key: str) -> tuple[list[str], Run]:
    """``python examples/SCRIPT ARGS | head -LINES``: the lines read, and how it ended."""
    proc, reader, transport = await start_piped(script, *args, key=key)
    read: list[str] = []
    try:
        for _ in range(lines):
            line = await asyncio.wait_for(reader.readline(), 30)
            assert line, f"stdout ended after {read}"
            read.append(line.decode())
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    finally:
        transport.close()  # the reader goes away, as head does
    assert proc.stderr is not None
    try:
        err = await asyncio.wait_for(proc.stderr.read(), 60)
        await asyncio.wait_for(proc.wait(), 10)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError("did not exit after its reader went away") from None
    assert proc.returncode is not None
    return read, Run(proc.returncode, "".join(read), err.decode())


def sim_urls(sim: Simulator) -> list[str]:
    return ["--rest-url", str(sim.rest_url), "--ws-url", str(sim.ws_url),
            "--node-url", str(sim.node_url)]


async def test_market_maker_cancels_its_quotes_when_stdout_goes_away() -> None:
    key = "44" * 32
    async with Simulator(seed=3) as sim, KanaClient(
            "local", api_key="local", private_key=key, **_urls(sim)) as kana:
        # Read up to the first quote, then leave: the next line hits a broken pipe.
        read, result = await head("market_maker.py", 3, *sim_urls(sim), key=key)
        orders = await kana.rest.get_open_orders(Signer(key).address, 1338)
    assert "quote #1" in read[-1], read
    result.assert_clean()
    assert orders == []


async def test_position_tracker_closes_its_position_when_stdout_goes_away() -> None:
    key = "55" * 32
    async with Simulator(seed=4) as sim, KanaClient(
            "local", api_key="local", private_key=key, **_urls(sim)) as kana:
        read, result = await head("position_tracker.py", 1, "--open-demo-position",
                                  *sim_urls(sim), key=key)
        positions = await kana.rest.get_positions(Signer(key).address, 1338)
    assert "deposited" in read[0], read
    result.assert_clean()
    assert positions == []


def _urls(sim: Simulator) -> dict[str, Any]:
    return {"rest_url": str(sim.rest_url), "ws_url": str(sim.ws_url),
            "node_url": str(sim.node_url)}
