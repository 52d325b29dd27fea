"""The router, fed with bytes: routing by topic and key, shapes, anomalies."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from kana_async.models import normalize_address
from kana_async.stream.router import Router
from kana_async.stream.topics import TOPICS, TopicSpec
from tests.conftest import load_fixture

ADDR_A = "0x" + "a" * 64
ADDR_B = "0x" + "b" * 64


class Recorder:
    """A sink that keeps what it was given (copies, to prove nothing aliases a buffer)."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    def push(self, payload: msgspec.Raw) -> None:
        self.payloads.append(bytes(payload))


class Anomalies:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(self, kind: str, detail: str) -> None:
        self.seen.append((kind, detail))

    @property
    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.seen]


def frame(message: str | None, data: Any) -> bytes:
    body: dict[str, Any] = {"data": data}
    if message is not None:
        body["message"] = message
    return msgspec.json.encode(body)


def subscribe(router: Router, topic: str, key: str) -> Recorder:
    sink = Recorder()
    spec = TOPICS[topic]
    router.add(sink, spec, key)
    router.subscribed(spec, key)
    return sink


def key_of(spec: TopicSpec, data: Any) -> str:
    if spec.key is None:
        return ""
    first = data[0] if isinstance(data, list) else data
    value = first[spec.key]
    return normalize_address(value) if spec.key == "address" else str(value)


WS_EXAMPLES = [
    (name, index, example["body"])
    for name in sorted(load_fixture("_index.json")["files"])
    if name.startswith("ws_")
    for index, example in enumerate(load_fixture(name)["examples"])
]


def test_fixtures_are_all_covered() -> None:
    assert len(WS_EXAMPLES) == 18
    # best_price: the documents show no example (it is provisional).
    documented = {f"ws_{t}.json" for t in TOPICS if t != "best_price"}
    assert {name for name, _, _ in WS_EXAMPLES} == documented


@pytest.mark.parametrize("single", [True, False], ids=["one-key", "several-keys"])
@pytest.mark.parametrize(("name", "index", "body"), WS_EXAMPLES,
                         ids=[f"{n[3:-5]}-{i}" for n, i, _ in WS_EXAMPLES])
def test_documented_frames_route_to_their_key_and_decode(
    name: str, index: int, body: dict[str, Any], single: bool
) -> None:
    topic = body.get("message", "recent_trades")
    spec = TOPICS[topic]
    # An empty snapshot names no key: it is delivered only while one key streams.
    key = key_of(spec, body["data"]) if body["data"] else ADDR_A
    router = Router()
    mine = subscribe(router, topic, key)
    other = None
    if not single and spec.key is not None:
        other = subscribe(router, topic, "99999" if spec.key == "market_id" else ADDR_B)
    router.feed(msgspec.json.encode(body))
    if other is not None:
        assert other.payloads == []
        if not body["data"]:
            assert mine.payloads == []
            assert router.stats().unattributed == 1
            return
    assert len(mine.payloads) == 1
    expected = msgspec.convert(body["data"], spec.payload_type, strict=False)
    assert spec.decoder.decode(mine.payloads[0]) == expected
    stats = router.stats()
    assert stats.frames == 1
    assert stats.routed_by_shape == (0 if "message" in body else 1)


def test_two_keys_of_one_topic_each_see_only_their_own_data() -> None:
    router = Router()
    a = subscribe(router, "positions", ADDR_A)
    b = subscribe(router, "positions", ADDR_B)
    book_1 = subscribe(router, "orderbook", "1338")
    book_2 = subscribe(router, "orderbook", "1339")
    for address in (ADDR_A, ADDR_B, ADDR_A):
        router.feed(frame("positions", [{"address": address, "market_id": "1"}]))
    router.feed(frame("orderbook", [{"market_id": "1339", "price": 5.1, "size": "1",
                                     "is_ask": True}]))
    router.feed(frame("orderbook", [{"market_id": 1338, "price": 5.1, "size": "1",
                                     "is_ask": True}]))
    assert len(a.payloads) == 2
    assert len(b.payloads) == 1
    assert b"1339" in book_2.payloads[0]
    assert len(book_1.payloads) == 1  # a numeric market_id routes like its string


def test_short_and_mixed_case_addresses_match_their_normalised_key() -> None:
    router = Router()
    short = "0x725c8b51b2c1b3d17336c48d75c56c19253f70e1de00e26c8138a29722d82da"
    mine = subscribe(router, "live_trade_history", normalize_address(short))
    subscribe(router, "live_trade_history", ADDR_B)
    router.feed(frame("live_trade_history", {"address": short.upper().replace("0X", "0x")}))
    assert len(mine.payloads) == 1


def test_one_streaming_key_is_routed_without_looking() -> None:
    router = Router()
    mine = subscribe(router, "open_orders", ADDR_A)
    router.feed(frame("open_orders", "not even a list"))  # decoding is the consumer's job
    assert len(mine.payloads) == 1


def test_a_closed_key_still_streamed_by_the_server_never_leaks_to_another() -> None:
    router = Router()
    a = subscribe(router, "positions", ADDR_A)
    b = subscribe(router, "positions", ADDR_B)
    router.remove(a, TOPICS["positions"], ADDR_A)
    router.feed(frame("positions", [{"address": ADDR_A}]))
    router.feed(frame("positions", [{"address": ADDR_B}]))
    assert a.payloads == []
    assert len(b.payloads) == 1
    assert router.stats().ignored == 1


def test_after_a_reconnect_only_resubscribed_keys_count() -> None:
    router = Router()
    spec = TOPICS["positions"]
    a = subscribe(router, "positions", ADDR_A)
    b = subscribe(router, "positions", ADDR_B)
    router.remove(a, spec, ADDR_A)
    router.connection_reset()
    router.subscribed(spec, ADDR_B)
    router.feed(frame("positions", "anything"))  # one key streams again: fast path
    assert len(b.payloads) == 1


def test_fan_out_to_several_subscriptions_of_one_key_delivers_one_each() -> None:
    router = Router()
    first = subscribe(router, "orderbook", "14")
    second = subscribe(router, "orderbook", "14")
    subscribe(router, "orderbook", "15")
    router.feed(frame("orderbook", [{"market_id": "14"}]))
    assert len(first.payloads) == len(second.payloads) == 1


def test_an_empty_list_is_never_guessed_onto_a_pending_subscription() -> None:
    """A's snapshot (one resting order) arrives malformed; B's answer is ``[]``: A must not
    read B's "nothing open" (a market maker would quote again: double exposure)."""
    seen = Anomalies()
    keys: list[tuple[str, list[str]]] = []
    router = Router(on_anomaly=seen,
                    on_unattributed=lambda spec, candidates: keys.append((spec.name, candidates)))
    a = subscribe(router, "open_orders", ADDR_A)
    b = subscribe(router, "open_orders", ADDR_B)
    router.feed(b'{"message":"open_orders","data":[{"address":"' + ADDR_A.encode() + b'",')
    router.feed(frame("open_orders", []))
    assert a.payloads == []
    assert b.payloads == []
    assert seen.kinds == ["malformed", "unattributed"]
    assert keys == [("open_orders", [ADDR_A, ADDR_B])]


def test_an_empty_list_with_keys_pending_in_order_is_still_not_guessed() -> None:
    router = Router()
    a = subscribe(router, "positions", ADDR_A)
    b = subscribe(router, "positions", ADDR_B)
    router.feed(frame("positions", []))
    router.feed(frame("positions", [{"address": ADDR_B}]))
    assert a.payloads == []
    assert len(b.payloads) == 1
    assert router.stats().unattributed == 1


def test_a_list_mixing_keys_is_never_handed_to_one_of_them() -> None:
    seen = Anomalies()
    router = Router(on_anomaly=seen)
    a = subscribe(router, "positions", ADDR_A)
    b = subscribe(router, "positions", ADDR_B)
    router.feed(frame("positions", [{"address": ADDR_A}, {"address": ADDR_B}]))
    router.feed(frame("positions", [{"address": ADDR_A}, {"market_id": "1"}]))
    assert a.payloads == []
    assert b.payloads == []
    assert seen.kinds == ["unroutable", "unroutable"]


def test_unattributable_empty_list_is_reported_not_guessed() -> None:
    seen = Anomalies()
    router = Router(on_anomaly=seen)
    a = subscribe(router, "open_orders", ADDR_A)
    b = subscribe(router, "open_orders", ADDR_B)
    router.feed(frame("open_orders", [{"address": ADDR_A}]))
    router.feed(frame("open_orders", [{"address": ADDR_B}]))
    router.feed(frame("open_orders", []))
    assert (len(a.payloads), len(b.payloads)) == (1, 1)
    assert seen.kinds == ["unattributed"]
    assert router.stats().unattributed == 1


def test_an_empty_list_of_a_topic_nobody_asked_for_is_ignored_quietly() -> None:
    seen = Anomalies()
    keys: list[tuple[str, list[str]]] = []
    router = Router(on_anomaly=seen,
                    on_unattributed=lambda spec, candidates: keys.append((spec.name, candidates)))
    subscribe(router, "open_orders", ADDR_A)
    router.feed(frame("positions", []))
    assert seen.kinds == []
    assert keys == []
    assert (router.stats().ignored, router.stats().unattributed) == (1, 0)


def test_empty_list_with_one_key_goes_to_it() -> None:
    router = Router()
    mine = subscribe(router, "open_orders", ADDR_A)
    router.feed(frame("open_orders", []))
    assert mine.payloads == [b"[]"]


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"{not json", "malformed"),
        (b"[1, 2, 3]", "malformed"),
        (b'"hello"', "malformed"),
        (b"", "malformed"),
        (b'{"message": 7, "data": []}', "malformed"),
        (b'\xff\xfe{"message": "positions"}', "malformed"),
        (b'{"message": "error", "data": "Invalid topic"}', "server_error"),
        (b'{"error": {"code": 1, "text": "bad address"}}', "server_error"),
        (b'{"message": "best_prices", "data": []}', "unknown_topic"),
        (b'{"message": "subscribed", "topic": "positions"}', "unknown_topic"),
        (b'{"message": "positions"}', "unroutable"),
        (b'{"data": [{"color": "blue"}]}', "unroutable"),
        (b'{"data": []}', "unroutable"),
        (b'{"data": 5}', "unroutable"),
        (b"{}", "unroutable"),
    ],
)
def test_anomalous_frames_are_counted_and_reported_never_raised(raw: bytes, kind: str) -> None:
    seen = Anomalies()
    router = Router(on_anomaly=seen)
    mine = subscribe(router, "positions", ADDR_A)
    subscribe(router, "positions", ADDR_B)
    router.feed(raw)
    assert seen.kinds == [kind]
    assert getattr(router.stats(), kind) == 1
    assert mine.payloads == []


def test_anomaly_detail_is_a_bounded_excerpt() -> None:
    seen = Anomalies()
    router = Router(on_anomaly=seen)
    router.feed(b'{"message": "error", "data": "' + b"x" * 10_000 + b'"}')
    assert len(seen.seen[0][1]) == 200


def test_undecodable_key_view_is_unroutable() -> None:
    seen = Anomalies()
    router = Router(on_anomaly=seen)
    subscribe(router, "positions", ADDR_A)
    subscribe(router, "positions", ADDR_B)
    router.feed(frame("positions", [{"address": 12}]))
    router.feed(frame("positions", ["not an object"]))
    router.feed(frame("positions", [{"market_id": "1"}]))  # no address at all
    assert seen.kinds == ["unroutable"] * 3


def test_a_topic_nobody_subscribed_is_ignored_quietly() -> None:
    seen = Anomalies()
    router = Router(on_anomaly=seen)
    router.feed(frame("live_funding_rate", [{"market_id": "14", "funding_rate": "0"}]))
    router.feed(frame("positions", [{"address": ADDR_A}]))
    assert seen.seen == []
    assert router.stats().ignored == 2


def test_buffers_that_may_be_reused_are_copied_before_routing() -> None:
    router = Router()
    mine = subscribe(router, "positions", ADDR_A)
    payloads: list[msgspec.Raw] = []
    mine.push = payloads.append  # type: ignore[method-assign,assignment]
    buffer = bytearray(frame("positions", [{"address": ADDR_A, "size": "1"}]))
    router.feed(buffer)
    router.feed(memoryview(buffer))
    expected = bytes(payloads[0])
    buffer[:] = b" " * len(buffer)
    assert bytes(payloads[0]) == bytes(payloads[1]) == expected


def test_text_frames_route_like_bytes() -> None:
    router = Router()
    mine = subscribe(router, "positions", ADDR_A)
    router.feed(frame("positions", [{"address": ADDR_A}]).decode())
    assert len(mine.payloads) == 1


class TestRoutingByShape:
    """Frames without ``message`` (a legacy print shows one) are routed by their fields."""

    @pytest.mark.parametrize(
        ("topic", "key", "element"),
        [
            ("orderbook", "14", {"market_id": "14", "price": 5, "size": "1", "is_ask": False}),
            ("live_funding_rate", "", {"market_id": "14", "funding_rate": "0"}),
            ("deposit_withdraw_history", ADDR_A, {"address": ADDR_A, "is_deposit": True}),
            ("positions", ADDR_A, {"address": ADDR_A, "margin": "1", "entry_price": "1"}),
            ("open_orders", ADDR_A, {"address": ADDR_A, "total_size": "1"}),
            ("order_history", ADDR_A, {"address": ADDR_A, "status": "Open"}),
            ("trade_history", ADDR_A, {"address": ADDR_A, "market_id": "1", "fee": "0"}),
            ("best_price", "14", {"market_id": "14", "best_bid_price": "5.7"}),
        ],
    )
    def test_each_list_shape(self, topic: str, key: str, element: dict[str, Any]) -> None:
        router = Router()
        mine = subscribe(router, topic, key)
        subscribe(router, "positions" if topic != "positions" else "open_orders", ADDR_B)
        router.feed(frame(None, [element]))
        assert len(mine.payloads) == 1
        assert router.stats().routed_by_shape == 1

    def test_single_objects_go_to_live_topics(self) -> None:
        router = Router()
        orders = subscribe(router, "live_order_history", ADDR_A)
        trades = subscribe(router, "live_trade_history", ADDR_A)
        router.feed(frame(None, {"address": ADDR_A, "status": "Open"}))
        router.feed(frame(None, {"address": ADDR_A, "fee": "0"}))
        assert (len(orders.payloads), len(trades.payloads)) == (1, 1)

    def test_trades_of_several_traders_are_market_trades(self) -> None:
        router = Router()
        mine = subscribe(router, "trade_history", ADDR_A)
        market = subscribe(router, "recent_trades", "1338")
        rows = [{"address": ADDR_A, "market_id": "1338", "fee": "0"},
                {"address": ADDR_B, "market_id": "1338", "fee": "0"}]
        router.feed(frame(None, rows))
        assert (len(mine.payloads), len(market.payloads)) == (0, 1)

    def test_trades_in_several_markets_are_a_traders_fills(self) -> None:
        router = Router()
        mine = subscribe(router, "trade_history", ADDR_A)
        market = subscribe(router, "recent_trades", "1338")
        rows = [{"address": ADDR_A, "market_id": "1338", "fee": "0"},
                {"address": ADDR_A, "market_id": "14", "fee": "0"}]
        router.feed(frame(None, rows))
        assert (len(mine.payloads), len(market.payloads)) == (1, 0)

    def test_one_trade_matching_both_topics_is_reported(self) -> None:
        seen = Anomalies()
        router = Router(on_anomaly=seen)
        subscribe(router, "trade_history", ADDR_A)
        subscribe(router, "recent_trades", "1338")
        router.feed(frame(None, [{"address": ADDR_A, "market_id": "1338", "fee": "0"}]))
        assert seen.kinds == ["unroutable"]

    def test_one_trade_matching_one_subscribed_key(self) -> None:
        router = Router()
        mine = subscribe(router, "trade_history", ADDR_A)
        market = subscribe(router, "recent_trades", "14")
        router.feed(frame(None, [{"address": ADDR_A, "market_id": "1338", "fee": "0"}]))
        assert (len(mine.payloads), len(market.payloads)) == (1, 0)
