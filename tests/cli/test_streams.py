"""tail, record and replay: NDJSON for pipelines, recordings that replay the same items."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kana_async import cli
from kana_async.stream.recording import read_recording


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def ndjson(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


# -- tail ------------------------------------------------------------------------------------


def test_tail_orderbook_prints_sorted_books_with_decimal_strings(
    capsys: pytest.CaptureFixture[str], urls: list[str]
) -> None:
    status, out, err = run(capsys, "tail", "orderbook", "--market", "APT", "--count", "2", *urls)
    assert status == 0, err
    lines = ndjson(out)
    assert len(lines) == 2
    first = lines[0]
    assert (first["topic"], first["key"]) == ("orderbook", "1338")
    assert isinstance(first["ts"], float)
    bids = [Decimal(level["price"]) for level in first["data"]["bids"]]
    asks = [Decimal(level["price"]) for level in first["data"]["asks"]]
    assert bids == sorted(bids, reverse=True)
    assert asks == sorted(asks)
    assert bids[0] < asks[0]
    assert all(isinstance(level["size"], str) for level in first["data"]["bids"])


def test_tail_an_address_topic_of_your_profile(
    capsys: pytest.CaptureFixture[str], urls: list[str], wallet: str
) -> None:
    assert run(capsys, "deposit", "50", "--yes", *urls)[0] == 0
    status, out, err = run(capsys, "tail", "deposit_withdraw_history", "--count", "1", *urls)
    assert status == 0, err
    (line,) = ndjson(out)
    assert line["key"].startswith("0x")
    (event,) = line["data"]
    assert event["is_deposit"] is True
    assert Decimal(event["amount"]) == 50


def test_tail_ends_after_its_duration_even_when_quiet(
    capsys: pytest.CaptureFixture[str], urls: list[str]
) -> None:
    status, out, _ = run(capsys, "tail", "live_trade_history", "--profile", "0x" + "7" * 64,
                         "--duration", "0.3", *urls)
    assert (status, out) == (0, "")


def test_tail_into_a_pipe_that_closes_exits_quietly(urls: list[str]) -> None:
    """``kana-async tail ... | head -1``: the reader leaves; the command ends with 0."""
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kana_async.cli", "tail", "orderbook", "--market", "1338", *urls],
        stdout=write_end, stderr=subprocess.PIPE,
    )
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as reader:  # like head -1: one line, then leave
            first = reader.readline()
        assert json.loads(first)["topic"] == "orderbook"
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.returncode is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert b"Traceback" not in err
    assert b"BrokenPipe" not in err


# -- record and replay -----------------------------------------------------------------------


@pytest.fixture
def recorded(tmp_path: Path, capsys: pytest.CaptureFixture[str], urls: list[str]) -> Path:
    path = tmp_path / "apt.ndjson"
    status, out, err = run(capsys, "record", "--out", str(path), "--market", "APT", "--market",
                           "1339", "--count", "12", *urls)
    assert status == 0, err
    assert out == ""
    assert err.startswith("recorded 12 frame(s) of 7 subscription(s) in ")
    return path


def test_record_writes_frames_sends_and_socket_events(recorded: Path) -> None:
    with read_recording(recorded) as reading:
        entries = list(reading.entries())
    kinds = [entry.kind for entry in entries]
    assert kinds[0] == "connected"
    assert kinds.count("frame") == 12
    sent = sorted(json.loads(entry.sent or "")["topic"] + str(json.loads(entry.sent or "")
                                                              .get("market_id", ""))
                  for entry in entries if entry.kind == "sent")
    assert sent == ["best_price1338", "best_price1339", "live_funding_rate", "orderbook1338",
                    "orderbook1339", "recent_trades1338", "recent_trades1339"]


def test_replay_prints_one_item_per_recorded_frame(
    recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, "replay", str(recorded), "--fast")
    assert status == 0, err
    lines = ndjson(out)
    assert len(lines) == 12
    assert {line["topic"] for line in lines} <= {"orderbook", "recent_trades", "best_price",
                                                 "live_funding_rate"}
    with read_recording(recorded) as reading:
        started = reading.header.started
        times = [e.t for e in reading.entries() if e.kind == "frame"]
    assert [line["ts"] for line in lines] == [round(started + t, 6) for t in times]
    assert err.strip() == "replayed 12 frame(s): 12 item(s)"


def test_replay_is_the_same_as_tail_saw(
    recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Replaying twice gives identical data: what was received, decoded the same way."""
    first = ndjson(run(capsys, "replay", str(recorded), "--fast")[1])
    second = ndjson(run(capsys, "replay", str(recorded), "--speed", "1000")[1])
    assert first == second
    books = [line for line in first if line["topic"] == "orderbook"]
    assert {line["key"] for line in books} <= {"1338", "1339"}
    for line in books:
        assert line["data"]["market_id"] == int(line["key"])


def test_replay_filters_by_topic(recorded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "replay", str(recorded), "--fast", "--topic", "orderbook")
    assert status == 0
    assert {line["topic"] for line in ndjson(out)} == {"orderbook"}


def test_replay_counts_and_skips_malformed_lines(
    recorded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = recorded.read_bytes().splitlines()
    damaged = tmp_path / "damaged.ndjson"
    frames = [i for i, line in enumerate(lines) if b'"frame"' in line]
    lines.insert(frames[3], b"this line is not JSON")
    lines.append(b'{"t": 99}')
    lines.append(b'{"t": 99.5, "frame": "{\\"message\\": \\"orderbook\\", "}')  # a torn frame
    damaged.write_bytes(b"\n".join(lines) + b"\n")
    status, out, err = run(capsys, "replay", str(damaged), "--fast")
    assert status == 0
    assert len(ndjson(out)) == 12
    assert f"damaged.ndjson:{frames[3] + 1}: skipped:" in err
    assert "malformed lines skipped 2" in err
    assert "malformed frame: {\"message\": \"orderbook\"," in err
    assert "anomalies malformed 1" in err


@pytest.mark.parametrize(
    ("content", "complaint"),
    [(b"", "is empty"), (b'{"x": 1}\n', "does not start with a kana-async recording header")],
)
def test_replay_of_something_else_fails_in_one_line(
    content: bytes, complaint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "other.ndjson"
    path.write_bytes(content)
    status, _, err = run(capsys, "replay", str(path))
    assert status == 2
    (line,) = err.splitlines()
    assert line.startswith("kana-async: error: recording: ")
    assert complaint in line


def test_record_to_an_unwritable_place_fails_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], urls: list[str]
) -> None:
    status, _, err = run(capsys, "record", "--out", str(tmp_path / "no" / "such" / "f"),
                         "--count", "1", *urls)
    assert status == 1
    (line,) = err.splitlines()
    assert line.startswith("kana-async: error: --out: cannot write ")


def test_a_recording_that_fails_to_write_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], urls: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kana_async.stream.recording import Recorder

    def disk_full(self: Recorder, data: bytes | str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Recorder, "frame", disk_full)
    path = tmp_path / "full.ndjson"
    status, _, err = run(capsys, "record", "--out", str(path), "--market", "APT",
                         "--duration", "1", *urls)
    assert status == 1
    assert "recording stopped after 0 frame(s)" in err
    assert "No space left on device" in err


def test_tail_writes_prices_and_sizes_on_the_market_grid(
    capsys: pytest.CaptureFixture[str], urls: list[str]
) -> None:
    # BTC: tick 1, lot 0.00001; the wire sends prices like 94896.0.
    status, out, err = run(capsys, "tail", "orderbook", "--market", "BTC", "--count", "1",
                           *urls)
    assert status == 0, err
    (line,) = ndjson(out)
    levels = line["data"]["bids"] + line["data"]["asks"]
    assert levels
    for lv in levels:
        assert re.fullmatch(r"\d+", lv["price"]), lv
        assert re.fullmatch(r"\d+\.\d{5}", lv["size"]), lv
