"""The step engine's time: every attempt of a step counts, not only the last one."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from drharness.procedures.steps import RunState, StateStore, Step, StepOutcome, run_steps


def test_a_step_that_fails_then_succeeds_counts_both_attempts(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "runbook", "recover")
    state = RunState.new("run-1", "recover", "full", ("a", "b"), {"project": "p"})
    store.create(state)
    failures = [RuntimeError("timed out")]

    def flaky(facts: Mapping[str, str]) -> StepOutcome:
        if failures:
            raise failures.pop()
        return StepOutcome("b ok")

    steps = [Step("a", "A", lambda facts: StepOutcome("a ok")), Step("b", "B", flaky)]
    with pytest.raises(RuntimeError):
        run_steps(state, steps, store)
    failed = store.load("run-1").step("b")
    assert failed.status == "failed" and failed.duration_seconds is not None
    assert failed.total_seconds == failed.duration_seconds

    final = run_steps(store.load("run-1"), steps, store)
    b = final.step("b")
    assert (b.status, b.attempts) == ("done", 2) and b.duration_seconds is not None
    assert b.total_seconds == pytest.approx(failed.duration_seconds + b.duration_seconds)
    assert final.steps_seconds == pytest.approx(final.step("a").total_seconds + b.total_seconds)
    assert final.steps_seconds > sum(s.duration_seconds or 0.0 for s in final.steps)
    assert store.load("run-1") == final


def test_a_state_file_without_totals_falls_back_to_the_last_attempt(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "runbook", "recover")
    state = RunState.new("run-2", "recover", "full", ("a",), {"project": "p"})
    data = state.to_json()
    data["steps"] = [{"name": "a", "status": "done", "attempts": 1, "duration_seconds": 2.5}]  # type: ignore[index]
    store.directory.mkdir(parents=True)
    store.path("run-2").write_text(json.dumps(data), encoding="utf-8")
    loaded = store.load("run-2")
    assert loaded.step("a").total_seconds == 2.5 and loaded.steps_seconds == 2.5
