"""`drharness failover`: the guide's auto-failover, run once against a world or (opted in) an account."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Optional

import typer

from drharness.config import Workload
from drharness.errors import ConfigError
from drharness.session import DrSession
from drharness.settings import resolve_settings

CONFIG_HELP = "Workload config (default: $DRHARNESS_CONFIG, ./workload.toml, then the built-in seed workload)."
ENDPOINT_HELP = "The offline world to act on (as `drharness world serve` printed it; default $DRHARNESS_ENDPOINT)."
TARGET_HELP = "offline (default) or aws."
REPORTS_HELP = "Where result records go (default ./reports)."
LIVE_HELP = "Opt in to a live run (also needs DRHARNESS_LIVE=I-UNDERSTAND and the config's allowlists)."
NEEDS_ENDPOINT = (
    "`drharness {command}` acts on a running world: start one with `drharness world serve`, deploy into it "
    "with `drharness deploy --endpoint URL`, then pass --endpoint URL (or set DRHARNESS_ENDPOINT)"
)


def procedure_session(
    command: str, *, target: str | None, config: Path | None, endpoint: str | None, reports: Path | None = None,
    live: bool = False,
) -> DrSession:
    """A session on an existing world (offline) or an opted-in account; a procedure never acts on a throwaway world."""
    settings = resolve_settings(target=target, config=config, endpoint=endpoint, reports=reports, live=live)
    if settings.target == "offline" and not settings.endpoint:
        raise ConfigError(NEEDS_ENDPOINT.format(command=command))
    return DrSession(settings, deploy=False, source="cli")


def console(workload: Workload) -> Callable[..., None]:
    """`typer.echo` with the workload's account ids masked (bucket names carry them; the console is a log)."""
    from drharness.redaction import Scrubber

    scrub = Scrubber.for_workload(workload).text

    def echo(text: str, err: bool = False) -> None:
        typer.echo(scrub(text), err=err)

    return echo


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `drharness` app."""

    @app.command("failover")
    def failover(
        dry_run: bool = typer.Option(False, "--dry-run", help="Print what would be checked and changed; change nothing."),
        force: bool = typer.Option(False, "--force", help="Fail over even when the primary is healthy (a drill)."),
        config: Optional[Path] = typer.Option(None, "--config", help=CONFIG_HELP),  # noqa: UP007 - typer needs Optional
        endpoint: Optional[str] = typer.Option(None, "--endpoint", help=ENDPOINT_HELP),  # noqa: UP007
        target: Optional[str] = typer.Option(None, "--target", help=TARGET_HELP),  # noqa: UP007
        reports: Optional[Path] = typer.Option(None, "--reports", help=REPORTS_HELP),  # noqa: UP007
        live: bool = typer.Option(False, "--live", help=LIVE_HELP),
        health_timeout: float = typer.Option(3.0, "--health-timeout", min=0.1, help="Seconds each health read may take."),
        stack_timeout: float = typer.Option(1800.0, "--stack-timeout", min=1, help="Seconds the DR stack change may take."),
    ) -> None:
        """Check the primary region; if it is unhealthy, activate the DR stack and publish the DR notice."""
        from drharness.procedures.failover import run_failover
        from drharness.results.recorder import Recorder

        with procedure_session("failover", target=target, config=config, endpoint=endpoint, reports=reports,
                               live=live) as session:
            echo = console(session.workload)
            echo(session.describe())
            recorder = Recorder(session.sink, session.target.name, scenario="failover")
            outcome = run_failover(session.target, session.workload, dry_run=dry_run, force=force,
                                   recorder=None if dry_run else recorder, health_timeout_s=health_timeout,
                                   stack_timeout_s=stack_timeout)
        echo(f"failover run {outcome.run_id}{' (dry run: nothing changed)' if dry_run else ''}")
        for line in outcome.plan:
            echo(f"  {line}")
        for phase in outcome.phases:
            echo(f"  {phase.offset_seconds:9.3f} s  {phase.phase:<15} {phase.note}")
        if outcome.failover_seconds is not None:
            echo(f"failover_seconds: {outcome.failover_seconds:.3f} s (target {session.target.name})")
        echo(f"{outcome.action}: {outcome.reason}")
        if outcome.records:
            echo(f"result records: {session.sink.directory}")
        raise typer.Exit(0 if outcome.success else 1)
