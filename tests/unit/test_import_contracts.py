"""The import contracts of pyproject.toml hold, and breaking one fails `lint-imports` (as CI runs it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
WORLD_CONTRACT = "Only the offline fault backend and the session that starts the world know the offline world"
REPORTS_CONTRACT = "Reports read result records only: reporting never calls AWS"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="lint-imports is not installed (pip install -e '.[dev]')"),
]


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run `lint-imports` on the package under `root`/src with the contracts of `root`/pyproject.toml."""
    env = {**os.environ, "PYTHONPATH": str(root / "src")}  # ahead of the installed (editable) package
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def copy_of_the_package(tmp_path: Path) -> Path:
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(REPO / "src" / "drharness", tmp_path / "src" / "drharness",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_the_contracts_hold():
    done = lint_imports(REPO)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("instruments/timeline.py", "import drharness.world", WORLD_CONTRACT),
    ("reporting/evidence.py", "import botocore.exceptions", REPORTS_CONTRACT),
])
def test_an_import_that_breaks_a_contract_fails_the_check(tmp_path, module, line, contract):
    root = copy_of_the_package(tmp_path)
    path = root / "src" / "drharness" / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}  # noqa: E402\n", encoding="utf-8")
    done = lint_imports(root)
    assert done.returncode != 0, done.stdout
    broken = done.stdout.split("Broken contracts", 1)[-1]
    assert contract.split(":")[0] in " ".join(broken.split()), done.stdout
