"""RestoreTimer: how long a restore takes from the request until the restored data is usable.

Four restores are timed, each on the monotonic clock from the restore request: DynamoDB point-in-time
recovery (to a UTC time or the latest restorable time), a DynamoDB on-demand backup restored into a
new table, an AWS Backup restore job, and an FSx file system created from a backup. A restore is
usable when its resource is ACTIVE / AVAILABLE / COMPLETED and the caller's data check (`verify`,
e.g. a consistency check of source-at-T vs restore) passes. Waiting is bounded by the tier's RTO or an
explicit timeout; a restore that never finishes is a failed measurement with its reason, in bounded
time. Every resource a timer creates is tagged `drharness:test-resource=true` where the API allows
and removed by `cleanup()`.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from drharness.errors import MeasurementError
from drharness.instruments.timeline import target_name
from drharness.results import JsonValue, Objective, ResultRecord, TargetName, iso, judge, utc_now
from drharness.results.evidence import RestoreEvidence
from drharness.target import Target
from drharness.waiting import WaitOutcome, wait_until

RestoreKind = Literal["dynamodb-pitr", "dynamodb-backup", "aws-backup", "fsx-backup"]
TEST_TAG_KEY, TEST_TAG_VALUE = "drharness:test-resource", "true"
METRIC = "restore_seconds"

NO_DEADLINE = "give timeout_s or an objective (the tier RTO) to bound how long a restore may take"
NAIVE_TIME = "restore time {moment} has no time zone; pass a timezone-aware UTC datetime"
NOT_USABLE = "restore of {source} ended {state}: {message}"
VERIFY_FAILED = "restored data failed its check: {detail}"
VERIFY_RAISED = "restored data check raised {error}"
TIMED_OUT = "timeout after {seconds:g} s waiting for {what} (restore of {source})"
WINDOW_NOT_REACHED = "{table}'s latest restorable time never reached {point}: {reason}"
# DynamoDB keeps LatestRestorableDateTime about five minutes behind the present: a restore to a moment
# just passed must wait for the window to reach it. Three times that is as long as the wait may take.
PITR_CATCH_UP_S = 900.0

_API_ERRORS = (ClientError, BotoCoreError)


@dataclass(frozen=True)
class VerifyOutcome:
    """What a data check of a restore found: whether the data is right, and why not."""

    ok: bool
    reason: str = ""


Verify = Callable[[], Any]  # returns a bool, a VerifyOutcome, a WaitOutcome or a ConsistencyReport


def as_verify_outcome(value: Any) -> VerifyOutcome:
    """Read a data check's answer: a bool, anything with `ok`/`reason`, or anything with `equal`/`summary()`."""
    if isinstance(value, VerifyOutcome):
        return value
    if isinstance(value, bool):
        return VerifyOutcome(value, "" if value else "the check returned False")
    if hasattr(value, "equal"):
        summary = getattr(value, "summary", "")
        return VerifyOutcome(bool(value.equal), str(summary() if callable(summary) else summary))
    if hasattr(value, "ok"):
        return VerifyOutcome(bool(value.ok), str(getattr(value, "reason", "")))
    raise MeasurementError(
        f"a restore's data check returned {type(value).__name__}; return a bool, a VerifyOutcome or a ConsistencyReport"
    )


@dataclass(frozen=True)
class RestoreMeasurement:
    """One timed restore. `restore_seconds` is request -> usable (available and verified), else None;
    `elapsed_seconds` is how long the measurement ran, request -> usable, failed, refused or timed out."""

    kind: RestoreKind
    source: str
    restored_resource: str
    restore_seconds: float | None
    verified: bool
    reason: str
    region: str
    target: TargetName
    started_at: dt.datetime
    available_seconds: float | None = None  # request -> ACTIVE / AVAILABLE / COMPLETED
    verify_seconds: float | None = None
    service_reported_seconds: float | None = None  # what the service says the job took (AWS Backup)
    restore_point: str = ""  # the UTC time restored to, when the restore names one
    timeout_seconds: float = 0.0
    elapsed_seconds: float = 0.0
    # How long the restore waited, before it was asked for, for the PITR window to reach its point.
    window_wait_seconds: float | None = None

    @property
    def ok(self) -> bool:
        return self.restore_seconds is not None

    def to_record(
        self, objective: Objective | None, *, scenario: str, resource: str = "", tier: str | None = None,
        check: str = "", test_id: str = "", run_id: str = "", evidence: Mapping[str, JsonValue] | None = None,
    ) -> ResultRecord:
        """The measurement as a record: metric "restore_seconds", judged against `objective` (the tier RTO)."""
        verdict, reason = judge(self.restore_seconds, objective, reason_if_missing=self.reason)
        return ResultRecord.against(
            objective,
            check=check or f"restore:{self.kind}", scenario=scenario, resource=resource or self.source, tier=tier,
            target=self.target, metric=METRIC, value=self.restore_seconds, unit="s",
            verdict=verdict, reason=reason, started_at=iso(self.started_at),
            duration_seconds=self.elapsed_seconds,
            evidence=RestoreEvidence(
                restore_kind=self.kind, source=self.source, restored_resource=self.restored_resource,
                region=self.region, verified=self.verified, measurement_reason=self.reason,
                available_seconds=self.available_seconds, verify_seconds=self.verify_seconds,
                service_reported_seconds=self.service_reported_seconds, restore_point=self.restore_point,
                timeout_seconds=self.timeout_seconds, extra={**self._window(), **dict(evidence or {})},
            ),
            test_id=test_id, run_id=run_id,
        )

    def _window(self) -> dict[str, JsonValue]:
        return {} if self.window_wait_seconds is None else {"pitr_window_wait_seconds": self.window_wait_seconds}


@dataclass(frozen=True)
class CleanupResult:
    deleted: tuple[str, ...]
    failed: tuple[str, ...]


@dataclass(frozen=True)
class _Created:
    kind: str  # "table" | "dynamodb-backup" | "bucket" | "file-system"
    region: str
    name: str


class _Run:
    """One restore being timed: the request time, the deadline, and what the timer learnt."""

    def __init__(self, timer: "RestoreTimer", kind: RestoreKind, source: str, region: str, restore_point: str = "") -> None:
        self.timer, self.kind, self.source, self.region, self.restore_point = timer, kind, source, region, restore_point
        self.started_at = utc_now()
        self.t0 = time.monotonic()
        self.restored = ""
        self.service_seconds: float | None = None

    def remaining(self) -> float:
        return max(0.0, self.timer.timeout_s - (time.monotonic() - self.t0))

    def end(self, reason: str) -> RestoreMeasurement:
        """A restore that never became usable (refused, failed or timed out): no restore or available time."""
        elapsed = time.monotonic() - self.t0
        self.timer._tag(self)  # a half-made restore is a leftover too: mark it so it can be found
        return RestoreMeasurement(
            kind=self.kind, source=self.source, restored_resource=self.restored, restore_seconds=None, verified=False,
            reason=reason, region=self.region, target=self.timer.target_name, started_at=self.started_at,
            service_reported_seconds=self.service_seconds, restore_point=self.restore_point,
            timeout_seconds=self.timer.timeout_s, elapsed_seconds=elapsed,
        )

    def wait(self, state: Callable[[], tuple[bool, str]], what: str, verify: Verify) -> RestoreMeasurement:
        """Wait for `state()` -> (done, failure) within the deadline, then run the data check."""
        failure: list[str] = []

        def ready() -> bool:
            done, failed = state()
            if failed:
                failure.append(failed)
            return done or bool(failed)

        outcome = wait_until(ready, self.remaining(), self.timer.interval_s, what=what)
        if failure:
            return self.end(failure[0])
        if not outcome.ok:
            return self.end(TIMED_OUT.format(seconds=self.timer.timeout_s, what=what, source=self.source))
        available = time.monotonic() - self.t0
        started = time.monotonic()
        try:
            answer = verify()
        except Exception as exc:  # noqa: BLE001 - a check that breaks is a failed check, with its error
            checked = VerifyOutcome(False, VERIFY_RAISED.format(error=f"{type(exc).__name__}: {exc}"))
        else:
            checked = as_verify_outcome(answer)
        usable = time.monotonic()
        self.timer._tag(self)  # after the clock stops: tagging is the harness's work, not the restore's
        verified = checked.ok
        return RestoreMeasurement(
            kind=self.kind, source=self.source, restored_resource=self.restored,
            restore_seconds=usable - self.t0 if verified else None, verified=verified,
            reason=checked.reason if verified else VERIFY_FAILED.format(detail=checked.reason or "no detail"),
            region=self.region, target=self.timer.target_name, started_at=self.started_at, available_seconds=available,
            verify_seconds=usable - started, service_reported_seconds=self.service_seconds,
            restore_point=self.restore_point, timeout_seconds=self.timer.timeout_s, elapsed_seconds=usable - self.t0,
        )


class RestoreTimer:
    """Time restores on one Target and region, bounded by `timeout_s` or the objective's limit (tier RTO)."""

    def __init__(
        self, target: Target, region: str, *, timeout_s: float | None = None, objective: Objective | None = None,
        interval_s: float | None = None,
    ) -> None:
        limit = timeout_s if timeout_s is not None else (objective.limit if objective is not None else None)
        if limit is None or limit <= 0:
            raise MeasurementError(NO_DEADLINE)
        self.target = target
        self.target_name = target_name(target)
        self.region = region
        self.timeout_s = float(limit)
        self.interval_s = interval_s if interval_s is not None else target.poll_interval_s
        self._lock = threading.Lock()
        self._created: list[_Created] = []

    def _client(self, service: str, region: str | None = None) -> Any:
        return self.target.client(service, region or self.region)

    def _remember(self, kind: str, region: str, name: str) -> None:
        with self._lock:
            if not any(c.kind == kind and c.region == region and c.name == name for c in self._created):
                self._created.append(_Created(kind, region, name))

    def _created_here(self, kind: str, name: str) -> bool:
        """Whether this timer created the resource (an existing bucket restored into is never tagged or deleted)."""
        with self._lock:
            return any(c.kind == kind and c.name == name for c in self._created)

    # -- DynamoDB --------------------------------------------------------------------------------------

    def time_pitr(
        self, source_table: str, target_table: str, *, verify: Verify, restore_to: dt.datetime | None = None,
    ) -> RestoreMeasurement:
        """Restore `source_table` as it was at `restore_to` (UTC; None = latest restorable) into `target_table`."""
        if restore_to is not None and restore_to.tzinfo is None:
            raise MeasurementError(NAIVE_TIME.format(moment=restore_to.isoformat()))
        point = iso(restore_to) if restore_to is not None else "latest"
        waited: float | None = None
        if restore_to is not None:
            # Not part of the restore: DynamoDB refuses a time its window has not reached yet.
            begun = time.monotonic()
            caught_up = self._wait_restorable(source_table, restore_to)
            if not caught_up.ok:
                return _Run(self, "dynamodb-pitr", source_table, self.region, point).end(
                    WINDOW_NOT_REACHED.format(table=source_table, point=point, reason=caught_up.reason))
            waited = time.monotonic() - begun
        run = _Run(self, "dynamodb-pitr", source_table, self.region, point)
        when = {"RestoreDateTime": restore_to} if restore_to is not None else {"UseLatestRestorableTime": True}
        try:
            self._client("dynamodb").restore_table_to_point_in_time(SourceTableName=source_table, TargetTableName=target_table, **when)
        except _API_ERRORS as exc:
            return run.end(f"restore_table_to_point_in_time refused: {_error(exc)}")
        measured = self._wait_table(run, target_table, verify)
        return measured if waited is None else replace(measured, window_wait_seconds=waited)

    def _wait_restorable(self, table: str, moment: dt.datetime) -> WaitOutcome[bool]:
        """Wait until `table`'s LatestRestorableDateTime is at or after `moment`."""
        dynamodb = self._client("dynamodb")

        def reached() -> bool:
            answer = dynamodb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
            latest = (answer.get("PointInTimeRecoveryDescription") or {}).get("LatestRestorableDateTime")
            return latest is not None and latest >= moment

        return wait_until(reached, min(self.timeout_s, PITR_CATCH_UP_S), self.interval_s,
                          what=f"{table}'s latest restorable time to reach {iso(moment)}", swallow=_API_ERRORS)

    def time_backup_restore(
        self, source_table: str, target_table: str, *, verify: Verify, backup_name: str | None = None,
    ) -> RestoreMeasurement:
        """Take an on-demand backup of `source_table`, then time its restore into `target_table`."""
        dynamodb = self._client("dynamodb")
        name = backup_name or f"drharness-{uuid.uuid4().hex[:8]}"
        # Times the backup that comes before the restore, so a failure there is recorded with its real duration.
        backing_up = _Run(self, "dynamodb-backup", source_table, self.region)
        try:
            arn = dynamodb.create_backup(TableName=source_table, BackupName=name)["BackupDetails"]["BackupArn"]
        except _API_ERRORS as exc:
            return backing_up.end(f"create_backup refused: {_error(exc)}")
        self._remember("dynamodb-backup", self.region, arn)
        backing_up.source = arn

        def backup_state() -> bool:
            details = dynamodb.describe_backup(BackupArn=arn)["BackupDescription"]["BackupDetails"]
            return details["BackupStatus"] == "AVAILABLE"

        ready = wait_until(backup_state, self.timeout_s, self.interval_s, what=f"backup {name} to become AVAILABLE", swallow=_API_ERRORS)
        if not ready.ok:
            return backing_up.end(ready.reason)
        run = _Run(self, "dynamodb-backup", arn, self.region)
        try:
            dynamodb.restore_table_from_backup(TargetTableName=target_table, BackupArn=arn)
        except _API_ERRORS as exc:
            return run.end(f"restore_table_from_backup refused: {_error(exc)}")
        return self._wait_table(run, target_table, verify)

    def _wait_table(self, run: _Run, table: str, verify: Verify) -> RestoreMeasurement:
        run.restored = table
        self._remember("table", run.region, table)
        dynamodb = self._client("dynamodb", run.region)

        def state() -> tuple[bool, str]:
            try:
                status = dynamodb.describe_table(TableName=table)["Table"]["TableStatus"]
            except ClientError as exc:
                if _code(exc) == "ResourceNotFoundException":
                    return False, ""  # not listed yet: still being created
                raise
            return status == "ACTIVE", ""

        return self._guarded(run, state, f"table {table} to become ACTIVE", verify)

    # -- AWS Backup ------------------------------------------------------------------------------------

    def time_aws_backup_restore(
        self, recovery_point_arn: str, metadata: Mapping[str, str], iam_role_arn: str, *, verify: Verify,
        resource_type: str | None = None,
    ) -> RestoreMeasurement:
        """Start an AWS Backup restore job and time it to COMPLETED and a passing data check."""
        backup = self._client("backup")
        run = _Run(self, "aws-backup", recovery_point_arn, self.region)
        request: dict[str, Any] = {"RecoveryPointArn": recovery_point_arn, "Metadata": dict(metadata), "IamRoleArn": iam_role_arn}
        if resource_type:
            request["ResourceType"] = resource_type
        # What the job will create is ours to clean up only if it does not exist yet: a job restoring
        # onto an existing table or bucket fails or writes into it, and neither is ours to delete.
        bucket, table = metadata.get("DestinationBucketName", ""), metadata.get("targetTableName", "")
        new_bucket = bool(bucket) and metadata.get("NewBucket", "").lower() == "true" and self._absent("bucket", bucket)
        new_table = bool(table) and self._absent("table", table)
        try:
            job_id = backup.start_restore_job(**request)["RestoreJobId"]
        except _API_ERRORS as exc:
            return run.end(f"start_restore_job refused: {_error(exc)}")
        if new_bucket:
            self._remember("bucket", self.region, bucket)
        if new_table:
            self._remember("table", self.region, table)

        def state() -> tuple[bool, str]:
            job = backup.describe_restore_job(RestoreJobId=job_id)
            status = job["Status"]
            if status in ("COMPLETED", "FAILED", "ABORTED"):
                run.restored = job.get("CreatedResourceArn", "")
                if job.get("CompletionDate") and job.get("CreationDate"):
                    run.service_seconds = (job["CompletionDate"] - job["CreationDate"]).total_seconds()
            if status == "COMPLETED":
                if run.restored.startswith("arn:aws:fsx:"):
                    self._remember("file-system", self.region, run.restored.rsplit("/", 1)[-1])
                return True, ""
            if status in ("FAILED", "ABORTED"):
                return False, NOT_USABLE.format(source=recovery_point_arn, state=status, message=job.get("StatusMessage", "no message"))
            return False, ""

        return self._guarded(run, state, f"restore job {job_id} to complete", verify)

    # -- FSx -------------------------------------------------------------------------------------------

    def time_fsx_restore(
        self, backup_id: str, *, subnet_ids: list[str], verify: Verify, security_group_ids: list[str] | None = None,
        tags: Mapping[str, str] | None = None, **configuration: Any,
    ) -> RestoreMeasurement:
        """Create a file system from an FSx backup and time it to AVAILABLE.

        It is tagged as a test resource plus `tags` (a unique tag lets `verify` find the new file system);
        `configuration` is passed on to CreateFileSystemFromBackup (e.g. LustreConfiguration).
        """
        fsx = self._client("fsx")
        run = _Run(self, "fsx-backup", backup_id, self.region)
        all_tags = {**(tags or {}), TEST_TAG_KEY: TEST_TAG_VALUE}
        request: dict[str, Any] = {"BackupId": backup_id, "SubnetIds": list(subnet_ids),
                                   "Tags": [{"Key": k, "Value": v} for k, v in all_tags.items()], **configuration}
        if security_group_ids:
            request["SecurityGroupIds"] = list(security_group_ids)
        try:
            file_system_id = fsx.create_file_system_from_backup(**request)["FileSystem"]["FileSystemId"]
        except _API_ERRORS as exc:
            return run.end(f"create_file_system_from_backup refused: {_error(exc)}")
        run.restored = file_system_id
        self._remember("file-system", self.region, file_system_id)

        def state() -> tuple[bool, str]:
            found = fsx.describe_file_systems(FileSystemIds=[file_system_id])["FileSystems"]
            lifecycle = found[0].get("Lifecycle", "") if found else ""
            if lifecycle in ("FAILED", "MISCONFIGURED", "DELETING"):
                message = (found[0].get("FailureDetails") or {}).get("Message", "no message")
                return False, NOT_USABLE.format(source=backup_id, state=lifecycle, message=message)
            return lifecycle == "AVAILABLE", ""

        return self._guarded(run, state, f"file system {file_system_id} to become AVAILABLE", verify)

    # -- shared ----------------------------------------------------------------------------------------

    def _absent(self, kind: str, name: str) -> bool:
        """Whether a table or bucket surely does not exist (any doubt answers False)."""
        try:
            if kind == "table":
                self._client("dynamodb").describe_table(TableName=name)
            else:
                self._client("s3").head_bucket(Bucket=name)
        except ClientError as exc:
            return _code(exc) in ("ResourceNotFoundException", "404", "NoSuchBucket")
        except BotoCoreError:
            return False
        return False

    def _guarded(self, run: _Run, state: Callable[[], tuple[bool, str]], what: str, verify: Verify) -> RestoreMeasurement:
        def checked() -> tuple[bool, str]:
            try:
                return state()
            except _API_ERRORS as exc:
                return False, f"polling {what} failed: {_error(exc)}"

        return run.wait(checked, what, verify)

    def _tag(self, run: _Run) -> None:
        """Tag what the restore created, where the service has no way to tag it in the request."""
        tags = {TEST_TAG_KEY: TEST_TAG_VALUE}
        restored = run.restored
        if not restored:
            return
        try:
            if run.kind in ("dynamodb-pitr", "dynamodb-backup") or restored.startswith("arn:aws:dynamodb:"):
                dynamodb = self._client("dynamodb", run.region)
                arn = restored if restored.startswith("arn:") else dynamodb.describe_table(TableName=restored)["Table"]["TableArn"]
                dynamodb.tag_resource(ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
            elif restored.startswith("arn:aws:s3:::") and self._created_here("bucket", restored[len("arn:aws:s3:::"):]):
                s3, bucket = self._client("s3", run.region), restored[len("arn:aws:s3:::"):]
                try:
                    current = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
                except ClientError:
                    current = {}
                s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in {**current, **tags}.items()]})
            elif restored.startswith("arn:aws:fsx:"):
                self._client("fsx", run.region).tag_resource(ResourceARN=restored, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        except _API_ERRORS:
            pass  # a tag is for finding leftovers; failing to set it does not change the measurement

    def cleanup(self) -> CleanupResult:
        """Delete every table, backup, bucket and file system this timer's restores created; safe to call twice."""
        with self._lock:
            created, self._created = list(reversed(self._created)), []
        deleted, failed = [], []
        for item in created:
            try:
                if not self._delete(item):
                    continue
                deleted.append(f"{item.kind} {item.name}")
            except _API_ERRORS as exc:
                failed.append(f"{item.kind} {item.name}: {_error(exc)}")
        return CleanupResult(tuple(deleted), tuple(failed))

    def _delete(self, item: _Created) -> bool:
        """Delete one created resource; False when it is already gone."""
        try:
            if item.kind == "table":
                self._client("dynamodb", item.region).delete_table(TableName=item.name)
            elif item.kind == "dynamodb-backup":
                self._client("dynamodb", item.region).delete_backup(BackupArn=item.name)
            elif item.kind == "file-system":
                self._client("fsx", item.region).delete_file_system(FileSystemId=item.name)
            elif item.kind == "bucket":
                _empty_and_delete_bucket(self._client("s3", item.region), item.name)
        except ClientError as exc:
            if _code(exc) in ("ResourceNotFoundException", "TableNotFoundException", "BackupNotFoundException",
                              "FileSystemNotFound", "NoSuchBucket"):
                return False
            raise
        return True


def _empty_and_delete_bucket(s3: Any, bucket: str) -> None:
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        versions = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        for start in range(0, len(versions), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": versions[start:start + 1000], "Quiet": True})
    s3.delete_bucket(Bucket=bucket)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _error(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}"
    return f"{type(exc).__name__}: {exc}"
