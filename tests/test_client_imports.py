"""Where ``KanaClient`` imports the simulator: at construction, never on the event loop."""

from __future__ import annotations

import subprocess
import sys

_PROBE = """
import sys
import kana_async
assert "kana_async.sim" not in sys.modules, "imported by the package itself"
kana_async.KanaClient({network!r})
print("kana_async.sim" in sys.modules)
"""


def _imports_simulator(network: str) -> bool:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE.format(network=network)],
        capture_output=True, text=True, timeout=60, check=True,
    )
    return result.stdout.strip() == "True"


def test_a_local_client_imports_the_simulator_before_any_loop_runs() -> None:
    # Importing it inside __aenter__ would compile its modules on the running loop where no
    # bytecode is cached (PYTHONDONTWRITEBYTECODE=1), stalling every other task for ~0.2 s.
    assert _imports_simulator("local")


def test_a_remote_client_never_imports_the_simulator() -> None:
    assert not _imports_simulator("testnet")
