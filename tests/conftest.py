"""Suite-wide settings: asyncio debug mode for every loop, fixtures from the shared spec."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

# Every event loop created from here on runs in debug mode (slow callbacks, unawaited
# coroutines and unclosed resources are reported; warnings are errors, see pyproject).
os.environ["PYTHONASYNCIODEBUG"] = "1"

FIXTURES = Path(__file__).parent / "fixtures" / "kana"


def load_fixture(name: str) -> dict[str, Any]:
    """One fixture file from ``tests/fixtures/kana`` (copied from the API documents)."""
    with (FIXTURES / name).open() as f:
        data: dict[str, Any] = json.load(f)
    return data


@pytest.fixture
def fixture_bodies() -> Any:
    def bodies(name: str) -> list[Any]:
        return [example["body"] for example in load_fixture(name)["examples"]]

    return bodies
