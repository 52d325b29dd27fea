"""Deprecated import path, kept for one release: recording moved to
:mod:`kana_async.stream.recording` (it sits at the stream's connector seam). Import from there;
this module only re-exports its public names and will be removed in the next release."""

from .stream.recording import *  # noqa: F403  (every public name of the new home)
from .stream.recording import __all__ as __all__
