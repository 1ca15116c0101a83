"""AWS Backup: the vault, the plan with the guide's daily and weekly rules, and the selection."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from drharness.config import BackupRule, Workload
from drharness.deploy import iam, kms, names
from drharness.deploy.common import ApplyLog, Checker, call, error_code, is_unsupported
from drharness.target import Target

SELECTION = "BackupSelection"
SELECTION_UNSUPPORTED = "the target has no AWS Backup selection API (CreateBackupSelection/ListBackupSelections)"


def vault_resource(name: str) -> str:
    return f"backup vault {name}"


def plan_resource(name: str) -> str:
    return f"backup plan {name}"


def rule_property(rule: str, field: str) -> str:
    return f"Rules[{rule}].{field}"


def _rule(rule: BackupRule, vault: str) -> dict[str, Any]:
    lifecycle = {
        key: value
        for key, value in (
            ("MoveToColdStorageAfterDays", rule.move_to_cold_storage_after_days),
            ("DeleteAfterDays", rule.delete_after_days),
        )
        if value is not None
    }
    body: dict[str, Any] = {
        "RuleName": rule.name,
        "TargetBackupVaultName": vault,
        "ScheduleExpression": rule.schedule,
        "StartWindowMinutes": rule.start_window_minutes,
        "CompletionWindowMinutes": rule.completion_window_minutes,
    }
    if lifecycle:
        body["Lifecycle"] = lifecycle
    if rule.recovery_point_tags:
        body["RecoveryPointTags"] = dict(rule.recovery_point_tags)
    return body


def wanted_plan(workload: Workload) -> dict[str, Any]:
    return {
        "BackupPlanName": workload.backup_plan,
        "Rules": [_rule(rule, workload.backup_vault) for rule in workload.spec.backup.rules],
    }


def find_plan(target: Target, workload: Workload) -> dict[str, Any] | None:
    """The plan named in the config (its latest version), or None."""
    backup = target.client("backup", workload.primary_region)
    for page in backup.get_paginator("list_backup_plans").paginate():
        for item in page.get("BackupPlansList", []):
            if item.get("BackupPlanName") == workload.backup_plan and not item.get("DeletionDate"):
                return dict(backup.get_backup_plan(BackupPlanId=item["BackupPlanId"]))
    return None


def _selection_spec(target: Target, workload: Workload) -> dict[str, Any]:
    spec = workload.spec.backup
    region = workload.primary_region
    ddb = target.client("dynamodb", region)
    mine = workload.spec.backup.id

    def kept(view: Workload, resource: Any) -> bool:  # by this plan (the one in `workload`'s focus)
        return bool(resource.backup_required) and view.plan_of(resource).spec.backup.id == mine

    table_arns = [ddb.describe_table(TableName=view.metadata_table)["Table"]["TableArn"]
                  for view in workload.each_table() if kept(view, view.spec.table)]
    return {
        "SelectionName": workload.name(spec.selection),
        "IamRoleArn": iam.role_arn(target, names.backup_role(workload)),
        # Resources and ListOfTags are ORed: the table and bucket by ARN, and everything tagged for
        # backup (the FSx file system among them). The guide's `Conditions` would AND with the
        # ARNs and leave the file system out of every backup.
        "Resources": [*table_arns, *(f"arn:aws:s3:::{view.data_bucket}" for view in workload.each_bucket()
                                     if kept(view, view.spec.bucket))],
        "ListOfTags": [
            {
                "ConditionType": "STRINGEQUALS",
                "ConditionKey": spec.selection_tag_key,
                "ConditionValue": spec.selection_tag_value,
            }
        ],
    }


def apply(target: Target, workload: Workload, log: ApplyLog) -> None:
    for view in workload.each_backup_plan():
        _apply_plan(target, view, log)


def _apply_plan(target: Target, workload: Workload, log: ApplyLog) -> None:
    region = workload.primary_region
    backup = target.client("backup", region)
    vault = workload.backup_vault
    try:
        found = backup.describe_backup_vault(BackupVaultName=vault)
        log.add("backup vault", vault, region, "unchanged", str(found.get("BackupVaultArn", "")))
    except ClientError as exc:
        if error_code(exc) not in ("ResourceNotFoundException", "AccessDeniedException"):
            raise
        created = call(
            f"backup.create_backup_vault {vault}",
            backup.create_backup_vault,
            BackupVaultName=vault,
            EncryptionKeyArn=kms.key_arn(target, region, names.data_key_alias(workload)),
            BackupVaultTags={
                "Project": workload.spec.project,
                "Environment": workload.spec.environment,
                "Purpose": "DisasterRecovery",
            },
        )
        log.add("backup vault", vault, region, "created", str(created.get("BackupVaultArn", "")))
    plan = find_plan(target, workload)
    wanted = wanted_plan(workload)
    if plan is None:
        plan_id = call(f"backup.create_backup_plan {workload.backup_plan}", backup.create_backup_plan,
                       BackupPlan=wanted)["BackupPlanId"]
        log.add("backup plan", workload.backup_plan, region, "created", plan_id)
    else:
        plan_id = plan["BackupPlanId"]
        scratch = Checker()
        _check_rules(workload, plan, scratch)
        if scratch.findings:
            plan_id = _replace_plan(backup, workload, plan_id, wanted)
            log.add("backup plan", workload.backup_plan, region, "updated", plan_id)
        else:
            log.add("backup plan", workload.backup_plan, region, "unchanged", plan_id)
    _apply_selection(target, workload, backup, plan_id, log)


def _replace_plan(backup: Any, workload: Workload, plan_id: str, wanted: dict[str, Any]) -> str:
    try:
        backup.update_backup_plan(BackupPlanId=plan_id, BackupPlan=wanted)
        return plan_id
    except ClientError as exc:
        if not is_unsupported(exc):
            raise
    # A target without UpdateBackupPlan: replace the plan; AWS refuses to delete a plan that still
    # has selections, and the deploy puts the selection back on the new plan right after.
    for selection in _selections(backup, plan_id) or []:
        call(f"backup.delete_backup_selection {selection.get('SelectionName')}", backup.delete_backup_selection,
             BackupPlanId=plan_id, SelectionId=selection["SelectionId"])
    call(f"backup.delete_backup_plan {workload.backup_plan}", backup.delete_backup_plan, BackupPlanId=plan_id)
    return str(call(f"backup.create_backup_plan {workload.backup_plan}", backup.create_backup_plan,
                    BackupPlan=wanted)["BackupPlanId"])


def _selections(backup: Any, plan_id: str) -> list[dict[str, Any]] | None:
    """The plan's selections, or None when the target has no selection API."""
    try:
        return list(backup.list_backup_selections(BackupPlanId=plan_id).get("BackupSelectionsList", []))
    except ClientError as exc:
        if is_unsupported(exc):
            return None
        raise


def _apply_selection(target: Target, workload: Workload, backup: Any, plan_id: str, log: ApplyLog) -> None:
    spec = _selection_spec(target, workload)
    existing = _selections(backup, plan_id)
    name = spec["SelectionName"]
    if existing is None:
        return  # nothing to set it with; verification reports it as unverified
    match = next((s for s in existing if s.get("SelectionName") == name), None)
    if match is not None:
        log.add("backup selection", name, workload.primary_region, "unchanged", str(match.get("SelectionId", "")))
        return
    selection_id = call(f"backup.create_backup_selection {name}", backup.create_backup_selection,
                        BackupPlanId=plan_id, BackupSelection=spec)["SelectionId"]
    log.add("backup selection", name, workload.primary_region, "created", selection_id)


def _check_rules(workload: Workload, plan: dict[str, Any], check: Checker) -> None:
    resource = plan_resource(workload.backup_plan)
    rules = {r.get("RuleName"): r for r in (plan.get("BackupPlan") or {}).get("Rules", [])}
    for rule in workload.spec.backup.rules:
        actual = rules.get(rule.name)
        if actual is None:
            check.missing(resource, rule_property(rule.name, "RuleName"), rule.name)
            continue
        wanted = _rule(rule, workload.backup_vault)
        for field in ("TargetBackupVaultName", "ScheduleExpression", "StartWindowMinutes", "CompletionWindowMinutes"):
            check.expect(resource, rule_property(rule.name, field), wanted[field], actual.get(field))
        for field, value in (wanted.get("Lifecycle") or {}).items():
            check.expect(resource, rule_property(rule.name, f"Lifecycle.{field}"), value,
                         (actual.get("Lifecycle") or {}).get(field))
        check.expect(resource, rule_property(rule.name, "RecoveryPointTags"), wanted.get("RecoveryPointTags", {}),
                     actual.get("RecoveryPointTags") or {})


def verify(target: Target, workload: Workload, check: Checker) -> None:
    for view in workload.each_backup_plan():
        _verify_plan(target, view, check)


def _verify_plan(target: Target, workload: Workload, check: Checker) -> None:
    region = workload.primary_region
    backup = target.client("backup", region)
    vault = vault_resource(workload.backup_vault)
    try:
        found = backup.describe_backup_vault(BackupVaultName=workload.backup_vault)
    except ClientError as exc:
        if error_code(exc) not in ("ResourceNotFoundException", "AccessDeniedException"):
            raise
        check.missing(vault)
    else:
        check.expect(vault, "EncryptionKeyArn", kms.key_arn(target, region, names.data_key_alias(workload)),
                     found.get("EncryptionKeyArn"))
    plan = find_plan(target, workload)
    if plan is None:
        check.missing(plan_resource(workload.backup_plan))
        return
    _check_rules(workload, plan, check)
    _verify_selection(target, workload, backup, plan["BackupPlanId"], check)


def _verify_selection(target: Target, workload: Workload, backup: Any, plan_id: str, check: Checker) -> None:
    name = workload.name(workload.spec.backup.selection)
    resource = f"{plan_resource(workload.backup_plan)} selection {name}"
    selections = _selections(backup, plan_id)
    if selections is None:
        check.cannot_verify(resource, SELECTION, SELECTION_UNSUPPORTED)
        return
    match = next((s for s in selections if s.get("SelectionName") == name), None)
    if match is None:
        check.missing(resource)
        return
    body = backup.get_backup_selection(BackupPlanId=plan_id, SelectionId=match["SelectionId"])["BackupSelection"]
    iam.verify_role(target, body.get("IamRoleArn"), "backup.amazonaws.com", resource, "IamRoleArn", check)
    wanted = _selection_spec(target, workload)
    for arn in wanted["Resources"]:
        check.expect(resource, f"Resources[{arn}]", "selected", "selected" if arn in body.get("Resources", []) else None)
    tags = {(c.get("ConditionKey"), c.get("ConditionValue")) for c in body.get("ListOfTags", [])}
    condition = wanted["ListOfTags"][0]
    key = (condition["ConditionKey"], condition["ConditionValue"])
    check.expect(resource, f"ListOfTags[{key[0]}={key[1]}]", "selected", "selected" if key in tags else None)
