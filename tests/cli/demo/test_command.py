"""``kana-async demo`` as a command: a bad option in one line, Ctrl-C, a reader that leaves."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kana_async import cli

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("argv", "status", "complaint"),
    [
        (["--network", "testnet", "--api-key", "k", "--private-key-env",
          "SURELY_UNSET_VARIABLE_42"], 1,
         "signing needs a private key: set $SURELY_UNSET_VARIABLE_42"),
        (["--network", "testnet"], 1, "--network testnet needs an API key"),
        (["--local-port", "8100", "--rest-url", "http://127.0.0.1:1"], 2,
         "give --local-port or the URLs, not both"),
        (["--network", "mainnet", "--api-key", "k", "--private-key-env", "KEY"], 2,
         "network: mainnet trades real money: pass --yes"),
    ],
)
def test_bad_options_are_one_line_with_the_status_every_command_uses(
    argv: list[str], status: int, complaint: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KEY", "11" * 32)
    assert cli.main(["demo", *argv]) == status
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"kana-async: error: {complaint}"), err


def test_help_lists_the_shared_connection_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["demo", "--help"])
    text = capsys.readouterr().out
    assert "connection:" in text
    for option in ("--duration SECONDS", "--local-port N", "--private-key-env VAR",
                   "--network {local,testnet,mainnet}"):
        assert option in text, option


def test_ctrl_c_ends_the_command_cleanly_with_the_summary() -> None:
    env = {**os.environ, "PYTHONASYNCIODEBUG": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kana_async.cli.demo", "--duration", "3"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "stream: 1 connection" in line or not line:
                break
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = "".join(lines) + rest
    assert proc.returncode == 130, output + err
    assert "— interrupted" in output
    assert "Traceback" not in err


def test_a_reader_that_leaves_ends_the_demo_quietly() -> None:
    """``kana-async demo | head -3``: status 0, nothing on stderr, clean-up done."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "kana_async.cli", "demo", "--duration", "20", "--plain"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        proc.stdout.close()  # what head does after its third line
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert all(lines), lines
    assert proc.returncode == 0, err.decode()
    for trouble in ("Traceback", "BrokenPipeError", "Exception ignored", "error"):
        assert trouble not in err.decode(), err.decode()


def test_the_plain_command_prints_the_same_shape_as_before() -> None:
    """``kana-async demo --plain``: events, then the summary, line for line as it always was."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONASYNCIODEBUG"}
    proc = subprocess.run(
        [sys.executable, "-m", "kana_async.cli", "demo", "--plain", "--duration", "2"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert re.fullmatch(r"\[ +\d+\.\d\ds\] connected to the embedded simulator; "
                        r"wallet 0x[0-9a-f]{64}", lines[0]), lines[0]
    summary = lines[next(i for i, line in enumerate(lines) if line.startswith("Summary: ")):]
    assert re.fullmatch(r"Summary: embedded simulator, market 1338, \d+\.\d s — completed",
                        summary[0]), summary[0]
    assert summary[1].startswith("Transactions (confirmed = submit to commit; stream = ")
    transactions = summary[2:summary.index(next(s for s in summary if s.startswith("Delivery")))]
    assert len(transactions) == 9, transactions
    assert all(re.fullmatch(r"  .+ {2}ok +confirmed +\d+\.\d (ms|s)  "
                            r"(stream \d+\.\d (ms|s)|not streamed)", t) for t in transactions)
    rest = summary[2 + len(transactions):]
    prefixes = ["Delivery latency, submit to effect on the stream: p50 ",
                "Confirmation time, submit to commit: p50 ",
                "Messages per topic (received / delivered / conflated):",
                "  orderbook ", "  positions ", "  open_orders ", "  live_funding_rate ",
                "  trade_history ", "Stream: 1 connection(s) for 5 subscriptions, ",
                "Position: long ", "PnL: realized "]
    assert len(rest) == len(prefixes), rest
    for line, prefix in zip(rest, prefixes, strict=True):
        assert line.startswith(prefix), (line, prefix)
    assert rest[-2].endswith(", closed at the end")
