"""Who hears what: the gateway's subscription index and its rounds of notifications.

:class:`Pusher` keeps, for every subscribed channel name, the connections that hold it, and turns
what changed in the engine since the last round (its events, its books) into notification frames
for exactly those connections: public channels to every subscriber, private ones to the
subscribers logged in as the account concerned. Payloads come from :mod:`.channels` and
:mod:`.views` and are encoded once per channel name. Synchronous; :mod:`.server` calls it from
its push task and after subscribe calls, and hands frames to each connection's bounded queue.

Choices where the document is silent (also in ``docs/simulator.md``): every ``interval``
(``raw``, ``100ms``, ``agg2``) gets every change, once per push round; a subscription to ``book``,
``quote``, ``deribit_price_index``, ``user_fee`` or ``heartbeat_trade`` is answered with the
current state at once, the other channels speak when something happens; ``user.changes`` carries
the orders and trades of one account and instrument within one push round.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from . import channels, views
from .accounts import TAKER_FEE
from .channels import BookFeed, Channel
from .domain import FundingRound, Order, Trade
from .frames import notification
from .gateway import Session

if TYPE_CHECKING:
    from .config import PulseConfig
    from .engine import PulseEngine

__all__ = ["Pusher", "Subscriber"]

#: Most accounts whose traded volume is remembered for ``user_fee`` (oldest forgotten first).
MAX_VOLUMES = 100_000


class Subscriber(Protocol):
    """What the pusher needs of a connection."""

    session: Session
    indexed: set[str]


Offer = Callable[[Any, bytes], None]


class Pusher:
    """The subscription index and the notification rounds of one gateway."""

    def __init__(self, engine: PulseEngine, config: PulseConfig, offer: Offer) -> None:
        self.engine = engine
        self.config = config
        self._offer = offer
        self._by_name: dict[str, set[Subscriber]] = {}
        self._names: dict[tuple[str, str | None], set[str]] = {}
        self._key_of: dict[str, tuple[str, str | None]] = {}
        self._feeds: dict[str, BookFeed] = {}
        self._tops: dict[str, tuple[Any, Any]] = {}
        self._volumes: OrderedDict[str, Decimal] = OrderedDict()
        self._seq = 0
        self._next_status = 0.0
        #: ``notifications`` sent (one per connection), engine ``events_lost`` by falling behind.
        self.stats = {"notifications": 0, "events_lost": 0}

    def start(self) -> None:
        """Begin with the engine's next event (earlier ones were nobody's)."""
        self._seq = self.engine.last_seq

    def subscribers(self, channel: str) -> int:
        """How many connections hold ``channel`` (a test waits for this instead of sleeping)."""
        return len(self._by_name.get(channel, ()))

    def has_book(self, instrument_name: str) -> bool:
        return bool(self._names.get(("book", instrument_name)))

    # -- the index -------------------------------------------------------------------------

    def subscribed(self, conn: Subscriber) -> None:
        """After a subscribe or unsubscribe_all call of ``conn``: first a round for the current
        subscribers (so that what ``conn`` is sent next, the current state, is news to nobody and
        old to no one: a new book snapshot continues their chain), then index ``conn``."""
        if self._by_name:
            self._round()
        for channel in conn.session.just_subscribed:
            if channel.kind == "book" and channel.key is not None:
                self._advance_book(channel.key)
        self._reindex(conn, set(conn.session.subscriptions))

    def forget(self, conn: Subscriber) -> None:
        self._reindex(conn, set())

    def _reindex(self, conn: Subscriber, names: set[str]) -> None:
        subscriptions = conn.session.subscriptions
        for name in conn.indexed - names:
            holders = self._by_name.get(name)
            if holders is not None:
                holders.discard(conn)
                if not holders:
                    del self._by_name[name]
                    key = self._key_of.pop(name)
                    group = self._names[key]
                    group.discard(name)
                    if not group:
                        del self._names[key]
        for name in names - conn.indexed:
            channel = subscriptions[name]
            key = (channel.kind, channel.key)
            self._by_name.setdefault(name, set()).add(conn)
            self._key_of[name] = key
            self._names.setdefault(key, set()).add(name)
        conn.indexed = names

    def welcome(self, conn: Subscriber) -> None:
        """The first notification of each channel ``conn`` just subscribed (repeats included)."""
        session = conn.session
        wanted, session.just_subscribed = session.just_subscribed, []
        for channel in wanted:
            data = self._current(channel, session)
            if data is not None:
                self._send(conn, channel.name, data)

    def _current(self, channel: Channel, session: Session) -> Any:
        engine, key = self.engine, channel.key
        if channel.kind == "book" and key is not None:
            return self._feed(key).snapshot(engine.now_ms())
        if channel.kind == "quote" and key is not None:
            bids, asks = engine.book(key)
            self._tops[key] = (bids[:1], asks[:1])
            return channels.quote(engine.instruments[key], bids, asks, engine.now_ms())
        if channel.kind == "deribit_price_index" and key is not None:
            return channels.price_notification(key, engine.index_price(key), engine.now_ms())
        if channel.kind == "user_fee" and session.client_id is not None:
            return self._fee(session.client_id)
        if channel.kind == "heartbeat_trade":
            return channels.heartbeat_trade()
        return None

    # -- rounds ----------------------------------------------------------------------------

    def skip(self, instrument_name: str) -> None:
        """Leave a gap in the next change of this book (fault injection)."""
        self._feed(instrument_name).skip()

    def push(self) -> None:
        """One round: book and quote changes, then the engine's new events, then the trading
        status when it is due."""
        if not self._by_name:
            self._seq = self.engine.last_seq
            return
        self._round()
        now = time.monotonic()
        if now >= self._next_status:
            self._next_status = now + self.config.heartbeat_trade_interval
            self._publish("heartbeat_trade", None, None, channels.heartbeat_trade)

    def _round(self) -> None:
        for name in self.engine.instruments:
            if self._names.get(("book", name)) or self._names.get(("quote", name)):
                self._books(name)
        self._events()

    def _feed(self, name: str) -> BookFeed:
        feed = self._feeds.get(name)
        if feed is None:
            feed = self._feeds[name] = BookFeed(self.engine.instruments[name],
                                                max_levels=self.config.max_book_levels)
        if not feed.primed:
            self._advance_book(name)
        return feed

    def _advance_book(self, name: str) -> None:
        feed = self._feeds.get(name)
        if feed is None:
            feed = self._feeds[name] = BookFeed(self.engine.instruments[name],
                                                max_levels=self.config.max_book_levels)
        bids, asks = self.engine.book(name)
        change = feed.update(bids, asks, self.engine.now_ms())
        if change is not None:
            self._publish("book", name, None, _same, change)

    def _books(self, name: str) -> None:
        bids, asks = self.engine.book(name)
        now = self.engine.now_ms()
        if self._names.get(("book", name)):
            change = self._feed(name).update(bids, asks, now)
            if change is not None:
                self._publish("book", name, None, _same, change)
        if self._names.get(("quote", name)):
            top = (bids[:1], asks[:1])
            if self._tops.get(name) != top:
                self._tops[name] = top
                self._publish("quote", name, None, channels.quote, self.engine.instruments[name],
                              bids, asks, now)

    def _events(self) -> None:
        events = self.engine.events_since(self._seq)
        if events and events[0].seq > self._seq + 1:
            self.stats["events_lost"] += events[0].seq - self._seq - 1
        self._seq = max(self._seq, self.engine.last_seq)
        changes: dict[tuple[str, str], tuple[list[Any], list[Any]]] = {}
        now = self.engine.now_ms()
        for event in events:
            kind, key, value, account = event.kind, event.key, event.value, event.account
            if kind == "order" and isinstance(value, Order) and account is not None:
                data = self._publish("user.orders", key, account, views.order_confirmation,
                                     value)
                if self._names.get(("user.changes", key)):
                    entry = changes.setdefault((account, key), ([], []))
                    entry[0].append(data or views.order_confirmation(value))
            elif kind == "trade" and isinstance(value, Trade) and account is not None:
                self._count_volume(account, value)
                data = self._publish("user.trades", key, account, views.trades_response,
                                     value, account)
                if self._names.get(("user.changes", key)):
                    entry = changes.setdefault((account, key), ([], []))
                    entry[1].append(data or views.trades_response(value, account))
                self._publish("user_fee", None, account, self._fee, account)
            elif kind == "mmp_trigger" and account is not None and isinstance(value, int):
                self._publish("user.mmp_trigger", key.lower(), account, channels.mmp_trigger,
                              key, value)
            elif kind in ("index", "settlement") and isinstance(value, Decimal):
                channel = "deribit_price_index" if kind == "index" else "settlement_prices"
                self._publish(channel, key.lower(), None, channels.price_notification, key,
                              value, now)
            elif kind == "funding" and isinstance(value, FundingRound):
                name = value.instrument.instrument_name
                self._publish("funding_payments", name, None, views.funding_payment, value)
                self._publish("funding_prices", name, None, views.funding_price, value, now)
                self._publish("funding_rates", name, None, views.funding_rate, value)
        for (account, name), (orders, trades) in changes.items():
            self._publish("user.changes", name, account, channels.user_changes, orders, trades)

    def _count_volume(self, account: str, trade: Trade) -> None:
        volume = self._volumes.pop(account, Decimal(0))
        self._volumes[account] = volume + trade.instrument.amount(trade.amount)
        while len(self._volumes) > MAX_VOLUMES:
            self._volumes.popitem(last=False)

    def _fee(self, client_id: str) -> dict[str, Any]:
        user_id = self.engine.account(client_id).account_id
        return channels.user_fee(user_id, percentage=(TAKER_FEE * 100).normalize(),
                                 volume=self._volumes.get(client_id, Decimal(0)))

    # -- sending ---------------------------------------------------------------------------

    def _publish(self, kind: str, key: str | None, account: str | None,
                 build: Callable[..., Any], *args: Any) -> Any:
        """Send ``build(*args)`` to the subscribers of ``(kind, key)`` (those logged in as
        ``account`` for a private channel); the data, or None if nobody was listening."""
        names = self._names.get((kind, key))
        if not names:
            return None
        data: Any = None
        for name in names:
            frame: bytes | None = None
            for conn in self._by_name.get(name, ()):
                if account is not None and conn.session.client_id != account:
                    continue
                if frame is None:
                    if data is None:
                        data = build(*args)
                    frame = views.encode(notification(name, data))
                self._offer(conn, frame)
                self.stats["notifications"] += 1
        return data

    def _send(self, conn: Subscriber, channel: str, data: Any) -> None:
        self._offer(conn, views.encode(notification(channel, data)))
        self.stats["notifications"] += 1


def _same(value: Any) -> Any:
    return value
