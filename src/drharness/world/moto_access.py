"""The one module that reaches into moto's in-process backends.

The world's engines use these to read state that no API returns cheaply (a bucket's region, an
object version's bytes) and to write replicas without re-entering the HTTP path. Keeping every such
access here keeps a moto upgrade's blast radius to one file.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from typing import Any, NamedTuple

from moto.core.models import DEFAULT_ACCOUNT_ID


def s3_backend(account_id: str = DEFAULT_ACCOUNT_ID) -> Any:
    from moto.s3.models import s3_backends

    return s3_backends[account_id]["aws"]


def dynamodb_backend(region: str, account_id: str = DEFAULT_ACCOUNT_ID) -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[account_id][region]


def bucket_region(bucket: str, account_id: str = DEFAULT_ACCOUNT_ID) -> str | None:
    """The region a bucket was created in, or None when it does not exist."""
    try:
        return s3_backend(account_id).buckets[bucket].region_name
    except KeyError:
        return None


def reset_all() -> None:
    """Forget every resource in every moto backend (a new, empty world)."""
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()


# -- DynamoDB: tables and items, for PITR history, restores and global-table replicas -------------
#
# Items leave this module as opaque deep copies of moto's stored items ("images"): the engine keeps
# and compares them, and hands them back here to write; it never looks inside.


def dynamodb_region_known(region: str, account_id: str = DEFAULT_ACCOUNT_ID) -> bool:
    from moto.dynamodb.models import dynamodb_backends

    return region in dynamodb_backends[account_id].regions


def _dynamodb_table(region: str, table: str, account_id: str) -> Any | None:
    try:
        tables = dynamodb_backend(region, account_id).tables
    except KeyError:  # a region moto does not know holds no tables
        return None
    found = tables.get(table)
    if found is None and table.startswith("arn:"):
        found = next((t for t in list(tables.values()) if t.table_arn == table), None)
    return found


def dynamodb_table_exists(region: str, table: str, account_id: str = DEFAULT_ACCOUNT_ID) -> bool:
    return _dynamodb_table(region, table, account_id) is not None


def dynamodb_table_name(region: str, table: str, account_id: str = DEFAULT_ACCOUNT_ID) -> str | None:
    """The name of a table given by name or ARN, or None when it does not exist."""
    found = _dynamodb_table(region, table, account_id)
    return None if found is None else str(found.name)


def dynamodb_key_names(region: str, table: str, account_id: str = DEFAULT_ACCOUNT_ID) -> tuple[str, ...]:
    """The table's key attribute names (hash, then range if any); () when the table does not exist."""
    found = _dynamodb_table(region, table, account_id)
    return () if found is None else tuple(found.table_key_attrs)


def dynamodb_pitr_period_days(region: str, table: str, account_id: str = DEFAULT_ACCOUNT_ID) -> int | None:
    """The recovery period of a table with point-in-time recovery enabled; None when it is off (or no table)."""
    found = _dynamodb_table(region, table, account_id)
    if found is None:
        return None
    description = found.continuous_backups["PointInTimeRecoveryDescription"]
    if description.get("PointInTimeRecoveryStatus") != "ENABLED":
        return None
    return int(description.get("RecoveryPeriodInDays") or 35)


def dynamodb_same_image(a: Any | None, b: Any | None) -> bool:
    """Whether two item images (or absences) hold the same item."""
    if a is None or b is None:
        return a is None and b is None
    return bool(a == b)


def dynamodb_backup_source(region: str, backup_arn: str, account_id: str = DEFAULT_ACCOUNT_ID) -> tuple[str, float] | None:
    """(source table name, creation time as epoch seconds) of an on-demand backup, or None when unknown."""
    backup = dynamodb_backend(region, account_id).backups.get(backup_arn)
    if backup is None:
        return None
    created = backup.creation_date_time
    if created.tzinfo is None:
        created = created.replace(tzinfo=dt.timezone.utc)
    return str(backup.table.name), created.timestamp()


def dynamodb_stream_view_type(region: str, table: str, account_id: str = DEFAULT_ACCOUNT_ID) -> str | None:
    """The stream view type of an enabled stream, or None when streams are off."""
    found = _dynamodb_table(region, table, account_id)
    spec = (found.stream_specification or {}) if found is not None else {}
    return spec.get("StreamViewType") if spec.get("StreamEnabled") else None


def dynamodb_enable_stream(region: str, table: str, view_type: str, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    found = _dynamodb_table(region, table, account_id)
    if found is not None:
        found.set_stream_specification({"StreamEnabled": True, "StreamViewType": view_type})


def _wire_key(found: Any, item: Any) -> dict[str, Any]:
    key = {found.hash_key_attr: item.hash_key.to_json()}
    if found.range_key_attr is not None and item.range_key is not None:
        key[found.range_key_attr] = item.range_key.to_json()
    return key


def dynamodb_item(region: str, table: str, key: dict[str, Any], account_id: str = DEFAULT_ACCOUNT_ID) -> Any | None:
    """A copy of the stored item with this wire-format key, or None when absent (or the table is)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    found = _dynamodb_table(region, table, account_id)
    if found is None or found.hash_key_attr not in key:
        return None
    hash_key = DynamoType(key[found.hash_key_attr])
    range_key = DynamoType(key[found.range_key_attr]) if found.range_key_attr and found.range_key_attr in key else None
    if found.range_key_attr and range_key is None:
        return None
    item = found.get_item(hash_key, range_key)
    return None if item is None else copy.deepcopy(item)


def dynamodb_snapshot(region: str, table: str, account_id: str = DEFAULT_ACCOUNT_ID) -> list[tuple[dict[str, Any], Any]]:
    """Every item of the table as (wire-format key, copy of the item); [] when the table does not exist."""
    found = _dynamodb_table(region, table, account_id)
    if found is None:
        return []
    return [(_wire_key(found, item), copy.deepcopy(item)) for item in found.all_items()]


def dynamodb_put_image(region: str, table: str, image: Any, account_id: str = DEFAULT_ACCOUNT_ID) -> bool:
    """Store a copy of an item image as a write would (the table's stream sees it); False without the table."""
    found = _dynamodb_table(region, table, account_id)
    if found is None:
        return False
    item = copy.deepcopy(image)
    current = found.get_item(item.hash_key, item.range_key)
    if item.range_key is not None:
        found.items[item.hash_key][item.range_key] = item
    else:
        found.items[item.hash_key] = item
    if found.stream_shard is not None:
        found.stream_shard.add(current, item)
    return True


def dynamodb_delete_item(region: str, table: str, key: dict[str, Any], account_id: str = DEFAULT_ACCOUNT_ID) -> bool:
    """Delete the item with this wire-format key (the table's stream sees it); False without the table."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    found = _dynamodb_table(region, table, account_id)
    if found is None:
        return False
    hash_key = DynamoType(key[found.hash_key_attr])
    range_key = DynamoType(key[found.range_key_attr]) if found.range_key_attr else None
    found.delete_item(hash_key, range_key)
    return True


def dynamodb_replace_items(region: str, table: str, images: list[Any], account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """Make the table hold exactly these item images (a restore's content); no stream records."""
    found = _dynamodb_table(region, table, account_id)
    if found is None:
        return
    items: Any = defaultdict(dict)
    for image in images:
        item = copy.deepcopy(image)
        if item.range_key is not None:
            items[item.hash_key][item.range_key] = item
        else:
            items[item.hash_key] = item
    found.items = items


def dynamodb_copy_billing_mode(region: str, source: str, target: str, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """Give a restored table its source's billing mode (moto's restore leaves it unset)."""
    src, dst = _dynamodb_table(region, source, account_id), _dynamodb_table(region, target, account_id)
    if src is not None and dst is not None and not dst.billing_mode:
        dst.billing_mode = src.billing_mode


def dynamodb_create_replica(
    source_region: str, dest_region: str, table: str, kms_key_id: str | None = None, account_id: str = DEFAULT_ACCOUNT_ID
) -> None:
    """Create `table` in `dest_region` with the source's schema, indexes, billing and stream; copy its items.

    A source encrypted with KMS gives an encrypted replica: with `kms_key_id` (keys are regional), or
    else with the replica region's default key.
    """
    src = _dynamodb_table(source_region, table, account_id)
    if src is None:
        raise KeyError(table)
    sse = None
    if (src.sse_specification or {}).get("Enabled") or kms_key_id:
        sse = {"Enabled": True, "SSEType": "KMS", **({"KMSMasterKeyId": kms_key_id} if kms_key_id else {})}
    backend = dynamodb_backend(dest_region, account_id)
    throughput = {k: v for k, v in (src.throughput or {}).items() if k in ("ReadCapacityUnits", "WriteCapacityUnits")}
    replica = backend.create_table(
        src.name,
        schema=copy.deepcopy(src.schema),
        throughput=throughput if any(throughput.values()) else None,
        attr=copy.deepcopy(src.attr),
        global_indexes=None,
        indexes=None,
        streams=copy.deepcopy(src.stream_specification) if (src.stream_specification or {}).get("StreamEnabled") else None,
        billing_mode=src.billing_mode,
        sse_specification=sse,
        tags=[],
        deletion_protection_enabled=False,
        warm_throughput=None,
    )
    replica.indexes = copy.deepcopy(src.indexes)
    replica.global_indexes = copy.deepcopy(src.global_indexes)
    for item in src.all_items():
        dynamodb_put_image(dest_region, table, item, account_id)


def dynamodb_delete_table(region: str, table: str, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    tables = dynamodb_backend(region, account_id).tables
    tables.pop(table, None)


# -- AWS Backup and FSx: vaults, plans, resources and their tags, snapshots and restores ----------
#
# Snapshots leave this module as opaque deep copies (a table's definition and items, a bucket's
# current object versions); the backup engine keeps them in recovery points and hands them back
# here to restore.


class S3ObjectCopy(NamedTuple):
    """One current object version of a bucket, as a backup keeps it."""

    key: str
    version_id: str
    etag: str
    body: bytes
    metadata: dict[str, str]


def backup_backend(region: str, account_id: str = DEFAULT_ACCOUNT_ID) -> Any:
    from moto.backup.models import backup_backends

    return backup_backends[account_id][region]


def backup_regions(account_id: str = DEFAULT_ACCOUNT_ID) -> list[str]:
    """The regions where AWS Backup has been used (has a backend) in this world."""
    from moto.backup.models import backup_backends

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
    import uuid

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


def _settled(read: Any, attempts: int = 5) -> Any:
    """Run a read of moto's dicts again if a concurrent write changed them mid-iteration."""
    for attempt in range(attempts):
        try:
            return read()
        except RuntimeError:  # "dictionary changed size during iteration"
            if attempt == attempts - 1:
                raise
    return None


def dynamodb_capture(region: str, table: str, account_id: str = DEFAULT_ACCOUNT_ID) -> tuple[Any, int, int] | None:
    """(opaque copy of the table's definition and items, item count, size in bytes); None without the table."""
    found = _dynamodb_table(region, table, account_id)
    if found is None:
        return None
    items = _settled(lambda: [copy.deepcopy(item) for item in found.all_items()])
    capture = {
        "schema": copy.deepcopy(found.schema),
        "attr": copy.deepcopy(found.attr),
        "throughput": {k: v for k, v in (found.throughput or {}).items() if k in ("ReadCapacityUnits", "WriteCapacityUnits")},
        "billing_mode": found.billing_mode,
        "indexes": copy.deepcopy(found.indexes),
        "global_indexes": copy.deepcopy(found.global_indexes),
        "items": items,
    }
    return capture, len(items), sum(item.size() for item in items)


def dynamodb_restore_capture(region: str, name: str, capture: Any, account_id: str = DEFAULT_ACCOUNT_ID) -> str:
    """Create table `name` from a capture (definition and items); its ARN. ValueError when it exists."""
    backend = dynamodb_backend(region, account_id)
    if name in backend.tables:
        raise ValueError(f"Table already exists: {name}")
    throughput = capture["throughput"]
    table = backend.create_table(
        name,
        schema=copy.deepcopy(capture["schema"]),
        throughput=throughput if any(throughput.values()) else None,
        attr=copy.deepcopy(capture["attr"]),
        global_indexes=None,
        indexes=None,
        streams=None,
        billing_mode=capture["billing_mode"],
        sse_specification=None,
        tags=[],
        deletion_protection_enabled=False,
        warm_throughput=None,
    )
    table.indexes = copy.deepcopy(capture["indexes"])
    table.global_indexes = copy.deepcopy(capture["global_indexes"])
    dynamodb_replace_items(region, name, capture["items"], account_id)
    return str(table.table_arn)


def s3_bucket_versioned(bucket: str, account_id: str = DEFAULT_ACCOUNT_ID) -> bool | None:
    """Whether versioning is enabled; None when the bucket does not exist."""
    found = s3_backend(account_id).buckets.get(bucket)
    return None if found is None else bool(found.is_versioned)


def s3_capture(bucket: str, account_id: str = DEFAULT_ACCOUNT_ID) -> list[S3ObjectCopy] | None:
    """Every current object version (delete markers excluded); None when the bucket does not exist."""
    found = s3_backend(account_id).buckets.get(bucket)
    if found is None:
        return None
    copies = []
    for key, latest in _settled(lambda: list(found.keys.items())):
        if not hasattr(latest, "value"):  # a delete marker: the key has no current version
            continue
        copies.append(
            S3ObjectCopy(str(key), str(latest.version_id), str(latest.etag).strip('"'), bytes(latest.value), dict(latest._metadata))
        )
    return copies


def s3_restore_objects(
    bucket: str, region: str, objects: list[S3ObjectCopy], create: bool, account_id: str = DEFAULT_ACCOUNT_ID
) -> None:
    """Write the objects into `bucket` (created, versioned, in `region` when `create`); ValueError if that fails."""
    backend = s3_backend(account_id)
    if create:
        if bucket in backend.buckets:
            raise ValueError(f"bucket {bucket} already exists")
        try:
            backend.create_bucket(bucket, region)
        except Exception as exc:  # noqa: BLE001 - moto's own error says why (name taken, invalid name)
            raise ValueError(f"cannot create bucket {bucket}: {exc}") from exc
        backend.buckets[bucket]._is_versioned = True
    elif bucket not in backend.buckets:
        raise ValueError(f"destination bucket {bucket} does not exist")
    for obj in objects:
        stored = backend.put_object(bucket, obj.key, obj.body, disable_notification=True)
        stored._metadata.update(obj.metadata)
    s3_note_write()


def fsx_backend(region: str, account_id: str = DEFAULT_ACCOUNT_ID) -> Any:
    from moto.fsx.models import fsx_backends

    return fsx_backends[account_id][region]


def fsx_file_system(region: str, file_system_id: str, account_id: str = DEFAULT_ACCOUNT_ID) -> dict[str, Any] | None:
    """The wire description moto keeps of a file system, or None when it does not exist."""
    found = fsx_backend(region, account_id).file_systems.get(file_system_id)
    return None if found is None else copy.deepcopy(found.to_dict())


def fsx_create_file_system(
    region: str, source: dict[str, Any], request: dict[str, Any], account_id: str = DEFAULT_ACCOUNT_ID
) -> dict[str, Any]:
    """Create a file system shaped like `source` (a description) with the request's network, tags and overrides."""
    def merged(name: str) -> dict[str, Any] | None:
        base = copy.deepcopy(source.get(name))
        if request.get(name):
            base = {**(base or {}), **request[name]}
        return base

    created = fsx_backend(region, account_id).create_file_system(
        client_request_token=request.get("ClientRequestToken", ""),
        file_system_type=source["FileSystemType"],
        storage_capacity=request.get("StorageCapacity") or source.get("StorageCapacity"),
        storage_type=request.get("StorageType") or source.get("StorageType"),
        subnet_ids=list(request.get("SubnetIds") or source.get("SubnetIds") or []),
        security_group_ids=list(request.get("SecurityGroupIds") or []),
        tags=list(request.get("Tags") or []) or None,
        kms_key_id=request.get("KmsKeyId") or source.get("KmsKeyId"),
        windows_configuration=merged("WindowsConfiguration"),
        lustre_configuration=merged("LustreConfiguration"),
        ontap_configuration=merged("OntapConfiguration"),
        file_system_type_version=request.get("FileSystemTypeVersion"),
        open_zfs_configuration=merged("OpenZFSConfiguration"),
    )
    return copy.deepcopy(created.to_dict())


def fsx_update_file_system(region: str, file_system_id: str, request: dict[str, Any], account_id: str = DEFAULT_ACCOUNT_ID) -> dict[str, Any] | None:
    """Apply an UpdateFileSystem request (configuration keys and storage capacity); the new description, or None."""
    found = fsx_backend(region, account_id).file_systems.get(file_system_id)
    if found is None:
        return None
    for key, attribute in (("LustreConfiguration", "lustre_configuration"), ("WindowsConfiguration", "windows_configuration"),
                           ("OpenZFSConfiguration", "open_zfs_configuration"), ("OntapConfiguration", "ontap_configuration")):
        if request.get(key):
            setattr(found, attribute, {**(getattr(found, attribute) or {}), **copy.deepcopy(request[key])})
    if request.get("StorageCapacity"):
        found.storage_capacity = int(request["StorageCapacity"])
    return copy.deepcopy(found.to_dict())


def fsx_create_backup(region: str, file_system_id: str, tags: list[dict[str, str]] | None, account_id: str = DEFAULT_ACCOUNT_ID) -> tuple[str, str]:
    """Register a backup of the file system (moto keeps it CREATING); (backup id, ARN). KeyError without it."""
    backend = fsx_backend(region, account_id)
    if file_system_id not in backend.file_systems:
        raise KeyError(file_system_id)
    backup = backend.create_backup(file_system_id, None, None, tags or None)
    return str(backup.backup_id), str(backup.resource_arn)


def fsx_set_backup(
    region: str, backup_id: str, *, lifecycle: str | None = None, creation_time: float | None = None, account_id: str = DEFAULT_ACCOUNT_ID
) -> bool:
    """Set what moto reports for a backup; False when it no longer exists."""
    backup = fsx_backend(region, account_id).backups.get(backup_id)
    if backup is None:
        return False
    if lifecycle is not None:
        backup.lifecycle = lifecycle
    if creation_time is not None:
        backup.creation_time = creation_time
    return True


def fsx_backup_lifecycle(region: str, backup_id: str, account_id: str = DEFAULT_ACCOUNT_ID) -> str | None:
    backup = fsx_backend(region, account_id).backups.get(backup_id)
    return None if backup is None else str(backup.lifecycle)


def fsx_delete_backup(region: str, backup_id: str, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    fsx_backend(region, account_id).backups.pop(backup_id, None)


# -- S3 listing: what the world's key index reads of a bucket -------------------------------------


class S3ListedObject(NamedTuple):
    """The fields moto lists for an object's current version."""

    last_modified_iso: str
    etag: str
    size: int
    storage_class: str
    checksum_algorithm: str | None


_s3_write_generation = 0


def s3_note_write() -> None:
    """Count a write made into some bucket outside the HTTP path, so listing indexes rebuild."""
    global _s3_write_generation
    _s3_write_generation += 1


def s3_write_generation() -> int:
    return _s3_write_generation


def s3_key_count(bucket: str, account_id: str = DEFAULT_ACCOUNT_ID) -> int | None:
    """How many key names (current objects and delete markers) the bucket holds; None without the bucket."""
    found = s3_backend(account_id).buckets.get(bucket)
    return None if found is None else len(found.keys)


def s3_key_names(bucket: str, account_id: str = DEFAULT_ACCOUNT_ID) -> list[str] | None:
    """Every key name of the bucket, delete markers included; None without the bucket."""
    found = s3_backend(account_id).buckets.get(bucket)
    return None if found is None else _settled(lambda: list(dict.keys(found.keys)))


def s3_latest_versions(bucket: str, account_id: str = DEFAULT_ACCOUNT_ID) -> Callable[[str], Any]:
    """A reader of each key's latest version object in `bucket` (the bucket is looked up once). The reader
    raises KeyError or IndexError for a key that is gone; creating it raises KeyError when the bucket is.
    moto replaces the object on every write, so the same object means the same listing."""
    versions = dict.__getitem__  # the store maps a key to its versions, the latest last
    keys = s3_backend(account_id).buckets[bucket].keys
    return lambda key: versions(keys, key)[-1]


def s3_listed(version: Any) -> S3ListedObject | None:
    """What a listing shows of a latest version; None for a delete marker."""
    from moto.s3.models import FakeDeleteMarker

    if isinstance(version, FakeDeleteMarker):
        return None
    return S3ListedObject(
        _listed_time(version), str(version.etag), int(version.size), str(version.storage_class), version.checksum_algorithm
    )


_LISTED_TIMES: dict[tuple[int, ...], str] = {}


def _listed_time(key: Any) -> str:
    """moto's listing timestamp of a key (whole seconds), formatted once per second: objects share them."""
    stamp = key.last_modified
    second = (stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)
    text = _LISTED_TIMES.get(second)
    if text is None:
        if len(_LISTED_TIMES) > 4096:
            _LISTED_TIMES.clear()
        text = _LISTED_TIMES[second] = str(key.last_modified_ISO8601)
    return text


def s3_continuation_key(token: str, account_id: str = DEFAULT_ACCOUNT_ID) -> str | None:
    """The last key of the page that handed out this continuation token; None for an unknown token."""
    return s3_backend(account_id)._pagination_tokens.get(token)


def s3_remember_continuation(token: str, key: str, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """Register a continuation token where moto keeps its own, so either path can resume the listing."""
    s3_backend(account_id)._pagination_tokens[token] = key
