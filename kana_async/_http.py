"""The HTTP seam: send one request, read one bounded answer, repeat it only where safe.

Every HTTP call the SDK makes (the Kana REST API, the Aptos node) goes through a
:class:`Transport`: ``await transport.handle(request, timeout=..., max_body=...)`` sends one
request and returns one :class:`Response` whose body is fully read and never larger than
``max_body``. A transport never follows a redirect; :func:`send` does, within the request's
origin only, for callers that allow it. Two transports exist:

* :class:`AiohttpTransport`, on the client's ``aiohttp.ClientSession``;
* :class:`MockTransport`, a function answering requests in memory, so tests exercise the real
  client code without patching a library.

Failures come out in one small vocabulary, whatever the transport::

    TransportError
     └─ HttpFailure            no usable answer; ``detail`` says what happened
         ├─ ConnectFailed      the connection never opened: nothing was sent
         ├─ NoAnswer           no answer within the timeout: the request may have arrived
         └─ ConnectionLost     the connection broke while sending or reading
    KanaError
     ├─ AnswerTooLarge         the answer's body passed ``max_body``; the rest was not read
     └─ RedirectRefused        a redirect :func:`send` will not follow

Callers map these to what they mean for them (a REST read retries them; a node submission
after a byte may have left is in doubt). :class:`RetryPolicy` is the one policy for repeating
calls that are safe to repeat.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import inspect
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import msgspec
from multidict import CIMultiDict, CIMultiDictProxy
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type
from tenacity.wait import wait_random_exponential
from yarl import URL

from .errors import KanaError, RateLimitError, TransportError, ValidationError

__all__ = [
    "REDIRECTS",
    "RETRYABLE",
    "AiohttpTransport",
    "AnswerTooLarge",
    "ConnectFailed",
    "ConnectionLost",
    "HttpFailure",
    "MockTransport",
    "NoAnswer",
    "RedirectRefused",
    "Request",
    "Response",
    "RetryPolicy",
    "Transport",
    "follow_redirects",
    "origin_of",
    "parse_retry_after",
    "send",
]

T = TypeVar("T")

_CHUNK = 64 * 1024
#: The statuses :func:`send` follows (within the origin).
REDIRECTS = frozenset({301, 302, 303, 307, 308})
_REDIRECTS = REDIRECTS
_EMPTY: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())


# -- requests and answers --------------------------------------------------------------------


class Request:
    """One HTTP request: ``url`` carries the query; ``body`` is None for none."""

    __slots__ = ("body", "headers", "method", "url")

    def __init__(
        self, method: str, url: URL, headers: Mapping[str, str], body: bytes | None = None
    ) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        # Headers may hold an API key: never shown.
        return f"Request({self.method} {self.url.with_query(None)})"


class Response:
    """One answer, its body read in full. ``json=`` builds a JSON answer (for mocks)."""

    __slots__ = ("body", "headers", "status")

    def __init__(
        self,
        status: int,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        *,
        json: Any = None,
    ) -> None:
        if json is not None:
            body = msgspec.json.encode(json)
            headers = {"Content-Type": "application/json", **(headers or {})}
        self.status = status
        self.body = body
        self.headers: Mapping[str, str] = (
            _EMPTY if not headers
            else headers if isinstance(headers, (CIMultiDict, CIMultiDictProxy))
            else CIMultiDictProxy(CIMultiDict(headers))
        )

    def __repr__(self) -> str:
        return f"Response({self.status}, {len(self.body)} bytes)"


# -- the failure vocabulary ------------------------------------------------------------------


class HttpFailure(TransportError):
    """No usable answer. ``detail`` names the underlying failure (``ClientOSError: ...``)."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


class ConnectFailed(HttpFailure):
    """The connection could not be opened (refused, DNS, TLS, connect timeout): nothing sent."""


class NoAnswer(HttpFailure):
    """No answer came within ``timeout`` seconds; the request may have reached the server."""

    def __init__(self, detail: str, timeout: float) -> None:
        self.timeout = timeout
        super().__init__(detail)


class ConnectionLost(HttpFailure):
    """The connection broke after it opened (reset, truncated answer, bad HTTP)."""


class AnswerTooLarge(KanaError):
    """The answer's body passed ``cap`` bytes; ``declared`` is its Content-Length if it gave
    one (refused before reading), else None (refused once the cap was passed)."""

    def __init__(self, status: int, cap: int, declared: int | None) -> None:
        self.status = status
        self.cap = cap
        self.declared = declared
        size = f" of {declared} bytes" if declared is not None else ""
        super().__init__(f"HTTP {status}: answer{size} exceeds the {cap}-byte cap; not read")


class RedirectRefused(KanaError):
    """A redirect :func:`send` does not follow. ``cross_origin`` is True when it pointed to
    another scheme, host or port (where credentials must not go)."""

    def __init__(self, status: int, reason: str, *, cross_origin: bool = False) -> None:
        self.status = status
        self.reason = reason
        self.cross_origin = cross_origin
        super().__init__(reason)


def _failure(exc: BaseException, timeout: float) -> HttpFailure:
    """The seam's name for an aiohttp or timeout failure."""
    detail = f"{type(exc).__name__}: {exc}".rstrip(": ")
    if isinstance(exc, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)):
        return ConnectFailed(detail)
    if isinstance(exc, asyncio.TimeoutError):
        return NoAnswer(detail, timeout)
    return ConnectionLost(detail)


# -- transports ------------------------------------------------------------------------------


class Transport:
    """Sends one request and reads its answer; never follows redirects.

    ``handle`` raises only :class:`HttpFailure` (and its kinds) or :class:`AnswerTooLarge`.
    """

    __slots__ = ()

    async def handle(self, request: Request, *, timeout: float, max_body: int) -> Response:
        raise NotImplementedError


@functools.lru_cache(maxsize=16)
def _client_timeout(total: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=total)


class AiohttpTransport(Transport):
    """On an ``aiohttp.ClientSession`` owned by someone else (it is never closed here)."""

    __slots__ = ("session",)

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def handle(self, request: Request, *, timeout: float, max_body: int) -> Response:
        try:
            async with self.session.request(
                request.method,
                request.url,
                data=request.body,
                headers=request.headers,
                timeout=_client_timeout(timeout),
                allow_redirects=False,
            ) as response:
                headers = response.headers
                declared = response.content_length
                if declared is not None and declared <= max_body and (
                    "Content-Encoding" not in headers
                ):
                    # The common case, inline: aiohttp reads exactly the declared length.
                    body = await response.read()
                else:
                    body = await _read_bounded(response, max_body)
                return Response(response.status, body, headers)
        except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
            raise _failure(exc, timeout) from exc


async def _read_bounded(response: aiohttp.ClientResponse, cap: int) -> bytes:
    """The whole body, refusing one larger than ``cap``: a declared ``Content-Length`` over
    it before reading anything, an undeclared (chunked or compressed) one as soon as the cap
    is passed. The connection is then closed rather than drained."""
    declared = response.content_length
    if declared is not None and declared > cap:
        response.close()
        raise AnswerTooLarge(response.status, cap, declared)
    if declared is not None and "Content-Encoding" not in response.headers:
        # The common case: aiohttp reads exactly the declared (and allowed) length.
        return await response.read()
    buffer = bytearray()
    async for chunk in response.content.iter_chunked(_CHUNK):
        buffer += chunk
        if len(buffer) > cap:
            response.close()
            raise AnswerTooLarge(response.status, cap, None)
    return bytes(buffer)


Handler = Callable[[Request], "Response | Awaitable[Response]"]


class MockTransport(Transport):
    """Answers each request with ``handler(request)`` (a function or a coroutine function).

    The handler may raise ``aiohttp.ClientError`` or ``asyncio.TimeoutError`` to play a
    failing network: they are mapped exactly as :class:`AiohttpTransport` maps them. The
    timeout and the body cap apply as on a real connection.
    """

    __slots__ = ("handler",)

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    async def handle(self, request: Request, *, timeout: float, max_body: int) -> Response:
        try:
            answer = self.handler(request)
            if inspect.isawaitable(answer):
                answer = await asyncio.wait_for(answer, timeout)
        except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
            raise _failure(exc, timeout) from exc
        if len(answer.body) > max_body:
            raise AnswerTooLarge(answer.status, max_body, len(answer.body))
        return answer


# -- redirects -------------------------------------------------------------------------------


def origin_of(url: URL) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the default port made explicit."""
    return (url.scheme.lower(), (url.host or "").lower(), url.port)


async def send(
    transport: Transport,
    request: Request,
    *,
    timeout: float,
    max_body: int,
    max_redirects: int,
) -> Response:
    """``transport.handle`` that follows up to ``max_redirects`` redirects within the request's
    origin (scheme, host, port) and refuses any other with :class:`RedirectRefused`.

    Another origin is not the server the caller configured: its credentials must not travel
    there, nor over plain http. A 303, or a 301/302 to a non-GET, continues as a GET without
    a body (what browsers and aiohttp do).
    """
    response = await transport.handle(request, timeout=timeout, max_body=max_body)
    if response.status not in _REDIRECTS or max_redirects == 0:
        return response
    return await follow_redirects(
        transport, request, response, timeout=timeout, max_body=max_body,
        max_redirects=max_redirects,
    )


async def follow_redirects(
    transport: Transport,
    request: Request,
    response: Response,
    *,
    timeout: float,
    max_body: int,
    max_redirects: int,
) -> Response:
    """What :func:`send` does after the first answer (``response`` to ``request``), for a
    caller that sent it itself and saw a redirect status."""
    first = request.url
    for attempt in range(max_redirects + 1):
        if attempt:
            response = await transport.handle(request, timeout=timeout, max_body=max_body)
        status = response.status
        if status not in _REDIRECTS or max_redirects == 0:
            return response
        target = _redirect_target(request.url, status, response.headers.get("Location"))
        if origin_of(target) != origin_of(first):
            scheme, host, port = origin_of(target)
            raise RedirectRefused(
                status,
                f"HTTP {status} redirect to another origin ({scheme}://{host}:{port}) refused",
                cross_origin=True,
            )
        if status == 303 or (status in (301, 302) and request.method != "GET"):
            headers = {k: v for k, v in request.headers.items() if k.lower() != "content-type"}
            request = Request("GET", target, headers)
        else:
            request = Request(request.method, target, request.headers, request.body)
    raise RedirectRefused(status, f"more than {max_redirects} redirects")


def _redirect_target(url: URL, status: int, location: str | None) -> URL:
    if not location:
        raise RedirectRefused(status, f"HTTP {status} redirect without a Location")
    try:
        target = url.join(URL(location))
        origin_of(target)
    except ValueError:
        raise RedirectRefused(status, f"HTTP {status} redirect to an unreadable Location") from None
    return target


# -- retries ---------------------------------------------------------------------------------

#: What is worth asking again by default: no usable answer, or a 429.
RETRYABLE: tuple[type[Exception], ...] = (TransportError, RateLimitError)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); ``None`` if
    absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


@dataclass(frozen=True)
class RetryPolicy:
    """How failed calls that are safe to repeat are repeated (REST calls, node reads).

    ``attempts`` counts every try including the first; ``total_time`` (seconds, from the first
    try) bounds the sleeps and the last attempt's timeout, so a call never outlives it by more
    than scheduling noise. ``backoff`` is the first delay, doubling up to ``max_backoff``, each
    drawn at random from ``[backoff/2, delay]`` so many clients do not retry in lockstep. A
    ``Retry-After`` is honoured within that budget, never shorter than the backoff.

    ``attempts`` below 1 or a time that is not a finite number > 0 raises
    :class:`~kana_async.ValidationError` naming the field.
    """

    attempts: int = 4
    total_time: float = 30.0
    backoff: float = 0.2
    max_backoff: float = 5.0

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int) or (
            self.attempts < 1
        ):
            raise ValidationError("attempts", "must be an int >= 1", self.attempts)
        for name in ("total_time", "backoff", "max_backoff"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                math.isfinite(value) and value > 0
            ):
                raise ValidationError(name, "must be a finite number of seconds > 0", value)

    @classmethod
    def never(cls) -> RetryPolicy:
        """One attempt only."""
        return cls(attempts=1)

    async def run(
        self,
        attempt: Callable[[float], Awaitable[T]],
        *,
        timeout: float,
        what: str,
        log: logging.Logger,
        retry_on: tuple[type[Exception], ...] = RETRYABLE,
    ) -> T:
        """``await attempt(timeout)``, repeated on ``retry_on`` errors within the policy.

        The first attempt runs outside tenacity to keep the common case (success at once)
        close to a bare request; only a failed call builds a retry loop.

        :raises Exception: the last attempt's error once the attempts or ``total_time`` are
            spent (a ``retry_on`` error), or at once any error not in ``retry_on``.
        """
        started = time.monotonic()
        try:
            return await attempt(timeout)
        except retry_on as error:
            if self.attempts <= 1:
                raise
            return await self._again(error, started, attempt, timeout, what, log, retry_on)

    async def again(
        self,
        first_error: Exception,
        started: float,
        attempt: Callable[[float], Awaitable[T]],
        *,
        timeout: float,
        what: str,
        log: logging.Logger,
        retry_on: tuple[type[Exception], ...] = RETRYABLE,
    ) -> T:
        """What :meth:`run` does after its first attempt, for a caller that made that attempt
        itself (at ``time.monotonic()`` ``started``) and saw it fail with ``first_error``.

        :raises Exception: ``first_error`` if the policy allows one attempt only, else as
            :meth:`run` does.
        """
        if self.attempts <= 1:
            raise first_error
        return await self._again(first_error, started, attempt, timeout, what, log, retry_on)

    async def _again(
        self,
        first_error: Exception,
        started: float,
        attempt: Callable[[float], Awaitable[T]],
        timeout: float,
        what: str,
        log: logging.Logger,
        retry_on: tuple[type[Exception], ...],
    ) -> T:
        deadline = started + self.total_time
        backoff = wait_random_exponential(
            multiplier=self.backoff, max=self.max_backoff, min=self.backoff / 2
        )

        def wait(state: RetryCallState) -> float:
            own = float(backoff(state))
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, RateLimitError) and error.retry_after is not None:
                # Retry-After says "not before"; it never makes us retry sooner than our own
                # backoff (a "Retry-After: 0" would otherwise spend every attempt at once).
                return max(error.retry_after, own)
            return own

        def stop(state: RetryCallState) -> bool:
            out_of_attempts = state.attempt_number >= self.attempts
            return out_of_attempts or time.monotonic() + state.upcoming_sleep >= deadline

        def log_retry(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.info(
                "%s failed (%s); retry %d/%d in %.2fs",
                what, error, state.attempt_number, self.attempts - 1, state.upcoming_sleep,
            )

        retrying = AsyncRetrying(
            stop=stop,
            wait=wait,
            retry=retry_if_exception_type(retry_on),
            before_sleep=log_retry,
            reraise=True,
        )
        replayed = False
        async for try_ in retrying:
            with try_:
                if not replayed:
                    # The first attempt already ran on the fast path: replay its error so
                    # tenacity counts it and schedules the next try.
                    replayed = True
                    raise first_error
                remaining = max(0.001, deadline - time.monotonic())
                return await attempt(min(timeout, remaining))
        raise AssertionError("unreachable: tenacity either returns or re-raises")
