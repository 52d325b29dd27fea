"""The indexer WebSocket topics: their key, payload type and overflow default.

The one topic table of the package: the client's router and subscriptions and the simulator's
indexer server (``sim/kana_ws.py``) and engine all take topic names, key fields and the
snapshot/event kind from :data:`TOPICS`. One :class:`TopicSpec` per topic holds everything,
built once at import: the payload decoder, the key-only decoder used when several keys of one
topic share the connection, and the key validation applied before anything is sent.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import msgspec

from ..errors import ValidationError
from ..models import (
    BestPrice,
    DepositWithdraw,
    FundingRate,
    OpenOrder,
    Order,
    OrderBookLevel,
    Position,
    Trade,
    decoder,
    normalize_address,
)
from ..models.kana import BestPriceDecoder

__all__ = [
    "TOPICS",
    "KeyKind",
    "Overflow",
    "TopicSpec",
    "subscribe_message",
    "topic_spec",
    "validate_key",
]

KeyKind = Literal["address", "market_id"]

_U64_MAX = 2**64 - 1


class Overflow(str, enum.Enum):
    """What a subscription does when its consumer falls behind.

    ``KEEP_LATEST`` keeps only the newest message (right for snapshot topics, where every
    message is the whole state); ``ERROR`` keeps a bounded queue, drops the oldest items when
    it is full and makes the consumer's next read raise :class:`~kana_async.SlowConsumerError`.
    """

    KEEP_LATEST = "keep_latest"
    ERROR = "error"


class PayloadDecoder(Protocol):
    """What turns a payload into its value: a ``msgspec.json.Decoder``, or a lenient one."""

    def decode(self, buf: Any, /) -> Any: ...


class AddressKey(msgspec.Struct, gc=False):
    """The only field read from ``data`` to route an address-keyed frame."""

    address: str | None = None


class MarketKey(msgspec.Struct, gc=False):
    """The only field read from ``data`` to route a market-keyed frame (string or number)."""

    market_id: str | int | None = None


@dataclass(frozen=True, eq=False)
class TopicSpec:
    """Everything known about one topic."""

    name: str
    #: Which subscription field keys this topic (``None``: one stream for everybody).
    key: KeyKind | None
    #: The item type of the payload (a list element, or the single object of ``live_*``).
    item: type[msgspec.Struct]
    #: ``data`` is a list (snapshot topics) or a single object (``live_*``).
    is_list: bool
    default_overflow: Overflow
    #: ``list[item]`` or ``item``: what a payload decodes to.
    payload_type: Any
    #: ``(payload bytes) -> value``: the typed decode, built once.
    decoder: PayloadDecoder
    #: ``(payload bytes) -> key view``: reads only the key field, built once (``None`` unkeyed).
    key_decoder: msgspec.json.Decoder[Any] | None

    @property
    def is_event(self) -> bool:
        """Each message is one new record that must be delivered (not the whole state)."""
        return not self.is_list


def _spec(
    name: str,
    key: KeyKind | None,
    item: type[msgspec.Struct],
    *,
    is_list: bool = True,
    payload_decoder: PayloadDecoder | None = None,
    lazy: bool = False,
) -> TopicSpec:
    key_struct: type[msgspec.Struct] | None = {
        "address": AddressKey,
        "market_id": MarketKey,
        None: None,
    }[key]
    key_decoder = None
    if key_struct is not None:
        key_type: Any = list[key_struct] if is_list else key_struct  # type: ignore[valid-type]
        key_decoder = msgspec.json.Decoder(key_type)
    payload_type: Any = list[item] if is_list else item  # type: ignore[valid-type]
    return TopicSpec(
        name=name,
        key=key,
        item=item,
        is_list=is_list,
        default_overflow=Overflow.KEEP_LATEST if is_list else Overflow.ERROR,
        payload_type=payload_type,
        decoder=payload_decoder or decoder(payload_type, lazy=lazy),
        key_decoder=key_decoder,
    )


#: Every topic of the documents by name. ``best_price`` is PROVISIONAL: the documents show no
#: key or payload; it follows the embedded simulator (keyed by market, a list of
#: :class:`~kana_async.models.BestPrice`) and is decoded leniently, keeping unknown fields.
TOPICS: dict[str, TopicSpec] = {
    spec.name: spec
    for spec in (
        _spec("positions", "address", Position),
        _spec("open_orders", "address", OpenOrder),
        _spec("order_history", "address", Order),
        _spec("trade_history", "address", Trade),
        _spec("deposit_withdraw_history", "address", DepositWithdraw),
        _spec("live_order_history", "address", Order, is_list=False),
        _spec("live_trade_history", "address", Trade, is_list=False),
        # Eager: measured, lazy money made reading the top of the book 7 % dearer and every
        # level about twice as dear; it paid only for books nobody reads.
        _spec("orderbook", "market_id", OrderBookLevel),
        _spec("recent_trades", "market_id", Trade),
        _spec("live_funding_rate", None, FundingRate),
        _spec("best_price", "market_id", BestPrice, payload_decoder=BestPriceDecoder()),
    )
}


def topic_spec(topic: object) -> TopicSpec:
    """The spec of ``topic``, or a :class:`ValidationError` naming the known topics."""
    spec = TOPICS.get(topic) if isinstance(topic, str) else None
    if spec is None:
        raise ValidationError("topic", f"must be one of {', '.join(TOPICS)}", topic)
    return spec


def canonical_market_id(value: object, *, param: str = "market_id") -> str:
    """A market id as the decimal string the server uses (``1338`` and ``"1338"`` agree)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValidationError(param, "must be a non-negative integer or a string of digits", value)
    text = str(value)
    if not text.isascii() or not text.isdigit() or int(text) > _U64_MAX:
        raise ValidationError(param, "must be a non-negative integer below 2**64", value)
    return str(int(text))


def validate_key(spec: TopicSpec, address: object, market_id: object) -> tuple[str, str]:
    """``(wire key, route key)`` for a subscription, after checking the key rules.

    The wire key is what the subscribe message carries (the address as given, a market id as
    the server's decimal string); the route key is what frames are matched against (addresses
    normalised to 64 lower-case hex digits, since the server sometimes drops a leading zero).
    """
    if spec.key != "address" and address is not None:
        raise ValidationError("address", f"topic {spec.name} takes no address", address)
    if spec.key != "market_id" and market_id is not None:
        raise ValidationError("market_id", f"topic {spec.name} takes no market_id", market_id)
    if spec.key == "address":
        if address is None:
            raise ValidationError("address", f"topic {spec.name} needs a profile address")
        if not isinstance(address, str):
            raise ValidationError("address", "must be a string", address)
        return address, normalize_address(address)
    if spec.key == "market_id":
        if market_id is None:
            raise ValidationError("market_id", f"topic {spec.name} needs a market_id")
        canonical = canonical_market_id(market_id)
        return canonical, canonical
    return "", ""


_encode = msgspec.json.Encoder().encode


def subscribe_message(spec: TopicSpec, wire_key: str) -> bytes:
    """The documented subscription message, e.g. ``{"topic":"orderbook",...}``."""
    body: dict[str, str] = {"topic": spec.name}
    if spec.key is not None:
        body[spec.key] = wire_key
    return _encode(body)
