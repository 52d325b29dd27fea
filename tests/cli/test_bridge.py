"""``kana-async bridge``: pre-subscriptions from the options, and a bridge served until stopped."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest

from kana_async import cli
from kana_async.bus.bridge import Bridge
from kana_async.bus.source import BusStream
from kana_async.cli.args import UsageError
from kana_async.cli.bridge import presubscriptions, serve_bridge
from kana_async.sim import Simulator
from kana_async.stream import OrderBook
from tests.bus.nats_server import NatsServer

PROFILE = "0x" + "ab" * 32


def parse(*argv: str) -> Any:
    return cli.build_parser().parse_args(["bridge", "--nats", "nats://127.0.0.1:4222", *argv])


def test_presubscriptions_pair_topics_with_their_keys() -> None:
    args = parse("--topic", "orderbook", "--topic", "live_order_history", "--topic",
                 "live_funding_rate", "--market", "APT", "--market", "1338", "--address",
                 PROFILE)
    assert presubscriptions(args) == [
        ("orderbook", {"market_id": "APT"}), ("orderbook", {"market_id": "1338"}),
        ("live_order_history", {"address": PROFILE}), ("live_funding_rate", {}),
    ]
    assert presubscriptions(parse()) == []


@pytest.mark.parametrize(("argv", "message"), [
    (["--market", "APT"], "--market and --address name keys of a --topic"),
    (["--topic", "orderbook"], "--topic orderbook needs --market"),
    (["--topic", "positions", "--market", "APT", "--address", PROFILE],
     "--market given, but no --topic is keyed by market"),
    (["--only-listed"], "--only-listed needs the keys to stream"),
])
def test_presubscriptions_that_do_not_fit_are_usage_errors(argv: list[str], message: str
                                                           ) -> None:
    with pytest.raises(UsageError, match=message):
        presubscriptions(parse(*argv))


def test_the_nats_url_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["bridge", "--nats", "http://x"])
    assert "must be a nats:// (or tls://) URL" in capsys.readouterr().err


async def test_serve_bridge_pre_subscribes_and_stops_cleanly() -> None:
    out = io.StringIO()
    stop = asyncio.Event()
    with NatsServer() as server:
        async with Simulator(seed=2, step_interval=None) as sim:
            args = parse("--topic", "orderbook", "--market", "APT", "--rest-url",
                         str(sim.rest_url), "--ws-url", str(sim.ws_url), "--node-url",
                         str(sim.node_url))
            args.nats = server.url
            started: asyncio.Future[Bridge] = asyncio.get_running_loop().create_future()
            serving = asyncio.ensure_future(serve_bridge(args, out=out, stop=stop,
                                                         started=started))
            bridge = await asyncio.wait_for(started, 20)
            assert bridge.subjects == ["kana.local.orderbook.1338"]
            async with BusStream(server.url, network="local") as bus:
                book = await asyncio.wait_for(bus.orderbook(1338).get(), 10)
                assert isinstance(book, OrderBook)
            stop.set()
            assert await asyncio.wait_for(serving, 20) == 0
    text = out.getvalue()
    assert "bridge on local: publishing kana.local.> at nats://127.0.0.1:" in text
    assert "1 pre-subscribed key(s)" in text
    assert "bridge stopped (" in text
