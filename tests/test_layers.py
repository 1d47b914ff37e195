"""The package's layers: no import cycle between ticker's parts.

A part is a subpackage (`ticker.desk`, `ticker.store`, ...) or a top-level module
(`ticker.app`, `ticker.model`, ...). Every import counts, wherever it is written (in a
function, or for type checking only): a cycle between parts means neither can be read,
tested or replaced without the other, however Python manages to load them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "ticker"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _part(module: str) -> str:
    """`ticker.desk.pages` -> `desk`, `ticker.app` -> `app`; `ticker` itself -> `ticker`."""
    names = module.split(".")
    return names[1] if len(names) > 1 else names[0]


def _imported(tree: ast.AST, module: str, is_package: bool, root: Path) -> Iterator[str]:
    """Every ticker module `tree` imports, relative imports resolved."""
    here = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here[: len(here) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            yield base
            for alias in node.names:  # `from ticker import metrics`: a module, not a name
                sub = root.parent.joinpath(*base.split("."), alias.name)
                if sub.with_suffix(".py").is_file() or sub.is_dir():
                    yield f"{base}.{alias.name}"


def import_graph(root: Path = PACKAGE) -> dict[str, dict[str, set[str]]]:
    """part -> {part it imports -> the modules whose imports make that edge}."""
    graph: dict[str, dict[str, set[str]]] = {}
    for path in sorted(root.rglob("*.py")):
        module = _module_name(path, root)
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        source = _part(module)
        graph.setdefault(source, {})
        for target in _imported(tree, module, path.name == "__init__.py", root):
            if target.split(".")[0] != root.name:
                continue
            part = _part(target)
            if part not in (source, root.name):
                graph[source].setdefault(part, set()).add(module)
    return graph


def cycles(graph: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    """The strongly connected components of more than one part (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_part_of_ticker_imports_a_part_that_imports_it_back() -> None:
    graph = import_graph()
    assert "desk" in graph and "routes" in graph and "store" in graph  # the walk saw them
    found = cycles(graph)
    explained = [
        " <-> ".join(
            f"{a} -> {b} ({', '.join(sorted(graph[a][b]))})"
            for a in component
            for b in component
            if b in graph.get(a, {})
        )
        for component in found
    ]
    assert not found, "import cycles between ticker's parts:\n" + "\n".join(explained)


def test_the_cycle_finder_finds_a_cycle(tmp_path: Path) -> None:
    """The check above can fail: a package whose parts import each other is caught,
    through a relative import, a function-level import and `from ticker import x`."""
    root = tmp_path / "ticker"
    (root / "desk").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "desk" / "__init__.py").write_text("")
    (root / "desk" / "pages.py").write_text("from ..auth import check\n")
    (root / "auth.py").write_text("def check():\n    from ticker.desk import pages\n")
    (root / "model.py").write_text("from ticker import auth\n")
    graph = import_graph(root)
    assert graph["desk"] == {"auth": {"ticker.desk.pages"}}
    assert graph["model"] == {"auth": {"ticker.model"}}
    assert cycles(graph) == [["auth", "desk"]]
