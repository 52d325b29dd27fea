"""Fault controls for the simulator, scriptable from tests.

One :class:`Faults` object is shared by the REST server, the indexer WebSocket server and the
Aptos node of a simulator; each consults it on every request or push. All methods are
synchronous and take effect at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Faults", "FrameFault"]

#: How the WebSocket server corrupts its next pushes (all occur in the documents):
#: ``malformed`` sends invalid JSON, ``no_message`` omits the ``message`` field,
#: ``numbers`` sends numbers where strings are usual (ids, sizes, prices).
FrameFault = Literal["malformed", "no_message", "numbers"]


@dataclass
class Faults:
    """What is currently going wrong. A fresh object means "nothing"."""

    #: Seconds every REST call waits before answering.
    rest_delay: float = 0.0
    #: HTTP status the next ``rest_fail_count`` REST calls answer with (429 or 5xx).
    rest_fail_status: int = 503
    rest_fail_count: int = 0
    #: ``Retry-After`` seconds sent with a 429.
    rest_retry_after: float | None = None
    #: Until this ``time.monotonic()`` value, new WebSocket, REST and node connections are refused.
    refuse_until: float = 0.0
    #: Topics whose pushes are withheld while the socket stays open.
    stalled_topics: set[str] = field(default_factory=set)
    #: Corruptions applied to the next WebSocket pushes, one per push, in order.
    frame_faults: list[FrameFault] = field(default_factory=list)
    #: The next N submitted transactions are rejected with ``reject_reason`` before execution.
    reject_transactions: int = 0
    reject_reason: str = "rejected by fault injection"
    #: The next N submitted transactions are executed, but the HTTP answer never comes
    #: (the connection is held until the client gives up): the "unknown outcome" case.
    hang_submissions: int = 0
    #: Incremented to ask every WebSocket server to drop all its connections now.
    drop_generation: int = 0

    # -- REST -------------------------------------------------------------------------------

    def fail_rest(self, count: int, status: int = 503, retry_after: float | None = None) -> None:
        """Answer the next ``count`` REST calls with ``status``."""
        self.rest_fail_count = count
        self.rest_fail_status = status
        self.rest_retry_after = retry_after

    def take_rest_failure(self) -> int | None:
        """The status to fail this REST call with, consuming one scripted failure."""
        if self.rest_fail_count <= 0:
            return None
        self.rest_fail_count -= 1
        return self.rest_fail_status

    # -- connections ------------------------------------------------------------------------

    def refuse_connections(self, seconds: float) -> None:
        """Refuse new connections for ``seconds``."""
        self.refuse_until = time.monotonic() + seconds

    @property
    def refusing(self) -> bool:
        """Whether new connections are being refused now (:meth:`refuse_connections`)."""
        return time.monotonic() < self.refuse_until

    # -- WebSocket ---------------------------------------------------------------------------

    def drop_websockets(self) -> None:
        """Close every open indexer WebSocket connection abruptly."""
        self.drop_generation += 1

    def stall(self, topic: str) -> None:
        """Withhold pushes of ``topic`` while the socket stays open."""
        self.stalled_topics.add(topic)

    def unstall(self, topic: str | None = None) -> None:
        """Resume ``topic`` (or every topic)."""
        if topic is None:
            self.stalled_topics.clear()
        else:
            self.stalled_topics.discard(topic)

    def corrupt_next_frames(self, *faults: FrameFault) -> None:
        """Apply these corruptions to the next pushes, one each."""
        self.frame_faults.extend(faults)

    def take_frame_fault(self) -> FrameFault | None:
        """For the push being sent (the server's side): its corruption, consuming one; None
        when none is scripted."""
        return self.frame_faults.pop(0) if self.frame_faults else None

    # -- Aptos node --------------------------------------------------------------------------

    def reject_next_transactions(self, count: int = 1, reason: str | None = None) -> None:
        """Reject the next ``count`` submitted transactions before they execute, with
        ``reason`` as the node's message (the client sees a rejection, nothing happened)."""
        self.reject_transactions = count
        if reason is not None:
            self.reject_reason = reason

    def take_rejection(self) -> str | None:
        """For the transaction being submitted (the node's side): the reason to reject it
        with, consuming one rejection; None to accept it."""
        if self.reject_transactions <= 0:
            return None
        self.reject_transactions -= 1
        return self.reject_reason

    def hang_next_submissions(self, count: int = 1) -> None:
        """Execute the next ``count`` submitted transactions but never answer them (the
        connection is held until the client gives up): an order of unknown outcome."""
        self.hang_submissions = count

    def take_hang(self) -> bool:
        """For the transaction being submitted (the node's side): whether to execute it
        without answering, consuming one scripted hang."""
        if self.hang_submissions <= 0:
            return False
        self.hang_submissions -= 1
        return True

    def clear(self) -> None:
        """Back to normal operation (connections already dropped stay dropped)."""
        generation = self.drop_generation
        self.__init__()  # type: ignore[misc]
        self.drop_generation = generation
