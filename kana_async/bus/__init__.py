"""Scale-out over NATS: one exchange connection feeding many processes.

``nats`` (the ``bus`` extra) is imported only when a ``nats://`` URL is used, so a base install
works unchanged. :mod:`.subjects` is the wire protocol shared by every side.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MISSING_EXTRA", "import_nats"]

MISSING_EXTRA = "NATS support needs the bus extra: pip install 'kana-async[bus]'"


def import_nats() -> Any:
    """The ``nats`` package, or an ImportError saying which extra to install."""
    try:
        import nats
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError(MISSING_EXTRA) from error
    return nats
