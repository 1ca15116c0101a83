"""DynamoDB: the metadata table with streams, SSE-KMS, PITR and global-table replicas (2019.11.21)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from drharness.config import Workload
from drharness.deploy import kms, names
from drharness.deploy.common import ApplyLog, Checker, backup_tags, call, error_code, tag_list, tag_map, workload_tags
from drharness.errors import DeployError
from drharness.target import Target
from drharness.waiting import wait_until

PITR = "PointInTimeRecoveryStatus"
BILLING = "BillingMode"
STREAM = "StreamSpecification"
SSE = "SSEDescription"
TAGS = "Tags"
KEY_SCHEMA = "KeySchema"
TABLE_STATUS = "TableStatus"
TABLE_TIMEOUT_S = 300.0
REPLICA_TIMEOUT_S = 1800.0  # AWS takes minutes to build a replica of a large table
POLL_S = 0.1


def table_resource(name: str, region: str) -> str:
    return f"dynamodb table {name} ({region})"


def replica_property(region: str) -> str:
    return f"Replicas[{region}].ReplicaStatus"


def _describe(target: Target, region: str, table: str) -> dict[str, Any] | None:
    try:
        return dict(target.client("dynamodb", region).describe_table(TableName=table)["Table"])
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise


def _wait_active(target: Target, region: str, table: str, timeout_s: float) -> dict[str, Any]:
    outcome = wait_until(
        lambda: (d := _describe(target, region, table)) is not None and d.get(TABLE_STATUS) == "ACTIVE" and d,
        timeout_s,
        POLL_S,
        what=f"table {table} in {region} to be ACTIVE",
    )
    if not outcome.ok:
        raise DeployError(f"{outcome.reason}; look at the table in the console or run the deploy again")
    return outcome.value  # type: ignore[return-value]


def _replicas(description: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(r.get("RegionName")): r for r in description.get("Replicas", [])}


def apply(target: Target, workload: Workload, log: ApplyLog) -> None:
    for view in workload.each_table():
        _apply_table(target, view, log)


def _apply_table(target: Target, workload: Workload, log: ApplyLog) -> None:
    spec = workload.spec.table
    region, table = workload.primary_region, workload.metadata_table
    ddb = target.client("dynamodb", region)
    key_arn = kms.key_arn(target, region, names.data_key_alias(workload)) if spec.sse_kms else None
    stream = (
        {"StreamEnabled": True, "StreamViewType": spec.stream_view_type}
        if spec.stream_view_type
        else {"StreamEnabled": False}
    )
    sse = {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key_arn} if key_arn else {"Enabled": False}
    description = _describe(target, region, table)
    action = "unchanged"
    if description is None:
        keys = [(spec.hash_key, "HASH")] + ([(spec.range_key, "RANGE")] if spec.range_key else [])
        tags = {**workload_tags(workload, spec.tier), **backup_tags(workload, spec)}
        call(
            f"dynamodb.create_table {table} in {region}",
            ddb.create_table,
            TableName=table,
            KeySchema=[{"AttributeName": name, "KeyType": kind} for name, kind in keys],
            AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name, _ in keys],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification=stream,
            SSESpecification=sse,
            **({"Tags": tag_list(tags)} if tags else {}),
        )
        action = "created"
    else:
        updates: dict[str, Any] = {}
        if (description.get("BillingModeSummary") or {}).get(BILLING) != "PAY_PER_REQUEST":
            updates["BillingMode"] = "PAY_PER_REQUEST"
        current_stream = description.get(STREAM) or {"StreamEnabled": False}
        if current_stream.get("StreamEnabled") != stream["StreamEnabled"] or (
            stream["StreamEnabled"] and current_stream.get("StreamViewType") != spec.stream_view_type
        ):
            updates["StreamSpecification"] = stream
        if key_arn and (description.get(SSE) or {}).get("KMSMasterKeyArn") != key_arn:
            updates["SSESpecification"] = sse
        if updates:
            call(f"dynamodb.update_table {table}", ddb.update_table, TableName=table, **updates)
            action = "updated"
        wanted_tags = {**workload_tags(workload, spec.tier), **backup_tags(workload, spec)}
        if wanted_tags:
            arn = description["TableArn"]
            current = tag_map(ddb.list_tags_of_resource(ResourceArn=arn).get("Tags"))
            if any(current.get(k) != v for k, v in wanted_tags.items()):
                call(f"dynamodb.tag_resource {table}", ddb.tag_resource, ResourceArn=arn, Tags=tag_list(wanted_tags))
                action = "updated"
    description = _wait_active(target, region, table, TABLE_TIMEOUT_S)
    if spec.pitr and _pitr_status(ddb, table) != "ENABLED":
        call(f"dynamodb.update_continuous_backups {table}", ddb.update_continuous_backups, TableName=table,
             PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
        action = "updated" if action == "unchanged" else action
    log.add("dynamodb table", table, region, action, str(description.get("TableArn", "")))
    _apply_replicas(target, workload, description, log)


def _apply_replicas(target: Target, workload: Workload, description: dict[str, Any], log: ApplyLog) -> None:
    table, region = workload.metadata_table, workload.primary_region
    ddb = target.client("dynamodb", region)
    for replica_region in workload.table_replica_regions:
        if replica_region == region:
            continue
        if replica_region in _replicas(description):
            log.add("dynamodb replica", table, replica_region, "unchanged")
            continue
        create: dict[str, Any] = {"RegionName": replica_region}
        if workload.spec.table.sse_kms:
            # Customer-managed keys are regional: each replica names the key of its own region.
            create["KMSMasterKeyId"] = kms.key_arn(target, replica_region, names.data_key_alias(workload))
        # One replica per call: AWS refuses several replica updates in one UpdateTable.
        answer = call(f"dynamodb.update_table {table} (add replica in {replica_region})", ddb.update_table,
                      TableName=table, ReplicaUpdates=[{"Create": create}])
        if replica_region in _replicas(answer.get("TableDescription") or {}):
            outcome = wait_until(
                lambda r=replica_region: _replica_status(target, region, table, r) == "ACTIVE",
                REPLICA_TIMEOUT_S,
                POLL_S,
                what=f"replica of {table} in {replica_region} to be ACTIVE",
            )
            if not outcome.ok:
                raise DeployError(f"{outcome.reason}; run the deploy again to resume")
        # A target that accepted the call but lists no replica is caught by verification, by name.
        log.add("dynamodb replica", table, replica_region, "created")
        description = _describe(target, region, table) or description


def _replica_status(target: Target, region: str, table: str, replica_region: str) -> str | None:
    description = _describe(target, region, table) or {}
    return _replicas(description).get(replica_region, {}).get("ReplicaStatus")


def _pitr_status(ddb: Any, table: str) -> str | None:
    backups = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    return (backups.get("PointInTimeRecoveryDescription") or {}).get(PITR)


def verify(target: Target, workload: Workload, check: Checker) -> None:
    for view in workload.each_table():
        _verify_table(target, view, check)


def _verify_table(target: Target, workload: Workload, check: Checker) -> None:
    spec = workload.spec.table
    region, table = workload.primary_region, workload.metadata_table
    resource = table_resource(table, region)
    description = _describe(target, region, table)
    if description is None:
        check.missing(resource)
        return
    ddb = target.client("dynamodb", region)
    check.expect(resource, TABLE_STATUS, "ACTIVE", description.get(TABLE_STATUS))
    keys = {k["KeyType"]: k["AttributeName"] for k in description.get(KEY_SCHEMA, [])}
    check.expect(resource, f"{KEY_SCHEMA}.HASH", spec.hash_key, keys.get("HASH"))
    check.expect(resource, f"{KEY_SCHEMA}.RANGE", spec.range_key, keys.get("RANGE"))
    check.expect(resource, BILLING, "PAY_PER_REQUEST", (description.get("BillingModeSummary") or {}).get(BILLING))
    stream = description.get(STREAM) or {}
    if spec.stream_view_type:
        check.expect(resource, f"{STREAM}.StreamEnabled", True, stream.get("StreamEnabled"))
        check.expect(resource, f"{STREAM}.StreamViewType", spec.stream_view_type, stream.get("StreamViewType"))
    if spec.sse_kms:
        sse = description.get(SSE) or {}
        check.expect(resource, f"{SSE}.Status", "ENABLED", sse.get("Status"))
        check.expect(resource, f"{SSE}.SSEType", "KMS", sse.get("SSEType"))
        check.expect(resource, f"{SSE}.KMSMasterKeyArn",
                     kms.key_arn(target, region, names.data_key_alias(workload)), sse.get("KMSMasterKeyArn"))
    wanted_tags = backup_tags(workload, spec)
    if wanted_tags:
        current = tag_map(ddb.list_tags_of_resource(ResourceArn=description["TableArn"]).get("Tags"))
        for key, value in wanted_tags.items():
            check.expect(resource, f"{TAGS}.{key}", value, current.get(key))
    if spec.pitr:
        check.expect(resource, PITR, "ENABLED", _pitr_status(ddb, table))
    replicas = _replicas(description)
    for replica_region in workload.table_replica_regions:
        if replica_region == region:
            continue
        status = replicas.get(replica_region, {}).get("ReplicaStatus")
        check.expect(resource, replica_property(replica_region), "ACTIVE", status)
        if status is not None:
            replica = _describe(target, replica_region, table)
            check.expect(table_resource(table, replica_region), TABLE_STATUS, "ACTIVE",
                         (replica or {}).get(TABLE_STATUS))
