"""The terminal views render empty and full data, and show the figures they are given."""

from __future__ import annotations

import io
from dataclasses import dataclass
from decimal import Decimal

import pytest
from rich.console import Console, RenderableType

from kana_async.cli.views import (
    Grid,
    anomalies,
    book_top,
    decimals,
    fmt,
    format_decimal,
    format_seconds,
    funding_rates,
    on_grid,
    open_orders,
    order_log,
    position_card,
    positions,
    stream_stats,
    unrealized_pnl,
)
from kana_async.models import FundingRate, OpenOrder, OrderBookLevel, Position
from kana_async.stream.book import OrderBook
from kana_async.stream.mux import StreamStats
from kana_async.stream.subscription import SubscriptionStats

D = Decimal


def render(renderable: RenderableType, width: int = 100) -> str:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(renderable)
    return out.getvalue()


def level(price: str, size: str, is_ask: bool) -> OrderBookLevel:
    return OrderBookLevel(market_id=1338, price=D(price), size=D(size), is_ask=is_ask)


def full_book() -> OrderBook:
    asks = [level(f"5.70{i}", "2", True) for i in range(2, 9)]
    bids = [level(f"5.69{i}", "1.5", False) for i in range(9, 1, -1)]
    return OrderBook.from_levels(asks + bids)


def position(side: bool | None = True, **fields: object) -> Position:
    values: dict[str, object] = dict(
        address="0x1", market_id=1338, size=D("2"), entry_price=D("5.000"), value=D("10"),
        leverage=2, margin=D("5"), trade_side=side,
    )
    values.update(fields)
    return Position(**values)  # type: ignore[arg-type]


# -- formatting ------------------------------------------------------------------------------


def test_format_decimal() -> None:
    assert format_decimal(None) == "–"
    assert format_decimal(D("1234567.5")) == "1,234,567.5"
    assert format_decimal(D("0.00015"), 4) == "0.0002"
    assert format_decimal(D("2.5"), 2, sign=True) == "+2.50"
    assert format_decimal(D("-2.5"), sign=True) == "-2.5"


def test_plain_output_writes_the_same_digits_without_separators() -> None:
    assert fmt(D("1E+1")) == "10"
    assert fmt(D("1234567.50")) == "1234567.50"
    assert format_decimal(D("1234567.50"), grouping=False) == "1234567.50"
    assert fmt(D("-0.0001")) == format_decimal(D("-0.0001"))
    assert (fmt(None), fmt(True), fmt(3)) == ("-", "yes", "3")


def test_decimals_of_a_step() -> None:
    assert decimals(D("0.00100000")) == 3
    assert decimals(D("1")) == 0
    assert decimals(D("1E+1")) == 0
    assert Grid(tick=D("0.010"), lot=D("1E+1")).price_places == 2


def test_format_seconds() -> None:
    assert format_seconds(None) == "–"
    assert format_seconds(0.0123) == "12.3 ms"
    assert format_seconds(1.254) == "1.25 s"
    assert format_seconds(30.04, 1) == "30.0 s"
    assert format_seconds(0.5, 1) == "500.0 ms"


# -- the book --------------------------------------------------------------------------------


def test_book_top_shows_best_levels_mid_and_spread() -> None:
    text = render(book_top(full_book(), depth=3, title="APT", own_prices=[D("5.698")]))
    lines = text.splitlines()
    assert "APT" in lines[0]
    prices = [line.lstrip("* ").split()[0] for line in lines if line.lstrip("* ")[:2] == "5."]
    # Asks above, best (lowest) just over the mid; bids below, best first.
    assert prices == ["5.704", "5.703", "5.702", "5.7005", "5.699", "5.698", "5.697"]
    assert "spread 0.003" in text
    assert "5.708" not in text  # deeper than 3 levels
    (own,) = [line for line in lines if line.startswith("*")]
    assert "5.698" in own
    assert "4.5" in [line.split()[-1] for line in lines if "5.697" in line]  # cumulative size


def test_book_top_without_data() -> None:
    assert "waiting for the book" in render(book_top(None))
    text = render(book_top(OrderBook(1338, [])))
    for words in ("no asks", "no bids", "one side empty"):
        assert words in text
    only_bids = render(book_top(OrderBook.from_levels([level("5", "1", False)])))
    assert "no asks" in only_bids
    assert "one side empty" in only_bids


def test_book_top_refuses_a_depth_below_one() -> None:
    with pytest.raises(ValueError, match="depth"):
        book_top(full_book(), depth=0)


def test_book_top_fixed_size_decimals_line_up() -> None:
    text = render(book_top(full_book(), depth=2, size_places=3))
    for size in ("2.000", "1.500", "3.000", "4.000"):
        assert size in text


# -- positions -------------------------------------------------------------------------------


def test_unrealized_pnl_long_short_and_unknown() -> None:
    assert unrealized_pnl(position(True), D("5.5")) == D("1.0")
    assert unrealized_pnl(position(False), D("5.5")) == D("-1.0")
    assert unrealized_pnl(position(False), D("4.75")) == D("0.50")
    assert unrealized_pnl(position(True), None) is None
    assert unrealized_pnl(position(None), D("5")) is None


def test_positions_view() -> None:
    text = render(positions(
        [position(True, tp=D("6.5"), sl=D("4.2"), liq_price=D("2.6")),
         position(False, market_id=1339, size=D("0.01"))],
        {1338: D("5.25")},
    ))
    (long,) = [line for line in text.splitlines() if "long" in line]
    for cell in ("1338", "5.000", "5.25", "+0.5000", "6.5", "4.2", "2.6"):
        assert cell in long.split()
    (short,) = [line for line in text.splitlines() if "short" in line]
    assert "1339" in short
    assert "–" in short  # no mark for that market: no PnL either
    assert "no open position" in render(positions([]))


def test_position_card() -> None:
    text = render(position_card(position(True, tp=D("6.5"), sl=D("4.2")), D("5.25"),
                                realized_pnl=D("-0.25")))
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines()[1:]}
    assert rows["side"] == ["long"]
    assert rows["unrealized"] == ["+0.500000"]
    assert rows["TP"] == ["/", "SL", "6.5", "/", "4.2"]
    assert rows["realized"] == ["-0.250000"]
    assert text.splitlines()[0] == "Position"
    empty = render(position_card(None, title=None))
    assert empty.strip() == "no open position"
    short = render(position_card(position(False), None))
    assert "short" in short
    assert not [line for line in short.splitlines() if line.startswith("realized")]


# -- orders, funding, stream -----------------------------------------------------------------


def test_open_orders_view_shortens_long_ids() -> None:
    order = OpenOrder(address="0x1", order_id="1" * 30 + "987654321012", market_id=1338,
                      order_type=1, price=D("5.5"), total_size=D("2"), remaining_size=D("1.5"),
                      leverage=3, timestamp=0)
    text = render(open_orders([order]))
    assert "…987654321012" in text
    assert "3x" in text
    assert "nothing rests" in render(open_orders([]))


def test_funding_rates_view_in_percent() -> None:
    rates = [FundingRate(market_id=1339, funding_rate=D("-0.0001")),
             FundingRate(market_id=1338, funding_rate=D("0.000125"))]
    text = render(funding_rates(rates, names={1338: "APT/USDC"}))
    lines = text.splitlines()
    (apt,) = [line for line in lines if "APT/USDC" in line]
    assert "+0.0125 %" in apt
    (btc,) = [line for line in lines if "1339" in line]
    assert "-0.0100 %" in btc
    assert lines.index(apt) < lines.index(btc)
    assert "no funding rate yet" in render(funding_rates([]))


def sub_stats(topic: str, received: int, dropped: int = 0) -> SubscriptionStats:
    return SubscriptionStats(
        topic=topic, key="k", overflow="keep_latest", capacity=1, received=received,
        delivered=received - 1, conflated=1, dropped=dropped, decode_errors=0, gaps=0,
        buffered=0, last_received=None, closed=False,
    )


def mux_stats(*subs: SubscriptionStats, connected: bool = True, malformed: int = 0
              ) -> StreamStats:
    return StreamStats(
        url="ws://127.0.0.1:1/ws/", connected=connected, connected_for=1.0, connects=1,
        disconnects=0, reconnect_attempt=0, frames=12_345, ignored=0, malformed=malformed,
        server_error=0, unknown_topic=0, unroutable=0, unattributed=0, routed_by_shape=0,
        subscriptions=list(subs),
    )


def test_stream_stats_view() -> None:
    text = render(stream_stats(mux_stats(sub_stats("orderbook", 1200),
                                         sub_stats("positions", 7, dropped=2))))
    (book,) = [line for line in text.splitlines() if "orderbook" in line]
    assert book.split()[1:4] == ["1,200", "1,199", "1"]
    (pos,) = [line for line in text.splitlines() if "positions" in line]
    assert pos.split()[4] == "2"
    assert "connected" in text
    assert "frames 12,345" in text
    assert "anomalies" not in text
    broken = render(stream_stats(mux_stats(connected=False, malformed=3)))
    assert "disconnected" in broken
    assert "anomalies 3" in broken
    assert anomalies(mux_stats(malformed=3)) == 3
    assert "no subscription" in broken
    assert "stream not open" in render(stream_stats(None))


@dataclass
class Line:
    action: str
    outcome: str
    confirm_seconds: float | None
    seen_seconds: float | None


def test_order_log_view() -> None:
    lines = [Line(f"limit buy {i}", "ok", 0.01 * i, 0.02 * i) for i in range(1, 5)]
    lines.append(Line("cancel 1", "pending", None, None))
    text = render(order_log(lines, limit=3))
    assert "limit buy 1" not in text
    assert "limit buy 4" in text
    assert "40.0 ms" in text
    (pending,) = [line for line in text.splitlines() if "cancel 1" in line]
    assert pending.split()[2:] == ["pending", "–", "–"]
    assert "no order yet" in render(order_log([]))
    assert "no order yet" in render(order_log(lines, limit=0))


# -- numbers on the market's grid ------------------------------------------------------------


APT_GRID = Grid(tick=D("0.001"), lot=D("0.001"), quote_decimals=6)
BTC_GRID = Grid(tick=D("1"), lot=D("0.00001"), quote_decimals=6)


def test_the_grid_writes_the_market_decimals_whatever_the_wire_sent() -> None:
    assert str(APT_GRID.price(D("5.76"))) == "5.760"
    assert str(BTC_GRID.price(D("94896.0"))) == "94896"
    assert str(BTC_GRID.size(D("0.1841"))) == "0.18410"
    assert str(APT_GRID.money(D("100000.000000000000000000000"))) == "100000.000000"
    # Off the grid (an average entry, a mid between ticks): data keeps every digit, a view
    # rounds.
    assert str(APT_GRID.price(D("5.7595"))) == "5.7595"
    assert str(APT_GRID.price(D("5.7595"), rounded=True)) == "5.760"
    assert APT_GRID.price(None) is None
    assert (APT_GRID.price_places, BTC_GRID.price_places, BTC_GRID.size_places) == (3, 0, 5)


def test_records_are_put_on_their_market_grid() -> None:
    p = Position(address="0x1", market_id=1338, size=D("2"), entry_price=D("5.7"),
                 value=D("11.4"), leverage=2, margin=D("5.700000000000000000000000000"),
                 trade_side=True, tp=D("6"))
    shown = on_grid([p], {1338: APT_GRID})[0]
    assert (str(shown.size), str(shown.entry_price), str(shown.margin), str(shown.tp)) == (
        "2.000", "5.700", "5.700000", "6.000")
    assert shown.sl is None
    assert on_grid(p, {}) is p  # an unknown market: as it came
    book = on_grid(OrderBook(1339, [OrderBookLevel(market_id=1339, price=D("94896.0"),
                                                     size=D("0.1841"), is_ask=False)]),
                   {1339: BTC_GRID})
    assert (str(book.bids[0].price), str(book.bids[0].size)) == ("94896", "0.18410")


def test_the_book_lines_prices_up_on_the_tick() -> None:
    book = OrderBook(1338, [level("5.76", "1", False), level("5.759", "2", False),
                              level("5.77", "1", True)])
    text = render(book_top(book, grid=APT_GRID))
    assert "5.760" in text
    assert "5.759" in text
    assert "5.770" in text
    assert "spread 0.010" in text
    assert " 5.76 " not in text


def test_positions_with_long_wire_amounts_stay_one_line_in_80_columns() -> None:
    # Amounts as a simulator may answer them: 28 significant digits.
    p = Position(address="0x1", market_id=1338, size=D("2.000000000000000000000000000"),
                 entry_price=D("5.732123456789012345678901234"),
                 value=D("11.46400000000000000000000000"), leverage=2,
                 margin=D("5.732000000000000000000000000"),
                 liq_price=D("2.939123456789012345678901234"), trade_side=True,
                 tp=D("6.018000000000000000000000000"), sl=D("5.445000000000000000000000000"))
    text = render(positions([p], {1338: D("5.7305")}, grids={1338: APT_GRID},
                            names={1338: "APT"}, width=80), width=80)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80, text
    (row,) = [line for line in lines if "long" in line]
    assert row.split() == ["APT", "long", "2.000", "5.732", "5.730", "-0.003247", "5.732000",
                           "2.939", "6.018", "5.445"], text
    # Narrower: the least needed columns go, and the caption says so; no number is cut.
    text = render(positions([p], {1338: D("5.7305")}, grids={1338: APT_GRID},
                            names={1338: "APT"}, width=50), width=50)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 50, text
    (row,) = [line for line in lines if "long" in line]
    assert row.split() == ["APT", "long", "2.000", "5.732", "5.730", "-0.003247", "5.732000"]
    assert "liq., TP, SL left out" in text
