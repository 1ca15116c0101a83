"""The `drharness` command. Each command group lives in its own module of this package."""

from __future__ import annotations

import sys

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


def _register() -> None:
    from drharness.cli import commands  # noqa: F401 - registers the commands on `app`


def main(argv: list[str] | None = None) -> None:
    """Entry point: every DrHarnessError becomes one line on stderr and exit code 2."""
    _register()
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
