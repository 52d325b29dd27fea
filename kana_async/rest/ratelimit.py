"""A client-side token bucket, so a bot stays under a request rate it chose.

Kana documents no rate limits; a server that answers 429 is handled by the retry
policy. This limiter is for callers who want to pace themselves before that happens.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

from ..errors import ValidationError

__all__ = ["RateLimiter"]


class RateLimiter:
    """Allow ``rate`` requests per second on average, with bursts of up to ``burst``.

    Waiters are served in arrival order: each ``acquire`` reserves the next free slot at once
    (the token count may go negative), then sleeps until the slot comes. A waiter that is
    cancelled gives its slot back. A ``rate`` that is not a finite number > 0, or a ``burst``
    below 1, raises :class:`~kana_async.ValidationError`.
    """

    def __init__(
        self,
        rate: float,
        burst: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not (
            math.isfinite(rate) and rate > 0
        ):
            raise ValidationError("rate", "must be a finite number per second > 0", rate)
        if burst is None:
            burst = max(1, math.ceil(rate))
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValidationError("burst", "must be an int >= 1", burst)
        self.rate = float(rate)
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate:g}/s, burst={self.burst})"

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def try_acquire(self) -> bool:
        """Take a token if one is free now, without waiting."""
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    async def acquire(self) -> None:
        """Wait for a token (returns at once while the bucket has one).

        :raises: nothing; a waiter that is cancelled gives its slot back.
        """
        self._refill()
        self._tokens -= 1
        if self._tokens >= 0:
            return
        try:
            await asyncio.sleep(-self._tokens / self.rate)
        except asyncio.CancelledError:
            self._tokens += 1
            raise
