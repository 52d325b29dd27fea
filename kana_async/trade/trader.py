"""High-level trading: validate, build (REST), check, encode, sign, submit, confirm.

Every method follows the same safe path:

1. parse the inputs once into order terms (:mod:`kana_async.orders`) on the market's cached
   ``MarketInfo``: lots, ticks, leverage, TP/SL, restriction and the on-chain integers the
   transaction must carry — nothing is sent if a value breaks a rule;
2. ask the REST API for the payload of those same terms (the builder sends their wire text);
3. refuse the payload unless it calls the expected ``perpetual_scripts`` function of the
   expected package with exactly those integers (a server bug or a tampered answer must not
   be signed);
4. encode it from the module ABI, sign, submit and (unless ``wait=False``) wait.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from .. import checks, orders
from .._docfields import shared_fields
from ..aptos.abi import AbiCache, decode_arguments
from ..config import KANA_PACKAGE_ADDRESS
from ..errors import PayloadMismatchError, ValidationError, describe_value
from ..models import MarketInfo, OpenOrder, TxPayload, normalize_address
from ..units import Money
from .node import NodeClient
from .results import TxResult
from .signer import Signer
from .submitter import Submitter

__all__ = ["PayloadMismatchError", "PayloadSource", "Trader"]

#: What every trading call raises once its own arguments passed.
_SUBMISSION_ERRORS = """
:raises PayloadMismatchError: if the REST API's payload does not carry exactly these
    terms; nothing is signed.
:raises ApiError: if the REST API or the node refuses a request (:class:`AuthError`,
    :class:`RateLimitError` among them) before signing; nothing is signed.
:raises TransportError: if the REST API or the node gives no usable answer before
    signing, or the connection for the submission never opened; nothing was sent.
:raises TransactionRejectedError: if the node refused the transaction; it never executes.
:raises UnknownOutcomeError: if it was sent but its fate is unknown: no answer within
    ``submit_timeout`` or, with ``wait``, no commit within ``wait_timeout`` or a refused
    status read. It is never re-sent; settle it with :meth:`resolve`.
:raises KanaError: if trading is not set up (no ``private_key``) or was closed.
"""

#: What every trading call returns.
_SUBMISSION_RESULT = """
:returns: the outcome (pending with ``wait=False``); a transaction that committed but
    failed comes back with ``success=False``, not raised.
"""


MODULE = "perpetual_scripts"

#: Most orders :meth:`Trader.cancel_all` cancels in one transaction. The documents state no
#: limit; this keeps each transaction small (its gas, and what a failure takes with it).
MAX_CANCELS_PER_TRANSACTION = 20


class PayloadSource(Protocol):
    """What the trader needs from the REST client (:class:`~kana_async.rest.KanaRest`):
    market ids and grids, and unsigned payloads of checked terms."""

    async def resolve_market_id(self, market: int | str, param: str = "market_id") -> int: ...

    async def market_info(self, market_id: int | str) -> MarketInfo: ...

    async def transaction(self, terms: orders.Terms) -> TxPayload: ...

    async def settle_pnl(self, user_address: str, market_id: int | str) -> TxPayload: ...

    async def collapse_position(self, market_id: int | str) -> TxPayload: ...

    async def get_open_orders_from_contract(
        self, user_address: str, market_id: int | str
    ) -> list[OpenOrder]: ...


class Trader:
    """Trading for one wallet: ``Trader(rest, node, signer)``; a bot uses ``kana.trader`` or
    the same methods on :class:`~kana_async.KanaClient`.

    Every transaction is checked in full before it is signed: the arguments and the market's
    grid (``ValidationError``), then the REST API's payload against the same terms
    (``PayloadMismatchError``). Results are :class:`~kana_async.TxResult` (``.tx_hash``,
    ``.success``). A committed transaction that failed is returned with ``success=False``
    (call ``result.raise_for_status()`` to raise instead); a transaction whose fate is unknown
    raises :class:`~kana_async.UnknownOutcomeError` and is never re-sent — see :meth:`resolve`.
    """

    def __init__(
        self,
        rest: PayloadSource,
        node: NodeClient,
        signer: Signer,
        *,
        submitter: Submitter | None = None,
        package_address: str = KANA_PACKAGE_ADDRESS,
        **submitter_options: Any,
    ) -> None:
        self.rest = rest
        self.node = node
        self._signer = signer
        self.package_address = normalize_address(package_address, param="package_address")
        self.submitter = submitter or Submitter(node, signer, **submitter_options)
        self.abi = AbiCache(node.module)

    @property
    def address(self) -> str:
        """The signer's wallet address."""
        return self._signer.address

    def __repr__(self) -> str:
        return f"Trader(address={self.address}, node={self.node.base_url})"

    # -- the common path ---------------------------------------------------------------------

    async def _execute(
        self, function: str, expected: list[Any], build: Any, *, wait: bool
    ) -> TxResult:
        payload: TxPayload = await build
        entry = await self._checked_entry(function, expected, payload)
        return await self.submitter.submit(entry, wait=wait)

    async def _execute_terms(self, terms: orders.Terms, *, wait: bool) -> TxResult:
        """Build the payload of ``terms`` and sign it only if it carries their arguments."""
        return await self._execute(terms.function, terms.arguments(),
                                   self.rest.transaction(terms), wait=wait)

    async def _checked_entry(self, function: str, expected: list[Any], payload: TxPayload) -> Any:
        wanted = f"{self.package_address}::{MODULE}::{function}"
        parts = payload.function.split("::")
        try:
            got = f"{normalize_address(parts[0])}::{parts[1]}::{parts[2]}"
        except (ValidationError, IndexError):
            got = payload.function
        if len(parts) != 3 or got != wanted:
            raise PayloadMismatchError(
                f"payload {function}",
                f"the server returned a payload for {payload.function!r}, expected {wanted}; "
                "not signed",
            )
        entry = await self.abi.encode(payload)
        module = await self.abi.module(self.package_address, MODULE)
        actual = decode_arguments(module.entry_function(function), entry.args)
        mismatch = _first_difference(actual, expected)
        if mismatch is not None:
            where, got_value, want_value = mismatch
            raise PayloadMismatchError(
                f"payload {function}",
                f"argument {where} is {describe_value(got_value)}, expected "
                f"{describe_value(want_value)}; not signed",
            )
        return entry

    async def _mid(self, market: int | str, param: str = "market_id") -> int:
        return await self.rest.resolve_market_id(market, param)

    async def _market(self, market_id: int | str) -> tuple[int, MarketInfo]:
        mid = await self._mid(market_id)
        return mid, await self.rest.market_info(mid)

    # -- collateral --------------------------------------------------------------------------

    @shared_fields(_SUBMISSION_ERRORS, _SUBMISSION_RESULT)
    async def deposit(self, amount: Money, *, wait: bool = True) -> TxResult:
        """Move ``amount`` (human quote units, at most 6 decimals) from the wallet into the
        trading profile.

        :raises ValidationError: if ``amount`` is not a positive amount of at most 6 decimals,
            or the node serves another chain; nothing is signed.
        """
        draft = orders.parse_collateral("deposit", amount, user_address=self.address)
        return await self._execute_terms(draft.on(None), wait=wait)

    @shared_fields(_SUBMISSION_ERRORS, _SUBMISSION_RESULT)
    async def withdraw(self, market_id: int | str, amount: Money, *, wait: bool = True
                       ) -> TxResult:
        """Move ``amount`` of one market's collateral back to the wallet.

        :raises ValidationError: if ``amount`` is not a positive amount within the market's
            quote decimals, the market name is unknown, or the node serves another chain;
            nothing is signed.
        """
        mid, info = await self._market(market_id)
        draft = orders.parse_collateral(
            "withdraw_specific_market", amount, user_address=self.address, market_ids=[mid]
        )
        return await self._execute_terms(draft.on(info), wait=wait)

    @shared_fields(_SUBMISSION_ERRORS, _SUBMISSION_RESULT)
    async def withdraw_multiple(
        self, market_ids: Sequence[int | str], amount: Money, *, wait: bool = True
    ) -> TxResult:
        """Withdraw ``amount`` from several markets in one transaction.

        :raises ValidationError: if an argument breaks a rule, ``market_ids`` is empty or names
            an unknown market, or the node serves another chain; nothing is signed.
        """
        checks.sequence(market_ids, "market_ids")
        mids = [await self._mid(m, f"market_ids[{i}]") for i, m in enumerate(market_ids)]
        if not mids:
            raise ValidationError("market_ids", "must name at least one market")
        draft = orders.parse_collateral(
            "withdraw_multiple_markets", amount, user_address=self.address, market_ids=mids
        )
        return await self._execute_terms(draft.on(None), wait=wait)

    @shared_fields(_SUBMISSION_ERRORS, _SUBMISSION_RESULT)
    async def add_margin(
        self, market_id: int | str, trade_side: bool, amount: Money, *, wait: bool = True
    ) -> TxResult:
        """Add ``amount`` of collateral to the position (``market_id``, ``trade_side``).

        :raises ValidationError: if an argument breaks a rule, the market name is unknown, or
            the node serves another chain; nothing is signed.
        """
        mid, info = await self._market(market_id)
        draft = orders.parse_collateral(
            "add_margin", amount, market_ids=[mid], trade_side=trade_side
        )
        return await self._execute_terms(draft.on(info), wait=wait)

    @shared_fields(_SUBMISSION_ERRORS, _SUBMISSION_RESULT)
    async def settle_pnl(
        self, market_id: int | str, user_address: str | None = None, *, wait: bool = True
    ) -> TxResult:
        """Settle a user's PnL in a market (the signer's own by default).

        :raises ValidationError: if ``user_address`` is not an address, the market name is
            unknown, or the node serves another chain; nothing is signed.
        """
        mid = await self._mid(market_id)
        user = normalize_address(user_address or self.address, param="user_address")
        return await self._execute(
            "settle_pnl", [user, mid], self.rest.settle_pnl(user, mid), wait=wait
        )

    # -- orders ------------------------------------------------------------------------------

    @shared_fields(_SUBMISSION_ERRORS, _SUBMISSION_RESULT)
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
        *,
        wait: bool = True,
    ) -> TxResult:
        """A limit order. ``trade_side`` True = long side; ``direction`` False = open,
        True = close; ``restriction`` 0 none, 1 fill-or-abort, 2 IOC, 3 post-only;
        ``take_profit``/``stop_loss`` are trigger prices (``None``: unset).

        :raises ValidationError: if an argument breaks a rule or the market's grid (lots,
            ticks, min/max lots, leverage), the market name is unknown, or the node serves
            another chain; nothing is signed.
        """
        draft = orders.parse_order(await self._mid(market_id), trade_side, direction, size,
                                   price, leverage, restriction, take_profit, stop_loss)
        terms = draft.on(await self.rest.market_info(draft.market_id))
        return await self._execute_terms(terms, wait=wait)

    @shared_fields(_SUBMISSION_ERRORS, _SUBMISSION_RESULT)
    async def place_market_order(
        self,
        market_id: int | str,
        trade_side: bool,
        direction: bool,
        size: Money,
        leverage: int,
        take_profit: Money | None = None,
        stop_loss: Money | None = None,
        *,
        wait: bool = True,
    ) -> TxResult:
        """A market order: fills against the book at once (arguments as in
        :meth:`place_limit_order`, without price and restriction).

        :raises ValidationError: if an argument breaks a rule or the market's grid (lots,
            ticks, min/max lots, leverage), the market name is unknown, or the node serves
            another chain; nothing is signed.
        """
        draft = orders.parse_order(await self._mid(market_id), trade_side, direction, size,
                                   None, leverage, None, take_profit, stop_loss, limit=False)
        terms = draft.on(await self.rest.market_info(draft.market_id))
        return await self._execute_terms(terms, wait=wait)

    @shared_fields(_SUBMISSION_ERRORS, _SUBMISSION_RESULT)
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
        *,
        wait: bool = True,
    ) -> TxResult:
        """Several orders in one transaction (parallel lists; ``order_types[i]`` True =
        limit, False = market, whose price may be None).

        :raises ValidationError: if an argument breaks a rule or the market's grid (lots,
            ticks, min/max lots, leverage), the lists differ in length, the market name is
            unknown, or the node serves another chain; nothing is signed.
        """
        draft = orders.parse_placements(
            await self._mid(market_id), order_types, trade_sides, directions, sizes, prices,
            leverages, restriction, take_profits, stop_losses,
        )
        terms = draft.on(await self.rest.market_info(draft.market_id))
        return await self._execute_terms(terms, wait=wait)

    @shared_fields(_SUBMISSION_ERRORS, _SUBMISSION_RESULT)
    async def cancel_multiple_orders(
        self,
        market_id: int | str,
        order_ids: Sequence[int | str],
        cancel_trade_sides: Sequence[bool],
        *,
        wait: bool = True,
    ) -> TxResult:
        """Cancel resting orders; ``cancel_trade_sides[i]`` is order *i*'s position side.

        :raises ValidationError: if an order id or side is malformed, the lists differ in
            length, the market name is unknown, or the node serves another chain; nothing is
            signed.
        """
        draft = orders.parse_cancels(await self._mid(market_id), order_ids, cancel_trade_sides)
        return await self._execute_terms(draft.on(None), wait=wait)

    @shared_fields(_SUBMISSION_ERRORS, _SUBMISSION_RESULT)
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
        *,
        wait: bool = True,
    ) -> TxResult:
        """Cancels and placements in one atomic transaction (a quote refresh): cancels as in
        :meth:`cancel_multiple_orders`, orders as in :meth:`place_multiple_orders`.

        :raises ValidationError: if an argument breaks a rule or the market's grid (lots,
            ticks, min/max lots, leverage), the lists differ in length, the market name is
            unknown, or the node serves another chain; nothing is signed.
        """
        draft = orders.parse_placements(
            await self._mid(market_id), order_types, trade_sides, directions, sizes, prices,
            leverages, restriction, take_profits, stop_losses,
            cancels=(order_ids, cancel_trade_sides),
        )
        market = await self.rest.market_info(draft.market_id) if draft.needs_market else None
        return await self._execute_terms(draft.on(market), wait=wait)

    async def open_order_sides(
        self, market_id: int | str, order_ids: Sequence[int | str]
    ) -> list[bool]:
        """The position side (True long) of each of the signer's open orders in a market,
        read from the chain (``getOpenOrdersFromContract``). Nothing is signed.

        :raises ValidationError: if an order id is malformed or not an open order of the signer
            in that market (filled, cancelled, never placed), or the market name is unknown.
        :raises ApiError: if the REST API refuses the read (:class:`AuthError`,
            :class:`RateLimitError` among them) or its answer cannot be read.
        :raises TransportError: if the REST API gives no usable answer within the retry policy.
        """
        mid = await self._mid(market_id)
        wanted = [checks.order_id(v, f"order_ids[{i}]")
                  for i, v in enumerate(checks.sequence(order_ids, "order_ids"))]
        sides = {_order_key(o.order_id): o.trade_side
                 for o in await self.rest.get_open_orders_from_contract(self.address, mid)}
        found = []
        for i, oid in enumerate(wanted):
            side = sides.get(oid)
            if side is None:
                raise ValidationError(
                    f"order_ids[{i}]", f"is not an open order of the signer in market {mid} "
                    "(filled, cancelled or never placed); nothing was sent", oid,
                )
            found.append(side)
        return found

    @shared_fields(_SUBMISSION_ERRORS, _SUBMISSION_RESULT)
    async def cancel_order(
        self, market_id: int | str, order_id: int | str, *, wait: bool = True
    ) -> TxResult:
        """Cancel one of the signer's resting orders; its side is looked up among the open
        orders read from the chain first.

        :raises ValidationError: if ``order_id`` is malformed or not an open order of the signer
            in that market, the market name is unknown, or the node serves another chain;
            nothing is signed.
        """
        mid = await self._mid(market_id)
        oid = checks.order_id(order_id)
        try:
            (side,) = await self.open_order_sides(mid, [oid])
        except ValidationError as exc:
            raise ValidationError("order_id", exc.rule, exc.value) from None
        return await self.cancel_multiple_orders(mid, [oid], [side], wait=wait)

    @shared_fields(_SUBMISSION_ERRORS)
    async def cancel_all(self, market_id: int | str, *, wait: bool = True) -> list[TxResult]:
        """Cancel every resting order of the signer in a market, at most
        ``MAX_CANCELS_PER_TRANSACTION`` (20) per transaction, one transaction after the other.
        Returns each transaction's result; no open order: ``[]`` and nothing is sent. An
        error stops at that transaction: the earlier ones were sent, and a later call cancels
        what is still open.

        :raises ValidationError: if an argument breaks a rule, the market name is unknown, or
            the node serves another chain; nothing is signed.
        """
        mid = await self._mid(market_id)
        orders = await self.rest.get_open_orders_from_contract(self.address, mid)
        batch = MAX_CANCELS_PER_TRANSACTION
        results = []
        for start in range(0, len(orders), batch):
            chunk = orders[start:start + batch]
            results.append(await self.cancel_multiple_orders(
                mid, [o.order_id for o in chunk], [o.trade_side for o in chunk], wait=wait,
            ))
        return results

    # -- positions ---------------------------------------------------------------------------

    async def _trigger(
        self, function: str, market_id: int | str, trade_side: bool, price: Money, wait: bool,
    ) -> TxResult:
        draft = orders.parse_trigger(function, await self._mid(market_id), trade_side, price)
        terms = draft.on(await self.rest.market_info(draft.market_id))
        return await self._execute_terms(terms, wait=wait)

    @shared_fields(_SUBMISSION_ERRORS, _SUBMISSION_RESULT)
    async def update_take_profit(
        self, market_id: int | str, trade_side: bool, new_take_profit_price: Money,
        *, wait: bool = True,
    ) -> TxResult:
        """Set (or with 0 clear) the take-profit of the position (``market_id``, side).

        :raises ValidationError: if the side is not a bool, the price is negative or off the
            market's tick grid, the market name is unknown, or the node serves another chain;
            nothing is signed.
        """
        return await self._trigger("update_take_profit", market_id, trade_side,
                                   new_take_profit_price, wait)

    @shared_fields(_SUBMISSION_ERRORS, _SUBMISSION_RESULT)
    async def update_stop_loss(
        self, market_id: int | str, trade_side: bool, new_stop_loss_price: Money,
        *, wait: bool = True,
    ) -> TxResult:
        """Set (or with 0 clear) the stop-loss of the position (``market_id``, side).

        :raises ValidationError: if the side is not a bool, the price is negative or off the
            market's tick grid, the market name is unknown, or the node serves another chain;
            nothing is signed.
        """
        return await self._trigger("update_stop_loss", market_id, trade_side,
                                   new_stop_loss_price, wait)

    @shared_fields(_SUBMISSION_ERRORS, _SUBMISSION_RESULT)
    async def collapse_position(self, market_id: int | str, *, wait: bool = True) -> TxResult:
        """Close the wallet's positions in the market at once.

        :raises ValidationError: if an argument breaks a rule, the market name is unknown, or
            the node serves another chain; nothing is signed.
        """
        mid = await self._mid(market_id)
        return await self._execute(
            "collapse_position", [mid], self.rest.collapse_position(mid), wait=wait
        )

    # -- outcomes ----------------------------------------------------------------------------

    async def wait(self, tx_hash: str, *, timeout: float | None = None) -> TxResult:
        """Wait for a transaction submitted with ``wait=False`` until it commits (or surely
        expired: ``committed=False``). ``timeout`` defaults to ``wait_timeout``; the node's
        failures meanwhile are retried until then.

        :raises ValidationError: if ``tx_hash`` is not ``0x`` and 64 hex digits.
        :raises UnknownOutcomeError: if it neither committed nor surely expired within
            ``timeout`` (a busy node is asked again meanwhile), or the node refused a status
            read (a 4xx, a redirect); it stays in :meth:`in_doubt` (settle it with
            :meth:`resolve`).
        """
        return await self.submitter.wait(tx_hash, timeout=timeout)

    async def resolve(self, tx_hash: str, *, timeout: float | None = None) -> TxResult:
        """The true outcome of a transaction that raised ``UnknownOutcomeError`` (or is listed
        by :meth:`in_doubt`); it then leaves :meth:`in_doubt`.

        Waits until it commits or its expiry has passed on chain (then ``committed=False``:
        it can never execute, sending again is safe). ``timeout`` caps the wait; by default
        it lasts until the expiry. A hash from before a restart is resolved the same way.

        :raises ValidationError: if ``tx_hash`` is not ``0x`` and 64 hex digits.
        :raises UnknownOutcomeError: if ``timeout`` passed first, the node could not be read
            until the expiry, or it refused a status read (a 4xx, a redirect); it stays in
            doubt, call again later.
        """
        return await self.submitter.resolve(tx_hash, timeout=timeout)

    def in_doubt(self) -> list[str]:
        """Hashes of transactions signed and maybe sent whose outcome is not known yet."""
        return self.submitter.in_doubt()

    async def aclose(self) -> None:
        """Stop the submitter's background reconciler (in-doubt hashes stay listed).

        :raises: nothing; closing twice is fine.
        """
        await self.submitter.aclose()


def _order_key(order_id: str) -> str:
    """An order id as :func:`checks.order_id` writes it (the wire may pad or vary)."""
    try:
        return checks.order_id(order_id)
    except ValidationError:
        return order_id


def _first_difference(actual: Any, expected: Any, where: str = "") -> tuple[str, Any, Any] | None:
    """Where ``actual`` departs from ``expected`` (None in ``expected`` matches anything)."""
    if expected is None:
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return where or "list", actual, expected
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            found = _first_difference(a, e, f"{where}[{i}]" if where else str(i))
            if found is not None:
                return found
        return None
    if isinstance(expected, str) and isinstance(actual, str):
        if normalize_address(actual) != normalize_address(expected):
            return where, actual, expected
        return None
    if type(actual) is not type(expected) or actual != expected:
        return where, actual, expected
    return None
