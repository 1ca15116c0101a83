"""Read one resource's DR settings back from the target, in the workload config's terms.

Each reader takes what the account shows (a bucket's replication rule and S3 Inventory, a table's PITR and replicas,
a file system's backup settings, a compute environment's zones, a backup plan's rules) and returns the
config's keys for it, plus a note for each setting it could not read. Nothing here writes.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from drharness.compliance.selection import selection_selects
from drharness.config.models import INVENTORY_FIELDS, INVENTORY_TIERS, BucketInventory
from drharness.deploy import inventory
from drharness.deploy.common import TIER_TAG, error_code, tag_map
from drharness.target import Target

TIERS = ("critical", "important", "standard")


@dataclass
class Found:
    """One resource as the config will describe it: its keys, and what could not be read, as notes."""

    kind: str  # a collection of the config (buckets, tables, ..., dr_stacks, topics, schedules)
    values: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def _safe(call: Any, *missing: str) -> Any:
    """The answer of `call()`, or None where the target says the thing is not there (`missing` codes)."""
    try:
        return call()
    except ClientError as exc:
        if error_code(exc) in missing:
            return None
        raise


def tier_of(tags: dict[str, str], default: str, notes: list[str], what: str) -> str:
    """The resource's tier from its DRTier tag, or `default` (said in a note)."""
    tier = tags.get(TIER_TAG, "").strip().lower()
    if tier in TIERS:
        return tier
    if tier:
        notes.append(f"{what}: tag {TIER_TAG}={tags[TIER_TAG]!r} is not a tier ({', '.join(TIERS)}); "
                     f"the default {default!r} is used")
    else:
        notes.append(f"{what}: no {TIER_TAG} tag; the default tier {default!r} is used")
    return default


def kms_alias(target: Target, region: str, key: str | None) -> str | None:
    """The alias of a KMS key (by ARN, id or alias) in `region`: what the config names keys by."""
    if not key:
        return None
    if key.startswith("alias/"):
        return key
    kms = target.client("kms", region)
    key_id = key.rsplit("/", 1)[-1]
    for page in kms.get_paginator("list_aliases").paginate():
        for alias in page.get("Aliases", []):
            if alias.get("TargetKeyId") == key_id and not str(alias.get("AliasName", "")).startswith("alias/aws/"):
                return str(alias["AliasName"])
    return None


def bucket_region(target: Target, bucket: str) -> str:
    location = target.client("s3", "us-east-1").get_bucket_location(Bucket=bucket).get("LocationConstraint")
    return str(location or "us-east-1")


def bucket_tags(target: Target, bucket: str, region: str) -> dict[str, str]:
    answer = _safe(lambda: target.client("s3", region).get_bucket_tagging(Bucket=bucket), "NoSuchTagSet")
    return tag_map((answer or {}).get("TagSet"))


def replication(target: Target, bucket: str, region: str) -> dict[str, Any] | None:
    answer = _safe(lambda: target.client("s3", region).get_bucket_replication(Bucket=bucket),
                   "ReplicationConfigurationNotFoundError", "NoSuchBucket")
    return dict(answer["ReplicationConfiguration"]) if answer else None


def read_bucket(target: Target, bucket: str, region: str, config: dict[str, Any], default_tier: str) -> Found:
    """A replicated bucket: its first enabled rule (by priority) as `[buckets.replication]`."""
    notes: list[str] = []
    tags = bucket_tags(target, bucket, region)
    rules = sorted(config.get("Rules", []), key=lambda r: (r.get("Status") != "Enabled", int(r.get("Priority") or 0)))
    rule = rules[0]
    if len(rules) > 1:
        notes.append(f"bucket {bucket}: {len(rules)} replication rules; the config describes rule {rule.get('ID')} "
                     f"(the others: {', '.join(str(r.get('ID')) for r in rules[1:])})")
    if rule.get("Status") != "Enabled":
        notes.append(f"bucket {bucket}: rule {rule.get('ID')} is {rule.get('Status')}; the config asks for it enabled")
    destination = rule.get("Destination") or {}
    backup_bucket = str(destination.get("Bucket", "")).rsplit(":", 1)[-1]
    replica_region = bucket_region(target, backup_bucket) if backup_bucket else None
    prefix = (rule.get("Filter") or {}).get("Prefix", (rule.get("Filter") or {}).get("And", {}).get("Prefix", rule.get("Prefix", "")))
    rtc = destination.get("ReplicationTime") or {}
    minutes = (rtc.get("Time") or {}).get("Minutes") if rtc.get("Status") == "Enabled" else None
    replica_key = (destination.get("EncryptionConfiguration") or {}).get("ReplicaKmsKeyID")
    alias = kms_alias(target, replica_region, replica_key) if replica_region else None
    replication_values: dict[str, Any] = {
        "rule_id": str(rule.get("ID")),
        "prefix": str(prefix or ""),
        "priority": int(rule.get("Priority") or 0),
        "delete_marker_replication": (rule.get("DeleteMarkerReplication") or {}).get("Status") == "Enabled",
        "storage_class": str(destination.get("StorageClass") or "STANDARD"),
        "rtc_minutes": int(minutes) if minutes else None,
    }
    if alias:
        replication_values["replica_kms_key"] = alias
    else:
        notes.append(f"bucket {bucket}: the replica KMS key {replica_key or '(none)'} has no alias in "
                     f"{replica_region}; replica_kms_key is left at its default")
    values = {
        "tier": tier_of(tags, default_tier, notes, f"bucket {bucket}"),
        "name": bucket,
        "backup_name": backup_bucket,
        "replication": replication_values,
        "_replica_region": replica_region,
        "_arn": f"arn:aws:s3:::{bucket}",
        "_tags": tags,
    }
    described = read_inventory(target, bucket, region, values["tier"], tags, notes)
    if described:
        values["inventory"] = described
    return Found("buckets", values, notes)


def read_inventory(target: Target, bucket: str, region: str, tier: str, tags: dict[str, str],
                   notes: list[str]) -> dict[str, Any]:
    """The bucket's S3 Inventory as `[buckets.inventory]`: the configuration with the default id, else the first
    enabled one; `enabled` is written where the target differs from what the tier gives, the destination where it
    is not the default's."""
    by_tier = tier in INVENTORY_TIERS
    listed = _safe(lambda: target.client("s3", region).list_bucket_inventory_configurations(Bucket=bucket), "NoSuchBucket")
    entries = list((listed or {}).get("InventoryConfigurationList", []))
    default = BucketInventory()
    entry = next((e for e in entries if e.get("Id") == default.config_id), None) or next(
        (e for e in entries if e.get("IsEnabled")), entries[0] if entries else None)
    config = inventory.configuration(target, bucket, region, str(entry["Id"])) if entry else None
    if config is None:
        return {"enabled": False} if by_tier else {}
    if len(entries) > 1:
        notes.append(f"bucket {bucket}: {len(entries)} inventory configurations; the config describes {config['Id']}")
    dest = (config.get("Destination") or {}).get("S3BucketDestination") or {}
    enabled = bool(config.get("IsEnabled"))
    values: dict[str, Any] = {**({"enabled": enabled} if enabled != by_tier else {}), "config_id": str(config["Id"]),
                              "frequency": (config.get("Schedule") or {}).get("Frequency", default.frequency)}
    if dest.get("Format") in ("Parquet", "CSV"):
        values["format"] = dest["Format"]
    else:
        notes.append(f"bucket {bucket}: inventory format {dest.get('Format')} is not one drharness reads (Parquet, "
                     f"CSV); format is left at its default")
    values["prefix"] = str(dest.get("Prefix") or "").strip("/")
    if config.get("IncludedObjectVersions") in ("Current", "All"):
        values["include_versions"] = config["IncludedObjectVersions"]
    fields = [str(f) for f in config.get("OptionalFields") or []]
    values["optional_fields"] = [f for f in fields if f in INVENTORY_FIELDS]
    if len(values["optional_fields"]) < len(fields):
        notes.append(f"bucket {bucket}: inventory fields {', '.join(f for f in fields if f not in INVENTORY_FIELDS)} "
                     "are not ones drharness knows; they are left out")
    destination = _destination_template(str(dest.get("Bucket", "")).rsplit(":", 1)[-1], region, tags)
    if destination:
        values["destination_bucket"] = destination
    elif destination is None:
        notes.append(f"bucket {bucket}: its inventory goes to {dest.get('Bucket')}, a name without its region "
                     f"{region}; the replica's must go to a bucket in its own region, so destination_bucket is left at "
                     "its default (set it to a name with ${region})")
    return values


def _destination_template(name: str, region: str, tags: dict[str, str]) -> str | None:
    """The destination as a per-region template: "" when it is the default's, None when its name has no region."""
    default = BucketInventory().destination_bucket
    known = {"project": tags.get("Project", ""), "environment": tags.get("Environment", ""), "region": region}
    if all(known.values()) and string.Template(default).safe_substitute(known) == name:
        return ""
    return name.replace(region, "${region}") if region in name else None


def read_table(target: Target, name: str, region: str, default_tier: str) -> Found:
    """A table's keys, PITR, stream, SSE-KMS key and replica regions."""
    notes: list[str] = []
    ddb = target.client("dynamodb", region)
    table = ddb.describe_table(TableName=name)["Table"]
    keys = {k["KeyType"]: k["AttributeName"] for k in table.get("KeySchema", [])}
    tags = tag_map(ddb.list_tags_of_resource(ResourceArn=table["TableArn"]).get("Tags"))
    backups = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    pitr = (backups.get("PointInTimeRecoveryDescription") or {}).get("PointInTimeRecoveryStatus") == "ENABLED"
    stream = table.get("StreamSpecification") or {}
    sse = table.get("SSEDescription") or {}
    kms_key = kms_alias(target, region, sse.get("KMSMasterKeyArn")) if sse.get("SSEType") == "KMS" else None
    values: dict[str, Any] = {
        "tier": tier_of(tags, default_tier, notes, f"table {name}"),
        "name": name,
        "hash_key": keys.get("HASH"),
        "range_key": keys.get("RANGE"),
        "pitr": pitr,
        "stream_view_type": stream.get("StreamViewType") if stream.get("StreamEnabled") else None,
        "sse_kms": kms_key is not None,
        "replica_regions": sorted(str(r["RegionName"]) for r in table.get("Replicas", []) if r.get("RegionName") != region),
        "_arn": table["TableArn"],
        "_tags": tags,
    }
    if kms_key:
        values["kms_key"] = kms_key
    elif sse.get("SSEType") == "KMS":
        notes.append(f"table {name}: its KMS key {sse.get('KMSMasterKeyArn')} has no alias; kms_key is left at its default")
    if any(k.get("AttributeType") != "S" for k in table.get("AttributeDefinitions", []) if k["AttributeName"] in keys.values()):
        notes.append(f"table {name}: a key attribute is not a string; the probes write string keys")
    return Found("tables", values, notes)


def read_file_system(target: Target, fs: dict[str, Any], default_tier: str) -> Found:
    notes: list[str] = []
    tags = tag_map(fs.get("Tags"))
    name = tags.get("Name") or fs["FileSystemId"]
    if "Name" not in tags:
        notes.append(f"file system {fs['FileSystemId']} has no Name tag; drharness finds its file system by that tag")
    kind = str(fs.get("FileSystemType", "LUSTRE"))
    settings = fs.get(f"{kind.title().replace('Openzfs', 'OpenZFS')}Configuration") or fs.get("LustreConfiguration") or {}
    values: dict[str, Any] = {
        "tier": tier_of(tags, default_tier, notes, f"file system {name}"),
        "name": name,
        "type": kind,
        "storage_gib": int(fs.get("StorageCapacity") or 1200),
        "automatic_backup_retention_days": int(settings.get("AutomaticBackupRetentionDays") or 0),
        "_arn": str(fs.get("ResourceARN", "")),
        "_tags": tags,
    }
    start = str(settings.get("DailyAutomaticBackupStartTime") or "")
    if re.fullmatch(r"\d\d:\d\d", start):
        values["daily_backup_start_time"] = start
    return Found("file_systems", values, notes)


def read_compute(target: Target, ce: dict[str, Any], region: str, default_tier: str) -> Found:
    notes: list[str] = []
    resources = ce.get("computeResources") or {}
    subnets = resources.get("subnets", [])
    zones: list[str] = []
    if subnets:
        described = target.client("ec2", region).describe_subnets(SubnetIds=subnets)["Subnets"]
        zones = sorted({str(s["AvailabilityZone"])[len(region):] for s in described})
    batch = target.client("batch", region)
    queues = [q["jobQueueName"] for q in batch.describe_job_queues().get("jobQueues", [])
              if any(o.get("computeEnvironment") in (ce["computeEnvironmentArn"], ce["computeEnvironmentName"])
                     for o in q.get("computeEnvironmentOrder", []))]
    values: dict[str, Any] = {
        "tier": tier_of(dict(ce.get("tags") or {}), default_tier, notes, f"compute environment {ce['computeEnvironmentName']}"),
        "name": ce["computeEnvironmentName"],
        "availability_zones": zones or ["a"],
        "max_vcpus": int(resources.get("maxvCpus") or 256),
    }
    if resources.get("instanceTypes"):
        values["instance_types"] = list(resources["instanceTypes"])
    if queues:
        values["job_queue"] = queues[0]
        if len(queues) > 1:
            notes.append(f"compute environment {values['name']}: queues {', '.join(queues)}; the config names {queues[0]}")
    else:
        notes.append(f"compute environment {values['name']}: no job queue uses it; job_queue is left at its default")
    if not zones:
        notes.append(f"compute environment {values['name']}: no subnets read; availability_zones assumed ['a']")
    return Found("compute_environments", values, notes)


def read_backup_plans(target: Target, region: str, resources: list[tuple[str, dict[str, str]]]) -> list[Found]:
    """Each backup plan with a selection that picks one of the workload's resources (ARN, tags), by ARN or by tag."""
    backup = target.client("backup", region)
    found: list[Found] = []
    for page in backup.get_paginator("list_backup_plans").paginate():
        for item in page.get("BackupPlansList", []):
            plan_id = item["BackupPlanId"]
            selections = backup.list_backup_selections(BackupPlanId=plan_id).get("BackupSelectionsList", [])
            for listed in selections:
                body = backup.get_backup_selection(BackupPlanId=plan_id, SelectionId=listed["SelectionId"])["BackupSelection"]
                if any(selection_selects(body, arn, tags) for arn, tags in resources):
                    found.append(_plan_found(backup.get_backup_plan(BackupPlanId=plan_id)["BackupPlan"], body))
                    break
    return found


def _plan_found(plan: dict[str, Any], selection: dict[str, Any]) -> Found:
    notes: list[str] = []
    rules = []
    for rule in plan.get("Rules", []):
        lifecycle = rule.get("Lifecycle") or {}
        entry: dict[str, Any] = {"name": rule["RuleName"], "schedule": rule.get("ScheduleExpression", "")}
        for key, source in (("start_window_minutes", "StartWindowMinutes"),
                            ("completion_window_minutes", "CompletionWindowMinutes")):
            if rule.get(source) is not None:
                entry[key] = int(rule[source])
        for key, source in (("move_to_cold_storage_after_days", "MoveToColdStorageAfterDays"),
                            ("delete_after_days", "DeleteAfterDays")):
            if lifecycle.get(source) is not None:
                entry[key] = int(lifecycle[source])
        if rule.get("RecoveryPointTags"):
            entry["recovery_point_tags"] = dict(rule["RecoveryPointTags"])
        rules.append(entry)
    vaults = {str(r.get("TargetBackupVaultName")) for r in plan.get("Rules", [])}
    if len(vaults) > 1:
        notes.append(f"backup plan {plan['BackupPlanName']}: rules target vaults {', '.join(sorted(vaults))}; the config names one")
    conditions = selection.get("ListOfTags") or []
    values: dict[str, Any] = {"vault": sorted(vaults)[0] if vaults else "", "plan": plan["BackupPlanName"],
                              "selection": selection["SelectionName"], "rules": rules, "_selection": selection}
    if conditions:
        values["selection_tag_key"] = conditions[0]["ConditionKey"]
        values["selection_tag_value"] = conditions[0]["ConditionValue"]
    else:
        notes.append(f"backup selection {selection['SelectionName']}: no tag condition; selection_tag_key is left at its default")
    return Found("backup_plans", values, notes)


def read_dr_stacks(target: Target, region: str, project_tags: dict[str, str]) -> list[Found]:
    """Each stack in the DR region whose parameters switch DR resources on (as the guide's EnableDRResources)."""
    cfn = target.client("cloudformation", region)
    try:
        stacks = [s for page in cfn.get_paginator("describe_stacks").paginate() for s in page.get("Stacks", [])]
    except (ClientError, BotoCoreError):
        return []
    found = []
    for stack in sorted(stacks, key=lambda s: str(s.get("CreationTime", ""))):
        if str(stack.get("StackStatus", "")).startswith("DELETE"):
            continue
        tags = tag_map(stack.get("Tags"))
        parameters = [p["ParameterKey"] for p in stack.get("Parameters", [])]
        enable = next((p for p in parameters if p.lower().startswith("enable")), None)
        values = {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters", [])}
        ours = (not project_tags or all(tags.get(k) == v for k, v in project_tags.items())
                or values.get("ProjectName") == project_tags.get("Project"))
        if enable and ours:
            found.append(Found("dr_stacks", {"name": stack["StackName"], "enable_parameter": enable,
                                             "_parameters": values}, []))
    return found
