"""AWS Fault Injection Service for the offline world: experiments that do what their actions say.

moto stores FIS experiment templates and experiments, and an experiment does nothing. Here
StartExperiment resolves the experiment's targets in the world and applies its actions through the
world's fault table, under fault ids made from the experiment id; each action is undone when its
`duration` (ISO 8601, e.g. PT2M) has elapsed, and StopExperiment undoes them all at once.
GetExperiment and ListExperiments report the experiment as it moves: pending -> initiating ->
running -> completed, or stopping -> stopped, or failed with its reason.

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
import math
import re
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from drharness.errors import DrHarnessError
from drharness.world.base import BaseEngine
from drharness.world.requests import AwsRequest

if TYPE_CHECKING:
    from drharness.world.server import CapturedResponse, World

TERMINAL = ("completed", "stopped", "failed", "cancelled")
REASONS = {
    "pending": "Experiment is pending.",
    "initiating": "Experiment is initiating.",
    "running": "Experiment is running.",
    "completed": "Experiment completed.",
    "stopping": "Experiment is stopping.",
    "stopped": "Experiment stopped.",
}
API_FAULT_MODES = {
    "aws:fis:inject-api-throttle-error": "throttle",
    "aws:fis:inject-api-internal-error": "error",
    "aws:fis:inject-api-unavailable-error": "unavailable",
}
SUPPORTED_ACTIONS = (
    "aws:s3:bucket-pause-replication",
    "aws:dynamodb:global-table-pause-replication",
    "aws:network:disrupt-connectivity",
    "aws:ec2:stop-instances",
    "aws:fis:wait",
    *API_FAULT_MODES,
)
ZONE_SCOPES = ("all", "availability-zone")

UNSUPPORTED_ACTION = "action {name} ({action}) is not emulated offline; emulated: {known}"
EMPTY_TARGET = "Target resolution failed: no resource matched target {target} ({kind})"
BAD_DURATION = "action {name}: duration {value!r} is not an ISO 8601 duration such as PT2M or PT30S"

_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)
_SELECTION = re.compile(r"^(ALL|COUNT\((\d+)\)|PERCENT\((\d+)\))$")


class FisSetupError(DrHarnessError):
    """An experiment cannot run here: it fails with this message as its state reason."""


def parse_duration(value: str) -> float:
    """Seconds in an ISO 8601 duration (PT2M -> 120.0); raises ValueError on anything else."""
    match = _DURATION.match(value.strip()) if isinstance(value, str) else None
    if not match or value.strip() in ("P", "PT"):
        raise ValueError(f"{value!r} is not an ISO 8601 duration")
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    return parts.get("d", 0) * 86400 + parts.get("h", 0) * 3600 + parts.get("m", 0) * 60 + parts.get("s", 0)


@dataclass
class _Action:
    name: str
    action_id: str
    parameters: dict[str, str]
    targets: dict[str, str]
    status: str = "pending"
    reason: str = ""
    start: float | None = None
    end: float | None = None
    fault_ids: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)  # instance ids stopped by aws:ec2:stop-instances
    restart: bool = False
    timer: threading.Timer | None = None


@dataclass
class _Experiment:
    id: str
    region: str
    targets: dict[str, Any]
    actions: dict[str, _Action]
    empty_mode: str
    status: str = "pending"
    reason: str = REASONS["pending"]
    start: float = field(default_factory=time.time)
    end: float | None = None
    history: list[tuple[str, float]] = field(default_factory=list)
    faults_made: int = 0
    mutex: threading.RLock = field(default_factory=threading.RLock)


class FisEngine(BaseEngine):
    """Runs FIS experiments in the world; state per experiment id, revert through the fault table."""

    def __init__(self, world: "World") -> None:
        super().__init__(world)
        self._lock = threading.Lock()
        self._experiments: dict[str, _Experiment] = {}

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

    def after(self, request: AwsRequest, response: "CapturedResponse") -> None:
        if request.service != "fis" or not response.ok:
            return
        op = request.operation
        if op == "StartExperiment":
            body = _json(response)
            if body is None or "experiment" not in body:
                return
            # A retried StartExperiment (same client token) gets the experiment that already runs.
            experiment = self._known(str(body["experiment"].get("id", ""))) or self._started(body["experiment"], request.region)
            self._render(body["experiment"], experiment)
            response.set_body(json.dumps(body).encode())
        elif op == "StopExperiment":
            body = _json(response)
            if body is None or "experiment" not in body:
                return
            experiment = self._known(str(body["experiment"].get("id", "")))
            if experiment is not None:
                self._stop_requested(experiment)
                self._render(body["experiment"], experiment)
                response.set_body(json.dumps(body).encode())
        elif op in ("GetExperiment", "ListExperiments"):
            body = _json(response)
            if body is None:
                return
            items = [body["experiment"]] if "experiment" in body else list(body.get("experiments") or [])
            for item in items:
                experiment = self._known(str(item.get("id", "")))
                if experiment is not None:
                    self._render(item, experiment)
            response.set_body(json.dumps(body).encode())

    def _known(self, experiment_id: str) -> _Experiment | None:
        with self._lock:
            return self._experiments.get(experiment_id)

    # -- lifecycle ----------------------------------------------------------------------------------

    def _started(self, raw: dict[str, Any], region: str) -> _Experiment:
        actions = {
            name: _Action(name, str(spec.get("actionId", "")), {k: str(v) for k, v in (spec.get("parameters") or {}).items()},
                          {k: str(v) for k, v in (spec.get("targets") or {}).items()})
            for name, spec in (raw.get("actions") or {}).items()
        }
        options = raw.get("experimentOptions") or {}
        experiment = _Experiment(str(raw["id"]), region, dict(raw.get("targets") or {}), actions,
                                 str(options.get("emptyTargetResolutionMode") or "fail"))
        experiment.history.append(("pending", experiment.start))
        with self._lock:
            self._experiments[experiment.id] = experiment
        self.world.submit(0, lambda: self._initiate(experiment), lambda: False, f"fis experiment {experiment.id}")
        return experiment

    def _set(self, experiment: _Experiment, status: str, reason: str | None = None) -> None:
        with self._lock:
            experiment.status = status
            experiment.reason = reason or REASONS.get(status, status)
            now = time.time()
            experiment.history.append((status, now))
            if status in TERMINAL:
                experiment.end = now

    def _advance(self, experiment: _Experiment, current: str, status: str) -> bool:
        """Move from `current` to `status` unless something else (a stop) moved the experiment first."""
        with self._lock:
            if experiment.status != current:
                return False
        self._set(experiment, status)
        return True

    def _initiate(self, experiment: _Experiment) -> None:
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

    def _stop_requested(self, experiment: _Experiment) -> None:
        with self._lock:
            if experiment.status in TERMINAL or experiment.status == "stopping":
                return
        self._set(experiment, "stopping")
        self.world.submit(0, lambda: self._stop(experiment), lambda: False, f"fis stop {experiment.id}")

    def _stop(self, experiment: _Experiment) -> None:
        with experiment.mutex:
            if experiment.status in TERMINAL:
                return
            self._undo_all(experiment, "stopped")
            self._set(experiment, "stopped")

    # -- actions -------------------------------------------------------------------------------------

    def _plan(self, experiment: _Experiment, action: _Action) -> list[tuple[str, dict[str, Any]]]:
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
        resources = {ref: self._resolve(experiment, target_name) for ref, target_name in action.targets.items()}
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
            zones = sorted({self.world.ec2.subnet_zone(experiment.region, s) or "" for s in picked} - {""})
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

    def _apply(self, experiment: _Experiment, action: _Action, plan: list[tuple[str, dict[str, Any]]]) -> None:
        if not plan and action.action_id != "aws:fis:wait" and action.targets:
            action.status, action.reason = "skipped", "no target resolved (emptyTargetResolutionMode skip)"
            return
        for name, params in plan:
            if name == "stop-instances":
                ids = list(params["ids"])
                if ids:
                    self.world.client("ec2", experiment.region).stop_instances(InstanceIds=ids)
                action.stopped = ids
                action.restart = "startInstancesAfterDuration" in action.parameters
                continue
            experiment.faults_made += 1
            fault_id = f"fis-{experiment.id[:16]}-{experiment.faults_made}"
            action.fault_ids.append(fault_id)
            self.world.faults.inject(name, params, fault_id)
        action.status, action.reason, action.start = "running", "", time.time()

    def _arm(self, experiment: _Experiment, action: _Action) -> None:
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

    def _elapsed(self, experiment: _Experiment, action: _Action) -> None:
        try:
            with experiment.mutex:
                if experiment.status != "running" or action.status != "running":
                    return
                self._finish(experiment, action, "completed", undo=True)
                self._maybe_complete(experiment)
        except Exception as exc:  # noqa: BLE001 - a timer thread has nobody to raise to
            self.world.errors.append(f"fis {experiment.id} action {action.name}: {type(exc).__name__}: {exc}")

    def _finish(self, experiment: _Experiment, action: _Action, status: str, *, undo: bool) -> None:
        if action.timer is not None:
            action.timer.cancel()
        if undo:
            for fault_id in reversed(action.fault_ids):
                self.world.faults.revert(fault_id)
            if action.stopped and action.restart:
                self.world.ec2.start_instances(experiment.region, action.stopped)
        action.status, action.end = status, time.time()

    def _undo_all(self, experiment: _Experiment, status: str) -> None:
        problems = []
        for action in reversed(list(experiment.actions.values())):
            if action.status in ("running", "pending"):
                try:
                    self._finish(experiment, action, "cancelled" if status == "failed" else status, undo=True)
                except Exception as exc:  # noqa: BLE001 - undo the rest; report this one
                    problems.append(f"{action.name}: {exc}")
        if problems:
            self.world.errors.append(f"fis {experiment.id}: could not undo " + "; ".join(problems))

    def _maybe_complete(self, experiment: _Experiment) -> None:
        if experiment.status == "running" and all(a.status not in ("running", "pending") for a in experiment.actions.values()):
            self._set(experiment, "completed")

    # -- targets -------------------------------------------------------------------------------------

    def _resolve(self, experiment: _Experiment, target_name: str) -> list[str]:
        spec = experiment.targets.get(target_name)
        if spec is None:
            raise FisSetupError(f"an action names target {target_name!r}, which the experiment does not define")
        kind = str(spec.get("resourceType", ""))
        arns = [str(a) for a in spec.get("resourceArns") or []]
        tags = {str(k): str(v) for k, v in (spec.get("resourceTags") or {}).items()}
        params = {str(k): str(v) for k, v in (spec.get("parameters") or {}).items()}
        filters = list(spec.get("filters") or [])
        region = experiment.region
        if kind == "aws:s3:bucket":
            found = [a.rsplit(":", 1)[-1] for a in arns] if arns else self._buckets_tagged(tags)
            found = [b for b in found if self._bucket_exists(b)]
        elif kind == "aws:dynamodb:global-table":
            found = [_table_ref(a, region) for a in arns] if arns else self._tables_tagged(region, tags)
            found = [r for r in found if self._table_exists(*r.split("/", 1))]
        elif kind == "aws:ec2:subnet":
            found = self._subnets(region, [a.rsplit("/", 1)[-1] for a in arns], tags, params.get("availabilityZoneIdentifier"))
        elif kind == "aws:ec2:instance":
            found = self._instances(region, [a.rsplit("/", 1)[-1] for a in arns], tags, filters)
        elif kind == "aws:iam:role":
            # The world does not tell callers apart; the roles only have to be named.
            found = arns if arns else ([f"roles tagged {tags}"] if tags else [])
        else:
            raise FisSetupError(f"target {target_name}: resource type {kind!r} is not emulated offline")
        return _select(found, str(spec.get("selectionMode") or "ALL"), target_name, self.world.rng)

    def _bucket_exists(self, bucket: str) -> bool:
        try:
            self.world.client("s3", "us-east-1").head_bucket(Bucket=bucket)
        except Exception:  # noqa: BLE001 - missing or unreadable: not a target
            return False
        return True

    def _buckets_tagged(self, tags: dict[str, str]) -> list[str]:
        s3 = self.world.client("s3", "us-east-1")
        found = []
        for bucket in s3.list_buckets().get("Buckets", []):
            try:
                have = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket["Name"]).get("TagSet", [])}
            except Exception:  # noqa: BLE001 - an untagged bucket answers with an error
                continue
            if all(have.get(k) == v for k, v in tags.items()):
                found.append(bucket["Name"])
        return found

    def _table_exists(self, region: str, name: str) -> bool:
        try:
            self.world.client("dynamodb", region).describe_table(TableName=name)
        except Exception:  # noqa: BLE001
            return False
        return True

    def _tables_tagged(self, region: str, tags: dict[str, str]) -> list[str]:
        ddb = self.world.client("dynamodb", region)
        found = []
        for name in ddb.list_tables().get("TableNames", []):
            arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
            have = {t["Key"]: t["Value"] for t in ddb.list_tags_of_resource(ResourceArn=arn).get("Tags", [])}
            if all(have.get(k) == v for k, v in tags.items()):
                found.append(f"{region}/{name}")
        return found

    def _subnets(self, region: str, ids: list[str], tags: dict[str, str], zone: str | None) -> list[str]:
        ec2 = self.world.client("ec2", region)
        filters = [{"Name": f"tag:{k}", "Values": [v]} for k, v in tags.items()]
        if ids:
            filters.append({"Name": "subnet-id", "Values": ids})
        subnets = ec2.describe_subnets(Filters=filters)["Subnets"] if filters else []
        if zone:
            subnets = [s for s in subnets if zone in (s.get("AvailabilityZone"), s.get("AvailabilityZoneId"))]
        return [s["SubnetId"] for s in subnets]

    def _instances(self, region: str, ids: list[str], tags: dict[str, str], filters: list[dict[str, Any]]) -> list[str]:
        ec2 = self.world.client("ec2", region)
        query = [{"Name": f"tag:{k}", "Values": [v]} for k, v in tags.items()]
        if ids:
            query.append({"Name": "instance-id", "Values": ids})
        if not query:
            return []
        found = []
        for page in ec2.get_paginator("describe_instances").paginate(Filters=query):
            for reservation in page["Reservations"]:
                for instance in reservation["Instances"]:
                    if all(_path_matches(instance, str(f.get("path", "")), [str(v) for v in f.get("values") or []])
                           for f in filters):
                        found.append(instance["InstanceId"])
        return found

    # -- what clients see ----------------------------------------------------------------------------

    def _render(self, item: dict[str, Any], experiment: _Experiment) -> None:
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
                raw["state"] = {"status": action.status, "reason": action.reason or _action_reason(action.status)}
                if action.start is not None:
                    raw["startTime"] = action.start
                if action.end is not None:
                    raw["endTime"] = action.end
                else:
                    raw.pop("endTime", None)


def _action_reason(status: str) -> str:
    return {"pending": "Initial state", "running": "Action is running", "completed": "Action completed",
            "stopped": "Action stopped", "cancelled": "Action cancelled", "skipped": "Action skipped"}.get(status, status)


def _json(response: "CapturedResponse") -> dict[str, Any] | None:
    try:
        body = json.loads(response.body or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _table_ref(arn: str, default_region: str) -> str:
    """'region/table' from a table ARN (arn:aws:dynamodb:<region>:<account>:table/<name>)."""
    parts = arn.split(":")
    region = parts[3] if len(parts) > 5 and parts[3] else default_region
    return f"{region}/{arn.rsplit('/', 1)[-1]}"


def _path_matches(resource: dict[str, Any], path: str, values: list[str]) -> bool:
    """FIS target filter: the value at a dotted path (State.Name) is one of `values`."""
    current: Any = resource
    for part in path.split("."):
        if not isinstance(current, dict) or part not in current:
            return False
        current = current[part]
    return str(current) in values


def _select(found: list[str], mode: str, target_name: str, rng: Any) -> list[str]:
    match = _SELECTION.match(mode)
    if not match:
        raise FisSetupError(f"target {target_name}: selectionMode {mode!r} is not ALL, COUNT(n) or PERCENT(n)")
    if match.group(2) is not None:
        count = min(int(match.group(2)), len(found))
    elif match.group(3) is not None:
        count = min(math.ceil(len(found) * int(match.group(3)) / 100), len(found))
    else:
        return found
    return sorted(rng.sample(sorted(found), count))
