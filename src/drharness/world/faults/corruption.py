"""The data-corruption fault: overwrite chosen objects or items, and put the originals back on revert.

Corruption goes through the normal write path, so it replicates as a bad application write would:
the replica is no refuge, only versions and point-in-time recovery are.
"""

from __future__ import annotations

import base64
import json
import random
from typing import Any

from drharness.faults.spec import DataCorruption
from drharness.world.moto.s3 import bucket_region
from drharness.world.plane import ClientFactory

CORRUPTION_MARK = "drharness-corrupted"


def corrupt_bytes(data: bytes) -> bytes:
    """Same length, different content: a size check alone will not see it."""
    if not data:
        return b"\x00"
    head = bytes(b ^ 0xFF for b in data[:16])
    return head + data[16:]


class Corruption:
    """The data-corruption effect: overwrite through the world's own clients, put the originals back."""

    def __init__(self, client: ClientFactory) -> None:
        self._client = client

    def corrupt(self, p: DataCorruption) -> dict[str, Any]:
        return self._corrupt_bucket(p) if p.bucket else self._corrupt_table(p)

    def restore(self, p: DataCorruption, state: dict[str, Any]) -> None:
        if p.bucket:
            self._restore_bucket(p, state)
        else:
            self._restore_table(p, state)

    # -- S3 ------------------------------------------------------------------------------------------

    def _s3(self, p: DataCorruption) -> Any:
        region = p.region or bucket_region(p.bucket or "") or "us-east-1"
        return self._client("s3", region)

    def _corrupt_bucket(self, p: DataCorruption) -> dict[str, Any]:
        s3 = self._s3(p)
        keys: list[str] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=p.bucket, Prefix=p.prefix):
            keys.extend(o["Key"] for o in page.get("Contents", []))
        chosen = sorted(random.Random(p.seed).sample(keys, min(p.count, len(keys))))
        objects = []
        for key in chosen:
            original = s3.get_object(Bucket=p.bucket, Key=key)
            data = original["Body"].read()
            entry: dict[str, Any] = {"key": key, "version_id": original.get("VersionId")}
            if not entry["version_id"] or entry["version_id"] == "null":
                entry["data_b64"] = base64.b64encode(data).decode()
            put = s3.put_object(Bucket=p.bucket, Key=key, Body=corrupt_bytes(data))
            entry["corrupt_version_id"] = put.get("VersionId")
            objects.append(entry)
        return {"objects": objects}

    def _restore_bucket(self, p: DataCorruption, state: dict[str, Any]) -> None:
        s3 = self._s3(p)
        for entry in state.get("objects", []):
            if "data_b64" in entry:
                s3.put_object(Bucket=p.bucket, Key=entry["key"], Body=base64.b64decode(entry["data_b64"]))
            else:
                s3.copy_object(
                    Bucket=p.bucket,
                    Key=entry["key"],
                    CopySource={"Bucket": p.bucket, "Key": entry["key"], "VersionId": entry["version_id"]},
                )

    # -- DynamoDB --------------------------------------------------------------------------------------

    def _ddb(self, p: DataCorruption) -> Any:
        return self._client("dynamodb", p.region or "us-east-1")

    def _corrupt_table(self, p: DataCorruption) -> dict[str, Any]:
        ddb = self._ddb(p)
        schema = ddb.describe_table(TableName=p.table)["Table"]["KeySchema"]
        key_names = [k["AttributeName"] for k in schema]
        items: list[dict[str, Any]] = []
        for page in ddb.get_paginator("scan").paginate(TableName=p.table, PaginationConfig={"MaxItems": 5000}):
            items.extend(page["Items"])
        items.sort(key=lambda i: json.dumps({k: i[k] for k in key_names}, sort_keys=True))
        chosen = random.Random(p.seed).sample(items, min(p.count, len(items)))
        originals = []
        for item in chosen:
            bad = dict(item)
            changed = False
            for name, value in item.items():
                if name not in key_names and "S" in value:
                    bad[name] = {"S": value["S"][::-1] + "~"}
                    changed = True
            if not changed:
                bad[CORRUPTION_MARK] = {"BOOL": True}
            ddb.put_item(TableName=p.table, Item=bad)
            originals.append(item)
        return {"items": originals, "key_names": key_names}

    def _restore_table(self, p: DataCorruption, state: dict[str, Any]) -> None:
        ddb = self._ddb(p)
        for item in state.get("items", []):
            ddb.put_item(TableName=p.table, Item=item)
