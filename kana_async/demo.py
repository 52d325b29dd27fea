"""Deprecated import path, kept for one release: the demo moved to :mod:`kana_async.cli.demo`
(``kana-async demo`` is one of the command line's commands). Import from there; this module
only re-exports its public names, and ``python -m kana_async.demo`` still runs
``kana-async demo``. It will be removed in the next release."""

import sys

from .cli.demo import *  # noqa: F403  (every public name of the new home)
from .cli.demo import __all__ as __all__

if __name__ == "__main__":
    sys.exit(main())  # noqa: F405  (main is the new home's)
