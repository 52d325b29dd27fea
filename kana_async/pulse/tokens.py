"""The tokens of one Pulse client: log in, refresh before expiry, and stop on refusal.

:class:`Tokens` is told how to send one ``public/auth`` (over the socket or HTTP, the
session decides) and keeps the rest: a refresh token is tried first and the credentials when
it is refused (AU3); one login runs at a time and concurrent callers wait for it; refused
credentials are final, reported once to ``on_refused`` (AU4); every token it receives is
added to the client's :class:`~.auth.Redactor` before anything could log it (AU7).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from ..errors import AuthError, KanaError, PulseRpcError, TransportError
from ..models.pulse import LoginResponse
from .auth import Credentials, Redactor, TokenState, grant_params, refresh_params

__all__ = ["AuthSender", "Tokens"]

logger = logging.getLogger("kana_async.pulse")

#: ``(params, deadline) -> raw result`` of one ``public/auth``.
AuthSender = Callable[[dict[str, Any], float], Awaitable[Any]]

#: Deribit's too_many_requests: a busy gateway, not a verdict on the credentials.
_TOO_MANY_REQUESTS = 10028
_decode_login = msgspec.json.Decoder(LoginResponse).decode
_monotonic = time.monotonic


class Tokens:
    """Logs one client in and keeps its access token fresh."""

    def __init__(self, credentials: Credentials, grant: str, redactor: Redactor,
                 send: AuthSender, on_refused: Callable[[AuthError], None]) -> None:
        self._credentials = credentials
        self._grant = grant
        self._redactor = redactor
        self._send = send
        self._on_refused = on_refused
        self._login: asyncio.Future[None] | None = None
        #: The current tokens (``None`` before the first login).
        self.token: TokenState | None = None
        #: Logins and refreshes that succeeded.
        self.renewals = 0

    def __repr__(self) -> str:
        return f"Tokens({self._credentials!r}, {self.token!r})"

    def lapsed(self) -> bool:
        """True once the current token is known to have expired (none may use it)."""
        token = self.token
        return token is not None and token.expired(_monotonic())

    def adopt(self, login: LoginResponse) -> None:
        """Keep the tokens of a login made by the caller (``auth()``)."""
        token = TokenState.from_login(login, received_at=_monotonic())
        self._redactor.add(*token.secrets())
        self.token = token

    def forget(self) -> None:
        self.token = None

    def _params(self, refresh: bool) -> dict[str, Any]:
        token = self.token
        if refresh and token is not None and token.refresh_token:
            return refresh_params(token.refresh_token)
        return grant_params(self._grant, self._credentials,
                            now_ms=int(time.time() * 1000), nonce=os.urandom(8).hex())

    async def _login_once(self, params: dict[str, Any], deadline: float) -> None:
        raw = await self._send(params, deadline)
        received = _monotonic()
        login = _decode_login(raw)
        token = TokenState.from_login(login, received_at=received)
        self._redactor.add(*token.secrets())
        self.token = token
        self.renewals += 1

    async def authenticate(self, deadline: float) -> None:
        """Refresh when a refresh token is held, else (or when refused) the credentials.
        Refused credentials raise :class:`AuthError` (and are reported, once)."""
        if self.token is not None:
            try:
                await self._login_once(self._params(True), deadline)
                return
            except PulseRpcError as exc:
                logger.info("Pulse token refresh refused (%s); using the credentials",
                            self._redactor.redact(str(exc)))
        try:
            await self._login_once(self._params(False), deadline)
        except PulseRpcError as exc:
            if exc.code == _TOO_MANY_REQUESTS:  # busy, not a refusal: try again later
                raise TransportError(f"public/auth: the gateway is busy ({exc.code})") from None
            error = AuthError("public/auth", f"credentials refused: "
                              f"{self._redactor.redact(exc.message)} (code {exc.code}); "
                              "not retried")
            self._on_refused(error)
            raise error from None

    async def renew(self, deadline: float) -> None:
        """:meth:`authenticate`, one at a time: concurrent callers wait for the one running."""
        pending = self._login
        if pending is not None and not pending.done():
            await asyncio.shield(pending)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._login = future
        try:
            await self.authenticate(deadline)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: the waiters re-raise it themselves
            raise
        else:
            future.set_result(None)

    async def ensure(self, deadline: float) -> None:
        """A token that has not lapsed (logs in when there is none)."""
        if self.token is None or self.lapsed():
            await self.renew(deadline)

    async def keep_fresh(self, usable: Callable[[], bool], timeout: float) -> None:
        """Run for the client's life: refresh each token at 70-80 % of its lifetime (AU3)
        while ``usable()`` (a socket ready to carry it); a failed refresh is tried again
        after a pause, and a token that lapses meanwhile is renewed by the next private
        call. Ends when the credentials are refused."""
        loop = asyncio.get_running_loop()
        while True:
            token = self.token
            if token is None:
                await asyncio.sleep(0.5)
                continue
            await asyncio.sleep(max(0.05, token.refresh_at() - _monotonic()))
            if self.token is not token:
                continue  # renewed meanwhile (a new socket logs in again)
            if not usable():
                await asyncio.sleep(0.1)
                continue
            try:
                await self.renew(loop.time() + timeout)
            except AuthError:
                return
            except KanaError as exc:
                logger.info("Pulse token refresh failed: %s; retrying",
                            self._redactor.redact(str(exc)))
                await asyncio.sleep(min(1.0, timeout))
