"""Docstring fields that several calls share, written once and appended to each docstring.

``help()`` and the API reference read ``__doc__`` at run time, so every call still shows its
whole ``:raises`` list where a reader lands, while a failure story common to a family of calls
(every REST endpoint, every trading call) has one text to keep true.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TypeVar

__all__ = ["shared_fields", "with_fields"]

F = TypeVar("F", bound=Callable[..., object])


def with_fields(doc: str | None, *fields: str) -> str:
    """``doc`` followed by ``fields`` (reStructuredText field lists), all cleaned of their
    indentation. Fields join the field list that ends ``doc``, so they render as one list."""
    text = inspect.cleandoc(doc or "")
    for block in (inspect.cleandoc(field) for field in fields):
        last_paragraph = text.rsplit("\n\n", 1)[-1]
        joint = "\n" if text and last_paragraph.startswith(":") else "\n\n"
        text = f"{text}{joint}{block}" if text else block
    return text


def shared_fields(*fields: str) -> Callable[[F], F]:
    """Decorator: append ``fields`` to the function's docstring (see :func:`with_fields`)."""

    def document(function: F) -> F:
        function.__doc__ = with_fields(function.__doc__, *fields)
        return function

    return document
