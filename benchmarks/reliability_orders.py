"""REST, node and trading scenarios of the reliability suite, plus secrets and TLS.

Orders are counted on the simulator (the exchange's own record of the wallet). Each order
intent has a price of its own, so every order on the exchange is attributed to the intent that
placed it, even one that executes long after its caller was told something else. The bot model
is the careful one of docs/order-safety.md: it places an order once; on
``UnknownOutcomeError`` it resolves the hash (``kana.resolve``) and places the order again only
when the transaction expired unexecuted; it places it again at once only when the SDK says
nothing was sent (``TransportError``, a rejection). So more than one order per intent means the
SDK called "not done" something that was done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from reliability_common import (
    APT,
    Row,
    capture_logs,
    error_name,
    exception_text,
    excerpt,
    fund,
    orders_of,
    outcome,
)

from kana_async import (
    KanaClient,
    RateLimitError,
    TradingOptions,
    TransportError,
    UnknownOutcomeError,
)
from kana_async.rest import RetryPolicy
from kana_async.sim import Simulator
from kana_async.sim.proxy import FaultProxy, HttpFault
from kana_async.trade import TxResult
from kana_async.trade.node import TransactionRejectedError

API_KEY = "rk-3f9a1c77e2b54d0c"
PRIVATE_KEY = "0x" + "9e1d3c5b7a" * 6 + "0f1e"
WALLET_KEY = "0x" + "c4" * 32
#: A resting bid far below the market (0.5 APT at 0.100): every placement is one order.
ORDER = (APT, True, False, "0.5", "0.1", 2)

#: "Nothing was sent": the careful bot places the order again.
_NOT_SENT = (TransportError, TransactionRejectedError, RateLimitError)
#: Short expiry, so that a transaction that never reached the node is known to be dead
#: (``resolve``) within seconds; timeouts short enough for a fault to show.
FAST = TradingOptions(expiry_secs=2, submit_timeout=1.0, wait_timeout=3.0)
#: Seconds one ``resolve`` may take: past the expiry plus the two seconds it waits beyond.
RESOLVE_BOUND = 10.0


@dataclass
class Capture:
    """A server on another origin that records what reached it."""

    url: str = ""
    requests: int = 0
    api_keys: int = 0
    bodies: list[bytes] = field(default_factory=list)


@asynccontextmanager
async def capture_server(*, echo: bool = False) -> AsyncIterator[Capture]:
    """With ``echo``, every answer is a 400 whose message repeats the request's headers (a
    hostile or careless server: the client must not pass that text on unredacted)."""
    state = Capture()

    async def record(request: web.Request) -> web.Response:
        state.requests += 1
        if request.headers.get("x-api-key"):
            state.api_keys += 1
        if len(state.bodies) < 100:
            state.bodies.append(await request.read())
        if echo:
            return web.json_response({"success": False, "message": f"bad request: "
                                      f"{dict(request.headers)}"}, status=400)
        return web.json_response({"success": True, "message": "captured", "data": []})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    async with TestServer(app, host="127.0.0.1") as server:
        state.url = str(server.make_url("")).rstrip("/")
        yield state


# -- order intents ---------------------------------------------------------------------------


class Prices:
    """A distinct limit price per intent (0.100, 0.101, ...: far below the market)."""

    def __init__(self) -> None:
        self.next = Decimal("0.100")

    def take(self) -> str:
        price, self.next = self.next, self.next + Decimal("0.001")
        return str(price)


@dataclass
class Intent:
    """What the careful bot was told while placing one order."""

    price: str
    outcomes: list[str] = field(default_factory=list)
    #: Hashes reported in doubt (``UnknownOutcomeError.tx_hash``).
    hashes: list[str] = field(default_factory=list)
    #: Reported hashes that ``kana.in_doubt()`` did not list when the error was raised.
    unlisted: int = 0
    #: What ``resolve`` said of each hash: ``committed``, ``expired`` or an error class.
    resolved: list[str] = field(default_factory=list)
    #: Orders the SDK said were placed (a success, or a hash resolved as committed).
    confirmed: int = 0
    texts: list[str] = field(default_factory=list)
    #: Orders the exchange holds at this intent's price (filled in by :func:`count_orders`).
    orders: int = 0

    @property
    def unsettled(self) -> bool:
        """A hash whose fate ``resolve`` could not tell (the bot stops, as documented)."""
        return any(r not in ("committed", "expired") for r in self.resolved)


async def place_intent(kana: KanaClient, price: str, bound: float = 15.0) -> Intent:
    """One order intent by the careful bot (module docstring); at most two placements."""
    got = Intent(price)
    for _ in range(2):
        result, exc, _took = await outcome(
            kana.place_limit_order(APT, True, False, "0.5", price, 2), bound)
        got.outcomes.append(error_name(exc))
        if exc is None:
            if isinstance(result, TxResult) and result.committed and result.success:
                got.confirmed += 1
            return got
        if isinstance(exc, UnknownOutcomeError):
            got.texts.append(f"in doubt: {exc.reason}")
            got.hashes.append(exc.tx_hash)
            if exc.tx_hash not in kana.in_doubt():
                got.unlisted += 1
            settled, err, _t = await outcome(kana.resolve(exc.tx_hash), RESOLVE_BOUND)
            if err is not None:
                got.resolved.append(error_name(err))
                return got  # still unknown: never placed again
            assert isinstance(settled, TxResult)
            if settled.committed:
                got.resolved.append("committed")
                got.confirmed += 1
                return got
            got.resolved.append("expired")  # dead for sure: placing again is safe
            continue
        got.texts.append(excerpt(exc))
        if not isinstance(exc, _NOT_SENT):
            return got
    return got


def count_orders(sim: Simulator, wallet: str, intents: list[Intent]) -> int:
    """Fill in each intent's orders from the exchange; returns the orders at no intent's
    price (``intents``: every intent of the wallet so far)."""
    by_price = Counter(Decimal(r["price"]) for r in
                       sim.engine.order_history(sim.engine.profile_address(wallet)))
    for got in intents:
        got.orders = by_price.pop(Decimal(got.price), 0)
    return sum(by_price.values())


def judge_intents(row: Row, intents: list[Intent], strays: int) -> None:
    """The order invariants over ``intents`` (orders counted by :func:`count_orders`)."""
    duplicates = [g for g in intents if g.orders > 1]
    lost = [g for g in intents if g.orders and not g.confirmed and not g.hashes]
    unlisted = sum(g.unlisted for g in intents)
    # resolve must tell the truth: committed <=> the order is on the exchange.
    untrue = [g for g in intents if not g.unsettled and g.hashes and g.confirmed != g.orders]
    row.check("at most one order per intent", not duplicates,
              f"{len(duplicates)} intent(s): " + ", ".join(str(g.orders) for g in duplicates))
    row.check("an executed order is never lost track of", not lost,
              f"{len(lost)} executed intent(s) reported neither success nor a hash")
    row.check("every hash in doubt is listed by in_doubt()", unlisted == 0,
              f"{unlisted} hash(es) not listed")
    row.check("what the SDK confirmed is what the exchange holds", not untrue,
              "; ".join(f"{g.price}: confirmed {g.confirmed}, on the exchange {g.orders}"
                        for g in untrue[:3]))
    row.check("no order the bot did not ask for", strays == 0, f"{strays} stray order(s)")


# -- REST ------------------------------------------------------------------------------------

REST_FAULTS: list[tuple[str, HttpFault, dict[str, Any]]] = [
    ("503 after forwarding", "status_after", {"status": 503}),
    ("429 after forwarding (Retry-After 0.1)", "status_after", {"status": 429,
                                                                "retry_after": 0.1}),
    ("500 after forwarding", "status_after", {"status": 500}),
    ("503 before forwarding, once", "status_before", {"status": 503, "count": 1}),
    ("slow: 3 s delay (timeout 1 s)", "delay", {"delay": 3.0}),
    ("huge body: 64 MiB (max_body default 8 MiB)", "huge_body", {"size": 64 << 20}),
    ("truncated body", "truncate", {"keep": 0.5}),
    ("redirect within the origin, once", "redirect", {"count": 1}),
    ("redirect to another origin", "redirect", {}),
]


async def rest_faults(quick: bool) -> list[Row]:
    rows = []
    async with Simulator(seed=5, step_interval=0.1) as sim, \
            FaultProxy(sim.rest_url or "") as proxy, capture_server() as other:
        retry = RetryPolicy(attempts=3, total_time=4.0, backoff=0.05, max_backoff=0.2)
        async with KanaClient("local", rest_url=proxy.url, ws_url=sim.ws_url,
                              node_url=sim.node_url, api_key=API_KEY, timeout=1.0,
                              retry=retry) as kana:
            for label, fault, options in REST_FAULTS:
                row = Row("rest", f"REST: {label}")
                rows.append(row)
                for call, make in (
                    ("GET market info", lambda: kana.rest.get_market_info(APT)),
                    ("POST build order", lambda: kana.rest.place_limit_order(
                        APT, True, False, "0.5", "0.1", 2)),
                ):
                    proxy.clear()
                    extra = {}
                    if fault == "redirect":
                        extra["location"] = other.url if "another" in label else proxy.origin
                    rule = proxy.add_rule(fault, **options, **extra)
                    before = other.api_keys
                    _r, exc, took = await outcome(make(), 15.0)
                    row.figures[call] = (f"{error_name(exc)} after {rule.matched} request(s), "
                                         f"{took:.1f} s")
                    if fault == "huge_body":
                        row.check("a body over max_body is refused", exc is not None,
                                  f"{call}: read whole")
                    if fault == "redirect" and "another" in label:
                        leaked = other.api_keys - before
                        row.figures[f"{call}: api key sent to the other origin"] = leaked
                        row.check("api key never sent to another origin", leaked == 0,
                                  f"{call}: {leaked}")
                    elif fault == "redirect":
                        row.check("a redirect within the origin is followed", exc is None,
                                  f"{call}: {error_name(exc)}")
            proxy.clear()
            rows.append(await _rest_storm(kana, proxy, 50 if quick else 500))
    return rows


#: A mix of faults, each on a share of requests (the first that fires wins).
STORM: list[tuple[HttpFault, dict[str, Any]]] = [
    ("status_after", {"status": 503, "probability": 0.08}),
    ("status_after", {"status": 429, "probability": 0.08}),
    ("status_after", {"status": 500, "probability": 0.08}),
    ("status_before", {"status": 503, "probability": 0.08}),
    ("truncate", {"probability": 0.08}),
]


async def _rest_storm(kana: KanaClient, proxy: FaultProxy, calls: int) -> Row:
    row = Row("rest", f"REST storm: {calls} GET calls, 5 faults at 8 % each")
    proxy.clear()
    for fault, options in STORM:
        proxy.add_rule(fault, **options)
    kinds: dict[str, int] = {}
    started = time.monotonic()
    requests, faults = proxy.stats.requests, proxy.stats.faults
    for _ in range(calls):
        _r, exc, _t = await outcome(kana.rest.get_market_info(APT), 15.0)
        kinds[error_name(exc)] = kinds.get(error_name(exc), 0) + 1
    row.figures.update({"outcomes": kinds, "requests": proxy.stats.requests - requests,
                        "faults injected": proxy.stats.faults - faults,
                        "seconds": round(time.monotonic() - started, 1)})
    proxy.clear()
    return row


# -- node ------------------------------------------------------------------------------------

#: Each fault happens once (a transient failure, as in life): the careful bot's second
#: attempt, where it makes one, goes through.
NODE_FAULTS: list[tuple[str, HttpFault, dict[str, Any]]] = [
    ("503 after forwarding", "status_after", {"status": 503}),
    ("429 after forwarding", "status_after", {"status": 429}),
    ("500 after forwarding", "status_after", {"status": 500}),
    ("503 before forwarding", "status_before", {"status": 503}),
    ("slow: 3 s delay (submit timeout 1 s)", "delay", {"delay": 3.0}),
    ("huge body: 64 MiB", "huge_body", {"size": 64 << 20}),
    ("truncated body", "truncate", {"keep": 0.5}),
    ("redirect to another origin", "redirect", {}),
]


async def node_faults(quick: bool) -> list[Row]:
    rows = []
    prices = Prices()
    placed: list[Intent] = []  # every intent of the wallet, to attribute every order
    async with Simulator(seed=6, step_interval=0.1) as sim, \
            FaultProxy(sim.node_url or "") as proxy, capture_server() as other:
        funded = False
        for label, fault, rule_options in NODE_FAULTS:
            row = Row("node", f"node: {label} (once), order intent")
            rows.append(row)
            proxy.clear()
            # A fresh client per fault: no fault inherits another's sequence-number state.
            kana = KanaClient("local", rest_url=sim.rest_url, ws_url=sim.ws_url,
                              node_url=proxy.url, private_key=WALLET_KEY, timeout=2.0,
                              trading=FAST)
            async with kana:
                if not funded:
                    fund(sim, kana.address)
                    funded = True
                extra = {"location": other.url} if fault == "redirect" else {}
                rule = proxy.add_rule(fault, path_prefix="/v1/transactions", method="POST",
                                      count=1, **rule_options, **extra)
                posted_elsewhere = other.requests
                got = await place_intent(kana, prices.take())
                placed.append(got)
                proxy.clear()
                strays = count_orders(sim, kana.address, placed)
                row.figures.update({
                    "outcomes": " then ".join(got.outcomes),
                    "orders": got.orders,
                    "posts_seen": rule.matched,
                    "in_doubt_hashes": len(got.hashes),
                    "resolved": " then ".join(got.resolved) or "-",
                })
                if fault == "redirect":
                    reposted = other.requests - posted_elsewhere
                    row.figures["signed tx re-posted to the other origin"] = reposted
                    row.check("a signed transaction is never sent to another origin",
                              reposted == 0, f"{reposted} POST(s) reached it")
                if got.texts:
                    row.figures["first error"] = got.texts[0][:90]
                judge_intents(row, [got], strays)
        rows.append(await _node_storm(sim, proxy, prices, placed, 10 if quick else 100))
    return rows


async def _node_storm(sim: Simulator, proxy: FaultProxy, prices: Prices,
                      placed: list[Intent], count: int) -> Row:
    """Many intents by the careful bot while submissions fail at random."""
    row = Row("node", f"node storm: {count} order intents, 5 faults at 8 % each")
    kana = KanaClient("local", rest_url=sim.rest_url, ws_url=sim.ws_url, node_url=proxy.url,
                      private_key=WALLET_KEY, timeout=2.0, trading=FAST)
    started = time.monotonic()
    async with kana:
        proxy.clear()
        for fault, rule_options in STORM:
            proxy.add_rule(fault, path_prefix="/v1/transactions", method="POST", **rule_options)
        faults = proxy.stats.faults
        intents = [await place_intent(kana, prices.take()) for _ in range(count)]
        injected = proxy.stats.faults - faults
        proxy.clear()
        # Whatever is still in doubt settles (bounded) before the exchange is counted.
        for tx_hash in kana.in_doubt():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(kana.resolve(tx_hash), RESOLVE_BOUND)
        left = len(kana.in_doubt())
        strays = count_orders(sim, kana.address, placed + intents)
    per_intent = Counter(g.orders for g in intents)
    outcomes = Counter(name for g in intents for name in g.outcomes)
    resolved = Counter(r for g in intents for r in g.resolved)
    row.figures.update({"orders per intent": {f"{k} order(s)": v for k, v in
                                              sorted(per_intent.items())},
                        "outcomes": dict(outcomes),
                        "in_doubt_hashes": sum(len(g.hashes) for g in intents),
                        "resolved": dict(resolved),
                        "in_doubt() at the end": left,
                        "faults injected": injected,
                        "seconds": round(time.monotonic() - started, 1)})
    judge_intents(row, intents, strays)
    return row


# -- trading ---------------------------------------------------------------------------------


async def trading(quick: bool) -> list[Row]:
    batch = Row("trading", "concurrent batch of 20, the node rejects one")
    cancelled = Row("trading", "14 callers cancelled mid-submit (asyncio.wait_for), "
                               "default trading options")
    hung = Row("trading", "hung node: the submission executes, no answer (submit timeout 1 s)")
    rows = [batch, cancelled, hung]
    async with Simulator(seed=7, step_interval=0.05) as sim, AsyncExitStack() as stack:
        kana = KanaClient("local", rest_url=sim.rest_url, ws_url=sim.ws_url,
                          node_url=sim.node_url, private_key=WALLET_KEY, timeout=2.0,
                          trading=TradingOptions(submit_timeout=1.0, wait_timeout=3.0))
        await stack.enter_async_context(kana)
        wallet = kana.address
        fund(sim, wallet)
        await kana.rest.market_info(APT)  # warm the cache: every caller starts equal

        # (a) 20 at once, one rejected by the node.
        before = orders_of(sim, wallet)
        sim.faults.reject_next_transactions(1)
        results = await asyncio.wait_for(asyncio.gather(
            *(kana.place_limit_order(*ORDER) for _ in range(20)), return_exceptions=True), 60)
        sim.faults.clear()
        await asyncio.sleep(0.2)
        kinds = _classify(results)
        executed = orders_of(sim, wallet) - before
        batch.figures.update({**kinds, "orders": executed})
        batch.check("orders <= intents", executed <= 20, f"{executed}")
        batch.check("every placed result is an order on the exchange",
                    executed >= kinds.get("placed", 0), f"{executed} < {kinds.get('placed')}")
        await _settle(kana, results)

        # (b) 14 callers cancelled after their bytes left (the node executes and holds the
        # answer), on a client with the default trading options: the callers' patience is
        # shorter than the client's own timeouts.
        other = KanaClient("local", rest_url=sim.rest_url, ws_url=sim.ws_url,
                           node_url=sim.node_url, private_key=WALLET_KEY)
        async with other:
            await other.rest.market_info(APT)
            before = orders_of(sim, wallet)
            sim.faults.hang_next_submissions(14)
            outcomes = await asyncio.gather(
                *(outcome(other.place_limit_order(*ORDER), 1.5) for _ in range(14)))
            # Read at once: the reconciler settles (and unlists) what no caller waits for.
            listed = other.in_doubt()
            sim.faults.clear()
            await asyncio.sleep(0.2)
            executed = orders_of(sim, wallet) - before
            timed_out = [exc for _r, exc, _t in outcomes if isinstance(exc, asyncio.TimeoutError)]
            settled: Counter[str] = Counter()
            for listed_hash in listed:
                result, err, _t = await outcome(other.resolve(listed_hash), RESOLVE_BOUND + 30)
                settled["committed" if isinstance(result, TxResult) and result.committed
                        else "expired" if result is not None else error_name(err)] += 1
            cancelled.figures.update({
                "cancelled": len(timed_out),
                "other_outcomes": _classify([exc or "placed" for _r, exc, _t in outcomes
                                             if not isinstance(exc, asyncio.TimeoutError)]),
                "executed": executed,
                "listed by in_doubt()": len(listed),
                "resolved": dict(settled),
                "in_doubt() after resolving": len(other.in_doubt()),
            })
            cancelled.check("every cancelled caller's transaction is listed by in_doubt()",
                            len(listed) == len(timed_out),
                            f"{len(listed)} listed for {len(timed_out)} cancelled")
            cancelled.check("resolve finds exactly the executed ones",
                            settled["committed"] == executed,
                            f"{settled['committed']} committed for {executed} executed")

        # (c) one submission on a hung node.
        before = orders_of(sim, wallet)
        doubt_before = set(kana.in_doubt())
        sim.faults.hang_next_submissions(1)
        _r, exc, took = await outcome(kana.place_limit_order(*ORDER), 15.0)
        sim.faults.clear()
        executed = orders_of(sim, wallet) - before
        hung_hash = exc.tx_hash if isinstance(exc, UnknownOutcomeError) else None
        listed_now = [h for h in kana.in_doubt() if h not in doubt_before]
        hung.figures.update({
            "outcome": error_name(exc),
            "seconds": round(took, 2),
            "executed": executed,
            "tx_hash reported": hung_hash is not None,
            "listed by in_doubt()": hung_hash in listed_now,
        })
        hung.check("an executed order is never lost track of",
                   executed == 0 or (hung_hash is not None and hung_hash in listed_now),
                   f"{error_name(exc)} without a listed hash")
        if hung_hash is not None:
            result, err, _t = await outcome(kana.resolve(hung_hash), RESOLVE_BOUND + 30)
            committed = isinstance(result, TxResult) and result.committed
            hung.figures["resolved"] = "committed" if committed else error_name(err)
            hung.check("resolve finds the executed one", committed == (executed == 1),
                       f"committed {committed}, executed {executed}")
    return rows


def _classify(results: list[Any]) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for result in results:
        if isinstance(result, UnknownOutcomeError):
            name = "in_doubt"
        elif isinstance(result, TransactionRejectedError):
            name = "rejected"
        elif isinstance(result, BaseException):
            name = type(result).__name__
        elif isinstance(result, str):
            name = result
        else:
            name = "placed" if getattr(result, "success", False) else "failed"
        kinds[name] = kinds.get(name, 0) + 1
    return kinds


async def _settle(kana: KanaClient, results: list[Any]) -> None:
    for result in results:
        if isinstance(result, UnknownOutcomeError):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(kana.resolve(result.tx_hash, timeout=1.0), 2.0)


# -- secrets ---------------------------------------------------------------------------------


def _secret_forms() -> list[str]:
    bare = PRIVATE_KEY[2:]
    return [API_KEY, bare, bare.upper(), repr(bytes.fromhex(bare))[2:-1]]


async def secrets_scenario(quick: bool) -> list[Row]:
    row = Row("secrets", "REST, trading and stream at DEBUG with a known api key and "
                         "private key")
    texts: list[str] = []
    with capture_logs(logging.DEBUG) as logs:
        async with Simulator(seed=8, step_interval=0.05) as sim, \
                FaultProxy(sim.rest_url or "") as rest, FaultProxy(sim.node_url or "") as node, \
                FaultProxy(sim.ws_url or "") as ws, capture_server() as other, \
                AsyncExitStack() as stack:
            kana = KanaClient("local", rest_url=rest.url, ws_url=ws.url, node_url=node.url,
                              api_key=API_KEY, private_key=PRIVATE_KEY, timeout=1.0,
                              retry=RetryPolicy(attempts=2, total_time=2.0, backoff=0.05),
                              trading=TradingOptions(submit_timeout=1.0, wait_timeout=2.0))
            texts.append(repr(kana))
            await stack.enter_async_context(kana)
            fund(sim, kana.address)
            errors: list[BaseException] = []

            async def attempt(coro: Any) -> None:
                _r, exc, _t = await outcome(coro, 10.0)
                if exc is not None:
                    errors.append(exc)

            rest_faults: list[tuple[HttpFault, dict[str, Any]]] = [
                ("status_after", {"status": 500}), ("status_before", {"status": 401}),
                ("truncate", {}), ("redirect", {"location": other.url})]
            for fault, extra in rest_faults:
                rest.clear()
                rest.add_rule(fault, **extra)
                await attempt(kana.rest.get_market_info(APT))
            rest.clear()
            await attempt(kana.place_limit_order(*ORDER))
            node_faults: list[tuple[HttpFault, dict[str, Any]]] = [
                ("status_after", {"status": 500}), ("status_before", {"status": 400}),
                ("truncate", {})]
            for fault, extra in node_faults:
                node.clear()
                node.add_rule(fault, path_prefix="/v1/transactions", **extra)
                await attempt(kana.place_limit_order(*ORDER))
            node.clear()
            sim.faults.hang_next_submissions(1)
            await attempt(kana.place_limit_order(*ORDER))
            sim.faults.clear()
            sub = kana.stream.orderbook(APT)
            await attempt(sub.get())
            ws.drop_websockets()
            await attempt(sub.get())
            await sub.close()
            async with capture_server(echo=True) as echo, KanaClient(
                "local", rest_url=echo.url, api_key=API_KEY, retry=RetryPolicy.never(),
            ) as echoed:
                await attempt(echoed.rest.get_market_info(APT))
            for obj in (kana, kana.rest, kana.trader, kana.trader.submitter, kana.stream,
                        kana.config, sub):
                texts.extend((repr(obj), str(obj)))
            texts.extend(exception_text(exc) for exc in errors)
            row.figures["errors_examined"] = len(errors)
            row.figures["api_key_to_other_origin"] = other.api_keys
    texts.extend(text for _level, text in logs.records)
    forms = _secret_forms()
    # The detector itself must see a secret where there is one.
    assert all(f"x{form}x".count(form) == 1 for form in forms)
    found = {form[:6] + "...": sum(text.count(form) for text in texts) for form in forms}
    total = sum(found.values())
    row.figures.update({"log_records": len(logs.records), "texts_examined": len(texts),
                        "occurrences": total})
    row.check("no secret in logs, reprs or exception texts", total == 0, str(found))
    row.check("api key never sent to another origin", row.figures["api_key_to_other_origin"] == 0,
              str(row.figures["api_key_to_other_origin"]))
    return [row]


# -- TLS -------------------------------------------------------------------------------------


def _self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


async def tls(quick: bool) -> list[Row]:
    without = Row("tls", "self-signed TLS proxy, CA not given to the client")
    with_ca = Row("tls", "self-signed TLS proxy, CA given (ca_file=)")
    with_ctx = Row("tls", "self-signed TLS proxy, CA given (ssl_context=)")
    downgrade = Row("tls", "https REST redirecting to plain http")
    rows = [without, with_ca, with_ctx, downgrade]
    with tempfile.TemporaryDirectory() as tmp:
        try:
            cert, key = await asyncio.to_thread(_self_signed, Path(tmp))
        except (OSError, subprocess.SubprocessError) as missing:
            for row in rows:
                row.unsupported(f"no certificate (openssl: {type(missing).__name__})")
            return rows
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server.load_cert_chain(cert, key)
        client_ctx = ssl.create_default_context(cafile=str(cert))
        async with Simulator(seed=9, step_interval=0.05) as sim, \
                FaultProxy(sim.rest_url or "", ssl_context=server) as rest, \
                FaultProxy(sim.ws_url or "", ssl_context=server) as ws, \
                FaultProxy(sim.node_url or "", ssl_context=server) as node, \
                capture_server() as other:
            urls: dict[str, Any] = {"rest_url": rest.url, "ws_url": ws.url, "node_url": node.url}

            async def exercise(row: Row, **extra: Any) -> None:
                kana = KanaClient("local", api_key=API_KEY, private_key=WALLET_KEY, timeout=2.0,
                                  retry=RetryPolicy.never(), **urls, **extra)
                async with kana:
                    _r, exc, _t = await outcome(kana.rest.get_market_info(APT), 10.0)
                    row.figures["REST"] = error_name(exc)
                    sub = kana.stream.orderbook(APT)
                    _r, exc, _t = await outcome(sub.get(), 3.0)
                    row.figures["stream first item"] = error_name(exc)
                    await sub.close()
                    fund(sim, kana.address)
                    _r, exc, _t = await outcome(kana.place_limit_order(*ORDER), 10.0)
                    row.figures["order"] = error_name(exc)

            await exercise(without)
            accepted = [k for k, v in without.figures.items() if v == "ok"]
            without.check("an unknown certificate is refused", not accepted,
                          f"accepted by: {', '.join(accepted)}")
            for row, option in ((with_ca, {"ca_file": str(cert)}),
                                (with_ctx, {"ssl_context": client_ctx})):
                await exercise(row, **option)
                refused = [k for k, v in row.figures.items() if v != "ok"]
                row.check("every path works once the CA is given", not refused,
                          f"failed: {', '.join(refused)}")
            rest.add_rule("redirect", location=other.url)
            kana = KanaClient("local", api_key=API_KEY, timeout=2.0,
                              retry=RetryPolicy.never(), ssl_context=client_ctx, **urls)
            async with kana:
                _r, exc, _t = await outcome(kana.rest.get_market_info(APT), 10.0)
            rest.clear()
            downgrade.figures.update({"outcome": error_name(exc),
                                      "api_key_sent_over_http": other.api_keys})
            downgrade.check("api key never sent over plain http", other.api_keys == 0,
                            str(other.api_keys))
    return rows
