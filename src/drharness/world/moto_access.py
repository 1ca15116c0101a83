"""The one module that reaches into moto's in-process backends.

The world's engines use these to read state that no API returns cheaply (a bucket's region, an
object version's bytes) and to write replicas without re-entering the HTTP path. Keeping every such
access here keeps a moto upgrade's blast radius to one file.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any

from moto.core.models import DEFAULT_ACCOUNT_ID


def s3_backend(account_id: str = DEFAULT_ACCOUNT_ID) -> Any:
    from moto.s3.models import s3_backends

    return s3_backends[account_id]["aws"]


def dynamodb_backend(region: str, account_id: str = DEFAULT_ACCOUNT_ID) -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[account_id][region]


def ec2_backend(region: str, account_id: str = DEFAULT_ACCOUNT_ID) -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[account_id][region]


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
    tables = dynamodb_backend(region, account_id).tables
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


def dynamodb_pitr_enabled(region: str, table: str, account_id: str = DEFAULT_ACCOUNT_ID) -> bool:
    found = _dynamodb_table(region, table, account_id)
    if found is None:
        return False
    status = found.continuous_backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]
    return bool(status == "ENABLED")


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


def dynamodb_create_replica(source_region: str, dest_region: str, table: str, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """Create `table` in `dest_region` with the source's schema, indexes, billing and stream; copy its items."""
    src = _dynamodb_table(source_region, table, account_id)
    if src is None:
        raise KeyError(table)
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
        sse_specification=None,
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
