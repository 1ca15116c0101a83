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


def _register() -> None:
    from drharness.cli import commands  # noqa: F401 - registers the commands on `app`


def main(argv: list[str] | None = None) -> None:
    """Entry point: every DrHarnessError becomes one line on stderr and exit code 2."""
    _register()
    try:
        app(args=argv, standalone_mode=False)
    except DrHarnessError as exc:
        typer.echo(f"drharness: error: {exc}", err=True)
        sys.exit(2)
    except typer.Abort:
        typer.echo("drharness: aborted", err=True)
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # click usage errors and the like
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(2 if isinstance(exc, click.exceptions.UsageError) else 1)
        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        raise
