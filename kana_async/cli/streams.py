"""Stream commands: ``tail`` (NDJSON for shell pipelines), ``record`` and ``replay``.

``tail`` and ``replay`` print the same lines, one JSON object per item::

    {"ts": 1795244880.15, "topic": "orderbook", "key": "1338", "data": {...}}

``ts`` is Unix time: when the item was read (``tail``) or when its frame was received
(``replay``). Warnings (a reconnect gap, a consumer that fell behind, anomalous frames) go
to stderr, so stdout carries data only.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from ..errors import SlowConsumerError, StreamGapError
from ..stream.topics import TOPICS
from .args import (
    CliError,
    Command,
    UsageError,
    add_address_options,
    add_connection_options,
    count,
    market,
    seconds,
    speed,
)
from .connect import (
    client,
    market_grids,
    profile_address,
    resolve_market,
    stop_on_signals,
    until_stopped,
)
from .output import Lines, warn

if TYPE_CHECKING:
    from ..client import KanaClient
    from ..stream.mux import StreamMux
    from ..stream.recording import Replay
    from ..stream.subscription import Subscription
    from .views import Grid

__all__ = ["RECORD", "REPLAY", "TAIL"]

_ADDRESS_TOPICS = tuple(name for name, spec in TOPICS.items() if spec.key == "address")
_MARKET_TOPICS = tuple(name for name, spec in TOPICS.items() if spec.key == "market_id")

#: Anomalous frames described on stderr, per kind, before only counting them.
_ANOMALY_LINES = 5


class _Line(msgspec.Struct):
    ts: float
    topic: str
    key: str
    data: Any


def _topic_help() -> str:
    return (f"by address: {', '.join(_ADDRESS_TOPICS)}; by market: "
            f"{', '.join(_MARKET_TOPICS)}; for everybody: live_funding_rate")


# -- tail ------------------------------------------------------------------------------------


def _configure_tail(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topic", choices=sorted(TOPICS), metavar="TOPIC", help=_topic_help())
    parser.add_argument("--market", type=market, metavar="MARKET",
                        help="market id or name, for orderbook and recent_trades")
    add_address_options(parser, profile=True)
    parser.add_argument("--count", type=count, metavar="N", help="stop after N items")
    parser.add_argument("--duration", type=seconds, metavar="S",
                        help="stop after S seconds (default: until Ctrl-C or --count)")
    add_connection_options(parser, wallet=True)


async def _subscribe(
    args: argparse.Namespace, kana: KanaClient, stream: StreamMux, topic: str,
    markets: list[str],
) -> list[Subscription[Any]]:
    """Subscriptions of ``topic`` for the keys the options give (one per market)."""
    key = TOPICS[topic].key
    if key == "market_id":
        if not markets:
            raise UsageError(f"{topic} needs --market")
        ids = [(await resolve_market(kana, m)).market_id for m in markets]
        return [stream.subscribe(topic, market_id=i) for i in ids]
    if key == "address":
        return [stream.subscribe(topic, address=await profile_address(args, kana))]
    return [stream.subscribe(topic)]


def _check_keys(topics: list[str], args: argparse.Namespace, markets: list[str]) -> None:
    by_address = any(TOPICS[t].key == "address" for t in topics)
    by_market = any(TOPICS[t].key == "market_id" for t in topics)
    if markets and not by_market:
        raise UsageError(f"--market does not apply to {', '.join(topics)}")
    if (args.address or args.profile) and not by_address:
        raise UsageError(f"--address/--profile do not apply to {', '.join(topics)}")


async def _tail(args: argparse.Namespace) -> int:
    markets = [args.market] if args.market else []
    _check_keys([args.topic], args, markets)
    out = Lines()
    async with client(args) as kana:
        grids = await market_grids(kana)
        (sub,) = await _subscribe(args, kana, kana.stream, args.topic, markets)
        with stop_on_signals() as stop:
            await until_stopped(_print_items(sub, out, args.count, grids), stop,
                                args.duration)
    return 0


async def _print_items(sub: Subscription[Any], out: Lines, limit: int | None,
                       grids: Mapping[int, Grid]) -> None:
    """Each item as a line, its numbers on its market's grid (``"5.760"``, not the wire's
    ``5.76``; nothing is rounded)."""
    from .views import on_grid

    while limit is None or out.count < limit:
        try:
            item = await sub.get()
        except StopAsyncIteration:
            return
        except (StreamGapError, SlowConsumerError) as exc:
            warn(str(exc))
            continue
        out.write(_Line(round(time.time(), 6), sub.topic, sub.key, on_grid(item, grids)))


TAIL = Command(
    "tail", "print a WebSocket topic as NDJSON (one JSON object per item) for pipelines",
    _configure_tail, lambda args: asyncio.run(_tail(args)),
    epilog="""examples::

  kana-async tail orderbook --market APT --count 1 | jq '.data.bids[0]'
  kana-async tail live_funding_rate --duration 10
  kana-async tail positions --local-port 8100        (profile of $KANA_PRIVATE_KEY's wallet)
  kana-async tail live_trade_history --address 0x1234... | head -5

Address topics are keyed by the trade profile: --address (a wallet) is looked up; --profile
is used as given.""",
)


# -- record ----------------------------------------------------------------------------------


def _configure_record(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", "-o", type=Path, required=True, metavar="FILE",
                        help="where to write the recording (NDJSON; replaced if it exists)")
    parser.add_argument("--topic", action="append", choices=sorted(TOPICS), metavar="TOPIC",
                        dest="topics",
                        help="a topic to record (repeat for several; default: every topic "
                             "the --market and --address/--profile options allow, and "
                             "live_funding_rate). " + _topic_help())
    parser.add_argument("--market", action="append", type=market, metavar="MARKET",
                        dest="markets", help="a market for market topics (repeatable)")
    add_address_options(parser, profile=True)
    limit = parser.add_mutually_exclusive_group()
    limit.add_argument("--duration", type=seconds, metavar="S", help="stop after S seconds")
    limit.add_argument("--count", type=count, metavar="N", help="stop after N frames")
    add_connection_options(parser, wallet=True)


def _record_topics(args: argparse.Namespace, markets: list[str]) -> list[str]:
    if args.topics:
        return list(dict.fromkeys(args.topics))
    topics = ["live_funding_rate"]
    if markets:
        topics += _MARKET_TOPICS
    if args.address or args.profile:
        topics += _ADDRESS_TOPICS
    return topics


async def _record(args: argparse.Namespace) -> int:
    from ..stream.mux import StreamMux
    from ..stream.recording import Recorder, RecordingConnector
    from ..stream.transport import AiohttpConnector

    markets: list[str] = args.markets or []
    topics = _record_topics(args, markets)
    _check_keys(topics, args, markets)
    started = time.monotonic()
    try:
        handle = args.out.open("wb")
    except OSError as exc:
        raise CliError(f"--out: cannot write {args.out}: {exc.strerror}") from None
    with handle:
        async with client(args) as kana:
            ws_url = kana.config.ws_url
            if ws_url is None:
                raise CliError(f"network {args.network} has no WebSocket URL; pass --ws-url")
            full = asyncio.Event()

            def frame_written(frames: int) -> None:
                if args.count is not None and frames >= args.count:
                    full.set()

            recorder = Recorder(handle, ws_url, max_frames=args.count, on_frame=frame_written)
            connector = RecordingConnector(AiohttpConnector(kana.http), recorder)
            subs: list[Subscription[Any]] = []
            with stop_on_signals() as stop:
                async with StreamMux(kana.http, ws_url, connector=connector,
                                     options=kana.stream_options) as stream:
                    for topic in topics:
                        subs += await _subscribe(args, kana, stream, topic, markets)
                    await until_stopped(full.wait(), stop, args.duration)
            recorder.close()
    if recorder.error is not None:
        raise CliError(f"recording stopped after {recorder.frames} frame(s): {recorder.error}")
    print(f"recorded {recorder.frames} frame(s) of {len(subs)} subscription(s) in "
          f"{time.monotonic() - started:.1f} s to {args.out}", file=sys.stderr)
    return 0


RECORD = Command(
    "record", "record raw WebSocket frames with their receive times to an NDJSON file",
    _configure_record, lambda args: asyncio.run(_record(args)),
    epilog="""examples::

  kana-async record --out apt.ndjson --market APT --duration 60
  kana-async record -o me.ndjson --topic positions --topic live_trade_history --count 500
  kana-async replay apt.ndjson --fast | jq -c 'select(.topic == "orderbook") | .data.bids[0]'

Frames are stored exactly as received (malformed ones too), with what was sent and when the
socket opened and closed, so that replay routes them as the live stream did.""",
)


# -- replay ----------------------------------------------------------------------------------


def _configure_replay(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE", help="a file written by record")
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=speed, default=1.0, metavar="X",
                      help="replay X times as fast as recorded (default 1.0)")
    pace.add_argument("--fast", action="store_true", help="as fast as possible")
    parser.add_argument("--topic", action="append", choices=sorted(TOPICS), metavar="TOPIC",
                        dest="topics", help="only this topic (repeatable; default: all)")


async def _replay(args: argparse.Namespace) -> int:
    from ..stream.recording import Replay, read_recording

    anomalies: Counter[str] = Counter()

    def on_anomaly(kind: str, detail: str) -> None:
        anomalies[kind] += 1
        if anomalies[kind] <= _ANOMALY_LINES:
            warn(f"{kind} frame: {detail}")

    out = Lines()
    with read_recording(args.file) as recording:
        started = recording.header.started
        speed = None if args.fast else args.speed
        async with Replay(recording.entries(), topics=args.topics, speed=speed,
                          on_anomaly=on_anomaly) as replay:
            with stop_on_signals() as stop:
                await until_stopped(_print_replayed(replay, out, started), stop, None)
        for number, reason in recording.problems or []:
            warn(f"{args.file}:{number}: skipped: {reason}")
        frames = replay.counts["frame"]
        summary = [f"replayed {frames} frame(s): {out.count} item(s)"]
        if anomalies:
            summary.append("anomalies " + ", ".join(f"{k} {n}" for k, n in anomalies.items()))
        decode_errors = sum(s.decode_errors for s in replay.subscription_stats())
        if decode_errors:
            summary.append(f"undecodable payloads {decode_errors}")
        if recording.malformed:
            summary.append(f"malformed lines skipped {recording.malformed}")
    print("; ".join(summary), file=sys.stderr)
    return 0


async def _print_replayed(replay: Replay, out: Lines, started: float) -> None:
    async for replayed in replay:
        if replayed.error is not None:
            warn(f"at t={replayed.t:.3f} s: {replayed.error}")
            continue
        out.write(_Line(round(started + replayed.t, 6), replayed.topic, replayed.key,
                        replayed.item))


REPLAY = Command(
    "replay", "replay a recording through the stream's router; prints items as NDJSON",
    _configure_replay, lambda args: asyncio.run(_replay(args)),
    epilog="""examples::

  kana-async replay apt.ndjson                 at the recorded pace
  kana-async replay apt.ndjson --speed 10
  kana-async replay apt.ndjson --fast --topic orderbook | tail -1

Lines that cannot be read are counted and skipped; anomalous frames are reported on stderr
exactly as the live stream's router reports them.""",
)
