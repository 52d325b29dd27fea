"""The asyncio layer of :class:`~kana_async.pulse.PulseClient`: one socket (or HTTP) and
the calls on it. Channels are kept by :class:`~.routing.ChannelRouter`, tokens by
:class:`~.tokens.Tokens`; this module sends what they ask for and tells them what happened.

Ordering on every new socket (L3): ``public/auth`` -> ``public/set_heartbeat`` ->
``private/enable_cancel_on_disconnect`` (when asked for) -> the live channels again, a few
per request and paced -> then the calls that waited are released. The reader never decodes a
payload it does not route (frames are classified by :mod:`.frames`); a ``test_request`` is
answered at once, ahead of anything queued. A socket that says nothing for
``silence_timeout`` seconds is replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import msgspec

from .._http import AiohttpTransport
from .._tasks import cancel_and_wait, timeout
from ..errors import (
    ApiError,
    AuthError,
    KanaError,
    PulseRpcError,
    TransportError,
    UnknownOutcomeError,
    ValidationError,
)
from ..stream.connection import Connection, Outgoing, RateLimitedWarning
from ..stream.options import StreamOptions
from ..stream.subscription import Subscription, SubscriptionStats
from ..stream.topics import Overflow
from ..stream.transport import AiohttpConnector, Connector
from . import frames
from .auth import Credentials, Redactor
from .channels import channel_spec
from .http import BUSY, HttpCaller
from .methods import MethodSpec, decode_result, decode_untyped, method_spec
from .routing import ChannelRouter
from .tokens import Tokens

__all__ = ["PulseSession", "PulseStats"]

logger = logging.getLogger("kana_async.pulse")

#: The gateway's "unauthorized" (a lapsed or revoked token; 401 over HTTP): authenticate
#: again, retry once.
_UNAUTHORIZED = (13009, 401)
#: L8: non-order calls answered "too many requests" back off and try again.
_MAX_BUSY_RETRIES = 5
_IN_DOUBT_KEPT = 100
_BUSY_DELAY = 0.05
_GRANTS = ("client_credentials", "client_signature")
#: Methods whose success only changes this connection (tracked for the next one).
_CONNECTION_STATE = frozenset({
    "public/set_heartbeat", "public/disable_heartbeat",
    "private/enable_cancel_on_disconnect", "private/disable_cancel_on_disconnect",
})

_encode = msgspec.json.Encoder(decimal_format="number").encode
_monotonic = time.monotonic


class PulseStats(msgspec.Struct, kw_only=True):
    """A snapshot of the client: transport, connection, frame counters, subscriptions."""

    transport: str
    connected: bool
    ready: bool
    connects: int
    disconnects: int
    reconnect_attempt: int
    last_error: str | None
    calls: int
    in_flight: int
    #: Labels of orders whose outcome is unknown (reply lost), newest last.
    in_doubt: list[str]
    frames: dict[str, int]
    idless_errors: int
    unknown_id: int
    test_requests: int
    silent_replacements: int
    book_resyncs: int
    token_refreshes: int
    subscriptions: list[SubscriptionStats]


class _Call:
    """One request waiting for its reply."""

    __slots__ = ("future", "label", "method", "order", "sent")

    def __init__(self, future: asyncio.Future[Any], method: str, order: bool,
                 label: str | None) -> None:
        self.future = future
        self.method = method
        self.order = order
        self.label = label
        self.sent = False

    def mark_sent(self) -> bool:
        if self.future.done():  # given up on (timeout, cancel) before it left: not sent
            return False
        self.sent = True
        return True


class _Events:
    """Adapts the session to the stream's ConnectionHandler, off its public surface."""

    __slots__ = ("connection_lost", "connection_made", "frame_received", "gave_up",
                 "reconnecting")

    def __init__(self, session: PulseSession) -> None:
        self.frame_received = session._frame
        self.connection_made = session._connection_made
        self.connection_lost = session._connection_lost
        self.reconnecting = session._reconnecting
        self.gave_up = session._gave_up


def _url(name: str, value: object, schemes: tuple[str, ...]) -> str:
    if not isinstance(value, str) or not value.startswith(schemes):
        raise ValidationError(name, f"must be a {' or '.join(s[:-3] for s in schemes)} URL",
                              value)
    return value.rstrip("/")


class PulseSession:
    """Owns the socket, the calls in flight, the channels and the tokens of one client."""

    def __init__(
        self,
        ws_url: str | None,
        *,
        http_url: str | None,
        client_id: str | None,
        client_secret: str | None,
        grant: str,
        heartbeat: int | None,
        cancel_on_disconnect: bool,
        timeout: float,
        stream: StreamOptions | Mapping[str, Any] | None,
        silence_timeout: float | None,
        http: aiohttp.ClientSession | None,
        connector: Connector | None,
    ) -> None:
        if ws_url is None and http_url is None:
            raise ValidationError("ws_url", "give ws_url (WebSocket) or http_url (HTTP only)")
        self.ws_url = None if ws_url is None else _url("ws_url", ws_url, ("ws://", "wss://"))
        self.http_url = None if http_url is None else _url(
            "http_url", http_url, ("http://", "https://"))
        if (client_id is None) != (client_secret is None):
            raise ValidationError("client_secret", "client_id and client_secret go together")
        for name, value in (("client_id", client_id), ("client_secret", client_secret)):
            if value is not None and (not isinstance(value, str) or not value):
                raise ValidationError(name, "must be a non-empty string")
        self._credentials = None if client_id is None or client_secret is None else \
            Credentials(client_id, client_secret)
        #: Every secret this client knows, removed from what it logs and raises (AU7).
        self._redactor = Redactor([] if client_secret is None else [client_secret])
        if grant not in _GRANTS:
            raise ValidationError("grant", f"must be one of {', '.join(_GRANTS)}", grant)
        self._tokens = None if self._credentials is None else Tokens(
            self._credentials, grant, self._redactor, self._send_auth, self._give_up)
        if heartbeat is not None and (isinstance(heartbeat, bool) or not isinstance(
                heartbeat, int) or heartbeat < 10):
            raise ValidationError("heartbeat", "must be None or an integer >= 10 (seconds)",
                                  heartbeat)
        self._heartbeat = heartbeat
        if not isinstance(cancel_on_disconnect, bool):
            raise ValidationError("cancel_on_disconnect", "must be True or False")
        self._cod = cancel_on_disconnect
        for what, seconds in (("timeout", timeout), ("silence_timeout", silence_timeout)):
            if seconds is None and what == "silence_timeout":
                continue
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or \
                    not 0 < seconds < float("inf"):
                raise ValidationError(what, "must be a finite number of seconds > 0", seconds)
        self._timeout = float(timeout)
        #: Seconds of silence after which the socket is replaced (L2); the default follows
        #: the heartbeat and is off while the heartbeat is.
        self._silence = silence_timeout
        self._silence_follows = silence_timeout is None
        self.options = StreamOptions.coerce(stream)
        self._max_frame = self.options.max_frame_bytes
        self._http = http
        self._owns_http = http is None
        self._connector = connector
        self._conn: Connection | None = None
        self._http_caller: HttpCaller | None = None
        #: Labels of orders whose outcome is unknown, newest last (bounded).
        self._in_doubt: deque[str] = deque(maxlen=_IN_DOUBT_KEPT)
        self.frame_stats = frames.FrameStats()
        self._pending: dict[int, _Call] = {}
        self._next_id = 0
        self._calls = 0
        self._ready = asyncio.Event()
        self._fatal: KanaError | None = None
        self._closed = False
        self._logged_out = False
        self._setup: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._watch: asyncio.Task[None] | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._last_frame = 0.0
        self._warn = RateLimitedWarning(logger, self.options.warn_interval)
        self._counts = {"silent_replacements": 0}
        self._router = ChannelRouter(
            call=self._channel_call, spawn=self._spawn, ready=self._ready_now,
            options=self.options, timeout=self._timeout, stats=self.frame_stats,
            redact=self._redact, hook=self._hook)
        #: Ids of our answers to test requests (their replies claim no call).
        self._test_ids: set[int] = set()

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def _start(self) -> None:
        """Create the HTTP session, the connection and the helper tasks (once)."""
        if self._closed:
            raise KanaError("the Pulse client is closed")
        if self._logged_out:
            raise KanaError("the Pulse client logged out; create a new one")
        if self._http is None:
            self._http = aiohttp.ClientSession()
        if self.http_url is not None and self._http_caller is None:
            self._http_caller = HttpCaller(
                AiohttpTransport(self._http), self.http_url,
                max_body=self.options.max_frame_bytes, redact=self._redact,
                unknown=self._unknown, rpc_error=self._rpc_error)
        loop = asyncio.get_running_loop()
        if self.ws_url is not None and self._conn is None:
            opts = self.options
            connector = self._connector or AiohttpConnector(
                self._http, connect_timeout=opts.connect_timeout,
                max_msg_size=opts.max_frame_bytes)
            self._conn = Connection(
                connector, self.ws_url, _Events(self), policy=opts.reconnect,
                send_interval=0.0, heartbeat=opts.heartbeat,
                pong_timeout=opts.pong_timeout if opts.pong_timeout is not None
                else (opts.heartbeat or 20.0) / 2,
                warn_interval=opts.warn_interval)
            self._conn.start()
            self._watch = loop.create_task(self._watch_silence(),
                                           name="kana-pulse silence watchdog")
        if self._tokens is not None and self._refresher is None:
            self._refresher = loop.create_task(
                self._tokens.keep_fresh(self._token_usable, self._timeout),
                name="kana-pulse tokens")

    async def connect(self) -> None:
        self._start()
        if self._conn is None:
            if self._tokens is not None:
                await self._tokens.ensure(asyncio.get_running_loop().time() + self._timeout)
            return
        deadline = asyncio.get_running_loop().time() + self._timeout
        await self._wait_ready(deadline, "connect")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._ready.set()
        tasks = [self._setup, self._watch, self._refresher, *self._tasks]
        self._setup = self._watch = self._refresher = None
        self._tasks.clear()
        for task in tasks:
            if task is not None:
                task.cancel()
        try:
            if self._conn is not None:
                await self._conn.close()
            await cancel_and_wait(*tasks)
        finally:
            self._fail_pending(lambda call: TransportError(
                f"{call.method}: the Pulse client was closed before the reply"))
            self._router.close_all()
            http, self._http = self._http, None
            if http is not None and self._owns_http:
                await http.close()

    def describe(self) -> str:
        where = self.ws_url or self.http_url
        state = "closed" if self._closed else (
            "ready" if self._ready.is_set() else "connecting") if self._conn else "http"
        return f"{where} {state}"

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- calls ------------------------------------------------------------------------------

    async def request(self, spec: MethodSpec, params: dict[str, Any]) -> Any:
        """The typed result of one documented method."""
        sent = await self._invoke(spec, params)
        if sent is None:
            return None
        result = self._decoded(spec, *sent, decode_result)
        if spec.method == "public/auth":  # the caller's own login: its tokens are ours now
            if self._tokens is not None:
                self._tokens.adopt(result)
            else:
                self._redactor.add(result.access_token, result.refresh_token)
        return result

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        """The result of any method as plain JSON values (numbers as Decimal)."""
        spec = method_spec(method)
        sent = await self._invoke(spec, params)
        if sent is None:
            return None
        return self._decoded(spec, *sent, lambda _spec, raw: decode_untyped(raw))

    async def _invoke(self, spec: MethodSpec, params: dict[str, Any]
                      ) -> tuple[Any, str | None] | None:
        """Send one call: its raw result and the order's label (None after a logout)."""
        if spec.method == "private/logout":
            await self._logout(params)
            return None
        label = None
        if spec.places_order:
            label = params.get("label")
            if label is None:
                label = params["label"] = f"ka-{uuid.uuid4().hex[:20]}"
        raw = await self._send(spec.method, params, private=spec.private,
                               ws_only=spec.ws_only, http_style=spec.http_style,
                               order=spec.places_order, label=label)
        if spec.method in _CONNECTION_STATE:
            self._track(spec.method, params)
        return raw, label

    def _decoded(self, spec: MethodSpec, raw: Any, label: str | None,
                 decode: Callable[[MethodSpec, Any], Any]) -> Any:
        """``decode(spec, raw)``; a result that is not the documented shape is an ApiError,
        and for an order an unknown outcome: the gateway accepted it, but we cannot say how."""
        try:
            return decode(spec, raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            reason = self._redactor.redact(f"unexpected result: {exc}")
            if spec.places_order:
                raise self._unknown(spec.method, reason, label) from None
            raise ApiError(spec.method, reason) from None

    def _track(self, method: str, params: Mapping[str, Any]) -> None:
        """Keep what the user set on this connection for the next one (L3)."""
        if method == "public/set_heartbeat":
            self._heartbeat = int(params["interval"])
        elif method == "public/disable_heartbeat":
            self._heartbeat = None
        elif method == "private/enable_cancel_on_disconnect":
            self._cod = True
        elif method == "private/disable_cancel_on_disconnect":
            self._cod = False

    async def _send(self, method: str, params: dict[str, Any], *, private: bool,
                    ws_only: bool, http_style: str, order: bool,
                    label: str | None) -> Any:
        """The raw result of one call, over the socket when there is one (T2)."""
        if private and self._credentials is None:
            raise AuthError(method, "a private method needs client_id and client_secret")
        self._start()
        if self._fatal is not None:
            raise self._fatal
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        if self._conn is None and ws_only:
            raise ValidationError("method", f"{method} is served over the WebSocket only "
                                  "(give ws_url)", method)
        reauthenticated = False
        for attempt in range(_MAX_BUSY_RETRIES + 1):
            try:
                if self._conn is None:
                    return await self._http_send(method, params, private=private,
                                                 style=http_style, order=order, label=label,
                                                 deadline=deadline)
                await self._wait_ready(deadline, method)
                if private and self._tokens is not None and self._tokens.lapsed():
                    await self._tokens.renew(deadline)
                return await self._ws_call(method, params, order=order, label=label,
                                           deadline=deadline)
            except PulseRpcError as exc:
                if exc.code in _UNAUTHORIZED and private and not reauthenticated:
                    # Refused, so not executed: authenticate again, send it once more.
                    reauthenticated = True
                    assert self._tokens is not None
                    await self._tokens.renew(deadline)
                    continue
                # L8: a busy gateway is waited out, for anything but an order.
                delay = _BUSY_DELAY * 2 ** attempt
                if exc.code != BUSY or order or attempt == _MAX_BUSY_RETRIES \
                        or loop.time() + delay >= deadline:
                    raise
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _wait_ready(self, deadline: float, what: str) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self._closed:
                raise KanaError("the Pulse client is closed")
            if self._fatal is not None:
                raise self._fatal
            conn = self._conn
            if self._ready.is_set() and conn is not None and conn.connected:
                return
            left = deadline - loop.time()
            if left <= 0:
                raise TransportError(
                    f"{what}: the Pulse WebSocket was not ready within {self._timeout:g} s "
                    f"({self._conn.last_error if self._conn else 'not started'}); not sent")
            with contextlib.suppress(asyncio.TimeoutError):
                async with timeout(left):
                    await self._ready.wait()
            if self._ready.is_set() and conn is not None and not conn.connected:
                await asyncio.sleep(0)  # the loss is being handled: wait for the next socket

    async def _ws_call(self, method: str, params: dict[str, Any] | None, *, order: bool,
                       label: str | None, deadline: float) -> Any:
        conn = self._conn
        assert conn is not None
        if not conn.connected:
            raise TransportError(f"{method}: the Pulse WebSocket is down; not sent")
        self._next_id += 1
        ident = self._next_id
        self._calls += 1
        call = _Call(asyncio.get_running_loop().create_future(), method, order, label)
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": ident, "method": method}
        if params:
            body["params"] = params
        self._pending[ident] = call
        conn.send(Outgoing(_encode(body).decode(), call.mark_sent))
        left = deadline - asyncio.get_running_loop().time()
        try:
            async with timeout(max(left, 0.0)):
                return await call.future
        except asyncio.TimeoutError:
            if not call.future.done():
                call.future.cancel()
            if order and call.sent:
                raise self._unknown(method, f"got no reply within {self._timeout:g} s",
                                    label) from None
            state = "sent, no reply" if call.sent else "not sent"
            raise TransportError(f"{method}: {state} within {self._timeout:g} s") from None
        except asyncio.CancelledError:
            # Awaiting the future directly, the cancellation cancelled it too.
            if order and call.sent and (call.future.cancelled() or not call.future.done()):
                self._unknown(method, "was cancelled by the caller after it was sent", label)
            raise
        finally:
            self._pending.pop(ident, None)

    # -- HTTP (T2, T3, T8) ------------------------------------------------------------------

    async def _http_send(self, method: str, params: dict[str, Any], *, private: bool,
                         style: str, order: bool, label: str | None, deadline: float) -> Any:
        http = self._http_caller
        assert http is not None
        bearer = None
        if private:
            assert self._tokens is not None
            await self._tokens.ensure(deadline)
            token = self._tokens.token
            bearer = None if token is None else token.access_token
        return await http.call(method, params, style=style, bearer=bearer, order=order,
                               label=label, deadline=deadline)

    def _unknown(self, method: str, reason: str, label: str | None) -> UnknownOutcomeError:
        """An order whose outcome is unknown: remembered, logged (its label is no secret),
        and the error to raise."""
        if label is not None:
            self._in_doubt.append(label)
        logger.warning("Pulse %s labelled %r: outcome unknown (%s); never re-sent, look it "
                       "up with get_order_state_by_label", method, label, reason)
        return UnknownOutcomeError(
            "", f"{method} {reason}; it may have executed (never re-sent): look it up with "
            "get_order_state_by_label", label=label)

    # -- tokens (AU2, AU3, AU4) -------------------------------------------------------------

    async def _send_auth(self, params: dict[str, Any], deadline: float) -> Any:
        """One ``public/auth`` on this client's transport (for :class:`Tokens`)."""
        if self._conn is not None:
            return await self._ws_call("public/auth", params, order=False, label=None,
                                       deadline=deadline)
        assert self._http_caller is not None
        return await self._http_caller.call("public/auth", params, style="query", bearer=None,
                                            order=False, label=None, deadline=deadline)

    def _token_usable(self) -> bool:
        conn = self._conn
        return conn is None or (conn.connected and self._ready.is_set())

    def _give_up(self, error: KanaError) -> None:
        """A final error: every waiting call and later call raises it; no reconnect."""
        if self._fatal is not None:
            return
        self._fatal = error
        self._ready.set()
        self._fail_pending(lambda call: error)
        self._router.fail_all(error)
        if self._conn is not None:
            self._spawn(self._conn.close(), "kana-pulse stop")

    # -- the socket's events ----------------------------------------------------------------

    def _connection_made(self) -> None:
        self._last_frame = _monotonic()
        self._ready.clear()
        self._router.connection_made()
        setup, self._setup = self._setup, None
        if setup is not None:
            setup.cancel()
        self._setup = asyncio.get_running_loop().create_task(
            self._prepare(), name="kana-pulse setup")

    async def _prepare(self) -> None:
        """L3: auth -> heartbeat -> cancel-on-disconnect -> channels -> release the calls."""
        deadline = asyncio.get_running_loop().time() + self._timeout
        conn = self._conn
        connects = conn.connects if conn is not None else 0
        try:
            if self._tokens is not None:
                await self._tokens.authenticate(deadline)
            if self._heartbeat is not None:
                await self._ws_call("public/set_heartbeat", {"interval": self._heartbeat},
                                    order=False, label=None, deadline=deadline)
            if self._cod:
                await self._ws_call("private/enable_cancel_on_disconnect", {}, order=False,
                                    label=None, deadline=deadline)
            # Channels added while these requests were out are sent too (bounded rounds).
            for _ in range(8):
                missing = self._router.missing()
                if not missing:
                    break
                await self._router.subscribe(missing, deadline)
        except AuthError:
            return
        except (KanaError, msgspec.DecodeError, ValueError) as exc:
            text = self._redact(str(exc))
            self._warn(f"setup {type(exc).__name__}",
                       f"Pulse {self.ws_url}: preparing the connection failed: {text}; "
                       "replacing it")
            if conn is not None and conn.connected and conn.connects == connects:
                await conn.abort(f"setup failed: {text}")
            return
        self._ready.set()
        hooks = self.options.hooks
        if hooks.on_connected is not None:
            self._hook(hooks.on_connected, self.ws_url)
        if conn is not None and conn.connects > 1 and hooks.on_resubscribed is not None:
            self._hook(hooks.on_resubscribed, self._router.live)

    def _connection_lost(self, reason: str) -> None:
        self._ready.clear()
        self._router.connection_lost()
        setup, self._setup = self._setup, None
        if setup is not None:
            setup.cancel()

        def lost(call: _Call) -> KanaError:
            if call.order and call.sent:
                return self._unknown(call.method, f"lost its reply: the connection dropped "
                                     f"({reason})", call.label)
            state = "sent" if call.sent else "not sent"
            return TransportError(f"{call.method}: the connection dropped ({reason}) before "
                                  f"the reply ({state}; never re-sent)")

        self._fail_pending(lost)
        hook = self.options.hooks.on_disconnected
        if hook is not None:
            self._hook(hook, reason)

    def _reconnecting(self, attempt: int, delay: float) -> None:
        logger.debug("Pulse %s: reconnect attempt %d in %.3f s", self.ws_url, attempt, delay)
        hook = self.options.hooks.on_reconnecting
        if hook is not None:
            self._hook(hook, attempt, delay)

    def _gave_up(self, error: TransportError) -> None:
        self._give_up(error)

    def _fail_pending(self, error: Callable[[_Call], BaseException]) -> None:
        pending, self._pending = self._pending, {}
        for call in pending.values():
            if not call.future.done():
                call.future.set_exception(error(call))

    def _redact(self, text: str) -> str:
        return self._redactor.redact(text)

    def _rpc_error(self, reply: frames.ErrorReply) -> PulseRpcError:
        data: Any = None
        if reply.data:
            try:
                data = decode_untyped(reply.data)
            except (msgspec.DecodeError, RecursionError, ValueError):
                data = None
        return PulseRpcError(reply.code, self._redact(reply.message), data)

    def _hook(self, hook: Callable[..., None], *args: Any) -> None:
        try:
            hook(*args)
        except Exception:
            logger.warning("Pulse hook %s raised", getattr(hook, "__name__", hook),
                           exc_info=True)

    def _silence_limit(self) -> float | None:
        if not self._silence_follows:
            return self._silence
        return None if self._heartbeat is None else 2.0 * self._heartbeat + 1.0

    async def _watch_silence(self) -> None:
        """L2: a socket with no inbound frame for about twice the heartbeat is replaced."""
        while True:
            limit = self._silence_limit()
            await asyncio.sleep(1.0 if limit is None else max(0.01, limit / 4))
            conn = self._conn
            if limit is None or conn is None or not conn.connected:
                continue
            silent = _monotonic() - self._last_frame
            if silent >= limit:
                self._counts["silent_replacements"] += 1
                self._warn("silent", f"Pulse {self.ws_url}: nothing received for "
                           f"{silent:.1f} s; replacing the socket")
                self._last_frame = _monotonic()
                await conn.abort(f"silent for {silent:.1f} s")

    # -- the reader (never raises, never blocks) ---------------------------------------------

    def _frame(self, frame: bytes | str) -> None:
        self._last_frame = _monotonic()
        item = self.frame_stats.count(frames.classify(frame, max_bytes=self._max_frame))
        if type(item) is frames.Reply:
            ident = item.id
            call = self._pending.pop(ident, None) if type(ident) is int else None
            if call is None:
                if ident in self._test_ids:
                    self._test_ids.discard(ident)
                else:
                    self.frame_stats.unknown_id += 1
            elif not call.future.done():
                call.future.set_result(item.result)
        elif type(item) is frames.Notification:
            self._router.route(item.channel, item.data)
        elif type(item) is frames.ErrorReply:
            ident = item.id
            call = self._pending.pop(ident, None) if type(ident) is int else None
            if call is None:
                if ident is not None:
                    self.frame_stats.unknown_id += 1
                self._warn("stray error", f"Pulse {self.ws_url}: an error reply no call can "
                           f"claim (id {ident}): {item.code} "
                           f"{self._redact(item.message)[:200]}")
            elif not call.future.done():
                call.future.set_exception(self._rpc_error(item))
        elif type(item) is frames.Heartbeat:
            if item.type == "test_request":
                self._answer_test()
        elif isinstance(item, frames.Bad):
            logger.debug("Pulse %s: dropped %s frame: %s", self.ws_url, item.kind,
                         self._redact(item.excerpt))

    def _answer_test(self) -> None:
        conn = self._conn
        if conn is None:
            return
        self._next_id += 1
        body = {"jsonrpc": "2.0", "id": self._next_id, "method": "public/test"}
        if len(self._test_ids) > 64:  # answers the gateway never replied to
            self._test_ids.clear()
        self._test_ids.add(self._next_id)
        conn.send(Outgoing(_encode(body).decode()), first=True)

    # -- channels (S1-S6) -------------------------------------------------------------------

    def subscribe(self, channel: str, *, overflow: Overflow | str | None,
                  capacity: int | None) -> Subscription[Any]:
        info = channel_spec(channel)
        if self.ws_url is None:
            raise ValidationError("channel", "subscriptions need the WebSocket (give ws_url)",
                                  channel)
        if info.private and self._credentials is None:
            raise AuthError("private/subscribe",
                            f"channel {info.name} is private: give client_id and client_secret")
        self._start()
        if self._fatal is not None:
            raise self._fatal
        return self._router.open(info, overflow, capacity)

    async def _channel_call(self, method: str, params: dict[str, Any], deadline: float) -> Any:
        return await self._ws_call(method, params, order=False, label=None, deadline=deadline)

    def _ready_now(self) -> bool:
        conn = self._conn
        return self._ready.is_set() and conn is not None and conn.connected \
            and not self._closed and self._fatal is None

    async def unsubscribe_all(self) -> None:
        if self._conn is None:
            raise ValidationError("method", "unsubscribe_all is served over the WebSocket only "
                                  "(give ws_url)")
        self._router.close_all()
        await self._send("public/unsubscribe_all", {}, private=False, ws_only=True,
                         http_style="none", order=False, label=None)
        if self._credentials is not None:
            await self._send("private/unsubscribe_all", {}, private=True, ws_only=True,
                             http_style="none", order=False, label=None)

    # -- logout (L7) ------------------------------------------------------------------------

    async def _logout(self, params: dict[str, Any]) -> None:
        if self._conn is None:
            raise ValidationError("method", "private/logout is served over the WebSocket only "
                                  "(give ws_url)")
        if self._credentials is None:
            raise AuthError("private/logout", "needs client_id and client_secret")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        await self._wait_ready(deadline, "private/logout")
        self._logged_out = True
        try:
            await self._ws_call("private/logout", params, order=False, label=None,
                                deadline=deadline)
        except TransportError:
            pass  # the gateway closes the socket: that is the success
        finally:
            if self._tokens is not None:
                self._tokens.forget()
            self._give_up(KanaError("the Pulse client logged out; create a new one"))
            if self._conn is not None:
                await self._conn.close()

    # -- observability ----------------------------------------------------------------------

    def stats(self) -> PulseStats:
        conn = self._conn
        return PulseStats(
            transport="websocket" if self.ws_url is not None else "http",
            connected=bool(conn and conn.connected),
            ready=self._ready.is_set() and self._fatal is None and not self._closed,
            connects=conn.connects if conn else 0,
            disconnects=conn.disconnects if conn else 0,
            reconnect_attempt=conn.attempt if conn else 0,
            last_error=None if conn is None or conn.last_error is None
            else self._redact(conn.last_error),
            calls=self._calls + (0 if self._http_caller is None
                                 else self._http_caller.requests),
            in_doubt=list(self._in_doubt),
            in_flight=len(self._pending),
            frames=dataclasses.asdict(self.frame_stats),
            idless_errors=self.frame_stats.idless_errors,
            unknown_id=self.frame_stats.unknown_id,
            test_requests=self.frame_stats.test_requests,
            subscriptions=self._router.stats(),
            token_refreshes=0 if self._tokens is None else self._tokens.renewals,
            book_resyncs=self._router.resyncs,
            **self._counts,
        )
