"""Values the demo's tests build: fills, positions, results, stream counters, a report."""

from __future__ import annotations

import asyncio
import io
from decimal import Decimal

from rich.console import Console, RenderableType

from kana_async.cli.demo import DemoReport
from kana_async.cli.demo.report import PositionSnapshot
from kana_async.models import Position, Trade
from kana_async.stream.mux import StreamStats
from kana_async.stream.subscription import SubscriptionStats
from kana_async.trade.submitter import TxResult

D = Decimal


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
    report.position = PositionSnapshot(position(), D("5.8"))
    report.ended = 130.0
    return report


def assert_no_other_task() -> None:
    assert asyncio.all_tasks() == {asyncio.current_task()}
