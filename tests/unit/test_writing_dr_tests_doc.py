"""docs/writing-dr-tests.md lists the fixtures a DR test can ask for: each one it names exists in the plugin."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "writing-dr-tests.md"


def test_every_fixture_the_doc_names_is_the_plugins(pytestconfig: pytest.Config) -> None:
    rows = [line for line in DOC.read_text(encoding="utf-8").splitlines() if line.startswith("| `")]
    named = {name for row in rows for name in re.findall(r"`(\w+)`", row.split("|")[1])}
    manager = pytestconfig.pluginmanager.get_plugin("funcmanage")
    known = set(manager._arg2fixturedefs)
    assert named and named <= known, sorted(named - known)
