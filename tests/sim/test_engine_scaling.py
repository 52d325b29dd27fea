"""What one user order costs must not grow with the resting book (undo journal, indexes).

No timings: the work is counted in memory allocated and in undo steps, which are the same on
every machine.
"""

from __future__ import annotations

import tracemalloc

import pytest

from kana_async.sim.engine import Engine, EngineAbort
from tests.sim.conftest import ALICE, APT, BOB, CAROL, UNIT, Clock, limit, profile, snapshot


def _engine_with_book(resting: int) -> Engine:
    """An engine whose APT book holds ``resting`` orders of BOB at distinct bid prices."""
    engine = Engine(seed=1, clock=Clock(), market_maker=None)
    for wallet in (ALICE, BOB, CAROL):
        engine.deposit(wallet, 50_000 * UNIT)
    engine.place_multiple_orders(
        BOB, APT, [True] * resting, [True] * resting, [False] * resting, [500] * resting,
        [3000 - i for i in range(resting)], [20] * resting, [0] * resting, [0] * resting,
        [0] * resting,
    )
    return engine


def _peak_bytes_of_one_order(engine: Engine, ticks: int) -> int:
    tracemalloc.start()
    try:
        limit(engine, ALICE, long=False, lots=500, ticks=ticks)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("crossing", [False, True])
def test_an_order_allocates_the_same_on_a_small_and_a_large_book(crossing: bool) -> None:
    small, large = _engine_with_book(5), _engine_with_book(2000)
    ticks = 2990 if crossing else 6000  # a sell that fills the best bid, or one that rests
    # Warm caches (decimal contexts, record layouts) on both first.
    for engine in (small, large):
        _peak_bytes_of_one_order(engine, 7000)
    cost_small = _peak_bytes_of_one_order(small, ticks)
    cost_large = _peak_bytes_of_one_order(large, ticks)
    # Copying 2000 resting orders would take well over 200 kB.
    assert cost_large < cost_small + 20_000, (cost_small, cost_large)


def test_an_aborted_batch_on_a_large_book_restores_queue_priority() -> None:
    engine = _engine_with_book(300)
    limit(engine, CAROL, long=True, lots=500, ticks=3000)  # behind BOB's bid at 3000
    before = snapshot(engine)
    queue = [o.owner for o in engine._state[APT].book._levels[False][3000]]
    assert queue == [profile(engine, BOB), profile(engine, CAROL)]
    # ALICE's first order takes BOB's 3000 bid and part of the next levels; the second has
    # a size below the minimum, so the whole transaction aborts.
    with pytest.raises(EngineAbort):
        engine.place_multiple_orders(
            ALICE, APT, [False, True], [False, False], [False, False], [1500, 1],
            [0, 6000], [5, 5], [0, 0], [0, 0], [0, 0],
        )
    assert snapshot(engine) == before
    book = engine._state[APT].book
    assert [o.owner for o in book._levels[False][3000]] == queue
    assert [o.remaining for o in book._levels[False][3000]] == [500, 500]
    assert book.depth(False, 3) == [(3000, 1000), (2999, 500), (2998, 500)]
    assert len(book) == 301
