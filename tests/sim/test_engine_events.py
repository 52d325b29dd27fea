"""Engine.matches: the (taker, maker) pairs one ledger version made, which events are built from.

APT market 1338: one lot = 0.001 APT, one tick = 0.001 USD.
"""

from __future__ import annotations

import pytest

from kana_async.sim.engine import AbortCode, Engine, EngineAbort
from tests.sim.conftest import ALICE, APT, BOB, CAROL, DAVE, Clock


def test_a_taker_sweeping_two_makers_gives_two_pairs_in_matching_order(engine: Engine) -> None:
    first = engine.place_limit_order(BOB, APT, False, False, 500, 5000, 2, 0, 0, 0)
    second = engine.place_limit_order(CAROL, APT, False, False, 700, 5001, 2, 0, 0, 0)
    taker = engine.place_market_order(ALICE, APT, True, False, 1000, 2, 0, 0)
    version = engine.ledger_version
    pairs = engine.matches(APT, version)
    assert [(t["order_id"], m["order_id"]) for t, m in pairs] == [(taker, first), (taker, second)]
    assert [(t["size"], t["price"]) for t, _ in pairs] == [("0.500", "5.000"), ("0.500", "5.001")]
    assert [m["address"] for _, m in pairs] == [
        engine.profile_address(BOB), engine.profile_address(CAROL)]
    assert all(t["address"] == engine.profile_address(ALICE) for t, _ in pairs)
    assert engine.matches(APT, version - 1) == []  # placing the makers matched nothing
    engine.place_limit_order(DAVE, APT, True, False, 500, 4000, 2, 0, 0, 0)
    assert engine.matches(APT, version) == pairs  # later versions do not hide earlier ones
    assert engine.matches(1339, version) == []


def test_a_liquidation_is_no_match(engine: Engine, clock: Clock) -> None:
    engine.place_limit_order(BOB, APT, False, False, 1000, 5000, 2, 0, 0, 0)
    engine.place_market_order(ALICE, APT, True, False, 1000, 20, 0, 0)
    engine.place_limit_order(CAROL, APT, True, False, 500, 4800, 2, 0, 0, 0)
    engine.place_market_order(DAVE, APT, False, False, 500, 2, 0, 0)
    before = engine.ledger_version
    engine.step(clock.now)
    assert engine.ledger_version == before + 1  # the liquidation, logged without a maker
    assert engine.positions(engine.profile_address(ALICE)) == []
    assert engine.matches(APT, engine.ledger_version) == []


def test_unknown_market_aborts(engine: Engine) -> None:
    with pytest.raises(EngineAbort) as info:
        engine.matches(9999, 1)
    assert info.value.code == AbortCode.UNKNOWN_MARKET
