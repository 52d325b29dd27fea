"""``KanaClient``'s trading methods show the real signature and docstring of the
:class:`~kana_async.trade.Trader` method they call (``help()``, IPython, Jupyter)."""

from __future__ import annotations

import inspect
import pydoc

import pytest

from kana_async import KanaClient
from kana_async.trade import Trader

#: Trader coroutines that are not trading: the client's own lifecycle runs them.
LIFECYCLE = {"aclose", "close"}

#: Every public trading coroutine of Trader: each is offered on KanaClient too.
TRADING = sorted(
    name
    for name, member in vars(Trader).items()
    if not name.startswith("_") and name not in LIFECYCLE and inspect.iscoroutinefunction(member)
)


def test_every_trading_method_is_offered() -> None:
    assert "place_limit_order" in TRADING
    missing = [name for name in TRADING if not hasattr(KanaClient, name)]
    assert missing == []


@pytest.mark.parametrize("name", TRADING)
def test_signature_is_the_traders(name: str) -> None:
    ours = inspect.signature(getattr(KanaClient, name))
    theirs = inspect.signature(getattr(Trader, name))
    assert ours == theirs
    assert "args" not in ours.parameters


@pytest.mark.parametrize("name", TRADING)
def test_bound_signature_drops_self(name: str) -> None:
    kana = KanaClient("local", rest_url="http://127.0.0.1:1", private_key="11" * 32)
    bound = inspect.signature(getattr(kana, name))
    expected = list(inspect.signature(getattr(Trader, name)).parameters)[1:]
    assert list(bound.parameters) == expected


@pytest.mark.parametrize("name", TRADING)
def test_docstring_and_name_are_the_traders(name: str) -> None:
    method = getattr(KanaClient, name)
    assert method.__doc__
    assert method.__doc__ == getattr(Trader, name).__doc__
    assert method.__name__ == name
    assert method.__qualname__ == f"KanaClient.{name}"
    assert inspect.iscoroutinefunction(method)


def test_help_shows_the_parameters() -> None:
    text = pydoc.plain(pydoc.render_doc(KanaClient.place_limit_order))
    assert "place_limit_order(self, market_id" in text
    assert "*args" not in text
    assert "restriction" in text
