"""``kana-async demo``: the pure report, the options, and whole runs on the embedded simulator."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console, RenderableType

from kana_async.cli.demo import (
    TOPICS,
    Demo,
    DemoOptions,
    DemoReport,
    TxRecord,
    configure,
    decimals,
    options_from_args,
    percentile,
    run_demo,
    short_status,
    summary_view,
    to_tick,
)
from kana_async.cli.demo import scenario as demo_module
from kana_async.cli.views import Grid
from kana_async.errors import ValidationError
from kana_async.models import (
    FundingRate,
    MarketInfo,
    OpenOrder,
    OrderBookLevel,
    Position,
    Trade,
)
from kana_async.sim.faults import Faults
from kana_async.stream.book import OrderBook
from kana_async.stream.mux import StreamStats
from kana_async.stream.subscription import SubscriptionStats
from kana_async.trade.submitter import TxResult

D = Decimal
ROOT = Path(__file__).resolve().parents[3]


def render(renderable: RenderableType, width: int = 140) -> str:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(renderable)
    return out.getvalue()


def trade(pnl: str, fee: str, version: int = 1) -> Trade:
    return Trade(address="0x1", trade_id="7", market_id=1338, order_type=1, size=D("0.5"),
                 price=D("5.7"), fee=D(fee), pnl=D(pnl), timestamp=0,
                 transaction_version=version)


def position(**fields: object) -> Position:
    values: dict[str, object] = dict(
        address="0x1", market_id=1338, size=D("0.500"), entry_price=D("5.700"),
        value=D("2.85"), leverage=2, margin=D("1.425"), trade_side=True, tp=D("6"),
        sl=D("5.4"),
    )
    values.update(fields)
    return Position(**values)  # type: ignore[arg-type]


def result(success: bool = True, vm_status: str = "Executed successfully") -> TxResult:
    return TxResult("0xabc", 1, True, success, vm_status)


def sub_stats(topic: str, received: int) -> SubscriptionStats:
    return SubscriptionStats(
        topic=topic, key="k", overflow="keep_latest", capacity=1, received=received,
        delivered=received - 2, conflated=2, dropped=0, decode_errors=0, gaps=0, buffered=0,
        last_received=None, closed=False,
    )


def stream_stats(*subs: SubscriptionStats) -> StreamStats:
    return StreamStats(
        url="ws://127.0.0.1:1/ws/", connected=True, connected_for=1.0, connects=1,
        disconnects=0, reconnect_attempt=0, frames=99, ignored=0, malformed=0, server_error=0,
        unknown_topic=0, unroutable=0, unattributed=0, routed_by_shape=0,
        subscriptions=list(subs),
    )


# -- the pure core ---------------------------------------------------------------------------


def test_percentile_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 50) == 3.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 100) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0) == 1.0
    assert percentile([float(i) for i in range(1, 101)], 99) == 99.0
    with pytest.raises(ValueError, match="q"):
        percentile([1.0], 101)


def test_to_tick_rounds_onto_the_grid() -> None:
    assert to_tick(D("5.7349"), D("0.001"), up=False) == D("5.734")
    assert to_tick(D("5.7341"), D("0.001"), up=True) == D("5.735")
    assert to_tick(D("5.734"), D("0.001"), up=True) == D("5.734")
    assert to_tick(D("95123.4"), D("1"), up=False) == D("95123")
    assert to_tick(D("3500.015"), D("0.01"), up=True) == D("3500.02")


def test_decimals_and_short_status() -> None:
    assert decimals(D("0.00100000")) == 3
    assert decimals(D("1")) == 0
    assert decimals(D("1E+1")) == 0
    status = ("Move abort in 0x7a::market: E_POST_OR_ABORT_CROSSES_SPREAD(0xd): "
              "post-or-abort order crosses")
    assert short_status(status) == "E_POST_OR_ABORT_CROSSES_SPREAD"
    assert short_status("out of gas") == "out of gas"
    assert short_status("x" * 100) == "x" * 59 + "…"


def test_tx_record_timings() -> None:
    record = TxRecord("limit buy", "resting order", submitted=10.0)
    assert record.confirm_seconds is None
    assert record.seen_seconds is None
    DemoReport.confirmed(record, result(), 10.25)
    DemoReport.seen(record, 10.2)
    DemoReport.seen(record, 11.0)  # only the first sighting counts
    assert record.confirm_seconds == pytest.approx(0.25)
    assert record.seen_seconds == pytest.approx(0.2)  # the stream may beat the confirmation
    assert record.outcome == "ok"
    failed = TxRecord("x", "", 0.0)
    DemoReport.confirmed(failed, result(False, "Move abort: E_NOT_ENOUGH_MARGIN(0x4)"), 1.0)
    assert failed.outcome == "failed: E_NOT_ENOUGH_MARGIN"


def full_report() -> DemoReport:
    report = DemoReport(network="embedded simulator", market="1338", started=100.0)
    report.event(100.5, "markets read")
    for i, (confirm, seen) in enumerate([(0.010, 0.008), (0.020, 0.030), (0.040, 0.012)]):
        record = report.sent(f"order {i}", "fill", 101.0 + i)
        DemoReport.confirmed(record, result(), 101.0 + i + confirm)
        DemoReport.seen(record, 101.0 + i + seen)
    deposit = report.sent("deposit 20 USDC", "", 100.8)
    DemoReport.confirmed(deposit, result(), 100.805)
    for topic in ("orderbook", "orderbook", "positions"):
        report.message(topic)
    report.trades = [trade("-0.001", "0.001"), trade("0.0205", "0.0015", 2)]
    report.position = demo_module.PositionSnapshot(position(), D("5.8"))
    report.ended = 130.0
    return report


def test_report_figures() -> None:
    report = full_report()
    assert report.stream_latencies() == pytest.approx([0.008, 0.030, 0.012])
    assert report.confirm_latencies() == pytest.approx([0.010, 0.020, 0.040, 0.005])
    assert percentile(report.stream_latencies(), 50) == pytest.approx(0.012)
    assert report.realized_pnl == D("0.0195")
    assert report.fees == D("0.0025")
    assert report.elapsed == 30.0
    assert report.events[0].line() == "[  0.50s] markets read"
    # Without the stream's counters, the consumers' own counts.
    assert report.topic_counts() == [("orderbook", 2, 2, 0), ("positions", 1, 1, 0)]
    report.stream = stream_stats(sub_stats("orderbook", 120), sub_stats("positions", 5))
    assert report.topic_counts() == [("orderbook", 120, 118, 2), ("positions", 5, 3, 2)]


def test_report_exit_status() -> None:
    report = full_report()
    assert report.exit_status == 0
    assert report.succeeded
    report.interrupted = True
    assert report.exit_status == 130
    report.error = "boom"
    assert report.exit_status == 1
    assert report.verdict() == "FAILED: boom"


def test_summary_lines_say_what_is_measured() -> None:
    report = full_report()
    report.stream = stream_stats(*(sub_stats(t, 10) for t in TOPICS))
    text = "\n".join(report.summary_lines())
    assert text.startswith("Summary: embedded simulator, market 1338, 30.0 s — completed")
    assert "submit to the effect seen on the stream" in text
    assert "Delivery latency, submit to effect on the stream: p50 12.0 ms, max 30.0 ms over 3" \
        in text
    assert "Confirmation time, submit to commit: p50 10.0 ms, max 40.0 ms over 4" in text
    for topic in TOPICS:
        assert f"  {topic}" in text
    assert "Stream: 1 connection(s) for 5 subscriptions, 99 frames" in text
    (deposit,) = [line for line in text.splitlines() if "deposit 20 USDC" in line]
    assert "not streamed" in deposit
    assert "5.0 ms" in deposit
    assert "Position: long 0.5 @ 5.700, margin 1.4250, TP 6, SL 5.4, still open" in text
    # Unrealized at the recorded mid: (5.8 - 5.7) x 0.5.
    assert "PnL: realized +0.019500 (fees 0.002500) over 2 fill(s); unrealized +0.050000" \
        in text
    report.position_closed = True
    assert "unrealized" not in "\n".join(report.summary_lines())
    assert "closed at the end" in "\n".join(report.summary_lines())


def test_summary_of_an_empty_run() -> None:
    report = DemoReport(network="testnet", market="1338", started=0.0)
    report.error = "no route to host"
    text = "\n".join(report.summary_lines())
    assert "FAILED: no route to host" in text
    assert "no sample" in text
    assert "Position: none opened" in text
    assert "FAILED" in render(summary_view(report))


def test_summary_view_renders_the_figures() -> None:
    report = full_report()
    report.stream = stream_stats(sub_stats("orderbook", 1234))
    text = render(summary_view(report))
    for words in ("completed", "Transactions", "order 2", "Messages per topic", "1,234",
                  "p50 12.0 ms", "long 0.5 @ 5.700", "+0.019500"):
        assert words in text


# -- options ---------------------------------------------------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure(parser)
    return parser.parse_args(list(argv))


def test_default_options() -> None:
    options = options_from_args(parse(), environ={})
    assert options == DemoOptions()
    assert options.local
    assert options.duration == 30.0
    assert options.plain is None
    assert parse("--plain").plain is True


@pytest.mark.parametrize(
    ("argv", "param"),
    [
        (["--network", "testnet", "--api-key", "k"], "private_key_env"),
        (["--network", "testnet", "--private-key-env", "KEY"], "api_key"),
        (["--private-key-env", "UNSET_VARIABLE"], "private_key_env"),
        (["--deposit", "0"], "deposit"),
        (["--leverage", "0"], "leverage"),
        (["--network", "mainnet", "--api-key", "k", "--private-key-env", "KEY"], "network"),
        (["--rest-url", "ftp://example"], "rest_url"),
    ],
)
def test_bad_options_name_the_parameter(argv: list[str], param: str) -> None:
    with pytest.raises(ValidationError) as info:
        options_from_args(parse(*argv), environ={"KEY": "11" * 32})
    assert info.value.param == param


@pytest.mark.parametrize("argv", [["--duration", "0"], ["--duration", "x"],
                                  ["--deposit", "lots"], ["--network", "moon"]])
def test_bad_arguments_are_refused_by_the_parser(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse(*argv)


def test_mainnet_needs_a_confirmation() -> None:
    options = options_from_args(
        parse("--network", "mainnet", "--api-key", "k", "--private-key-env", "KEY", "--yes"),
        environ={"KEY": "11" * 32},
    )
    assert options.network == "mainnet"


def test_the_key_comes_from_the_named_variable_and_is_never_shown() -> None:
    secret = "ab" * 32
    options = options_from_args(
        parse("--network", "testnet", "--private-key-env", "MY_KEY"),
        environ={"MY_KEY": secret, "KANA_API_KEY": "api-secret"},
    )
    assert options.private_key == secret
    assert options.api_key == "api-secret"
    assert secret not in repr(options)
    assert "api-secret" not in repr(options)


def test_run_reports_bad_options_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    status = demo_module.run(parse("--private-key-env", "SURELY_UNSET_VARIABLE_42"))
    assert status == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "SURELY_UNSET_VARIABLE_42 is not set" in err


# -- the live screen -------------------------------------------------------------------------


def test_screen_renders_before_anything_arrived() -> None:
    demo = Demo(DemoOptions(), out=io.StringIO(), live=False)
    text = render(demo.screen())
    assert "waiting for the book" in text
    assert "no open position" in text
    assert "stream not open" in text


def test_screen_renders_a_full_state() -> None:
    demo = Demo(DemoOptions(duration=12), out=io.StringIO(), live=False)
    demo.info = None
    state = demo.state
    levels = [OrderBookLevel(market_id=1338, price=D("5.705"), size=D("10"), is_ask=True),
              OrderBookLevel(market_id=1338, price=D("5.701"), size=D("3"), is_ask=False)]
    state.update("orderbook", OrderBook.from_levels(levels))
    state.update("positions", [position(), position(market_id=1339)])
    state.update("open_orders", [OpenOrder(
        address="0x1", order_id="42", market_id=1338, order_type=1, price=D("5.701"),
        total_size=D("1"), remaining_size=D("1"), leverage=2, timestamp=0)])
    state.update("live_funding_rate", [FundingRate(market_id=1338, funding_rate=D("0.0001"))])
    state.update("trade_history", [])
    state.update("trade_history", [trade("-0.001", "0.001")])
    record = demo.report.sent("limit buy 0.5 @ 5.701", "resting order", time.monotonic())
    DemoReport.confirmed(record, result(), time.monotonic())
    demo.event("something happened")
    text = render(demo.screen())
    for words in ("Kana demo", "5.705", "spread 0.004", "long", "5.700", "+0.001500",
                  "funding +0.0100 %", "limit buy 0.5 @ 5.701", "something happened",
                  "-0.001000"):
        assert words in text
    assert "…42" not in text
    assert "* " in text  # the demo's own resting bid is starred in the book
    assert [t.pnl for t in demo.report.trades] == [D("-0.001")]
    assert state.report.messages["orderbook"] == 1


def test_the_demo_shows_prices_and_sizes_on_the_market_grid() -> None:
    demo = Demo(DemoOptions(), out=io.StringIO(), live=False)
    demo.report.grid = Grid(tick=D("0.001"), lot=D("0.001"))
    levels = [OrderBookLevel(market_id=1338, price=D("5.77"), size=D("10"), is_ask=True),
              OrderBookLevel(market_id=1338, price=D("5.76"), size=D("3"), is_ask=False)]
    demo.state.update("orderbook", OrderBook.from_levels(levels))
    demo.state.update("positions", [position(size=D("0.5"), entry_price=D("5.7"),
                                             tp=D("6"))])
    line = demo.status_line()
    assert line.startswith("bid 5.760 ask 5.770; long 0.500 @ 5.700 uPnL"), line
    assert demo.report.position_text().startswith("long 0.500 @ 5.700, margin 1.4250, "
                                                  "TP 6.000, SL 5.400")
    text = render(demo.screen())
    for figure in ("5.760", "5.770", "5.765", "0.500"):
        assert figure in text, figure
    assert " 5.76 " not in text


def test_a_small_terminal_gets_a_compact_screen_that_fits() -> None:
    demo = Demo(DemoOptions(duration=12), out=io.StringIO(), live=False)
    demo.report.grid = Grid(tick=D("0.001"), lot=D("0.001"))
    levels = [OrderBookLevel(market_id=1338, price=D("5.705"), size=D("10.5"), is_ask=True),
              OrderBookLevel(market_id=1338, price=D("5.699"), size=D("3"), is_ask=False)]
    demo.state.update("orderbook", OrderBook.from_levels(levels))
    demo.state.update("positions", [position(size=D("0.5"), entry_price=D("5.7"))])
    demo.state.update("trade_history", [])
    for action in ("deposit 20 USDC", "limit buy 0.5 @ 5.725 post-only (top of the book)",
                   "counterparty: market sell 0.5", "take-profit 6.000", "stop-loss 5.400",
                   "limit buy 0.5 @ 5.650 post-only (a second bid, to cancel)"):
        record = demo.report.sent(action, "effect", time.monotonic())
        DemoReport.confirmed(record, result(), time.monotonic())
    for i in range(30):
        demo.event(f"event {i}: " + "a long line of text " * 6)
    out = io.StringIO()
    Console(file=out, width=80, height=24, color_system=None).print(demo.screen(80, 24))
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80, out.getvalue()
    assert len(lines) < 24, out.getvalue()
    text = out.getvalue()
    for figure in ("Kana demo", "bid 5.699", "ask 5.705", "long 0.500 @ 5.700", "uPnL +0.001000",
                   "TP 6.000 SL 5.400", "limit buy 0.5 @ 5.650", "event 29"):
        assert figure in text, figure
    # A large terminal still gets the full screen.
    assert "Open orders" in render(demo.screen(140, 50))


# -- whole runs ------------------------------------------------------------------------------


def assert_no_other_task() -> None:
    assert asyncio.all_tasks() == {asyncio.current_task()}


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


def test_the_deposit_is_sized_from_the_market() -> None:
    apt = MarketInfo(market_id=1338, base_name="APT/USDC", base_decimals=8,
                     quote_decimals=6, lot_size=100000, tick_size=1, min_lots=500,
                     max_leverage=20)
    eth = MarketInfo(market_id=1340, base_name="ETH/USDC", base_decimals=8,
                     quote_decimals=6, lot_size=100000, tick_size=10, min_lots=10,
                     max_leverage=20)
    assert demo_module.deposit_for(apt, D("5.7"), 2) == D(20)  # the floor
    # 3 orders of 0.01 ETH at 3500 at 2x: 3 x (17.5 margin + 0.35 headroom) = 53.55
    assert demo_module.deposit_for(eth, D("3500"), 2) == D(54)
    assert demo_module.deposit_for(eth, D("3500"), 20) == D(20)


def test_counterparty_needs_the_simulator() -> None:
    with pytest.raises(ValidationError) as info:
        DemoOptions(network="testnet", api_key="k", private_key="11" * 32, counterparty=True)
    assert info.value.param == "counterparty"
    assert not DemoOptions(network="testnet", api_key="k",
                           private_key="11" * 32).use_counterparty
    assert DemoOptions().use_counterparty


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


def test_ctrl_c_ends_the_command_cleanly_with_the_summary() -> None:
    env = {**os.environ, "PYTHONASYNCIODEBUG": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kana_async.demo", "--duration", "3"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "stream: 1 connection" in line or not line:
                break
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = "".join(lines) + rest
    assert proc.returncode == 130, output + err
    assert "— interrupted" in output
    assert "Traceback" not in err


# -- faults ----------------------------------------------------------------------------------


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


def test_a_reader_that_leaves_ends_the_demo_quietly() -> None:
    """``kana-async demo | head -3``: status 0, nothing on stderr, clean-up done."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "kana_async.cli", "demo", "--duration", "20", "--plain"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        proc.stdout.close()  # what head does after its third line
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert all(lines), lines
    assert proc.returncode == 0, err.decode()
    for trouble in ("Traceback", "BrokenPipeError", "Exception ignored", "error"):
        assert trouble not in err.decode(), err.decode()
