"""benchmarks/profile_hot_path.py: the hot spots are functions ranked by their own time."""

from __future__ import annotations

import time

import profile_hot_path
from pyinstrument import Profiler


def _busy_leaf(until: float) -> int:
    # Pure Python work between rare clock reads, so this frame's own time dominates (a clock
    # read per spin could make the builtin ``perf_counter`` the top spot on a loaded machine).
    spins = 0
    while True:
        for _ in range(10_000):
            spins += 1
        if time.perf_counter() >= until:
            return spins


def _caller() -> int:
    return _busy_leaf(time.perf_counter() + 0.05)


def test_hot_spots_rank_own_time_and_name_the_function() -> None:
    profiler = Profiler(interval=0.0005, async_mode="disabled")
    profiler.start()
    _caller()
    profiler.stop()
    spots = profile_hot_path.hot_spots(profiler, 3)
    assert spots
    assert len(spots) <= 3
    assert all(0 < share <= 1 for _, share in spots)
    assert [share for _, share in spots] == sorted((s for _, s in spots), reverse=True)
    assert "_busy_leaf" in spots[0][0]
    assert "test_profile_hot_path.py" in spots[0][0]


def test_no_session_no_spots() -> None:
    assert profile_hot_path.hot_spots(Profiler(), 5) == []
