"""`drharness revert`: undo every fault the revert journal still lists, e.g. after a killed run.

    drharness revert                     # the journal in .drharness/journal (or DRHARNESS_JOURNAL)
    drharness revert --journal /tmp/run-42/journal
    drharness revert --target aws --live --config workload.toml   # a killed live run's faults

Offline faults are reverted through the world at their endpoint. Live faults are reverted in the
account they were made in, through the same gates a live run opens (opt-in, STS, the allowlist):
only the journal's account is touched, and undoing is never refused by the tag scope.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from drharness import faults
from drharness.cli.safety import ConfigOption, EndpointOption, LiveOption, TargetOption
from drharness.errors import SafetyError

LIVE_NEEDS_TARGET = ("the journal holds live faults ({where}); revert them with --target aws --live --config "
                     "<workload.toml> (and DRHARNESS_LIVE=I-UNDERSTAND), with credentials for that account")
OTHER_ACCOUNT = ("a fault in the journal ({id}) was made in account {journal}, but these credentials are for {now}: "
                 "revert it with credentials for the account it was made in")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `drharness` app."""
    app.command("revert")(revert_command)


def revert_command(
    journal: Path | None = typer.Option(
        None, "--journal", help="revert journal directory (default: DRHARNESS_JOURNAL, .drharness/journal)"
    ),
    config: Path | None = ConfigOption,
    target: str | None = TargetOption,
    live: bool = LiveOption,
    endpoint: str | None = EndpointOption,
) -> None:
    """Revert every journalled fault not yet reverted (what a crashed or killed run left behind)."""
    book = faults.Journal(journal)
    pending = book.pending()
    if not pending:
        typer.echo(f"nothing to revert: no pending fault in {book.directory}")
        return
    live_refs = [r.backend for r in pending if r.backend.target == "aws"]
    live_backend = _live_backends(config, target, live, endpoint, live_refs[0].describe()) if live_refs else None
    for record in pending:
        typer.echo(f"reverting {record.id} {record.name} ({record.backend.describe()}, {record.status})")
    ids = faults.revert_pending(book, live_backend=live_backend)
    typer.echo(f"reverted {len(ids)} fault(s)")


def _live_backends(config: Path | None, target: str | None, live: bool, endpoint: str | None, where: str) -> Any:
    """A function from a journal's live backend ref to a backend opened through the safety gates."""
    from drharness.config import load_workload
    from drharness.faults.live import live_options
    from drharness.safety import live_fault_backend, mask_account, open_live_target
    from drharness.settings import resolve_settings

    settings = resolve_settings(target=target, config=config, endpoint=endpoint, live=live)
    if settings.target != "aws":
        raise SafetyError(LIVE_NEEDS_TARGET.format(where=where))
    loaded = load_workload(settings.config)
    opened = open_live_target(settings, loaded)
    workload = loaded.with_account(opened.account_id)
    backends: dict[str | None, Any] = {}

    def backend_for(ref: faults.BackendRef) -> Any:
        if ref.account_id and ref.account_id != opened.account_id:
            raise SafetyError(OTHER_ACCOUNT.format(id=ref.describe(), journal=mask_account(ref.account_id),
                                                   now=mask_account(opened.account_id)))
        if ref.region not in backends:
            backends[ref.region] = live_fault_backend(opened, workload, live_options(workload, region=ref.region))
        return backends[ref.region]

    return backend_for
