"""A consumer process of the bus tests: reads topics from a bridge through NATS and reports on
stdout, one JSON line per thing seen, until its stdin closes.

Arguments: ``NATS_URL SPEC...`` with SPEC ``topic:key`` (``orderbook:1338``,
``live_order_history:0x..``). Lines: ``{"ready": true}`` once every subscription streams;
``{"topic", "key", "item"}`` per event item (``item``: a digest of the item); ``{"topic",
"key", "snapshot"}`` per snapshot (a digest); ``{"topic", "key", "gap": true}``. With
``--hold``, nothing is read from the subscriptions until a line arrives on stdin (a slow
consumer); reading then drains what was buffered.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from typing import Any

import msgspec

from kana_async.bus.source import BusStream
from kana_async.errors import SlowConsumerError, StreamGapError
from kana_async.stream import Subscription

_encode = msgspec.json.Encoder().encode


def digest(item: Any) -> str:
    return hashlib.blake2b(_encode(item), digest_size=8).hexdigest()


def say(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


async def read(sub: Subscription[Any], gate: asyncio.Event) -> None:
    await gate.wait()
    event = sub.spec.is_event
    while True:
        try:
            item = await sub.get()
        except StreamGapError:
            say(topic=sub.topic, key=sub.key, gap=True)
            continue
        except SlowConsumerError as exc:
            say(topic=sub.topic, key=sub.key, lost=str(exc))
            continue
        except StopAsyncIteration:
            return
        if event:
            say(topic=sub.topic, key=sub.key, item=digest(item))
        else:
            levels = getattr(item, "bids", None)
            value = item if levels is None else [item.bids, item.asks]
            say(topic=sub.topic, key=sub.key, snapshot=digest(value))


async def main(argv: list[str]) -> None:
    hold = "--hold" in argv
    args = [a for a in argv if a != "--hold"]
    url, specs = args[0], args[1:]
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    gate = asyncio.Event()
    if not hold:
        gate.set()
    async with BusStream(url, network="local", buffer_size=100_000) as bus:
        subs: list[Subscription[Any]] = []
        for spec in specs:
            topic, _, key = spec.partition(":")
            if topic in ("orderbook", "recent_trades", "best_price"):
                subs.append(bus.subscribe(topic, market_id=key))
            else:
                subs.append(bus.subscribe(topic, address=key))
        readers = [asyncio.ensure_future(read(sub, gate)) for sub in subs]
        for _ in range(1000):
            if all(sub.current or not sub.spec.is_event for sub in subs):
                break
            await asyncio.sleep(0.01)
        say(ready=all(sub.current for sub in subs if sub.spec.is_event))
        while True:
            line = await stdin.readline()
            if not line:
                break
            gate.set()
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
