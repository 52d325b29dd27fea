"""``--metrics-port``: the options, the exporter's lifetime, and a missing extra."""

from __future__ import annotations

import argparse
import io
import sys

import aiohttp
import pytest

from kana_async.cli.args import CliError
from kana_async.cli.metrics import add_metrics_options, metrics_from_args


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kana-async bridge")
    add_metrics_options(parser)
    return parser.parse_args(list(argv))


def test_the_options_default_to_off_and_loopback() -> None:
    args = parse()
    assert args.metrics_port is None
    assert args.metrics_host == "127.0.0.1"
    assert parse("--metrics-port", "9464", "--metrics-host", "0.0.0.0").metrics_port == 9464


@pytest.mark.parametrize("value", ["-1", "65536", "many"])
def test_a_bad_port_is_a_usage_error(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse("--metrics-port", value)
    assert exited.value.code == 2
    assert "--metrics-port" in capsys.readouterr().err


async def test_without_a_port_there_is_no_exporter() -> None:
    async with metrics_from_args(parse()) as metrics:
        assert metrics is None


async def test_the_exporter_serves_while_the_command_runs() -> None:
    out = io.StringIO()
    async with metrics_from_args(parse("--metrics-port", "0"), out=out) as metrics:
        assert metrics is not None
        metrics.record_order("place_limit_order", 0.002, "ok")
        url = out.getvalue().removeprefix("metrics: ").strip()
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/metrics")
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            text = await response.text()
        assert 'kana_orders_total{method="place_limit_order",outcome="ok"} 1.0' in text
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectionError):
            async with http.get(url):
                pass


async def test_a_missing_extra_is_a_clear_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(CliError, match=r"pip install 'kana-async\[metrics\]'"):
        async with metrics_from_args(parse("--metrics-port", "0")):
            pass
