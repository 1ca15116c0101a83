"""DynamoDB consistency at rest: two tables (or a table and its restore) from their exports to S3.

A Scan compare reads every item of both live tables, in the middle of a drill, with the tables' read
capacity. `ExportTableToPointInTime` writes a table as it was at one instant to S3 without touching its
capacity (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport.Output.html)::

    prefix/AWSDynamoDB/ExportId/manifest-summary.json   the export: its ARN, time, item count, files manifest
    prefix/AWSDynamoDB/ExportId/manifest-summary.md5    base64 MD5 of the summary (AWS's page says .checksum)
    prefix/AWSDynamoDB/ExportId/manifest-files.json     one line per data file: itemCount, md5Checksum, key
    prefix/AWSDynamoDB/ExportId/manifest-files.md5
    prefix/AWSDynamoDB/ExportId/data/*.json.gz          gzip JSON lines, {"Item": {...DynamoDB JSON...}}

An export is used only whole: both manifests must match their MD5 files, every data file its md5Checksum
and the item count its manifest line, else an error naming the file. The items then go through the same
canonical hashing and hash-bucket digest compare as the Scan compare (`dynamodb`), so both find the same
missing, extra and differing items; a second pass re-reads only the files' items in mismatching buckets,
from the verified copies on disk.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from drharness.errors import MeasurementError
from drharness.instruments.consistency.digest import (
    DEFAULT_BUCKETS,
    DigestEntry,
    DigestSide,
    Stream,
    digest_compare,
)
from drharness.instruments.consistency.dynamodb import (
    GLOBAL_TABLE_2017_ATTRIBUTES,
    _Hasher,
    contrast_items,
)
from drharness.instruments.consistency.report import (
    DEFAULT_MAX_LISTED,
    ConsistencyReport,
    started_now,
)
from drharness.waiting import wait_until

EXPORT_TIMEOUT_S = 6 * 3600.0
CHECKSUM_SUFFIXES = (".md5", ".checksum")

EXPORT_CALL_FAILED = "{operation} for {label} failed: {code}: {message}"
UNREACHABLE = "cannot reach {service} for {label}: {error}; check the endpoint or the network"
EXPORT_FAILED = "the export {arn} of {label} failed: {code}: {message}"
EXPORT_TIMED_OUT = "the export {arn} of {label} did not complete in {timeout:g} s (still {status})"
NOT_WHOLE = "export file s3://{bucket}/{key} {what}: the export is damaged or incomplete; do not compare from it"
BAD_MANIFEST = "s3://{bucket}/{key} is not a DynamoDB export manifest: {detail}"
UNSUPPORTED = ("the export {arn} is {kind}; drharness compares FULL_EXPORT exports in DYNAMODB_JSON (export "
               "again with ExportType=FULL_EXPORT and ExportFormat=DYNAMODB_JSON)")


@dataclass(frozen=True)
class ExportFile:
    key: str
    item_count: int
    md5_b64: str


@dataclass(frozen=True)
class TableExport:
    """One complete, verified export: where it lies, as at when, and its data files."""

    arn: str
    table_arn: str
    bucket: str
    summary_key: str
    export_time: str
    item_count: int
    files: tuple[ExportFile, ...]

    @property
    def label(self) -> str:
        return f"s3://{self.bucket}/{self.summary_key}"


def _call(label: str, service: str, operation: str, call: Any, **kwargs: Any) -> Any:
    try:
        return call(**kwargs)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise MeasurementError(EXPORT_CALL_FAILED.format(operation=operation, label=label,
                                                         code=error.get("Code", "Unknown"),
                                                         message=error.get("Message", exc))) from exc
    except BotoCoreError as exc:
        raise MeasurementError(UNREACHABLE.format(service=service, label=label, error=exc)) from exc


def start_export(dynamodb: Any, table_arn: str, bucket: str, prefix: str, *, export_time: Any = None,
                 label: str = "") -> str:
    """Ask DynamoDB for a full export of `table_arn` (as at `export_time`, default now); the export's ARN."""
    kwargs: dict[str, Any] = {"TableArn": table_arn, "S3Bucket": bucket, "ExportFormat": "DYNAMODB_JSON",
                              "ExportType": "FULL_EXPORT"}
    if prefix:
        kwargs["S3Prefix"] = prefix
    if export_time is not None:
        kwargs["ExportTime"] = export_time
    answer = _call(label or table_arn, "DynamoDB", "ExportTableToPointInTime",
                   dynamodb.export_table_to_point_in_time, **kwargs)
    return str(answer["ExportDescription"]["ExportArn"])


def wait_export(dynamodb: Any, arn: str, *, label: str = "", timeout_s: float = EXPORT_TIMEOUT_S,
                poll_interval_s: float = 5.0) -> dict[str, Any]:
    """Wait for the export to complete; its description (an error with DynamoDB's reason if it failed)."""

    def done() -> dict[str, Any] | None:
        description = _call(label or arn, "DynamoDB", "DescribeExport", dynamodb.describe_export, ExportArn=arn)
        description = description["ExportDescription"]
        return description if description.get("ExportStatus") != "IN_PROGRESS" else None

    outcome = wait_until(done, timeout_s, poll_interval_s, what=f"export {arn}")
    if not outcome.ok or outcome.value is None:
        raise MeasurementError(EXPORT_TIMED_OUT.format(arn=arn, label=label or arn, timeout=timeout_s,
                                                       status="IN_PROGRESS"))
    description = outcome.value
    if description.get("ExportStatus") != "COMPLETED":
        raise MeasurementError(EXPORT_FAILED.format(arn=arn, label=label or arn,
                                                    code=description.get("FailureCode", description["ExportStatus"]),
                                                    message=description.get("FailureMessage", "")))
    if description.get("ExportType", "FULL_EXPORT") != "FULL_EXPORT" or \
            description.get("ExportFormat", "DYNAMODB_JSON") != "DYNAMODB_JSON":
        raise MeasurementError(UNSUPPORTED.format(arn=arn, kind=f"{description.get('ExportType')} in "
                                                                f"{description.get('ExportFormat')}"))
    return description


def _b64_md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def _read(s3: Any, bucket: str, key: str) -> bytes | None:
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) in ("NoSuchKey", "404"):
            return None
        raise MeasurementError(NOT_WHOLE.format(bucket=bucket, key=key, what=f"cannot be read ({exc})")) from exc
    except BotoCoreError as exc:
        raise MeasurementError(UNREACHABLE.format(service="S3", label=f"s3://{bucket}/{key}", error=exc)) from exc


def _verified(s3: Any, bucket: str, key: str) -> bytes:
    """A manifest, checked against its MD5 file (base64 or hex; `.md5`, or `.checksum` as AWS's page names it)."""
    raw = _read(s3, bucket, key)
    if raw is None:
        raise MeasurementError(NOT_WHOLE.format(bucket=bucket, key=key, what="does not exist"))
    stem = key.removesuffix(".json")
    for suffix in CHECKSUM_SUFFIXES:
        checksum = _read(s3, bucket, stem + suffix)
        if checksum is not None:
            stated = checksum.decode("utf-8", "replace").strip()
            if stated not in (_b64_md5(raw), hashlib.md5(raw).hexdigest()):
                raise MeasurementError(NOT_WHOLE.format(bucket=bucket, key=key,
                                                        what=f"does not match {stem + suffix} ({stated})"))
            return raw
    raise MeasurementError(NOT_WHOLE.format(bucket=bucket, key=key, what=f"has no {stem}.md5 beside it"))


def read_export(s3: Any, description: dict[str, Any]) -> TableExport:
    """Read and verify the manifests of a completed export (its description from DescribeExport)."""
    arn, bucket = str(description["ExportArn"]), str(description["S3Bucket"])
    summary_key = str(description["ExportManifest"])
    summary_raw = _verified(s3, bucket, summary_key)
    try:
        summary = json.loads(summary_raw)
        files_key = str(summary["manifestFilesS3Key"])
        if "/" not in files_key:  # AWS's example gives the key relative to the export's folder
            files_key = f"{summary_key.rsplit('/', 1)[0]}/{files_key}"
        item_count = int(summary["itemCount"])
    except (ValueError, KeyError, TypeError) as exc:
        raise MeasurementError(BAD_MANIFEST.format(bucket=bucket, key=summary_key, detail=exc)) from exc
    files_raw = _verified(s3, bucket, files_key)
    try:
        files = tuple(ExportFile(str(line["dataFileS3Key"]), int(line["itemCount"]), str(line["md5Checksum"]))
                      for line in map(json.loads, files_raw.decode().splitlines()) if line)
    except (ValueError, KeyError, TypeError) as exc:
        raise MeasurementError(BAD_MANIFEST.format(bucket=bucket, key=files_key, detail=exc)) from exc
    if sum(f.item_count for f in files) != item_count:
        raise MeasurementError(BAD_MANIFEST.format(bucket=bucket, key=files_key,
                                                   detail=f"its files hold {sum(f.item_count for f in files)} "
                                                          f"items, the summary says {item_count}"))
    return TableExport(arn, str(summary.get("tableArn", description.get("TableArn", ""))), bucket, summary_key,
                       str(summary.get("exportTime", "")), item_count, files)


class _ExportSide:
    """An export's data files fetched once into a scratch folder (each MD5-checked), read as digest streams."""

    def __init__(self, s3: Any, export: TableExport, scratch: Path, hasher: _Hasher, workers: int) -> None:
        self.export = export
        self._hasher = hasher
        self.paths = self._fetch(s3, scratch, workers)

    def _fetch(self, s3: Any, scratch: Path, workers: int) -> list[Path]:
        scratch.mkdir(parents=True, exist_ok=True)

        def fetch(numbered: tuple[int, ExportFile]) -> Path:
            index, item = numbered
            raw = _read(s3, self.export.bucket, item.key)
            if raw is None:
                raise MeasurementError(NOT_WHOLE.format(bucket=self.export.bucket, key=item.key,
                                                        what="is named by the export's manifest but does not exist"))
            if _b64_md5(raw) != item.md5_b64:
                raise MeasurementError(NOT_WHOLE.format(bucket=self.export.bucket, key=item.key,
                                                        what=f"does not match its md5Checksum {item.md5_b64}"))
            path = scratch / f"{index:06d}.json.gz"
            path.write_bytes(raw)
            return path

        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(fetch, enumerate(self.export.files)))

    def streams(self) -> list[Stream]:
        def stream(index: int) -> Stream:
            def run(detailed: bool) -> Iterator[DigestEntry]:
                count = 0
                with gzip.open(self.paths[index], "rt", encoding="utf-8") as lines:
                    for line in lines:
                        if line.strip():
                            count += 1
                            yield self._hasher.entry(json.loads(line)["Item"], detailed)
                item = self.export.files[index]
                if count != item.item_count:
                    raise MeasurementError(NOT_WHOLE.format(bucket=self.export.bucket, key=item.key,
                                                            what=f"holds {count} items, its manifest says "
                                                                 f"{item.item_count}"))

            return run

        return [stream(i) for i in range(len(self.paths))]


def compare_exports(
    source: tuple[Any, TableExport],
    replica: tuple[Any, TableExport],
    key_names: tuple[str, ...],
    *,
    max_listed: int = DEFAULT_MAX_LISTED,
    workers: int = 8,
    buckets: int = DEFAULT_BUCKETS,
    ignore_attributes: Collection[str] = GLOBAL_TABLE_2017_ATTRIBUTES,
    labels: tuple[str, str] | None = None,
) -> ConsistencyReport:
    """Compare two verified exports (each with an S3 client that reads it) item by item, as the Scan compare does."""
    started, start = started_now(), time.monotonic()
    hasher = _Hasher(key_names, ignore_attributes, keys_only=False)
    scratch = Path(tempfile.mkdtemp(prefix="drharness-export-"))
    try:
        sides = [_ExportSide(client, export, scratch / name, hasher, workers)
                 for (client, export), name in ((source, "source"), (replica, "replica"))]
        source_label, replica_label = labels or (source[1].label, replica[1].label)
        tally = digest_compare(DigestSide(source_label, sides[0].streams()),
                               DigestSide(replica_label, sides[1].streams()),
                               max_listed=max_listed, buckets=buckets, workers=workers, contrast=contrast_items)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report = tally.report(store="dynamodb", source=source_label, replica=replica_label, method="export",
                          duration_seconds=time.monotonic() - start, started_at=started)
    return dataclasses.replace(report, details={
        "engine": "digest", "source_export": source[1].arn, "replica_export": replica[1].arn,
        "source_export_time": source[1].export_time, "replica_export_time": replica[1].export_time})
