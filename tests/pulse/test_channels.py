"""The Pulse channel table: names, kinds, visibility, and the gateway's payloads decoded."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from kana_async.errors import SlowConsumerError, ValidationError
from kana_async.models.pulse import (
    BookNotification,
    FundingPaymentNotification,
    FundingPriceNotification,
    FundingRateNotification,
    HeartbeatTrade,
    OrderConfirmation,
    PriceNotification,
    PublishFee,
    QuoteNotification,
    TradesResponse,
    UserChangesNotification,
)
from kana_async.pulse.channels import CHANNELS, channel_spec, is_private, split_items
from kana_async.sim.pulse.channels import parse_channel
from kana_async.stream.subscription import Subscription
from kana_async.stream.topics import Overflow
from tests.sim.pulse.engines import BTC, Clock
from tests.sim.pulse.wire import FIXTURES, Client, connected, served

SNAPSHOT = {"book", "quote", "deribit_price_index", "settlement_prices", "funding_rates",
            "funding_prices", "user_fee", "heartbeat_trade"}
EVENT = {"user.orders", "user.trades", "user.changes", "user.mmp_trigger", "funding_payments"}
PRIVATE = {"user.orders", "user.trades", "user.changes", "user.mmp_trigger", "user_fee",
           "heartbeat_trade"}

#: One concrete name per pattern.
EXAMPLES = {
    "book": f"book.{BTC}.raw",
    "deribit_price_index": "deribit_price_index.btc_usd",
    "funding_payments": f"funding_payments.{BTC}",
    "funding_prices": f"funding_prices.{BTC}",
    "funding_rates": f"funding_rates.{BTC}",
    "heartbeat_trade": "heartbeat_trade",
    "quote": f"quote.{BTC}",
    "settlement_prices": "settlement_prices.btc_usd",
    "user.changes": f"user.changes.{BTC}.raw",
    "user.mmp_trigger": "user.mmp_trigger.btc_usd",
    "user.orders": f"user.orders.{BTC}.raw",
    "user.trades": f"user.trades.{BTC}.raw",
    "user_fee": "user_fee",
}


def test_the_table_has_the_documents_thirteen_patterns() -> None:
    patterns = {json.loads(p.read_text())["name"] for p in FIXTURES.glob("channel.*.json")}
    assert {kind.pattern for kind in CHANNELS.values()} == patterns
    assert set(CHANNELS) == set(EXAMPLES) == SNAPSHOT | EVENT


@pytest.mark.parametrize("prefix", sorted(EXAMPLES))
def test_kind_visibility_and_overflow_of_each_pattern(prefix: str) -> None:
    channel = channel_spec(EXAMPLES[prefix])
    assert channel.name == EXAMPLES[prefix]
    assert channel.kind is CHANNELS[prefix]
    assert channel.spec is CHANNELS[prefix].spec  # one TopicSpec (and decoder) per pattern
    assert channel.private is (prefix in PRIVATE)  # S1
    assert is_private(channel.name) is (prefix in PRIVATE)
    assert channel.event is (prefix in EVENT)
    assert channel.spec.is_event is (prefix in EVENT)  # what the stream machinery reads
    assert channel.spec.payload_type is channel.spec.item  # one object per payload
    assert channel.overflow is (Overflow.ERROR if prefix in EVENT else Overflow.KEEP_LATEST)
    assert channel.book is (prefix == "book")


def test_the_simulator_agrees_on_every_name_and_its_visibility() -> None:
    from kana_async.sim.pulse.engine import PulseEngine

    instruments = PulseEngine(market_maker=False).instruments
    for name in EXAMPLES.values():
        parsed = parse_channel(channel_spec(name).name, instruments)
        assert parsed.private is channel_spec(name).private, name


def test_names_are_split_into_their_parameters() -> None:
    book = channel_spec("book.ETH-31DEC26.100ms")
    assert book.params == {"instrument_name": "ETH-31DEC26", "interval": "100ms"}
    assert channel_spec("user.orders.BTC-PERPETUAL.agg2").params == {
        "instrument_name": "BTC-PERPETUAL", "interval": "agg2"}
    assert channel_spec("user_fee").params == {}
    # Instrument names keep their case; index names go out in lower case (P8).
    assert channel_spec(f"quote.{BTC}").name == f"quote.{BTC}"
    assert channel_spec("deribit_price_index.Btc_usd").name == "deribit_price_index.btc_usd"
    assert channel_spec("user.mmp_trigger.ETH_USD").params == {"index_name": "eth_usd"}


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("", "must not be empty"),
        (None, "must be a string"),
        (42, "must be a string"),
        ("ticker.BTC", "must be one of the patterns"),
        ("books.BTC.raw", "must be one of the patterns"),
        ("book", r"must follow the pattern book\.\{instrument_name\}\.\{interval\}"),
        (f"book.{BTC}", "must follow the pattern"),
        (f"book.{BTC}.raw.extra", "must follow the pattern"),
        ("book..raw", "instrument_name must not be empty"),
        (f"book.{BTC}.", "interval must not be empty"),
        ("quote.BTC USD", "instrument_name must not contain whitespace"),
        ("quote.BTC\tUSD", "must not contain whitespace"),
        ("deribit_price_index.btc\nusd", "must not contain whitespace"),
        ("quote.BTC\x00", "control characters"),
        ("user_fee.x", "must follow the pattern user_fee"),
        ("heartbeat_trade.", "must follow the pattern"),
        ("quote." + "X" * 300, "at most 200 characters"),
    ],
)
def test_a_bad_name_is_refused_naming_the_rule(name: object, rule: str) -> None:
    with pytest.raises(ValidationError, match=rule) as caught:
        channel_spec(name)
    assert caught.value.param == "channel"
    assert "Decimal(" not in str(caught.value)


def test_user_orders_and_trades_take_an_object_or_an_array() -> None:
    """P5: each element of an array is one item; one object is one item."""
    orders = channel_spec(f"user.orders.{BTC}.raw")
    array = msgspec.Raw(b'[{"order_id": "a", "price": 1}, {"order_id": "b"}]')
    items = split_items(orders, array)
    decoded = [orders.spec.decoder.decode(item) for item in items]
    assert [o.order_id for o in decoded] == ["a", "b"]
    assert all(isinstance(o, OrderConfirmation) for o in decoded)
    one = msgspec.Raw(b'{"order_id": "c"}')
    assert [orders.spec.decoder.decode(i).order_id for i in split_items(orders, one)] == ["c"]
    trades = channel_spec(f"user.trades.{BTC}.raw")
    assert len(split_items(trades, msgspec.Raw(b"[]"))) == 0
    assert len(split_items(trades, msgspec.Raw(b'[{"trade_id": "1"}]'))) == 1
    # Other channels are never split: their payload is one object.
    quote = channel_spec(f"quote.{BTC}")
    raw = msgspec.Raw(b'[{"best_bid_price": 1}]')
    assert split_items(quote, raw) == [raw]
    with pytest.raises(msgspec.DecodeError):
        split_items(orders, msgspec.Raw(b"[{"))


async def test_a_subscription_carries_a_pulse_channel() -> None:
    """The Kana stream's Subscription decodes a Pulse payload with the channel's spec and
    applies its overflow policy."""
    quote = channel_spec(f"quote.{BTC}")
    sub: Subscription[QuoteNotification] = Subscription(
        quote.spec, quote.name, quote.name, overflow=quote.overflow, capacity=8
    )
    sub.push(msgspec.Raw(b'{"best_bid_price": 1, "instrument_name": "X"}'))
    sub.push(msgspec.Raw(b'{"best_bid_price": "2.5", "instrument_name": "X"}'))
    latest = await sub.get()
    assert latest.best_bid_price == Decimal("2.5")  # keep-latest: the first was replaced
    assert sub.stats.conflated == 1
    orders = channel_spec(f"user.orders.{BTC}.raw")
    events: Subscription[OrderConfirmation] = Subscription(
        orders.spec, orders.name, orders.name, overflow=orders.overflow, capacity=2
    )
    for index in range(3):
        events.push(msgspec.Raw(f'{{"order_id": "{index}"}}'.encode()))
    with pytest.raises(SlowConsumerError):
        await events.get()
    assert (await events.get()).order_id == "1"
    await sub.close()
    await events.close()


def _data(frame: dict[str, Any]) -> bytes:
    return json.dumps(frame["params"]["data"]).encode()


async def _next(client: Client, channel: str) -> bytes:
    frame = await client.wait(lambda f: f.get("method") == "subscription"
                              and f["params"]["channel"] == channel)
    return _data(frame)


async def test_the_gateways_notifications_decode_on_every_channel() -> None:
    """Each channel's payloads from the simulated gateway decode into its type, with the
    fields the gateway sent."""
    async with served(funding_interval=60) as server, connected(server) as client:
        await client.auth("alice")
        public = [EXAMPLES[p] for p in sorted(EXAMPLES) if p not in PRIVATE]
        private = [EXAMPLES[p] for p in sorted(EXAMPLES) if p in PRIVATE]
        await client.result("public/subscribe", {"channels": public})
        await client.result("private/subscribe", {"channels": private})
        engine = server.engine
        engine.place("bob", "sell", BTC, Decimal(100), price=Decimal(61000))
        await client.result("private/set_mmp_config", {"index_name": "btc_usd", "interval": 60,
                                                       "frozen_time": 30, "quantity_limit": 10})
        engine.place("bob", "sell", BTC, Decimal(100), price=Decimal(60000))
        await client.result("private/buy", {"instrument_name": BTC, "amount": 100,
                                            "price": 60000, "type": "limit", "mmp": True})

        book = channel_spec(EXAMPLES["book"]).spec.decoder.decode(
            await _next(client, EXAMPLES["book"]))
        assert isinstance(book, BookNotification)
        assert book.type == "snapshot"
        assert book.change_id is not None

        quote = channel_spec(EXAMPLES["quote"]).spec.decoder.decode(
            await _next(client, EXAMPLES["quote"]))
        assert isinstance(quote, QuoteNotification)
        assert quote.instrument_name == BTC

        index = channel_spec(EXAMPLES["deribit_price_index"]).spec.decoder.decode(
            await _next(client, EXAMPLES["deribit_price_index"]))
        assert isinstance(index, PriceNotification)
        assert index.index_name == "btc_usd"
        assert isinstance(index.price, Decimal)

        orders = channel_spec(EXAMPLES["user.orders"])
        order_items = split_items(orders, msgspec.Raw(await _next(client, orders.name)))
        order = orders.spec.decoder.decode(order_items[0])
        assert isinstance(order, OrderConfirmation)
        assert order.instrument_name == BTC
        assert order.direction == "buy"

        trades = channel_spec(EXAMPLES["user.trades"])
        trade = trades.spec.decoder.decode(
            split_items(trades, msgspec.Raw(await _next(client, trades.name)))[0])
        assert isinstance(trade, TradesResponse)
        assert (trade.amount, trade.price) == (Decimal(100), Decimal(60000))

        changes = channel_spec(EXAMPLES["user.changes"]).spec.decoder.decode(
            await _next(client, EXAMPLES["user.changes"]))
        assert isinstance(changes, UserChangesNotification)
        assert changes.orders
        assert changes.orders[0].instrument_name == BTC

        fee = channel_spec("user_fee").spec.decoder.decode(await _next(client, "user_fee"))
        assert isinstance(fee, PublishFee)
        assert fee.perpetual is not None
        assert isinstance(fee.perpetual.percentage, Decimal)

        status = channel_spec("heartbeat_trade").spec.decoder.decode(
            await _next(client, "heartbeat_trade"))
        assert status == HeartbeatTrade(status_trade="active")

        trigger = channel_spec(EXAMPLES["user.mmp_trigger"]).spec.decoder.decode(
            await _next(client, EXAMPLES["user.mmp_trigger"]))
        assert trigger.index_name == "btc_usd"
        assert isinstance(trigger.frozen_until, int)


async def test_the_gateways_funding_and_settlement_notifications_decode() -> None:
    clock = Clock()
    async with served(clock=clock, funding_interval=60) as server, connected(server) as client:
        names = [EXAMPLES["funding_payments"], EXAMPLES["funding_prices"],
                 EXAMPLES["funding_rates"], EXAMPLES["settlement_prices"]]
        await client.result("public/subscribe", {"channels": names})
        clock.now += 61
        server.engine.step()
        decoded = [channel_spec(name).spec.decoder.decode(await _next(client, name))
                   for name in names]
        payment, prices, rates, settlement = decoded
        assert isinstance(payment, FundingPaymentNotification)
        assert isinstance(payment.amount, Decimal)  # a decimal string on the wire
        assert isinstance(prices, FundingPriceNotification)
        assert prices.perpetual_price is not None
        assert isinstance(prices.perpetual_price.close, Decimal)
        assert isinstance(prices.range_end, str)  # RFC 3339, kept as sent (P6)
        assert isinstance(rates, FundingRateNotification)
        assert isinstance(rates.rate, Decimal)
        assert isinstance(rates.range_end, int)
        assert isinstance(settlement, PriceNotification)
        assert settlement.index_name == "btc_usd"
