"""The resumable step engine: state saved after every step, finished steps never repeated, failures kept."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path

import pytest

from drharness.errors import ProcedureError
from drharness.procedures.health import NO_ANSWER, NoAnswer, call_within
from drharness.procedures.steps import (
    BAD_RUN_ID,
    CORRUPT_STATE,
    NO_SUCH_RUN,
    RUN_EXISTS,
    RunState,
    StateStore,
    Step,
    StepOutcome,
    StepState,
    run_steps,
)

IDENTITY = {"project": "p", "environment": "e"}


class Boom(RuntimeError):
    pass


class Recorder:
    """Step actions that count their calls, see the state file while they run, and can be told to fail."""

    def __init__(self, store: StateStore, run_id: str) -> None:
        self.store, self.run_id = store, run_id
        self.calls: list[str] = []
        self.fail: dict[str, BaseException] = {}
        self.seen_on_disk: dict[str, dict[str, str]] = {}
        self.seen_facts: dict[str, dict[str, str]] = {}

    def step(self, name: str) -> Step:
        def action(facts: Mapping[str, str]) -> StepOutcome:
            self.calls.append(name)
            self.seen_facts[name] = dict(facts)
            on_disk = json.loads(self.store.path(self.run_id).read_text())
            self.seen_on_disk[name] = {s["name"]: s["status"] for s in on_disk["steps"]}
            if name in self.fail:
                raise self.fail.pop(name)
            return StepOutcome(f"{name} ok", {f"{name}_fact": name.upper()})

        return Step(name, name.title(), action)


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / "runbook", "recover")


def new_run(store: StateStore, names: tuple[str, ...] = ("a", "b", "c"), run_id: str = "run-1") -> tuple[RunState, Recorder]:
    state = RunState.new(run_id, "recover", "full", names, IDENTITY)
    store.create(state)
    return state, Recorder(store, run_id)


def test_steps_run_in_order_and_the_state_is_saved_after_each(store: StateStore) -> None:
    state, rec = new_run(store)
    final = run_steps(state, [rec.step(n) for n in ("a", "b", "c")], store)
    assert rec.calls == ["a", "b", "c"]
    # While b ran, the file already said a was done and b was running.
    assert rec.seen_on_disk["b"] == {"a": "done", "b": "running", "c": "pending"}
    assert rec.seen_facts["c"] == {"a_fact": "A", "b_fact": "B"}
    assert final.finished and final.invocations == 1
    loaded = store.load("run-1")
    assert loaded == final
    assert [s.detail for s in loaded.steps] == ["a ok", "b ok", "c ok"]
    assert all(s.duration_seconds is not None and s.duration_seconds >= 0 for s in loaded.steps)


def test_a_failed_step_is_saved_and_a_resume_skips_the_finished_steps(store: StateStore) -> None:
    state, rec = new_run(store)
    rec.fail["b"] = Boom("disk on fire")
    with pytest.raises(Boom):
        run_steps(state, [rec.step(n) for n in ("a", "b", "c")], store)
    saved = store.load("run-1")
    assert [s.status for s in saved.steps] == ["done", "failed", "pending"]
    assert saved.step("b").error == "Boom: disk on fire"
    assert saved.facts == {"a_fact": "A"}

    skipped: list[str] = []
    final = run_steps(saved, [rec.step(n) for n in ("a", "b", "c")], store,
                      on_step=lambda e: skipped.append(e.step.name) if e.skipped else None)
    assert rec.calls == ["a", "b", "b", "c"]  # a ran once; b retried; c ran
    assert skipped == ["a"]
    assert final.finished and final.invocations == 2
    assert [s.attempts for s in final.steps] == [1, 2, 1]
    assert final.step("b").error == ""


def test_an_interrupt_is_saved_as_failed_and_goes_on_to_the_caller(store: StateStore) -> None:
    state, rec = new_run(store)
    rec.fail["a"] = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        run_steps(state, [rec.step(n) for n in ("a", "b", "c")], store)
    saved = store.load("run-1")
    assert (saved.step("a").status, saved.step("a").error) == ("failed", "interrupted")
    assert saved.remaining == ("a", "b", "c")


def test_a_step_left_running_by_a_killed_process_is_retried(store: StateStore) -> None:
    state, rec = new_run(store)
    # As a process killed inside step b leaves it: b running, a done.
    state = state.with_step(StepState("a", "done", 1, detail="a ok"))
    state = state.with_step(StepState("b", "running", 1))
    store.save(state)
    final = run_steps(store.load("run-1"), [rec.step(n) for n in ("a", "b", "c")], store)
    assert rec.calls == ["b", "c"]
    assert final.step("b").attempts == 2


def test_a_failed_save_leaves_the_previous_state_intact(store: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    state, rec = new_run(store)
    before = store.path("run-1").read_text()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("no space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        run_steps(state, [rec.step(n) for n in ("a", "b", "c")], store)
    monkeypatch.undo()
    assert store.path("run-1").read_text() == before
    assert store.load("run-1").remaining == ("a", "b", "c")


def test_no_temporary_files_are_left_behind(store: StateStore) -> None:
    state, rec = new_run(store)
    run_steps(state, [rec.step(n) for n in ("a", "b", "c")], store)
    assert sorted(p.name for p in store.directory.iterdir()) == ["run-1.json"]


def test_loading_an_unknown_run_names_the_known_ones(store: StateStore) -> None:
    new_run(store, run_id="run-7")
    with pytest.raises(ProcedureError) as info:
        store.load("run-8")
    assert str(info.value) == NO_SUCH_RUN.format(procedure="recover", run_id="run-8", directory=store.directory, known="run-7")


def test_a_corrupt_state_file_is_refused_with_its_path(store: StateStore) -> None:
    new_run(store)
    store.path("run-1").write_text("{not json")
    with pytest.raises(ProcedureError) as info:
        store.load("run-1")
    before_error = CORRUPT_STATE.format(path=store.path("run-1"), error="\0").split("\0")[0]
    assert str(info.value).startswith(before_error)


def test_run_ids_cannot_escape_the_state_directory(store: StateStore) -> None:
    with pytest.raises(ProcedureError) as info:
        store.path("../../etc/passwd")
    assert str(info.value) == BAD_RUN_ID.format(run_id="../../etc/passwd")


def test_a_run_is_created_once(store: StateStore) -> None:
    state, _ = new_run(store)
    with pytest.raises(ProcedureError) as info:
        store.create(state)
    assert str(info.value) == RUN_EXISTS.format(run_id="run-1", path=store.path("run-1"))


def test_state_round_trips_through_json(store: StateStore) -> None:
    state, rec = new_run(store)
    final = run_steps(state, [rec.step(n) for n in ("a", "b", "c")], store)
    assert RunState.from_json(json.loads(json.dumps(final.to_json()))) == final


def test_a_state_naming_a_step_the_procedure_lacks_is_refused(store: StateStore) -> None:
    state, rec = new_run(store)
    with pytest.raises(ProcedureError, match="needs step"):
        run_steps(state, [rec.step("a"), rec.step("b")], store)


def test_call_within_returns_the_answer_or_gives_up_at_the_deadline() -> None:
    assert call_within(lambda: 42, 1.0) == 42
    release = threading.Event()
    try:
        with pytest.raises(NoAnswer) as info:
            call_within(lambda: release.wait(5.0), 0.05)
        assert str(info.value) == NO_ANSWER.format(timeout=0.05)
    finally:
        release.set()
    with pytest.raises(Boom):
        call_within(lambda: (_ for _ in ()).throw(Boom("x")), 1.0)
