"""Channel payloads and the book feed's change_id chain, from hand-made book levels."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from kana_async.sim.pulse.channels import (
    BookFeed,
    Level,
    heartbeat_trade,
    mmp_trigger,
    price_notification,
    quote,
    user_changes,
    user_fee,
)
from kana_async.sim.pulse.instruments import DEFAULT_INSTRUMENTS

BTC, ETH = DEFAULT_INSTRUMENTS  # BTC: 10 USD contracts, tick 0.5


def apply(book: dict[str, dict[Any, Any]], note: dict[str, Any]) -> None:
    """A client's view: a snapshot resets, a change applies level by level."""
    if note["type"] == "snapshot":
        book["bids"], book["asks"] = {}, {}
    for side in ("bids", "asks"):
        for action, price, amount in note[side]:
            if action == "delete":
                book[side].pop(price, None)
            else:
                book[side][price] = amount


def published(bids: list[Level], asks: list[Level]) -> dict[str, dict[Any, Any]]:
    return {
        "bids": {BTC.price(t): BTC.amount(c) for t, c in bids},
        "asks": {BTC.price(t): BTC.amount(c) for t, c in asks},
    }


def test_first_update_primes_and_snapshot_matches_the_document() -> None:
    feed = BookFeed(BTC)
    assert not feed.primed
    with pytest.raises(RuntimeError):
        feed.snapshot(1)
    assert feed.update([(120000, 3), (119999, 1)], [(120001, 2)], 5) is None
    snap = feed.snapshot(1687352432143)
    assert snap == {
        "type": "snapshot", "change_id": 1, "prev_change_id": 0,
        "bids": [["new", 60000, 30], ["new", Decimal("59999.5"), 10]],
        "asks": [["new", Decimal("60000.5"), 20]],
        "instrument_name": "BTC_USD-PERPETUAL", "timestamp": 1687352432143,
    }


def test_changes_chain_and_rebuild_the_book() -> None:
    feed = BookFeed(BTC)
    states: list[tuple[list[Level], list[Level]]] = [
        ([(100, 1), (99, 2)], [(101, 1)]),
        ([(100, 1), (99, 5)], [(101, 1)]),            # change
        ([(99, 5)], [(101, 1), (102, 4)]),             # delete + new
        ([(99, 5)], [(101, 1), (102, 4)]),             # nothing
        ([(100, 7), (99, 5), (98, 1)], []),            # asks emptied
    ]
    feed.update(*states[0], timestamp=1)
    client: dict[str, dict[Any, Any]] = {}
    apply(client, feed.snapshot(1))
    last = 1
    for n, (bids, asks) in enumerate(states[1:], 2):
        note = feed.update(bids, asks, n)
        if n == 4:
            assert note is None
            continue
        assert note is not None
        assert note["type"] == "change"
        assert note["prev_change_id"] == last
        assert note["change_id"] == last + 1
        last = note["change_id"]
        apply(client, note)
        assert client == published(bids, asks)
    change = feed.update([(100, 7)], [], 9)
    assert change is not None
    assert change["bids"] == [["delete", Decimal("49.5"), 0], ["delete", 49, 0]]


def test_changes_list_levels_best_first() -> None:
    feed = BookFeed(BTC)
    feed.update([], [], 1)
    note = feed.update([(10, 1), (12, 1), (11, 1)], [(20, 1), (14, 1)], 2)
    assert note is not None
    assert [level[1] for level in note["bids"]] == [6, Decimal("5.5"), 5]
    assert [level[1] for level in note["asks"]] == [7, 10]


def test_a_skip_leaves_a_gap_once() -> None:
    feed = BookFeed(BTC)
    feed.update([(10, 1)], [], 1)
    feed.skip()
    assert feed.update([(10, 1)], [], 2) is None       # the skip waits for a real change
    gapped = feed.update([(10, 2)], [], 3)
    assert gapped is not None
    assert (gapped["prev_change_id"], gapped["change_id"]) == (2, 3)
    after = feed.update([(10, 3)], [], 4)
    assert after is not None
    assert (after["prev_change_id"], after["change_id"]) == (3, 4)
    assert feed.snapshot(5)["change_id"] == 4


def test_only_the_best_levels_are_published() -> None:
    feed = BookFeed(BTC, max_levels=2)
    feed.update([(10, 1), (9, 1), (8, 1)], [(11, 1), (12, 1), (13, 1)], 1)
    snap = feed.snapshot(1)
    assert len(snap["bids"]) == len(snap["asks"]) == 2
    note = feed.update([(11, 1), (10, 1), (9, 1)], [(12, 1), (13, 1)], 2)
    assert note is not None
    assert note["bids"] == [["new", Decimal("5.5"), 10], ["delete", Decimal("4.5"), 0]]
    with pytest.raises(ValueError, match="max_levels"):
        BookFeed(BTC, max_levels=0)


def test_quote_has_the_documented_fields() -> None:
    data = quote(ETH, [(60000, 3)], [(60002, 1)], 1612137600)
    assert data == {"best_ask_amount": 1, "best_ask_price": Decimal("3000.10"),
                    "best_bid_amount": 3, "best_bid_price": 3000,
                    "instrument_name": "ETH_USD-PERPETUAL", "timestamp": 1612137600}
    empty = quote(ETH, [], [], 1)
    assert empty["best_bid_price"] is None
    assert empty["best_ask_amount"] == 0


def test_small_payloads() -> None:
    assert price_notification("BTC_USD", Decimal("50000.0"), 7) == {
        "index_name": "btc_usd", "price": 50000, "timestamp": 7}
    assert mmp_trigger("Btc_usd", 1640995200000) == {"frozen_until": 1640995200000,
                                                     "index_name": "btc_usd"}
    assert user_changes([], [{"a": 1}]) == {"orders": [], "trades": [{"a": 1}]}
    assert heartbeat_trade() == {"status_trade": "active"}
    assert heartbeat_trade(False) == {"status_trade": "inactive"}
    fee = user_fee("66fa6630cc40f0ef42ecbb47", percentage=Decimal("0.05"), volume=Decimal(30))
    assert set(fee) == {"future", "option", "perpetual", "user_id"}
    assert fee["perpetual"] == {"percentage": Decimal("0.05"), "volume": 30}
    assert fee["option"] == {"percentage": 0, "volume": 0}
