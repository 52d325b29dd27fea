"""The gateway's request handling: one call in (method, params, the caller's session), the
document's result shape out, or a :class:`~.errors.PulseError`.

Transport-free: the server (WebSocket or HTTP) owns a :class:`Session` per connection (per
request on HTTP, carrying its Bearer token) and calls :meth:`Gateway.handle`. Connection-level
methods (heartbeat, cancel-on-disconnect, subscriptions, logout) only change the session; the
server acts on it (sends heartbeats, cancels by origin on close, pushes notifications).
Trading and queries go to the :class:`~.engine.PulseEngine`; results go through :mod:`.views`.

Where the document is silent: request timestamps are ms; ``count`` 0 (the document's example)
means the default; ``get_funding_rate_history`` answers one element per instrument (all of them
without ``instrument_name``); ``get_mmp_config`` always answers one object; ``expired=true``
lists nothing (perpetuals do not expire); linked orders are refused; cancel-on-disconnect
called over HTTP answers but protects nothing (an HTTP request has no lasting connection).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from ..._version import __version__
from . import views
from .auth import Authenticator
from .channels import Channel, parse_channel
from .errors import Code, PulseError
from .methods import coerce_query, lookup, validate

if TYPE_CHECKING:
    from .engine import PulseEngine

__all__ = ["MAX_SUBSCRIPTIONS", "Gateway", "Session"]

#: Channels one connection may hold (every store is bounded).
MAX_SUBSCRIPTIONS = 1000
#: ``get_funding_chart_data`` lengths, in ms.
_LENGTHS = {"8h": 8 * 3_600_000, "24h": 24 * 3_600_000, "1m": 30 * 24 * 3_600_000}
_connections = itertools.count(1)


def _connection_id() -> str:
    return f"conn-{next(_connections)}"


@dataclass(slots=True, eq=False)
class Session:
    """What the gateway knows of one connection (one HTTP request is a connection of its own).

    ``client_id``/``token`` are set by ``public/auth`` on a WebSocket, or by the server from an
    HTTP Bearer token (``token`` only; the client is looked up on every call, so an expired or
    revoked token stops working at once). ``just_subscribed`` lists the channels of the last
    subscribe call, repeated ones included: the server sends their first notification (a fresh
    book snapshot, the fee, the trading status).
    """

    transport: Literal["ws", "http"] = "ws"
    connection_id: str = field(default_factory=_connection_id)
    client_id: str | None = None
    token: str | None = None
    heartbeat_interval: int | None = None
    cancel_on_disconnect: bool = False
    subscriptions: dict[str, Channel] = field(default_factory=dict)
    logged_out: bool = False
    just_subscribed: list[Channel] = field(default_factory=list)

    def __repr__(self) -> str:  # no token in reprs
        return (f"Session({self.transport} {self.connection_id}, client={self.client_id!r}, "
                f"subscriptions={len(self.subscriptions)})")


Handler = Callable[["Session", dict[str, Any], "str | None"], Any]


class Gateway:
    """Serves the 38 methods (and ``public/test``) for the server, whatever the transport."""

    def __init__(self, engine: PulseEngine, auth: Authenticator, *, strict: bool = True,
                 ws_only_over_http: bool = False) -> None:
        self.engine = engine
        self.auth = auth
        self.strict = strict
        self.ws_only_over_http = ws_only_over_http

    def handle(self, session: Session, method: object, params: object, *,
               query: bool = False) -> Any:
        """The document's result of ``method`` called with ``params`` on ``session``.

        ``query=True`` when ``params`` came from an HTTP query string (every value text): they
        are parsed to the declared JSON types first. Raises :class:`PulseError`.
        """
        spec = lookup(method)
        if session.transport == "http" and spec.ws_only and not self.ws_only_over_http:
            raise PulseError(Code.MUST_BE_WEBSOCKET_REQUEST,
                             f"{spec.name} is served on the WebSocket only")
        if query and isinstance(params, Mapping):
            params = coerce_query(spec, params)
        checked = validate(spec, params, strict=self.strict)
        client = self._client(session, spec.name, checked) if spec.private else None
        if client is not None and session.transport == "ws" and session.client_id is None:
            # A socket that authorizes calls with ``access_token`` belongs to that client:
            # its private channels and cancel-on-disconnect need an owner.
            session.client_id = client
        handler: Handler = getattr(self, "_" + spec.handler)
        return handler(session, checked, client)

    def _client(self, session: Session, method_name: str, params: Mapping[str, Any]) -> str:
        if session.logged_out:
            raise PulseError(Code.UNAUTHORIZED, "the session logged out")
        token = params.get("access_token", session.token)
        if token is None:
            how = ("send 'Authorization: Bearer <access_token>' from public/auth"
                   if session.transport == "http" else
                   "call public/auth on this connection first (or send an access token)")
            raise PulseError(Code.AUTHORIZATION_REQUIRED, f"{method_name} needs auth: {how}")
        if not isinstance(token, str):
            raise PulseError(Code.INVALID_PARAMS, "access_token must be a string",
                             param="access_token")
        return self.auth.client_of(token)

    # -- authentication --------------------------------------------------------------------------

    def _auth(self, session: Session, p: dict[str, Any], _: str | None) -> Any:
        claimed = p.get("client_id")
        new = isinstance(claimed, str) and not self.auth.registered(claimed)
        result, client = self.auth.login(p)
        try:
            self.engine.account(client)  # registered and funded on first sight
        except PulseError:
            # The engine refused the account (reserved name, full): the login did not happen.
            if new:
                self.auth.unregister(client)
            else:
                self.auth.revoke(result["access_token"])
            raise
        if session.transport == "ws":
            session.client_id = client
            session.token = result["access_token"]
            session.logged_out = False
        return result

    def _logout(self, session: Session, p: dict[str, Any], client: str | None) -> Any:
        token = p.get("access_token", session.token)
        if p.get("invalidate_token", True) and isinstance(token, str):
            self.auth.revoke(token)
        session.logged_out = True
        return None

    def _test(self, session: Session, p: dict[str, Any], _: str | None) -> Any:
        if p.get("expected_result") == "exception":
            raise PulseError(Code.ERROR, "public/test was asked to fail (expected_result)")
        return {"version": __version__}

    # -- connection: heartbeat, cancel-on-disconnect, subscriptions ------------------------------

    def _set_heartbeat(self, session: Session, p: dict[str, Any], _: str | None) -> Any:
        session.heartbeat_interval = int(self._need(p, "interval"))
        return views.message()

    def _disable_heartbeat(self, session: Session, p: dict[str, Any], _: str | None) -> Any:
        session.heartbeat_interval = None
        return views.message()

    def _enable_cancel_on_disconnect(self, session: Session, p: dict[str, Any],
                                     _: str | None) -> Any:
        session.cancel_on_disconnect = True
        return None

    def _disable_cancel_on_disconnect(self, session: Session, p: dict[str, Any],
                                      _: str | None) -> Any:
        session.cancel_on_disconnect = False
        return None

    def _get_cancel_on_disconnect(self, session: Session, p: dict[str, Any],
                                  _: str | None) -> Any:
        return session.cancel_on_disconnect

    def _subscribe(self, session: Session, p: dict[str, Any], client: str | None) -> Any:
        private = client is not None
        names = p.get("channels")
        if names is None:
            raise PulseError(Code.VALUE_REQUIRED, "channels is required", param="channels")
        if not names:
            raise PulseError(Code.INVALID_ARGUMENTS, "channels must name at least one channel",
                             param="channels")
        wanted: list[Channel] = []
        for name in dict.fromkeys(names):  # a name given twice is one subscription
            channel = parse_channel(name, self.engine.instruments)
            if channel.kind != "heartbeat_trade" and channel.private != private:
                method = "private/subscribe" if channel.private else "public/subscribe"
                raise PulseError(Code.INVALID_ARGUMENTS,
                                 f"channel {name!r} is subscribed through {method}",
                                 param="channels")
            wanted.append(channel)
        fresh = {c.name for c in wanted} - session.subscriptions.keys()
        if len(session.subscriptions) + len(fresh) > MAX_SUBSCRIPTIONS:
            raise PulseError(Code.INVALID_ARGUMENTS, f"a connection holds at most "
                             f"{MAX_SUBSCRIPTIONS} channels", param="channels")
        for channel in wanted:
            session.subscriptions[channel.name] = channel
        session.just_subscribed = wanted
        return "ok"

    def _unsubscribe_all(self, session: Session, p: dict[str, Any], client: str | None) -> Any:
        private = client is not None
        session.subscriptions = {
            name: c for name, c in session.subscriptions.items()
            if c.kind != "heartbeat_trade" and c.private != private
        }
        session.just_subscribed = []
        return views.message()

    # -- market data -----------------------------------------------------------------------------

    def _get_instruments(self, session: Session, p: dict[str, Any], _: str | None) -> Any:
        coins = self._currencies(p.get("currency"))
        kind = p.get("kind")
        if p.get("expired"):
            return []  # perpetuals never expire
        return [views.instrument(i) for i in self.engine.instruments.values()
                if i.base_currency in coins and (kind is None or kind == i.kind)]

    def _get_tradingview_chart_data(self, session: Session, p: dict[str, Any],
                                    _: str | None) -> Any:
        name = self._instrument(p)
        start, end = self._need(p, "start_timestamp"), self._need(p, "end_timestamp")
        resolution = self._need(p, "resolution")
        return views.candles(self.engine.candles(name, resolution, start, end))

    def _get_delivery_prices(self, session: Session, p: dict[str, Any], _: str | None) -> Any:
        index = self._need(p, "index_name")
        prices = self.engine.delivery_prices(index, count=self._count(p, 10),
                                             offset=self._offset(p))
        return [views.delivery_price(date, price) for date, price in prices]

    def _get_funding_chart_data(self, session: Session, p: dict[str, Any], _: str | None) -> Any:
        name = self._instrument(p)
        length = self._need(p, "length")
        if length not in _LENGTHS:
            raise PulseError(Code.INVALID_ARGUMENTS, "length must be one of 8h, 24h, 1m",
                             param="length")
        end = self.engine.now_ms()
        rounds = self.engine.funding_rounds(name, start_ms=end - _LENGTHS[length], end_ms=end)
        return views.funding_chart(rounds, self.engine.current_funding(name))

    def _get_funding_rate_history(self, session: Session, p: dict[str, Any],
                                  _: str | None) -> Any:
        name = p.get("instrument_name")
        names = [self.engine.instrument(name).instrument_name] if name is not None else list(
            self.engine.instruments)
        start, end = p.get("start_timestamp"), p.get("end_timestamp")
        return [views.funding_chart(self.engine.funding_rounds(n, start_ms=start, end_ms=end),
                                    self.engine.current_funding(n)) for n in names]

    def _get_index_price(self, session: Session, p: dict[str, Any], _: str | None) -> Any:
        return views.num(self.engine.index_price(self._need(p, "index_name")))

    def _last_trades_by_instrument(self, session: Session, p: dict[str, Any],
                                   _: str | None) -> Any:
        name = self._instrument(p)
        trades = self.engine.last_trades(
            name, start_seq=p.get("start_seq"), end_seq=p.get("end_seq"),
            start_ms=p.get("start_timestamp"), end_ms=p.get("end_timestamp"),
            count=self._count(p, 10), sorting=self._sorting(p))
        return [views.trades_response(t) for t in trades]

    # -- trading ---------------------------------------------------------------------------------

    def _buy(self, session: Session, p: dict[str, Any], client: str | None) -> Any:
        return self._order(session, "buy", p, self._owner(client))

    def _sell(self, session: Session, p: dict[str, Any], client: str | None) -> Any:
        return self._order(session, "sell", p, self._owner(client))

    def _order(self, session: Session, direction: Literal["buy", "sell"], p: dict[str, Any],
               client: str) -> Any:
        if p.get("linked_order_type") is not None or p.get("otoco_config"):
            raise PulseError(Code.INVALID_ARGUMENTS, "linked orders are not simulated "
                             "(linked_order_type, otoco_config)", param="linked_order_type")
        order, trades = self.engine.place(
            client, direction, self._instrument(p), self._need(p, "amount"),
            type=p.get("type", "limit"), price=p.get("price"),
            time_in_force=p.get("time_in_force", "good_til_cancelled"),
            label=p.get("label", ""), post_only=p.get("post_only", False),
            reduce_only=p.get("reduce_only", False), mmp=p.get("mmp", False),
            max_show=p.get("max_show"), trigger=p.get("trigger"),
            trigger_price=p.get("trigger_price"), origin=session.connection_id)
        return {"order": views.order_confirmation(order),
                "trades": [views.trade_confirmation(t, client, state=order.state)
                           for t in trades]}

    def _edit(self, session: Session, p: dict[str, Any], client: str | None) -> Any:
        owner = self._owner(client)
        order, trades = self.engine.edit(owner, self._need(p, "order_id"),
                                         amount=p.get("amount"), price=p.get("price"),
                                         trigger_price=p.get("trigger_price"))
        return {"order": views.order_confirmation(order),
                "trades": [views.trade_confirmation(t, owner, state=order.state)
                           for t in trades]}

    def _cancel(self, session: Session, p: dict[str, Any], client: str | None) -> Any:
        order = self.engine.cancel(self._owner(client), self._need(p, "order_id"))
        return views.order_confirmation(order)

    def _cancel_all(self, session: Session, p: dict[str, Any], client: str | None) -> Any:
        return [views.order_confirmation(o) for o in self.engine.cancel_all(self._owner(client))]

    def _cancel_all_by_instrument(self, session: Session, p: dict[str, Any],
                                  client: str | None) -> Any:
        orders = self.engine.cancel_all(self._owner(client), instrument_name=self._instrument(p),
                                        type=p.get("type", "all"))
        return [views.order_confirmation(o) for o in orders]

    def _get_mmp_config(self, session: Session, p: dict[str, Any], client: str | None) -> Any:
        """One ``models.SetMMPConfig`` object, as documented; an index without protection
        answers its disabled configuration (zeros). Without ``index_name``: the first index
        (by name) that has a configuration, else the first index's disabled one."""
        owner = self._owner(client)
        index = p.get("index_name")
        configs = self.engine.mmp_config(owner, index)
        if index is None:
            configs = sorted(configs, key=lambda c: c.index_name)
            index = min(i.index_name for i in self.engine.instruments.values())
        if configs:
            return views.mmp_config(configs[0])
        return {"frozen_time": 0, "index_name": index.lower(), "interval": 0,
                "quantity_limit": 0}

    def _set_mmp_config(self, session: Session, p: dict[str, Any], client: str | None) -> Any:
        config = self.engine.set_mmp_config(
            self._owner(client), self._need(p, "index_name"),
            interval=p.get("interval", Decimal(0)), frozen_time=p.get("frozen_time", Decimal(0)),
            quantity_limit=p.get("quantity_limit", Decimal(0)))
        return views.mmp_config(config)

    def _get_open_orders_by_instrument(self, session: Session, p: dict[str, Any],
                                       client: str | None) -> Any:
        orders = self.engine.open_orders(
            self._owner(client), self._instrument(p), type=p.get("type", "all"),
            count=self._count(p, 0) or None)
        return [views.order_confirmation(o) for o in orders]

    def _get_order_book(self, session: Session, p: dict[str, Any], client: str | None) -> Any:
        return views.book_summary(self.engine.order_book(self._instrument(p), p.get("depth")))

    def _get_order_history_by_instrument(self, session: Session, p: dict[str, Any],
                                         client: str | None) -> Any:
        orders = self.engine.order_history(
            self._owner(client), self._instrument(p), count=self._count(p, 20),
            offset=self._offset(p), include_old=p.get("include_old", False),
            include_unfilled=p.get("include_unfilled", False))
        return [views.order_confirmation(o) for o in orders]

    def _get_order_state(self, session: Session, p: dict[str, Any], client: str | None) -> Any:
        order = self.engine.order(self._owner(client), self._need(p, "order_id"))
        return [views.order_confirmation(order)]  # the document's one-element array

    def _get_order_state_by_label(self, session: Session, p: dict[str, Any],
                                  client: str | None) -> Any:
        orders = self.engine.orders_by_label(
            self._owner(client), self._need(p, "currency"), p.get("label"),
            count=self._count(p, 20), offset=self._offset(p))
        return [views.order_confirmation(o) for o in orders]

    def _get_settlement_history_by_currency(self, session: Session, p: dict[str, Any],
                                            client: str | None) -> Any:
        values = self.engine.settlements(
            self._owner(client), type=self._need(p, "type"), currency=p.get("currency"),
            search_start_ms=p.get("search_start_timestamp"), count=self._count(p, 20))
        return [views.settlement(s) for s in values]

    def _get_settlement_history_by_instrument(self, session: Session, p: dict[str, Any],
                                              client: str | None) -> Any:
        name = p.get("instrument_name")
        values = self.engine.settlements(
            self._owner(client), type=self._need(p, "type"),
            instrument_name=None if name is None else self.engine.instrument(
                name).instrument_name,
            search_start_ms=p.get("search_start_timestamp"), count=self._count(p, 20))
        return [views.settlement(s) for s in values]

    def _get_user_trades_by_instrument(self, session: Session, p: dict[str, Any],
                                       client: str | None) -> Any:
        owner = self._owner(client)
        trades = self.engine.user_trades(
            owner, instrument_name=self._instrument(p), start_ms=p.get("start_timestamp"),
            end_ms=p.get("end_timestamp"), count=self._count(p, 10), sorting=self._sorting(p))
        return [views.trades_response(t, owner) for t in trades]

    def _get_user_trades_by_order(self, session: Session, p: dict[str, Any],
                                  client: str | None) -> Any:
        owner = self._owner(client)
        trades = self.engine.user_trades(owner, order_id=self._need(p, "order_id"),
                                         count=self._count(p, 10), sorting=self._sorting(p))
        return [views.trades_response(t, owner) for t in trades]

    # -- wallet ----------------------------------------------------------------------------------

    def _get_account_summary(self, session: Session, p: dict[str, Any],
                             client: str | None) -> Any:
        return views.account_summary(self.engine.summary(self._owner(client), p.get("currency")))

    def _get_deposits(self, session: Session, p: dict[str, Any], client: str | None) -> Any:
        values = self.engine.deposits(self._owner(client), currency=p.get("currency"),
                                      count=self._count(p, 10), offset=self._offset(p))
        return [views.deposit(d) for d in values]

    def _get_positions(self, session: Session, p: dict[str, Any], client: str | None) -> Any:
        reports = self.engine.positions(self._owner(client), currency=p.get("currency"),
                                        kind=p.get("kind"))
        return [views.position_confirmation(r) for r in reports]

    # -- parameter helpers -----------------------------------------------------------------------

    @staticmethod
    def _owner(client: str | None) -> str:
        if client is None:  # pragma: no cover - private methods always resolve a client
            raise PulseError(Code.AUTHORIZATION_REQUIRED, "this method needs authorization")
        return client

    @staticmethod
    def _need(p: Mapping[str, Any], name: str) -> Any:
        """A parameter the call cannot do without (also when validation is lenient)."""
        value = p.get(name)
        if value is None:
            raise PulseError(Code.VALUE_REQUIRED, f"{name} is required", param=name)
        return value

    def _instrument(self, p: Mapping[str, Any]) -> str:
        return self.engine.instrument(self._need(p, "instrument_name")).instrument_name

    @staticmethod
    def _count(p: Mapping[str, Any], default: int) -> int:
        """``count``; absent or 0 (the document's example value) means the default. The
        engine checks the range."""
        count = p.get("count")
        return default if not count else int(count)

    @staticmethod
    def _offset(p: Mapping[str, Any]) -> int:
        return int(p.get("offset", 0))

    @staticmethod
    def _sorting(p: Mapping[str, Any]) -> str:
        """``asc``, ``desc`` or ``default`` (newest first, like an absent one)."""
        return str(p.get("sorting", "desc"))

    def _currencies(self, currency: str | None) -> set[str]:
        """The coins a ``currency`` parameter selects (USD: every instrument's coin)."""
        coins = {i.base_currency for i in self.engine.instruments.values()}
        if currency is None or currency == "USD":
            return coins
        if currency not in coins:
            raise PulseError(Code.INVALID_ARGUMENTS, f"currency must be one of "
                             f"{', '.join(sorted(coins | {'USD'}))}", param="currency")
        return {currency}
