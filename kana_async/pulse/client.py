"""``PulseClient``: every Pulse v2 method over ONE multiplexed WebSocket (or over HTTP).

The WebSocket rides on the Kana stream's :class:`~kana_async.stream.connection.Connection`
(backoff, pacing, ping liveness) and its channels on the same
:class:`~kana_async.stream.subscription.Subscription` (overflow policies, gap and staleness
signals). What is Pulse's own lives in :mod:`.session`: request ids and their futures, the
order of a (re)connect (auth, heartbeat, cancel-on-disconnect, resubscribe, then the calls
that waited), tokens, and the outcome of a call whose reply never came.

Calls made while the socket is down wait for the next connection (within their timeout);
calls in flight when it drops fail and are never sent again. An order (``buy``/``sell``) whose
reply is lost raises :class:`~kana_async.UnknownOutcomeError` with its ``label``: find it with
``get_order_state_by_label`` or on ``user.orders``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

import aiohttp

from ..stream.options import StreamOptions
from ..stream.subscription import Subscription
from ..stream.topics import Overflow
from ..stream.transport import Connector
from .api import PulseMethods
from .methods import MethodSpec
from .session import PulseSession, PulseStats

__all__ = ["PulseClient", "PulseStats"]


class PulseClient(PulseMethods):
    """The Pulse v2 gateway: ``async with PulseClient(ws_url, client_id=..., client_secret=...)``.

    ``ws_url=None`` with ``http_url`` selects HTTP only (WebSocket-only methods then raise
    :class:`~kana_async.ValidationError` before sending). ``heartbeat`` (seconds, an integer
    >= 10, ``None``: off) is set on every connection; a socket silent for ``silence_timeout``
    seconds (default twice the heartbeat) is replaced. ``cancel_on_disconnect=True`` turns the
    gateway's cancel-on-disconnect on for every connection before any order leaves on it.
    ``stream`` (a :class:`~kana_async.StreamOptions` or a mapping) sets the reconnect policy,
    buffers and frame limits. ``session`` is used, not owned; ``connector`` replaces the
    WebSocket library (tests).
    """

    def __init__(
        self,
        ws_url: str | None = None,
        *,
        http_url: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        grant: str = "client_credentials",
        heartbeat: int | None = 10,
        cancel_on_disconnect: bool = False,
        timeout: float = 10.0,
        stream: StreamOptions | Mapping[str, Any] | None = None,
        silence_timeout: float | None = None,
        session: aiohttp.ClientSession | None = None,
        connector: Connector | None = None,
    ) -> None:
        self._session = PulseSession(
            ws_url, http_url=http_url, client_id=client_id, client_secret=client_secret,
            grant=grant, heartbeat=heartbeat, cancel_on_disconnect=cancel_on_disconnect,
            timeout=timeout, stream=stream, silence_timeout=silence_timeout,
            http=session, connector=connector)

    # -- lifecycle --------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the WebSocket and wait until it is ready (authenticated, heartbeat set,
        cancel-on-disconnect on if asked): wrong credentials raise here. Calls connect
        lazily too."""
        await self._session.connect()

    async def close(self) -> None:
        """Close the socket, stop every task, end every subscription. Idempotent."""
        await self._session.close()

    @property
    def closed(self) -> bool:
        return self._session.closed

    async def __aenter__(self) -> PulseClient:
        try:
            await self.connect()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- calls ------------------------------------------------------------------------------

    async def _request(self, spec: MethodSpec, params: dict[str, Any]) -> Any:
        return await self._session.request(spec, params)

    async def call(self, method: str, **params: Any) -> Any:
        """Send any method (``"public/get_index_price"``) with ``params`` as given; the
        result is the decoded JSON, numbers with a fraction as ``Decimal``."""
        return await self._session.call(method, params)

    def subscribe(self, channel: str, *, overflow: Overflow | str | None = None,
                  capacity: int | None = None) -> Subscription[Any]:
        """One channel (``"book.BTC_USD-PERPETUAL.raw"``, ``"user.orders.any.raw"``) as an
        async iterator of typed items; book channels yield books. ``public/subscribe`` or
        ``private/subscribe`` is picked from the name. ``overflow`` (``"keep_latest"`` or
        ``"error"``) defaults to the channel's kind; ``capacity`` bounds an error-policy
        buffer. Closing it never touches the others."""
        return self._session.subscribe(channel, overflow=overflow, capacity=capacity)

    async def unsubscribe_all(self) -> None:
        """End every subscription: sends ``public/unsubscribe_all`` and, when authenticated,
        ``private/unsubscribe_all``."""
        await self._session.unsubscribe_all()

    def stats(self) -> PulseStats:
        """Connection state, frame counters, calls in flight and every subscription."""
        return self._session.stats()

    def __repr__(self) -> str:
        return f"<PulseClient {self._session.describe()}>"
