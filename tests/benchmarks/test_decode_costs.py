"""benchmarks/decode_costs.py: every way of decoding agrees on what each frame holds."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import decode_costs
import pytest

from kana_async.stream import OrderBook


@pytest.mark.parametrize("kind", list(decode_costs.PAYLOADS))
def test_every_decoder_reads_the_same_frame(kind: str) -> None:
    frame = decode_costs.frames_of(kind, 1)[0]
    ways = decode_costs.decoders(kind)
    assert set(ways) == set(decode_costs.DECODERS)
    generic: Any = ways["json"](frame)
    assert ways["orjson"](frame) == generic
    assert ways["msgspec"](frame) == generic
    typed: Any = ways["typed_decimal"](frame)
    sdk: Any = ways["sdk"](frame)
    levels = sdk.levels if isinstance(sdk, OrderBook) else sdk
    assert levels == typed.data
    first = generic["data"][0] if isinstance(generic["data"], list) else generic["data"]
    item = typed.data[0] if isinstance(typed.data, list) else typed.data
    money = decode_costs._money_names(type(item))
    assert money
    for name in money:
        value = getattr(item, name)
        if value is not None:
            assert isinstance(value, Decimal)
            assert value == Decimal(str(first[name]))
    as_str: Any = ways["typed_str"](frame)
    item_str = as_str.data[0] if isinstance(as_str.data, list) else as_str.data
    assert not any(isinstance(getattr(item_str, name), Decimal) for name in money)


def test_measure_quick_reports_the_mix() -> None:
    table = decode_costs.run(rounds=1, repeat=1)
    assert set(table) == {*decode_costs.PAYLOADS, "mix"}
    for row in table.values():
        assert set(row) == set(decode_costs.DECODERS)
        assert all(value > 0 for value in row.values())
