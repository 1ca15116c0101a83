"""The offline world's layout: imports point one way, moto stays in its adapter, the client stays light."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import grimp
import pytest

import drharness.world

WORLD = pathlib.Path(drharness.world.__file__).parent


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("drharness", include_external_packages=True)


def _world_modules(graph: grimp.ImportGraph) -> set[str]:
    return {m for m in graph.modules if m == "drharness.world" or m.startswith("drharness.world.")}


def test_no_import_cycle_among_world_modules(graph: grimp.ImportGraph) -> None:
    modules = _world_modules(graph)
    cycles = [
        (module, imported)
        for module in sorted(modules)
        for imported in sorted(graph.find_modules_directly_imported_by(module) & modules)
        if graph.chain_exists(importer=imported, imported=module)
    ]
    assert cycles == []


def test_only_the_moto_adapter_imports_moto(graph: grimp.ImportGraph) -> None:
    importers = {m for m in _world_modules(graph) if any(
        i == "moto" or i.startswith("moto.") for i in graph.find_modules_directly_imported_by(m))}
    assert importers and all(m.startswith("drharness.world.moto.") for m in importers), sorted(importers)


def test_wire_imports_nothing_of_the_world(graph: grimp.ImportGraph) -> None:
    assert {m for m in graph.find_modules_directly_imported_by("drharness.world.wire") if m.startswith("drharness.world")} == set()


def test_no_world_import_inside_a_function_or_type_checking_block() -> None:
    found = []
    for path in sorted(WORLD.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            body = node.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.If)) else []
            for inner in (n for stmt in body for n in ast.walk(stmt)):
                if isinstance(inner, ast.ImportFrom) and (inner.module or "").startswith("drharness"):
                    found.append(f"{path.relative_to(WORLD)}:{inner.lineno}")
    assert found == []


@pytest.mark.e2e
def test_the_control_client_loads_no_moto_and_no_werkzeug() -> None:
    code = ("import sys, drharness.world.control; from drharness.world import WorldClient; "
            "assert 'moto' not in sys.modules and 'werkzeug' not in sys.modules, "
            "sorted(m for m in sys.modules if m.split('.')[0] in ('moto', 'werkzeug'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
