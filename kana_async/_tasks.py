"""Cancellation-safe asyncio helpers: a cancelled task must never carry on.

Two common idioms lose a cancellation of the *caller*, so that a task told to stop keeps
running (a stream supervisor that reconnects after ``close()``, an order path that proceeds):

- ``task.cancel(); with suppress(CancelledError): await task`` also eats the caller's own
  cancellation; :func:`cancel_and_wait` waits with :func:`asyncio.wait`, which raises only for
  the caller.
- ``asyncio.wait_for`` before Python 3.12 drops the caller's cancellation when the awaited
  operation finishes in the same loop iteration; :func:`timeout` is ``asyncio.timeout`` where
  it exists (3.11+) and ``async_timeout`` (an aiohttp dependency there) on 3.10.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from contextlib import AbstractAsyncContextManager
from typing import Any

__all__ = ["cancel_and_wait", "timeout"]

logger = logging.getLogger("kana_async")


async def cancel_and_wait(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel ``tasks`` (``None`` entries are skipped) and wait until all have finished.

    A task's own exception is retrieved and logged at DEBUG (it is ending anyway); a
    cancellation of the caller propagates.
    """
    pending = [task for task in tasks if task is not None]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
    for task in pending:
        if not task.cancelled() and task.exception() is not None:
            logger.debug("task %s ended with %r", task.get_name(), task.exception())


def timeout(seconds: float | None) -> AbstractAsyncContextManager[Any]:
    """``async with timeout(s):`` raises ``asyncio.TimeoutError`` after ``s`` seconds
    (``None``: no limit), and never loses a cancellation of the caller."""
    if sys.version_info >= (3, 11):
        return asyncio.timeout(seconds)
    import async_timeout  # installed with aiohttp on Python < 3.11

    limit: AbstractAsyncContextManager[Any] = async_timeout.timeout(seconds)
    return limit  # pragma: no cover
