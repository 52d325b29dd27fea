"""Every Pulse result and notification example of the document decodes with every field."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from kana_async.models.pulse import (
    BookLevel,
    BookNotification,
    GetInstrumentResponse,
    GetOrderBookResponse,
    LoginResponse,
    OrderConfirmation,
    PositionConfirmation,
    PriceNotification,
    PulseDecoder,
    SettlementConfirmation,
    book_level,
)
from kana_async.pulse.channels import channel_spec
from kana_async.pulse.methods import METHODS, decode_result

FIXTURES = Path(__file__).parents[1] / "sim" / "pulse" / "fixtures"


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


METHOD_FIXTURES = sorted(p for p in FIXTURES.glob("*.json") if not p.name.startswith("channel."))
CHANNEL_FIXTURES = sorted(FIXTURES.glob("channel.*.json"))


def _assert_every_field(value: Any, example: Any, where: str) -> None:
    """Every member of ``example`` is an attribute of ``value`` holding the same data; JSON
    numbers that are not integers arrive as Decimal, never float."""
    if isinstance(example, dict):
        assert isinstance(value, msgspec.Struct), f"{where}: {type(value).__name__}"
        for key, member in example.items():
            assert hasattr(value, key), f"{where}.{key} missing"
            _assert_every_field(getattr(value, key), member, f"{where}.{key}")
    elif isinstance(example, list):
        assert isinstance(value, list), where
        assert len(value) == len(example), where
        for index, (item, member) in enumerate(zip(value, example, strict=True)):
            _assert_every_field(item, member, f"{where}[{index}]")
    elif example is None:
        assert value is None, where
    elif isinstance(example, bool):
        assert value is example, where
    elif isinstance(example, float):
        assert isinstance(value, Decimal), f"{where}: {value!r}"
        assert value == Decimal(repr(example)), where
    elif isinstance(example, int):
        assert not isinstance(value, float), f"{where}: {value!r}"
        assert value == example, where
    else:
        assert isinstance(example, str)
        if isinstance(value, Decimal):  # a decimal string (P7)
            assert value == Decimal(example), where
        else:
            assert value == example, where


@pytest.mark.parametrize("path", METHOD_FIXTURES, ids=lambda p: p.stem)
def test_every_method_result_example_decodes_with_every_field(path: Path) -> None:
    data = _load(path)
    spec = METHODS[data["jsonrpc_method_derived"]]
    example = data["response_200_example"]
    raw = json.dumps(example).encode()
    result = decode_result(spec, raw)
    if spec.shape in ("none", "channels"):
        # T7: success means "no error" whatever the body; S3: a string names no channel.
        assert result is None
    elif spec.shape == "one_order":
        # P5: the document's one-element array is one order.
        assert isinstance(result, OrderConfirmation)
        _assert_every_field(result, example[0], path.stem)
    elif spec.shape == "index_price":
        assert result == Decimal(example)
        assert isinstance(result, Decimal)
    elif spec.shape == "cod":
        assert result is example
    else:
        _assert_every_field(result, example, path.stem)


@pytest.mark.parametrize("path", CHANNEL_FIXTURES, ids=lambda p: p.stem)
def test_every_notification_example_decodes_with_every_field(path: Path) -> None:
    data = _load(path)
    channel = channel_spec(data["derived_not_in_doc"]["example_channel_name"])
    example = data["notification_data_example"]
    value = channel.spec.decoder.decode(json.dumps(example).encode())
    assert isinstance(value, channel.spec.item)
    _assert_every_field(value, example, path.stem)


def test_the_fixtures_cover_every_method_and_channel() -> None:
    assert {_load(p)["jsonrpc_method_derived"] for p in METHOD_FIXTURES} == set(METHODS)
    assert len(CHANNEL_FIXTURES) == 13


@pytest.mark.parametrize("bad", ['"NaN"', '"Infinity"', '"-Infinity"', "1e999", '"sNaN"'])
def test_non_finite_money_is_refused_naming_the_field(bad: str) -> None:
    decoder = PulseDecoder[OrderConfirmation](OrderConfirmation)
    with pytest.raises(msgspec.ValidationError, match=r"\$\.price"):
        decoder.decode(f'{{"order_id": "1", "price": {bad}}}'.encode())
    nested = PulseDecoder[list[SettlementConfirmation]](list[SettlementConfirmation])
    with pytest.raises(msgspec.ValidationError, match=r"profit_loss"):
        nested.decode(f'[{{"profit_loss": "1"}}, {{"profit_loss": {bad}}}]'.encode())


def test_numeric_strings_and_numbers_decode_alike_and_fractions_are_kept() -> None:
    """P7: numeric strings become Decimal; contract_size, size_currency and leverage,
    typed integer in the document, accept fractions."""
    instrument = PulseDecoder[GetInstrumentResponse](GetInstrumentResponse).decode(
        b'{"contract_size": 0.0001, "strike": "50000.5"}'
    )
    assert instrument.contract_size == Decimal("0.0001")
    assert instrument.strike == Decimal("50000.5")
    position = PulseDecoder[PositionConfirmation](PositionConfirmation).decode(
        b'{"leverage": 12.5, "size_currency": "0.25", "size": 100}'
    )
    assert position.leverage == Decimal("12.5")
    assert position.size_currency == Decimal("0.25")
    assert position.size == Decimal(100)


def test_absent_fields_are_none_and_unknown_fields_are_ignored() -> None:
    order = PulseDecoder[OrderConfirmation](OrderConfirmation).decode(
        b'{"order_id": "a", "something_new": {"x": [1, 2]}, "usIn": 1}'
    )
    assert order.order_id == "a"
    assert order.price is None
    assert order.oto_order_ids is None
    assert order.direction is None


def test_timestamps_are_kept_as_sent_and_enums_take_any_string() -> None:
    """P6: seconds and milliseconds alike; P4: direction, type and state are free strings."""
    seconds = PulseDecoder[PriceNotification](PriceNotification).decode(
        b'{"timestamp": 1612137600, "price": 1}'
    )
    millis = PulseDecoder[PriceNotification](PriceNotification).decode(
        b'{"timestamp": 1612137600123, "price": 1}'
    )
    assert (seconds.timestamp, millis.timestamp) == (1612137600, 1612137600123)
    order = PulseDecoder[OrderConfirmation](OrderConfirmation).decode(
        b'{"direction": "cancel_all", "order_type": "trigger_all", "order_state": "weird"}'
    )
    assert (order.direction, order.order_type, order.order_state) == (
        "cancel_all", "trigger_all", "weird"
    )


def test_a_numeric_order_id_is_read_as_its_string() -> None:
    order = PulseDecoder[OrderConfirmation](OrderConfirmation).decode(
        b'{"order_id": 123456789012345678901234567890, "price": 5}'
    )
    assert order.order_id == "123456789012345678901234567890"
    assert order.price == Decimal(5)


def test_book_levels_keep_numbers_exact() -> None:
    """Levels are untyped on the wire: their numbers must still be Decimal, never float."""
    book = PulseDecoder[BookNotification](BookNotification).decode(
        b'{"type": "change", "change_id": 2, "prev_change_id": 1,'
        b' "bids": [["new", 0.1, 3], ["delete", "0.3", 0]], "asks": [[0.7, 1.25]]}'
    )
    assert book.bids is not None
    assert book.asks is not None
    assert book.bids[0] == ["new", Decimal("0.1"), 3]
    assert book_level(book.bids[0]) == BookLevel("new", Decimal("0.1"), Decimal(3))
    assert book_level(book.bids[1]) == BookLevel("delete", Decimal("0.3"), Decimal(0))
    assert book_level(book.asks[0]) == BookLevel(None, Decimal("0.7"), Decimal("1.25"))
    response = PulseDecoder[GetOrderBookResponse](GetOrderBookResponse).decode(
        b'{"bids": [[49999.5, 0.001]]}'
    )
    assert response.bids == [[Decimal("49999.5"), Decimal("0.001")]]


@pytest.mark.parametrize(
    ("level", "rule"),
    [
        ([None], "must be"),
        ([1, 2, 3, 4], "must be"),
        ("1,2", "must be"),
        ([5, 1, 2], "action must be a string"),
        (["new", "x", 1], "price must be a number"),
        (["new", 1, True], "amount must be a number"),
        ([Decimal("NaN"), 1], "finite"),
        (["new", 1, "Infinity"], "finite"),
        ([Decimal("1e999"), 1], "finite"),
        ([1, None], "amount must be a number"),
    ],
)
def test_a_bad_level_is_refused_naming_the_rule(level: Any, rule: str) -> None:
    with pytest.raises(ValueError, match=rule):
        book_level(level)


def test_a_float_level_from_the_lenient_path_reads_as_sent() -> None:
    assert book_level([0.1, 2.5]) == BookLevel(None, Decimal("0.1"), Decimal("2.5"))


def test_login_response_never_shows_its_tokens() -> None:
    login = PulseDecoder[LoginResponse](LoginResponse).decode(
        b'{"access_token": "acc-SECRET-1", "refresh_token": "ref-SECRET-2",'
        b' "expires_in": 900, "scope": "connection", "token_type": "bearer"}'
    )
    assert login.access_token == "acc-SECRET-1"
    for text in (repr(login), str(login), f"{login}", repr([login])):
        assert "SECRET" not in text
        assert "expires_in=900" in text
    assert "SECRET" not in repr(list(login.__rich_repr__()))


def test_deep_nesting_in_an_untyped_part_is_a_decode_error() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(msgspec.DecodeError, match="nested too deeply"):
        PulseDecoder[BookNotification](BookNotification).decode(b'{"bids": [' + deep + b"]}")
