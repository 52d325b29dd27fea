"""``reliability.py --connector``: the stream scenarios run on the chosen WebSocket library,
and the run says which."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import reliability
import reliability_stream
from reliability_common import Row

from kana_async.sim import Simulator
from kana_async.stream import StreamOptions


def test_the_connector_reaches_the_scenarios_and_the_report(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    seen: list[str] = []

    async def scenario(quick: bool) -> list[Row]:
        seen.append(reliability_stream.TRANSPORT)
        return [Row("fake", "a fault")]

    monkeypatch.setattr(reliability, "SCENARIOS", {"fake": scenario})
    out = tmp_path / "r.json"
    assert reliability.main(["--quick", "--connector", "picows", "--out", str(out)]) == 0
    assert seen == ["picows"]
    assert json.loads(out.read_text())["connector"] == "picows"
    assert "quick run on picows" in capsys.readouterr().out
    assert reliability_stream.TRANSPORT == "aiohttp"  # restored for whatever runs next


def test_an_unknown_connector_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        reliability.main(["--connector", "websockets"])
    assert "invalid choice" in capsys.readouterr().err


async def test_open_stream_builds_the_stream_on_the_chosen_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reliability_stream, "TRANSPORT", "picows")
    async with Simulator(seed=3) as sim, AsyncExitStack() as stack:
        assert sim.ws_url is not None
        mux = await reliability_stream.open_stream(stack, sim, sim.ws_url,
                                                   StreamOptions(heartbeat=5.0))
        assert mux.options.transport == "picows"
        assert mux.options.heartbeat == 5.0  # the scenario's own settings are kept
