"""Transport policy for the Kana REST API: one request in, one typed value (or error) out.

Every Kana REST endpoint only reads data or builds an *unsigned* transaction payload; nothing
moves until a transaction is signed and submitted elsewhere. Repeating any call is therefore
safe, so connection failures, timeouts, 5xx and 429 answers are retried (jittered exponential
backoff, bounded in attempts and in total time, ``Retry-After`` honoured within that budget but
never shorter than the backoff).
Other 4xx answers and ``success: false`` are never retried: asking again gives the same answer.

The first attempt runs outside tenacity to keep the per-call cost of the common case (a 200 on
the first try) close to a bare aiohttp request; only a failed call builds a retry loop.

A server is not trusted further than the API needs. Redirects are followed by hand, and only
within the base URL's origin (scheme, host and port): a redirect to another host, or from
https to http, would carry ``x-api-key`` where it was never meant to go, so it is refused with
an :class:`~kana_async.errors.ApiError` instead. Bodies are read incrementally up to a cap
(``max_body``, 8 MiB by default); a larger answer is refused without reading the rest.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import aiohttp
import msgspec
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type
from tenacity.wait import wait_random_exponential
from yarl import URL

from ..errors import ApiError, AuthError, RateLimitError, TransportError, ValidationError
from ..models.common import ModelDecoder, decode_lenient, decoder
from ..models.kana import RestEnvelope
from .ratelimit import RateLimiter

__all__ = ["DEFAULT_MAX_BODY", "MAX_REDIRECTS", "RestSession", "RetryPolicy"]

T = TypeVar("T")

logger = logging.getLogger("kana_async.rest")

_ENVELOPE = msgspec.json.Decoder(RestEnvelope)
_JSON_BODY = {"Content-Type": "application/json"}
_RETRYABLE = (TransportError, RateLimitError)
_Retryable = TransportError | RateLimitError
#: How much of an unexpected body an error message quotes.
_QUOTE_LIMIT = 200
#: The largest REST answer read by default. The biggest documented answers (a market's
#: trades, a long order history) are a few hundred KiB.
DEFAULT_MAX_BODY = 8 * 1024 * 1024
#: Same-origin redirects followed for one request before giving up.
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class RetryPolicy:
    """How failed calls are repeated.

    ``attempts`` counts every try including the first; ``total_time`` (seconds, from the first
    try) bounds the sleeps and the last attempt's timeout, so a call never outlives it by more
    than scheduling noise. ``backoff`` is the first delay, doubling up to ``max_backoff``, each
    drawn at random from ``[backoff/2, delay]`` so many clients do not retry in lockstep.
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


_DECODERS: dict[Any, ModelDecoder[Any]] = {}


def _decoder_for(type_: Any) -> ModelDecoder[Any]:
    """One Decoder per result type, built on first use."""
    dec = _DECODERS.get(type_)
    if dec is None:
        dec = _DECODERS[type_] = decoder(type_)
    return dec


def _origin(url: URL) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the default port made explicit."""
    return (url.scheme.lower(), (url.host or "").lower(), url.port)


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


class RestSession:
    """Sends Kana REST requests and decodes the ``{success, message, data}`` envelope.

    Pass an ``aiohttp.ClientSession`` to share one the caller owns (and closes); without one,
    the RestSession creates its own on first use and closes it in :meth:`close` (or on leaving
    ``async with``). ``api_key`` goes into the ``x-api-key`` header of every request to the
    base URL's origin and nowhere else: not to another origin, not in reprs, logs or error
    messages. ``max_body`` caps the bytes read from one answer (after decompression).
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        rate_limiter: RateLimiter | None = None,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValidationError("base_url", "must be an http:// or https:// URL", base_url)
        if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1:
            raise ValidationError("max_body", "must be an int number of bytes >= 1", max_body)
        if api_key is not None and (not isinstance(api_key, str) or not api_key.strip()):
            raise ValidationError("api_key", "must be a non-empty str or None")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not (
            math.isfinite(timeout) and timeout > 0
        ):
            raise ValidationError("timeout", "must be a finite number of seconds > 0", timeout)
        self.base_url = base_url.rstrip("/")
        self.max_body = max_body
        self._origin = _origin(URL(self.base_url))
        self.timeout = float(timeout)
        self.retry = retry if retry is not None else RetryPolicy()
        self.rate_limiter = rate_limiter
        self._secret = api_key
        self._headers: dict[str, str] = {"x-api-key": api_key} if api_key else {}
        self._json_headers = {**self._headers, **_JSON_BODY}
        self._client_timeout = aiohttp.ClientTimeout(total=self.timeout)
        self._session = session
        self._owns_session = session is None
        self._closed = False

    def __repr__(self) -> str:
        key = "set" if self._secret else "none"
        return (
            f"RestSession(base_url={self.base_url!r}, api_key={key}, "
            f"owns_session={self._owns_session})"
        )

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> RestSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        """Close the aiohttp session if this object created it. Safe to call twice."""
        self._closed = True
        session, self._session = self._session, None
        if self._owns_session and session is not None and not session.closed:
            await session.close()

    def _http(self) -> aiohttp.ClientSession:
        session = self._session
        if session is None:
            if self._closed:
                raise TransportError("the REST session is closed")
            session = self._session = aiohttp.ClientSession()
        return session

    # -- requests ----------------------------------------------------------------------------

    async def get(self, path: str, params: Mapping[str, str] | None, result: Any) -> Any:
        """``GET path?params`` and decode ``data`` as ``result`` (a type or generic alias)."""
        return await self.request("GET", path, result, params=params)

    async def post(self, path: str, body: bytes, result: Any) -> Any:
        """``POST path`` with a JSON ``body`` and decode ``data`` as ``result``."""
        return await self.request("POST", path, result, body=body)

    async def request(
        self,
        method: str,
        path: str,
        result: Any,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Any:
        """One call with the retry policy applied; returns ``data`` decoded as ``result``."""
        dec = _decoder_for(result)
        started = time.monotonic()
        try:
            return await self._attempt(method, path, params, body, dec, self._client_timeout)
        except _RETRYABLE as error:
            if self.retry.attempts <= 1:
                raise
            return await self._retry(error, started, method, path, params, body, dec)

    async def _retry(
        self,
        first_error: _Retryable,
        started: float,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: bytes | None,
        dec: ModelDecoder[Any],
    ) -> Any:
        policy = self.retry
        deadline = started + policy.total_time
        backoff = wait_random_exponential(
            multiplier=policy.backoff, max=policy.max_backoff, min=policy.backoff / 2
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
            out_of_attempts = state.attempt_number >= policy.attempts
            return out_of_attempts or time.monotonic() + state.upcoming_sleep >= deadline

        def log_retry(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            logger.info(
                "%s %s failed (%s); retry %d/%d in %.2fs",
                method, path, error, state.attempt_number, policy.attempts - 1,
                state.upcoming_sleep,
            )

        retrying = AsyncRetrying(
            stop=stop,
            wait=wait,
            retry=retry_if_exception_type(_RETRYABLE),
            before_sleep=log_retry,
            reraise=True,
        )
        replayed = False
        async for attempt in retrying:
            with attempt:
                if not replayed:
                    # The first attempt already ran on the fast path: replay its error so
                    # tenacity counts it and schedules the next try.
                    replayed = True
                    raise first_error
                remaining = max(0.001, deadline - time.monotonic())
                timeout = aiohttp.ClientTimeout(total=min(self.timeout, remaining))
                return await self._attempt(method, path, params, body, dec, timeout)
        raise AssertionError("unreachable: tenacity either returns or re-raises")

    async def _attempt(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: bytes | None,
        dec: ModelDecoder[Any],
        timeout: aiohttp.ClientTimeout,
    ) -> Any:
        if self.rate_limiter is not None:
            await self.rate_limiter.acquire()
        http = self._http()
        url = URL(self.base_url + path)
        headers = self._headers if body is None else self._json_headers
        try:
            for _ in range(MAX_REDIRECTS + 1):
                async with http.request(
                    method,
                    url,
                    params=params,
                    data=body,
                    headers=headers,
                    timeout=timeout,
                    allow_redirects=False,
                ) as response:
                    status = response.status
                    if status in _REDIRECTS:
                        url = self._redirect_target(path, response)
                        params = None  # the Location carries its own query
                        if status == 303 or (status in (301, 302) and method != "GET"):
                            # What browsers and aiohttp do: the next request is a GET.
                            method, body, headers = "GET", None, self._headers
                        continue
                    raw = await self._read_body(path, response)
                    retry_after = response.headers.get("Retry-After") if status == 429 else None
                    break
            else:
                raise ApiError(path, f"more than {MAX_REDIRECTS} redirects", status)
        except asyncio.TimeoutError as exc:
            raise TransportError(
                f"{method} {path}: no answer within {timeout.total:g}s"
            ) from exc
        except aiohttp.ClientError as exc:
            raise TransportError(
                self._redact(f"{method} {path}: {type(exc).__name__}: {exc}")
            ) from exc
        if 200 <= status < 300:
            return self._decode_success(path, status, raw, dec)
        raise self._http_error(method, path, status, raw, retry_after)

    def _redirect_target(self, path: str, response: aiohttp.ClientResponse) -> URL:
        """Where a redirect points, if it stays on the API's origin; else an ApiError.

        Not following is the safe answer for a trading client: another origin is not the API
        the caller configured, and the key must not travel there or over plain http.
        """
        status = response.status
        location = response.headers.get("Location")
        if not location:
            raise ApiError(path, f"HTTP {status} redirect without a Location", status)
        try:
            target = response.url.join(URL(location))
            origin = _origin(target)
        except ValueError:
            raise ApiError(
                path, f"HTTP {status} redirect to an unreadable Location", status
            ) from None
        if origin != self._origin:
            scheme, host, port = origin
            raise ApiError(
                path,
                self._redact(
                    f"HTTP {status} redirect to another origin ({scheme}://{host}:{port}) "
                    f"refused: the client talks only to {self._origin_text()} and never sends "
                    "the API key elsewhere; point rest_url at the new address if it moved"
                ),
                status,
            )
        return target

    def _origin_text(self) -> str:
        scheme, host, port = self._origin
        return f"{scheme}://{host}:{port}"

    async def _read_body(self, path: str, response: aiohttp.ClientResponse) -> bytes:
        """The whole body, read in chunks, refusing one larger than ``max_body``.

        A declared ``Content-Length`` over the cap is refused before reading anything; an
        undeclared (chunked, or compressed) one is refused as soon as the cap is passed. The
        connection is then closed rather than drained.
        """
        cap = self.max_body
        declared = response.content_length
        if declared is not None and declared > cap:
            response.close()
            raise self._too_large(path, response.status, f"of {declared} bytes (Content-Length)")
        if declared is not None and "Content-Encoding" not in response.headers:
            # The common case: aiohttp reads exactly the declared (and allowed) length.
            return await response.read()
        buffer = bytearray()
        async for chunk in response.content.iter_chunked(_CHUNK):
            buffer += chunk
            if len(buffer) > cap:
                response.close()
                raise self._too_large(path, response.status, "")
        return bytes(buffer)

    def _too_large(self, path: str, status: int, size: str) -> ApiError:
        answer = f"answer {size}" if size else "answer"
        return ApiError(
            path, f"{answer} exceeds the {self.max_body}-byte cap (max_body); not read", status
        )

    # -- decoding (pure) ---------------------------------------------------------------------

    def _decode_success(
        self, path: str, status: int, raw: bytes, dec: ModelDecoder[Any]
    ) -> Any:
        try:
            envelope = _ENVELOPE.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise ApiError(
                path, f"response is not a Kana envelope: {self._quote(raw)}", status
            ) from None
        if envelope.success is None and envelope.status is None:
            raise ApiError(
                path, f"response has no success/status field: {self._quote(raw)}", status
            )
        if not envelope.ok:
            raise ApiError(path, self._redact(envelope.message) or "request failed", status)
        data = envelope.data
        try:
            return dec.decode(data)
        except msgspec.ValidationError as first:
            try:
                return decode_lenient(data, cast("type[Any]", dec.type))
            except (msgspec.ValidationError, msgspec.DecodeError):
                raise ApiError(
                    path, f"unexpected data in response: {first}", status
                ) from None

    def _http_error(
        self, method: str, path: str, status: int, raw: bytes, retry_after: str | None
    ) -> Exception:
        message = self._message_of(raw)
        if status in (401, 403):
            return AuthError(path, message or "API key missing or rejected", status)
        if status == 429:
            return RateLimitError(
                path, message or "rate limited", status, retry_after=parse_retry_after(retry_after)
            )
        if status >= 500:
            detail = f": {message}" if message else ""
            return TransportError(f"{method} {path}: HTTP {status}{detail}", status=status)
        return ApiError(path, message or f"HTTP {status}", status)

    def _message_of(self, raw: bytes) -> str:
        """The envelope's ``message`` of an error answer, else a short quote of the body."""
        try:
            return self._redact(_ENVELOPE.decode(raw).message)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return self._quote(raw) if raw.strip() else ""

    def _quote(self, raw: bytes) -> str:
        text = raw[:_QUOTE_LIMIT].decode("utf-8", "replace").strip()
        if len(raw) > _QUOTE_LIMIT:
            text += "..."
        return repr(self._redact(text))

    def _redact(self, text: str) -> str:
        """Remove the API key from text that may echo a request (servers, proxies, aiohttp)."""
        if self._secret and self._secret in text:
            return text.replace(self._secret, "***")
        return text

