"""Money fields refuse NaN, infinities and absurd magnitudes at decode time, on every path."""

from __future__ import annotations

import json
import typing
from decimal import Decimal
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kana_async.models import (
    MONEY_DIGITS,
    MarketPrice,
    OrderBookLevel,
    check_money,
    decode_lenient,
    decoder,
)
from kana_async.stream.book import OrderBook
from kana_async.stream.subscription import Subscription
from kana_async.stream.topics import TOPICS, Overflow
from tests.conftest import load_fixture
from tests.models.test_kana_models import TOPIC_TYPES

#: JSON tokens that ``Decimal`` would happily turn into a non-finite or absurd value.
BAD_TOKENS = [
    b'"NaN"', b'"nan"', b'"-NaN"', b'"sNaN"', b'"NaN123"', b'"Infinity"', b'"-Infinity"',
    b'"inf"', b'" Inf "', b'"+INF"', b'"\\u004eaN"', b"1e999", b"-1e999", b'"1e999"',
    b"1E+39", b'"-1e39"', b"1" + b"0" * MONEY_DIGITS, b'"' + b"9" * 60 + b'.5"',
    b"1e999999999999",
]

#: JSON tokens for money that must still decode, near the limits.
GOOD_TOKENS = [
    b"0", b'"0"', b"-0.0", b'"1e-30"', b"5.768", b'"487.649"', b"1" + b"0" * (MONEY_DIGITS - 1),
    b'"-' + b"9" * MONEY_DIGITS + b'.99"', b"1E+38",
]

_MARK = "__money_under_test__"


def _money_fields(type_: Any) -> list[str]:
    """Wire names of the Decimal fields (plain or optional) of a model."""
    info = mi.type_info(type_)
    assert isinstance(info, mi.StructType)
    names = []
    for field in info.fields:
        ftype = field.type
        members = ftype.types if isinstance(ftype, mi.UnionType) else (ftype,)
        if any(isinstance(m, mi.DecimalType) for m in members):
            names.append(field.encode_name)
    return names


def _cases() -> list[tuple[str, type[Any], dict[str, Any]]]:
    """(fixture, item type, one documented item) for every WebSocket example."""
    cases = []
    for name, list_type in sorted(TOPIC_TYPES.items()):
        (item_type,) = typing.get_args(list_type)
        for example in load_fixture(name)["examples"]:
            data = example["body"]["data"]
            for item in data if isinstance(data, list) else [data]:
                cases.append((name, item_type, item))
    return cases


CASES = _cases()


def _with_token(items: list[dict[str, Any]], index: int, field: str, token: bytes) -> bytes:
    """``items`` as JSON with ``items[index][field]`` replaced by the raw ``token``."""
    mutated = [dict(item) for item in items]
    mutated[index][field] = _MARK
    raw = json.dumps(mutated).encode()
    assert raw.count(_MARK.encode()) == 1
    return raw.replace(b'"' + _MARK.encode() + b'"', token)


def test_every_model_with_money_is_covered() -> None:
    assert {t for _, t, _ in CASES} == {typing.get_args(t)[0] for t in TOPIC_TYPES.values()}
    assert all(_money_fields(t) for _, t, _ in CASES)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_bad_money_token_anywhere_fails_both_decoders_naming_the_field(data: Any) -> None:
    _, item_type, item = data.draw(st.sampled_from(CASES))
    field = data.draw(st.sampled_from(_money_fields(item_type)))
    token = data.draw(st.sampled_from(BAD_TOKENS))
    items = [item] * data.draw(st.integers(1, 3))
    index = data.draw(st.integers(0, len(items) - 1))
    raw = _with_token(items, index, field, token)
    list_type = list[item_type]  # type: ignore[valid-type]
    with pytest.raises(msgspec.ValidationError, match=rf"at `\$\[{index}\]\.{field}`"):
        decoder(list_type).decode(raw)
    with pytest.raises((msgspec.ValidationError, msgspec.DecodeError)):
        decode_lenient(raw, list_type)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_finite_money_within_the_limit_still_decodes(data: Any) -> None:
    _, item_type, item = data.draw(st.sampled_from(CASES))
    field = data.draw(st.sampled_from(_money_fields(item_type)))
    token = data.draw(st.sampled_from(GOOD_TOKENS))
    raw = _with_token([item], 0, field, token)
    (decoded,) = decoder(list[item_type]).decode(raw)  # type: ignore[valid-type]
    python_name = next(
        f.name for f in mi.type_info(item_type).fields  # type: ignore[attr-defined]
        if f.encode_name == field
    )
    assert getattr(decoded, python_name) == Decimal(token.decode().strip('"'))


@given(value=st.decimals(allow_nan=True, allow_infinity=True))
def test_any_decimal_is_accepted_exactly_when_finite_and_small(value: Decimal) -> None:
    raw = b'{"market_id":"1","price":"%s","size":"1","is_ask":true}' % str(value).encode()
    good = value.is_finite() and value.adjusted() < MONEY_DIGITS
    if good:
        assert decoder(OrderBookLevel).decode(raw).price == value
    else:
        with pytest.raises(msgspec.ValidationError, match=r"finite decimal .* at `\$\.price`"):
            decoder(OrderBookLevel).decode(raw)


def test_the_error_names_the_wire_field_and_quotes_no_python_repr() -> None:
    with pytest.raises(msgspec.ValidationError) as caught:
        decoder(MarketPrice).decode(b'{"bestBidPrice": "5", "bestAskPrice": "Infinity"}')
    message = str(caught.value)
    assert message == (
        f"Expected a finite decimal of at most {MONEY_DIGITS} integer digits, "
        "got `Infinity` - at `$.bestAskPrice`"
    )
    assert "Decimal(" not in message


def test_check_money_covers_values_built_without_the_decoder() -> None:
    level = msgspec.convert(
        {"market_id": "1", "price": "NaN", "size": "1", "is_ask": True}, OrderBookLevel,
        strict=False,
    )
    with pytest.raises(msgspec.ValidationError, match=r"at `\$\[0\]\.price`"):
        check_money([level], list[OrderBookLevel])
    good = OrderBookLevel(market_id=1, price=Decimal(5), size=Decimal(1), is_ask=True)
    assert check_money({"k": (good, None)}, dict[str, tuple[OrderBookLevel, None]]) == {
        "k": (good, None)
    }


def test_types_without_money_are_not_checked() -> None:
    assert check_money(["NaN"], list[str]) == ["NaN"]


async def test_the_stream_counts_a_non_finite_book_as_a_decode_error() -> None:
    errors: list[Exception] = []
    sub: Subscription[OrderBook] = Subscription(
        TOPICS["orderbook"], "1", "1", overflow=Overflow.ERROR, capacity=4,
        convert=OrderBook.from_levels, on_decode_error=lambda s, exc: errors.append(exc),
    )
    level = {"market_id": "1", "size": "2", "is_ask": False}
    sub.push(msgspec.Raw(json.dumps([level | {"price": "NaN"}]).encode()))
    sub.push(msgspec.Raw(json.dumps([level | {"price": "-Infinity", "market_id": 1}]).encode()))
    sub.push(msgspec.Raw(json.dumps([level | {"price": 6}]).encode()))
    book = await sub.get()
    assert book.best_bid is not None
    assert book.best_bid.price == Decimal(6)
    assert sub.stats.decode_errors == 2
    assert all("finite decimal" in str(e) for e in errors)
    await sub.close()


#: REST answers whose ``data`` is money itself (``Decimal`` or ``Decimal | None``).
REST_MONEY = {
    "rest_getWalletAccountBalance.json": Decimal,
    "rest_getLastPlacedPrice.json": Decimal | None,
}


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_rest_money_answers_are_checked_too(data: Any) -> None:
    bodies = [
        (type_, example["body"]["data"])
        for name, type_ in REST_MONEY.items()
        for example in load_fixture(name)["examples"]
    ] + [(Decimal | None, "5.768"), (Decimal | None, None)]
    type_, good = data.draw(st.sampled_from(bodies))
    assert decoder(type_).decode(json.dumps(good).encode()) == (
        None if good is None else Decimal(str(good))
    )
    token = data.draw(st.sampled_from(BAD_TOKENS))
    with pytest.raises(msgspec.ValidationError, match=r"finite decimal .* at `\$`"):
        decoder(type_).decode(token)


class _Leg(msgspec.Struct, kw_only=True):
    price: Decimal
    fee: Decimal | None = None


class _Ticket(msgspec.Struct, kw_only=True):
    name: str
    main: _Leg | None = None
    legs: list[_Leg] | None = None
    by_venue: dict[str, _Leg] = {}
    pair: tuple[int, _Leg] | None = None
    next: _Ticket | None = None


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ({"main": {"price": "NaN"}}, "$.main.price"),
        ({"main": {"price": "1", "fee": "-Infinity"}}, "$.main.fee"),
        ({"legs": [{"price": "1"}, {"price": "1", "fee": "sNaN"}]}, "$.legs[1].fee"),
        ({"by_venue": {"a": {"price": "1"}, "b": {"price": "Infinity"}}}, "$.by_venue['b'].price"),
        ({"pair": [1, {"price": "1e999"}]}, "$.pair[1].price"),
        ({"next": {"name": "n", "next": {"name": "m", "main": {"price": "NaN"}}}},
         "$.next.next.main.price"),
    ],
)
def test_nested_optional_and_recursive_models_are_checked(doc: dict[str, Any], where: str) -> None:
    raw = json.dumps({"name": "t", **doc}).encode()
    with pytest.raises(msgspec.ValidationError) as info:
        decoder(_Ticket).decode(raw)
    assert str(info.value).endswith(f"at `{where}`")
    fine = {"name": "t", "main": None, "legs": None, "next": {"name": "n"}}
    assert decoder(_Ticket).decode(json.dumps(fine).encode()).next is not None


def test_unions_of_containers_and_text_are_located() -> None:
    type_ = dict[str, list[_Leg] | str | _Leg]
    raw = b'{"a": "text", "b": {"price": "2"}, "c": [{"price": "1"}, {"price": "NaN"}]}'
    with pytest.raises(msgspec.ValidationError, match=r"at `\$\['c'\]\[1\]\.price`"):
        decoder(type_).decode(raw)
