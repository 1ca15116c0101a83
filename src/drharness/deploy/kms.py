"""KMS keys: the data key (table, data bucket, vault) and the replica key (replicated objects).

Customer-managed keys are regional, so the data key has one alias per region holding a table
replica, and the replica key lives where the replicated objects land.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from drharness.config import Workload
from drharness.deploy import names
from drharness.deploy.common import ApplyLog, Checker, call, error_code
from drharness.target import Target


def key_arn(target: Target, region: str, alias: str) -> str | None:
    """The ARN of the key `alias` points to in `region`, or None when there is no such alias."""
    try:
        return str(target.client("kms", region).describe_key(KeyId=alias)["KeyMetadata"]["Arn"])
    except ClientError as exc:
        if error_code(exc) == "NotFoundException":
            return None
        raise


def wanted_keys(workload: Workload) -> list[tuple[str, str, str]]:
    """(region, alias, purpose) of every key the workload needs."""
    keys: list[tuple[str, str, str]] = []
    for view in workload.each_table():
        data_alias = names.data_key_alias(view)
        keys.append((view.primary_region, data_alias, "data"))
        keys += [(region, data_alias, "data") for region in view.table_replica_regions if region != view.primary_region]
    keys += [(view.secondary_region, names.replica_key_alias(view), "replica") for view in workload.each_bucket()]
    unique: dict[tuple[str, str], str] = {}
    for region, alias, purpose in keys:
        unique.setdefault((region, alias), purpose)
    return [(region, alias, purpose) for (region, alias), purpose in unique.items()]


def apply(target: Target, workload: Workload, log: ApplyLog) -> None:
    for region, alias, purpose in wanted_keys(workload):
        existing = key_arn(target, region, alias)
        if existing:
            log.add("kms key", alias, region, "unchanged", existing)
            continue
        kms = target.client("kms", region)
        key = call(
            f"kms.create_key for {alias} in {region}",
            kms.create_key,
            Description=f"{workload.spec.project}-{workload.spec.environment} {purpose} key (drharness)",
            Tags=[{"TagKey": "Purpose", "TagValue": "DisasterRecovery"}],
        )["KeyMetadata"]
        call(f"kms.create_alias {alias} in {region}", kms.create_alias, AliasName=alias, TargetKeyId=key["KeyId"])
        log.add("kms key", alias, region, "created", key["Arn"])


def verify(target: Target, workload: Workload, check: Checker) -> None:
    for region, alias, _purpose in wanted_keys(workload):
        resource = f"kms key {alias} ({region})"
        arn = key_arn(target, region, alias)
        if arn is None:
            check.missing(resource)
            continue
        meta = target.client("kms", region).describe_key(KeyId=arn)["KeyMetadata"]
        check.expect(resource, "KeyState", "Enabled", meta.get("KeyState"))
