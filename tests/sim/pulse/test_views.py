"""Views: every field of the document's shapes, USD amounts, exact numbers, string decimals."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kana_async.sim.pulse import views
from kana_async.sim.pulse.domain import (
    AccountSummary,
    BookSummary,
    Candles,
    Deposit,
    FundingRound,
    MMPConfig,
    Order,
    PositionReport,
    Settlement,
    Trade,
)
from kana_async.sim.pulse.instruments import DEFAULT_INSTRUMENTS

FIXTURES = Path(__file__).parent / "fixtures"
BTC, ETH = DEFAULT_INSTRUMENTS   # 10 USD contracts, tick 0.5 / 1 USD contracts, tick 0.05
D = Decimal


def example(name: str) -> Any:
    """The document's 200 example of method ``name``."""
    return json.loads((FIXTURES / f"{name}.json").read_text())["response_200_example"]


def roundtrip(value: Any) -> Any:
    return json.loads(views.encode(value))


def make_order(**changes: Any) -> Order:
    fields: dict[str, Any] = dict(
        order_id=0xABC, owner="alice", instrument=BTC, direction="buy", order_type="limit",
        amount=5, price=120_001, time_in_force="good_til_cancelled", label="mine",
        remaining=3, filled=2, notional_filled=D("60000.5") * 2, state="open",
        creation_ms=1_700_000_000_000, update_ms=1_700_000_000_500)
    fields.update(changes)
    return Order(**fields)


def make_trade(**changes: Any) -> Trade:
    fields: dict[str, Any] = dict(
        trade_seq=7, trade_id="00000000000000000000002a", instrument=BTC,
        timestamp=1_700_000_000_123, price=120_001, amount=3, taker_direction="sell",
        taker="bob", maker="alice", taker_order_id=0xB0B, maker_order_id=0xABC,
        taker_order_type="market", maker_order_type="limit", taker_label="bobs",
        maker_label="mine", taker_fee=D("0.00000025"), maker_fee=D(0),
        index_price=D("60000.25"), mark_price=D("60000.1"), tick_direction=2)
    fields.update(changes)
    return Trade(**fields)


def test_order_confirmation_has_every_field_in_usd() -> None:
    out = views.order_confirmation(make_order())
    doc = example("private.cancel")
    assert set(out) == set(doc)
    assert out["amount"] == 50
    assert out["filled_amount"] == 20
    assert out["price"] == D("60000.5")
    assert out["average_price"] == D("60000.5")
    assert out["order_id"] == "000000000000000000000abc"
    assert out["max_show"] == 50                                        # none given: all shown
    assert out["creation_timestamp"] == 1_700_000_000_000
    assert out["last_update_timestamp"] == 1_700_000_000_500
    assert out["trigger"] is None
    assert out["trigger_price"] is None
    assert out["linked_order_type"] is None
    assert out["usd"] is None
    assert out["is_primary_otoco"] is False
    assert out["is_secondary_oto"] is False
    assert roundtrip(out)["price"] == 60000.5
    for key, value in out.items():  # same JSON types as the document where both are set
        if value is not None and doc[key] is not None and key != "oto_order_ids":
            assert isinstance(roundtrip(value), type(doc[key])) or (
                isinstance(doc[key], (int, float)) and isinstance(value, (int, Decimal))), key


def test_order_confirmation_of_trigger_market_and_unfilled_orders() -> None:
    trigger = views.order_confirmation(make_order(
        order_type="stop_market", price=0, trigger="index_price", trigger_price=110_000,
        filled=0, notional_filled=D(0), state="untriggered", max_show=1))
    assert trigger["price"] is None
    assert trigger["trigger_price"] == 55000
    assert trigger["average_price"] == 0
    assert trigger["filled_amount"] == 0
    assert trigger["order_state"] == "untriggered"
    assert trigger["max_show"] == 10
    cancelled = views.order_confirmation(make_order(state="cancelled",
                                                    cancel_reason="user_request"))
    assert cancelled["cancel_reason"] == "user_request"


def test_trade_confirmation_is_the_viewers_side() -> None:
    trade = make_trade()
    doc = example("private.buy")["trades"][0]
    maker = views.trade_confirmation(trade, "alice", state="open")
    taker = views.trade_confirmation(trade, "bob", state="filled")
    assert set(maker) == set(doc) == set(taker)
    assert maker["direction"] == "buy"
    assert taker["direction"] == "sell"
    assert maker["order_id"] == "000000000000000000000abc"
    assert maker["label"] == "mine"
    assert taker["order_id"] == "000000000000000000000b0b"
    assert taker["label"] == "bobs"
    assert taker["order_type"] == "market"
    assert taker["state"] == "filled"
    assert maker["amount"] == 30
    assert maker["price"] == D("60000.5")
    assert maker["index_price"] == D("60000.25")
    assert maker["mark_price"] == D("60000.1")
    assert maker["underlying_index"] == "btc_usd"


def test_trades_response_adds_order_id_for_a_party_only() -> None:
    trade = make_trade()
    doc = example("public.last_trades_by_instrument")[0]
    public = views.trades_response(trade)
    assert set(public) == set(doc)
    assert public["direction"] == "sell"                    # the taker's side
    mine = views.trades_response(trade, "alice")
    assert set(mine) == set(doc) | {"order_id"}
    assert mine["direction"] == "buy"
    assert mine["order_id"] == "000000000000000000000abc"
    assert views.trades_response(trade, "carol") == public


def position_report(**changes: Any) -> PositionReport:
    fields: dict[str, Any] = dict(
        instrument_name="BTC_USD-PERPETUAL", kind="future", direction="buy", size=D(100),
        size_currency=D("0.00166667"), size_out=D(0), average_price=D("60000.5"),
        mark_price=D("60010"), index_price=D("60000"), settlement_price=D(0),
        estimated_liquidation_price=None, delta=D("0.00166667"),
        floating_profit_loss=D("0.00000028"), realized_profit_loss=D(0),
        total_profit_loss=D("0.00000028"), interest_value=D(0), initial_margin=D("0.00003333"),
        maintenance_margin=D("0.00001667"), open_orders_margin=D(0), leverage=50)
    fields.update(changes)
    return PositionReport(**fields)


def test_position_confirmation_has_every_field() -> None:
    out = views.position_confirmation(position_report())
    assert set(out) == set(example("private.get_positions")[0])
    assert out["size"] == 100
    assert out["mark_price"] == 60010
    assert isinstance(out["size"], int)
    assert out["delta"] == D("0.00166667")
    assert out["estimated_liquidation_price"] is None
    assert roundtrip(out)["delta"] == 0.00166667


def test_account_summary_has_every_field() -> None:
    summary = AccountSummary(
        id="00000000000000000000000a", email="alice@sim.invalid", currency="BTC",
        creation_timestamp=1_700_000_000_000, balance=D(10), equity=D("10.00000028"),
        margin_balance=D("10.00000028"), initial_margin=D(0), maintenance_margin=D(0),
        session_rpl=D(0), session_upl=D("0.00000028"), futures_session_rpl=D(0),
        futures_session_upl=D("0.00000028"), options_session_rpl=D(0),
        options_session_upl=D(0), total_pl=D("0.00000028"))
    out = views.account_summary(summary)
    assert set(out) == set(example("private.get_account_summary"))
    assert out["balance"] == 10
    assert out["equity"] == D("10.00000028")


def test_book_summary_has_every_field_and_price_amount_levels() -> None:
    book = BookSummary(
        instrument_name="BTC_USD-PERPETUAL", timestamp=1_700_000_000_000,
        bids=[[D("59999.5"), D(100)], [D("59999.0"), D(20)]], asks=[[D("60000.5"), D(50)]],
        best_bid_price=D("59999.5"), best_bid_amount=D(100), best_ask_price=D("60000.5"),
        best_ask_amount=D(50), last_price=None, index_price=D(60000), mark_price=D(60000),
        settlement_price=D(60000), underlying_price=D(60000), stats_high=None,
        stats_low=None, stats_price_change=None, stats_volume=D(0))
    out = views.book_summary(book)
    doc = example("private.get_order_book")
    assert set(out) - {"mark_price"} == set(doc)                # plus Deribit's mark_price
    assert set(out["stats"]) == set(doc["stats"])
    assert out["bids"] == [[D("59999.5"), 100], [59999, 20]]
    assert roundtrip(out)["asks"] == [[60000.5, 50]]
    assert out["greeks"] is None
    assert out["state"] == "open"
    assert out["underlying_index"] == "index_price"
    assert out["last_price"] is None


def test_candles_deposits_settlements_mmp_and_delivery_prices() -> None:
    bars = Candles(ticks=[1_700_000_040_000], open=[D("60000.5")], high=[D(60001)],
                   low=[D(60000)], close=[D(60001)], volume=[D("0.00033333")],
                   cost=[D(20)], status="ok")
    out = views.candles(bars)
    assert set(out) == set(example("private.get_tradingview_chart_data"))
    assert out["open"] == [D("60000.5")]
    assert out["ticks"] == [1_700_000_040_000]

    dep = views.deposit(Deposit(D(10), "BTC", 1_700_000_000_000, "completed", "ab" * 12))
    assert set(dep) == set(example("private.get_deposits")[0])
    assert dep["amount"] == 10

    loss = Settlement(BTC, 1_700_000_060_000, D("60000.25"), "long", D("-0.00000001"))
    out = views.settlement(loss)
    assert set(out) == set(example("private.get_settlement_history_by_currency")[0])
    assert out["index_price"] == "60000.25"
    assert out["profit_loss"] == "-0.00000001"
    assert out["type"] == "settlement"
    assert out["instrument_name"] == "BTC_USD-PERPETUAL"

    mmp = views.mmp_config(MMPConfig("btc_usd", D(10), D("2.5"), D(1000)))
    assert mmp == {"frozen_time": D("2.5"), "index_name": "btc_usd", "interval": 10,
                   "quantity_limit": 1000}
    assert set(mmp) == set(example("private.get_mmp_config"))

    price = views.delivery_price("2023-11-14", D("60000.125"))
    assert set(price) == set(example("public.get_delivery_prices")[0])


def funding_round() -> FundingRound:
    return FundingRound(
        instrument=ETH, range_start=1_700_000_000_000, range_end=1_700_000_060_000,
        rate=D("0.00010000"), paid=D("0.00000150"), volume=D(3000), perp_open=D("3000.05"),
        perp_high=D("3001"), perp_low=D("2999.5"), perp_close=D("3000"), spot_open=D(3000),
        spot_high=D("3000.5"), spot_low=D("2999"), spot_close=D("3000.25"))


def test_funding_chart_and_notifications() -> None:
    chart = views.funding_chart([funding_round()], D("0.0001"))
    doc = example("public.get_funding_chart_data")
    assert set(chart) == set(doc)
    assert set(chart["funding_payments"][0]) == set(doc["funding_payments"][0])
    assert set(chart["funding_prices"][0]) == set(doc["funding_prices"][0])
    assert chart["funding_payments"][0]["payment"] == D("0.0000015")
    assert chart["funding_prices"][0]["timestamp"] == 1_700_000_060_000
    rate = views.funding_rate(funding_round())
    assert rate == {"instrument_name": "ETH_USD-PERPETUAL", "range_end": 1_700_000_060_000,
                    "range_start": 1_700_000_000_000, "rate": "0.00010000"}
    pay = views.funding_payment(funding_round())
    assert pay == {"amount": "0.00000150", "instrument_name": "ETH_USD-PERPETUAL",
                   "volume": "3000"}
    price = views.funding_price(funding_round(), 1_700_000_060_000)
    assert price["range_start"] == "2023-11-14T22:13:20.000Z"
    assert price["perpetual_price"] == {"close": "3000", "high": "3001", "low": "2999.5",
                                        "open": "3000.05"}
    assert price["metadata"]["type"] == "twap"


def test_instrument_has_the_documents_fields_plus_tick_size() -> None:
    out = views.instrument(BTC)
    assert set(example("private.get_instruments")[0]) <= set(out)
    assert out["base_currency"] == "BTC"
    assert out["quote_currency"] == "USD"
    assert out["contract_size"] == 10
    assert out["tick_size"] == D("0.5")
    assert out["price_index"] == "btc_usd"
    assert out["kind"] == "future"


def test_message_is_the_documents_connection_message() -> None:
    assert views.message() == example("public.set_heartbeat")


@pytest.mark.parametrize("text", ["0.1", "60000.5", "0.00000001", "123456789.123456789",
                                  "-0.00000025"])
def test_encode_writes_decimals_as_exact_json_numbers(text: str) -> None:
    encoded = views.encode({"x": D(text)})
    assert views.decode(encoded)["x"] == D(text)
    assert json.loads(encoded)["x"] == float(text)


def test_num_writes_integral_values_without_a_fraction() -> None:
    assert views.encode([views.num(D("60000.0")), views.num(D("10")), views.num(None)]) == (
        b"[60000,10,null]")
    assert views.decode(b'{"a": 1.50, "b": 2}') == {"a": D("1.50"), "b": 2}
