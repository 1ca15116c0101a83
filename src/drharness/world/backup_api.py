"""The AWS Backup wire format (rest-json) for the offline world's backup engine.

`answer` serves what moto lacks (selections, jobs, recovery points, restores) and the refusals AWS
makes that moto does not (deleting a vault that holds recovery points, a plan that has selections);
everything else goes on to moto. `amend` fills in what moto leaves out of its own answers.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from drharness.world import moto_access
from drharness.world.backup import (
    BackupEngine,
    BackupJob,
    BackupRefusal,
    RecoveryPoint,
    RestoreJob,
    Selection,
    resource_name,
    resource_type,
)
from drharness.world.requests import AwsRequest

if TYPE_CHECKING:
    from drharness.world.server import CapturedResponse

_SELECTION_NAME = re.compile(r"^[a-zA-Z0-9\-_.]{1,50}$")
_CONDITION_OPERATORS = ("StringEquals", "StringNotEquals", "StringLike", "StringNotLike")
NOT_AN_ARN = "Resource {resource!r} in the selection is not an ARN; give resources as ARNs (a bucket as arn:aws:s3:::NAME) or '*'"
PLAN_HAS_SELECTIONS = "Related backup plan selections must be deleted prior to backup plan deletion"
VAULT_NOT_EMPTY = "Backup vault cannot be deleted (contains {count} recovery points)"
Handler = Callable[[BackupEngine, AwsRequest, dict[str, str]], "CapturedResponse | None"]


def _ok(payload: dict[str, Any]) -> "CapturedResponse":
    from drharness.world.server import json_response

    return json_response("backup", _times(payload))


def _refuse(code: str, message: str) -> "CapturedResponse":
    from drharness.world.server import error_response

    return error_response("backup", 400, code, message)


def _query(request: AwsRequest, name: str) -> str | None:
    values = request.query.get(name)
    return values[0] if values else None


def _time_query(request: AwsRequest, name: str) -> float | None:
    """A timestamp query parameter: ISO 8601 (what botocore sends) or epoch seconds."""
    text = _query(request, name)
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)).timestamp()


def _page(request: AwsRequest, key: str, items: Sequence[dict[str, Any]]) -> "CapturedResponse":
    limit = int(_query(request, "maxResults") or 1000)
    start = int(_query(request, "nextToken") or 0)
    payload: dict[str, Any] = {key: list(items[start:start + limit])}
    if start + limit < len(items):
        payload["NextToken"] = str(start + limit)
    return _ok(payload)


def _within(value: float | None, after: float | None, before: float | None) -> bool:
    """Whether a time lies in [after, before], at the millisecond precision the API shows times with."""
    if after is None and before is None:
        return True
    if value is None:
        return False
    shown = round(value, 3)
    return (after is None or shown >= after - 1e-6) and (before is None or shown <= before + 1e-6)


def _times(found: dict[str, Any]) -> dict[str, Any]:
    """Show times (epoch seconds) to the millisecond, as AWS does, so a time read back filters exactly."""
    for key, value in found.items():
        if isinstance(value, float) and key.endswith(("Date", "Time", "At", "By")):
            found[key] = round(value, 3)
        elif isinstance(value, dict):
            _times(value)
        elif isinstance(value, list):
            for entry in value:
                if isinstance(entry, dict):
                    _times(entry)
    return found


# -- descriptions --------------------------------------------------------------------------------------


def _job(engine: BackupEngine, job: BackupJob) -> dict[str, Any]:
    done = job.state in ("COMPLETED", "FAILED", "ABORTED")
    found: dict[str, Any] = {
        "AccountId": engine.world.account_id, "BackupJobId": job.job_id, "BackupVaultName": job.vault_name,
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


def _point(engine: BackupEngine, point: RecoveryPoint) -> dict[str, Any]:
    calculated = {k: v for k, v in (("MoveToColdStorageAt", point.move_to_cold_at()), ("DeleteAt", point.delete_at())) if v is not None}
    found: dict[str, Any] = {
        "RecoveryPointArn": point.arn, "BackupVaultName": point.vault_name, "BackupVaultArn": point.vault_arn,
        "ResourceArn": point.resource_arn, "ResourceType": point.resource_type,
        "ResourceName": resource_name(point.resource_arn), "IamRoleArn": point.iam_role_arn, "Status": "COMPLETED",
        "CreationDate": point.creation_date, "CompletionDate": point.completion_date,
        "BackupSizeInBytes": point.capture.size_bytes, "CalculatedLifecycle": calculated, "Lifecycle": point.lifecycle,
        "IsEncrypted": False, "StorageClass": point.storage_class(engine.world.now()), "IsParent": False,
    }
    if point.created_by:
        found["CreatedBy"] = point.created_by
    if point.last_restore_time is not None:
        found["LastRestoreTime"] = point.last_restore_time
    return found


def _restore(engine: BackupEngine, job: RestoreJob) -> dict[str, Any]:
    found: dict[str, Any] = {
        "AccountId": engine.world.account_id, "RestoreJobId": job.job_id, "RecoveryPointArn": job.recovery_point_arn,
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


def _selection(selection: Selection, *, full: bool) -> dict[str, Any]:
    found: dict[str, Any] = {
        "SelectionId": selection.selection_id, "BackupPlanId": selection.plan_id, "CreationDate": selection.creation_date,
        "CreatorRequestId": selection.creator_request_id,
    }
    if full:
        found["BackupSelection"] = selection.document
    else:
        found.update(SelectionName=selection.name, IamRoleArn=selection.iam_role_arn)
    return found


# -- lookups -------------------------------------------------------------------------------------------


def _vault(request: AwsRequest, name: str) -> str:
    arn = moto_access.backup_vault_arn(request.region, name)
    if arn is None:
        raise BackupRefusal("ResourceNotFoundException", f"Backup vault {name} does not exist in {request.region}")
    return arn


def _plan(request: AwsRequest, plan_id: str) -> None:
    if plan_id not in {p[0] for p in moto_access.backup_plans(request.region)}:
        raise BackupRefusal("ResourceNotFoundException", f"Backup plan {plan_id} does not exist in {request.region}")


def _recovery_point(engine: BackupEngine, request: AwsRequest, arn: str, vault: str | None = None) -> RecoveryPoint:
    with engine.lock:
        point = engine.points.get(arn)
    if point is None or point.region != request.region or (vault is not None and point.vault_name != vault):
        where = f"backup vault {vault}" if vault else request.region
        raise BackupRefusal("ResourceNotFoundException", f"Recovery point {arn} does not exist in {where}")
    return point


# -- handlers ------------------------------------------------------------------------------------------


def _create_selection(engine: BackupEngine, request: AwsRequest, p: dict[str, str]) -> "CapturedResponse":
    _plan(request, p["plan"])
    body = request.json_body
    document = dict(body.get("BackupSelection") or {})
    name = str(document.get("SelectionName", ""))
    if not _SELECTION_NAME.match(name):
        raise BackupRefusal("InvalidParameterValueException", f"SelectionName {name!r} must be 1-50 letters, digits or -_.")
    patterns = [str(r) for r in (document.get("Resources") or []) + (document.get("NotResources") or [])]
    for pattern in patterns:
        if pattern != "*" and not pattern.startswith("arn:"):
            raise BackupRefusal("InvalidParameterValueException", NOT_AN_ARN.format(resource=pattern))
    for condition in document.get("ListOfTags") or []:
        if str(condition.get("ConditionType", "STRINGEQUALS")).upper() != "STRINGEQUALS":
            raise BackupRefusal("InvalidParameterValueException", "ListOfTags supports only STRINGEQUALS; use Conditions")
    for operator in document.get("Conditions") or {}:
        if operator not in _CONDITION_OPERATORS:
            known = ", ".join(_CONDITION_OPERATORS)
            raise BackupRefusal("InvalidParameterValueException", f"Condition operator {operator} is not one of {known}")
    selection = Selection(
        selection_id=str(uuid.uuid4()), plan_id=p["plan"], region=request.region, name=name,
        iam_role_arn=str(document.get("IamRoleArn", "")), document=document, creation_date=engine.world.now(),
        creator_request_id=str(body.get("CreatorRequestId") or uuid.uuid4()),
    )
    with engine.lock:
        engine.selections[selection.selection_id] = selection
    return _ok(_selection(selection, full=False))


def _selection_of(engine: BackupEngine, p: dict[str, str]) -> Selection:
    with engine.lock:
        selection = engine.selections.get(p["selection"])
    if selection is None or selection.plan_id != p["plan"]:
        raise BackupRefusal("ResourceNotFoundException", f"Backup selection {p['selection']} does not exist in plan {p['plan']}")
    return selection


def _get_selection(engine: BackupEngine, request: AwsRequest, p: dict[str, str]) -> "CapturedResponse":
    return _ok(_selection(_selection_of(engine, p), full=True))


def _delete_selection(engine: BackupEngine, request: AwsRequest, p: dict[str, str]) -> "CapturedResponse":
    selection = _selection_of(engine, p)
    with engine.lock:
        engine.selections.pop(selection.selection_id, None)
    return _ok({})


def _list_selections(engine: BackupEngine, request: AwsRequest, p: dict[str, str]) -> "CapturedResponse":
    _plan(request, p["plan"])
    with engine.lock:
        found = [_selection(s, full=False) for s in engine.selections.values() if s.plan_id == p["plan"]]
    return _page(request, "BackupSelectionsList", found)


def _delete_plan(engine: BackupEngine, request: AwsRequest, p: dict[str, str]) -> "CapturedResponse | None":
    with engine.lock:
        if any(s.plan_id == p["plan"] for s in engine.selections.values()):
            raise BackupRefusal("InvalidRequestException", PLAN_HAS_SELECTIONS)
    return None


def _create_plan(engine: BackupEngine, request: AwsRequest, p: dict[str, str]) -> "CapturedResponse | None":
    name = str((request.json_body.get("BackupPlan") or {}).get("BackupPlanName", ""))
    moto_access.backup_forget_deleted_plans(request.region, name)
    return None  # moto creates it


def _update_plan(engine: BackupEngine, request: AwsRequest, p: dict[str, str]) -> "CapturedResponse":
    document = request.json_body.get("BackupPlan")
    if not isinstance(document, dict) or not document.get("Rules"):
        raise BackupRefusal("InvalidParameterValueException", "UpdateBackupPlan needs a BackupPlan with Rules")
    updated = moto_access.backup_update_plan(request.region, p["plan"], document)
    if updated is None:
        raise BackupRefusal("ResourceNotFoundException", f"Failed reading Backup plan with provided version: {p['plan']}")
    return _ok(updated)


def _delete_vault(engine: BackupEngine, request: AwsRequest, p: dict[str, str]) -> "CapturedResponse | None":
    with engine.lock:
        count = sum(1 for r in engine.points.values() if r.vault_name == p["vault"] and r.region == request.region)
    if count:
        raise BackupRefusal("InvalidRequestException", VAULT_NOT_EMPTY.format(count=count))
    return None


def _start_backup_job(engine: BackupEngine, request: AwsRequest, p: dict[str, str]) -> "CapturedResponse":
    body = request.json_body
    _vault(request, str(body.get("BackupVaultName", "")))
    lifecycle = {k: int(v) for k, v in (body.get("Lifecycle") or {}).items() if isinstance(v, (int, float))}
    cold, delete = lifecycle.get("MoveToColdStorageAfterDays"), lifecycle.get("DeleteAfterDays")
    if cold and delete and delete < cold + 90:
        raise BackupRefusal("InvalidParameterValueException", "DeleteAfterDays must be at least 90 days after MoveToColdStorageAfterDays")
    job = engine.start_backup_job(
        request.region, str(body["BackupVaultName"]), str(body.get("ResourceArn", "")), str(body.get("IamRoleArn", "")),
        lifecycle=lifecycle, recovery_point_tags=dict(body.get("RecoveryPointTags") or {}),
    )
    return _ok({"BackupJobId": job.job_id, "RecoveryPointArn": job.recovery_point_arn, "CreationDate": job.creation_date,
                "IsParent": False})


def _backup_job(engine: BackupEngine, job_id: str) -> BackupJob:
    with engine.lock:
        job = engine.jobs.get(job_id)
    if job is None:
        raise BackupRefusal("ResourceNotFoundException", f"Backup job {job_id} does not exist")
    return job


def _describe_backup_job(engine: BackupEngine, request: AwsRequest, p: dict[str, str]) -> "CapturedResponse":
    return _ok(_job(engine, _backup_job(engine, p["job"])))


def _stop_backup_job(engine: BackupEngine, request: AwsRequest, p: dict[str, str]) -> "CapturedResponse":
    engine.stop_backup_job(_backup_job(engine, p["job"]))
    return _ok({})


def _list_backup_jobs(engine: BackupEngine, request: AwsRequest, p: dict[str, str]) -> "CapturedResponse":
    state, arn, vault, kind = (_query(request, n) for n in ("state", "resourceArn", "backupVaultName", "resourceType"))
    created = (_time_query(request, "createdAfter"), _time_query(request, "createdBefore"))
    completed = (_time_query(request, "completeAfter"), _time_query(request, "completeBefore"))
    with engine.lock:
        jobs = sorted((j for j in engine.jobs.values() if j.region == request.region), key=lambda j: j.creation_date, reverse=True)
        found = [
            _job(engine, j) for j in jobs
            if (state is None or j.state == state) and (arn is None or j.resource_arn == arn)
            and (vault is None or j.vault_name == vault) and (kind is None or j.resource_type == kind)
            and _within(j.creation_date, *created) and _within(j.completion_date, *completed)
        ]
    return _page(request, "BackupJobs", found)


def _list_points(engine: BackupEngine, request: AwsRequest, p: dict[str, str]) -> "CapturedResponse":
    _vault(request, p["vault"])
    arn, kind, plan = (_query(request, n) for n in ("resourceArn", "resourceType", "backupPlanId"))
    created = (_time_query(request, "createdAfter"), _time_query(request, "createdBefore"))
    with engine.lock:
        points = sorted((r for r in engine.points.values() if r.region == request.region and r.vault_name == p["vault"]),
                        key=lambda r: r.creation_date, reverse=True)
        found = [
            _point(engine, r) for r in points
            if (arn is None or r.resource_arn == arn) and (kind is None or r.resource_type == kind)
            and (plan is None or r.created_by.get("BackupPlanId") == plan) and _within(r.creation_date, *created)
        ]
    return _page(request, "RecoveryPoints", found)


def _describe_point(engine: BackupEngine, request: AwsRequest, p: dict[str, str]) -> "CapturedResponse":
    return _ok(_point(engine, _recovery_point(engine, request, p["point"], p["vault"])))


def _delete_point(engine: BackupEngine, request: AwsRequest, p: dict[str, str]) -> "CapturedResponse":
    engine.delete_recovery_point(_recovery_point(engine, request, p["point"], p["vault"]))
    return _ok({})


def _update_point_lifecycle(engine: BackupEngine, request: AwsRequest, p: dict[str, str]) -> "CapturedResponse":
    point = _recovery_point(engine, request, p["point"], p["vault"])
    lifecycle = {k: int(v) for k, v in (request.json_body.get("Lifecycle") or {}).items() if isinstance(v, (int, float))}
    cold, delete = lifecycle.get("MoveToColdStorageAfterDays"), lifecycle.get("DeleteAfterDays")
    if cold and delete and delete < cold + 90:
        raise BackupRefusal("InvalidParameterValueException", "DeleteAfterDays must be at least 90 days after MoveToColdStorageAfterDays")
    with engine.lock:
        point.lifecycle = lifecycle
    described = _point(engine, point)
    return _ok({k: described[k] for k in ("BackupVaultArn", "RecoveryPointArn", "Lifecycle", "CalculatedLifecycle")})


def _restore_metadata(engine: BackupEngine, request: AwsRequest, p: dict[str, str]) -> "CapturedResponse":
    point = _recovery_point(engine, request, p["point"], p["vault"])
    name = resource_name(point.resource_arn)
    metadata = {"DynamoDB": {"targetTableName": name},
                "S3": {"DestinationBucketName": name, "NewBucket": "false"}}.get(point.resource_type, {})
    return _ok({"BackupVaultArn": point.vault_arn, "RecoveryPointArn": point.arn, "RestoreMetadata": metadata,
                "ResourceType": point.resource_type})


def _points_by_resource(engine: BackupEngine, request: AwsRequest, p: dict[str, str]) -> "CapturedResponse":
    with engine.lock:
        points = sorted((r for r in engine.points.values() if r.region == request.region and r.resource_arn == p["resource"]),
                        key=lambda r: r.creation_date, reverse=True)
        found = [
            {"RecoveryPointArn": r.arn, "CreationDate": r.creation_date, "Status": "COMPLETED", "BackupSizeBytes": r.capture.size_bytes,
             "BackupVaultName": r.vault_name, "IsParent": False, "ResourceName": resource_name(r.resource_arn)}
            for r in points
        ]
    return _page(request, "RecoveryPoints", found)


def _protected_resources(engine: BackupEngine, request: AwsRequest, p: dict[str, str]) -> "CapturedResponse":
    latest: dict[str, float] = {}
    with engine.lock:
        for r in engine.points.values():
            if r.region == request.region:
                latest[r.resource_arn] = max(latest.get(r.resource_arn, 0.0), r.creation_date)
    found = [{"ResourceArn": a, "ResourceType": resource_type(a), "LastBackupTime": t, "ResourceName": resource_name(a)}
             for a, t in sorted(latest.items())]
    return _page(request, "Results", found)


def _start_restore_job(engine: BackupEngine, request: AwsRequest, p: dict[str, str]) -> "CapturedResponse":
    body = request.json_body
    point = _recovery_point(engine, request, str(body.get("RecoveryPointArn", "")))
    metadata = {str(k): str(v) for k, v in (body.get("Metadata") or {}).items()}
    job = engine.start_restore_job(point, metadata, str(body.get("IamRoleArn", "")))
    return _ok({"RestoreJobId": job.job_id})


def _describe_restore_job(engine: BackupEngine, request: AwsRequest, p: dict[str, str]) -> "CapturedResponse":
    with engine.lock:
        job = engine.restores.get(p["job"])
    if job is None:
        raise BackupRefusal("ResourceNotFoundException", f"Restore job {p['job']} does not exist")
    return _ok(_restore(engine, job))


def _list_restore_jobs(engine: BackupEngine, request: AwsRequest, p: dict[str, str]) -> "CapturedResponse":
    status, kind = _query(request, "status"), _query(request, "resourceType")
    created = (_time_query(request, "createdAfter"), _time_query(request, "createdBefore"))
    with engine.lock:
        jobs = sorted((j for j in engine.restores.values() if j.region == request.region), key=lambda j: j.creation_date, reverse=True)
        found = [_restore(engine, j) for j in jobs
                 if (status is None or j.status == status) and (kind is None or j.resource_type == kind)
                 and _within(j.creation_date, *created)]
    return _page(request, "RestoreJobs", found)


_POINT = r"/backup-vaults/(?P<vault>[^/]+)/recovery-points/(?P<point>.+?)"
_ROUTES: tuple[tuple[str, re.Pattern[str], Handler], ...] = tuple(
    (method, re.compile(f"^{path}/?$"), handler)
    for method, path, handler in (
        ("PUT", r"/backup/plans/(?P<plan>[^/]+)/selections", _create_selection),
        ("GET", r"/backup/plans/(?P<plan>[^/]+)/selections", _list_selections),
        ("GET", r"/backup/plans/(?P<plan>[^/]+)/selections/(?P<selection>[^/]+)", _get_selection),
        ("DELETE", r"/backup/plans/(?P<plan>[^/]+)/selections/(?P<selection>[^/]+)", _delete_selection),
        ("DELETE", r"/backup/plans/(?P<plan>[^/]+)", _delete_plan),
        ("PUT", r"/backup/plans", _create_plan),
        ("POST", r"/backup/plans/(?P<plan>[^/]+)", _update_plan),
        ("DELETE", r"/backup-vaults/(?P<vault>[^/]+)", _delete_vault),
        ("PUT", r"/backup-jobs", _start_backup_job),
        ("GET", r"/backup-jobs", _list_backup_jobs),
        ("GET", r"/backup-jobs/(?P<job>[^/]+)", _describe_backup_job),
        ("POST", r"/backup-jobs/(?P<job>[^/]+)", _stop_backup_job),
        ("GET", r"/backup-vaults/(?P<vault>[^/]+)/recovery-points", _list_points),
        ("GET", _POINT + "/restore-metadata", _restore_metadata),
        ("GET", _POINT, _describe_point),
        ("DELETE", _POINT, _delete_point),
        ("POST", _POINT, _update_point_lifecycle),
        ("GET", r"/resources/(?P<resource>.+)/recovery-points", _points_by_resource),
        ("GET", r"/resources", _protected_resources),
        ("PUT", r"/restore-jobs", _start_restore_job),
        ("GET", r"/restore-jobs", _list_restore_jobs),
        ("GET", r"/restore-jobs/(?P<job>[^/]+)", _describe_restore_job),
    )
)


def answer(engine: BackupEngine, request: AwsRequest) -> "CapturedResponse | None":
    """Serve the request if it is one moto lacks; None passes it on to moto."""
    for method, pattern, handler in _ROUTES:
        match = pattern.match(request.path) if method == request.method else None
        if match:
            try:
                return handler(engine, request, match.groupdict())
            except BackupRefusal as exc:
                return _refuse(exc.code, str(exc))
            except (KeyError, TypeError, ValueError) as exc:
                return _refuse("InvalidParameterValueException", f"invalid {request.operation} request: {type(exc).__name__}: {exc}")
    return None


def amend(engine: BackupEngine, request: AwsRequest, response: "CapturedResponse") -> None:
    """Note new plans, and count recovery points in vault descriptions (moto always says 0)."""
    if request.operation not in ("CreateBackupPlan", "DescribeBackupVault", "ListBackupVaults"):
        return
    try:
        body = json.loads(response.body or b"{}")
    except ValueError:
        return
    if request.operation == "CreateBackupPlan":
        engine.plan_created(str(body.get("BackupPlanId", "")))
        return
    with engine.lock:
        counts: dict[str, int] = {}
        for point in engine.points.values():
            if point.region == request.region:
                counts[point.vault_name] = counts.get(point.vault_name, 0) + 1
    for vault in [body] if request.operation == "DescribeBackupVault" else body.get("BackupVaultList") or []:
        vault["NumberOfRecoveryPoints"] = counts.get(vault.get("BackupVaultName", ""), 0)
    response.set_body(json.dumps(body, default=str).encode())
