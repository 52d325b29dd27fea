"""The reliability suite's own logic: exit status, report-only mode, table, frame families."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import reliability
import reliability_stream
from reliability_common import Row, client_option_supported


def _scenarios(*rows: Row) -> dict[str, reliability.Scenario]:
    async def scenario(quick: bool) -> list[Row]:
        return list(rows)

    return {"fake": scenario}


def _row(ok: bool) -> Row:
    row = Row("fake", "a fault | with a bar", figures={"lost": 0 if ok else 3})
    row.check("no item lost", ok, "" if ok else "3 of 10")
    return row


def test_an_invariant_violation_fails_the_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("RELIABILITY_REPORT_ONLY", raising=False)
    monkeypatch.setattr(reliability, "SCENARIOS", _scenarios(_row(True), _row(False)))
    out = tmp_path / "r.json"
    assert reliability.main(["--quick", "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "**VIOLATED:** no item lost (3 of 10)" in captured.out
    assert "FAILED: 1 invariant(s) violated" in captured.err
    saved = json.loads(out.read_text())
    assert saved["mode"] == "quick"
    assert saved["violations"] == 1
    assert [r["invariants"][0]["ok"] for r in saved["rows"]] == [True, False]
    # A cell never breaks the markdown table.
    assert "| a fault / with a bar |" in captured.out


def test_report_only_turns_violations_into_warnings(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RELIABILITY_REPORT_ONLY", "1")
    monkeypatch.setattr(reliability, "SCENARIOS", _scenarios(_row(False)))
    assert reliability.main(["--out", str(tmp_path / "r.json")]) == 0
    assert "WARNING: 1 invariant(s) violated" in capsys.readouterr().err


def test_report_only_figures_never_fail(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RELIABILITY_REPORT_ONLY", raising=False)
    row = Row("fake", "unsupported here")
    row.unsupported("kana.in_doubt()")
    monkeypatch.setattr(reliability, "SCENARIOS", _scenarios(_row(True), row))
    assert reliability.main(["--out", str(tmp_path / "r.json")]) == 0


def test_a_scenario_that_crashes_is_a_failed_row(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    monkeypatch.delenv("RELIABILITY_REPORT_ONLY", raising=False)

    async def broken(quick: bool) -> list[Row]:
        raise RuntimeError("boom")

    monkeypatch.setattr(reliability, "SCENARIOS", {"broken": broken})
    out = tmp_path / "r.json"
    assert reliability.main(["--out", str(out)]) == 1
    saved = json.loads(out.read_text())
    assert saved["rows"][0]["status"] == "error"
    assert "boom" in saved["rows"][0]["invariants"][0]["detail"]


def test_hostile_frames_are_seeded_and_cover_every_family() -> None:
    documented = [b'{"message":"orderbook","data":[{"market_id":"1338","price":"5"}]}']
    first = reliability_stream.hostile_frames(random.Random(1), 50, documented)
    again = reliability_stream.hostile_frames(random.Random(1), 50, documented)
    assert first == again
    assert {kind for kind, _ in first} == {"deep", "huge", "surrogate", "random", "mutated"}
    assert len(first) == 50


def test_option_detection() -> None:
    assert client_option_supported("timeout", 1.0)
    assert not client_option_supported("no_such_option", {})
