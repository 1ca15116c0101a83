"""`drharness report monthly`, `report trend` and `report metrics`: the stakeholder report, the statistics
over drills and the DR metrics.

All read result records only. `report metrics --publish` is the one that writes to AWS (CloudWatch):
to an offline world with `--endpoint`, to a live account only with `--target aws --live`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from drharness.cli.report import NO_SUCH_RUN, report_app
from drharness.errors import ConfigError, ReportError
from drharness.results import RUN_ID_ENV, ResultRecord, list_runs, read_records

if TYPE_CHECKING:
    from drharness.config import Workload
    from drharness.redaction import Scrubber

NO_RUN = "no result records under {where}; run `drharness drill` (or the DR suites) first, or pass --reports"
PUBLISH_WHERE = ("--publish needs somewhere to publish: --endpoint URL of a running offline world, "
                 "or --target aws --live (with DRHARNESS_LIVE=I-UNDERSTAND)")
MIXED_TARGETS = ("run {run} was measured {measured}; publishing it to {target} would present those figures as {target} "
                 "ones. Publish offline figures to an offline world (--endpoint) and live ones to AWS")

_registered = False


def register(app: typer.Typer) -> None:
    """Add `monthly`, `trend` and `metrics` to the `report` group (which cli.report adds to `app`)."""
    global _registered
    if _registered:
        return
    _registered = True
    report_app.command("monthly")(monthly)
    report_app.command("trend")(trend)
    report_app.command("metrics")(metrics)


@dataclass(frozen=True)
class _Inputs:
    """What a report command reads: the workload (names, tiers, accounts to mask), the records, where from."""

    workload: Workload
    records: list[ResultRecord]
    results_dir: Path
    reports: Path

    @property
    def scrubber(self) -> Scrubber:
        from drharness.redaction import Scrubber

        return Scrubber.for_workload(self.workload)


def _inputs(results: Path | None, reports: Path | None, config: Path | None) -> _Inputs:
    from drharness.config import load_workload
    from drharness.reporting.runs import load_records
    from drharness.settings import resolve_settings

    settings = resolve_settings(config=config, reports=reports)
    workload = load_workload(settings.config)
    results_dir = results or settings.reports / "results"
    if not results_dir.is_dir():
        raise ReportError(NO_RUN.format(where=results_dir))
    return _Inputs(workload, load_records(results_dir), results_dir, settings.reports)


_RESULTS = typer.Option(None, "--results", help="results directory holding <run_id>/ (default <reports>/results)")
_REPORTS = typer.Option(None, "--reports", help="reports root (default ./reports)")
_CONFIG = typer.Option(None, "--config", help="workload config: names, tiers and accounts to mask (default ./workload.toml)")


def trend(
    months: int = typer.Option(None, "--months", help="the last N months with records (default: every run kept)"),
    recent: int = typer.Option(2, "--recent", help="runs in the recent period a regression is judged on (vs as many before)"),
    threshold: float = typer.Option(20.0, "--threshold", help="percent by which a p95 must worsen to be a regression"),
    floor: float = typer.Option(0.5, "--floor", help="seconds by which a p95 must worsen to be a regression"),
    output: Path = typer.Option(None, "--output", help="where trend.html, trend.md and trend.png go (default <reports>/trend)"),
    results: Path = _RESULTS, reports: Path = _REPORTS, config: Path = _CONFIG,
) -> None:
    """Statistics over drills: p50/p95/max of RTO, RPO and lag per check, margins, regressions, flaky checks."""
    from drharness.reporting.runs import OFFLINE_LABEL
    from drharness.reporting.trend import write_trend

    given = _inputs(results, reports, config)
    out = write_trend(given.records, output or given.reports / "trend", scrubber=given.scrubber, months=months,
                      recent_runs=recent, threshold=threshold / 100.0, floor_seconds=floor, where=str(given.results_dir))
    scrub, t = given.scrubber.text, out.trend
    typer.echo(f"DR trend over {len(t.runs)} run(s) ({', '.join(t.months)}): {out.html} and {out.markdown}")
    for row in t.rows():
        check, resource, measure, _, count, p50, p95, top, objective, margin, flag = row
        typer.echo(scrub(f"  {measure:7} {check} ({resource}): n={count} p50 {p50} p95 {p95} max {top}; "
                         f"objective {objective}, margin {margin}" + (f" [{flag}]" if flag != "-" else "")))
    for regression in t.regressions:
        typer.echo(scrub(f"regression: {regression.summary()}"))
    for flaky in t.flaky:
        typer.echo(scrub(f"flaky: {flaky.summary()}"))
    if t.offline:
        typer.echo(f"figures: {OFFLINE_LABEL}")


def monthly(
    month: str = typer.Option(None, "--month", help="YYYY-MM (default: the newest month with records)"),
    output: Path = typer.Option(None, "--output", help="where <YYYY-MM>/ goes (default <reports>/monthly)"),
    results: Path = _RESULTS, reports: Path = _REPORTS, config: Path = _CONFIG,
) -> None:
    """Write the monthly DR report (HTML and Markdown, with charts) from the result records."""
    from drharness.reporting.monthly import write_monthly
    from drharness.reporting.runs import OFFLINE_LABEL

    given = _inputs(results, reports, config)
    out = write_monthly(given.records, output or given.reports / "monthly", month, workload=given.workload,
                        scrubber=given.scrubber, where=str(given.results_dir))
    report = out.report
    summary = report.summary
    typer.echo(f"monthly DR report {report.month}: {out.html} and {out.markdown} "
               f"({len(report.runs)} run(s), {summary.count('pass')} pass, {summary.count('fail')} fail, "
               f"{summary.count('error')} error; {len(out.charts)} chart(s))")
    if report.offline:
        typer.echo(f"figures: {OFFLINE_LABEL}")


def metrics(
    run: str = typer.Option(None, "--run", help=f"run whose records to use (default ${RUN_ID_ENV}, else the newest)"),
    publish: bool = typer.Option(False, "--publish", help="put the metrics to CloudWatch (DR/Backup, DR/Replication, DR/Readiness)"),
    endpoint: str = typer.Option(None, "--endpoint", help="an offline world to publish to (http://127.0.0.1:PORT)"),
    target: str = typer.Option(None, "--target", help="offline (default) or aws: where --publish goes"),
    live: bool = typer.Option(False, "--live", help="opt in to publishing to a live account (also needs DRHARNESS_LIVE)"),
    reports: Path = typer.Option(None, "--reports", help="reports root holding results/<run_id>/ (default ./reports)"),
    config: Path = typer.Option(None, "--config", help="workload config: project, environment, region (default ./workload.toml)"),
) -> None:
    """Compute BackupSuccessRate, ReplicationLag and DRReadinessScore from a run's records; print or publish them."""
    from drharness.config import load_workload
    from drharness.procedures.metrics_publish import publish_metrics
    from drharness.reporting.metrics import compute_metrics, describe_metrics, metric_values
    from drharness.settings import resolve_settings

    settings = resolve_settings(target=target, config=config, endpoint=endpoint, reports=reports, live=live)
    runs = list_runs(settings.reports)
    run_id = run or os.environ.get(RUN_ID_ENV) or (runs[-1] if runs else None)
    where = settings.reports / "results"
    if run_id is None:
        raise ReportError(NO_RUN.format(where=where))
    records = read_records(settings.reports, run_id) if run_id in runs else []
    if not records:
        raise ReportError(NO_SUCH_RUN.format(run=run_id, where=where, runs=", ".join(runs[-5:]) or "none"))
    computed = compute_metrics(records)
    typer.echo(f"DR metrics of run {run_id} ({len(records)} records, measured {', '.join(computed.targets)}):")
    for line in describe_metrics(computed):
        typer.echo(f"  {line}")
    if not publish:
        return
    workload = load_workload(settings.config)
    if settings.endpoint:
        from drharness.attach import attach

        publish_to = attach(settings.endpoint, workload.spec.offline.account_id).target
    elif settings.target == "aws":
        from drharness.safety import open_live_target

        publish_to = open_live_target(settings, workload)  # type: ignore[assignment]
    else:
        raise ConfigError(PUBLISH_WHERE)
    if set(computed.targets) != {publish_to.name}:
        raise ReportError(MIXED_TARGETS.format(run=run_id, measured=" and ".join(computed.targets), target=publish_to.name))
    put = publish_metrics(publish_to, workload.primary_region, computed, project=workload.spec.project,
                          environment=workload.spec.environment)
    skipped = len(metric_values(computed)) - len(put)
    typer.echo(f"published {len(put)} metric(s) to CloudWatch in {workload.primary_region} ({publish_to.name})"
               + (f"; {skipped} not measured, not published" if skipped else ""))
