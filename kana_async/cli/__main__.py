"""``python -m kana_async.cli``: the same as ``kana-async``."""

from __future__ import annotations

import sys

from .app import main

if __name__ == "__main__":
    sys.exit(main())
