"""benchmarks/pulse_rpc.py's own logic, without timing anything: its flood is a valid Pulse
stream (one unbroken change chain) whose every item reaches the consumers, and its call
runner makes exactly the calls it reports."""

from __future__ import annotations

import asyncio

import pulse_rpc

from kana_async import PulseClient
from kana_async.sim import Simulator


async def test_every_flooded_item_arrives_typed_and_the_chain_never_breaks() -> None:
    gateway = pulse_rpc.FloodGateway(500)
    server = await asyncio.start_server(gateway.handle, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        items, seconds = await pulse_rpc.pulse_notifications(port)
    finally:
        server.close()
        await server.wait_closed()
    assert items == 500  # the snapshot and 499 more; the end marker is not counted
    assert seconds > 0


async def test_the_call_runner_reports_each_call_it_made() -> None:
    async with Simulator(step_interval=None, market_maker=None) as sim:
        assert sim.pulse_ws_url is not None
        assert sim.pulse is not None
        async with PulseClient(sim.pulse_ws_url, heartbeat=None) as pulse:
            before = sim.pulse.stats["requests"]
            run = await pulse_rpc.calls(pulse, 25, 10)
            served = sim.pulse.stats["requests"] - before
    assert run["calls"] == 25
    assert run["in_flight"] == 10
    assert run["p50_ms"] <= run["p99_ms"]
    assert served == 25
