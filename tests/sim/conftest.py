"""Shared simulator test fixtures: a settable clock and a funded engine without a market maker.

APT market 1338: one lot = 0.001 APT, one tick = 0.001 USD, so 1 APT = 1000 lots and
5.000 USD = 5000 ticks.
"""

from __future__ import annotations

from typing import Any

import pytest

from kana_async.sim.engine import Engine

APT = 1338
ALICE, BOB, CAROL, DAVE = ("0x" + c * 64 for c in "abcd")
UNIT = 10**6  # quote sub-units per quote coin


# -- helpers for engine tests (on-chain integers) --------------------------------------------


def profile(engine: Engine, wallet: str) -> str:
    return engine.profile_address(wallet)


def limit(engine: Engine, wallet: str, *, long: bool, close: bool = False, lots: int = 1000,
          ticks: int = 5000, leverage: int = 2, restriction: int = 0, tp: int = 0,
          sl: int = 0) -> str:
    return engine.place_limit_order(wallet, APT, long, close, lots, ticks, leverage, restriction,
                                    tp, sl)


def market(engine: Engine, wallet: str, *, long: bool, close: bool = False, lots: int = 1000,
           leverage: int = 2) -> str:
    return engine.place_market_order(wallet, APT, long, close, lots, leverage, 0, 0)


def snapshot(engine: Engine) -> Any:
    """Everything observable, to check that an abort changed nothing."""
    wallets = (ALICE, BOB, CAROL, DAVE)
    return (
        engine.ledger_version,
        engine.orderbook(APT),
        [engine.profile_balance(w) for w in wallets],
        [engine.net_profile_balance(w) for w in wallets],
        [engine.wallet_balance(w) for w in wallets],
        [engine.positions(profile(engine, w)) for w in wallets],
        [engine.open_orders(profile(engine, w)) for w in wallets],
        [engine.order_history(profile(engine, w)) for w in wallets],
    )


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def engine(clock: Clock) -> Engine:
    """Four wallets with 1000 quote coins deposited each; no market maker, so every trade is
    one the test arranged."""
    engine = Engine(seed=7, clock=clock, market_maker=None)
    for wallet in (ALICE, BOB, CAROL, DAVE):
        engine.deposit(wallet, 1000 * UNIT)
    return engine
