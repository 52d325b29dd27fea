"""REST test helpers: an aioresponses mock that works with the installed aiohttp.

aioresponses 0.7.9 builds ``ClientResponse`` objects without the ``stream_writer`` argument
that aiohttp 3.14 requires; the mock's response class is swapped for one that supplies it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import aioresponses.core
import pytest
from aioresponses import aioresponses as Aioresponses

from kana_async.rest.kana import KanaRest
from kana_async.rest.session import RestSession, RetryPolicy

BASE = "http://kana.test"
API_KEY = "test-key-5f0c1d2e"


class _NoWriter:
    output_size = 0


class CompatResponse(aiohttp.ClientResponse):
    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _NoWriter())
        super().__init__(method, url, **kwargs)


@pytest.fixture
def mock() -> Iterator[Aioresponses]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(aioresponses.core, "ClientResponse", CompatResponse)
        with Aioresponses() as m:
            yield m


@pytest.fixture
async def session() -> AsyncIterator[RestSession]:
    fast = RetryPolicy(attempts=3, total_time=2.0, backoff=0.001, max_backoff=0.002)
    async with RestSession(BASE, api_key=API_KEY, retry=fast) as s:
        yield s


@pytest.fixture
def rest(session: RestSession) -> KanaRest:
    return KanaRest(session)


def ok(data: Any, message: str = "ok") -> dict[str, Any]:
    """A success envelope around ``data``."""
    return {"success": True, "message": message, "data": data}
