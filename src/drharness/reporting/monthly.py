"""The monthly stakeholder DR report (HTML and Markdown), made from result records only.

The guide's `monthly-dr-report.sh` prints four AWS CLI tables. This report reads the records the
month's runs wrote (the inventory's facts and every measured verdict) and shows:

1. the tier table: the workload's RTO/RPO objective of each tier vs the worst measured value of the
   month (rto, restore and failover records; rpo and data-loss-window records; objective records only,
   never the harness's self-checks) and the verdict;
2. the recovery points of the last 30 days, replication status and lag p99;
3. the month's test results (counts by verdict, each failure with its reason) and the trend against
   earlier months (runs are grouped by the month they started in);
4. the DR cost and the DR metrics (`reporting.metrics`);
5. charts: pass rate and worst RTO/RPO per month, lag p99 per replicated resource;
6. statistics over drills (`reporting.trend`) and "the harness checked itself": the self-checks, a
   failed one making the month's objective verdicts untrusted (a banner says so).

Offline figures are labelled `OFFLINE_LABEL`; account ids and credentials are masked (`Scrubber`),
and the written report is scanned for them before it is kept.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from matplotlib.figure import Figure

from drharness.config import TIER_NAMES, Workload
from drharness.errors import ReportError
from drharness.compliance.inventory_records import (
    CHECK_DR_COST, CHECK_MONTHLY_RULE, CHECK_RECOVERY_POINTS, CHECK_RULE_SCHEDULE, CHECK_S3_REPLICATION,
    CHECK_TABLE_REPLICAS,
)
from drharness.reporting import charts
from drharness.reporting.evidence import NOT_MEASURED, format_value, human_seconds, parse_time
from drharness.reporting.metrics import (
    DrMetrics, compute_metrics, is_lag_record, lag_p99_of, latest_by_check, latest_lags, metric_basis, metric_values,
)
from drharness.reporting.monthly_model import (
    Chart, Measure, MonthlyOutput, MonthlyReport, MonthSummary, Row, Section, TierRow,
)
from drharness.reporting.runs import (
    LEAKED, OFFLINE_LABEL, RPO_METRICS, RTO_METRICS, SECOND_UNITS, check_month, is_rpo, is_rto, load_records,
    objective_records, records_by_month, run_month, self_check_records,
)
from drharness.reporting.scrub import Scrubber, scan_tree
from drharness.reporting.trend import TREND_HEADER, Trend, build_trend
from drharness.results import JsonValue, ResultRecord, failed_self_checks, iso, utc_now

TREND_MONTHS = 12
LOG_SCALE_RATIO = 100.0
NO_RECORDS = "no result records under {where}; run `drharness drill` (or the DR suites) first"
NO_MONTH = "no result records for {month} under {where}; months with records: {months}"
TEMPLATES = ("monthly.md.j2", "monthly.html.j2")


# -- measures ---------------------------------------------------------------------------------------


def _seconds(record: ResultRecord) -> float | None:
    return record.value if record.unit in SECOND_UNITS else None


def _verdict(records: Sequence[ResultRecord]) -> str:
    verdicts = {r.verdict for r in records if r.verdict != "info"}
    for verdict in ("fail", "error", "pass"):
        if verdict in verdicts:
            return verdict
    return NOT_MEASURED


def measure(records: Sequence[ResultRecord], config_objective: float | None) -> Measure:
    """The worst value of `records` (one kind, one tier) against the tier's objective.

    The objective is the workload's (its config's tier objective); without a workload, the strictest
    objective the records carry."""
    objectives = sorted({r.objective for r in records if r.objective is not None})
    valued = [r for r in records if _seconds(r) is not None]
    worst = max(valued, key=lambda r: _seconds(r) or 0.0, default=None)
    if config_objective is not None:
        objective, source = config_objective, "config"
    elif objectives:
        objective, source = objectives[0], "records"
    else:
        objective, source = None, ""
    return Measure(objective, source, _seconds(worst) if worst else None, len(records), _verdict(records),
                   tuple(sorted({r.target for r in records})))


def untrusted_reason(records: Sequence[ResultRecord]) -> str:
    """Why the objective verdicts of `records` cannot be trusted: the harness's self-checks that failed."""
    failed = failed_self_checks(records)
    if not failed:
        return ""
    named = ", ".join(sorted({f"{r.check} ({r.resource}, {r.verdict})" for r in failed}))
    return (f"{len(failed)} self-check(s) of the harness did not pass: {named}. An instrument or a fault did not "
            "do what the drill relies on, so the objective verdicts of these runs are untrusted until it does.")


def tier_rows(records: Sequence[ResultRecord], workload: Workload | None) -> tuple[TierRow, ...]:
    rows = []
    judged = objective_records(records)
    for tier in TIER_NAMES:
        spec = workload.tier(tier) if workload else None
        mine = [r for r in judged if r.tier == tier]
        rows.append(TierRow(tier, measure([r for r in mine if is_rto(r)], spec.rto_seconds if spec else None),
                            measure([r for r in mine if is_rpo(r)], spec.rpo_seconds if spec else None)))
    return tuple(rows)


def summarize(month: str, all_records: Sequence[ResultRecord]) -> MonthSummary:
    """The month's verdicts on the workload's objectives (self-checks are not among them)."""
    records = objective_records(all_records)
    counts = Counter(r.verdict for r in records)
    judged = counts["pass"] + counts["fail"] + counts["error"]
    rto = [v for v in (_seconds(r) for r in records if is_rto(r)) if v is not None]
    rpo = [v for v in (_seconds(r) for r in records if is_rpo(r)) if v is not None]
    lags = [v for v in (lag_p99_of(r) for r in records if is_lag_record(r)) if v is not None]
    return MonthSummary(
        month, len({r.run_id for r in all_records}), tuple((v, counts[v]) for v in ("pass", "fail", "error", "info")),
        100.0 * counts["pass"] / judged if judged else None,
        max(rto, default=None), max(rpo, default=None), max(lags, default=None),
    )


# -- sections ---------------------------------------------------------------------------------------


def _latest(records: Sequence[ResultRecord], check: str) -> ResultRecord | None:
    found = [r for (c, _), r in latest_by_check(records).items() if c == check]
    return max(found, key=lambda r: r.started_at, default=None)


def _items(record: ResultRecord | None, key: str) -> list[Mapping[str, JsonValue]]:
    raw = record.evidence.get(key) if record else None
    return [item for item in raw if isinstance(item, Mapping)] if isinstance(raw, list) else []


def _s(value: JsonValue) -> str:
    return "" if value is None else str(value)


def _name(arn: str) -> str:
    return arn.removeprefix("arn:aws:s3:::").rsplit("/", 1)[-1] if arn else ""


def _where(record: ResultRecord | None) -> str:
    if record is None:
        return "no inventory record this month"
    label = OFFLINE_LABEL if record.target == "offline" else record.target
    return f"{record.reason} — read {record.started_at} (run {record.run_id}); {label}"


def _percent(value: float | None) -> str:
    return NOT_MEASURED if value is None else f"{value:.1f} %"


def recovery_points_section(records: Sequence[ResultRecord]) -> Section:
    record = _latest(records, CHECK_RECOVERY_POINTS)
    rows = tuple(Row((_s(p.get("created_at")), _name(_s(p.get("resource_arn"))), _s(p.get("resource_type")),
                      _s(p.get("status")), _s(p.get("storage_class")), _s(p.get("size_bytes"))))
                 for p in _items(record, "recovery_points"))
    return Section("Recovery points (last 30 days)", _where(record),
                   ("created", "resource", "type", "status", "storage class", "bytes"), rows)


def replication_section(records: Sequence[ResultRecord]) -> Section:
    rows: list[Row] = []
    s3 = _latest(records, CHECK_S3_REPLICATION)
    for rule in _items(s3, "rules"):
        rtc = f", RTC {rule.get('rtc_minutes')} min" if rule.get("rtc_minutes") else ""
        rows.append(Row((f"S3 {s3.resource if s3 else ''}", f"rule {_s(rule.get('id') or rule.get('rule_id'))}",
                         _s(rule.get("status")),
                         f"to {_s(rule.get('destination_bucket'))} ({_s(rule.get('storage_class'))}{rtc}), "
                         f"prefix '{_s(rule.get('prefix'))}', delete markers {_s(rule.get('delete_marker_replication'))}")))
    if s3 is not None and not _items(s3, "rules"):
        rows.append(Row((f"S3 {s3.resource}", "replication", "none" if s3.verdict != "error" else "error", s3.reason)))
    table = _latest(records, CHECK_TABLE_REPLICAS)
    for replica in _items(table, "replicas"):
        rows.append(Row((f"DynamoDB {table.resource if table else ''}", f"replica {_s(replica.get('region'))}",
                         _s(replica.get("status")), "global table replica")))
    for record, p99 in latest_lags(records):
        objective = f"objective {record.comparison} {format_value(record.objective, 's')}" if record.objective is not None else ""
        rows.append(Row((record.resource, f"lag p99 ({record.check})", record.verdict,
                         f"{format_value(p99, 's')} {objective} ({record.target})".strip())))
    note = "; ".join(_where(r) for r in (s3, table) if r is not None) or "no replication records this month"
    return Section("Replication status", note, ("resource", "what", "status", "detail"), tuple(rows))


def results_section(records: Sequence[ResultRecord]) -> Section:
    failed = sorted((r for r in objective_records(records) if r.verdict in ("fail", "error")),
                    key=lambda r: (r.tier or "~", r.started_at))
    rows = tuple(Row((r.verdict, r.tier or "-", r.check, r.resource, r.reason, f"{r.run_id} ({r.target})"))
                 for r in failed)
    return Section("Failed checks", f"{len(failed)} failed or errored check(s) of the workload's objectives this month",
                   ("verdict", "tier", "check", "resource", "reason", "run"), rows)


def self_check_section(records: Sequence[ResultRecord]) -> Section:
    """The harness checked itself: its instruments saw the losses it caused, its faults took and were undone."""
    checks = sorted(self_check_records(records), key=lambda r: (r.started_at, r.check, r.resource))
    passed = sum(1 for r in checks if r.verdict == "pass")
    rows = tuple(Row((r.verdict, r.check, r.resource, r.reason, f"{r.run_id} ({r.target})")) for r in checks)
    note = (f"{passed} of {len(checks)} self-check(s) passed. These are not the workload's objectives: each proves "
            "an instrument or a fault of the harness did what the objective verdicts rely on (an injected loss "
            "seen, a fault taking effect, the steady state back after its revert)."
            if checks else "no self-check records this month")
    return Section("The harness checked itself", note, ("verdict", "check", "resource", "reason", "run"), rows)


def cost_section(records: Sequence[ResultRecord]) -> Section:
    record = _latest(records, CHECK_DR_COST)
    rows: list[Row] = []
    if record is not None and record.value is not None:
        by_service = record.evidence.get("by_service")
        if isinstance(by_service, Mapping):
            rows += [Row((str(service), f"{float(amount):.2f} {record.unit}")) for service, amount in by_service.items()
                     if isinstance(amount, (int, float))]
        rows.append(Row(("total", f"{record.value:.2f} {record.unit}")))
    note = _where(record)
    if record is not None and record.evidence.get("period_start"):
        note += f". Period {_s(record.evidence.get('period_start'))} to {_s(record.evidence.get('period_end'))}"
    if record is not None and record.evidence.get("scope"):
        note += f"; scope: {_s(record.evidence.get('scope'))}"
    return Section("DR cost (Cost Explorer, BlendedCost)", note, ("service", "cost"), tuple(rows))


def schedule_section(records: Sequence[ResultRecord]) -> Section:
    rule, check = _latest(records, CHECK_MONTHLY_RULE), _latest(records, CHECK_RULE_SCHEDULE)
    rows = []
    if rule is not None:
        ev = rule.evidence
        rows.append(Row((rule.resource, _s(ev.get("state")) or "missing", _s(ev.get("expression")),
                         ", ".join(_s(t) for t in ev.get("next_fire_times") or [] if isinstance(t, str)),  # type: ignore[union-attr]
                         check.verdict if check else NOT_MEASURED)))
    note = check.reason if check else "no monthly-rule record this month"
    return Section("Monthly DR test schedule", note, ("rule", "state", "schedule", "next fire times", "verdict"), tuple(rows))


def statistics_section(trend: Trend) -> Section:
    """Statistics over drills up to this month (`reporting.trend`): distribution, margin, regressions, flaky."""
    flagged = [r.summary() for r in trend.regressions] + [f"flaky: {f.summary()}" for f in trend.flaky]
    note = (f"over {len(trend.runs)} run(s) of {', '.join(trend.months)}, one value per run of the workload's "
            f"objective records; margin: objective minus p95. " +
            ("Flagged: " + "; ".join(flagged) if flagged else "No regression, no flaky check."))
    return Section("Statistics over drills", note, TREND_HEADER, tuple(Row(row) for row in trend.rows()))


def metrics_section(metrics: DrMetrics) -> Section:
    units = {"Percent": "%", "Seconds": "s"}
    rows = tuple(Row((namespace, name, NOT_MEASURED if value is None else f"{value:.4g} {units.get(unit, unit)}", basis))
                 for (namespace, name, value, unit), basis in zip(metric_values(metrics), metric_basis(metrics)))
    return Section("DR metrics", "computed from this month's records (drharness report metrics)",
                   ("namespace", "metric", "value", "from"), rows)


# -- charts -----------------------------------------------------------------------------------------


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return buffer.getvalue()


def trend_charts(trend: Sequence[MonthSummary], records: Sequence[ResultRecord], clean: charts.Clean) -> list[Chart]:
    found: list[Chart] = []
    months = [m.month for m in trend]
    rates = [(m.month, m.pass_rate_percent) for m in trend if m.pass_rate_percent is not None]
    if rates:
        fig = Figure(figsize=(7, 2.8))
        ax = fig.subplots()
        ax.plot([m for m, _ in rates], [v for _, v in rates], marker="o", color=charts.PASS_COLOUR)
        for month, value in rates:
            ax.annotate(f"{value:.0f} %", (month, value), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
        ax.set_ylim(0, 105)
        ax.set_ylabel("passing verdicts (%)")
        ax.set_title(clean("Pass rate per month"), fontsize=10)
        found.append(Chart("Pass rate per month", "pass-rate.png", _png(fig)))
    series = [("worst RTO", [m.worst_rto_seconds for m in trend], charts.FAULT_COLOUR),
              ("worst RPO", [m.worst_rpo_seconds for m in trend], "#4a78c2")]
    if any(v is not None for _, values, _ in series for v in values):
        fig = Figure(figsize=(7, 2.8))
        ax = fig.subplots()
        for label, values, colour in series:
            points = [(m, v) for m, v in zip(months, values) if v is not None]
            if points:
                ax.plot([m for m, _ in points], [v for _, v in points], marker="o", label=label, color=colour)
        shown = [v for _, values, _ in series for v in values if v]
        if shown and max(shown) / min(shown) > LOG_SCALE_RATIO:
            ax.set_yscale("log")  # seconds of an offline restore beside hours of a live one
        ax.set_ylabel("seconds")
        ax.legend(fontsize=8)
        ax.set_title(clean("Worst measured RTO and RPO per month"), fontsize=10)
        found.append(Chart("Worst measured RTO and RPO per month", "rto-rpo.png", _png(fig)))
    lags = [(r.resource, value, r) for r, value in latest_lags(records) if value is not None]
    if lags:
        fig = Figure(figsize=(7, 0.9 + 0.45 * len(lags)))
        ax = fig.subplots()
        colours = [charts.PASS_COLOUR if r.verdict == "pass" else charts.FAIL_COLOUR for _, _, r in lags]
        ax.barh([clean(name) for name, _, _ in lags], [v for _, v, _ in lags], color=colours)
        for y, (_, value, _) in enumerate(lags):
            ax.text(value, y, f" {human_seconds(value or 0.0)}", va="center", fontsize=8)
        ax.set_xlabel("replication lag p99 (s)")
        ax.set_title(clean("Replication lag p99 (latest measurement per resource)"), fontsize=10)
        found.append(Chart("Replication lag p99", "lag-p99.png", _png(fig)))
    return found


# -- building and writing ---------------------------------------------------------------------------


def build_monthly(records: Sequence[ResultRecord], month: str | None = None, *, workload: Workload | None = None,
                  scrubber: Scrubber | None = None, where: str = "the results directory") -> MonthlyReport:
    """The report of `month` (default: the newest month with records) from every run's records."""
    by_month = records_by_month(records)
    if not by_month:
        raise ReportError(NO_RECORDS.format(where=where))
    month = check_month(month) if month else max(by_month)
    if month not in by_month:
        raise ReportError(NO_MONTH.format(month=month, where=where, months=", ".join(sorted(by_month))))
    mine = by_month[month]
    trend = tuple(summarize(m, by_month[m]) for m in sorted(by_month) if m <= month)[-TREND_MONTHS:]
    metrics = compute_metrics(mine)
    drawn = replace(scrubber or Scrubber(), every_account_like=True).text
    title = f"Monthly DR report — {workload.spec.project} {workload.spec.environment}" if workload else "Monthly DR report"
    return MonthlyReport(
        month=month, generated_at=iso(utc_now()), title=title, targets=tuple(sorted({r.target for r in mine})),
        runs=tuple(sorted({r.run_id for r in mine})), tiers=tier_rows(mine, workload), summary=trend[-1], trend=trend,
        sections=(recovery_points_section(mine), replication_section(mine), schedule_section(mine), cost_section(mine),
                  metrics_section(metrics), results_section(mine),
                  statistics_section(build_trend(records, months=TREND_MONTHS, until=month, where=where))),
        charts=tuple(trend_charts(trend, mine, drawn)),
        self_checks=self_check_section(mine), untrusted=untrusted_reason(mine),
    )


def _md_cell(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip() or " "


def render(report: MonthlyReport, template: str) -> str:
    """Render one of `TEMPLATES` for `report`."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("drharness.reporting", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "html.j2"]),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["cell"] = _md_cell
    env.filters["percent"] = _percent
    env.filters["seconds"] = lambda v: NOT_MEASURED if v is None else format_value(v, "s")
    return env.get_template(template).render(r=report, offline_label=OFFLINE_LABEL, not_measured=NOT_MEASURED)


def write_monthly(records: Sequence[ResultRecord], output_dir: Path, month: str | None = None, *,
                  workload: Workload | None = None, scrubber: Scrubber | None = None,
                  where: str = "the results directory") -> MonthlyOutput:
    """Write `<output_dir>/<YYYY-MM>/` (report.md, report.html, charts); scrubbed and scanned clean."""
    scrub = scrubber or Scrubber.for_workload(workload)
    report = build_monthly(records, month, workload=workload, scrubber=scrub, where=where)
    directory = Path(output_dir) / report.month
    staging = directory.with_name(f".{report.month}.tmp")
    if staging.exists():
        _remove(staging)
    staging.mkdir(parents=True)
    for chart in report.charts:
        (staging / chart.file_name).write_bytes(chart.png)
    (staging / "report.md").write_text(scrub.text(render(report, "monthly.md.j2")), encoding="utf-8")
    (staging / "report.html").write_text(scrub.text(render(report, "monthly.html.j2")), encoding="utf-8")
    findings = scan_tree(staging, scrub.accounts)
    if findings:
        _remove(staging)
        raise ReportError(LEAKED.format(what="monthly report", count=len(findings), first=findings[0]))
    if directory.exists():
        _remove(directory)
    staging.replace(directory)  # the old report goes only once the new one is complete and clean
    return MonthlyOutput(directory, directory / "report.md", directory / "report.html",
                         tuple(directory / c.file_name for c in report.charts), report)


def _remove(path: Path) -> None:
    import shutil

    shutil.rmtree(path)


__all__ = [
    "OFFLINE_LABEL",
    "Measure",
    "MonthSummary",
    "MonthlyOutput",
    "MonthlyReport",
    "TierRow",
    "build_monthly",
    "load_records",
    "records_by_month",
    "render",
    "write_monthly",
]
