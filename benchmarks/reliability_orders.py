"""REST, node and trading scenarios of the reliability suite, plus secrets and TLS.

Orders are counted on the simulator (the exchange's own record of the wallet) after each
intent. The bot model is the careful one: it places an order once and, only when the SDK says
nothing happened (``TransportError`` or a rejection), places it once more; on
``UnknownOutcomeError`` it never re-sends. So more than one order per intent means the SDK
called "not sent" something that was executed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from reliability_common import (
    APT,
    Row,
    capture_logs,
    client_option_supported,
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
    TransportError,
    UnknownOutcomeError,
    ValidationError,
)
from kana_async.rest import RetryPolicy
from kana_async.sim import Simulator
from kana_async.sim.proxy import FaultProxy, HttpFault
from kana_async.trade.node import TransactionRejectedError

API_KEY = "rk-3f9a1c77e2b54d0c"
PRIVATE_KEY = "0x" + "9e1d3c5b7a" * 6 + "0f1e"
WALLET_KEY = "0x" + "c4" * 32
#: A resting bid far below the market (0.5 APT at 0.100): every placement is one order.
ORDER = (APT, True, False, "0.5", "0.1", 2)

_NOT_SENT = (TransportError, TransactionRejectedError, RateLimitError)


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
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield state
    finally:
        await runner.cleanup()


# -- trading settings: the one place that knows whether trading= exists ----------------------


def trading_options(row: Row, submit_timeout: float, wait_timeout: float) -> dict[str, Any]:
    """``trading=`` options for ``KanaClient``; ``{}`` where this build lacks the option
    (then :func:`apply_trading_fallback` sets the same numbers on the client's Submitter)."""
    settings = {"submit_timeout": submit_timeout, "wait_timeout": wait_timeout}
    try:
        if client_option_supported("trading", settings):
            return {"trading": settings}
    except ValidationError as exc:
        row.notes.append(f"KanaClient(trading=...) refused these settings ({exc}): the same "
                         "timeouts set on the client's Submitter")
        return {}
    row.notes.append("KanaClient(trading=...) unsupported: the same timeouts set on the "
                     "client's Submitter")
    return {}


def apply_trading_fallback(kana: KanaClient, submit_timeout: float, wait_timeout: float) -> None:
    submitter = kana.trader.submitter
    submitter.submit_timeout = submit_timeout
    submitter.wait_timeout = wait_timeout


def in_doubt(kana: KanaClient) -> list[str] | None:
    """``kana.in_doubt()``, or None where this build has no such method."""
    method = getattr(kana, "in_doubt", None)
    return None if method is None else list(method())


async def intent(kana: KanaClient, sim: Simulator, wallet: str, bound: float) -> dict[str, Any]:
    """One order intent by the careful bot; what happened, counted on the exchange.

    ``listed`` holds the hashes ``kana.in_doubt()`` gained during the intent (None where the
    method does not exist)."""
    before = orders_of(sim, wallet)
    doubt_before = set(in_doubt(kana) or ())
    classes: list[str] = []
    hashes: list[str] = []
    texts: list[str] = []
    for _ in range(2):
        _result, exc, _took = await outcome(kana.place_limit_order(*ORDER), bound)
        await asyncio.sleep(0.05)  # the exchange settles (and a transient fault passes)
        classes.append(error_name(exc))
        if isinstance(exc, UnknownOutcomeError):
            texts.append(f"in doubt: {exc.reason}")
        elif exc is not None:
            texts.append(excerpt(exc))
        if isinstance(exc, UnknownOutcomeError):
            hashes.append(exc.tx_hash)
        if not isinstance(exc, _NOT_SENT):
            break
    await asyncio.sleep(0.05)
    after = in_doubt(kana)
    listed = None if after is None else [h for h in after if h not in doubt_before]
    tracked = "ok" in classes or bool(hashes) or bool(listed)
    return {"outcomes": classes, "orders": orders_of(sim, wallet) - before, "hashes": hashes,
            "listed": listed, "tracked": tracked, "texts": texts}


# -- REST ------------------------------------------------------------------------------------

REST_FAULTS: list[tuple[str, HttpFault, dict[str, Any]]] = [
    ("503 after forwarding", "status_after", {"status": 503}),
    ("429 after forwarding (Retry-After 0.1)", "status_after", {"status": 429,
                                                                "retry_after": 0.1}),
    ("500 after forwarding", "status_after", {"status": 500}),
    ("503 before forwarding, once", "status_before", {"status": 503, "count": 1}),
    ("slow: 3 s delay (timeout 1 s)", "delay", {"delay": 3.0}),
    ("huge body: 64 MiB", "huge_body", {"size": 64 << 20}),
    ("truncated body", "truncate", {"keep": 0.5}),
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
                    extra = {"location": other.url} if fault == "redirect" else {}
                    rule = proxy.add_rule(fault, **options, **extra)
                    before = other.api_keys
                    _r, exc, took = await outcome(make(), 15.0)
                    row.figures[call] = (f"{error_name(exc)} after {rule.matched} request(s), "
                                         f"{took:.1f} s")
                    if fault == "redirect":
                        leaked = other.api_keys - before
                        row.figures[f"{call}: api key sent to the other origin"] = leaked
                        row.check("api key never sent to another origin", leaked == 0,
                                  f"{call}: {leaked}")
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
    async with Simulator(seed=6, step_interval=0.1) as sim, \
            FaultProxy(sim.node_url or "") as proxy, capture_server() as other:
        funded = False
        for label, fault, rule_options in NODE_FAULTS:
            row = Row("node", f"node: {label} (once), order intent")
            rows.append(row)
            proxy.clear()
            # A fresh client per fault: no fault inherits another's sequence-number state.
            options = trading_options(row, submit_timeout=1.0, wait_timeout=3.0)
            kana = KanaClient("local", rest_url=sim.rest_url, ws_url=sim.ws_url,
                              node_url=proxy.url, private_key=WALLET_KEY, timeout=2.0, **options)
            async with kana:
                if not options:
                    apply_trading_fallback(kana, 1.0, 3.0)
                if not funded:
                    fund(sim, kana.address)
                    funded = True
                extra = {"location": other.url} if fault == "redirect" else {}
                rule = proxy.add_rule(fault, path_prefix="/v1/transactions", method="POST",
                                      count=1, **rule_options, **extra)
                posted_elsewhere = other.requests
                got = await intent(kana, sim, kana.address, 15.0)
                proxy.clear()
                listed = got["listed"]
                executed = got["orders"]
                row.figures.update({
                    "outcomes": " then ".join(got["outcomes"]),
                    "orders": executed,
                    "posts_seen": rule.matched,
                    "in_doubt_hashes": len(got["hashes"]),
                    "in_doubt()": "unsupported" if listed is None else len(listed),
                })
                if fault == "redirect":
                    row.figures["signed tx re-posted to the other origin"] = (
                        other.requests - posted_elsewhere)
                if got["texts"]:
                    row.figures["first error"] = got["texts"][0][:90]
                row.check("at most one order per intent", executed <= 1, f"{executed} orders")
                row.check("an executed order is never lost track of",
                          executed == 0 or got["tracked"],
                          "executed, yet neither success nor a hash was reported")
                # Settle what is in doubt before the next fault (bounded).
                for tx_hash in got["hashes"]:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(kana.resolve(tx_hash, timeout=2.0), 3.0)
        rows.append(await _node_storm(sim, proxy, 10 if quick else 100))
    return rows


async def _node_storm(sim: Simulator, proxy: FaultProxy, intents: int) -> Row:
    """Many intents by the careful bot while submissions fail at random."""
    row = Row("node", f"node storm: {intents} order intents, 5 faults at 8 % each")
    options = trading_options(row, submit_timeout=1.0, wait_timeout=3.0)
    kana = KanaClient("local", rest_url=sim.rest_url, ws_url=sim.ws_url, node_url=proxy.url,
                      private_key=WALLET_KEY, timeout=2.0, **options)
    async with kana:
        if not options:
            apply_trading_fallback(kana, 1.0, 3.0)
        proxy.clear()
        for fault, rule_options in STORM:
            proxy.add_rule(fault, path_prefix="/v1/transactions", method="POST", **rule_options)
        per_intent: dict[int, int] = {}
        faults = proxy.stats.faults
        untracked = 0
        kinds: dict[str, int] = {}
        hashes = 0
        for _ in range(intents):
            got = await intent(kana, sim, kana.address, 15.0)
            per_intent[got["orders"]] = per_intent.get(got["orders"], 0) + 1
            for name in got["outcomes"]:
                kinds[name] = kinds.get(name, 0) + 1
            hashes += len(got["hashes"])
            if got["orders"] and not got["tracked"]:
                untracked += 1
        proxy.clear()
        listed = in_doubt(kana)
    duplicates = sum(n for orders, n in per_intent.items() if orders > 1)
    row.figures.update({"orders per intent": {f"{k} order(s)": v for k, v in
                                              sorted(per_intent.items())},
                        "outcomes": kinds, "in_doubt_hashes": hashes,
                        "in_doubt()": "unsupported" if listed is None else len(listed),
                        "faults injected": proxy.stats.faults - faults})
    row.check("at most one order per intent", duplicates == 0,
              f"{duplicates} intent(s) placed more than one order")
    row.check("an executed order is never lost track of", untracked == 0,
              f"{untracked} executed intent(s) without success or hash")
    return row


# -- trading ---------------------------------------------------------------------------------


async def trading(quick: bool) -> list[Row]:
    batch = Row("trading", "concurrent batch of 20, the node rejects one")
    cancelled = Row("trading", "14 callers cancelled mid-submit (asyncio.wait_for)")
    hung = Row("trading", "hung node: the submission executes, no answer")
    rows = [batch, cancelled, hung]
    async with Simulator(seed=7, step_interval=0.05) as sim, AsyncExitStack() as stack:
        options = trading_options(batch, submit_timeout=1.0, wait_timeout=3.0)
        kana = KanaClient("local", rest_url=sim.rest_url, ws_url=sim.ws_url,
                          node_url=sim.node_url, private_key=WALLET_KEY, timeout=2.0, **options)
        await stack.enter_async_context(kana)
        if not options:
            apply_trading_fallback(kana, 1.0, 3.0)
        for row in (cancelled, hung):
            row.notes.extend(batch.notes)
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
        # answer); the client's own timeouts are longer than the callers' patience.
        patient = trading_options(cancelled, submit_timeout=10.0, wait_timeout=10.0)
        other = KanaClient("local", rest_url=sim.rest_url, ws_url=sim.ws_url,
                           node_url=sim.node_url, private_key=WALLET_KEY, timeout=10.0, **patient)
        async with other:
            if not patient:
                apply_trading_fallback(other, 10.0, 10.0)
            await other.rest.market_info(APT)
            before = orders_of(sim, wallet)
            sim.faults.hang_next_submissions(14)
            outcomes = await asyncio.gather(
                *(outcome(other.place_limit_order(*ORDER), 1.5) for _ in range(14)))
            sim.faults.clear()
            await asyncio.sleep(0.2)
            executed = orders_of(sim, wallet) - before
            listed = in_doubt(other)
            timed_out = [exc for _r, exc, _t in outcomes if isinstance(exc, asyncio.TimeoutError)]
            cancelled.figures.update({
                "cancelled": len(timed_out),
                "other_outcomes": _classify([exc or "placed" for _r, exc, _t in outcomes
                                             if not isinstance(exc, asyncio.TimeoutError)]),
                "executed": executed,
            })
            if listed is None:
                cancelled.figures["in_doubt()"] = "unsupported"
                cancelled.unsupported("kana.in_doubt()")
            else:
                cancelled.figures["hashes in in_doubt()"] = len(listed)
                cancelled.check("every executed transaction is listed in in_doubt()",
                                len(listed) >= executed,
                                f"{len(listed)} listed for {executed} executed")

        # (c) one submission on a hung node.
        before = orders_of(sim, wallet)
        doubt_before = set(in_doubt(kana) or ())
        sim.faults.hang_next_submissions(1)
        _r, exc, took = await outcome(kana.place_limit_order(*ORDER), 15.0)
        sim.faults.clear()
        executed = orders_of(sim, wallet) - before
        tx_hash = getattr(exc, "tx_hash", None)
        after = in_doubt(kana)
        listed = None if after is None else [h for h in after if h not in doubt_before]
        hung.figures.update({
            "outcome": error_name(exc),
            "seconds": round(took, 2),
            "executed": executed,
            "tx_hash reported": tx_hash is not None,
            "in_doubt()": "unsupported" if listed is None else (tx_hash in listed),
        })
        hung.check("an executed order is never lost track of",
                   executed == 0 or tx_hash is not None or bool(listed),
                   f"{error_name(exc)} without a hash")
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
            options = trading_options(row, submit_timeout=1.0, wait_timeout=2.0)
            kana = KanaClient("local", rest_url=rest.url, ws_url=ws.url, node_url=node.url,
                              api_key=API_KEY, private_key=PRIVATE_KEY, timeout=1.0,
                              retry=RetryPolicy(attempts=2, total_time=2.0, backoff=0.05),
                              **options)
            texts.append(repr(kana))
            await stack.enter_async_context(kana)
            if not options:
                apply_trading_fallback(kana, 1.0, 2.0)
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
            urls = {"rest_url": rest.url, "ws_url": ws.url, "node_url": node.url}

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
            if client_option_supported("ca_file", str(cert)):
                await exercise(with_ca, ca_file=str(cert))
            else:
                with_ca.unsupported("KanaClient(ca_file=...)")
            if client_option_supported("ssl_context", client_ctx):
                await exercise(with_ctx, ssl_context=client_ctx)
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
            else:
                with_ctx.unsupported("KanaClient(ssl_context=...)")
                downgrade.unsupported("a client that trusts the test CA (ssl_context=)")
    return rows
