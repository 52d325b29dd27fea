"""Shared docstring fields join a call's own field list, so help() shows one list."""

from __future__ import annotations

import inspect

from kana_async._docfields import shared_fields, with_fields

SHARED = """
    :raises TransportError: if no answer comes.
    :returns: the answer.
"""


def test_fields_continue_the_field_list_that_ends_the_docstring() -> None:
    @shared_fields(SHARED)
    def call() -> None:
        """Do it.

        :raises ValidationError: if the value is wrong.
        """

    assert inspect.getdoc(call) == (
        "Do it.\n\n:raises ValidationError: if the value is wrong.\n"
        ":raises TransportError: if no answer comes.\n:returns: the answer."
    )


def test_fields_after_plain_text_start_a_new_paragraph() -> None:
    assert with_fields("Do it.", SHARED) == (
        "Do it.\n\n:raises TransportError: if no answer comes.\n:returns: the answer."
    )
    assert with_fields(None, SHARED).startswith(":raises TransportError")
