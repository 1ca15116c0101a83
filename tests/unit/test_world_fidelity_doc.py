"""docs/world-fidelity.md keeps up with the world: every service the world emulates has its rows, every
module a row names exists, every row says on what AWS documentation it rests, and the defaults it
quotes are the world's."""

from __future__ import annotations

import re
from pathlib import Path

from drharness.config import Offline

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "world-fidelity.md"
WORLD = ROOT / "src" / "drharness" / "world"
MODULE = re.compile(r"`((?:services|faults|moto)/[a-z0-9_/]*(?:\.py|/))`")


def _rows() -> list[list[str]]:
    rows = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("| ") and not line.startswith(("| behaviour", "| ---")):
            rows.append([cell.strip() for cell in line.strip()[1:-1].split("|")])
    return rows


def test_every_row_has_its_five_columns_and_a_source() -> None:
    rows = _rows()
    assert len(rows) >= 15
    for row in rows:
        assert len(row) == 5, row[0]
        behaviour, world, _differs, module, source = row
        assert behaviour and world and module, row[0]
        assert "docs.aws.amazon.com" in source or source in ("moto", "the fault vocabulary, `src/drharness/faults/spec.py`"), row[0]


def test_every_module_a_row_names_exists() -> None:
    named = {m for row in _rows() for m in MODULE.findall(row[3])}
    assert named
    missing = sorted(m for m in named if not (WORLD / m).exists())
    assert missing == [], f"docs/world-fidelity.md names modules the world does not have: {missing}"


def test_every_emulated_service_has_its_rows() -> None:
    named = {m for row in _rows() for m in MODULE.findall(row[3])}
    services = sorted(p.name for p in (WORLD / "services").iterdir() if p.is_dir() and (p / "__init__.py").exists())
    undocumented = [s for s in services if not any(m.startswith(f"services/{s}/") for m in named)]
    assert undocumented == [], f"services with no row in docs/world-fidelity.md: {undocumented}"


def test_the_pitr_row_quotes_the_worlds_default_window() -> None:
    row = next(r for r in _rows() if r[0] == "Point-in-time recovery")
    assert "`[offline].pitr_latest_lag_seconds`" in row[1]
    assert f"default {Offline().pitr_latest_lag_seconds:g} s" in row[2]
