"""``python -m kana_async.sim``: the same as ``kana-async sim`` (same options)."""

from __future__ import annotations

import sys

from ..cli import main

if __name__ == "__main__":
    sys.exit(main(["sim", *sys.argv[1:]]))
