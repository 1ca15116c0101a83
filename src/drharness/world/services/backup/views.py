"""AWS Backup's wire shapes (rest-json): descriptions of jobs, points and selections; paging and times."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from drharness.world.services.backup.models import BackupBackend
from drharness.world.services.backup.records import BackupJob, RecoveryPoint, RestoreJob, Selection, resource_name
from drharness.world.wire import AwsRequest, CapturedResponse, error_response, json_response


def ok(payload: dict[str, Any]) -> CapturedResponse:
    return json_response("backup", times(payload))


def refuse(code: str, message: str) -> CapturedResponse:
    return error_response("backup", 400, code, message)


def query(request: AwsRequest, name: str) -> str | None:
    values = request.query.get(name)
    return values[0] if values else None


def time_query(request: AwsRequest, name: str) -> float | None:
    """A timestamp query parameter: ISO 8601 (what botocore sends) or epoch seconds."""
    text = query(request, name)
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)).timestamp()


def page(request: AwsRequest, key: str, items: Sequence[dict[str, Any]]) -> CapturedResponse:
    limit = int(query(request, "maxResults") or 1000)
    start = int(query(request, "nextToken") or 0)
    payload: dict[str, Any] = {key: list(items[start:start + limit])}
    if start + limit < len(items):
        payload["NextToken"] = str(start + limit)
    return ok(payload)


def within(value: float | None, after: float | None, before: float | None) -> bool:
    """Whether a time lies in [after, before], at the millisecond precision the API shows times with."""
    if after is None and before is None:
        return True
    if value is None:
        return False
    shown = round(value, 3)
    return (after is None or shown >= after - 1e-6) and (before is None or shown <= before + 1e-6)


def times(found: dict[str, Any]) -> dict[str, Any]:
    """Show times (epoch seconds) to the millisecond, as AWS does, so a time read back filters exactly."""
    for key, value in found.items():
        if isinstance(value, float) and key.endswith(("Date", "Time", "At", "By")):
            found[key] = round(value, 3)
        elif isinstance(value, dict):
            times(value)
        elif isinstance(value, list):
            for entry in value:
                if isinstance(entry, dict):
                    times(entry)
    return found


# -- descriptions --------------------------------------------------------------------------------------


def job_view(engine: BackupBackend, job: BackupJob) -> dict[str, Any]:
    done = job.state in ("COMPLETED", "FAILED", "ABORTED")
    found: dict[str, Any] = {
        "AccountId": engine.account_id, "BackupJobId": job.job_id, "BackupVaultName": job.vault_name,
        "BackupVaultArn": job.vault_arn, "RecoveryPointArn": job.recovery_point_arn, "ResourceArn": job.resource_arn,
        "CreationDate": job.creation_date, "State": job.state, "IamRoleArn": job.iam_role_arn,
        "ResourceType": job.resource_type, "ResourceName": resource_name(job.resource_arn), "IsParent": False,
        "PercentDone": "100.0" if job.state == "COMPLETED" else "0.0",
        "BackupSizeInBytes": job.capture.size_bytes if job.capture else 0,
        "StartBy": job.creation_date + 3600.0,
    }
    if job.completion_date is not None and done:
        found["CompletionDate"] = job.completion_date
    if job.status_message:
        found["StatusMessage"] = job.status_message
    if job.created_by:
        found["CreatedBy"] = job.created_by
    return found


def point_view(engine: BackupBackend, point: RecoveryPoint) -> dict[str, Any]:
    calculated = {k: v for k, v in (("MoveToColdStorageAt", point.move_to_cold_at()), ("DeleteAt", point.delete_at())) if v is not None}
    found: dict[str, Any] = {
        "RecoveryPointArn": point.arn, "BackupVaultName": point.vault_name, "BackupVaultArn": point.vault_arn,
        "ResourceArn": point.resource_arn, "ResourceType": point.resource_type,
        "ResourceName": resource_name(point.resource_arn), "IamRoleArn": point.iam_role_arn, "Status": "COMPLETED",
        "CreationDate": point.creation_date, "CompletionDate": point.completion_date,
        "BackupSizeInBytes": point.capture.size_bytes, "CalculatedLifecycle": calculated, "Lifecycle": point.lifecycle,
        "IsEncrypted": False, "StorageClass": point.storage_class(engine.now()), "IsParent": False,
    }
    if point.created_by:
        found["CreatedBy"] = point.created_by
    if point.last_restore_time is not None:
        found["LastRestoreTime"] = point.last_restore_time
    return found


def restore_view(engine: BackupBackend, job: RestoreJob) -> dict[str, Any]:
    found: dict[str, Any] = {
        "AccountId": engine.account_id, "RestoreJobId": job.job_id, "RecoveryPointArn": job.recovery_point_arn,
        "CreationDate": job.creation_date, "Status": job.status, "PercentDone": "100.0" if job.status == "COMPLETED" else "0.0",
        "BackupSizeInBytes": job.size_bytes, "IamRoleArn": job.iam_role_arn, "ResourceType": job.resource_type,
        "RecoveryPointCreationDate": job.recovery_point_creation_date,
    }
    if job.completion_date is not None:
        found["CompletionDate"] = job.completion_date
    if job.status_message:
        found["StatusMessage"] = job.status_message
    if job.created_resource_arn:
        found["CreatedResourceArn"] = job.created_resource_arn
    return found


def selection_view(selection: Selection, *, full: bool) -> dict[str, Any]:
    found: dict[str, Any] = {
        "SelectionId": selection.selection_id, "BackupPlanId": selection.plan_id, "CreationDate": selection.creation_date,
        "CreatorRequestId": selection.creator_request_id,
    }
    if full:
        found["BackupSelection"] = selection.document
    else:
        found.update(SelectionName=selection.name, IamRoleArn=selection.iam_role_arn)
    return found
