"""URLs given to the client are checked once, where they are given."""

from __future__ import annotations

import pytest

from kana_async import KanaClient
from kana_async.config import check_url, resolve_network
from kana_async.errors import ValidationError


@pytest.mark.parametrize(
    ("param", "url"),
    [
        ("rest_url", "https://perps-tradeapi.kana.trade"),
        ("rest_url", "http://127.0.0.1:8080/api"),
        ("node_url", "https://api.testnet.aptoslabs.com/v1"),
        ("ws_url", "wss://perpetuals-indexer-ws.kana.trade/ws/"),
        ("ws_url", "ws://127.0.0.1:9000/ws"),
        ("ws_url", "http://127.0.0.1:9000/ws"),
    ],
)
def test_good_urls(param: str, url: str) -> None:
    assert check_url(url, param) == url


@pytest.mark.parametrize(
    ("param", "url", "rule"),
    [
        ("rest_url", "https://perps-tradeapi.kana.trade\n", "control characters"),
        ("rest_url", " https://x.test", "spaces"),
        ("rest_url", "https://x.test/a b", "spaces"),
        ("rest_url", "wss://x.test", "http:// or https://"),
        ("node_url", "ftp://x.test", "http:// or https://"),
        ("ws_url", "ftp://x.test", "ws:// or wss://"),
        ("rest_url", "https://", "absolute"),
        ("rest_url", "x.test", "absolute"),
        ("rest_url", "https://x.test:99999", "absolute"),
        ("rest_url", 5, "absolute"),
    ],
)
def test_bad_urls_name_the_rule(param: str, url: object, rule: str) -> None:
    with pytest.raises(ValidationError, match=rule) as info:
        check_url(url, param)
    assert info.value.param == param


def test_credentials_in_a_url_are_refused_and_not_echoed() -> None:
    url = "https://bot:hunter2-secret@perps.example/api"
    with pytest.raises(ValidationError, match="without user:password@") as info:
        KanaClient("testnet", rest_url=url)
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in repr(info.value)


def test_resolve_network_checks_each_url_for_its_role() -> None:
    with pytest.raises(ValidationError) as info:
        resolve_network("testnet", node_url="wss://node.example")
    assert info.value.param == "node_url"
    config = resolve_network("testnet", rest_url="http://127.0.0.1:1")
    assert config.rest_url == "http://127.0.0.1:1"
