"""`drharness plan`, `drharness stop` and `drharness sweep`: the dry run, the stop button and the clean-up.

    drharness plan                                   # the guide's scenarios against the workload, offline
    drharness plan --experiment experiments/az-outage.json --var region=us-east-1
    drharness plan --target aws --live               # reads STS and tags only; shows what is in scope
    drharness stop --reason "pager went off"         # every guarded run reverts its faults and ends
    drharness stop --clear                           # allow runs again
    drharness sweep --endpoint http://127.0.0.1:4566 --dry-run
"""

from __future__ import annotations

from pathlib import Path

import typer

from drharness.errors import ConfigError

NO_SWEEP_ENDPOINT = (
    "sweep needs a target: --endpoint URL of an offline world (or AWS_ENDPOINT_URL), "
    "or --target aws --live for an account"
)
STOP_WRITTEN = "stop requested: {path} (every guarded run reverts its faults and ends; `drharness stop --clear` allows runs again)"
STOP_CLEARED = "stop file removed: {path}"
STOP_ABSENT = "no stop file at {path}: nothing to clear"

ConfigOption = typer.Option(None, "--config", help="workload config (default ./workload.toml)")
EndpointOption = typer.Option(None, "--endpoint", help="offline world endpoint (default DRHARNESS_ENDPOINT, AWS_ENDPOINT_URL)")
TargetOption = typer.Option(None, "--target", help="offline (default) or aws")
LiveOption = typer.Option(False, "--live", help="opt in to reading a live account (also needs DRHARNESS_LIVE=I-UNDERSTAND)")


def register(app: typer.Typer) -> None:
    """Add `plan`, `stop` and `sweep` to the `drharness` app."""
    app.command("plan")(plan_command)
    app.command("stop")(stop_command)
    app.command("sweep")(sweep_command)


def _offline_account(endpoint: str | None, default: str) -> tuple[str, str]:
    """The account of the world at `endpoint` (control path: no AWS call, nothing logged) and how it was found.

    An endpoint that answers but is no drharness world (LocalStack, plain moto) keeps the config's
    account; one where nothing answers is an error.
    """
    if not endpoint:
        return default, "offline (no world contacted)"
    from drharness.attach import attach

    attached = attach(endpoint, default)
    if attached.is_world:
        return attached.target.account_id, f"offline world at {endpoint}"
    return default, f"offline endpoint {endpoint} (not a drharness world)"


def plan_command(
    config: Path | None = ConfigOption,
    target: str | None = TargetOption,
    experiment: Path | None = typer.Option(None, "--experiment", help="Chaos Toolkit experiment (JSON or YAML)"),
    var: list[str] = typer.Option(None, "--var", help="experiment variable name=value (repeatable)"),
    endpoint: str | None = EndpointOption,
    live: bool = LiveOption,
    region: str | None = typer.Option(None, "--region", help="region FIS experiments run in (default: primary)"),
    journal: Path | None = typer.Option(None, "--journal", help="revert journal directory the run would use"),
) -> None:
    """Print the plan (faults, targets, durations, reverts, stop conditions) without changing anything."""
    from drharness.config import load_workload
    from drharness.faults import Journal
    from drharness.safety.plan import build_plan, experiment_steps, load_experiment, parse_variables, scenario_steps
    from drharness.reporting.scrub import Scrubber
    from drharness.safety import check_region_allowed, mask_account, open_live_target
    from drharness.settings import resolve_settings

    settings = resolve_settings(target=target, config=config, endpoint=endpoint, live=live)
    variables = parse_variables(var or [])
    if variables and experiment is None:
        raise ConfigError("--var sets experiment variables; pass --experiment FILE too")
    loaded = load_workload(settings.config)
    live_target = None
    if settings.target == "aws":
        live_target = open_live_target(settings, loaded)
        account = live_target.account_id
        where = f"aws account {mask_account(account)}"
        if region:
            check_region_allowed(loaded, region)
    else:
        account, where = _offline_account(settings.endpoint, loaded.spec.offline.account_id)
    workload = loaded.with_account(account)
    if experiment is not None:
        document, source = load_experiment(experiment)
        steps, others = experiment_steps(document, source, variables)
    else:
        steps, others, source = scenario_steps(workload), [], f"the DR guide's scenarios for {workload.source}"
    plan = build_plan(workload, steps, others, source=source, target_name=where, account_id=account,
                      live_target=live_target, live_region=region, journal_dir=Journal(journal).directory)
    scrub = Scrubber.for_workload(workload).text  # the console is a log too
    for line in plan.lines():
        typer.echo(scrub(line))
    if plan.refused:
        typer.echo(f"{len(plan.refused)} fault(s) would be refused: see their scope lines", err=True)
        raise typer.Exit(1)


def stop_command(
    reason: str = typer.Option("drharness stop", "--reason", help="why (written into the stop file)"),
    clear: bool = typer.Option(False, "--clear", help="remove the stop file so runs may start again"),
    file: Path | None = typer.Option(None, "--file", help="stop file (default DRHARNESS_STOP_FILE, .drharness/STOP)"),
) -> None:
    """Ask every guarded run to stop: each reverts its faults, newest first, and ends."""
    from drharness.safety.guard import clear_stop, request_stop, stop_file_path

    if clear:
        path = stop_file_path(file)
        typer.echo((STOP_CLEARED if clear_stop(file) else STOP_ABSENT).format(path=path))
        return
    if "\n" in reason or "\r" in reason:
        raise ConfigError("--reason must be one line")
    try:
        path = request_stop(reason, file)
    except OSError as exc:
        raise ConfigError(f"cannot write the stop file ({exc}); pass --file or set DRHARNESS_STOP_FILE to a writable path") from exc
    typer.echo(STOP_WRITTEN.format(path=path))


def sweep_command(
    endpoint: str | None = EndpointOption,
    config: Path | None = ConfigOption,
    target: str | None = TargetOption,
    live: bool = LiveOption,
    dry_run: bool = typer.Option(False, "--dry-run", help="list what would be deleted; delete nothing"),
) -> None:
    """Delete what tests left: resources tagged drharness:test-resource=true and canary writes."""
    from drharness.config import load_workload
    from drharness.reporting.scrub import Scrubber
    from drharness.safety import open_live_target
    from drharness.settings import resolve_settings
    from drharness.safety.sweep import sweep
    from drharness.target import OfflineTarget

    settings = resolve_settings(target=target, config=config, endpoint=endpoint, live=live)
    loaded = load_workload(settings.config)
    if settings.target == "aws":
        chosen = open_live_target(settings, loaded)
    elif settings.endpoint:
        account, _ = _offline_account(settings.endpoint, loaded.spec.offline.account_id)
        chosen = OfflineTarget(settings.endpoint, account)  # type: ignore[assignment]
    else:
        raise ConfigError(NO_SWEEP_ENDPOINT)
    workload = loaded.with_account(chosen.account_id)
    report = sweep(chosen, workload, dry_run=dry_run)
    scrub = Scrubber.for_workload(workload).text
    for item in report.items:
        typer.echo(scrub(item.describe()))
    typer.echo(scrub(report.summary()))
    if report.failed:
        raise typer.Exit(1)
