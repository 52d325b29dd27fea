"""Run the documentation's Python snippets as tests (sybil).

Every ```` ```python ```` block of the README and of ``docs/`` runs. The blocks of a page run in
order in one namespace and on one event loop, as pasted one after the other into
``python -m asyncio``: a block may ``await`` at top level, and a complete program with
``asyncio.run(main())`` runs as it is. There is no skip: a snippet that needs a real exchange is
written so that it runs against the embedded simulator unless its environment says otherwise.
The ``>>>`` examples in the package's docstrings run too. Warnings are errors and asyncio runs
in debug mode, as in ``tests/``.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import os
from typing import Any

from sybil import Example, Sybil
from sybil.document import PythonDocStringDocument
from sybil.evaluators.python import pad
from sybil.parsers.myst import CodeBlockParser
from sybil.parsers.rest import DocTestParser
from sybil.sybil import SybilCollection

os.environ["PYTHONASYNCIODEBUG"] = "1"

_LOOP = "__docs_loop__"


def _open_loop(namespace: dict[str, Any]) -> None:
    namespace[_LOOP] = asyncio.new_event_loop()


def _close_loop(namespace: dict[str, Any]) -> None:
    """Close the page's loop; a task a page leaves running is a defect of the page."""
    loop: asyncio.AbstractEventLoop = namespace.pop(_LOOP)
    leftover = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in leftover:
        task.cancel()
    if leftover:
        loop.run_until_complete(asyncio.gather(*leftover, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
    if leftover:
        raise AssertionError(f"the page left {len(leftover)} task(s) running: {leftover}")


def _run_block(example: Example) -> None:
    """Run one block; top-level ``await`` runs on the page's loop."""
    __tracebackhide__ = True
    source = pad(example.parsed, example.line + example.parsed.line_offset)
    code = compile(source, example.path, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
                   dont_inherit=True)
    namespace = example.namespace
    result = eval(code, namespace)
    if inspect.iscoroutine(result):
        namespace[_LOOP].run_until_complete(result)
    namespace.pop("__builtins__", None)



def _pages(path: str, patterns: list[str], excludes: list[str]) -> Sybil:
    """Markdown pages under ``path`` (patterns match from the right, so ``excludes`` keeps a
    README.md or a page elsewhere in the tree from being taken for one of the docs)."""
    return Sybil(
        parsers=[CodeBlockParser(language="python", evaluator=_run_block)],
        path=path, patterns=patterns, excludes=excludes,
        setup=_open_loop, teardown=_close_loop, name="docs",
    )


_docstrings = Sybil(
    parsers=[DocTestParser()],
    patterns=["kana_async/*.py", "kana_async/*/*.py", "kana_async/*/*/*.py"],
    document_types={".py": PythonDocStringDocument},
    name="docstrings",
)

pytest_collect_file = SybilCollection((
    _pages(".", ["README.md"], ["*/README.md"]),
    _pages("docs", ["*.md"], ["_build/*"]),
    _docstrings,
)).pytest()
