"""AWS Batch jobs for the offline world, emulated: moto would run them in docker, which the world does not have.

A job submitted to a queue whose compute environments are known goes SUBMITTED -> RUNNABLE ->
STARTING -> RUNNING -> SUCCEEDED on the world's scheduler, but only where there is capacity: an
ENABLED, VALID compute environment with a subnet in a zone that no az-outage impairs, in a region
that is not down. Without capacity the job stays RUNNABLE, as real Batch leaves it, until a fault
is reverted or a compute environment or queue changes. A job RUNNING in a zone that goes down fails
its attempt ("Host EC2 instance terminated") and is retried while its retry strategy allows.
moto still answers queues, compute environments and job definitions; array jobs go to moto as they are.
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from drharness.world.engine import BaseEngine
from drharness.world.faults.az_outage import Zones
from drharness.world.faults.table import FaultTable
from drharness.world.plane import Plane
from drharness.world.wire import AwsRequest, CapturedResponse, error_response, json_response

_JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
_TERMINAL = ("SUCCEEDED", "FAILED")
_BEFORE_START = ("SUBMITTED", "PENDING", "RUNNABLE")
_SETUP_OPS = (
    "CreateComputeEnvironment", "UpdateComputeEnvironment", "DeleteComputeEnvironment",
    "CreateJobQueue", "UpdateJobQueue", "DeleteJobQueue",
)
HOST_TERMINATED = "Host EC2 instance terminated."


@dataclass(frozen=True)
class _Capacity:
    """What a compute environment offers: its state and the zones of its subnets."""

    state: str
    status: str
    zones: frozenset[str]


@dataclass
class _Job:
    id: str
    arn: str
    name: str
    region: str
    queue_arn: str
    definition: dict[str, Any]
    request: dict[str, Any]
    created_ms: int
    max_attempts: int
    status: str = "SUBMITTED"
    status_reason: str | None = None
    started_ms: int | None = None
    stopped_ms: int | None = None
    zone: str | None = None
    exit_code: int | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)


class BatchEngine(BaseEngine):
    """Emulated Batch jobs; timings are the emulation's, not a measurement of AWS."""

    def __init__(self, plane: Plane, faults: FaultTable, zones: Zones) -> None:
        self._plane = plane
        self._faults = faults
        self._zones = zones
        self.step_seconds = 0.05  # between SUBMITTED, RUNNABLE, STARTING and RUNNING
        self.run_seconds = 0.3  # RUNNING to SUCCEEDED
        self._lock = threading.RLock()
        self._jobs: dict[str, _Job] = {}
        self._queues: dict[str, tuple[str, tuple[str, ...]]] = {}  # queue arn -> (state, compute env arns)
        self._capacity: dict[str, _Capacity] = {}  # compute environment arn -> capacity

    # -- the HTTP path ---------------------------------------------------------------------------

    def before(self, request: AwsRequest) -> CapturedResponse | None:
        if request.service != "batch":
            return None
        body = request.json_body
        if request.operation == "SubmitJob":
            return self._submit(request.region, body)
        if request.operation == "DescribeJobs":
            return self._describe(request.region, [str(j) for j in body.get("jobs") or []])
        if request.operation == "ListJobs":
            return self._list(request.region, body)
        if request.operation in ("CancelJob", "TerminateJob"):
            return self._stop(request.operation, str(body.get("jobId", "")), str(body.get("reason", "")))
        return None

    def after(self, request: AwsRequest, response: CapturedResponse) -> None:
        if request.service != "batch" or request.operation not in _SETUP_OPS or not response.ok:
            return
        self._refresh(request.region)
        # Parked jobs are re-checked only when the world says something changed; a new or enabled
        # compute environment is such a change for them, though it is no fault.
        self._plane.faults_changed()

    # -- what moto knows about queues and compute environments -----------------------------------------

    def _refresh(self, region: str) -> None:
        batch = self._plane.client("batch", region)
        queues = {
            q["jobQueueArn"]: (
                q.get("state", "ENABLED"),
                tuple(o["computeEnvironment"] for o in sorted(q.get("computeEnvironmentOrder", []), key=lambda o: o["order"])),
            )
            for q in batch.describe_job_queues()["jobQueues"]
        }
        capacity = {}
        for ce in batch.describe_compute_environments()["computeEnvironments"]:
            zones = {self._zones.subnet_zone(region, s) for s in (ce.get("computeResources") or {}).get("subnets", [])}
            capacity[ce["computeEnvironmentArn"]] = _Capacity(
                ce.get("state", "ENABLED"), ce.get("status", "VALID"), frozenset(z for z in zones if z)
            )
        prefix = f"arn:aws:batch:{region}:"
        with self._lock:
            self._queues = {a: q for a, q in self._queues.items() if not a.startswith(prefix)} | queues
            self._capacity = {a: c for a, c in self._capacity.items() if not a.startswith(prefix)} | capacity

    def _queue_arn(self, region: str, queue: str) -> str | None:
        for attempt in range(2):
            with self._lock:
                for arn in self._queues:
                    if arn == queue or (arn.startswith(f"arn:aws:batch:{region}:") and arn.endswith(f"/{queue}")):
                        return arn
            if attempt == 0:
                self._refresh(region)
        return None

    def _definition(self, region: str, ident: str) -> dict[str, Any] | None:
        batch = self._plane.client("batch", region)
        if ident.startswith("arn:"):
            found = batch.describe_job_definitions(jobDefinitions=[ident])["jobDefinitions"]
            return found[0] if found else None
        name, _, revision = ident.partition(":")
        found = batch.describe_job_definitions(jobDefinitionName=name)["jobDefinitions"]
        if revision:
            found = [d for d in found if str(d.get("revision")) == revision]
        else:
            found = [d for d in found if d.get("status", "ACTIVE") == "ACTIVE"]
        return max(found, key=lambda d: int(d.get("revision", 0))) if found else None

    # -- submit, describe, list, stop ------------------------------------------------------------------

    def _submit(self, region: str, body: dict[str, Any]) -> CapturedResponse | None:
        if (body.get("arrayProperties") or {}).get("size"):
            return None
        queue_arn = self._queue_arn(region, str(body.get("jobQueue", "")))
        if queue_arn is None or not self._queues[queue_arn][1]:
            return None  # moto reports the unknown queue in its own words
        name = str(body.get("jobName", ""))
        if not _JOB_NAME.match(name):
            return _client_error("Job name should match valid pattern")
        definition = self._definition(region, str(body.get("jobDefinition", "")))
        if definition is None:
            return _client_error(f"Job definition {body.get('jobDefinition')} does not exist")
        strategy = body.get("retryStrategy") or definition.get("retryStrategy") or {}
        job_id = str(uuid.uuid4())
        account = queue_arn.split(":")[4]
        job = _Job(
            id=job_id,
            arn=f"arn:aws:batch:{region}:{account}:job/{job_id}",
            name=name,
            region=region,
            queue_arn=queue_arn,
            definition=definition,
            request=body,
            created_ms=self._now_ms(),
            max_attempts=max(1, int(strategy.get("attempts") or 1)),
        )
        with self._lock:
            self._jobs[job_id] = job
        self._schedule(job, self.step_seconds)
        return _json_response({"jobArn": job.arn, "jobName": job.name, "jobId": job.id})

    def _find(self, ident: str) -> _Job | None:
        with self._lock:
            return self._jobs.get(ident) or next((j for j in self._jobs.values() if j.arn == ident), None)

    def _describe(self, region: str, idents: list[str]) -> CapturedResponse | None:
        ours = {i: self._find(i) for i in idents}
        if not any(ours.values()):
            return None
        others = [i for i, job in ours.items() if job is None]
        described = [self._view(job) for job in ours.values() if job is not None]
        if others:
            described += self._plane.client("batch", region).describe_jobs(jobs=others)["jobs"]
        return _json_response({"jobs": described})

    def _list(self, region: str, body: dict[str, Any]) -> CapturedResponse | None:
        queue = body.get("jobQueue")
        queue_arn = self._queue_arn(region, str(queue)) if queue else None
        if queue_arn is None or body.get("arrayJobId") or body.get("multiNodeJobId"):
            return None
        filters = body.get("filters") or []
        # As AWS: without filters only jobs in jobStatus (default RUNNING); with filters any status.
        wanted = None if filters else str(body.get("jobStatus") or "RUNNING")
        with self._lock:
            jobs = sorted((j for j in self._jobs.values() if j.queue_arn == queue_arn), key=lambda j: j.created_ms)
        summaries = [
            self._view(j, short=True) for j in jobs
            if (wanted is None or j.status == wanted) and all(_matches(j, f) for f in filters)
        ]
        return _json_response({"jobSummaryList": summaries})

    def _stop(self, operation: str, ident: str, reason: str) -> CapturedResponse | None:
        job = self._find(ident)
        if job is None:
            return None
        stoppable = _BEFORE_START if operation == "CancelJob" else (*_BEFORE_START, "STARTING", "RUNNING")
        with self._lock:
            wake = job.status in stoppable and self._finish(job, "FAILED", reason or f"{operation} requested", None)
        if wake:
            self._plane.faults_changed()
        return _json_response({})

    # -- the job's life on the scheduler --------------------------------------------------------------
    # The scheduler asks `_blocked` outside its own lock; still, nothing here waits for the
    # scheduler (submit, faults_changed) while holding this engine's lock.

    def _schedule(self, job: _Job, delay_s: float) -> None:
        self._plane.submit(delay_s, lambda: self._advance(job), lambda: self._blocked(job), f"batch {job.status} {job.name}")

    def _blocked(self, job: _Job) -> bool:
        with self._lock:
            if job.status == "PENDING":
                return not self._dependencies_done(job)
            if job.status == "RUNNABLE":
                return not self._healthy_zones(job)
            return False

    def _advance(self, job: _Job) -> None:
        with self._lock:
            delay, wake = self._step(job)
        if delay is not None:
            self._schedule(job, delay)
        if wake:
            self._plane.faults_changed()  # jobs waiting on this one re-check their dependencies

    def _step(self, job: _Job) -> tuple[float | None, bool]:
        """Move the job one state on; return (delay of its next step or None, wake dependants)."""
        if job.status == "SUBMITTED":
            job.status = "PENDING" if job.request.get("dependsOn") else "RUNNABLE"
            return self.step_seconds, False
        if job.status == "PENDING":
            failed = [d for d in self._dependencies(job) if d.status == "FAILED"]
            if failed:
                return None, self._finish(job, "FAILED", f"Dependent Job {failed[0].id} failed", None)
            job.status = "RUNNABLE"
            return self.step_seconds, False
        if job.status == "RUNNABLE":
            zones = self._healthy_zones(job)
            if zones:  # capacity may have gone between the check and now: then wait again
                job.zone = self._plane.rng.choice(sorted(zones))
                job.status = "STARTING"
            return self.step_seconds, False
        if job.status == "STARTING":
            job.status = "RUNNING"
            job.started_ms = job.started_ms or self._now_ms()
            job.attempts.append({"startedAt": self._now_ms(), "container": {}})
            return self.run_seconds, False
        if job.status == "RUNNING":
            lost = self._faults.region_down(job.region) or job.zone in self._faults.impaired_zones(job.region)
            if not lost:
                return None, self._finish(job, "SUCCEEDED", "Essential container in task exited", 0)
            if len(job.attempts) < job.max_attempts:
                self._end_attempt(job, HOST_TERMINATED, None)
                job.status, job.zone = "RUNNABLE", None
                return self.step_seconds, False
            return None, self._finish(job, "FAILED", HOST_TERMINATED, None)
        return None, False  # finished (cancelled or terminated meanwhile)

    def _finish(self, job: _Job, status: str, reason: str, exit_code: int | None) -> bool:
        """End the job; return whether other jobs wait on dependencies."""
        if job.status == "RUNNING":
            self._end_attempt(job, reason, exit_code)
        job.status, job.status_reason, job.exit_code = status, reason, exit_code
        job.stopped_ms = self._now_ms()
        return any(j.status == "PENDING" for j in self._jobs.values())

    def _end_attempt(self, job: _Job, reason: str, exit_code: int | None) -> None:
        attempt = job.attempts[-1]
        attempt.update(stoppedAt=self._now_ms(), statusReason=reason)
        if exit_code is not None:
            attempt["container"]["exitCode"] = exit_code

    def _dependencies(self, job: _Job) -> list[_Job]:
        found = (self._find(str(d.get("jobId", ""))) for d in job.request.get("dependsOn") or [])
        return [d for d in found if d is not None]

    def _dependencies_done(self, job: _Job) -> bool:
        return all(d.status in _TERMINAL for d in self._dependencies(job))

    def _healthy_zones(self, job: _Job) -> frozenset[str]:
        """Zones where the job's queue has capacity now (empty: none anywhere)."""
        if self._faults.region_down(job.region):
            return frozenset()
        state, environments = self._queues.get(job.queue_arn, ("DISABLED", ()))
        if state != "ENABLED":
            return frozenset()
        impaired = self._faults.impaired_zones(job.region)
        zones: set[str] = set()
        for arn in environments:
            capacity = self._capacity.get(arn)
            if capacity and capacity.state == "ENABLED" and capacity.status == "VALID":
                zones |= capacity.zones - impaired
        return frozenset(zones)

    # -- views -----------------------------------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self._plane.now() * 1000)

    def _view(self, job: _Job, short: bool = False) -> dict[str, Any]:
        with self._lock:
            view: dict[str, Any] = {
                "jobArn": job.arn,
                "jobId": job.id,
                "jobName": job.name,
                "createdAt": job.created_ms,
                "status": job.status,
                "jobDefinition": job.definition.get("jobDefinitionArn", ""),
            }
            for key, value in (("statusReason", job.status_reason), ("startedAt", job.started_ms), ("stoppedAt", job.stopped_ms)):
                if value is not None:
                    view[key] = value
            if short:
                if job.exit_code is not None:
                    view["container"] = {"exitCode": job.exit_code}
                return view
            properties = job.definition.get("containerProperties") or {}
            overrides = job.request.get("containerOverrides") or {}
            container = {k: overrides.get(k, properties.get(k)) for k in ("image", "command", "environment", "resourceRequirements")}
            if job.exit_code is not None:
                container["exitCode"] = job.exit_code
            view.update(
                jobQueue=job.queue_arn,
                attempts=[dict(a, container=dict(a["container"])) for a in job.attempts],
                dependsOn=job.request.get("dependsOn") or [],
                parameters={**(job.definition.get("parameters") or {}), **(job.request.get("parameters") or {})},
                container={k: v for k, v in container.items() if v is not None},
                retryStrategy={"attempts": job.max_attempts},
                tags=job.request.get("tags") or {},
                platformCapabilities=job.definition.get("platformCapabilities") or ["EC2"],
            )
            if job.zone:
                view["container"]["logStreamName"] = f"{job.definition.get('jobDefinitionName', job.name)}/default/{job.id}"
            return view


def _matches(job: _Job, flt: dict[str, Any]) -> bool:
    values = [str(v) for v in flt.get("values") or []]
    name = flt.get("name")
    if name == "JOB_NAME":
        return any(job.name.startswith(v[:-1]) if v.endswith("*") else job.name == v for v in values)
    if name == "JOB_DEFINITION":
        arn = str(job.definition.get("jobDefinitionArn", ""))
        return any(v in (arn, job.definition.get("jobDefinitionName")) or arn.endswith(f"/{v}") for v in values)
    if name in ("BEFORE_CREATED_AT", "AFTER_CREATED_AT") and values:
        limit = int(values[0])
        return job.created_ms < limit if name == "BEFORE_CREATED_AT" else job.created_ms > limit
    return True


def _json_response(payload: dict[str, Any]) -> CapturedResponse:
    return json_response("batch", payload)


def _client_error(message: str) -> CapturedResponse:
    return error_response("batch", 400, "ClientException", message)
