"""One ``kana-async signer`` process, two strategy processes placing 100 orders each through it,
on a real nats-server whose users decide who may trade: every order lands once, with its own
sequence number; a retried call is not placed twice; a process without credentials, or whose
NATS user may not call the signer, cannot trade."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from kana_async import AuthError, KanaClient
from kana_async.bus.remote import RemoteTrader
from kana_async.sim import Simulator
from kana_async.trade.signer import Signer
from tests.bus.nats_server import NatsServer

ROOT = Path(__file__).resolve().parents[2]
KEY = "41" * 32
ACCOUNT = Signer(KEY).address
APT = 1338


def users() -> list[dict[str, Any]]:
    return [
        # Only the signer may take calls; it answers on the callers' reply subjects only.
        {"user": "signer", "password": "signer-pw",
         "permissions": {"subscribe": ["kana-sign.local.>"], "publish": {"deny": [">"]},
                         "allow_responses": True}},
        # A strategy may call this account's signer and hear its answers.
        {"user": "strategy", "password": "strategy-pw",
         "permissions": {"publish": [f"kana-sign.local.{ACCOUNT}.>"],
                         "subscribe": ["_INBOX.>"]}},
        # A reader of market data may not trade.
        {"user": "reader", "password": "reader-pw",
         "permissions": {"publish": ["kana-ctl.>"], "subscribe": ["kana.>", "_INBOX.>"]}},
    ]


@pytest.fixture(scope="module")
def server() -> Iterator[NatsServer]:
    with NatsServer(users=users()) as nats_server:
        yield nats_server


def with_user(url: str, user: str) -> str:
    return url.replace("nats://", f"nats://{user}:{user}-pw@")


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("KANA_PRIVATE_KEY", "KANA_NATS_CREDENTIALS")}
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=str(ROOT), **extra)
    return env


async def read_line(stream: asyncio.StreamReader, timeout: float = 60.0) -> str:
    return (await asyncio.wait_for(stream.readline(), timeout)).decode()


@contextlib.asynccontextmanager
async def signer_process(sim: Simulator, server: NatsServer) -> AsyncIterator[str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kana_async.cli", "signer", "--nats", server.url,
        "--network", "local", "--rest-url", str(sim.rest_url), "--ws-url", str(sim.ws_url),
        "--node-url", str(sim.node_url), "--metrics-port", "0",
        env=environment(KANA_PRIVATE_KEY=KEY, KANA_NATS_CREDENTIALS="signer:signer-pw"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        first = await read_line(process.stdout)
        if not first.startswith("signer for"):
            error = await asyncio.wait_for(process.stderr.read(), 10)
            raise AssertionError(f"the signer did not start: {first!r} {error!r}")
        assert ACCOUNT in first
        assert "signer-pw" not in first
        metrics = ""
        for _ in range(100):  # asyncio debug notes may come first
            metrics = await read_line(process.stderr)
            if metrics.startswith("metrics: ") or not metrics:
                break
        assert metrics.startswith("metrics: http://127.0.0.1:"), metrics
        yield metrics.split()[1]
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(
            asyncio.gather(process.stdout.read(), process.stderr.read()), 30)
        await asyncio.wait_for(process.wait(), 30)
        assert b"signer stopped" in rest, rest
        assert process.returncode == 0


async def strategy(sim: Simulator, server: NatsServer, name: str, base_price: str
                   ) -> list[dict[str, Any]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.bus.strategy_process",
        "--nats", with_user(server.url, "strategy"), "--account", ACCOUNT,
        "--rest-url", str(sim.rest_url), "--ws-url", str(sim.ws_url),
        "--node-url", str(sim.node_url),
        "--name", name, "--base-price", base_price, "--count", "100",
        env=environment(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    out, err = await asyncio.wait_for(process.communicate(), 240)
    assert process.returncode == 0, err.decode()[-2000:]
    return [json.loads(line) for line in out.decode().splitlines()]


async def test_two_strategies_place_100_orders_each_through_one_signer(
    server: NatsServer
) -> None:
    async with Simulator(seed=9, market_maker=None, step_interval=None) as sim, \
            signer_process(sim, server) as metrics_url:
        async with RemoteTrader(with_user(server.url, "strategy"), network="local",
                                address=ACCOUNT) as remote:
            assert (await remote.deposit(10_000)).success
        first, second = await asyncio.gather(strategy(sim, server, "a", "3.000"),
                                             strategy(sim, server, "b", "3.200"))
        lines = first + second
        orders = [line for line in lines if line["kind"] in ("order", "retry-first")]
        assert len(orders) == 200
        assert all(order["success"] for order in orders)
        assert len({order["tx_hash"] for order in orders}) == 200
        assert len({order["sequence_number"] for order in orders}) == 200
        for out in (first, second):
            (retry_first,) = [x for x in out if x["kind"] == "retry-first"]
            (retry_again,) = [x for x in out if x["kind"] == "retry-again"]
            assert retry_again == {**retry_first, "kind": "retry-again"}
            (doubt,) = [x for x in out if x["kind"] == "in_doubt"]
            assert doubt["list"] == []
        placed = sorted(oid for order in orders for oid in order["order_ids"])
        async with KanaClient("local", rest_url=sim.rest_url, ws_url=sim.ws_url,
                              node_url=sim.node_url) as kana:
            resting = await kana.rest.get_open_orders_from_contract(ACCOUNT, APT)
            # The signer's metrics counted each order once (the retry was answered, not run).
            async with kana.http.get(metrics_url) as response:
                exposition = await response.text()
        assert sorted(o.order_id for o in resting) == placed
        assert len(placed) == 200
        assert 'kana_orders_total{method="place_limit_order",outcome="ok"} 200.0' in exposition


async def test_a_process_without_credentials_cannot_trade(server: NatsServer) -> None:
    kana = KanaClient("local", rest_url="http://127.0.0.1:1", signer_url=server.url,
                      signer_account=ACCOUNT)
    with pytest.raises(AuthError, match="refused"):
        await asyncio.wait_for(kana.__aenter__(), 30)
    assert kana.closed


async def test_a_user_not_permitted_to_call_the_signer_cannot_trade(
    server: NatsServer
) -> None:
    async with RemoteTrader(with_user(server.url, "reader"), network="local", address=ACCOUNT,
                            timeout=600) as remote:
        with pytest.raises(AuthError, match="does not permit"):
            await asyncio.wait_for(remote.deposit(1), 30)
        assert remote.in_doubt() == []


async def test_a_refusal_never_shows_the_password(server: NatsServer) -> None:
    wrong = server.url.replace("nats://", "nats://strategy:n0t-the-pw@")
    with pytest.raises(AuthError) as caught:
        async with RemoteTrader(wrong, network="local", address=ACCOUNT):
            pass
    assert "n0t-the-pw" not in str(caught.value)
    assert server.url in str(caught.value)
