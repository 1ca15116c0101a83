"""The RTO clock: a fault's phases from injection to a verified recovery, timed on the monotonic clock.

Phases come in order: `fault_injected` -> `detected` -> `failed_over` and/or `restored` -> `verified`.
RTO is `fault_injected` to `verified`, and `verified` is marked only when a real read/write probe
succeeds against the recovered side. A recovery that is never verified is a failed verdict with its
reason, never a number.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from drharness.errors import MeasurementError
from drharness.results import JsonValue, Objective, ResultRecord, TargetName, iso, judge, utc_now
from drharness.results.evidence import PhaseEntry, TimelineEvidence
from drharness.waiting import WaitOutcome, wait_until

FAULT_INJECTED = "fault_injected"
DETECTED = "detected"
FAILED_OVER = "failed_over"
RESTORED = "restored"
VERIFIED = "verified"
PHASES: tuple[str, ...] = (FAULT_INJECTED, DETECTED, FAILED_OVER, RESTORED, VERIFIED)
# failed_over and restored share a rank: a drill may fail over, restore in place, or do both.
_RANK = {FAULT_INJECTED: 0, DETECTED: 1, FAILED_OVER: 2, RESTORED: 2, VERIFIED: 3}

# Errors a recovering endpoint answers with while it is not back yet: they mean "not yet", not "broken".
PROBE_ERRORS: tuple[type[BaseException], ...] = (BotoCoreError, ClientError, OSError)

NO_FAULT_MARK = "no fault_injected mark: RTO is measured from the moment of the fault; mark it when injecting"
NOT_VERIFIED = "recovery was never verified: call verify() with a read/write probe against the recovered side"
DETECTION_MISSED = "fault not detected: {reason}"


def target_name(target: object) -> TargetName:
    """`"offline"` or `"aws"` from a Target or from the name itself."""
    name = getattr(target, "name", target)
    if name not in ("offline", "aws"):
        raise MeasurementError(f"target {target!r} is neither 'offline' nor 'aws'; pass a Target or its name")
    return name  # type: ignore[return-value]


@dataclass(frozen=True)
class PhaseMark:
    """One phase reached: when (UTC and monotonic) and a note saying how it was seen."""

    phase: str
    at: dt.datetime
    monotonic_seconds: float
    note: str = ""

    def to_json(self) -> dict[str, JsonValue]:
        return {"phase": self.phase, "at": iso(self.at), "note": self.note}


@dataclass(frozen=True)
class PhaseDuration:
    """Seconds from one reached phase to the next."""

    from_phase: str
    to_phase: str
    seconds: float


@dataclass(frozen=True)
class TimelineResult:
    """A finished (or abandoned) timeline: its phases, the RTO if verified, and why not if not."""

    label: str
    started_at: dt.datetime
    phases: tuple[PhaseMark, ...]
    rto_seconds: float | None
    verified: bool
    reason: str
    elapsed_seconds: float
    problems: tuple[str, ...] = ()

    def mark(self, phase: str) -> PhaseMark | None:
        return next((m for m in self.phases if m.phase == phase), None)

    def seconds_between(self, start: str, end: str) -> float | None:
        """Monotonic seconds from phase `start` to phase `end`; None if either was not reached."""
        a, b = self.mark(start), self.mark(end)
        if a is None or b is None:
            return None
        return b.monotonic_seconds - a.monotonic_seconds

    @property
    def durations(self) -> tuple[PhaseDuration, ...]:
        return tuple(
            PhaseDuration(a.phase, b.phase, b.monotonic_seconds - a.monotonic_seconds)
            for a, b in zip(self.phases, self.phases[1:])
        )

    def to_record(
        self,
        objective: Objective | None,
        *,
        scenario: str,
        resource: str,
        tier: str | None,
        target: object,
        check: str = "",
        test_id: str = "",
        run_id: str = "",
        evidence: Mapping[str, JsonValue] | None = None,
    ) -> ResultRecord:
        """The RTO as a result record: metric "rto" in seconds, judged against `objective` (objectives.rto)."""
        verdict, reason = judge(self.rto_seconds, objective, reason_if_missing=self.reason)
        return ResultRecord.against(
            objective,
            check=check or f"rto:{self.label}",
            scenario=scenario,
            resource=resource,
            tier=tier,
            target=target_name(target),
            metric="rto",
            value=self.rto_seconds,
            unit="s",
            verdict=verdict,
            reason=reason,
            started_at=iso(self.started_at),
            duration_seconds=self.elapsed_seconds,
            evidence=TimelineEvidence(
                label=self.label,
                phases=tuple(PhaseEntry(m.phase, iso(m.at), m.note) for m in self.phases),
                durations_seconds={f"{d.from_phase}->{d.to_phase}": d.seconds for d in self.durations},
                problems=tuple(self.problems),
                extra=dict(evidence or {}),
            ),
            test_id=test_id,
            run_id=run_id,
        )


class Timeline:
    """Mark a recovery's phases as they happen; `result()` turns them into an RTO or a reasoned failure."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.started_at = utc_now()
        self._started_monotonic = time.monotonic()
        self._lock = threading.Lock()
        self._marks: list[PhaseMark] = []
        self._problems: list[str] = []
        self._failure = ""

    @classmethod
    def start(cls, label: str) -> "Timeline":
        """Start the clock; mark `fault_injected` right when the fault goes in."""
        return cls(label)

    def mark(self, phase: str, note: str = "") -> PhaseMark:
        """Record that `phase` was reached now."""
        if phase not in _RANK:
            raise MeasurementError(f"unknown timeline phase {phase!r}; use one of {', '.join(PHASES)}")
        with self._lock:
            if any(m.phase == phase for m in self._marks):
                raise MeasurementError(f"timeline {self.label!r}: phase {phase!r} is already marked; start a new Timeline")
            if self._marks and _RANK[self._marks[-1].phase] > _RANK[phase]:
                raise MeasurementError(
                    f"timeline {self.label!r}: phase {phase!r} cannot come after {self._marks[-1].phase!r}; "
                    f"phases run {' -> '.join(PHASES)}"
                )
            mark = PhaseMark(phase, utc_now(), time.monotonic(), note)
            self._marks.append(mark)
            return mark

    def marked(self, phase: str) -> PhaseMark | None:
        with self._lock:
            return next((m for m in self._marks if m.phase == phase), None)

    def note_problem(self, problem: str) -> None:
        """Keep something that went wrong on the way (it shows in the evidence, and as the reason if unverified)."""
        with self._lock:
            self._problems.append(problem)

    def detect(
        self,
        healthy: Callable[[], Any],
        timeout_s: float,
        interval_s: float = 0.5,
        *,
        what: str = "the health check to fail",
    ) -> WaitOutcome[bool]:
        """Poll `healthy` until it first fails (falsy or raising) and mark `detected` at that moment.

        A check that never fails within `timeout_s` is noted as a problem and leaves `detected` unmarked.
        """
        last_error: list[str] = []

        def unhealthy() -> bool:
            try:
                return not healthy()
            except Exception as exc:  # noqa: BLE001 - a health check that raises is a failing health check
                last_error[:] = [f"{type(exc).__name__}: {exc}"]
                return True

        outcome = wait_until(unhealthy, timeout_s, interval_s, what=what)
        if outcome.ok:
            self.mark(DETECTED, last_error[0] if last_error else "health check returned false")
        else:
            self.note_problem(DETECTION_MISSED.format(reason=outcome.reason))
        return outcome

    def verify(
        self,
        probe: Callable[[], Any],
        timeout_s: float,
        interval_s: float = 0.5,
        *,
        what: str = "a read/write probe to succeed on the recovered side",
        swallow: tuple[type[BaseException], ...] = PROBE_ERRORS,
    ) -> TimelineResult:
        """Poll `probe` until it succeeds, mark `verified`, and return the result.

        `probe` must do real work against the recovered side (write then read back) and return a truthy
        value; errors in `swallow` mean "not recovered yet". A timeout is a failed verdict with its reason.
        """
        outcome = wait_until(probe, timeout_s, interval_s, what=what, swallow=swallow)
        if outcome.ok:
            self.mark(VERIFIED, f"{what} after {outcome.attempts} attempt(s)")
        else:
            with self._lock:
                self._failure = outcome.reason
        return self.result()

    def result(self) -> TimelineResult:
        """What the timeline shows now (call after `verify`, or to abandon a recovery that failed)."""
        with self._lock:
            marks = tuple(self._marks)
            problems = tuple(self._problems)
            failure = self._failure
        by_phase = {m.phase: m for m in marks}
        verified = VERIFIED in by_phase
        rto: float | None = None
        if not verified:
            reason = failure or (problems[-1] if problems else NOT_VERIFIED)
        elif FAULT_INJECTED not in by_phase:
            reason = NO_FAULT_MARK
        else:
            rto = by_phase[VERIFIED].monotonic_seconds - by_phase[FAULT_INJECTED].monotonic_seconds
            reason = f"verified {rto:.3f} s after the fault"
        # A verified timeline ends at its last mark; an unverified one is still running (or abandoned) now.
        end = marks[-1].monotonic_seconds if verified else time.monotonic()
        return TimelineResult(
            label=self.label,
            started_at=self.started_at,
            phases=marks,
            rto_seconds=rto,
            verified=verified,
            reason=reason,
            elapsed_seconds=end - self._started_monotonic,
            problems=problems,
        )


def s3_write_read_probe(client: Any, bucket: str, prefix: str = "_drharness/verify/") -> Callable[[], bool]:
    """A probe that writes one object to `bucket` and reads it back byte for byte."""

    def probe() -> bool:
        key = f"{prefix}{uuid.uuid4().hex}"
        body = f"verify {iso(utc_now())}".encode()
        client.put_object(Bucket=bucket, Key=key, Body=body)
        return bool(client.get_object(Bucket=bucket, Key=key)["Body"].read() == body)

    return probe


def dynamodb_write_read_probe(
    client: Any, table: str, hash_key: str = "pk", range_key: str | None = "sk"
) -> Callable[[], bool]:
    """A probe that writes one item to `table` and reads it back with a consistent read."""

    def probe() -> bool:
        token = uuid.uuid4().hex
        key = {hash_key: {"S": "_drharness#verify"}}
        if range_key:
            key[range_key] = {"S": token}
        else:
            key[hash_key] = {"S": f"_drharness#verify#{token}"}
        client.put_item(TableName=table, Item={**key, "written_at": {"S": iso(utc_now())}, "token": {"S": token}})
        item = client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item") or {}
        return item.get("token", {}).get("S") == token

    return probe
