"""`drharness drill --suite`: a directory, or an installed package (drharness's own suites are `drtests`)."""

from __future__ import annotations

from pathlib import Path

import pytest

import drtests
from drharness.cli.drill import _suite_path
from drharness.errors import ConfigError


def test_a_suite_is_a_directory_or_an_installed_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ./drtests here: the name finds the installed suites
    assert _suite_path("drtests") == Path(drtests.__file__).parent
    (tmp_path / "dr_checks").mkdir()
    assert _suite_path("dr_checks") == Path("dr_checks")
    with pytest.raises(ConfigError, match="neither a directory nor an installed package"):
        _suite_path("no-such-suite")
