"""The guide's CloudWatch DR metrics, computed from result records only (`procedures.metrics_publish` puts them).

The guide's `dr-metrics.py` returns constants (98.5, 45.0, 95.0). Here each is made from records:

- **BackupSuccessRate** (DR/Backup, Percent): completed backup jobs / finished backup jobs
  (COMPLETED, FAILED, ABORTED, EXPIRED, PARTIAL) over the inventory's 30-day window, from the
  latest `inventory:backup-jobs` record of each vault. Jobs still running are not counted.
- **ReplicationLag** (DR/Replication, Seconds): the worst p99 among the latest lag measurement of
  each (check, resource): the record's value when its metric is `replication_lag_p99`, else the p99
  its evidence holds (`lag_p99_seconds`, `p99`, ... as `evidence.lags_of` reads them). A lag record
  that timed out has no p99 and is not counted.
- **DRReadinessScore** (DR/Readiness, Percent): the weighted share of passing verdicts among the
  latest pass/fail/error verdict of each (check, resource), weighted by tier: critical 3,
  important 2, standard 1 (no tier: 1). An error counts as a failure; "info" records are not verdicts,
  nor are the harness's self-checks (records of kind "self-check"): the score is the workload's.
  100 when every check passes, 0 when none does:

      score = 100 * sum(w(tier) for passing) / sum(w(tier) for all latest verdicts)

A metric with nothing to compute from is None ("not measured") and is never published as a number.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from drharness.compliance.inventory_records import CHECK_BACKUP_JOBS, FINISHED_JOB_STATES, SUCCESS_JOB_STATE
from drharness.reporting.evidence import NOT_MEASURED, lags_of, parse_time
from drharness.results import JsonValue, ResultRecord

BACKUP_NAMESPACE, BACKUP_METRIC = "DR/Backup", "BackupSuccessRate"
LAG_NAMESPACE, LAG_METRIC = "DR/Replication", "ReplicationLag"
READINESS_NAMESPACE, READINESS_METRIC = "DR/Readiness", "DRReadinessScore"
LAG_METRIC_NAME = "replication_lag_p99"
TIER_WEIGHTS: Mapping[str, float] = {"critical": 3.0, "important": 2.0, "standard": 1.0}
DEFAULT_WEIGHT = 1.0
VERDICTS = ("pass", "fail", "error")
LAG_UNITS = ("s", "seconds")


@dataclass(frozen=True)
class DrMetrics:
    """The three DR metrics and what each was computed from."""

    backup_success_rate_percent: float | None
    backup_jobs_completed: int
    backup_jobs_finished: int
    replication_lag_p99_seconds: float | None
    replication_lag_resource: str
    lag_measurements: int
    readiness_score_percent: float | None
    verdicts_counted: int
    verdicts_passing: int
    targets: tuple[str, ...]

    @property
    def offline(self) -> bool:
        return "offline" in self.targets


def _time_key(record: ResultRecord) -> tuple[float, str]:
    moment = parse_time(record.started_at)
    return (moment.timestamp() if moment else 0.0, record.started_at)


def latest_by_check(records: Iterable[ResultRecord]) -> dict[tuple[str, str], ResultRecord]:
    """The newest record of each (check, resource), by started_at (later files win ties)."""
    latest: dict[tuple[str, str], ResultRecord] = {}
    for record in records:
        key = (record.check, record.resource)
        if key not in latest or _time_key(record) >= _time_key(latest[key]):
            latest[key] = record
    return latest


def _count(value: JsonValue) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    return int(value) if math.isfinite(value) and value > 0 else 0


def backup_success(records: Iterable[ResultRecord]) -> tuple[int, int]:
    """(completed, finished) backup jobs from the latest inventory backup-jobs record of each vault."""
    completed = finished = 0
    for (check, _), record in latest_by_check(records).items():
        if check != CHECK_BACKUP_JOBS or record.verdict == "error":
            continue
        states = record.evidence.get("states")
        if not isinstance(states, Mapping):
            continue
        for state, count in states.items():
            if state in FINISHED_JOB_STATES:
                finished += _count(count)
                if state == SUCCESS_JOB_STATE:
                    completed += _count(count)
    return completed, finished


def _evidence_p99(record: ResultRecord) -> float | None:
    lags = lags_of(record)
    return dict(lags.percentiles_seconds).get("p99") if lags else None


def lag_p99_of(record: ResultRecord) -> float | None:
    """A record's p99 replication lag in seconds: its value for a lag p99 metric, else its evidence's p99; or None."""
    if record.metric == LAG_METRIC_NAME and record.unit in LAG_UNITS:
        value = record.value
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    return _evidence_p99(record)


def is_lag_record(record: ResultRecord) -> bool:
    """A replication-lag measurement: its metric is the lag p99, or its evidence holds a p99."""
    return record.metric == LAG_METRIC_NAME or _evidence_p99(record) is not None


def latest_lags(records: Iterable[ResultRecord]) -> list[tuple[ResultRecord, float | None]]:
    """The latest lag record of each (check, resource), by resource, with its p99 (None when it has none)."""
    latest = latest_by_check(r for r in records if is_lag_record(r)).values()
    return [(record, lag_p99_of(record)) for record in sorted(latest, key=lambda r: r.resource)]


def worst_lag(records: Iterable[ResultRecord]) -> tuple[float | None, str, int]:
    """(worst p99 seconds, its resource, how many lag measurements) among the latest lag records."""
    measured = [(p99, record.resource) for record, p99 in latest_lags(records) if p99 is not None]
    if not measured:
        return None, "", 0
    worst, resource = max(measured, key=lambda item: item[0])
    return worst, resource, len(measured)


def tier_weight(tier: str | None) -> float:
    return TIER_WEIGHTS.get(tier or "", DEFAULT_WEIGHT)


def readiness(records: Iterable[ResultRecord]) -> tuple[float | None, int, int]:
    """(score percent, verdicts counted, verdicts passing) over the latest verdict of each (check, resource)."""
    # the latest record decides: a check that now reports only "info" no longer counts an old failure
    latest = [r for r in latest_by_check(records).values() if r.verdict in VERDICTS and r.judges_objective]
    if not latest:
        return None, 0, 0
    total = sum(tier_weight(r.tier) for r in latest)
    passing = [r for r in latest if r.verdict == "pass"]
    score = 100.0 * sum(tier_weight(r.tier) for r in passing) / total
    return score, len(latest), len(passing)


def compute_metrics(records: Sequence[ResultRecord]) -> DrMetrics:
    """BackupSuccessRate, ReplicationLag and DRReadinessScore from `records` (see the module docstring)."""
    completed, finished = backup_success(records)
    lag, lag_resource, lag_count = worst_lag(records)
    score, counted, passing = readiness(records)
    return DrMetrics(
        backup_success_rate_percent=100.0 * completed / finished if finished else None,
        backup_jobs_completed=completed,
        backup_jobs_finished=finished,
        replication_lag_p99_seconds=lag,
        replication_lag_resource=lag_resource,
        lag_measurements=lag_count,
        readiness_score_percent=score,
        verdicts_counted=counted,
        verdicts_passing=passing,
        targets=tuple(sorted({r.target for r in records})),
    )


def metric_values(metrics: DrMetrics) -> list[tuple[str, str, float | None, str]]:
    """(namespace, metric name, value or None, CloudWatch unit) of each DR metric."""
    return [
        (BACKUP_NAMESPACE, BACKUP_METRIC, metrics.backup_success_rate_percent, "Percent"),
        (LAG_NAMESPACE, LAG_METRIC, metrics.replication_lag_p99_seconds, "Seconds"),
        (READINESS_NAMESPACE, READINESS_METRIC, metrics.readiness_score_percent, "Percent"),
    ]


def metric_basis(metrics: DrMetrics) -> list[str]:
    """What each DR metric was computed from, in `metric_values` order."""
    lag_from = f", {metrics.replication_lag_resource}" if metrics.replication_lag_resource else ""
    return [
        f"{metrics.backup_jobs_completed} completed of {metrics.backup_jobs_finished} finished backup jobs",
        f"worst p99 of {metrics.lag_measurements} lag measurement(s){lag_from}",
        f"{metrics.verdicts_passing} of {metrics.verdicts_counted} latest verdicts passing, tier-weighted",
    ]


def describe_metrics(metrics: DrMetrics) -> list[str]:
    """One line per metric: namespace, name, value (or "not measured") and what it was computed from."""
    units = {"Percent": "%", "Seconds": "s"}
    return [
        f"{namespace} {name}: {NOT_MEASURED if value is None else f'{value:.4g} {units[unit]}'} ({basis})"
        for (namespace, name, value, unit), basis in zip(metric_values(metrics), metric_basis(metrics))
    ]


__all__ = [
    "DrMetrics",
    "TIER_WEIGHTS",
    "backup_success",
    "compute_metrics",
    "describe_metrics",
    "is_lag_record",
    "lag_p99_of",
    "latest_lags",
    "metric_basis",
    "metric_values",
    "latest_by_check",
    "readiness",
    "worst_lag",
]
