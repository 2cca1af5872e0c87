"""The layers of docs/architecture.md, checked: no import circle, the kernel imports no feature.

The graph is read from the source (every module's imports, by AST), not from a running
interpreter, so an import inside a function counts like one at the top: a circle held
together by a deferred import is still a circle. Imports under `if TYPE_CHECKING:` are left
out; they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "kldialog"
# Circles among packages being reworked right now (issue 16); each is cut by that work. The
# test fails when a listed circle is gone, so the list can only shrink.
KNOWN_CIRCLES: set[frozenset[str]] = set()


def module_name(path: Path) -> str:
    """Return the dotted name of a source file of the package."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    """Return every module of the package by name."""
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(node: ast.AST, name: str, is_package: bool, known: set[str]) -> set[str]:
    """Return the package modules an import statement loads."""
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            base = name.split(".") if is_package else name.split(".")[:-1]
            base = base[: len(base) - node.level + 1]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        # `from package import module` is an edge to the module; `from module import name`
        # (a function, a class) one to the module that defines it.
        targets = [
            f"{prefix}.{alias.name}" if f"{prefix}.{alias.name}" in known else prefix
            for alias in node.names
        ]
    else:
        return set()
    return {target for target in targets if target in known}


def import_graph() -> dict[str, set[str]]:
    """Return {module: modules of the package it imports}."""
    known = modules()
    names = set(known)
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        skipped = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and _is_type_checking(node)
            for child in node.body
            for inner in ast.walk(child)
        }
        edges: set[str] = set()
        for node in ast.walk(tree):
            if id(node) not in skipped:
                edges |= _imported(node, name, path.name == "__init__.py", names)
        edges.discard(name)
        graph[name] = edges
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_deferred_and_relative_imports() -> None:
    graph = import_graph()
    # A deferred import inside a function (projects.threads opens a comment thread).
    assert "kldialog.comments.services" in graph["kldialog.projects.threads"]
    # `from kldialog.projects import reading` is an edge to the module, not only the package.
    assert "kldialog.projects.reading" in graph["kldialog.pages.views"]
    assert len(graph) > 90


def test_the_circle_finder_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_kldialog_has_no_import_circle() -> None:
    found = {frozenset(group) for group in circles(import_graph())}
    unexpected = found - KNOWN_CIRCLES
    assert not unexpected, "import circles: " + "; ".join(
        " <-> ".join(sorted(group)) for group in unexpected
    )
    assert not KNOWN_CIRCLES - found, "a known circle is gone: remove it from KNOWN_CIRCLES"


def test_the_kernel_imports_no_feature() -> None:
    graph = import_graph()
    for name, targets in graph.items():
        if name.startswith("kldialog.kernel"):
            outside = {t for t in targets if not t.startswith("kldialog.kernel")}
            assert not outside, f"{name} imports {sorted(outside)}"


def test_no_feature_imports_the_personal_data_layer_above_it() -> None:
    graph = import_graph()
    for name, targets in graph.items():
        if name.startswith("kldialog.personal_data") or name in ("kldialog", "kldialog.cli"):
            continue
        upward = {t for t in targets if t.startswith("kldialog.personal_data")}
        assert not upward, f"{name} imports {sorted(upward)}"


# Empty: the project page gets its discussion, rating and event panels through
# kldialog.projects.panels (features register), not by importing their views.
KNOWN_VIEW_IMPORTS: set[tuple[str, str]] = set()


def _feature(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 2 else None


def test_no_feature_imports_another_features_views() -> None:
    found = {
        (name, target)
        for name, targets in import_graph().items()
        for target in targets
        if _feature(name) is not None
        and target.rsplit(".", 1)[-1] in ("views", "staff_views")
        and _feature(target) != _feature(name)
    }
    assert not found - KNOWN_VIEW_IMPORTS, sorted(found - KNOWN_VIEW_IMPORTS)
    assert not KNOWN_VIEW_IMPORTS - found, "a known view import is gone: remove it from the list"
