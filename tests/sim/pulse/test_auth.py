"""The gateway's authenticator: the three grants, token lifetimes, revocation, bounds, secrecy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kana_async.sim.pulse.auth import SCOPE, Authenticator, signature
from kana_async.sim.pulse.errors import Code, PulseError
from tests.sim.pulse.engines import Clock

FIXTURES = Path(__file__).parent / "fixtures"
START = 1_700_000_000.0


def creds(client_id: str = "alice", secret: str = "s3cret-value") -> dict[str, Any]:
    return {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}


def refused(code: Code, call: Any, *args: Any) -> PulseError:
    with pytest.raises(PulseError) as info:
        call(*args)
    assert info.value.code == code, info.value
    return info.value


def test_client_credentials_registers_then_requires_the_same_secret() -> None:
    auth = Authenticator(Clock())
    result, client = auth.login(creds())
    assert client == "alice"
    assert auth.registered("alice")
    assert set(result) == {"access_token", "expires_in", "refresh_token", "scope", "token_type"}
    assert result["scope"] == SCOPE
    assert result["token_type"] == "bearer"
    assert result["expires_in"] == 900
    assert auth.client_of(result["access_token"]) == "alice"
    again, _ = auth.login(creds())
    assert again["access_token"] != result["access_token"]
    error = refused(Code.INVALID_CREDENTIALS, auth.login, creds(secret="another-one"))
    assert error.param == "client_secret"


def test_the_login_result_has_the_fields_of_the_document() -> None:
    doc = json.loads((FIXTURES / "public.auth.json").read_text())
    result, _ = Authenticator(Clock()).login(doc["derived_not_in_doc"]["ws_request"]["params"])
    assert set(result) == set(doc["response_200_example"])
    assert all(type(result[k]) is type(v) for k, v in doc["response_200_example"].items())


def test_an_access_token_expires_after_its_lifetime() -> None:
    clock = Clock()
    auth = Authenticator(clock, token_lifetime=2.5)
    result, _ = auth.login(creds())
    assert result["expires_in"] == 2   # whole seconds, never more than the real lifetime
    clock.now += 2.4
    assert auth.client_of(result["access_token"]) == "alice"
    clock.now += 0.1
    refused(Code.UNAUTHORIZED, auth.client_of, result["access_token"])


def test_a_lifetime_below_one_second_still_says_one() -> None:
    result, _ = Authenticator(Clock(), token_lifetime=0.2).login(creds())
    assert result["expires_in"] == 1


def test_refresh_token_grant_issues_a_new_pair_and_is_single_use() -> None:
    clock = Clock()
    auth = Authenticator(clock, token_lifetime=10, refresh_lifetime=100)
    first, _ = auth.login(creds())
    clock.now += 50  # the access token lapsed, the refresh token did not
    refused(Code.UNAUTHORIZED, auth.client_of, first["access_token"])
    grant = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    second, client = auth.login(grant)
    assert client == "alice"
    assert auth.client_of(second["access_token"]) == "alice"
    assert second["refresh_token"] != first["refresh_token"]
    refused(Code.UNAUTHORIZED, auth.login, grant)


def test_an_expired_refresh_token_is_refused() -> None:
    clock = Clock()
    auth = Authenticator(clock, refresh_lifetime=100)
    first, _ = auth.login(creds())
    clock.now += 100
    refused(Code.UNAUTHORIZED, auth.login,
            {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})


def test_client_signature_matches_the_documents_example() -> None:
    """The fixture's signed request (secret ``example_client_secret``) is accepted."""
    doc = json.loads((FIXTURES / "public.auth.json").read_text())
    derived = doc["derived_not_in_doc"]
    params = derived["ws_request_other_grants"]["client_signature"]["params"]
    auth = Authenticator(Clock(params["timestamp"] / 1000))
    auth.login(derived["ws_request"]["params"])  # registers example_client_id
    assert signature("example_client_secret", params["timestamp"], params["nonce"],
                     params["data"]) == params["signature"]
    _, client = auth.login(params)
    assert client == "example_client_id"
    refused(Code.INVALID_CREDENTIALS, auth.login, params)  # the nonce was used


def signed(auth_clock: Clock, nonce: str, *, secret: str = "s3cret-value",
           offset_ms: int = 0, data: str = "") -> dict[str, Any]:
    timestamp = int(auth_clock.now * 1000) + offset_ms
    return {"grant_type": "client_signature", "client_id": "alice", "timestamp": timestamp,
            "nonce": nonce, "data": data,
            "signature": signature(secret, timestamp, nonce, data)}


def test_client_signature_refusals() -> None:
    clock = Clock()
    auth = Authenticator(clock, signature_window_ms=60_000)
    refused(Code.INVALID_CREDENTIALS, auth.login, signed(clock, "n0"))  # not registered
    auth.login(creds())
    assert auth.login(signed(clock, "n1"))[1] == "alice"
    assert auth.login(signed(clock, "n2", offset_ms=-59_000, data="x"))[1] == "alice"
    error = refused(Code.INVALID_CREDENTIALS, auth.login, signed(clock, "n3", offset_ms=-61_000))
    assert error.param == "timestamp"
    refused(Code.INVALID_CREDENTIALS, auth.login, signed(clock, "n4", offset_ms=61_000))
    error = refused(Code.INVALID_CREDENTIALS, auth.login, signed(clock, "n5", secret="wrong"))
    assert error.param == "signature"
    tampered = signed(clock, "n6") | {"data": "changed"}
    refused(Code.INVALID_CREDENTIALS, auth.login, tampered)
    refused(Code.INVALID_CREDENTIALS, auth.login, signed(clock, "n1"))  # reused nonce


def test_without_a_nonce_the_signed_timestamp_is_single_use() -> None:
    clock = Clock()
    auth = Authenticator(clock)
    auth.login(creds())
    request = signed(clock, "")
    del request["nonce"]
    request["signature"] = signature("s3cret-value", request["timestamp"], "", "")
    assert auth.login(request)[1] == "alice"
    refused(Code.INVALID_CREDENTIALS, auth.login, request)


def test_the_nonce_store_is_bounded_and_forgets_stale_nonces() -> None:
    clock = Clock()
    auth = Authenticator(clock, signature_window_ms=1000, max_nonces=2)
    auth.login(creds())
    auth.login(signed(clock, "a"))
    auth.login(signed(clock, "b"))
    refused(Code.TOO_MANY_REQUESTS, auth.login, signed(clock, "c"))
    assert auth.nonce_count == 2
    clock.now += 1.5  # a and b can no longer be replayed: their timestamps are stale
    auth.login(signed(clock, "c"))
    assert auth.nonce_count == 1


def test_grant_fields_are_checked() -> None:
    auth = Authenticator(Clock())
    refused(Code.VALUE_REQUIRED, auth.login, {})
    refused(Code.INVALID_ARGUMENTS, auth.login, {"grant_type": "password"})
    error = refused(Code.VALUE_REQUIRED, auth.login, {"grant_type": "client_credentials",
                                                      "client_id": "alice"})
    assert error.param == "client_secret"
    refused(Code.VALUE_REQUIRED, auth.login, creds(client_id=""))
    refused(Code.INVALID_ARGUMENTS, auth.login, creds() | {"client_id": 7})
    refused(Code.INVALID_ARGUMENTS, auth.login, creds(client_id="x" * 257))
    auth.login(creds())
    refused(Code.VALUE_REQUIRED, auth.login, {"grant_type": "client_signature",
                                              "client_id": "alice"})
    refused(Code.INVALID_ARGUMENTS, auth.login, {"grant_type": "client_signature",
                                                 "client_id": "alice", "timestamp": "now"})
    refused(Code.VALUE_REQUIRED, auth.login, {"grant_type": "refresh_token"})
    refused(Code.UNAUTHORIZED, auth.login, {"grant_type": "refresh_token",
                                            "refresh_token": "nope"})


def test_revoke_one_token_a_client_or_all() -> None:
    auth = Authenticator(Clock())
    a1, _ = auth.login(creds())
    a2, _ = auth.login(creds())
    b1, _ = auth.login(creds("bob", "bobs-secret"))
    auth.revoke(a1["access_token"])
    refused(Code.UNAUTHORIZED, auth.client_of, a1["access_token"])
    refused(Code.UNAUTHORIZED, auth.login, {"grant_type": "refresh_token",
                                            "refresh_token": a1["refresh_token"]})
    assert auth.client_of(a2["access_token"]) == "alice"
    auth.revoke_client("alice")
    refused(Code.UNAUTHORIZED, auth.client_of, a2["access_token"])
    assert auth.client_of(b1["access_token"]) == "bob"
    auth.revoke_all()
    refused(Code.UNAUTHORIZED, auth.client_of, b1["access_token"])
    assert auth.token_count == 0
    auth.login(creds("bob", "bobs-secret"))  # clients stay registered, with their secrets
    refused(Code.INVALID_CREDENTIALS, auth.login, creds("bob", "other"))


def test_stores_are_bounded() -> None:
    auth = Authenticator(Clock(), max_tokens=3, max_clients=2)
    tokens = [auth.login(creds())[0]["access_token"] for _ in range(10)]
    assert auth.token_count <= 6
    assert auth.client_of(tokens[-1]) == "alice"
    refused(Code.UNAUTHORIZED, auth.client_of, tokens[0])  # the oldest made room
    auth.login(creds("bob", "x"))
    error = refused(Code.FORBIDDEN, auth.login, creds("carol", "y"))
    assert "2 clients" in error.reason


def test_secrets_and_tokens_never_appear_in_errors_or_reprs() -> None:
    auth = Authenticator(Clock())
    result, _ = auth.login(creds(secret="hunter2-secret"))
    texts: list[str] = [repr(auth)]
    for call, arg in [
        (auth.login, creds(secret="wrong-secret-zz")),
        (auth.login, {"grant_type": "refresh_token", "refresh_token": "rt-secret-zz"}),
        (auth.client_of, "tok-secret-zz"),
    ]:
        with pytest.raises(PulseError) as info:
            call(arg)  # type: ignore[operator]
        texts += [str(info.value), json.dumps(info.value.rpc_error()),
                  json.dumps(info.value.http_body())]
    joined = "\n".join(texts)
    for secret in ("hunter2", "wrong-secret", "rt-secret", "tok-secret",
                   result["access_token"], result["refresh_token"]):
        assert secret not in joined


def test_constructor_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="lifetimes"):
        Authenticator(Clock(), token_lifetime=0)
    with pytest.raises(ValueError, match="store sizes"):
        Authenticator(Clock(), max_tokens=0)


def test_unregister_forgets_the_secret_and_the_tokens() -> None:
    auth = Authenticator(Clock())
    result, _ = auth.login(creds())
    auth.unregister("alice")
    assert not auth.registered("alice")
    refused(Code.UNAUTHORIZED, auth.client_of, result["access_token"])
    auth.login(creds(secret="a-new-secret"))  # the id can register again
