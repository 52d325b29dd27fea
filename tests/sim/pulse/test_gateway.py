"""The gateway over a real engine: every documented method against its fixture, the state the
calls change, the three grants, refusals, and what a session records for the server."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kana_async import __version__
from kana_async.sim.pulse import gateway as gateway_module
from kana_async.sim.pulse.auth import Authenticator, signature
from kana_async.sim.pulse.engine import PulseEngine
from kana_async.sim.pulse.errors import Code, PulseError
from kana_async.sim.pulse.gateway import Gateway, Session
from kana_async.sim.pulse.methods import DOCUMENTED, METHODS
from kana_async.sim.pulse.views import encode
from tests.sim.pulse.engines import BTC, ETH, Clock

FIXTURES = Path(__file__).parent / "fixtures"
D = Decimal


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name.replace('/', '.')}.json").read_text())
    return data


class World:
    """A gateway over an engine without market maker; alice and bob logged in on sockets."""

    def __init__(self, *, strict: bool = True, token_lifetime: float = 900.0,
                 ws_only_over_http: bool = False) -> None:
        self.clock = Clock()
        self.engine = PulseEngine(clock=self.clock, market_maker=False)
        self.auth = Authenticator(self.clock, token_lifetime=token_lifetime)
        self.gw = Gateway(self.engine, self.auth, strict=strict,
                          ws_only_over_http=ws_only_over_http)
        self.alice = self.login("alice")
        self.bob = self.login("bob")

    def login(self, client: str, secret: str | None = None) -> Session:
        session = Session("ws")
        self.call(session, "public/auth", {"grant_type": "client_credentials",
                                           "client_id": client,
                                           "client_secret": secret or client + "-secret"})
        return session

    def call(self, session: Session, method: str, params: Any = None) -> Any:
        return self.gw.handle(session, method, params)

    def refused(self, code: Code, session: Session, method: str, params: Any = None) -> PulseError:
        with pytest.raises(PulseError) as info:
            self.gw.handle(session, method, params)
        assert info.value.code == code, info.value
        return info.value

    def order(self, session: Session, side: str, amount: int | str, price: int | str,
              instrument: str = BTC, **extra: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.call(session, f"private/{side}", {
            "instrument_name": instrument, "amount": D(amount), "price": D(price), **extra})
        return result


@pytest.fixture
def world() -> World:
    return World()


def same_shape(result: Any, example: Any, path: str = "") -> None:
    """``result`` has the document example's JSON shape (extra keys allowed, nulls allowed
    where the example has a value)."""
    if example is None:
        return
    if isinstance(example, dict):
        assert isinstance(result, dict), path
        assert set(example) <= set(result), f"{path}: missing {set(example) - set(result)}"
        for key, value in example.items():
            if result[key] is not None:
                same_shape(result[key], value, f"{path}.{key}")
    elif isinstance(example, list):
        assert isinstance(result, list), path
        if result and example:
            same_shape(result[0], example[0], path + "[0]")
    elif isinstance(example, bool):
        assert isinstance(result, bool), path
    elif isinstance(example, (int, float)):
        assert isinstance(result, (int, Decimal)), path
        assert not isinstance(result, bool), path
    else:
        assert isinstance(result, type(example)), path


def documented_request(world: World, name: str, order_id: str) -> dict[str, Any]:
    """The fixture's request params, with our instrument names and a real order id."""
    params: dict[str, Any] = json.loads(json.dumps(
        fixture(name)["derived_not_in_doc"]["ws_request"]["params"]))
    for key, value in list(params.items()):
        if key == "instrument_name":
            params[key] = BTC
        elif key == "order_id":
            params[key] = order_id
        elif isinstance(value, float):
            params[key] = D(repr(value))
    if name in ("private/buy", "private/sell"):
        del params["linked_order_type"], params["otoco_config"]  # not simulated
        params.update(trigger=None, trigger_price=None, max_show=D(10), mmp=False,
                      price=D(50_000) if name == "private/buy" else D(70_000))
    if name == "private/edit":
        params.update(trigger_price=None, amount=D(20), price=D(50_000))
    if name == "private/get_user_trades_by_instrument":
        params.update(start_timestamp=0, end_timestamp=world.engine.now_ms())
    if name == "public/last_trades_by_instrument":
        params.update(start_seq=None, end_seq=None, start_timestamp=None, end_timestamp=None)
    if name == "private/get_tradingview_chart_data":
        params.update(start_timestamp=0, end_timestamp=world.engine.now_ms())
    if name == "public/get_funding_rate_history":
        params.update(start_timestamp=0, end_timestamp=world.engine.now_ms())
    if name in ("private/get_order_state_by_label",):
        params["label"] = "resting"
    if name == "private/get_positions":
        params["kind"] = "future"
    if name == "private/get_instruments":
        params.update(expired=False, kind="future")
    return {k: v for k, v in params.items() if v is not None}


@pytest.mark.parametrize("name", DOCUMENTED)
def test_every_method_answers_with_the_documents_shape(name: str) -> None:
    world = World()
    resting = world.order(world.alice, "buy", 10, 59_000, label="resting")["order"]["order_id"]
    traded = world.order(world.alice, "sell", 100, 60_000)["order"]["order_id"]
    world.order(world.bob, "buy", 50, 60_000)     # a trade between bob and alice
    world.clock.now += 61
    world.engine.step()                           # a funding round, settlements
    example = fixture(name)["response_200_example"]
    params = documented_request(
        world, name, traded if name == "private/get_user_trades_by_order" else resting)
    result = world.call(world.alice, name, params)
    if name == "private/get_order_book":
        example = dict(example, asks=[], bids=[])  # the document's levels are [[null]]
    same_shape(result, example)
    if isinstance(example, dict):
        assert set(example) <= set(result)
    if isinstance(example, list) and name not in (
            "private/cancel_all", "private/cancel_all_by_instrument", "public/get_delivery_prices",
            "private/get_settlement_history_by_currency",
            "private/get_settlement_history_by_instrument"):
        assert result, f"{name} answered an empty list"
    json.loads(encode(result))  # every result encodes


def test_results_encode_to_json(world: World) -> None:
    world.order(world.alice, "sell", 100, 60_000)
    result = world.order(world.bob, "buy", 50, "60000.5")
    decoded = json.loads(encode(result))
    assert decoded["trades"][0]["price"] == 60000
    assert decoded["order"]["amount"] == 50


def test_scalar_and_connection_results_are_the_documents(world: World) -> None:
    s = world.alice
    assert world.call(s, "public/get_index_price", {"index_name": "btc_usd"}) == 60000
    assert world.call(s, "public/get_index_price", {"index_name": "Btc_usd"}) == 60000
    ok = {"description": "ok", "response": None, "status": 200}
    assert world.call(s, "public/set_heartbeat", {"interval": 10}) == ok
    assert s.heartbeat_interval == 10
    assert world.call(s, "public/disable_heartbeat") == ok
    assert s.heartbeat_interval is None
    assert world.call(s, "private/enable_cancel_on_disconnect") is None
    assert s.cancel_on_disconnect is True
    assert world.call(s, "private/get_cancel_on_disconnect") is True
    assert world.call(s, "private/disable_cancel_on_disconnect") is None
    assert world.call(s, "private/get_cancel_on_disconnect") is False
    assert world.call(s, "public/test") == {"version": __version__}
    world.refused(Code.ERROR, s, "public/test", {"expected_result": "exception"})


def test_trading_flow_through_the_state_it_changes(world: World) -> None:
    a, b = world.alice, world.bob
    placed = world.order(a, "buy", 100, 59_000, label="bid")
    order = placed["order"]
    assert placed["trades"] == []
    assert order["order_state"] == "open"
    assert order["amount"] == 100
    assert order["price"] == 59000
    assert order["direction"] == "buy"
    assert len(order["order_id"]) == 24
    opened = world.call(a, "private/get_open_orders_by_instrument", {"instrument_name": BTC})
    assert [o["order_id"] for o in opened] == [order["order_id"]]
    assert world.call(b, "private/get_open_orders_by_instrument",
                      {"instrument_name": BTC}) == []
    edited = world.call(a, "private/edit", {"order_id": order["order_id"], "amount": D(50),
                                            "price": D("59000.5")})
    assert edited["order"]["amount"] == 50
    assert edited["order"]["price"] == D("59000.5")
    # bob sells into it: a trade seen from both sides
    sold = world.order(b, "sell", 30, 59_000, time_in_force="immediate_or_cancel")
    assert sold["order"]["filled_amount"] == 30
    (trade,) = sold["trades"]
    assert trade["direction"] == "sell"
    assert trade["price"] == D("59000.5")
    assert trade["amount"] == 30
    assert trade["order_id"] == sold["order"]["order_id"]
    assert trade["state"] == sold["order"]["order_state"]
    mine = world.call(a, "private/get_user_trades_by_order", {"order_id": order["order_id"]})
    assert [t["trade_id"] for t in mine] == [trade["trade_id"]]
    assert mine[0]["direction"] == "buy"
    assert mine[0]["order_id"] == order["order_id"]
    public = world.call(a, "public/last_trades_by_instrument", {"instrument_name": BTC})
    assert public[0]["trade_id"] == trade["trade_id"]
    assert "order_id" not in public[0]
    (state,) = world.call(a, "private/get_order_state", {"order_id": order["order_id"]})
    assert state["order_state"] == "partially_filled"
    assert state["filled_amount"] == 30
    labelled = world.call(a, "private/get_order_state_by_label",
                          {"currency": "BTC", "label": "bid"})
    assert [o["order_id"] for o in labelled] == [order["order_id"]]
    positions = {p["instrument_name"]: p for p in world.call(a, "private/get_positions",
                                                              {"currency": "BTC"})}
    assert positions[BTC]["size"] == 30
    assert positions[BTC]["direction"] == "buy"
    cancelled = world.call(a, "private/cancel", {"order_id": order["order_id"]})
    assert cancelled["order_state"] == "cancelled"
    assert world.call(a, "private/get_open_orders_by_instrument",
                      {"instrument_name": BTC}) == []
    history = world.call(a, "private/get_order_history_by_instrument",
                         {"instrument_name": BTC})
    assert order["order_id"] in [o["order_id"] for o in history]
    world.refused(Code.NOT_OPEN_ORDER, a, "private/cancel", {"order_id": order["order_id"]})
    world.refused(Code.NOT_OWNER_OF_ORDER, b, "private/get_order_state",
                  {"order_id": order["order_id"]})
    world.engine.audit()


def test_orders_carry_the_connection_as_origin(world: World) -> None:
    placed = world.order(world.alice, "buy", 10, 59_000)
    other = world.login("alice")
    world.order(other, "buy", 10, 58_000)
    cancelled = world.engine.cancel_by_origin("alice", world.alice.connection_id)
    assert [o.order_id for o in cancelled] == [int(placed["order"]["order_id"], 16)]
    assert len(world.call(other, "private/get_open_orders_by_instrument",
                          {"instrument_name": BTC})) == 1


def test_cancel_all_and_by_instrument(world: World) -> None:
    a = world.alice
    world.order(a, "buy", 10, 59_000)
    world.order(a, "buy", 1, 2_900, instrument=ETH)
    world.order(a, "sell", 10, 61_000, type="limit")
    by_inst = world.call(a, "private/cancel_all_by_instrument",
                         {"instrument_name": BTC, "type": "all", "detailed": True})
    assert sorted(o["direction"] for o in by_inst) == ["buy", "sell"]
    rest = world.call(a, "private/cancel_all", {"detailed": False})
    assert [o["instrument_name"] for o in rest] == [ETH]
    assert world.call(a, "private/cancel_all") == []


def test_order_entry_refusals(world: World) -> None:
    a = world.alice
    base = {"instrument_name": BTC, "amount": D(10), "price": D(59_000)}
    error = world.refused(Code.INVALID_ARGUMENTS, a, "private/buy",
                          base | {"linked_order_type": "one_triggers_other"})
    assert "linked orders" in error.reason
    world.refused(Code.INVALID_ARGUMENTS, a, "private/buy",
                  base | {"otoco_config": [{"amount": 10}]})
    world.refused(Code.INVALID_ARGUMENTS, a, "private/sell", base | {"type": "all"})
    world.refused(Code.VALUE_REQUIRED, a, "private/buy", {"amount": D(10)})
    world.refused(Code.INVALID_OR_UNSUPPORTED_INSTRUMENT, a, "private/buy",
                  base | {"instrument_name": "BTC-31JUN23-50000-C"})
    world.refused(Code.INVALID_AMOUNT, a, "private/buy", base | {"amount": D(15)})
    world.refused(Code.INVALID_PARAMS, a, "private/buy", base | {"amount": "10"})
    world.order(a, "sell", 10, 60_000)
    world.refused(Code.ORDER_OVERLAP, a, "private/buy", base | {"price": D(60_000)})
    assert world.call(a, "private/get_open_orders_by_instrument",
                      {"instrument_name": BTC})[0]["direction"] == "sell"


def test_private_methods_need_authorization() -> None:
    world = World()
    anonymous = Session("ws")
    error = world.refused(Code.AUTHORIZATION_REQUIRED, anonymous, "private/get_positions")
    assert "private/get_positions needs auth: call public/auth on this connection" in error.reason
    over_http = world.refused(Code.AUTHORIZATION_REQUIRED, Session("http"), "private/get_positions")
    assert "Authorization: Bearer <access_token>" in over_http.reason
    world.refused(Code.AUTHORIZATION_REQUIRED, anonymous, "private/subscribe",
                  {"channels": ["user.orders.BTC_USD-PERPETUAL.raw"]})
    world.refused(Code.AUTHORIZATION_REQUIRED, anonymous, "private/unsubscribe_all")
    # public methods need nothing
    assert world.call(anonymous, "public/get_index_price", {"index_name": "eth_usd"}) == 3000
    # an access token in the params authorizes one call, not the connection; the socket
    # becomes the client's (its private channels and cancel-on-disconnect need an owner)
    token = world.alice.token
    assert world.call(anonymous, "private/get_cancel_on_disconnect",
                      {"access_token": token}) is False
    assert anonymous.client_id == "alice"
    assert anonymous.token is None
    world.refused(Code.AUTHORIZATION_REQUIRED, anonymous, "private/get_positions")
    world.refused(Code.UNAUTHORIZED, anonymous, "private/get_positions", {"access_token": "x"})
    world.refused(Code.INVALID_PARAMS, anonymous, "private/get_positions", {"access_token": 5})


def test_http_sessions_use_the_bearer_token() -> None:
    world = World()
    token = world.alice.token
    http = Session("http", token=token)
    assert world.call(http, "private/get_account_summary", {"currency": "BTC"})["balance"] == 10
    world.refused(Code.MUST_BE_WEBSOCKET_REQUEST, http, "private/get_cancel_on_disconnect")
    world.refused(Code.MUST_BE_WEBSOCKET_REQUEST, http, "public/subscribe",
                  {"channels": ["quote.BTC_USD-PERPETUAL"]})
    # auth over HTTP returns tokens and leaves the per-request session alone
    login = Session("http")
    result = world.call(login, "public/auth", {"grant_type": "client_credentials",
                                               "client_id": "carol", "client_secret": "c"})
    assert login.token is None
    assert login.client_id is None
    assert world.auth.client_of(result["access_token"]) == "carol"
    lenient = World(ws_only_over_http=True)
    http = Session("http", token=lenient.alice.token)
    assert lenient.call(http, "private/get_cancel_on_disconnect") is False


def test_query_string_parameters_are_typed_first(world: World) -> None:
    http = Session("http", token=world.alice.token)
    prices = world.gw.handle(http, "public/get_delivery_prices",
                             {"index_name": "btc_usd", "count": "5", "offset": "0"}, query=True)
    assert isinstance(prices, list)
    summary = world.gw.handle(http, "/private/get_account_summary", {"currency": "ETH"},
                              query=True)
    assert summary["currency"] == "ETH"


def test_expired_and_revoked_tokens_stop_a_socket() -> None:
    world = World(token_lifetime=5)
    assert world.call(world.alice, "private/get_cancel_on_disconnect") is False
    world.clock.now += 5
    world.refused(Code.UNAUTHORIZED, world.alice, "private/get_cancel_on_disconnect")
    # re-authenticating on the same socket restores it
    world.call(world.alice, "public/auth", {"grant_type": "client_credentials",
                                            "client_id": "alice",
                                            "client_secret": "alice-secret"})
    assert world.call(world.alice, "private/get_cancel_on_disconnect") is False
    world.auth.revoke_all()
    world.refused(Code.UNAUTHORIZED, world.alice, "private/get_cancel_on_disconnect")


def test_all_three_grants_through_the_gateway(world: World) -> None:
    session = Session("ws")
    first = world.call(session, "public/auth", {"grant_type": "client_credentials",
                                                "client_id": "dave", "client_secret": "d"})
    assert session.client_id == "dave"
    assert session.token == first["access_token"]
    refreshed = world.call(session, "public/auth", {"grant_type": "refresh_token",
                                                    "refresh_token": first["refresh_token"]})
    assert session.token == refreshed["access_token"] != first["access_token"]
    stamp = world.engine.now_ms()
    signed = world.call(session, "public/auth", {
        "grant_type": "client_signature", "client_id": "dave", "timestamp": stamp,
        "nonce": "n-1", "data": "", "signature": signature("d", stamp, "n-1", "")})
    assert session.token == signed["access_token"]
    error = world.refused(Code.INVALID_CREDENTIALS, Session("ws"), "public/auth", {
        "grant_type": "client_credentials", "client_id": "dave", "client_secret": "wrong-zz"})
    assert "wrong-zz" not in json.dumps(error.rpc_error())


def test_a_new_client_is_registered_and_funded_on_first_auth(world: World) -> None:
    deposits = world.call(world.alice, "private/get_deposits")
    assert sorted((d["currency"], d["amount"]) for d in deposits) == [("BTC", 10), ("ETH", 100)]
    assert {d["state"] for d in deposits} == {"completed"}
    usd = world.call(world.alice, "private/get_account_summary", {"currency": "USD"})
    assert usd["currency"] == "USD"
    assert usd["balance"] == 10 * 60000 + 100 * 3000
    world.refused(Code.INVALID_ARGUMENTS, world.alice, "private/get_account_summary",
                  {"currency": "DOGE"})


def test_logout_revokes_the_token_unless_asked_not_to(world: World) -> None:
    token = world.alice.token
    assert token is not None
    assert world.call(world.alice, "private/logout", {"invalidate_token": False}) is None
    assert world.alice.logged_out is True
    world.refused(Code.UNAUTHORIZED, world.alice, "private/get_positions")
    assert world.auth.client_of(token) == "alice"         # kept: another socket may use it
    bob_token = world.bob.token
    assert world.call(world.bob, "private/logout") is None
    with pytest.raises(PulseError) as info:
        world.auth.client_of(bob_token or "")
    assert info.value.code == Code.UNAUTHORIZED


def test_subscriptions_are_split_public_and_private(world: World) -> None:
    s = world.alice
    public = ["book.BTC_USD-PERPETUAL.raw", "deribit_price_index.btc_usd",
              "quote.ETH_USD-PERPETUAL"]
    assert world.call(s, "public/subscribe", {"channels": public}) == "ok"
    assert set(s.subscriptions) == set(public)
    assert [c.name for c in s.just_subscribed] == public
    error = world.refused(Code.INVALID_ARGUMENTS, s, "public/subscribe",
                          {"channels": ["funding_rates.BTC_USD-PERPETUAL",
                                        "user.orders.BTC_USD-PERPETUAL.raw"]})
    assert "private/subscribe" in error.reason
    assert "funding_rates.BTC_USD-PERPETUAL" not in s.subscriptions  # all or nothing
    world.refused(Code.INVALID_ARGUMENTS, s, "private/subscribe",
                  {"channels": ["quote.BTC_USD-PERPETUAL"]})
    private = ["user.orders.BTC_USD-PERPETUAL.raw", "user_fee", "heartbeat_trade"]
    assert world.call(s, "private/subscribe", {"channels": private}) == "ok"
    assert world.call(s, "public/subscribe", {"channels": ["heartbeat_trade"]}) == "ok"
    # a repeated subscribe is reported again (the server answers it with a fresh snapshot)
    world.call(s, "public/subscribe", {"channels": ["book.BTC_USD-PERPETUAL.raw"] * 2})
    assert [c.kind for c in s.just_subscribed] == ["book"]
    ok = {"description": "ok", "response": None, "status": 200}
    assert world.call(s, "public/unsubscribe_all") == ok
    assert set(s.subscriptions) == {"user.orders.BTC_USD-PERPETUAL.raw", "user_fee"}
    assert world.call(s, "private/unsubscribe_all") == ok
    assert s.subscriptions == {}
    world.refused(Code.INVALID_OR_UNSUPPORTED_INSTRUMENT, s, "public/subscribe",
                  {"channels": ["book.DOGE.raw"]})
    world.refused(Code.INVALID_ARGUMENTS, s, "public/subscribe", {"channels": []})
    world.refused(Code.VALUE_REQUIRED, s, "public/subscribe", {})


def test_subscriptions_are_bounded(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gateway_module, "MAX_SUBSCRIPTIONS", 2)
    s = world.alice
    world.call(s, "public/subscribe", {"channels": ["quote.BTC_USD-PERPETUAL",
                                                     "quote.ETH_USD-PERPETUAL"]})
    world.call(s, "public/subscribe", {"channels": ["quote.BTC_USD-PERPETUAL"]})  # repeated
    error = world.refused(Code.INVALID_ARGUMENTS, s, "public/subscribe",
                          {"channels": ["deribit_price_index.btc_usd"]})
    assert "at most 2" in error.reason


def test_heartbeat_interval_rules(world: World) -> None:
    world.refused(Code.INVALID_ARGUMENTS, world.alice, "public/set_heartbeat", {"interval": 9})
    assert world.alice.heartbeat_interval is None
    lenient = World(strict=False)
    lenient.call(lenient.alice, "public/set_heartbeat", {"interval": 2})
    assert lenient.alice.heartbeat_interval == 2
    # lenient checks keep what the call cannot do without
    lenient.refused(Code.VALUE_REQUIRED, lenient.alice, "public/last_trades_by_instrument", {})


def test_method_names_and_unknown_methods(world: World) -> None:
    assert world.call(world.alice, "/public/get_index_price", {"index_name": "btc_usd"}) == 60000
    world.refused(Code.METHOD_NOT_FOUND, world.alice, "public/get_time")
    world.refused(Code.INVALID_PARAMS, world.alice, "public/get_index_price", ["btc_usd"])
    world.refused(Code.VALUE_REQUIRED, world.alice, "public/get_index_price", {})


def test_market_data(world: World) -> None:
    s = world.alice
    btc = world.call(s, "private/get_instruments", {"currency": "BTC"})
    assert [i["instrument_name"] for i in btc] == [BTC]
    assert btc[0]["contract_size"] == 10
    assert btc[0]["tick_size"] == D("0.5")
    both = world.call(s, "private/get_instruments", {"currency": "USD"})
    assert [i["instrument_name"] for i in both] == [BTC, ETH]
    assert world.call(s, "private/get_instruments", {"currency": "BTC", "expired": True}) == []
    assert world.call(s, "private/get_instruments", {"currency": "BTC", "kind": "option"}) == []
    world.refused(Code.INVALID_ARGUMENTS, s, "private/get_instruments", {"currency": "XRP"})
    world.order(world.alice, "sell", 100, 60_000)
    world.order(world.bob, "buy", 20, 60_000)
    book = world.call(s, "private/get_order_book", {"instrument_name": BTC, "depth": 5})
    assert book["asks"] == [[60000, 80]]
    assert book["best_ask_price"] == 60000
    assert book["instrument_name"] == BTC
    chart = world.call(s, "public/get_funding_chart_data",
                       {"instrument_name": BTC, "length": "8h"})
    assert set(chart) == {"current_payment", "funding_payments", "funding_prices"}
    history = world.call(s, "public/get_funding_rate_history", {})
    assert len(history) == 2
    bars = world.call(s, "private/get_tradingview_chart_data", {
        "instrument_name": BTC, "resolution": "1", "start_timestamp": 0,
        "end_timestamp": world.engine.now_ms()})
    assert bars["status"] == "ok"
    assert bars["close"] == [60000]


def test_mmp_config_round_trip(world: World) -> None:
    s = world.alice
    disabled = world.call(s, "private/get_mmp_config", {"index_name": "btc_usd"})
    assert disabled == {"frozen_time": 0, "index_name": "btc_usd", "interval": 0,
                        "quantity_limit": 0}
    params = fixture("private/set_mmp_config")["request_body_example"]
    echoed = world.call(s, "private/set_mmp_config", params)
    assert echoed == params
    assert world.call(s, "private/get_mmp_config", {"index_name": "BTC_USD"}) == params
    assert world.call(s, "private/get_mmp_config") == params
    assert world.call(world.bob, "private/get_mmp_config") == disabled  # the first index


def test_every_method_in_the_table_has_a_handler() -> None:
    world = World()
    for spec in METHODS.values():
        assert callable(getattr(world.gw, "_" + spec.handler)), spec.name


def test_session_repr_shows_no_token(world: World) -> None:
    assert world.alice.token is not None
    assert world.alice.token not in repr(world.alice)


@pytest.mark.parametrize("params", [
    {"amount": D("1e15"), "price": D(60_000)},
    {"amount": D("1e30"), "price": D(60_000)},
    {"amount": D(10), "price": D("1e40")},
    {"amount": D(10), "price": D(60_000), "max_show": D("1e50")},
    {"amount": D(10), "price": D("999999999999999.5")},
    {"amount": D(10), "price": D(60_000), "max_show": D("1e15")},
    {"amount": D("1e-999"), "price": D(60_000)},
    {"amount": D(10), "price": D("1e-40")},
    {"amount": D(10), "price": D("60000." + "1" * 5000)},
])
def test_extreme_numbers_never_escape_as_arithmetic_errors(world: World,
                                                           params: dict[str, Any]) -> None:
    """An answer or a PulseError naming the rule; never a decimal exception."""
    reasons: list[str] = []
    try:
        world.call(world.alice, "private/buy", {"instrument_name": BTC, **params})
    except PulseError as exc:
        reasons.append(exc.reason)
    assert all(reasons)
    world.engine.audit()


_VALID = [BTC, ETH, "btc_usd", "BTC", "USD", "ETH", "limit", "market", "all", "stop_limit",
          "good_til_cancelled", "fill_or_kill", "index_price", "1", "1D", "8h", "settlement",
          "asc", "default", "raw", "user.orders.BTC_USD-PERPETUAL.raw", "client_credentials",
          "refresh_token", "client_signature", "000000000000000000000001", D(10), D(60_000),
          D("59999.5"), D("0.5"), 0, 1, 10, 1_700_000_000_000, True, False]
_VALUES = st.one_of(
    st.sampled_from(_VALID), st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.decimals(allow_nan=True, allow_infinity=True), st.floats(), st.text(max_size=30),
    st.lists(st.one_of(st.text(max_size=40), st.sampled_from(_VALID)), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


@st.composite
def calls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    name = draw(st.sampled_from(sorted(METHODS)))
    keys = [p.name for p in METHODS[name].params] + ["access_token", "x"]
    chosen = draw(st.lists(st.sampled_from(keys), unique=True, max_size=len(keys)))
    return name, {key: draw(_VALUES) for key in chosen}


@settings(max_examples=300, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(calls(), min_size=1, max_size=8), st.booleans())
def test_any_call_answers_or_refuses_naming_the_rule(
        sequence: list[tuple[str, dict[str, Any]]], strict: bool) -> None:
    """Whatever the params, the gateway answers something encodable or a PulseError; the
    engine's money stays conserved."""
    world = World(strict=strict)
    world.order(world.bob, "sell", 100, 60_000)
    for name, params in sequence:
        session = world.alice if world.alice.logged_out is False else world.bob
        try:
            answer = world.call(session, name, params)
        except PulseError as exc:
            answer = exc.rpc_error()
            assert answer["data"]["reason"]
        json.loads(encode(answer))
        world.engine.audit()


def test_a_login_the_engine_refuses_leaves_nothing_behind() -> None:
    world = World()
    world.engine.max_accounts = 2            # alice and bob
    error = world.refused(Code.FORBIDDEN, Session("ws"), "public/auth", {
        "grant_type": "client_credentials", "client_id": "carol", "client_secret": "c"})
    assert "accounts" in error.reason
    assert not world.auth.registered("carol")
    assert world.auth.token_count == 4       # alice's and bob's pairs only
    world.engine.max_accounts = 10
    world.refused(Code.FORBIDDEN, Session("ws"), "public/auth", {   # the simulator's own name
        "grant_type": "client_credentials", "client_id": "pulse:maker", "client_secret": "x"})
    assert not world.auth.registered("pulse:maker")
    assert world.auth.token_count == 4


def test_logout_revokes_a_token_given_in_the_params(world: World) -> None:
    token = world.alice.token
    socket = Session("ws")
    assert world.call(socket, "private/logout", {"access_token": token}) is None
    with pytest.raises(PulseError):
        world.auth.client_of(token or "")
