"""`drharness recover`: the recovery runbook (full, partial, data-only), resumable; `drharness capture-listing`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from drharness.cli.failover import (
    CONFIG_HELP,
    ENDPOINT_HELP,
    LIVE_HELP,
    REPORTS_HELP,
    TARGET_HELP,
    console,
    procedure_session,
)
from drharness.errors import ConfigError

if TYPE_CHECKING:
    from drharness.procedures.runbook import RunbookOutcome

KIND_HELP = "full (data, infrastructure, services, verification), partial (no data step) or data-only."


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `drharness` app."""

    @app.command("recover")
    def recover(
        kind: str = typer.Argument(..., help=KIND_HELP),
        resume: Optional[str] = typer.Option(None, "--resume", metavar="RUN_ID",  # noqa: UP007 - typer needs Optional
                                             help="Continue a stopped run; finished steps are skipped."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Check the preconditions and print the plan; change nothing."),
        listing: Optional[Path] = typer.Option(None, "--listing", help="Source listing to verify against "  # noqa: UP007
                                               "when the primary is down (default: the newest under --listing-dir)."),
        listing_dir: Path = typer.Option(Path(".drharness/listings"), "--listing-dir", help="Where source listings are kept."),
        state_dir: Path = typer.Option(Path(".drharness/runbook"), "--state-dir", help="Where run state files are kept."),
        config: Optional[Path] = typer.Option(None, "--config", help=CONFIG_HELP),  # noqa: UP007
        endpoint: Optional[str] = typer.Option(None, "--endpoint", help=ENDPOINT_HELP),  # noqa: UP007
        target: Optional[str] = typer.Option(None, "--target", help=TARGET_HELP),  # noqa: UP007
        reports: Optional[Path] = typer.Option(None, "--reports", help=REPORTS_HELP),  # noqa: UP007
        live: bool = typer.Option(False, "--live", help=LIVE_HELP),
    ) -> None:
        """Recover into the secondary region step by step; each step is timed, recorded and saved for --resume."""
        from drharness.procedures.runbook import KINDS, Runbook, StepReport
        from drharness.results import new_run_id

        if kind not in KINDS:
            raise ConfigError(f"recovery type {kind!r} is not one of {', '.join(KINDS)}")

        echo: Callable[..., None] = typer.echo  # replaced by the masking console once the workload is known

        def show(step: StepReport) -> None:
            if step.skipped:
                echo(f"  {step.name:<15} done before, skipped")
            elif step.status == "done":
                echo(f"  {step.name:<15} done in {step.duration_seconds or 0:.3f} s: {step.detail}")
            else:
                echo(f"  {step.name:<15} {step.status}: {step.error}", err=True)

        run_id = resume or new_run_id()
        with procedure_session("recover", target=target, config=config, endpoint=endpoint, reports=reports,
                               live=live) as session:
            echo = console(session.workload)
            echo(session.describe())
            runbook = Runbook(session.target, session.workload, state_dir=state_dir, listing=listing,
                              listing_dir=listing_dir, reports=session.settings.reports, source="cli", on_step=show)
            echo(f"recovery {kind}: run {run_id}{' (dry run: nothing changes)' if dry_run else ''}")
            try:
                outcome = runbook.run(kind, resume=resume, dry_run=dry_run, run_id=None if resume else run_id)
            except KeyboardInterrupt:
                echo(f"drharness: interrupted; resume with `drharness recover {kind} --resume {run_id}`", err=True)
                raise typer.Exit(130) from None
        if dry_run:
            raise typer.Exit(_show_plan(echo, outcome))
        raise typer.Exit(_show_outcome(echo, outcome, session.settings.reports / "results" / outcome.run_id))

    app.command("capture-listing")(capture_listing)


def _show_plan(echo: Callable[..., None], outcome: RunbookOutcome) -> int:
    """Print a dry run's plan and what would be refused; the exit code (1 if anything would be)."""
    for line in outcome.plan:
        echo(f"  {line}")
    for problem in outcome.refusals:
        echo(f"  would refuse: {problem}", err=True)
    return 1 if outcome.refusals else 0


def _show_outcome(echo: Callable[..., None], outcome: RunbookOutcome, records: Path) -> int:
    """Print where the workload is served from and how it checked out; the exit code (0 if consistent)."""
    if outcome.serving:
        serving = outcome.serving
        echo(f"serving: s3://{serving.bucket} ({serving.bucket_region}), "
             f"table {serving.table} ({serving.table_region})")
    echo(f"consistency: {outcome.consistency_verdict or 'not verified'}"
         + (f" ({outcome.verification.reason})" if outcome.verification else ""))
    echo(f"recovery_seconds: {outcome.recovery_seconds or 0:.3f} s; state: {outcome.state_path}")
    echo(f"result records: {records}")
    return 0 if outcome.consistency_verdict == "pass" else 1


def capture_listing(
    listing_dir: Path = typer.Option(Path(".drharness/listings"), "--listing-dir", help="Where to keep the listing."),
    config: Optional[Path] = typer.Option(None, "--config", help=CONFIG_HELP),  # noqa: UP007
    endpoint: Optional[str] = typer.Option(None, "--endpoint", help=ENDPOINT_HELP),  # noqa: UP007
    target: Optional[str] = typer.Option(None, "--target", help=TARGET_HELP),  # noqa: UP007
    live: bool = typer.Option(False, "--live", help=LIVE_HELP),
) -> None:
    """Save the primary's replicated objects and table items: what recovery verifies against if the primary goes down."""
    from drharness.procedures.listing import capture_source_listing

    with procedure_session("capture-listing", target=target, config=config, endpoint=endpoint, live=live) as session:
        listing = capture_source_listing(session.target, session.workload, listing_dir)
        echo = console(session.workload)
    echo(listing.describe())
    echo(f"saved: {listing.path}")
