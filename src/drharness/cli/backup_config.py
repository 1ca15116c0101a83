"""`drharness backup-config`: save the CloudFormation stacks' configuration, or redeploy the DR stack from a copy."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from drharness.cli.failover import CONFIG_HELP, ENDPOINT_HELP, LIVE_HELP, TARGET_HELP, console, procedure_session


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `drharness` app."""

    @app.command("backup-config")
    def backup_config(
        restore: Optional[str] = typer.Option(  # noqa: UP007 - typer needs Optional
            None, "--restore", metavar="PREFIX",
            help="Redeploy a stack from this backup: its stamp, cloudformation/<stamp>/, or 'latest'."),
        stack: Optional[str] = typer.Option(None, "--stack", help="The stack to restore (default: the DR stack)."),  # noqa: UP007
        list_backups: bool = typer.Option(False, "--list", help="List the backups in the config-backup bucket."),
        config: Optional[Path] = typer.Option(None, "--config", help=CONFIG_HELP),  # noqa: UP007
        endpoint: Optional[str] = typer.Option(None, "--endpoint", help=ENDPOINT_HELP),  # noqa: UP007
        target: Optional[str] = typer.Option(None, "--target", help=TARGET_HELP),  # noqa: UP007
        live: bool = typer.Option(False, "--live", help=LIVE_HELP),
    ) -> None:
        """Save each stack's description, template and parameters to the config-backup bucket (or --restore one)."""
        from drharness.procedures import config_backup

        with procedure_session("backup-config", target=target, config=config, endpoint=endpoint, live=live) as session:
            workload = session.workload
            echo = console(workload)
            bucket = workload.config_backup_bucket
            if list_backups:
                for stamp in config_backup.list_backups(session.target, workload):
                    echo(f"s3://{bucket}/{config_backup.ROOT}/{stamp}/")
                return
            if restore is None:
                backup = config_backup.backup_stacks(session.target, workload)
                for saved in backup.stacks:
                    echo(f"saved {saved.role} stack {saved.name} ({saved.region}): s3://{bucket}/{saved.prefix} "
                         f"({saved.parameter_count} parameters)")
                echo(f"backup {backup.stamp} complete in {backup.duration_seconds:.2f} s; "
                     f"restore with `drharness backup-config --restore {backup.stamp}`")
                return
            result = config_backup.restore_stack(session.target, workload, restore, stack=stack)
        echo(f"stack {result.stack} ({result.region}) {result.action} from s3://{bucket}/{result.prefix}: {result.status}")
        echo(f"template {'equals' if result.template_matches else 'DIFFERS FROM'} the saved one; "
             f"parameters {'equal' if result.parameters_match else 'DIFFER FROM'} the saved ones")
        raise typer.Exit(0 if result.matches else 1)
