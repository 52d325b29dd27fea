"""BookSync: the chain rule of Pulse books (B1-B5), levels of both layouts, and a property test
that random change streams with gaps never yield a book built on a broken chain."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kana_async.models.pulse import BookNotification, PulseDecoder
from kana_async.pulse.book import BookSync, Gap, PulseBook

D = Decimal


@dataclass(frozen=True)
class Note:
    """A decoded ``BookNotification`` as far as BookSync reads it."""

    type: str | None
    change_id: int | None
    prev_change_id: int | None = None
    bids: Sequence[Sequence[object]] | None = None
    asks: Sequence[Sequence[object]] | None = None
    instrument_name: str | None = "BTC_USD-PERPETUAL"
    timestamp: int | None = 1_687_352_432_143


def snap(change_id: int, bids: list[list[object]], asks: list[list[object]],
         prev: int | None = 0) -> Note:
    return Note("snapshot", change_id, prev, bids, asks)


def change(prev: int, change_id: int, bids: list[list[object]] | None = None,
           asks: list[list[object]] | None = None) -> Note:
    return Note("change", change_id, prev, bids or [], asks or [])


def synced(result: object) -> PulseBook:
    assert isinstance(result, PulseBook), result
    assert result.synced
    return result


def started() -> BookSync:
    sync = BookSync("BTC_USD-PERPETUAL")
    synced(sync.apply(snap(10, [["new", D(100), D(1)], ["new", D(99), D(2)]],
                           [["new", D(101), D(3)], ["new", D(102), D(4)]])))
    return sync


def test_a_snapshot_builds_a_sorted_synced_book() -> None:
    sync = BookSync("BTC_USD-PERPETUAL")
    book = synced(sync.apply(snap(5, [["new", D(99), D(2)], ["new", D(100), D(1)]],
                                  [["new", D(102), D(4)], ["new", D(101), D(3)]])))
    assert book.bids == ((D(100), D(1)), (D(99), D(2)))
    assert book.asks == ((D(101), D(3)), (D(102), D(4)))
    assert book.best_bid == (D(100), D(1))
    assert book.best_ask == (D(101), D(3))
    assert (book.change_id, book.status, book.timestamp) == (5, "synced", 1_687_352_432_143)
    assert book.instrument_name == "BTC_USD-PERPETUAL"
    assert sync.change_id == 5


def test_a_snapshot_resets_the_chain_whatever_its_prev_change_id() -> None:
    sync = started()
    book = synced(sync.apply(snap(50, [[D(90), D(1)]], [[D(91), D(1)]], prev=7)))
    assert book.change_id == 50
    assert book.bids == ((D(90), D(1)),)
    assert synced(sync.apply(change(50, 51, bids=[["new", D(89), D(5)]]))).change_id == 51


def test_a_chained_change_applies_new_change_and_delete() -> None:
    sync = started()
    book = synced(sync.apply(change(10, 11,
                                    bids=[["change", D(100), D(7)], ["delete", D(99), D(0)],
                                          ["new", D("98.5"), D(1)]],
                                    asks=[["delete", D(101), D(0)]])))
    assert book.bids == ((D(100), D(7)), (D("98.5"), D(1)))
    assert book.asks == ((D(102), D(4)),)
    assert book.change_id == 11


def test_two_element_levels_and_zero_amounts() -> None:
    sync = started()
    book = synced(sync.apply(change(10, 11, bids=[[D(100), D(0)], [D(97), D(5)]],
                                    asks=[["change", D(102), D(0)]])))
    assert book.bids == ((D(99), D(2)), (D(97), D(5)))
    assert book.asks == ((D(101), D(3)),)


def test_numbers_of_every_decoded_form_are_exact() -> None:
    sync = BookSync("X")
    book = synced(sync.apply(snap(1, [["new", "100.10", 1], [99, 0.1]], [[101.5, "2"]])))
    assert book.bids == ((D("100.10"), D(1)), (D(99), D("0.1")))
    assert book.asks == ((D("101.5"), D(2)),)


def test_a_gap_is_reported_once_then_changes_are_dropped_until_a_snapshot() -> None:
    sync = started()
    good = synced(sync.apply(change(10, 11, bids=[["new", D(98), D(1)]])))
    gap = sync.apply(change(12, 13, bids=[["new", D(97), D(1)]]))
    assert isinstance(gap, Gap)
    assert (gap.reason, gap.expected, gap.got) == ("gap", 11, 12)
    assert "prev_change_id 12" in gap.detail
    assert gap.book is not None
    assert gap.book.status == "syncing"
    assert not gap.book.synced
    assert (gap.book.change_id, gap.book.bids) == (good.change_id, good.bids)
    assert not sync.synced
    assert sync.change_id is None
    # Chained on the gapped change, or even on the last good one: dropped all the same.
    assert sync.apply(change(13, 14)) is None
    assert sync.apply(change(11, 12)) is None
    assert sync.stats.dropped == 2
    assert sync.stats.gaps == 1
    book = synced(sync.apply(snap(20, [[D(95), D(1)]], [[D(96), D(1)]])))
    assert book.bids == ((D(95), D(1)),)
    assert sync.synced


def test_a_repeated_change_is_a_gap() -> None:
    sync = started()
    note = change(10, 11, bids=[["new", D(98), D(1)]])
    synced(sync.apply(note))
    gap = sync.apply(note)
    assert isinstance(gap, Gap)
    assert (gap.expected, gap.got) == (11, 10)


def test_changes_before_the_first_snapshot_are_dropped() -> None:
    sync = BookSync("X")
    assert sync.apply(change(0, 1, bids=[[D(1), D(1)]])) is None
    assert sync.book is None
    assert sync.stats.dropped == 1


@pytest.mark.parametrize("crossing", [D(101), D("101.5")])
def test_a_crossed_book_is_never_delivered_as_synced(crossing: Decimal) -> None:
    sync = started()
    gap = sync.apply(change(10, 11, bids=[["new", crossing, D(1)]]))
    assert isinstance(gap, Gap)
    assert gap.reason == "crossed"
    assert gap.book is not None
    assert gap.book.best_bid == (D(100), D(1))  # the last good book, not the crossed one
    assert sync.stats.crossed == 1
    assert sync.apply(change(11, 12)) is None


def test_a_crossed_snapshot_asks_for_another_even_while_syncing() -> None:
    sync = BookSync("X")
    for change_id in (1, 2):
        gap = sync.apply(snap(change_id, [[D(100), D(1)]], [[D(100), D(1)]]))
        assert isinstance(gap, Gap)
        assert gap.reason == "crossed"
        assert gap.book is None
    assert sync.stats.gaps == 2


@pytest.mark.parametrize(
    ("bids", "rule"),
    [
        ([[None]], "[price, amount]"),
        ([["new", "abc", 1]], "must be a number"),
        ([["new", 1, Decimal("NaN")]], "finite"),
        ([["new", 1, float("inf")]], "finite"),
        ([["new", 1, -1]], ">= 0"),
        ([["add", 1, 1]], "action"),
        ([["new", True, 1]], "must be a number"),
        ([[1, 2, 3, 4]], "[price, amount]"),
        ([[5, 1, 1]], "action"),
        (["12"], "[price, amount]"),
    ],
)
def test_an_unreadable_level_breaks_the_chain_and_names_the_rule(
        bids: list[list[object]], rule: str) -> None:
    sync = started()
    before = sync.book
    gap = sync.apply(change(10, 11, bids=bids))
    assert isinstance(gap, Gap)
    assert gap.reason == "malformed"
    assert rule in gap.detail
    assert "Decimal(" not in gap.detail
    assert sync.book is before
    # A snapshot that cannot be read asks for another one too.
    again = sync.apply(snap(12, bids, []))
    assert isinstance(again, Gap)
    assert again.reason == "malformed"


def test_the_documents_null_level_snapshot_is_not_trusted() -> None:
    sync = BookSync("BTC_USD-PERPETUAL")
    gap = sync.apply(snap(1, [[None]], [[None]]))
    assert isinstance(gap, Gap)
    assert not sync.synced


@pytest.mark.parametrize(
    "note",
    [
        Note("update", 11, 10),
        Note(None, 11, 10),
        Note("change", None, 10),
        Note("change", 11, None),
        Note("change", True, 10),
    ],
)
def test_a_notification_that_cannot_be_chained_breaks_the_chain(note: Note) -> None:
    sync = started()
    gap = sync.apply(note)
    assert isinstance(gap, Gap)
    assert gap.reason == "malformed"


def test_a_snapshot_without_change_id_is_refused() -> None:
    sync = BookSync("X")
    gap = sync.apply(snap(None, [], []))  # type: ignore[arg-type]
    assert isinstance(gap, Gap)
    assert not sync.synced


def test_the_channels_instrument_is_kept_whatever_the_payload_says() -> None:
    sync = BookSync("ETH_USD-PERPETUAL")
    book = synced(sync.apply(replace(snap(1, [], []), instrument_name="other")))
    assert book.instrument_name == "ETH_USD-PERPETUAL"
    assert book.best_bid is None
    assert book.best_ask is None


def test_an_undecodable_notification_breaks_the_chain_once() -> None:
    sync = started()
    gap = sync.undecodable("not JSON")
    assert isinstance(gap, Gap)
    assert (gap.reason, gap.expected, gap.detail) == ("malformed", 10, "not JSON")
    assert gap.book is not None
    assert gap.book.status == "syncing"
    assert sync.undecodable("again") is None
    assert sync.apply(change(10, 11)) is None
    assert (sync.stats.gaps, sync.stats.malformed, sync.stats.dropped) == (1, 2, 2)


def test_decoded_models_are_applied() -> None:
    frames = [
        {"type": "snapshot", "change_id": 7, "prev_change_id": 0, "timestamp": 5,
         "instrument_name": "BTC_USD-PERPETUAL",
         "bids": [["new", 100.5, 10], ["new", "100", "2.5"]], "asks": [["new", 101, 3]]},
        {"type": "change", "change_id": 8, "prev_change_id": 7, "timestamp": 6,
         "instrument_name": "BTC_USD-PERPETUAL",
         "bids": [["delete", 100.5, 0]], "asks": [[101.25, 1]]},
    ]
    decoder: PulseDecoder[BookNotification] = PulseDecoder(BookNotification)
    sync = BookSync("BTC_USD-PERPETUAL")
    books = [sync.apply(decoder.decode(json.dumps(frame).encode())) for frame in frames]
    first, second = synced(books[0]), synced(books[1])
    assert first.bids == ((D("100.5"), D(10)), (D(100), D("2.5")))
    assert second.bids == ((D(100), D("2.5")),)
    assert second.asks == ((D(101), D(3)), (D("101.25"), D(1)))
    assert (second.change_id, second.timestamp) == (8, 6)


def test_reset_waits_for_a_snapshot() -> None:
    sync = started()
    sync.reset()
    assert sync.apply(change(10, 11)) is None
    synced(sync.apply(snap(30, [], [])))


def test_a_delivered_book_is_not_changed_by_later_notifications() -> None:
    sync = started()
    first = synced(sync.apply(change(10, 11, bids=[["new", D(98), D(1)]])))
    synced(sync.apply(change(11, 12, bids=[["delete", D(98), D(0)]])))
    assert (D(98), D(1)) in first.bids


# -- property: no book built on a broken chain ----------------------------------------------------

Side = dict[Decimal, Decimal]


@dataclass(frozen=True)
class State:
    change_id: int
    bids: tuple[tuple[Decimal, Decimal], ...]
    asks: tuple[tuple[Decimal, Decimal], ...]


def _diff(old: Side, new: Side, layout: int) -> list[list[object]]:
    levels: list[list[object]] = []
    for price in sorted(old.keys() | new.keys()):
        if price in new and old.get(price) == new[price]:
            continue
        amount = new.get(price, D(0))
        if layout == 2:
            levels.append([price, amount])
        else:
            action = "delete" if price not in new else ("change" if price in old else "new")
            levels.append([action, price, amount])
    return levels


ops = st.lists(
    st.tuples(st.booleans(), st.integers(1, 20), st.integers(0, 3)),
    min_size=0, max_size=6,
)
# What happens to each change on its way: delivered, dropped, repeated, swapped with the next,
# or followed by a fresh snapshot of the state it leads to.
fates = st.sampled_from(["deliver"] * 6 + ["drop", "repeat", "swap", "snapshot"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(ops, fates, st.sampled_from([2, 3]),
                                st.sampled_from(["decimal", "text", "float"])),
                      min_size=1, max_size=40),
       first_id=st.integers(1, 10**6), snapshot_prev=st.sampled_from([0, None, 5]))
def test_random_streams_never_deliver_a_book_off_the_chain(
        steps: list[tuple[list[tuple[bool, int, int]], str, int, str]], first_id: int,
        snapshot_prev: int | None) -> None:
    # The server's states: bids priced 1-20, asks 101-120, so the true book is never crossed.
    bids: Side = {D(10): D(1)}
    asks: Side = {D(110): D(1)}
    truth = {first_id: State(first_id, tuple(sorted(bids.items(), reverse=True)),
                             tuple(sorted(asks.items())))}
    stream: list[Note] = [snap(first_id, [[p, a] for p, a in bids.items()],
                               [[p, a] for p, a in asks.items()], snapshot_prev)]
    change_id = first_id
    pending_swap: Note | None = None
    for edits, fate, layout, form in steps:
        new_bids, new_asks = dict(bids), dict(asks)
        for is_bid, offset, amount in edits:
            side, price = (new_bids, D(offset)) if is_bid else (new_asks, D(100 + offset))
            if amount:
                side[price] = D(amount)
            else:
                side.pop(price, None)
        prev, change_id = change_id, change_id + 1
        note = change(prev, change_id, _form(_diff(bids, new_bids, layout), form),
                      _form(_diff(asks, new_asks, layout), form))
        bids, asks = new_bids, new_asks
        truth[change_id] = State(change_id, tuple(sorted(bids.items(), reverse=True)),
                                 tuple(sorted(asks.items())))
        if pending_swap is not None:
            stream += [note, pending_swap]
            pending_swap = None
            continue
        if fate == "deliver":
            stream.append(note)
        elif fate == "repeat":
            stream += [note, note]
        elif fate == "swap":
            pending_swap = note
        elif fate == "snapshot":
            stream += [note, snap(change_id, [["new", p, a] for p, a in bids.items()],
                                  [["new", p, a] for p, a in asks.items()], snapshot_prev)]
        # "drop": the change never arrives.
    if pending_swap is not None:
        stream.append(pending_swap)

    sync = BookSync("BTC_USD-PERPETUAL")
    waiting = False   # a gap was reported and no snapshot applied since
    last_id: int | None = None
    for note in stream:
        result = sync.apply(note)
        if isinstance(result, PulseBook):
            assert result.synced
            assert not waiting or note.type == "snapshot"
            expected = truth[result.change_id]
            assert (result.bids, result.asks) == (expected.bids, expected.asks)
            assert note.change_id == result.change_id
            if note.type == "change":
                assert note.prev_change_id == last_id
            last_id = result.change_id
            waiting = False
        elif isinstance(result, Gap):
            assert result.reason == "gap"
            assert not waiting
            waiting = True
            last_id = None
        else:
            assert waiting
    counted = sync.stats
    assert counted.snapshots + counted.changes + counted.dropped == len(stream)


def _form(levels: list[list[object]], form: str) -> list[list[object]]:
    """The same levels with numbers as a decoder might hand them over."""
    if form == "decimal":
        return levels
    convert = str if form == "text" else float
    return [[convert(v) if isinstance(v, Decimal) else v for v in level] for level in levels]
