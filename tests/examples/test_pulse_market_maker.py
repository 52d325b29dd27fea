"""examples/pulse_market_maker.py runs as a user would run it and never leaves an order
resting: not at a normal end, not when its reader goes away, not when it is killed (the
gateway's cancel-on-disconnect, which the example turns on)."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
from decimal import Decimal

import pytest

from kana_async import PulseClient
from kana_async.sim import Simulator
from tests.examples.test_examples import EXAMPLES, TROUBLE, Run, finish, load, read_until

SCRIPT = "pulse_market_maker.py"
INSTRUMENT = "BTC_USD-PERPETUAL"


async def start(*args: str, secret: str | None = None,
                stdout: int = asyncio.subprocess.PIPE) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PULSE_CLIENT_ID", None)
    env.pop("PULSE_CLIENT_SECRET", None)
    if secret is not None:
        env["PULSE_CLIENT_SECRET"] = secret
    return await asyncio.create_subprocess_exec(
        sys.executable, "-X", "dev", str(EXAMPLES / SCRIPT), *args,
        stdout=stdout, stderr=asyncio.subprocess.PIPE, env=env,
    )


def assert_clean(result: Run) -> None:
    result.assert_clean()
    for marker in TROUBLE:
        assert marker not in result.stdout


async def resting(sim: Simulator, client_id: str, secret: str) -> int:
    """How many orders of ``client_id`` rest on the instrument, asked on a new connection."""
    assert sim.pulse_ws_url is not None
    async with PulseClient(sim.pulse_ws_url, client_id=client_id, client_secret=secret) as pulse:
        return len(await pulse.get_open_orders_by_instrument(instrument_name=INSTRUMENT))


async def cancel_reasons(sim: Simulator, client_id: str, secret: str) -> set[str | None]:
    """Why the orders of ``client_id`` were cancelled (``user_request``: by the bot)."""
    assert sim.pulse_ws_url is not None
    async with PulseClient(sim.pulse_ws_url, client_id=client_id, client_secret=secret) as pulse:
        history = await pulse.get_order_history_by_instrument(
            instrument_name=INSTRUMENT, count=1000, include_unfilled=True)
    return {order.cancel_reason for order in history if order.order_state == "cancelled"}


async def until_nothing_rests(sim: Simulator, client_id: str, secret: str) -> int:
    """Resting orders, asked until none are left or 50 tries have passed."""
    left = -1
    for _ in range(50):
        left = await resting(sim, client_id, secret)
        if left == 0:
            break
        await asyncio.sleep(0.1)
    return left


async def test_quotes_requotes_and_leaves_nothing_resting() -> None:
    result = await finish(await start("--duration", "3"))
    assert_clean(result)
    out = result.stdout
    assert "cancel-on-disconnect on" in out
    assert "quote #1 (first, mid " in out
    assert "buy 10 @ " in out
    assert "| sell 10 @ " in out
    assert "cancelling every resting order" in out
    assert f"open orders: none rest on {INSTRUMENT}" in out
    assert "summary: " in out


async def test_a_killed_bot_leaves_nothing_resting_thanks_to_cancel_on_disconnect() -> None:
    client_id, secret = f"pmm-kill-{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    async with Simulator(seed=5) as sim:
        assert sim.pulse_ws_url is not None
        proc = await start("--ws-url", sim.pulse_ws_url, "--client-id", client_id,
                           secret=secret)
        assert proc.stdout is not None
        try:
            await asyncio.wait_for(read_until(proc.stdout, "quote #1"), 30)
            assert await resting(sim, client_id, secret) > 0  # quotes rest while it runs
        finally:
            proc.send_signal(signal.SIGKILL)  # no clean-up can run
            await proc.communicate()
        assert proc.returncode == -signal.SIGKILL
        assert await until_nothing_rests(sim, client_id, secret) == 0
        assert "cancel_on_disconnect" in await cancel_reasons(sim, client_id, secret)


async def test_cancels_its_quotes_when_stdout_goes_away() -> None:
    client_id, secret = f"pmm-head-{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    async with Simulator(seed=6) as sim:
        assert sim.pulse_ws_url is not None
        read_fd, write_fd = os.pipe()
        try:
            proc = await start("--ws-url", sim.pulse_ws_url, "--client-id", client_id,
                               secret=secret, stdout=write_fd)
        finally:
            os.close(write_fd)
        reader = asyncio.StreamReader()
        transport, _ = await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", 0))
        try:
            first = await asyncio.wait_for(read_until(reader, "quote #1"), 30)
        except BaseException:
            proc.kill()
            await proc.wait()
            raise
        finally:
            transport.close()  # the reader goes away, as head does
        assert proc.stderr is not None
        err = (await asyncio.wait_for(proc.stderr.read(), 30)).decode()
        assert await asyncio.wait_for(proc.wait(), 10) == 0, err
        assert "quote #1" in first
        for marker in TROUBLE:
            assert marker not in err
        assert await resting(sim, client_id, secret) == 0
        # It cleaned up by itself before closing the socket: cancel-on-disconnect had
        # nothing left to cancel.
        assert await cancel_reasons(sim, client_id, secret) == {"user_request"}


async def test_an_order_of_unknown_outcome_is_found_by_its_label_not_sent_again(
        capsys: pytest.CaptureFixture[str]) -> None:
    maker_module = load("pulse_market_maker")
    async with Simulator(step_interval=None) as sim:
        assert sim.pulse_ws_url is not None
        assert sim.pulse is not None
        client_id, secret = f"pmm-lost-{secrets.token_hex(4)}", secrets.token_urlsafe(16)
        async with PulseClient(sim.pulse_ws_url, client_id=client_id, client_secret=secret,
                               cancel_on_disconnect=True, timeout=0.5) as pulse:
            settings = maker_module.Settings(INSTRUMENT, "BTC", Decimal(10), Decimal("0.5"),
                                             Decimal("0.001"), Decimal(2), Decimal(100))
            maker = maker_module.Maker(pulse, settings)
            sim.pulse.faults.hold_replies(1)  # the buy executes; its reply does not come
            assert await maker.place("buy", Decimal(50_000)) is True
            sim.pulse.faults.release()
            orders = await pulse.get_open_orders_by_instrument(instrument_name=INSTRUMENT)
            assert [o.order_id for o in orders] == [maker.quotes["buy"]]  # sent once, found
            assert orders[0].label == f"pmm-{maker.run_id}-1"
            await maker.clean_up()
    out = capsys.readouterr().out
    assert "outcome unknown" in out
    assert "looking it up by label" in out
    assert "resting as " in out
