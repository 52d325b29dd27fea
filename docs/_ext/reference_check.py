"""Sphinx extension: a public name with no docstring, or with no reference entry, is a warning.

The site is built with ``-W``, so either one fails the build. "Public" is what users import:
every name in ``kana_async.__all__``, ``kana_async.sim.__all__`` and the pytest plugin's
``kana_async.testing.__all__``, and every public member autodoc documents under them.
"""

from __future__ import annotations

import builtins
import importlib
import inspect
from typing import Any

from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.ext import intersphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

#: The modules whose ``__all__`` is the public surface, each name documented as ``module.name``
#: (the ``reference_public_modules`` setting of conf.py).
PUBLIC_MODULES = ("kana_async", "kana_async.sim", "kana_async.testing")

#: Kinds of object that must carry their own docstring (fields of data classes are described
#: by their class).
NEEDS_DOCSTRING = {"module", "class", "exception", "function", "method", "property"}


def public_names(modules: tuple[str, ...] = PUBLIC_MODULES) -> list[str]:
    """Every ``module.name`` the reference must have an entry for."""
    names = []
    for module_name in modules:
        module = importlib.import_module(module_name)
        names += [f"{module_name}.{name}" for name in module.__all__]
    return names


def require_docstring(app: Sphinx, what: str, name: str, obj: Any, options: Any,
                      lines: list[str]) -> None:
    """Warn when autodoc documents a public object that has no docstring."""
    if what not in NEEDS_DOCSTRING or name.rsplit(".", 1)[-1].startswith("_"):
        return
    if not any(line.strip() for line in lines):
        logger.warning("%s %s has no docstring: say what it does, what it raises and why",
                       what, name, type="kana", subtype="docstring")
    elif is_coroutine(obj) and not any(line.lstrip().startswith(":raises") for line in lines):
        logger.warning("coroutine %s says nothing of what it raises: add ':raises Error: why'",
                       name, type="kana", subtype="raises")


def is_coroutine(obj: Any) -> bool:
    """An ``async def`` (or a wrapper of one): a call that waits on the network can fail."""
    return inspect.iscoroutinefunction(inspect.unwrap(obj)) or inspect.iscoroutinefunction(obj)


def require_reference_entries(app: Sphinx, env: Any) -> None:
    """Warn for each public name that no page of the reference documents."""
    objects = env.get_domain("py").objects
    for name in public_names(tuple(app.config.reference_public_modules)):
        if name not in objects:
            logger.warning("public name %s has no entry in the API reference", name,
                           type="kana", subtype="reference")


#: Where a library's classes live (what a type hint names) against where its docs list them.
CANONICAL_ELSEWHERE = {
    "aiohttp.client.": "aiohttp.",
    "aiohttp.web_app.": "aiohttp.web.",
    "aiohttp.web_request.": "aiohttp.web.",
    "aiohttp.web_response.": "aiohttp.web.",
}


def resolve_by_public_path(app: Sphinx, env: Any, node: Any, contnode: Any) -> Any:
    """Resolve ``aiohttp.client.ClientSession`` (a type hint) as ``aiohttp.ClientSession``."""
    target = node.get("reftarget", "")
    for private, public in CANONICAL_ELSEWHERE.items():
        if target.startswith(private):
            node["reftarget"] = public + target[len(private):]
            found = intersphinx.missing_reference(app, env, node, contnode)
            node["reftarget"] = target
            return found
    return None


#: Builtin classes a type hint names (``type[T]``, ``object``): never a member of ours.
BUILTIN_CLASSES = frozenset(
    name for name, value in vars(builtins).items() if isinstance(value, type))


def builtins_exactly(app: Sphinx, doctree: Any) -> None:
    """Resolve ``type`` in a type hint as the builtin, not as any ``*.type`` attribute.

    Sphinx looks the names of a signature's annotations up "fuzzily" (any object whose name
    ends in ``.type``), so ``type[T]`` would link to a model's ``type`` field, or be ambiguous
    between several. A builtin's name is looked up exactly instead: nothing of ours matches and
    the Python inventory resolves it.
    """
    for ref in doctree.findall(addnodes.pending_xref):
        if (ref.get("refdomain") == "py" and ref.get("reftarget") in BUILTIN_CLASSES
                and "refspecific" in ref.attributes):
            del ref["refspecific"]


def parseable_defaults(app: Sphinx, what: str, name: str, obj: Any, options: Any,
                       signature: str | None, return_annotation: str | None,
                       ) -> tuple[str | None, str | None] | None:
    """Show a default made by a factory as ``...``, not as ``<factory>``.

    A dataclass or msgspec field with ``default_factory`` shows as ``<factory>``, which is not
    Python: Sphinx then cannot parse the signature and splits it at every comma, so
    ``dict[str, Any]`` would become a broken target ``dict[str``.
    """
    if signature is None or "<factory>" not in signature:
        return None
    return signature.replace("<factory>", "..."), return_annotation


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("doctree-read", builtins_exactly)
    app.connect("autodoc-process-signature", parseable_defaults)
    app.add_config_value("reference_public_modules", PUBLIC_MODULES, "env")
    app.connect("missing-reference", resolve_by_public_path)
    app.connect("autodoc-process-docstring", require_docstring)
    app.connect("env-check-consistency", require_reference_entries)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
