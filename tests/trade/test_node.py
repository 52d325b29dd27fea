"""NodeClient: what an answer to a submission proves, and bounded response bodies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from kana_async._http import MockTransport, Response, RetryPolicy
from kana_async.errors import ApiError, RateLimitError, TransportError, ValidationError
from kana_async.trade.node import (
    BCS_SIGNED_TRANSACTION,
    NodeClient,
    SubmissionInDoubt,
    TransactionRejectedError,
    _submission_outcome,
    node_error,
)
from tests.rest.conftest import Script

NODE_REJECTION = {
    "message": "Invalid transaction: Type: Validation Code: SEQUENCE_NUMBER_TOO_OLD",
    "error_code": "vm_error",
    "vm_error_code": 3,
}


def test_only_a_node_error_body_with_a_4xx_proves_a_rejection() -> None:
    with pytest.raises(TransactionRejectedError) as info:
        _submission_outcome(400, NODE_REJECTION)
    assert info.value.vm_status == "SEQUENCE_NUMBER_TOO_OLD"
    # vm_error_code may be absent (the node's OpenAPI marks it optional).
    with pytest.raises(TransactionRejectedError):
        _submission_outcome(400, {"message": "bad", "error_code": "invalid_input"})
    assert _submission_outcome(202, {"hash": "0x1", "type": "pending_transaction"})["hash"]


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (503, {"message": "busy", "error_code": "internal_error", "vm_error_code": None}),
        (503, None),
        (429, {"message": "slow down", "error_code": "vm_error", "vm_error_code": None}),
        (429, "Too Many Requests"),
        (408, NODE_REJECTION),
        (500, NODE_REJECTION),
        (502, "<html>Bad Gateway</html>"),
        (400, "<html>400 Bad Request</html>"),
        (403, {"error": "forbidden"}),
        (400, {"message": "x", "error_code": "not_an_aptos_code"}),
        (400, {"message": "x", "error_code": "vm_error", "vm_error_code": "3"}),
        (202, {"type": "pending_transaction"}),
        (200, "ok"),
    ],
)
def test_anything_else_is_in_doubt(status: int, body: Any) -> None:
    with pytest.raises(SubmissionInDoubt):
        _submission_outcome(status, body)


def test_node_error_shape() -> None:
    assert node_error(NODE_REJECTION) is NODE_REJECTION
    assert node_error({"message": "m", "error_code": "vm_error", "vm_error_code": True}) is None
    assert node_error(["message"]) is None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[NodeClient]]]:
    servers: list[TestServer] = []
    async with aiohttp.ClientSession() as http:

        async def start(handler: Handler) -> NodeClient:
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", handler)
            server = TestServer(app, host="127.0.0.1")
            await server.start_server()
            servers.append(server)
            return NodeClient(http, str(server.make_url("/v1")), read_attempts=1,
                              max_body_bytes=1024)

        yield start
    for server in servers:
        await server.close()


async def big_json(request: web.Request) -> web.StreamResponse:
    """A 4 KB JSON answer, streamed in chunks without a Content-Length."""
    response = web.StreamResponse(status=202 if request.method == "POST" else 200)
    response.content_type = "application/json"
    await response.prepare(request)
    await response.write(b'{"hash": "0x1", "type": "pending_transaction", "pad": "')
    for _ in range(64):
        await response.write(b"x" * 64)
    await response.write(b'"}')
    await response.write_eof()
    return response


async def big_declared(request: web.Request) -> web.StreamResponse:
    return web.Response(body=b"[" + b"0," * 4000 + b"0]", content_type="application/json",
                        status=202 if request.method == "POST" else 200)


@pytest.mark.parametrize("handler", [big_json, big_declared])
async def test_an_oversized_answer_to_a_read_is_a_transport_error(
    serve: Callable[[Handler], Awaitable[NodeClient]], handler: Handler
) -> None:
    node = await serve(handler)
    with pytest.raises(TransportError, match="larger than 1024 bytes"):
        await node.ledger_info()


@pytest.mark.parametrize("handler", [big_json, big_declared])
async def test_an_oversized_answer_to_a_submission_is_in_doubt(
    serve: Callable[[Handler], Awaitable[NodeClient]], handler: Handler
) -> None:
    node = await serve(handler)
    with pytest.raises(SubmissionInDoubt, match="larger than 1024 bytes"):
        await node.submit(b"\x00" * 10)


async def test_an_answer_under_the_cap_is_read(
    serve: Callable[[Handler], Awaitable[NodeClient]]
) -> None:
    async def small(request: web.Request) -> web.StreamResponse:
        return web.json_response({"chain_id": 4})

    node = await serve(small)
    assert await node.chain_id() == 4


async def test_a_connection_that_never_opens_is_a_transport_error() -> None:
    async with aiohttp.ClientSession() as http:
        server = TestServer(web.Application(), host="127.0.0.1")
        await server.start_server()
        url = str(server.make_url("/v1"))
        await server.close()  # nothing listens there any more
        with pytest.raises(TransportError, match="cannot connect"):
            await NodeClient(http, url).submit(b"\x00")


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_is_never_followed(
    serve: Callable[[Handler], Awaitable[NodeClient]], status: int
) -> None:
    reached: list[str] = []

    async def elsewhere(request: web.Request) -> web.StreamResponse:
        reached.append(request.method)
        return web.json_response({"hash": "0x1", "type": "pending_transaction",
                                  "chain_id": 4, "sequence_number": "7"}, status=202)

    other = await serve(elsewhere)

    async def redirect(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status,
                            headers={"Location": other.base_url + request.path[3:]})

    node = await serve(redirect)
    # A signed transaction is never posted to another origin; what the first answer proves
    # is nothing, so the submission is in doubt.
    with pytest.raises(SubmissionInDoubt, match=f"HTTP {status}"):
        await node.submit(b"\x00" * 10)
    # Reads (chain id, sequence numbers) come from the node given, or fail saying why.
    with pytest.raises(ApiError, match="redirects are not followed"):
        await node.chain_id()
    assert reached == []


def test_the_cap_is_validated() -> None:
    with pytest.raises(ValidationError, match="max_body_bytes: must be a positive integer"):
        NodeClient(None, "http://127.0.0.1:1/v1", max_body_bytes=0)  # type: ignore[arg-type]


# -- on the mock transport: the shared retry policy for reads, never for a submission --------

FAST = RetryPolicy(attempts=3, total_time=2.0, backoff=0.001, max_backoff=0.002)
PENDING = {"hash": "0x1", "type": "pending_transaction"}


def node_on(script: Script, retry: RetryPolicy = FAST) -> NodeClient:
    return NodeClient(MockTransport(script), "http://node.test/v1", retry=retry,
                      max_body_bytes=1024)


async def test_reads_are_retried_under_the_policy() -> None:
    script = Script(
        aiohttp.ClientConnectionError("reset"),
        Response(503),
        Response(429, headers={"Retry-After": "0"}),
        Response(200, json={"chain_id": 4}),
    )
    node = node_on(script, RetryPolicy(attempts=4, backoff=0.001, max_backoff=0.002))
    assert await node.chain_id() == 4
    assert [str(r.url) for r in script.requests] == ["http://node.test/v1"] * 4


async def test_read_attempts_are_bounded() -> None:
    script = Script(Response(503), repeat=True)
    with pytest.raises(TransportError, match="HTTP 503"):
        await node_on(script).ledger_info()
    assert len(script.requests) == FAST.attempts


async def test_a_429_beyond_the_budget_is_raised_at_once() -> None:
    script = Script(Response(429, headers={"Retry-After": "60"}), repeat=True)
    with pytest.raises(RateLimitError) as info:
        await node_on(script).sequence_number("0x1")
    assert info.value.retry_after == 60
    assert len(script.requests) == 1


async def test_a_4xx_read_is_not_retried() -> None:
    script = Script(Response(400, json={"message": "bad address",
                                        "error_code": "invalid_input"}), repeat=True)
    with pytest.raises(ApiError, match="bad address"):
        await node_on(script).sequence_number("0x1")
    assert len(script.requests) == 1


async def test_an_unknown_account_has_sequence_number_zero() -> None:
    script = Script(Response(404, json={"message": "nope", "error_code": "account_not_found"}))
    assert await node_on(script).sequence_number("0x1") == 0


@pytest.mark.parametrize(
    "answer",
    [
        Response(503),
        Response(429, headers={"Retry-After": "0"}),
        Response(408),
        Response(302, headers={"Location": "/v1/transactions"}),
        Response(202, b'{"hash": "0x1", "type": "pend'),
        aiohttp.ClientPayloadError("Response payload is not completed"),
        aiohttp.ServerDisconnectedError(),
        asyncio.TimeoutError(),
    ],
    ids=["503", "429", "408", "302", "truncated-body", "payload-error", "disconnected",
         "timeout"],
)
async def test_a_submission_is_sent_once_and_anything_unproven_is_in_doubt(
    answer: Response | BaseException,
) -> None:
    script = Script(answer, Response(202, json=PENDING), repeat=True)
    with pytest.raises(SubmissionInDoubt):
        await node_on(script).submit(b"\x00" * 10)
    (request,) = script.requests
    assert (request.method, str(request.url)) == ("POST", "http://node.test/v1/transactions")
    assert request.headers["Content-Type"] == BCS_SIGNED_TRANSACTION
    assert request.body == b"\x00" * 10


async def test_a_submission_that_could_not_connect_is_a_transport_error() -> None:
    script = Script(aiohttp.ConnectionTimeoutError("connect timed out"))
    with pytest.raises(TransportError, match="cannot connect") as info:
        await node_on(script).submit(b"\x00")
    assert not isinstance(info.value, SubmissionInDoubt)
    assert len(script.requests) == 1


async def test_a_submission_proven_rejected_or_accepted() -> None:
    rejected = Script(Response(400, json=NODE_REJECTION))
    with pytest.raises(TransactionRejectedError) as info:
        await node_on(rejected).submit(b"\x00")
    assert info.value.vm_status == "SEQUENCE_NUMBER_TOO_OLD"
    accepted = Script(Response(202, json=PENDING))
    assert (await node_on(accepted).submit(b"\x00"))["hash"] == "0x1"


async def test_an_oversized_submission_answer_on_the_mock_is_in_doubt() -> None:
    script = Script(Response(202, b"[" + b"0," * 1000 + b"0]"))
    with pytest.raises(SubmissionInDoubt, match="larger than 1024 bytes"):
        await node_on(script).submit(b"\x00")


def test_without_a_policy_read_attempts_sets_the_tries() -> None:
    node = NodeClient(MockTransport(Script()), "http://node.test/v1", read_attempts=2)
    assert node.retry.attempts == 2


def test_read_attempts_is_validated() -> None:
    with pytest.raises(ValidationError, match="read_attempts: must be an int >= 1"):
        NodeClient(MockTransport(Script()), "http://node.test/v1", read_attempts=0)
