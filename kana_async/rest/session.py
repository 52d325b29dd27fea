"""Transport policy for the Kana REST API: one request in, one typed value (or error) out.

Every Kana REST endpoint only reads data or builds an *unsigned* transaction payload; nothing
moves until a transaction is signed and submitted elsewhere. Repeating any call is therefore
safe, so connection failures, timeouts, 5xx and 429 answers are retried (jittered exponential
backoff, bounded in attempts and in total time, ``Retry-After`` honoured within that budget but
never shorter than the backoff).
Other 4xx answers and ``success: false`` are never retried: asking again gives the same answer.

The HTTP exchange itself (bounded bodies, same-origin redirects, connection failures) and the
retry policy live in :mod:`kana_async._http`; this module says what an answer means.

A server is not trusted further than the API needs. Redirects are followed only within the
base URL's origin (scheme, host and port): a redirect to another host, or from https to http,
would carry ``x-api-key`` where it was never meant to go, so it is refused with an
:class:`~kana_async.errors.ApiError` instead. Bodies are read up to a cap (``max_body``,
8 MiB by default); a larger answer is refused without reading the rest.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar, cast

import aiohttp
import msgspec
from yarl import URL

from .._http import (
    REDIRECTS,
    RETRYABLE,
    AiohttpTransport,
    AnswerTooLarge,
    HttpFailure,
    NoAnswer,
    RedirectRefused,
    Request,
    RetryPolicy,
    Transport,
    follow_redirects,
    origin_of,
    parse_retry_after,
)
from ..errors import ApiError, AuthError, RateLimitError, TransportError, ValidationError
from ..models.common import ModelDecoder, decode_lenient
from ..models.kana import RestEnvelope
from .ratelimit import RateLimiter

__all__ = ["DEFAULT_MAX_BODY", "MAX_REDIRECTS", "RestSession", "RetryPolicy", "parse_retry_after"]

T = TypeVar("T")

logger = logging.getLogger("kana_async.rest")

_ENVELOPE = msgspec.json.Decoder(RestEnvelope)
_JSON_BODY = {"Content-Type": "application/json"}
#: How much of an unexpected body an error message quotes.
_QUOTE_LIMIT = 200
#: The largest REST answer read by default. The biggest documented answers (a market's
#: trades, a long order history) are a few hundred KiB.
DEFAULT_MAX_BODY = 8 * 1024 * 1024
#: Same-origin redirects followed for one request before giving up.
MAX_REDIRECTS = 5
#: Request URLs remembered per session (path and query -> URL): a bot asks the same few
#: things again and again, and building a URL costs more than the rest of the SDK's work.
_URL_CACHE_SIZE = 512


_DECODERS: dict[Any, ModelDecoder[Any]] = {}


def _decoder_for(type_: Any) -> ModelDecoder[Any]:
    """One Decoder per result type, built on first use."""
    dec = _DECODERS.get(type_)
    if dec is None:
        dec = _DECODERS[type_] = ModelDecoder(type_)
    return dec


class RestSession:
    """Sends Kana REST requests and decodes the ``{success, message, data}`` envelope.

    Pass an ``aiohttp.ClientSession`` to share one the caller owns (and closes); without one,
    the RestSession creates its own on first use and closes it in :meth:`close` (or on leaving
    ``async with``). ``transport`` replaces the HTTP exchange altogether (a
    :class:`~kana_async._http.MockTransport` in tests). ``api_key`` goes into the
    ``x-api-key`` header of every request to the base URL's origin and nowhere else: not to
    another origin, not in reprs, logs or error messages. ``max_body`` caps the bytes read
    from one answer (after decompression).
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
        transport: Transport | None = None,
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
        self._origin = origin_of(URL(self.base_url))
        self.timeout = float(timeout)
        self.retry = retry if retry is not None else RetryPolicy()
        self.rate_limiter = rate_limiter
        self._secret = api_key
        self._headers: dict[str, str] = {"x-api-key": api_key} if api_key else {}
        self._json_headers = {**self._headers, **_JSON_BODY}
        self._session = session
        self._owns_session = session is None and transport is None
        self._transport = transport
        if transport is None and session is not None:
            self._transport = AiohttpTransport(session)
        self._closed = False
        self._urls: dict[tuple[str, tuple[tuple[str, str], ...]], URL] = {}

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
        """True once :meth:`close` was called; requests then raise ``TransportError``."""
        return self._closed

    async def close(self) -> None:
        """Close the aiohttp session if this object created it. Safe to call twice.

        :raises: nothing; a session given by the caller is left open for its owner.
        """
        self._closed = True
        session, self._session = self._session, None
        if self._owns_session:
            self._transport = None
            if session is not None and not session.closed:
                await session.close()

    def _http(self) -> aiohttp.ClientSession:
        session = self._session
        if session is None:
            if self._closed:
                raise TransportError("the REST session is closed")
            session = self._session = aiohttp.ClientSession()
        return session

    def _transport_now(self) -> Transport:
        if self._closed:
            raise TransportError("the REST session is closed")
        transport = self._transport
        if transport is None:
            transport = self._transport = AiohttpTransport(self._http())
        return transport

    # -- requests ----------------------------------------------------------------------------

    # get/post hand back request()'s coroutine: one frame less per call.

    def get(
        self, path: str, params: Mapping[str, str] | None, result: type[T]
    ) -> Coroutine[Any, Any, T]:
        """``GET path?params`` and decode ``data`` as ``result`` (a type or generic alias)."""
        return self.request("GET", path, result, params=params)

    def post(self, path: str, body: bytes, result: type[T]
             ) -> Coroutine[Any, Any, T]:
        """``POST path`` with a JSON ``body`` and decode ``data`` as ``result``."""
        return self.request("POST", path, result, body=body)

    async def request(
        self,
        method: str,
        path: str,
        result: Any,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Any:
        """One call with the retry policy applied; returns ``data`` decoded as ``result``.

        Every Kana REST call is safe to repeat (see the module docstring), so connection
        failures, timeouts, 5xx and 429 are retried; other 4xx are not.

        :raises AuthError: on HTTP 401/403 (not retried).
        :raises RateLimitError: on HTTP 429 when the retries are spent (``retry_after`` set if
            the server gave one).
        :raises ApiError: on another 4xx, ``success: false``, an answer that is not a Kana
            envelope or does not decode as ``result``, one larger than ``max_body``, or a
            redirect to another origin (never followed: the API key stays home).
        :raises TransportError: if no usable answer came within the retry policy (connection
            failure, timeout, 5xx), or the session is closed.
        """
        dec = _decoder_for(result)
        url = self._url(path, params)
        request = Request(method, url, self._headers if body is None else self._json_headers, body)
        # The first attempt inline (what RetryPolicy.run does), so that the common case
        # costs little more than a bare request; a failure enters the retry loop.
        started = time.monotonic()
        try:
            return await self._attempt(path, request, dec, self.timeout)
        except RETRYABLE as error:
            retry = self.retry
            if retry.attempts <= 1:
                raise
            return await retry.again(
                error,
                started,
                lambda timeout: self._attempt(path, request, dec, timeout),
                timeout=self.timeout,
                what=f"{method} {path}",
                log=logger,
            )

    def _url(self, path: str, params: Mapping[str, str] | None) -> URL:
        key = (path, tuple(params.items()) if params else ())
        url = self._urls.get(key)
        if url is None:
            url = URL(self.base_url + path)
            if params:
                url = url.extend_query(params)
            if len(self._urls) >= _URL_CACHE_SIZE:
                self._urls.clear()
            self._urls[key] = url
        return url

    async def _attempt(
        self, path: str, request: Request, dec: ModelDecoder[Any], timeout: float
    ) -> Any:
        if self.rate_limiter is not None:
            await self.rate_limiter.acquire()
        method = request.method
        try:
            transport = self._transport_now()
            response = await transport.handle(request, timeout=timeout, max_body=self.max_body)
            if response.status in REDIRECTS:
                response = await follow_redirects(
                    transport,
                    request,
                    response,
                    timeout=timeout,
                    max_body=self.max_body,
                    max_redirects=MAX_REDIRECTS,
                )
        except NoAnswer as exc:
            raise TransportError(f"{method} {path}: no answer within {timeout:g}s") from exc
        except HttpFailure as exc:
            raise TransportError(self._redact(f"{method} {path}: {exc.detail}")) from exc
        except AnswerTooLarge as exc:
            size = "answer"
            if exc.declared is not None:
                size = f"answer of {exc.declared} bytes (Content-Length)"
            raise ApiError(
                path, f"{size} exceeds the {self.max_body}-byte cap (max_body); not read",
                exc.status,
            ) from None
        except RedirectRefused as exc:
            raise ApiError(path, self._redirect_message(exc), exc.status) from None
        status = response.status
        if 200 <= status < 300:
            return self._decode_success(path, status, response.body, dec)
        retry_after = response.headers.get("Retry-After") if status == 429 else None
        raise self._http_error(method, path, status, response.body, retry_after)

    def _redirect_message(self, refused: RedirectRefused) -> str:
        """Why a redirect was not followed. Not following is the safe answer for a trading
        client: another origin is not the API the caller configured, and the key must not
        travel there or over plain http."""
        if not refused.cross_origin:
            return refused.reason
        scheme, host, port = self._origin
        return self._redact(
            f"{refused.reason}: the client talks only to {scheme}://{host}:{port} and never "
            "sends the API key elsewhere; point rest_url at the new address if it moved"
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

