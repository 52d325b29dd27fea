"""The runner of the docs' Python blocks (the repository's conftest.py) fails what it should.

Each case is a page in a scratch project that uses the real conftest.py, run by pytest in a
child process: a page whose blocks are right passes; an error, a leaked task or a warning fails.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent.parent
SETTINGS = ('[pytest]\nfilterwarnings = error\naddopts = -p no:cacheprovider\n'
            'asyncio_default_fixture_loop_scope = function\n')


def run_page(tmp_path: Path, page: str, *, target: str = "docs/page.md"
             ) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text((ROOT / "conftest.py").read_text())
    (tmp_path / "pytest.ini").write_text(SETTINGS)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text(page)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", target],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )


def test_only_the_readme_at_the_root_and_pages_under_docs_run(tmp_path: Path) -> None:
    wrong = "```python\nraise SystemExit('not a page of the docs')\n```\n"
    (tmp_path / "README.md").write_text("```python\nassert True\n```\n")
    for elsewhere in ("tests/README.md", "tests/docs/notes.md"):
        (tmp_path / elsewhere).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / elsewhere).write_text(wrong)
    done = run_page(tmp_path, "```python\nassert True\n```\n", target=".")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


def test_blocks_share_a_namespace_and_a_loop_and_may_await(tmp_path: Path) -> None:
    page = """# A page

```python
import asyncio
queue: asyncio.Queue[int] = asyncio.Queue()
await queue.put(1)
```

Text between blocks, and a block in another language that is not run:

```bash
exit 1
```

```python
assert await queue.get() == 1   # same loop, same names
```

```python
async def main() -> int:
    return 2

assert asyncio.run(main()) == 2   # a complete program runs as it is
```
"""
    done = run_page(tmp_path, page)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


@pytest.mark.parametrize(("block", "message"), [
    ("raise ValueError('the snippet is wrong')", "the snippet is wrong"),
    ("print(name_from_nowhere)", "NameError"),
    ("import asyncio\ntask = asyncio.create_task(asyncio.sleep(30))\nawait asyncio.sleep(0)",
     "left 1 task(s) running"),
    ("import warnings\nwarnings.warn('stale call', DeprecationWarning)", "stale call"),
])
def test_a_wrong_block_fails_its_page(tmp_path: Path, block: str, message: str) -> None:
    done = run_page(tmp_path, f"# A page\n\n```python\n{block}\n```\n")
    assert done.returncode == 1, done.stdout + done.stderr
    assert message in done.stdout
