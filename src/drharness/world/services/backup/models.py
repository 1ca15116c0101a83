"""AWS Backup for the offline world: selections, backup and restore jobs, recovery points, plan runs.

moto keeps vaults and plans and implements nothing that touches data; this backend does the rest.
A backup job goes CREATED -> RUNNING (the resource is captured: a DynamoDB table's definition and
items, an S3 bucket's current object versions, an FSx backup) -> COMPLETED after `backup_seconds`,
leaving a recovery point; it FAILS when the resource is missing or its region is down. A restore job
goes PENDING -> RUNNING -> COMPLETED after `restore_seconds` (infinite = never finishes) and creates
the table, fills the bucket or creates the file system. By the world clock, recovery points move to
COLD after `MoveToColdStorageAfterDays` (DynamoDB only, as in AWS) and are deleted after
`DeleteAfterDays`, and each plan rule's cron schedule starts a job for every resource its plan's
selections cover. The wire format lives in `responses`.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import uuid
from typing import Any

from drharness.cron import fire_times_between
from drharness.world.faults.table import FaultTable
from drharness.world.moto import backup as moto_backup
from drharness.world.moto import dynamodb as moto_ddb
from drharness.world.moto import s3 as moto_s3
from drharness.world.plane import Plane
from drharness.world.services.backup.records import (
    DAY,
    JOB_HISTORY_DAYS,
    METADATA_REQUIRED,
    REGION_UNAVAILABLE,
    RESOURCE_MISSING,
    VERSIONING_REQUIRED,
    BackupJob,
    Capture,
    RecoveryPoint,
    RestoreJob,
    Selection,
    resource_name,
    resource_region,
    resource_type,
)
from drharness.world.services.fsx.engine import FsxEngine
from drharness.world.wire import AwsError


class BackupBackend:
    """The AWS Backup state of one world and what moves it: jobs, restores, plan runs, lifecycle."""

    def __init__(self, plane: Plane, faults: FaultTable, fsx: FsxEngine, restore_seconds: float) -> None:
        self._plane = plane
        self._faults = faults
        self._fsx = fsx
        self.account_id = plane.account_id
        self.backup_seconds = 0.05  # how long a backup job stays RUNNING
        self.restore_seconds = float(restore_seconds)  # how long a restore job runs; inf = never ends
        self.lock = threading.RLock()
        self.selections: dict[str, Selection] = {}
        self.jobs: dict[str, BackupJob] = {}
        self.points: dict[str, RecoveryPoint] = {}
        self.restores: dict[str, RestoreJob] = {}
        self._plans_checked: dict[str, float] = {}  # plan id -> world time its schedules were run up to

    def now(self) -> float:
        return self._plane.now()

    def plan_created(self, plan_id: str) -> None:
        """A plan's schedules run from its creation on, never for times before it."""
        with self.lock:
            self._plans_checked.setdefault(plan_id, self._plane.now())

    # -- backup jobs ----------------------------------------------------------------------------------

    def start_backup_job(
        self, region: str, vault_name: str, resource_arn: str, iam_role_arn: str, *, lifecycle: dict[str, int],
        recovery_point_tags: dict[str, str], created_by: dict[str, str] | None = None, created_at: float | None = None,
        captures: dict[str, Capture | str] | None = None,
    ) -> BackupJob:
        """Create a job; it runs now, or at once in full when the clock has already passed its end."""
        kind = resource_type(resource_arn) or "Unknown"
        now = self._plane.now()
        at = now if created_at is None else created_at
        job = BackupJob(
            job_id=str(uuid.uuid4()).upper(), region=region, vault_name=vault_name,
            vault_arn=moto_backup.backup_vault_arn(region, vault_name) or "", resource_arn=resource_arn,
            resource_type=kind, iam_role_arn=iam_role_arn,
            recovery_point_arn=f"arn:aws:backup:{region}:{self._plane.account_id}:recovery-point:{uuid.uuid4()}",
            creation_date=at, lifecycle=dict(lifecycle), recovery_point_tags=dict(recovery_point_tags),
            created_by=dict(created_by or {}),
        )
        with self.lock:
            self.jobs[job.job_id] = job
        done_at = at + self.backup_seconds
        if done_at <= now or kind == "FSx":
            # FSx names its recovery point (the FSx backup) when the job starts, so it starts now
            self._run(job, captures, at)
        if done_at <= now:
            self._finish(job, done_at)
        else:
            label = f"backup job {job.job_id} {resource_arn}"
            self._plane.submit(0, lambda: self._run(job, None, None), lambda: False, label)
            self._plane.submit(done_at - now, lambda: self._finish(job, None), lambda: False, label)
        return job

    def _fail(self, job: BackupJob, message: str, at: float | None = None) -> None:
        job.state, job.status_message = "FAILED", message
        job.completion_date = self._plane.now() if at is None else at

    def _unreachable(self, job: BackupJob) -> str:
        where = resource_region(job.resource_arn)
        for region in {job.region, where or job.region}:
            if self._faults.region_down(region):
                return REGION_UNAVAILABLE.format(region=region)
        return ""

    def _run(self, job: BackupJob, captures: dict[str, Capture | str] | None, at: float | None) -> None:
        with self.lock:
            if job.state != "CREATED":
                return
            if not job.vault_arn:
                return self._fail(job, f"Backup vault {job.vault_name} does not exist in {job.region}", at)
            down = self._unreachable(job)
            if down:
                return self._fail(job, f"Unable to back up {job.resource_arn}: {down}", at)
            if captures is not None and job.resource_arn in captures and job.resource_type != "FSx":
                captured = captures[job.resource_arn]
            else:
                captured = self._capture(job, at)
                if captures is not None:
                    captures[job.resource_arn] = captured
            if isinstance(captured, str):
                return self._fail(job, captured, at)
            job.state, job.capture = "RUNNING", captured
            job.started_at = self._plane.now() if at is None else at

    def _capture(self, job: BackupJob, at: float | None) -> Capture | str:
        """Capture the resource, or say why it cannot be backed up."""
        arn, name = job.resource_arn, resource_name(job.resource_arn)
        region = resource_region(arn)
        if job.resource_type == "DynamoDB":
            captured = moto_ddb.dynamodb_capture(region or job.region, name) if region == job.region else None
            if captured is None:
                return RESOURCE_MISSING.format(arn=arn, region=job.region)
            table, _, size = captured
            return Capture(size_bytes=size, table=table)
        if job.resource_type == "S3":
            if region != job.region:
                return RESOURCE_MISSING.format(arn=arn, region=job.region)
            if not moto_s3.s3_bucket_versioned(name):
                return VERSIONING_REQUIRED.format(bucket=name)
            objects = moto_s3.s3_capture(name) or []
            return Capture(size_bytes=sum(len(o.body) for o in objects), objects=objects)
        if job.resource_type == "FSx":
            if region != job.region:
                return RESOURCE_MISSING.format(arn=arn, region=job.region)
            tags = [{"Key": k, "Value": v} for k, v in job.recovery_point_tags.items()]
            try:
                backup_id, backup_arn = self._fsx.take_backup(region, name, "AWS_BACKUP", self._plane.now() if at is None else at, tags)
            except AwsError as exc:
                return str(exc)
            job.recovery_point_arn = backup_arn
            return Capture(size_bytes=0, fsx_backup_id=backup_id)
        return f"Resource type of {arn} is not supported by this world's AWS Backup (DynamoDB, S3, FSx)"

    def _finish(self, job: BackupJob, at: float | None) -> None:
        with self.lock:
            if job.state != "RUNNING" or job.capture is None:
                return
            down = self._unreachable(job)
            if down:
                if job.capture.fsx_backup_id:
                    self._fsx.delete_backup(job.region, job.capture.fsx_backup_id)
                return self._fail(job, f"Backup of {job.resource_arn} did not complete: {down}", at)
            if job.capture.fsx_backup_id and not self._fsx.finish_backup(job.region, job.capture.fsx_backup_id):
                return self._fail(job, f"FSx backup {job.capture.fsx_backup_id} did not become AVAILABLE", at)
            job.state = "COMPLETED"
            job.completion_date = self._plane.now() if at is None else at
            point = RecoveryPoint(
                arn=job.recovery_point_arn, region=job.region, vault_name=job.vault_name, vault_arn=job.vault_arn,
                resource_arn=job.resource_arn, resource_type=job.resource_type, iam_role_arn=job.iam_role_arn,
                creation_date=job.started_at or job.creation_date, completion_date=job.completion_date,
                lifecycle=dict(job.lifecycle), created_by=dict(job.created_by), capture=job.capture,
                backup_job_id=job.job_id,
            )
            self.points[point.arn] = point
            moto_backup.backup_tag_resource(job.region, point.arn, job.recovery_point_tags)

    def stop_backup_job(self, job: BackupJob) -> None:
        with self.lock:
            if job.state not in ("CREATED", "RUNNING"):
                raise AwsError("InvalidRequestException", f"Backup job {job.job_id} is {job.state} and cannot be stopped")
            if job.capture is not None and job.capture.fsx_backup_id:
                self._fsx.delete_backup(job.region, job.capture.fsx_backup_id)
            job.state, job.status_message, job.completion_date = "ABORTED", "Stopped by the caller", self._plane.now()

    def delete_recovery_point(self, point: RecoveryPoint) -> None:
        with self.lock:
            self.points.pop(point.arn, None)
        if point.capture.fsx_backup_id:
            self._fsx.delete_backup(point.region, point.capture.fsx_backup_id)

    # -- restore jobs ---------------------------------------------------------------------------------

    def start_restore_job(self, point: RecoveryPoint, metadata: dict[str, str], iam_role_arn: str) -> RestoreJob:
        """Start restoring a recovery point; Metadata as AWS names it (targetTableName, DestinationBucketName...)."""
        _check_restore_metadata(point, metadata)
        job = RestoreJob(
            job_id=str(uuid.uuid4()).upper(), region=point.region, recovery_point_arn=point.arn,
            resource_type=point.resource_type, iam_role_arn=iam_role_arn, metadata=dict(metadata),
            creation_date=self._plane.now(), recovery_point_creation_date=point.creation_date,
            size_bytes=point.capture.size_bytes,
        )
        with self.lock:
            self.restores[job.job_id] = job
            point.last_restore_time = job.creation_date
        label = f"restore job {job.job_id} from {point.arn}"
        self._plane.submit(0, lambda: self._restore_start(job, point), lambda: False, label)
        return job

    def _restore_start(self, job: RestoreJob, point: RecoveryPoint) -> None:
        with self.lock:
            if job.status != "PENDING":
                return
            job.status = "RUNNING"
        if point.resource_type == "FSx":
            return self._restore_fsx(job, point)
        if math.isfinite(self.restore_seconds):
            self._plane.submit(self.restore_seconds, lambda: self._restore_finish(job, point), lambda: False, f"restore job {job.job_id}")

    def _restore_finish(self, job: RestoreJob, point: RecoveryPoint) -> None:
        with self.lock:
            if job.status != "RUNNING":
                return
            if self._faults.region_down(job.region):
                down = REGION_UNAVAILABLE.format(region=job.region)
                return self._restore_done(job, False, f"Restore did not complete: {down}")
            try:
                if point.resource_type == "DynamoDB":
                    target = job.metadata["targetTableName"]
                    arn = moto_ddb.dynamodb_restore_capture(job.region, target, point.capture.table)
                else:
                    bucket = job.metadata["DestinationBucketName"]
                    create = job.metadata.get("NewBucket", "false").lower() == "true"
                    moto_s3.s3_restore_objects(bucket, job.region, point.capture.objects or [], create)
                    arn = f"arn:aws:s3:::{bucket}"
            except ValueError as exc:
                return self._restore_done(job, False, str(exc))
            job.created_resource_arn = arn
            self._restore_done(job, True, "")

    def _restore_fsx(self, job: RestoreJob, point: RecoveryPoint) -> None:
        request: dict[str, Any] = {}
        for key in ("SubnetIds", "SecurityGroupIds"):
            if job.metadata.get(key):
                request[key] = [v.strip() for v in job.metadata[key].strip("[]").replace('"', "").split(",") if v.strip()]

        def done(ok: bool, message: str, arn: str) -> None:
            with self.lock:
                job.created_resource_arn = arn
                self._restore_done(job, ok, message)

        try:
            self._fsx.create_from_backup(job.region, point.capture.fsx_backup_id, request, seconds=self.restore_seconds, on_done=done)
        except AwsError as exc:
            with self.lock:
                self._restore_done(job, False, str(exc))

    def _restore_done(self, job: RestoreJob, ok: bool, message: str) -> None:
        job.status = "COMPLETED" if ok else "FAILED"
        job.status_message = message
        job.completion_date = self._plane.now()

    # -- the world clock: plan runs and lifecycle ------------------------------------------------------

    def tick(self) -> None:
        """Run the plan schedules the clock has passed, then move and expire recovery points."""
        with self.lock:
            now = self._plane.now()
            for region in moto_backup.backup_regions():
                self._run_plans(region, now)
            for point in list(self.points.values()):
                deadline = point.delete_at()
                if deadline is not None and deadline <= now:
                    self.delete_recovery_point(point)
            horizon = now - JOB_HISTORY_DAYS * DAY
            for store in (self.jobs, self.restores):
                for job_id in [i for i, j in store.items() if j.creation_date < horizon and j.completion_date is not None]:
                    del store[job_id]

    def _run_plans(self, region: str, now: float) -> None:
        for plan_id, plan_arn, version, document in moto_backup.backup_plans(region):
            since = self._plans_checked.setdefault(plan_id, now)
            if since >= now:
                continue
            self._plans_checked[plan_id] = now
            chosen = self.covered(region, plan_id)
            if not chosen:
                continue
            captures: dict[str, Capture | str] = {}  # the data is the same at every fire time of one jump
            for rule in document.get("Rules") or []:
                lifecycle = {k: int(v) for k, v in (rule.get("Lifecycle") or {}).items() if isinstance(v, (int, float))}
                try:
                    times = fire_times_between(
                        rule.get("ScheduleExpression", ""), _utc(since), _utc(now),
                        timezone=rule.get("ScheduleExpressionTimezone") or "UTC",
                    )
                except ValueError as exc:
                    self._plane.report(f"backup plan {plan_id} rule {rule.get('RuleName')}: {exc}")
                    continue
                created_by = {"BackupPlanId": plan_id, "BackupPlanArn": plan_arn, "BackupPlanVersion": version,
                              "BackupRuleId": str(rule.get("RuleId", ""))}
                for fire in times:
                    at = fire.timestamp()
                    delete_days = lifecycle.get("DeleteAfterDays")
                    if at < now - JOB_HISTORY_DAYS * DAY and delete_days and at + delete_days * DAY <= now:
                        continue  # neither its job nor its recovery point would still be visible
                    for arn, role in chosen.items():
                        self.start_backup_job(
                            region, str(rule.get("TargetBackupVaultName", "")), arn, role, lifecycle=lifecycle,
                            recovery_point_tags=dict(rule.get("RecoveryPointTags") or {}), created_by=created_by,
                            created_at=at, captures=captures,
                        )

    def covered(self, region: str, plan_id: str) -> dict[str, str]:
        """Resource ARN -> IAM role of every resource the plan's selections assign to it now."""
        with self.lock:
            selections = [s for s in self.selections.values() if s.plan_id == plan_id and s.region == region]
        chosen: dict[str, str] = {}
        if not selections:
            return chosen
        for arn, tags in moto_backup.tagged_resources(region):
            if resource_type(arn) is None:
                continue
            for selection in selections:
                if selection.selects(arn, tags):
                    chosen.setdefault(arn, selection.iam_role_arn)
                    break
        return chosen


def _check_restore_metadata(point: RecoveryPoint, metadata: dict[str, str]) -> None:
    required = {"DynamoDB": "targetTableName", "S3": "DestinationBucketName"}.get(point.resource_type)
    if required and not metadata.get(required):
        raise AwsError("InvalidParameterValueException", METADATA_REQUIRED.format(key=required, kind=point.resource_type))


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc)
