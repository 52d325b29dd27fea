"""``KanaRest``: one coroutine per Kana REST endpoint, typed in and out.

Arguments are validated before anything is sent (:mod:`kana_async.checks`, :mod:`.params`,
:mod:`kana_async.units`); a bad value raises ``ValidationError`` naming the parameter and the
rule. Money goes out as plain decimal text in human units (the server converts to lots and
ticks) and comes back as ``Decimal``.

Transaction builders (deposit, withdraw, orders, TP/SL, margin, collapse, settle) return an
unsigned :class:`~kana_async.models.TxPayload`; nothing happens on chain until it is signed and
submitted. An order, batch or TP/SL update is parsed once into terms (:mod:`kana_async.orders`)
on the market's grid (lot size, tick size, min/max lots, max leverage, from a ``MarketInfo``
fetched once per market and cached, :meth:`KanaRest.market_info`), and
:meth:`KanaRest.transaction` sends the terms' wire text; the trader builds the same terms and
checks the returned payload against them, so a bad order never reaches the chain.

Where the documents spell a path or field two ways, the choice made is stated in
the method's docstring.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import msgspec

from .. import checks
from .._docfields import shared_fields
from ..errors import ApiError, ValidationError, describe_value
from ..markets import MarketDirectory
from ..models.kana import (
    DepositWithdraw,
    FundingPayment,
    MarketInfo,
    MarketPrice,
    OpenOrder,
    Order,
    Position,
    Trade,
    TxPayload,
)
from ..orders import (
    BatchTerms,
    Terms,
    parse_cancels,
    parse_collateral,
    parse_order,
    parse_placements,
    parse_trigger,
)
from ..units import Money
from . import params as p
from .session import RestSession

__all__ = ["KanaRest"]

#: What every endpoint raises once its own arguments passed.
_REQUEST_ERRORS = """
:raises ApiError: if the server refuses the request (:class:`AuthError` on 401/403,
    :class:`RateLimitError` on 429 after the retries, another 4xx, ``success: false``) or
    its answer cannot be read.
:raises TransportError: if no usable answer comes within the retry policy (connection
    failure, timeout, 5xx).
"""

#: What every endpoint that builds a transaction returns.
_PAYLOAD_RESULT = """
:returns: an unsigned payload; nothing happens on chain until it is signed and submitted.
"""


_BODY = msgspec.json.Encoder(decimal_format="number")
_OPTIONAL_DECIMAL: Any = Decimal | None
_IDS: Any = list[str | int]
#: The builder path of each ``perpetual_scripts`` function built from checked terms.
_PATHS = {
    "deposit": "/deposit",
    "withdraw_specific_market": "/withdrawSpecifiMarket",
    "withdraw_multiple_markets": "/withdrawMultipleMarkets",
    "add_margin": "/addMargin",
    "place_limit_order": "/placeLimitOrder",
    "place_market_order": "/placeMarketOrder",
    "update_take_profit": "/updateTakeProfit",
    "update_stop_loss": "/updateStopLoss",
    "place_multiple_orders": "/placeMultipleOrders",
    "cancel_multiple_orders": "/cancelMultipleOrders",
    "cancel_and_place_multiple_orders": "/cancelAndPlaceMultipleOrders",
}


class KanaRest:
    """The Kana REST API over a :class:`RestSession`: one coroutine per endpoint
    (``kana.rest``).

    Each checks its arguments first (``ValidationError``, nothing sent), then makes its call
    under the session's :class:`RetryPolicy`; a call that still fails raises ``ApiError`` (the
    server said no, or its answer is unreadable) or ``TransportError`` (no usable answer).
    Every endpoint only reads or builds an unsigned payload, so repeating a call is safe.

    ``check_grid=False`` skips fetching ``MarketInfo`` before building orders: sizes and prices
    are then only checked to be positive, and leverage to be within 1..20 (the documented
    maximum of every market) unless the market's info is already cached.
    """

    def __init__(self, session: RestSession, *, check_grid: bool = True) -> None:
        #: The transport policy every call goes through (retries, rate limit, body cap).
        self.session = session
        #: Whether order builders fetch ``MarketInfo`` first to check sizes, prices, leverage.
        self.check_grid = checks.boolean(check_grid, "check_grid")
        self._markets: dict[int, MarketInfo] = {}
        self._market_locks: dict[int, asyncio.Lock] = {}
        #: Market names -> ids (``"APT"``, ``"APT-USD"``); the list is fetched once, when a
        #: name first needs it. Shared with the stream and the trader.
        self.markets = MarketDirectory(self._all_markets)

    def __repr__(self) -> str:
        return f"KanaRest({self.session!r}, cached_markets={sorted(self._markets)})"

    # -- market info cache -------------------------------------------------------------------

    @shared_fields(_REQUEST_ERRORS)
    async def market_info(self, market_id: int | str) -> MarketInfo:
        """The market's parameters, fetched once and then served from the cache.

        Concurrent first calls for one market share a single request. If the server answers
        with a single market under another id (the documents show ``marketId=501`` answered
        with market 1338), that market is used; several markets, none of them ``market_id``,
        are an ``ApiError``.

        :raises ValidationError: if ``market_id`` is neither a market id nor a known market name
            (nothing is sent).
        """
        mid = await self._mid(market_id)
        info = self._markets.get(mid)
        if info is not None:
            return info
        lock = self._market_locks.setdefault(mid, asyncio.Lock())
        async with lock:
            info = self._markets.get(mid)
            if info is None:
                markets = await self.get_market_info(mid)
                info = self._pick(mid, markets)
                self._markets[mid] = info
            return info

    def cached_market_info(self, market_id: int | str) -> MarketInfo | None:
        """The cached parameters of a market, or ``None`` (never makes a request)."""
        mid = self.markets.lookup(market_id)
        return None if mid is None else self._markets.get(mid)

    def invalidate_market_info(self, market_id: int | str | None = None) -> None:
        """Forget one market's cached parameters (all markets with ``None``)."""
        if market_id is None:
            self._markets.clear()
            self.markets.forget()
        else:
            mid = self.markets.lookup(market_id)
            if mid is not None:
                self._markets.pop(mid, None)

    async def resolve_market_id(self, market: int | str, param: str = "market_id") -> int:
        """The id of a market id or name (``1338``, ``"1338"``, ``"APT"``, ``"APT-USD"``);
        a name fetches the market list once. An unknown name raises ``ValidationError``
        (naming ``param``) listing the known ones.

        :raises ValidationError: if ``market`` is neither a market id nor a name of exactly one
            listed market (naming ``param``; the known names are listed).
        :raises ApiError: if the server refuses the market list request (:class:`AuthError`
            on 401/403, :class:`RateLimitError` on 429 after the retries, another 4xx,
            ``success: false``) or its answer cannot be read.
        :raises TransportError: if no usable answer comes within the retry policy (connection
            failure, timeout, 5xx).
        """
        return await self._mid(market, param)

    @shared_fields(_REQUEST_ERRORS)
    async def resolve_market(self, market: int | str) -> MarketInfo:
        """The ``MarketInfo`` of a market id or name (cached, like :meth:`market_info`).

        :raises ValidationError: if ``market`` is neither a market id nor a name of exactly one
            listed market (the known names are listed).
        """
        listed = await self.markets.market(market)
        if listed is not None:
            self._markets.setdefault(listed.market_id, listed)
            return self._markets[listed.market_id]
        return await self.market_info(market)

    async def _mid(self, market: object, param: str = "market_id") -> int:
        return await self.markets.market_id(market, param)

    async def _optional_mid(self, market: object) -> int | None:
        return None if market is None else await self._mid(market)

    async def _all_markets(self) -> list[MarketInfo]:
        return await self.get_perpetual_assets_info()

    def _remember(self, markets: Sequence[MarketInfo]) -> None:
        for info in markets:
            self._markets[info.market_id] = info

    @staticmethod
    def _pick(mid: int, markets: Sequence[MarketInfo]) -> MarketInfo:
        for info in markets:
            if info.market_id == mid:
                return info
        if len(markets) == 1:
            return markets[0]
        raise ApiError("/getMarketInfo", f"no market {mid} in the response")

    async def _grid(self, market_id: int) -> MarketInfo | None:
        if self.check_grid:
            return await self.market_info(market_id)
        return self._markets.get(market_id)

    # -- market data -------------------------------------------------------------------------

    @shared_fields(_REQUEST_ERRORS)
    async def get_market_info(self, market_id: int | str) -> list[MarketInfo]:
        """``GET /getMarketInfo``: the market's parameters (a one-element list, as sent).
        Refreshes the cache used by :meth:`market_info`.

        :raises ValidationError: if ``market_id`` is neither a market id nor a known market name
            (nothing is sent).
        """
        mid = await self._mid(market_id)
        markets: list[MarketInfo] = await self.session.get(
            "/getMarketInfo", {"marketId": str(mid)}, list[MarketInfo]
        )
        self._remember(markets)
        return markets

    @shared_fields(_REQUEST_ERRORS)
    async def get_perpetual_assets_info(
        self, market_id: int | str | None = None
    ) -> list[MarketInfo]:
        """``GET /getPerpetualAssetsInfo?marketId=`` for one market, or
        ``/getPerpetualAssetsInfo/allMarkets`` for every market (``market_id=None``).
        Refreshes the market-info cache.

        :raises ValidationError: if ``market_id`` is neither a market id nor a known market name
            (nothing is sent).
        """
        if market_id is None:
            path, query = "/getPerpetualAssetsInfo/allMarkets", None
        else:
            path, query = "/getPerpetualAssetsInfo", {"marketId": str(await self._mid(market_id))}
        markets: list[MarketInfo] = await self.session.get(path, query, list[MarketInfo])
        self._remember(markets)
        if market_id is None:
            self.markets.remember(markets)
        return markets

    @shared_fields(_REQUEST_ERRORS)
    async def get_market_price(self, market_id: int | str) -> MarketPrice:
        """``GET /getMarketPrice``: best bid and ask (``None`` for an empty side).

        :raises ValidationError: if ``market_id`` is neither a market id nor a known market name
            (nothing is sent).
        """
        query = {"marketId": str(await self._mid(market_id))}
        return await self.session.get("/getMarketPrice", query, MarketPrice)

    @shared_fields(_REQUEST_ERRORS)
    async def get_last_placed_price(self, market_id: int | str) -> Decimal | None:
        """``GET /getLastPlacedPrice`` (the docs' "Get Last Execution Price"; one client calls
        it ``/getLastExecutionPrice``): the last traded price, ``None`` before any trade.

        :raises ValidationError: if ``market_id`` is neither a market id nor a known market name
            (nothing is sent).
        """
        query = {"marketId": str(await self._mid(market_id))}
        return await self.session.get(
            "/getLastPlacedPrice", query, _OPTIONAL_DECIMAL
        )

    @shared_fields(_REQUEST_ERRORS)
    async def get_all_trades(self, market_id: int | str) -> list[Trade]:
        """``GET /getAllTrades``: the market's recent trades.

        :raises ValidationError: if ``market_id`` is neither a market id nor a known market name
            (nothing is sent).
        """
        query = {"marketId": str(await self._mid(market_id))}
        return await self.session.get("/getAllTrades", query, list[Trade])

    # -- account and balances ----------------------------------------------------------------

    @shared_fields(_REQUEST_ERRORS)
    async def get_profile_address(self, user_address: str) -> str:
        """``GET /getProfileAddress``: the trade-profile address of a wallet (what WebSocket
        subscriptions take), normalised to 64 hex digits (an answer that is not an address is
        an ``ApiError``).

        :raises ValidationError: if ``user_address`` is not an address (nothing is sent).
        """
        query = {"userAddress": checks.address(user_address)}
        result: str = await self.session.get("/getProfileAddress", query, str)
        try:
            return checks.address(result, "data")
        except ValidationError as exc:
            raise ApiError(
                "/getProfileAddress", f"not an address: {describe_value(result)}"
            ) from exc

    async def _balance(self, path: str, user_address: str) -> Decimal:
        query = {"userAddress": checks.address(user_address)}
        return await self.session.get(path, query, Decimal)

    @shared_fields(_REQUEST_ERRORS)
    async def get_wallet_account_balance(self, user_address: str) -> Decimal:
        """``GET /getWalletAccountBalance``: collateral in the wallet, not yet deposited.
        Sends ``userAddress`` (current pages; older ones used ``marketId`` + ``address``).

        :raises ValidationError: if ``user_address`` is not an address (nothing is sent).
        """
        return await self._balance("/getWalletAccountBalance", user_address)

    @shared_fields(_REQUEST_ERRORS)
    async def get_profile_balance_snapshot(self, user_address: str) -> Decimal:
        """``GET /getProfileBalanceSnapshot``: the trading-profile balance.

        :raises ValidationError: if ``user_address`` is not an address (nothing is sent).
        """
        return await self._balance("/getProfileBalanceSnapshot", user_address)

    @shared_fields(_REQUEST_ERRORS)
    async def get_net_profile_balance(self, user_address: str) -> Decimal:
        """``GET /getNetProfileBalance``: profile balance plus pending balances of closed
        positions on all markets.

        :raises ValidationError: if ``user_address`` is not an address (nothing is sent).
        """
        return await self._balance("/getNetProfileBalance", user_address)

    @shared_fields(_REQUEST_ERRORS)
    async def get_account_apt_balance(self, user_address: str) -> Decimal:
        """``GET /getAccountAptBalance``: the wallet's APT balance, as the server states it
        (the documents do not say whether in APT or octas).

        :raises ValidationError: if ``user_address`` is not an address (nothing is sent).
        """
        return await self._balance("/getAccountAptBalance", user_address)

    # -- deposits, withdrawals, history ------------------------------------------------------

    async def _build(self, path: str, query: dict[str, str]) -> TxPayload:
        return await self.session.get(path, query, TxPayload)

    @shared_fields(_REQUEST_ERRORS, _PAYLOAD_RESULT)
    async def deposit(self, user_address: str, amount: Money) -> TxPayload:
        """``GET /deposit``: payload moving ``amount`` (human quote units, at most 6
        decimals) from the wallet into the trading profile.

        :raises ValidationError: if ``user_address`` is not an address or ``amount`` is not a
            positive amount of at most 6 decimals (nothing is sent).
        """
        draft = parse_collateral("deposit", amount, user_address=checks.address(user_address))
        return await self.transaction(draft.on(None))

    @shared_fields(_REQUEST_ERRORS, _PAYLOAD_RESULT)
    async def withdraw_specific_market(
        self, user_address: str, market_id: int | str, amount: Money
    ) -> TxPayload:
        """``GET /withdrawSpecifiMarket`` (sic: the spelling two independent clients use
        against the live API; one other writes ``withdrawSpecificMarket``): payload moving
        ``amount`` of one market's collateral back to the wallet.

        :raises ValidationError: if ``user_address`` is not an address, the market name is
            unknown, or ``amount`` is not a positive amount within the quote decimals (with
            ``check_grid``, the market's own) (nothing is sent).
        """
        address = checks.address(user_address)
        mid = await self._mid(market_id)
        draft = parse_collateral("withdraw_specific_market", amount, user_address=address,
                                 market_ids=[mid])
        return await self.transaction(draft.on(await self._grid(mid)))

    @shared_fields(_REQUEST_ERRORS, _PAYLOAD_RESULT)
    async def withdraw_multiple_markets(
        self, user_address: str, market_ids: Sequence[int | str], amount: Money
    ) -> TxPayload:
        """``GET /withdrawMultipleMarkets``: payload withdrawing ``amount`` from several
        markets; ``marketIds`` is sent comma-separated.

        :raises ValidationError: if ``user_address`` is not an address, ``market_ids`` is empty
            or names an unknown market, or ``amount`` is not a positive amount of at most 6
            decimals (nothing is sent).
        """
        address = checks.address(user_address)
        ids = checks.sequence(market_ids, "market_ids")
        if not ids:
            raise ValidationError("market_ids", "must name at least one market")
        mids = [await self._mid(m, f"market_ids[{i}]") for i, m in enumerate(ids)]
        draft = parse_collateral("withdraw_multiple_markets", amount, user_address=address,
                                 market_ids=mids)
        return await self.transaction(draft.on(None))

    @shared_fields(_REQUEST_ERRORS)
    async def get_deposit_and_withdraw_history(self, user_address: str) -> list[DepositWithdraw]:
        """``GET /getDepositAndWithdrawHistory``.

        :raises ValidationError: if ``user_address`` is not an address (nothing is sent).
        """
        query = {"userAddress": checks.address(user_address)}
        return await self.session.get(
            "/getDepositAndWithdrawHistory", query, list[DepositWithdraw]
        )

    @shared_fields(_REQUEST_ERRORS)
    async def get_funding_history(
        self,
        user_address: str,
        market_id: int | str | None = None,
        offset: int = 0,
        limit: int = 10,
        order: str = "desc",
    ) -> list[FundingPayment]:
        """``GET /getFundingHistory``: funding settled on the user's positions, paged.

        :raises ValidationError: if ``user_address`` is not an address, ``market_id`` names no
            market, ``offset`` is negative, ``limit`` is not positive or ``order`` is neither
            ``"asc"`` nor ``"desc"`` (nothing is sent).
        """
        query = _paged(user_address, await self._optional_mid(market_id), offset, limit, order)
        return await self.session.get(
            "/getFundingHistory", query, list[FundingPayment]
        )

    # -- single orders and position updates --------------------------------------------------

    @shared_fields(_REQUEST_ERRORS, _PAYLOAD_RESULT)
    async def place_limit_order(
        self,
        market_id: int | str,
        trade_side: bool,
        direction: bool,
        size: Money,
        price: Money,
        leverage: int,
        restriction: int = 0,
        take_profit: Money | None = None,
        stop_loss: Money | None = None,
    ) -> TxPayload:
        """``GET /placeLimitOrder``. ``trade_side`` True = long position side, False = short;
        ``direction`` False = open/increase, True = close/reduce. ``restriction``: 0 none,
        1 fill-or-abort, 2 immediate-or-cancel, 3 post-or-abort. ``take_profit``/``stop_loss``
        are trigger prices; ``None`` leaves them unset.

        :raises ValidationError: if an argument breaks a rule or, with ``check_grid``, the
            market's grid (lots, ticks, min/max lots, leverage), or the market name is unknown
            (nothing is sent).
        """
        draft = parse_order(
            await self._mid(market_id), trade_side, direction, size, price, leverage,
            restriction, take_profit, stop_loss,
        )
        return await self.transaction(draft.on(await self._grid(draft.market_id)))

    @shared_fields(_REQUEST_ERRORS, _PAYLOAD_RESULT)
    async def place_market_order(
        self,
        market_id: int | str,
        trade_side: bool,
        direction: bool,
        size: Money,
        leverage: int,
        take_profit: Money | None = None,
        stop_loss: Money | None = None,
    ) -> TxPayload:
        """``GET /placeMarketOrder``: like :meth:`place_limit_order` without price and
        restriction; fills against the book at once.

        :raises ValidationError: if an argument breaks a rule or, with ``check_grid``, the
            market's grid (lots, ticks, min/max lots, leverage), or the market name is unknown
            (nothing is sent).
        """
        draft = parse_order(
            await self._mid(market_id), trade_side, direction, size, None, leverage,
            None, take_profit, stop_loss, limit=False,
        )
        return await self.transaction(draft.on(await self._grid(draft.market_id)))

    @shared_fields(_REQUEST_ERRORS, _PAYLOAD_RESULT)
    async def update_take_profit(
        self, market_id: int | str, trade_side: bool, new_take_profit_price: Money
    ) -> TxPayload:
        """``GET /updateTakeProfit`` on the position (``market_id``, ``trade_side``);
        a price of 0 clears it (0 means "none" at placement).

        :raises ValidationError: if ``trade_side`` is not a bool, the price is negative or (with
            ``check_grid``) off the market's tick grid, or the market name is unknown (nothing is
            sent).
        """
        draft = parse_trigger(
            "update_take_profit", await self._mid(market_id), trade_side, new_take_profit_price
        )
        return await self.transaction(draft.on(await self._grid(draft.market_id)))

    @shared_fields(_REQUEST_ERRORS, _PAYLOAD_RESULT)
    async def update_stop_loss(
        self, market_id: int | str, trade_side: bool, new_stop_loss_price: Money
    ) -> TxPayload:
        """``GET /updateStopLoss`` on the position (``market_id``, ``trade_side``);
        a price of 0 clears it.

        :raises ValidationError: if ``trade_side`` is not a bool, the price is negative or (with
            ``check_grid``) off the market's tick grid, or the market name is unknown (nothing is
            sent).
        """
        draft = parse_trigger(
            "update_stop_loss", await self._mid(market_id), trade_side, new_stop_loss_price
        )
        return await self.transaction(draft.on(await self._grid(draft.market_id)))

    @shared_fields(_REQUEST_ERRORS, _PAYLOAD_RESULT)
    async def add_margin(self, market_id: int | str, trade_side: bool, amount: Money) -> TxPayload:
        """``GET /addMargin``: payload adding ``amount`` of collateral (human quote units) to
        the position (``market_id``, ``trade_side``).

        :raises ValidationError: if ``trade_side`` is not a bool, ``amount`` is not a positive
            amount within the quote decimals, or the market name is unknown (nothing is sent).
        """
        mid = await self._mid(market_id)
        draft = parse_collateral("add_margin", amount, market_ids=[mid], trade_side=trade_side)
        return await self.transaction(draft.on(await self._grid(mid)))

    @shared_fields(_REQUEST_ERRORS, _PAYLOAD_RESULT)
    async def collapse_position(self, market_id: int | str) -> TxPayload:
        """``GET /collapsePosition``: payload closing the user's positions in the market.

        :raises ValidationError: if ``market_id`` is neither a market id nor a known market name
            (nothing is sent).
        """
        return await self._build("/collapsePosition", {"marketId": str(await self._mid(market_id))})

    @shared_fields(_REQUEST_ERRORS, _PAYLOAD_RESULT)
    async def settle_pnl(self, user_address: str, market_id: int | str) -> TxPayload:
        """``GET /settlePnl``: payload moving the market's settled PnL into the profile.

        :raises ValidationError: if ``user_address`` is not an address, or ``market_id`` is
            neither a market id nor a known market name (nothing is sent).
        """
        query = _user(user_address, await self._mid(market_id))
        return await self._build("/settlePnl", query)

    # -- batch orders ------------------------------------------------------------------------

    @shared_fields(_REQUEST_ERRORS, _PAYLOAD_RESULT)
    async def place_multiple_orders(
        self,
        market_id: int | str,
        order_types: Sequence[bool],
        trade_sides: Sequence[bool],
        directions: Sequence[bool],
        sizes: Sequence[Money],
        prices: Sequence[Money | None],
        leverages: Sequence[int],
        restriction: int = 0,
        take_profits: Sequence[Money | None] | None = None,
        stop_losses: Sequence[Money | None] | None = None,
    ) -> TxPayload:
        """``POST /placeMultipleOrders``: several orders in one transaction. Lists are
        parallel (element *i* of each describes order *i*) and must be of equal length.
        ``order_types[i]`` True = limit, False = market; a market order's price may be
        ``None`` (sent as 0: the body needs a slot). ``restriction`` applies to every
        limit order (the REST body takes one value).

        :raises ValidationError: if an argument breaks a rule or, with ``check_grid``, the
            market's grid (lots, ticks, min/max lots, leverage),
            lists of unequal length, or the
            market name is unknown
            (nothing is sent).
        """
        draft = parse_placements(
            await self._mid(market_id), order_types, trade_sides, directions, sizes, prices,
            leverages, restriction, take_profits, stop_losses,
        )
        return await self.transaction(draft.on(await self._grid(draft.market_id)))

    @shared_fields(_REQUEST_ERRORS, _PAYLOAD_RESULT)
    async def cancel_multiple_orders(
        self,
        market_id: int | str,
        order_ids: Sequence[int | str],
        cancel_trade_sides: Sequence[bool],
    ) -> TxPayload:
        """``POST /cancelMultipleOrders``: cancel several resting orders in one transaction.

        Body fields are sent as ``cancelOrderIds`` and ``orderSides``: the names three
        independent clients use against the live API (the oldest doc page says ``orderIds``
        and ``cancelTradeSides``). ``cancel_trade_sides[i]`` is the position side of order *i*
        (True long, False short).

        :raises ValidationError: if an order id or side is malformed, the lists differ in
            length, or the market name is unknown (nothing is sent).
        """
        draft = parse_cancels(await self._mid(market_id), order_ids, cancel_trade_sides)
        return await self.transaction(draft.on(None))

    @shared_fields(_REQUEST_ERRORS, _PAYLOAD_RESULT)
    async def cancel_and_place_multiple_orders(
        self,
        market_id: int | str,
        order_ids: Sequence[int | str],
        cancel_trade_sides: Sequence[bool],
        order_types: Sequence[bool],
        trade_sides: Sequence[bool],
        directions: Sequence[bool],
        sizes: Sequence[Money],
        prices: Sequence[Money | None],
        leverages: Sequence[int],
        restriction: int = 0,
        take_profits: Sequence[Money | None] | None = None,
        stop_losses: Sequence[Money | None] | None = None,
    ) -> TxPayload:
        """``POST /cancelAndPlaceMultipleOrders``: cancels and placements in one atomic
        transaction (a quote refresh). Cancels as in :meth:`cancel_multiple_orders`, orders as
        in :meth:`place_multiple_orders`. Field names follow the live clients: ``cancelOrderIds``,
        ``orderSides``, ``tradeSides`` (doc: ``orderIds``, ``cancelTradeSides``,
        ``orderTradeSides``) and ``leverages``.

        :raises ValidationError: if an argument breaks a rule or, with ``check_grid``, the
            market's grid (lots, ticks, min/max lots, leverage), lists of unequal length, or the
            market name is unknown
            (nothing is sent).
        """
        draft = parse_placements(
            await self._mid(market_id), order_types, trade_sides, directions, sizes, prices,
            leverages, restriction, take_profits, stop_losses,
            cancels=(order_ids, cancel_trade_sides),
        )
        market = await self._grid(draft.market_id) if draft.needs_market else None
        return await self.transaction(draft.on(market))

    @shared_fields(_REQUEST_ERRORS, _PAYLOAD_RESULT)
    async def transaction(self, terms: Terms) -> TxPayload:
        """The unsigned payload of checked order terms (:mod:`kana_async.orders`): the one
        place an order's wire text is sent. The trader calls this with terms built on the
        market's grid and compares the answer with the same terms before signing.
        """
        path = _PATHS[terms.function]
        if isinstance(terms, BatchTerms):
            return await self._post(path, terms.body())
        return await self._build(path, terms.query())

    async def _post(self, path: str, body: dict[str, Any]) -> TxPayload:
        return await self.session.post(path, _BODY.encode(body), TxPayload)

    # -- orders, positions, fills ------------------------------------------------------------

    @shared_fields(_REQUEST_ERRORS)
    async def get_open_orders(
        self, user_address: str, market_id: int | str | None = None
    ) -> list[OpenOrder]:
        """``GET /getOpenOrders`` (indexer view); all markets when ``market_id`` is None.

        :raises ValidationError: if ``user_address`` is not an address, or ``market_id`` is
            neither a market id nor a known market name (nothing is sent).
        """
        query = _user(user_address, await self._optional_mid(market_id))
        return await self.session.get("/getOpenOrders", query, list[OpenOrder])

    @shared_fields(_REQUEST_ERRORS)
    async def get_open_orders_from_contract(
        self, user_address: str, market_id: int | str
    ) -> list[OpenOrder]:
        """``GET /getOpenOrdersFromContract``: open orders read from the chain (no indexer
        lag).

        :raises ValidationError: if ``user_address`` is not an address, or ``market_id`` is
            neither a market id nor a known market name (nothing is sent).
        """
        query = _user(user_address, await self._mid(market_id))
        return await self.session.get(
            "/getOpenOrdersFromContract", query, list[OpenOrder]
        )

    @shared_fields(_REQUEST_ERRORS)
    async def get_order_history(
        self,
        user_address: str,
        market_id: int | str | None = None,
        offset: int = 0,
        limit: int = 10,
        order: str = "desc",
    ) -> list[Order]:
        """``GET /getOrderHistory``, paged (``order`` is ``"asc"`` or ``"desc"`` by time).
        Sends ``userAddress`` as current clients do (the oldest page says ``address``).

        :raises ValidationError: if ``user_address`` is not an address, ``market_id`` names no
            market, ``offset`` is negative, ``limit`` is not positive or ``order`` is neither
            ``"asc"`` nor ``"desc"`` (nothing is sent).
        """
        query = _paged(user_address, await self._optional_mid(market_id), offset, limit, order)
        return await self.session.get("/getOrderHistory", query, list[Order])

    @shared_fields(_REQUEST_ERRORS)
    async def get_positions(
        self, user_address: str, market_id: int | str | None = None
    ) -> list[Position]:
        """``GET /getPositions`` (indexer view); all markets when ``market_id`` is None.

        :raises ValidationError: if ``user_address`` is not an address, or ``market_id`` is
            neither a market id nor a known market name (nothing is sent).
        """
        query = _user(user_address, await self._optional_mid(market_id))
        return await self.session.get("/getPositions", query, list[Position])

    @shared_fields(_REQUEST_ERRORS)
    async def get_positions_from_contract(
        self, user_address: str, market_id: int | str
    ) -> list[Position]:
        """``GET /getPositionsFromContract``: positions read from the chain.

        :raises ValidationError: if ``user_address`` is not an address, or ``market_id`` is
            neither a market id nor a known market name (nothing is sent).
        """
        query = _user(user_address, await self._mid(market_id))
        return await self.session.get(
            "/getPositionsFromContract", query, list[Position]
        )

    @shared_fields(_REQUEST_ERRORS)
    async def get_order_status_by_order_id(
        self, market_id: int | str, order_id: int | str
    ) -> Order:
        """``GET /getOrderStatusByOrderId`` (the docs' name; some clients call
        ``/fetchOrderStatusById``): one order's current record.

        :raises ValidationError: if ``order_id`` is not an order id, or ``market_id`` is neither
            a market id nor a known market name (nothing is sent).
        """
        query = {"marketId": str(await self._mid(market_id)), "orderId": checks.order_id(order_id)}
        return await self.session.get("/getOrderStatusByOrderId", query, Order)

    @shared_fields(_REQUEST_ERRORS)
    async def get_fills(
        self,
        market_id: int | str,
        from_time: Any,
        to_time: Any,
        user_address: str | None = None,
        order_id: int | str | None = None,
    ) -> list[Trade]:
        """``GET /getFills`` between two times (aware ``datetime`` or ISO-8601 strings with an
        offset, sent as UTC ``...Z`` in ``from``/``to``). Optional filters: ``userAddress``
        (current clients' name; the oldest page says ``address``) and ``orderId``.

        :raises ValidationError: if a time is not an aware ``datetime`` or ISO-8601 text with an
            offset, ``from_time`` is after ``to_time``, a filter is malformed, or the market name
            is unknown (nothing is sent).
        """
        query = {"marketId": str(await self._mid(market_id))}
        start = p.iso_time(from_time, "from_time")
        end = p.iso_time(to_time, "to_time")
        if start > end:
            raise ValidationError("from_time", "must not be after to_time", from_time)
        query["from"] = p.iso_text(start)
        query["to"] = p.iso_text(end)
        if user_address is not None:
            query["userAddress"] = checks.address(user_address)
        if order_id is not None:
            query["orderId"] = checks.order_id(order_id)
        return await self.session.get("/getFills", query, list[Trade])

    @shared_fields(_REQUEST_ERRORS)
    async def get_fills_for_given_timestamp(
        self,
        user_address: str,
        from_timestamp: Any,
        to_timestamp: Any,
        market_id: int | str | None = None,
    ) -> list[Trade]:
        """``GET /getFillsForGivenTimestamp``: the user's fills between two Unix times
        (seconds, or aware ``datetime``).

        :raises ValidationError: if ``user_address`` is not an address, a time is neither Unix
            seconds nor an aware ``datetime``, ``from_timestamp`` is after ``to_timestamp``, or the
            market name is unknown (nothing is sent).
        """
        query = _user(user_address, await self._optional_mid(market_id))
        start = p.unix_time(from_timestamp, "from_timestamp")
        end = p.unix_time(to_timestamp, "to_timestamp")
        if start > end:
            raise ValidationError("from_timestamp", "must not be after to_timestamp", start)
        query["fromTimestamp"] = str(start)
        query["toTimestamp"] = str(end)
        return await self.session.get(
            "/getFillsForGivenTimestamp", query, list[Trade]
        )

    @shared_fields(_REQUEST_ERRORS)
    async def get_trade_history(
        self, user_address: str, market_id: int | str | None = None
    ) -> list[Trade]:
        """``GET /getTradeHistory``: the user's fills; all markets when ``market_id`` is
        None.

        :raises ValidationError: if ``user_address`` is not an address, or ``market_id`` is
            neither a market id nor a known market name (nothing is sent).
        """
        query = _user(user_address, await self._optional_mid(market_id))
        return await self.session.get("/getTradeHistory", query, list[Trade])

    @shared_fields(_REQUEST_ERRORS)
    async def get_all_open_order_ids(
        self, user_address: str, market_id: int | str
    ) -> list[str]:
        """``GET /getAllOpenOrderIds``: ids of the user's resting orders (decimal strings,
        even when the server sends numbers).

        :raises ValidationError: if ``user_address`` is not an address, or ``market_id`` is
            neither a market id nor a known market name (nothing is sent).
        """
        ids: list[str | int] = await self.session.get(
            "/getAllOpenOrderIds", _user(user_address, await self._mid(market_id)), _IDS
        )
        return [str(i) for i in ids]


# -- argument helpers (pure) ---------------------------------------------------------------


def _user(user_address: str, market_id: int | None) -> dict[str, str]:
    """The query of a user's endpoint (``market_id`` already resolved; ``None``: all)."""
    query = {"userAddress": checks.address(user_address)}
    if market_id is not None:
        query["marketId"] = str(market_id)
    return query


def _paged(
    user_address: str, market_id: int | None, offset: int, limit: int, order: str
) -> dict[str, str]:
    query = _user(user_address, market_id)
    query["offset"] = str(checks.non_negative_int(offset, "offset"))
    query["limit"] = str(checks.positive_int(limit, "limit"))
    query["order"] = p.sort_order(order)
    return query
