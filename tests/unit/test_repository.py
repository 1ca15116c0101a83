"""The repository keeps its promises: the README's commands are what CI runs."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _readme_commands() -> list[str]:
    lines = (ROOT / "README.md").read_text().splitlines()
    return [line for line in lines if line.startswith("python3.11 -m venv .venv && ")]


def test_quick_start_has_two_commands_drill_and_tests():
    commands = _readme_commands()
    assert len(commands) == 2
    assert commands[0].endswith("drharness drill")
    assert " -m pytest" in commands[1]


def test_ci_runs_the_readme_test_command():
    assert _readme_commands()[1] in (ROOT / ".ci" / "run").read_text().splitlines()


def test_top_level_layout():
    for name in ("experiments", "drtests", "fixtures", "conftest.py", "reports", "pyproject.toml", "tox.ini",
                 "src/drharness", "tests", "benchmarks", "workload.toml"):
        assert (ROOT / name).exists(), name
