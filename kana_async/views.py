"""Deprecated import path, kept for one release: the terminal views moved to
:mod:`kana_async.cli.views` (terminal rendering belongs to the command line). Import from there;
this module only re-exports its public names and will be removed in the next release."""

from .cli.views import *  # noqa: F403  (every public name of the new home)
from .cli.views import __all__ as __all__
