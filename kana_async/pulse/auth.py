"""Pulse authentication values: credentials, ``public/auth`` parameters, token lifetimes. Pure.

- :class:`Credentials` hides the secret from its repr.
- :func:`grant_params` builds the parameters of one grant, and only those (AU1):
  ``client_credentials`` sends the secret; ``client_signature`` sends a lower-case hex
  HMAC-SHA256 keyed with the secret over ``timestamp + "\\n" + nonce + "\\n" + data``, never the
  secret itself. :func:`refresh_params` renews with a refresh token.
- :class:`TokenState` says when to refresh (at 75 % of ``expires_in``, read as seconds; a
  lifetime above 10^9 is an epoch by mistake, so the token is refreshed after a minute) and
  when the token is known to have lapsed (AU3).
- :class:`Redactor` removes known secrets and tokens from any text before it is logged or
  raised (AU7).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, Protocol

from ..errors import ValidationError

__all__ = [
    "GRANTS",
    "GRANT_FIELDS",
    "REFRESH_FRACTION",
    "SECRET_FIELDS",
    "SUSPECT_EXPIRES_IN",
    "SUSPECT_REFRESH_AFTER",
    "Credentials",
    "Grant",
    "LoginResult",
    "Redactor",
    "TokenState",
    "grant_params",
    "new_nonce",
    "redact",
    "refresh_params",
    "signature",
]

Grant = Literal["client_credentials", "client_signature"]
#: The grants a client logs in with (``refresh_token`` renews, see :func:`refresh_params`).
GRANTS: tuple[Grant, ...] = ("client_credentials", "client_signature")

#: AU1: the ``public/auth`` fields each grant sends (besides ``grant_type``), required first:
#: what :func:`grant_params` builds and what ``PulseClient.auth()`` accepts.
GRANT_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "client_credentials": (("client_id", "client_secret"), ()),
    "client_signature": (("client_id", "timestamp", "signature"), ("nonce", "data")),
    "refresh_token": (("refresh_token",), ()),
}

#: Fields whose values are secret: never shown in an error (AU7).
SECRET_FIELDS = frozenset({"client_secret", "refresh_token", "signature"})

#: Share of a token's lifetime after which it is refreshed (AU3: 70-80 %).
REFRESH_FRACTION = 0.75
#: An ``expires_in`` above this is not a lifetime in seconds (the document's example is an
#: epoch): refresh after :data:`SUSPECT_REFRESH_AFTER` seconds instead.
SUSPECT_EXPIRES_IN = 10**9
SUSPECT_REFRESH_AFTER = 60.0

#: Longest client id, secret, token, nonce or data accepted (the gateway refuses longer ones).
MAX_FIELD = 256
#: Secrets shorter than this are not searched for in texts (they would redact common words).
_MIN_REDACTED = 4
_HIDDEN = "***"
#: ``name=value`` and ``"name": "value"`` of the secret-bearing parameters, redacted by name
#: even when the value is not known (a token from a server's echo, a secret from a URL).
_NAMED = re.compile(
    r"""(?P<key>["']?(?:access_token|refresh_token|client_secret|signature|token)["']?"""
    r"""\s*[:=]\s*["']?)(?P<value>[^\s"'&,;}]+)""",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?P<key>\bBearer\s+)(?P<value>[^\s\"',;}]+)", re.IGNORECASE)


def _text(param: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError(param, "must be a non-empty string")
    if len(value) > MAX_FIELD:
        raise ValidationError(param, f"must be at most {MAX_FIELD} characters")
    if value != value.strip() or any(ch in value for ch in "\r\n\t"):
        raise ValidationError(param, "must not hold whitespace at its ends or line breaks")
    return value


@dataclass(frozen=True, slots=True)
class Credentials:
    """A Pulse API key pair. The secret never shows in reprs."""

    client_id: str
    client_secret: str = field(repr=False)

    def __post_init__(self) -> None:
        _text("client_id", self.client_id)
        _text("client_secret", self.client_secret)

    def __repr__(self) -> str:
        return f"Credentials(client_id={self.client_id!r}, client_secret=<hidden>)"


def new_nonce() -> str:
    """A fresh random nonce for ``client_signature`` (the gateway refuses a reused one)."""
    return secrets.token_hex(16)


def signature(secret: str, timestamp: int, nonce: str, data: str = "") -> str:
    """Lower-case hex HMAC-SHA256 keyed with ``secret`` over ``timestamp\\nnonce\\ndata``."""
    message = f"{timestamp}\n{nonce}\n{data}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def grant_params(grant: str, credentials: Credentials, *, now_ms: int, nonce: str,
                 data: str = "") -> dict[str, Any]:
    """The ``public/auth`` parameters of ``grant`` and only those: the secret is sent with
    ``client_credentials`` only. ``now_ms`` (epoch milliseconds) and ``nonce`` are used by
    ``client_signature`` (pass :func:`new_nonce`)."""
    if grant == "client_credentials":
        return {"grant_type": grant, "client_id": credentials.client_id,
                "client_secret": credentials.client_secret}
    if grant == "client_signature":
        if isinstance(now_ms, bool) or not isinstance(now_ms, int) or now_ms < 0:
            raise ValidationError("now_ms", "must be an integer count of milliseconds >= 0",
                                  now_ms)
        _text("nonce", nonce)
        if not isinstance(data, str) or len(data) > MAX_FIELD:
            raise ValidationError("data", f"must be a string of at most {MAX_FIELD} characters")
        return {"grant_type": grant, "client_id": credentials.client_id, "timestamp": now_ms,
                "signature": signature(credentials.client_secret, now_ms, nonce, data),
                "nonce": nonce, "data": data}
    if grant == "refresh_token":
        raise ValidationError("grant", "refresh_token renews a session: use refresh_params")
    raise ValidationError("grant", f"must be one of {', '.join(GRANTS)}", grant)


def refresh_params(refresh_token: str) -> dict[str, Any]:
    """The ``public/auth`` parameters that renew a session with its refresh token."""
    _text("refresh_token", refresh_token)
    return {"grant_type": "refresh_token", "refresh_token": refresh_token}


class LoginResult(Protocol):
    """What :class:`TokenState` reads of a decoded ``LoginResponse``."""

    @property
    def access_token(self) -> str | None: ...

    @property
    def refresh_token(self) -> str | None: ...

    @property
    def expires_in(self) -> int | float | Decimal | None: ...


@dataclass(frozen=True, slots=True)
class TokenState:
    """The tokens of one login and when they were received (clock seconds, any monotonic
    clock). Tokens never show in reprs."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    #: The lifetime in seconds as sent; None when absent or unreadable.
    expires_in: float | None
    received_at: float

    @classmethod
    def from_login(cls, result: LoginResult, *, received_at: float) -> TokenState:
        """The state of a ``public/auth`` result; :class:`ValidationError` without an access
        token (nothing could be authorized with it)."""
        access = result.access_token
        if not isinstance(access, str) or not access:
            raise ValidationError("access_token", "a login result must carry an access token")
        refresh = result.refresh_token
        raw = result.expires_in
        expires_in: float | None = None
        if isinstance(raw, (int, float, Decimal)) and not isinstance(raw, bool):
            value = float(raw)
            expires_in = value if math.isfinite(value) else None
        return cls(access, refresh if isinstance(refresh, str) and refresh else None,
                   expires_in, received_at)

    def __repr__(self) -> str:
        return (f"TokenState(expires_in={self.expires_in}, received_at={self.received_at}, "
                f"refresh_token={'yes' if self.refresh_token else 'no'})")

    @property
    def suspect(self) -> bool:
        """True when ``expires_in`` cannot be a lifetime in seconds (absent or above 10^9)."""
        return self.expires_in is None or self.expires_in > SUSPECT_EXPIRES_IN

    def refresh_at(self, received_at: float | None = None) -> float:
        """When to refresh: at 75 % of the lifetime after ``received_at`` (default: when this
        state was received); after a minute when the lifetime is suspect; at once when it is
        not positive."""
        start = self.received_at if received_at is None else received_at
        if self.suspect:
            return start + SUSPECT_REFRESH_AFTER
        assert self.expires_in is not None
        return start + max(0.0, self.expires_in) * REFRESH_FRACTION

    @property
    def expires_at(self) -> float:
        """When the token lapses (infinity when the lifetime is suspect: not known)."""
        if self.suspect:
            return math.inf
        assert self.expires_in is not None
        return self.received_at + max(0.0, self.expires_in)

    def expired(self, now: float) -> bool:
        """True once the token is known to have lapsed: no private call may use it."""
        return now >= self.expires_at

    def secrets(self) -> tuple[str, ...]:
        """The tokens, for a :class:`Redactor`."""
        return (self.access_token,) + ((self.refresh_token,) if self.refresh_token else ())


def redact(text: str, known: Iterable[str] = ()) -> str:
    """``text`` without any of the ``known`` secrets, nor the value of any parameter named
    like a secret (``client_secret=…``, ``"access_token": "…"``, ``Bearer …``)."""
    for secret in sorted({s for s in known if isinstance(s, str) and len(s) >= _MIN_REDACTED},
                         key=len, reverse=True):
        text = text.replace(secret, _HIDDEN)
    text = _NAMED.sub(lambda m: m.group("key") + _HIDDEN, text)
    return _BEARER.sub(lambda m: m.group("key") + _HIDDEN, text)


class Redactor:
    """The secrets one client knows, removed from texts by :meth:`redact`: those given at
    construction (the client secret) for good, the tokens :meth:`add`-ed up to ``limit``, the
    oldest forgotten first (a lapsed token matters less than a bounded memory)."""

    __slots__ = ("_fixed", "_known", "_limit")

    def __init__(self, known: Iterable[str | None] = (), *, limit: int = 64) -> None:
        self._limit = max(1, limit)
        self._fixed = frozenset(s for s in known if isinstance(s, str) and len(s) >= _MIN_REDACTED)
        self._known: dict[str, None] = {}

    def __repr__(self) -> str:
        return f"Redactor(known={len(self)})"

    def __len__(self) -> int:
        return len(self._fixed) + len(self._known)

    def add(self, *secrets_: str | None) -> None:
        """Remember tokens to remove (None and very short values are ignored)."""
        for secret in secrets_:
            if isinstance(secret, str) and len(secret) >= _MIN_REDACTED:
                self._known.pop(secret, None)
                self._known[secret] = None
                while len(self._known) > self._limit:
                    del self._known[next(iter(self._known))]

    def redact(self, text: str) -> str:
        return redact(text, self._fixed.union(self._known))
