"""Scale-out over NATS: one exchange connection feeding many processes.

``nats`` (the ``bus`` extra) is imported only when a ``nats://`` URL is used, so a base install
works unchanged. :mod:`.subjects` is the wire protocol shared by every side; :func:`connect`
is how every side opens its NATS connection.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import AuthError, TransportError, ValidationError

__all__ = ["MISSING_EXTRA", "check_nats_url", "connect", "import_nats", "redact_url"]

MISSING_EXTRA = "NATS support needs the bus extra: pip install 'kana-async[bus]'"

logger = logging.getLogger("kana_async.bus")

#: Attempts of the first connect before giving up (later reconnects never give up).
_FIRST_ATTEMPTS = 3


def import_nats() -> Any:
    """The ``nats`` package, or an ImportError saying which extra to install."""
    try:
        import nats
        import nats.js.api
        import nats.js.errors
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError(MISSING_EXTRA) from error
    return nats


def redact_url(url: str) -> str:
    """``url`` without its user, password or token (for messages and reprs)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "<a NATS URL>"
    host = parts.hostname or ""
    return urlunsplit((parts.scheme, f"{host}:{port}" if port else host, parts.path, "", ""))


def check_nats_url(url: object, param: str = "nats_url") -> str:
    """``url`` if it is a ``nats://`` or ``tls://`` URL."""
    if not isinstance(url, str) or not url.startswith(("nats://", "tls://")):
        raise ValidationError(param, "must be a nats:// or tls:// URL", url)
    return url


async def connect(
    url: str,
    *,
    name: str,
    on_disconnected: Callable[[], Awaitable[None]] | None = None,
    on_reconnected: Callable[[], Awaitable[None]] | None = None,
    on_error: Callable[[Exception], Awaitable[None]] | None = None,
    options: Mapping[str, Any] | None = None,
) -> Any:
    """An open ``nats.aio.client.Client``: the first connect fails fast with a clear error
    (:class:`AuthError` when the server refuses the credentials, :class:`TransportError`
    when it cannot be reached); once connected, reconnects never give up."""
    nats = import_nats()
    check_nats_url(url)
    refused: list[BaseException] = []

    async def report(error: Exception) -> None:
        if isinstance(error, nats.errors.AuthorizationError) or "authorization" in str(
                error).lower():
            refused.append(error)
        logger.debug("nats %s: %s", name, error or type(error).__name__)
        if on_error is not None:
            await on_error(error)

    async def quiet() -> None:
        return None

    settings: dict[str, Any] = {
        "name": name,
        "error_cb": report,
        "disconnected_cb": on_disconnected or quiet,
        "reconnected_cb": on_reconnected or quiet,
        "max_reconnect_attempts": _FIRST_ATTEMPTS,
        "reconnect_time_wait": 0.25,
        "connect_timeout": 2,
    }
    settings.update(options or {})
    try:
        client = await nats.connect(url, **settings)
    except Exception as exc:
        if refused or isinstance(exc, nats.errors.AuthorizationError):
            raise AuthError("nats", f"the NATS server at {redact_url(url)} refused the "
                            "credentials",
                            status=None) from None
        raise TransportError(f"cannot reach the NATS server at {redact_url(url)}: "
                             f"{type(exc).__name__}") from None
    # Connected: from now on keep reconnecting (a server restart must not end a bridge).
    client.options["max_reconnect_attempts"] = -1
    return client
