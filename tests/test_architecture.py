"""The package's import graph: no cycles (deferred imports inside functions count), and imports
go one way, from the command line down to the foundations, through the layers README's
"Architecture" section describes."""

from __future__ import annotations

import ast
import fnmatch
from pathlib import Path

import pytest

PACKAGE = "data_generator"
SOURCE = Path(__file__).resolve().parent.parent / PACKAGE

# Bottom to top; a module may import modules of its own layer or of a layer below it.
LAYERS = {
    "foundation": ["errors", "rng", "timeutil", "news2", "contracts", "claims"],
    "content": ["config", "config_cache", "crosscheck", "note_context"],
    "engine": ["generators", "generators.*"],
    "storage": ["writer", "publish", "locks", "registry_store", "reading", "validation", "validation.*"],
    "pipeline": ["pipeline", "parts", "backfill", "defects", "defects.*", "feed_rows", "feed"],
    "outputs": ["plotting", "preview", "report", "exporters", "exporters.*"],
    "edge": ["cli", "__main__", "generate_daily_batch"],
}
# The package itself holds `__version__` (any module may read it) and the lazy door to load_day.
ROOT_IMPORTS = {f"{PACKAGE}.reading"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(SOURCE.rglob("*.py")):
        parts = path.relative_to(SOURCE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Package modules `name` imports anywhere in its file (top level, functions, TYPE_CHECKING)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:  # `from package import module` imports the module
                out.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {m for m in out if m == PACKAGE or m.startswith(PACKAGE + ".")} - {name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(module: str) -> str | None:
    short = module.removeprefix(PACKAGE + ".")
    for layer, patterns in LAYERS.items():
        if any(fnmatch.fnmatchcase(short, p) for p in patterns):
            return layer
    return None


def _cycle() -> list[str] | None:
    """One import cycle as a path of modules, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for dep in sorted(GRAPH.get(module, ())):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state and (found := visit(dep)):
                return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(GRAPH):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_the_graph_is_read():
    """The parser sees top-level, deferred and `from package import module` imports."""
    assert f"{PACKAGE}.pipeline" in GRAPH[f"{PACKAGE}.cli"]                  # deferred, inside functions
    assert f"{PACKAGE}.crosscheck" in GRAPH[f"{PACKAGE}.config"]             # from data_generator import crosscheck
    assert f"{PACKAGE}.generators.encounters" in GRAPH[f"{PACKAGE}.pipeline"]
    assert f"{PACKAGE}.reading" in GRAPH[PACKAGE]                            # the lazy load_day door


def test_no_import_cycles():
    """No chain of imports inside the package leads back to where it started."""
    cycle = _cycle()
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_every_module_has_a_layer():
    """A new module is placed in a layer (here and in README's Architecture section)."""
    unplaced = [m for m in MODULES if m != PACKAGE and _layer(m) is None]
    assert not unplaced, f"add to LAYERS: {unplaced}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != PACKAGE))
def test_imports_go_down_the_layers(module):
    """A module imports only its own layer and the layers below it (the package root's
    `__version__` excepted)."""
    order = list(LAYERS)
    mine = order.index(_layer(module))
    upward = sorted(dep for dep in GRAPH[module] if dep != PACKAGE and order.index(_layer(dep)) > mine)
    assert not upward, f"{module} ({order[mine]}) imports " + ", ".join(f"{d} ({_layer(d)})" for d in upward)


def test_the_package_root_only_opens_load_day():
    """`import data_generator` pulls in nothing but the day reader, and that only on first use of load_day."""
    assert GRAPH[PACKAGE] <= ROOT_IMPORTS


def test_the_design_entry_point_is_only_a_door():
    """data_generator/generate_daily_batch.py (the design document's entry point) hands over to
    the CLI and holds no logic of its own."""
    assert GRAPH[f"{PACKAGE}.generate_daily_batch"] == {f"{PACKAGE}.cli"}
    tree = ast.parse(MODULES[f"{PACKAGE}.generate_daily_batch"].read_text(encoding="utf-8"))
    assert not [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]


def test_a_cycle_would_be_found(monkeypatch):
    """The cycle check itself: a deferred import from the config back into the engine is caught."""
    monkeypatch.setitem(GRAPH, f"{PACKAGE}.config", GRAPH[f"{PACKAGE}.config"] | {f"{PACKAGE}.generators.notes"})
    assert _cycle() is not None
