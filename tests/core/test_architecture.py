"""The structure docs/architecture.md describes, checked on the installed package's source:
no import cycle (lazy imports count, ``TYPE_CHECKING`` imports do not), no library module
importing a front end, no access to another object's private attributes, no module over
400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import provider_core

PACKAGE = Path(provider_core.__file__).resolve().parent
FRONT_ENDS = ("provider_core.cli", "provider_core.gateway")
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(name: str, path: Path) -> set[str]:
    """The provider_core modules ``name`` imports, anywhere but under ``if TYPE_CHECKING``."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()

    def target(module: str) -> None:
        while module and module not in MODULES:
            module = module.rsplit(".", 1)[0] if "." in module else ""
        if module and module != name:
            found.add(module)

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("provider_core"):
                    target(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            if base.startswith("provider_core"):
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    target(full if full in MODULES else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles() -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in GRAPH[node]:
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in GRAPH:
        if node not in index:
            connect(node)
    return found


def test_the_graph_sees_imports() -> None:
    """The control: lazy imports are read (registry imports the breaker plugin in a method)."""
    assert "provider_core.health.plugin" in GRAPH["provider_core.registry"]
    assert "provider_core.registry" in GRAPH["provider_core.defaults"]


def test_no_import_cycle() -> None:
    assert _cycles() == []


def test_no_library_module_imports_a_front_end() -> None:
    library = [m for m in GRAPH if not m.startswith(FRONT_ENDS) and m not in ("provider_core.__main__",)]
    offenders = {m: sorted(t for t in GRAPH[m] if t.startswith(FRONT_ENDS)) for m in library}
    assert {m: t for m, t in offenders.items() if t} == {}


def test_no_access_to_another_objects_private_attributes() -> None:
    found = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            private = isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
            if private and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                found.append(f"{name}:{node.lineno}: {ast.unparse(node)}")
    assert found == []


def test_no_module_over_400_lines() -> None:
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in MODULES.items()}
    assert {name: size for name, size in sizes.items() if size > MAX_LINES} == {}
