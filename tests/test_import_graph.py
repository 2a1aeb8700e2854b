"""No import circles among the project's own modules.

The graph is read from the source with ``ast``, not by importing it: every ``import``
counts, wherever it is written (inside a function, under ``TYPE_CHECKING``), since a
circle that only a lazy import keeps from failing is still two modules that cannot be
understood, tested or moved apart. ``from a.b import c`` is an edge to the module
``a.b.c`` when there is one, else to ``a.b``; a package's ``__init__`` counts when it is
named, not each time a module below it is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("scoring", "model_packages", "infra", "genai_endpoints")


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    return {
        module_name(path, root): path
        for pkg in PACKAGES
        for path in sorted((root / pkg).rglob("*.py"))
    }


def imported(node: ast.Import | ast.ImportFrom, here: str, is_package: bool) -> list[str]:
    """The modules an import statement names (relative imports resolved)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        anchor = here.split(".") if is_package else here.split(".")[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    modules = project_modules(root)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            named = imported(node, name, path.name == "__init__.py")
            if isinstance(node, ast.ImportFrom):
                submodules = [m for m in named[1:] if m in modules]
                named = submodules or named[:1]
            graph[name].update(m for m in named if m in modules and m != name)
    return graph


def circles(graph: dict[str, set[str]]) -> list[tuple[frozenset[str], list[str]]]:
    """Each strongly connected component of more than one module (Tarjan), with one circle
    through it: the shortest path from its first module back to itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [(frozenset(c), shortest_circle(graph, c)) for c in components]


def shortest_circle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & component):
                if w == start:
                    return [*paths[v], start]
                if w not in paths:
                    paths[w] = [*paths[v], w]
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"{sorted(component)} is not strongly connected")


def test_the_graph_sees_imports_anywhere_and_the_search_finds_circles():
    graph = import_graph()
    assert "scoring.server.warmup" in graph["scoring.server.main"]  # inside a function
    assert "genai_endpoints.commands.options" in graph["genai_endpoints.commands.client"]
    assert len(graph) > 100 and sum(len(v) for v in graph.values()) > 300
    toy = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert circles(toy) == [(frozenset("abc"), ["a", "b", "c", "a"])]


def test_no_import_circles():
    unknown = [
        f"{' -> '.join(circle)} (all of {sorted(members)})"
        for members, circle in circles(import_graph())
    ]
    assert not unknown, "import circles:\n" + "\n".join(unknown)
