"""The rows and data files of an S3 Inventory report: AWS's fields, in AWS's order, as CSV or Parquet.

What a report lists and how (https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory.html#storage-inventory-contents,
the schemas of https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory-location.html):
Bucket and Key always; VersionId, IsLatest and IsDeleteMarker when the configuration lists all versions
(delete markers included); then the optional fields asked for, each in its documented place whatever the
order they were asked in. A version written while versioning was off has an empty VersionId.

CSV files are gzip, with no header row and every field in double quotes; the key is URL-encoded with a
space as `+` (`urllib.parse.quote_plus`, `/` kept). Parquet files (Snappy, written by DuckDB) carry the
columns of AWS's Parquet schema with its types: booleans, int64 size, timestamps in milliseconds, the
rest UTF-8 strings, the key as it is. ORC is not written (the engine refuses it).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import gzip
import io
import re
import tempfile
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from drharness.timefmt import parse_iso
from drharness.world.moto.s3 import S3VersionFacts
from drharness.world.services.s3.inventory_config import InventorySpec

Value = str | int | bool | dt.datetime | None
Row = tuple[Value, ...]
_WORD_START = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
StatusOf = Callable[[str, str], str | None]  # (key, version id) -> the version's replication status


@dataclass(frozen=True)
class Field:
    """One field of a report: its CSV schema name, its Parquet column and types."""

    name: str
    kind: str  # string | boolean | int64 | timestamp

    @property
    def column(self) -> str:
        """The Parquet column name: `ETag` -> `e_tag`, `IsLatest` -> `is_latest`."""
        return _WORD_START.sub("_", self.name).lower()


_STRING, _BOOLEAN, _INT64, _TIMESTAMP = "string", "boolean", "int64", "timestamp"
# Every field, in the order AWS writes them (the last ones, which AWS added later, after those it documents).
FIELDS: tuple[Field, ...] = tuple(Field(name, kind) for name, kind in (
    ("Bucket", _STRING), ("Key", _STRING), ("VersionId", _STRING), ("IsLatest", _BOOLEAN),
    ("IsDeleteMarker", _BOOLEAN), ("Size", _INT64), ("LastModifiedDate", _TIMESTAMP), ("ETag", _STRING),
    ("StorageClass", _STRING), ("IsMultipartUploaded", _BOOLEAN), ("ReplicationStatus", _STRING),
    ("EncryptionStatus", _STRING), ("ObjectLockRetainUntilDate", _TIMESTAMP), ("ObjectLockMode", _STRING),
    ("ObjectLockLegalHoldStatus", _STRING), ("IntelligentTieringAccessTier", _STRING), ("BucketKeyStatus", _STRING),
    ("ChecksumAlgorithm", _STRING), ("ObjectAccessControlList", _STRING), ("ObjectOwner", _STRING),
    ("LifecycleExpirationDate", _TIMESTAMP), ("ObjectLockEventHoldStatus", _STRING),
    ("ObjectLockEventHoldDuration", _STRING), ("IntelligentTieringReferenceDate", _TIMESTAMP),
))
_VERSION_FIELDS = ("VersionId", "IsLatest", "IsDeleteMarker")
_ENCRYPTION = {"AES256": "SSE-S3", "aws:kms": "SSE-KMS", "aws:kms:dsse": "DSSE-KMS"}
_PARQUET_TYPES = {_STRING: "binary {name} (UTF8)", _BOOLEAN: "boolean {name}", _INT64: "int64 {name}",
                  _TIMESTAMP: "int64 {name} (TIMESTAMP_MILLIS)"}
_DUCKDB_TYPES = {_STRING: "VARCHAR", _BOOLEAN: "BOOLEAN", _INT64: "BIGINT", _TIMESTAMP: "BIGINT"}


def report_fields(spec: InventorySpec) -> tuple[Field, ...]:
    """The fields of this configuration's reports, in AWS's order (an unknown field name: a string, last)."""
    asked = set(spec.optional_fields) | {"Bucket", "Key"} | (set(_VERSION_FIELDS) if spec.all_versions else set())
    known = [f for f in FIELDS if f.name in asked]
    extra = [Field(name, _STRING) for name in dict.fromkeys(spec.optional_fields) if name not in {f.name for f in FIELDS}]
    return tuple(known + extra)


def csv_schema(fields: Sequence[Field]) -> str:
    """The manifest's fileSchema of a CSV report: `Bucket, Key, Size, ...`."""
    return ", ".join(f.name for f in fields)


def parquet_schema(fields: Sequence[Field]) -> str:
    """The manifest's fileSchema of a Parquet report: `message s3.inventory { required binary bucket (UTF8); ... }`."""
    parts = [("required " if f.name in ("Bucket", "Key") else "optional ") + _PARQUET_TYPES[f.kind].format(name=f.column)
             for f in fields]
    return "message s3.inventory { " + " ".join(f"{p};" for p in parts) + " }"


def report_rows(spec: InventorySpec, versions: Sequence[S3VersionFacts], status_of: StatusOf) -> list[Row]:
    """One row per listed version (the latest non-deleted one of each key for a current-versions report)."""
    bucket = spec.source_bucket
    readers = [_READERS.get(f.name, _nothing) for f in report_fields(spec)]
    listed = versions if spec.all_versions else [v for v in versions if v.is_latest and not v.is_delete_marker]
    return [tuple(read(bucket, v, status_of) for read in readers) for v in listed]


Reader = Callable[[str, S3VersionFacts, StatusOf], Value]


def _nothing(bucket: str, v: S3VersionFacts, status_of: StatusOf) -> Value:
    return None


def _object(read: Callable[[S3VersionFacts], Value]) -> Reader:
    """A field only objects have: empty for a delete marker."""
    return lambda bucket, v, status_of: None if v.is_delete_marker else read(v)


def _encryption(v: S3VersionFacts) -> Value:
    # S3 encrypts every new object with SSE-S3 when nothing else is asked (since January 2023).
    return _ENCRYPTION.get(v.encryption or "AES256", "SSE-S3")


# How each field the world knows is read from a version. Every other field (ObjectAccessControlList, ObjectOwner,
# LifecycleExpirationDate, the event holds, IntelligentTieringReferenceDate) is written empty.
_READERS: dict[str, Reader] = {
    "Bucket": lambda bucket, v, status_of: bucket,
    "Key": lambda bucket, v, status_of: v.key,
    "VersionId": lambda bucket, v, status_of: "" if v.version_id == "null" else v.version_id,
    "IsLatest": lambda bucket, v, status_of: v.is_latest,
    "IsDeleteMarker": lambda bucket, v, status_of: v.is_delete_marker,
    "LastModifiedDate": lambda bucket, v, status_of: v.last_modified,
    "ReplicationStatus": lambda bucket, v, status_of: None if v.is_delete_marker else status_of(v.key, v.version_id) or "",
    "Size": _object(lambda v: v.size),
    "ETag": _object(lambda v: v.etag),
    "StorageClass": _object(lambda v: v.storage_class),
    "IsMultipartUploaded": _object(lambda v: v.multipart),
    "EncryptionStatus": _object(_encryption),
    "ObjectLockRetainUntilDate": _object(lambda v: parse_iso(v.lock_until) if v.lock_until else None),
    "ObjectLockMode": _object(lambda v: v.lock_mode),
    "ObjectLockLegalHoldStatus": _object(lambda v: v.legal_hold or "OFF"),
    "IntelligentTieringAccessTier": _object(lambda v: "FREQUENT" if v.storage_class == "INTELLIGENT_TIERING" else None),
    "BucketKeyStatus": _object(lambda v: "ENABLED" if v.bucket_key_enabled and v.encryption == "aws:kms" else "DISABLED"),
    "ChecksumAlgorithm": _object(lambda v: v.checksum_algorithm or ""),
}


# -- data files -------------------------------------------------------------------------------------


def _csv_key(value: Value) -> str:
    return urllib.parse.quote_plus(str(value), safe="/")


def _csv_boolean(value: Value) -> str:
    return "" if value is None else "true" if value else "false"


def _csv_plain(value: Value) -> str:
    return "" if value is None else str(value)


@functools.lru_cache(maxsize=4096)  # objects written in the same second share their text
def _csv_time(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    moment = value.astimezone(dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _csv_writer(field: Field) -> Callable[[Any], str]:
    if field.name == "Key":
        return _csv_key
    return {_BOOLEAN: _csv_boolean, _TIMESTAMP: _csv_time}.get(field.kind, _csv_plain)


def csv_file(fields: Sequence[Field], rows: Sequence[Row]) -> bytes:
    """A gzip CSV data file: no header, every field quoted, the key URL-encoded."""
    writers = [_csv_writer(f) for f in fields]
    text = io.StringIO()
    writer = csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerows([[write(value) for write, value in zip(writers, row)] for row in rows])
    return gzip.compress(text.getvalue().encode("utf-8"), compresslevel=6, mtime=0)


def _millis(value: Value) -> Value:
    if isinstance(value, dt.datetime):
        return (value - _EPOCH) // dt.timedelta(milliseconds=1)
    return value


def parquet_file(fields: Sequence[Field], rows: Sequence[Row]) -> bytes:
    """A Parquet data file (Snappy) with AWS's column names and types, written by DuckDB's COPY."""
    columns = [list(column) for column in zip(*rows)] if rows else [[] for _ in fields]
    for index, field in enumerate(fields):
        if field.kind == _TIMESTAMP:
            columns[index] = [_millis(value) for value in columns[index]]
    select = ", ".join(
        (f"CAST(epoch_ms(unnest(${i}::BIGINT[])) AS TIMESTAMP_MS)" if f.kind == _TIMESTAMP
         else f"unnest(${i}::{_DUCKDB_TYPES[f.kind]}[])") + f" AS {f.column}"
        for i, f in enumerate(fields, start=1))
    with tempfile.TemporaryDirectory(prefix="drharness-inventory-") as folder:
        path = Path(folder) / "data.parquet"
        with duckdb.connect(config={"threads": 1}) as con:
            con.execute(f"COPY (SELECT {select}) TO '{path}' (FORMAT PARQUET, COMPRESSION SNAPPY)", columns)
        return path.read_bytes()
