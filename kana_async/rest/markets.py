"""Deprecated import path, kept for one release: market names are resolved by
:mod:`kana_async.markets`, which the REST client and the stream share. Import from there."""

from ..markets import *  # noqa: F403  (every public name of the new home)
from ..markets import __all__ as __all__
