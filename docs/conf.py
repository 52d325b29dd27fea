"""Sphinx settings for the kana_async site: Markdown pages (MyST), furo, autodoc.

Build it with ``python -m sphinx -W docs docs/_build/html`` (``pip install -e '.[docs]'``);
CI builds it the same way, so a warning (a broken link, a public name with no docstring or no
reference entry) fails the build.
"""

from __future__ import annotations

import sys
from pathlib import Path

import kana_async

DOCS = Path(__file__).parent
sys.path.insert(0, str(DOCS / "_ext"))

project = "kana_async"
author = "kana_async contributors"
copyright = "kana_async contributors"
release = kana_async.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "sphinxarg.ext",
    "reference_check",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_inventories", "_ext", "README.md"]
# Docstrings use ``double backticks``; a single-backtick name is code too, never italics.
default_role = "code"

# Quotes may curl, but "--local-port" keeps its two hyphens: options must stay copyable.
smartquotes_action = "qe"

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# The reference: every public name, with the signature the code really has.
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_class_signature = "mixed"
autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": True}

# Link to the standard library, aiohttp and msgspec offline: their inventories are in
# _inventories/ (the build machine has no network), the links point at the published docs.
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", str(DOCS / "_inventories" / "python.inv")),
    "aiohttp": ("https://docs.aiohttp.org/en/stable", str(DOCS / "_inventories" / "aiohttp.inv")),
    "msgspec": ("https://jcristharif.com/msgspec", str(DOCS / "_inventories" / "msgspec.inv")),
}

# A reference that resolves nowhere is a warning, so an error under -W. Names a signature shows
# but the reference does not document (type variables, the SDK's internal classes) are listed
# here on purpose, each with why.
nitpicky = True
nitpick_ignore_regex = [
    # Type variables of generic classes and helpers.
    ("py:(class|obj)", r"kana_async\..*\.[A-Z]"),
    # What IndexerServer reads of an engine (a Protocol): users pass it a sim Engine, which
    # has its entry.
    ("py:class", r"kana_async\.sim\.indexer\.IndexerEngine"),
    # The Kana engine's mutable state values a Change carries (Change.value): a listener reads
    # their wire form, Change.record; the engine alone holds and changes them.
    ("py:class", r"kana_async\.sim\.state\.(OrderSnapshot|Fill)"),
    # The Pulse engine's balance journal (PulseEngine.ledger), changed only inside the
    # engine's transactions; accounts are read through the engine's queries.
    ("py:class", r"kana_async\.sim\.pulse\.accounts\.Ledger"),
    # The base class of every wire model: immutable, keyword-only, unknown fields ignored
    # (each model's own entry says so); users hold the models, never the base.
    ("py:class", r"kana_async\.models\.common\.WireStruct"),
    # Trader's collaborators, built by KanaClient: the REST client seen as a payload source,
    # the Aptos node client and the submitter (sequence numbers, in-doubt tracking). Users
    # call the trading methods and never hold these.
    ("py:class", r"kana_async\.trade\.(trader\.PayloadSource|node\.NodeClient"
                 r"|submitter\.Submitter)"),
    # The HTTP seam under RestSession(transport=...): tests pass a MockTransport; a bot never
    # handles one.
    ("py:class", r"kana_async\._http\.(Transport|MockTransport)"),
    # The market-name directory KanaClient shares between its REST client and its stream
    # (StreamMux(markets=...)); users pass names or ids, never the directory.
    ("py:class", r"kana_async\.markets\.MarketDirectory"),
    # The private pieces a draft of kana_async.orders holds (a parsed number, a placement):
    # parse_* makes them, draft.on(market) consumes them; users never touch one.
    ("py:class", r"kana_async\.orders\._\w+"),
    # A topic's routing entry, which Subscription's constructor takes: only StreamMux
    # constructs subscriptions.
    ("py:class", r"kana_async\.stream\.topics\.TopicSpec"),
    # aptos_sdk's key and transaction types (Signer.public_key, Signer.sign): aptos_sdk
    # publishes no Sphinx inventory to link to.
    ("py:class", r"aptos_sdk\..*"),
]

html_theme = "furo"
html_title = f"kana_async {release}"
html_static_path: list[str] = []
