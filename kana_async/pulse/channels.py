"""The Pulse channel table: each channel pattern's payload type, kind and visibility.

The one table of the Pulse client's channels (:data:`CHANNELS`), built on
:class:`~kana_async.stream.topics.TopicSpec` so a :class:`~kana_async.stream.Subscription`
carries a Pulse channel like a Kana topic. Snapshot channels (every notification is the whole
state: books, quotes, prices, rates, fees, trading status) keep only the latest item; event
channels (orders, trades, user changes, MMP triggers, funding payments) keep every item in a
bounded queue and fail the reader on overflow rather than lose one silently.

S1: ``user.*``, ``user_fee`` and ``heartbeat_trade`` are private (``private/subscribe``); all
others public. P5: ``user.orders`` and ``user.trades`` carry one object (the document) or an
array (Deribit); :func:`split_items` turns either into one payload per item.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from ..errors import ValidationError
from ..models.pulse import (
    BookNotification,
    FundingPaymentNotification,
    FundingPriceNotification,
    FundingRateNotification,
    HeartbeatTrade,
    MMPNotification,
    OrderConfirmation,
    PriceNotification,
    PublishFee,
    PulseDecoder,
    QuoteNotification,
    TradesResponse,
    UserChangesNotification,
)
from ..stream.topics import Overflow, TopicSpec

__all__ = [
    "CHANNELS",
    "ChannelKind",
    "PulseChannel",
    "channel_spec",
    "is_private",
    "split_items",
]

#: The longest channel name accepted (a frame carries many of them; S6).
MAX_CHANNEL_LENGTH = 200


@dataclass(frozen=True)
class ChannelKind:
    """One pattern of the table: what its notifications are and who may hear them."""

    #: The pattern's fixed prefix, e.g. ``"book"`` or ``"user.orders"``.
    prefix: str
    #: The placeholders after the prefix, in order: ``instrument_name``, ``interval``,
    #: ``index_name``.
    params: tuple[str, ...]
    private: bool
    #: Each item is a new record (bounded queue, error on overflow), not the whole state.
    event: bool
    #: ``data`` may be an array of items as well as one item (P5).
    many: bool
    #: The TopicSpec every channel of this pattern shares (decoder built once).
    spec: TopicSpec

    @property
    def pattern(self) -> str:
        """The document's pattern, e.g. ``book.{instrument_name}.{interval}``."""
        return ".".join([self.prefix, *(f"{{{p}}}" for p in self.params)])


def _kind(
    prefix: str,
    params: tuple[str, ...],
    item: type[msgspec.Struct],
    *,
    private: bool = False,
    event: bool = False,
    many: bool = False,
) -> ChannelKind:
    spec = TopicSpec(
        name=prefix,
        key=None,
        item=item,
        # Kana's topics are snapshots exactly when their payload is a list, and the stream
        # reads ``is_event`` (= not is_list) for that. A Pulse payload is always one object
        # (arrays are split first, P5), so here the flag says only "snapshot".
        is_list=not event,
        default_overflow=Overflow.ERROR if event else Overflow.KEEP_LATEST,
        payload_type=item,
        decoder=PulseDecoder(item),
        key_decoder=None,
    )
    return ChannelKind(prefix, params, private, event, many, spec)


_INSTRUMENT = "instrument_name"
_INTERVAL = "interval"
_INDEX = "index_name"

#: The 13 channel patterns of the document, by prefix.
CHANNELS: dict[str, ChannelKind] = {
    kind.prefix: kind
    for kind in (
        _kind("book", (_INSTRUMENT, _INTERVAL), BookNotification),
        _kind("deribit_price_index", (_INDEX,), PriceNotification),
        _kind("funding_payments", (_INSTRUMENT,), FundingPaymentNotification, event=True),
        _kind("funding_prices", (_INSTRUMENT,), FundingPriceNotification),
        _kind("funding_rates", (_INSTRUMENT,), FundingRateNotification),
        _kind("heartbeat_trade", (), HeartbeatTrade, private=True),
        _kind("quote", (_INSTRUMENT,), QuoteNotification),
        _kind("settlement_prices", (_INDEX,), PriceNotification),
        _kind("user.changes", (_INSTRUMENT, _INTERVAL), UserChangesNotification,
              private=True, event=True),
        _kind("user.mmp_trigger", (_INDEX,), MMPNotification, private=True, event=True),
        _kind("user.orders", (_INSTRUMENT, _INTERVAL), OrderConfirmation,
              private=True, event=True, many=True),
        _kind("user.trades", (_INSTRUMENT, _INTERVAL), TradesResponse,
              private=True, event=True, many=True),
        _kind("user_fee", (), PublishFee, private=True),
    )
}

#: Longest prefix first: ``user.orders`` is tried before a shorter prefix could match.
_BY_LENGTH = sorted(CHANNELS.values(), key=lambda kind: len(kind.prefix), reverse=True)


@dataclass(frozen=True)
class PulseChannel:
    """A validated channel name and what the client needs to carry it."""

    #: The name as sent on the wire and matched against ``params.channel`` (index names
    #: lower-cased, P8).
    name: str
    spec: TopicSpec
    private: bool
    #: A ``book.*`` channel: its notifications go through the book chain (B1-B5).
    book: bool
    #: Its pattern's row of the table.
    kind: ChannelKind
    #: The placeholder values, e.g. ``{"instrument_name": "BTC_USD-PERPETUAL", ...}``.
    params: dict[str, str]

    @property
    def event(self) -> bool:
        """Each item is a new record (kept in a bounded queue), not the whole state."""
        return self.kind.event

    @property
    def overflow(self) -> Overflow:
        """The overflow policy a subscription gets unless the caller picks one."""
        return self.spec.default_overflow


def _check_part(channel: str, placeholder: str, value: str) -> str:
    if not value:
        raise ValidationError("channel", f"{placeholder} must not be empty", channel)
    if any(c.isspace() for c in value) or not value.isprintable():
        raise ValidationError(
            "channel", f"{placeholder} must not contain whitespace or control characters",
            channel,
        )
    return value.lower() if placeholder == _INDEX else value


def channel_spec(name: object) -> PulseChannel:
    """The channel ``name`` stands for, or a :class:`ValidationError` naming the rule.

    Instrument names and intervals are free-form (no whitespace, no empty part, no dot: the
    dot separates the parts); index names are lower-cased (P8).
    """
    if not isinstance(name, str):
        raise ValidationError("channel", "must be a string", name)
    if not name:
        raise ValidationError("channel", "must not be empty")
    if len(name) > MAX_CHANNEL_LENGTH:
        raise ValidationError(
            "channel", f"must be at most {MAX_CHANNEL_LENGTH} characters", name
        )
    for kind in _BY_LENGTH:
        prefix = kind.prefix
        if name == prefix:
            rest: list[str] = []
        elif name.startswith(prefix + "."):
            rest = name[len(prefix) + 1:].split(".")
        else:
            continue
        if len(rest) != len(kind.params):
            raise ValidationError(
                "channel", f"must follow the pattern {kind.pattern}", name
            )
        values = {
            placeholder: _check_part(name, placeholder, value)
            for placeholder, value in zip(kind.params, rest, strict=True)
        }
        wire = ".".join([prefix, *values.values()])
        return PulseChannel(
            name=wire,
            spec=kind.spec,
            private=kind.private,
            book=prefix == "book",
            kind=kind,
            params=values,
        )
    patterns = ", ".join(sorted(kind.pattern for kind in CHANNELS.values()))
    raise ValidationError("channel", f"must be one of the patterns {patterns}", name)


def is_private(name: str) -> bool:
    """S1: whether ``name`` goes through ``private/subscribe`` (validates it first)."""
    return channel_spec(name).private


_decode_items = msgspec.json.Decoder(list[msgspec.Raw]).decode


def split_items(channel: PulseChannel, data: msgspec.Raw) -> list[msgspec.Raw]:
    """The payloads of one notification, one per item to deliver.

    For ``user.orders`` / ``user.trades`` a JSON array is split into its elements (P5); any
    other payload is one item as it is. Only the array's outer level is parsed. Raises
    ``msgspec.DecodeError`` for an array that is not valid JSON.
    """
    # A Raw spans exactly one JSON value: its first byte tells an array.
    if channel.kind.many and bytes(memoryview(data)[:1]) == b"[":
        return _decode_items(data)
    return [data]


def payload_types() -> dict[str, Any]:
    """``pattern -> item type`` of every channel (for documentation and tests)."""
    return {kind.pattern: kind.spec.item for kind in CHANNELS.values()}
