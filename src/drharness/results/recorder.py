"""Turn a measurement into a judged, written result record in one call."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from drharness.results.evidence import ComplianceEvidence, Evidence
from drharness.results.records import (
    JsonValue, Objective, RecordKind, ResultRecord, ResultSink, TargetName, iso, judge, utc_now,
)


@dataclass
class Recorder:
    """Writes records for one check site (a test, an experiment activity, a command)."""

    sink: ResultSink
    target: TargetName
    test_id: str = ""
    scenario: str = ""
    records: list[ResultRecord] = field(default_factory=list)

    def measure(
        self,
        *,
        check: str,
        resource: str,
        metric: str,
        value: float | None,
        unit: str,
        objective: Objective | None = None,
        tier: str | None = None,
        scenario: str | None = None,
        evidence: Evidence | Mapping[str, JsonValue] | None = None,
        started_at: str | None = None,
        duration_seconds: float = 0.0,
        reason: str | None = None,
        verdict: str | None = None,
        kind: RecordKind | None = None,
    ) -> ResultRecord:
        """Judge `value` against `objective` (unless a verdict is given) and write the record.

        `kind` says what the verdict is about: the workload's objective (the default for a verdict), a
        self-check of the harness, or information (the default for an info verdict)."""
        judged, judged_reason = judge(value, objective, reason_if_missing=reason or "")
        record = ResultRecord.against(
            objective,
            check=check,
            scenario=scenario or self.scenario,
            resource=resource,
            tier=tier,
            target=self.target,
            metric=metric,
            value=value,
            unit=unit,
            verdict=verdict or judged,  # type: ignore[arg-type]
            reason=reason if (reason and (verdict or value is None)) else judged_reason if not reason else f"{judged_reason}; {reason}",
            started_at=started_at or iso(utc_now()),
            duration_seconds=duration_seconds,
            evidence=evidence,
            test_id=self.test_id,
            kind=kind,
        )
        _, stamped = self.sink.write_record(record)
        self.records.append(stamped)
        return stamped

    def write(self, record: ResultRecord) -> ResultRecord:
        """Write a record built elsewhere (stamped with this site's test id); keep it for the report."""
        if self.test_id and not record.test_id:
            record = replace(record, test_id=self.test_id)
        _, stamped = self.sink.write_record(record)
        self.records.append(stamped)
        return stamped

    def compliance(
        self, *, check: str, resource: str, ok: bool, expected: str, actual: str, tier: str | None = None,
        scenario: str = "configuration", kind: RecordKind | None = None,
    ) -> ResultRecord:
        """Record a configuration property as a pass/fail check (value 1 = compliant, 0 = not)."""
        return self.measure(
            check=check,
            resource=resource,
            metric="compliant",
            value=1.0 if ok else 0.0,
            unit="bool",
            objective=Objective("compliant", 1.0, "bool", ">=", f"expected {expected}"),
            tier=tier,
            scenario=scenario,
            evidence=ComplianceEvidence(expected=expected, actual=actual),
            reason=f"{resource}: expected {expected}, found {actual}",
            verdict="pass" if ok else "fail",
            kind=kind,
        )

    def error(self, *, check: str, resource: str, reason: str, tier: str | None = None,
              kind: RecordKind | None = None) -> ResultRecord:
        return self.measure(check=check, resource=resource, metric="error", value=None, unit="", tier=tier,
                            reason=reason, verdict="error", kind=kind)

    @contextmanager
    def timed(self) -> Iterator["_Clock"]:
        clock = _Clock(iso(utc_now()), time.monotonic())
        yield clock
        clock.stop()


@dataclass
class _Clock:
    started_at: str
    _start: float
    duration_seconds: float = 0.0

    def stop(self) -> float:
        self.duration_seconds = time.monotonic() - self._start
        return self.duration_seconds
