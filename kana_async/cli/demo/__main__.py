"""``python -m kana_async.cli.demo``: the same as ``kana-async demo``."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
