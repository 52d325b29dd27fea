"""Shared pieces of the wire models: addresses, decoders, and the tolerant fallback decode.

The documents disagree on types (spec §11): ids come as strings or numbers, timestamps as
ints or strings, prices as numbers or strings. The fast path decodes straight into typed
Structs (``strict=False`` already turns numeric strings into ints and numbers into
``Decimal``); a frame that still fails is decoded once more through :func:`decode_lenient`,
which turns numeric ids into strings first. Only anomalous frames pay for that.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, TypeVar

import msgspec

from ..errors import ValidationError

__all__ = [
    "ID_FIELDS",
    "MarketId",
    "WireStruct",
    "decode_lenient",
    "decoder",
    "is_address",
    "normalize_address",
]

T = TypeVar("T")

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{1,64}$")

#: Fields that are strings on the wire (u64/u128 ids) but sometimes arrive as JSON numbers.
ID_FIELDS = frozenset(
    {"market_id", "order_id", "trade_id", "counter", "custodian_id", "underwriter_id"}
)


#: A market id: an ``int`` in every model (what users type), decoded from the wire's number or
#: numeric string alike; never negative.
MarketId = Annotated[int, msgspec.Meta(ge=0)]


class WireStruct(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every wire model: immutable, keyword-only, unknown fields ignored."""


def is_address(value: object) -> bool:
    """True for a ``0x``-prefixed hex Aptos address of 1..64 digits."""
    return isinstance(value, str) and _ADDRESS.match(value) is not None


def normalize_address(value: str, *, param: str = "address") -> str:
    """Lower-case, ``0x`` + 64 hex digits. Kana sometimes drops a leading zero (63 digits)."""
    if not is_address(value):
        raise ValidationError(
            param, "must be a 0x-prefixed hex address of at most 64 digits", value
        )
    return "0x" + value[2:].lower().rjust(64, "0")


def decoder(type_: type[T]) -> msgspec.json.Decoder[T]:
    """A JSON decoder for ``type_`` that accepts numeric strings and numbers interchangeably."""
    return msgspec.json.Decoder(type_, strict=False)


def _stringify_ids(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {
            k: (str(v) if k in ID_FIELDS and isinstance(v, int) and not isinstance(v, bool)
                else _stringify_ids(v))
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [_stringify_ids(v) for v in obj]
    return obj


def decode_lenient(data: bytes | str, type_: type[T]) -> T:
    """Decode tolerating numeric ids; raises ``msgspec.ValidationError`` if still invalid."""
    generic = msgspec.json.decode(data)
    return msgspec.convert(_stringify_ids(generic), type_, strict=False)
