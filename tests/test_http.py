"""The HTTP seam: failure kinds, bounded bodies, the redirect policy, the one retry policy."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from kana_async import KanaClient
from kana_async._http import (
    AiohttpTransport,
    AnswerTooLarge,
    ConnectFailed,
    ConnectionLost,
    HttpFailure,
    MockTransport,
    NoAnswer,
    RedirectRefused,
    Request,
    Response,
    RetryPolicy,
    send,
)
from kana_async.errors import ApiError, RateLimitError, TransportError
from kana_async.sim import Simulator
from tests.rest.conftest import Script

GET = Request("GET", URL("http://api.test/a?x=1"), {"x-api-key": "k"})


async def handle(transport: MockTransport | AiohttpTransport, request: Request = GET,
                 *, timeout: float = 5.0, max_body: int = 1024) -> Response:
    return await transport.handle(request, timeout=timeout, max_body=max_body)


# -- failure kinds --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (aiohttp.ConnectionTimeoutError("connect timed out"), ConnectFailed),
        (asyncio.TimeoutError(), NoAnswer),
        (aiohttp.SocketTimeoutError("read timed out"), NoAnswer),
        (aiohttp.ClientConnectionError("refused"), ConnectionLost),
        (aiohttp.ServerDisconnectedError(), ConnectionLost),
        (aiohttp.ClientPayloadError("Response payload is not completed"), ConnectionLost),
    ],
)
async def test_failures_come_out_as_one_kind_each(
    error: BaseException, kind: type[HttpFailure]
) -> None:
    with pytest.raises(kind) as info:
        await handle(MockTransport(Script(error)))
    assert type(info.value) is kind
    assert isinstance(info.value, TransportError)
    assert info.value.detail.startswith(type(error).__name__)


async def test_a_slow_answer_is_no_answer_within_the_timeout() -> None:
    async def slow(request: Request) -> Response:
        await asyncio.sleep(5)
        return Response(200)

    with pytest.raises(NoAnswer) as info:
        await handle(MockTransport(slow), timeout=0.01)
    assert info.value.timeout == 0.01


async def test_the_mock_applies_the_body_cap() -> None:
    transport = MockTransport(Script(Response(200, b"x" * 11), Response(200, b"x" * 10)))
    with pytest.raises(AnswerTooLarge, match="11 bytes exceeds the 10-byte cap"):
        await handle(transport, max_body=10)
    assert (await handle(transport, max_body=10)).body == b"x" * 10


def test_headers_are_case_insensitive_and_never_in_a_repr() -> None:
    answer = Response(429, headers={"retry-after": "3"})
    assert answer.headers["Retry-After"] == "3"
    assert "k" not in repr(GET).replace("http", "")
    assert "x=1" not in repr(GET)


# -- on aiohttp -----------------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def loopback(handler: Handler) -> AsyncIterator[tuple[AiohttpTransport, URL]]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    async with TestServer(app, host="127.0.0.1", port=0) as server, \
            aiohttp.ClientSession() as http:
        yield AiohttpTransport(http), server.make_url("/")


async def test_aiohttp_never_follows_a_redirect_itself() -> None:
    async def moved(request: web.Request) -> web.StreamResponse:
        return web.Response(status=307, headers={"Location": "/elsewhere"})

    async with loopback(moved) as (transport, base):
        answer = await handle(transport, Request("POST", base / "a", {}, b"{}"))
    assert (answer.status, answer.headers["Location"]) == (307, "/elsewhere")


async def test_aiohttp_refuses_declared_and_streamed_bodies_over_the_cap() -> None:
    async def big(request: web.Request) -> web.StreamResponse:
        if request.path == "/declared":
            return web.Response(body=b"x" * 2000)
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(40):
            await response.write(b"x" * 100)
        await response.write_eof()
        return response

    async with loopback(big) as (transport, base):
        with pytest.raises(AnswerTooLarge) as declared:
            await handle(transport, Request("GET", base / "declared", {}))
        with pytest.raises(AnswerTooLarge) as streamed:
            await handle(transport, Request("GET", base / "streamed", {}))
    assert declared.value.declared == 2000
    assert streamed.value.declared is None


async def test_aiohttp_connect_refused_is_connect_failed() -> None:
    server = TestServer(web.Application(), host="127.0.0.1", port=0)
    await server.start_server()
    url = server.make_url("/")
    await server.close()  # nothing listens there any more
    async with aiohttp.ClientSession() as http:
        with pytest.raises(ConnectFailed, match="ClientConnectorError"):
            await handle(AiohttpTransport(http), Request("GET", url, {}))


# -- redirects ------------------------------------------------------------------------------


async def follow(script: Script, request: Request = GET, max_redirects: int = 2) -> Response:
    return await send(MockTransport(script), request, timeout=1, max_body=1024,
                      max_redirects=max_redirects)


async def test_a_same_origin_redirect_is_followed_with_the_same_headers() -> None:
    script = Script(Response(308, headers={"Location": "/b?y=2"}), Response(200, b"ok"))
    assert (await follow(script)).body == b"ok"
    assert [str(r.url) for r in script.requests] == ["http://api.test/a?x=1",
                                                     "http://api.test/b?y=2"]
    assert script.requests[1].headers == {"x-api-key": "k"}


@pytest.mark.parametrize(
    "location",
    ["http://other.test/a", "https://api.test/a", "http://api.test:8080/a", "//evil.test/a"],
)
async def test_another_origin_is_refused_before_anything_is_sent_there(location: str) -> None:
    script = Script(Response(302, headers={"Location": location}), Response(200))
    with pytest.raises(RedirectRefused, match="redirect to another origin") as info:
        await follow(script)
    assert info.value.cross_origin
    assert info.value.status == 302
    assert len(script.requests) == 1


async def test_a_303_continues_as_a_get_without_the_body() -> None:
    post = Request("POST", URL("http://api.test/build"),
                   {"x-api-key": "k", "Content-Type": "application/json"}, b"{}")
    script = Script(Response(303, headers={"Location": "/result"}), Response(200))
    await follow(script, post)
    again = script.requests[1]
    assert (again.method, again.body, dict(again.headers)) == ("GET", None, {"x-api-key": "k"})


async def test_redirects_are_bounded_and_need_a_location() -> None:
    loop = Script(Response(307, headers={"Location": "/a"}), repeat=True)
    with pytest.raises(RedirectRefused, match="more than 2 redirects"):
        await follow(loop)
    assert len(loop.requests) == 3
    with pytest.raises(RedirectRefused, match="without a Location"):
        await follow(Script(Response(302)))


async def test_with_no_redirects_allowed_the_answer_is_returned_as_it_is() -> None:
    script = Script(Response(301, headers={"Location": "http://other.test/"}))
    assert (await follow(script, max_redirects=0)).status == 301


# -- the retry policy -----------------------------------------------------------------------

LOG = logging.getLogger("tests.http")


async def test_only_the_named_errors_are_retried() -> None:
    policy = RetryPolicy(attempts=3, backoff=0.001, max_backoff=0.001)
    tries: list[float] = []

    async def refused(timeout: float) -> None:
        tries.append(timeout)
        raise ApiError("/x", "bad request", 400)

    with pytest.raises(ApiError):
        await policy.run(refused, timeout=2, what="GET /x", log=LOG)
    assert tries == [2]


async def test_retry_after_is_floored_at_the_backoff(caplog: pytest.LogCaptureFixture) -> None:
    policy = RetryPolicy(attempts=2, backoff=0.02, max_backoff=0.02)
    answers: list[Any] = [RateLimitError("/x", "slow down", retry_after=0.0), "done"]

    async def call(timeout: float) -> Any:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    with caplog.at_level(logging.INFO, logger="tests.http"):
        assert await policy.run(call, timeout=1, what="GET /x", log=LOG) == "done"
    (record,) = caplog.records
    assert isinstance(record.args, tuple)
    slept = record.args[-1]
    assert isinstance(slept, float)
    assert slept >= policy.backoff / 2


async def test_the_client_gives_rest_and_node_one_policy() -> None:
    policy = RetryPolicy(attempts=2)
    async with Simulator(seed=1, market_maker=None, step_interval=None) as sim:
        for retry in (policy, None):
            async with KanaClient(
                "local", rest_url=sim.rest_url, ws_url=sim.ws_url, node_url=sim.node_url,
                api_key="test-key", private_key="11" * 32, retry=retry,
            ) as client:
                shared = client.rest.session.retry
                assert client.trader.node.retry is shared
                if retry is not None:
                    assert shared is policy
