"""The code's layout: which module may import which (docs/ARCHITECTURE.md, "Layout").

The import graph is read with ast from the source (imports inside functions count: a lazy import
is still a dependency), so a new arrow shows up here before it shows up as an import error.

Run as a script to print the graph's figures: ``python tests/test_layout.py [ROOT]``.
"""

from __future__ import annotations

import ast
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("engine", "ui", "views")


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the project by dotted name (``engine.store.warehouse``; ``app`` for app.py)."""
    found = {"app": root / "app.py"} if (root / "app.py").exists() else {}
    for package in PACKAGES:
        for file in sorted((root / package).rglob("*.py")):
            parts = file.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = file
    return found


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the project modules it imports (``from engine.store import warehouse`` is an arrow
    to engine.store.warehouse, not to the package)."""
    known = modules(root)
    graph: dict[str, set[str]] = {}
    for name, file in known.items():
        package = name if file.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"), filename=str(file))):
            if isinstance(node, ast.Import):
                targets.update(_resolve(alias.name, known) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.add(full if full in known else _resolve(base, known))
        graph[name] = {t for t in targets if t and t != name and not name.startswith(t + ".")}
    return graph


def folder(module: str) -> str:
    """The folder a module lives in (``engine.behaviour`` for engine.behaviour.metrics)."""
    return module if module in ("app",) else module.rpartition(".")[0] or module


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles (strongly connected components of more than one module)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def figures(root: Path = ROOT) -> dict[str, int]:
    graph = imports(root)
    engine = {m: {t for t in ts if t.startswith("engine")} for m, ts in graph.items() if m.startswith("engine")}
    arrows = [(m, t) for m, ts in engine.items() for t in ts]
    across = [(m, t) for m, t in arrows if folder(m) != folder(t)]
    return {
        "engine modules": len(engine),
        "largest folder (modules side by side)": max(Counter(folder(m) for m in engine).values()),
        "arrows between engine modules": len(arrows),
        "arrows that cross a folder": len(across),
        "folder-to-folder arrows (distinct pairs)": len({(folder(m), folder(t)) for m, t in across}),
        "import circles": len(cycles(graph)),
    }


# --- the rules -----------------------------------------------------------------------------------------


def test_the_graph_reader_sees_lazy_and_package_imports():
    graph = imports()
    assert "engine.store.warehouse" in graph["engine.behaviour.metrics"]
    # a function-level import counts (the ui reaches the engine's analyses lazily)
    assert "engine.behaviour.funnels" in graph["ui.data"]
    # and the detector finds a circle when there is one
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles():
    """Each module depends only downwards: no chain of imports leads back to where it started."""
    assert cycles(imports()) == []


def test_engine_never_imports_the_dashboard():
    offenders = {}
    for name, file in modules().items():
        if not name.startswith("engine"):
            continue
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            bad = [n for n in names if n.split(".")[0] in ("streamlit", "ui", "views", "app")]
            if bad:
                offenders.setdefault(name, []).extend(bad)
    assert offenders == {}


def test_engine_folders_mirror_the_menu():
    """No flat engine/ any more: every analysis sits in the folder of its dashboard section."""
    top = sorted(p.stem for p in (ROOT / "engine").glob("*.py"))
    assert top == ["__init__", "__main__", "errors", "stats"]
    assert {p.name for p in (ROOT / "engine").iterdir() if (p / "__init__.py").exists()} == {
        "admin", "behaviour", "cli", "customers", "ingest", "predictions", "social", "store"}


def test_pages_never_open_the_warehouse_themselves():
    """Pages hold no SQL: they read through ui.data, which calls the engine (a DuckDB connection in a
    page would bypass the global filter and the engine's bound parameters)."""
    for name, file in modules().items():
        if name.startswith("views."):
            tree = ast.parse(file.read_text(encoding="utf-8"))
            imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names} | \
                {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
            assert "duckdb" not in imported, name
            from_warehouse = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                              and n.module == "engine.store.warehouse" for a in n.names}
            opened = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr in ("connect", "execute")]
            assert not from_warehouse & {"connect", "run_query", "read_sql", "execute_query"} and not opened, name


if __name__ == "__main__":
    for key, value in figures(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT).items():
        print(f"{key}: {value}")
