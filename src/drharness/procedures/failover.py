"""Auto-failover, the guide's `auto-failover.py` made real: check the primary, activate every DR stack, notify.

    outcome = run_failover(target, workload, recorder=recorder)
    outcome.action        # "no_action_required" | "failover_initiated" | "already_failed_over" | "planned"

The run is timed as an RTO timeline: `fault_injected` (given by the caller, else the failed health
check), `detected`, `failed_over` (every DR stack's change completed), `notified` (the notice was
published to every DR notice topic) and `verified` (the notice is in the SQS queue subscribed to each of
them, which the deploy creates on every target). `lambda_handler` runs the same procedure from the guide's Lambda environment variables.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, cast

from drharness.config import TIER_NAMES, Workload, WorkloadFile, load_workload
from drharness.errors import ConfigError, ProcedureError
from drharness.instruments.timeline import DETECTED, FAILED_OVER, FAULT_INJECTED, PhaseMark, Timeline, TimelineResult
from drharness.procedures import notice as notices
from drharness.procedures.health import DEFAULT_TIMEOUT_S, PrimaryHealth, check_primary_health
from drharness.procedures.stack import (
    DEFAULT_STACK_TIMEOUT_S,
    DrStackView,
    StackActivation,
    activate_dr_stack,
    activation_problems,
    describe_activation,
    read_dr_stack,
)
from drharness.results.recorder import Recorder
from drharness.results import JsonValue, Objective, ResultRecord, iso, new_run_id, utc_now
from drharness.target import Target

log = logging.getLogger("drharness.failover")

Action = Literal["no_action_required", "failover_initiated", "already_failed_over", "planned"]
VerifyMode = Literal["inbox", "publish"]
NOTIFIED = "notified"
METRIC = "failover_seconds"
SCENARIO = "failover"
LAMBDA_ENV = ("PROJECT_NAME", "ENVIRONMENT", "PRIMARY_REGION", "SECONDARY_REGION")
TOPIC_ENV = "DR_NOTIFICATION_TOPIC"

FAULT_TIME_UNKNOWN = "fault time unknown: the clock starts at the failed health check"
ALREADY_ACTIVE = "DR stack {stack} ({region}) already has {parameter}=true: failed over before, nothing changed, no notice sent"
HEALTHY = "primary healthy: no failover ({summary})"
PUBLISH_UNVERIFIED = (
    "notice {message_id} was accepted by SNS, which does not show it was delivered: the failover is unverified; "
    "verify it through the DR topic's SQS inbox (verify_notice=\"inbox\")"
)
MISSING_ENV = (
    "the failover function needs environment variable(s) {names}, as the guide's Lambda does; "
    "set them in the function's configuration"
)


@dataclass(frozen=True)
class FailoverPhase:
    """One phase of the failover: when it was reached and how far from the start of the clock."""

    phase: str
    at: str
    offset_seconds: float
    note: str

    def to_json(self) -> dict[str, JsonValue]:
        return {"phase": self.phase, "at": self.at, "offset_seconds": round(self.offset_seconds, 6), "note": self.note}


@dataclass(frozen=True)
class FailoverOutcome:
    """What a failover run found and did."""

    run_id: str
    action: Action
    success: bool
    dry_run: bool
    forced: bool
    health: PrimaryHealth
    reason: str
    plan: tuple[str, ...] = ()
    # The first DR stack's activation when every stack was activated (None: one failed); `stacks` has each one done.
    stack: StackActivation | None = None
    # The notice on the first DR notice topic; `sent_notices` has one per topic it was published to.
    notice: notices.Notice | None = None
    stacks: tuple[StackActivation, ...] = ()
    sent_notices: tuple[notices.Notice, ...] = ()
    notice_verified: bool = False
    failover_seconds: float | None = None
    phases: tuple[FailoverPhase, ...] = ()
    records: tuple[ResultRecord, ...] = ()

    def lambda_body(self) -> dict[str, JsonValue]:
        """The guide's Lambda response body."""
        if self.action == "no_action_required":
            return {"action": "no_action_required"}
        return {"action": self.action, "success": self.success, "run_id": self.run_id}


def _objective(workload: Workload) -> tuple[str, Objective]:
    """The RTO of the most critical compute environment a DR stack raises."""
    tier = min((view.mirrored_compute().spec.compute.tier for view in workload.each_dr_stack()), key=TIER_NAMES.index)
    spec = workload.tier(tier)
    return tier, Objective(METRIC, spec.rto_seconds, "s", "<=", f"tier {tier} RTO {spec.rto_hours:g} h")


def _phases(result: TimelineResult, extra: tuple[PhaseMark, ...]) -> tuple[FailoverPhase, ...]:
    marks = sorted((*result.phases, *extra), key=lambda m: m.monotonic_seconds)
    if not marks:
        return ()
    zero = marks[0].monotonic_seconds
    return tuple(FailoverPhase(m.phase, iso(m.at), m.monotonic_seconds - zero, m.note) for m in marks)


def run_failover(
    target: Target,
    workload: Workload,
    *,
    dry_run: bool = False,
    force: bool = False,
    recorder: Recorder | None = None,
    timeline: Timeline | None = None,
    topic_arn: str | None = None,
    run_id: str | None = None,
    health_timeout_s: float = DEFAULT_TIMEOUT_S,
    stack_timeout_s: float = DEFAULT_STACK_TIMEOUT_S,
    notice_timeout_s: float | None = None,
    verify_notice: VerifyMode | None = None,
    observer: Target | None = None,
) -> FailoverOutcome:
    """Fail over to the secondary region if the primary is unhealthy (or `force`); nothing changes on `dry_run`.

    `timeline`: a timeline whose `fault_injected` the caller marked when the fault went in; without
    one the clock starts at the failed health check. `verify_notice`: "inbox" (the default) finds the
    notice in the SQS queue subscribed to the DR topic; "publish" only publishes, and the run is then
    recorded unverified, since an accepted publish proves nothing about the recovered side.
    `observer`: whose view of the primary decides (the workload's role, which a live region-outage
    denies); the DR stack and the notice are changed as `target`.
    """
    run = run_id or new_run_id()
    health = check_primary_health(observer or target, workload, health_timeout_s)
    checked = (
        f"check: batch compute environment {workload.compute_environment} VALID/ENABLED, s3://{workload.data_bucket} "
        f"and table {workload.metadata_table} readable in {workload.primary_region} within {health_timeout_s:g} s",
        health.summary(),
    )
    if health.healthy and not force:
        return _no_action(workload, run, health, checked, dry_run=dry_run, recorder=recorder)
    mode: VerifyMode = verify_notice or "inbox"
    views = tuple(read_dr_stack(target, view) for view in workload.each_dr_stack())
    if dry_run:
        return _planned(target, workload, run, health, views, checked, force=force, mode=mode, topic_arn=topic_arn)
    if all(view.enabled for view in views):
        return _already_failed_over(workload, run, health, views, checked, force=force, recorder=recorder)
    log.warning("primary region unhealthy, initiating failover: %s", _masked(workload, health.summary()))
    return _fail_over(target, workload, run, health, force=force, recorder=recorder, timeline=timeline, topic_arn=topic_arn,
                      stack_timeout_s=stack_timeout_s, mode=mode,
                      notice_timeout_s=notice_timeout_s if notice_timeout_s is not None else (30.0 if mode == "inbox" else 0.0),
                      plan=checked)


def _stacks_resource(workload: Workload) -> str:
    """The record's resource: every DR stack of the workload."""
    return ", ".join(f"cloudformation stack {view.dr_stack} ({view.secondary_region})" for view in workload.each_dr_stack())


def _already_failed_over(workload: Workload, run: str, health: PrimaryHealth, views: tuple[DrStackView, ...],
                         checked: tuple[str, ...], *, force: bool, recorder: Recorder | None) -> FailoverOutcome:
    """Every DR stack is on already: nothing changes and no notice is sent (an info record says so)."""
    reason = "; ".join(ALREADY_ACTIVE.format(stack=v.name, region=v.region, parameter=v.enable_parameter) for v in views)
    outcome = FailoverOutcome(run, "already_failed_over", True, False, force, health, reason, (*checked, reason))
    if recorder:
        record = recorder.measure(check="failover", resource=_stacks_resource(workload), metric=METRIC, value=None,
                                  unit="s", scenario=SCENARIO, tier=_objective(workload)[0],
                                  evidence={"run_id": run, "health": health.to_json(), "action": "already_failed_over"},
                                  reason=reason, verdict="info")
        outcome = _with_records(outcome, (record,))
    return outcome


def _no_action(workload: Workload, run: str, health: PrimaryHealth, checked: tuple[str, ...], *, dry_run: bool,
               recorder: Recorder | None) -> FailoverOutcome:
    """The primary is healthy: nothing changes (an info record says so unless this is a dry run)."""
    outcome = FailoverOutcome(run, "no_action_required", True, dry_run, False, health,
                              HEALTHY.format(summary=health.summary()), (*checked, "no change: the primary is healthy"))
    if recorder and not dry_run:
        record = recorder.measure(check="failover:health", resource=f"region {workload.primary_region}",
                                  metric="primary_healthy", value=1.0, unit="bool", scenario=SCENARIO,
                                  evidence={"run_id": run, "health": health.to_json()},
                                  reason=outcome.reason, verdict="info")
        outcome = _with_records(outcome, (record,))
    return outcome


def _fail_over(
    target: Target, workload: Workload, run: str, health: PrimaryHealth, *, force: bool, recorder: Recorder | None,
    timeline: Timeline | None, topic_arn: str | None, stack_timeout_s: float, mode: VerifyMode, notice_timeout_s: float,
    plan: tuple[str, ...],
) -> FailoverOutcome:
    clock = timeline or Timeline.start(f"failover {', '.join(v.dr_stack for v in workload.each_dr_stack())}")
    fault_known = clock.marked(FAULT_INJECTED) is not None
    if not fault_known:
        clock.mark(FAULT_INJECTED, FAULT_TIME_UNKNOWN)
    if clock.marked(DETECTED) is None:  # a caller's own detector may have marked it already
        clock.mark(DETECTED, ("forced while healthy: " if health.healthy else "") + health.summary())
    stacks = _activate_every_stack(target, workload, clock, stack_timeout_s)
    stack = stacks[0] if len(stacks) == len(workload.spec.dr_stacks) else None
    sent, extra = _notify(target, workload, run, health, clock, stacks if stack else None, topic_arn)
    verified = False
    if stack is not None and extra:  # every notice was published
        result, verified = _verify(target, workload, clock, sent, run, mode, notice_timeout_s, topic_arn)
    else:
        result = clock.result()
    tier, objective = _objective(workload)
    phases = _phases(result, extra)
    outcome = FailoverOutcome(
        run_id=run, action="failover_initiated", success=stack is not None, dry_run=False, forced=force, health=health,
        stack=stack, notice=sent[0] if sent else None, notice_verified=verified, failover_seconds=result.rto_seconds,
        phases=phases, plan=plan, reason=result.reason, stacks=stacks, sent_notices=sent,
    )
    if recorder:
        evidence: dict[str, JsonValue] = {
            "run_id": run,
            "label": result.label,
            "phases": [p.to_json() for p in phases],
            "clock_starts_at": "fault" if fault_known else "detection",
            "health": health.to_json(),
            "forced": force,
            "stack": _stack_evidence(workload, stack),
            "stacks": [_stack_evidence(view, next((s for s in stacks if s.stack == view.dr_stack), None))
                       for view in workload.each_dr_stack()],
            "notice": {"topic_arn": sent[0].topic_arn, "message_id": sent[0].message_id} if sent else None,
            "notices": [{"topic_arn": n.topic_arn, "message_id": n.message_id} for n in sent],
            "verify_mode": mode,
            "problems": list(result.problems),
        }
        record = recorder.measure(
            check="failover", resource=_stacks_resource(workload),
            metric=METRIC, value=result.rto_seconds, unit="s", objective=objective, tier=tier, scenario=SCENARIO,
            evidence=evidence, started_at=iso(result.started_at), duration_seconds=result.elapsed_seconds,
            reason=None if result.verified else result.reason,
        )
        outcome = _with_records(outcome, (record,))
    return outcome


def _activate_every_stack(target: Target, workload: Workload, clock: Timeline,
                          timeout_s: float) -> tuple[StackActivation, ...]:
    """Switch every DR stack on, each in turn (one that fails does not stop the others); `failed_over` is marked
    once all of them are on."""
    done: list[StackActivation] = []
    for view in workload.each_dr_stack():
        try:
            done.append(activate_dr_stack(target, view, timeout_s=timeout_s))
        except ProcedureError as exc:
            clock.note_problem(str(exc))
    if len(done) == len(workload.spec.dr_stacks) and clock.marked(FAILED_OVER) is None:
        clock.mark(FAILED_OVER, "; ".join(s.detail for s in done))
    return tuple(done)


def _stack_evidence(view: Workload, stack: StackActivation | None) -> dict[str, JsonValue]:
    return {"name": view.dr_stack, "region": view.secondary_region, "action": stack.action if stack else None,
            "status": stack.status if stack else None, "seconds": stack.duration_seconds if stack else None}


def _planned(
    target: Target, workload: Workload, run: str, health: PrimaryHealth, views: tuple[DrStackView, ...],
    checked: tuple[str, ...], *, force: bool, mode: VerifyMode, topic_arn: str | None,
) -> FailoverOutcome:
    """The dry run: what a failover would do and what would refuse it; nothing changes."""
    problems: list[str] = []
    plan = list(checked)
    for stack_view, view in zip(workload.each_dr_stack(), views):
        problems += [] if view.enabled else activation_problems(target, stack_view, view)
        plan.append(("forced failover: " if force and health.healthy else "") + describe_activation(stack_view, view))
    if not all(view.enabled for view in views):
        for topic in _notice_topics(workload, topic_arn):
            plan.append(f"publish the DR notice to {topic_arn or topic.dr_topic} ({topic.secondary_region})")
        plan.append("verify: the notice arrives in the SQS inbox of the DR topic" if mode == "inbox"
                    else "no verification: an accepted publish is not a delivery, so the run is recorded unverified")
    plan.extend(f"would refuse: {p}" for p in problems)
    return FailoverOutcome(run, "planned", not problems, True, force, health,
                           "; ".join(problems) or "dry run: nothing changed", tuple(plan))


def _notice_topics(workload: Workload, topic_arn: str | None) -> tuple[Workload, ...]:
    """The views of the DR notice topics the notice goes to: every one, or the first where an ARN is given."""
    return (workload,) if topic_arn else workload.each_topic("dr-notifications")


def _notify(
    target: Target, workload: Workload, run: str, health: PrimaryHealth, clock: Timeline,
    stacks: tuple[StackActivation, ...] | None, topic_arn: str | None,
) -> tuple[tuple[notices.Notice, ...], tuple[PhaseMark, ...]]:
    """Publish the DR notice (success or failure of the stack changes) to every DR notice topic; the notices and
    their `notified` mark (once all are published)."""
    details: dict[str, JsonValue] = {
        "dr_stack": ", ".join(view.dr_stack for view in workload.each_dr_stack()),
        "stack_action": ", ".join(s.action for s in stacks) if stacks else "failed",
        "stack_status": ", ".join(s.status for s in stacks) if stacks else None,
        "primary_health": list(health.problems),
    }
    if stacks is None:
        details["error"] = clock.result().reason
    body = notices.message(workload, run_id=run, success=stacks is not None, details=details)
    sent: list[notices.Notice] = []
    for view in _notice_topics(workload, topic_arn):
        try:
            sent.append(notices.publish(target, view, topic_arn or notices.dr_topic_arn(target, view), body))
        except ProcedureError as exc:
            clock.note_problem(str(exc))
    if len(sent) < len(_notice_topics(workload, topic_arn)):
        return tuple(sent), ()
    note = "; ".join(f"notice {n.message_id} published to {n.topic_arn}" for n in sent)
    return tuple(sent), (PhaseMark(NOTIFIED, utc_now(), time.monotonic(), note),)


def _verify(
    target: Target, workload: Workload, clock: Timeline, sent: tuple[notices.Notice, ...], run: str, mode: VerifyMode,
    timeout_s: float, topic_arn: str | None,
) -> tuple[TimelineResult, bool]:
    if mode == "publish":
        clock.note_problem(PUBLISH_UNVERIFIED.format(message_id=", ".join(n.message_id for n in sent)))
        return clock.result(), False
    topics = _notice_topics(workload, topic_arn)
    try:
        result = clock.verify(
            lambda: all(notices.inbox_has_notice(target, view, run) for view in topics),
            timeout_s,
            target.poll_interval_s,
            what=f"the DR notice of run {run} in the SQS inbox of {', '.join(view.dr_topic for view in topics)}",
        )
    except ProcedureError as exc:
        clock.note_problem(str(exc))
        return clock.result(), False
    return result, result.verified


def _masked(workload: Workload, text: str) -> str:
    """Log text with the account ids masked (bucket names carry them)."""
    from drharness.redaction import Scrubber

    return Scrubber.for_workload(workload).text(text)


def _with_records(outcome: FailoverOutcome, records: tuple[ResultRecord, ...]) -> FailoverOutcome:
    return replace(outcome, records=(*outcome.records, *records))


# -- the guide's Lambda ---------------------------------------------------------------------------


def workload_from_environment(env: Mapping[str, str]) -> Workload:
    """The workload named by the guide's Lambda variables, over the config file (DRHARNESS_CONFIG) or the defaults."""
    missing = [name for name in LAMBDA_ENV if not env.get(name)]
    if missing:
        raise ConfigError(MISSING_ENV.format(names=", ".join(missing)))
    base = load_workload()
    data: dict[str, Any] = base.spec.model_dump()
    data.update(project=env["PROJECT_NAME"], environment=env["ENVIRONMENT"],
                primary_region=env["PRIMARY_REGION"], secondary_region=env["SECONDARY_REGION"])
    from pydantic import ValidationError

    try:
        spec = WorkloadFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(
            f"the failover function's environment gives an invalid {'.'.join(map(str, first['loc']))}: {first['msg']}"
        ) from exc
    return Workload(spec, base.account_id, "environment (" + ", ".join(LAMBDA_ENV) + ")")


def target_from_environment(env: Mapping[str, str], workload: Workload) -> Target:
    """An offline target when DRHARNESS_ENDPOINT / AWS_ENDPOINT_URL is set; else AWS through the live safety checks."""
    endpoint = env.get("DRHARNESS_ENDPOINT") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        from drharness.attach import attach

        # The Target protocol declares endpoint_url `str | None` as a plain attribute, which mypy reads as invariant.
        return cast(Target, attach(endpoint, workload.account_id).target)
    from drharness.safety import open_live_target
    from drharness.settings import resolve_settings

    # A function deployed in the account still opts in explicitly: DRHARNESS_LIVE and the config's allowlists.
    return open_live_target(resolve_settings(target="aws", live=True), workload)


def lambda_handler(event: Mapping[str, Any] | None, context: object) -> dict[str, Any]:
    """The guide's Lambda handler: check the primary and fail over when it is unhealthy.

    Environment: PROJECT_NAME, ENVIRONMENT, PRIMARY_REGION, SECONDARY_REGION, DR_NOTIFICATION_TOPIC
    (the topic's ARN; default: the workload's DR topic). The event may set {"force": true} or {"dry_run": true}.
    """
    env = os.environ
    event = event or {}
    workload = workload_from_environment(env)
    target = target_from_environment(env, workload)
    workload = workload.with_account(target.account_id)
    outcome = run_failover(target, workload, topic_arn=env.get(TOPIC_ENV) or None,
                           force=bool(event.get("force")), dry_run=bool(event.get("dry_run")))
    log.info("failover %s: %s (%s)", outcome.run_id, outcome.action, _masked(workload, outcome.reason))
    return {"statusCode": 200, "body": json.dumps(outcome.lambda_body())}
