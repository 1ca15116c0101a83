"""AWS Backup as the world keeps it: selections, captures, recovery points, backup and restore jobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drharness.compliance.selection import selection_selects
from drharness.world.moto import s3 as moto_s3

DAY = 86400.0
JOB_HISTORY_DAYS = 30  # ListBackupJobs and ListRestoreJobs show the last 30 days, as in AWS
COLD_STORAGE_TYPES = frozenset({"DynamoDB"})  # S3 and FSx recovery points never move to cold storage

RESOURCE_MISSING = "Resource not found: {arn} does not exist in {region}"
REGION_UNAVAILABLE = "region {region} is unavailable"
VERSIONING_REQUIRED = "Bucket {bucket} must have versioning enabled to be backed up by AWS Backup"
METADATA_REQUIRED = "Metadata {key} is required to restore a {kind} recovery point"


def resource_type(arn: str) -> str | None:
    """The AWS Backup resource type of an ARN this world can back up, or None."""
    if arn.startswith("arn:aws:dynamodb:") and ":table/" in arn:
        return "DynamoDB"
    if arn.startswith("arn:aws:s3:::") and len(arn) > len("arn:aws:s3:::"):
        return "S3"
    if arn.startswith("arn:aws:fsx:") and ":file-system/" in arn:
        return "FSx"
    return None


def resource_name(arn: str) -> str:
    if arn.startswith("arn:aws:s3:::"):
        return arn[len("arn:aws:s3:::"):]
    return arn.rsplit("/", 1)[-1]


def resource_region(arn: str) -> str | None:
    """Where the resource lives: the ARN's region, or the bucket's region for S3 (None when missing)."""
    if arn.startswith("arn:aws:s3:::"):
        return moto_s3.bucket_region(resource_name(arn))
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 else None


@dataclass(frozen=True)
class Selection:
    """One resource assignment of a backup plan."""

    selection_id: str
    plan_id: str
    region: str
    name: str
    iam_role_arn: str
    document: dict[str, Any]  # the BackupSelection as created: what it assigns is read from here
    creation_date: float
    creator_request_id: str

    def selects(self, arn: str, tags: dict[str, str]) -> bool:
        """Whether this selection assigns `arn`, by the same rule the compliance coverage check applies."""
        return selection_selects(self.document, arn, tags)


@dataclass
class Capture:
    """What a backup job captured of its resource (opaque copies for this world's restores)."""

    size_bytes: int
    table: Any = None
    objects: list[moto_s3.S3ObjectCopy] | None = None
    fsx_backup_id: str = ""


@dataclass
class RecoveryPoint:
    arn: str
    region: str
    vault_name: str
    vault_arn: str
    resource_arn: str
    resource_type: str
    iam_role_arn: str
    creation_date: float
    completion_date: float
    lifecycle: dict[str, int]
    created_by: dict[str, str]
    capture: Capture
    backup_job_id: str
    last_restore_time: float | None = None

    def move_to_cold_at(self) -> float | None:
        days = self.lifecycle.get("MoveToColdStorageAfterDays")
        if not days or self.resource_type not in COLD_STORAGE_TYPES:
            return None
        return self.creation_date + days * DAY

    def delete_at(self) -> float | None:
        days = self.lifecycle.get("DeleteAfterDays")
        return None if not days else self.creation_date + days * DAY

    def storage_class(self, now: float) -> str:
        cold = self.move_to_cold_at()
        return "COLD" if cold is not None and cold <= now else "WARM"


@dataclass
class BackupJob:
    job_id: str
    region: str
    vault_name: str
    vault_arn: str
    resource_arn: str
    resource_type: str
    iam_role_arn: str
    recovery_point_arn: str
    creation_date: float
    lifecycle: dict[str, int]
    recovery_point_tags: dict[str, str]
    created_by: dict[str, str]
    state: str = "CREATED"
    status_message: str = ""
    started_at: float | None = None
    completion_date: float | None = None
    capture: Capture | None = None


@dataclass
class RestoreJob:
    job_id: str
    region: str
    recovery_point_arn: str
    resource_type: str
    iam_role_arn: str
    metadata: dict[str, str]
    creation_date: float
    recovery_point_creation_date: float
    size_bytes: int
    status: str = "PENDING"
    status_message: str = ""
    completion_date: float | None = None
    created_resource_arn: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
