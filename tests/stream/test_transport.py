"""The aiohttp transport against real sockets on 127.0.0.1: heartbeat and bounded closing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from kana_async.errors import TransportError, ValidationError
from kana_async.stream import AiohttpConnector
from tests.stream.scripted_server import ScriptedServer, ServerConnection


@pytest.fixture
async def frozen() -> AsyncIterator[ScriptedServer]:
    """A peer that accepts, then never reads again: no pong, no answer to a close."""
    release = asyncio.Event()

    async def script(conn: ServerConnection) -> None:
        await release.wait()

    async with ScriptedServer(script, autoping=False) as server:
        yield server
        release.set()


async def test_closing_while_a_reader_waits_is_bounded_by_close_timeout(
    http: aiohttp.ClientSession, frozen: ScriptedServer,
) -> None:
    # What the watchdog does to a silent socket: close it from another task while the
    # stream's reader waits. A peer that never answers the closing handshake is cut off.
    ws = await AiohttpConnector(http, heartbeat=None, close_timeout=0.05)(frozen.url)
    reader = asyncio.create_task(ws.receive())
    await asyncio.sleep(0.01)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await ws.close()
    assert loop.time() - started < 1.0  # was the 10 s connect timeout
    assert await reader is None


async def test_a_peer_that_never_answers_pings_is_detected(
    http: aiohttp.ClientSession, frozen: ScriptedServer,
) -> None:
    # The documented bound: a ping after `heartbeat` s of silence, then half of it for the pong.
    ws = await AiohttpConnector(http, heartbeat=0.1)(frozen.url)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TransportError, match="PONG"):
        await asyncio.wait_for(ws.receive(), 2)
    assert loop.time() - started < 1.0
    await ws.close()  # already closed: returns at once


@pytest.mark.parametrize("value", [0, -1.0])
async def test_close_timeout_must_be_positive(
    http: aiohttp.ClientSession, value: float,
) -> None:
    with pytest.raises(ValidationError) as info:
        AiohttpConnector(http, close_timeout=value)
    assert info.value.param == "close_timeout"
