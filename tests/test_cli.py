"""The ``kana-async`` command: parsing, and ``sim`` serving until it is told to stop."""

from __future__ import annotations

import asyncio
import io
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from kana_async import cli

URL = re.compile(r"(REST|WebSocket|Aptos node|Pulse WS|Pulse HTTP)\s+(\S+)")


def test_sim_options_and_defaults() -> None:
    args = cli.build_parser().parse_args(["sim"])
    assert (args.port, args.seed, args.host, args.step_interval, args.push_interval) == (
        0, 0, "127.0.0.1", 0.1, 0.0
    )
    args = cli.build_parser().parse_args(
        ["sim", "--port", "8100", "--seed", "7", "--host", "localhost", "--push-interval", "0.5"]
    )
    assert (args.port, args.seed, args.host, args.push_interval) == (8100, 7, "127.0.0.1", 0.5)


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["sim", "--host", "0.0.0.0"], "--host: must be a loopback address"),
        (["sim", "--port", "70000"], "--port: must be 0"),
        (["sim", "--port", "abc"], "--port: must be an integer"),
        (["sim", "--step-interval", "-1"], "--step-interval: must be >= 0"),
        (["sim", "--seed", "x"], "--seed: invalid int value"),
        (["bogus"], "invalid choice"),
    ],
)
def test_bad_arguments_exit_2_naming_the_option(
    argv: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(argv)
    assert caught.value.code == 2
    assert complaint in capsys.readouterr().err


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "sim" in capsys.readouterr().out


def test_commands_are_one_entry_each() -> None:
    names = [command.name for command in cli.COMMANDS]
    assert "sim" in names
    assert len(names) == len(set(names))


async def test_serve_simulator_prints_urls_and_stops_cleanly() -> None:
    out = io.StringIO()
    stop = asyncio.Event()
    server = asyncio.create_task(
        cli.serve_simulator(seed=3, step_interval=None, out=out, stop=stop)
    )
    for _ in range(200):
        if "Ctrl-C" in out.getvalue():
            break
        await asyncio.sleep(0.01)
    urls = dict(URL.findall(out.getvalue()))
    assert set(urls) == {"REST", "WebSocket", "Aptos node", "Pulse WS", "Pulse HTTP"}
    assert urls["Pulse WS"].endswith("/ws/api/v2")
    assert urls["Pulse HTTP"].endswith("/api/v2")
    async with aiohttp.ClientSession() as session:
        async with session.get(urls["Aptos node"]) as response:
            assert response.status == 200
        async with session.get(urls["Pulse HTTP"] + "/public/get_index_price",
                               params={"index_name": "btc_usd"}) as response:
            assert response.status == 200
            assert await response.json() > 0
    stop.set()
    assert await asyncio.wait_for(server, 2) == 0
    assert out.getvalue().rstrip().endswith("Simulator stopped.")


async def run_until_signal(argv: list[str], signum: int) -> tuple[int, str]:
    """Start the command, wait for its URLs, check one answers, send ``signum``."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    assert proc.stdout is not None
    stdout = proc.stdout
    output: list[str] = []

    async def read_banner() -> None:
        while True:
            line = (await stdout.readline()).decode()
            assert line, "exited early:\n" + "".join(output)
            output.append(line)
            if "Ctrl-C" in line:
                return

    try:
        await asyncio.wait_for(read_banner(), 10)
        urls = dict(URL.findall("".join(output)))
        async with (
            aiohttp.ClientSession() as session,
            session.get(urls["Aptos node"]) as response,
        ):
            assert response.status == 200
        proc.send_signal(signum)
        rest, _ = await asyncio.wait_for(proc.communicate(), 10)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, "".join(output) + rest.decode()


async def test_python_m_kana_async_sim_stops_on_sigint() -> None:
    status, output = await run_until_signal(
        [sys.executable, "-m", "kana_async.sim", "--seed", "1"], signal.SIGINT
    )
    assert status == 0, output
    assert "http://127.0.0.1:" in output
    assert "Simulator stopped." in output
    assert "Traceback" not in output


async def test_kana_async_sim_command_stops_on_sigterm() -> None:
    command = Path(sys.executable).with_name("kana-async")
    if not command.exists():
        pytest.skip("the kana-async script is not installed next to this interpreter")
    status, output = await run_until_signal([str(command), "sim"], signal.SIGTERM)
    assert status == 0, output
    assert "Simulator stopped." in output
