"""moto's DynamoDB backends: tables and items, for PITR history, restores and global-table replicas.

Items leave this module as opaque deep copies of moto's stored items ("images"): the engines keep and
compare them, and hand them back here to write; they never look inside.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections import defaultdict
from typing import Any

from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType

from drharness.world.moto import scan_index
from drharness.world.moto.core import DEFAULT_ACCOUNT_ID, settled


def dynamodb_backend(region: str, account_id: str = DEFAULT_ACCOUNT_ID) -> Any:
    return dynamodb_backends[account_id][region]


def dynamodb_region_known(region: str, account_id: str = DEFAULT_ACCOUNT_ID) -> bool:
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
    scan_index.touched(found)
    if found.stream_shard is not None:
        found.stream_shard.add(current, item)
    return True


def dynamodb_delete_item(region: str, table: str, key: dict[str, Any], account_id: str = DEFAULT_ACCOUNT_ID) -> bool:
    """Delete the item with this wire-format key (the table's stream sees it); False without the table."""
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
    scan_index.touched(found)


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


def dynamodb_capture(region: str, table: str, account_id: str = DEFAULT_ACCOUNT_ID) -> tuple[Any, int, int] | None:
    """(opaque copy of the table's definition and items, item count, size in bytes); None without the table."""
    found = _dynamodb_table(region, table, account_id)
    if found is None:
        return None
    items = settled(lambda: [copy.deepcopy(item) for item in found.all_items()])
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
