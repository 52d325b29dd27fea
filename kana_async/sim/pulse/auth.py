"""The gateway's authentication: the three ``public/auth`` grants, tokens, their lifetimes.

A ``client_id`` is registered the first time it authenticates with ``client_credentials``,
with the secret it gave; a later login with another secret is refused. ``client_signature``
checks lower-case hex HMAC-SHA256 keyed with the secret over ``timestamp\\nnonce\\ndata``
(Deribit's formula), refusing a stale timestamp or a nonce seen before. Tokens are random,
expire, and can be revoked one by one, per client or all at once (a fault control).

Every store is bounded. Secrets and tokens never appear in error texts or reprs: reasons name
the parameter and the rule, never the value.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import Code, PulseError

__all__ = ["GRANTS", "SCOPE", "Authenticator", "signature"]

GRANTS = ("client_credentials", "client_signature", "refresh_token")
SCOPE = "connection mainaccount"
#: Longest client id, secret, nonce, data or token accepted (keeps every store small).
MAX_FIELD = 256


def signature(secret: str, timestamp: int, nonce: str, data: str) -> str:
    """The ``client_signature`` a client holding ``secret`` sends (AU1)."""
    message = f"{timestamp}\n{nonce}\n{data}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@dataclass(slots=True)
class _Grant:
    client_id: str
    expires_at: float       # clock seconds
    pair: str               # the access token of a refresh token, and the other way round


class Authenticator:
    """Registers clients and issues, checks and revokes their tokens. Pure but for the clock."""

    def __init__(self, clock: Callable[[], float], *, token_lifetime: float = 900.0,
                 refresh_lifetime: float = 86400.0, signature_window_ms: int = 60_000,
                 max_clients: int = 10_000, max_tokens: int = 100_000,
                 max_nonces: int = 100_000) -> None:
        if token_lifetime <= 0 or refresh_lifetime <= 0:
            raise ValueError("token lifetimes must be > 0 seconds")
        if min(signature_window_ms, max_clients, max_tokens, max_nonces) < 1:
            raise ValueError("the signature window and the store sizes must be >= 1")
        self._clock = clock
        self.token_lifetime = token_lifetime
        self.refresh_lifetime = refresh_lifetime
        self.signature_window_ms = signature_window_ms
        self.max_clients = max_clients
        self.max_tokens = max_tokens
        self.max_nonces = max_nonces
        self._secrets: dict[str, str] = {}
        self._access: OrderedDict[str, _Grant] = OrderedDict()
        self._refresh: OrderedDict[str, _Grant] = OrderedDict()
        self._nonces: OrderedDict[tuple[str, str, int | None], int] = OrderedDict()

    def __repr__(self) -> str:
        return (f"Authenticator(clients={len(self._secrets)}, tokens={len(self._access)}, "
                f"token_lifetime={self.token_lifetime})")

    # -- queries ---------------------------------------------------------------------------------

    def registered(self, client_id: str) -> bool:
        """Whether ``client_id`` is registered (its first ``client_credentials`` login set its
        secret)."""
        return client_id in self._secrets

    @property
    def token_count(self) -> int:
        """How many access and refresh tokens are live (memory stays bounded)."""
        return len(self._access) + len(self._refresh)

    @property
    def nonce_count(self) -> int:
        """How many signature nonces are remembered (to refuse a replayed one)."""
        return len(self._nonces)

    def client_of(self, token: str) -> str:
        """The client an access token belongs to; 13009 if unknown, expired or revoked."""
        grant = self._access.get(token) if isinstance(token, str) else None
        if grant is None:
            raise PulseError(Code.UNAUTHORIZED, "the access token is unknown or was revoked")
        if grant.expires_at <= self._clock():
            self._drop_access(token)
            raise PulseError(Code.UNAUTHORIZED, "the access token has expired")
        return grant.client_id

    # -- login -----------------------------------------------------------------------------------

    def login(self, params: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
        """``public/auth``: the document's ``services.LoginResponse`` and the client it names."""
        grant_type = params.get("grant_type")
        if grant_type is None:
            raise PulseError(Code.VALUE_REQUIRED, "grant_type is required", param="grant_type")
        if grant_type not in GRANTS:
            raise PulseError(Code.INVALID_ARGUMENTS,
                             f"grant_type must be one of {', '.join(GRANTS)}", param="grant_type")
        if grant_type == "client_credentials":
            client_id = self._credentials(params)
        elif grant_type == "client_signature":
            client_id = self._signature(params)
        else:
            client_id = self._refreshed(params)
        return self._issue(client_id), client_id

    def _credentials(self, params: Mapping[str, Any]) -> str:
        client_id = _text(params, "client_id")
        secret = _text(params, "client_secret")
        known = self._secrets.get(client_id)
        if known is None:
            if len(self._secrets) >= self.max_clients:
                raise PulseError(Code.FORBIDDEN, f"the gateway already registered its maximum of "
                                 f"{self.max_clients} clients", param="client_id")
            self._secrets[client_id] = secret
        elif not hmac.compare_digest(known.encode(), secret.encode()):
            raise PulseError(Code.INVALID_CREDENTIALS,
                             "client_secret does not match the one this client_id registered with",
                             param="client_secret")
        return client_id

    def _signature(self, params: Mapping[str, Any]) -> str:
        client_id = _text(params, "client_id")
        timestamp = params.get("timestamp")
        if timestamp is None:
            raise PulseError(Code.VALUE_REQUIRED, "timestamp is required", param="timestamp")
        if isinstance(timestamp, bool) or not isinstance(timestamp, int):
            raise PulseError(Code.INVALID_ARGUMENTS, "timestamp must be an integer (ms)",
                             param="timestamp")
        sig = _text(params, "signature")
        nonce = _text(params, "nonce", required=False)
        data = _text(params, "data", required=False)
        secret = self._secrets.get(client_id)
        if secret is None:
            raise PulseError(Code.INVALID_CREDENTIALS, "client_id is not registered: log in with "
                             "client_credentials first", param="client_id")
        now_ms = int(self._clock() * 1000)
        if abs(now_ms - timestamp) > self.signature_window_ms:
            raise PulseError(Code.INVALID_CREDENTIALS,
                             f"timestamp is more than {self.signature_window_ms} ms away from the "
                             "gateway's clock", param="timestamp")
        expected = signature(secret, timestamp, nonce, data)
        if not hmac.compare_digest(expected.encode(), sig.encode()):
            raise PulseError(Code.INVALID_CREDENTIALS, "signature does not match "
                             "HMAC-SHA256(secret, timestamp\\nnonce\\ndata) in lower-case hex",
                             param="signature")
        # A nonce is single-use; without one the signed timestamp itself is.
        key = (client_id, nonce, None if nonce else timestamp)
        self._forget_nonces(now_ms)
        if key in self._nonces:
            raise PulseError(Code.INVALID_CREDENTIALS, "nonce was already used", param="nonce")
        if len(self._nonces) >= self.max_nonces:
            raise PulseError(Code.TOO_MANY_REQUESTS, "too many signed logins within the "
                             "signature window; retry later")
        self._nonces[key] = timestamp
        return client_id

    def _refreshed(self, params: Mapping[str, Any]) -> str:
        token = _text(params, "refresh_token")
        grant = self._refresh.get(token)
        if grant is None:
            raise PulseError(Code.UNAUTHORIZED, "refresh_token is unknown, used or revoked",
                             param="refresh_token")
        del self._refresh[token]  # single use: a new pair replaces it
        if grant.expires_at <= self._clock():
            raise PulseError(Code.UNAUTHORIZED, "refresh_token has expired", param="refresh_token")
        return grant.client_id

    def _issue(self, client_id: str) -> dict[str, Any]:
        now = self._clock()
        self._make_room(now)
        access = secrets.token_urlsafe(32)
        refresh = secrets.token_urlsafe(32)
        self._access[access] = _Grant(client_id, now + self.token_lifetime, refresh)
        self._refresh[refresh] = _Grant(client_id, now + self.refresh_lifetime, access)
        return {
            "access_token": access,
            "expires_in": max(1, int(self.token_lifetime)),
            "refresh_token": refresh,
            "scope": SCOPE,
            "token_type": "bearer",
        }

    # -- revocation ------------------------------------------------------------------------------

    def revoke(self, token: str) -> None:
        """Invalidate an access token and the refresh token issued with it (logout)."""
        grant = self._access.pop(token, None)
        if grant is not None:
            self._refresh.pop(grant.pair, None)

    def revoke_client(self, client_id: str) -> None:
        """Revoke every token of ``client_id``: its next private call is refused 13009."""
        for store in (self._access, self._refresh):
            for token in [t for t, g in store.items() if g.client_id == client_id]:
                del store[token]

    def unregister(self, client_id: str) -> None:
        """Forget a client, its secret and its tokens (a login the engine refused)."""
        self.revoke_client(client_id)
        self._secrets.pop(client_id, None)

    def revoke_all(self) -> None:
        """Every token stops working at once; clients stay registered (a fault control)."""
        self._access.clear()
        self._refresh.clear()

    # -- bounds ----------------------------------------------------------------------------------

    def _drop_access(self, token: str) -> None:
        self._access.pop(token, None)

    def _make_room(self, now: float) -> None:
        """Drop expired tokens, then the oldest, so at most ``max_tokens`` of each kind live."""
        for store in (self._access, self._refresh):
            if len(store) < self.max_tokens:
                continue
            for token in [t for t, g in store.items() if g.expires_at <= now]:
                del store[token]
            while len(store) >= self.max_tokens:
                store.popitem(last=False)

    def _forget_nonces(self, now_ms: int) -> None:
        """A nonce older than the window can no longer be replayed: its timestamp is stale."""
        while self._nonces:
            key, stamp = next(iter(self._nonces.items()))
            if now_ms - stamp <= self.signature_window_ms:
                break
            del self._nonces[key]


def _text(params: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    value = params.get(name)
    if value is None:
        if required:
            raise PulseError(Code.VALUE_REQUIRED, f"{name} is required", param=name)
        return ""
    if not isinstance(value, str):
        raise PulseError(Code.INVALID_ARGUMENTS, f"{name} must be a string", param=name)
    if required and not value:
        raise PulseError(Code.VALUE_REQUIRED, f"{name} must not be empty", param=name)
    if len(value) > MAX_FIELD:
        raise PulseError(Code.INVALID_ARGUMENTS, f"{name} must be at most {MAX_FIELD} characters",
                         param=name)
    return value
