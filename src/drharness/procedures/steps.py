"""A resumable step engine: named steps, their state in one JSON file per run, saved after every step.

A run's state file says, for each step, whether it is pending, running, done or failed, how long its
last attempt and all its attempts together took, and what it found (facts, e.g. which bucket now serves). A rerun of the same run skips the
steps that are done and retries the rest; a step marked running when its process died is retried
too, so every step must be safe to run twice. The file is replaced atomically, so a crash leaves
either the previous state or the new one, never half of either.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from drharness.errors import ProcedureError
from drharness.results import iso, utc_now

StepStatus = Literal["pending", "running", "done", "failed"]
STATE_VERSION = 1
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

NO_SUCH_RUN = "no {procedure} state for run {run_id!r} under {directory}; known runs: {known}"
CORRUPT_STATE = "state file {path} cannot be read ({error}); fix or remove it, then start a new run"
BAD_RUN_ID = "run id {run_id!r} is not a run id (letters, digits, '.', '_', '-'); copy it from the run's first line"
RUN_EXISTS = "run {run_id!r} already has a state file at {path}; resume it instead of starting it again"
UNKNOWN_STEP = "run {run_id!r} has no step {step!r}; its steps are {steps}"


@dataclass(frozen=True)
class StepOutcome:
    """What a finished step says: one line for people, and facts for the steps after it."""

    detail: str
    facts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    """A named action; it receives the facts of the steps before it."""

    name: str
    title: str
    action: Callable[[Mapping[str, str]], StepOutcome]


@dataclass(frozen=True)
class StepState:
    """One step of a run as its state file keeps it.

    `duration_seconds` is the last attempt; `total_seconds` adds up every attempt that finished (done
    or failed), so a step that failed slowly and then succeeded quickly still counts both.
    """

    name: str
    status: StepStatus = "pending"
    attempts: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    duration_seconds: float | None = None
    detail: str = ""
    error: str = ""
    total_seconds: float = 0.0


@dataclass(frozen=True)
class RunState:
    """A run of a procedure: its steps in order, the facts they found, and what it was made for."""

    run_id: str
    procedure: str
    kind: str
    identity: Mapping[str, str]
    created_at: str
    updated_at: str
    steps: tuple[StepState, ...]
    facts: Mapping[str, str] = field(default_factory=dict)
    invocations: int = 0

    @classmethod
    def new(cls, run_id: str, procedure: str, kind: str, steps: Iterable[str], identity: Mapping[str, str]) -> "RunState":
        """A fresh run with every step pending."""
        if not RUN_ID.match(run_id):
            raise ProcedureError(BAD_RUN_ID.format(run_id=run_id))
        now = iso(utc_now())
        return cls(run_id, procedure, kind, dict(identity), now, now, tuple(StepState(name) for name in steps))

    def step(self, name: str) -> StepState:
        for step in self.steps:
            if step.name == name:
                return step
        raise ProcedureError(UNKNOWN_STEP.format(run_id=self.run_id, step=name, steps=", ".join(s.name for s in self.steps)))

    @property
    def finished(self) -> bool:
        return all(s.status == "done" for s in self.steps)

    @property
    def remaining(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.steps if s.status != "done")

    @property
    def steps_seconds(self) -> float:
        """Seconds spent in the steps, over every attempt of every invocation.

        An attempt whose process was killed mid-step (left "running") never finished, so has no time to add.
        """
        return sum(s.total_seconds for s in self.steps)

    def with_step(self, updated: StepState, facts: Mapping[str, str] | None = None) -> "RunState":
        steps = tuple(updated if s.name == updated.name else s for s in self.steps)
        merged = {**self.facts, **(facts or {})}
        return replace(self, steps=steps, facts=merged, updated_at=iso(utc_now()))

    def to_json(self) -> dict[str, object]:
        return {
            "version": STATE_VERSION,
            "run_id": self.run_id,
            "procedure": self.procedure,
            "kind": self.kind,
            "identity": dict(self.identity),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "invocations": self.invocations,
            "facts": dict(self.facts),
            "steps": [
                {"name": s.name, "status": s.status, "attempts": s.attempts, "started_at": s.started_at,
                 "finished_at": s.finished_at, "duration_seconds": s.duration_seconds,
                 "total_seconds": s.total_seconds, "detail": s.detail, "error": s.error}
                for s in self.steps
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> "RunState":
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"state version {data.get('version')!r}, expected {STATE_VERSION}")
        raw_steps = data["steps"]
        if not isinstance(raw_steps, list):
            raise ValueError("'steps' is not a list")
        steps = []
        for raw in raw_steps:
            status = raw["status"]
            if status not in ("pending", "running", "done", "failed"):
                raise ValueError(f"step {raw.get('name')!r} has an unknown status {status!r}")
            duration = raw.get("duration_seconds")
            last = float(duration) if duration is not None else None
            # A state file written before totals were kept knows only the last attempt.
            total = raw.get("total_seconds", last or 0.0)
            steps.append(StepState(
                name=str(raw["name"]), status=status, attempts=int(raw.get("attempts", 0)),
                started_at=raw.get("started_at"), finished_at=raw.get("finished_at"),
                duration_seconds=last, detail=str(raw.get("detail", "")), error=str(raw.get("error", "")),
                total_seconds=float(total),
            ))
        identity, facts = data.get("identity") or {}, data.get("facts") or {}
        if not isinstance(identity, dict) or not isinstance(facts, dict):
            raise ValueError("'identity' and 'facts' must be objects")
        return cls(
            run_id=str(data["run_id"]), procedure=str(data["procedure"]), kind=str(data["kind"]),
            identity={str(k): str(v) for k, v in identity.items()},
            created_at=str(data["created_at"]), updated_at=str(data["updated_at"]),
            steps=tuple(steps), facts={str(k): str(v) for k, v in facts.items()},
            invocations=int(data.get("invocations", 0)),  # type: ignore[call-overload]
        )


class StateStore:
    """The state files of one procedure: `<directory>/<run_id>.json`."""

    def __init__(self, directory: Path, procedure: str) -> None:
        self.directory = Path(directory)
        self.procedure = procedure

    def path(self, run_id: str) -> Path:
        if not RUN_ID.match(run_id):
            raise ProcedureError(BAD_RUN_ID.format(run_id=run_id))
        return self.directory / f"{run_id}.json"

    def exists(self, run_id: str) -> bool:
        return self.path(run_id).is_file()

    def runs(self) -> list[str]:
        return sorted(p.stem for p in self.directory.glob("*.json")) if self.directory.is_dir() else []

    def load(self, run_id: str) -> RunState:
        path = self.path(run_id)
        if not path.is_file():
            known = ", ".join(self.runs()[-5:]) or "none"
            raise ProcedureError(NO_SUCH_RUN.format(procedure=self.procedure, run_id=run_id,
                                                    directory=self.directory, known=known))
        try:
            state = RunState.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ProcedureError(CORRUPT_STATE.format(path=path, error=f"{type(exc).__name__}: {exc}")) from exc
        if state.run_id != run_id:
            raise ProcedureError(CORRUPT_STATE.format(path=path, error=f"it holds run {state.run_id!r}"))
        return state

    def create(self, state: RunState) -> Path:
        """Write the first state of a new run; refuse to overwrite an existing one."""
        path = self.path(state.run_id)
        if path.exists():
            raise ProcedureError(RUN_EXISTS.format(run_id=state.run_id, path=path))
        return self.save(state)

    def save(self, state: RunState) -> Path:
        """Replace the run's state file atomically (write a temporary file, flush it, rename it over)."""
        path = self.path(state.run_id)
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        data = json.dumps(state.to_json(), indent=2, sort_keys=True)
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        return path


@dataclass(frozen=True)
class StepEvent:
    """A step that ran (or was skipped because an earlier invocation finished it)."""

    step: StepState
    skipped: bool
    facts: Mapping[str, str]


def run_steps(
    state: RunState,
    steps: Sequence[Step],
    store: StateStore,
    *,
    on_step: Callable[[StepEvent], None] | None = None,
) -> RunState:
    """Run the steps of `state` that are not done, in order, saving the state after each.

    A step that raises (or is interrupted) is saved as failed with the error, and the error goes on
    to the caller; the next invocation of the run starts again at that step.
    """
    by_name = {s.name: s for s in steps}
    missing = [s.name for s in state.steps if s.name not in by_name]
    if missing:
        raise ProcedureError(f"run {state.run_id!r} needs step(s) {', '.join(missing)} that this procedure does not define")
    state = replace(state, invocations=state.invocations + 1)
    store.save(state)
    for planned in state.steps:
        current = state.step(planned.name)
        if current.status == "done":
            if on_step:
                on_step(StepEvent(current, True, state.facts))
            continue
        running = replace(current, status="running", attempts=current.attempts + 1, started_at=iso(utc_now()),
                          finished_at=None, duration_seconds=None, error="")
        state = state.with_step(running)
        store.save(state)  # a process killed inside the step leaves "running": the next invocation retries it
        start = time.monotonic()
        try:
            outcome = by_name[planned.name].action(state.facts)
        except BaseException as exc:
            elapsed = time.monotonic() - start
            failed = replace(running, status="failed", finished_at=iso(utc_now()), duration_seconds=elapsed,
                             total_seconds=running.total_seconds + elapsed, error=_describe(exc))
            state = state.with_step(failed)
            store.save(state)
            if on_step:
                on_step(StepEvent(failed, False, state.facts))
            raise
        elapsed = time.monotonic() - start
        done = replace(running, status="done", finished_at=iso(utc_now()), duration_seconds=elapsed,
                       total_seconds=running.total_seconds + elapsed, detail=outcome.detail)
        state = state.with_step(done, outcome.facts)
        store.save(state)
        if on_step:
            on_step(StepEvent(done, False, state.facts))
    return state


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
