"""The house's shape: no import circle anywhere in the tree, and one-way dependencies between the parts.

Every ``import``/``from ... import`` of a project module, at any depth of the file (lazy imports
inside functions included), is an edge; the test fails on any cycle and names it.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("den_engine", "dashboard")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def import_graph() -> nx.DiGraph:
    """Project module -> project module it imports (``from pkg import sub`` resolves to the submodule)."""
    modules = _modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                           for a in node.names]  # fmt: skip
            for target in targets:
                if target in modules and target != name:
                    graph.add_edge(name, target)
    return graph


def test_no_import_circle_in_the_tree():
    cycles = list(nx.simple_cycles(import_graph()))
    assert not cycles, "import circles: " + "; ".join(" -> ".join([*c, c[0]]) for c in cycles)


def test_the_engine_never_imports_the_dashboard():
    graph = import_graph()
    wrong = [(a, b) for a, b in graph.edges if a.startswith("den_engine") and b.startswith("dashboard")]
    assert not wrong


def test_the_checker_sees_a_circle(tmp_path, monkeypatch):
    """The checker itself: two modules importing each other (one lazily) form a reported circle."""
    pkg = tmp_path / "den_engine"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from den_engine import b\n")
    (pkg / "b.py").write_text("def f():\n    from den_engine.a import x\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGES", ("den_engine",))
    assert list(nx.simple_cycles(import_graph())) in (
        [["den_engine.a", "den_engine.b"]],
        [["den_engine.b", "den_engine.a"]],
    )
