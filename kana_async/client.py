"""``KanaClient``: the one object a bot opens with ``async with``; it owns every resource.

The client owns one ``aiohttp.ClientSession`` (shared by every component) and, on the
``local`` network without explicit URLs, an embedded simulator. Components are opened in
``__aenter__`` on one ``contextlib.AsyncExitStack`` and closed in reverse order on exit, so a
failure halfway through ``__aenter__`` closes exactly what was opened, and adding a component
is one ``enter_async_context``/``push_async_callback`` line.
"""

from __future__ import annotations

import importlib
import os
import ssl
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import aiohttp

from .config import NetworkConfig, resolve_network
from .errors import KanaError, ValidationError
from .rest.kana import KanaRest
from .rest.ratelimit import RateLimiter
from .rest.session import DEFAULT_MAX_BODY, RestSession, RetryPolicy
from .stream.mux import StreamMux
from .stream.options import StreamOptions
from .stream.transport import default_connector
from .trade.node import NodeClient
from .trade.options import TradingOptions
from .trade.signer import Signer
from .trade.submitter import Submitter
from .trade.trader import Trader

if TYPE_CHECKING:
    from .bus.remote import RemoteTrader

__all__ = ["LOCAL_API_KEY", "KanaClient"]

P = ParamSpec("P")
R = TypeVar("R")

#: The ``x-api-key`` sent to the embedded simulator when no key is given.
LOCAL_API_KEY = "local-simulator"

def _delegate(
    method: Callable[Concatenate[Trader, P], Awaitable[R]],
) -> Callable[Concatenate[KanaClient, P], Awaitable[R]]:
    """A ``KanaClient`` method that calls the same-named :class:`Trader` method."""

    name = method.__name__

    async def call(self: KanaClient, /, *args: P.args, **kwargs: P.kwargs) -> R:
        if self._signer_url is not None:  # the key is in a signer process
            if self._remote_trader is None or self._stack is None:
                raise RuntimeError("KanaClient is not open; use 'async with KanaClient(...)'")
            remote: Callable[P, Awaitable[R]] = getattr(self._remote_trader, name)
            return await remote(*args, **kwargs)
        return await method(self.trader, *args, **kwargs)

    call.__name__ = method.__name__
    call.__qualname__ = f"KanaClient.{method.__name__}"
    call.__doc__ = method.__doc__
    # ``inspect.signature`` (help(), IPython, Jupyter) follows ``__wrapped__``: the caller sees
    # the Trader method's parameters, not ``(*args, **kwargs)``.
    call.__wrapped__ = method  # type: ignore[attr-defined]
    call.__annotations__ = dict(method.__annotations__)
    return call


class KanaClient:
    """Kana Perps in one object, opened with ``async with``: REST (:attr:`rest`), streams
    (:attr:`stream`) and trading (the methods below, or :attr:`trader`).

    ``network`` picks the preset URLs (``local``, ``testnet``, ``mainnet``); explicit
    ``rest_url``/``ws_url``/``node_url`` override them. ``network="local"`` with no URL at all
    starts the embedded simulator in-process and points every component at it.
    ``private_key`` (hex) is kept for signing and never shown in reprs or errors.

    ``trading`` (a :class:`~kana_async.TradingOptions` or a mapping of its fields) sets order
    submission: expiry, submit and wait timeouts, in-flight limit, gas.

    ``stream`` (a :class:`~kana_async.StreamOptions` or a mapping of its fields: watchdog,
    hooks, heartbeat, reconnect policy, buffer sizes; e.g.
    ``{"watchdog": {"orderbook": 10}, "heartbeat": 15}``) sets ``kana.stream``.
    ``stream_url="nats://HOST:PORT"`` (credentials as ``nats://user:password@HOST:PORT``;
    needs the ``bus`` extra) makes ``kana.stream`` read the same topics from a
    ``kana-async bridge`` through NATS instead of the exchange's WebSocket.

    REST: ``timeout`` (seconds one attempt may take), ``retry``
    (:class:`~kana_async.RetryPolicy`, for REST calls and Aptos node reads), ``rate_limit`` (a
    :class:`~kana_async.RateLimiter` or requests per second; default none), ``check_grid``
    (validate orders against :class:`~kana_async.MarketInfo` before building them), ``max_body``
    (largest answer read, in bytes). HTTP: ``connection_limit`` (simultaneous connections). TLS:
    ``ca_file`` (a PEM bundle of CAs to trust, e.g. a corporate proxy's) or ``ssl_context`` (an
    :class:`ssl.SSLContext`), not both; either applies to the client's one HTTP session, so
    REST, the Aptos node and the WebSocket all use it. ``simulator``: keyword arguments for the
    embedded :class:`~kana_async.sim.Simulator` (``network="local"`` without URLs), e.g.
    ``{"seed": 7, "funding_interval": 5}``.

    ``signer_url`` (``nats://[user:password@]host:port``, needs the ``bus`` extra) with
    ``signer_account`` (the wallet address a ``kana-async signer`` holds the key of), instead
    of ``private_key``: the trading methods run in that signer process, with the same results
    and outcome semantics (``UnknownOutcomeError``, :meth:`in_doubt`, :meth:`resolve`); the
    NATS user in the URL must be permitted to call it.

    Every argument is checked here: a bad one raises :class:`~kana_async.ValidationError`
    (nothing is opened), a bad ``private_key`` without echoing it; ``stream_url`` without the
    ``bus`` extra installed raises ``ImportError`` naming it. Opening (``async with``)
    raises :class:`~kana_async.KanaError` when the network lacks a URL a component needs
    (``rest_url=``, ``node_url=`` for trading), and whatever the embedded simulator or the
    signer connection raise; what was opened is closed again. Components (:attr:`rest`,
    :attr:`stream`, :attr:`trader`, :attr:`http`) and the trading methods raise
    ``RuntimeError`` on a client that is not open; the trading methods raise ``KanaError``
    without a ``private_key`` (or ``signer_url``).
    """

    def __init__(
        self,
        network: str = "local",
        *,
        api_key: str | None = None,
        rest_url: str | None = None,
        ws_url: str | None = None,
        node_url: str | None = None,
        private_key: str | None = None,
        stream: StreamOptions | Mapping[str, Any] | None = None,
        stream_url: str | None = None,
        trading: TradingOptions | Mapping[str, Any] | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        rate_limit: RateLimiter | float | None = None,
        check_grid: bool = True,
        max_body: int = DEFAULT_MAX_BODY,
        connection_limit: int = 100,
        ca_file: str | os.PathLike[str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        simulator: Mapping[str, Any] | None = None,
        signer_url: str | None = None,
        signer_account: str | None = None,
    ) -> None:
        self._preset = resolve_network(network, rest_url=rest_url, ws_url=ws_url, node_url=node_url)
        #: Where the client connects; on the simulator, its URLs while the client is open.
        self.config: NetworkConfig = self._preset
        if api_key is not None and (not isinstance(api_key, str) or not api_key.strip()):
            raise ValidationError("api_key", "must be a non-empty str or None")
        self._api_key = api_key
        self._use_simulator = network == "local" and not (rest_url or ws_url or node_url)
        self._local = network == "local"
        if simulator is not None and not isinstance(simulator, Mapping):
            raise ValidationError("simulator", "must be a mapping of Simulator keyword arguments")
        self._simulator_options = dict(simulator or {})
        if self._simulator_options and not self._use_simulator:
            raise ValidationError(
                "simulator", "applies only to network='local' without explicit URLs"
            )
        # Imported here, not in __aenter__: a first import of the simulator (compiling its
        # modules where bytecode is not written) would block a running event loop.
        self._simulator_type: Any = (
            importlib.import_module(".sim", __package__).Simulator if self._use_simulator else None
        )
        if self._simulator_options:
            _check_simulator_options(self._simulator_type, self._simulator_options)
        self._rate_limiter = _rate_limiter(rate_limit)
        self._retry = retry
        if self._retry is not None and not isinstance(self._retry, RetryPolicy):
            raise ValidationError("retry", "must be a RetryPolicy", self._retry)
        limit = connection_limit
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValidationError("connection_limit", "must be an int >= 1", limit)
        self._connection_limit = limit
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not (
            0 < timeout < float("inf")
        ):
            raise ValidationError("timeout", "must be a finite number of seconds > 0", timeout)
        self._timeout = float(timeout)
        #: The settings ``kana.stream`` is opened with (checked here, not at open).
        self.stream_options: StreamOptions = StreamOptions.coerce(stream)
        self._stream_url = stream_url
        if stream_url is not None:
            from .bus import check_nats_url, import_nats

            check_nats_url(stream_url, "stream_url")
            import_nats()  # says which extra to install, before anything opens
        self._check_grid = check_grid
        if not isinstance(self._check_grid, bool):
            raise ValidationError("check_grid", "must be True or False", self._check_grid)
        self._ssl = _ssl_context(ca_file, ssl_context)
        if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1:
            raise ValidationError("max_body", "must be an int number of bytes >= 1", max_body)
        self._max_body = max_body

        self._stack: AsyncExitStack | None = None
        self._http: aiohttp.ClientSession | None = None
        self._rest: KanaRest | None = None
        self._stream: StreamMux | None = None
        self._trader: Trader | None = None
        # Parsed now, so a bad key fails at construction; the Signer never shows the key.
        self._signer = (
            Signer(private_key) if private_key is not None else None
        )
        self._explicit_node = node_url is not None
        self._signer_url, self._signer_account = _remote_signer(
            signer_url, signer_account, private_key)
        # Kept after close, like the submitter: its in-doubt calls are never forgotten.
        self._remote_trader: RemoteTrader | None = None
        #: The settings orders are submitted with (checked here, not at open).
        self.trading_options: TradingOptions = TradingOptions.coerce(trading)
        # Kept after close, so in-doubt transactions are never forgotten with the session.
        self._submitter: Submitter | None = None
        #: The embedded simulator while the client runs one (``network="local"``, no URLs).
        self.simulator: Any = None

    def __repr__(self) -> str:
        # Tolerates a client whose __init__ failed partway (shown in tracebacks with locals).
        config: NetworkConfig | None = getattr(self, "config", None)
        if config is None:
            return "KanaClient(<not initialised>)"
        state = "open" if getattr(self, "_stack", None) is not None else "closed"
        return (
            f"KanaClient(network={config.name!r}, rest_url={config.rest_url!r}, "
            f"api_key={'set' if getattr(self, '_api_key', None) else 'none'}, "
            f"private_key={'set' if getattr(self, '_signer', None) else 'none'}, "
            f"{'signer=remote, ' if getattr(self, '_signer_url', None) else ''}{state})"
        )

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> KanaClient:
        if self._stack is not None:
            raise RuntimeError("KanaClient is already open")
        stack = AsyncExitStack()
        try:
            await self._open(stack)
        except BaseException:
            await stack.aclose()
            self._forget()
            raise
        self._stack = stack
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close everything the client opened, in reverse order. Safe to call twice.

        In-doubt transactions stay listed by :meth:`in_doubt` (and :meth:`resolve` works
        after a new ``async with``).

        :raises: nothing of its own; an error a component raised while closing propagates
            once everything else is closed.
        """
        stack, self._stack = self._stack, None
        if stack is not None:
            try:
                await stack.aclose()
            finally:
                self._forget()

    async def _open(self, stack: AsyncExitStack) -> None:
        """Open each component on ``stack``; later components may use earlier ones."""
        config = self.config
        if self._use_simulator:
            simulator = self._simulator_type(**self._simulator_options)
            self.simulator = await stack.enter_async_context(simulator)
            config = config.with_overrides(
                rest_url=self.simulator.rest_url,
                ws_url=self.simulator.ws_url,
                node_url=self.simulator.node_url,
            )
            self.config = config
        if config.rest_url is None:
            raise KanaError(f"network {config.name!r} has no REST URL; pass rest_url=")
        connector = aiohttp.TCPConnector(
            limit=self._connection_limit, ssl=self._ssl if self._ssl is not None else True
        )
        self._http = aiohttp.ClientSession(connector=connector)
        stack.push_async_callback(self._http.close)
        # A simulator (embedded, or `kana-async sim` on explicit URLs) wants a key like the
        # real API but accepts any: spare local users from inventing one.
        api_key = self._api_key or (LOCAL_API_KEY if self._local else None)
        # One policy for every call that is safe to repeat (REST calls, node reads).
        retry = self._retry if self._retry is not None else RetryPolicy()
        session = RestSession(
            config.rest_url,
            api_key=api_key,
            session=self._http,
            timeout=self._timeout,
            retry=retry,
            rate_limiter=self._rate_limiter,
            max_body=self._max_body,
        )
        self._rest = KanaRest(session, check_grid=self._check_grid)
        if self._stream_url is not None:
            from .bus.source import BusStream

            self._stream = BusStream(self._stream_url, network=config.name,
                                     options=self.stream_options, markets=self._rest.markets)
            stack.push_async_callback(self._stream.close)
        elif config.ws_url is not None:
            opts = self.stream_options
            # Built here so that picows, which does not use the session, trusts what it does.
            ws_connector = default_connector(opts.transport, self._http,
                                             connect_timeout=opts.connect_timeout,
                                             max_msg_size=opts.max_frame_bytes,
                                             ssl_context=self._ssl)
            self._stream = StreamMux(self._http, config.ws_url, options=opts,
                                     connector=ws_connector, markets=self._rest.markets)
            stack.push_async_callback(self._stream.close)
        if self._signer is not None:
            if config.node_url is None:
                raise KanaError(f"network {config.name!r} has no Aptos node URL; pass node_url=")
            node = NodeClient(self._http, config.node_url, timeout=self._timeout,
                              max_body_bytes=self.trading_options.max_response_bytes,
                              retry=retry)
            # A preset's chain id guards against signing for the wrong chain; with an
            # explicit node URL the node's own answer is trusted.
            chain_id = None if self._explicit_node else config.chain_id
            submitter = Submitter(node, self._signer, self.trading_options, chain_id=chain_id)
            if self._submitter is not None and not self._use_simulator:
                # The same chain as before (an embedded simulator starts a new one).
                submitter.take_over(self._submitter)
            self._submitter = submitter
            self._trader = Trader(self._rest, node, self._signer, submitter=submitter)
            stack.push_async_callback(submitter.aclose)
        if self._signer_url is not None and self._signer_account is not None:
            from .bus.remote import RemoteTrader

            if self._remote_trader is None:
                self._remote_trader = RemoteTrader(
                    self._signer_url, network=config.name, address=self._signer_account)
            await self._remote_trader.open()
            stack.push_async_callback(self._remote_trader.aclose)

    def _forget(self) -> None:
        self._http = None
        self._rest = None
        self._stream = None
        self._trader = None
        self.simulator = None
        self.config = self._preset

    # -- components --------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True unless the client is open (inside ``async with``)."""
        return self._stack is None

    @property
    def rest(self) -> KanaRest:
        """One coroutine per REST endpoint (open the client first)."""
        if self._rest is None:
            raise RuntimeError("KanaClient is not open; use 'async with KanaClient(...)'")
        return self._rest

    @property
    def stream(self) -> StreamMux:
        """Every indexer topic over one WebSocket, as typed async iterators (open client only).

        The socket opens on the first subscription. With ``stream_url``, the same iterators
        read from the bus (``kana_async.bus.source.BusStream``, a ``StreamMux`` too)."""
        if self._stream is None:
            raise RuntimeError("KanaClient is not open; use 'async with KanaClient(...)'")
        return self._stream

    @property
    def trader(self) -> Trader:
        """Validate, build, sign, submit and confirm transactions (needs ``private_key``)."""
        if self._signer_url is not None:
            raise KanaError("the key is in the signer process (signer_url=): call the "
                            "client's trading methods, e.g. kana.place_limit_order(...)")
        if self._signer is None:
            raise KanaError("trading needs a private key: KanaClient(..., private_key=...)")
        if self._trader is None:
            raise RuntimeError("KanaClient is not open; use 'async with KanaClient(...)'")
        return self._trader

    @property
    def address(self) -> str:
        """The signer's wallet address (needs ``private_key`` or ``signer_account``; known
        before opening)."""
        if self._signer_account is not None:
            return self._signer_account
        if self._signer is None:
            raise KanaError("no wallet address: KanaClient(..., private_key=...) was not given")
        return self._signer.address

    async def profile_address(self) -> str:
        """The trade profile of the signer's wallet: the address WebSocket topics are keyed by.

        :raises KanaError: if the client has no wallet address (no ``private_key`` or
            ``signer_account``).
        :raises ApiError: if the REST API refuses the request (:class:`AuthError`,
            :class:`RateLimitError` among them) or its answer is not an address.
        :raises TransportError: if the REST API gives no usable answer within the retry policy.
        """
        return await self.rest.get_profile_address(self.address)

    # -- trading (each delegates to :attr:`trader`; see :class:`~kana_async.trade.Trader`) ---

    place_limit_order = _delegate(Trader.place_limit_order)
    place_market_order = _delegate(Trader.place_market_order)
    place_multiple_orders = _delegate(Trader.place_multiple_orders)
    cancel_multiple_orders = _delegate(Trader.cancel_multiple_orders)
    cancel_and_place_multiple_orders = _delegate(Trader.cancel_and_place_multiple_orders)
    cancel_order = _delegate(Trader.cancel_order)
    cancel_all = _delegate(Trader.cancel_all)
    open_order_sides = _delegate(Trader.open_order_sides)
    update_take_profit = _delegate(Trader.update_take_profit)
    update_stop_loss = _delegate(Trader.update_stop_loss)
    add_margin = _delegate(Trader.add_margin)
    collapse_position = _delegate(Trader.collapse_position)
    deposit = _delegate(Trader.deposit)
    withdraw = _delegate(Trader.withdraw)
    withdraw_multiple = _delegate(Trader.withdraw_multiple)
    settle_pnl = _delegate(Trader.settle_pnl)
    wait = _delegate(Trader.wait)
    resolve = _delegate(Trader.resolve)

    def in_doubt(self) -> list[str]:
        """Hashes of transactions signed and maybe sent whose outcome is not known yet
        (including after the caller was cancelled or timed out), oldest first; settle one
        with :meth:`resolve`. Still answers after the client is closed. Through a signer
        (``signer_url=``): this process's calls whose outcome is unknown, by hash or, when
        no answer came at all, by the call's label."""
        if self._remote_trader is not None:
            return self._remote_trader.in_doubt()
        if self._signer_url is not None:
            return []
        if self._signer is None:
            raise KanaError("trading needs a private key: KanaClient(..., private_key=...)")
        return [] if self._submitter is None else self._submitter.in_doubt()

    @property
    def http(self) -> aiohttp.ClientSession:
        """The client's aiohttp session, for components that need HTTP (open client only)."""
        if self._http is None:
            raise RuntimeError("KanaClient is not open; use 'async with KanaClient(...)'")
        return self._http


def _remote_signer(url: object, account: object, private_key: object
                   ) -> tuple[str | None, str | None]:
    """``(signer_url, signer_account)`` checked: both or neither, and not with a key."""
    if url is None and account is None:
        return None, None
    if url is None or account is None:
        raise ValidationError("signer_url", "give signer_url and signer_account together")
    if private_key is not None:
        raise ValidationError("signer_url", "give either private_key or signer_url, not both")
    if not isinstance(url, str) or not url.startswith(("nats://", "tls://")):
        raise ValidationError("signer_url", "must be a nats:// (or tls://) URL")
    if not isinstance(account, str):
        raise ValidationError("signer_account", "must be the signer's wallet address (0x...)")
    from .models import normalize_address

    return url, normalize_address(account, param="signer_account")


def _check_simulator_options(simulator_type: Any, options: dict[str, Any]) -> None:
    import inspect

    known = set(inspect.signature(simulator_type).parameters)
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValidationError(
            "simulator", f"unknown Simulator argument(s) {', '.join(unknown)}", None
        )


def _ssl_context(ca_file: object, context: object) -> ssl.SSLContext | None:
    """The TLS context the options ask for; ``None`` keeps aiohttp's default (system CAs)."""
    if ca_file is not None and context is not None:
        raise ValidationError("ssl_context", "give either ca_file or ssl_context, not both")
    if context is not None:
        if not isinstance(context, ssl.SSLContext):
            raise ValidationError(
                "ssl_context", f"must be an ssl.SSLContext, not {type(context).__name__}"
            )
        return context
    if ca_file is None:
        return None
    if not isinstance(ca_file, (str, os.PathLike)):
        raise ValidationError(
            "ca_file", f"must be a path (str or os.PathLike), not {type(ca_file).__name__}"
        )
    path = os.fspath(ca_file)
    try:
        return ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        # ssl.SSLError is an OSError too; its text names OpenSSL internals.
        ssl_problem = isinstance(exc, ssl.SSLError) or not exc.strerror
        reason = "no usable certificate in it" if ssl_problem else exc.strerror
        raise ValidationError(
            "ca_file", f"must be a readable PEM file of CA certificates ({reason})", path
        ) from None


def _rate_limiter(value: object) -> RateLimiter | None:
    if value is None or isinstance(value, RateLimiter):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return RateLimiter(value)
    raise ValidationError("rate_limit", "must be a RateLimiter or requests per second", value)
