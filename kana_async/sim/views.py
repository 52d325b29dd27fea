"""The simulated exchange's read side: what the REST and indexer servers answer, in wire shape.

Every view reads the ledger's domain values and formats them with :mod:`.records`; none
changes anything, and a wallet or profile never seen answers as a fresh one without being
stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Reversible
from decimal import Decimal
from itertools import islice
from typing import Any, TypeVar

from ..models.common import normalize_address
from . import records
from .ledger import Ledger
from .records import human
from .state import LIQUIDATION_TYPES, Fill, FundingPayment, History, OrderSnapshot

__all__ = ["Views"]

Record = dict[str, Any]
R = TypeVar("R", Fill, OrderSnapshot, FundingPayment)


class Views(Ledger):
    """The engine's queries."""

    # -- markets ---------------------------------------------------------------------------------

    def market_info(self, market_id: int) -> Record:
        """``getMarketInfo`` element."""
        return records.market_info(self._market(market_id), self.package_address, self._created)

    def all_market_info(self) -> list[Record]:
        """``getMarketInfo`` of every market."""
        return [self.market_info(m) for m in self.markets]

    def market_price(self, market_id: int) -> Record:
        """``{"bestAskPrice": number|None, "bestBidPrice": number|None}``."""
        return records.market_price(self._market(market_id))

    def last_price(self, market_id: int) -> Decimal | None:
        """The price of the market's last trade (None before the first)."""
        state = self._market(market_id)
        return None if state.last_price is None else state.spec.price_of(state.last_price)

    def orderbook(self, market_id: int, depth: int | None = None) -> list[Record]:
        """Price levels: asks ascending, then bids descending (the ``orderbook`` topic)."""
        return records.orderbook(self._market(market_id), depth)

    def recent_trades(self, market_id: int) -> list[Record]:
        """The market's latest fills, newest first, both counterparties' rows."""
        self._market(market_id)
        return [records.fill(f) for f in reversed(self._recent[market_id])]

    def funding_rates(self) -> list[Record]:
        """One ``live_funding_rate`` entry per market."""
        return [records.funding_rate(m, f) for m, f in self._funding.items()]

    # -- balances (by wallet) --------------------------------------------------------------------

    def wallet_balance(self, wallet: str) -> Decimal:
        """Quote coin in the wallet, not deposited."""
        return human(self._peek(wallet).wallet_balance)

    def profile_balance(self, wallet: str) -> Decimal:
        """Free collateral in the trading profile."""
        return human(self._peek(wallet).balance)

    def net_profile_balance(self, wallet: str) -> Decimal:
        """Free collateral plus the pending balances of every market."""
        account = self._peek(wallet)
        return human(account.balance + sum(account.pending.values()))

    def pending_balance(self, wallet: str, market_id: int) -> Decimal:
        """What ``settle_pnl`` would move from ``market_id`` into the free collateral."""
        return human(self._peek(wallet).pending.get(market_id, 0))

    def apt_balance(self, wallet: str) -> Decimal:
        """APT for gas, in APT."""
        return Decimal(self._peek(wallet).apt_octas).scaleb(-8)

    # -- orders, trades, positions (by profile) --------------------------------------------------

    def open_orders(self, profile: str, market_id: int | None = None) -> list[Record]:
        """Resting orders of ``profile`` (the ``open_orders`` topic), oldest first."""
        profile = normalize_address(profile, param="profile")
        return [records.open_order(self.markets[o.market_id], o)
                for o in self._resting(profile, market_id)]

    def open_order_ids(self, profile: str, market_id: int) -> list[str]:
        """The ids of ``profile``'s resting orders on one market, oldest first."""
        profile = normalize_address(profile, param="profile")
        return [str(o.order_id) for o in self._resting(profile, market_id)]

    def order_history(
        self, profile: str, market_id: int | None = None, *, limit: int | None = None
    ) -> list[Record]:
        """Every order of ``profile`` in its latest state, newest first (the newest ``limit``)."""
        return self._recorded(profile, lambda h: h.orders.values(), records.order,
                              limit, market_id)

    def trade_history(
        self, profile: str, market_id: int | None = None, *, limit: int | None = None
    ) -> list[Record]:
        """Fills of ``profile``, newest first (the newest ``limit``)."""
        return self._recorded(profile, lambda h: h.trades, records.fill, limit, market_id)

    def deposit_withdraw_history(self, profile: str, *, limit: int | None = None) -> list[Record]:
        """Deposits and withdrawals of ``profile``, newest first (the newest ``limit``)."""
        history = self._history.get(normalize_address(profile, param="profile"))
        if history is None:
            return []
        return [records.transfer(t) for t in islice(reversed(history.transfers), limit)]

    def funding_history(
        self, profile: str, market_id: int | None = None, *, limit: int | None = None
    ) -> list[Record]:
        """Funding payments on ``profile``'s positions, newest first (the newest ``limit``)."""
        return self._recorded(profile, lambda h: h.funding, records.funding_payment,
                              limit, market_id)

    def _recorded(
        self, profile: str, kind: Callable[[History], Reversible[R]],
        wire: Callable[[R], Record], limit: int | None, market_id: int | None,
    ) -> list[Record]:
        """One kind of ``profile``'s records, newest first, only ``market_id``'s (if given), at
        most ``limit``: only what is returned is formatted."""
        history = self._history.get(normalize_address(profile, param="profile"))
        if history is None:
            return []
        found: Iterable[R] = reversed(kind(history))
        if market_id is not None:
            found = (r for r in found if r.market_id == market_id)
        return [wire(r) for r in islice(found, limit)]

    def positions(self, profile: str, market_id: int | None = None) -> list[Record]:
        """Open positions of ``profile`` (hedge mode: up to two per market)."""
        profile = normalize_address(profile, param="profile")
        out = []
        for m, state in self._state.items():
            if market_id is not None and m != market_id:
                continue
            for side in (True, False):
                position = state.positions.get((profile, side))
                if position is not None:
                    out.append(records.position(state.spec, position))
        return out

    def order_status(self, market_id: int, order_id: str) -> Record | None:
        """An order's latest record plus ``total_filled`` and ``remaining_size``, or None."""
        state = self._market(market_id)
        try:
            oid = int(order_id)
        except ValueError:
            return None
        found = self._order_records.get(oid)
        resting = state.book.get(oid)
        if found is None and resting is not None and not self._profiles[resting.owner].internal:
            found = OrderSnapshot.of(resting, state.spec, state.last_price)
        if found is None or found.spec.market_id != market_id:
            return None
        spec = self.markets[market_id]
        return {
            **records.order(found),
            "total_filled": records.fmt(spec.size_of(found.filled)),
            "remaining_size": records.fmt(spec.size_of(found.remaining)),
        }

    def fills(
        self,
        market_id: int,
        from_ts: float,
        to_ts: float,
        profile: str | None = None,
        order_id: str | None = None,
    ) -> list[Record]:
        """Fills of a market with ``from_ts <= timestamp <= to_ts``, oldest first (with
        ``order_id``), optionally only one profile's or one order's."""
        self._market(market_id)
        who = None if profile is None else normalize_address(profile, param="profile")
        oid = None if order_id is None else int(order_id)
        return [
            records.fill_with_order_id(f)
            for f in self._fill_log[market_id]
            if from_ts <= f.timestamp <= to_ts
            and (who is None or f.owner == who)
            and (oid is None or f.order_id == oid)
        ]

    def matches(self, market_id: int, version: int) -> list[tuple[Record, Record]]:
        """The fills ledger ``version`` made in ``market_id``, as ``(taker, maker)`` record pairs
        in matching order, each record with its ``order_id`` (what a transaction's events need).

        Every match is logged as its taker's fill followed by its maker's; a liquidation has no
        maker and is left out. Only fills still in the bounded fill log are found.
        """
        self._market(market_id)
        found: list[Record] = []
        for f in reversed(self._fill_log[market_id]):
            if f.version < version:
                break
            if f.version == version and f.order_type not in LIQUIDATION_TYPES:
                found.append(records.fill_with_order_id(f))
        found.reverse()
        return list(zip(found[::2], found[1::2], strict=True))
