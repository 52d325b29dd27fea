"""Keeping one WebSocket alive for days: connect, read, send paced, back off, reconnect.

:class:`Backoff` is the pure schedule (jittered, capped, exponential). It is reset only after a
connection stayed up for ``stable_after`` seconds, so a server that accepts and drops at once
is retried ever more slowly instead of in a tight loop. :class:`Connection` is the asyncio
layer: one supervisor task per connection lifetime, which reads frames inline (no task per
message) and runs one small sender task per open socket that sends queued messages paced.
What happens on open, on each frame and on loss is the :class:`ConnectionHandler`'s business.

Liveness is checked here, not left to the WebSocket library: every ``heartbeat`` seconds the
connection pings (if the socket offers ``ping()``) and replaces the socket when the pong does
not come within ``pong_timeout``, whatever else arrives. A server that pings us, or trickles a
frame byte by byte, therefore cannot keep a dead connection open. Failures are logged at
WARNING with their cause, at most once per ``warn_interval`` for the same cause (the others at
DEBUG, counted in the next warning); a :class:`~kana_async.ConnectionRejectedError` from the
connector (a 4xx handshake answer, a bad certificate) is not retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from .._tasks import cancel_and_wait, timeout
from ..errors import ConnectionRejectedError, TransportError, ValidationError
from .transport import Connector, WebSocket

__all__ = [
    "Backoff",
    "Connection",
    "ConnectionHandler",
    "Outgoing",
    "RateLimitedWarning",
    "ReconnectPolicy",
]

logger = logging.getLogger("kana_async.stream")


@dataclass(frozen=True)
class ReconnectPolicy:
    """How reconnects are paced.

    The n-th consecutive delay is ``min(max_delay, initial_delay * multiplier**(n-1))``,
    scaled by a random factor in ``[1 - jitter, 1]`` so that many clients do not reconnect
    in lockstep. ``max_attempts`` consecutive failures (``None``: never) end the stream with
    :class:`~kana_async.TransportError` on every subscription. A value out of range raises
    :class:`~kana_async.ValidationError` naming the field.
    """

    initial_delay: float = 0.5
    max_delay: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.5
    #: A connection that lived this long (seconds) counts as healthy and resets the schedule.
    stable_after: float = 10.0
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if not 0 < self.initial_delay <= self.max_delay:
            raise ValidationError(
                "initial_delay", "must be > 0 and <= max_delay", self.initial_delay
            )
        if self.multiplier < 1:
            raise ValidationError("multiplier", "must be >= 1", self.multiplier)
        if not 0 <= self.jitter <= 1:
            raise ValidationError("jitter", "must be between 0 and 1", self.jitter)
        if self.stable_after < 0:
            raise ValidationError("stable_after", "must be >= 0", self.stable_after)
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValidationError("max_attempts", "must be None or >= 1", self.max_attempts)


class Backoff:
    """The delay schedule of :class:`ReconnectPolicy` (pure; inject ``rng`` to test it)."""

    def __init__(
        self, policy: ReconnectPolicy, rng: Callable[[], float] = random.random
    ) -> None:
        self.policy = policy
        self._rng = rng
        #: Consecutive delays handed out since the last reset.
        self.attempt = 0

    def next_delay(self) -> float:
        policy = self.policy
        self.attempt += 1
        base = policy.initial_delay * policy.multiplier ** min(self.attempt - 1, 64)
        capped = min(policy.max_delay, base)
        return capped * (1.0 - policy.jitter * self._rng())

    def reset(self) -> None:
        self.attempt = 0


@dataclass
class Outgoing:
    """A message waiting to be sent. ``prepare`` runs just before sending and may veto it
    (the subscription was closed meanwhile); ``after`` runs once it is handled either way."""

    message: str
    prepare: Callable[[], bool] | None = None
    after: Callable[[], None] | None = None


class ConnectionHandler(Protocol):
    """What the owner of a :class:`Connection` is told."""

    def connection_made(self) -> None: ...

    def frame_received(self, frame: bytes | str) -> None: ...

    def connection_lost(self, reason: str) -> None: ...

    def reconnecting(self, attempt: int, delay: float) -> None: ...

    def gave_up(self, error: TransportError) -> None: ...


class RateLimitedWarning:
    """WARNING for a new cause or once per ``interval`` seconds; DEBUG in between, with the
    number of messages held back told in the next warning."""

    def __init__(self, log: logging.Logger, interval: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._log = log
        self._interval = interval
        self._clock = clock
        self._last_at: float | None = None
        self._last_cause: str | None = None
        self._held = 0

    def __call__(self, cause: str, message: str) -> bool:
        """Log ``message``; ``cause`` groups messages. True if it went out at WARNING."""
        now = self._clock()
        if cause != self._last_cause:
            self._held = 0  # what was held back was about another cause
        fresh = cause != self._last_cause or self._last_at is None \
            or now - self._last_at >= self._interval
        if not fresh:
            self._held += 1
            self._log.debug("%s", message)
            return False
        if self._held:
            message = f"{message} ({self._held} similar message(s) since the last warning)"
        self._log.warning("%s", message)
        self._last_at, self._last_cause, self._held = now, cause, 0
        return True


class Connection:
    """One logical connection to ``url`` that survives any number of socket drops."""

    def __init__(
        self,
        connector: Connector,
        url: str,
        handler: ConnectionHandler,
        *,
        policy: ReconnectPolicy,
        send_interval: float,
        heartbeat: float | None = None,
        pong_timeout: float = 10.0,
        warn_interval: float = 60.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.url = url
        self._heartbeat = heartbeat
        self._pong_timeout = pong_timeout
        self._warn = RateLimitedWarning(logger, warn_interval)
        #: Why the last connect failed or the last socket ended (``None`` before any).
        self.last_error: str | None = None
        #: Connects that failed since the last successful one.
        self.failed_connects = 0
        self._connector = connector
        self._handler = handler
        self._policy = policy
        self._backoff = Backoff(policy, rng)
        self._send_interval = send_interval
        self._outbox: deque[Outgoing] = deque()
        self._outbox_ready = asyncio.Event()
        self._ws: WebSocket | None = None
        self._task: asyncio.Task[None] | None = None
        self._abort_reason: str | None = None
        self.connects = 0
        self.disconnects = 0
        self.connected_since: float | None = None

    # -- control --------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def connected(self) -> bool:
        return self._ws is not None

    @property
    def attempt(self) -> int:
        """Consecutive reconnect delays since the last healthy connection."""
        return self._backoff.attempt

    def start(self) -> None:
        """Start (or restart after giving up) the supervisor; no-op while it runs."""
        if not self.running:
            self._backoff.reset()
            self._task = asyncio.get_running_loop().create_task(
                self._supervise(), name=f"kana-stream {self.url}"
            )

    def send(self, item: Outgoing, *, first: bool = False) -> None:
        """Queue ``item`` for the open socket; dropped if the socket goes away first (the
        owner sends its state again from ``connection_made``). ``first`` puts it ahead of
        everything waiting (an answer the server expects at once)."""
        if self._ws is None:
            return
        if first:
            self._outbox.appendleft(item)
        else:
            self._outbox.append(item)
        self._outbox_ready.set()

    async def abort(self, reason: str) -> None:
        """Close the current socket; the supervisor reconnects as after any drop."""
        ws = self._ws
        if ws is not None:
            self._abort_reason = reason
            # The caller (the watchdog) must outlive a socket that fails even to close.
            with contextlib.suppress(Exception):
                await ws.close()

    async def close(self) -> None:
        """Stop for good: cancel the supervisor and close the socket. Idempotent."""
        task, self._task = self._task, None
        await cancel_and_wait(task)

    # -- the supervisor -------------------------------------------------------------------

    async def _supervise(self) -> None:
        handler = self._handler
        while True:
            try:
                ws = await self._connector(self.url)
            except Exception as exc:  # a plugged-in connector may raise anything
                error = exc if isinstance(exc, TransportError) else TransportError(
                    f"cannot connect to {self.url}: {type(exc).__name__}: {exc}"
                )
                self.failed_connects += 1
                self.last_error = str(error)
                if isinstance(error, ConnectionRejectedError):
                    logger.warning("stream %s: giving up: %s", self.url, error)
                    handler.gave_up(error)
                    return
                self._warn(f"connect: {error}",
                           f"stream {self.url}: connect attempt {self.failed_connects} "
                           f"failed: {error}; retrying with backoff")
                if not await self._wait_before_retry(error):
                    return
                continue
            self.failed_connects = 0
            opened = time.monotonic()
            await self._serve(ws)
            if time.monotonic() - opened >= self._policy.stable_after:
                self._backoff.reset()
            if not await self._wait_before_retry(None):
                return

    async def _wait_before_retry(self, error: TransportError | None) -> bool:
        """Sleep the next backoff delay; ``False`` if the policy says to give up."""
        limit = self._policy.max_attempts
        if error is not None and limit is not None and self._backoff.attempt >= limit:
            logger.warning("stream %s: giving up after %d attempts: %s", self.url, limit, error)
            self._handler.gave_up(error)
            return False
        delay = self._backoff.next_delay()
        self._handler.reconnecting(self._backoff.attempt, delay)
        await asyncio.sleep(delay)
        return True

    async def _serve(self, ws: WebSocket) -> None:
        """Run one open socket until it ends; the handler hears of the end before the
        closing handshake (which may take ``close_timeout``), so nobody is told "current"
        about a socket that is gone."""
        self._ws = ws
        self._abort_reason = None
        self._outbox.clear()
        self._outbox_ready.clear()
        self.connects += 1
        self.connected_since = time.monotonic()
        logger.info("stream %s connected", self.url)
        loop = asyncio.get_running_loop()
        sender = loop.create_task(self._send_loop(ws))
        ping = getattr(ws, "ping", None)
        pinger = None
        if self._heartbeat is not None and callable(ping):
            pinger = loop.create_task(self._ping_loop(ws, ping, self._heartbeat))
        try:
            self._handler.connection_made()
            reason = await self._read_loop(ws)
            reason = self._abort_reason or reason
            self._ws = None
            self.connected_since = None
            self._lost(reason)
        finally:
            self._ws = None
            self.connected_since = None
            self._outbox.clear()
            try:
                await cancel_and_wait(sender, pinger)
            finally:
                with contextlib.suppress(Exception):
                    await ws.close()

    def _lost(self, reason: str) -> None:
        self.disconnects += 1
        self.last_error = f"disconnected: {reason}"
        self._warn(f"disconnect: {reason}",
                   f"stream {self.url} disconnected: {reason}; reconnecting with backoff "
                   "(snapshot subscriptions are stale until they are answered again)")
        self._handler.connection_lost(reason)

    async def _read_loop(self, ws: WebSocket) -> str:
        receive = ws.receive
        frame_received = self._handler.frame_received
        try:
            while True:
                frame = await receive()
                if frame is None:
                    return "closed"
                frame_received(frame)
        except Exception as exc:  # whatever the transport raises ends this socket only
            return f"{type(exc).__name__}: {exc}"

    async def _ping_loop(
        self, ws: WebSocket, ping: Callable[[], Awaitable[None]], interval: float
    ) -> None:
        """Our own ping, answered by our own pong within ``pong_timeout``, or the socket goes."""
        while True:
            await asyncio.sleep(interval)
            try:
                async with timeout(self._pong_timeout):
                    await ping()
            except asyncio.TimeoutError:
                reason = f"no PONG within {self._pong_timeout:g} s of our ping"
            except Exception as exc:  # a socket that cannot ping is replaced
                reason = f"ping failed: {type(exc).__name__}: {exc}"
            else:
                continue
            logger.warning("stream %s: %s; replacing the socket", self.url, reason)
            self._abort_reason = reason
            with contextlib.suppress(Exception):
                await ws.close()
            return

    async def _send_loop(self, ws: WebSocket) -> None:
        outbox = self._outbox
        ready = self._outbox_ready
        while True:
            await ready.wait()
            while outbox:
                item = outbox.popleft()
                try:
                    if item.prepare is None or item.prepare():
                        await ws.send(item.message)
                        if outbox and self._send_interval > 0:
                            await asyncio.sleep(self._send_interval)
                except Exception as exc:  # a socket that cannot send is replaced
                    self._abort_reason = f"send failed: {type(exc).__name__}: {exc}"
                    with contextlib.suppress(Exception):
                        await ws.close()
                    return
                finally:
                    if item.after is not None:
                        item.after()
            ready.clear()
