"""The site's reference check (docs/_ext/reference_check.py) warns where it should.

A scratch Sphinx project documents a small module with the extension loaded; each defect
(no docstring, a coroutine that says nothing of what it raises) must come out as a warning,
and a well documented module must build clean.
"""

from __future__ import annotations

import importlib
import io
import sys
from pathlib import Path

import pytest
from sphinx.application import Sphinx

ROOT = Path(__file__).parent.parent.parent
MODULE = "reference_check_sample"


def build(tmp_path: Path, source: str, monkeypatch: pytest.MonkeyPatch,
          page: str = f".. automodule:: {MODULE}\n") -> str:
    """Build a one-page site documenting ``source`` as a module; return the warnings."""
    (tmp_path / f"{MODULE}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(ROOT / "docs" / "_ext"))
    monkeypatch.delitem(sys.modules, MODULE, raising=False)
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(
        "extensions = ['sphinx.ext.autodoc', 'reference_check']\n"
        "autodoc_default_options = {'members': True, 'undoc-members': True}\n"
        f"reference_public_modules = ['{MODULE}']\n"
    )
    (src / "index.rst").write_text(f"Sample\n======\n\n{page}")
    warnings = io.StringIO()
    app = Sphinx(str(src), str(src), str(tmp_path / "out"), str(tmp_path / "doctrees"),
                 "html", status=None, warning=warnings, freshenv=True)
    app.build()
    return warnings.getvalue()


def test_a_documented_module_builds_clean(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    warnings = build(tmp_path, '''"""A module."""

__all__ = ["fetch"]


async def fetch() -> int:
    """Fetch a number.

    :raises TimeoutError: if the peer is silent.
    """
    return 1
''', monkeypatch)
    assert "kana." not in warnings, warnings


def test_a_public_function_without_a_docstring_is_a_warning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warnings = build(tmp_path, '"""A module."""\n\n__all__ = ["bare"]\n\n\n'
                               'def bare() -> None:\n    pass\n', monkeypatch)
    assert f"function {MODULE}.bare has no docstring" in warnings


def test_a_coroutine_that_hides_what_it_raises_is_a_warning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warnings = build(tmp_path, '''"""A module."""

__all__ = ["fetch"]


async def fetch() -> int:
    """Fetch a number."""
    return 1
''', monkeypatch)
    assert f"coroutine {MODULE}.fetch says nothing of what it raises" in warnings


def test_a_public_name_missing_from_the_reference_is_a_warning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = '''"""A module."""

__all__ = ["shown", "forgotten"]


def shown() -> None:
    """Shown."""


def forgotten() -> None:
    """Forgotten by the reference page."""
'''
    warnings = build(tmp_path, source, monkeypatch, page=f".. autofunction:: {MODULE}.shown\n")
    assert f"public name {MODULE}.forgotten has no entry in the API reference" in warnings
    assert f"{MODULE}.shown has no entry" not in warnings


def test_the_site_checks_the_package_client_simulator_and_plugin() -> None:
    monkeypatch = pytest.MonkeyPatch()
    with monkeypatch.context() as patch:
        patch.syspath_prepend(str(ROOT / "docs" / "_ext"))
        reference_check = importlib.import_module("reference_check")
    names = reference_check.public_names()
    assert {"kana_async.KanaClient", "kana_async.PulseClient", "kana_async.sim.Simulator",
            "kana_async.testing.kana_sim"} <= set(names)


def test_type_in_a_hint_is_the_builtin_not_any_field_named_type(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = '''"""A module."""

__all__ = ["Buy", "Sell", "make"]


class Buy:
    """A buy."""

    #: Its kind.
    type: str = "buy"


class Sell:
    """A sell."""

    #: Its kind.
    type: str = "sell"


def make(kind: type[Buy]) -> Buy:
    """Make one."""
    return kind()
'''
    warnings = build(tmp_path, source, monkeypatch)
    assert "more than one target found" not in warnings, warnings
    page = (tmp_path / "out" / "index.html").read_text()
    assert f'title="{MODULE}.Buy.type"' not in page  # the hint links to no field


def test_a_default_factory_leaves_the_signature_parseable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = '''"""A module."""

from dataclasses import dataclass, field

__all__ = ["Options"]


@dataclass
class Options:
    """Options."""

    #: Limits by name.
    limits: dict[str, int] = field(default_factory=dict)
'''
    build(tmp_path, source, monkeypatch)
    page = (tmp_path / "out" / "index.html").read_text()
    assert "factory" not in page
    assert "limits" in page
