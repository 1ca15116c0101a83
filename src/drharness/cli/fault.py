"""`drharness fault inject|list|revert`: faults in an offline world, by hand.

    drharness fault inject az-outage region=us-east-1 az=a --endpoint http://127.0.0.1:4566
    drharness fault list
    drharness fault revert 3f2a9c1b7d4e      # or --all

The endpoint comes from --endpoint, else DRHARNESS_ENDPOINT, else AWS_ENDPOINT_URL. Every injection
is journalled (see `drharness revert`).
"""

from __future__ import annotations

import re
from pathlib import Path

import typer

from drharness import faults
from drharness.errors import ConfigError, FaultError
from drharness.faults.spec import FAULTS

NO_ENDPOINT = (
    "no offline world endpoint: pass --endpoint URL or set AWS_ENDPOINT_URL "
    "(the URL `drharness world serve` printed)"
)
NOT_AN_ASSIGNMENT = "parameter {item!r} is not key=value (e.g. region=us-east-1)"
REVERT_WHICH = "name the fault to revert: a fault id, or --all for every fault in the world"

_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")

fault_app = typer.Typer(
    help="Inject, list and revert faults in an offline world.", no_args_is_help=True, add_completion=False
)

EndpointOption = typer.Option(None, "--endpoint", help="world endpoint (default: DRHARNESS_ENDPOINT, AWS_ENDPOINT_URL)")
JournalOption = typer.Option(None, "--journal", help="revert journal directory (default: DRHARNESS_JOURNAL, .drharness/journal)")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `drharness` app."""
    app.add_typer(fault_app, name="fault")


def parse_value(text: str) -> object:
    """Read a command-line value: integers, decimals, true/false, else the text itself."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    return text


def parse_assignments(items: list[str]) -> dict[str, object]:
    """Turn `key=value` words into fault parameters."""
    params: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise FaultError(NOT_AN_ASSIGNMENT.format(item=item))
        if key in params:
            raise FaultError(f"parameter {key!r} is given twice")
        params[key.strip()] = parse_value(value)
    return params


def resolve_endpoint(endpoint: str | None) -> str:
    """The world endpoint, by the run settings' precedence."""
    from drharness.settings import resolve_settings

    chosen = resolve_settings(endpoint=endpoint).endpoint
    if not chosen:
        raise ConfigError(NO_ENDPOINT)
    return chosen


def _backend(endpoint: str | None) -> faults.OfflineFaultBackend:
    return faults.OfflineFaultBackend(resolve_endpoint(endpoint))


@fault_app.command("inject")
def inject_command(
    name: str = typer.Argument(..., help="fault name: " + ", ".join(sorted(FAULTS))),
    params: list[str] = typer.Argument(None, metavar="[KEY=VALUE]...", help="fault parameters"),
    endpoint: str | None = EndpointOption,
    journal: Path | None = JournalOption,
) -> None:
    """Inject a fault and print its id (revert it with `drharness fault revert ID`)."""
    values = parse_assignments(params or [])
    faults.parse_fault(name, values)  # a bad name or parameter fails before the world is contacted
    fault = faults.inject(_backend(endpoint), name, values, faults.Journal(journal))
    typer.echo(fault.id)
    typer.echo(f"{fault.name}: {fault.params.summary()}")
    if fault.access_key is not None:
        typer.echo(
            f"compromised key of {fault.access_key.user}: "
            f"{fault.access_key.access_key_id} / {fault.access_key.secret_access_key}"
        )
    if fault.corrupted:
        typer.echo(f"corrupted: {', '.join(fault.corrupted)}")


@fault_app.command("list")
def list_command(endpoint: str | None = EndpointOption) -> None:
    """List the faults active in the world."""
    from rich.console import Console
    from rich.table import Table

    backend = _backend(endpoint)
    active = backend.active()
    if not active:
        typer.echo(f"no active faults in the world at {backend.client.endpoint}")
        return
    table = Table(title=f"active faults at {backend.client.endpoint}")
    table.add_column("id", no_wrap=True)
    table.add_column("fault", no_wrap=True)
    table.add_column("what")
    table.add_column("injected (UTC)")
    table.add_column("hits", justify="right")
    for fault in active:
        table.add_row(
            fault.id, fault.name, fault.params.summary(), fault.injected_at.strftime("%Y-%m-%d %H:%M:%S"), str(fault.hits or 0)
        )
    Console().print(table)


@fault_app.command("revert")
def revert_command(
    fault_id: str | None = typer.Argument(None, metavar="[ID]", help="the fault id `fault inject` printed"),
    revert_all: bool = typer.Option(False, "--all", help="revert every fault in the world"),
    endpoint: str | None = EndpointOption,
    journal: Path | None = JournalOption,
) -> None:
    """Revert one fault, or every fault with --all (reverting twice is harmless)."""
    if bool(fault_id) == revert_all:
        raise FaultError(REVERT_WHICH)
    backend, book = _backend(endpoint), faults.Journal(journal)
    if fault_id:
        faults.revert(backend, fault_id, book)
        typer.echo(f"reverted {fault_id}")
        return
    ids = faults.revert_all(backend, book)
    typer.echo(f"reverted {len(ids)} fault(s)" + (f": {', '.join(ids)}" if ids else ""))
