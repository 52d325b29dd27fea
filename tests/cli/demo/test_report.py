"""The demo's pure core: latencies, prices on the grid, the report's figures and summary."""

from __future__ import annotations

import asyncio

import pytest

from kana_async.cli.demo.report import (
    DemoReport,
    TxRecord,
    deposit_for,
    failure_outcome,
    failure_reason,
    percentile,
    short_status,
    to_tick,
)
from kana_async.cli.demo.scenario import TOPICS
from kana_async.errors import UnknownOutcomeError
from kana_async.models import MarketInfo
from tests.cli.demo.samples import D, full_report, result, stream_stats, sub_stats


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


def test_short_status() -> None:
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


def test_the_deposit_is_sized_from_the_market() -> None:
    apt = MarketInfo(market_id=1338, base_name="APT/USDC", base_decimals=8,
                     quote_decimals=6, lot_size=100000, tick_size=1, min_lots=500,
                     max_leverage=20)
    eth = MarketInfo(market_id=1340, base_name="ETH/USDC", base_decimals=8,
                     quote_decimals=6, lot_size=100000, tick_size=10, min_lots=10,
                     max_leverage=20)
    assert deposit_for(apt, D("5.7"), 2) == D(20)  # the floor
    # 3 orders of 0.01 ETH at 3500 at 2x: 3 x (17.5 margin + 0.35 headroom) = 53.55
    assert deposit_for(eth, D("3500"), 2) == D(54)
    assert deposit_for(eth, D("3500"), 20) == D(20)


def test_a_failure_in_a_word_and_in_a_line() -> None:
    assert failure_outcome(UnknownOutcomeError("0xabc", "timed out")) == "outcome unknown"
    assert failure_reason(asyncio.TimeoutError()) == "timed out"
    assert failure_reason(ValueError("first line\nsecond line")) == "first line"
    assert failure_reason(KeyError()) == "KeyError"
