"""The store sits below the features that use it: it imports no feature logic, and no module
of the store, webhooks or artifacts imports, even only for type checking, one that imports it
back."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import orchestrator

ROOT = Path(orchestrator.__file__).parent

# The data classes the store reads and writes; everything else there is logic above it.
STORE_MAY_IMPORT = {"orchestrator.webhooks.models", "orchestrator.artifacts.models"}
ABOVE_THE_STORE = (
    "orchestrator.webhooks",
    "orchestrator.artifacts",
    "orchestrator.engine",
    "orchestrator.api",
    "orchestrator.transitions",
    "orchestrator.operations",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in ROOT.rglob("*.py")}


def _imports(name: str) -> Iterator[str]:
    """Every orchestrator module ``name`` imports, anywhere in it (TYPE_CHECKING included)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name in MODULES)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                if f"{base}.{alias.name}" in MODULES:  # a submodule, not a name in the package
                    yield f"{base}.{alias.name}"
                elif base in MODULES:
                    yield base


GRAPH = {name: set(_imports(name)) for name in MODULES}


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module, or importing themselves."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = [stack.pop()]
            while component[-1] != node:
                component.append(stack.pop())
            if len(component) > 1 or node in GRAPH[node]:
                found.append(sorted(component))

    for name in sorted(GRAPH):
        if name not in index:
            visit(name)
    return found


def test_the_store_imports_no_feature_logic() -> None:
    """Nothing in store/ imports the webhooks', artifacts', engine's or API's logic."""
    wrong = {
        (name, target)
        for name in MODULES
        if name.startswith("orchestrator.store")
        for target in GRAPH[name]
        if target.startswith(ABOVE_THE_STORE) and target not in STORE_MAY_IMPORT
    }
    assert wrong == set()


def test_the_data_the_store_hands_out_imports_nothing_above_it() -> None:
    """The models the store may import import neither the store nor any feature."""
    above = ("orchestrator.store", *ABOVE_THE_STORE)
    assert {(n, t) for n in STORE_MAY_IMPORT for t in GRAPH[n] if t.startswith(above)} == set()


def test_no_import_cycles_through_the_store_webhooks_or_artifacts() -> None:
    watched = ("orchestrator.store", "orchestrator.webhooks", "orchestrator.artifacts")
    assert [c for c in _cycles() if any(m.startswith(watched) for m in c)] == []


def test_the_graph_sees_imports_of_every_kind() -> None:
    """The checks above would pass on an empty graph: this one would not."""
    assert "orchestrator.store.queries" in GRAPH["orchestrator.store.reads"]  # from pkg import mod
    assert "orchestrator.store.postgres" in GRAPH["orchestrator.store"]  # inside a function
    assert "orchestrator.store" in GRAPH["orchestrator.transitions"]  # from pkg import name
