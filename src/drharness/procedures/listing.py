"""The last known source listing: what the primary held, saved while it was reachable.

When the primary region is down, recovery cannot compare the serving copies with it; it compares
them with the newest listing saved here instead. A listing is one JSON-lines file: a header naming
the bucket, prefix and table it was taken from, one line per object (key, size, ETag) under the
replicated prefix, one line per table item (DynamoDB JSON), and a trailer with the counts, whose
presence proves the file is complete. Files are written and read as streams: memory never holds
the bucket or the table.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from drharness.config import Workload
from drharness.errors import ProcedureError
from drharness.instruments.consistency import ExpectedObject
from drharness.results import iso, utc_now
from drharness.target import Target

DEFAULT_LISTING_DIR = Path(".drharness/listings")
LISTING_KIND = "drharness-source-listing"
LISTING_VERSION = 1

UNREADABLE_LISTING = "source listing {path} cannot be used: {error}; capture a new one while the primary is reachable"
CAPTURE_FAILED = (
    "cannot capture the source listing of {what} in {region}: {error}; the primary must be reachable to list it"
)


@dataclass(frozen=True)
class SourceListing:
    """A saved listing of the primary: where it came from, when, and how many entries it holds."""

    path: Path
    captured_at: str
    bucket: str
    bucket_region: str
    prefix: str
    table: str
    table_region: str
    key_names: tuple[str, ...]
    object_count: int
    item_count: int

    def _entries(self, kind: str) -> Iterator[Any]:
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                entry = json.loads(line)
                if kind in entry:
                    yield entry[kind]

    def objects(self) -> Iterator[ExpectedObject]:
        """The objects the bucket held under the prefix (streamed from the file)."""
        for obj in self._entries("object"):
            yield ExpectedObject(obj["key"], int(obj["size"]), obj["etag"])

    def items(self) -> Iterator[Mapping[str, Any]]:
        """The table's items in DynamoDB JSON (streamed from the file)."""
        yield from self._entries("item")

    def describe(self) -> str:
        return (f"source listing {self.path.name} captured {self.captured_at}: {self.object_count} object(s) of "
                f"s3://{self.bucket}/{self.prefix}, {self.item_count} item(s) of {self.table}")


def _json_safe(value: Any) -> Any:
    """DynamoDB JSON with binary values as base64 text (as the wire format carries them)."""
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def capture_source_listing(target: Target, workload: Workload, directory: Path = DEFAULT_LISTING_DIR) -> SourceListing:
    """List the primary's replicated objects and its table's items into a new file under `directory`."""
    region = workload.primary_region
    bucket, table = workload.data_bucket, workload.metadata_table
    prefix = workload.spec.bucket.replication.prefix
    key_names = tuple(k for k in (workload.spec.table.hash_key, workload.spec.table.range_key) if k)
    directory.mkdir(parents=True, exist_ok=True)
    captured_at = utc_now()
    path = directory / f"{captured_at.strftime('%Y%m%dT%H%M%S%fZ')}.jsonl"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    header = {"kind": LISTING_KIND, "version": LISTING_VERSION, "captured_at": iso(captured_at), "bucket": bucket,
              "bucket_region": region, "prefix": prefix, "table": table, "table_region": region,
              "key_names": list(key_names)}
    objects = items = 0
    try:
        with open(tmp, "w", encoding="utf-8") as out:
            out.write(json.dumps(header) + "\n")
            what = f"s3://{bucket}/{prefix}"
            for page in target.client("s3", region).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    out.write(json.dumps({"object": {"key": obj["Key"], "size": obj["Size"], "etag": obj["ETag"]}}) + "\n")
                    objects += 1
            what = f"table {table}"
            for page in target.client("dynamodb", region).get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
                for item in page.get("Items", []):
                    out.write(json.dumps({"item": _json_safe(item)}, sort_keys=True) + "\n")
                    items += 1
            out.write(json.dumps({"end": {"objects": objects, "items": items}}) + "\n")
            out.flush()
            os.fsync(out.fileno())
    except (ClientError, BotoCoreError) as exc:
        tmp.unlink(missing_ok=True)
        raise ProcedureError(CAPTURE_FAILED.format(what=what, region=region, error=exc)) from exc
    os.replace(tmp, path)
    return SourceListing(path, iso(captured_at), bucket, region, prefix, table, region, key_names, objects, items)


def read_listing(path: Path) -> SourceListing:
    """Open a saved listing; refuse one that is not a listing or was cut short."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as handle:
            header = json.loads(handle.readline() or "{}")
            if header.get("kind") != LISTING_KIND or header.get("version") != LISTING_VERSION:
                raise ValueError(f"not a {LISTING_KIND} version {LISTING_VERSION} file")
            end: Mapping[str, Any] | None = None
            for line in handle:
                entry = json.loads(line)
                if "end" in entry:
                    end = entry["end"]
        if end is None:
            raise ValueError("it has no end line: the capture was cut short")
        return SourceListing(
            path, str(header["captured_at"]), str(header["bucket"]), str(header["bucket_region"]), str(header["prefix"]),
            str(header["table"]), str(header["table_region"]), tuple(header["key_names"]), int(end["objects"]),
            int(end["items"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ProcedureError(UNREADABLE_LISTING.format(path=path, error=exc)) from exc


def latest_listing(workload: Workload, directory: Path = DEFAULT_LISTING_DIR) -> SourceListing | None:
    """The newest complete listing under `directory` taken from this workload's bucket and table."""
    if not directory.is_dir():
        return None
    for path in sorted(directory.glob("*.jsonl"), reverse=True):
        try:
            listing = read_listing(path)
        except ProcedureError:
            continue
        if (listing.bucket, listing.table, listing.prefix) == (
            workload.data_bucket, workload.metadata_table, workload.spec.bucket.replication.prefix
        ):
            return listing
    return None
