"""S3 Inventory reports as AWS publishes them: find a bucket's newest complete report and prove it whole.

A report of inventory configuration `config-id` on bucket `source` lives in the configuration's destination
bucket (https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory-location.html)::

    prefix/source/config-id/YYYY-MM-DDTHH-MMZ/manifest.json       what the report holds: format, schema, files
    prefix/source/config-id/YYYY-MM-DDTHH-MMZ/manifest.checksum   the MD5 of manifest.json
    prefix/source/config-id/hive/dt=YYYY-MM-DD-HH-MM/symlink.txt  the data files, one s3:// URI per line
    prefix/source/config-id/data/...                              the data files (CSV gzip, Parquet or ORC)

S3 writes `manifest.checksum` last, so a folder without it is a report still being written. A report is
used only whole: the checksum must match the manifest, every file the manifest names must exist with the
size it states (and, when read, the MD5 it states), and the hive symlink must name exactly those files.
Anything else is an error naming the file — never a comparison of part of a bucket.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from drharness.errors import MeasurementError

MANIFEST = "manifest.json"
CHECKSUM = "manifest.checksum"
_REPORT_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}Z$")
_PARQUET_FIELD = re.compile(r"(?:required|optional|repeated)\s+(\w+)\s+(\w+)")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
FORMATS = ("CSV", "Parquet", "ORC")

NO_CONFIGURATION = ("bucket {bucket!r} has no inventory configuration{which}; give it one (daily, to a bucket in "
                    "its region) or compare by listing (--method listing)")
SEVERAL_CONFIGURATIONS = ("bucket {bucket!r} has {count} inventory configurations ({ids}); name one with "
                          "--inventory-id")
DISABLED = "inventory configuration {id!r} of bucket {bucket!r} is disabled: it publishes no reports"
NO_REPORT = ("no inventory report of {bucket!r} ({id!r}) under s3://{destination}/{folder}: S3 delivers the first "
             "report within 48 hours of configuration (offline: move the world clock with `drharness world clock "
             "advance`)")
HALF_WRITTEN = ("the newest inventory report s3://{destination}/{folder} has no {missing}: it is still being "
                "written or was cut short; compare again once it is complete")
CHECKSUM_MISMATCH = ("s3://{destination}/{key} does not match its manifest.checksum (MD5 {actual}, checksum file "
                     "says {expected}): the report is damaged; do not compare from it")
FILE_MISMATCH = ("inventory data file s3://{bucket}/{key} does not match the manifest s3://{destination}/{manifest}: "
                 "{what}")
FILE_MISSING = "inventory data file s3://{bucket}/{key}, named by s3://{destination}/{manifest}, does not exist"
SYMLINK_MISMATCH = ("s3://{destination}/{key} does not name the files of s3://{destination}/{manifest} "
                    "({detail}); the report is inconsistent")
BAD_MANIFEST = "s3://{destination}/{key} is not an inventory manifest: {detail}"
UNSUPPORTED_FORMAT = ("inventory report s3://{destination}/{key} is {format}; drharness compares CSV and Parquet "
                      "reports (set the configuration's format to Parquet)")
S3_FAILED = "{operation} s3://{bucket}/{key} failed: {code}: {message}"
UNREACHABLE = "cannot reach S3 for s3://{bucket}/{key}: {error}; check the endpoint or the network"


class NoInventoryReport(MeasurementError):
    """The configuration has published no report yet (S3 delivers the first within 48 hours)."""


@dataclass(frozen=True)
class InventoryConfig:
    """Where a bucket's inventory goes: the configuration's id, destination bucket and prefix, and format."""

    bucket: str
    config_id: str
    destination_bucket: str
    prefix: str
    format: str
    schedule: str
    enabled: bool

    @property
    def folder(self) -> str:
        """The key prefix every report of this configuration is under (ends in '/')."""
        base = f"{self.prefix.strip('/')}/" if self.prefix.strip("/") else ""
        return f"{base}{self.bucket}/{self.config_id}/"


@dataclass(frozen=True)
class DataFile:
    key: str
    size: int
    md5: str


@dataclass(frozen=True)
class InventoryReport:
    """One complete, verified report: its manifest, the columns of its data files and the files themselves."""

    source_bucket: str
    destination_bucket: str
    manifest_key: str
    created_at: str  # the report folder's YYYY-MM-DDTHH-MMZ
    creation_timestamp_ms: int
    format: str
    columns: tuple[str, ...]  # snake_case names (Parquet's own; CSV's mapped: ETag -> e_tag)
    files: tuple[DataFile, ...]
    symlink_key: str

    @property
    def label(self) -> str:
        return f"s3://{self.destination_bucket}/{self.manifest_key}"

    @property
    def hive_location(self) -> str:
        """The hive folder whose symlink.txt names exactly this report's files (an Athena table's LOCATION)."""
        return f"s3://{self.destination_bucket}/{self.symlink_key.rsplit('/', 1)[0]}/"


def snake(field: str) -> str:
    """A CSV schema name as the Parquet schema spells it: `ETag` -> `e_tag`, `IsLatest` -> `is_latest`."""
    return _CAMEL.sub("_", field.strip()).lower()


@contextlib.contextmanager
def _s3(operation: str, bucket: str, key: str) -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise MeasurementError(S3_FAILED.format(operation=operation, bucket=bucket, key=key,
                                                code=error.get("Code", "Unknown"),
                                                message=error.get("Message", exc))) from exc
    except BotoCoreError as exc:
        raise MeasurementError(UNREACHABLE.format(bucket=bucket, key=key, error=exc)) from exc


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def inventory_config(client: Any, bucket: str, config_id: str | None = None) -> InventoryConfig:
    """The bucket's inventory configuration (`config_id`, or its only one), as S3 answers it."""
    configs: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"Bucket": bucket}
    with _s3("ListBucketInventoryConfigurations", bucket, ""):
        while True:
            page = client.list_bucket_inventory_configurations(**kwargs)
            configs.extend(page.get("InventoryConfigurationList", ()))
            if not page.get("IsTruncated"):
                break
            kwargs["ContinuationToken"] = page["NextContinuationToken"]
    if config_id is not None:
        configs = [c for c in configs if c.get("Id") == config_id]
    if not configs:
        which = f" with id {config_id!r}" if config_id else ""
        raise MeasurementError(NO_CONFIGURATION.format(bucket=bucket, which=which))
    if len(configs) > 1:
        ids = ", ".join(sorted(str(c.get("Id")) for c in configs))
        raise MeasurementError(SEVERAL_CONFIGURATIONS.format(bucket=bucket, count=len(configs), ids=ids))
    (config,) = configs
    destination = config["Destination"]["S3BucketDestination"]
    result = InventoryConfig(
        bucket=bucket, config_id=str(config["Id"]), destination_bucket=destination["Bucket"].rsplit(":", 1)[-1],
        prefix=destination.get("Prefix", ""), format=destination.get("Format", "CSV"),
        schedule=config.get("Schedule", {}).get("Frequency", "Daily"), enabled=bool(config.get("IsEnabled")),
    )
    if not result.enabled:
        raise MeasurementError(DISABLED.format(id=result.config_id, bucket=bucket))
    return result


def _report_folders(client: Any, config: InventoryConfig) -> list[str]:
    folders: list[str] = []
    kwargs: dict[str, Any] = {"Bucket": config.destination_bucket, "Prefix": config.folder, "Delimiter": "/"}
    with _s3("ListObjectsV2", config.destination_bucket, config.folder):
        while True:
            page = client.list_objects_v2(**kwargs)
            for common in page.get("CommonPrefixes", ()):
                name = common["Prefix"][len(config.folder):].rstrip("/")
                if _REPORT_FOLDER.match(name):
                    folders.append(name)
            if not page.get("IsTruncated"):
                return sorted(folders)
            kwargs["ContinuationToken"] = page["NextContinuationToken"]


def _get(client: Any, bucket: str, key: str) -> bytes | None:
    try:
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if _code(exc) in ("NoSuchKey", "404"):
            return None
        with _s3("GetObject", bucket, key):
            raise
    except BotoCoreError as exc:
        raise MeasurementError(UNREACHABLE.format(bucket=bucket, key=key, error=exc)) from exc


def newest_report(client: Any, config: InventoryConfig) -> InventoryReport:
    """Read and verify the newest report of `config` (an error if it is missing, half-written or damaged)."""
    folders = _report_folders(client, config)
    if not folders:
        raise NoInventoryReport(NO_REPORT.format(bucket=config.bucket, id=config.config_id,
                                                destination=config.destination_bucket, folder=config.folder))
    folder = folders[-1]
    return read_report(client, config.destination_bucket, f"{config.folder}{folder}/{MANIFEST}")


def read_report(client: Any, destination: str, manifest_key: str) -> InventoryReport:
    """Read the report whose manifest is `manifest_key`, check its checksum, files and symlink."""
    folder_key = manifest_key.rsplit("/", 1)[0]
    raw = _get(client, destination, manifest_key)
    checksum = _get(client, destination, f"{folder_key}/{CHECKSUM}")
    for missing, present in ((MANIFEST, raw), (CHECKSUM, checksum)):
        if present is None:
            raise MeasurementError(HALF_WRITTEN.format(destination=destination, folder=f"{folder_key}/",
                                                       missing=missing))
    assert raw is not None and checksum is not None
    actual = hashlib.md5(raw).hexdigest()
    expected = checksum.decode("utf-8", "replace").strip().lower()
    if actual != expected:
        raise MeasurementError(CHECKSUM_MISMATCH.format(destination=destination, key=manifest_key, actual=actual,
                                                        expected=expected))
    report = _parse_manifest(raw, destination, manifest_key)
    _check_files(client, report)
    _check_symlink(client, report)
    return report


def _parse_manifest(raw: bytes, destination: str, key: str) -> InventoryReport:
    try:
        manifest = json.loads(raw)
        file_format = str(manifest["fileFormat"])
        schema = str(manifest["fileSchema"])
        files = tuple(DataFile(str(f["key"]), int(f["size"]), str(f["MD5checksum"]).lower())
                      for f in manifest["files"])
        created_ms = int(manifest.get("creationTimestamp", 0))
        source = str(manifest["sourceBucket"])
        data_bucket = str(manifest.get("destinationBucket", destination)).rsplit(":", 1)[-1]
    except (ValueError, KeyError, TypeError) as exc:
        raise MeasurementError(BAD_MANIFEST.format(destination=destination, key=key, detail=exc)) from exc
    if file_format not in ("CSV", "Parquet"):
        raise MeasurementError(UNSUPPORTED_FORMAT.format(destination=destination, key=key, format=file_format))
    if file_format == "CSV":
        columns = tuple(snake(name) for name in schema.split(","))
    else:
        columns = tuple(name.lower() for _kind, name in _PARQUET_FIELD.findall(schema))
    if "key" not in columns:
        raise MeasurementError(BAD_MANIFEST.format(destination=destination, key=key,
                                                   detail=f"its fileSchema {schema!r} has no key field"))
    folder = key.rsplit("/", 1)[0]
    stamp = folder.rsplit("/", 1)[-1]
    base = folder.rsplit("/", 1)[0]
    symlink = f"{base}/hive/dt={stamp[:10]}-{stamp[11:13]}-{stamp[14:16]}/symlink.txt"
    return InventoryReport(source, data_bucket, key, stamp, created_ms, file_format, columns, files, symlink)


def _check_files(client: Any, report: InventoryReport) -> None:
    """Every file the manifest names exists with the size it states (the MD5 is checked when a file is read)."""

    def head(item: DataFile) -> None:
        bucket = report.destination_bucket
        try:
            size = int(client.head_object(Bucket=bucket, Key=item.key)["ContentLength"])
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404", "NotFound"):
                raise MeasurementError(FILE_MISSING.format(bucket=bucket, key=item.key,
                                                           destination=report.destination_bucket,
                                                           manifest=report.manifest_key)) from exc
            with _s3("HeadObject", bucket, item.key):
                raise
        if size != item.size:
            raise MeasurementError(FILE_MISMATCH.format(bucket=bucket, key=item.key,
                                                        destination=report.destination_bucket,
                                                        manifest=report.manifest_key,
                                                        what=f"{size} bytes, the manifest says {item.size}"))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(head, report.files))


def _check_symlink(client: Any, report: InventoryReport) -> None:
    raw = _get(client, report.destination_bucket, report.symlink_key)
    if raw is None:
        raise MeasurementError(SYMLINK_MISMATCH.format(destination=report.destination_bucket, key=report.symlink_key,
                                                       manifest=report.manifest_key, detail="it does not exist"))
    named = {line.strip() for line in raw.decode("utf-8", "replace").splitlines() if line.strip()}
    expected = {f"s3://{report.destination_bucket}/{f.key}" for f in report.files}
    if named != expected:
        detail = f"{len(named - expected)} unknown, {len(expected - named)} not named"
        raise MeasurementError(SYMLINK_MISMATCH.format(destination=report.destination_bucket, key=report.symlink_key,
                                                       manifest=report.manifest_key, detail=detail))


def download(client: Any, report: InventoryReport, into: Path, *, workers: int = 8) -> list[Path]:
    """Fetch the report's data files into `into`, each checked against the MD5 the manifest states."""

    def fetch(numbered: tuple[int, DataFile]) -> Path:
        index, item = numbered
        suffix = ".csv.gz" if report.format == "CSV" else ".parquet"
        path = into / f"{index:06d}{suffix}"
        digest = hashlib.md5()
        with _s3("GetObject", report.destination_bucket, item.key):
            body = client.get_object(Bucket=report.destination_bucket, Key=item.key)["Body"]
            with path.open("wb") as out:
                for chunk in iter(lambda: body.read(1 << 20), b""):
                    digest.update(chunk)
                    out.write(chunk)
        if digest.hexdigest() != item.md5:
            raise MeasurementError(FILE_MISMATCH.format(bucket=report.destination_bucket, key=item.key,
                                                        destination=report.destination_bucket,
                                                        manifest=report.manifest_key,
                                                        what=f"MD5 {digest.hexdigest()}, the manifest says {item.md5}"))
        return path

    into.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fetch, enumerate(report.files)))


def local_report(root: Path, manifest_key: str) -> tuple[InventoryReport, list[Path]]:
    """A report copied to disk as it lies in its bucket (`root/<key>`), verified as `read_report` verifies it."""
    manifest_path = root / manifest_key
    checksum_path = manifest_path.with_name(CHECKSUM)
    for missing, path in ((MANIFEST, manifest_path), (CHECKSUM, checksum_path)):
        if not path.exists():
            raise MeasurementError(HALF_WRITTEN.format(destination=root, folder=f"{manifest_path.parent.name}/",
                                                       missing=missing))
    raw = manifest_path.read_bytes()
    actual, expected = hashlib.md5(raw).hexdigest(), checksum_path.read_text(encoding="utf-8").strip().lower()
    if actual != expected:
        raise MeasurementError(CHECKSUM_MISMATCH.format(destination=root, key=manifest_key, actual=actual,
                                                        expected=expected))
    report = _parse_manifest(raw, str(root), manifest_key)
    paths = []
    for item in report.files:
        path = root / item.key
        if not path.exists():
            raise MeasurementError(FILE_MISSING.format(bucket=root, key=item.key, destination=root,
                                                       manifest=manifest_key))
        digest = hashlib.md5()
        with path.open("rb") as data:
            for chunk in iter(lambda: data.read(1 << 20), b""):
                digest.update(chunk)
        if path.stat().st_size != item.size or digest.hexdigest() != item.md5:
            what = (f"{path.stat().st_size} bytes, MD5 {digest.hexdigest()}; the manifest says {item.size} bytes, "
                    f"MD5 {item.md5}")
            raise MeasurementError(FILE_MISMATCH.format(bucket=root, key=item.key, destination=root,
                                                        manifest=manifest_key, what=what))
        paths.append(path)
    return report, paths
