"""What decoding one stream message costs, per message type and per way of decoding it.

For each kind of the stream benchmark's mix (``stream_server.py``: 20-level order books,
positions, recent trades, funding rates, single trade events), the whole frame (envelope and
payload) is decoded by:

* ``json``: the standard library's ``json.loads`` (dicts, floats);
* ``orjson``: ``orjson.loads`` (dicts, floats);
* ``msgspec``: ``msgspec.json.decode`` untyped (dicts, floats);
* ``typed_str``: msgspec into Structs of the models' shape with money typed ``str | float``
  (strings stay text; the order book's JSON-number prices become floats, since msgspec
  turns no number into ``str``): typed decoding without any Decimal;
* ``typed_decimal``: msgspec into the public models, money as ``Decimal`` (the
  decode-everything loop of the stream benchmark);
* ``sdk``: the SDK's path: the envelope with the payload left raw, then the topic's decoder
  (Decimal money, checked finite) and, for the order book, the
  :class:`~kana_async.stream.OrderBook`;
* ``sdk_read_all``: the same, then every amount read (the consumer that uses them all);
* ``sdk_lazy`` and ``sdk_lazy_read_all``: the same two with lazy money
  (``ModelDecoder(..., lazy=True)``: the wire text kept, the Decimals built on first read).

Each figure is the median of interleaved rounds, in microseconds per message. The mix rows
weight the kinds as the stream benchmark's mix does.

Run: ``python benchmarks/decode_costs.py [--quick]``
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stream_server

from kana_async.models import FundingRate, ModelDecoder, OrderBookLevel, Position, Trade
from kana_async.stream import OrderBook
from kana_async.stream.topics import TOPICS

#: The payload type of each kind, as the stream decodes it.
PAYLOADS: dict[str, Any] = {
    "orderbook": list[OrderBookLevel],
    "positions": list[Position],
    "recent_trades": list[Trade],
    "live_funding_rate": list[FundingRate],
    "live_trade_history": Trade,
}
DECODERS = (
    "json", "orjson", "msgspec", "typed_str", "typed_decimal", "sdk", "sdk_read_all",
    "sdk_lazy", "sdk_lazy_read_all",
)


class _Envelope(msgspec.Struct):
    message: str = ""
    data: msgspec.Raw = msgspec.Raw(b"null")


def _as_str(model: type) -> type:
    """A Struct of ``model``'s fields, names and defaults, with money typed ``str | float``."""
    info = mi.type_info(model)
    assert isinstance(info, mi.StructType)
    hints = typing.get_type_hints(model)
    fields: list[Any] = []
    for field in info.fields:
        kind: Any = field.type
        if isinstance(kind, mi.DecimalType):
            hint: Any = str | float
        elif isinstance(kind, mi.UnionType) and any(
            isinstance(t, mi.DecimalType) for t in kind.types
        ):
            hint = str | float | None
        else:
            hint = hints[field.name]
        if field.required:
            fields.append((field.name, hint, msgspec.field(name=field.encode_name)))
        elif field.default_factory is not msgspec.NODEFAULT:
            fields.append((field.name, hint, msgspec.field(
                default_factory=field.default_factory, name=field.encode_name)))
        else:
            fields.append((field.name, hint, msgspec.field(
                default=field.default, name=field.encode_name)))
    return msgspec.defstruct(f"{model.__name__}Str", fields, kw_only=True, frozen=True)


def _with_str_money(payload: Any) -> Any:
    if isinstance(payload, type):
        return _as_str(payload)
    return list[_as_str(payload.__args__[0])]  # type: ignore[misc]


def _money_names(model: type) -> tuple[str, ...]:
    info = mi.type_info(model)
    assert isinstance(info, mi.StructType)
    return tuple(
        f.name for f in info.fields
        if isinstance(f.type, mi.DecimalType) or (
            isinstance(f.type, mi.UnionType)
            and any(isinstance(t, mi.DecimalType) for t in f.type.types)
        )
    )


def decoders(kind: str) -> dict[str, Callable[[bytes], object]]:
    """Each way of decoding a whole frame of ``kind``."""
    payload = PAYLOADS[kind]
    model = payload if isinstance(payload, type) else payload.__args__[0]
    money = _money_names(model)
    envelope = msgspec.json.Decoder(_Envelope).decode
    typed_str = msgspec.json.Decoder(
        msgspec.defstruct("Frame", [("message", str), ("data", _with_str_money(payload))]),
        strict=False,
    ).decode
    typed_decimal = msgspec.json.Decoder(
        msgspec.defstruct("Frame", [("message", str), ("data", payload)]), strict=False
    ).decode
    spec_decode = TOPICS[kind].decoder.decode
    lazy_decode = ModelDecoder[Any](payload, lazy=True).decode

    def sdk_path(decode: Callable[[Any], Any], read_all: bool) -> Callable[[bytes], object]:
        def run(frame: bytes) -> object:
            value: Any = decode(envelope(frame).data)
            if read_all:
                for item in value if isinstance(value, list) else [value]:
                    for name in money:
                        getattr(item, name)
            return OrderBook.from_levels(value) if kind == "orderbook" else value

        return run

    return {
        "json": json.loads,
        "orjson": orjson.loads,
        "msgspec": msgspec.json.decode,
        "typed_str": typed_str,
        "typed_decimal": typed_decimal,
        "sdk": sdk_path(spec_decode, False),
        "sdk_read_all": sdk_path(spec_decode, True),
        "sdk_lazy": sdk_path(lazy_decode, False),
        "sdk_lazy_read_all": sdk_path(lazy_decode, True),
    }


def _time_us(fn: Callable[[bytes], object], frames: list[bytes], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        for frame in frames:
            fn(frame)
    return (time.perf_counter() - start) / (repeat * len(frames)) * 1e6


def frames_of(kind: str, count: int = 50) -> list[bytes]:
    """``count`` frames of ``kind`` as the stream benchmark's server sends them."""
    rng = random.Random(7)
    return [
        json.dumps(stream_server.message(kind, rng, n), separators=(",", ":")).encode()
        for n in range(count)
    ]


def run(rounds: int, repeat: int) -> dict[str, dict[str, float]]:
    """``{kind: {decoder: median us per message}}`` plus a ``mix`` row."""
    table: dict[str, dict[str, float]] = {}
    for kind in PAYLOADS:
        frames = frames_of(kind)
        ways = decoders(kind)
        for fn in ways.values():  # every path agrees the frames decode; warms caches
            fn(frames[0])
        samples: dict[str, list[float]] = {name: [] for name in ways}
        for _ in range(rounds):
            for name, fn in ways.items():
                samples[name].append(_time_us(fn, frames, repeat))
        table[kind] = {name: round(statistics.median(v), 3) for name, v in samples.items()}
    weights = stream_server.WEIGHTS
    table["mix"] = {
        name: round(sum(table[k][name] * w for k, w in weights.items()), 3)
        for name in DECODERS
    }
    return table


def measure(quick: bool) -> dict[str, Any]:
    """Decode costs per kind; flat figures for the mix."""
    table = run(rounds=3, repeat=20) if quick else run(rounds=7, repeat=100)
    mix = table["mix"]
    return {
        "decode.sdk_us": mix["sdk"],
        "decode.typed_decimal_us": mix["typed_decimal"],
        "decode.typed_decimal_vs_sdk": round(mix["typed_decimal"] / mix["sdk"], 3),
        "decode.detail": table,
    }


def report(table: dict[str, dict[str, float]]) -> None:
    print("us per message (median of interleaved rounds)")
    print(f"{'kind':19s}" + "".join(f"{name:>18s}" for name in DECODERS))
    for kind, row in table.items():
        print(f"{kind:19s}" + "".join(f"{row[name]:18.2f}" for name in DECODERS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    report(measure(args.quick)["decode.detail"])


if __name__ == "__main__":
    main()
