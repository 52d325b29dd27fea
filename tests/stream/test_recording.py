"""Recordings: the file format, reading with bad lines, and replay through the same Router."""

from __future__ import annotations

import asyncio
import io
from collections import defaultdict
from pathlib import Path
from typing import Any

import msgspec
import pytest

from kana_async import KanaClient, StreamGapError, ValidationError
from kana_async._tasks import timeout
from kana_async.sim import Simulator
from kana_async.stream import AiohttpConnector, OrderBook, StreamMux
from kana_async.stream.recording import (
    Entry,
    Recorder,
    RecordingConnector,
    Replay,
    Replayed,
    read_recording,
)
from tests.conftest import load_fixture
from tests.stream.fakes import FakeConnector, FakeSocket

PROFILE_A = "0x" + "a" * 64
PROFILE_B = "0x" + "b" * 64


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def body(name: str) -> dict[str, Any]:
    data: dict[str, Any] = load_fixture(name)["examples"][0]["body"]
    return data


def with_address(frame: dict[str, Any], address: str) -> bytes:
    items = [dict(item, address=address) for item in frame["data"]]
    return msgspec.json.encode({"message": frame["message"], "data": items})


def subscribe_text(topic: str, **key: str) -> str:
    return msgspec.json.encode({"topic": topic, **key}).decode()


def recording(write: Any) -> list[bytes]:
    """The lines a Recorder writes when ``write(recorder, clock)`` drives it."""
    out = io.BytesIO()
    clock = FakeClock()
    recorder = Recorder(out, "ws://127.0.0.1:1/ws/", clock=clock, wall_clock=lambda: 1.7e9)
    write(recorder, clock)
    recorder.close()
    return out.getvalue().splitlines()


async def replay_all(lines: list[bytes], **options: Any) -> tuple[list[Replayed], Replay]:
    options.setdefault("speed", None)
    async with Replay(read_recording(lines).entries(), **options) as replay:
        items = [item async for item in replay]
    return items, replay


# -- the file --------------------------------------------------------------------------------


def test_recorder_writes_a_header_then_one_entry_per_event() -> None:
    def write(rec: Recorder, clock: FakeClock) -> None:
        rec.connected("ws://127.0.0.1:1/ws/")
        clock.now += 0.25
        rec.sent('{"topic":"live_funding_rate"}')
        clock.now += 0.25
        rec.frame(b'{"message":"live_funding_rate","data":[]}')
        rec.frame(b"\xff\xfe not utf-8")
        rec.disconnected("")

    lines = recording(write)
    reading = read_recording(lines)
    assert reading.header.url == "ws://127.0.0.1:1/ws/"
    assert reading.header.started == 1.7e9
    entries = list(reading.entries())
    assert [e.kind for e in entries] == ["connected", "sent", "frame", "frame", "disconnected"]
    assert [e.t for e in entries] == [0.0, 0.25, 0.5, 0.5, 0.5]
    assert entries[2].frame_bytes() == b'{"message":"live_funding_rate","data":[]}'
    assert entries[3].frame is None
    assert entries[3].frame_bytes() == b"\xff\xfe not utf-8"
    assert entries[4].disconnected == "closed"
    assert reading.malformed == 0


def test_recorder_stops_writing_frames_at_its_limit() -> None:
    seen: list[int] = []

    def write(rec: Recorder, clock: FakeClock) -> None:
        for _ in range(5):
            rec.frame(b"{}")
        assert rec.full

    out = io.BytesIO()
    rec = Recorder(out, "ws://x/", max_frames=3, on_frame=seen.append)
    write(rec, FakeClock())
    assert rec.frames == 3
    assert seen == [1, 2, 3]
    assert len(out.getvalue().splitlines()) == 1 + 3
    with pytest.raises(ValidationError, match="max_frames"):
        Recorder(io.BytesIO(), "ws://x/", max_frames=0)


def test_unreadable_lines_are_counted_and_skipped_with_their_numbers() -> None:
    lines = recording(lambda rec, clock: rec.frame(b"{}"))
    lines[1:1] = [
        b"not json at all",
        b'{"t": 1.0}',                                   # says nothing happened
        b'{"t": 1.0, "frame": "{}", "sent": "{}"}',     # says two things
        b'{"t": -1, "frame": "{}"}',
        b'{"t": 1.0, "frame_b64": "***"}',
        b"",                                             # blank: ignored, not counted
    ]
    reading = read_recording(lines)
    entries = list(reading.entries())
    assert len(entries) == 1
    assert reading.malformed == 5
    assert [number for number, _ in reading.problems or []] == [2, 3, 4, 5, 6]


@pytest.mark.parametrize(
    ("first", "complaint"),
    [
        (None, "empty"),
        (b'{"hello": 1}', "header"),
        (b'{"format": "other", "version": 1, "url": "ws://x", "started": 1}', "not a kana"),
        (b'{"format": "kana-async-recording", "version": 9, "url": "ws://x", "started": 1}',
         "version 9"),
    ],
)
def test_a_file_that_is_not_a_recording_is_refused(first: bytes | None, complaint: str
                                                   ) -> None:
    with pytest.raises(ValidationError, match=complaint) as info:
        read_recording([] if first is None else [first])
    assert info.value.param == "recording"


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="cannot open"):
        read_recording(tmp_path / "nothing.ndjson")


def test_entry_problems() -> None:
    assert Entry(t=0.0, sent="x").problem() is None
    assert "exactly one" in (Entry(t=0.0).problem() or "")


# -- replay through the Router ---------------------------------------------------------------


async def test_two_keys_of_one_topic_are_routed_as_live() -> None:
    positions = body("ws_positions.json")

    def write(rec: Recorder, clock: FakeClock) -> None:
        rec.connected("ws://x/")
        rec.sent(subscribe_text("positions", address=PROFILE_A))
        rec.sent(subscribe_text("positions", address=PROFILE_B))
        rec.frame(with_address(positions, PROFILE_B))
        rec.frame(with_address(positions, PROFILE_A))
        # An empty list names no key: it answers the oldest subscribe not answered yet
        # (none is left here), so the router reports it instead of guessing.
        rec.frame(b'{"message":"positions","data":[]}')

    anomalies: list[str] = []
    items, replay = await replay_all(recording(write),
                                     on_anomaly=lambda kind, _: anomalies.append(kind))
    assert [(r.topic, r.key) for r in items] == [("positions", PROFILE_B),
                                                 ("positions", PROFILE_A)]
    assert all(r.item[0].address == r.key for r in items)
    assert anomalies == ["unattributed"]
    assert replay.router_stats().unattributed == 1


async def test_recorded_anomalies_are_reported_and_bad_payloads_skipped() -> None:
    def write(rec: Recorder, clock: FakeClock) -> None:
        rec.connected("ws://x/")
        rec.sent(subscribe_text("orderbook", market_id="1338"))
        rec.frame(b"garbage{")
        rec.frame(b'{"message":"bogus_topic","data":[1]}')
        rec.frame(b'{"message":"orderbook","data":[{"market_id":"1338","price":"x"}]}')
        rec.frame(msgspec.json.encode(body("ws_orderbook.json")))

    anomalies: list[str] = []
    items, replay = await replay_all(recording(write),
                                     on_anomaly=lambda kind, _: anomalies.append(kind))
    assert anomalies == ["malformed", "unknown_topic"]
    assert len(items) == 1
    assert isinstance(items[0].item, OrderBook)
    assert items[0].item.best_ask is not None
    (stats,) = replay.subscription_stats()
    assert (stats.received, stats.delivered, stats.decode_errors) == (2, 1, 1)


async def test_a_recorded_disconnect_is_a_gap_for_event_topics() -> None:
    trade = body("ws_live_trade_history.json")
    address = trade["data"]["address"]

    def write(rec: Recorder, clock: FakeClock) -> None:
        for reconnect in range(2):
            rec.connected("ws://x/")
            rec.sent(subscribe_text("live_trade_history", address=address))
            rec.sent(subscribe_text("live_funding_rate"))
            rec.frame(msgspec.json.encode(trade))
            rec.frame(msgspec.json.encode(body("ws_live_funding_rate.json")))
            if not reconnect:
                clock.now += 1
                rec.disconnected("ConnectionResetError: reset by peer")

    items, _ = await replay_all(recording(write))
    kinds = [(r.topic, type(r.error).__name__ if r.error else "item") for r in items]
    assert kinds == [
        ("live_trade_history", "item"), ("live_funding_rate", "item"),
        ("live_trade_history", "StreamGapError"),
        ("live_trade_history", "item"), ("live_funding_rate", "item"),
    ]
    gap = items[2]
    assert isinstance(gap.error, StreamGapError)
    assert gap.t == 1.0


async def test_topic_filter_keeps_routing_as_recorded() -> None:
    positions = body("ws_positions.json")

    def write(rec: Recorder, clock: FakeClock) -> None:
        rec.connected("ws://x/")
        rec.sent(subscribe_text("positions", address=PROFILE_A))
        rec.sent(subscribe_text("live_funding_rate"))
        rec.frame(with_address(positions, PROFILE_A))
        rec.frame(msgspec.json.encode(body("ws_live_funding_rate.json")))

    items, replay = await replay_all(recording(write), topics=["live_funding_rate"])
    assert [r.topic for r in items] == ["live_funding_rate"]
    assert replay.router_stats().ignored == 1
    with pytest.raises(ValidationError, match="topic"):
        Replay([], topics=["nope"])


async def test_speed_paces_by_the_recorded_times() -> None:
    def write(rec: Recorder, clock: FakeClock) -> None:
        rec.connected("ws://x/")
        rec.sent(subscribe_text("live_funding_rate"))
        for _ in range(3):
            clock.now += 10
            rec.frame(msgspec.json.encode(body("ws_live_funding_rate.json")))

    loop = asyncio.get_running_loop()
    started = loop.time()
    items, _ = await replay_all(recording(write), speed=200.0)  # 30 s of recording
    assert loop.time() - started >= 0.15
    assert [r.t for r in items] == [10.0, 20.0, 30.0]
    for bad in (0, -1.0, True):
        with pytest.raises(ValidationError, match="speed"):
            Replay([], speed=bad)


async def test_leaving_early_stops_every_consumer() -> None:
    def write(rec: Recorder, clock: FakeClock) -> None:
        rec.connected("ws://x/")
        rec.sent(subscribe_text("live_funding_rate"))
        for _ in range(10):
            rec.frame(msgspec.json.encode(body("ws_live_funding_rate.json")))

    before = len(asyncio.all_tasks())
    async with Replay(read_recording(recording(write)).entries(), speed=None) as replay:
        async for _ in replay:
            break
    assert len(asyncio.all_tasks()) == before
    with pytest.raises(RuntimeError, match="once"):
        replay.__aiter__()


async def test_closing_from_another_task_ends_the_iteration() -> None:
    trade = msgspec.json.encode(body("ws_live_trade_history.json"))
    address = body("ws_live_trade_history.json")["data"]["address"]

    def write(rec: Recorder, clock: FakeClock) -> None:
        rec.connected("ws://x/")
        rec.sent(subscribe_text("live_trade_history", address=address))
        rec.frame(trade)
        clock.now += 1
        rec.disconnected("closed")  # a gap for a subscription that is closed by then
        rec.connected("ws://x/")
        rec.sent(subscribe_text("live_funding_rate"))  # a new consumer, after the close
        rec.frame(msgspec.json.encode(body("ws_live_funding_rate.json")))

    got: list[Replayed] = []
    async with Replay(read_recording(recording(write)).entries(), speed=20.0) as replay:
        closing: asyncio.Task[None] | None = None
        async with timeout(1):
            async for item in replay:
                got.append(item)
                closing = asyncio.create_task(replay.close())  # e.g. a stop button
        assert closing is not None
        await closing
    assert [r.topic for r in got] == ["live_trade_history"]
    assert [t for t in asyncio.all_tasks() if t.get_name().startswith("kana-replay")] == []


async def test_a_failing_recorder_stops_recording_but_never_the_stream() -> None:
    trade = body("ws_live_trade_history.json")
    frame = msgspec.json.encode(trade)
    socket = FakeSocket(frame, frame)

    def full(frames: int) -> None:
        raise RuntimeError("bug in the caller's hook")  # or the disk is full

    out = io.BytesIO()
    recorder = Recorder(out, "ws://x/", on_frame=full)
    connector = RecordingConnector(FakeConnector(socket), recorder)
    async with StreamMux(None, "ws://x/", connector=connector) as mux:
        fills = mux.live_trade_history(trade["data"]["address"])
        async with timeout(1):
            for _ in range(2):
                await fills.get()
        assert mux.stats().connects == 1
    assert isinstance(recorder.error, RuntimeError)
    assert recorder.frames == 1
    assert len(out.getvalue().splitlines()) == 3  # the header, connected, one frame


async def test_a_recorded_socket_can_still_be_pinged_if_the_inner_one_can() -> None:
    """Recording must not switch off the stream's own ping (a dead socket would go unseen)."""
    class PingableSocket(FakeSocket):
        pings = 0

        async def ping(self) -> None:
            PingableSocket.pings += 1

    recorder = Recorder(io.BytesIO(), "ws://x/")
    plain = await RecordingConnector(FakeConnector(FakeSocket()), recorder)("ws://x/")
    assert getattr(plain, "ping", None) is None
    pingable = await RecordingConnector(FakeConnector(PingableSocket()), recorder)("ws://x/")
    ping = getattr(pingable, "ping", None)
    assert ping is not None
    await ping()
    assert PingableSocket.pings == 1


# -- a live round trip -----------------------------------------------------------------------


async def test_what_a_live_stream_delivered_replays_identically(tmp_path: Path) -> None:
    """Record a live mux against the simulator while its consumers keep every item, then
    replay: each subscription yields the same items in the same order."""
    path = tmp_path / "live.ndjson"
    live: dict[tuple[str, str], list[bytes]] = defaultdict(list)
    encode = msgspec.json.Encoder(enc_hook=lambda book: book.levels).encode
    async with Simulator(seed=5) as sim, KanaClient(
        rest_url=sim.rest_url, ws_url=sim.ws_url, node_url=sim.node_url, api_key="k"
    ) as kana:
        assert sim.ws_url is not None
        with path.open("wb") as handle:
            recorder = Recorder(handle, sim.ws_url, max_frames=16)
            connector = RecordingConnector(AiohttpConnector(kana.http), recorder)
            async with StreamMux(kana.http, sim.ws_url, connector=connector) as mux:
                subs = [
                    mux.subscribe("orderbook", market_id=1338, overflow="error"),
                    mux.subscribe("orderbook", market_id=1339, overflow="error"),
                    mux.subscribe("recent_trades", market_id=1338, overflow="error"),
                    mux.subscribe("live_funding_rate", overflow="error"),
                ]

                async def consume(sub: Any) -> None:
                    async for item in sub:
                        live[(sub.topic, sub.key)].append(encode(item))

                tasks = [asyncio.create_task(consume(sub)) for sub in subs]
                for _ in range(500):
                    if recorder.full:
                        break
                    await asyncio.sleep(0.01)
                assert recorder.full
                # Let the consumers catch up with every frame received so far (a superset
                # of the recorded ones: the recorder sees each frame before the stream).
                for _ in range(500):
                    if not any(sub.stats.buffered for sub in subs):
                        break
                    await asyncio.sleep(0.001)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            recorder.close()

    replayed: dict[tuple[str, str], list[bytes]] = defaultdict(list)
    with read_recording(path) as reading:
        async with Replay(reading.entries(), speed=None) as replay:
            async for r in replay:
                assert r.error is None
                replayed[(r.topic, r.key)].append(encode(r.item))
    assert sum(len(v) for v in replayed.values()) == 16
    assert set(replayed) <= set(live)
    for key, items in replayed.items():
        assert items == live[key][: len(items)]
