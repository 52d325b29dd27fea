"""The pytest plugin: ``kana_sim`` here (the plugin is installed), and in a foreign project."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from pathlib import Path

import pytest

from kana_async.sim import Simulator


async def test_kana_sim_is_a_running_simulator(kana_sim: Simulator) -> None:
    assert isinstance(kana_sim, Simulator)
    assert kana_sim.running
    assert kana_sim.rest_url is not None
    assert kana_sim.rest_url.startswith("http://127.0.0.1:")
    assert kana_sim.seed == 0


@pytest.mark.kana_sim(seed=9, step_interval=None)
async def test_marker_configures_the_simulator(kana_sim: Simulator) -> None:
    assert kana_sim.seed == 9
    await asyncio.sleep(0.02)
    assert kana_sim.engine.ledger_version == 0, "no background steps"


class TestOptionsFixture:
    @pytest.fixture
    def kana_sim_options(self) -> dict[str, object]:
        return {"seed": 11, "step_interval": None}

    async def test_options_fixture_is_used(self, kana_sim: Simulator) -> None:
        assert (kana_sim.seed, kana_sim.step_interval) == (11, None)

    @pytest.mark.kana_sim(seed=12)
    async def test_marker_wins_over_options(self, kana_sim: Simulator) -> None:
        assert (kana_sim.seed, kana_sim.step_interval) == (12, None)


FOREIGN_TESTS = {
    "test_a_plain.py": """
        import sys

        def test_plain_suites_do_not_load_the_simulator():
            assert "kana_async.sim" not in sys.modules
    """,
    "test_b_sim.py": """
        import pytest

        @pytest.mark.asyncio
        async def test_strict_mode(kana_sim):
            assert kana_sim.ws_url.startswith("ws://127.0.0.1:")
    """,
}


async def test_foreign_strict_mode_project(tmp_path: Path) -> None:
    for name, source in FOREIGN_TESTS.items():
        (tmp_path / name).write_text(textwrap.dedent(source))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error",
        "-o", "asyncio_mode=strict", "-o", "asyncio_default_fixture_loop_scope=function",
        str(tmp_path),
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, out.decode()
    assert "2 passed" in out.decode()


SYNC_TEST = """
    def test_sync_test_asks_for_the_simulator(kana_sim):
        assert kana_sim.running
"""


async def test_a_sync_test_fails_at_once_saying_to_make_it_async(tmp_path: Path) -> None:
    # The simulator serves on the loop the fixture ran in; a plain test leaves that loop
    # stopped, so every request would time out: the fixture refuses instead.
    (tmp_path / "test_sync.py").write_text(textwrap.dedent(SYNC_TEST))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error",
        "-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function",
        str(tmp_path),
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    text = out.decode()
    assert proc.returncode == 1, text
    assert "1 error" in text
    assert "test_sync_test_asks_for_the_simulator is not async" in text
    assert "async def" in text
    assert "pytest-asyncio" in text


def test_the_fixtures_say_what_they_give_and_how_to_configure_them() -> None:
    from kana_async import testing

    sim_doc = testing.kana_sim.__doc__ or ""
    options_doc = testing.kana_sim_options.__doc__ or ""
    assert "@pytest.mark.kana_sim(...)" in sim_doc
    assert "plain ``def``" in sim_doc
    assert ":raises ValidationError:" in sim_doc
    assert "conftest.py" in options_doc
