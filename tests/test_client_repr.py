"""``repr(KanaClient)`` works at every stage, even for a client whose ``__init__`` failed."""

from __future__ import annotations

import types
from typing import Any

import pytest

from kana_async import KanaClient
from kana_async.errors import ValidationError

SECRET = "secret-api-key-7c1e"


def _half_built(network: str, **options: Any) -> KanaClient:
    """The ``self`` of a KanaClient whose ``__init__`` raised, as a traceback shows it."""
    with pytest.raises(ValidationError) as info:
        KanaClient(network, **options)
    tb: types.TracebackType | None = info.value.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code is KanaClient.__init__.__code__:
            client: KanaClient = frame.f_locals["self"]
            return client
        tb = tb.tb_next
    raise AssertionError("no KanaClient.__init__ frame in the traceback")


@pytest.mark.parametrize(
    ("network", "options"),
    [
        ("nowhere", {"api_key": SECRET}),  # fails before any attribute is set
        ("testnet", {"api_key": SECRET, "timeout": -1}),  # fails halfway
        ("testnet", {"api_key": SECRET, "ca_file": 5}),  # fails near the end
    ],
)
def test_repr_of_a_half_built_client(network: str, options: dict[str, Any]) -> None:
    text = repr(_half_built(network, **options))
    assert text.startswith("KanaClient(")
    assert SECRET not in text


def test_repr_of_a_never_initialised_client() -> None:
    assert repr(KanaClient.__new__(KanaClient)) == "KanaClient(<not initialised>)"
