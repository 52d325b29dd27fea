"""Write ``msgspec.inv``: the msgspec names these docs link to, for an offline intersphinx.

msgspec publishes no inventory in a package this build can read offline, so the few names
the reference mentions are listed here with their anchors on msgspec's API page. Run it again
after adding a name: ``python docs/_inventories/msgspec_inventory.py``.
"""

from __future__ import annotations

import zlib
from pathlib import Path

NAMES = {
    "msgspec.Struct": "py:class",
    "msgspec.Raw": "py:class",
    "msgspec.Meta": "py:class",
    "msgspec.field": "py:function",
    "msgspec.convert": "py:function",
    "msgspec.defstruct": "py:function",
    "msgspec.NODEFAULT": "py:data",
    "msgspec.DecodeError": "py:exception",
    "msgspec.EncodeError": "py:exception",
    "msgspec.ValidationError": "py:exception",
    "msgspec.MsgspecError": "py:exception",
    "msgspec.json.Decoder": "py:class",
    "msgspec.json.Encoder": "py:class",
    "msgspec.json.decode": "py:function",
    "msgspec.json.encode": "py:function",
    "msgspec.structs.replace": "py:function",
    "msgspec.structs.astuple": "py:function",
    "msgspec.structs.force_setattr": "py:function",
}


def main() -> None:
    header = ("# Sphinx inventory version 2\n# Project: msgspec\n# Version: 0.19\n"
              "# The remainder of this file is compressed using zlib.\n")
    body = "".join(f"{name} {role} 1 api.html#$ -\n" for name, role in sorted(NAMES.items()))
    target = Path(__file__).with_name("msgspec.inv")
    target.write_bytes(header.encode() + zlib.compress(body.encode()))


if __name__ == "__main__":
    main()
