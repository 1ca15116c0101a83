"""The DR metrics follow the records they are computed from: change a record, the metric changes."""

from __future__ import annotations

import pytest

from drharness.compliance.inventory import CHECK_BACKUP_JOBS
from drharness.reporting.evidence import lags_of
from drharness.reporting.metrics import (
    LAG_METRIC_NAME, NOT_MEASURED, TIER_WEIGHTS, compute_metrics, describe_metrics, is_lag_record, lag_p99_of,
    latest_by_check, latest_lags,
)
from drharness.results import ResultRecord

EARLY, LATE = "2025-03-01T10:00:00.000+00:00", "2025-03-02T10:00:00.000+00:00"


def record(check: str, verdict: str = "pass", *, tier: str | None = None, resource: str = "r", metric: str = "m",
           value: float | None = 1.0, unit: str = "s", started_at: str = EARLY, evidence: dict | None = None,
           target: str = "offline", kind: str | None = None) -> ResultRecord:
    return ResultRecord(check=check, scenario="s", resource=resource, tier=tier, target=target, metric=metric,  # type: ignore[arg-type]
                        value=value, unit=unit, objective=None, comparison=None, verdict=verdict,  # type: ignore[arg-type]
                        reason="", started_at=started_at, duration_seconds=0.0, evidence=evidence or {}, run_id="run",
                        kind=kind)  # type: ignore[arg-type]


def jobs(states: dict[str, int], *, vault: str = "vault", started_at: str = EARLY, verdict: str = "info") -> ResultRecord:
    return record(CHECK_BACKUP_JOBS, verdict, resource=vault, metric="backup_jobs", value=float(sum(states.values())),
                  unit="jobs", started_at=started_at, evidence={"states": states})


def lag(p99: float | None, *, resource: str = "bucket", started_at: str = EARLY, in_evidence: bool = False) -> ResultRecord:
    if in_evidence:
        return record("lag-evidence", "info", resource=resource, metric="other", value=None, started_at=started_at,
                      evidence={"lag_p99_seconds": p99})
    return record(f"replication-lag:{resource}", "pass" if p99 is not None else "fail", resource=resource,
                  metric=LAG_METRIC_NAME, value=p99, started_at=started_at, evidence={"lag_p99_seconds": p99})


def test_backup_success_rate_is_completed_over_finished_jobs() -> None:
    assert compute_metrics([jobs({"COMPLETED": 9, "FAILED": 1})]).backup_success_rate_percent == pytest.approx(90.0)
    assert compute_metrics([jobs({"COMPLETED": 3, "FAILED": 1})]).backup_success_rate_percent == pytest.approx(75.0)
    # running jobs have no outcome yet; aborted and expired ones did not back anything up
    metrics = compute_metrics([jobs({"COMPLETED": 2, "RUNNING": 5, "ABORTED": 1, "EXPIRED": 1})])
    assert metrics.backup_success_rate_percent == pytest.approx(50.0)
    assert (metrics.backup_jobs_completed, metrics.backup_jobs_finished) == (2, 4)


def test_backup_success_rate_reads_the_latest_record_of_each_vault() -> None:
    records = [jobs({"COMPLETED": 1, "FAILED": 3}), jobs({"COMPLETED": 4}, started_at=LATE),
               jobs({"FAILED": 4}, vault="other")]
    assert compute_metrics(records).backup_success_rate_percent == pytest.approx(50.0)
    # a newer error record of the vault leaves it out instead of reusing the older figure
    records.append(jobs({}, started_at="2025-03-03T00:00:00.000+00:00", verdict="error"))
    assert compute_metrics(records).backup_success_rate_percent == pytest.approx(0.0)


def test_backup_success_rate_is_not_measured_without_finished_jobs() -> None:
    assert compute_metrics([]).backup_success_rate_percent is None
    assert compute_metrics([jobs({"RUNNING": 2})]).backup_success_rate_percent is None
    assert NOT_MEASURED in describe_metrics(compute_metrics([]))[0]


def test_replication_lag_is_the_worst_latest_p99() -> None:
    records = [lag(4.0, resource="bucket"), lag(1.5, resource="table")]
    metrics = compute_metrics(records)
    assert (metrics.replication_lag_p99_seconds, metrics.replication_lag_resource, metrics.lag_measurements) == (4.0, "bucket", 2)
    records.append(lag(0.5, resource="bucket", started_at=LATE))  # the bucket's newer measurement replaces the old
    assert compute_metrics(records).replication_lag_p99_seconds == 1.5
    records.append(lag(7.25, resource="fs", in_evidence=True))  # a p99 kept in the evidence counts too
    assert compute_metrics(records).replication_lag_p99_seconds == 7.25


def test_a_lag_measurement_that_timed_out_gives_no_p99() -> None:
    metrics = compute_metrics([lag(None)])
    assert metrics.replication_lag_p99_seconds is None and metrics.lag_measurements == 0


@pytest.mark.parametrize("evidence", [
    {"lag_p99_seconds": 6.5}, {"p99": 6.5}, {"p99_seconds": 6.5}, {"percentiles_seconds": {"p50": 1.0, "p99": 6.5}},
])
def test_a_p99_in_any_evidence_shape_the_charts_read_is_a_lag_measurement(evidence: dict) -> None:
    found = record("lag-evidence", "info", resource="fs", metric="other", value=None, evidence=evidence)
    assert dict(lags_of(found).percentiles_seconds)["p99"] == 6.5  # type: ignore[union-attr]
    assert is_lag_record(found) and lag_p99_of(found) == 6.5
    metrics = compute_metrics([lag(4.0), found])
    assert (metrics.replication_lag_p99_seconds, metrics.replication_lag_resource, metrics.lag_measurements) == (6.5, "fs", 2)


def test_evidence_without_a_p99_is_not_a_lag_measurement() -> None:
    assert not is_lag_record(record("x", evidence={"p50_seconds": 1.0, "max": 3.0}))
    assert lag_p99_of(record("x", evidence={"p50_seconds": 1.0})) is None


def test_latest_lags_pairs_each_resources_latest_record_with_its_p99() -> None:
    records = [lag(4.0, resource="table"), lag(None, resource="bucket"), lag(2.0, resource="table", started_at=LATE),
               record("other", evidence={"p50_seconds": 1.0})]
    assert [(r.resource, p99) for r, p99 in latest_lags(records)] == [("bucket", None), ("table", 2.0)]


def test_readiness_is_the_tier_weighted_share_of_passing_latest_verdicts() -> None:
    records = [record("a", tier="critical"), record("b", tier="important"), record("c", tier="standard"), record("d")]
    assert compute_metrics(records).readiness_score_percent == pytest.approx(100.0)
    records.append(record("e", "fail", tier="critical"))
    total = 2 * TIER_WEIGHTS["critical"] + TIER_WEIGHTS["important"] + TIER_WEIGHTS["standard"] + 1
    expected = 100.0 * (total - TIER_WEIGHTS["critical"]) / total
    metrics = compute_metrics(records)
    assert metrics.readiness_score_percent == pytest.approx(expected)
    assert (metrics.verdicts_passing, metrics.verdicts_counted) == (4, 5)
    # a standard-tier failure costs less than a critical one
    swapped = [*records[:-1], record("e", "fail", tier="standard")]
    assert compute_metrics(swapped).readiness_score_percent > expected


def test_readiness_counts_errors_as_failures_and_ignores_info() -> None:
    base = [record("a", tier="critical"), record("inv", "info", tier="critical")]
    assert compute_metrics(base).readiness_score_percent == pytest.approx(100.0)
    with_error = [*base, record("b", "error", tier="critical")]
    assert compute_metrics(with_error).readiness_score_percent == pytest.approx(50.0)


def test_readiness_is_the_workloads_and_leaves_the_harness_self_checks_out() -> None:
    base = [record("a", tier="critical"), record("b", "fail", tier="standard")]
    score = compute_metrics(base).readiness_score_percent
    checked = [*base, record("detects-loss", "fail", tier="critical", kind="self-check"),
               record("fault-reverted", tier="critical", kind="self-check")]
    metrics = compute_metrics(checked)
    assert metrics.readiness_score_percent == pytest.approx(score) and metrics.verdicts_counted == 2


def test_readiness_follows_the_latest_verdict_of_each_check() -> None:
    failing = [record("a", "fail", tier="critical"), record("b", tier="critical")]
    assert compute_metrics(failing).readiness_score_percent == pytest.approx(50.0)
    fixed = [*failing, record("a", "pass", tier="critical", started_at=LATE)]
    assert compute_metrics(fixed).readiness_score_percent == pytest.approx(100.0)
    assert compute_metrics([]).readiness_score_percent is None


def test_latest_by_check_keys_on_check_and_resource() -> None:
    records = [record("a", resource="x"), record("a", resource="y"), record("a", resource="x", started_at=LATE, value=2.0)]
    latest = latest_by_check(records)
    assert set(latest) == {("a", "x"), ("a", "y")}
    assert latest[("a", "x")].value == 2.0


def test_metrics_say_where_they_were_measured() -> None:
    assert compute_metrics([record("a"), record("b", target="aws")]).targets == ("aws", "offline")
    assert compute_metrics([record("a")]).offline
