"""S3: the data bucket and its cross-region replication, the backup bucket, and the config buckets.

The inventory's destination buckets are made with the same `ensure_bucket` (deploy/inventory.py).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from drharness.config import Workload
from drharness.deploy import iam, kms, names
from drharness.deploy.common import ApplyLog, Checker, backup_tags, call, error_code, tag_list, tag_map, workload_tags
from drharness.errors import DeployError
from drharness.target import Target

VERSIONING = "Versioning.Status"
ENCRYPTION = "ServerSideEncryptionConfiguration"
REPLICATION = "ReplicationConfiguration"
TAGS = "Tags"
REGION = "Region"


def bucket_resource(name: str) -> str:
    return f"s3 bucket {name}"


def replication_property(workload: Workload, field: str) -> str:
    """The finding property of one field of the workload's replication rule."""
    return f"{REPLICATION}.Rules[{workload.spec.bucket.replication.rule_id}].{field}"


def _bucket_specs(workload: Workload) -> list[tuple[str, str, str | None, dict[str, str], str | None]]:
    """(bucket, region, key alias for default encryption, tags that are DR settings, tier) of every bucket
    the workload uses. The tier is tagged (DRTier, for discovery) but, like Project, not a DR setting."""
    specs: list[tuple[str, str, str | None, dict[str, str], str | None]] = []
    for view in workload.each_bucket():
        specs += [
            (view.data_bucket, view.primary_region, names.data_key_alias(view), backup_tags(view, view.spec.bucket),
             view.spec.bucket.tier),
            (view.backup_bucket, view.secondary_region, names.replica_key_alias(view), {}, None),
        ]
    # Templates and config backups live in the secondary region: they are what recovery reads when the
    # primary region is gone. DR stacks may share them; each is made once.
    shared = dict.fromkeys(name for view in workload.each_dr_stack()
                           for name in (view.templates_bucket, view.config_backup_bucket))
    return specs + [(name, workload.secondary_region, None, {}, None) for name in shared]


def wanted_replication(workload: Workload, role_arn: str, replica_key_arn: str) -> dict[str, Any]:
    """The replication configuration of the guide, from the workload config."""
    spec = workload.spec.bucket.replication
    destination: dict[str, Any] = {
        "Bucket": f"arn:aws:s3:::{workload.backup_bucket}",
        "StorageClass": spec.storage_class,
        "EncryptionConfiguration": {"ReplicaKmsKeyID": replica_key_arn},
    }
    if spec.rtc_minutes is not None:
        destination["ReplicationTime"] = {"Status": "Enabled", "Time": {"Minutes": spec.rtc_minutes}}
        destination["Metrics"] = {"Status": "Enabled", "EventThreshold": {"Minutes": spec.rtc_minutes}}
    rule = {
        "ID": spec.rule_id,
        "Status": "Enabled",
        "Priority": spec.priority,
        "Filter": {"Prefix": spec.prefix},
        "DeleteMarkerReplication": {"Status": "Enabled" if spec.delete_marker_replication else "Disabled"},
        "Destination": destination,
        # The data bucket is SSE-KMS: without this, S3 skips every KMS-encrypted object.
        "SourceSelectionCriteria": {"SseKmsEncryptedObjects": {"Status": "Enabled"}},
    }
    return {"Role": role_arn, "Rules": [rule]}


# -- apply -------------------------------------------------------------------------------------------


def ensure_bucket(target: Target, bucket: str, region: str) -> str:
    s3 = target.client("s3", region)
    try:
        s3.head_bucket(Bucket=bucket)
        return "unchanged"
    except ClientError as exc:
        if error_code(exc) == "403":
            raise DeployError(
                f"bucket {bucket} exists but this account may not use it (S3 names are global: another account "
                "may own it); choose another name in the workload config"
            ) from exc
        if error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":  # us-east-1 is the one region S3 refuses as a LocationConstraint
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    call(f"s3.create_bucket {bucket} in {region}", s3.create_bucket, **kwargs)
    return "created"


def apply(target: Target, workload: Workload, log: ApplyLog) -> None:
    for bucket, region, alias, tags, tier in _bucket_specs(workload):
        s3 = target.client("s3", region)
        action = ensure_bucket(target, bucket, region)
        changed = False
        if s3.get_bucket_versioning(Bucket=bucket).get("Status") != "Enabled":
            call(f"s3.put_bucket_versioning {bucket}", s3.put_bucket_versioning,
                 Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            changed = True
        if alias:
            key_arn = kms.key_arn(target, region, alias)
            wanted = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}
            if _default_encryption(s3, bucket) != wanted:
                call(f"s3.put_bucket_encryption {bucket}", s3.put_bucket_encryption, Bucket=bucket,
                     ServerSideEncryptionConfiguration={
                         "Rules": [{"ApplyServerSideEncryptionByDefault": wanted, "BucketKeyEnabled": True}]})
                changed = True
        wanted_tags = {**workload_tags(workload, tier), **tags}
        current = bucket_tags(s3, bucket)
        if any(current.get(k) != v for k, v in wanted_tags.items()):
            call(f"s3.put_bucket_tagging {bucket}", s3.put_bucket_tagging,
                 Bucket=bucket, Tagging={"TagSet": tag_list({**current, **wanted_tags})})
            changed = True
        log.add("s3 bucket", bucket, region, "updated" if changed and action == "unchanged" else action)
    for view in workload.each_bucket():
        _apply_replication(target, view, log)


def _apply_replication(target: Target, workload: Workload, log: ApplyLog) -> None:
    region = workload.primary_region
    role_arn = iam.role_arn(target, names.replication_role(workload))
    replica_key = kms.key_arn(target, workload.secondary_region, names.replica_key_alias(workload))
    wanted = wanted_replication(workload, role_arn or "", replica_key or "")
    current = _replication(target.client("s3", region), workload.data_bucket)
    scratch = Checker()
    _check_replication(target, workload, current, scratch, role_arn=role_arn, replica_key_arn=replica_key,
                       follow_role=False)
    if not scratch.findings:
        log.add("s3 replication", workload.spec.bucket.replication.rule_id, region, "unchanged")
        return
    s3 = target.client("s3", region)
    call(f"s3.put_bucket_replication {workload.data_bucket}", s3.put_bucket_replication,
         Bucket=workload.data_bucket, ReplicationConfiguration=wanted)
    log.add("s3 replication", workload.spec.bucket.replication.rule_id, region,
            "created" if current is None else "updated")


# -- read back ---------------------------------------------------------------------------------------


def _default_encryption(s3: Any, bucket: str) -> dict[str, Any] | None:
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except ClientError as exc:
        if error_code(exc) == "ServerSideEncryptionConfigurationNotFoundError":
            return None
        raise
    return dict(rules[0].get("ApplyServerSideEncryptionByDefault") or {}) if rules else None


def bucket_tags(s3: Any, bucket: str) -> dict[str, str]:
    try:
        return tag_map(s3.get_bucket_tagging(Bucket=bucket)["TagSet"])
    except ClientError as exc:
        if error_code(exc) == "NoSuchTagSet":
            return {}
        raise


def _replication(s3: Any, bucket: str) -> dict[str, Any] | None:
    try:
        return dict(s3.get_bucket_replication(Bucket=bucket)["ReplicationConfiguration"])
    except ClientError as exc:
        if error_code(exc) in ("ReplicationConfigurationNotFoundError", "NoSuchBucket"):
            return None
        raise


def bucket_exists(s3: Any, bucket: str) -> bool:
    try:
        s3.head_bucket(Bucket=bucket)
        return True
    except ClientError as exc:
        if error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise


def verify(target: Target, workload: Workload, check: Checker) -> None:
    for bucket, region, alias, tags, _tier in _bucket_specs(workload):
        resource = bucket_resource(bucket)
        s3 = target.client("s3", region)
        if not bucket_exists(s3, bucket):
            check.missing(resource)
            continue
        location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
        check.expect(resource, REGION, region, location)
        check.expect(resource, VERSIONING, "Enabled", s3.get_bucket_versioning(Bucket=bucket).get("Status"))
        if alias:
            encryption = _default_encryption(s3, bucket) or {}
            check.expect(resource, f"{ENCRYPTION}.SSEAlgorithm", "aws:kms", encryption.get("SSEAlgorithm"))
            expected_key = kms.key_arn(target, region, alias)
            actual_key = encryption.get("KMSMasterKeyID")
            actual_arn = kms.key_arn(target, region, actual_key) if actual_key else None
            check.expect(resource, f"{ENCRYPTION}.KMSMasterKeyID", expected_key, actual_arn or actual_key)
        if tags:
            current = bucket_tags(s3, bucket)
            for key, value in tags.items():
                check.expect(resource, f"{TAGS}.{key}", value, current.get(key))
    primary = target.client("s3", workload.primary_region)
    for view in workload.each_bucket():
        if bucket_exists(primary, view.data_bucket):
            _check_replication(
                target,
                view,
                _replication(primary, view.data_bucket),
                check,
                role_arn=None,
                replica_key_arn=kms.key_arn(target, view.secondary_region, names.replica_key_alias(view)),
                follow_role=True,
            )


def _check_replication(
    target: Target,
    workload: Workload,
    config: dict[str, Any] | None,
    check: Checker,
    *,
    role_arn: str | None,
    replica_key_arn: str | None,
    follow_role: bool,
) -> None:
    """Compare a read-back replication configuration with the workload's, field by field."""
    resource = bucket_resource(workload.data_bucket)
    spec = workload.spec.bucket.replication
    if config is None:
        check.missing(resource, REPLICATION)
        return
    if follow_role:
        iam.verify_role(target, config.get("Role"), "s3.amazonaws.com", resource, f"{REPLICATION}.Role", check)
    else:
        check.expect(resource, f"{REPLICATION}.Role", role_arn, config.get("Role"))
    rules = {str(r.get("ID")): r for r in config.get("Rules", [])}
    rule = rules.get(spec.rule_id)
    if rule is None:
        check.expect(resource, f"{REPLICATION}.Rules[].ID", spec.rule_id, sorted(rules))
        return

    def field(name: str, expected: object, actual: object) -> None:
        check.expect(resource, replication_property(workload, name), expected, actual)

    def dig(*path: str) -> Any:
        node: Any = rule
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        return node

    field("Status", "Enabled", rule.get("Status"))
    priority = rule.get("Priority")
    field("Priority", spec.priority, int(priority) if priority is not None else None)
    # A prefix may sit on the rule itself (the 2018 schema) or in the filter (V2, what the guide uses).
    prefix = dig("Filter", "Prefix")
    prefix = prefix if prefix is not None else (dig("Filter", "And", "Prefix") or rule.get("Prefix"))
    field("Filter.Prefix", spec.prefix, prefix)
    field("DeleteMarkerReplication.Status", "Enabled" if spec.delete_marker_replication else "Disabled",
          dig("DeleteMarkerReplication", "Status") or "Disabled")
    field("Destination.Bucket", f"arn:aws:s3:::{workload.backup_bucket}", dig("Destination", "Bucket"))
    field("Destination.StorageClass", spec.storage_class, dig("Destination", "StorageClass"))
    field("Destination.EncryptionConfiguration.ReplicaKmsKeyID", replica_key_arn,
          dig("Destination", "EncryptionConfiguration", "ReplicaKmsKeyID"))
    if spec.rtc_minutes is not None:
        field("Destination.ReplicationTime.Status", "Enabled", dig("Destination", "ReplicationTime", "Status"))
        field("Destination.ReplicationTime.Time.Minutes", spec.rtc_minutes,
              _int(dig("Destination", "ReplicationTime", "Time", "Minutes")))
        field("Destination.Metrics.Status", "Enabled", dig("Destination", "Metrics", "Status"))
        field("Destination.Metrics.EventThreshold.Minutes", spec.rtc_minutes,
              _int(dig("Destination", "Metrics", "EventThreshold", "Minutes")))
    field("SourceSelectionCriteria.SseKmsEncryptedObjects.Status", "Enabled",
          dig("SourceSelectionCriteria", "SseKmsEncryptedObjects", "Status"))


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None
