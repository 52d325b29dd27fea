"""Record the indexer WebSocket byte for byte, and replay a recording through the same Router.

A recording is NDJSON (one JSON object per line, UTF-8). The first line says what the file is;
every later line is one thing that happened on the socket, ``t`` seconds (monotonic clock)
after the recording started::

    {"format": "kana-async-recording", "version": 1, "url": "ws://...", "started": 1.8e9}
    {"t": 0.004, "connected": "ws://..."}           a socket opened
    {"t": 0.005, "sent": "{\\"topic\\":...}"}          a message went out (a subscribe)
    {"t": 0.011, "frame": "{\\"message\\":...}"}       a frame came in, exactly as received
    {"t": 0.012, "frame_b64": "..."}                a frame that was not UTF-8 (base64)
    {"t": 9.100, "disconnected": "closed"}          the socket ended, and why

Frames are stored as received, so a recording keeps whatever the server got wrong. Sent
messages and socket events are stored too, because they change how frames are routed: replay
feeds a :class:`~kana_async.stream.Router` exactly as the live reader does (reset on each
connection, ``subscribed`` as each subscribe goes out, every frame through ``feed``), and each
replayed subscription is a real :class:`~kana_async.stream.Subscription` read by its own
consumer, so anomalies, lenient decoding, skipped payloads and gaps come out the same.

:class:`Recorder` writes (pure: values in, lines out); :class:`RecordingConnector` wraps any
stream connector to feed it; :func:`read_recording` parses a file, counting and skipping lines
it cannot read; :class:`Replay` plays the entries back.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, cast

import msgspec

from .._tasks import cancel_and_wait
from ..errors import KanaError, ValidationError
from .book import OrderBook
from .router import Router, RouterStats
from .subscription import Subscription, SubscriptionStats
from .topics import Overflow, TopicSpec, topic_spec, validate_key
from .transport import Connector, PingableWebSocket, WebSocket

__all__ = [
    "FORMAT",
    "VERSION",
    "Entry",
    "Header",
    "Recorder",
    "Recording",
    "RecordingConnector",
    "Replay",
    "Replayed",
    "read_recording",
]

FORMAT = "kana-async-recording"
VERSION = 1

logger = logging.getLogger("kana_async.recording")

#: How many unreadable lines a :class:`Recording` describes (all are counted).
_KEEP_PROBLEMS = 20


class Header(msgspec.Struct, kw_only=True):
    """The first line of a recording."""

    format: str
    version: int
    #: The WebSocket URL the frames came from.
    url: str
    #: Unix time (seconds) when recording started; entry ``t`` values count from here.
    started: float


class Entry(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One line after the header: exactly one of the optional fields is set."""

    t: float
    frame: str | None = None
    frame_b64: str | None = None
    sent: str | None = None
    connected: str | None = None
    disconnected: str | None = None

    @property
    def kind(self) -> str:
        """``frame``, ``sent``, ``connected`` or ``disconnected``."""
        if self.frame is not None or self.frame_b64 is not None:
            return "frame"
        if self.sent is not None:
            return "sent"
        return "connected" if self.connected is not None else "disconnected"

    def frame_bytes(self) -> bytes:
        """The received frame as the transport handed it over (``bytes``)."""
        if self.frame is not None:
            return self.frame.encode()
        return base64.b64decode(self.frame_b64 or "", validate=True)

    def problem(self) -> str | None:
        """Why this entry cannot be replayed, or ``None`` if it can."""
        fields = (self.frame, self.frame_b64, self.sent, self.connected, self.disconnected)
        count = sum(value is not None for value in fields)
        if count != 1:
            return f"needs exactly one of frame, frame_b64, sent, connected, disconnected ({count})"
        if not self.t >= 0:
            return "t must be >= 0"
        if self.frame_b64 is not None:
            try:
                base64.b64decode(self.frame_b64, validate=True)
            except binascii.Error:
                return "frame_b64 is not base64"
        return None


_encode = msgspec.json.Encoder().encode
_decode_header = msgspec.json.Decoder(Header).decode
_decode_entry = msgspec.json.Decoder(Entry).decode


# -- recording -----------------------------------------------------------------------------


class Recorder:
    """Writes a recording to ``out`` (a binary file); the header is written at once.

    ``max_frames`` stops writing frames after that many (events are still written), and
    ``on_frame(count)`` is called after each frame written, so a caller can stop when
    :attr:`full`. The file is flushed on socket events and on :meth:`close`; the recorder
    does not own ``out``.
    """

    def __init__(
        self,
        out: IO[bytes],
        url: str,
        *,
        max_frames: int | None = None,
        on_frame: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if max_frames is not None and (isinstance(max_frames, bool) or max_frames < 1):
            raise ValidationError("max_frames", "must be None or >= 1", max_frames)
        self._out = out
        self._clock = clock
        self._start = clock()
        self.max_frames = max_frames
        self._on_frame = on_frame
        #: Frames written so far.
        self.frames = 0
        #: What stopped a :class:`RecordingConnector` from recording (a failed write, or an
        #: exception from ``on_frame``); ``None`` while it records.
        self.error: Exception | None = None
        header = Header(format=FORMAT, version=VERSION, url=url, started=wall_clock())
        self._write(_encode(header))

    @property
    def full(self) -> bool:
        """True once ``max_frames`` frames are written."""
        return self.max_frames is not None and self.frames >= self.max_frames

    def _now(self) -> float:
        return round(self._clock() - self._start, 6)

    def _write(self, line: bytes) -> None:
        self._out.write(line + b"\n")

    def frame(self, data: bytes | str) -> None:
        """A frame received, stored exactly (text, or base64 when it is not UTF-8)."""
        if self.full:
            return
        if isinstance(data, str):
            entry = Entry(t=self._now(), frame=data)
        else:
            try:
                entry = Entry(t=self._now(), frame=bytes(data).decode())
            except UnicodeDecodeError:
                entry = Entry(t=self._now(), frame_b64=base64.b64encode(data).decode())
        self._write(_encode(entry))
        self.frames += 1
        if self._on_frame is not None:
            self._on_frame(self.frames)

    def sent(self, message: str) -> None:
        self._write(_encode(Entry(t=self._now(), sent=message)))

    def connected(self, url: str) -> None:
        self._write(_encode(Entry(t=self._now(), connected=url)))
        self._out.flush()

    def disconnected(self, reason: str) -> None:
        self._write(_encode(Entry(t=self._now(), disconnected=reason or "closed")))
        self._out.flush()

    def close(self) -> None:
        """Flush what was written (the file itself stays open)."""
        self._out.flush()


class _RecordingWebSocket:
    """A socket that tells the recorder everything before the stream sees it."""

    __slots__ = ("_recorder", "_ws")

    def __init__(self, ws: WebSocket, recorder: Recorder) -> None:
        self._ws = ws
        self._recorder = recorder

    async def receive(self) -> bytes | str | None:
        recorder = self._recorder
        try:
            frame = await self._ws.receive()
        except Exception as exc:
            _record(recorder, recorder.disconnected, f"{type(exc).__name__}: {exc}")
            raise
        if frame is None:
            _record(recorder, recorder.disconnected, "closed")
        else:
            _record(recorder, recorder.frame, frame)
        return frame

    async def send(self, text: str) -> None:
        # Recorded first: the live router counts a subscribe as sent before the send
        # completes, and replay must follow the same order.
        _record(self._recorder, self._recorder.sent, text)
        await self._ws.send(text)

    async def close(self) -> None:
        await self._ws.close()


class _PingableRecordingWebSocket(_RecordingWebSocket):
    """The same, for a socket the stream pings itself: pings are passed through (and not
    recorded: they do not change routing)."""

    __slots__ = ()

    async def ping(self) -> None:
        await cast(PingableWebSocket, self._ws).ping()


class RecordingConnector:
    """Wraps a stream connector so every socket it opens is recorded.

    ``StreamMux(http, url, connector=RecordingConnector(AiohttpConnector(http), recorder))``
    records what that mux receives and sends, without changing what its consumers see.
    """

    def __init__(self, inner: Connector, recorder: Recorder) -> None:
        self._inner = inner
        self.recorder = recorder

    async def __call__(self, url: str) -> WebSocket:
        ws = await self._inner(url)
        _record(self.recorder, self.recorder.connected, url)
        if callable(getattr(ws, "ping", None)):
            return _PingableRecordingWebSocket(ws, self.recorder)
        return _RecordingWebSocket(ws, self.recorder)


def _record(recorder: Recorder, write: Callable[[Any], None], value: Any) -> None:
    """Recording never breaks the stream it records: the first failure stops it (a file
    missing frames would replay wrongly), logged and kept in ``recorder.error``."""
    if recorder.error is not None:
        return
    try:
        write(value)
    except Exception as exc:
        recorder.error = exc
        logger.warning("recording stopped after %d frame(s): %s: %s",
                       recorder.frames, type(exc).__name__, exc)


# -- reading -------------------------------------------------------------------------------


@dataclass
class Recording:
    """A recording being read: its header, then :meth:`entries` (read lazily, once).

    Lines that cannot be read are skipped and counted in :attr:`malformed`; the first few
    are described in :attr:`problems` as ``(line number, reason)``.
    """

    header: Header
    _lines: Iterator[tuple[int, bytes]]
    malformed: int = 0
    problems: list[tuple[int, str]] | None = None

    def close(self) -> None:
        """Stop reading (closes the file). Idempotent."""
        close = getattr(self._lines, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def entries(self) -> Iterator[Entry]:
        self.problems = self.problems if self.problems is not None else []
        for number, line in self._lines:
            if not line.strip():
                continue
            try:
                entry = _decode_entry(line)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                self._skip(number, str(exc))
                continue
            problem = entry.problem()
            if problem is not None:
                self._skip(number, problem)
                continue
            yield entry

    def _skip(self, number: int, reason: str) -> None:
        self.malformed += 1
        if self.problems is not None and len(self.problems) < _KEEP_PROBLEMS:
            self.problems.append((number, reason))


def read_recording(source: str | Path | Iterable[bytes]) -> Recording:
    """Open a recording (a path, or lines as bytes) and check its header.

    Raises :class:`~kana_async.ValidationError` (param ``recording``) when the first line is
    not a kana-async recording header of a version this code reads.
    """
    if isinstance(source, (str, Path)):
        lines: Iterable[bytes] = _file_lines(Path(source))
        name = str(source)
    else:
        lines = source
        name = "recording"
    numbered = _numbered(lines)
    first = next(numbered, None)
    if first is None:
        raise ValidationError("recording", f"{name} is empty, not a kana-async recording")
    try:
        header = _decode_header(first[1])
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise ValidationError(
            "recording", f"{name} does not start with a kana-async recording header"
        ) from None
    if header.format != FORMAT:
        raise ValidationError("recording", f"{name} is not a kana-async recording",
                              header.format)
    if header.version != VERSION:
        raise ValidationError("recording", f"{name} has version {header.version}; "
                              f"this kana-async reads version {VERSION}")
    return Recording(header, numbered)


def _numbered(lines: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """``(line number, line)`` pairs; closing it closes the source (a file) too."""
    iterator = iter(lines)
    try:
        yield from enumerate(iterator, start=1)
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


def _file_lines(path: Path) -> Iterator[bytes]:
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ValidationError("recording", f"cannot open {path}: {exc.strerror}") from None
    with handle:
        yield from handle


# -- replaying -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Replayed:
    """One item a replayed subscription delivered (or the error its consumer got).

    ``t`` is when the frame that carried it was received, in seconds since the recording
    started. ``error`` is set (and ``item`` is ``None``) where a live consumer would have
    caught a :class:`~kana_async.StreamGapError` or :class:`~kana_async.SlowConsumerError`.
    """

    t: float
    topic: str
    key: str
    item: Any = None
    error: KanaError | None = None


class _Tap:
    """The router's sink for one replayed subscription: notes which frame touched it."""

    __slots__ = ("sub", "touched")

    def __init__(self, sub: Subscription[Any], touched: list[Subscription[Any]]) -> None:
        self.sub = sub
        self.touched = touched

    def push(self, payload: msgspec.Raw) -> None:
        self.sub.push(payload)
        self.touched.append(self.sub)


def _subscribe_key(message: str) -> tuple[TopicSpec, str, str] | None:
    """``(spec, wire key, route key)`` of a subscribe message, ``None`` for anything else."""
    try:
        body = msgspec.json.decode(message)
    except msgspec.DecodeError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("topic"), str):
        return None
    try:
        spec = topic_spec(body["topic"])
        wire_key, key = validate_key(spec, body.get("address"), body.get("market_id"))
    except ValidationError:
        return None
    return spec, wire_key, key


class Replay:
    """Plays recorded entries back through a :class:`~kana_async.stream.Router`.

    ``topics`` limits which topics get a consumer (``None``: all); the router still learns of
    every recorded subscribe, so routing is the same as it was live. ``speed`` scales the
    recorded timing (``2.0`` = twice as fast); ``None`` replays as fast as possible.
    ``on_anomaly(kind, detail)`` hears what the router reports.

    Use ``async with Replay(...) as replay: async for replayed in replay: ...``; leaving the
    block stops every consumer task.
    """

    def __init__(
        self,
        entries: Iterable[Entry],
        *,
        topics: Collection[str] | None = None,
        speed: float | None = 1.0,
        on_anomaly: Callable[[str, str], None] | None = None,
    ) -> None:
        if speed is not None and (
            isinstance(speed, bool) or not isinstance(speed, (int, float)) or not speed > 0
        ):
            raise ValidationError("speed", "must be a number > 0, or None for as fast as possible",
                                  speed)
        self._topics = None if topics is None else frozenset(topic_spec(t).name for t in topics)
        self._entries = entries
        self._speed = speed
        self._on_anomaly = on_anomaly
        self._router = Router(on_anomaly=on_anomaly)
        self._subs: dict[tuple[str, str], Subscription[Any]] = {}
        self._consumers: list[asyncio.Task[None]] = []
        self._touched: list[Subscription[Any]] = []
        #: Gap markers given to each subscription (its consumer has raised ``stats.gaps``).
        self._gaps: dict[Subscription[Any], int] = {}
        self._out: deque[Replayed] = deque()
        self._t = 0.0
        self._started = False
        self._closed = False
        #: Entries replayed so far, by kind.
        self.counts: dict[str, int] = {"frame": 0, "sent": 0, "connected": 0, "disconnected": 0}

    async def __aenter__(self) -> Replay:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """End every replayed subscription and wait for its consumer; an iteration in
        progress (in another task) ends too. Idempotent."""
        self._closed = True
        for sub in self._subs.values():
            sub.close_nowait()
        consumers, self._consumers = self._consumers, []
        await cancel_and_wait(*consumers)

    def __aiter__(self) -> AsyncIterator[Replayed]:
        if self._started:
            raise RuntimeError("a Replay can be iterated only once")
        self._started = True
        return self._run()

    async def _run(self) -> AsyncIterator[Replayed]:
        loop = asyncio.get_running_loop()
        began = loop.time()
        for entry in self._entries:
            if self._speed is not None:
                delay = began + entry.t / self._speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            if self._closed:
                return
            self._apply(entry)
            await self._settle()
            while self._out:
                yield self._out.popleft()

    def _apply(self, entry: Entry) -> None:
        """Do to the router what the live stream did at this point."""
        kind = entry.kind
        self.counts[kind] += 1
        self._t = entry.t
        router = self._router
        if kind == "frame":
            router.feed(entry.frame_bytes())
        elif kind == "sent":
            self._subscribed(entry.sent or "")
        elif kind == "connected":
            router.connection_reset()
        else:
            # As the mux does when a socket ends: event consumers learn of the gap.
            for sub in self._subs.values():
                if router.is_streaming(sub.spec, sub.key) and sub.overflow is Overflow.ERROR:
                    sub.mark_gap()
                    self._gaps[sub] = self._gaps.get(sub, 0) + 1
                    self._touched.append(sub)
            router.connection_reset()

    def _subscribed(self, message: str) -> None:
        parsed = _subscribe_key(message)
        if parsed is None:
            return
        spec, wire_key, key = parsed
        wanted = self._topics is None or spec.name in self._topics
        if wanted and (spec.name, key) not in self._subs:
            convert: Callable[[Any], Any] | None = None
            if spec.name == "orderbook":
                def convert(levels: Any) -> OrderBook:
                    return OrderBook.from_levels(levels, int(key))
            sub: Subscription[Any] = Subscription(
                spec, wire_key, key, overflow=spec.default_overflow, capacity=1024,
                convert=convert,
            )
            self._subs[(spec.name, key)] = sub
            self._router.add(_Tap(sub, self._touched), spec, key)
            self._consumers.append(
                asyncio.get_running_loop().create_task(
                    self._consume(sub), name=f"kana-replay {spec.name} {key}"
                )
            )
        self._router.subscribed(spec, key)

    async def _consume(self, sub: Subscription[Any]) -> None:
        """Read ``sub`` as an application would, collecting what it gets."""
        out = self._out
        while True:
            try:
                item = await sub.get()
            except StopAsyncIteration:
                return
            except KanaError as exc:  # a gap or lost items: reported in line, then go on
                out.append(Replayed(self._t, sub.topic, sub.key, error=exc))
                continue
            out.append(Replayed(self._t, sub.topic, sub.key, item))

    async def _settle(self) -> None:
        """Let the consumers take what the last entry gave them, so items come out in the
        recorded order and none is conflated away by replaying faster than they read."""
        touched = self._touched
        while touched:
            for task in self._consumers:
                if task.done():
                    task.result()  # a consumer can only end early by a bug: show it
            if any(self._pending(sub) for sub in touched):
                await asyncio.sleep(0)
            else:
                touched.clear()

    def _pending(self, sub: Subscription[Any]) -> bool:
        """True while ``sub`` holds an item or a gap its consumer has not taken yet."""
        stats = sub.stats
        return not stats.closed and (
            stats.buffered > 0 or stats.gaps < self._gaps.get(sub, 0))

    def router_stats(self) -> RouterStats:
        """The router's frame and anomaly counters."""
        return self._router.stats()

    def subscription_stats(self) -> list[SubscriptionStats]:
        """Each replayed subscription's counters (received, delivered, decode errors, gaps)."""
        return [sub.stats for sub in self._subs.values()]
