"""The layering rules, read from the source (docs/design.md draws them): the wire protocol
(``aptos``) and the models depend on no client layer; REST, the stream and trading do not import
one another's packages nor the CLI or the simulator; the simulator never leans on the trading
client."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import kana_async

PACKAGE = Path(kana_async.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports (relative imports made absolute), ``TYPE_CHECKING``
    blocks and function bodies included."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    package = parts[:-1]  # a module's package; for __init__.py, the package itself
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                prefix = ".".join(base)
                module = f"{prefix}.{node.module}" if node.module else prefix
                found.add(module)
                if not node.module:  # from . import x: x may be a module
                    found.update(f"{prefix}.{alias.name}" for alias in node.names)
            elif node.module:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def offenders(layer: str, forbidden: tuple[str, ...]) -> list[str]:
    out = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for module in sorted(imported_modules(path)):
            if module.startswith(forbidden):
                out.append(f"{path.relative_to(PACKAGE.parent)} imports {module}")
    return out


def test_the_walker_resolves_relative_imports(tmp_path: Path) -> None:
    imports = imported_modules(PACKAGE / "sim" / "aptos_node.py")
    assert "kana_async.aptos.transactions" in imports
    assert "kana_async.sim.engine" in imports
    assert "kana_async.sim.contract" in imports  # from . import contract


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("sim", ("kana_async.trade",)),
        ("aptos", ("kana_async.trade", "kana_async.sim", "kana_async.rest", "kana_async.stream")),
        ("models", ("kana_async.trade", "kana_async.sim", "kana_async.rest", "kana_async.stream",
                    "kana_async.cli")),
        ("rest", ("kana_async.trade", "kana_async.stream", "kana_async.sim", "kana_async.cli")),
        ("stream", ("kana_async.trade", "kana_async.rest", "kana_async.sim", "kana_async.cli",
                    "kana_async.pulse")),
        ("trade", ("kana_async.rest", "kana_async.stream", "kana_async.sim", "kana_async.cli")),
        ("pulse", ("kana_async.trade", "kana_async.rest", "kana_async.sim", "kana_async.cli")),
    ],
)
def test_layer_does_not_import(layer: str, forbidden: tuple[str, ...]) -> None:
    assert (PACKAGE / layer).is_dir()
    found = offenders(layer, tuple(f + s for f in forbidden for s in (".", "")))
    assert found == [], "\n".join(found)


def test_the_old_import_paths_still_work() -> None:
    from kana_async import aptos, trade
    from kana_async.trade import abi, node, submitter

    assert trade.transaction_hash is submitter.transaction_hash is aptos.transaction_hash
    assert trade.VmStatus is node.VmStatus is aptos.VmStatus
    assert node.node_error is aptos.node_error
    assert node.NODE_ERROR_CODES is aptos.NODE_ERROR_CODES
    assert node.BCS_SIGNED_TRANSACTION == aptos.BCS_SIGNED_TRANSACTION
    for name in abi.__all__:
        assert getattr(abi, name) is getattr(aptos.abi, name), name
    for name in ("AbiCache", "FunctionAbi", "ModuleAbi", "parse_move_type"):
        assert getattr(trade, name) is getattr(aptos, name), name
    assert kana_async.TransactionRejectedError is node.TransactionRejectedError


def test_metrics_reads_streams_and_results_without_importing_clients() -> None:
    """``kana_async.metrics`` is fed values (stats, hooks, results) by whoever uses it: it may
    lean on the stream's types and the errors, never on trading, REST, the bus, the CLI or the
    simulator (the bus and the CLI import it, not the other way round)."""
    forbidden = ("kana_async.trade", "kana_async.rest", "kana_async.bus", "kana_async.cli",
                 "kana_async.sim", "kana_async.pulse", "kana_async.client")
    found = sorted(module for module in imported_modules(PACKAGE / "metrics.py")
                   if module.startswith(forbidden))
    assert found == []


def test_the_bus_leans_on_the_layers_below_and_only_the_client_and_cli_import_it() -> None:
    """``kana_async.bus`` (bridge, bus-backed stream, signer and its strategy side) builds on
    stream/, trade/, models, errors and metrics; never on the CLI, the simulator or the client
    facade. Nothing but ``client.py`` and ``cli/`` imports it (``nats`` is optional)."""
    found = offenders("bus", tuple(f"kana_async.{name}{s}" for name in ("cli", "sim", "client")
                                   for s in (".", "")))
    assert found == [], "\n".join(found)
    importers = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in ("bus", "cli") or relative.name == "client.py":
            continue
        if any(m == "kana_async.bus" or m.startswith("kana_async.bus.")
               for m in imported_modules(path)):
            importers.append(str(relative))
    assert importers == []
