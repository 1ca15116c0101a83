"""The pytest plugin, tested black-box with pytester."""

from __future__ import annotations

import pytest

from drharness.pytest_plugin import ALL_MARKERS, LIVE_ONLY_REASON
from drharness.safety import OPT_IN_HELP

pytest_plugins = ["pytester"]


def test_options_and_markers_are_in_help(pytester):
    result = pytester.runpytest("--help")
    out = result.stdout.str()
    for option in ("--dr-target", "--dr-config", "--dr-endpoint", "--dr-seed", "--dr-live"):
        assert option in out
    result = pytester.runpytest("--markers")
    for marker in ALL_MARKERS:
        result.stdout.fnmatch_lines([f"@pytest.mark.{marker}:*"])


def test_marker_typo_fails_the_run(pytester):
    pytester.makepyfile("import pytest\n@pytest.mark.monthy\ndef test_x():\n    pass\n")
    result = pytester.runpytest("--strict-markers")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*'monthy' not found in `markers`*"])


def test_aws_target_without_opt_in_is_refused(pytester, monkeypatch):
    monkeypatch.delenv("DRHARNESS_LIVE", raising=False)
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest("--dr-target", "aws")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{OPT_IN_HELP[:60]}*"])


def test_live_only_is_skipped_offline_with_its_reason(pytester):
    pytester.makepyfile("import pytest\n@pytest.mark.live_only\ndef test_x():\n    pass\n")
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines([f"*{LIVE_ONLY_REASON}*"])


def test_bad_config_path_is_a_usage_error(pytester):
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest("--dr-config", "nope.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*config file 'nope.toml' does not exist*"])


def test_workers_sharing_one_target_are_refused(pytester):
    """-n 2 against one found world: each worker's faults would strike the other's checks."""
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest("-n", "2", "--dr-endpoint", "http://127.0.0.1:9")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*-n 2 with one shared target*drop --dr-endpoint*"])
