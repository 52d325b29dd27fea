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
    WebSocket library (tests). Nothing connects before :meth:`connect` or the first call.

    :raises ValidationError: if neither URL is given or one has the wrong scheme, only one of
       ``client_id`` and ``client_secret`` is given, ``grant`` is not ``client_credentials``
       or ``client_signature``, ``heartbeat`` is below 10, a timeout is not a finite number of
       seconds > 0, or a ``stream`` option is invalid
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
        """Open the WebSocket and wait until it is ready: authenticated, heartbeat set,
        cancel-on-disconnect on if asked (``async with`` calls it). HTTP only, it gets the
        tokens when credentials are given. Calls connect lazily too; connecting first makes
        wrong credentials fail here rather than on the first order.

        :raises AuthError: if the gateway refused the credentials (not retried; every later
           call raises it too)
        :raises TransportError: if the connection was not ready within ``timeout`` (it keeps
           trying in the background), or the client gave up reconnecting
        :raises KanaError: if the client is closed or logged out
        """
        await self._session.connect()

    async def close(self) -> None:
        """Close the socket, stop every task, end every subscription; calls still waiting
        for a reply raise :class:`~kana_async.TransportError`. Idempotent.

        :raises asyncio.CancelledError: only if the task awaiting it is cancelled (everything
           is cancelled all the same); closing never fails otherwise
        """
        await self._session.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (a logged-out client is not closed, but
        finished)."""
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
        """Send any method (``"public/get_index_price"``) with ``params`` as given, unchecked;
        the result is the decoded JSON, numbers with a fraction as ``Decimal``. It travels
        like the typed method of that name: ``private/buy`` and ``private/sell`` are orders
        (a ``label`` is generated when none is given), never re-sent.

        :raises ValidationError: if ``method`` is not ``public/NAME`` or ``private/NAME``, or
           is served on the WebSocket only and the client is HTTP only; nothing is sent
        :raises AuthError: if a private method is called without ``client_id`` and
           ``client_secret``, or the gateway refused them
        :raises PulseRpcError: if the gateway answers with an error (its ``code``,
           ``message`` and ``data``): the call was refused, not executed
        :raises UnknownOutcomeError: if an order left but no readable reply came back: it may
           have executed; find it by the error's ``label``
        :raises TransportError: if the connection was not ready within ``timeout``, dropped
           before the reply, or no reply came in time (never re-sent)
        :raises ApiError: if the result is not JSON
        :raises KanaError: if the client is closed or logged out
        """
        return await self._session.call(method, params)

    def subscribe(self, channel: str, *, overflow: Overflow | str | None = None,
                  capacity: int | None = None) -> Subscription[Any]:
        """One channel (``"book.BTC_USD-PERPETUAL.raw"``, ``"user.orders.any.raw"``) as an
        async iterator of typed items; book channels yield :class:`~kana_async.pulse.PulseBook`
        objects. ``public/subscribe`` or ``private/subscribe`` is picked from the name and
        sent in the background, again after every reconnect. ``overflow`` (``"keep_latest"``
        or ``"error"``) defaults to the channel's kind; ``capacity`` bounds an error-policy
        buffer. Closing it never touches the others.

        :raises ValidationError: if the channel name is not one the gateway serves, an option
           is invalid, or the client is HTTP only (channels need the WebSocket)
        :raises AuthError: if the channel is private and the client has no ``client_id`` and
           ``client_secret``, or the gateway refused them
        :raises TransportError: if the client gave up reconnecting
        :raises KanaError: if the client is closed or logged out
        """
        return self._session.subscribe(channel, overflow=overflow, capacity=capacity)

    async def unsubscribe_all(self) -> None:
        """End every subscription (their iterators stop), then send
        ``public/unsubscribe_all`` and, when the client has credentials,
        ``private/unsubscribe_all``.

        :raises ValidationError: if the client is HTTP only (channels need the WebSocket)
        :raises AuthError: if the gateway refused the client's credentials
        :raises PulseRpcError: if the gateway answers either request with an error
        :raises TransportError: if the connection was not ready within ``timeout``, dropped
           before the reply, or no reply came in time
        :raises KanaError: if the client is closed or logged out
        """
        await self._session.unsubscribe_all()

    def stats(self) -> PulseStats:
        """A snapshot: connection state, frame counters, calls in flight, the labels of
        orders in doubt and every subscription."""
        return self._session.stats()

    def __repr__(self) -> str:
        return f"<PulseClient {self._session.describe()}>"
