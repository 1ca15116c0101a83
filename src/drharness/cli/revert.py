"""`drharness revert`: undo every fault the revert journal still lists, e.g. after a killed run.

    drharness revert                     # the journal in .drharness/journal (or DRHARNESS_JOURNAL)
    drharness revert --journal /tmp/run-42/journal
"""

from __future__ import annotations

from pathlib import Path

import typer

from drharness import faults


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `drharness` app."""
    app.command("revert")(revert_command)


def revert_command(
    journal: Path | None = typer.Option(
        None, "--journal", help="revert journal directory (default: DRHARNESS_JOURNAL, .drharness/journal)"
    ),
) -> None:
    """Revert every journalled fault not yet reverted (what a crashed or killed run left behind)."""
    book = faults.Journal(journal)
    pending = book.pending()
    if not pending:
        typer.echo(f"nothing to revert: no pending fault in {book.directory}")
        return
    for record in pending:
        typer.echo(f"reverting {record.id} {record.name} ({record.backend.describe()}, {record.status})")
    ids = faults.revert_pending(book)
    typer.echo(f"reverted {len(ids)} fault(s)")
