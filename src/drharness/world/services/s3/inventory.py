"""S3 Inventory for the offline world: every enabled configuration's reports, published by the world clock.

A report goes where AWS puts it (https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory-location.html),
under `destination-prefix/source-bucket/config-ID/` in the destination bucket::

    data/{uuid}.csv.gz | data/{uuid}.parquet       the rows, at most `rows_per_file` per file
    hive/dt=YYYY-MM-DD-HH-MM/symlink.txt            the data files' s3:// URIs, one a line
    YYYY-MM-DDTHH-MMZ/manifest.json                 sourceBucket, destinationBucket, version, creationTimestamp,
                                                    fileFormat, fileSchema, files [{key, size, MD5checksum}]
    YYYY-MM-DDTHH-MMZ/manifest.checksum             the MD5 of manifest.json, written last

What the rows hold is `services.s3.inventory_rows` (fields of
https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory.html#storage-inventory-contents);
ReplicationStatus comes from the world's replication engine, as HeadObject shows it.

The schedule follows the world clock: a configuration never reported is due at the first tick (AWS: within
48 hours), then a Daily one 24 hours after its last report and a Weekly one on the next Sunday, 00:00 UTC
(AWS: "every Sunday after the initial report"); a tick publishes each due report once, however many periods
it skipped. The report's timestamp is the world clock when it is published. A report that cannot be
written (ORC, a missing destination, one in another region) is a world error, and nothing of it is written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from drharness.errors import WorldError
from drharness.world.engine import BaseEngine
from drharness.world.moto import s3 as moto_s3
from drharness.world.plane import Plane
from drharness.world.services.s3.inventory_config import InventorySpec, get_answer, list_answer, parse_spec
from drharness.world.services.s3.inventory_rows import (
    Field, Row, csv_file, csv_schema, parquet_file, parquet_schema, report_fields, report_rows,
)
from drharness.world.services.s3.replication import S3ReplicationEngine
from drharness.world.wire import AwsRequest, CapturedResponse, error_response

DEFAULT_ROWS_PER_FILE = 1_000_000
MANIFEST_VERSION = "2016-11-30"
DAY_SECONDS = 86400.0

ORC_NOT_WRITTEN = ("S3 inventory {id!r} of bucket {bucket!r} asks for ORC reports, which the offline world does "
                   "not write: set its Destination Format to CSV or Parquet")
NO_DESTINATION = ("S3 inventory {id!r} of bucket {bucket!r} delivers to bucket {destination!r}, which does not "
                  "exist: create it in {region} or correct the configuration's Destination Bucket")
OTHER_REGION = ("S3 inventory {id!r} of bucket {bucket!r} delivers to bucket {destination!r} in {destination_region}, "
                "but S3 delivers inventory reports only to a bucket in the source bucket's region ({region})")
NO_SOURCE = "S3 inventory {id!r}: its source bucket {bucket!r} no longer exists"


@dataclass(frozen=True)
class DataFile:
    """One data file of a report as the manifest lists it."""

    key: str
    size: int
    md5: str


def next_report_at(frequency: str, last: float) -> float:
    """When a configuration reported at `last` (epoch seconds) is due again: 24 h on, or the next Sunday 00:00 UTC."""
    if frequency != "Weekly":
        return last + DAY_SECONDS
    moment = dt.datetime.fromtimestamp(last, dt.timezone.utc)
    midnight = dt.datetime.combine(moment.date(), dt.time(), dt.timezone.utc)
    sunday = midnight + dt.timedelta(days=(6 - moment.weekday()) % 7)
    if sunday <= moment:
        sunday += dt.timedelta(days=7)
    return sunday.timestamp()


class S3InventoryEngine(BaseEngine):
    """Publishes S3 Inventory reports into their destination buckets through the world's own S3 client."""

    def __init__(self, plane: Plane, replication: S3ReplicationEngine, rows_per_file: int = DEFAULT_ROWS_PER_FILE) -> None:
        moto_s3.keep_inventory_configurations_as_put()
        self._plane = plane
        self._replication = replication
        self.rows_per_file = rows_per_file
        self._lock = threading.Lock()
        self._publishing = threading.Lock()  # one publication at a time: a tick and a publish() may race
        self._last: dict[tuple[str, str], float] = {}  # (source bucket, config id) -> last report, epoch s

    # -- the HTTP path --------------------------------------------------------------------------------

    def before(self, request: AwsRequest) -> CapturedResponse | None:
        """DeleteBucketInventoryConfiguration, which moto would take for DeleteBucket."""
        if request.service != "s3" or request.operation != "DeleteBucketInventory" or request.s3_bucket is None:
            return None
        config_id = (request.query.get("id") or [""])[0]
        if not moto_s3.delete_inventory_configuration(request.s3_bucket, config_id):
            return error_response("s3", 404, "NoSuchConfiguration", "The specified configuration does not exist.")
        return CapturedResponse(204, [("Content-Length", "0")])

    def after(self, request: AwsRequest, response: CapturedResponse) -> None:
        """Answer GetBucketInventoryConfiguration and its listing with the configurations as they were put."""
        if request.service != "s3" or request.operation != "GetBucketInventory" or not response.ok:
            return
        bucket = request.s3_bucket
        if bucket is None:
            return
        configs = [raw for _, raw in moto_s3.s3_inventory_configurations(bucket)]
        if "id" in request.query:
            wanted = request.query["id"][0]
            found = [raw for raw in configs if str(raw.get("Id")) == wanted]
            if found:
                response.set_body(get_answer(found[0]))
            return
        response.set_body(list_answer(configs))

    # -- the schedule ---------------------------------------------------------------------------------

    def tick(self) -> None:
        """Publish every report that came due by the world clock."""
        self._run(bucket=None, due_only=True)

    def publish(self, bucket: str | None = None) -> list[str]:
        """Publish a report of every enabled configuration (of `bucket`, or every bucket) now, due or not.

        Returns the keys of the manifest.json files written (in their destination buckets); a
        configuration that cannot be reported is left out and recorded in the world's errors.
        """
        return self._run(bucket=bucket, due_only=False)

    def last_report_at(self, bucket: str, config_id: str) -> float | None:
        """The world time (epoch seconds) of the configuration's last report; None before the first."""
        with self._lock:
            return self._last.get((bucket, config_id))

    def _due(self, spec: InventorySpec, now: float) -> bool:
        last = self.last_report_at(spec.source_bucket, spec.config_id)
        return last is None or now >= next_report_at(spec.frequency, last)

    def _run(self, bucket: str | None, due_only: bool) -> list[str]:
        written: list[str] = []
        with self._publishing:
            now = self._plane.now()
            for source, raw in moto_s3.s3_inventory_configurations(bucket, self._plane.account_id):
                spec = parse_spec(source, raw)
                if not spec.enabled or (due_only and not self._due(spec, now)):
                    continue
                with self._lock:  # an attempt counts: a failing configuration is reported once a period
                    self._last[(spec.source_bucket, spec.config_id)] = now
                try:
                    written.append(self._publish(spec, now))
                except WorldError as exc:
                    self._plane.report(str(exc))
                except Exception as exc:  # noqa: BLE001 - one failed report must not stop the others
                    self._plane.report(f"S3 inventory {spec.config_id!r} of bucket {spec.source_bucket!r}: "
                                       f"{type(exc).__name__}: {exc}")
        return written

    # -- one report -----------------------------------------------------------------------------------

    def _publish(self, spec: InventorySpec, now: float) -> str:
        """Write one report (data files, symlink, manifest, checksum last); the manifest's key."""
        client = self._client_for(spec)
        versions = moto_s3.s3_versions(spec.source_bucket, spec.filter_prefix, self._plane.account_id)
        if versions is None:
            raise WorldError(NO_SOURCE.format(id=spec.config_id, bucket=spec.source_bucket))
        fields = report_fields(spec)
        rows = report_rows(spec, versions, lambda key, version: self._replication.status(spec.source_bucket, key, version))
        files = [self._put(client, spec, f"{spec.folder}/data/{self._uuid()}.{spec.data_extension}",
                           self._data_file(spec, fields, chunk))
                 for chunk in _chunks(rows, max(1, int(self.rows_per_file)))]
        stamp = time.gmtime(now)
        symlink = "".join(f"s3://{spec.destination_bucket}/{f.key}\n" for f in files).encode()
        self._put(client, spec, f"{spec.folder}/hive/dt={time.strftime('%Y-%m-%d-%H-%M', stamp)}/symlink.txt", symlink)
        folder = f"{spec.folder}/{time.strftime('%Y-%m-%dT%H-%MZ', stamp)}"
        manifest = json.dumps(_manifest(spec, fields, files, now)).encode()
        self._put(client, spec, f"{folder}/manifest.json", manifest)
        self._put(client, spec, f"{folder}/manifest.checksum", hashlib.md5(manifest).hexdigest().encode())
        return f"{folder}/manifest.json"

    def _client_for(self, spec: InventorySpec) -> Any:
        """The world's S3 client in the destination's region, once the destination is known to take the report."""
        if spec.format == "ORC":
            raise WorldError(ORC_NOT_WRITTEN.format(id=spec.config_id, bucket=spec.source_bucket))
        region = moto_s3.bucket_region(spec.source_bucket, self._plane.account_id) or "us-east-1"
        destination_region = moto_s3.bucket_region(spec.destination_bucket, self._plane.account_id)
        if destination_region is None:
            raise WorldError(NO_DESTINATION.format(id=spec.config_id, bucket=spec.source_bucket,
                                                   destination=spec.destination_bucket, region=region))
        if destination_region != region:
            raise WorldError(OTHER_REGION.format(id=spec.config_id, bucket=spec.source_bucket,
                                                 destination=spec.destination_bucket,
                                                 destination_region=destination_region, region=region))
        return self._plane.client("s3", region)

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._plane.rng.getrandbits(128), version=4))

    @staticmethod
    def _data_file(spec: InventorySpec, fields: Sequence[Field], rows: Sequence[Row]) -> bytes:
        return csv_file(fields, rows) if spec.format == "CSV" else parquet_file(fields, rows)

    @staticmethod
    def _put(client: Any, spec: InventorySpec, key: str, body: bytes) -> DataFile:
        encryption: dict[str, str] = {}
        if spec.sse:
            encryption["ServerSideEncryption"] = spec.sse
            if spec.sse_kms_key_id:
                encryption["SSEKMSKeyId"] = spec.sse_kms_key_id
        client.put_object(Bucket=spec.destination_bucket, Key=key, Body=body, **encryption)
        return DataFile(key, len(body), hashlib.md5(body).hexdigest())


def _chunks(rows: list[Row], size: int) -> list[list[Row]]:
    """The rows in files of at most `size`; one empty file when there is none (the report still has a file)."""
    return [rows[i:i + size] for i in range(0, len(rows), size)] or [[]]


def _manifest(spec: InventorySpec, fields: Sequence[Field], files: Sequence[DataFile], now: float) -> dict[str, Any]:
    schema = csv_schema(fields) if spec.format == "CSV" else parquet_schema(fields)
    return {
        "sourceBucket": spec.source_bucket,
        "destinationBucket": spec.destination_arn,
        "version": MANIFEST_VERSION,
        "creationTimestamp": str(int(now * 1000)),
        "fileFormat": spec.format,
        "fileSchema": schema,
        "files": [{"key": f.key, "size": f.size, "MD5checksum": f.md5} for f in files],
    }
