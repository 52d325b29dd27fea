"""A trader with some history on a simulator's engine, and the simulator's WebSocket URL,
for the WebSocket fidelity and fault tests."""

from __future__ import annotations

from decimal import Decimal

from kana_async.sim import Engine, Simulator

WALLET = "0x" + "c0ffee".rjust(64, "0")
MARKET = 1338


def trade_a_little(engine: Engine, wallet: str = WALLET) -> str:
    """Deposit, open a long at market and rest a bid below the book; returns the profile."""
    if not engine.orderbook(MARKET):
        engine.step()  # the market maker's first quotes
    spec = engine.markets[MARKET]
    engine.ensure_wallet(wallet)
    engine.deposit(wallet, 1_000 * 10**6)
    engine.place_market_order(wallet, MARKET, True, False, spec.lots(Decimal(2)), 5, 0, 0)
    bid = Decimal(str(engine.market_price(MARKET)["bestBidPrice"]))
    price = spec.ticks((bid * Decimal("0.9")).quantize(Decimal("0.001")))
    engine.place_limit_order(wallet, MARKET, True, False, spec.lots(Decimal(1)), price, 5, 0, 0, 0)
    return engine.profile_address(wallet)


def ws_url(sim: Simulator) -> str:
    """The running simulator's indexer WebSocket URL (it has none before it starts)."""
    assert sim.ws_url is not None, "the simulator is not running"
    return sim.ws_url
