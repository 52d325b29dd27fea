"""Prometheus metrics for operators: streams (from :class:`~kana_async.stream.StreamHooks` and
the stream's own counters) and the order path (latency and outcome of every trading call).

``prometheus-client`` (the ``metrics`` extra) is imported when a :class:`Metrics` is made, so a
base install never needs it. Each :class:`Metrics` has its own ``CollectorRegistry``: two in one
process (or two tests) never collide, and nothing lands in the library's global registry.

Nothing here runs per message. Hooks count rare events (connects, overflows, the watchdog); the
volume counters (frames, items per topic, conflated, dropped, gaps, staleness) are read from
``stats()`` when Prometheus scrapes. :meth:`Metrics.serve` answers scrapes from the event loop
itself (aiohttp), so reading the stream's state never races with it::

    metrics = Metrics()
    stream_opts = {"hooks": metrics.stream_hooks("direct")}
    async with KanaClient(..., stream=stream_opts) as kana, await metrics.serve(9464):
        metrics.watch_stream(kana.stream, "direct")
        metrics.watch_trader(kana.trader)
        result = await metrics.track("place_limit_order", kana.trader.place_limit_order(...))
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from .errors import (
    KanaError,
    PayloadMismatchError,
    TransactionFailedError,
    TransactionRejectedError,
    UnknownOutcomeError,
    ValidationError,
)
from .stream.mux import StreamStats
from .stream.options import StreamHooks

if TYPE_CHECKING:
    from aiohttp import web
    from prometheus_client.registry import Collector, CollectorRegistry

__all__ = [
    "BRIDGE_FIELDS",
    "MISSING_EXTRA",
    "ORDER_BUCKETS",
    "Metrics",
    "MetricsServer",
    "StatsSource",
    "order_outcome",
]

logger = logging.getLogger("kana_async.metrics")

MISSING_EXTRA = "Prometheus metrics need the metrics extra: pip install 'kana-async[metrics]'"

#: Upper bounds (seconds) of the order latency histogram: a signer on loopback answers in
#: milliseconds, a committed transaction on a real chain takes up to tens of seconds.
ORDER_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

#: Label values we make ourselves (stream names, trading methods): short identifiers, so a
#: label never carries free text and the number of series stays bounded.
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,63}")

T = TypeVar("T")

#: The counters of :class:`~kana_async.stream.subscription.SubscriptionStats` exported per
#: topic, with the metric name (after ``kana_stream_``) and help text of each.
_SUB_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("received", "items_received", "Payloads handed to subscriptions, per topic."),
    ("delivered", "items_delivered", "Items consumers read, per topic."),
    ("conflated", "items_conflated",
     "Snapshots replaced by a newer one before the consumer read them (keep-latest)."),
    ("dropped", "items_dropped", "Items lost to a full buffer (error policy), per topic."),
    ("decode_errors", "decode_errors", "Payloads that could not be decoded (skipped)."),
    ("gaps", "gaps", "Reconnects consumers of event topics were told about."),
)

#: What a bridge's ``stats()`` offers: field, metric name (after ``kana_bridge_``), kind, help.
BRIDGE_FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("received", "received", "counter", "Payloads the bridge got from its exchange socket."),
    ("published", "published", "counter", "Messages handed to NATS."),
    ("dropped", "dropped", "counter",
     "Messages dropped because the outbox was full (NATS too slow or away)."),
    ("gaps", "gaps", "counter", "Gap markers published (upstream reconnects, drops)."),
    ("requests", "requests", "counter", "Subscribe requests answered."),
    ("nats_reconnects", "nats_reconnects", "counter", "Reconnects to the NATS server."),
    ("keys", "keys", "gauge", "Keys streamed upstream and published."),
    ("buffered", "buffered", "gauge", "Messages waiting to be handed to NATS."),
    ("nats_connected", "nats_connected", "gauge", "1 while the NATS connection is up."),
)

#: StreamStats fields that count frames the router could not deliver, by kind.
_ANOMALIES: tuple[str, ...] = (
    "malformed", "oversize", "server_error", "unknown_topic", "unroutable", "unattributed")


def _prometheus() -> Any:
    """The ``prometheus_client`` package, or an ImportError naming the extra to install."""
    try:
        import prometheus_client
        import prometheus_client.core
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError(MISSING_EXTRA) from error
    return prometheus_client


def _check_name(param: str, value: object) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ValidationError(
            param, "must be 1 to 64 of a-z, 0-9 and _, starting with a letter or _", value)
    return value


class StatsSource(Protocol):
    """What :meth:`Metrics.watch_stream` reads: a direct :class:`~kana_async.stream.StreamMux`
    or a bus-backed stream (``KanaClient(..., stream_url="nats://...").stream``)."""

    def stats(self) -> StreamStats: ...


class BridgeSource(Protocol):
    """What :meth:`Metrics.watch_bridge` reads: a bus bridge, whose ``stats()`` has the
    fields of :data:`BRIDGE_FIELDS`."""

    def stats(self) -> Any: ...


class InDoubtSource(Protocol):
    """What :meth:`Metrics.watch_trader` reads: a trader (local or remote)."""

    def in_doubt(self) -> list[str]: ...


def order_outcome(result: object = None, error: BaseException | None = None) -> str:
    """The outcome label of a trading call that returned ``result`` or raised ``error``.

    ``ok`` committed and succeeded; ``failed`` committed but its execution failed;
    ``pending`` sent without waiting; ``expired`` never committed; ``unknown`` in doubt
    (:class:`~kana_async.UnknownOutcomeError`); ``rejected`` refused by the node;
    ``refused`` stopped before signing (a rule or a payload mismatch: nothing was sent);
    ``cancelled`` the caller cancelled; ``error`` anything else. A list of results (e.g.
    ``cancel_all``) takes the label of its first result that is not ``ok``.
    """
    if error is not None:
        if isinstance(error, UnknownOutcomeError):
            return "unknown"
        if isinstance(error, TransactionRejectedError):
            return "rejected"
        if isinstance(error, (ValidationError, PayloadMismatchError)):
            return "refused"
        if isinstance(error, TransactionFailedError):
            return "failed"
        if isinstance(error, asyncio.CancelledError):
            return "cancelled"
        return "error"
    if isinstance(result, (list, tuple)):
        for item in result:
            label = order_outcome(item)
            if label != "ok":
                return label
        return "ok"
    success = getattr(result, "success", True)
    if success is None:
        return "pending"
    if success:
        return "ok"
    return "failed" if getattr(result, "committed", True) else "expired"


@dataclass
class _Totals:
    """Monotonic per-topic counters over subscriptions that come and go.

    A live key's counters are read from its subscriptions at each scrape; when a key's sum
    goes down (a subscription closed), the difference is kept, so a counter never falls.
    Counts a subscription made after the last scrape before it closed are missed.
    """

    #: (topic, key) -> the counters read at the last scrape.
    last: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    #: (topic, key) -> counts of subscriptions of that key that are gone.
    kept: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    #: topic -> counts of keys that are gone.
    retired: dict[str, list[int]] = field(default_factory=dict)

    def update(self, current: dict[tuple[str, str], list[int]]) -> dict[str, list[int]]:
        """Fold a scrape's live sums in; the per-topic totals."""
        width = len(_SUB_COUNTERS)
        for ident, before in self.last.items():
            now = current.get(ident)
            kept = self.kept.setdefault(ident, [0] * width)
            for index in range(width):
                value = 0 if now is None else now[index]
                if value < before[index]:
                    kept[index] += before[index] - value
            if now is None:  # the key is gone: its counts move to its topic
                retired = self.retired.setdefault(ident[0], [0] * width)
                for index in range(width):
                    retired[index] += kept[index]
                del self.kept[ident]
        self.last = {ident: list(values) for ident, values in current.items()}
        totals: dict[str, list[int]] = {topic: list(values)
                                        for topic, values in self.retired.items()}
        for ident, values in current.items():
            total = totals.setdefault(ident[0], [0] * width)
            kept = self.kept.get(ident, [0] * width)
            for index in range(width):
                total[index] += values[index] + kept[index]
        return totals


@dataclass
class _Stream:
    """What one named stream has told us through its hooks, and where to read its stats."""

    name: str
    source: StatsSource | None = None
    connected: bool | None = None
    reconnect_attempts: int = 0
    resubscribed: int = 0
    overflows: dict[str, int] = field(default_factory=dict)
    watchdog: dict[tuple[str, str], int] = field(default_factory=dict)
    totals: _Totals = field(default_factory=_Totals)


class MetricsServer:
    """The scrape endpoint (``GET /metrics``) of :meth:`Metrics.serve`; close it, or use it
    with ``async with``."""

    def __init__(self, runner: web.AppRunner, host: str, port: int) -> None:
        self._runner = runner
        self.host = host
        #: The port bound (the one chosen by the system when 0 was asked for).
        self.port = port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    async def close(self) -> None:
        """Stop answering scrapes. Idempotent."""
        await self._runner.cleanup()

    async def __aenter__(self) -> MetricsServer:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<MetricsServer {self.url}>"


class Metrics:
    """One Prometheus exporter with its own registry (``namespace`` prefixes every name)."""

    def __init__(self, *, namespace: str = "kana") -> None:
        _check_name("namespace", namespace)
        prom = _prometheus()
        self.namespace = namespace
        self.registry: CollectorRegistry = prom.CollectorRegistry(auto_describe=False)
        self._streams: dict[str, _Stream] = {}
        self._traders: dict[str, InDoubtSource] = {}
        self._bridges: dict[str, BridgeSource] = {}
        self._order_seconds = prom.Histogram(
            f"{namespace}_order_seconds",
            "Seconds a trading call took, from the call to its outcome, per method.",
            ["method"], registry=self.registry, buckets=ORDER_BUCKETS)
        self._orders = prom.Counter(
            f"{namespace}_orders", "Trading calls by method and outcome (see order_outcome).",
            ["method", "outcome"], registry=self.registry)
        self.registry.register(cast("Collector", _Collector(self)))

    # -- streams ---------------------------------------------------------------------------

    def _stream(self, name: str) -> _Stream:
        _check_name("stream", name)
        state = self._streams.get(name)
        if state is None:
            state = self._streams[name] = _Stream(name)
        return state

    def stream_hooks(self, stream: str = "stream", *,
                     chain: StreamHooks | None = None) -> StreamHooks:
        """Hooks that count the events of the stream named ``stream`` (give them to
        ``KanaClient(..., stream={"hooks": ...})`` or a Pulse client's options). ``chain``:
        hooks of your own, called after ours."""
        state = self._stream(stream)
        other = chain or StreamHooks()

        def then(hook: Callable[..., None] | None, *args: Any) -> None:
            if hook is not None:
                hook(*args)

        def on_connected(url: str) -> None:
            state.connected = True
            then(other.on_connected, url)

        def on_disconnected(reason: str) -> None:
            state.connected = False
            then(other.on_disconnected, reason)

        def on_reconnecting(attempt: int, delay: float) -> None:
            state.reconnect_attempts += 1
            then(other.on_reconnecting, attempt, delay)

        def on_resubscribed(count: int) -> None:
            state.resubscribed += count
            then(other.on_resubscribed, count)

        def on_dropped(topic: str, key: str, capacity: int) -> None:
            state.overflows[topic] = state.overflows.get(topic, 0) + 1
            then(other.on_dropped, topic, key, capacity)

        def on_watchdog(topic: str, key: str, action: str) -> None:
            ident = (topic, action)
            state.watchdog[ident] = state.watchdog.get(ident, 0) + 1
            then(other.on_watchdog, topic, key, action)

        return StreamHooks(
            on_connected=on_connected, on_disconnected=on_disconnected,
            on_reconnecting=on_reconnecting, on_resubscribed=on_resubscribed,
            on_decode_error=other.on_decode_error, on_dropped=on_dropped,
            on_anomaly=other.on_anomaly, on_watchdog=on_watchdog)

    def watch_stream(self, source: StatsSource, stream: str = "stream") -> None:
        """Read ``source.stats()`` at each scrape: connection, frames, items per topic,
        conflated, dropped, gaps, buffered and staleness."""
        if not callable(getattr(source, "stats", None)):
            raise ValidationError("source", "must have a stats() method (a stream)")
        # Checked now, not at the first scrape: a PulseClient also has stats(), of its own shape.
        try:
            sample = source.stats()
        except Exception as exc:
            raise ValidationError("source", f"stats() raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(sample, StreamStats):
            raise ValidationError(
                "source", f"must be a Kana stream (kana.stream, a BusStream) whose stats() gives "
                f"StreamStats, not {type(sample).__name__}")
        self._stream(stream).source = source

    def watch_bridge(self, bridge: BridgeSource, name: str = "bridge") -> None:
        """Read a bus bridge's ``stats()`` at each scrape (see :data:`BRIDGE_FIELDS`); watch
        its exchange socket with ``watch_stream(bridge.stream, ...)``."""
        _check_name("bridge", name)
        if not callable(getattr(bridge, "stats", None)):
            raise ValidationError("bridge", "must have a stats() method (a bridge)")
        self._bridges[name] = bridge

    # -- the order path --------------------------------------------------------------------

    def watch_trader(self, trader: InDoubtSource, account: str | None = None) -> None:
        """Export how many transactions of ``trader`` are in doubt (read at each scrape);
        ``account`` labels them (default: the trader's ``address``)."""
        if not callable(getattr(trader, "in_doubt", None)):
            raise ValidationError("trader", "must have an in_doubt() method (a trader)")
        label = account if account is not None else getattr(trader, "address", None)
        if not isinstance(label, str) or not label:
            raise ValidationError("account", "must be a non-empty string")
        self._traders[label] = trader

    def record_order(self, method: str, seconds: float, outcome: str) -> None:
        """Count one trading call of ``method`` that took ``seconds`` and ended as
        ``outcome`` (a label of :func:`order_outcome`)."""
        _check_name("method", method)
        _check_name("outcome", outcome)
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
                or not 0 <= seconds < float("inf"):
            raise ValidationError("seconds", "must be a finite number >= 0", seconds)
        self._order_seconds.labels(method).observe(seconds)
        self._orders.labels(method, outcome).inc()

    def on_outcome(self, method: str, seconds: float, result: object,
                   error: BaseException | None) -> None:
        """Record a call that someone else ran and timed: the shape of the signer's
        ``on_outcome`` hook (``SignerService(..., on_outcome=metrics.on_outcome)``). Never
        raises: a method name that cannot be a label is counted as ``other``."""
        label = method if isinstance(method, str) and _NAME.fullmatch(method) else "other"
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
                or not 0 <= seconds < float("inf"):
            seconds = 0.0
        self.record_order(label, seconds, order_outcome(result, error))

    async def track(self, method: str, call: Awaitable[T]) -> T:
        """Await ``call`` (a trading coroutine) and record its latency and outcome; its
        result or exception passes through unchanged."""
        _check_name("method", method)
        start = time.perf_counter()
        try:
            result = await call
        except (Exception, asyncio.CancelledError) as error:
            self.record_order(method, time.perf_counter() - start, order_outcome(error=error))
            raise
        self.record_order(method, time.perf_counter() - start, order_outcome(result))
        return result

    # -- exposition ------------------------------------------------------------------------

    def render(self) -> bytes:
        """The registry in Prometheus' text format (call it from the event loop's thread)."""
        data: bytes = _prometheus().generate_latest(self.registry)
        return data

    async def serve(self, port: int, host: str = "127.0.0.1") -> MetricsServer:
        """Answer ``GET /metrics`` on ``host:port`` (``port=0``: a free one, see
        :attr:`MetricsServer.port`) from this event loop, until the server is closed.
        Loopback by default: expose it wider only on purpose."""
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValidationError("port", "must be an integer from 0 to 65535", port)
        if not isinstance(host, str) or not host:
            raise ValidationError("host", "must be a host name or address", host)
        from aiohttp import web

        content_type = _prometheus().CONTENT_TYPE_LATEST

        async def scrape(request: web.Request) -> web.Response:
            return web.Response(body=self.render(), headers={"Content-Type": content_type})

        app = web.Application()
        app.router.add_get("/metrics", scrape)
        app.router.add_get("/", scrape)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
        except OSError as error:
            await runner.cleanup()
            raise KanaError(f"metrics: cannot listen on {host}:{port}: "
                            f"{error.strerror or error}") from None
        bound = port
        for address in runner.addresses:
            if isinstance(address, tuple) and len(address) >= 2:
                bound = int(address[1])
                break
        return MetricsServer(runner, host, bound)

    # -- what a scrape reads ---------------------------------------------------------------

    def _families(self) -> Iterator[Any]:
        core = _prometheus().core
        counter, gauge = core.CounterMetricFamily, core.GaugeMetricFamily
        ns = f"{self.namespace}_stream"
        up = gauge(f"{ns}_connected", "1 while the stream's socket is open.", labels=["stream"])
        attempts = counter(f"{ns}_reconnect_attempts", "Reconnect delays started.",
                           labels=["stream"])
        resubscribed = counter(f"{ns}_resubscribed",
                               "Subscriptions sent again after reconnects.", labels=["stream"])
        overflows = counter(f"{ns}_overflows",
                            "Times a slow consumer's buffer started dropping, per topic.",
                            labels=["stream", "topic"])
        watchdog = counter(f"{ns}_watchdog", "Silent topics the watchdog acted on.",
                           labels=["stream", "topic", "action"])
        connects = counter(f"{ns}_connects", "Sockets opened.", labels=["stream"])
        disconnects = counter(f"{ns}_disconnects", "Sockets that ended.", labels=["stream"])
        attempt = gauge(f"{ns}_reconnect_attempt",
                        "Consecutive reconnect delays since the last healthy connection.",
                        labels=["stream"])
        frames = counter(f"{ns}_frames", "Frames received.", labels=["stream"])
        routed = counter(f"{ns}_frames_routed", "Frames handed to at least one subscription.",
                         labels=["stream"])
        anomalies = counter(f"{ns}_anomalies", "Frames that could not be delivered, by kind.",
                            labels=["stream", "kind"])
        per_topic = [counter(f"{ns}_{name}", text, labels=["stream", "topic"])
                     for _, name, text in _SUB_COUNTERS]
        subscriptions = gauge(f"{ns}_subscriptions", "Live subscriptions, per topic.",
                              labels=["stream", "topic"])
        buffered = gauge(f"{ns}_buffered_items", "Items waiting for their consumer.",
                         labels=["stream", "topic"])
        stale = gauge(f"{ns}_stale_subscriptions",
                      "Subscriptions whose state may be out of date, per topic.",
                      labels=["stream", "topic"])
        age = gauge(f"{ns}_age_seconds",
                    "Seconds since the stalest key of a topic last received a payload.",
                    labels=["stream", "topic"])
        for state in self._streams.values():
            name = state.name
            attempts.add_metric([name], state.reconnect_attempts)
            resubscribed.add_metric([name], state.resubscribed)
            for topic, count in sorted(state.overflows.items()):
                overflows.add_metric([name, topic], count)
            for (topic, action), count in sorted(state.watchdog.items()):
                watchdog.add_metric([name, topic, action], count)
            stats = self._read(state)
            connected = stats.connected if stats is not None else state.connected
            if connected is not None:
                up.add_metric([name], 1.0 if connected else 0.0)
            if stats is None:
                continue
            connects.add_metric([name], stats.connects)
            disconnects.add_metric([name], stats.disconnects)
            attempt.add_metric([name], stats.reconnect_attempt)
            frames.add_metric([name], stats.frames)
            routed.add_metric([name], stats.routed)
            for kind in _ANOMALIES:
                anomalies.add_metric([name, kind], getattr(stats, kind))
            live: dict[tuple[str, str], list[int]] = {}
            topics: dict[str, list[float]] = {}  # subscriptions, buffered, stale, age
            for sub in stats.subscriptions:
                values = live.setdefault((sub.topic, sub.key), [0] * len(_SUB_COUNTERS))
                for index, (attr, _, _) in enumerate(_SUB_COUNTERS):
                    values[index] += getattr(sub, attr)
                row = topics.setdefault(sub.topic, [0, 0, 0, -1.0])
                row[0] += 1
                row[1] += sub.buffered
                row[2] += 1 if sub.stale else 0
                if sub.age is not None:
                    row[3] = max(row[3], sub.age)
            for topic, totals in sorted(state.totals.update(live).items()):
                for family, value in zip(per_topic, totals, strict=True):
                    family.add_metric([name, topic], value)
            for topic, row in sorted(topics.items()):
                subscriptions.add_metric([name, topic], row[0])
                buffered.add_metric([name, topic], row[1])
                stale.add_metric([name, topic], row[2])
                if row[3] >= 0:
                    age.add_metric([name, topic], row[3])
        yield from (up, connects, disconnects, attempts, attempt, resubscribed, frames, routed,
                    anomalies, *per_topic, subscriptions, buffered, stale, age, overflows,
                    watchdog)
        yield from self._bridge_families(counter, gauge)
        in_doubt = gauge(f"{self.namespace}_orders_in_doubt",
                         "Transactions sent whose outcome is unknown (see resolve()).",
                         labels=["account"])
        for account, trader in sorted(self._traders.items()):
            try:
                in_doubt.add_metric([account], len(trader.in_doubt()))
            except Exception:
                logger.warning("metrics: in_doubt() of %s raised", account, exc_info=True)
        yield in_doubt

    def _bridge_families(self, counter: Any, gauge: Any) -> Iterator[Any]:
        families = [(attr, (counter if kind == "counter" else gauge)(
            f"{self.namespace}_bridge_{name}", text, labels=["bridge"]))
            for attr, name, kind, text in BRIDGE_FIELDS]
        for name, bridge in sorted(self._bridges.items()):
            try:
                stats = bridge.stats()
            except Exception:
                logger.warning("metrics: stats() of bridge %s raised", name, exc_info=True)
                continue
            for attr, family in families:
                found = getattr(stats, attr, None)
                if isinstance(found, (bool, int, float)):
                    family.add_metric([name], float(found))
        for _, family in families:
            yield family

    @staticmethod
    def _read(state: _Stream) -> StreamStats | None:
        if state.source is None:
            return None
        try:
            return state.source.stats()
        except Exception:  # a scrape must not fail because one source did
            logger.warning("metrics: stats() of stream %s raised", state.name, exc_info=True)
            return None


class _Collector:
    """Adapts :meth:`Metrics._families` to the registry (read at each scrape)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Any]:
        return list(self._metrics._families())
