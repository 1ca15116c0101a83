"""The command table of `drharness`: each run imports only its command's modules, and the table is true."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest
import typer

from drharness.cli import COMMANDS


def _names(app: typer.Typer) -> set[str]:
    commands = {c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands if c.callback}
    return commands | {g.name for g in app.registered_groups if g.name}


def test_the_table_names_what_each_module_registers() -> None:
    modules = dict.fromkeys(m for group in COMMANDS.values() for m in group)
    for module in modules:
        fresh = typer.Typer()
        importlib.import_module(f"drharness.cli.{module}").register(fresh)
        owned = {command for command, group in COMMANDS.items() if group[0] == module}
        assert _names(fresh) == owned, module


@pytest.mark.e2e
def test_compare_and_its_record_start_without_the_world_moto_or_the_workload_model() -> None:
    code = "\n".join([
        "import sys",
        "from drharness.cli import main",
        "try:",
        "    main(['compare', 's3://bucket-a', 'dynamodb://us-east-1/table-b'])  # parsed, then refused",
        "except SystemExit as exc:",
        "    assert exc.code == 2, exc.code",
        "else:",
        "    raise AssertionError('main returned instead of refusing with exit code 2')",
        "import drharness.instruments.consistency.s3, drharness.target, drharness.results, drharness.reporting.scrub",
        "heavy = ('moto', 'drharness.world', 'drharness.config', 'drharness.faults', 'boto3', 's3transfer', 'rich',",
        "         'pydantic')",
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith(heavy)))",
    ])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_an_unknown_command_is_told_among_every_command(capsys) -> None:
    from drharness.cli import app, main

    with pytest.raises(SystemExit) as info:
        main(["no-such-command"])
    assert info.value.code == 2
    assert "No such command" in capsys.readouterr().err
    assert _names(app) == set(COMMANDS)


def test_every_name_a_package_exports_resolves() -> None:
    for name in ("drharness", "drharness.instruments", "drharness.instruments.consistency", "drharness.reporting"):
        package = importlib.import_module(name)
        for export in getattr(package, "__all__", ()):
            assert getattr(package, export) is not None, f"{name}.{export}"
        assert set(getattr(package, "__all__", ())) <= set(dir(package))


def test_compare_prints_keys_verbatim_or_quoted() -> None:
    from drharness.cli.compare import _shown

    assert _shown("[bold]data/x y.npy") == "[bold]data/x y.npy"
    assert _shown("evil\n\x1b[2Jkey") == repr("evil\n\x1b[2Jkey")
