"""moto's AWS Backup backends: vaults, plans and the tags of the resources a plan can select."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from moto.backup.models import backup_backends

from drharness.world.moto.core import DEFAULT_ACCOUNT_ID
from drharness.world.moto.dynamodb import dynamodb_backend
from drharness.world.moto.fsx import fsx_backend
from drharness.world.moto.s3 import s3_backend


def backup_backend(region: str, account_id: str = DEFAULT_ACCOUNT_ID) -> Any:
    return backup_backends[account_id][region]


def backup_regions(account_id: str = DEFAULT_ACCOUNT_ID) -> list[str]:
    """The regions where AWS Backup has been used (has a backend) in this world."""
    return list(backup_backends[account_id].keys())


def backup_vault_arn(region: str, name: str, account_id: str = DEFAULT_ACCOUNT_ID) -> str | None:
    vault = backup_backend(region, account_id).vaults.get(name)
    return None if vault is None else str(vault.backup_vault_arn)


def backup_plans(region: str, account_id: str = DEFAULT_ACCOUNT_ID) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(id, ARN, version id, a copy of the plan document) of every plan not deleted."""
    plans = list(backup_backend(region, account_id).plans.values())
    return [
        (str(p.backup_plan_id), str(p.backup_plan_arn), str(p.version_id), copy.deepcopy(p.backup_plan))
        for p in plans
        if p.deletion_date is None
    ]


def backup_forget_deleted_plans(region: str, name: str, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """Drop deleted plans named `name`: AWS lets a new plan take a deleted plan's name, moto does not."""
    plans = backup_backend(region, account_id).plans
    for plan_id in [i for i, p in plans.items() if p.deletion_date is not None and p.backup_plan.get("BackupPlanName") == name]:
        del plans[plan_id]


def backup_update_plan(region: str, plan_id: str, document: dict[str, Any], account_id: str = DEFAULT_ACCOUNT_ID) -> dict[str, Any] | None:
    """Replace a plan's document and give it a new version (moto has no UpdateBackupPlan); None if unknown."""
    plan = backup_backend(region, account_id).plans.get(plan_id)
    if plan is None or plan.deletion_date is not None:
        return None
    for rule in document.get("Rules", []):
        rule.setdefault("ScheduleExpression", "cron(0 5 ? * * *)")
        rule.setdefault("RuleId", str(uuid.uuid4()))
    plan.backup_plan = document
    plan.version_id = str(uuid.uuid4())
    return {"BackupPlanId": str(plan.backup_plan_id), "BackupPlanArn": str(plan.backup_plan_arn),
            "CreationDate": plan.creation_date, "VersionId": plan.version_id}


def backup_tag_resource(region: str, arn: str, tags: dict[str, str], account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """Tag an AWS Backup resource (a recovery point) so ListTags answers with them."""
    if tags:
        backup_backend(region, account_id).tag_resource(arn, dict(tags))


def tagged_resources(region: str, account_id: str = DEFAULT_ACCOUNT_ID) -> list[tuple[str, dict[str, str]]]:
    """ARN and tags of every DynamoDB table and FSx file system in `region` and every S3 bucket located there."""
    found: list[tuple[str, dict[str, str]]] = []
    for table in list(dynamodb_backend(region, account_id).tables.values()):
        found.append((str(table.table_arn), {t["Key"]: t["Value"] for t in (table.tags or [])}))
    s3 = s3_backend(account_id)
    for bucket in list(s3.buckets.values()):
        if bucket.region_name == region:
            tags = s3.tagger.get_tag_dict_for_resource(bucket.arn)
            found.append((f"arn:aws:s3:::{bucket.name}", dict(tags)))
    fsx = fsx_backend(region, account_id)
    for fs in list(fsx.file_systems.values()):
        found.append((str(fs.resource_arn), dict(fsx.tagger.get_tag_dict_for_resource(fs.resource_arn))))
    return found
