"""Checks that an answered amount is one a chain could hold: sizes whole lots, prices whole
ticks, quote amounts whole sub-units of the 6-decimal quote coin."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from kana_async.sim.engine import Engine
from kana_async.sim.markets import MarketSpec

QUOTE_STEP = Decimal("0.000001")
SIZE_FIELDS = frozenset({"size", "total_size", "remaining_size", "available_order_size",
                         "total_filled"})
PRICE_FIELDS = frozenset({"price", "entry_price", "liq_price", "sl", "tp", "best_bid_price",
                          "best_ask_price", "bestBidPrice", "bestAskPrice"})
QUOTE_FIELDS = frozenset({"order_value", "value", "margin", "fee", "pnl", "amount"})


def off_grid(spec: MarketSpec | None, record: dict[str, Any]) -> list[str]:
    """The fields of ``record`` that are not on their grid (``spec`` None: quote fields only)."""
    bad = []
    for name, value in record.items():
        if value is None or isinstance(value, bool):
            continue
        if name in QUOTE_FIELDS:
            step = QUOTE_STEP
        elif spec is not None and name in SIZE_FIELDS:
            step = spec.lot
        elif spec is not None and name in PRICE_FIELDS:
            step = spec.tick
        else:
            continue
        text = str(value)
        if "e" in text.lower() or Decimal(text) % step != 0:
            bad.append(f"{name}={text} (step {step})")
    return bad


def engine_answers(
    engine: Engine, wallets: Iterable[str]
) -> Iterator[tuple[str, MarketSpec | None, dict[str, Any]]]:
    """Every record the engine's views answer about ``wallets`` and the markets, with where it
    comes from and its market (the REST API and the indexer serve these same records)."""
    for market_id, spec in engine.markets.items():
        for record in engine.orderbook(market_id):
            yield "orderbook", spec, record
        for record in engine.recent_trades(market_id):
            yield "recent_trades", spec, record
        yield "market_price", spec, engine.market_price(market_id)
        last = engine.last_price(market_id)
        if last is not None:
            yield "last_price", spec, {"price": last}
    for wallet in wallets:
        profile = engine.profile_address(wallet)
        balances = [("wallet_balance", engine.wallet_balance(wallet)),
                    ("profile_balance", engine.profile_balance(wallet)),
                    ("net_profile_balance", engine.net_profile_balance(wallet))]
        balances += [(f"pending_balance {m}", engine.pending_balance(wallet, m))
                     for m in engine.markets]
        for where, balance in balances:
            yield where, None, {"amount": balance}
        for record in engine.deposit_withdraw_history(profile):
            yield "deposit_withdraw_history", None, record
        views = (
            ("positions", engine.positions(profile)),
            ("open_orders", engine.open_orders(profile)),
            ("order_history", engine.order_history(profile)),
            ("trade_history", engine.trade_history(profile)),
            ("funding_history", engine.funding_history(profile)),
        )
        for where, records in views:
            for record in records:
                yield where, engine.markets[int(record["market_id"])], record
        for record in engine.order_history(profile):
            market_id = int(record["market_id"])
            status = engine.order_status(market_id, record["order_id"])
            if status is not None:
                yield "order_status", engine.markets[market_id], status
