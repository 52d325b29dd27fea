"""The typed Pulse methods: signatures with the document's names, checks that name the rule,
params as sent, and typed results from the simulated gateway."""

from __future__ import annotations

import inspect
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from kana_async import PulseClient
from kana_async.errors import ValidationError
from kana_async.models.pulse import (
    BuySellResponse,
    GetAccountSummaryResponse,
    GetInstrumentResponse,
    GetOrderBookResponse,
    LoginResponse,
    MMPConfig,
    OrderConfirmation,
    PositionConfirmation,
    TradesResponse,
)
from kana_async.pulse.api import PulseMethods
from kana_async.pulse.methods import METHODS, MethodSpec, decode_result, method_spec, specs_named
from kana_async.sim.pulse import PulseConfig
from tests.sim.pulse.engines import BTC
from tests.sim.pulse.wire import FIXTURES, Client, connected, served

#: The client's own names (S2), not the mixin's.
CLIENT_OWN = {"subscribe", "unsubscribe_all"}


def _fixture(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


METHOD_FIXTURES = {
    data["jsonrpc_method_derived"]: data
    for data in map(_fixture, sorted(FIXTURES.glob("p*.json")))
}


def _documented_params(data: dict[str, Any]) -> set[str]:
    body = data["request_body_example"]
    if isinstance(body, dict) and "jsonrpc" in body:
        body = body["params"]
    names = {p["name"] for p in data["query_parameters"]}
    return names | (set(body) if isinstance(body, dict) else set())


class Recorder(PulseMethods):
    """Records what would be sent and answers with the document's example result."""

    def __init__(self) -> None:
        self.sent: list[tuple[MethodSpec, dict[str, Any]]] = []

    async def _request(self, spec: MethodSpec, params: dict[str, Any]) -> Any:
        self.sent.append((spec, params))
        example = METHOD_FIXTURES[spec.method]["response_200_example"]
        return decode_result(spec, json.dumps(example).encode())

    @property
    def params(self) -> dict[str, Any]:
        return self.sent[-1][1]


def _coroutines() -> dict[str, Any]:
    return {name: value for name, value in vars(PulseMethods).items()
            if inspect.iscoroutinefunction(value) and not name.startswith("_")}


# -- the surface --------------------------------------------------------------------------


def test_one_coroutine_per_typed_name() -> None:
    """38 methods, 36 names; the mixin has all but the client's subscribe/unsubscribe_all."""
    names = {spec.name for spec in METHODS.values()}
    assert len(METHODS) == 38
    assert len(names) == 36
    assert set(_coroutines()) == names - CLIENT_OWN
    assert {s.method for s in specs_named("subscribe")} == {"public/subscribe",
                                                            "private/subscribe"}
    assert len(specs_named("unsubscribe_all")) == 2
    assert specs_named("nope") == ()


@pytest.mark.parametrize(
    "method", sorted(m for m in METHOD_FIXTURES if m.split("/")[1] not in CLIENT_OWN)
)
def test_keyword_only_parameters_carry_the_documents_names(method: str) -> None:
    """P1: exactly the documented parameters, by their names, keyword-only; the spec agrees
    with the document on auth, transport and body style."""
    data = METHOD_FIXTURES[method]
    spec = METHODS[method]
    function = getattr(PulseMethods, spec.name)
    parameters = list(inspect.signature(function).parameters.values())[1:]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters)
    assert {p.name for p in parameters} == _documented_params(data)
    assert function.__doc__
    assert spec.private is method.startswith("private/")
    assert spec.ws_only is (data["transport"] == "ws_only")
    style = {"jsonrpc_envelope_in_body": "envelope", "bare_params_object_in_body": "bare",
             "query_parameters": "query", "no_parameters": "none"}[data["request_style"]]
    assert spec.http_style == style
    assert spec.places_order is (spec.name in ("buy", "sell"))


REQUIRED = {
    "buy": {"instrument_name", "amount"},
    "sell": {"instrument_name", "amount"},
    "edit": {"order_id"},
    "last_trades_by_instrument": {"instrument_name"},
    "get_settlement_history_by_currency": {"currency", "type"},
    "get_settlement_history_by_instrument": {"instrument_name", "type"},
    "get_order_state_by_label": {"currency", "label"},
    "get_funding_rate_history": set(),
    "auth": {"grant_type"},
    "logout": set(),
    "set_heartbeat": {"interval"},
    "get_index_price": {"index_name"},
    "get_tradingview_chart_data": {"instrument_name", "start_timestamp", "end_timestamp",
                                   "resolution"},
}


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_required_parameters_follow_p3(name: str) -> None:
    parameters = inspect.signature(getattr(PulseMethods, name)).parameters.values()
    required = {p.name for p in parameters if p.default is inspect.Parameter.empty} - {"self"}
    assert required == REQUIRED[name]


def test_the_signature_shows_in_help() -> None:
    text = str(inspect.signature(PulseMethods.buy))
    assert "instrument_name: 'str'" in text
    assert "type: 'str | None' = None" in text
    assert "-> 'BuySellResponse'" in text


# -- params -------------------------------------------------------------------------------


async def test_arguments_not_given_are_not_sent_and_numbers_are_decimal() -> None:
    api = Recorder()
    result = await api.buy(instrument_name=BTC, amount=100, price="60000.5", type="limit",
                           post_only=False, label="mm-1")
    assert isinstance(result, BuySellResponse)
    spec, params = api.sent[-1]
    assert spec is METHODS["private/buy"]
    assert params == {"instrument_name": BTC, "amount": Decimal(100),
                      "price": Decimal("60000.5"), "type": "limit", "post_only": False,
                      "label": "mm-1"}
    assert all(type(v) is Decimal for k, v in params.items() if k in ("amount", "price"))
    await api.sell(instrument_name=BTC, amount=Decimal("10"), otoco_config=[
        {"amount": 10, "direction": "buy", "price": "59000", "type": "limit",
         "time_in_force": "good_til_cancelled", "trigger": "index_price",
         "trigger_price": Decimal(58000)}])
    assert api.sent[-1][0] is METHODS["private/sell"]
    assert api.params["otoco_config"] == [{
        "amount": Decimal(10), "direction": "buy", "price": Decimal(59000), "type": "limit",
        "time_in_force": "good_til_cancelled", "trigger": "index_price",
        "trigger_price": Decimal(58000)}]
    await api.cancel_all()
    assert api.params == {}
    await api.get_positions(currency="USD")
    assert api.params == {"currency": "USD"}
    await api.logout()
    assert api.params == {"invalidate_token": True}  # L7: the default is sent


@pytest.mark.parametrize("method", ["buy", "sell"])
@pytest.mark.parametrize("order_type", ["all", "trigger_all"])
async def test_filters_are_refused_as_order_types(method: str, order_type: str) -> None:
    """P4: all and trigger_all are filters; as a filter they are sent."""
    api = Recorder()
    with pytest.raises(ValidationError, match="all and trigger_all are filters") as caught:
        await getattr(api, method)(instrument_name=BTC, amount=1, type=order_type)
    assert caught.value.param == "type"
    with pytest.raises(ValidationError, match="filters"):
        await getattr(api, method)(instrument_name=BTC, amount=1,
                                   otoco_config=[{"type": order_type}])
    assert api.sent == []
    await api.cancel_all_by_instrument(instrument_name=BTC, type=order_type)
    await api.get_open_orders_by_instrument(instrument_name=BTC, type=order_type)
    assert [params["type"] for _, params in api.sent] == [order_type, order_type]


async def test_heartbeat_interval_is_a_whole_number_of_at_least_ten() -> None:
    """L1."""
    api = Recorder()
    for bad in (9, 0, -10, True, 10.0, "10", None):
        with pytest.raises(ValidationError, match=r"interval: must be an integer >= 10"):
            await api.set_heartbeat(interval=bad)  # type: ignore[arg-type]
    assert api.sent == []
    await api.set_heartbeat(interval=10)
    assert api.params == {"interval": 10}


async def test_index_names_go_out_in_lower_case() -> None:
    """P8."""
    api = Recorder()
    await api.get_index_price(index_name="BTC_USD")
    assert api.params == {"index_name": "btc_usd"}
    await api.get_delivery_prices(index_name="Btc_usd", count=5)
    assert api.params == {"index_name": "btc_usd", "count": 5}
    await api.get_mmp_config(index_name="ETH_usd")
    assert api.params == {"index_name": "eth_usd"}
    await api.set_mmp_config(index_name="BTC_USD", interval=60, frozen_time="30",
                             quantity_limit=Decimal("10.5"))
    assert api.params == {"index_name": "btc_usd", "interval": Decimal(60),
                          "frozen_time": Decimal(30), "quantity_limit": Decimal("10.5")}


@pytest.mark.parametrize(
    ("kwargs", "param", "rule"),
    [
        ({"amount": 0.1}, "amount", "a float is inexact"),
        ({"amount": Decimal("NaN")}, "amount", "must be finite"),
        ({"amount": "Infinity"}, "amount", "plain decimal"),
        ({"amount": "1e999"}, "amount", "out of range"),
        ({"amount": True}, "amount", "not a bool"),
        ({"amount": 0}, "amount", "must be > 0"),
        ({"amount": "-5"}, "amount", "must be > 0"),
        ({"amount": "1_000"}, "amount", "plain decimal"),
        ({"amount": [1]}, "amount", "must be a Decimal, int or str"),
        ({"amount": 1, "price": "abc"}, "price", "plain decimal"),
        ({"amount": 1, "price": Decimal("sNaN")}, "price", "must be finite"),
        ({"amount": 1, "max_show": -1}, "max_show", "must be >= 0"),
        ({"amount": 1, "post_only": 1}, "post_only", "True or False"),
        ({"amount": 1, "label": ""}, "label", "must not be empty"),
        ({"amount": 1, "label": 5}, "label", "must be a string"),
        ({"amount": 1, "instrument_name": "BTC USD"}, "instrument_name", "whitespace"),
        ({"amount": 1, "otoco_config": "x"}, "otoco_config", "list of mappings"),
        ({"amount": 1, "otoco_config": [1]}, "otoco_config[0]", "must be a mapping"),
        ({"amount": 1, "otoco_config": [{"side": "buy"}]}, "otoco_config[0]",
         "unknown field side"),
        ({"amount": 1, "otoco_config": [{"direction": "cancel"}]},
         "otoco_config[0].direction", "must be buy or sell"),
        ({"amount": 1, "otoco_config": [{"amount": 0.5}]}, "otoco_config[0].amount",
         "inexact"),
    ],
)
async def test_bad_order_arguments_are_refused_naming_the_rule(
    kwargs: dict[str, Any], param: str, rule: str
) -> None:
    api = Recorder()
    arguments = {"instrument_name": BTC, **kwargs}
    with pytest.raises(ValidationError, match=rule) as caught:
        await api.buy(**arguments)
    assert caught.value.param == param
    assert "Decimal(" not in str(caught.value)
    assert api.sent == []


async def test_other_checks_name_their_rule() -> None:
    api = Recorder()
    with pytest.raises(ValidationError, match="count: must be an integer >= 0"):
        await api.get_deposits(count=-1)
    with pytest.raises(ValidationError, match="include_old: must be True or False"):
        await api.get_order_history_by_instrument(instrument_name=BTC,
                                                  include_old="yes")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="end_timestamp: must not be before"):
        await api.get_tradingview_chart_data(instrument_name=BTC, start_timestamp=10,
                                             end_timestamp=5, resolution="1")
    with pytest.raises(ValidationError, match="currency: must not be empty"):
        await api.get_order_state_by_label(currency="", label="x")
    with pytest.raises(ValidationError, match="invalidate_token: must be True or False"):
        await api.logout(invalidate_token=None)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="amount: must be > 0"):
        await api.edit(order_id="1", amount=0)
    assert api.sent == []


async def test_auth_sends_only_the_fields_of_its_grant_and_never_shows_a_secret() -> None:
    """AU1/AU7."""
    api = Recorder()
    login = await api.auth(grant_type="client_credentials", client_id="id",
                           client_secret="s3cr3t")
    assert isinstance(login, LoginResponse)
    assert api.params == {"grant_type": "client_credentials", "client_id": "id",
                          "client_secret": "s3cr3t"}
    await api.auth(grant_type="refresh_token", refresh_token="r-tok")
    assert api.params == {"grant_type": "refresh_token", "refresh_token": "r-tok"}
    await api.auth(grant_type="client_signature", client_id="id", timestamp=1, signature="ab",
                   nonce="n")
    assert api.params == {"grant_type": "client_signature", "client_id": "id",
                          "timestamp": 1, "signature": "ab", "nonce": "n"}
    await api.auth(grant_type="client_signature", client_id="id", timestamp=1, signature="ab",
                   nonce="n", data="")
    assert api.params["data"] == ""
    sent = len(api.sent)
    with pytest.raises(ValidationError, match="client_secret: is required by grant_type"):
        await api.auth(grant_type="client_credentials", client_id="id")
    with pytest.raises(ValidationError, match="is not a field of grant_type") as caught:
        await api.auth(grant_type="client_signature", client_id="id", timestamp=1,
                       signature="ab", client_secret="TOP-SECRET")
    assert "TOP-SECRET" not in str(caught.value)
    with pytest.raises(ValidationError, match="client_secret: must not contain") as caught:
        await api.auth(grant_type="client_credentials", client_id="id",
                       client_secret="TOP-SECRET\n")
    assert "TOP-SECRET" not in str(caught.value)
    with pytest.raises(ValidationError, match="grant_type: must be one of"):
        await api.auth(grant_type="password", client_id="id")
    assert len(api.sent) == sent


# -- results ------------------------------------------------------------------------------


async def test_results_are_typed_per_method() -> None:
    api = Recorder()
    order = await api.get_order_state(order_id="x")
    assert isinstance(order, OrderConfirmation)  # P5: the one-element array unwrapped
    assert isinstance(await api.get_index_price(index_name="btc_usd"), Decimal)
    assert await api.get_cancel_on_disconnect() is True
    results = [await api.enable_cancel_on_disconnect(),  # type: ignore[func-returns-value]
               await api.set_heartbeat(interval=10)]  # type: ignore[func-returns-value]
    assert results == [None, None]
    orders = await api.cancel_all_by_instrument(instrument_name=BTC)
    assert all(isinstance(o, OrderConfirmation) for o in orders)
    assert isinstance(await api.get_mmp_config(), MMPConfig)


def test_decode_result_takes_deribits_shapes_too() -> None:
    """T7 and P5: the other documented shape of each disputed result."""
    assert decode_result(METHODS["public/get_index_price"],
                         b'{"index_price": "60000.5", "estimated_delivery_price": 1}'
                         ) == Decimal("60000.5")
    assert decode_result(METHODS["public/get_index_price"], b"60000.25") == Decimal("60000.25")
    cod = METHODS["private/get_cancel_on_disconnect"]
    assert decode_result(cod, b'{"scope": "connection", "enabled": false}') is False
    state = METHODS["private/get_order_state"]
    assert decode_result(state, b'{"order_id": "a"}') == OrderConfirmation(order_id="a")
    with pytest.raises(msgspec.ValidationError, match="one order, got an array of 2"):
        decode_result(state, b'[{"order_id": "a"}, {"order_id": "b"}]')
    with pytest.raises(msgspec.ValidationError, match="array of 0"):
        decode_result(state, b"[]")
    for body in (b'"ok"', b"null", b'{"description": "ok", "status": 200}', b"true"):
        for name in ("private/logout", "public/set_heartbeat", "public/unsubscribe_all",
                     "private/enable_cancel_on_disconnect"):
            assert decode_result(METHODS[name], body) is None
    subscribe = METHODS["public/subscribe"]
    assert decode_result(subscribe, b'"ok"') is None
    assert decode_result(subscribe, b'["quote.X"]') == ["quote.X"]
    with pytest.raises(msgspec.ValidationError):
        decode_result(subscribe, b"[1]")
    with pytest.raises(msgspec.ValidationError, match="finite decimal"):
        decode_result(METHODS["public/get_index_price"], b'"NaN"')
    with pytest.raises(msgspec.ValidationError):
        decode_result(cod, b'"yes"')


def test_method_spec_finds_known_and_generic_methods() -> None:
    assert method_spec("/private/buy") is METHODS["private/buy"]
    assert method_spec("public/auth").http_verb == "GET"
    assert method_spec("private/buy").http_verb == "POST"
    generic = method_spec("public/test")
    assert (generic.private, generic.ws_only, generic.shape) == (False, False, "any")
    assert decode_result(generic, b'{"version": "1.2", "x": 0.1}') == {
        "version": "1.2", "x": Decimal("0.1")}
    for bad in ("buy", "admin/x", "private/", "private/a b"):
        with pytest.raises(ValidationError, match="method: must be public/NAME"):
            method_spec(bad)
    with pytest.raises(ValidationError, match="method: must be a string"):
        method_spec(5)


# -- against the simulated gateway --------------------------------------------------------


class Gateway(PulseMethods):
    """The methods over one raw WebSocket to the simulated gateway (numbers as JSON
    numbers, as the client's encoder sends them)."""

    _encode = msgspec.json.Encoder(decimal_format="number").encode

    def __init__(self, client: Client) -> None:
        self.client = client
        self.ids = 10_000

    async def _request(self, spec: MethodSpec, params: dict[str, Any]) -> Any:
        self.ids += 1
        frame = {"jsonrpc": "2.0", "id": self.ids, "method": spec.method, "params": params}
        await self.client.ws.send_str(self._encode(frame).decode())
        reply = await self.client.reply(self.ids)
        assert "error" not in reply, (spec.method, params, reply["error"])
        return decode_result(spec, json.dumps(reply["result"]).encode())


async def test_every_method_against_the_simulated_gateway() -> None:
    """The params the coroutines build are accepted by the strict gateway, and its results
    come back typed."""
    async with served(PulseConfig(push_interval=0.01, heartbeat_unit=0.05)) as server, \
            connected(server) as client:
        api = Gateway(client)
        login = await api.auth(grant_type="client_credentials", client_id="alice",
                               client_secret="alice-secret")
        assert login.access_token
        assert login.expires_in
        await api.set_heartbeat(interval=10)
        await api.disable_heartbeat()
        await api.enable_cancel_on_disconnect()
        assert await api.get_cancel_on_disconnect() is True
        await api.disable_cancel_on_disconnect()
        assert await api.get_cancel_on_disconnect() is False

        instruments = await api.get_instruments(currency="BTC")
        assert any(i.instrument_name == BTC for i in instruments)
        assert all(isinstance(i, GetInstrumentResponse) for i in instruments)
        index = await api.get_index_price(index_name="BTC_USD")
        assert isinstance(index, Decimal)
        assert index > 0

        placed = await api.buy(instrument_name=BTC, amount=100, type="limit",
                               price=Decimal("50000.5"), label="api-test-1")
        assert placed.order is not None
        assert placed.order.label == "api-test-1"
        assert placed.order.price == Decimal("50000.5")
        order_id = placed.order.order_id
        assert order_id is not None
        state = await api.get_order_state(order_id=order_id)
        assert state.order_id == order_id
        found = await api.get_order_state_by_label(currency="BTC", label="api-test-1")
        assert [o.order_id for o in found] == [order_id]
        edited = await api.edit(order_id=order_id, amount=200, price="50001")
        assert edited.order is not None
        assert edited.order.amount == Decimal(200)
        open_orders = await api.get_open_orders_by_instrument(instrument_name=BTC, type="all")
        assert [o.order_id for o in open_orders] == [order_id]
        cancelled = await api.cancel(order_id=order_id)
        assert cancelled.order_state == "cancelled"
        history = await api.get_order_history_by_instrument(
            instrument_name=BTC, count=10, include_unfilled=True)
        assert order_id in {o.order_id for o in history}

        server.engine.place("bob", "buy", BTC, Decimal(100), price=Decimal(60000))
        sold = await api.sell(instrument_name=BTC, amount="100", type="market")
        assert sold.trades
        assert sold.trades[0].price == Decimal(60000)
        fill_order = sold.order.order_id if sold.order else None
        assert fill_order is not None
        by_order = await api.get_user_trades_by_order(order_id=fill_order)
        assert all(isinstance(t, TradesResponse) for t in by_order)
        assert len(by_order) == 1
        assert await api.get_user_trades_by_instrument(instrument_name=BTC, sorting="asc")
        assert await api.last_trades_by_instrument(instrument_name=BTC, count=5)
        positions = await api.get_positions(currency="BTC")
        assert all(isinstance(p, PositionConfirmation) for p in positions)
        assert any(p.instrument_name == BTC for p in positions)
        summary = await api.get_account_summary(currency="BTC")
        assert isinstance(summary, GetAccountSummaryResponse)
        assert isinstance(summary.balance, Decimal)

        book = await api.get_order_book(instrument_name=BTC, depth=5)
        assert isinstance(book, GetOrderBookResponse)
        assert book.instrument_name == BTC
        mmp = await api.set_mmp_config(index_name="BTC_USD", interval=60, frozen_time=30,
                                       quantity_limit=10)
        assert mmp.index_name == "btc_usd"
        assert (await api.get_mmp_config(index_name="btc_usd")).quantity_limit == Decimal(10)
        await api.cancel_all_by_instrument(instrument_name=BTC, type="all")
        await api.cancel_all(detailed=True)

        now_ms = server.engine.now_ms()
        chart = await api.get_tradingview_chart_data(
            instrument_name=BTC, start_timestamp=now_ms - 3_600_000, end_timestamp=now_ms,
            resolution="1")
        assert chart.status in ("ok", "no_data")
        assert isinstance(await api.get_funding_rate_history(instrument_name=BTC), list)
        funding = await api.get_funding_chart_data(instrument_name=BTC, length="8h")
        assert funding.funding_payments is not None
        assert isinstance(await api.get_delivery_prices(index_name="btc_usd"), list)
        assert isinstance(await api.get_deposits(currency="BTC", count=5), list)
        assert isinstance(
            await api.get_settlement_history_by_currency(currency="BTC", type="settlement"),
            list)
        assert isinstance(await api.get_settlement_history_by_instrument(
            instrument_name=BTC, type="settlement"), list)
        refreshed = await api.auth(grant_type="refresh_token",
                                   refresh_token=login.refresh_token or "")
        assert refreshed.access_token
        await client.send("private/logout", {"invalidate_token": True})
        await client.closed()


@pytest.mark.parametrize("method", sorted(METHODS))
def test_hostile_results_fail_as_decode_errors(method: str) -> None:
    """Garbage or 100,000-deep nesting in a result is a msgspec error, never a crash of
    another kind (a ``none`` result ignores its body)."""
    spec = METHODS[method]
    deep = b"[" * 100_000 + b"]" * 100_000
    deep_object = b'{"bids": [' + deep + b'], "response": ' + deep + b"}"
    for body in (deep, deep_object, b"{", b"\xff\xfe", b'{"a": NaN}'):
        try:
            decode_result(spec, body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            pass
        else:
            assert spec.shape == "none", (method, body[:20])


@pytest.mark.parametrize("spec", [s for s in METHODS.values() if s.name in vars(PulseMethods)],
                         ids=lambda spec: spec.name)
def test_each_typed_method_says_what_it_raises_and_why(spec: MethodSpec) -> None:
    doc = inspect.getdoc(getattr(PulseClient, spec.name)) or ""
    raised = {line.split(":")[1].split()[1] for line in doc.splitlines()
              if line.startswith(":raises ")}
    expected = {"ValidationError", "AuthError", "PulseRpcError", "TransportError", "KanaError"}
    expected |= {"UnknownOutcomeError"} if spec.places_order else set()
    expected |= {"ApiError"} if not spec.places_order and spec.shape != "none" else set()
    assert raised == expected
    assert ("served on the WebSocket only" in doc) == spec.ws_only
    assert ("has no ``client_id``" in doc) == spec.private
    # Readable in help(): the fields follow the description, one blank line between.
    assert "\n\n:raises ValidationError:" in doc
