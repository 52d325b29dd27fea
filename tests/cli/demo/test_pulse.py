"""The demo's Pulse leg: the bot story on the simulator's Pulse gateway, cleaned up whatever
happens to the output, and ``--pulse`` read like every other option."""

from __future__ import annotations

import io
import re

import pytest

from kana_async import cli
from kana_async.cli.demo import DemoOptions, options_from_args
from kana_async.cli.demo.pulse import run_pulse_leg


async def test_the_leg_trades_measures_and_cleans_up() -> None:
    out = io.StringIO()
    report = await run_pulse_leg(None, out)
    text = out.getvalue()
    assert report.error is None, text
    assert report.cancel_on_disconnect is True
    assert report.cleaned
    assert len(report.round_trips) == 4  # bid, market buy, cancel all, closing sell
    assert len(report.deliveries) == 4  # each effect seen on user.orders or user.trades
    assert report.burst_rate is not None
    assert report.disconnects == 0
    for step in ("connected as demo-", "cancel-on-disconnect on", "post-only bid 10 @ ",
                 "market buy 10: filled @ ", "the bid cancelled on user.orders",
                 "reduce-only market sell 10: position closed", "calls in flight",
                 "clean-up: nothing rests, no position"):
        assert step in text, text
    assert re.search(r"^\[ *\d+\.\d\ds\] pulse: ", text, re.MULTILINE)
    assert "Pulse leg\n" in text
    assert "Clean-up: nothing rests, no position" in text
    assert report.notifications[
        "user.trades.BTC_USD-PERPETUAL.raw"] == 2  # the two fills, nothing else


class _Gone(io.StringIO):
    """An output whose reader left after the first line."""

    def write(self, text: str) -> int:
        if self.getvalue():
            raise BrokenPipeError
        return super().write(text)


async def test_a_reader_that_leaves_does_not_stop_the_clean_up() -> None:
    out = _Gone()
    report = await run_pulse_leg(None, out)
    assert report.reader_gone
    assert report.error is None
    assert report.cleaned
    assert out.getvalue().count("\n") == 1


def _options(*argv: str) -> DemoOptions:
    return options_from_args(cli.build_parser().parse_args(["demo", *argv]), environ={})


def test_local_port_points_the_leg_at_kana_async_sim() -> None:
    options = _options("--pulse", "--local-port", "8100")
    assert options.pulse_ws_url == "ws://127.0.0.1:8103/ws/api/v2"
    assert _options("--pulse").pulse_ws_url is None  # embedded
    assert _options().pulse is False


@pytest.mark.parametrize(("argv", "complaint"), [
    (["--pulse", "--rest-url", "http://127.0.0.1:1"], "--pulse with URLs: give --local-port"),
    (["--pulse", "--network", "testnet", "--api-key", "k", "--private-key-env", "KEY"],
     "pulse: the Pulse leg runs on the local network only"),
])
def test_pulse_off_the_local_network_is_a_usage_error(
        argv: list[str], complaint: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEY", "11" * 32)
    assert cli.main(["demo", *argv]) == 2
    err = capsys.readouterr().err
    assert complaint in err
    assert err.count("\n") == 1


def test_demo_pulse_runs_the_leg_after_the_scenario(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "--pulse", "--duration", "2", "--plain"]) == 0
    out = capsys.readouterr().out
    summary = out.index("Stream: 1 connection(s)")  # the Kana scenario's summary first
    assert out.index("pulse: connected as demo-") > summary
    assert "Clean-up: nothing rests, no position" in out
