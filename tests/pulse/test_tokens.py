"""Tokens: refresh first then credentials, one login at a time, refusal final and reported
once, busy answers not taken as refusals, tokens redacted as soon as received."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from kana_async.errors import AuthError, PulseRpcError, TransportError
from kana_async.pulse.auth import Credentials, Redactor
from kana_async.pulse.tokens import Tokens


class Gateway:
    """Answers logins from a script: a dict is a login result, an exception is raised."""

    def __init__(self, *answers: dict[str, Any] | Exception) -> None:
        self.answers = list(answers)
        self.grants: list[str] = []

    async def __call__(self, params: dict[str, Any], deadline: float) -> bytes:
        self.grants.append(params["grant_type"])
        await asyncio.sleep(0)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return msgspec.json.encode(answer)


def login(n: int, expires_in: int = 900) -> dict[str, Any]:
    return {"access_token": f"access-{n:04d}", "refresh_token": f"refresh-{n:04d}",
            "expires_in": expires_in, "scope": "connection", "token_type": "bearer"}


def tokens(gateway: Gateway, refused: list[AuthError] | None = None,
           redactor: Redactor | None = None) -> Tokens:
    return Tokens(Credentials("bot", "secret-1234"), "client_credentials",
                  redactor or Redactor(["secret-1234"]), gateway,
                  (refused if refused is not None else []).append)


async def test_a_refused_refresh_falls_back_to_the_credentials() -> None:
    gateway = Gateway(login(1), PulseRpcError(13009, "invalid refresh token"), login(2))
    keeper = tokens(gateway)
    await keeper.authenticate(1e9)
    await keeper.authenticate(1e9)
    assert gateway.grants == ["client_credentials", "refresh_token", "client_credentials"]
    assert keeper.token is not None
    assert keeper.token.access_token == "access-0002"
    assert keeper.renewals == 2


async def test_refused_credentials_are_final_and_reported_once() -> None:
    refused: list[AuthError] = []
    keeper = tokens(Gateway(PulseRpcError(13004, "invalid_credentials")), refused)
    with pytest.raises(AuthError, match="credentials refused"):
        await keeper.authenticate(1e9)
    assert len(refused) == 1
    assert "secret-1234" not in str(refused[0])


async def test_a_busy_gateway_is_not_a_refusal() -> None:
    refused: list[AuthError] = []
    keeper = tokens(Gateway(PulseRpcError(10028, "too_many_requests")), refused)
    with pytest.raises(TransportError, match="busy"):
        await keeper.authenticate(1e9)
    assert refused == []


async def test_concurrent_renewals_share_one_login() -> None:
    gateway = Gateway(login(1))
    keeper = tokens(gateway)
    await asyncio.gather(*(keeper.renew(1e9) for _ in range(10)))
    assert gateway.grants == ["client_credentials"]


async def test_received_tokens_are_redacted_at_once() -> None:
    redactor = Redactor(["secret-1234"])
    keeper = tokens(Gateway(login(7)), redactor=redactor)
    await keeper.ensure(1e9)
    text = redactor.redact("sent access-0007 and refresh-0007 with secret-1234")
    assert "access-0007" not in text
    assert "refresh-0007" not in text
    assert "secret-1234" not in text
    assert "access-0007" not in repr(keeper)


async def test_a_lapsed_token_is_renewed_by_ensure() -> None:
    gateway = Gateway(login(1, expires_in=0), login(2))
    keeper = tokens(gateway)
    await keeper.ensure(1e9)
    assert keeper.lapsed()
    await keeper.ensure(1e9)
    assert keeper.token is not None
    assert keeper.token.access_token == "access-0002"
    assert not keeper.lapsed()
