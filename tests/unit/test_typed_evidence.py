"""Typed evidence: an instrument's evidence survives the record's JSON round trip as its dataclass."""

from __future__ import annotations

import json

from drharness.reporting.evidence import canaries_of, differences_of, lags_of, phases_of
from drharness.results import ResultRecord
from drharness.results.evidence import (
    CanaryEvidence,
    ConsistencyEvidence,
    DifferingEntry,
    LagEvidence,
    PhaseEntry,
    RestoreEvidence,
    TimelineEvidence,
    evidence_from_json,
)

TIMELINE = TimelineEvidence(
    label="region", durations_seconds={"fault_injected->verified": 4.0}, problems=(),
    phases=(PhaseEntry("fault_injected", "2026-01-01T00:00:00.000+00:00"),
            PhaseEntry("verified", "2026-01-01T00:00:04.000+00:00", "health answered")),
    extra={"drill": "monthly"},
)
LAG = LagEvidence(
    store="s3", source="a", replica="b", series="s", count=4, probes_written=4, measured=4, imprecise=0,
    timeouts=0, failed_writes=0, lag_min_seconds=0.5, lag_p50_seconds=1.0, lag_p90_seconds=None,
    lag_p99_seconds=2.0, lag_max_seconds=2.5, lag_mean_seconds=1.2, uncertainty_max_seconds=0.1,
    poll_interval_seconds=0.05, timeout_seconds=30.0, max_uncertainty_seconds=0.5,
)
CANARY = CanaryEvidence(
    store="dynamodb", series="s", region="us-west-2", fault_time="2026-01-01T00:00:00.000+00:00",
    interval_seconds=0.1, canaries_written=5, canaries_failed=0, canaries_before_fault=3, present_count=3,
    newest_present_seq=3, newest_present_written_at=None, window_is_lower_bound=False, lost_writes=2,
    lost_sequences=(4, 5), lost_sequences_truncated=False, unacknowledged_present=(),
)
CONSISTENCY = ConsistencyEvidence(
    store="s3", source="a", replica="b", method="merge-join", compared_count=10, source_count=10,
    replica_count=10, missing_count=1, extra_count=0, differing_count=1, first_missing=("k1",), first_extra=(),
    first_differing=(DifferingEntry("k2", "e1", "e2"),), max_listed=20,
)
RESTORE = RestoreEvidence(
    restore_kind="dynamodb-pitr", source="t", restored_resource="t-restore", region="us-east-1", verified=True,
    measurement_reason="", available_seconds=1.0, verify_seconds=0.5, service_reported_seconds=None,
    restore_point="2026-01-01T00:00:00.000+00:00", timeout_seconds=60.0, extra={"consistency_keys": 0},
)


def _through_json(evidence) -> ResultRecord:
    record = ResultRecord.against(
        None, evidence=evidence, check="c", scenario="s", resource="r", tier=None, target="offline", metric="m",
        value=1.0, unit="s", verdict="info", reason="", started_at="", duration_seconds=0.0,
    )
    return ResultRecord.from_json(json.loads(json.dumps(record.to_json())))


def test_every_kind_reads_back_as_its_dataclass():
    for evidence in (TIMELINE, LAG, CANARY, CONSISTENCY, RESTORE):
        record = _through_json(evidence)
        assert record.evidence["kind"] == evidence.kind
        assert record.typed_evidence == evidence


def test_extra_keys_stay_flat_beside_the_instrument_fields():
    record = _through_json(RESTORE)
    assert record.evidence["consistency_keys"] == 0 and record.evidence["restore_kind"] == "dynamodb-pitr"


def test_evidence_without_a_known_kind_is_untyped():
    assert evidence_from_json({"phases": []}) is None
    assert evidence_from_json({"kind": "timeline"}) is None  # fields missing: not a timeline's evidence


def test_reports_read_the_typed_evidence():
    assert [(p.phase, p.offset_seconds) for p in phases_of(_through_json(TIMELINE))] == [
        ("fault_injected", 0.0), ("verified", 4.0)]
    assert dict(lags_of(_through_json(LAG)).percentiles_seconds) == {  # type: ignore[union-attr]
        "min": 0.5, "p50": 1.0, "p99": 2.0, "max": 2.5, "mean": 1.2}
    ledger = canaries_of(_through_json(CANARY))
    assert ledger is not None and (ledger.written, ledger.lost) == (5, 2)
    assert [p.status for p in ledger.points] == ["present"] * 3 + ["lost"] * 2
    assert [(d.kind, d.key) for d in differences_of(_through_json(CONSISTENCY))] == [
        ("missing", "k1"), ("differing", "k2")]
