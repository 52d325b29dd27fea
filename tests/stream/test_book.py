"""OrderBook: sides split and sorted, best levels, mid and spread."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from kana_async.models import OrderBookLevel
from kana_async.stream.book import OrderBook
from tests.conftest import load_fixture

LEVELS = msgspec.json.Decoder(list[OrderBookLevel], strict=False)


def levels(*rows: tuple[str, str, bool]) -> list[OrderBookLevel]:
    return [OrderBookLevel(market_id=14, price=Decimal(p), size=Decimal(s), is_ask=ask)
            for p, s, ask in rows]


def test_sides_are_sorted_whatever_the_wire_order() -> None:
    book = OrderBook.from_levels(levels(
        ("5.1", "1", True), ("4.9", "2", False), ("5.0", "3", True), ("4.95", "4", False),
    ))
    assert [lv.price for lv in book.bids] == [Decimal("4.95"), Decimal("4.9")]
    assert [lv.price for lv in book.asks] == [Decimal("5.0"), Decimal("5.1")]
    assert book.best_bid is not None
    assert book.best_bid.size == Decimal("4")
    assert book.best_ask is not None
    assert book.best_ask.price == Decimal("5.0")
    assert book.mid == Decimal("4.975")
    assert book.spread == Decimal("0.05")
    assert book.market_id == 14


def test_one_sided_and_empty_books() -> None:
    one_sided = OrderBook.from_levels(levels(("5", "1", True)))
    assert one_sided.best_bid is None
    assert one_sided.mid is None
    assert one_sided.spread is None
    empty = OrderBook.from_levels([], market_id=1338)
    assert empty.market_id == 1338
    assert (empty.bids, empty.asks, empty.last_updated) == ((), (), None)
    assert "best_bid=None" in repr(empty)


def test_the_documented_legacy_snapshot() -> None:
    body = load_fixture("ws_orderbook.json")["examples"][1]["body"]
    book = OrderBook.from_levels(LEVELS.decode(msgspec.json.encode(body["data"])))
    assert len(book.bids) == 10
    assert len(book.asks) == 9
    assert book.best_bid is not None
    assert book.best_bid.price == Decimal("6031")
    assert book.best_ask is not None
    assert book.best_ask.price == Decimal("6036")
    assert book.spread == Decimal("5")
    assert book.last_updated == 1739790996
    prices = [lv.price for lv in book.bids]
    assert prices == sorted(prices, reverse=True)


def test_json_number_prices_keep_their_exact_decimal_text() -> None:
    body = load_fixture("ws_orderbook.json")["examples"][0]["body"]
    book = OrderBook.from_levels(LEVELS.decode(msgspec.json.encode(body["data"])))
    assert book.best_ask is not None
    assert book.best_ask.price == Decimal("5.768")
    assert str(book.best_ask.price) == "5.768"


def test_equality_compares_content() -> None:
    rows = levels(("5", "1", True), ("4", "1", False))
    assert OrderBook.from_levels(rows) == OrderBook.from_levels(list(reversed(rows)))
    assert OrderBook.from_levels(rows) != OrderBook.from_levels(rows[:1])
