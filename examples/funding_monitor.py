"""A funding-rate monitor: every market's rate as it changes, annualised, with an alert.

Run it against the embedded simulator (no key, no network)::

    python examples/funding_monitor.py --duration 90 --alert-apr 50

The simulator publishes new rates every 60 seconds; point the monitor at a running
``kana-async sim`` with ``--rest-url/--ws-url/--node-url``, or at Kana with
``--network testnet --api-key ...``. It only reads: no wallet key is needed.

What it shows: the ``live_funding_rate`` topic (one message carries every market's current
rate, typed as ``FundingRate`` with a ``Decimal`` rate), market names from REST, and exact
Decimal arithmetic for the annualised figure.

Kana's documents do not state the funding interval; ``--interval-hours`` (default 1, the usual
interval of perpetual futures) is what the annualised rate assumes.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import _common
from _common import log

from kana_async import FundingRate, ValidationError
from kana_async.stream import Subscription

HOURS_PER_YEAR = Decimal(24 * 365)
PERCENT = Decimal(100)


def annualised(rate: Decimal, interval_hours: Decimal) -> Decimal:
    """The rate paid over a year of intervals (simple, not compounded)."""
    return rate * HOURS_PER_YEAR / interval_hours


def percent(value: Decimal, places: int) -> str:
    """``value`` (a fraction) as a signed percentage: ``-0.0264%``."""
    return f"{value * PERCENT:+.{places}f}%"


@dataclass
class FundingMonitor:
    """Remembers each market's last rate and reports what changed."""

    names: Mapping[int, str]
    interval_hours: Decimal
    alert_apr: Decimal | None  # in percent, either sign
    only_market: int | None = None
    last: dict[int, Decimal] = field(default_factory=dict)
    updates: int = 0
    changes: int = 0
    alerts: int = 0

    def changed(self, rates: Iterable[FundingRate]) -> list[FundingRate]:
        """The entries whose rate differs from what was seen before (all of them at first)."""
        out = []
        for entry in rates:
            if self.only_market is not None and entry.market_id != self.only_market:
                continue
            if self.last.get(entry.market_id) != entry.funding_rate:
                self.last[entry.market_id] = entry.funding_rate
                out.append(entry)
        return out

    def report(self, entry: FundingRate, before: Decimal | None) -> list[str]:
        """The lines to print for one market's new rate."""
        yearly = annualised(entry.funding_rate, self.interval_hours)
        name = self.names.get(entry.market_id, "?")
        was = "" if before is None else f"  (was {percent(before, 4)})"
        lines = [f"{entry.market_id:>5} {name:<10} funding {percent(entry.funding_rate, 4)}"
                 f"  annualised {percent(yearly, 2)}{was}"]
        if self.alert_apr is not None and abs(yearly * PERCENT) >= self.alert_apr:
            self.alerts += 1
            payer = "longs pay shorts" if entry.funding_rate > 0 else "shorts pay longs"
            lines.append(f"ALERT {entry.market_id} {name}: annualised {percent(yearly, 2)} "
                         f"is beyond ±{self.alert_apr}% ({payer})")
        return lines

    async def watch(self, rates: Subscription[list[FundingRate]]) -> None:
        async for snapshot in rates:  # each message: every market's current rate
            self.updates += 1
            before = dict(self.last)
            for entry in self.changed(snapshot):
                self.changes += 1
                for line in self.report(entry, before.get(entry.market_id)):
                    log(line)

    def summary(self) -> str:
        return (f"summary: {self.updates} funding updates, {self.changes} rate changes, "
                f"{self.alerts} alerts")


async def main(args: argparse.Namespace) -> int:
    if args.interval_hours <= 0:
        raise ValidationError("--interval-hours", "must be more than 0", args.interval_hours)
    async with _common.stop_signal(args.duration) as stop, \
            _common.open_client(args, wallet=False) as kana:
        markets = await kana.rest.get_perpetual_assets_info()
        names = {m.market_id: m.base_name for m in markets}
        only = None if args.market is None else int(args.market)
        if only is not None and only not in names:
            known = ", ".join(map(str, names))
            raise ValidationError("--market", f"must be one of {known}", args.market)
        monitor = FundingMonitor(names, args.interval_hours, args.alert_apr, only)
        log(f"watching funding of {only or 'every market'}; annualised assumes a payment "
            f"every {args.interval_hours} h")
        async with kana.stream.live_funding_rate() as rates:
            watching = asyncio.create_task(monitor.watch(rates))
            try:
                await _common.wait_for_stop(stop, watching)
            finally:
                await _common.cancel_and_wait(watching)
        log(monitor.summary())
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = _common.parser("Print every funding-rate change, annualised; alert on extremes.",
                       market=None)
    p.add_argument("--interval-hours", type=_common.decimal_arg, default=Decimal(1),
                   help="hours between two funding payments, for the annualised figure (1)")
    p.add_argument("--alert-apr", type=_common.decimal_arg, metavar="PERCENT",
                   help="print an ALERT line when the annualised rate reaches ±PERCENT")
    return p


if __name__ == "__main__":
    sys.exit(_common.run(main, build_parser().parse_args()))
