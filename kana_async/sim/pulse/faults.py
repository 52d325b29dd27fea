"""Fault controls of the simulated Pulse gateway, scriptable from tests.

One :class:`PulseFaults` belongs to one :class:`~.server.PulseServer`; a test calls its methods
(``sim.pulse.faults.stall()``) and the server obeys at once: the controls that act on open
connections (drop, stall, release, revoke) notify the server synchronously, the others are
consumed by the server one reply or one book change at a time. What each control exercises in a
client: a dropped socket and in-flight calls (drop), a silent connection (stall), replies late or
out of order (hold, shuffle), error frames no call can claim (stray errors), a broken book chain
(gap), a lapsed token (revoke_tokens) and a reconnect that fails for a while (refuse).
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Callable
from typing import Literal

from ...errors import ValidationError

__all__ = ["FaultEvent", "PulseFaults", "StrayError"]

#: ``no_id``: an error frame without an ``id`` member; ``null_id``: with ``"id": null``.
StrayError = Literal["no_id", "null_id"]

#: What a listener is told: the control that was just used.
FaultEvent = Literal["drop", "stall", "unstall", "release", "revoke"]

#: Most scripted items of one kind kept at once (a test asks for a few; this bounds a mistake).
MAX_SCRIPTED = 10_000


def _count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SCRIPTED:
        raise ValidationError(name, f"must be an integer from 0 to {MAX_SCRIPTED}", value)
    return value


def _seconds(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        math.isfinite(value) and value >= 0
    ):
        raise ValidationError(name, "must be a finite number of seconds >= 0", value)
    return float(value)


class PulseFaults:
    """What is currently going wrong with the gateway. A fresh object means "nothing".

    ``clock`` is monotonic seconds (refusals and held replies are timed with it); ``seed``
    makes shuffled replies repeatable.
    """

    def __init__(self, *, seed: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.rng = random.Random(seed)
        #: No replies, pongs, heartbeats or notifications while set; sockets stay open.
        self.stalled = False
        #: Until this clock value new connections (WS handshakes and HTTP requests) get 503.
        self.refuse_until = 0.0
        #: The next ``hold_count`` replies are held back until :meth:`release` (or the delay).
        self.hold_count = 0
        self.hold_delay: float | None = None
        #: Replies of one connection are sent in random order, ``shuffle_window`` at a time;
        #: a partial window is flushed ``shuffle_flush`` seconds after its first reply.
        self.shuffle_window = 0
        self.shuffle_flush = 0.1
        #: Error frames sent ahead of the next replies, one per reply.
        self.stray_errors: deque[StrayError] = deque(maxlen=MAX_SCRIPTED)
        #: instrument_name -> change_ids to skip (each skip breaks the chain once).
        self.gaps: dict[str, int] = {}
        #: How often each control fired (for tests and the docs' figures).
        self.counts: dict[str, int] = {}
        self._listeners: list[Callable[[FaultEvent], None]] = []

    # -- wiring ----------------------------------------------------------------------------

    def add_listener(self, listener: Callable[[FaultEvent], None]) -> Callable[[], None]:
        """Call ``listener`` at once when a control acts on open connections; returns the
        function that removes it."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def _notify(self, event: FaultEvent) -> None:
        self.counts[event] = self.counts.get(event, 0) + 1
        for listener in list(self._listeners):
            listener(event)

    # -- connections -----------------------------------------------------------------------

    def drop(self) -> None:
        """Abort every open WebSocket now, without a close frame (cancel-on-disconnect fires)."""
        self._notify("drop")

    def refuse_connections(self, seconds: float) -> None:
        """Answer new connections with HTTP 503 for ``seconds`` (0 ends a refusal).

        :raises ValidationError: if ``seconds`` is not a finite number >= 0
        """
        self.refuse_until = self._clock() + _seconds("seconds", seconds)

    @property
    def refusing(self) -> bool:
        """Whether new connections are being refused now (:meth:`refuse_connections`)."""
        return self._clock() < self.refuse_until

    def stall(self) -> None:
        """Go silent: requests are still executed, but no reply, pong, heartbeat or
        notification leaves until :meth:`unstall` (replies wait, notifications are lost)."""
        self.stalled = True
        self._notify("stall")

    def unstall(self) -> None:
        """End a :meth:`stall`: the replies that waited go out, pushes resume."""
        self.stalled = False
        self._notify("unstall")

    # -- replies ---------------------------------------------------------------------------

    def hold_replies(self, count: int = 1, *, release_after: float | None = None) -> None:
        """Hold back the next ``count`` replies (WS and HTTP) until :meth:`release`, or until
        ``release_after`` seconds after each was held. Notifications keep flowing.

        :raises ValidationError: if ``count`` is not an integer from 0 to 10,000 or
           ``release_after`` not a finite number of seconds >= 0
        """
        self.hold_count = _count("count", count)
        self.hold_delay = None if release_after is None else _seconds(
            "release_after", release_after)

    def take_hold(self) -> float | None:
        """For the reply being sent: None to send it now, else the clock value to release it
        at (``math.inf``: only :meth:`release` frees it)."""
        if self.hold_count <= 0:
            return None
        self.hold_count -= 1
        self.counts["held"] = self.counts.get("held", 0) + 1
        return math.inf if self.hold_delay is None else self._clock() + self.hold_delay

    def release(self) -> None:
        """Send every held reply now (and hold no more)."""
        self.hold_count = 0
        self._notify("release")

    def shuffle_replies(self, window: int, *, flush_after: float = 0.1) -> None:
        """Send each connection's replies in random order, ``window`` at a time (0 or 1: off);
        a partial window goes out ``flush_after`` seconds after its first reply.

        :raises ValidationError: if ``window`` is not an integer from 0 to 10,000 or
           ``flush_after`` not a finite number of seconds >= 0
        """
        self.shuffle_window = _count("window", window)
        self.shuffle_flush = _seconds("flush_after", flush_after)

    def send_stray_errors(self, *kinds: StrayError) -> None:
        """Send an error frame without an ``id`` (``no_id``) or with ``"id": null``
        (``null_id``) before each of the next replies, one kind per reply, in order.

        :raises ValidationError: if a kind is neither ``no_id`` nor ``null_id``
        """
        for kind in kinds:
            if kind not in ("no_id", "null_id"):
                raise ValidationError("kinds", "each must be 'no_id' or 'null_id'", kind)
        self.stray_errors.extend(kinds)

    def take_stray_error(self) -> StrayError | None:
        """For the reply being sent (the server's side): the stray error frame to send ahead
        of it, consuming one; None when none is scripted."""
        if not self.stray_errors:
            return None
        self.counts["stray_error"] = self.counts.get("stray_error", 0) + 1
        return self.stray_errors.popleft()

    def clock(self) -> float:
        """Now, on the clock refusals and held replies are timed with."""
        return self._clock()

    # -- data ------------------------------------------------------------------------------

    def gap(self, instrument_name: str, count: int = 1) -> None:
        """Skip a ``change_id`` in the next ``count`` book changes of ``instrument_name``.

        :raises ValidationError: if ``instrument_name`` is not a non-empty string or ``count``
           not an integer from 0 to 10,000
        """
        if not isinstance(instrument_name, str) or not instrument_name:
            raise ValidationError("instrument_name", "must be an instrument name",
                                  instrument_name)
        self.gaps[instrument_name] = self.gaps.get(instrument_name, 0) + _count("count", count)

    def take_gap(self, instrument_name: str) -> bool:
        """True if the book change about to be sent for ``instrument_name`` must skip one id."""
        left = self.gaps.get(instrument_name, 0)
        if left <= 0:
            return False
        if left == 1:
            del self.gaps[instrument_name]
        else:
            self.gaps[instrument_name] = left - 1
        self.counts["gap"] = self.counts.get("gap", 0) + 1
        return True

    def revoke_tokens(self) -> None:
        """Revoke every access and refresh token now: the next private call is refused 13009
        until the client authenticates again."""
        self._notify("revoke")

    def clear(self) -> None:
        """Back to normal: unstalled, nothing held, shuffled, scripted or refused; held
        replies are released."""
        was_stalled = self.stalled
        self.refuse_until = 0.0
        self.hold_count = 0
        self.hold_delay = None
        self.shuffle_window = 0
        self.stray_errors.clear()
        self.gaps.clear()
        if was_stalled:
            self.unstall()
        self._notify("release")
