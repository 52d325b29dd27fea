"""The import paths that moved keep working for a release: ``kana_async.demo``,
``kana_async.views`` and ``kana_async.recording`` re-export the public names of their new homes
(the same objects), say so in their docstrings, and ``python -m kana_async.demo`` still runs the
demo command."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

MOVED = [
    ("kana_async.demo", "kana_async.cli.demo"),
    ("kana_async.views", "kana_async.cli.views"),
    ("kana_async.recording", "kana_async.stream.recording"),
    ("kana_async.rest.markets", "kana_async.markets"),
]


@pytest.mark.parametrize(("old", "new"), MOVED)
def test_the_old_path_re_exports_the_new_one(old: str, new: str) -> None:
    old_module, new_module = importlib.import_module(old), importlib.import_module(new)
    assert old_module.__all__, old
    for name in old_module.__all__:
        assert getattr(old_module, name) is getattr(new_module, name), name
    assert set(old_module.__all__) <= set(new_module.__all__)
    doc = " ".join((old_module.__doc__ or "").split())
    assert "Deprecated import path, kept for one release" in doc
    assert new in doc


def test_the_names_the_demo_published_are_all_still_there() -> None:
    demo = importlib.import_module("kana_async.demo")
    published = {"DEFAULT_DURATION", "TOPICS", "Demo", "DemoOptions", "DemoReport", "TxRecord",
                 "configure", "decimals", "deposit_for", "main", "options_from_args",
                 "percentile", "run", "run_demo", "short_status", "to_tick"}
    assert published <= set(demo.__all__)


def test_python_m_kana_async_demo_is_the_demo_command() -> None:
    proc = subprocess.run([sys.executable, "-m", "kana_async.demo", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: kana-async demo")
    assert "--duration SECONDS" in proc.stdout
