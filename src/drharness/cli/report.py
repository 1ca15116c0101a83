"""`drharness report ...`: reports built from the result records (never from AWS).

`report_app` is the `report` group; other report modules add their commands to it
(`@report_app.command("monthly")`) before `register` runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from drharness.errors import ReportError
from drharness.results import RUN_ID_ENV, failed_self_checks, list_runs, read_records

report_app = typer.Typer(
    name="report",
    help="Build reports from the result records (Allure HTML, ...); reports never call AWS.",
    no_args_is_help=True,
)

GATE_FAILED = "quality gate: {count} critical objective(s) missed in run {run}"
GATE_UNTRUSTED = ("quality gate: {count} self-check(s) of the harness did not pass in run {run}; its objective verdicts "
                  "are untrusted until they do")
NO_RECORDS = "no result records in {where}: the quality gate has nothing to judge, so it fails (or pass --no-gate)"
NO_SUCH_RUN = "run {run!r} has no result records under {where}; runs there: {runs}"


def register(app: typer.Typer) -> None:
    """Add the `report` group to the `drharness` app."""
    app.add_typer(report_app, name="report")


def _runs_in_results(results_dir: Path) -> list[str]:
    """The runs whose records are attached in these Allure results: every run the report shows is gated."""
    import json

    runs: set[str] = set()
    for path in results_dir.glob("*-attachment.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("run_id"), str) and data["run_id"]:
            runs.add(data["run_id"])
    return sorted(runs)


@report_app.command("allure")
def allure_report(
    results: Path = typer.Option(None, "--results", help="Allure results to build from (default <reports>/allure-results)"),
    output: Path = typer.Option(None, "--output", help="where the HTML report goes (default <reports>/allure-report)"),
    reports: Path = typer.Option(None, "--reports", help="reports root holding results/<run_id>/ (default ./reports)"),
    run: str = typer.Option(None, "--run", help=f"run whose records the gate judges (default ${RUN_ID_ENV}, else every run in the Allure results, else the newest)"),
    config: Path = typer.Option(None, "--config", help="workload config: regions and accounts to mask (default ./workload.toml)"),
    gate: bool = typer.Option(True, "--gate/--no-gate", help="exit 1 when a critical-tier objective was missed"),
) -> None:
    """Build the Allure HTML report (with history trends) and apply the critical-objective quality gate."""
    from drharness.config import load_workload
    from drharness.reporting.allure_report import build_report, critical_misses
    from drharness.reporting.scrub import Scrubber
    from drharness.settings import resolve_settings

    settings = resolve_settings(config=config, reports=reports)
    workload = load_workload(settings.config)
    results_dir = results or settings.reports / "allure-results"
    output_dir = output or settings.reports / "allure-report"
    known = list_runs(settings.reports)
    runs = [run] if run else [os.environ[RUN_ID_ENV]] if os.environ.get(RUN_ID_ENV) else (
        _runs_in_results(results_dir) or known[-1:])
    records = [r for one in runs if one in known for r in read_records(settings.reports, one)]
    if run and not records:  # a run named on purpose and not judged would leave CI green without a verdict
        raise ReportError(NO_SUCH_RUN.format(run=run, where=settings.reports / "results",
                                             runs=", ".join(known[-5:]) or "none"))
    run_id = ", ".join(runs) or None
    scrubber = Scrubber.for_workload(workload)
    accounts = scrubber.accounts
    outcome = build_report(results_dir, output_dir, records, regions=workload.regions, accounts=accounts)
    scrub = scrubber.text  # the console is a CI log: it gets the report's masking too
    typer.echo(f"Allure report: {outcome.report_dir / 'index.html'} ({outcome.results} results, "
               f"trend of {outcome.trend_runs} run(s); {len(records)} records of run {run_id or 'none'})")
    if not gate:
        return
    if not records:  # a gate that judged nothing must not leave CI green
        typer.echo(NO_RECORDS.format(where=settings.reports / "results"), err=True)
        raise typer.Exit(1)
    missed = critical_misses(records)
    if missed:
        typer.echo(GATE_FAILED.format(count=len(missed), run=run_id), err=True)
        for record in missed:
            typer.echo(scrub(f"  {record.check} ({record.resource}): {record.reason}"), err=True)
        raise typer.Exit(1)
    untrusted = failed_self_checks(records)
    if untrusted:  # a gate passed on verdicts the harness could not stand behind would be a false green
        typer.echo(GATE_UNTRUSTED.format(count=len(untrusted), run=run_id), err=True)
        for record in untrusted:
            typer.echo(scrub(f"  {record.check} ({record.resource}): {record.reason}"), err=True)
        raise typer.Exit(1)
    typer.echo(f"quality gate: passed (no critical objective missed in run {run_id}, every self-check passed)")
