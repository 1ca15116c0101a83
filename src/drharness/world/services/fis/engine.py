"""AWS Fault Injection Service for the offline world: experiments that do what their actions say.

moto stores FIS experiment templates and experiments, and an experiment does nothing. Here
StartExperiment resolves the experiment's targets in the world and applies its actions through the
world's fault table, under fault ids made from the experiment id; each action is undone when its
`duration` (ISO 8601, e.g. PT2M) has elapsed, and StopExperiment undoes them all at once.
GetExperiment and ListExperiments report the experiment as it moves: pending -> initiating ->
running -> completed, or stopping -> stopped, or failed with its reason; ListExperimentResolvedTargets
names what each target resolved to (by tag or parameter too, where moto lists ARN-given targets only).

| FIS action                                  | targets            | offline effect                             |
|---------------------------------------------|--------------------|--------------------------------------------|
| aws:s3:bucket-pause-replication             | aws:s3:bucket      | replication-pause of each bucket (region)  |
| aws:dynamodb:global-table-pause-replication | aws:dynamodb:global-table | replication-pause of each table      |
| aws:network:disrupt-connectivity            | aws:ec2:subnet     | az-outage of each zone of the subnets      |
|   (scope all or availability-zone)          |                    |                                            |
| aws:ec2:stop-instances                      | aws:ec2:instance   | instances stopped; started again after     |
|                                             |                    | startInstancesAfterDuration, or on stop    |
| aws:fis:inject-api-throttle-error,          | aws:iam:role       | service-fault (throttle, error,            |
|   -internal-error, -unavailable-error       |                    | unavailable) per operation, at percentage  |
| aws:fis:wait                                | none               | waits for its duration                     |

Known differences from AWS: an API fault impairs every caller of the service in the region (the world
does not tell roles apart); `startAfter` ordering is not modelled (actions start together); the
bucket action's `prefixes` and `destinationBuckets` filters are refused rather than widened.
"""


from __future__ import annotations

import json
import threading
import time
from typing import Any

from drharness.world.engine import BaseEngine
from drharness.world.faults.az_outage import Zones
from drharness.world.faults.table import FaultTable
from drharness.world.plane import Plane
from drharness.world.services.fis.models import (
    API_FAULT_MODES,
    BAD_DURATION,
    EMPTY_TARGET,
    REASONS,
    SUPPORTED_ACTIONS,
    TERMINAL,
    UNSUPPORTED_ACTION,
    ZONE_SCOPES,
    Action,
    Experiment,
    FisSetupError,
    action_reason,
    json_body,
    parse_duration,
    target_arn,
)
from drharness.world.services.fis.targets import Targets
from drharness.world.wire import AwsRequest, CapturedResponse


class FisEngine(BaseEngine):
    """Runs FIS experiments in the world; state per experiment id, revert through the fault table."""

    def __init__(self, plane: Plane, faults: FaultTable, zones: Zones) -> None:
        self._plane = plane
        self._faults = faults
        self._zones = zones
        self._targets = Targets(plane.client, plane.rng)
        self._lock = threading.Lock()
        self._experiments: dict[str, Experiment] = {}

    # -- what tests and the control path can ask --------------------------------------------------------

    def history(self, experiment_id: str) -> list[tuple[str, float]]:
        """The states an experiment went through, with when (epoch seconds)."""
        with self._lock:
            found = self._experiments.get(experiment_id)
            return list(found.history) if found else []

    def fault_ids(self, experiment_id: str) -> list[str]:
        """Ids of the world faults an experiment injected (active or already reverted)."""
        with self._lock:
            found = self._experiments.get(experiment_id)
            return [i for a in found.actions.values() for i in a.fault_ids] if found else []

    # -- the HTTP path ------------------------------------------------------------------------------

    def after(self, request: AwsRequest, response: CapturedResponse) -> None:
        if request.service != "fis" or not response.ok:
            return
        op = request.operation
        if op == "StartExperiment":
            body = json_body(response)
            if body is None or "experiment" not in body:
                return
            # A retried StartExperiment (same client token) gets the experiment that already runs.
            experiment = self._known(str(body["experiment"].get("id", ""))) or self._started(body["experiment"], request.region)
            self._render(body["experiment"], experiment)
            response.set_body(json.dumps(body).encode())
        elif op == "StopExperiment":
            body = json_body(response)
            if body is None or "experiment" not in body:
                return
            experiment = self._known(str(body["experiment"].get("id", "")))
            if experiment is not None:
                self._stop_requested(experiment)
                self._render(body["experiment"], experiment)
                response.set_body(json.dumps(body).encode())
        elif op == "ListExperimentResolvedTargets":
            self._resolved_targets(request, response)
        elif op in ("GetExperiment", "ListExperiments"):
            body = json_body(response)
            if body is None:
                return
            items = [body["experiment"]] if "experiment" in body else list(body.get("experiments") or [])
            for item in items:
                experiment = self._known(str(item.get("id", "")))
                if experiment is not None:
                    self._render(item, experiment)
            response.set_body(json.dumps(body).encode())

    def _resolved_targets(self, request: AwsRequest, response: CapturedResponse) -> None:
        """What the experiment's targets resolved to in the world (moto resolves ARN-listed targets only)."""
        experiment = self._known(request.path_params.get("id", ""))  # GET /experiments/{id}/resolvedTargets
        if experiment is None:
            return
        wanted = (request.query.get("targetName") or [None])[0]
        with self._lock:
            resolved = [{"resourceType": str(experiment.targets.get(name, {}).get("resourceType", "")),
                         "targetName": name, "targetInformation": {"arn": arn}}
                        for name, arns in experiment.resolved.items() if wanted in (None, name) for arn in arns]
        response.set_body(json.dumps({"resolvedTargets": resolved}).encode())

    def _known(self, experiment_id: str) -> Experiment | None:
        with self._lock:
            return self._experiments.get(experiment_id)

    # -- lifecycle ----------------------------------------------------------------------------------

    def _started(self, raw: dict[str, Any], region: str) -> Experiment:
        actions = {
            name: Action(name, str(spec.get("actionId", "")), {k: str(v) for k, v in (spec.get("parameters") or {}).items()},
                          {k: str(v) for k, v in (spec.get("targets") or {}).items()})
            for name, spec in (raw.get("actions") or {}).items()
        }
        options = raw.get("experimentOptions") or {}
        experiment = Experiment(str(raw["id"]), region, dict(raw.get("targets") or {}), actions,
                                 str(options.get("emptyTargetResolutionMode") or "fail"))
        experiment.history.append(("pending", experiment.start))
        with self._lock:
            self._experiments[experiment.id] = experiment
        self._plane.submit(0, lambda: self._initiate(experiment), lambda: False, f"fis experiment {experiment.id}")
        return experiment

    def _set(self, experiment: Experiment, status: str, reason: str | None = None) -> None:
        with self._lock:
            experiment.status = status
            experiment.reason = reason or REASONS.get(status, status)
            now = time.time()
            experiment.history.append((status, now))
            if status in TERMINAL:
                experiment.end = now

    def _advance(self, experiment: Experiment, current: str, status: str) -> bool:
        """Move from `current` to `status` unless something else (a stop) moved the experiment first."""
        with self._lock:
            if experiment.status != current:
                return False
        self._set(experiment, status)
        return True

    def _initiate(self, experiment: Experiment) -> None:
        with experiment.mutex:
            if not self._advance(experiment, "pending", "initiating"):
                return  # stopped before it started
            try:
                plans = {name: self._plan(experiment, action) for name, action in experiment.actions.items()}
            except Exception as exc:  # noqa: BLE001 - nothing changed yet; the experiment fails with the reason
                reason = str(exc) if isinstance(exc, FisSetupError) else f"target resolution failed: {exc}"
                for action in experiment.actions.values():
                    action.status, action.reason = "cancelled", reason
                self._set(experiment, "failed", reason)
                return
            try:
                for name, plan in plans.items():
                    self._apply(experiment, experiment.actions[name], plan)
            except Exception as exc:  # noqa: BLE001 - the experiment fails and undoes what it did
                self._undo_all(experiment, "failed")
                self._set(experiment, "failed", f"an action could not be applied: {exc}")
                return
            if experiment.status == "stopping":  # StopExperiment arrived while the actions went in
                self._undo_all(experiment, "stopped")
                self._set(experiment, "stopped")
                return
            self._set(experiment, "running")
            for action in experiment.actions.values():
                self._arm(experiment, action)
            self._maybe_complete(experiment)

    def _stop_requested(self, experiment: Experiment) -> None:
        with self._lock:
            if experiment.status in TERMINAL or experiment.status == "stopping":
                return
        self._set(experiment, "stopping")
        self._plane.submit(0, lambda: self._stop(experiment), lambda: False, f"fis stop {experiment.id}")

    def _stop(self, experiment: Experiment) -> None:
        with experiment.mutex:
            if experiment.status in TERMINAL:
                return
            self._undo_all(experiment, "stopped")
            self._set(experiment, "stopped")

    # -- actions -------------------------------------------------------------------------------------

    def _plan(self, experiment: Experiment, action: Action) -> list[tuple[str, dict[str, Any]]]:
        """What an action will do: vocabulary faults to inject (or instance ids to stop), checked before any change."""
        if action.action_id not in SUPPORTED_ACTIONS:
            raise FisSetupError(UNSUPPORTED_ACTION.format(name=action.name, action=action.action_id,
                                                          known=", ".join(SUPPORTED_ACTIONS)))
        params = action.parameters
        for key in ("duration", "startInstancesAfterDuration"):
            if key in params:
                try:
                    parse_duration(params[key])
                except ValueError as exc:
                    raise FisSetupError(BAD_DURATION.format(name=action.name, value=params[key])) from exc
        if action.action_id == "aws:fis:wait":
            return []
        resources = {ref: self._targets.resolve(experiment, target_name) for ref, target_name in action.targets.items()}
        for ref, target_name in action.targets.items():
            kind = str(experiment.targets.get(target_name, {}).get("resourceType", ""))
            experiment.resolved[target_name] = [target_arn(kind, r, experiment.region, self._plane.account_id)
                                                for r in resources[ref]]
        for ref, found in resources.items():
            if not found and experiment.empty_mode != "skip":
                target = experiment.targets.get(action.targets[ref], {})
                raise FisSetupError(EMPTY_TARGET.format(target=action.targets[ref], kind=target.get("resourceType", "?")))
        picked = [r for found in resources.values() for r in found]
        aid = action.action_id
        if aid == "aws:s3:bucket-pause-replication":
            for unsupported in ("prefixes", "destinationBuckets"):
                if params.get(unsupported):
                    raise FisSetupError(f"action {action.name}: parameter {unsupported} is not emulated offline; "
                                        "the world pauses a bucket's replication as a whole")
            region = params.get("region") or None
            return [("replication-pause", {"bucket": b, **({"region": region} if region else {})}) for b in picked]
        if aid == "aws:dynamodb:global-table-pause-replication":
            return [("replication-pause", {"table": name, "region": region}) for region, name in (p.split("/", 1) for p in picked)]
        if aid == "aws:network:disrupt-connectivity":
            scope = params.get("scope", "all")
            if scope not in ZONE_SCOPES:
                raise FisSetupError(f"action {action.name}: scope {scope!r} is not emulated offline "
                                    f"(emulated: {', '.join(ZONE_SCOPES)}, as an outage of the subnets' zones)")
            zones = sorted({self._zones.subnet_zone(experiment.region, s) or "" for s in picked} - {""})
            return [("az-outage", {"region": experiment.region, "az": zone}) for zone in zones]
        if aid == "aws:ec2:stop-instances":
            return [("stop-instances", {"ids": picked})]
        mode = API_FAULT_MODES[aid]
        service = params.get("service", "")
        try:
            rate = float(params.get("percentage", "100")) / 100.0
        except ValueError as exc:
            raise FisSetupError(f"action {action.name}: percentage {params.get('percentage')!r} is not a number") from exc
        operations = [op.strip() for op in params.get("operations", "").split(",") if op.strip()]
        if not service or not operations:
            raise FisSetupError(f"action {action.name}: {aid} needs the parameters service and operations")
        return [("service-fault", {"service": service, "operation": op, "mode": mode, "rate": rate,
                                   "region": experiment.region}) for op in operations]

    def _apply(self, experiment: Experiment, action: Action, plan: list[tuple[str, dict[str, Any]]]) -> None:
        if not plan and action.action_id != "aws:fis:wait" and action.targets:
            action.status, action.reason = "skipped", "no target resolved (emptyTargetResolutionMode skip)"
            return
        for name, params in plan:
            if name == "stop-instances":
                ids = list(params["ids"])
                if ids:
                    self._plane.client("ec2", experiment.region).stop_instances(InstanceIds=ids)
                action.stopped = ids
                action.restart = "startInstancesAfterDuration" in action.parameters
                continue
            experiment.faults_made += 1
            fault_id = f"fis-{experiment.id[:16]}-{experiment.faults_made}"
            action.fault_ids.append(fault_id)
            self._faults.inject(name, params, fault_id)
        action.status, action.reason, action.start = "running", "", time.time()

    def _arm(self, experiment: Experiment, action: Action) -> None:
        """Start the clock of an action; one without a duration is done at once."""
        if action.status != "running":
            return
        key = "startInstancesAfterDuration" if action.action_id == "aws:ec2:stop-instances" else "duration"
        if key not in action.parameters:
            if action.action_id == "aws:ec2:stop-instances":
                self._finish(experiment, action, "completed", undo=False)
            else:
                # FIS requires a duration on these actions; without one the fault stays until the experiment is stopped.
                action.reason = "no duration: runs until the experiment is stopped"
            return
        seconds = parse_duration(action.parameters[key])
        # A timer, not world.submit: the scheduler's idle wait (World.settle) would otherwise wait out the duration.
        timer = threading.Timer(seconds, self._elapsed, args=(experiment, action))
        timer.daemon = True
        timer.name = f"drharness-fis-{experiment.id[:8]}-{action.name}"
        action.timer = timer
        timer.start()

    def _elapsed(self, experiment: Experiment, action: Action) -> None:
        try:
            with experiment.mutex:
                if experiment.status != "running" or action.status != "running":
                    return
                self._finish(experiment, action, "completed", undo=True)
                self._maybe_complete(experiment)
        except Exception as exc:  # noqa: BLE001 - a timer thread has nobody to raise to
            self._plane.report(f"fis {experiment.id} action {action.name}: {type(exc).__name__}: {exc}")

    def _finish(self, experiment: Experiment, action: Action, status: str, *, undo: bool) -> None:
        if action.timer is not None:
            action.timer.cancel()
        if undo:
            for fault_id in reversed(action.fault_ids):
                self._faults.revert(fault_id)
            if action.stopped and action.restart:
                self._zones.start_instances(experiment.region, action.stopped)
        action.status, action.end = status, time.time()

    def _undo_all(self, experiment: Experiment, status: str) -> None:
        problems = []
        for action in reversed(list(experiment.actions.values())):
            if action.status in ("running", "pending"):
                try:
                    self._finish(experiment, action, "cancelled" if status == "failed" else status, undo=True)
                except Exception as exc:  # noqa: BLE001 - undo the rest; report this one
                    problems.append(f"{action.name}: {exc}")
        if problems:
            self._plane.report(f"fis {experiment.id}: could not undo " + "; ".join(problems))

    def _maybe_complete(self, experiment: Experiment) -> None:
        if experiment.status == "running" and all(a.status not in ("running", "pending") for a in experiment.actions.values()):
            self._set(experiment, "completed")

    # -- what clients see ----------------------------------------------------------------------------

    def _render(self, item: dict[str, Any], experiment: Experiment) -> None:
        with self._lock:
            item["state"] = {"status": experiment.status, "reason": experiment.reason}
            if "startTime" in item or "actions" in item:
                item["startTime"] = experiment.start
                if experiment.end is not None:
                    item["endTime"] = experiment.end
                else:
                    item.pop("endTime", None)
            for name, raw in (item.get("actions") or {}).items():
                action = experiment.actions.get(name)
                if action is None:
                    continue
                raw["state"] = {"status": action.status, "reason": action.reason or action_reason(action.status)}
                if action.start is not None:
                    raw["startTime"] = action.start
                if action.end is not None:
                    raw["endTime"] = action.end
                else:
                    raw.pop("endTime", None)


