"""Output helpers: NDJSON lines, closed pipes, plain tables, the confirmation question."""

from __future__ import annotations

import contextlib
import io
import json
from decimal import Decimal

import pytest

from kana_async.cli.args import CliError
from kana_async.cli.output import Lines, PipeClosed, confirm, print_table, spinner
from kana_async.models import OrderBookLevel
from kana_async.stream import OrderBook


class ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_lines_are_json_with_decimals_as_strings_and_books_split() -> None:
    out = io.StringIO()
    lines = Lines(out)
    levels = [OrderBookLevel(market_id=1338, price=Decimal("5.1"), size=Decimal("2"),
                             is_ask=True),
              OrderBookLevel(market_id=1338, price=Decimal("4.9"), size=Decimal("1.5"),
                             is_ask=False)]
    lines.write({"money": Decimal("0.1"), "book": OrderBook.from_levels(levels)})
    assert lines.count == 1
    (line,) = out.getvalue().splitlines()
    assert json.loads(line) == {
        "money": "0.1",
        "book": {"market_id": 1338, "bids": [{"price": "4.9", "size": "1.5"}],
                 "asks": [{"price": "5.1", "size": "2"}]},
    }


def test_a_closed_pipe_is_not_an_error() -> None:
    with pytest.raises(PipeClosed):
        Lines(ClosedPipe()).write({"a": 1})
    with pytest.raises(PipeClosed):
        print_table(("a",), [(1,)], out=ClosedPipe())


def test_plain_tables_align_and_show_missing_values() -> None:
    out = io.StringIO()
    print_table(("name", "price"), [("APT", Decimal("5.700")), ("BTC", None)], out=out,
                right=(1,))
    assert out.getvalue().splitlines() == ["name  price", "APT   5.700", "BTC       -"]


async def test_confirm(monkeypatch: pytest.MonkeyPatch,
                       capsys: pytest.CaptureFixture[str]) -> None:
    await confirm("anything", assume_yes=True, stdin=io.StringIO(""))
    with pytest.raises(CliError, match="stdin is not a terminal"):
        await confirm("place", assume_yes=False, stdin=io.StringIO("y\n"))
    await confirm("place it", assume_yes=False, stdin=Terminal("Y\n"))
    assert "place it\nSign and send? [y/N] " in capsys.readouterr().err
    with pytest.raises(CliError, match="nothing was signed"):
        await confirm("place", assume_yes=False, stdin=Terminal("no\n"))


def test_spinner_stays_off_without_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    with spinner("waiting"):
        pass
    assert capsys.readouterr().err == ""


def test_ctrl_c_at_the_question_ends_the_command_at_once(urls: list[str]) -> None:
    """On a real terminal (a pty), SIGINT while ``Sign and send?`` waits for an answer."""
    import os
    import pty
    import select
    import signal
    import subprocess
    import sys
    import time

    master, slave = pty.openpty()
    env = {**os.environ, "KANA_PRIVATE_KEY": "66" * 32}
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kana_async.cli", "place", "--market", "APT", "--side",
             "long", "--size", "1", "--price", "4.000", "--leverage", "2", "--post-only",
             *urls],
            stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True,
        )
    finally:
        os.close(slave)
    seen = b""
    try:
        deadline = time.monotonic() + 30
        while b"Sign and send? [y/N]" not in seen:
            assert time.monotonic() < deadline, f"no question within 30 s: {seen!r}"
            readable, _, _ = select.select([master], [], [], 1.0)
            if readable:
                chunk = os.read(master, 4096)
                assert chunk, seen
                seen += chunk
        proc.send_signal(signal.SIGINT)
        try:
            status = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            raise AssertionError("Ctrl-C did not end the question") from None
        with contextlib.suppress(OSError):  # the pty's other end is closed once it exited
            while select.select([master], [], [], 0)[0]:
                chunk = os.read(master, 4096)
                if not chunk:
                    break
                seen += chunk
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert status == 130, seen
    assert b"Traceback" not in seen
