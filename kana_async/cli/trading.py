"""Commands that sign: ``place``, ``cancel``, ``deposit`` and ``withdraw``.

Each one checks its input against the market's rules first, then shows what it is about to
sign and asks (``--yes`` answers for scripts; without a terminal and without ``--yes`` it
refuses), then signs, submits and waits for the confirmation behind a spinner. A transaction
that fails on chain, or whose fate is unknown, is an error (status 1) that names its hash.
A confirmed ``place`` shows the id of each order it placed (from the transaction's events),
with what filled at once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

import msgspec

from ..errors import ValidationError
from .account import order_side
from .args import (
    CliError,
    Command,
    UsageError,
    add_connection_options,
    decimal_number,
    leverage,
    market,
    positive_decimal,
)
from .connect import client, resolve_market, throwaway_wallet
from .output import Lines, confirm, say, spinner, warn
from .views import fmt, format_seconds

if TYPE_CHECKING:
    from ..client import KanaClient
    from ..models import MarketInfo
    from ..trade.results import TxResult

__all__ = ["CANCEL", "DEPOSIT", "PLACE", "WITHDRAW"]

_RESTRICTIONS = {0: "no restriction", 1: "fill-or-abort", 2: "immediate-or-cancel",
                 3: "post-only"}


def _add_signing_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--yes", "-y", action="store_true",
                        help="sign without asking (needed when stdin is not a terminal)")
    parser.add_argument("--no-wait", action="store_true",
                        help="return once submitted, without waiting for the confirmation")
    parser.add_argument("--json", action="store_true",
                        help="print the outcome as one JSON object per transaction")
    add_connection_options(parser, wallet=True)


class _Outcome(msgspec.Struct):
    action: str
    tx_hash: str
    committed: bool
    success: bool | None
    vm_status: str
    version: int | None
    seconds: float
    order_ids: list[str]
    cancelled_order_ids: list[str]


def _no_details(result: TxResult) -> list[str]:
    return []


@dataclass(frozen=True)
class _Transaction:
    """One transaction to sign: what it does (for people), the call that does it, what to
    say of its confirmed result beyond the hash, and a hint when it fails for lack of
    collateral."""

    action: str
    send: Callable[[KanaClient, bool], Awaitable[TxResult]]
    details: Callable[[TxResult], list[str]] = field(default=_no_details)
    short_of_collateral: str = ""


#: Collateral asked for beyond an order's margin, as a share of its notional value: the
#: exchange's fee (Kana's taker fee is well under 1 %) and the slippage of a market order.
COLLATERAL_HEADROOM = Decimal("0.01")


def collateral_for(size: Decimal, price: Decimal, leverage: int, orders: int = 1) -> Decimal:
    """Quote coin to deposit for ``orders`` opening orders of ``size`` at ``price``: the
    margin (notional / leverage) plus :data:`COLLATERAL_HEADROOM`, rounded up to a cent."""
    notional = size * price
    need = orders * (notional / leverage + notional * COLLATERAL_HEADROOM)
    return need.quantize(Decimal("0.01"), rounding="ROUND_CEILING")


async def _sign_all(
    args: argparse.Namespace, kana: KanaClient, transactions: list[_Transaction]
) -> int:
    """Ask once for all of ``transactions``, then send them one after the other."""
    network = args.network if args.local_port is None else f"local :{args.local_port}"
    summary = "\n".join(f"  {t.action}" for t in transactions)
    await confirm(f"On {network}, wallet {kana.address}:\n{summary}", assume_yes=args.yes)
    out = Lines() if args.json else None
    try:
        await _send_all(args, kana, transactions, out)
    except (asyncio.CancelledError, KeyboardInterrupt):
        _report_in_doubt(kana)
        raise
    return 0


def _report_in_doubt(kana: KanaClient) -> None:
    """Interrupted mid-submission, a transaction may still execute: name it on stderr (even if
    stdout is gone) so that nobody sends it again blindly."""
    for tx_hash in kana.in_doubt():
        with contextlib.suppress(OSError, ValueError):  # a closed stderr: nothing to add
            warn(f"interrupted: transaction {tx_hash} may still execute; check it before "
                 "sending again")


async def _send_all(args: argparse.Namespace, kana: KanaClient,
                    transactions: list[_Transaction], out: Lines | None) -> None:
    for transaction in transactions:
        started = time.monotonic()
        waiting = "submitting" if args.no_wait else "waiting for the confirmation"
        with spinner(f"{transaction.action}: {waiting}…"):
            result = await transaction.send(kana, not args.no_wait)
        elapsed = time.monotonic() - started
        if out is not None:
            out.write(_Outcome(transaction.action, result.tx_hash, result.committed,
                               result.success, result.vm_status, result.version,
                               round(elapsed, 4), result.order_ids,
                               result.cancelled_order_ids))
        if result.success is False:
            hint = ""
            if transaction.short_of_collateral and "INSUFFICIENT_BALANCE" in result.vm_status:
                hint = f" ({transaction.short_of_collateral})"
            raise CliError(f"{transaction.action}: transaction {result.tx_hash} failed: "
                           f"{result.vm_status}{hint}")
        if out is None:
            if result.pending:
                _say(f"sent: {transaction.action}\n  tx {result.tx_hash} "
                     "(not waiting for the confirmation)")
            else:
                lines = [f"confirmed in {format_seconds(elapsed)}: {transaction.action}",
                         f"tx {result.tx_hash} (version {result.version})",
                         *transaction.details(result)]
                _say("\n  ".join(lines))


def _say(text: str) -> None:
    say(text)


def _check(check: Callable[[], object]) -> None:
    """Input checks against the market: a broken rule is a usage error naming the option."""
    try:
        check()
    except ValidationError as exc:
        raise UsageError(str(exc)) from None


# -- place -----------------------------------------------------------------------------------


def _configure_place(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--market", type=market, required=True, metavar="MARKET",
                        help="market id (1338) or name (APT)")
    parser.add_argument("--side", choices=("long", "short"), required=True,
                        help="the position side the order trades")
    direction = parser.add_mutually_exclusive_group()
    direction.add_argument("--open", dest="close", action="store_false", default=False,
                           help="open or add to the position (default)")
    direction.add_argument("--close", dest="close", action="store_true",
                           help="reduce or close the position")
    parser.add_argument("--size", type=positive_decimal, required=True, metavar="SIZE",
                        help="in base units, e.g. 0.5 (APT); must fit the market's lot")
    parser.add_argument("--price", type=positive_decimal, metavar="PRICE",
                        help="limit price; without it the order is a market order")
    parser.add_argument("--leverage", type=leverage, required=True, metavar="N",
                        help="leverage, e.g. 2 for 2x (at most the market's maximum)")
    restriction = parser.add_mutually_exclusive_group()
    restriction.add_argument("--post-only", action="store_true",
                             help="limit order that must rest (restriction 3)")
    restriction.add_argument("--restriction", type=int, choices=sorted(_RESTRICTIONS),
                             metavar="N",
                             help="0 none, 1 fill-or-abort, 2 immediate-or-cancel, 3 post-only")
    parser.add_argument("--tp", type=decimal_number, metavar="PRICE",
                        help="take-profit trigger price")
    parser.add_argument("--sl", type=decimal_number, metavar="PRICE",
                        help="stop-loss trigger price")
    _add_signing_options(parser)


def _place_transaction(args: argparse.Namespace, info: MarketInfo) -> _Transaction:
    from ..units import check_leverage, price_to_ticks, size_to_lots

    restriction = 3 if args.post_only else (args.restriction or 0)
    limit = args.price is not None
    if not limit and (args.post_only or args.restriction is not None):
        raise UsageError("--post-only and --restriction apply to limit orders: give --price")
    _check(lambda: size_to_lots(info, args.size, param="--size"))
    _check(lambda: check_leverage(info, args.leverage, param="--leverage"))
    if limit:
        _check(lambda: price_to_ticks(info, args.price, param="--price"))
    if args.tp:
        _check(lambda: price_to_ticks(info, args.tp, param="--tp"))
    if args.sl:
        _check(lambda: price_to_ticks(info, args.sl, param="--sl"))
    side = args.side == "long"
    words = [("close" if args.close else "open"), args.side, fmt(args.size), info.base_name]
    words.append(f"limit @ {fmt(args.price)}" if limit else "at market")
    if limit and restriction:
        words.append(f"({_RESTRICTIONS[restriction]})")
    words.append(f"leverage {args.leverage}x")
    if args.tp:
        words.append(f"TP {fmt(args.tp)}")
    if args.sl:
        words.append(f"SL {fmt(args.sl)}")
    mid = info.market_id

    def send(kana: KanaClient, wait: bool) -> Awaitable[TxResult]:
        if limit:
            return kana.place_limit_order(mid, side, args.close, args.size, args.price,
                                          args.leverage, restriction, args.tp, args.sl,
                                          wait=wait)
        return kana.place_market_order(mid, side, args.close, args.size, args.leverage,
                                       args.tp, args.sl, wait=wait)

    lots = size_to_lots(info, args.size, param="--size")
    return _Transaction(" ".join(words), send, lambda result: _placed(info, lots, result),
                        short_of_collateral="the trading account lacks collateral: the faucet "
                        "funds the wallet, 'kana-async deposit AMOUNT' moves it into the "
                        "trading account")


#: Beyond this many fills of one order, only their total is shown.
_FILLS_SHOWN = 3


def _placed(info: MarketInfo, lots: int, result: TxResult) -> list[str]:
    """One line per order placed (of ``lots`` lots): its id, what filled at once, and what
    became of the rest (cancelled for market and immediate-or-cancel orders, else resting)."""
    from ..units import lots_to_size, price_step, ticks_to_price

    step = price_step(info)
    cancelled = set(result.cancelled_order_ids)
    lines = []
    for order_id in result.order_ids:
        fills = [f for f in result.fills if f.taker_order_id == order_id]
        filled = sum(f.lots for f in fills)
        if len(fills) > _FILLS_SHOWN:
            done = [f"filled {fmt(lots_to_size(info, filled))} in {len(fills)} fills"]
        elif fills:
            done = ["filled " + ", ".join(
                f"{fmt(lots_to_size(info, f.lots))} @ "
                f"{fmt(ticks_to_price(info, f.ticks).quantize(step))}" for f in fills)]
        else:
            done = []
        if order_id in cancelled:
            done.append("the rest was cancelled" if fills else "nothing filled, cancelled")
        elif filled < lots:
            done.append(f"{fmt(lots_to_size(info, lots - filled))} resting" if fills
                        else "resting")
        lines.append(f"order {order_id}: {'; '.join(done)}")
    return lines


async def _place(args: argparse.Namespace) -> int:
    throwaway = throwaway_wallet(args)
    async with client(args, sign=True) as kana:
        info = await resolve_market(kana, args.market)
        order = _place_transaction(args, info)
        transactions = [order]
        if throwaway and not args.close:
            # A new wallet's trading account is empty: fund what the order needs first.
            transactions.insert(0, await _deposit_for_order(args, kana, info))
        return await _sign_all(args, kana, transactions)


async def _deposit_for_order(args: argparse.Namespace, kana: KanaClient, info: MarketInfo
                             ) -> _Transaction:
    """The deposit a throwaway wallet makes before its order: the order's margin and fee
    at its limit price, or at the far side of the book for a market order."""
    price: Decimal | None = args.price
    if price is None:
        quote = await kana.rest.get_market_price(info.market_id)
        price = quote.best_ask_price if args.side == "long" else quote.best_bid_price
        if price is None:
            other = "ask" if args.side == "long" else "bid"
            raise CliError(f"{info.base_name} has no {other}: a market order cannot fill")
    amount = collateral_for(args.size, price, args.leverage)

    def send(kana: KanaClient, wait: bool) -> Awaitable[TxResult]:
        return kana.deposit(amount, wait=True)  # the order needs it confirmed

    quote_coin = info.base_name.rpartition("/")[2] or "quote coin"
    return _Transaction(f"deposit {fmt(amount)} {quote_coin} (a throwaway wallet's trading "
                        "account is empty)", send)


PLACE = Command(
    "place", "place a limit order (with --price) or a market order; asks before signing",
    _configure_place, lambda args: asyncio.run(_place(args)),
    epilog="""examples::

  kana-async place --market APT --side long --size 1 --price 5.000 --leverage 2 --post-only
  kana-async place --market APT --side short --size 0.5 --leverage 3 --tp 4.5 --sl 6.2
  kana-async place --market APT --side long --close --size 1 --leverage 2 --yes

The key is read from $KANA_PRIVATE_KEY (or --private-key-env VAR). On a simulator, when
it is not set, a throwaway wallet signs: the faucet funds it, and place deposits what the
order needs (margin and fee) before placing it. With your own key, deposit first.""",
)


# -- cancel ----------------------------------------------------------------------------------


def _configure_cancel(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--market", type=market, metavar="MARKET",
                        help="market of the orders (with --all: only this market)")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--order-id", action="append", metavar="ID", dest="order_ids",
                       help="an order to cancel (repeat for several)")
    which.add_argument("--all", action="store_true",
                       help="every resting order of the wallet (in --market, or everywhere)")
    parser.add_argument("--side", choices=("long", "short"),
                        help="position side of the --order-id orders (default: looked up "
                             "among the wallet's open orders)")
    _add_signing_options(parser)


def _cancel_transaction(info: MarketInfo, ids: list[str], sides: list[bool]) -> _Transaction:
    mid = info.market_id
    shown = ", ".join(f"{i} ({'long' if s else 'short'})" for i, s in zip(ids, sides,
                                                                          strict=True))
    action = f"cancel {len(ids)} order(s) on {info.base_name}: {shown}"

    def send(kana: KanaClient, wait: bool) -> Awaitable[TxResult]:
        return kana.cancel_multiple_orders(mid, ids, sides, wait=wait)

    return _Transaction(action, send)


async def _cancel(args: argparse.Namespace) -> int:
    if args.order_ids is not None:
        if args.market is None:
            raise UsageError("--order-id needs --market")
        for order_id in args.order_ids:
            if not order_id.isdigit():
                raise UsageError(f"--order-id: must be a whole number (got {order_id!r})")
    elif args.side is not None:
        raise UsageError("--side goes with --order-id; --all finds each order's side")
    async with client(args, sign=True) as kana:
        only = None if args.market is None else await resolve_market(kana, args.market)
        if args.order_ids is not None:
            assert only is not None
            if args.side is None:
                try:
                    sides = await kana.open_order_sides(only.market_id, args.order_ids)
                except ValidationError as exc:
                    raise CliError(f"--order-id {exc.value}: {exc.rule}") from None
            else:
                sides = [args.side == "long"] * len(args.order_ids)
            transactions = [_cancel_transaction(only, args.order_ids, sides)]
        else:
            transactions = await _cancel_everything(kana, only)
            if not transactions:
                _say("nothing to cancel: no resting order")
                return 0
        return await _sign_all(args, kana, transactions)


async def _cancel_everything(kana: KanaClient, only: MarketInfo | None) -> list[_Transaction]:
    orders = await kana.rest.get_open_orders(kana.address,
                                             None if only is None else only.market_id)
    by_market: dict[int, list[tuple[str, bool]]] = {}
    for order in orders:
        by_market.setdefault(order.market_id, []).append(
            (order.order_id, order_side(order.order_type) == "long"))
    transactions = []
    for market_id in sorted(by_market):
        info = only if only is not None else await kana.rest.market_info(market_id)
        pairs = by_market[market_id]
        transactions.append(_cancel_transaction(info, [i for i, _ in pairs],
                                                [s for _, s in pairs]))
    return transactions


CANCEL = Command(
    "cancel", "cancel resting orders by id, or all of them; asks before signing",
    _configure_cancel, lambda args: asyncio.run(_cancel(args)),
    epilog="""examples::

  kana-async cancel --market APT --order-id 1234567
  kana-async cancel --all --market APT --yes
  kana-async cancel --all

With --all, each order's side is read from its order_type (odd: long side, even: short).""",
)


# -- deposit and withdraw --------------------------------------------------------------------


def _configure_deposit(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("amount", type=positive_decimal, metavar="AMOUNT",
                        help="quote coin (e.g. USDC) to move from the wallet to trading")
    _add_signing_options(parser)


async def _deposit(args: argparse.Namespace) -> int:
    from ..units import quote_to_units

    _check(lambda: quote_to_units(None, args.amount, param="AMOUNT"))
    amount: Decimal = args.amount

    def send(kana: KanaClient, wait: bool) -> Awaitable[TxResult]:
        return kana.deposit(amount, wait=wait)

    async with client(args, sign=True) as kana:
        return await _sign_all(args, kana, [_Transaction(f"deposit {fmt(amount)}", send)])


DEPOSIT = Command(
    "deposit", "move collateral from the wallet into the trading account; asks before signing",
    _configure_deposit, lambda args: asyncio.run(_deposit(args)),
    epilog="""examples::

  kana-async deposit 1000 --local-port 8100
  kana-async deposit 250.5 --network testnet --yes""",
)


def _configure_withdraw(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--market", type=market, required=True, metavar="MARKET",
                        help="market whose collateral is withdrawn")
    parser.add_argument("amount", type=positive_decimal, metavar="AMOUNT",
                        help="quote coin to move back to the wallet")
    _add_signing_options(parser)


async def _withdraw(args: argparse.Namespace) -> int:
    from ..units import quote_to_units

    amount: Decimal = args.amount
    async with client(args, sign=True) as kana:
        info = await resolve_market(kana, args.market)
        _check(lambda: quote_to_units(info, amount, param="AMOUNT"))

        def send(kana: KanaClient, wait: bool) -> Awaitable[TxResult]:
            return kana.withdraw(info.market_id, amount, wait=wait)

        action = f"withdraw {fmt(amount)} from {info.base_name}"
        return await _sign_all(args, kana, [_Transaction(action, send)])


WITHDRAW = Command(
    "withdraw", "move collateral of a market back to the wallet; asks before signing",
    _configure_withdraw, lambda args: asyncio.run(_withdraw(args)),
    epilog="""examples::

  kana-async withdraw --market APT 100 --local-port 8100""",
)
