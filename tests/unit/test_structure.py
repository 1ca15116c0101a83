"""The repository's structural rules, checked on `src/drharness`: module and function size, no import cycle.

The checkers take any package directory, so they are proven here on small packages made for the purpose
before they judge the real one.
"""

from __future__ import annotations

import ast
import functools
import textwrap
from collections.abc import Iterable, Iterator
from pathlib import Path

import grimp
import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "src" / "drharness"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
WORLD = "drharness.world"

Graph = dict[str, set[str]]


# ---- the checkers -----------------------------------------------------------------------------------


def modules_of(package_dir: Path) -> dict[str, Path]:
    """Every module of the package under package_dir, by dotted name (a package by its own name)."""
    found = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(package_dir.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


@functools.cache
def _parsed(path: Path, text: str) -> ast.Module:
    return ast.parse(text, str(path))


def parse(path: Path) -> ast.Module:
    """The syntax tree of a file, parsed once per content (the rules below all walk the same package)."""
    return _parsed(path, path.read_text(encoding="utf-8"))


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def oversized_modules(package_dir: Path, limit: int = MAX_MODULE_LINES) -> list[str]:
    """`module: N lines` for every module longer than limit lines."""
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in modules_of(package_dir).items()}
    return [f"{name}: {lines} lines" for name, lines in sizes.items() if lines > limit]


def oversized_functions(package_dir: Path, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """`module:line function: N lines` for every function (or method) longer than limit lines."""
    found = []
    for name, path in modules_of(package_dir).items():
        for node in ast.walk(parse(path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if lines > limit:
                    found.append(f"{name}:{node.lineno} {node.name}: {lines} lines")
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module_level_only: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements of a module; module_level_only: those that run when it is imported.

    Those are all but the ones inside a function and inside `if TYPE_CHECKING:` (its `else:` runs).
    """
    pending = list(ast.iter_child_nodes(tree))
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif module_level_only and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        elif module_level_only and isinstance(node, ast.If) and _is_type_checking(node.test):
            pending.extend(node.orelse)
        else:
            pending.extend(ast.iter_child_nodes(node))


def _imported(module: str, is_package: bool, node: ast.Import | ast.ImportFrom, known: set[str]) -> set[str]:
    """The modules of `known` a statement imports: `from a import b` is a.b when a.b is a module, else a."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names} & known
    base = node.module or ""
    if node.level:
        package = module if is_package else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    found = set()
    for alias in node.names:
        candidate = f"{base}.{alias.name}"
        found.add(candidate if candidate in known else base)
    return found & known


def import_graph(package_dir: Path, module_level_only: bool) -> Graph:
    """Which module of the package imports which other modules of it."""
    modules = modules_of(package_dir)
    known = set(modules)
    graph: Graph = {}
    for name, path in modules.items():
        tree = parse(path)
        is_package = path.name == "__init__.py"
        edges = set()
        for node in _imports(tree, module_level_only):
            edges |= _imported(name, is_package, node, known)
        graph[name] = edges - {name}
    return graph


def strongly_connected(graph: Graph) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module, each sorted, in a stable order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def shortest_cycle(graph: Graph, start: str, within: Iterable[str]) -> list[str]:
    """The shortest import path from start back to start inside one component (breadth first)."""
    members = set(within)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph.get(node, set()) & members):
                if target == start:
                    return [*paths[node], start]
                if target not in paths:
                    paths[target] = [*paths[node], target]
                    following.append(target)
        frontier = following
    return []


def import_cycles(graph: Graph, inside: str | None = None) -> list[str]:
    """One line per cycle: its modules, and one cycle through them as `a -> b -> a`."""
    if inside is not None:
        graph = {m: {t for t in targets if within(t, inside)} for m, targets in graph.items() if within(m, inside)}
    lines = []
    for component in strongly_connected(graph):
        path = " -> ".join(shortest_cycle(graph, component[0], component))
        lines.append(f"{len(component)} modules {{{', '.join(component)}}}, e.g. {path}")
    return lines


def offenders(kind: str, found: list[str], fix: str, details: list[str] | None = None) -> str:
    """The failure message: how many offenders, what to do, one offender (then one detail) per line."""
    return f"{len(found)} {kind} in src/drharness ({fix}):\n  " + "\n  ".join(found + (details or []))


# ---- the rules, on the package ----------------------------------------------------------------------


def test_no_module_is_over_500_lines() -> None:
    found = oversized_modules(PACKAGE_DIR)
    assert not found, offenders(f"module(s) over {MAX_MODULE_LINES} lines", found, "split each by concern")


def test_no_function_is_over_60_lines() -> None:
    found = oversized_functions(PACKAGE_DIR)
    assert not found, offenders(f"function(s) over {MAX_FUNCTION_LINES} lines", found, "extract named steps")


def test_no_import_cycle_at_module_level() -> None:
    found = import_cycles(import_graph(PACKAGE_DIR, module_level_only=True))
    assert not found, offenders("module-level import cycle(s)", found, "move the shared part to a module both import")


def deferred_imports_in_cycles(every: Graph, module_level: Graph, inside: str) -> list[str]:
    """`a -> b (in a function or under TYPE_CHECKING)` for each such import between modules of one cycle."""
    world = {m: {t for t in ts if within(t, inside)} for m, ts in every.items() if within(m, inside)}
    return [f"{module} -> {target} (in a function or under TYPE_CHECKING)"
            for component in strongly_connected(world) for module in component
            for target in sorted(world[module] & set(component) - module_level[module])]


def test_no_import_cycle_in_the_world_counting_function_level_and_type_checking_imports() -> None:
    every = import_graph(PACKAGE_DIR, module_level_only=False)
    found = import_cycles(every, inside=WORLD)
    deferred = deferred_imports_in_cycles(every, import_graph(PACKAGE_DIR, module_level_only=True), WORLD)
    assert not found, offenders(f"import cycle(s) inside {WORLD}", found, details=deferred,
                                fix="an import inside a function or under TYPE_CHECKING still ties the modules")


def test_the_graph_of_all_imports_is_the_one_grimp_builds() -> None:
    """The ast reading resolves imports as grimp does (grimp also reads function-level imports)."""
    grimp_graph = grimp.build_graph("drharness", cache_dir=None)
    ours = import_graph(PACKAGE_DIR, module_level_only=False)
    theirs = {m: set(grimp_graph.find_modules_directly_imported_by(m)) - {m} for m in grimp_graph.modules}
    assert set(ours) == set(theirs)
    differ = {m: (sorted(ours[m] - theirs[m]), sorted(theirs[m] - ours[m])) for m in ours if ours[m] != theirs[m]}
    assert not differ, f"(only ast, only grimp) per module: {differ}"


# ---- the checkers, proven on packages made for the purpose ------------------------------------------


def make_package(root: Path, files: dict[str, str]) -> Path:
    """A package `pkg` under root with the given files (paths relative to the package, dedented text)."""
    package = root / "pkg"
    for relative, text in files.items():
        path = package / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return package


CLEAN = {
    "__init__.py": "from pkg import a\n",
    "a.py": "from __future__ import annotations\nimport os\nfrom . import b\n",
    "b.py": "from .sub import c\n",
    "sub/__init__.py": "",
    "sub/c.py": "import json\n\ndef f():\n    return json.dumps(1)\n",
}


def test_a_clean_package_has_no_offender(tmp_path: Path) -> None:
    package = make_package(tmp_path, CLEAN)
    assert oversized_modules(package) == []
    assert oversized_functions(package) == []
    for module_level_only in (True, False):
        assert import_cycles(import_graph(package, module_level_only)) == []
    assert import_graph(package, module_level_only=True) == {
        "pkg": {"pkg.a"}, "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.sub.c"}, "pkg.sub": set(), "pkg.sub.c": set()}


def test_sizes_are_measured_and_the_offenders_named(tmp_path: Path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES - 1))  # def line + body: the limit
    longer = "".join(f"        x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))  # one line more
    package = make_package(tmp_path, {
        "__init__.py": "",
        "fits.py": f"def at_limit():\n{body}",
        "long.py": f"class K:\n    async def method(self):\n{longer}",
        "big.py": "x = 1\n" * (MAX_MODULE_LINES + 1),
        "limit.py": "x = 1\n" * MAX_MODULE_LINES,
    })
    assert oversized_modules(package) == [f"pkg.big: {MAX_MODULE_LINES + 1} lines"]
    assert oversized_functions(package) == [f"pkg.long:2 method: {MAX_FUNCTION_LINES + 1} lines"]


CYCLES = {
    "__init__.py": "",
    "a.py": "from pkg import b\n",
    "b.py": "from . import c\n",
    "c.py": "import pkg.a\n",
    "late.py": "def f():\n    from pkg import early\n",
    "early.py": "from pkg.late import f\n",
    "typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.hinted import H\nelse:\n    H = None\n",
    "hinted.py": "import typing\nif typing.TYPE_CHECKING:\n    pass\nelse:\n    from pkg import loose\n"
                 "from .typed import H\n",
    "loose.py": "",
    "world/__init__.py": "",
    "world/one.py": "def f():\n    from ..world import two\n",
    "world/two.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.world.one import f\n",
}


def test_module_level_cycles_skip_function_and_type_checking_imports(tmp_path: Path) -> None:
    graph = import_graph(make_package(tmp_path, CYCLES), module_level_only=True)
    assert graph["pkg.hinted"] == {"pkg.loose", "pkg.typed"}  # the `else:` of TYPE_CHECKING runs
    assert import_cycles(graph) == ["3 modules {pkg.a, pkg.b, pkg.c}, e.g. pkg.a -> pkg.b -> pkg.c -> pkg.a"]


def test_cycles_of_all_imports_count_function_level_and_type_checking_ones(tmp_path: Path) -> None:
    graph = import_graph(make_package(tmp_path, CYCLES), module_level_only=False)
    assert import_cycles(graph) == [
        "3 modules {pkg.a, pkg.b, pkg.c}, e.g. pkg.a -> pkg.b -> pkg.c -> pkg.a",
        "2 modules {pkg.early, pkg.late}, e.g. pkg.early -> pkg.late -> pkg.early",
        "2 modules {pkg.hinted, pkg.typed}, e.g. pkg.hinted -> pkg.typed -> pkg.hinted",
        "2 modules {pkg.world.one, pkg.world.two}, e.g. pkg.world.one -> pkg.world.two -> pkg.world.one",
    ]
    assert import_cycles(graph, inside="pkg.world") == [
        "2 modules {pkg.world.one, pkg.world.two}, e.g. pkg.world.one -> pkg.world.two -> pkg.world.one"]
    assert deferred_imports_in_cycles(graph, import_graph(tmp_path / "pkg", module_level_only=True), "pkg.world") == [
        "pkg.world.one -> pkg.world.two (in a function or under TYPE_CHECKING)",
        "pkg.world.two -> pkg.world.one (in a function or under TYPE_CHECKING)"]


@pytest.mark.parametrize("module_level_only", [True, False])
def test_a_package_imports_its_submodule_through_relative_imports(tmp_path: Path, module_level_only: bool) -> None:
    package = make_package(tmp_path, {"__init__.py": "from . import x\nfrom .x import name\n", "x.py": "name = 1\n"})
    assert import_graph(package, module_level_only)["pkg"] == {"pkg.x"}
