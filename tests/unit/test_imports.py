"""The modules of ``extproc`` import each other as a tree: no module, through any chain of
imports, imports itself.

Every import counts: at the top of a module, inside a function, and under ``TYPE_CHECKING``
(a type that needs a module above it is a type that lives on the wrong floor). Edges are read
with ``ast``, never by importing, so a loop that happens to work at run time still fails here.
``from package import name`` is an edge to ``package.name`` when that is a module, else to the
package's ``__init__``; importing a submodule is not counted as importing its parent package
(Python runs the parent's ``__init__`` first, but that is how packages work, not a loop).
"""

from __future__ import annotations

import ast
from pathlib import Path

import extproc

PACKAGE = Path(extproc.__file__).parent


def _modules(package: Path) -> dict[str, tuple[Path, bool]]:
    """Every module of the package by dotted name, with its file and whether it is a package."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        found[".".join(parts)] = (path, is_package)
    return found


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom, known: set[str]) -> set[str]:
    """The modules of the package that one import statement imports."""
    root = PACKAGE.name
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name.split(".")[0] == root}
    if node.level:
        here = module.split(".") if is_package else module.split(".")[:-1]
        base = here[:len(here) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target.split(".")[0] != root:
        return set()
    return {f"{target}.{alias.name}" if f"{target}.{alias.name}" in known else target for alias in node.names}


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Each module of the package and the modules of the package it imports anywhere in its text."""
    modules = _modules(package)
    known = set(modules)
    graph = {}
    for name, (path, is_package) in modules.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges |= _targets(name, is_package, node, known)
        graph[name] = {target for target in edges if target in known and target != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One import loop per strongly connected group of more than one module (Tarjan), as a path
    that starts and ends at the same module."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        order[node] = low[node] = len(order)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in order:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], order[nxt])
        if low[node] == order[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in order:
            visit(node)
    return [_loop(graph, group) for group in groups]


def _loop(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest path from the group's first module back to itself, inside the group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & group):
                if nxt == start:
                    return paths[node] + [start]
                if nxt not in paths:
                    paths[nxt] = paths[node] + [nxt]
                    following.append(nxt)
        frontier = following
    return sorted(group)


class TestImportTree:
    def test_no_module_imports_itself_through_others(self):
        """No chain of imports inside extproc leads from a module back to it."""
        loops = cycles(import_graph())
        assert not loops, "import loops: " + "; ".join(" -> ".join(loop) for loop in loops)

    def test_every_kind_of_import_is_an_edge(self, tmp_path):
        """Imports inside functions, under TYPE_CHECKING and relative ones all make edges."""
        package = tmp_path / "extproc"
        (package / "sub").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "a.py").write_text("def f():\n    from .sub import b\n")
        (package / "sub" / "__init__.py").write_text("")
        (package / "sub" / "b.py").write_text(
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..c import X\n")
        (package / "c.py").write_text("import extproc.a\n")
        graph = import_graph(package)
        assert graph["extproc.a"] == {"extproc.sub.b"}
        assert graph["extproc.sub.b"] == {"extproc.c"}
        assert graph["extproc.c"] == {"extproc.a"}
        assert cycles(graph) == [["extproc.a", "extproc.sub.b", "extproc.c", "extproc.a"]]

    def test_a_tree_has_no_loops(self, tmp_path):
        """A package whose modules only import downwards passes."""
        package = tmp_path / "extproc"
        package.mkdir()
        (package / "__init__.py").write_text("from .a import f\n")
        (package / "a.py").write_text("from . import b\n")
        (package / "b.py").write_text("import os\n")
        assert cycles(import_graph(package)) == []


class TestPackageInits:
    def test_package_inits_only_re_export(self):
        """A package's __init__ holds imports, ``__all__`` (and other dunders) and its docstring: no logic."""
        for path in sorted(PACKAGE.rglob("__init__.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in tree.body:
                allowed = (isinstance(node, (ast.Import, ast.ImportFrom))
                           or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
                           or (isinstance(node, ast.Assign) and all(
                               getattr(target, "id", "").startswith("__") for target in node.targets)))
                assert allowed, f"{path.relative_to(PACKAGE.parent)}:{node.lineno} is not a re-export"
