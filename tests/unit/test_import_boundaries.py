"""What importing a part of the package loads: the fault vocabulary and the live-safety gate never load the emulator,
and no two modules import each other when they are imported.

Each load check runs in a fresh interpreter, so modules other tests imported cannot hide an import.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

# Each check imports in a fresh interpreter, so that no other test's imports can mask what a module loads.
pytestmark = pytest.mark.e2e

LOAD_AND_LIST = """
import importlib, sys
for name in sys.argv[1:]:
    module = importlib.import_module(name)
    for attr in getattr(module, "__all__", ()):
        getattr(module, attr)  # a lazy package imports each module on first use: use them all
print(" ".join(sorted(m for m in sys.modules if m.split(".")[0] in {"moto", "werkzeug"} or m.startswith("drharness.world"))))
"""


def loaded_emulator_modules(*modules: str) -> set[str]:
    """The emulator modules a fresh interpreter holds after importing `modules` and every name they export."""
    done = subprocess.run([sys.executable, "-c", LOAD_AND_LIST, *modules],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


@pytest.mark.parametrize("modules", [
    ("drharness.faults.spec",),
    ("drharness.faults.spec", "drharness.safety"),
    ("drharness.safety.guard", "drharness.safety.plan", "drharness.safety.sweep", "drharness.safety.redaction"),
    ("drharness.faults.lifecycle", "drharness.faults.live"),
])
def test_the_fault_vocabulary_and_the_safety_gate_do_not_load_the_emulator(modules):
    assert loaded_emulator_modules(*modules) == set()


def test_the_check_sees_the_emulator_where_it_is_loaded():
    assert {"moto", "werkzeug"} <= loaded_emulator_modules("moto.server")


def test_importing_the_faults_package_loads_no_backend():
    done = subprocess.run(
        [sys.executable, "-c", "import drharness.faults, sys; "
         "print(sorted(m for m in sys.modules if m.startswith('drharness.faults.')))"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "offline" not in done.stdout and "live" not in done.stdout, done.stdout


def module_level_lines(path: Path) -> set[int]:
    """Line numbers of the import statements that run when the module is imported (not in functions or TYPE_CHECKING)."""
    lines: set[int] = set()

    def walk(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                lines.add(node.lineno)
            elif isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
                walk(node.body)
                walk(node.orelse)
            elif isinstance(node, ast.Try):
                for block in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
                    walk(block)

    walk(ast.parse(path.read_text(encoding="utf-8")).body)
    return lines


def module_level_cycles(package: str, outside: str) -> list[list[str]]:
    """Import cycles among `package`'s modules through module-level imports, ignoring modules under `outside`."""
    graph = grimp.build_graph(package, exclude_type_checking_imports=True, cache_dir=None)
    root = Path(importlib.util.find_spec(package).submodule_search_locations[0]).parent
    edges: dict[str, set[str]] = {}
    for importer in graph.modules:
        if importer == outside or importer.startswith(outside + "."):
            continue
        relative = Path(*importer.split("."))
        path = root / relative / "__init__.py" if (root / relative).is_dir() else root / relative.with_suffix(".py")
        top = module_level_lines(path)
        edges[importer] = {
            imported for imported in graph.find_modules_directly_imported_by(importer)
            if any(d["line_number"] in top for d in graph.get_import_details(importer=importer, imported=imported))
        }
    return [cycle for cycle in strongly_connected(edges) if len(cycle) > 1]


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of `edges` (only nodes that are keys count)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in edges[node]:
            if other not in edges:
                continue
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while (top := stack.pop()) != node:
                component.append(top)
            found.append(sorted([*component, node]))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_module_level_import_cycle_outside_the_world():
    assert module_level_cycles("drharness", outside="drharness.world") == []


def test_no_import_cycle_in_the_world_counting_function_and_type_checking_imports():
    graph = grimp.build_graph("drharness", exclude_type_checking_imports=False, cache_dir=None)
    world = [m for m in graph.modules if m == "drharness.world" or m.startswith("drharness.world.")]
    edges = {m: {i for i in graph.find_modules_directly_imported_by(m) if i in world} for m in world}
    assert [cycle for cycle in strongly_connected(edges) if len(cycle) > 1] == []


def test_the_cycle_search_finds_a_module_level_cycle(tmp_path, monkeypatch):
    (tmp_path / "circle").mkdir()
    (tmp_path / "circle" / "__init__.py").write_text("")
    (tmp_path / "circle" / "a.py").write_text("from circle import b\n")
    (tmp_path / "circle" / "b.py").write_text("def f():\n    pass\n\nfrom circle import a\n")
    (tmp_path / "circle" / "c.py").write_text("def f():\n    from circle import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert module_level_cycles("circle", outside="circle.none") == [["circle.a", "circle.b"]]
