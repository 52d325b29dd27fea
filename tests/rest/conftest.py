"""REST test helpers: a scripted handler for the mock transport, and an aioresponses mock
that works with the installed aiohttp.

aioresponses 0.7.9 builds ``ClientResponse`` objects without the ``stream_writer`` argument
that aiohttp 3.14 requires. Its public ``response_class`` option takes a class that supplies
it; :class:`Mock` makes that the default for every answer it registers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses as Aioresponses

from kana_async._http import Request, Response
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


class Mock(Aioresponses):
    """``aioresponses`` whose answers are built as :class:`CompatResponse`."""

    def add(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("response_class", CompatResponse)
        super().add(*args, **kwargs)


@pytest.fixture
def mock() -> Iterator[Aioresponses]:
    with Mock() as m:
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


class Script:
    """A :class:`~kana_async._http.MockTransport` handler that plays ``answers`` in order
    (a ``Response``, or an exception to raise) and records every request it gets.

    With ``repeat``, the last answer is given again to any further request; without, a request
    beyond the script fails the test.
    """

    def __init__(self, *answers: Response | BaseException, repeat: bool = False) -> None:
        self.answers = answers
        self.repeat = repeat
        self.requests: list[Request] = []

    def __call__(self, request: Request) -> Response:
        self.requests.append(request)
        index = len(self.requests) - 1
        if self.repeat:
            index = min(index, len(self.answers) - 1)
        assert index < len(self.answers), f"unexpected request {request!r}"
        answer = self.answers[index]
        if isinstance(answer, BaseException):
            raise answer
        return answer
