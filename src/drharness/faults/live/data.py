"""The data-corruption fault in an account: only data the harness itself wrote, originals journalled first.

The harness's own data are its seed objects (keys under `<replicated prefix>drharness-seed/` of each of
the workload's replicated buckets) and the metadata items that point at them (their `s3_key` lies in
such a folder). A fault that names a bucket not in the workload, or a prefix outside that bucket's seed
folder, is refused before anything is
read. `prepare` chooses the victims (by the fault's seed) and reads their originals; the originals go
into the revert record, so they are on disk before the first overwrite. Revert puts them back (the
original bytes, the original item) and can run again. Corruption goes through the normal write path:
it replicates as a bad application write would.
"""

from __future__ import annotations

import base64
import json
import random
import threading
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from drharness.errors import FaultError
from drharness.faults.base import InjectedFault
from drharness.faults.live.options import LiveOptions
from drharness.faults.spec import DataCorruption, FaultParams
from drharness.target import Target

HARNESS_DATA = "harness-data"
SEED_POINTER = "s3_key"  # the seed item's attribute naming its seed object
MAX_JOURNALLED = 256 * 1024  # bytes of originals a revert record may carry
CORRUPTION_MARK = "drharness-corrupted"
OUTSIDE = ("live data-corruption touches only data the harness wrote ({space}); {what} is outside it. "
           "Name one of the workload's buckets and a prefix inside its seed folder, or a metadata table")


def corrupt_bytes(data: bytes) -> bytes:
    """Same length, different content: a size check alone will not see it."""
    return bytes(b ^ 0xFF for b in data[:16]) + data[16:] if data else b"\x00"


def corrupt_item(item: dict[str, Any], key_names: list[str]) -> dict[str, Any]:
    bad = {k: ({"S": v["S"][::-1] + "~"} if k not in key_names and "S" in v else v) for k, v in item.items()}
    bad[CORRUPTION_MARK] = {"BOOL": True}
    return bad


class DataFaults:
    """data-corruption of the harness's seed objects or items, with the originals in the revert record."""

    mechanism = HARNESS_DATA

    def __init__(self, target: Target, options: LiveOptions) -> None:
        self.target = target
        self.options = options
        self._lock = threading.Lock()
        self._prepared: dict[str, dict[str, str]] = {}

    def _space(self) -> str:
        return ", ".join(f"s3://{bucket}/{prefix}" for bucket, prefix in self.options.folders()) or "no seed folder"

    def listing_prefix(self, params: DataCorruption) -> str:
        """The prefix to choose objects under: the fault's, narrowed to its bucket's seed folder; refuses any other."""
        seeds = [prefix for bucket, prefix in self.options.folders() if bucket == params.bucket]
        if not params.bucket or not seeds:
            raise FaultError(OUTSIDE.format(space=self._space(), what=f"bucket {params.bucket}"))
        seed, asked = seeds[0], params.prefix
        if asked.startswith(seed):
            return asked
        if seed.startswith(asked):
            return seed
        raise FaultError(OUTSIDE.format(space=self._space(), what=f"prefix {asked!r}"))

    def prepare(self, fault_id: str, name: str, params: FaultParams) -> dict[str, str]:
        if not isinstance(params, DataCorruption):
            raise FaultError(f"{name}: the harness-data mechanism makes data-corruption only")
        region = params.region or self.options.region
        try:
            originals = self._objects(params, region) if params.bucket else self._items(params, region)
        except (ClientError, BotoCoreError) as exc:
            raise FaultError(f"live data-corruption {fault_id}: cannot read the originals in {region}: {exc}") from exc
        encoded = json.dumps(originals, sort_keys=True)
        if len(encoded) > MAX_JOURNALLED:
            raise FaultError(f"live data-corruption {fault_id}: the originals of {params.count} victims are "
                             f"{len(encoded)} bytes, over the {MAX_JOURNALLED} a revert record carries; lower count")
        refs = {"mechanism": self.mechanism, "region": region, "originals": encoded}
        with self._lock:
            self._prepared[fault_id] = refs
        return refs

    def _objects(self, params: DataCorruption, region: str) -> dict[str, Any]:
        s3 = self.target.client("s3", region)
        prefix = self.listing_prefix(params)
        keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=params.bucket, Prefix=prefix)
                for o in page.get("Contents", [])]
        chosen = sorted(random.Random(params.seed).sample(sorted(keys), min(params.count, len(keys))))
        objects = []
        for key in chosen:
            got = s3.get_object(Bucket=params.bucket, Key=key)
            objects.append({"key": key, "data_b64": base64.b64encode(got["Body"].read()).decode(),
                            "content_type": got.get("ContentType", "")})
        return {"bucket": params.bucket, "objects": objects}

    def _items(self, params: DataCorruption, region: str) -> dict[str, Any]:
        ddb = self.target.client("dynamodb", region)
        key_names = [k["AttributeName"] for k in ddb.describe_table(TableName=params.table)["Table"]["KeySchema"]]
        seeds = tuple(dict.fromkeys(prefix for _, prefix in self.options.folders())) or (self.options.seed_prefix,)
        mine = []
        for page in ddb.get_paginator("scan").paginate(TableName=params.table):
            mine += [i for i in page["Items"] if i.get(SEED_POINTER, {}).get("S", "").startswith(seeds)
                     and i[key_names[0]].get("S", "").startswith(params.prefix)]
        mine.sort(key=lambda i: json.dumps({k: i[k] for k in key_names}, sort_keys=True))
        chosen = random.Random(params.seed).sample(mine, min(params.count, len(mine)))
        return {"table": params.table, "key_names": key_names, "items": chosen}

    def inject(self, fault_id: str, name: str, params: FaultParams) -> InjectedFault:
        with self._lock:
            refs = self._prepared.pop(fault_id, None)
        refs = refs or self.prepare(fault_id, name, params)
        originals = json.loads(refs["originals"])
        try:
            corrupted = self._overwrite(refs["region"], originals)
        except (ClientError, BotoCoreError) as exc:
            raise FaultError(f"live data-corruption {fault_id}: an overwrite failed ({exc}); "
                             f"`drharness revert` puts the originals back") from exc
        return InjectedFault(id=fault_id, name=name, params=params, injected_at=datetime.now(timezone.utc),
                             target="aws", refs=refs, corrupted=corrupted)

    def _overwrite(self, region: str, originals: dict[str, Any]) -> tuple[str, ...]:
        if "bucket" in originals:
            s3 = self.target.client("s3", region)
            for entry in originals["objects"]:
                s3.put_object(Bucket=originals["bucket"], Key=entry["key"],
                              Body=corrupt_bytes(base64.b64decode(entry["data_b64"])))
            return tuple(e["key"] for e in originals["objects"])
        ddb, names = self.target.client("dynamodb", region), originals["key_names"]
        for item in originals["items"]:
            ddb.put_item(TableName=originals["table"], Item=corrupt_item(item, names))
        return tuple(json.dumps({k: i[k] for k in names}, sort_keys=True) for i in originals["items"])

    def revert(self, fault_id: str, refs: Mapping[str, str]) -> None:
        """Put every original back (bytes or item) from the revert record; running it again changes nothing."""
        with self._lock:
            self._prepared.pop(fault_id, None)
        if not refs.get("originals"):
            return
        originals = json.loads(refs["originals"])
        region = refs.get("region") or self.options.region
        try:
            if "bucket" in originals:
                s3 = self.target.client("s3", region)
                for entry in originals["objects"]:
                    extra = {"ContentType": entry["content_type"]} if entry.get("content_type") else {}
                    s3.put_object(Bucket=originals["bucket"], Key=entry["key"],
                                  Body=base64.b64decode(entry["data_b64"]), **extra)
            else:
                ddb = self.target.client("dynamodb", region)
                for item in originals["items"]:
                    ddb.put_item(TableName=originals["table"], Item=item)
        except (ClientError, BotoCoreError) as exc:
            raise FaultError(f"cannot revert {fault_id}: putting the originals back in {region} failed ({exc}); "
                             f"they are in its journal record") from exc

    def active(self) -> list[InjectedFault]:
        return []  # overwritten data is no running fault: the journal holds what to put back

    def active_ids(self) -> list[str]:
        return []
