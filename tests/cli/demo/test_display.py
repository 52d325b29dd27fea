"""What the demo shows: the summary's tables, the live screen (full and compact), the status
line; all from values, nothing run."""

from __future__ import annotations

import io
import time

from rich.console import Console

from kana_async.cli.demo import Demo, DemoOptions, DemoReport, summary_view
from kana_async.cli.views import Grid
from kana_async.models import FundingRate, OpenOrder, OrderBookLevel
from kana_async.stream.book import OrderBook
from tests.cli.demo.samples import (
    D,
    full_report,
    position,
    render,
    result,
    stream_stats,
    sub_stats,
    trade,
)


def test_summary_view_renders_the_figures() -> None:
    report = full_report()
    report.stream = stream_stats(sub_stats("orderbook", 1234))
    text = render(summary_view(report))
    for words in ("completed", "Transactions", "order 2", "Messages per topic", "1,234",
                  "p50 12.0 ms", "long 0.5 @ 5.700", "+0.019500"):
        assert words in text


def test_the_summary_view_of_a_failed_run() -> None:
    report = DemoReport(network="testnet", market="1338", started=0.0)
    report.error = "no route to host"
    text = render(summary_view(report))
    assert "FAILED: no route to host" in text
    assert "no sample" in text


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
