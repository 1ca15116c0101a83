"""Timeline: phases in order, RTO from the monotonic clock, verification by a real probe, timeouts as failures."""

from __future__ import annotations

import threading
import time

import pytest
from botocore.exceptions import EndpointConnectionError

from drharness.config import load_workload
from drharness.errors import MeasurementError
from drharness.instruments import (
    DETECTED,
    FAILED_OVER,
    FAULT_INJECTED,
    RESTORED,
    VERIFIED,
    Timeline,
)
from drharness.instruments.timeline import DETECTION_MISSED, NO_FAULT_MARK, NOT_VERIFIED
from drharness.results.objectives import objectives_for
from drharness.results import Objective


def _succeeds_after(calls: int, error: BaseException | None = None):
    """A probe that fails (falsy, or raising `error`) for its first `calls` calls, then succeeds."""
    seen = {"n": 0}

    def probe() -> bool:
        seen["n"] += 1
        if seen["n"] <= calls:
            if error is not None:
                raise error
            return False
        return True

    return probe, seen


def test_phases_are_timed_on_the_monotonic_clock_and_rto_runs_from_fault_to_verified() -> None:
    timeline = Timeline.start("region-outage")
    injected = timeline.mark(FAULT_INJECTED, "us-east-1 down")
    timeline.mark(DETECTED)
    timeline.mark(FAILED_OVER, "dr stack up")
    probe, seen = _succeeds_after(2)
    result = timeline.verify(probe, timeout_s=5, interval_s=0.01)

    assert result.verified and seen["n"] == 3
    assert [m.phase for m in result.phases] == [FAULT_INJECTED, DETECTED, FAILED_OVER, VERIFIED]
    verified = result.mark(VERIFIED)
    assert verified is not None
    assert result.rto_seconds == pytest.approx(verified.monotonic_seconds - injected.monotonic_seconds)
    assert result.rto_seconds == pytest.approx(sum(d.seconds for d in result.durations))
    assert result.seconds_between(FAULT_INJECTED, DETECTED) is not None
    assert result.seconds_between(FAULT_INJECTED, RESTORED) is None
    assert all(m.at.tzinfo is not None and m.at.utcoffset().total_seconds() == 0 for m in result.phases)
    assert injected.note == "us-east-1 down"


def test_rto_matches_when_a_service_really_came_back() -> None:
    """Ground truth: a service that recovers at a known moment; the RTO must bracket that moment."""
    recovered = threading.Event()
    back_at: list[float] = []

    def recover() -> None:
        back_at.append(time.monotonic())
        recovered.set()

    timeline = Timeline.start("restart")
    injected = timeline.mark(FAULT_INJECTED)
    timer = threading.Timer(0.2, recover)
    timer.start()
    try:
        result = timeline.verify(recovered.is_set, timeout_s=5, interval_s=0.01)
    finally:
        timer.cancel()
    true_rto = back_at[0] - injected.monotonic_seconds
    assert result.rto_seconds is not None
    assert true_rto <= result.rto_seconds <= true_rto + 0.5  # one poll interval, plus scheduling slack


def test_verify_swallows_endpoint_errors_while_the_recovered_side_comes_back() -> None:
    timeline = Timeline.start("az-outage")
    timeline.mark(FAULT_INJECTED)
    probe, seen = _succeeds_after(3, EndpointConnectionError(endpoint_url="http://127.0.0.1:1"))
    result = timeline.verify(probe, timeout_s=5, interval_s=0.01)
    assert result.verified and result.rto_seconds is not None and seen["n"] == 4


def test_a_verification_timeout_is_a_failed_verdict_with_its_reason_in_bounded_time() -> None:
    timeline = Timeline.start("region-outage")
    timeline.mark(FAULT_INJECTED)
    timeline.mark(FAILED_OVER)
    begin = time.monotonic()
    result = timeline.verify(lambda: False, timeout_s=0.3, interval_s=0.05, what="a write to the DR bucket")
    elapsed = time.monotonic() - begin

    assert elapsed < 5, "verify must give up at its deadline"
    assert not result.verified and result.rto_seconds is None
    assert result.reason.startswith("timeout after 0.3 s waiting for a write to the DR bucket")
    objective = objectives_for(load_workload(), "critical").rto
    record = result.to_record(objective, scenario="region-outage", resource="dr-stack", tier="critical", target="offline")
    assert record.verdict == "fail"
    assert record.reason == result.reason
    assert record.value is None and record.metric == "rto" and record.unit == "s"
    assert record.objective == objective.limit == 4 * 3600


def test_a_probe_error_outside_the_swallowed_set_is_not_hidden() -> None:
    timeline = Timeline.start("x")

    def broken() -> bool:
        raise KeyError("bug in the probe")

    with pytest.raises(KeyError):
        timeline.verify(broken, timeout_s=1, interval_s=0.01)


def test_verified_rto_is_judged_against_the_tier_objective() -> None:
    timeline = Timeline.start("restore")
    timeline.mark(FAULT_INJECTED)
    timeline.mark(RESTORED)
    result = timeline.verify(lambda: True, timeout_s=1)
    assert result.rto_seconds is not None

    passing = result.to_record(Objective("rto", 60, "s"), scenario="s", resource="r", tier="critical", target="offline")
    assert passing.verdict == "pass" and passing.value == result.rto_seconds
    assert [p["phase"] for p in passing.evidence["phases"]] == [FAULT_INJECTED, RESTORED, VERIFIED]

    failing = result.to_record(Objective("rto", 0.0, "s"), scenario="s", resource="r", tier="critical", target="offline")
    assert result.rto_seconds > 0
    assert failing.verdict == "fail" and "misses the objective" in failing.reason


def test_detect_marks_the_first_failing_health_check() -> None:
    timeline = Timeline.start("az-outage")
    timeline.mark(FAULT_INJECTED)
    states = iter([True, True, False])
    outcome = timeline.detect(lambda: next(states), timeout_s=5, interval_s=0.01)
    assert outcome.ok and outcome.attempts == 3
    assert timeline.marked(DETECTED) is not None


def test_detect_counts_a_raising_health_check_as_failing() -> None:
    timeline = Timeline.start("region-outage")
    timeline.mark(FAULT_INJECTED)

    def health() -> bool:
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")

    assert timeline.detect(health, timeout_s=1, interval_s=0.01).ok
    mark = timeline.marked(DETECTED)
    assert mark is not None and "EndpointConnectionError" in mark.note


def test_an_undetected_fault_is_kept_as_a_problem_and_becomes_the_reason() -> None:
    timeline = Timeline.start("silent")
    timeline.mark(FAULT_INJECTED)
    outcome = timeline.detect(lambda: True, timeout_s=0.1, interval_s=0.02)
    assert not outcome.ok and timeline.marked(DETECTED) is None
    result = timeline.result()
    assert result.problems == (DETECTION_MISSED.format(reason=outcome.reason),)
    record = result.to_record(None, scenario="s", resource="r", tier=None, target="offline")
    assert result.reason == result.problems[0] and result.rto_seconds is None and record.verdict == "fail"
    assert record.reason == result.reason


def test_an_abandoned_timeline_fails_with_a_reason() -> None:
    timeline = Timeline.start("failover")
    timeline.mark(FAULT_INJECTED)
    result = timeline.result()
    assert not result.verified and result.rto_seconds is None and result.reason == NOT_VERIFIED


def test_verified_without_a_fault_mark_has_no_rto() -> None:
    timeline = Timeline.start("x")
    result = timeline.verify(lambda: True, timeout_s=1)
    assert result.verified and result.rto_seconds is None and result.reason == NO_FAULT_MARK
    record = result.to_record(None, scenario="s", resource="r", tier=None, target="offline")
    assert record.verdict == "fail" and record.reason == NO_FAULT_MARK


def test_phases_out_of_order_repeated_or_unknown_are_refused() -> None:
    timeline = Timeline.start("x")
    timeline.mark(FAULT_INJECTED)
    timeline.mark(FAILED_OVER)
    timeline.mark(RESTORED)  # same rank as failed_over: a failover then an in-place restore
    with pytest.raises(MeasurementError, match="cannot come after"):
        timeline.mark(DETECTED)
    with pytest.raises(MeasurementError, match="already marked"):
        timeline.mark(FAILED_OVER)
    with pytest.raises(MeasurementError, match="unknown timeline phase"):
        timeline.mark("recovered")


def test_a_record_needs_a_known_target_name() -> None:
    result = Timeline.start("x").result()
    with pytest.raises(MeasurementError, match="neither 'offline' nor 'aws'"):
        result.to_record(None, scenario="s", resource="r", tier=None, target="staging")
