"""`drharness deploy`: build the workload in an offline world and read every DR property back."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from drharness.config import load_workload
from drharness.deploy import DeployReport, VerificationError, deploy_workload
from drharness.attach import attach
from drharness.target import OfflineTarget

CONFIG_HELP = "Workload config (default: $DRHARNESS_CONFIG, ./workload.toml, then the built-in seed workload)."
ENDPOINT_HELP = "Deploy into the offline world at this endpoint (as `drharness world serve` printed it)."


def render_report(report: DeployReport, console: Console | None = None) -> None:
    """Print the resources of a deploy and its read-back as a table."""
    console = console or Console()
    table = Table(title=f"deployed ({report.target}, {report.duration_seconds:.1f} s)")
    for column in ("resource", "name", "region", "action"):
        table.add_column(column, overflow="fold")
    for item in report.resources:
        table.add_row(item.kind, item.name, item.region, item.action)
    console.print(table)
    verification = report.verification
    console.print(
        f"read back {verification.properties_checked} DR properties: "
        f"{len(verification.findings)} differ, {len(verification.unverified)} not verifiable on this target"
    )
    for item in verification.unverified:
        console.print(f"  not verified: {item}")
    if verification.findings:
        findings = Table(title="DR properties that did not stick")
        for column in ("resource", "property", "expected", "actual"):
            findings.add_column(column, overflow="fold")
        for finding in verification.findings:
            findings.add_row(finding.resource, finding.property, finding.expected, finding.actual)
        console.print(findings)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `drharness` app."""

    @app.command("deploy")
    def deploy(
        config: Optional[Path] = typer.Option(None, "--config", help=CONFIG_HELP),  # noqa: UP007 - typer needs Optional
        endpoint: Optional[str] = typer.Option(None, "--endpoint", help=ENDPOINT_HELP),  # noqa: UP007
    ) -> None:
        """Deploy the workload offline with the guide's DR settings and verify each one stuck."""
        workload = load_workload(config)
        try:
            if endpoint:
                report = deploy_workload(attach(endpoint, workload.account_id, require_world=True).target, workload)
            else:
                from drharness.world import World

                with World(workload.spec.offline) as world:
                    report = deploy_workload(OfflineTarget(world.endpoint, workload.account_id), workload)
        except VerificationError as exc:
            render_report(exc.report, Console(stderr=True))
            raise
        render_report(report)
