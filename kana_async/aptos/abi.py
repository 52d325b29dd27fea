"""Move ABI types <-> BCS bytes, driven by the module ABI the node publishes.

The Kana REST API returns entry-function payloads as JSON (``{function, functionArguments,
typeArguments}``) whose values are loosely typed: numbers may be strings, booleans may be the
strings ``"true"``/``"false"`` and u128 order ids may be JSON numbers. The module ABI says what
each argument really is, so encoding follows the ABI instead of a hand-written layout per
endpoint. Decoding (used by the simulator's node) is the exact inverse.

Pure code: no I/O. :class:`AbiCache` (the only async part) fetches each module's ABI once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aptos_sdk.account_address import AccountAddress
from aptos_sdk.bcs import Deserializer, Serializer
from aptos_sdk.transactions import EntryFunction, ModuleId
from aptos_sdk.type_tag import StructTag, TypeTag

from ..errors import ValidationError
from ..models import TxPayload, normalize_address

__all__ = [
    "AbiCache",
    "FunctionAbi",
    "ModuleAbi",
    "MoveType",
    "decode_arguments",
    "encode_entry_function",
    "parse_move_type",
]

_UINT_BITS = {"u8": 8, "u16": 16, "u32": 32, "u64": 64, "u128": 128, "u256": 256}
_STRING = "0x1::string::String"
_OPTION = "0x1::option::Option"
_OBJECT = "0x1::object::Object"
#: Floats are exact integers only below 2**53; a larger one has already lost digits.
_FLOAT_EXACT = 2**53


@dataclass(frozen=True, slots=True)
class MoveType:
    """A parsed Move parameter type. ``kind`` is ``bool``, ``u8``..``u256``, ``address``,
    ``string``, ``vector``, ``option``, ``object`` or ``signer``; ``inner`` is the element type
    of ``vector``/``option``."""

    kind: str
    inner: MoveType | None = None
    text: str = ""

    def __str__(self) -> str:
        return self.text or self.kind


def parse_move_type(text: str) -> MoveType:
    """Parse an ABI parameter type such as ``vector<u128>`` or ``0x1::string::String``."""
    t = text.strip()
    if t in ("&signer", "signer"):
        return MoveType("signer", text=t)
    if t in _UINT_BITS or t in ("bool", "address"):
        return MoveType(t, text=t)
    if t.startswith("vector<") and t.endswith(">"):
        return MoveType("vector", parse_move_type(t[7:-1]), text=t)
    head, _, rest = t.partition("<")
    struct = _canonical_struct(head)
    if struct == _STRING and not rest:
        return MoveType("string", text=t)
    if struct == _OPTION and rest.endswith(">"):
        return MoveType("option", parse_move_type(rest[:-1]), text=t)
    if struct == _OBJECT:
        return MoveType("object", text=t)
    raise ValueError(f"unsupported Move parameter type {text!r}")


def _canonical_struct(name: str) -> str:
    parts = name.split("::")
    if len(parts) != 3 or not parts[0].startswith("0x"):
        return name
    try:
        address = hex(int(parts[0], 16))
    except ValueError:
        return name
    return f"{address}::{parts[1]}::{parts[2]}"


@dataclass(frozen=True, slots=True)
class FunctionAbi:
    """One exposed function: its name, whether it is an entry function, and its parameters
    (``&signer`` parameters kept, they are skipped when encoding)."""

    name: str
    is_entry: bool
    params: tuple[MoveType, ...]
    generic_type_params: int = 0

    @property
    def value_params(self) -> tuple[MoveType, ...]:
        """The parameters a transaction carries (every one but the signers)."""
        return tuple(p for p in self.params if p.kind != "signer")


@dataclass(frozen=True, slots=True)
class ModuleAbi:
    """A module's address, name and exposed functions, from ``GET /accounts/{a}/module/{m}``."""

    address: str
    name: str
    functions: Mapping[str, FunctionAbi]

    @classmethod
    def from_json(cls, module: Mapping[str, Any]) -> ModuleAbi:
        """Build from the node's module JSON (``{"bytecode": ..., "abi": {...}}``) or its
        ``abi`` object."""
        abi = module.get("abi", module)
        functions: dict[str, FunctionAbi] = {}
        for fn in abi.get("exposed_functions", []):
            try:
                params = tuple(parse_move_type(p) for p in fn["params"])
            except ValueError:
                params = ()  # not callable from a transaction; kept so the name is known
                if fn.get("is_entry"):
                    continue
            functions[fn["name"]] = FunctionAbi(
                name=fn["name"],
                is_entry=bool(fn.get("is_entry")),
                params=params,
                generic_type_params=len(fn.get("generic_type_params", [])),
            )
        return cls(normalize_address(abi["address"]), abi["name"], functions)

    def entry_function(self, name: str) -> FunctionAbi:
        fn = self.functions.get(name)
        if fn is None or not fn.is_entry:
            raise ValidationError(
                "function", f"{self.name} has no entry function {name!r}", name
            )
        return fn


# -- encoding -------------------------------------------------------------------------------


def encode_entry_function(abi: FunctionAbi, module: str, payload: TxPayload) -> EntryFunction:
    """The ``EntryFunction`` for ``payload``, each argument converted as the ABI says.

    Raises :class:`ValidationError` naming the function, the argument's index and type and the
    offending value when the count is wrong or a value does not convert.
    """
    fn = f"{module}::{abi.name}"
    params = abi.value_params
    args = list(payload.function_arguments)
    if len(args) != len(params):
        raise ValidationError(
            f"{fn} functionArguments",
            f"expected {len(params)} arguments ({', '.join(map(str, params))}), got {len(args)}",
        )
    if len(payload.type_arguments) != abi.generic_type_params:
        raise ValidationError(
            f"{fn} typeArguments",
            f"expected {abi.generic_type_params} type arguments, got "
            f"{len(payload.type_arguments)}",
        )
    encoded: list[bytes] = []
    for index, (param, value) in enumerate(zip(params, args, strict=True)):
        ser = Serializer()  # type: ignore[no-untyped-call]
        try:
            _write(ser, param, value)
        except _Unconvertible as exc:
            raise ValidationError(
                f"{fn} argument {index} ({param})", exc.rule, exc.value
            ) from None
        encoded.append(ser.output())
    try:
        ty_args = [TypeTag(StructTag.from_str(t)) for t in payload.type_arguments]
    except (IndexError, ValueError) as exc:
        raise ValidationError(f"{fn} typeArguments", "must be Move struct tags", str(exc)) from None
    address, _, module_name = module.partition("::")
    module_id = ModuleId(AccountAddress.from_str_relaxed(address), module_name)
    return EntryFunction(module_id, abi.name, ty_args, encoded)


class _Unconvertible(Exception):
    def __init__(self, rule: str, value: object) -> None:
        super().__init__(rule)
        self.rule = rule
        self.value = value


def _to_int(value: object, bits: int) -> int:
    if isinstance(value, bool):
        raise _Unconvertible(f"must be an unsigned {bits}-bit integer, not a boolean", value)
    number: int
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if not text.isdigit():
            raise _Unconvertible(f"must be a decimal string of an unsigned {bits}-bit integer",
                                 value)
        number = int(text)
    elif isinstance(value, float):
        if not value.is_integer() or abs(value) >= _FLOAT_EXACT:
            raise _Unconvertible("a JSON number above 2**53 or with a fraction is not exact; "
                                 "send it as a string", value)
        number = int(value)
    elif isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            raise _Unconvertible(f"must be an unsigned {bits}-bit integer", value)
        number = int(value)
    else:
        raise _Unconvertible(f"must be an unsigned {bits}-bit integer", value)
    if not 0 <= number < 2**bits:
        raise _Unconvertible(f"must be between 0 and 2**{bits}-1", value)
    return number


def _to_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _Unconvertible("must be a boolean (true/false or \"true\"/\"false\")", value)


def _to_address(value: object) -> AccountAddress:
    if not isinstance(value, str):
        raise _Unconvertible("must be a 0x-prefixed hex address string", value)
    try:
        return AccountAddress(bytes.fromhex(normalize_address(value)[2:]))
    except ValidationError:
        raise _Unconvertible("must be a 0x-prefixed hex address of at most 64 digits",
                             value) from None


def _write(ser: Serializer, t: MoveType, value: object) -> None:
    kind = t.kind
    if kind == "bool":
        ser.bool(_to_bool(value))
    elif kind in _UINT_BITS:
        bits = _UINT_BITS[kind]
        getattr(ser, kind)(_to_int(value, bits))
    elif kind in ("address", "object"):
        ser.struct(_to_address(value))
    elif kind == "string":
        if not isinstance(value, str):
            raise _Unconvertible("must be a string", value)
        ser.str(value)
    elif kind == "vector":
        assert t.inner is not None
        if t.inner.kind == "u8" and isinstance(value, bytes | bytearray):
            ser.to_bytes(bytes(value))
            return
        if t.inner.kind == "u8" and isinstance(value, str) and value.startswith("0x"):
            try:
                ser.to_bytes(bytes.fromhex(value[2:]))
            except ValueError:
                raise _Unconvertible("must be 0x-prefixed hex bytes", value) from None
            return
        if not isinstance(value, list | tuple):
            raise _Unconvertible(f"must be a JSON array for {t}", value)
        ser.uleb128(len(value))
        for item in value:
            _write(ser, t.inner, item)
    elif kind == "option":
        assert t.inner is not None
        if value is None or value == []:
            ser.uleb128(0)
        else:
            ser.uleb128(1)
            _write(ser, t.inner, value[0] if isinstance(value, list) and len(value) == 1
                   else value)
    else:
        raise _Unconvertible(f"type {t} cannot be passed to an entry function", value)


# -- decoding -------------------------------------------------------------------------------


def decode_arguments(abi: FunctionAbi, args: Sequence[bytes]) -> list[Any]:
    """The Python values of BCS-encoded arguments (ints, bools, ``0x`` addresses, strings,
    lists). Raises ``ValueError`` if the count or any encoding is wrong."""
    params = abi.value_params
    if len(args) != len(params):
        raise ValueError(f"{abi.name}: expected {len(params)} arguments, got {len(args)}")
    values = []
    for index, (param, raw) in enumerate(zip(params, args, strict=True)):
        de = Deserializer(raw)
        try:
            value = _read(de, param)
        except Exception as exc:  # the SDK raises bare Exception on short input
            raise ValueError(f"{abi.name}: argument {index} is not a valid {param}") from exc
        if de.remaining():
            raise ValueError(f"{abi.name}: argument {index} has trailing bytes for {param}")
        values.append(value)
    return values


def _read(de: Deserializer, t: MoveType) -> Any:
    kind = t.kind
    if kind == "bool":
        return de.bool()
    if kind in _UINT_BITS:
        return int(getattr(de, kind)())
    if kind in ("address", "object"):
        return "0x" + de.fixed_bytes(32).hex()
    if kind == "string":
        return de.str()
    if kind == "vector":
        assert t.inner is not None
        inner = t.inner
        return [_read(de, inner) for _ in range(de.uleb128())]
    if kind == "option":
        assert t.inner is not None
        count = de.uleb128()
        if count > 1:
            raise ValueError("option with more than one element")
        return _read(de, t.inner) if count else None
    raise ValueError(f"type {t} cannot be passed to an entry function")


# -- the cache ------------------------------------------------------------------------------

ModuleFetcher = Callable[[str, str], Awaitable[Mapping[str, Any]]]


class AbiCache:
    """Module ABIs fetched from the node once per module and kept (modules of a deployed
    package change only on upgrade, which keeps entry-function signatures compatible)."""

    def __init__(self, fetch_module: ModuleFetcher) -> None:
        self._fetch = fetch_module
        self._modules: dict[tuple[str, str], ModuleAbi] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def module(self, address: str, name: str) -> ModuleAbi:
        key = (normalize_address(address, param="module address"), name)
        cached = self._modules.get(key)
        if cached is not None:
            return cached
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:  # one fetch even when many orders start at once
            cached = self._modules.get(key)
            if cached is None:
                cached = ModuleAbi.from_json(await self._fetch(*key))
                self._modules[key] = cached
        return cached

    async def encode(self, payload: TxPayload) -> EntryFunction:
        """The ``EntryFunction`` for ``payload`` (fetching the module's ABI if needed)."""
        parts = payload.function.split("::")
        if len(parts) != 3 or not all(parts):
            raise ValidationError(
                "function", "must be <address>::<module>::<function>", payload.function
            )
        address, module_name, function_name = parts
        module = await self.module(address, module_name)
        abi = module.entry_function(function_name)
        return encode_entry_function(abi, f"{module.address}::{module.name}", payload)
