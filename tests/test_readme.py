"""The README's quickstart runs as written (against the embedded simulator)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parent.parent / "README.md"


def test_readme_opens_with_the_install_and_run_commands() -> None:
    first_block = re.search(r"```bash\n(.*?)```", README.read_text(), re.S)
    assert first_block is not None
    lines = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert lines[:2] == [
        "pip install -e . && kana-async demo",
        "pip install -e '.[dev]' -c constraints.txt && pytest",
    ]


def test_quickstart_runs() -> None:
    block = re.search(r"```python\n(.*?)```", README.read_text(), re.S)
    assert block is not None
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", block.group(1)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    order_line = next(line for line in done.stdout.splitlines() if line.startswith("order "))
    assert re.fullmatch(r"order \['\d+'\] 0x[0-9a-f]{64} True", order_line), order_line
