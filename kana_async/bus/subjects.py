"""The wire protocol on the bus: subject names, headers, stream names and message bodies.

The one owner of every name the bridge, the stream consumers, the signer and its strategy
side put on NATS. Pure: no I/O and no ``nats`` import, so it is usable (and testable) without
the ``bus`` extra.

- Data: ``kana.<network>.<topic>`` (unkeyed) or ``kana.<network>.<topic>.<key>``, key = a
  market id in decimal or an address normalised to ``0x`` + 64 lower-case hex digits. The body
  is the frame's ``data`` exactly as the router handed it to sinks. Headers, on event topics
  only: :data:`MSG_ID_HEADER` (the frame's identity, so JetStream drops a duplicate after a
  bridge restart), and :data:`GAP_HEADER` on an empty body (the bridge's own upstream
  reconnected: events may have been missed). Snapshot messages carry no header at all: parsing
  headers costs a consumer about a third of its throughput, and nothing needs one (snapshots
  are latest-wins; JetStream's stream sequence orders events).
- Snapshot topics: core publish, the latest per subject kept by the JetStream stream
  :func:`snapshot_stream` (memory, one message per subject).
- Event topics: JetStream stream :func:`events_stream` (file, duplicate window, bounded).
- Control: :func:`subscribe_subject`, request :class:`SubscribeRequest`, reply
  :class:`SubscribeReply` once the bridge streams the key upstream.
- Signer: :func:`sign_subject`, request :class:`SignRequest`, reply :class:`SignReply`.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import msgspec

from ..errors import ValidationError
from ..models import normalize_address
from ..stream.topics import TopicSpec, canonical_market_id, topic_spec

__all__ = [
    "CONTROL_ROOT",
    "DATA_ROOT",
    "GAP_HEADER",
    "MSG_ID_HEADER",
    "SIGN_ROOT",
    "SignErrorBody",
    "SignReply",
    "SignRequest",
    "SubscribeReply",
    "SubscribeRequest",
    "check_network",
    "data_subject",
    "data_wildcard",
    "events_stream",
    "message_id",
    "parse_data_subject",
    "route_key",
    "sign_subject",
    "sign_wildcard",
    "snapshot_stream",
    "subscribe_subject",
]

DATA_ROOT = "kana"
CONTROL_ROOT = "kana-ctl"
SIGN_ROOT = "kana-sign"

#: On an empty body: the bridge's upstream reconnected; the value says why.
GAP_HEADER = "Kana-Gap"
#: JetStream's de-duplication header: the frame's identity on event topics.
MSG_ID_HEADER = "Nats-Msg-Id"

#: A network name is one subject token and part of a JetStream stream name.
_NETWORK = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
#: A signer method name is one subject token.
_METHOD = re.compile(r"[a-z_][a-z0-9_]{0,63}")


def check_network(network: object) -> str:
    """``network`` if it can be a subject token and part of a stream name, else a clear error."""
    if not isinstance(network, str) or not _NETWORK.fullmatch(network):
        raise ValidationError(
            "network", "must be 1-32 lower-case letters, digits, '_' or '-'", network
        )
    return network


def route_key(spec: TopicSpec, address: object = None, market_id: object = None) -> str:
    """The subject's key token of a subscription ("" for an unkeyed topic), after the key rules."""
    if spec.key == "address":
        if not isinstance(address, str):
            raise ValidationError("address", f"topic {spec.name} needs a profile address", address)
        return normalize_address(address)
    if spec.key == "market_id":
        if market_id is None:
            raise ValidationError("market_id", f"topic {spec.name} needs a market_id")
        return canonical_market_id(market_id)
    if address is not None or market_id is not None:
        raise ValidationError("topic", f"topic {spec.name} takes no key", address or market_id)
    return ""


def data_subject(network: str, topic: str, key: str = "") -> str:
    """``kana.<network>.<topic>[.<key>]``; ``key`` is a route key (see :func:`route_key`)."""
    spec = topic_spec(topic)
    check_network(network)
    if spec.key is None:
        if key:
            raise ValidationError("key", f"topic {topic} takes no key", key)
        return f"{DATA_ROOT}.{network}.{topic}"
    if not key:
        raise ValidationError("key", f"topic {topic} needs a key")
    if key != route_key(spec, **{spec.key: key}):
        raise ValidationError("key", f"must be the normalised {spec.key}", key)
    return f"{DATA_ROOT}.{network}.{topic}.{key}"


def data_wildcard(network: str) -> str:
    """Every data subject of ``network`` (for a stream's subject filter)."""
    return f"{DATA_ROOT}.{check_network(network)}.>"


def parse_data_subject(subject: str) -> tuple[str, str, str]:
    """``(network, topic, key)`` of a data subject, or a :class:`ValidationError`."""
    parts = subject.split(".")
    if len(parts) not in (3, 4) or parts[0] != DATA_ROOT:
        raise ValidationError("subject", "must be kana.<network>.<topic>[.<key>]", subject)
    network, topic = check_network(parts[1]), parts[2]
    key = parts[3] if len(parts) == 4 else ""
    if data_subject(network, topic, key) != subject:  # validates topic and key
        raise ValidationError("subject", "must be kana.<network>.<topic>[.<key>]", subject)
    return network, topic, key


def snapshot_stream(network: str) -> str:
    """The stream keeping the latest snapshot per subject: ``KANA_<NETWORK>_SNAPSHOTS``."""
    return f"KANA_{_stream_token(network)}_SNAPSHOTS"


def events_stream(network: str) -> str:
    """The JetStream stream holding event topics: ``KANA_<NETWORK>_EVENTS``."""
    return f"KANA_{_stream_token(network)}_EVENTS"


def _stream_token(network: str) -> str:
    return check_network(network).upper().replace("-", "_")


def message_id(subject: str, data: bytes | bytearray | memoryview) -> str:
    """The identity of an event frame: a digest of its subject and payload bytes.

    The exchange re-sends nothing with an id of its own, so the bytes are the identity: the
    same event published again (a bridge restart replaying it) carries the same id, and
    JetStream's duplicate window drops it; consumers de-duplicate on it too.
    """
    digest = hashlib.blake2b(subject.encode(), digest_size=16)
    digest.update(data)
    return digest.hexdigest()


def subscribe_subject(network: str) -> str:
    """Where consumers ask the bridge to stream a key: ``kana-ctl.<network>.subscribe``."""
    return f"{CONTROL_ROOT}.{check_network(network)}.subscribe"


class SubscribeRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A consumer's request to the bridge: stream ``topic`` for ``key`` (a route key)."""

    topic: str
    key: str = ""


class SubscribeReply(msgspec.Struct, frozen=True):
    """The bridge's answer: ``ok`` once the key streams upstream, else ``error`` says why."""

    ok: bool
    error: str | None = None


def sign_subject(network: str, address: str, method: str) -> str:
    """``kana-sign.<network>.<address>.<method>``: one account's signer method."""
    if not isinstance(method, str) or not _METHOD.fullmatch(method):
        raise ValidationError("method", "must be a lower-case identifier", method)
    return f"{SIGN_ROOT}.{check_network(network)}.{normalize_address(address)}.{method}"


def sign_wildcard(network: str, address: str) -> str:
    """Every signer subject of one account (what the signer subscribes to)."""
    return f"{SIGN_ROOT}.{check_network(network)}.{normalize_address(address)}.*"


class SignRequest(msgspec.Struct, frozen=True):
    """A strategy's call: the same ``idempotency_key`` on a retry returns the first outcome."""

    idempotency_key: str
    args: list[Any] = []
    kwargs: dict[str, Any] = {}


class SignErrorBody(msgspec.Struct, frozen=True, omit_defaults=True):
    """An exception crossing the bus: its class name, message and outcome details."""

    type: str
    message: str
    tx_hash: str | None = None
    label: str | None = None


class SignReply(msgspec.Struct, frozen=True, omit_defaults=True):
    """The signer's answer: exactly one of ``result`` and ``error``."""

    result: Any = None
    error: SignErrorBody | None = None
