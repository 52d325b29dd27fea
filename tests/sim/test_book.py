"""The order book alone: price-time priority, partial fills, self-match, level totals, undo."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from kana_async.sim.book import OrderBook, SelfMatchError


@dataclass
class Entry:
    order_id: int
    owner: str
    is_ask: bool
    price: int
    remaining: int


def book_with(*entries: Entry) -> OrderBook[Entry]:
    book: OrderBook[Entry] = OrderBook()
    for entry in entries:
        book.add(entry)
    return book


def test_best_prices_and_depth_are_sorted_from_the_touch() -> None:
    book = book_with(
        Entry(1, "a", False, 98, 5), Entry(2, "a", False, 99, 1), Entry(3, "a", False, 99, 2),
        Entry(4, "b", True, 102, 3), Entry(5, "b", True, 101, 4),
    )
    assert book.best(False) == 99
    assert book.best(True) == 101
    assert book.depth(False) == [(99, 3), (98, 5)]
    assert book.depth(True) == [(101, 4), (102, 3)]
    assert book.depth(True, 1) == [(101, 4)]


def test_better_price_fills_first_then_older_order_at_the_same_price() -> None:
    first, second, worse = Entry(1, "a", True, 100, 2), Entry(2, "b", True, 100, 2), Entry(
        3, "c", True, 99, 1
    )
    book = book_with(first, second, worse)
    fills = book.match(False, 100, 4, "taker")
    assert [(f.maker.order_id, f.lots, f.price) for f in fills] == [(3, 1, 99), (1, 2, 100),
                                                                    (2, 1, 100)]
    assert second.remaining == 1
    assert 1 not in book
    assert 3 not in book
    assert 2 in book
    assert book.depth(True) == [(100, 1)]


def test_limit_stops_the_walk_and_market_order_takes_everything() -> None:
    book = book_with(Entry(1, "a", False, 100, 2), Entry(2, "a", False, 90, 2))
    assert [f.price for f in book.match(True, 95, 10, "t")] == [100]
    assert book.best(False) == 90
    assert [f.lots for f in book.match(True, None, 10, "t")] == [2]
    assert book.best(False) is None
    assert len(book) == 0


def test_fillable_and_crosses_do_not_change_the_book() -> None:
    book = book_with(Entry(1, "a", True, 100, 2), Entry(2, "a", True, 101, 3))
    assert book.fillable(False, 100, 10) == 2
    assert book.fillable(False, None, 4) == 4
    assert book.fillable(False, 99, 1) == 0
    assert book.crosses(False, 100)
    assert not book.crosses(False, 99)
    assert not book.crosses(True, 50)
    assert book.depth(True) == [(100, 2), (101, 3)]


def test_self_match_raises_before_any_fill() -> None:
    other, own = Entry(1, "a", True, 100, 1), Entry(2, "me", True, 101, 1)
    book = book_with(other, own)
    with pytest.raises(SelfMatchError):
        book.match(False, 101, 2, "me")
    assert other.remaining == 1
    assert len(book) == 2
    # Not reached by the size or the limit: no self-match.
    assert [f.maker for f in book.match(False, 100, 1, "me")] == [other]


def test_remove_and_duplicate_add() -> None:
    entry = Entry(7, "a", False, 10, 1)
    book = book_with(entry)
    with pytest.raises(ValueError, match="already"):
        book.add(entry)
    assert book.remove(7) is entry
    assert book.best(False) is None
    with pytest.raises(KeyError):
        book.remove(7)


def snapshot(book: OrderBook[Entry]) -> list[tuple[bool, int, int, list[tuple[int, int]]]]:
    """Every level with its total and its queue (ids and sizes) in priority order."""
    out = []
    for is_ask in (False, True):
        for price, total in book.depth(is_ask):
            queue = [(o.order_id, o.remaining) for o in book._levels[is_ask][price]]
            out.append((is_ask, price, total, queue))
    return out


def rollback(book: OrderBook[Entry]) -> None:
    journal, book.journal = book.journal, None
    assert journal is not None
    for undo in reversed(journal):
        undo()


def test_level_totals_and_owners_follow_every_change() -> None:
    book = book_with(Entry(1, "a", True, 100, 5), Entry(2, "b", True, 100, 3),
                     Entry(3, "a", True, 101, 4))
    assert book.depth(True) == [(100, 8), (101, 4)]
    assert sorted(o.order_id for o in book.owned("a")) == [1, 3]
    book.match(False, None, 6, "t")
    assert book.depth(True) == [(100, 2), (101, 4)]
    assert [o.order_id for o in book.owned("a")] == [3]
    book.remove(2)
    book.remove(3)
    assert book.depth(True) == []
    assert book.owned("a") == []
    assert book.owned("b") == []
    assert book._owners == {}
    assert book._sizes == ({}, {})


def test_journal_rollback_restores_queues_sizes_and_owners_exactly() -> None:
    entries = [Entry(i, "abc"[i % 3], i % 2 == 0, 100 + i % 4, i + 1) for i in range(12)]
    book = book_with(*entries)
    before = snapshot(book)
    remaining = {e.order_id: e.remaining for e in entries}
    book.journal = []
    book.remove(5)  # from the middle of a queue
    book.add(Entry(50, "z", True, 99, 7))  # a new level
    book.match(False, None, 30, "t")  # empties several ask levels
    book.match(True, 101, 3, "t")  # a partial fill of the best bid
    book.remove(50 if 50 in book else 1)
    assert snapshot(book) != before
    rollback(book)
    assert snapshot(book) == before
    assert {e.order_id: e.remaining for e in entries} == remaining
    assert sorted(o.order_id for o in book.owned("a")) == [0, 3, 6, 9]
    assert len(book) == 12
    assert 50 not in book
    # Without a journal nothing is recorded.
    book.remove(0)
    assert book.journal is None


def test_cost_of_a_change_does_not_depend_on_the_rest_of_the_book() -> None:
    """Structural: a change journals a fixed number of steps, whatever the book holds."""
    book: OrderBook[Entry] = OrderBook()
    for i in range(2000):
        book.add(Entry(i, f"o{i % 50}", True, 1000 + i, 1))
    book.journal = []
    book.add(Entry(9999, "me", False, 10, 1))
    book.remove(1500)
    book.match(False, 1001, 2, "t")
    # add 1 + remove 1 + two fills of one full maker each (size change + removal)
    assert len(book.journal) == 6


def test_shrink_keeps_the_queue_place_and_is_journalled() -> None:
    book: OrderBook[Entry] = OrderBook()
    first, second = Entry(1, "a", True, 100, 5), Entry(2, "b", True, 100, 5)
    book.add(first)
    book.add(second)
    book.journal = []
    book.shrink(1, 3)
    assert book.depth(True) == [(100, 7)]
    assert [fill.maker.order_id for fill in book.match(False, None, 3, "c")] == [1, 2]
    for undo in reversed(book.journal):
        undo()
    book.journal = None
    assert book.depth(True) == [(100, 10)]
    assert first.remaining == 5
    with pytest.raises(ValueError, match="by 0 to 4 lots"):
        book.shrink(1, 5)
