"""The package's layer rule (CONTRIBUTING.md, "Layout"), checked over the import graph.

Every ``import``/``from ... import`` of a ``modelcfg`` module counts, at module level or
inside a function (a lazy import is still a dependency). A subpackage may import its own
modules and those of the layers below it, never one above it; no two modules import
each other, directly or through others.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "modelcfg"
# Lower layers first: each may import only itself and the layers before it.
LAYERS = ["core", "config", "tiny", "train", "evaluation", "audit", "gate", "github", "agent", "scaffold", "demo", "cli"]
RANK = {name: rank for rank, name in enumerate(LAYERS)}


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """The modelcfg modules ``path`` imports (``from modelcfg.x import y`` counts as
    ``modelcfg.x.y`` when that is a module, else ``modelcfg.x``)."""
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "modelcfg"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] == "modelcfg":
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if _is_module(sub) else node.module)
    return found


def _is_module(name: str) -> bool:
    base = PACKAGE.parent.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in RANK) else None


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    out = []
    for module, targets in edges.items():
        mine = layer(module)
        if mine is None:
            continue
        for target in targets:
            theirs = layer(target)
            if theirs is None or theirs == mine:
                continue
            if RANK[theirs] >= RANK[mine]:
                out.append(f"{module} imports {target} ({theirs} is not below {mine})")
    return sorted(out)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in edges:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def test_every_module_belongs_to_a_layer():
    loose = [m for m in graph() if layer(m) is None
             and m not in ("modelcfg", "modelcfg.__main__")]
    assert loose == [], f"modules outside the layers: {loose}"


def test_no_upward_import():
    assert upward_imports(graph()) == []


def test_no_import_cycle():
    assert cycles(graph()) == []


@pytest.mark.parametrize("edges, expected", [
    ({"modelcfg.core.git": {"modelcfg.config.trees"}, "modelcfg.config.trees": set()},
     ["modelcfg.core.git imports modelcfg.config.trees (config is not below core)"]),
    ({"modelcfg.train.run": {"modelcfg.evaluation.harness"},
      "modelcfg.evaluation.harness": set()},
     ["modelcfg.train.run imports modelcfg.evaluation.harness (evaluation is not below "
      "train)"]),
    ({"modelcfg.config.diff": {"modelcfg.config.model", "modelcfg.core.git"},
      "modelcfg.config.model": set(), "modelcfg.core.git": set()}, []),
    ({"modelcfg.gate.run": {"modelcfg.audit.ledger"}, "modelcfg.audit.ledger": set()}, []),
])
def test_the_rule_catches_what_it_should(edges, expected):
    assert upward_imports(edges) == expected


def test_the_cycle_check_catches_a_cycle():
    edges = {"modelcfg.gate.run": {"modelcfg.gate.report"},
             "modelcfg.gate.report": {"modelcfg.gate.run"}, "modelcfg.core.git": set()}
    assert cycles(edges) == [["modelcfg.gate.report", "modelcfg.gate.run"]]


def test_lazy_imports_count(tmp_path):
    source = tmp_path / "lazy.py"
    source.write_text("def f():\n    from modelcfg.gate import verdict\n    return verdict\n")
    assert imports_of(source) == {"modelcfg.gate.verdict"}
