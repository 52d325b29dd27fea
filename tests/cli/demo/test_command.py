"""``kana-async demo`` as a command: a bad option in one line, Ctrl-C, a reader that leaves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kana_async.cli import demo as demo_module
from tests.cli.demo.test_options import parse

ROOT = Path(__file__).resolve().parents[3]


def test_run_reports_bad_options_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    status = demo_module.run(parse("--private-key-env", "SURELY_UNSET_VARIABLE_42"))
    assert status == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "SURELY_UNSET_VARIABLE_42 is not set" in err


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
