"""KanaClient lifecycle: owns one aiohttp session (and the simulator on ``local``), closes
everything exactly once, cleans up after a failed start, keeps secrets out of reprs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any, ClassVar

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

import kana_async.client as client_module
import kana_async.sim
from kana_async.client import LOCAL_API_KEY, KanaClient
from kana_async.errors import KanaError, ValidationError
from kana_async.rest import RateLimiter, RetryPolicy
from kana_async.stream import StreamOptions

PRIVATE_KEY = "0x" + "1f" * 32
API_KEY = "client-test-key-9a8b"


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[str | None]]]:
    """A one-endpoint Kana REST stand-in on 127.0.0.1; records the keys it was sent."""
    keys: list[str | None] = []

    async def market_price(request: web.Request) -> web.Response:
        keys.append(request.headers.get("x-api-key"))
        data = {"bestAskPrice": "5.769", "bestBidPrice": "5.768"}
        return web.json_response({"success": True, "message": "ok", "data": data})

    app = web.Application()
    app.router.add_get("/getMarketPrice", market_price)
    async with TestServer(app, host="127.0.0.1", port=0) as test_server:
        yield str(test_server.make_url("")).rstrip("/"), keys


def explicit(url: str, **kwargs: Any) -> KanaClient:
    return KanaClient("testnet", api_key=API_KEY, rest_url=url, **kwargs)


async def test_enter_exit_twice_and_reopen(server: tuple[str, list[str | None]]) -> None:
    url, keys = server
    kana = explicit(url)
    assert kana.closed
    for _ in range(2):
        async with kana:
            assert not kana.closed
            assert kana.config.rest_url == url
            price = await kana.rest.get_market_price(1338)
            assert price.best_bid_price == Decimal("5.768")
            http = kana.http
        assert kana.closed
        assert http.closed
        await kana.close()  # closing again is harmless
    assert keys == [API_KEY, API_KEY]


async def test_entering_an_open_client_is_refused(server: tuple[str, list[str | None]]) -> None:
    async with explicit(server[0]) as kana:
        with pytest.raises(RuntimeError, match="already open"):
            await kana.__aenter__()
        assert not kana.closed


async def test_components_need_an_open_client() -> None:
    kana = KanaClient("mainnet")
    with pytest.raises(RuntimeError, match="not open"):
        _ = kana.rest
    with pytest.raises(RuntimeError, match="not open"):
        _ = kana.http


async def test_failed_enter_closes_what_it_opened(
    server: tuple[str, list[str | None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[aiohttp.ClientSession] = []
    real_session = aiohttp.ClientSession

    def recording_session(*args: Any, **kwargs: Any) -> aiohttp.ClientSession:
        session = real_session(*args, **kwargs)
        opened.append(session)
        return session

    def broken_rest(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("component failed to start")

    monkeypatch.setattr(aiohttp, "ClientSession", recording_session)
    monkeypatch.setattr(client_module, "KanaRest", broken_rest)
    kana = explicit(server[0])
    with pytest.raises(RuntimeError, match="component failed"):
        async with kana:
            pass
    assert len(opened) == 1
    assert opened[0].closed
    assert kana.closed
    with pytest.raises(RuntimeError, match="not open"):
        _ = kana.rest


class FakeSimulator:
    """Stands in for the simulator to test the wiring without starting servers."""

    instances: ClassVar[list[FakeSimulator]] = []

    def __init__(self) -> None:
        self.rest_url = "http://127.0.0.1:9"
        self.ws_url = "ws://127.0.0.1:10/ws/"
        self.node_url = "http://127.0.0.1:11/v1"
        self.open = False
        FakeSimulator.instances.append(self)

    async def __aenter__(self) -> FakeSimulator:
        self.open = True
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.open = False


@pytest.fixture
def fake_simulator(monkeypatch: pytest.MonkeyPatch) -> type[FakeSimulator]:
    FakeSimulator.instances.clear()
    monkeypatch.setattr(kana_async.sim, "Simulator", FakeSimulator)
    return FakeSimulator


async def test_local_without_urls_uses_the_simulator(
    fake_simulator: type[FakeSimulator],
) -> None:
    kana = KanaClient()
    assert kana.config.rest_url is None
    async with kana:
        (sim,) = fake_simulator.instances
        assert sim.open
        assert kana.simulator is sim
        assert kana.config.rest_url == sim.rest_url
        assert kana.config.ws_url == sim.ws_url
        assert kana.config.node_url == sim.node_url
        assert kana.rest.session._headers["x-api-key"] == LOCAL_API_KEY
    assert not sim.open
    assert kana.simulator is None
    assert kana.config.rest_url is None


async def test_failed_enter_closes_the_simulator(
    fake_simulator: type[FakeSimulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_rest(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(client_module, "KanaRest", broken_rest)
    with pytest.raises(RuntimeError, match="boom"):
        async with KanaClient():
            pass
    (sim,) = fake_simulator.instances
    assert not sim.open


async def test_local_with_urls_does_not_start_a_simulator(
    server: tuple[str, list[str | None]], fake_simulator: type[FakeSimulator]
) -> None:
    async with KanaClient("local", api_key=API_KEY, rest_url=server[0]) as kana:
        await kana.rest.get_market_price(1)
    assert fake_simulator.instances == []


async def test_local_without_a_rest_url_is_explained(
    fake_simulator: type[FakeSimulator],
) -> None:
    kana = KanaClient("local", ws_url="ws://127.0.0.1:1/ws")
    with pytest.raises(KanaError, match="no REST URL"):
        await kana.__aenter__()
    assert kana.closed


async def test_the_embedded_simulator_answers() -> None:
    async with KanaClient() as kana:
        markets = await kana.rest.get_perpetual_assets_info()
        assert markets
        info = await kana.rest.market_info(markets[0].market_id)
        assert info.lot_size > 0


def test_presets_and_overrides() -> None:
    assert KanaClient("mainnet").config.rest_url == "https://perps-tradeapi.kana.trade"
    assert KanaClient("testnet").config.rest_url == "https://perps-tradeapi.kanalabs.io"
    kana = KanaClient("mainnet", ws_url="wss://example.test/ws/")
    assert kana.config.ws_url == "wss://example.test/ws/"
    assert kana.config.rest_url == "https://perps-tradeapi.kana.trade"


def test_secrets_stay_out_of_repr() -> None:
    kana = KanaClient("testnet", api_key=API_KEY, private_key=PRIVATE_KEY)
    text = repr(kana)
    assert API_KEY not in text
    assert PRIVATE_KEY[2:] not in text
    assert "api_key=set" in text
    assert "private_key=set" in text


def test_a_bad_private_key_is_not_echoed() -> None:
    secret = "0x" + "z" * 64
    with pytest.raises(ValidationError) as info:
        KanaClient("testnet", private_key=secret)
    assert info.value.param == "private_key"
    assert secret not in str(info.value)
    assert "z" * 10 not in repr(info.value)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"network": "devnet"}, "network"),
        ({"rest_url": "perps-tradeapi.kana.trade"}, "rest_url"),
        ({"api_key": ""}, "api_key"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": "10"}, "timeout"),
        ({"retry": 3}, "retry"),
        ({"rate_limit": "fast"}, "rate_limit"),
        ({"rate_limit": 0}, "rate"),
        ({"check_grid": 1}, "check_grid"),
        ({"connection_limit": 0}, "connection_limit"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], param: str) -> None:
    with pytest.raises(ValidationError) as info:
        KanaClient(**kwargs)
    assert info.value.param == param


def test_an_unknown_option_is_named() -> None:
    with pytest.raises(TypeError, match="colour"):
        KanaClient(colour="blue")  # type: ignore[call-arg]


async def test_options_reach_the_rest_layer(server: tuple[str, list[str | None]]) -> None:
    policy = RetryPolicy(attempts=2)
    limiter = RateLimiter(100)
    async with explicit(
        server[0], timeout=3, retry=policy, rate_limit=limiter, check_grid=False
    ) as kana:
        session = kana.rest.session
        assert session.timeout == 3
        assert session.retry is policy
        assert session.rate_limiter is limiter
        assert kana.rest.check_grid is False
    async with explicit(server[0], rate_limit=5) as kana:
        assert kana.rest.session.rate_limiter is not None
        assert kana.rest.session.rate_limiter.rate == 5


# -- the stream option -------------------------------------------------------------------------

def test_stream_options_are_checked_at_construction() -> None:
    with pytest.raises(ValidationError, match=r"unknown option.*colour"):
        KanaClient("testnet", rest_url="http://127.0.0.1:1", stream={"colour": "red"})
    with pytest.raises(ValidationError, match="stream"):
        KanaClient("testnet", rest_url="http://127.0.0.1:1", stream=42)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="heartbeat"):
        KanaClient("testnet", rest_url="http://127.0.0.1:1", stream={"heartbeat": -1})


async def test_default_and_given_stream_options_reach_the_stream(
    server: tuple[str, list[str | None]],
) -> None:
    url, _ = server
    ws_url = "ws://127.0.0.1:1/ws/"
    async with explicit(url, ws_url=ws_url) as kana:
        # With no options, the stream still pings and watches its busy topics.
        options = kana.stream.options
        assert options.heartbeat == 20.0
        assert dict(options.watchdog) == {"orderbook": 30.0}
    given = StreamOptions(heartbeat=5.0, watchdog={"positions": 60.0}, buffer_size=10)
    async with explicit(url, ws_url=ws_url, stream=given) as kana:
        assert kana.stream.options == given
    async with explicit(url, ws_url=ws_url,
                        stream={"watchdog": None, "reconnect": {"max_delay": 2.0}}) as kana:
        assert dict(kana.stream.options.watchdog) == {}
        assert kana.stream.options.reconnect.max_delay == 2.0


async def test_a_stalled_topic_of_the_simulator_is_noticed_and_said_at_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    actions: list[str] = []
    stream = {
        "watchdog": {"orderbook": 0.2},
        "reconnect": {"initial_delay": 0.01, "max_delay": 0.05},
        "hooks": {"on_watchdog": lambda topic, key, action: actions.append(action)},
    }
    async with KanaClient(stream=stream, simulator={"seed": 3}) as kana:
        book = kana.stream.orderbook(1338)
        await asyncio.wait_for(book.get(), 5)
        kana.simulator.faults.stall("orderbook")
        for _ in range(500):
            if "reconnect" in actions:
                break
            await asyncio.sleep(0.01)
        assert actions[:2] == ["resubscribe", "reconnect"]
        assert book.stale
    assert any("orderbook 1338 said nothing" in r.getMessage() for r in caplog.records
               if r.levelname == "WARNING")
