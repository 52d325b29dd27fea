"""Pulse auth values: grant parameters (AU1), token lifetimes (AU3), secrets kept out of texts
(AU7). The signature is checked against the simulator's own verifier."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from decimal import Decimal

import pytest

from kana_async.errors import ValidationError
from kana_async.pulse.auth import (
    SUSPECT_REFRESH_AFTER,
    Credentials,
    Redactor,
    TokenState,
    grant_params,
    new_nonce,
    redact,
    refresh_params,
    signature,
)
from kana_async.sim.pulse.auth import Authenticator

SECRET = "s3cr3t-value-0123456789"
CREDS = Credentials("bot-1", SECRET)


@dataclass(frozen=True)
class Login:
    access_token: str | None = "access-token-abcdef"
    refresh_token: str | None = "refresh-token-uvwxyz"
    expires_in: int | float | Decimal | None = 900


def test_credentials_repr_hides_the_secret() -> None:
    for text in (repr(CREDS), str(CREDS), f"{CREDS}", repr([CREDS])):
        assert SECRET not in text
        assert "bot-1" in text


@pytest.mark.parametrize(
    ("client_id", "client_secret", "param"),
    [("", SECRET, "client_id"), ("bot", "", "client_secret"), ("bot", " x", "client_secret"),
     ("bot\n", SECRET, "client_id"), ("bot", "x" * 300, "client_secret"),
     ("bot", 5, "client_secret")],
)
def test_credentials_are_checked_without_echoing_them(client_id: str, client_secret: str,
                                                      param: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Credentials(client_id, client_secret)
    assert caught.value.param == param
    if isinstance(client_secret, str) and len(client_secret) > 1:
        assert client_secret.strip() not in str(caught.value)


def test_client_credentials_sends_only_its_fields() -> None:
    assert grant_params("client_credentials", CREDS, now_ms=1, nonce="n") == {
        "grant_type": "client_credentials", "client_id": "bot-1", "client_secret": SECRET}


def test_client_signature_never_sends_the_secret_and_follows_the_formula() -> None:
    params = grant_params("client_signature", CREDS, now_ms=1_700_000_000_123, nonce="abc123",
                          data="extra")
    assert set(params) == {"grant_type", "client_id", "timestamp", "signature", "nonce", "data"}
    assert SECRET not in repr(params)
    expected = hmac.new(SECRET.encode(), b"1700000000123\nabc123\nextra",
                        hashlib.sha256).hexdigest()
    assert params["signature"] == expected
    assert params["signature"] == params["signature"].lower()
    assert (params["timestamp"], params["nonce"], params["data"]) == (1_700_000_000_123,
                                                                      "abc123", "extra")


def test_the_simulators_gateway_accepts_the_signature() -> None:
    now = 1_700_000_000.0
    gateway = Authenticator(lambda: now)
    gateway.login(grant_params("client_credentials", CREDS, now_ms=0, nonce="x"))
    result, client = gateway.login(grant_params("client_signature", CREDS,
                                                now_ms=int(now * 1000), nonce=new_nonce()))
    assert client == "bot-1"
    assert result["access_token"]
    renewed, _ = gateway.login(refresh_params(result["refresh_token"]))
    assert renewed["access_token"] != result["access_token"]


def test_nonces_are_fresh() -> None:
    nonces = {new_nonce() for _ in range(100)}
    assert len(nonces) == 100


def test_signature_of_empty_data() -> None:
    assert signature("k", 5, "n") == hmac.new(b"k", b"5\nn\n", hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("grant", "kwargs", "param"),
    [("password", {}, "grant"), ("refresh_token", {}, "grant"),
     ("client_signature", {"now_ms": -1}, "now_ms"),
     ("client_signature", {"now_ms": True}, "now_ms"),
     ("client_signature", {"nonce": ""}, "nonce"),
     ("client_signature", {"data": "x" * 300}, "data")],
)
def test_bad_grant_arguments_name_the_rule(grant: str, kwargs: dict[str, object],
                                           param: str) -> None:
    args: dict[str, object] = {"now_ms": 1, "nonce": "n", **kwargs}
    with pytest.raises(ValidationError) as caught:
        grant_params(grant, CREDS, **args)  # type: ignore[arg-type]
    assert caught.value.param == param
    assert SECRET not in str(caught.value)


def test_refresh_params() -> None:
    assert refresh_params("r-token") == {"grant_type": "refresh_token",
                                         "refresh_token": "r-token"}
    with pytest.raises(ValidationError, match="refresh_token"):
        refresh_params("")


@pytest.mark.parametrize(
    ("expires_in", "refresh_after", "lapses_after"),
    [(900, 675.0, 900.0), (4, 3.0, 4.0), (Decimal("2.5"), 1.875, 2.5), (0, 0.0, 0.0),
     (-5, 0.0, 0.0)],
)
def test_refresh_at_three_quarters_of_the_lifetime(expires_in: int | Decimal,
                                                   refresh_after: float,
                                                   lapses_after: float) -> None:
    state = TokenState.from_login(Login(expires_in=expires_in), received_at=1000.0)
    assert state.refresh_at() == pytest.approx(1000.0 + refresh_after)
    assert state.refresh_at(2000.0) == pytest.approx(2000.0 + refresh_after)
    assert not state.suspect
    assert state.expires_at == pytest.approx(1000.0 + lapses_after)
    assert state.expired(1000.0 + lapses_after)
    if lapses_after > 0:
        assert not state.expired(1000.0 + lapses_after * 0.99)
    assert 0.7 * lapses_after <= refresh_after <= 0.8 * lapses_after


@pytest.mark.parametrize("expires_in", [1_516_239_022, None, float("nan"), float("inf")])
def test_a_suspect_lifetime_refreshes_early_and_is_never_known_expired(
        expires_in: int | float | None) -> None:
    state = TokenState.from_login(Login(expires_in=expires_in), received_at=50.0)
    assert state.suspect
    assert state.refresh_at() == 50.0 + SUSPECT_REFRESH_AFTER
    assert not state.expired(50.0 + 10**6)


def test_token_state_reprs_hide_tokens() -> None:
    login = Login()
    state = TokenState.from_login(login, received_at=0.0)
    assert state.access_token == "access-token-abcdef"
    assert state.refresh_token == "refresh-token-uvwxyz"
    for text in (repr(state), str(state)):
        assert "access-token" not in text
        assert "refresh-token" not in text
    assert state.secrets() == ("access-token-abcdef", "refresh-token-uvwxyz")


def test_a_login_without_access_token_is_refused() -> None:
    with pytest.raises(ValidationError, match="access token"):
        TokenState.from_login(Login(access_token=None), received_at=0.0)
    state = TokenState.from_login(Login(refresh_token=""), received_at=0.0)
    assert state.refresh_token is None
    assert state.secrets() == ("access-token-abcdef",)


def test_the_login_response_model_is_read() -> None:
    models = pytest.importorskip("kana_async.models.pulse")
    response = models.LoginResponse(access_token="tok-aaaa", refresh_token="ref-bbbb",
                                     expires_in=10, scope="connection", token_type="bearer")
    state = TokenState.from_login(response, received_at=0.0)
    assert state.refresh_at() == pytest.approx(7.5)


def test_redact_removes_known_secrets_and_named_values() -> None:
    text = (f"auth failed for client_secret={SECRET}&client_id=bot-1, token "
            'access-token-abcdef; body {"refresh_token": "zzz-unknown-token", "x": 1} '
            "Authorization: Bearer bearer-value-123")
    cleaned = redact(text, [SECRET, "access-token-abcdef"])
    for secret in (SECRET, "access-token-abcdef", "zzz-unknown-token", "bearer-value-123"):
        assert secret not in cleaned
    assert "client_id=bot-1" in cleaned
    assert '"x": 1' in cleaned


def test_redact_leaves_text_without_secrets_alone() -> None:
    text = "private/buy failed: not_enough_funds (amount 10)"
    assert redact(text, ["abc", "zz"]) == text  # too short to be searched for


def test_redactor_keeps_the_secret_and_a_bounded_number_of_tokens() -> None:
    redactor = Redactor([SECRET, None], limit=2)
    redactor.add("token-one", "token-two", None, "ab")
    assert len(redactor) == 3
    redactor.add("token-three")
    assert len(redactor) == 3
    cleaned = redactor.redact(f"{SECRET} token-one token-two token-three")
    assert SECRET not in cleaned
    assert "token-one" in cleaned  # forgotten: the oldest token
    assert "token-two" not in cleaned
    assert "token-three" not in cleaned
    assert "3" in repr(redactor)
    assert "token" not in repr(redactor)


@pytest.mark.parametrize("grant", ["client_credentials", "client_signature"])
def test_grant_params_send_exactly_the_fields_the_grant_table_names(grant: str) -> None:
    from kana_async.pulse.auth import GRANT_FIELDS, Credentials, grant_params

    sent = grant_params(grant, Credentials("bot", "s3cret-value"), now_ms=1, nonce="n1")
    required, optional = GRANT_FIELDS[grant]
    assert set(required) <= set(sent) - {"grant_type"} <= set(required) | set(optional)
