"""Whole runs of the demo's scenario on the embedded simulator, with faults injected."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import time
from collections.abc import Callable
from decimal import Decimal

import pytest

from kana_async.cli.demo import TOPICS, Demo, DemoOptions, options_from_args, run_demo
from kana_async.cli.demo import scenario as demo_module
from kana_async.sim.faults import Faults
from tests.cli.demo.samples import assert_no_other_task
from tests.cli.demo.test_options import parse


async def test_demo_runs_end_to_end_in_plain_mode() -> None:
    out = io.StringIO()
    report = await run_demo(DemoOptions(duration=1.0, plain=True), out=out)
    text = out.getvalue()
    assert report.error is None, text
    assert report.exit_status == 0
    for step in ("deposit 20 USDC: confirmed",
                 "resting order on the stream",
                 "fill and position on the stream",
                 "TP on the position on the stream",
                 "SL on the position on the stream",
                 "orders gone on the stream",
                 "position gone on the stream",
                 "Summary: embedded simulator, market 1338"):
        assert step in text, step
    assert all(r.outcome == "ok" for r in report.transactions), text
    assert report.position_closed
    assert len(report.trades) >= 2  # opened, then closed
    assert report.stream is not None
    assert report.stream.connects == 1
    assert sorted(s.topic for s in report.stream.subscriptions) == sorted(TOPICS)
    assert len(report.stream_latencies()) >= 6
    assert "\x1b[" not in text  # plain: no terminal control sequences
    assert_no_other_task()


async def test_one_key_crosses_the_book_itself() -> None:
    # What the demo does on a real network, run against the simulator.
    out = io.StringIO()
    report = await run_demo(DemoOptions(duration=0.5, pace=0, counterparty=False, plain=True),
                            out=out)
    text = out.getvalue()
    assert report.exit_status == 0, text
    assert "counterparty" not in text
    actions = [r.action for r in report.transactions]
    assert actions[0] == "deposit 20 USDC"
    assert actions[1].startswith("limit buy 0.5 @ ")
    assert actions[2] == "market buy 0.5 (crosses the book)"
    assert actions[3].startswith("take-profit ")
    assert actions[4].startswith("stop-loss ")
    assert actions[-2] == "cancel 1 resting order(s)"
    assert actions[-1] == "close the position"
    assert all(r.outcome == "ok" for r in report.transactions), text
    assert_no_other_task()


async def test_live_mode_draws_the_screen_and_prints_tables() -> None:
    out = io.StringIO()
    report = await run_demo(DemoOptions(duration=0.5, pace=0), out=out, live=True)
    text = out.getvalue()
    assert report.exit_status == 0, text
    assert "Kana demo" in text  # the last screen stays
    assert "Messages per topic" in text
    assert "delivery latency" in text
    assert_no_other_task()


@pytest.mark.parametrize("market", ["ETH", "1340"])
async def test_any_market_by_name_or_id_with_a_deposit_its_orders_need(market: str) -> None:
    # ETH's minimum order is worth ~35 USDC: the old fixed deposit of 20 could not hold the
    # position and the second bid at once.
    options = options_from_args(parse("--market", market, "--duration", "0.5", "--plain"),
                                environ={})
    out = io.StringIO()
    report = await run_demo(dataclasses.replace(options, pace=0), out=out)
    text = out.getvalue()
    assert report.exit_status == 0, text
    assert report.market == "1340"
    assert "Summary: embedded simulator, market 1340" in text
    deposit = next(r.action for r in report.transactions if r.action.startswith("deposit "))
    assert Decimal(deposit.split()[1]) > 20, deposit
    assert all(r.outcome == "ok" for r in report.transactions), text
    assert_no_other_task()


async def test_a_running_simulator_by_the_shared_url_options(urls: list[str]) -> None:
    options = options_from_args(parse(*urls, "--duration", "0.5", "--plain"), environ={})
    out = io.StringIO()
    report = await run_demo(dataclasses.replace(options, pace=0), out=out)
    text = out.getvalue()
    assert report.exit_status == 0, text
    assert f"connected to {urls[1]}" in text
    assert "Summary: local, market 1338" in text
    assert report.position_closed
    assert_no_other_task()


async def test_stopping_early_cleans_up_and_summarises() -> None:
    out = io.StringIO()
    demo = Demo(DemoOptions(duration=60, pace=0), out=out, live=False)
    task = asyncio.create_task(demo.run())
    for _ in range(500):  # until the position is open, at most 5 s
        if demo.state.long() is not None:
            break
        await asyncio.sleep(0.01)
    assert demo.state.long() is not None, out.getvalue()
    demo.stop()
    report = await asyncio.wait_for(task, 10)
    assert report.interrupted
    assert report.exit_status == 130
    assert report.position_closed
    assert report.transactions[-1].action == "close the position"
    assert report.elapsed is not None
    assert report.elapsed < 30
    assert_no_other_task()


async def test_a_failure_is_one_error_line_and_a_non_zero_status() -> None:
    out = io.StringIO()
    report = await run_demo(DemoOptions(duration=1.0, market=9999, plain=True), out=out)
    assert report.exit_status == 1
    assert report.error is not None
    assert "9999" in report.error
    assert "\n" not in report.error
    assert "FAILED" in out.getvalue()
    assert_no_other_task()


async def until(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Poll ``condition`` every 10 ms (fails after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        await asyncio.sleep(0.01)


def faults_of(demo: Demo) -> Faults:
    kana = demo._kana
    assert kana is not None
    assert kana.simulator is not None
    faults: Faults = kana.simulator.faults
    return faults


async def test_a_dropped_socket_is_survived_on_the_same_stream() -> None:
    out = io.StringIO()
    demo = Demo(DemoOptions(duration=1.0, pace=0), out=out, live=False)
    task = asyncio.create_task(demo.run())
    await until(lambda: demo.state.long() is not None, "a position")
    faults_of(demo).drop_websockets()
    report = await asyncio.wait_for(task, 10)
    assert report.exit_status == 0, out.getvalue()
    assert report.stream is not None
    assert report.stream.connects == 2
    assert report.stream.disconnects == 1
    assert report.position_closed
    assert_no_other_task()


async def test_an_effect_never_seen_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo_module, "EFFECT_TIMEOUT", 0.3)
    out = io.StringIO()
    demo = Demo(DemoOptions(duration=5, pace=0, counterparty=False), out=out, live=False)
    task = asyncio.create_task(demo.run())
    await until(lambda: demo.report.messages["open_orders"] > 0, "the first open orders")
    faults_of(demo).stall("open_orders")
    report = await asyncio.wait_for(task, 10)
    assert report.exit_status == 1
    assert report.error is not None
    assert report.error.startswith("resting order after limit buy 0.5 @ ")
    assert report.error.endswith("not seen on the stream within 0.3 s")
    assert_no_other_task()


async def test_a_rejected_transaction_is_an_error() -> None:
    out = io.StringIO()
    demo = Demo(DemoOptions(duration=5, pace=0), out=out, live=False)
    task = asyncio.create_task(demo.run())
    await until(lambda: demo.report.messages["open_orders"] > 0, "the stream")
    faults_of(demo).reject_next_transactions(1, "out of luck")
    report = await asyncio.wait_for(task, 10)
    assert report.exit_status == 1
    assert report.transactions[0].outcome == "failed: rejected"
    assert report.error is not None
    assert "out of luck" in report.error
    assert f"error: {report.error}" in out.getvalue()
    assert "FAILED" in report.summary_lines()[0]
    assert_no_other_task()
