"""A table's data as DuckDB reads it: the table's files fetched from the world's S3, and the SELECT over them.

What a table holds follows Athena: every object under LOCATION, subfolders included, except those whose
names begin with `_` or `.` (https://docs.aws.amazon.com/athena/latest/ug/tables-location-format.html);
with `SymlinkTextInputFormat`, the objects named one `s3://` URI a line in each `symlink.txt` under
LOCATION, as S3 Inventory writes them for Athena
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory-athena-query.html).

Each file is copied into the query's work folder under a plain numbered name (an S3 key may hold glob
characters DuckDB would expand), with `.gz` / `.zst` when its first bytes say it is compressed, so DuckDB
decompresses it as Hive does. Columns are read as each SerDe reads them:

- Parquet: by name, case-insensitively; a column a file lacks is NULL; values cast to the declared type.
- OpenCSVSerde: every field text (an empty field is '', not NULL), by the SerDe's separator, quote and
  escape characters; a short row is padded with NULLs; a declared non-string type is cast.
- LazySimpleSerDe (TEXTFILE, ROW FORMAT DELIMITED): fields split at the delimiter (default Ctrl-A), no
  quoting, `\\N` (or `serialization.null.format`) is NULL.
- JsonSerDe: one JSON object a line; a `string` column gets a string value as is and any other value as its
  JSON text (DynamoDB export's `Item` then reads as the item's JSON); other types are converted by DuckDB.
  Keys are matched as the DDL spells them (the OpenX SerDe ignores case).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from drharness.world.services.athena.ddl import (
    CSV,
    JSON,
    PARQUET,
    TableColumn,
    TableDef,
)
from drharness.world.services.athena.models import QueryFailure

SYMLINK_NAME = "symlink.txt"
_MAGIC = ((b"\x1f\x8b", ".gz"), (b"\x28\xb5\x2f\xfd", ".zst"))
_NO_NULL = "\ue000"  # OpenCSVSerde has no NULL text: a private-use character no field holds
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Fetched:
    """A table's files, copied into the work folder, and how many bytes were read from S3."""

    paths: tuple[str, ...]
    scanned_bytes: int


def quote_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class TableFiles:
    """Copies tables' data files from the world's S3 (an internal client) into one query's work folder."""

    def __init__(self, s3: Any, workdir: Path) -> None:
        self._s3 = s3
        self._workdir = workdir
        self._count = 0

    def fetch(self, table: TableDef) -> Fetched:
        objects = self._listing(table.bucket, table.prefix)
        if table.symlink:
            objects = [target for bucket, key in objects if key.rsplit("/", 1)[-1] == SYMLINK_NAME
                       for target in self._symlink_targets(bucket, key)]
        paths, scanned = [], 0
        for bucket, key in objects:
            path, size = self._copy(bucket, key)
            paths.append(path)
            scanned += size
        return Fetched(tuple(paths), scanned)

    def _listing(self, bucket: str, prefix: str) -> list[tuple[str, str]]:
        found = []
        try:
            for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    key = str(item["Key"])
                    name = key.rsplit("/", 1)[-1]
                    if name and not name.startswith(("_", ".")):
                        found.append((bucket, key))
        except ClientError as exc:
            raise QueryFailure(f"HIVE_UNKNOWN_ERROR: Unable to list the table's location s3://{bucket}/{prefix}: "
                               f"{_error_text(exc)}; check the bucket exists in the world") from exc
        return found

    def _symlink_targets(self, bucket: str, key: str) -> list[tuple[str, str]]:
        try:
            text = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
        except (ClientError, UnicodeDecodeError) as exc:
            raise QueryFailure(f"HIVE_BAD_DATA: cannot read the symlink file s3://{bucket}/{key}: {exc}") from exc
        targets = []
        for number, line in enumerate(text.splitlines(), start=1):
            uri = line.strip()
            if not uri:
                continue
            target_bucket, _, target_key = uri.removeprefix("s3://").partition("/")
            if not uri.startswith("s3://") or not target_bucket or not target_key:
                raise QueryFailure(f"HIVE_BAD_DATA: symlink file s3://{bucket}/{key} line {number} is not an "
                                   f"s3://bucket/key URI: {uri!r}")
            targets.append((target_bucket, target_key))
        return targets

    def _copy(self, bucket: str, key: str) -> tuple[str, int]:
        try:
            body = self._s3.get_object(Bucket=bucket, Key=key)["Body"]
        except ClientError as exc:
            raise QueryFailure(f"HIVE_CANNOT_OPEN_SPLIT: Error opening Hive split s3://{bucket}/{key} (offset=0, "
                               f"length=0): {_error_text(exc)}") from exc
        first = body.read(_CHUNK)
        suffix = next((ending for magic, ending in _MAGIC if first.startswith(magic)), "")
        self._count += 1
        path = self._workdir / f"{self._count:06d}{suffix}"
        size = len(first)
        with path.open("wb") as out:
            out.write(first)
            while chunk := body.read(_CHUNK):
                out.write(chunk)
                size += len(chunk)
        return str(path), size


def table_select(table: TableDef, paths: tuple[str, ...], parquet_columns: list[str]) -> str:
    """A SELECT giving the table's declared columns from its files (`parquet_columns`: names the files hold)."""
    if not paths:
        return "SELECT " + ", ".join(f"CAST(NULL AS {c.duck_type}) AS {quote_name(c.name)}" for c in table.columns) + " WHERE false"
    files = "[" + ", ".join(literal(p) for p in paths) + "]"
    if table.data_format == PARQUET:
        present = {name.lower(): name for name in parquet_columns}
        columns = [f"CAST({quote_name(present[c.name])} AS {c.duck_type})" if c.name in present else f"CAST(NULL AS {c.duck_type})"
                   for c in table.columns]
        return _select(table.columns, columns, f"read_parquet({files}, union_by_name=true)")
    if table.data_format == JSON:
        spec = ", ".join(f"{literal(c.declared)}: {literal('JSON' if c.duck_type == 'VARCHAR' else c.duck_type)}"
                         for c in table.columns)
        columns = [_json_text(quote_name(c.declared)) if c.duck_type == "VARCHAR" else quote_name(c.declared)
                   for c in table.columns]
        options = ", ignore_errors=true" if table.ignore_malformed else ""
        return _select(table.columns, columns,
                       f"read_json({files}, format='newline_delimited', columns={{{spec}}}{options})")
    spec = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(table.columns)))
    null_text = _NO_NULL if table.data_format == CSV else table.null_text
    reader = (f"read_csv({files}, auto_detect=false, header=false, skip={table.skip_header_lines}, all_varchar=true, "
              f"delim={literal(table.separator)}, quote={literal(table.quote)}, escape={literal(table.escape)}, "
              f"nullstr={literal(null_text)}, allow_quoted_nulls=false, null_padding=true, strict_mode=false, "
              f"columns={{{spec}}})")
    # An empty field of a declared non-string column reads as NULL; any other text that is not of the type fails.
    columns = [f'"c{i}"' if c.duck_type == "VARCHAR" else f"CAST(NULLIF(\"c{i}\", '') AS {c.duck_type})"
               for i, c in enumerate(table.columns)]
    return _select(table.columns, columns, reader)


def parquet_schema_sql(paths: tuple[str, ...]) -> str:
    """The DESCRIBE that names the columns a table's Parquet files hold."""
    return "DESCRIBE SELECT * FROM read_parquet([" + ", ".join(literal(p) for p in paths) + "], union_by_name=true)"


def _select(declared: tuple[TableColumn, ...], expressions: list[str], reader: str) -> str:
    return "SELECT " + ", ".join(f"{e} AS {quote_name(c.name)}" for c, e in zip(declared, expressions)) + f" FROM {reader}"


def _json_text(column: str) -> str:
    return (f"CASE json_type({column}) WHEN 'VARCHAR' THEN {column}->>'$' WHEN 'NULL' THEN NULL "
            f"ELSE CAST({column} AS VARCHAR) END")


def _error_text(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return str(error.get("Message") or error.get("Code") or json.dumps(error))
