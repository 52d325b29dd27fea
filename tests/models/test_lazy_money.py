"""Money is decoded exactly but lazily: the wire text is kept, the Decimal built on first read."""

from __future__ import annotations

import copy
import pickle
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from kana_async.models import (
    MarketPrice,
    ModelDecoder,
    OrderBookLevel,
    Position,
    Trade,
    decoder,
)
from kana_async.models.common import lazy_type

ADDRESS = "0x" + "ab" * 32
LEVEL = b'{"market_id": "1338", "price": 5.70, "size": "12.500", "is_ask": true}'
TRADE = (
    b'{"address": "' + ADDRESS.encode() + b'", "trade_id": "9", "market_id": 1338,'
    b' "order_type": 1, "size": "1.5", "price": "5.1", "order_value": null, "fee": "0.0001",'
    b' "pnl": "-7.2094569999999999960543436821", "timestamp": 1}'
)


def _public_level() -> OrderBookLevel:
    return OrderBookLevel(
        market_id=1338, price=Decimal("5.70"), size=Decimal("12.500"), is_ask=True
    )


def test_decoded_models_are_the_public_type_with_decimal_money() -> None:
    level = decoder(OrderBookLevel, lazy=True).decode(LEVEL)
    assert isinstance(level, OrderBookLevel)
    assert type(level).__name__ == "OrderBookLevel"
    assert type(level.price) is Decimal
    assert level.price == Decimal("5.70")
    assert str(level.price) == "5.70"  # exact: the wire's trailing zero is kept
    assert str(level.size) == "12.500"
    assert level.price is level.price  # built once, then kept


def test_the_wire_text_is_kept_until_read() -> None:
    level = decoder(OrderBookLevel, lazy=True).decode(LEVEL)
    # Encoding before any read writes the wire text as it came (a JSON number stays one).
    assert msgspec.json.encode(level) == (
        b'{"market_id":1338,"price":5.70,"size":"12.500","is_ask":true,'
        b'"last_updated":null,"transaction_version":null}'
    )
    assert level.price == Decimal("5.70")
    # After a read the Decimal is encoded, as for a model built by hand.
    assert msgspec.json.encode(level) == msgspec.json.encode(_public_level())


def test_optional_money_is_none_or_decimal() -> None:
    trade = decoder(Trade, lazy=True).decode(TRADE)
    assert trade.order_value is None
    assert trade.entry_price is None
    assert trade.pnl == Decimal("-7.2094569999999999960543436821")
    price = decoder(MarketPrice, lazy=True).decode(b'{"bestAskPrice": "5.1", "bestBidPrice": null}')
    assert price.best_ask_price == Decimal("5.1")
    assert price.best_bid_price is None


def test_equality_hash_repr_copy_and_pickle_match_the_public_model() -> None:
    public = _public_level()
    dec = decoder(OrderBookLevel, lazy=True)
    assert dec.decode(LEVEL) == public
    assert public == dec.decode(LEVEL)
    assert (dec.decode(LEVEL) != public) is False
    assert (public != dec.decode(LEVEL)) is False
    assert dec.decode(LEVEL) != msgspec.structs.replace(public, size=Decimal("1"))
    assert hash(dec.decode(LEVEL)) == hash(public)
    assert {public: 1}[dec.decode(LEVEL)] == 1
    assert repr(dec.decode(LEVEL)) == repr(public)
    assert copy.copy(dec.decode(LEVEL)) == public
    assert msgspec.structs.replace(dec.decode(LEVEL), is_ask=False).price == Decimal("5.70")
    restored = pickle.loads(pickle.dumps(dec.decode(LEVEL)))
    assert type(restored) is OrderBookLevel
    assert restored == public


def test_lazy_and_eager_decoders_agree() -> None:
    body = b"[" + TRADE + b"," + TRADE + b"]"
    lazy = decoder(list[Trade], lazy=True).decode(body)
    eager = ModelDecoder[list[Trade]](list[Trade], lazy=False).decode(body)
    assert lazy == eager
    assert all(type(t) is Trade for t in eager)
    assert lazy[0].address == ADDRESS  # __post_init__ still runs


@pytest.mark.parametrize(
    "price",
    [b'"NaN"', b'"Infinity"', b'"-inf"', b"1e999", b'"1e999"', b"1" * 40, b'"sNaN"', b"null"],
)
def test_bad_money_is_still_refused_at_decode(price: bytes) -> None:
    bad = LEVEL.replace(b"5.70", price)
    with pytest.raises(msgspec.ValidationError, match=r"\$\.price"):
        decoder(OrderBookLevel, lazy=True).decode(bad)


@pytest.mark.parametrize(
    ("text", "value"),
    [(b'"1e3"', Decimal("1E+3")), (b"-0.5e-2", Decimal("-0.005")), (b'"+5"', Decimal("5")),
     (b'"0.' + b"1" * 45 + b'"', Decimal("0." + "1" * 45))],
)
def test_unusual_but_good_money_takes_the_exact_path(text: bytes, value: Decimal) -> None:
    level = decoder(OrderBookLevel, lazy=True).decode(LEVEL.replace(b"5.70", text))
    assert level.price == value


def test_a_numeric_looking_string_that_is_no_number_is_refused_when_read() -> None:
    level = decoder(OrderBookLevel, lazy=True).decode(LEVEL.replace(b"5.70", b'"1.2.3"'))
    with pytest.raises(msgspec.ValidationError):
        _ = level.price


def test_optional_null_is_fine_but_required_null_is_refused() -> None:
    body = (
        b'[{"address": "' + ADDRESS.encode() + b'", "market_id": 1, "size": "1",'
        b' "entry_price": "2", "value": "2", "leverage": 2, "margin": "1", "sl": null}]'
    )
    (position,) = decoder(list[Position], lazy=True).decode(body)
    assert position.sl is None
    assert position.size == Decimal("1")
    with pytest.raises(msgspec.ValidationError, match=r"\$\[0\]\.margin"):
        decoder(list[Position], lazy=True).decode(body.replace(b'"margin": "1"', b'"margin": null'))


def test_lazy_type_rewrites_containers_and_leaves_money_free_types() -> None:
    assert lazy_type(int) is int
    assert lazy_type(list[str]) == list[str]
    twin: Any = lazy_type(Trade)
    assert twin is not Trade
    assert issubclass(twin, Trade)
    assert lazy_type(list[Trade]) == list[twin]
    assert lazy_type(dict[str, Trade]) == dict[str, twin]
    assert lazy_type(Trade | None) == twin | None


def test_the_refusal_on_read_names_the_field_and_the_rule() -> None:
    level = decoder(OrderBookLevel, lazy=True).decode(LEVEL.replace(b'"12.500"', b'"-"'))
    assert level.price == Decimal("5.70")
    with pytest.raises(msgspec.ValidationError, match=r"finite decimal.*got `\"-\"` - at `size`"):
        _ = level.size


def test_a_junk_address_is_refused_even_after_good_ones() -> None:
    dec = decoder(Trade, lazy=True)
    assert dec.decode(TRADE).address == ADDRESS
    for _ in range(2):
        with pytest.raises(Exception, match="address"):
            dec.decode(TRADE.replace(ADDRESS.encode(), ADDRESS.encode() + b"\\n"))


def test_the_first_read_makes_the_level_a_plain_public_instance() -> None:
    level = decoder(OrderBookLevel, lazy=True).decode(LEVEL)
    assert type(level) is not OrderBookLevel
    assert level.size == Decimal("12.500")
    assert type(level) is OrderBookLevel
    assert level == _public_level()


@pytest.mark.parametrize("lazy", [True, False])
def test_a_book_of_levels_sorts_exactly(lazy: bool) -> None:
    from kana_async.stream import OrderBook

    def level(price: str, is_ask: bool) -> bytes:
        return b'{"market_id": 1, "price": %s, "size": "1", "is_ask": %s}' % (
            price.encode(), b"true" if is_ask else b"false")

    # Two bids a float cannot tell apart, sent in the wrong order; asks sent best last.
    close_low, close_high = "5.00000000000000000001", "5.00000000000000000002"
    body = b"[" + b",".join([
        level(close_low, False), level(close_high, False), level('"4.5"', False),
        level("7.25", True), level('"6.5"', True),
    ]) + b"]"
    levels = decoder(list[OrderBookLevel], lazy=lazy).decode(body)
    assert all((type(lv) is not OrderBookLevel) is lazy for lv in levels)  # nothing read yet
    book = OrderBook.from_levels(levels)
    assert [lv.price for lv in book.asks] == [Decimal("6.5"), Decimal("7.25")]
    assert [lv.price for lv in book.bids] == [
        Decimal(close_high), Decimal(close_low), Decimal("4.5")
    ]


def test_sorting_a_lazy_book_builds_no_decimal() -> None:
    from kana_async.stream import OrderBook

    body = b"[" + b",".join(
        b'{"market_id": 1, "price": %d.5, "size": "2", "is_ask": true}' % i for i in (3, 1, 2)
    ) + b"]"
    book = OrderBook.from_levels(decoder(list[OrderBookLevel], lazy=True).decode(body))
    best = book.best_ask
    assert best is not None
    assert [type(lv) is OrderBookLevel for lv in book.asks] == [False, False, False]
    assert best.price == Decimal("1.5")
    assert [type(lv) is OrderBookLevel for lv in book.asks] == [True, False, False]
