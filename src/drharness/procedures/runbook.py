"""The recovery runbook, the guide's `manual-recovery.sh` made real: full, partial and data-only recovery.

    outcome = Runbook(target, workload).run("full")            # or resume=outcome.run_id after a stop

Steps: `data` (serve the replica bucket, and the replica table or a point-in-time restore of it, in
the secondary region), `infrastructure` (every DR stack's DR resources on), `services` (each DR stack's
Batch compute environment and job queue ENABLED) and `verification` (a consistency verdict of what now
serves). `full` runs all four, `partial` the last three, `data-only` data and verification. Each
step is timed and recorded; the run's state is saved after every step under
`.drharness/runbook/<run_id>.json`, so a rerun with the run id skips what is done. A run whose
preconditions fail is refused before any change and before any state is written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from drharness.config import Workload
from drharness.errors import ProcedureError
from drharness.instruments.canary import CanaryLedger
from drharness.results.objectives import objectives_for
from drharness.procedures import recovery
from drharness.procedures.health import DEFAULT_TIMEOUT_S
from drharness.procedures.listing import DEFAULT_LISTING_DIR, SourceListing, read_listing
from drharness.procedures.recovery import (
    CONSISTENCY_REASON,
    CONSISTENCY_VERDICT,
    NO_STACK_COMPUTE,
    RecoveryContext,
    backup_bucket_problem,
    serving_from,
    table_problem,
)
from drharness.procedures.stack import DEFAULT_STACK_TIMEOUT_S, activation_problems, describe_activation, read_dr_stack
from drharness.procedures.steps import RunState, StateStore, Step, StepEvent, StepOutcome, run_steps
from drharness.procedures.verification import RecoveryVerification, Serving, check_listing
from drharness.results.recorder import Recorder
from drharness.results import JsonValue, Objective, ResultRecord, ResultSink, new_run_id
from drharness.target import Target

DATA, INFRASTRUCTURE, SERVICES, VERIFICATION = "data", "infrastructure", "services", "verification"
KINDS: Mapping[str, tuple[str, ...]] = {
    "full": (DATA, INFRASTRUCTURE, SERVICES, VERIFICATION),
    "partial": (INFRASTRUCTURE, SERVICES, VERIFICATION),
    "data-only": (DATA, VERIFICATION),
}
TITLES = {DATA: "Data Recovery", INFRASTRUCTURE: "Infrastructure Recovery", SERVICES: "Service Recovery",
          VERIFICATION: "Verification"}
PROCEDURE = "recover"
DEFAULT_STATE_DIR = Path(".drharness/runbook")
METRIC = "recovery_seconds"

UNKNOWN_KIND = "recovery type {kind!r} is not one of {kinds}"
REFUSED = "recovery {kind} refused before any change: {problems}"
STOPPED = (
    "recovery {kind} run {run_id} stopped in step {step}: {error}; fix the cause and resume it with "
    "`drharness recover {kind} --resume {run_id}`"
)
KIND_MISMATCH = (
    "run {run_id} is a {recorded} recovery, not {kind}; resume it with `drharness recover {recorded} --resume {run_id}`"
)
IDENTITY_MISMATCH = (
    "run {run_id} was made for {recorded}, not for {current}; resume it with the config and account it was started with"
)


@dataclass(frozen=True)
class StepReport:
    """One step as this invocation saw it (skipped: an earlier invocation finished it).

    `duration_seconds` is the step's last attempt; `total_seconds` every attempt of the run together.
    """

    name: str
    status: str
    skipped: bool
    attempts: int
    duration_seconds: float | None
    total_seconds: float
    detail: str
    error: str


@dataclass(frozen=True)
class RunbookOutcome:
    """What a runbook invocation planned or did."""

    run_id: str
    kind: str
    dry_run: bool
    state_path: Path | None
    steps: tuple[StepReport, ...]
    plan: tuple[str, ...]
    refusals: tuple[str, ...]
    serving: Serving | None
    verification: RecoveryVerification | None
    consistency_verdict: str
    recovery_seconds: float | None
    records: tuple[ResultRecord, ...]

    @property
    def completed(self) -> bool:
        return not self.dry_run and all(s.status == "done" for s in self.steps)


# -- the run ---------------------------------------------------------------------------------------


def identity(target: Target, workload: Workload) -> dict[str, str]:
    """What a run was made for; a resume must match it."""
    spec = workload.spec
    return {"project": spec.project, "environment": spec.environment, "account_id": target.account_id,
            "primary_region": workload.primary_region, "secondary_region": workload.secondary_region}


def _strictest_tier(workload: Workload) -> str:
    tiers = {workload.spec.bucket.tier, workload.spec.table.tier, workload.spec.compute.tier}
    return min(tiers, key=lambda t: workload.tier(t).rto_seconds)


class Runbook:
    """Run (or plan, or resume) a recovery against `target`.

    Records go to `sink`, else to `<reports>/results/<run_id>/` (a resumed run adds to the same folder).
    `listing`: the source listing to verify against when the primary is down (default: the newest under
    `listing_dir`); `ledgers`: canary ledgers whose acknowledged writes must all be in what serves;
    `observer`: whose view decides whether the primary still answers (default `target`).
    """

    def __init__(
        self,
        target: Target,
        workload: Workload,
        *,
        state_dir: Path = DEFAULT_STATE_DIR,
        listing: SourceListing | Path | None = None,
        listing_dir: Path = DEFAULT_LISTING_DIR,
        ledgers: Sequence[CanaryLedger] = (),
        sink: ResultSink | None = None,
        reports: Path | None = None,
        source: str = "api",
        stack_timeout_s: float = DEFAULT_STACK_TIMEOUT_S,
        services_timeout_s: float = 600.0,
        restore_timeout_s: float = 3600.0,
        primary_timeout_s: float = DEFAULT_TIMEOUT_S,
        on_step: Callable[[StepReport], None] | None = None,
        observer: Target | None = None,
    ) -> None:
        self.target = target
        self.observer = observer
        self.workload = workload
        self.store = StateStore(Path(state_dir), PROCEDURE)
        self.listing = read_listing(listing) if isinstance(listing, (str, Path)) else listing
        self.listing_dir = Path(listing_dir)
        self.ledgers = tuple(ledgers)
        self.sink = sink
        self.reports = reports
        self.source = source
        self.stack_timeout_s = stack_timeout_s
        self.services_timeout_s = services_timeout_s
        self.restore_timeout_s = restore_timeout_s
        self.primary_timeout_s = primary_timeout_s
        self.on_step = on_step

    # -- before anything changes ------------------------------------------------------------------

    def _state(self, kind: str, resume: str | None, run_id: str | None) -> tuple[RunState, bool]:
        if kind not in KINDS:
            raise ProcedureError(UNKNOWN_KIND.format(kind=kind, kinds=", ".join(KINDS)))
        current = identity(self.target, self.workload)
        if resume is None:
            return RunState.new(run_id or new_run_id(), PROCEDURE, kind, KINDS[kind], current), True
        state = self.store.load(resume)
        if state.kind != kind:
            raise ProcedureError(KIND_MISMATCH.format(run_id=resume, recorded=state.kind, kind=kind))
        if dict(state.identity) != current:
            raise ProcedureError(IDENTITY_MISMATCH.format(run_id=resume, recorded=_show(state.identity), current=_show(current)))
        return state, False

    def preconditions(self, steps: Sequence[str]) -> list[str]:
        """Why the steps cannot run now (empty: they can)."""
        problems: list[str] = []
        if DATA in steps:
            bucket = backup_bucket_problem(self.target, self.workload)
            problems.extend([bucket] if bucket else [])
            table = table_problem(self.target, self.workload, self.primary_timeout_s)
            problems.extend([table] if table else [])
        for stack in self.workload.each_dr_stack():
            if INFRASTRUCTURE in steps:
                problems.extend(activation_problems(self.target, stack))
            elif SERVICES in steps:
                view = read_dr_stack(self.target, stack)
                if not view.outputs.get("ComputeEnvironment"):
                    problems.append(NO_STACK_COMPUTE.format(stack=view.name, region=view.region, output="ComputeEnvironment"))
        if VERIFICATION in steps and self.listing is not None:
            try:
                check_listing(self.listing, self.workload)
            except ProcedureError as exc:
                problems.append(str(exc))
        return problems

    def _plan(self, state: RunState) -> list[str]:
        workload = self.workload
        region, prefix = workload.secondary_region, workload.spec.bucket.replication.prefix
        what = {
            DATA: (f"check s3://{workload.backup_bucket} ({region}) holds data under {prefix} and serve it; serve the "
                   f"replica table {workload.metadata_table} ({region}), or restore it to its latest restorable time"),
            INFRASTRUCTURE: "; ".join(describe_activation(stack, read_dr_stack(self.target, stack))
                                      for stack in workload.each_dr_stack()),
            SERVICES: (f"enable the Batch compute environment and job queue of every DR stack "
                       f"({', '.join(stack.dr_stack for stack in workload.each_dr_stack())}; {region}); wait for VALID"),
            VERIFICATION: ("compare what serves with the primary when it answers, else with the newest source listing"
                           + (f" and {len(self.ledgers)} canary ledger(s)" if self.ledgers else "")),
        }
        return [f"{s.name}: " + ("done before, skipped" if s.status == "done" else what[s.name]) for s in state.steps]

    # -- running ----------------------------------------------------------------------------------

    def run(self, kind: str, *, resume: str | None = None, dry_run: bool = False, run_id: str | None = None) -> RunbookOutcome:
        """Plan (`dry_run`), start, or resume (`resume=RUN_ID`) a recovery of type `kind`."""
        state, fresh = self._state(kind, resume, run_id)
        problems = self.preconditions(state.remaining)
        plan = self._plan(state)
        if dry_run:
            return RunbookOutcome(state.run_id, kind, True, None, (), tuple(plan), tuple(problems), None, None,
                                  state.facts.get(CONSISTENCY_VERDICT, ""), None, ())
        if problems:
            raise ProcedureError(REFUSED.format(kind=kind, problems="; ".join(problems)))
        if fresh:
            self.store.create(state)
        ctx = RecoveryContext(self.target, self.workload, state.run_id, kind, self.stack_timeout_s, self.services_timeout_s,
                              self.restore_timeout_s, self.primary_timeout_s, self.listing, self.listing_dir, self.ledgers,
                              self.observer)
        sink = self.sink or ResultSink(self.reports, run=state.run_id, source=self.source)
        recorder = Recorder(sink, self.target.name, scenario=f"recovery-{kind}")
        reports: list[StepReport] = []
        verification: list[RecoveryVerification] = []

        def verify(facts: Mapping[str, str]) -> StepOutcome:
            result = recovery.verify_recovery(ctx, facts)
            verification.append(result)
            self._record_verification(recorder, kind, result)
            return StepOutcome(f"consistency {result.verdict}: {result.reason}",
                               {CONSISTENCY_VERDICT: result.verdict, CONSISTENCY_REASON: result.reason})

        # Each lambda looks its step function up when it runs, so a replaced function takes effect.
        actions: dict[str, Callable[[Mapping[str, str]], StepOutcome]] = {
            DATA: lambda facts: recovery.recover_data(ctx, facts),
            INFRASTRUCTURE: lambda facts: recovery.recover_infrastructure(ctx, facts),
            SERVICES: lambda facts: recovery.recover_services(ctx, facts),
            VERIFICATION: verify,
        }

        def on_step(event: StepEvent) -> None:
            step = event.step
            report = StepReport(step.name, step.status, event.skipped, step.attempts, step.duration_seconds,
                                step.total_seconds, step.detail, step.error)
            reports.append(report)
            if not event.skipped:
                self._record_step(recorder, state.run_id, kind, report, step.started_at, event.facts)
            if self.on_step:
                self.on_step(report)

        steps = [Step(name, TITLES[name], actions[name]) for name in KINDS[kind]]
        try:
            state = run_steps(state, steps, self.store, on_step=on_step)
        except Exception as exc:  # noqa: BLE001 - the state is saved whatever went wrong; say how to resume
            failed = next((r.name for r in reversed(reports) if r.status == "failed"), "?")
            raise ProcedureError(STOPPED.format(kind=kind, run_id=state.run_id, step=failed, error=exc)) from exc
        seconds = state.steps_seconds
        self._record_run(recorder, state, kind, seconds)
        return RunbookOutcome(
            run_id=state.run_id, kind=kind, dry_run=False, state_path=self.store.path(state.run_id), steps=tuple(reports),
            plan=tuple(plan), refusals=(), serving=serving_from(state.facts, self.workload),
            verification=verification[-1] if verification else None,
            consistency_verdict=state.facts.get(CONSISTENCY_VERDICT, ""), recovery_seconds=seconds,
            records=tuple(recorder.records),
        )

    # -- records ----------------------------------------------------------------------------------

    def _record_step(self, recorder: Recorder, run_id: str, kind: str, report: StepReport, started_at: str | None,
                     facts: Mapping[str, str]) -> None:
        done = report.status == "done"
        recorder.measure(
            check=f"recover-{kind}:{report.name}", resource=f"recovery step {report.name} ({self.workload.secondary_region})",
            metric="step_seconds", value=report.duration_seconds if done else None, unit="s",
            tier=_strictest_tier(self.workload), started_at=started_at, duration_seconds=report.duration_seconds or 0.0,
            evidence={"run_id": run_id, "procedure": kind, "step": report.name, "title": TITLES[report.name],
                      "status": report.status, "attempts": report.attempts, "facts": dict(facts)},
            reason=report.detail if done else f"step {report.name} {report.status}: {report.error}",
            verdict="info" if done else "error",
        )

    def _record_verification(self, recorder: Recorder, kind: str, result: RecoveryVerification) -> None:
        spec = self.workload.spec
        if not result.reports:
            recorder.measure(check=f"recover-{kind}:consistency", resource=f"{self.workload.backup_bucket}, "
                             f"{self.workload.metadata_table} ({self.workload.secondary_region})",
                             metric="divergent_keys", value=None, unit="keys", tier=_strictest_tier(self.workload),
                             evidence={"reference": result.reference}, reason=result.reason, verdict="error")
            return
        for report in result.reports:
            record = report.to_record(target=self.target.name, scenario=recorder.scenario,
                                      tier=spec.bucket.tier if report.store == "s3" else spec.table.tier,
                                      check=f"recover-{kind}:consistency:{report.store}")
            evidence: dict[str, JsonValue] = {**record.evidence, "reference": result.reference,
                                              "reference_detail": result.reference_detail}
            recorder.write(replace(record, evidence=evidence))

    def _record_run(self, recorder: Recorder, state: RunState, kind: str, seconds: float) -> None:
        tier = _strictest_tier(self.workload)
        rto = objectives_for(self.workload, tier).rto  # type: ignore[arg-type]
        serving = serving_from(state.facts, self.workload)
        recorder.measure(
            check=f"recover-{kind}", resource=f"workload {self.workload.spec.project}-{self.workload.spec.environment} "
            f"({self.workload.secondary_region})",
            metric=METRIC, value=seconds, unit="s", objective=Objective(METRIC, rto.limit, "s", "<=", rto.source), tier=tier,
            started_at=state.created_at, duration_seconds=seconds,
            evidence={
                "run_id": state.run_id, "procedure": kind, "invocations": state.invocations,
                "steps": [{"name": s.name, "status": s.status, "attempts": s.attempts, "seconds": s.duration_seconds,
                           "total_seconds": s.total_seconds, "detail": s.detail} for s in state.steps],
                "serving": {"bucket": serving.bucket, "bucket_region": serving.bucket_region, "table": serving.table,
                            "table_region": serving.table_region},
                "consistency_verdict": state.facts.get(CONSISTENCY_VERDICT, ""),
                "measured": "seconds spent in the steps, over every attempt of every invocation of the run",
            },
        )


def _show(values: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())
