"""The method table and parameter validation against the document's fixtures and decisions."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kana_async.sim.pulse.errors import Code, PulseError
from kana_async.sim.pulse.methods import (
    DOCUMENTED,
    METHODS,
    MethodSpec,
    coerce_query,
    lookup,
    validate,
)

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name.replace('/', '.')}.json").read_text())
    return data


def documented_params(name: str) -> dict[str, Any]:
    """The params object of the document's request (the derived WS request where the document
    shows only placeholders)."""
    params: dict[str, Any] = fixture(name)["derived_not_in_doc"]["ws_request"]["params"]
    return params


def refused(code: Code, spec: MethodSpec, params: Any, *, strict: bool = True) -> PulseError:
    with pytest.raises(PulseError) as info:
        validate(spec, params, strict=strict)
    assert info.value.code == code, info.value
    return info.value


def test_the_table_holds_the_documents_38_methods() -> None:
    assert len(DOCUMENTED) == 38
    assert len(set(DOCUMENTED)) == 38
    files = {p.stem.replace(".", "/", 1) for p in FIXTURES.glob("p*.json")}
    assert set(DOCUMENTED) == files
    specs = [METHODS[n] for n in DOCUMENTED]
    assert sum(not s.private for s in specs) == 10
    assert sum(s.private for s in specs) == 28
    assert sum(not s.ws_only for s in specs) == 30
    for spec in specs:
        doc = fixture(spec.name)
        assert spec.ws_only == (doc["transport"] == "ws_only"), spec.name
        assert doc["name"] == "/" + spec.name
    assert not METHODS["public/test"].documented


@pytest.mark.parametrize("name", DOCUMENTED)
def test_parameter_names_and_types_are_the_documents(name: str) -> None:
    doc = fixture(name)
    spec = METHODS[name]
    listed = {q["name"]: q["type"] for q in doc["query_parameters"]}
    body = doc["request_body_example"] or {}
    body = body.get("params", body) if "jsonrpc" in body else body
    listed |= {key: type(value).__name__ for key, value in body.items()}
    assert {p.name for p in spec.params} == set(listed), name
    kinds = {"str": "string", "int": "integer|number", "float": "number", "bool": "boolean",
             "list": "array", "string": "string", "integer": "integer", "boolean": "boolean",
             "array[string]": "array[string]"}
    for param in spec.params:
        assert param.json_type.startswith(tuple(kinds[listed[param.name]].split("|"))), param


@pytest.mark.parametrize("name", DOCUMENTED)
def test_the_documents_request_is_accepted(name: str) -> None:
    params = documented_params(name)
    checked = validate(METHODS[name], params)
    assert set(checked) == set(params)


def test_names_with_or_without_a_leading_slash() -> None:
    assert lookup("/private/buy") is lookup("private/buy") is METHODS["private/buy"]
    for bad in ("private/nope", "", "buy", None, 7, "//private/buy"):
        with pytest.raises(PulseError) as info:
            lookup(bad)
        assert info.value.code == Code.METHOD_NOT_FOUND
    with pytest.raises(PulseError) as info:
        lookup("x" * 5000)
    assert len(info.value.reason) < 200


def test_required_flags_follow_the_decisions() -> None:
    buy = METHODS["private/buy"]
    error = refused(Code.VALUE_REQUIRED, buy, {"amount": 10})
    assert error.param == "instrument_name"
    refused(Code.VALUE_REQUIRED, buy, {"instrument_name": "BTC_USD-PERPETUAL"})
    validate(METHODS["private/edit"], {"order_id": "x", "price": 5})  # edit's amount: optional
    validate(METHODS["private/logout"], {})                         # invalidate_token: default
    for name, key in [
        ("public/last_trades_by_instrument", "instrument_name"),
        ("private/get_settlement_history_by_currency", "currency"),
        ("private/get_settlement_history_by_instrument", "instrument_name"),
        ("private/get_order_state_by_label", "label"),
        ("private/get_user_trades_by_order", "order_id"),
    ]:
        params = dict(documented_params(name))
        del params[key]
        assert refused(Code.VALUE_REQUIRED, METHODS[name], params).param == key
        validate(METHODS[name], params, strict=False)  # lenient: only the types
    validate(METHODS["public/get_funding_rate_history"], {})
    validate(METHODS["public/auth"], {"grant_type": "refresh_token", "refresh_token": "t"})


def test_json_types_are_checked_even_when_lenient() -> None:
    buy = METHODS["private/buy"]
    base = {"instrument_name": "BTC_USD-PERPETUAL", "amount": 10}
    for key, value in [("amount", "10"), ("amount", True), ("price", [1]), ("label", 5),
                       ("post_only", "true"), ("otoco_config", [1]), ("mmp", 1)]:
        error = refused(Code.INVALID_PARAMS, buy, base | {key: value}, strict=False)
        assert error.param == key
        assert key in error.reason
    count = METHODS["private/get_deposits"]
    refused(Code.INVALID_PARAMS, count, {"count": 1.5})
    refused(Code.INVALID_PARAMS, count, {"count": True})
    refused(Code.INVALID_ARGUMENTS, count, {"count": 2**70})
    refused(Code.INVALID_PARAMS, METHODS["public/subscribe"], {"channels": "book.x.raw"})
    refused(Code.INVALID_PARAMS, METHODS["public/subscribe"], {"channels": ["a", 1]})
    refused(Code.INVALID_PARAMS, buy, ["not", "an", "object"])
    refused(Code.INVALID_PARAMS, buy, {1: 2})
    refused(Code.INVALID_ARGUMENTS, buy, base | {"price": float("nan")})
    for huge in (Decimal("1e16"), Decimal("-1e40"), 10**30, 1e300):
        error = refused(Code.INVALID_ARGUMENTS, buy, base | {"price": huge}, strict=False)
        assert "10^15" in error.reason
    assert validate(buy, base | {"price": Decimal("1e15")})["price"] == Decimal("1e15")


def test_values_are_normalised_exactly() -> None:
    buy = METHODS["private/buy"]
    checked = validate(buy, {"instrument_name": "BTC_USD-PERPETUAL", "amount": 10,
                             "price": 0.1, "max_show": Decimal("20.50"), "label": None,
                             "access_token": "kept", "extra": {"any": 1}})
    assert checked["amount"] == Decimal(10)
    assert isinstance(checked["amount"], Decimal)
    assert str(checked["price"]) == "0.1"
    assert str(checked["max_show"]) == "20.50"
    assert "label" not in checked                     # null is absent
    assert checked["access_token"] == "kept"
    assert checked["extra"] == {"any": 1}
    assert validate(METHODS["private/get_deposits"], {"count": 20.0})["count"] == 20
    assert validate(METHODS["private/get_deposits"], {"count": Decimal("3")})["count"] == 3
    assert validate(buy, None, strict=False) == {}


def test_order_entry_refuses_type_filters() -> None:
    base = {"instrument_name": "BTC_USD-PERPETUAL", "amount": 10}
    for kind in ("all", "trigger_all"):
        for strict in (True, False):
            error = refused(Code.INVALID_ARGUMENTS, METHODS["private/sell"], base | {"type": kind},
                            strict=strict)
            assert error.param == "type"
            assert "filter" in error.reason
        validate(METHODS["private/cancel_all_by_instrument"],
                 {"instrument_name": "BTC_USD-PERPETUAL", "type": kind})
    refused(Code.INVALID_ARGUMENTS, METHODS["private/buy"], base | {"type": "trailing"})
    validate(METHODS["private/buy"], base | {"type": "trailing"}, strict=False)


def test_enums_and_label_length_in_strict_mode() -> None:
    base = {"instrument_name": "BTC_USD-PERPETUAL", "amount": 10}
    buy = METHODS["private/buy"]
    for key in ("time_in_force", "trigger", "linked_order_type", "trigger_fill_condition"):
        error = refused(Code.INVALID_ARGUMENTS, buy, base | {key: "bogus"})
        assert error.param == key
        assert "must be one of" in error.reason
    refused(Code.INVALID_ARGUMENTS, buy, base | {"label": "x" * 65})
    validate(buy, base | {"label": "x" * 64})
    refused(Code.INVALID_ARGUMENTS, METHODS["private/get_user_trades_by_order"],
            {"order_id": "x", "sorting": "sideways"})
    refused(Code.INVALID_ARGUMENTS, METHODS["public/get_funding_chart_data"],
            {"instrument_name": "BTC_USD-PERPETUAL", "length": "2h"})


def test_heartbeat_interval_is_at_least_ten_seconds() -> None:
    spec = METHODS["public/set_heartbeat"]
    assert validate(spec, {"interval": 10}) == {"interval": 10}
    error = refused(Code.INVALID_ARGUMENTS, spec, {"interval": 9})
    assert error.param == "interval"
    assert "10" in error.reason
    assert validate(spec, {"interval": 1}, strict=False) == {"interval": 1}
    refused(Code.INVALID_ARGUMENTS, spec, {"interval": 0}, strict=False)  # the document's sample
    refused(Code.VALUE_REQUIRED, spec, {})


def test_query_strings_become_typed_values() -> None:
    assert coerce_query(METHODS["public/set_heartbeat"], {"interval": "10"}) == {"interval": 10}
    logout = coerce_query(METHODS["private/logout"], {"invalidate_token": "false"})
    assert logout == {"invalidate_token": False}
    channels = coerce_query(METHODS["public/subscribe"],
                            {"channels": ["book.BTC_USD-PERPETUAL.raw,quote.BTC_USD-PERPETUAL",
                                          "deribit_price_index.btc_usd"]})
    assert channels["channels"] == ["book.BTC_USD-PERPETUAL.raw", "quote.BTC_USD-PERPETUAL",
                                    "deribit_price_index.btc_usd"]
    buy = coerce_query(METHODS["private/buy"], {"amount": "10.5", "price": ["1", "2"],
                                                "instrument_name": "X", "other": "kept"})
    assert buy == {"amount": Decimal("10.5"), "price": 2, "instrument_name": "X",
                   "other": "kept"}
    auth = coerce_query(METHODS["public/auth"], {"timestamp": "1700000000000"})
    assert auth == {"timestamp": 1_700_000_000_000}
    # what does not parse stays text, and validation names it
    bad = coerce_query(METHODS["public/set_heartbeat"], {"interval": "soon"})
    assert refused(Code.INVALID_PARAMS, METHODS["public/set_heartbeat"], bad).param == "interval"
    assert coerce_query(METHODS["private/logout"], {"invalidate_token": "maybe"}) == {
        "invalidate_token": "maybe"}
