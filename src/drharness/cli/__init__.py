"""The `drharness` command. Each command group lives in its own module of this package."""

from __future__ import annotations

import contextlib
import gc
import importlib
import sys
from collections.abc import Iterator

import typer

from drharness.errors import DrHarnessError

app = typer.Typer(
    name="drharness",
    help="Chaos and disaster-recovery test harness for AWS workloads (offline by default).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Chaos and disaster-recovery test harness for AWS workloads (offline by default)."""


# The modules of this package that add each top-level command, in the order `--help` lists them.
# A run imports only its command's modules: `drharness compare` starts without the world, moto or
# pydantic (tests/unit/test_cli_commands.py checks this table against what the modules register).
COMMANDS: dict[str, tuple[str, ...]] = {
    "world": ("world",),
    "init": ("init",),
    "deploy": ("deploy",),
    "fault": ("fault",),
    "revert": ("revert",),
    "compare": ("compare",),
    "drill": ("drill",),
    "failover": ("failover",),
    "recover": ("recover",),
    "capture-listing": ("recover",),
    "backup-config": ("backup_config",),
    "report": ("report", "monthly"),
    "evidence": ("evidence",),
    "plan": ("safety",),
    "stop": ("safety",),
    "sweep": ("safety",),
}
_registered: set[str] = set()


def _register(command: str | None = None) -> None:
    """Add `command`'s modules to the app; every command's when it is None or not one of ours."""
    modules = COMMANDS.get(command or "") or tuple(dict.fromkeys(m for group in COMMANDS.values() for m in group))
    for name in modules:
        if name not in _registered:
            importlib.import_module(f"drharness.cli.{name}").register(app)
            _registered.add(name)


def _command(argv: list[str]) -> str | None:
    return next((arg for arg in argv if not arg.startswith("-")), None)


_own_process = False


@contextlib.contextmanager
def start_up() -> Iterator[None]:
    """Build long-lived objects (modules, AWS clients and their service models) without the cyclic GC.

    In a process of its own (the `drharness` command), the GC pauses while they are built, and they are
    then frozen: no later collection scans them again, nor the one at exit. Start-up of a short command
    such as `compare` costs about a third less. Called in-process (tests), it changes nothing.
    """
    if not _own_process:
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def main(argv: list[str] | None = None) -> None:
    """Entry point: every DrHarnessError becomes one line on stderr and exit code 2."""
    global _own_process
    _own_process = argv is None
    try:
        with start_up():
            _register(_command(sys.argv[1:] if argv is None else argv))
        _run(argv)
    finally:
        if _own_process:
            gc.freeze()  # the process ends here: nothing is left worth collecting


def _run(argv: list[str] | None) -> None:
    try:
        # standalone_mode=False lets DrHarnessError reach us; click then *returns* exit codes.
        result = app(args=argv, standalone_mode=False)
        if isinstance(result, int) and not isinstance(result, bool):
            sys.exit(result)
    except DrHarnessError as exc:
        typer.echo(f"drharness: error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt as exc:
        reason = str(exc) or "interrupted; every fault this run injected was reverted"
        typer.echo(f"drharness: stopped: {reason}", err=True)
        sys.exit(130)
    except typer.Abort:
        typer.echo("drharness: aborted", err=True)
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:
        # Usage errors of the (vendored) click: print them as click would, exit with their code.
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            sys.exit(code)
        raise
