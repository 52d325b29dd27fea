"""pytest plugin for users' own tests: ``kana_sim``, a running simulator per test.

Installed with the package (entry point ``pytest11: kana_async``), so any test can ask for it::

    async def test_my_bot(kana_sim):
        async with KanaClient(rest_url=kana_sim.rest_url, ws_url=kana_sim.ws_url,
                              node_url=kana_sim.node_url, api_key="test") as kana:
            ...

Configure the simulator with a ``kana_sim_options`` fixture (override it in a conftest.py) or
per test with ``@pytest.mark.kana_sim(seed=7, step_interval=None)``; the marker wins. The
fixture needs pytest-asyncio (any mode) and an ``async def`` test: a plain test fails at
once, since the simulator could not run while it does. Nothing heavy is imported until a test
uses it, so suites that do not use it are not affected.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .sim import Simulator

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - exercised only where pytest-asyncio is missing
    pytest_asyncio = None  # type: ignore[assignment]

__all__ = ["kana_sim", "kana_sim_options"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "kana_sim(**options): keyword arguments for the kana_sim Simulator"
    )


@pytest.fixture
def kana_sim_options() -> dict[str, Any]:
    """Keyword arguments for the :class:`~kana_async.sim.Simulator` of :func:`kana_sim`:
    none by default (ephemeral ports, seed 0, a market maker, the Pulse gateway).

    Override it in a ``conftest.py`` for a module or a whole suite, e.g. ``return {"seed": 7,
    "step_interval": None}``; a ``@pytest.mark.kana_sim(...)`` marker on a test updates these
    for that test. Which keywords exist and what they refuse: :class:`~kana_async.sim.Simulator`.
    """
    return {}


async def _running_simulator(
    request: pytest.FixtureRequest, kana_sim_options: dict[str, Any]
) -> AsyncIterator[Simulator]:
    """A running :class:`~kana_async.sim.Simulator` for one test, closed after it.

    Its options are :func:`kana_sim_options` updated by the keywords of the closest
    ``@pytest.mark.kana_sim(...)`` marker (the marker wins). Everything a test needs is on it:
    the URLs (``rest_url``, ``ws_url``, ``node_url``, ``pulse_ws_url``, ``pulse_http_url``),
    the engines to read or step (``engine``, ``pulse.engine``) and the fault controls
    (``faults``, ``pulse.faults``).

    The test fails at once, without running, if it is a plain ``def`` (the simulator serves on
    the test's event loop, which does not run during a synchronous test) or if pytest-asyncio
    is not installed; it errors in setup if the simulator cannot start.

    :raises ValidationError: if an option breaks a :class:`~kana_async.sim.Simulator` rule
    :raises OSError: if a fixed ``port`` (one of N to N+3) is taken
    """
    _require_async_test(request)
    from .sim import Simulator  # here, so that merely loading the plugin stays cheap

    options = dict(kana_sim_options)
    marker = request.node.get_closest_marker("kana_sim")
    if marker is not None:
        options.update(marker.kwargs)
    async with Simulator(**options) as sim:
        yield sim


def _require_async_test(request: pytest.FixtureRequest) -> None:
    """The simulator serves on the loop this fixture runs in; a plain ``def`` test leaves
    that loop stopped while it runs, so every request to the simulator would time out."""
    test = getattr(request.node, "obj", None)
    # Unwrapped: a runner may have wrapped the coroutine function in a plain one.
    if test is None or inspect.iscoroutinefunction(inspect.unwrap(test)):
        return
    name = getattr(test, "__name__", request.node.name)
    pytest.fail(
        f"kana_sim: {name} is not async, so the simulator's event loop would not run while "
        "it does (requests would time out). Make it 'async def' and let pytest-asyncio run "
        "it (asyncio_mode = auto, or @pytest.mark.asyncio in strict mode).",
        pytrace=False,
    )


def _needs_pytest_asyncio() -> None:
    pytest.fail("the kana_sim fixture needs pytest-asyncio: pip install pytest-asyncio")


kana_sim: Any
if pytest_asyncio is not None:
    kana_sim = pytest_asyncio.fixture(_running_simulator, name="kana_sim")
else:  # pragma: no cover
    kana_sim = pytest.fixture(_needs_pytest_asyncio, name="kana_sim")
