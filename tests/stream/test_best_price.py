"""``best_price``: the eleventh indexer topic, provisional (the documents show no payload)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import msgspec
import pytest

from kana_async.models import BestPrice
from kana_async.sim import Simulator
from kana_async.stream import StreamMux, Subscription
from kana_async.stream.router import Router
from kana_async.stream.topics import TOPICS, Overflow, topic_spec, validate_key

#: The topics the documents list.
DOCUMENTED = {
    "order_history", "deposit_withdraw_history", "trade_history", "positions", "open_orders",
    "orderbook", "recent_trades", "live_funding_rate", "live_order_history",
    "live_trade_history", "best_price",
}


def test_every_documented_topic_is_offered() -> None:
    assert set(TOPICS) == DOCUMENTED
    spec = topic_spec("best_price")
    assert spec.key == "market_id"
    assert spec.is_list
    assert spec.default_overflow is Overflow.KEEP_LATEST
    assert validate_key(spec, None, 1338) == ("1338", "1338")


def test_the_simulators_shape_decodes() -> None:
    payload = (b'[{"market_id": "1338", "best_bid_price": "5.767", "best_ask_price": "5.769",'
               b' "last_updated": 17, "transaction_version": 4}]')
    (item,) = topic_spec("best_price").decoder.decode(payload)
    assert item == BestPrice(market_id=1338, best_bid_price=Decimal("5.767"),
                             best_ask_price=Decimal("5.769"), last_updated=17,
                             transaction_version=4)
    assert item.extra == {}


def test_decoding_is_lenient_and_keeps_unknown_fields() -> None:
    payload = (b'[{"market_id": 1338, "best_bid_price": 5.768, "best_ask_price": null,'
               b' "spread": "0.002", "depth": {"bids": 3}}, {"market_id": "14"}]')
    first, second = topic_spec("best_price").decoder.decode(payload)
    assert first.market_id == 1338
    assert first.best_bid_price == Decimal("5.768")  # a JSON number, exactly
    assert first.best_ask_price is None
    assert first.extra == {"spread": "0.002", "depth": {"bids": 3}}
    assert second == BestPrice(market_id=14)


@pytest.mark.parametrize("payload", [b'{"market_id": 1}', b"[1]", b'[{"market_id": "x"}]',
                                     b'[{"best_bid_price": "NaN?"}]'])
def test_a_payload_of_another_shape_is_a_decode_error(payload: bytes) -> None:
    with pytest.raises((msgspec.ValidationError, msgspec.DecodeError)):
        topic_spec("best_price").decoder.decode(payload)


class Sink:
    def __init__(self) -> None:
        self.items: list[msgspec.Raw] = []

    def push(self, payload: msgspec.Raw) -> None:
        self.items.append(payload)


def test_the_router_routes_best_price_by_market() -> None:
    router = Router()
    spec = topic_spec("best_price")
    apt, btc = Sink(), Sink()
    router.add(apt, spec, "1338")
    router.add(btc, spec, "14")
    router.subscribed(spec, "1338")
    router.subscribed(spec, "14")
    router.feed(b'{"message": "best_price", "data": [{"market_id": 14, "best_bid_price": "1"}]}')
    router.feed(b'{"message": "best_price", "data": [{"market_id": "1338"}]}')
    assert [len(apt.items), len(btc.items)] == [1, 1]
    assert router.stats().unknown_topic == 0


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(seed=5, step_interval=0.05) as simulator:
        yield simulator


async def two_sided(sub: Subscription[list[BestPrice]]) -> BestPrice:
    async for items in sub:
        for item in items:
            if item.best_bid_price is not None and item.best_ask_price is not None:
                return item
    raise AssertionError("best_price ended")


async def test_best_price_against_the_simulator(sim: Simulator) -> None:
    assert sim.ws_url is not None
    async with aiohttp.ClientSession() as http, StreamMux(http, sim.ws_url) as stream, \
            stream.best_price(1338) as sub:
        item = await asyncio.wait_for(two_sided(sub), 5.0)
    assert item.market_id == 1338
    assert item.best_bid_price is not None
    assert item.best_ask_price is not None
    assert item.best_bid_price < item.best_ask_price
