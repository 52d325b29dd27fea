"""Shared pieces of the wire models: addresses, decoders, and the tolerant fallback decode.

The documents disagree on types: ids come as strings or numbers, timestamps as
ints or strings, prices as numbers or strings. The fast path decodes straight into typed
Structs (``strict=False`` already turns numeric strings into ints and numbers into
``Decimal``); a frame that still fails is decoded once more through :func:`decode_lenient`,
which turns numeric ids into strings first. Only anomalous frames pay for that.

Every ``Decimal`` in a wire model is money (a price, size, amount or rate). ``Decimal`` parses
``"NaN"``, ``"sNaN"``, ``"Infinity"`` and ``1e999`` without complaint, and such a value would
only blow up later in the consumer's arithmetic, so both decode paths check every decoded
``Decimal`` once, here (:class:`ModelDecoder`, :func:`decode_lenient`): a non-finite or absurdly
large one fails the decode like any other type error, naming the field.

Money can be decoded exactly but lazily (opt-in: see :class:`ModelDecoder` for when it pays).
Building a ``Decimal`` is most of the cost of decoding an order book, so
``ModelDecoder(..., lazy=True)`` decodes each model into its *lazy twin* (:func:`lazy_type`):
a private subclass of the same name whose ``Decimal`` fields hold the amount's exact wire text
(``msgspec.Raw``) until first read, when all its Decimals are built and the object becomes an
instance of the public model itself. Before that the twin is already an instance of the public
model, its money attributes are ``Decimal`` (or ``None``) on access, and it compares, hashes,
prints, pickles and encodes like the public model. The money rule is still
enforced at decode: one regular expression over each field's wire texts accepts plain decimals
of at most 39 integer digits; anything else (exponents, ``"NaN"``, ``null`` where required, odd
spellings) is decoded again the eager way, which accepts or refuses it exactly as before.
"""

from __future__ import annotations

import contextlib
import operator
import re
import types
import typing
from collections.abc import Callable, Iterable
from decimal import Decimal
from functools import partial
from itertools import chain
from typing import Annotated, Any, Generic, TypeVar

import msgspec
import msgspec.inspect as mi

from ..errors import ValidationError

__all__ = [
    "ID_FIELDS",
    "MONEY_DIGITS",
    "MarketId",
    "ModelDecoder",
    "WireStruct",
    "check_money",
    "decode_lenient",
    "decoder",
    "is_address",
    "lazy_type",
    "normalize_address",
]

T = TypeVar("T")

#: Matched with fullmatch: ``$`` would also accept a trailing newline.
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{1,64}")

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
    return isinstance(value, str) and _ADDRESS.fullmatch(value) is not None


def normalize_address(value: str, *, param: str = "address") -> str:
    """Lower-case, ``0x`` + 64 hex digits. Kana sometimes drops a leading zero (63 digits)."""
    if not is_address(value):
        raise ValidationError(
            param, "must be a 0x-prefixed hex address of at most 64 digits", value
        )
    return "0x" + value[2:].lower().rjust(64, "0")


#: Money on the wire is finite with at most 39 integer digits: every Kana amount, even in raw
#: integer units, fits in a u128 (< 3.5e38). Anything larger is garbage, not a price.
MONEY_DIGITS = 39
_MONEY_RULE = f"a finite decimal of at most {MONEY_DIGITS} integer digits"

#: What msgspec decodes from (``msgspec.Raw`` included).
WireBytes = bytes | bytearray | memoryview | msgspec.Raw | str
#: ``values -> True if any of them holds bad money``: built once per wire type. It takes many
#: values of one type at once so a list of levels is checked field by field, each field's
#: values fetched by one C-level ``map``: a 20-level order book (6.5 us to decode) costs
#: about 1.7 us more.
_AnyBad = Callable[[Iterable[Any]], bool]


_is_not_none = partial(operator.is_not, None)



def _bad_money(value: Decimal) -> bool:
    return not (value.is_finite() and value.adjusted() < MONEY_DIGITS)


def _any_bad_decimal(values: Iterable[Any]) -> bool:
    limit = MONEY_DIGITS
    for value in values:
        if value is not None and not (value.is_finite() and value.adjusted() < limit):
            return True
    return False


#: Digits become ``0``; the other characters of a plain decimal (``-``, ``.``, ``"``) and the
#: NUL between values stay; anything else becomes ``x``.
_SHAPE = bytes(
    0x30 if 0x30 <= b <= 0x39 else b if b in b'-."\x00' else 0x78 for b in range(256)
)
#: More digits in a row than money has (39 integer digits; or a fraction that long, which
#: the eager decode then accepts).
_TOO_LONG = b"0" * (MONEY_DIGITS + 1)
_join = b"\x00".join


def _any_bad_text(texts: bytes) -> bool:
    """For the wire texts of lazy money, joined by NUL: True unless all are made of digits,
    minus signs, points and quotes only, in runs of at most 39 digits. That rules out every
    non-finite or absurd amount (``"NaN"``, ``"Infinity"``, ``1e999``: letters; 40 digits)
    in two C scans. True is no proof of bad money: the decoder then decodes eagerly, which
    decides. A string of those characters that is still no number (``"1.2.3"``, ``"-"``) is
    refused when it is read."""
    shape = texts.translate(_SHAPE)
    return b"x" in shape or _TOO_LONG in shape


def _lazy_check(required: list[int], nullable: list[int]) -> _AnyBad:
    """The check of a twin's wire texts, all its lazy fields at once (``required`` and
    ``nullable``: their indexes in the struct; an optional field's ``null`` is fine). The
    texts are gathered by C calls only (``astuple`` reads the slots, not the attributes)."""
    take_required = _gather(required)
    take_nullable = _gather(nullable) if nullable else None

    def any_bad(objs: Iterable[Any]) -> bool:
        rows = list(map(_astuple, objs))
        joined = _join(take_required(rows))
        if take_nullable is not None:
            texts = _join(filter(None, take_nullable(rows)))
            joined += b"\x00" + texts.replace(b"null", b"")
        return _any_bad_text(joined)

    return any_bad


def _gather(indexes: list[int]) -> Callable[[list[tuple[Any, ...]]], Iterable[Any]]:
    """``rows -> the values at indexes`` of every row, flat."""
    if not indexes:
        return lambda rows: ()
    get = operator.itemgetter(*indexes)
    if len(indexes) == 1:
        return lambda rows: map(get, rows)
    return lambda rows: chain.from_iterable(map(get, rows))


_astuple = msgspec.structs.astuple


def _skipping_none(check: _AnyBad) -> _AnyBad:
    """``check`` for the values of an optional field, whose ``None`` values need no check."""
    return lambda values: check(filter(_is_not_none, values))


def _optional_member(t: mi.Type) -> mi.Type:
    """``X`` for ``X | None``, else ``t``."""
    if isinstance(t, mi.UnionType) and len(t.types) == 2:
        kinds = [m for m in t.types if not isinstance(m, mi.NoneType)]
        if len(kinds) == 1:
            return kinds[0]
    return t


def _python_type(t: mi.Type) -> type | tuple[type, ...] | None:
    if isinstance(t, mi.DecimalType):
        return Decimal
    if isinstance(t, mi.StructType):
        return t.cls
    if isinstance(t, (mi.ListType, mi.VarTupleType, mi.TupleType, mi.SetType, mi.FrozenSetType)):
        return (list, tuple, set, frozenset)
    if isinstance(t, mi.DictType):
        return dict
    return None


def _struct_check(t: mi.StructType, memo: dict[type, _AnyBad | None]) -> _AnyBad | None:
    cls = t.cls
    if cls in memo:
        return memo[cls]
    # A self-referencing model reaches itself through this cell while it is being built.
    cell: list[_AnyBad | None] = [None]

    def forward(objs: Iterable[Any]) -> bool:
        check = cell[0]
        return check is not None and check(objs)

    memo[cls] = forward
    fields: list[tuple[Callable[[Any], Any], _AnyBad]] = []
    lazy = _TWIN_MONEY.get(cls, {})
    if lazy:
        indexes: tuple[list[int], list[int]] = ([], [])
        for name, nullable in lazy.items():
            indexes[nullable].append(cls.__struct_fields__.index(name))
        lazy_sub: _AnyBad | None = _lazy_check(*indexes)
    else:
        lazy_sub = None
    for field in t.fields:
        if field.name in lazy:
            continue
        inner = _optional_member(field.type)
        sub = _any_bad(inner, memo)
        if sub is None:
            continue
        if inner is not field.type and sub is not _any_bad_decimal:
            sub = _skipping_none(sub)
        fields.append((operator.attrgetter(field.name), sub))
    if not fields and lazy_sub is None:
        memo[cls] = None
        return None

    def any_bad(objs: Iterable[Any]) -> bool:
        # Never handed a None (optional fields skip theirs); read once per field.
        present = objs if isinstance(objs, (list, tuple)) else list(objs)
        if not present:  # also ends the walk of a self-referencing model
            return False
        if lazy_sub is not None and lazy_sub(present):
            return True
        for get, sub in fields:  # noqa: SIM110 (a loop: no generator on the hot path)
            if sub(map(get, present)):
                return True
        return False

    cell[0] = memo[cls] = any_bad
    return any_bad


def _any_bad(t: mi.Type, memo: dict[type, _AnyBad | None]) -> _AnyBad | None:
    """The check for values of type ``t``, or ``None`` when ``t`` holds no Decimal at all
    (then nothing is checked)."""
    if isinstance(t, mi.DecimalType):
        return _any_bad_decimal
    if isinstance(t, mi.StructType):
        return _struct_check(t, memo)
    if isinstance(t, (mi.ListType, mi.VarTupleType, mi.SetType, mi.FrozenSetType)):
        items = _any_bad(t.item_type, memo)
        if items is None:
            return None

        def any_bad_seq(seqs: Iterable[Any]) -> bool:
            for seq in seqs:  # noqa: SIM110 (a loop: no generator on the hot path)
                if items(seq):
                    return True
            return False

        return any_bad_seq
    if isinstance(t, mi.TupleType):
        subs = [(i, _any_bad(member, memo)) for i, member in enumerate(t.item_types)]
        checks = [(operator.itemgetter(i), sub) for i, sub in subs if sub is not None]
        if not checks:
            return None

        def any_bad_tuple(tuples: Iterable[Any]) -> bool:
            present = list(filter(_is_not_none, tuples))
            return any(sub(map(get, present)) for get, sub in checks)

        return any_bad_tuple
    if isinstance(t, mi.DictType):
        values = _any_bad(t.value_type, memo)
        if values is None:
            return None

        def any_bad_dict(dicts: Iterable[Any]) -> bool:
            return values(chain.from_iterable(d.values() for d in dicts if d is not None))

        return any_bad_dict
    if isinstance(t, mi.UnionType):
        members: list[tuple[type | tuple[type, ...], _AnyBad]] = []
        for member in t.types:
            sub = _any_bad(member, memo)
            kind = _python_type(member)
            if sub is not None and kind is not None:
                members.append((kind, sub))
        if not members:
            return None

        def any_bad_union(values: Iterable[Any]) -> bool:
            present = list(values)
            return any(
                sub(v for v in present if isinstance(v, kind)) for kind, sub in members
            )

        return any_bad_union
    return None


def _locate(value: Any, t: mi.Type, path: str) -> tuple[str, Decimal] | None:
    """Where the bad money is (slow, only after the check said there is some)."""
    t = _optional_member(t)
    if value is None:
        return None
    if isinstance(value, Decimal):
        return (path, value) if isinstance(t, mi.DecimalType) and _bad_money(value) else None
    if isinstance(t, mi.StructType) and isinstance(value, t.cls):
        for field in t.fields:
            found = _locate(getattr(value, field.name), field.type, f"{path}.{field.encode_name}")
            if found:
                return found
    elif isinstance(t, (mi.ListType, mi.VarTupleType, mi.SetType, mi.FrozenSetType)) and (
        isinstance(value, (list, tuple, set, frozenset))
    ):
        for index, item in enumerate(value):
            found = _locate(item, t.item_type, f"{path}[{index}]")
            if found:
                return found
    elif isinstance(t, mi.TupleType) and isinstance(value, (list, tuple)):
        for index, (item, member) in enumerate(zip(value, t.item_types, strict=False)):
            found = _locate(item, member, f"{path}[{index}]")
            if found:
                return found
    elif isinstance(t, mi.DictType) and isinstance(value, dict):
        for key, item in value.items():
            found = _locate(item, t.value_type, f"{path}[{key!r}]")
            if found:
                return found
    elif isinstance(t, mi.UnionType):
        for member in t.types:
            found = _locate(value, member, path)
            if found:
                return found
    return None


_CHECKS: dict[Any, tuple[_AnyBad, mi.Type] | None] = {}


def _money_check(type_: Any) -> tuple[_AnyBad, mi.Type] | None:
    """The predicate and type info for ``type_``, built once (``None``: no money in it)."""
    try:
        return _CHECKS[type_]
    except KeyError:
        cacheable = True
    except TypeError:  # an unhashable annotation: built each time
        cacheable = False
    info = mi.type_info(type_)
    any_bad = _any_bad(info, {})
    check = None if any_bad is None else (any_bad, info)
    if cacheable:
        _CHECKS[type_] = check
    return check


def _refuse(value: Any, info: mi.Type) -> msgspec.ValidationError:
    found = _locate(value, info, "$")
    where, bad = found if found else ("$", Decimal("NaN"))
    return msgspec.ValidationError(f"Expected {_MONEY_RULE}, got `{bad}` - at `{where}`")


def check_money(value: T, type_: Any) -> T:
    """Return ``value`` (of wire type ``type_``) once every Decimal in it is known good.

    For a value built some other way than :func:`decoder` (``msgspec.convert``); raises
    ``msgspec.ValidationError`` naming the field, as a decode error would.
    """
    check = _money_check(type_)
    if check is not None and check[0]((value,)):
        raise _refuse(value, check[1])
    return value


# -- lazy money -------------------------------------------------------------------------------

_RawType = msgspec.Raw
_decode_money = msgspec.json.Decoder(Decimal | None, strict=False).decode
#: twin class -> {lazy field name: nullable}
_TWIN_MONEY: dict[type, dict[str, bool]] = {}
#: (twin class, field name) -> the slot's own descriptor (reads the wire text as is)
_MEMBERS: dict[tuple[type, str], Any] = {}
#: public model -> its twin, or None when it holds no money (directly or nested)
_TWINS: dict[type, type | None] = {}


class _LazyMoney:
    """The attribute of a lazy money field. The first read of any money field of a model
    builds all its Decimals and, when all are good, turns the object into an instance of the
    public model itself: from then on every attribute reads at native speed."""

    __slots__ = ("_get", "_name", "_public", "_put", "_slots")

    def __init__(self, member: Any, name: str) -> None:
        self._get = member.__get__
        self._put = member.__set__
        self._name = name
        self._public: type = object
        #: (getter, setter, nullable) of every money slot of the model
        self._slots: tuple[tuple[Any, Any, bool], ...] = ()

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        value = self._get(obj)
        if type(value) is not _RawType:
            return value
        # Settle: build every Decimal of the model, then (all good) take the public class.
        good = True
        for get, put, nullable in self._slots:
            text = get(obj)
            if type(text) is _RawType:
                try:
                    built = _decode_money(text)
                except msgspec.ValidationError:
                    good = False
                    continue
                if built is None and not nullable:
                    good = False
                    continue
                put(obj, built)
        if good:
            _set_class(obj, self._public)
            return self._get(obj)
        value = self._get(obj)
        if type(value) is _RawType:
            # The decoder ruled out non-finite and absurd amounts; what it let through and
            # is still no number (``"1.2.3"``, ``true``) is refused here, naming the field.
            shown = bytes(value).decode("utf-8", "replace")
            raise msgspec.ValidationError(
                f"Expected {_MONEY_RULE}, got `{shown}` - at `{self._name}`"
            )
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        self._put(obj, value)


#: ``object.__class__``'s own setter: a frozen Struct refuses ``obj.__class__ = ...``.
_set_class = object.__dict__["__class__"].__set__


def _settle(obj: Any) -> None:
    """Build every Decimal of a twin (and make it a public instance when all are good)."""
    money = _TWIN_MONEY.get(type(obj))
    if money:
        with contextlib.suppress(msgspec.ValidationError):  # repr shows the bad text
            getattr(obj, next(iter(money)))


def _money_fields(cls: type) -> dict[str, bool]:
    """``{name: nullable}`` of the fields typed ``Decimal`` or ``Decimal | None``."""
    out: dict[str, bool] = {}
    hints = typing.get_type_hints(cls)
    for name in cls.__struct_fields__:  # type: ignore[attr-defined]
        hint = hints.get(name)
        if hint is Decimal:
            out[name] = False
        elif _is_optional_decimal(hint):
            out[name] = True
    return out


def _is_optional_decimal(hint: Any) -> bool:
    if typing.get_origin(hint) not in (typing.Union, types.UnionType):
        return False
    return set(typing.get_args(hint)) == {Decimal, type(None)}


def _materialize(obj: Any) -> None:
    _settle(obj)


def _twin_methods(public: type) -> dict[str, Any]:
    fields = public.__struct_fields__  # type: ignore[attr-defined]
    public_repr: Callable[[Any], str] = public.__repr__  # type: ignore[assignment]
    public_hash: Callable[[Any], int] | None = public.__hash__  # type: ignore[assignment]

    def values(obj: Any) -> tuple[Any, ...]:
        return tuple(getattr(obj, name) for name in fields)

    def __eq__(self: Any, other: object) -> Any:
        if type(other) is not public and type(other) is not type(self):
            return NotImplemented
        return values(self) == values(other)

    def __ne__(self: Any, other: object) -> Any:
        if type(other) is not public and type(other) is not type(self):
            return NotImplemented
        return values(self) != values(other)

    def __repr__(self: Any) -> str:
        _materialize(self)
        return public_repr(self)

    def __rich_repr__(self: Any) -> Any:
        _materialize(self)
        return public.__rich_repr__(self)  # type: ignore[attr-defined]

    def __reduce__(self: Any) -> Any:
        return (_rebuild, (public, values(self)))

    methods: dict[str, Any] = {
        "__eq__": __eq__, "__ne__": __ne__, "__repr__": __repr__, "__reduce__": __reduce__,
        "__rich_repr__": __rich_repr__,
    }
    if public_hash is not None:

        def __hash__(self: Any) -> int:
            # The public model's hash covers its type: hash an equal public instance.
            return public_hash(_rebuild(public, values(self)))

        methods["__hash__"] = __hash__
    else:
        methods["__hash__"] = None
    return methods


def _rebuild(public: type, values: tuple[Any, ...]) -> Any:
    return public(**dict(zip(public.__struct_fields__, values, strict=True)))  # type: ignore[attr-defined]


def _twin_of(public: type) -> type | None:
    """The lazy twin of a Struct type, built once; ``None`` if it holds no money."""
    if public in _TWINS:
        return _TWINS[public]
    _TWINS[public] = None  # a self-referencing model stops here while it is built
    money = _money_fields(public)
    hints = typing.get_type_hints(public)
    nested: dict[str, Any] = {}
    for name in public.__struct_fields__:  # type: ignore[attr-defined]
        if name not in money:
            lazy = lazy_type(hints[name])
            if lazy is not hints[name]:
                nested[name] = lazy
    if not money and not nested:
        return None
    struct_info = mi.type_info(public)
    assert isinstance(struct_info, mi.StructType)
    info = {f.name: f for f in struct_info.fields}
    config = public.__struct_config__  # type: ignore[attr-defined]
    specs: list[Any] = []
    for name in public.__struct_fields__:  # type: ignore[attr-defined]
        if name not in money and name not in nested:
            continue
        field = info[name]
        kind = _RawType if name in money else nested[name]
        if field.required:
            default = msgspec.field(name=field.encode_name)
        elif field.default_factory is not msgspec.NODEFAULT:
            default = msgspec.field(default_factory=field.default_factory, name=field.encode_name)
        else:
            default = msgspec.field(default=field.default, name=field.encode_name)
        specs.append((name, kind, default))
    twin = msgspec.defstruct(
        public.__name__,
        specs,
        bases=(public,),
        module=public.__module__,
        namespace={**_twin_methods(public), "__qualname__": public.__qualname__},
        frozen=config.frozen,
        kw_only=True,
        gc=config.gc,
        repr_omit_defaults=config.repr_omit_defaults,
        omit_defaults=config.omit_defaults,
        forbid_unknown_fields=config.forbid_unknown_fields,
        array_like=config.array_like,
        tag_field=config.tag_field,
        tag=config.tag,
        eq=config.eq,
        order=config.order,
    )
    descriptors: list[_LazyMoney] = []
    slots: list[tuple[Any, Any, bool]] = []
    for name in money:
        member = public.__dict__.get(name)
        owner = public
        while member is None:  # the slot may belong to a base model
            owner = owner.__mro__[1]
            member = owner.__dict__.get(name)
        _MEMBERS[(twin, name)] = member
        descriptor = _LazyMoney(member, name)
        setattr(twin, name, descriptor)
        descriptors.append(descriptor)
        slots.append((member.__get__, member.__set__, money[name]))
    for descriptor in descriptors:
        descriptor._public = public
        descriptor._slots = tuple(slots)
    _TWIN_MONEY[twin] = money
    _TWINS[public] = twin
    return twin


def lazy_type(type_: Any) -> Any:
    """``type_`` with each model that holds money replaced by its lazy twin (``list[Trade]``
    -> ``list[<twin of Trade>]``); ``type_`` itself when nothing changes."""
    if isinstance(type_, type):
        if issubclass(type_, msgspec.Struct) and type_ not in _TWIN_MONEY:
            twin = _twin_of(type_)
            return type_ if twin is None else twin
        return type_
    origin = typing.get_origin(type_)
    if origin is None:
        return type_
    if origin is typing.Annotated:
        return type_
    args = typing.get_args(type_)
    lazy = tuple(lazy_type(arg) for arg in args)
    if all(a is b for a, b in zip(lazy, args, strict=True)):
        return type_
    if origin in (typing.Union, types.UnionType):
        return typing.Union[lazy]  # noqa: UP007 (built from a tuple)
    return typing.cast(Any, type_).__origin__[lazy]


class ModelDecoder(Generic[T]):
    """A msgspec JSON decoder for a wire type that also refuses non-finite money.

    ``strict=False``: numeric strings and numbers are accepted interchangeably. The money
    check walks only the Decimal fields and is skipped for types that hold none. With
    ``lazy``, models come out as their lazy twins (see the module docstring): cheaper to
    decode, dearer to read (measured on a 20-level book: decode 0.8x, reading the top of the
    book 1.07x, every level 1.9x the eager cost), so worth it only where most items are never
    inspected. Every topic and REST call decodes eagerly.
    """

    __slots__ = ("_check", "_decode", "_eager", "type")

    def __init__(self, type_: Any, *, lazy: bool = False) -> None:
        self.type: Any = type_
        wire = lazy_type(type_) if lazy else type_
        self._decode = msgspec.json.Decoder(wire, strict=False).decode
        self._check = _money_check(wire)
        self._eager: ModelDecoder[T] | None = (
            ModelDecoder(type_, lazy=False) if wire is not type_ else None
        )

    def __repr__(self) -> str:
        return f"ModelDecoder({getattr(self.type, '__name__', self.type)})"

    def decode(self, data: WireBytes) -> T:
        """Decode ``data``; raises ``msgspec.DecodeError`` / ``msgspec.ValidationError``."""
        value: T = self._decode(data)
        check = self._check
        if check is not None and check[0]((value,)):
            eager = self._eager
            if eager is not None:  # wire texts that are not plain decimals: decide exactly
                return eager.decode(data)
            raise _refuse(value, check[1])
        return value


def decoder(type_: type[T], *, lazy: bool = False) -> ModelDecoder[T]:
    """A JSON decoder for ``type_`` that accepts numeric strings and numbers interchangeably
    and refuses non-finite money (see :class:`ModelDecoder`)."""
    return ModelDecoder(type_, lazy=lazy)


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


def decode_lenient(data: WireBytes, type_: type[T]) -> T:
    """Decode tolerating numeric ids; raises ``msgspec.ValidationError`` if still invalid
    (a non-finite money value included)."""
    generic = msgspec.json.decode(data)
    return check_money(msgspec.convert(_stringify_ids(generic), type_, strict=False), type_)
