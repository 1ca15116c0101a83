"""What several DR suites share: bounded waits, snapshots of a table or bucket, key display, seed data per bucket."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from drharness.timefmt import exact_duration as hours  # noqa: F401 - re-exported for the suites
from drharness.instruments.consistency import ExpectedObject
from drharness.target import Target

# Offline, nothing the world does takes longer than this; a broken mechanism fails in bounded time
# instead of waiting out a 15-minute or 4-hour objective.
OFFLINE_WAIT_CAP_S = 30.0
OFFLINE_RESTORE_CAP_S = 60.0


def wait_limit(target: Target, objective_s: float, offline_cap_s: float = OFFLINE_WAIT_CAP_S) -> float:
    """How long to wait for something bounded by an objective: the objective live, capped offline."""
    return objective_s if target.name == "aws" else min(objective_s, offline_cap_s)


def restore_limit(target: Target, rto_s: float) -> float:
    return wait_limit(target, rto_s, OFFLINE_RESTORE_CAP_S)


def scan_items(client: Any, table: str) -> Iterator[dict[str, Any]]:
    """Every item of `table` (DynamoDB JSON), read consistently, a page at a time."""
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        yield from page.get("Items", [])


def list_objects(client: Any, bucket: str, prefix: str = "") -> Iterator[ExpectedObject]:
    """Every current object under `prefix` as (key, size, ETag)."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            yield ExpectedObject(obj["Key"], int(obj["Size"]), str(obj["ETag"]))


def _encode(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode()
    raise TypeError(f"{type(value).__name__} cannot be spooled")


def spool(rows: Iterator[Any], path: Path) -> Callable[[], Iterator[Any]]:
    """Write rows (items or ExpectedObjects) to a JSON-lines file; return a function replaying them.

    A snapshot of a table or bucket is kept on disk, not in memory, so a large one costs no RAM.
    """
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(list(row) if isinstance(row, ExpectedObject) else row, default=_encode) + "\n")
            count += 1

    def replay() -> Iterator[Any]:
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                row = json.loads(line)
                yield ExpectedObject(*row) if isinstance(row, list) else row

    replay.count = count  # type: ignore[attr-defined]
    return replay


def shown_key(key_names: tuple[str, ...], key: Mapping[str, Mapping[str, str]]) -> str:
    """An item key as the consistency check names it: `pk="a" sk="b"`."""
    parts = []
    for name in key_names:
        ((kind, raw),) = key[name].items()
        parts.append(f"{name}={json.dumps(raw, ensure_ascii=False) if kind == 'S' else raw}")
    return " ".join(parts)


def key_names(workload: Any) -> tuple[str, ...]:
    table = workload.spec.table
    return (table.hash_key, table.range_key) if table.range_key else (table.hash_key,)


def seed_folder(data: Any, view: Any) -> str:
    """This run's seed folder in the bucket in `view`'s focus: every bucket holds the same batch under its own prefix.

    `data` is the `workload_data` fixture, whose `folder` and `object_keys` are the first bucket's.
    """
    return view.spec.bucket.replication.prefix + data.folder[len(data.prefix):]


def seed_object_keys(data: Any, view: Any) -> tuple[str, ...]:
    """The seed objects' keys in the bucket in `view`'s focus (see `seed_folder`)."""
    prefix = view.spec.bucket.replication.prefix
    return tuple(prefix + key[len(data.prefix):] for key in data.object_keys)
