"""No import cycles anywhere in reelay, counting imports made only for type checking or inside
functions. (The layers themselves are import-linter's contracts in pyproject.toml, which
scripts/check.sh runs; these tests cover what its layers cannot see: cycles inside one layer.)"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import orchestrator
import receiver

ROOTS = [Path(orchestrator.__file__).parent, Path(receiver.__file__).parent]


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOTS[0].parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for root in ROOTS for p in root.rglob("*.py")}


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


def test_no_import_cycles() -> None:
    assert _cycles() == []


def test_the_graph_sees_imports_of_every_kind() -> None:
    """The checks above would pass on an empty graph: this one would not."""
    assert "orchestrator.store.queries" in GRAPH["orchestrator.store.reads"]  # from pkg import mod
    assert "orchestrator.store.postgres" in GRAPH["orchestrator.store"]  # inside a function
    assert "orchestrator.store" in GRAPH["orchestrator.transitions"]  # from pkg import name
