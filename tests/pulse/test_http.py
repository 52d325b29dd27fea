"""HttpCaller on the HTTP seam's MockTransport: verbs and body styles, the Bearer header,
replies wrapped or bare, the gateway's refusals, and orders whose answer proves nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import msgspec
import pytest

from kana_async._http import MockTransport, Request, Response
from kana_async.errors import AuthError, PulseRpcError, TransportError, UnknownOutcomeError
from kana_async.pulse import frames
from kana_async.pulse.http import BUSY, HttpCaller

BASE = "http://127.0.0.1:9/api/v2"


def caller(answer: Any, seen: list[Request] | None = None,
           unknown: list[str | None] | None = None) -> HttpCaller:
    def handle(request: Request) -> Response:
        if seen is not None:
            seen.append(request)
        if isinstance(answer, BaseException):
            raise answer
        result: Response = answer
        return result

    def in_doubt(method: str, reason: str, label: str | None) -> UnknownOutcomeError:
        if unknown is not None:
            unknown.append(label)
        return UnknownOutcomeError("", f"{method} {reason}", label=label)

    def rpc_error(reply: frames.ErrorReply) -> PulseRpcError:
        return PulseRpcError(reply.code, reply.message)

    return HttpCaller(MockTransport(handle), BASE, max_body=1 << 20, redact=lambda t: t,
                      unknown=in_doubt, rpc_error=rpc_error)


async def send(http: HttpCaller, method: str = "private/buy", *, style: str = "bare",
               order: bool = False, **params: Any) -> Any:
    loop = asyncio.get_running_loop()
    return await http.call(method, params, style=style, bearer="tok-1234", order=order,
                           label="L-1" if order else None, deadline=loop.time() + 5)


async def test_auth_is_a_get_with_a_query_and_others_post_their_style() -> None:
    seen: list[Request] = []
    http = caller(Response(200, json={"access_token": "a"}), seen)
    await send(http, "public/auth", style="query", grant_type="client_credentials",
               flag=True)
    await send(http, "private/get_positions", style="envelope", currency="BTC")
    await send(http, "private/get_positions", style="bare", currency="BTC")
    get, envelope, bare = seen
    assert get.method == "GET"
    assert get.body is None
    assert dict(get.url.query) == {"grant_type": "client_credentials", "flag": "true"}
    assert str(envelope.url) == f"{BASE}/private/get_positions"
    sent = msgspec.json.decode(envelope.body or b"")
    assert sent["method"] == "private/get_positions"
    assert sent["params"] == {"currency": "BTC"}
    assert isinstance(sent["id"], int)
    assert msgspec.json.decode(bare.body or b"") == {"currency": "BTC"}
    assert bare.headers["Authorization"] == "Bearer tok-1234"


async def test_wrapped_and_bare_results_are_the_same_result() -> None:
    wrapped = caller(Response(200, json={"jsonrpc": "2.0", "id": 3, "result": [1, 2]}))
    bare = caller(Response(200, json=[1, 2]))
    assert bytes(await send(wrapped)) == bytes(await send(bare)) == b"[1,2]"


async def test_the_gateways_refusal_is_a_pulse_rpc_error_even_for_an_order() -> None:
    message = {"status": 10009, "description": "not_enough_funds", "response": None}
    with pytest.raises(PulseRpcError) as caught:
        await send(caller(Response(400, json=message)), order=True)
    assert caught.value.code == 10009
    rpc = {"jsonrpc": "2.0", "id": 1, "error": {"code": 11029, "message": "bad"}}
    with pytest.raises(PulseRpcError, match="bad"):
        await send(caller(Response(400, json=rpc)))


@pytest.mark.parametrize("answer", [
    Response(502, b"<html>bad gateway</html>"),
    Response(429, b"slow down"),
    Response(200, b"{not json"),
    asyncio.TimeoutError(),
    aiohttp.ServerDisconnectedError(),
])
async def test_an_order_without_a_gateway_answer_is_in_doubt(answer: Any) -> None:
    unknown: list[str | None] = []
    with pytest.raises(UnknownOutcomeError) as caught:
        await send(caller(answer, unknown=unknown), order=True)
    assert caught.value.label == "L-1"
    assert unknown == ["L-1"]


async def test_an_order_that_never_connected_was_not_sent() -> None:
    refused = aiohttp.ClientConnectorError(
        aiohttp.client_reqrep.ConnectionKey("127.0.0.1", 9, False, True, None, None, None),
        OSError(111, "refused"))
    with pytest.raises(TransportError) as caught:
        await send(caller(refused), order=True)
    assert not isinstance(caught.value, UnknownOutcomeError)


async def test_reads_map_statuses_to_errors_that_say_what_to_do() -> None:
    with pytest.raises(PulseRpcError) as busy:
        await send(caller(Response(429, b"slow down")))
    assert busy.value.code == BUSY
    with pytest.raises(AuthError):
        await send(caller(Response(401, b"no")))
    with pytest.raises(TransportError, match="503"):
        await send(caller(Response(503, b"down")))
