"""The benchmark's indexer stand-in: a minimal WebSocket server that streams a Kana message mix.

It speaks just enough RFC 6455 to serve pre-framed text messages as fast as the socket takes
them (so that the client, not the server, is measured), runs in its own process, and takes
its orders from the connection URL: ``/ws/?count=N&rate=R&subs=S[&stamp=1]``. After ``S``
subscribe messages it sends ``N`` frames of the mix (as fast as possible, or ``R`` per second
with the send time stamped into every frame; ``stamp=1`` stamps them at full speed too), then
one ``live_trade_history`` frame whose ``trade_id`` is ``"END"``. With ``&markets=M&levels=L``
the mix is order books only (``scaling.py``): M markets in turn, L levels each, and the end
marker is a book of the first market whose levels carry ``transaction_version``
:data:`END_VERSION`.

The mix (~1.1 KB per message on average): orderbook snapshots of two markets (20 levels),
positions, recent trades, funding rates and single trade events, with the shapes and value
styles of the documented examples (price as a JSON number in the order book, decimal strings
elsewhere).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
import struct
import time
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import parse_qs, urlsplit

ADDRESS = "0x725c8b51b2c1b3d17336c48d75c56c19253f70e1de00e26c8138a29722d82da"
MARKETS = ("1338", "1339")
#: Stamped frames carry ``STAMP_BASE + time.monotonic_ns()`` in ``transaction_version``:
#: a 19-digit JSON integer, so the template can be patched in place.
STAMP_BASE = 10**18
PLACEHOLDER = str(STAMP_BASE + 1).encode()
#: ``transaction_version`` of the levels of a book-only mix's end marker.
END_VERSION = 7
#: Market ids of a book-only mix: ``BOOK_MARKET_BASE``, ``BOOK_MARKET_BASE + 1``, ...
BOOK_MARKET_BASE = 2000
#: Share of each message kind in the mix.
WEIGHTS = {
    "orderbook": 0.30,
    "positions": 0.20,
    "recent_trades": 0.30,
    "live_funding_rate": 0.10,
    "live_trade_history": 0.10,
}
SUBSCRIPTIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("orderbook", {"market_id": MARKETS[0]}),
    ("orderbook", {"market_id": MARKETS[1]}),
    ("positions", {"address": ADDRESS}),
    ("recent_trades", {"market_id": MARKETS[0]}),
    ("live_funding_rate", {}),
    ("live_trade_history", {"address": ADDRESS}),
)

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _trade(rng: random.Random, n: int, market: str = MARKETS[0]) -> dict[str, Any]:
    price = f"{5.5 + rng.random():.3f}"
    size = f"{rng.randint(1, 900) / 10:.1f}"
    return {
        "address": ADDRESS, "market_id": market, "trade_id": str(95996856159584506611002 + n),
        "order_id": str(81295631236321310901534720 + n), "order_type": rng.choice([1, 7, 9]),
        "price": price, "size": size, "order_value": f"{float(price) * float(size):.6f}",
        "leverage": 5, "fee": "0.1895430000000000039456563184",
        "pnl": "7.2094569999999999960543436821", "timestamp": 1747075851,
        "last_updated": 1747075852, "transaction_version": STAMP_BASE + 1,
    }


def message(kind: str, rng: random.Random, n: int) -> dict[str, Any]:
    """One message of ``kind`` in the documented shape."""
    if kind == "orderbook":
        market = MARKETS[n % 2]
        mid = 5.7 + rng.random() / 10
        levels = [
            {"market_id": market, "price": round(mid + side * (0.001 + i * 0.001), 3),
             "size": f"{rng.randint(1, 500_000) / 1000:.3f}", "is_ask": side > 0,
             "last_updated": 1747079061, "transaction_version": STAMP_BASE + 1}
            for side in (1, -1) for i in range(10)
        ]
        return {"message": "orderbook", "data": levels}
    if kind == "positions":
        return {"message": "positions", "data": [{
            "address": ADDRESS, "market_id": MARKETS[0], "trade_id": "208485101521065352365370",
            "size": "6.90", "entry_price": "5.8370434782608695652173913043", "value": "40.27560",
            "leverage": 2, "margin": "20.08478", "liq_price": "3.001",
            "available_order_size": "6.90", "trade_side": True, "sl": None, "tp": None,
            "timestamp": 1747075629, "transaction_version": STAMP_BASE + 1,
        }]}
    if kind == "recent_trades":
        return {"message": "recent_trades",
                "data": [_trade(rng, n + i) for i in range(rng.randint(1, 2))]}
    if kind == "live_funding_rate":
        return {"message": "live_funding_rate", "data": [
            {"funding_rate": "-0.0002642469135802469135802469", "funding_timestamp": 0,
             "last_updated": 1749453746, "market_id": market,
             "transaction_timestamp": 1749453741, "transaction_version": STAMP_BASE + 1}
            for market in ("14", "15", "16")
        ]}
    return {"message": "live_trade_history", "data": _trade(rng, n)}


def mix(size: int = 1000, seed: int = 1) -> list[bytes]:
    """``size`` encoded messages in a fixed random order of kinds."""
    rng = random.Random(seed)
    kinds = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()), k=size)
    return [json.dumps(message(kind, rng, n), separators=(",", ":")).encode()
            for n, kind in enumerate(kinds)]


def book_market(i: int) -> str:
    """The market id of the ``i``-th market of a book-only mix."""
    return str(BOOK_MARKET_BASE + i)


def book(market: str, levels: int, rng: random.Random, version: int = STAMP_BASE + 1
         ) -> dict[str, Any]:
    """An ``orderbook`` message of ``levels`` levels (asks first, then bids)."""
    mid = 5.7 + rng.random() / 10
    asks = levels - levels // 2
    return {"message": "orderbook", "data": [
        {"market_id": market,
         "price": round(mid + (0.001 + i * 0.001 if i < asks else -0.001 * (i - asks + 1)), 3),
         "size": f"{rng.randint(1, 500_000) / 1000:.3f}", "is_ask": i < asks,
         "last_updated": 1747079061, "transaction_version": version}
        for i in range(levels)
    ]}


def book_mix(markets: int, levels: int, size: int = 200, seed: int = 1) -> list[bytes]:
    """``size`` order book messages, the ``markets`` markets in turn."""
    if markets < 1 or levels < 1:
        raise ValueError("a book-only mix needs at least one market and one level")
    rng = random.Random(seed)
    return [json.dumps(book(book_market(n % markets), levels, rng),
                       separators=(",", ":")).encode() for n in range(max(size, markets))]


def book_end_message(levels: int) -> bytes:
    return json.dumps(book(book_market(0), levels, random.Random(0), END_VERSION)).encode()


def end_message() -> bytes:
    data = _trade(random.Random(0), 0)
    data["trade_id"] = "END"
    return json.dumps({"message": "live_trade_history", "data": data}).encode()


def frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """An unmasked server frame (FIN set)."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return header + payload


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One client frame: ``(opcode, unmasked payload)``."""
    first, second = await reader.readexactly(2)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", await reader.readexactly(8))
    mask = await reader.readexactly(4) if second & 0x80 else b"\0\0\0\0"
    data = bytearray(await reader.readexactly(length))
    for i in range(length):
        data[i] ^= mask[i % 4]
    return first & 0x0F, bytes(data)


class Feed:
    """One mix, ready to send: the messages, the same framed, the framed end marker."""

    def __init__(self, messages: list[bytes], end: bytes) -> None:
        self.mix = messages
        self.framed = [frame(m) for m in messages]
        self.end = frame(end)
        self._end_message = end

    def stamped_end(self) -> bytes:
        """The end marker stamped with the send time, so no two runs end with the same bytes."""
        return frame(self._end_message.replace(
            PLACEHOLDER, str(STAMP_BASE + time.monotonic_ns()).encode()))


class BenchServer:
    def __init__(self) -> None:
        self.default = Feed(mix(), end_message())
        self.mix = self.default.mix
        self._books: dict[tuple[int, int], Feed] = {}

    def feed(self, markets: int, levels: int) -> Feed:
        """The default mix, or the book-only mix of ``markets`` x ``levels`` (built once)."""
        if markets <= 0:
            return self.default
        key = (markets, levels)
        if key not in self._books:
            self._books[key] = Feed(book_mix(markets, levels), book_end_message(levels))
        return self._books[key]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        target = head.split(" ", 2)[1]
        key = next(line.split(":", 1)[1].strip() for line in head.split("\r\n")
                   if line.lower().startswith("sec-websocket-key:"))
        accept = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
        writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        query = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
        count, rate = int(query.get("count", 1000)), float(query.get("rate", 0))
        feed = self.feed(int(query.get("markets", 0)), int(query.get("levels", 20)))
        for _ in range(int(query.get("subs", 0))):
            await read_frame(reader)
        stamped = rate > 0 or query.get("stamp") == "1"
        if rate > 0:
            await self._paced(writer, feed, count, rate)
        elif stamped:
            await self._flood_stamped(writer, feed, count)
        else:
            await self._flood(writer, feed, count)
        writer.write(feed.stamped_end() if stamped else feed.end)
        await writer.drain()
        while True:  # answer pings and the closing handshake
            opcode, payload = await read_frame(reader)
            if opcode == 0x9:
                writer.write(frame(payload, 0xA))
            elif opcode == 0x8:
                writer.write(frame(payload[:2], 0x8))
                await writer.drain()
                return

    async def _flood(self, writer: asyncio.StreamWriter, feed: Feed, count: int) -> None:
        framed = feed.framed
        chunk = 64
        for start in range(0, count, chunk):
            stop = min(count, start + chunk)
            writer.write(b"".join(framed[i % len(framed)] for i in range(start, stop)))
            await writer.drain()

    async def _flood_stamped(self, writer: asyncio.StreamWriter, feed: Feed, count: int) -> None:
        """As fast as the socket takes them, each frame stamped with its send time, so that
        no two frames carry the same bytes (events then have distinct identities)."""
        messages = feed.mix
        chunk = 64
        for start in range(0, count, chunk):
            stop = min(count, start + chunk)
            writer.write(b"".join(
                frame(messages[i % len(messages)].replace(
                    PLACEHOLDER, str(STAMP_BASE + time.monotonic_ns()).encode()))
                for i in range(start, stop)))
            await writer.drain()

    async def _paced(
        self, writer: asyncio.StreamWriter, feed: Feed, count: int, rate: float
    ) -> None:
        """``rate`` frames per second, each stamped with its send time. The event loop wakes
        about once a millisecond, so frames leave in small bursts of ~rate/1000."""
        messages = feed.mix
        interval = 1.0 / rate
        due = time.monotonic()
        for i in range(count):
            now = time.monotonic()
            if now < due:
                await writer.drain()
                await asyncio.sleep(due - now)
            stamp = str(STAMP_BASE + time.monotonic_ns()).encode()
            writer.write(frame(messages[i % len(messages)].replace(PLACEHOLDER, stamp)))
            due += interval
        await writer.drain()


def serve(conn: Connection) -> None:
    """Child-process entry: serve on 127.0.0.1 (ephemeral port, sent back through ``conn``)
    until the parent says stop."""

    async def main() -> None:
        bench = BenchServer()
        server = await asyncio.start_server(bench.handle, "127.0.0.1", 0)
        conn.send(server.sockets[0].getsockname()[1])
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, conn.recv)
        server.close()
        await server.wait_closed()

    asyncio.run(main())
