"""Prometheus export: outcome labels, monotonic topic counters, hooks, the scrape endpoint, and
a client's stream and orders against the simulator, read back from what Prometheus would see."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kana_async import (
    KanaClient,
    KanaError,
    PayloadMismatchError,
    PulseClient,
    StreamHooks,
    TransactionFailedError,
    TransactionRejectedError,
    UnknownOutcomeError,
    ValidationError,
)
from kana_async.metrics import Metrics, order_outcome
from kana_async.sim import Simulator
from kana_async.stream.mux import StreamStats
from kana_async.stream.subscription import SubscriptionStats
from kana_async.trade.results import TxResult

ALICE = "11" * 32
APT = 1338


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by name and sorted labels."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return samples(metrics.render().decode()).get((name, tuple(sorted(labels.items()))))


# -- outcome labels (pure) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "label"),
    [
        (TxResult("0x1", 1, True, True, "Executed successfully"), "ok"),
        (TxResult("0x1", 1, True, False, "Move abort"), "failed"),
        (TxResult("0x1", 1, False, None, "pending"), "pending"),
        (TxResult("0x1", 1, False, False, "TRANSACTION_EXPIRED"), "expired"),
        ([TxResult("0x1", 1, True, True, ""), TxResult("0x2", 2, True, False, "")], "failed"),
        ([TxResult("0x1", 1, True, True, "")], "ok"),
        ({"order_id": "7"}, "ok"),  # a result that is not a transaction
    ],
)
def test_outcome_of_a_result(result: Any, label: str) -> None:
    assert order_outcome(result) == label


@pytest.mark.parametrize(
    ("error", "label"),
    [
        (UnknownOutcomeError("0x" + "ab" * 32, "timed out"), "unknown"),
        (TransactionRejectedError("sequence number too old", 400, "vm_error", 3), "rejected"),
        (ValidationError("size", "must be > 0", 0), "refused"),
        (PayloadMismatchError("payload", "argument 1 differs; not signed"), "refused"),
        (TransactionFailedError("0x1", "Move abort"), "failed"),
        (asyncio.CancelledError(), "cancelled"),
        (KanaError("boom"), "error"),
        (RuntimeError("boom"), "error"),
    ],
)
def test_outcome_of_an_error(error: BaseException, label: str) -> None:
    assert order_outcome(error=error) == label


# -- the exporter without a network ----------------------------------------------------------


def test_each_exporter_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.record_order("place_limit_order", 0.01, "ok")
    assert value(first, "kana_orders_total", method="place_limit_order", outcome="ok") == 1
    assert value(second, "kana_orders_total", method="place_limit_order", outcome="ok") is None


def test_names_and_values_are_checked_with_the_rule() -> None:
    metrics = Metrics()
    with pytest.raises(ValidationError, match=r"stream.*must be 1 to 64 of a-z"):
        metrics.stream_hooks("Direct Feed")
    with pytest.raises(ValidationError, match=r"method.*must be 1 to 64 of a-z"):
        metrics.record_order("place order", 0.1, "ok")
    with pytest.raises(ValidationError, match=r"seconds.*must be a finite number >= 0"):
        metrics.record_order("place_limit_order", float("nan"), "ok")
    with pytest.raises(ValidationError, match=r"source.*stats"):
        metrics.watch_stream(object())  # type: ignore[arg-type]
    broken = FakeStream()
    broken.fail = True
    with pytest.raises(ValidationError, match=r"source.*stats\(\) raised RuntimeError"):
        metrics.watch_stream(broken)


async def test_a_pulse_client_is_refused_as_a_stream_at_once() -> None:
    # PulseClient.stats() is not a stream's: refused when watched, not at every scrape.
    async with Simulator(seed=1) as sim, PulseClient(sim.pulse_ws_url) as pulse:
        with pytest.raises(ValidationError, match=r"source.*StreamStats, not PulseStats"):
            Metrics().watch_stream(pulse)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="namespace"):
        Metrics(namespace="")


def test_hooks_count_events_and_call_the_chained_hooks() -> None:
    metrics = Metrics()
    seen: list[tuple[str, Any]] = []
    mine = StreamHooks(on_connected=lambda url: seen.append(("connected", url)),
                       on_dropped=lambda topic, key, cap: seen.append(("dropped", topic)))
    hooks = metrics.stream_hooks("bridge", chain=mine)
    assert hooks.on_connected is not None
    assert hooks.on_disconnected is not None
    assert hooks.on_dropped is not None
    assert hooks.on_reconnecting is not None
    assert hooks.on_watchdog is not None
    assert hooks.on_resubscribed is not None
    hooks.on_connected("ws://127.0.0.1:1/ws")
    assert value(metrics, "kana_stream_connected", stream="bridge") == 1
    hooks.on_disconnected("closed")
    hooks.on_reconnecting(1, 0.5)
    hooks.on_reconnecting(2, 1.0)
    hooks.on_resubscribed(3)
    hooks.on_dropped("live_trade_history", "0x" + "ab" * 32, 1024)
    hooks.on_watchdog("orderbook", "1338", "resubscribe")
    assert value(metrics, "kana_stream_connected", stream="bridge") == 0
    assert value(metrics, "kana_stream_reconnect_attempts_total", stream="bridge") == 2
    assert value(metrics, "kana_stream_resubscribed_total", stream="bridge") == 3
    assert value(metrics, "kana_stream_overflows_total", stream="bridge",
                 topic="live_trade_history") == 1
    assert value(metrics, "kana_stream_watchdog_total", stream="bridge", topic="orderbook",
                 action="resubscribe") == 1
    assert seen == [("connected", "ws://127.0.0.1:1/ws"), ("dropped", "live_trade_history")]


def _sub(topic: str, key: str, received: int, **extra: Any) -> SubscriptionStats:
    fields: dict[str, Any] = {
        "topic": topic, "key": key, "overflow": "latest", "capacity": 1,
        "received": received, "delivered": received, "conflated": 0, "dropped": 0,
        "decode_errors": 0, "gaps": 0, "buffered": 0, "last_received": None, "closed": False}
    fields.update(extra)
    return SubscriptionStats(**fields)


class FakeStream:
    """A stats source whose subscriptions the test sets."""

    def __init__(self) -> None:
        self.subs: list[SubscriptionStats] = []
        self.fail = False

    def stats(self) -> StreamStats:
        if self.fail:
            raise RuntimeError("stats broke")
        return StreamStats(
            url="ws://x", connected=True, connected_for=1.0, connects=1, disconnects=0,
            reconnect_attempt=0, frames=10, ignored=0, malformed=2, server_error=0,
            unknown_topic=0, unroutable=0, unattributed=0, routed_by_shape=0,
            subscriptions=list(self.subs), routed=8)


def test_topic_counters_never_fall_when_subscriptions_close() -> None:
    metrics, source = Metrics(), FakeStream()
    metrics.watch_stream(source, "direct")
    received = "kana_stream_items_received_total"
    source.subs = [_sub("orderbook", "1", 5), _sub("orderbook", "1", 7),
                   _sub("orderbook", "2", 4, age=3.5, stale=True)]
    assert value(metrics, received, stream="direct", topic="orderbook") == 16
    assert value(metrics, "kana_stream_subscriptions", stream="direct", topic="orderbook") == 3
    assert value(metrics, "kana_stream_stale_subscriptions", stream="direct",
                 topic="orderbook") == 1
    assert value(metrics, "kana_stream_age_seconds", stream="direct", topic="orderbook") == 3.5
    assert value(metrics, "kana_stream_anomalies_total", stream="direct", kind="malformed") == 2
    assert value(metrics, "kana_stream_frames_total", stream="direct") == 10
    # One subscription of key 1 closes; key 2 goes away entirely.
    source.subs = [_sub("orderbook", "1", 7)]
    assert value(metrics, received, stream="direct", topic="orderbook") == 5 + 7 + 4
    # Key 1's other one grows; key 2 is subscribed again, from zero.
    source.subs = [_sub("orderbook", "1", 10), _sub("orderbook", "2", 1)]
    assert value(metrics, received, stream="direct", topic="orderbook") == 5 + 10 + 4 + 1
    # A close and a growth between two scrapes: counted low, never falling.
    source.subs = [_sub("orderbook", "1", 3), _sub("orderbook", "2", 1)]
    assert value(metrics, received, stream="direct", topic="orderbook") == 20
    source.subs = []
    assert value(metrics, received, stream="direct", topic="orderbook") == 20
    assert value(metrics, received, stream="direct", topic="orderbook") == 20
    assert value(metrics, "kana_stream_subscriptions", stream="direct",
                 topic="orderbook") is None


def test_a_failing_source_does_not_fail_the_scrape(caplog: pytest.LogCaptureFixture) -> None:
    metrics, source = Metrics(), FakeStream()
    metrics.watch_stream(source, "direct")
    metrics.record_order("cancel_order", 0.2, "ok")
    source.fail = True
    text = metrics.render().decode()
    assert 'kana_orders_total{method="cancel_order",outcome="ok"} 1.0' in text
    assert "kana_stream_frames_total{" not in text
    assert "stats() of stream direct raised" in caplog.text


def test_the_base_import_does_not_load_prometheus() -> None:
    code = ("import sys, kana_async, kana_async.metrics; "
            "assert 'prometheus_client' not in sys.modules, 'loaded'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_a_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(ImportError, match=r"pip install 'kana-async\[metrics\]'"):
        Metrics()


# -- the endpoint ----------------------------------------------------------------------------


async def test_serve_answers_scrapes_on_loopback_and_closes() -> None:
    metrics = Metrics()
    metrics.record_order("place_market_order", 0.003, "unknown")
    server = await metrics.serve(0)
    async with server:
        assert server.host == "127.0.0.1"
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}/metrics"
        async with aiohttp.ClientSession() as http, http.get(server.url) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            text = await response.text()
    assert samples(text)[("kana_orders_total", (("method", "place_market_order"),
                                                ("outcome", "unknown")))] == 1
    await server.close()  # twice is fine
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", server.port)) != 0


async def test_serve_refuses_a_bad_or_busy_port() -> None:
    metrics = Metrics()
    with pytest.raises(ValidationError, match=r"port.*from 0 to 65535"):
        await metrics.serve(70000)
    async with await metrics.serve(0) as busy:
        with pytest.raises(KanaError, match=f"cannot listen on 127.0.0.1:{busy.port}"):
            await metrics.serve(busy.port)


# -- a client against the simulator ----------------------------------------------------------


@pytest.fixture
async def sim() -> Any:
    async with Simulator(seed=3, market_maker=None, step_interval=None) as simulator:
        yield simulator


async def test_a_clients_stream_and_orders_as_prometheus_sees_them(sim: Simulator) -> None:
    metrics = Metrics()
    kana = KanaClient("local", rest_url=sim.rest_url, ws_url=sim.ws_url, node_url=sim.node_url,
                      api_key="test-key", private_key=ALICE,
                      stream={"hooks": metrics.stream_hooks("direct")})
    async with kana, await metrics.serve(0) as server:
        metrics.watch_stream(kana.stream, "direct")
        metrics.watch_trader(kana.trader, "alice")
        assert (await metrics.track("deposit", kana.deposit(1000))).success
        async with kana.stream.orderbook(APT) as book:
            placed = await metrics.track(
                "place_limit_order", kana.place_limit_order(APT, True, False, "1", "5.000", 2))
            assert placed.success

            async def bid() -> None:
                async for item in book:
                    if item.best_bid is not None and item.best_bid.price == Decimal("5"):
                        return

            await asyncio.wait_for(bid(), 10)
            with pytest.raises(ValidationError):
                await metrics.track("place_limit_order",
                                    kana.place_limit_order(APT, True, False, "0", "5.000", 2))
            async with aiohttp.ClientSession() as http, http.get(server.url) as response:
                live = samples(await response.text())
        after = samples(metrics.render().decode())

    def at(found: dict[Any, float], name: str, **labels: str) -> float | None:
        return found.get((name, tuple(sorted(labels.items()))))

    assert at(live, "kana_stream_connected", stream="direct") == 1
    assert at(live, "kana_stream_connects_total", stream="direct") == 1
    assert (at(live, "kana_stream_frames_total", stream="direct") or 0) >= 2
    delivered = at(live, "kana_stream_items_delivered_total", stream="direct",
                   topic="orderbook")
    assert delivered is not None
    assert delivered >= 1
    assert at(live, "kana_stream_subscriptions", stream="direct", topic="orderbook") == 1
    assert at(live, "kana_orders_total", method="place_limit_order", outcome="ok") == 1
    assert at(live, "kana_orders_total", method="place_limit_order", outcome="refused") == 1
    assert at(live, "kana_orders_total", method="deposit", outcome="ok") == 1
    assert at(live, "kana_order_seconds_count", method="place_limit_order") == 2
    assert at(live, "kana_orders_in_doubt", account="alice") == 0
    # The subscription closed: its items stay counted, it is no longer live.
    assert (at(after, "kana_stream_items_delivered_total", stream="direct",
               topic="orderbook") or 0) >= delivered
    assert at(after, "kana_stream_subscriptions", stream="direct", topic="orderbook") is None


class FakeBridge:
    def __init__(self) -> None:
        self.published = 0

    def stats(self) -> Any:
        return SimpleNamespace(keys=2, received=self.published, published=self.published,
                               dropped=1, gaps=0, requests=3, buffered=5, nats_connected=True,
                               nats_reconnects=0)


def test_a_bridge_is_read_at_each_scrape() -> None:
    metrics, bridge = Metrics(), FakeBridge()
    metrics.watch_bridge(bridge, "bridge")
    bridge.published = 7
    assert value(metrics, "kana_bridge_published_total", bridge="bridge") == 7
    bridge.published = 9
    assert value(metrics, "kana_bridge_published_total", bridge="bridge") == 9
    assert value(metrics, "kana_bridge_nats_connected", bridge="bridge") == 1
    assert value(metrics, "kana_bridge_buffered", bridge="bridge") == 5
    assert value(metrics, "kana_bridge_dropped_total", bridge="bridge") == 1
    with pytest.raises(ValidationError, match="bridge"):
        metrics.watch_bridge(object())  # type: ignore[arg-type]


def test_a_call_timed_elsewhere_is_recorded_and_never_raises() -> None:
    metrics = Metrics()
    metrics.on_outcome("place_limit_order", 0.004, TxResult("0x1", 1, True, True, ""), None)
    metrics.on_outcome("cancel_order", 0.5, None, UnknownOutcomeError("0x2", "timed out"))
    metrics.on_outcome("Not A Label!", float("nan"), None, RuntimeError("boom"))
    assert value(metrics, "kana_orders_total", method="place_limit_order", outcome="ok") == 1
    assert value(metrics, "kana_orders_total", method="cancel_order", outcome="unknown") == 1
    assert value(metrics, "kana_orders_total", method="other", outcome="error") == 1
    assert value(metrics, "kana_order_seconds_sum", method="cancel_order") == 0.5


# -- a bridge and a bus-backed stream ----------------------------------------------------------


async def test_a_bridge_and_a_bus_stream_as_prometheus_sees_them() -> None:
    from kana_async.bus.bridge import Bridge
    from kana_async.bus.source import BusStream
    from tests.bus.nats_server import NatsServer

    metrics = Metrics()
    with NatsServer() as nats:
        async with Simulator(seed=7, step_interval=None) as sim, \
                aiohttp.ClientSession() as http:
            assert sim.ws_url is not None
            async with Bridge(nats.url, network="local", ws_url=sim.ws_url, http=http,
                              stream={"hooks": metrics.stream_hooks("upstream")}) as bridge, \
                    BusStream(nats.url, network="local",
                              hooks=metrics.stream_hooks("bus")) as stream:
                metrics.watch_bridge(bridge)
                metrics.watch_stream(bridge.stream, "upstream")
                metrics.watch_stream(stream, "bus")
                async with stream.orderbook(APT) as book:
                    await asyncio.wait_for(book.__anext__(), 10)
                    found = samples(metrics.render().decode())
    assert found[("kana_stream_connected", (("stream", "bus"),))] == 1
    assert found[("kana_stream_connected", (("stream", "upstream"),))] == 1
    assert found[("kana_stream_items_delivered_total",
                  (("stream", "bus"), ("topic", "orderbook")))] >= 1
    assert found[("kana_stream_subscriptions", (("stream", "bus"), ("topic", "orderbook")))] == 1
    assert found[("kana_bridge_keys", (("bridge", "bridge"),))] == 1
    assert found[("kana_bridge_published_total", (("bridge", "bridge"),))] >= 1
    assert found[("kana_bridge_nats_connected", (("bridge", "bridge"),))] == 1
