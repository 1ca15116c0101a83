"""The AWS Backup wire format (rest-json) for the offline world's backup backend.

Each request is dispatched on its operation name (classified once, from botocore's `requestUri`).
`BackupResponses` serves what moto lacks (selections, jobs, recovery points, restores) and the
refusals AWS makes that moto does not (deleting a vault that holds recovery points, a plan that has
selections); everything else goes on to moto, and its answers are amended with what moto leaves out.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable

from drharness.world.engine import BaseEngine
from drharness.world.moto import backup as moto_backup
from drharness.world.services.backup.models import BackupBackend
from drharness.world.services.backup.records import BackupJob, RecoveryPoint, Selection, resource_name, resource_type
from drharness.world.services.backup.views import (
    job_view,
    ok,
    page,
    point_view,
    query,
    refuse,
    restore_view,
    selection_view,
    time_query,
    within,
)
from drharness.world.wire import AwsError, AwsRequest, CapturedResponse

_SELECTION_NAME = re.compile(r"^[a-zA-Z0-9\-_.]{1,50}$")
_CONDITION_OPERATORS = ("StringEquals", "StringNotEquals", "StringLike", "StringNotLike")
NOT_AN_ARN = "Resource {resource!r} in the selection is not an ARN; give resources as ARNs (a bucket as arn:aws:s3:::NAME) or '*'"
PLAN_HAS_SELECTIONS = "Related backup plan selections must be deleted prior to backup plan deletion"
VAULT_NOT_EMPTY = "Backup vault cannot be deleted (contains {count} recovery points)"
Handler = Callable[[BackupBackend, AwsRequest, dict[str, str]], CapturedResponse | None]

# -- lookups -------------------------------------------------------------------------------------------


def _vault(request: AwsRequest, name: str) -> str:
    arn = moto_backup.backup_vault_arn(request.region, name)
    if arn is None:
        raise AwsError("ResourceNotFoundException", f"Backup vault {name} does not exist in {request.region}")
    return arn


def _plan(request: AwsRequest, plan_id: str) -> None:
    if plan_id not in {p[0] for p in moto_backup.backup_plans(request.region)}:
        raise AwsError("ResourceNotFoundException", f"Backup plan {plan_id} does not exist in {request.region}")


def _recovery_point(engine: BackupBackend, request: AwsRequest, arn: str, vault: str | None = None) -> RecoveryPoint:
    with engine.lock:
        point = engine.points.get(arn)
    if point is None or point.region != request.region or (vault is not None and point.vault_name != vault):
        where = f"backup vault {vault}" if vault else request.region
        raise AwsError("ResourceNotFoundException", f"Recovery point {arn} does not exist in {where}")
    return point


# -- handlers ------------------------------------------------------------------------------------------


def _create_selection(engine: BackupBackend, request: AwsRequest, p: dict[str, str]) -> CapturedResponse:
    _plan(request, p["plan"])
    body = request.json_body
    document = dict(body.get("BackupSelection") or {})
    name = str(document.get("SelectionName", ""))
    if not _SELECTION_NAME.match(name):
        raise AwsError("InvalidParameterValueException", f"SelectionName {name!r} must be 1-50 letters, digits or -_.")
    patterns = [str(r) for r in (document.get("Resources") or []) + (document.get("NotResources") or [])]
    for pattern in patterns:
        if pattern != "*" and not pattern.startswith("arn:"):
            raise AwsError("InvalidParameterValueException", NOT_AN_ARN.format(resource=pattern))
    for condition in document.get("ListOfTags") or []:
        if str(condition.get("ConditionType", "STRINGEQUALS")).upper() != "STRINGEQUALS":
            raise AwsError("InvalidParameterValueException", "ListOfTags supports only STRINGEQUALS; use Conditions")
    for operator in document.get("Conditions") or {}:
        if operator not in _CONDITION_OPERATORS:
            known = ", ".join(_CONDITION_OPERATORS)
            raise AwsError("InvalidParameterValueException", f"Condition operator {operator} is not one of {known}")
    selection = Selection(
        selection_id=str(uuid.uuid4()), plan_id=p["plan"], region=request.region, name=name,
        iam_role_arn=str(document.get("IamRoleArn", "")), document=document, creation_date=engine.now(),
        creator_request_id=str(body.get("CreatorRequestId") or uuid.uuid4()),
    )
    with engine.lock:
        engine.selections[selection.selection_id] = selection
    return ok(selection_view(selection, full=False))


def _selection_of(engine: BackupBackend, p: dict[str, str]) -> Selection:
    with engine.lock:
        selection = engine.selections.get(p["selection"])
    if selection is None or selection.plan_id != p["plan"]:
        raise AwsError("ResourceNotFoundException", f"Backup selection {p['selection']} does not exist in plan {p['plan']}")
    return selection


def _get_selection(engine: BackupBackend, request: AwsRequest, p: dict[str, str]) -> CapturedResponse:
    return ok(selection_view(_selection_of(engine, p), full=True))


def _delete_selection(engine: BackupBackend, request: AwsRequest, p: dict[str, str]) -> CapturedResponse:
    selection = _selection_of(engine, p)
    with engine.lock:
        engine.selections.pop(selection.selection_id, None)
    return ok({})


def _list_selections(engine: BackupBackend, request: AwsRequest, p: dict[str, str]) -> CapturedResponse:
    _plan(request, p["plan"])
    with engine.lock:
        found = [selection_view(s, full=False) for s in engine.selections.values() if s.plan_id == p["plan"]]
    return page(request, "BackupSelectionsList", found)


def _delete_plan(engine: BackupBackend, request: AwsRequest, p: dict[str, str]) -> CapturedResponse | None:
    with engine.lock:
        if any(s.plan_id == p["plan"] for s in engine.selections.values()):
            raise AwsError("InvalidRequestException", PLAN_HAS_SELECTIONS)
    return None


def _create_plan(engine: BackupBackend, request: AwsRequest, p: dict[str, str]) -> CapturedResponse | None:
    name = str((request.json_body.get("BackupPlan") or {}).get("BackupPlanName", ""))
    moto_backup.backup_forget_deleted_plans(request.region, name)
    return None  # moto creates it


def _update_plan(engine: BackupBackend, request: AwsRequest, p: dict[str, str]) -> CapturedResponse:
    document = request.json_body.get("BackupPlan")
    if not isinstance(document, dict) or not document.get("Rules"):
        raise AwsError("InvalidParameterValueException", "UpdateBackupPlan needs a BackupPlan with Rules")
    updated = moto_backup.backup_update_plan(request.region, p["plan"], document)
    if updated is None:
        raise AwsError("ResourceNotFoundException", f"Failed reading Backup plan with provided version: {p['plan']}")
    return ok(updated)


def _delete_vault(engine: BackupBackend, request: AwsRequest, p: dict[str, str]) -> CapturedResponse | None:
    with engine.lock:
        count = sum(1 for r in engine.points.values() if r.vault_name == p["vault"] and r.region == request.region)
    if count:
        raise AwsError("InvalidRequestException", VAULT_NOT_EMPTY.format(count=count))
    return None


def _start_backup_job(engine: BackupBackend, request: AwsRequest, p: dict[str, str]) -> CapturedResponse:
    body = request.json_body
    _vault(request, str(body.get("BackupVaultName", "")))
    lifecycle = {k: int(v) for k, v in (body.get("Lifecycle") or {}).items() if isinstance(v, (int, float))}
    cold, delete = lifecycle.get("MoveToColdStorageAfterDays"), lifecycle.get("DeleteAfterDays")
    if cold and delete and delete < cold + 90:
        raise AwsError("InvalidParameterValueException", "DeleteAfterDays must be at least 90 days after MoveToColdStorageAfterDays")
    job = engine.start_backup_job(
        request.region, str(body["BackupVaultName"]), str(body.get("ResourceArn", "")), str(body.get("IamRoleArn", "")),
        lifecycle=lifecycle, recovery_point_tags=dict(body.get("RecoveryPointTags") or {}),
    )
    return ok({"BackupJobId": job.job_id, "RecoveryPointArn": job.recovery_point_arn, "CreationDate": job.creation_date,
                "IsParent": False})


def _backup_job(engine: BackupBackend, job_id: str) -> BackupJob:
    with engine.lock:
        job = engine.jobs.get(job_id)
    if job is None:
        raise AwsError("ResourceNotFoundException", f"Backup job {job_id} does not exist")
    return job


def _describe_backup_job(engine: BackupBackend, request: AwsRequest, p: dict[str, str]) -> CapturedResponse:
    return ok(job_view(engine, _backup_job(engine, p["job"])))


def _stop_backup_job(engine: BackupBackend, request: AwsRequest, p: dict[str, str]) -> CapturedResponse:
    engine.stop_backup_job(_backup_job(engine, p["job"]))
    return ok({})


def _list_backup_jobs(engine: BackupBackend, request: AwsRequest, p: dict[str, str]) -> CapturedResponse:
    state, arn, vault, kind = (query(request, n) for n in ("state", "resourceArn", "backupVaultName", "resourceType"))
    created = (time_query(request, "createdAfter"), time_query(request, "createdBefore"))
    completed = (time_query(request, "completeAfter"), time_query(request, "completeBefore"))
    with engine.lock:
        jobs = sorted((j for j in engine.jobs.values() if j.region == request.region), key=lambda j: j.creation_date, reverse=True)
        found = [
            job_view(engine, j) for j in jobs
            if (state is None or j.state == state) and (arn is None or j.resource_arn == arn)
            and (vault is None or j.vault_name == vault) and (kind is None or j.resource_type == kind)
            and within(j.creation_date, *created) and within(j.completion_date, *completed)
        ]
    return page(request, "BackupJobs", found)


def _list_points(engine: BackupBackend, request: AwsRequest, p: dict[str, str]) -> CapturedResponse:
    _vault(request, p["vault"])
    arn, kind, plan = (query(request, n) for n in ("resourceArn", "resourceType", "backupPlanId"))
    created = (time_query(request, "createdAfter"), time_query(request, "createdBefore"))
    with engine.lock:
        points = sorted((r for r in engine.points.values() if r.region == request.region and r.vault_name == p["vault"]),
                        key=lambda r: r.creation_date, reverse=True)
        found = [
            point_view(engine, r) for r in points
            if (arn is None or r.resource_arn == arn) and (kind is None or r.resource_type == kind)
            and (plan is None or r.created_by.get("BackupPlanId") == plan) and within(r.creation_date, *created)
        ]
    return page(request, "RecoveryPoints", found)


def _describe_point(engine: BackupBackend, request: AwsRequest, p: dict[str, str]) -> CapturedResponse:
    return ok(point_view(engine, _recovery_point(engine, request, p["point"], p["vault"])))


def _delete_point(engine: BackupBackend, request: AwsRequest, p: dict[str, str]) -> CapturedResponse:
    engine.delete_recovery_point(_recovery_point(engine, request, p["point"], p["vault"]))
    return ok({})


def _update_point_lifecycle(engine: BackupBackend, request: AwsRequest, p: dict[str, str]) -> CapturedResponse:
    point = _recovery_point(engine, request, p["point"], p["vault"])
    lifecycle = {k: int(v) for k, v in (request.json_body.get("Lifecycle") or {}).items() if isinstance(v, (int, float))}
    cold, delete = lifecycle.get("MoveToColdStorageAfterDays"), lifecycle.get("DeleteAfterDays")
    if cold and delete and delete < cold + 90:
        raise AwsError("InvalidParameterValueException", "DeleteAfterDays must be at least 90 days after MoveToColdStorageAfterDays")
    with engine.lock:
        point.lifecycle = lifecycle
    described = point_view(engine, point)
    return ok({k: described[k] for k in ("BackupVaultArn", "RecoveryPointArn", "Lifecycle", "CalculatedLifecycle")})


def _restore_metadata(engine: BackupBackend, request: AwsRequest, p: dict[str, str]) -> CapturedResponse:
    point = _recovery_point(engine, request, p["point"], p["vault"])
    name = resource_name(point.resource_arn)
    metadata = {"DynamoDB": {"targetTableName": name},
                "S3": {"DestinationBucketName": name, "NewBucket": "false"}}.get(point.resource_type, {})
    return ok({"BackupVaultArn": point.vault_arn, "RecoveryPointArn": point.arn, "RestoreMetadata": metadata,
                "ResourceType": point.resource_type})


def _points_by_resource(engine: BackupBackend, request: AwsRequest, p: dict[str, str]) -> CapturedResponse:
    with engine.lock:
        points = sorted((r for r in engine.points.values() if r.region == request.region and r.resource_arn == p["resource"]),
                        key=lambda r: r.creation_date, reverse=True)
        found = [
            {"RecoveryPointArn": r.arn, "CreationDate": r.creation_date, "Status": "COMPLETED", "BackupSizeBytes": r.capture.size_bytes,
             "BackupVaultName": r.vault_name, "IsParent": False, "ResourceName": resource_name(r.resource_arn)}
            for r in points
        ]
    return page(request, "RecoveryPoints", found)


def _protected_resources(engine: BackupBackend, request: AwsRequest, p: dict[str, str]) -> CapturedResponse:
    latest: dict[str, float] = {}
    with engine.lock:
        for r in engine.points.values():
            if r.region == request.region:
                latest[r.resource_arn] = max(latest.get(r.resource_arn, 0.0), r.creation_date)
    found = [{"ResourceArn": a, "ResourceType": resource_type(a), "LastBackupTime": t, "ResourceName": resource_name(a)}
             for a, t in sorted(latest.items())]
    return page(request, "Results", found)


def _start_restore_job(engine: BackupBackend, request: AwsRequest, p: dict[str, str]) -> CapturedResponse:
    body = request.json_body
    point = _recovery_point(engine, request, str(body.get("RecoveryPointArn", "")))
    metadata = {str(k): str(v) for k, v in (body.get("Metadata") or {}).items()}
    job = engine.start_restore_job(point, metadata, str(body.get("IamRoleArn", "")))
    return ok({"RestoreJobId": job.job_id})


def _describe_restore_job(engine: BackupBackend, request: AwsRequest, p: dict[str, str]) -> CapturedResponse:
    with engine.lock:
        job = engine.restores.get(p["job"])
    if job is None:
        raise AwsError("ResourceNotFoundException", f"Restore job {p['job']} does not exist")
    return ok(restore_view(engine, job))


def _list_restore_jobs(engine: BackupBackend, request: AwsRequest, p: dict[str, str]) -> CapturedResponse:
    status, kind = query(request, "status"), query(request, "resourceType")
    created = (time_query(request, "createdAfter"), time_query(request, "createdBefore"))
    with engine.lock:
        jobs = sorted((j for j in engine.restores.values() if j.region == request.region), key=lambda j: j.creation_date, reverse=True)
        found = [restore_view(engine, j) for j in jobs
                 if (status is None or j.status == status) and (kind is None or j.resource_type == kind)
                 and within(j.creation_date, *created)]
    return page(request, "RestoreJobs", found)


_HANDLERS: dict[str, Handler] = {
    "CreateBackupSelection": _create_selection,
    "ListBackupSelections": _list_selections,
    "GetBackupSelection": _get_selection,
    "DeleteBackupSelection": _delete_selection,
    "DeleteBackupPlan": _delete_plan,
    "CreateBackupPlan": _create_plan,
    "UpdateBackupPlan": _update_plan,
    "DeleteBackupVault": _delete_vault,
    "StartBackupJob": _start_backup_job,
    "ListBackupJobs": _list_backup_jobs,
    "DescribeBackupJob": _describe_backup_job,
    "StopBackupJob": _stop_backup_job,
    "ListRecoveryPointsByBackupVault": _list_points,
    "GetRecoveryPointRestoreMetadata": _restore_metadata,
    "DescribeRecoveryPoint": _describe_point,
    "DeleteRecoveryPoint": _delete_point,
    "UpdateRecoveryPointLifecycle": _update_point_lifecycle,
    "ListRecoveryPointsByResource": _points_by_resource,
    "ListProtectedResources": _protected_resources,
    "StartRestoreJob": _start_restore_job,
    "ListRestoreJobs": _list_restore_jobs,
    "DescribeRestoreJob": _describe_restore_job,
}
# botocore's names of the path labels, as the handlers name them.
_LABELS = {"backupPlanId": "plan", "selectionId": "selection", "backupVaultName": "vault", "recoveryPointArn": "point",
           "backupJobId": "job", "restoreJobId": "job", "resourceArn": "resource"}


def answer(engine: BackupBackend, request: AwsRequest) -> CapturedResponse | None:
    """Serve the request if it is one moto lacks; None passes it on to moto."""
    handler = _HANDLERS.get(request.operation)
    if handler is None:
        return None
    params = {_LABELS.get(name, name): value for name, value in request.path_params.items()}
    try:
        return handler(engine, request, params)
    except AwsError as exc:
        return refuse(exc.code, str(exc))
    except (KeyError, TypeError, ValueError) as exc:
        return refuse("InvalidParameterValueException", f"invalid {request.operation} request: {type(exc).__name__}: {exc}")


def amend(engine: BackupBackend, request: AwsRequest, response: CapturedResponse) -> None:
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


class BackupResponses(BaseEngine):
    """AWS Backup's HTTP path: answer what moto lacks, amend what moto answers, run what came due."""

    def __init__(self, backend: BackupBackend) -> None:
        self._backend = backend

    def before(self, request: AwsRequest) -> CapturedResponse | None:
        if request.service != "backup":
            return None
        self._backend.tick()
        return answer(self._backend, request)

    def after(self, request: AwsRequest, response: CapturedResponse) -> None:
        if request.service != "backup" or not response.ok:
            return
        amend(self._backend, request, response)

    def tick(self) -> None:
        self._backend.tick()
