"""The reliability suite's own logic: exit status, report-only mode, table, frame families."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import reliability
import reliability_orders
import reliability_stream
from reliability_common import Row
from reliability_orders import Intent, judge_intents

from kana_async import StreamOptions


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
    row.unsupported("no certificate (openssl: FileNotFoundError)")
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


def _judged(*intents: Intent, strays: int = 0) -> dict[str, bool]:
    row = Row("node", "judged")
    judge_intents(row, list(intents), strays)
    return {check.name: check.ok for check in row.checks}


def test_orders_per_intent_are_judged() -> None:
    fine = [
        Intent("0.1", ["ok"], confirmed=1, orders=1),
        Intent("0.101", ["UnknownOutcomeError"], hashes=["0xa"], resolved=["committed"],
               confirmed=1, orders=1),
        Intent("0.102", ["UnknownOutcomeError", "ok"], hashes=["0xb"], resolved=["expired"],
               confirmed=1, orders=1),
        Intent("0.103", ["TransportError", "TransportError"]),
    ]
    assert all(_judged(*fine).values())
    # Told "not sent", yet executed, and executed again on the second attempt.
    twice = Intent("0.2", ["TransportError", "ok"], confirmed=1, orders=2)
    assert not _judged(twice)["at most one order per intent"]
    # Executed, yet neither a success nor a hash came back.
    lost = Intent("0.3", ["TransportError", "TransportError"], orders=1)
    assert not _judged(lost)["an executed order is never lost track of"]
    # A hash raised in doubt but not listed by in_doubt().
    unlisted = Intent("0.4", ["UnknownOutcomeError"], hashes=["0xc"], unlisted=1,
                      resolved=["committed"], confirmed=1, orders=1)
    assert not _judged(unlisted)["every hash in doubt is listed by in_doubt()"]
    # resolve said "expired" of a transaction that executed.
    lied = Intent("0.5", ["UnknownOutcomeError", "TransportError", "TransportError"],
                  hashes=["0xd"], resolved=["expired"], orders=1)
    assert not _judged(lied)["what the SDK confirmed is what the exchange holds"]
    # A hash resolve could not settle is not judged as a lie (the bot stops there).
    open_fate = Intent("0.6", ["UnknownOutcomeError"], hashes=["0xe"],
                       resolved=["UnknownOutcomeError"], orders=1)
    assert _judged(open_fate)["what the SDK confirmed is what the exchange holds"]
    assert not _judged(strays=1)["no order the bot did not ask for"]


def test_prices_are_distinct_ticks() -> None:
    prices = reliability_orders.Prices()
    taken = [prices.take() for _ in range(3)]
    assert taken == ["0.100", "0.101", "0.102"]


def test_stalls_are_judged_against_the_documented_defaults() -> None:
    full = reliability_stream.stall_options(quick=False)
    assert full == StreamOptions()
    assert reliability_stream.stated_seconds(full, "heartbeat") == 30.0
    assert reliability_stream.stated_seconds(full, "watchdog") == 60.0
    quick = reliability_stream.stall_options(quick=True)
    assert reliability_stream.stated_seconds(quick, "heartbeat") == 3.0
    assert reliability_stream.stated_seconds(quick, "watchdog") == 6.0
