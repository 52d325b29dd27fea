"""``kana-async bridge --nats URL``: hold one exchange WebSocket and publish every routed item
to NATS until told to stop.

With no subscription options the bridge serves what consumers ask for (each key opened once,
however many ask); ``--topic`` with ``--market``/``--address`` pre-subscribes. NATS credentials
come from the environment (``--nats-credentials-env``), never from the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING, TextIO

from ..stream.topics import TOPICS
from .args import Command, UsageError, add_connection_options, address, market
from .connect import client, stop_on_signals, wait_for_stop
from .metrics import add_metrics_options, metrics_from_args
from .signer import add_nats_options, nats_url

if TYPE_CHECKING:
    from ..bus.bridge import Bridge

__all__ = ["BRIDGE", "presubscriptions", "serve_bridge"]


def _topic(value: str) -> str:
    if value not in TOPICS:
        raise argparse.ArgumentTypeError(f"must be one of {', '.join(TOPICS)}")
    return value


def _configure(parser: argparse.ArgumentParser) -> None:
    add_nats_options(parser, "the NATS server to publish to", "the bridge's")
    group = parser.add_argument_group("pre-subscriptions (default: serve what consumers ask)")
    group.add_argument("--topic", type=_topic, action="append", default=[], metavar="TOPIC",
                       help="a topic to stream from the start (repeatable)")
    group.add_argument("--market", type=market, action="append", default=[], metavar="MARKET",
                       help="a market of the market-keyed topics (repeatable)")
    group.add_argument("--address", type=address, action="append", default=[],
                       metavar="PROFILE",
                       help="a trade-profile address of the address-keyed topics (repeatable)")
    group.add_argument("--only-listed", action="store_true",
                       help="stream only these keys; consumers' requests for others are not "
                            "served")
    add_connection_options(parser)
    add_metrics_options(parser)


def presubscriptions(args: argparse.Namespace) -> list[tuple[str, dict[str, str]]]:
    """``(topic, key arguments)`` for each key the options name; a topic without the key it
    needs, or a key no topic takes, is a usage error."""
    if args.only_listed and not args.topic:
        raise UsageError("--only-listed needs the keys to stream: --topic with its keys")
    if (args.market or args.address) and not args.topic:
        raise UsageError("--market and --address name keys of a --topic")
    wanted: list[tuple[str, dict[str, str]]] = []
    kinds = set()
    for topic in dict.fromkeys(args.topic):
        kind = TOPICS[topic].key
        kinds.add(kind)
        if kind is None:
            wanted.append((topic, {}))
            continue
        values = args.market if kind == "market_id" else args.address
        if not values:
            option = "--market" if kind == "market_id" else "--address"
            raise UsageError(f"--topic {topic} needs {option}")
        wanted.extend((topic, {kind: value}) for value in dict.fromkeys(values))
    if args.market and "market_id" not in kinds:
        raise UsageError("--market given, but no --topic is keyed by market")
    if args.address and "address" not in kinds:
        raise UsageError("--address given, but no --topic is keyed by address")
    return wanted


def _run(args: argparse.Namespace) -> int:
    return asyncio.run(serve_bridge(args))


async def serve_bridge(args: argparse.Namespace, *, out: TextIO | None = None,
                       stop: asyncio.Event | None = None,
                       started: asyncio.Future[Bridge] | None = None) -> int:
    """Serve until SIGINT/SIGTERM (or ``stop``); print what is published where, first."""
    from ..bus.bridge import Bridge
    from ..bus.remote import redact_url

    out = out if out is not None else sys.stdout
    wanted = presubscriptions(args)
    url = nats_url(args.nats, args.nats_credentials_env)
    kana = client(args)
    with stop_on_signals() as signalled:
        async with metrics_from_args(args) as metrics, kana:
            ws_url = kana.config.ws_url
            if ws_url is None:
                raise UsageError(f"--network {args.network} has no WebSocket URL; give --ws-url")
            hooks = None if metrics is None else metrics.stream_hooks("bridge")
            bridge = Bridge(url, network=args.network, ws_url=ws_url, http=kana.http,
                            stream={"hooks": hooks}, markets=kana.rest.markets,
                            serve_requests=not args.only_listed)
            async with bridge:
                if metrics is not None:
                    metrics.watch_stream(bridge.stream, "bridge")
                    metrics.watch_bridge(bridge)
                for topic, key in wanted:
                    await bridge.open(topic, **key)
                more = "only these" if args.only_listed else "consumers may ask for more"
                print(f"bridge on {args.network}: publishing kana.{args.network}.> at "
                      f"{redact_url(args.nats)} ({len(wanted)} pre-subscribed key(s); "
                      f"{more})", file=out, flush=True)
                if started is not None and not started.done():
                    started.set_result(bridge)
                await wait_for_stop(signalled, stop)
                stats = bridge.stats()
            print(f"bridge stopped ({stats.published} published, {stats.dropped} dropped, "
                  f"{stats.keys} key(s))", file=out, flush=True)
    return 0


BRIDGE = Command(
    "bridge", "hold one exchange WebSocket and publish its streams to NATS for other processes",
    _configure, _run,
    epilog="""examples::

  kana-async bridge --nats nats://127.0.0.1:4222 --local-port 8100
  kana-async bridge --nats nats://127.0.0.1:4222 --network testnet \\
      --topic orderbook --market APT --market BTC --metrics-port 9464

bots then read the same iterators with::

  KanaClient("testnet", stream_url="nats://127.0.0.1:4222")""",
)
