"""The package's modules import each other without cycles, and never another module's private names.

The graph holds every import of a ``pytest_stability`` module, at module level and inside functions (an import
inside a function only postpones a cycle to the first call), with relative imports resolved. Importing a
submodule of another package runs that package's ``__init__`` first, so ``from .operators.base import x`` is an
edge to ``operators.base`` and to ``operators``. A name with a leading underscore is private to its module: no other
module of the package imports it or reads it from an imported module (``from .search import _x``, ``masks._y``).
"""

from __future__ import annotations

import ast
import functools
import importlib
from itertools import pairwise
from pathlib import Path

import pytest

import pytest_stability

ROOT = Path(pytest_stability.__file__).parent
PACKAGE = "pytest_stability"


def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (source file, is a package)."""
    modules = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = (PACKAGE, *path.relative_to(ROOT).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _targets(node: ast.Import | ast.ImportFrom, name: str, is_package: bool, modules: dict) -> list[str]:
    """The package modules that ``node``, in module ``name``, imports by name."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in modules]
    if node.level:
        parts = name.split(".") if is_package else name.split(".")[:-1]
        parts = parts[:len(parts) - node.level + 1]
        base = ".".join([*parts, *([node.module] if node.module else [])])
    else:
        base = node.module or ""
    found = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
    return [t for t in found if t in modules]


@functools.cache
def import_graph() -> dict[str, dict[str, int]]:
    """module -> {imported module: line of the first such import}, self-imports left out."""
    modules = _modules()
    graph: dict[str, dict[str, int]] = {}
    for name, (path, is_package) in modules.items():
        edges = graph.setdefault(name, {})
        own = set(_ancestors(name))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for target in _targets(node, name, is_package, modules):
                # the packages on the way to the target run their __init__ first, unless they enclose this module
                for imported in [*(a for a in _ancestors(target) if a not in own and a in modules), target]:
                    if imported != name:
                        edges[imported] = min(edges.get(imported, node.lineno), node.lineno)
    return graph


def find_cycle(graph: dict[str, dict[str, int]]) -> list[str] | None:
    """One cycle of ``graph`` as [a, b, ..., a], or None (an iterative depth-first search)."""
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path, on_path = [start], {start}
        stack = [iter(sorted(graph[start]))]
        while stack:
            following = next(stack[-1], None)
            if following is None:
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
                stack.pop()
                continue
            if following in on_path:
                return [*path[path.index(following):], following]
            if following not in done:
                path.append(following)
                on_path.add(following)
                stack.append(iter(sorted(graph[following])))
    return None


def test_the_graph_holds_every_kind_of_import():
    graph = import_graph()
    assert "pytest_stability.families" in graph["pytest_stability.plugin.fixtures"]  # inside a fixture's body
    assert "pytest_stability.operators.adapters" in graph["pytest_stability.operators.deepinv"]  # from .adapters
    assert "pytest_stability.masks" in graph["pytest_stability.strategies.masks"]  # from .. import masks
    assert "pytest_stability.operators" in graph["pytest_stability.loaders"]  # the package of .operators.base
    assert find_cycle({"a": {"b": 1}, "b": {"c": 2}, "c": {"b": 3}}) == ["b", "c", "b"]


def test_the_modules_import_each_other_without_cycles():
    graph = import_graph()
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(
        f"{a} (line {graph[a][b]})" for a, b in pairwise(cycle)) + f" -> {cycle[-1]}"


def private_uses(path: Path, name: str, is_package: bool, modules: dict) -> list[str]:
    """'line: what' for each private name of another package module that the source of ``name`` imports or reads."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found, module_names = [], set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if not _targets(node, name, is_package, modules):
                continue
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                if isinstance(node, ast.Import) or any(t.endswith("." + alias.name) for t in
                                                       _targets(node, name, is_package, modules)):
                    module_names.add(bound)
                elif _private(alias.name):
                    found.append(f"{node.lineno}: imports {alias.name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in module_names \
                and _private(node.attr):
            found.append(f"{node.lineno}: reads {node.value.id}.{node.attr}")
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_module_uses_another_modules_private_names():
    modules = _modules()
    found = [f"{path.relative_to(ROOT.parent)}:{use}" for name, (path, is_package) in modules.items()
             for use in private_uses(path, name, is_package, modules)]
    assert not found, "private names used across modules (make them public in a module of their own):\n" + \
        "\n".join(found)


def test_the_private_name_rule_sees_both_kinds_of_use(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("from .search import PerturbationMap, _hidden\nfrom . import masks as m\nm._check(1)\n")
    uses = private_uses(source, "pytest_stability.m", False, _modules())
    assert uses == ["1: imports _hidden", "3: reads m._check"]


@pytest.mark.parametrize("tool", ["findings", "curves", "headline", "zoo"])
def test_the_zoo_tools_import_against_the_current_package(tool):
    """conftest_examples' scripts import plugin modules by path; a move inside the package must not break them."""
    importlib.import_module(f"conftest_examples.{tool}")
