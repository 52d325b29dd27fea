"""Read-side helpers of the Pulse engine: parameter checks, filters, candles, 24 h stats (pure).

Nothing here changes state; the engine passes its bounded stores in and gets values back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from .accounts import coin
from .domain import Candles, Order, Trade
from .entry import ORDER_TYPES
from .errors import Code, PulseError

__all__ = [
    "CLOSED_STATES",
    "RESOLUTIONS",
    "candles",
    "check_count",
    "day_stats",
    "next_0800_ms",
    "type_matches",
]

CLOSED_STATES = frozenset({"filled", "cancelled", "rejected"})
#: Filters accepted where order types are selected (``all``/``trigger_all`` only here).
_FILTERS = frozenset({"all", "trigger_all", "stop_all", "take_all", "stop", "take",
                      *ORDER_TYPES})
#: Chart resolutions in minutes, and "1D".
RESOLUTIONS: dict[str, int] = {
    **{r: int(r) * 60_000 for r in ("1", "3", "5", "10", "15", "30", "60", "120", "180", "360",
                                    "720")},
    "1D": 86_400_000,
}
DAY_MS = 86_400_000


def check_count(count: int | None, param: str = "count", *, limit: int = 10_000,
                minimum: int = 1, optional: bool = False) -> None:
    """An integer within bounds (None only where ``optional``)."""
    if count is None and optional:
        return
    if isinstance(count, bool) or not isinstance(count, int) or not minimum <= count <= limit:
        raise PulseError(Code.INVALID_ARGUMENTS,
                         f"{param} must be an integer from {minimum} to {limit}", param=param)


def type_matches(order: Order, wanted: str | None) -> bool:
    """Does ``order`` pass the order-type filter ``wanted`` (validated by :func:`check_type`)?"""
    if wanted is None or wanted == "all":
        return True
    if wanted == "trigger_all":
        return order.is_trigger
    if wanted in ("stop_all", "stop"):
        return order.order_type.startswith("stop_")
    if wanted in ("take_all", "take"):
        return order.order_type.startswith("take_")
    return order.order_type == wanted


def check_type(wanted: str | None, param: str = "type") -> None:
    if wanted is not None and (not isinstance(wanted, str) or wanted not in _FILTERS):
        raise PulseError(Code.INVALID_ARGUMENTS,
                         f"{param} must be one of {', '.join(sorted(_FILTERS))}", param=param)


def next_0800_ms(now_ms: int) -> int:
    """The next 08:00 UTC strictly after ``now_ms`` (good_til_day expiry, daily delivery)."""
    now = datetime.fromtimestamp(now_ms / 1000, tz=timezone.utc)
    at = now.replace(hour=8, minute=0, second=0, microsecond=0)
    if at <= now:
        at += timedelta(days=1)
    return int(at.timestamp() * 1000)


def date_of(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")


def trade_coin(trade: Trade) -> Decimal:
    inst = trade.instrument
    return coin(inst.amount(trade.amount) / inst.price(trade.price))


def candles(trades: Iterable[Trade], resolution: str, start_ms: int, end_ms: int) -> Candles:
    """OHLC bars of the trades between ``start_ms`` and ``end_ms`` (both included)."""
    if not isinstance(resolution, str) or resolution not in RESOLUTIONS:
        raise PulseError(Code.INVALID_ARGUMENTS,
                         f"resolution must be one of {', '.join(RESOLUTIONS)}", param="resolution")
    for name, value in (("start_timestamp", start_ms), ("end_timestamp", end_ms)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise PulseError(Code.INVALID_ARGUMENTS, f"{name} must be an integer >= 0 (ms)",
                             param=name)
    if start_ms > end_ms:
        raise PulseError(Code.INVALID_ARGUMENTS, "start_timestamp must not be after end_timestamp",
                         param="start_timestamp")
    width = RESOLUTIONS[resolution]
    bars: dict[int, list[Decimal]] = {}   # start -> [open, high, low, close, volume, cost]
    for trade in sorted((t for t in trades if start_ms <= t.timestamp <= end_ms),
                        key=lambda t: (t.timestamp, t.trade_seq)):
        price = trade.instrument.price(trade.price)
        start = trade.timestamp // width * width
        bar = bars.get(start)
        if bar is None:
            bars[start] = [price, price, price, price, Decimal(0), Decimal(0)]
            bar = bars[start]
        bar[1], bar[2], bar[3] = max(bar[1], price), min(bar[2], price), price
        bar[4] += trade_coin(trade)
        bar[5] += trade.instrument.amount(trade.amount)
    keys = sorted(bars)
    return Candles(
        ticks=keys, open=[bars[k][0] for k in keys], high=[bars[k][1] for k in keys],
        low=[bars[k][2] for k in keys], close=[bars[k][3] for k in keys],
        volume=[bars[k][4] for k in keys], cost=[bars[k][5] for k in keys],
        status="ok" if keys else "no_data",
    )


def day_stats(trades: Sequence[Trade], now_ms: int
              ) -> tuple[Decimal | None, Decimal | None, Decimal | None, Decimal]:
    """(high, low, price change in percent, volume in coin) of the last 24 hours."""
    recent = [t for t in trades if t.timestamp > now_ms - DAY_MS]
    if not recent:
        return None, None, None, Decimal(0)
    prices = [t.instrument.price(t.price) for t in recent]
    first, last = prices[0], prices[-1]
    change = ((last - first) / first * 100).quantize(Decimal("0.0001"))
    return max(prices), min(prices), change, sum((trade_coin(t) for t in recent), Decimal(0))
