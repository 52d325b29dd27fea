"""Values of any type in any parameter of the engine's public methods: a PulseError naming
the rule or a normal answer, never another exception, and money stays conserved."""

from __future__ import annotations

import inspect
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kana_async.sim.pulse.domain import order_id_text
from kana_async.sim.pulse.engine import PulseEngine
from kana_async.sim.pulse.errors import PulseError
from tests.sim.pulse.engines import BTC, START

JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.text(max_size=30),
    st.decimals(allow_nan=True, allow_infinity=True), st.floats(allow_nan=True),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(),
                                                          max_size=2),
    st.sampled_from(["BTC", "USD", "btc_usd", BTC, "buy", "all", "limit", "1", "settlement",
                     "000000000000000000000001", "asc"]),
)

#: Public methods (and a valid call of each) whose parameters get junk one at a time.
CALLS: dict[str, dict[str, Any]] = {
    "place": {"client_id": "bob", "direction": "buy", "instrument_name": BTC,
              "amount": Decimal(10), "price": Decimal(50000)},
    "edit": {"client_id": "bob", "order_id": "ORDER", "amount": Decimal(20)},
    "cancel": {"client_id": "bob", "order_id": "ORDER"},
    "cancel_all": {"client_id": "bob", "instrument_name": BTC, "type": "all"},
    "cancel_by_origin": {"client_id": "bob", "origin": "conn"},
    "open_orders": {"client_id": "bob", "instrument_name": BTC, "type": "all", "count": 5},
    "order_history": {"client_id": "bob", "instrument_name": BTC, "count": 5, "offset": 0},
    "order": {"client_id": "bob", "order_id": "ORDER"},
    "orders_by_label": {"client_id": "bob", "currency": "BTC", "label": "x", "count": 5},
    "user_trades": {"client_id": "bob", "instrument_name": BTC, "start_ms": 0, "count": 5,
                    "sorting": "asc"},
    "last_trades": {"instrument_name": BTC, "start_seq": 1, "end_ms": 10**14, "count": 5},
    "positions": {"client_id": "bob", "currency": "BTC", "kind": "future"},
    "summary": {"client_id": "bob", "currency": "BTC"},
    "deposits": {"client_id": "bob", "currency": "BTC", "count": 5, "offset": 0},
    "settlements": {"client_id": "bob", "type": "settlement", "currency": "BTC",
                    "search_start_ms": 10**14, "count": 5},
    "book": {"instrument_name": BTC},
    "order_book": {"instrument_name": BTC, "depth": 3},
    "index_price": {"index_name": "btc_usd"},
    "mark_price": {"instrument_name": BTC},
    "current_funding": {"instrument_name": BTC},
    "funding_rounds": {"instrument_name": BTC, "start_ms": 0, "end_ms": 10**14},
    "candles": {"instrument_name": BTC, "resolution": "1", "start_ms": 0, "end_ms": 10**14},
    "delivery_prices": {"index_name": "btc_usd", "count": 5, "offset": 0},
    "mmp_config": {"client_id": "bob", "index_name": "btc_usd"},
    "set_mmp_config": {"client_id": "bob", "index_name": "btc_usd", "interval": Decimal(1),
                       "frozen_time": Decimal(1), "quantity_limit": Decimal(100)},
}


def call(engine: PulseEngine, method: str, kwargs: dict[str, Any]) -> Any:
    """Call with the signature's positional parameters positionally, the rest by keyword."""
    function = getattr(engine, method)
    params = inspect.signature(function).parameters
    positional = [kwargs.pop(n) for n, p in params.items()
                  if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and n in kwargs]
    return function(*positional, **kwargs)


def test_every_valid_call_succeeds() -> None:
    engine = PulseEngine(clock=lambda: START)
    order, _ = engine.place("bob", "buy", BTC, Decimal(10), price=Decimal(50000))
    for method, kwargs in CALLS.items():
        values = {k: order_id_text(order.order_id) if v == "ORDER" else v
                  for k, v in kwargs.items()}
        if method in ("cancel", "cancel_all"):
            continue  # they would take the order away from the calls after them
        call(engine, method, values)
    engine.audit()


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(method=st.sampled_from(sorted(CALLS)), data=st.data())
def test_junk_in_any_parameter_is_refused_by_rule(method: str, data: st.DataObject) -> None:
    engine = PulseEngine(clock=lambda: START)
    order, _ = engine.place("bob", "buy", BTC, Decimal(10), price=Decimal(50000))
    kwargs = {k: order_id_text(order.order_id) if v == "ORDER" else v
              for k, v in CALLS[method].items()}
    name = data.draw(st.sampled_from(sorted(kwargs)))
    kwargs[name] = data.draw(JUNK)
    reason = ""
    try:
        call(engine, method, kwargs)
    except PulseError as err:
        reason = err.reason
    assert "Decimal(" not in reason
    engine.audit()
