"""The public surface: ``kana_async.__all__`` and the names and signatures CONTRACT.md promises.

To extend: add a name to ``CONTRACT_NAMES``; while its module is still being built, also list
it in ``NOT_YET_EXPORTED``, and take it off once ``__init__`` exports it.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import kana_async
from kana_async.client import KanaClient
from kana_async.rest import KanaRest

#: Top-level names CONTRACT.md promises.
CONTRACT_NAMES = {
    "__version__",
    # clients
    "KanaClient",
    "PulseClient",
    # errors
    "KanaError",
    "ApiError",
    "AuthError",
    "RateLimitError",
    "TransportError",
    "ValidationError",
    "SlowConsumerError",
    "UnknownOutcomeError",
    "PulseRpcError",
}

#: Promised names whose export is still to come from the modules being built.
NOT_YET_EXPORTED: set[str] = set()

#: Modules and attributes CONTRACT.md names outside the top level.
CONTRACT_ATTRIBUTES = [
    ("kana_async.client", "KanaClient"),
    ("kana_async.rest", "KanaRest"),
    ("kana_async.sim", "Simulator"),
    ("kana_async.testing", "kana_sim"),
]

ERRORS = {
    "ApiError", "AuthError", "RateLimitError", "TransportError", "ValidationError",
    "SlowConsumerError", "UnknownOutcomeError", "PulseRpcError",
}

_ = inspect.Parameter.empty
#: ``kana.rest`` coroutines with their leading parameters and defaults, as CONTRACT.md spells
#: them (``_`` = required).
REST_SIGNATURES: dict[str, list[tuple[str, Any]]] = {
    "get_market_info": [("market_id", _)],
    "get_perpetual_assets_info": [],
    "get_market_price": [("market_id", _)],
    "get_last_placed_price": [("market_id", _)],
    "get_all_trades": [("market_id", _)],
    "get_profile_address": [("user_address", _)],
    "get_wallet_account_balance": [("user_address", _)],
    "get_profile_balance_snapshot": [("user_address", _)],
    "get_net_profile_balance": [("user_address", _)],
    "get_account_apt_balance": [("user_address", _)],
    "get_open_orders": [("user_address", _), ("market_id", None)],
    "get_order_history": [
        ("user_address", _), ("market_id", None), ("offset", 0), ("limit", 10), ("order", "desc")
    ],
    "get_positions": [("user_address", _), ("market_id", None)],
    "get_order_status_by_order_id": [("market_id", _), ("order_id", _)],
    "get_fills": [
        ("market_id", _), ("from_time", _), ("to_time", _), ("user_address", None),
        ("order_id", None),
    ],
    "get_trade_history": [("user_address", _), ("market_id", None)],
    "get_all_open_order_ids": [("user_address", _), ("market_id", _)],
    "get_deposit_and_withdraw_history": [("user_address", _)],
    "get_funding_history": [("user_address", _)],
    "deposit": [("user_address", _), ("amount", _)],
    "withdraw_specific_market": [("user_address", _), ("market_id", _), ("amount", _)],
    "withdraw_multiple_markets": [],
    "place_limit_order": [
        ("market_id", _), ("trade_side", _), ("direction", _), ("size", _), ("price", _),
        ("leverage", _), ("restriction", 0), ("take_profit", None), ("stop_loss", None),
    ],
    "place_market_order": [
        ("market_id", _), ("trade_side", _), ("direction", _), ("size", _), ("leverage", _),
        ("take_profit", None), ("stop_loss", None),
    ],
    "place_multiple_orders": [],
    "cancel_multiple_orders": [("market_id", _), ("order_ids", _), ("cancel_trade_sides", _)],
    "cancel_and_place_multiple_orders": [],
    "update_take_profit": [("market_id", _), ("trade_side", _), ("new_take_profit_price", _)],
    "update_stop_loss": [("market_id", _), ("trade_side", _), ("new_stop_loss_price", _)],
    "add_margin": [("market_id", _), ("trade_side", _), ("amount", _)],
    "collapse_position": [("market_id", _)],
    "settle_pnl": [("user_address", _), ("market_id", _)],
}


def test_every_exported_name_is_importable() -> None:
    for name in kana_async.__all__:
        assert hasattr(kana_async, name), name


def test_all_is_sorted_and_unique() -> None:
    names = list(kana_async.__all__)
    assert len(names) == len(set(names))
    upper = [n for n in names if n.isupper()]
    rest = [n for n in names if not n.isupper()]
    # ruff's isort-style order: CONSTANTS, then Classes and functions, case-sensitively.
    assert names == sorted(upper) + sorted(rest)


def test_contract_names_are_exported() -> None:
    missing = CONTRACT_NAMES - NOT_YET_EXPORTED - set(kana_async.__all__)
    assert not missing, f"promised by CONTRACT.md but not exported: {sorted(missing)}"


def test_errors_share_the_base() -> None:
    for name in ERRORS:
        assert issubclass(getattr(kana_async, name), kana_async.KanaError), name


def test_contract_attributes_exist() -> None:
    for module, attribute in CONTRACT_ATTRIBUTES:
        assert hasattr(importlib.import_module(module), attribute), f"{module}.{attribute}"


def test_kana_client_signature() -> None:
    params = inspect.signature(KanaClient).parameters
    assert params["network"].default == "local"
    for name in ("api_key", "rest_url", "ws_url", "node_url", "private_key"):
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY, name
        assert params[name].default is None, name
    # Every option is an explicit keyword (help() and IDEs show them; a typo is a TypeError).
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for name in ("stream", "trading", "timeout", "retry", "rate_limit", "check_grid",
                 "max_body", "connection_limit", "ca_file", "ssl_context", "simulator"):
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY, name


def test_rest_coroutines_match_the_contract() -> None:
    for name, expected in REST_SIGNATURES.items():
        method = getattr(KanaRest, name)
        assert inspect.iscoroutinefunction(method), name
        params = list(inspect.signature(method).parameters.values())[1:]  # skip self
        actual = [(p.name, p.default) for p in params[: len(expected)]]
        assert actual == expected, name



def test_the_client_keeps_track_of_every_transaction() -> None:
    # CONTRACT.md: in_doubt() lists hashes whose outcome is unknown; resolve() settles one.
    assert not inspect.iscoroutinefunction(KanaClient.in_doubt)
    assert inspect.iscoroutinefunction(KanaClient.resolve)
    assert list(inspect.signature(KanaClient.resolve).parameters)[:2] == ["self", "tx_hash"]
    for name in ("cancel_order", "cancel_all"):
        assert inspect.iscoroutinefunction(getattr(KanaClient, name)), name


def test_stream_and_trading_settings_reach_the_client() -> None:
    # CONTRACT.md: KanaClient(..., stream={...}, trading={...}), a mapping or the options object.
    for options in ({"stream": {"heartbeat": 15}, "trading": {"expiry_secs": 20}},
                    {"stream": kana_async.StreamOptions(heartbeat=15),
                     "trading": kana_async.TradingOptions(expiry_secs=20)}):
        client = KanaClient("testnet", private_key="11" * 32, **options)
        assert client.stream_options.heartbeat == 15
        assert client.trading_options.expiry_secs == 20
