"""DynamoDB table exports to S3 in the offline world: ExportTableToPointInTime, DescribeExport, ListExports.

moto's own export writes the table's current items and no manifests, whatever time was asked for.
This engine answers the three operations in moto's place, as AWS documents them:

- An export reads the table as it was at `ExportTime` (default: the time of the request) from the
  table's point-in-time recovery history (`pitr.TableHistory`). It is refused as DynamoDB refuses it:
  TableNotFoundException, PointInTimeRecoveryUnavailableException, InvalidExportTimeException for a
  time outside [EarliestRestorableDateTime, LatestRestorableDateTime]. INCREMENTAL_EXPORT and the ION
  format are not modelled and are refused with a ValidationException that says so.
- It is IN_PROGRESS for `export_seconds` (the world's restore duration; infinite = never finishes),
  then COMPLETED with its files written; a missing bucket makes it FAILED (S3NoSuchBucket), as AWS
  reports it in DescribeExport rather than refusing the request.
- The objects follow the documented layout under `{S3Prefix}/AWSDynamoDB/{ExportId}/`: `_started`
  (written when the export begins), `data/{random}.json.gz` (gzip JSON lines of
  `{"Item": {typed attributes}}`, at most `items_per_file` items a file, one empty file for an empty
  table, each uploaded as one multipart part so its ETag has AWS's `-1` form), then, last,
  `manifest-files.json` (JSON lines: itemCount, md5Checksum as base64 of the MD5 digest, etag,
  dataFileS3Key), `manifest-files.md5`, `manifest-summary.json` and `manifest-summary.md5` (base64 MD5
  of the manifest), with the `.md5` names real exports write (the page calls them `.checksum`).
- ExportId is `{start, epoch milliseconds, 14 digits}-{8 hex}` and the ExportArn
  `{table ARN}/export/{ExportId}`, as in AWS's examples.

https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport.Output.html
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ExportTableToPointInTime.html
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_DescribeExport.html
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ListExports.html
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import gzip
import hashlib
import json
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from drharness.world.engine import BaseEngine
from drharness.world.moto import dynamodb as moto_ddb
from drharness.world.moto import s3 as moto_s3
from drharness.world.plane import Plane
from drharness.world.services.dynamodb.pitr import TableHistory
from drharness.world.services.dynamodb.protocol import (
    PITR_UNAVAILABLE,
    PITR_UNAVAILABLE_MESSAGE,
    VALIDATION,
    epoch_of,
    iso,
)
from drharness.world.wire import AwsError, AwsRequest, CapturedResponse, error_response, json_response

OPERATIONS = frozenset({"ExportTableToPointInTime", "DescribeExport", "ListExports"})

# Error codes as AWS names them; messages say what was wrong and what to do.
TABLE_NOT_FOUND = "TableNotFoundException"
INVALID_EXPORT_TIME = "InvalidExportTimeException"
EXPORT_NOT_FOUND = "ExportNotFoundException"
IDEMPOTENT_MISMATCH = "IdempotentParameterMismatchException"
TABLE_NOT_FOUND_MESSAGE = "Table not found: {table} in {region}; pass the ARN of an existing table as TableArn"
INVALID_EXPORT_TIME_MESSAGE = (
    "Invalid export time: {time} is outside the point in time recovery window [{earliest}, {latest}] of table "
    "'{table}'; pass an ExportTime inside it, or none to export the table as it is now"
)
NOT_MODELLED_MESSAGE = (
    "{field} {value} is not modelled by the offline world, which writes full exports in DynamoDB JSON only; "
    "omit {field} or pass {supported}"
)
EXPORT_NOT_FOUND_MESSAGE = "Export not found: {arn} in {region}; pass an ExportArn that ExportTableToPointInTime returned"
IDEMPOTENT_MISMATCH_MESSAGE = (
    "ClientToken {token} was used for an export with other parameters ({arn}); use a new ClientToken for a new export"
)
# FailureCode and FailureMessage of an export whose bucket does not exist, as AWS reports them.
NO_SUCH_BUCKET_CODE = "S3NoSuchBucket"
NO_SUCH_BUCKET_MESSAGE = "The specified bucket does not exist"

MANIFEST_VERSION = "2020-06-30"
DEFAULT_ITEMS_PER_FILE = 10_000
LIST_MAX_RESULTS = 25
CLIENT_TOKEN_HOURS = 8  # how long a ClientToken names the same export
_FILE_NAME_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # data files are named like AWS's, 26 base32 characters

HistoryOf = Callable[[str, str], "TableHistory | None"]  # (region, table) -> its PITR history, None when PITR is off
LatestOf = Callable[[TableHistory], float]  # a history -> its latest restorable time


@dataclass(frozen=True)
class ExportSpec:
    """What an ExportTableToPointInTime request asked for, resolved."""

    region: str
    table: str
    table_arn: str
    table_id: str
    bucket: str
    prefix: str | None
    bucket_owner: str | None
    sse_algorithm: str
    sse_kms_key_id: str | None
    client_token: str | None
    requested_at: float  # the export's StartTime
    export_time: float  # epoch seconds whose items the export holds (the StartTime unless one was asked for)
    request_digest: str  # the request's parameters, to tell a repeated ClientToken from a reused one


@dataclass
class ExportJob:
    """One export and how far it has got; `lock` is held while its files are written."""

    arn: str
    export_id: str
    spec: ExportSpec
    start_time: float
    started_monotonic: float
    images: list[Any]  # the items as at the export time, in key order (opaque moto images), until written
    status: str = "IN_PROGRESS"  # IN_PROGRESS | COMPLETED | FAILED
    end_time: float | None = None
    item_count: int = 0
    billed_size_bytes: int = 0
    failure_code: str | None = None
    failure_message: str | None = None
    data_keys: tuple[str, ...] = ()
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def key_prefix(self) -> str:
        """The folder of this export's objects: `{S3Prefix}/AWSDynamoDB/{ExportId}/`."""
        head = f"{self.spec.prefix.rstrip('/')}/" if self.spec.prefix else ""
        return f"{head}AWSDynamoDB/{self.export_id}/"

    @property
    def manifest_key(self) -> str:
        return f"{self.key_prefix}manifest-summary.json"


class DynamoDBExports(BaseEngine):
    """Table exports to S3, answered in moto's place, read from the PITR history the DynamoDB engine keeps.

    `history` and `latest_restorable` are the DynamoDB engine's own view of a table's PITR window;
    `export_seconds` is how long an export stays IN_PROGRESS (float('inf'): it never finishes);
    `items_per_file` is the most items a data file holds.
    """

    def __init__(self, plane: Plane, history: HistoryOf, latest_restorable: LatestOf, export_seconds: float,
                 items_per_file: int = DEFAULT_ITEMS_PER_FILE) -> None:
        self._plane = plane
        self._history = history
        self._latest = latest_restorable
        self._seconds = float(export_seconds)
        self.items_per_file = int(items_per_file)
        self._lock = threading.Lock()
        self._jobs: dict[str, ExportJob] = {}  # export ARN -> job, in the order they were asked for
        self._tokens: dict[tuple[str, str], str] = {}  # (region, ClientToken) -> export ARN

    @property
    def export_seconds(self) -> float:
        return self._seconds

    @export_seconds.setter
    def export_seconds(self, seconds: float) -> None:
        """Change how long exports run; one still running finishes by the new duration."""
        self._seconds = float(seconds)
        for job in self.jobs():
            if job.status == "IN_PROGRESS":
                self._schedule(job)

    def jobs(self) -> list[ExportJob]:
        """Every export the world was asked for, oldest first (ground truth for export readers)."""
        with self._lock:
            return list(self._jobs.values())

    # -- the HTTP path --------------------------------------------------------------------------------

    def before(self, request: AwsRequest) -> CapturedResponse | None:
        if request.service != "dynamodb" or request.operation not in OPERATIONS:
            return None
        try:
            if request.operation == "ExportTableToPointInTime":
                return self._export(request)
            if request.operation == "DescribeExport":
                return json_response("dynamodb", {"ExportDescription": self._describe_one(request)})
            return json_response("dynamodb", self._list(request))
        except AwsError as exc:
            return exc.response("dynamodb")
        except Exception as exc:  # noqa: BLE001 - answer as AWS does on its own failure; the world's health keeps it
            self._plane.report(f"DynamoDBExports.before {request.operation}: {exc!r}")
            return error_response("dynamodb", 500, "InternalServerError", f"the offline world failed: {exc!r}")

    def tick(self) -> None:
        self._finish_due(self.jobs())

    # -- ExportTableToPointInTime ---------------------------------------------------------------------------

    def _export(self, request: AwsRequest) -> CapturedResponse:
        body, region = request.json_body, request.region
        _refuse_unmodelled(body)
        spec, history = self._spec(region, body)
        with self._lock:
            known = self._tokens.get((region, spec.client_token)) if spec.client_token else None
            job = self._jobs.get(known) if known else None
            if job is not None and self._plane.now() - job.start_time < CLIENT_TOKEN_HOURS * 3600:
                if job.spec.request_digest != spec.request_digest:
                    message = IDEMPOTENT_MISMATCH_MESSAGE.format(token=spec.client_token, arn=job.arn)
                    raise AwsError(IDEMPOTENT_MISMATCH, message)
                return json_response("dynamodb", {"ExportDescription": self._description(job)})
            job = self._new_job(spec, history)
            self._jobs[job.arn] = job
            if spec.client_token:
                self._tokens[(region, spec.client_token)] = job.arn
        answer = json_response("dynamodb", {"ExportDescription": self._description(job)})
        self._begin(job)
        return answer

    def _spec(self, region: str, body: dict[str, Any]) -> tuple[ExportSpec, TableHistory]:
        given, bucket = str(body.get("TableArn") or ""), str(body.get("S3Bucket") or "")
        if not given or not bucket:
            raise AwsError(VALIDATION, "ExportTableToPointInTime needs TableArn and S3Bucket; pass both")
        table = moto_ddb.dynamodb_table_name(region, given) if given.startswith("arn:") else None
        if table is None:
            raise AwsError(TABLE_NOT_FOUND, TABLE_NOT_FOUND_MESSAGE.format(table=given, region=region))
        history = self._history(region, table)
        if history is None:
            raise AwsError(PITR_UNAVAILABLE, PITR_UNAVAILABLE_MESSAGE.format(table=table))
        now = self._plane.now()
        at = now if body.get("ExportTime") is None else epoch_of(body["ExportTime"])
        latest = self._latest(history)
        if at is None or (body.get("ExportTime") is not None and not history.earliest_at <= at <= latest):
            shown = iso(at) if at is not None else repr(body.get("ExportTime"))
            raise AwsError(INVALID_EXPORT_TIME, INVALID_EXPORT_TIME_MESSAGE.format(
                time=shown, earliest=iso(history.earliest_at), latest=iso(latest), table=table))
        spec = ExportSpec(
            region=region, table=table, table_arn=given, table_id=str(uuid.uuid5(uuid.NAMESPACE_URL, given)),
            bucket=bucket, prefix=_text(body.get("S3Prefix")), bucket_owner=_text(body.get("S3BucketOwner")),
            sse_algorithm=str(body.get("S3SseAlgorithm") or "AES256"), sse_kms_key_id=_text(body.get("S3SseKmsKeyId")),
            client_token=_text(body.get("ClientToken")), requested_at=now, export_time=at,
            request_digest=json.dumps({k: v for k, v in body.items() if k != "ClientToken"}, sort_keys=True, default=str),
        )
        return spec, history

    def _new_job(self, spec: ExportSpec, history: TableHistory) -> ExportJob:
        start = spec.requested_at
        export_id = f"{int(start * 1000):014d}-{self._plane.rng.getrandbits(32):08x}"
        state = history.state_at(spec.export_time)
        images = [state[key] for key in sorted(state)]
        return ExportJob(f"{spec.table_arn}/export/{export_id}", export_id, spec, start, time.monotonic(), images)

    def _begin(self, job: ExportJob) -> None:
        """Write `_started`, as AWS does to prove the bucket writable; a missing bucket fails the export."""
        try:
            self._put(job, f"{job.key_prefix}_started", b"")
        except _ExportFailed as failed:
            self._fail(job, failed.code, failed.message)
            return
        self._schedule(job)

    def _schedule(self, job: ExportJob) -> None:
        if math.isfinite(self._seconds):
            remaining = job.started_monotonic + self._seconds - time.monotonic()
            self._plane.submit(max(0.0, remaining), lambda: self._finish(job), lambda: False, f"dynamodb export {job.arn}")

    # -- finishing: the data files, then the manifests --------------------------------------------------------

    def _due(self, job: ExportJob) -> bool:
        return job.status == "IN_PROGRESS" and time.monotonic() - job.started_monotonic >= self._seconds

    def _finish_due(self, jobs: list[ExportJob]) -> None:
        for job in jobs:
            if self._due(job):
                self._finish(job)

    def _finish(self, job: ExportJob) -> None:
        """Write the export's files and complete it, once (a second caller waits for the first)."""
        with job.lock:
            if not self._due(job):
                return
            try:
                self._write_files(job)
            except _ExportFailed as failed:
                self._fail(job, failed.code, failed.message)
                return
            job.images = []  # written: the world keeps no second copy of the table
            job.status = "COMPLETED"

    def _write_files(self, job: ExportJob) -> None:
        per_file = max(1, self.items_per_file)
        chunks = [job.images[i:i + per_file] for i in range(0, len(job.images), per_file)] or [[]]
        entries, data_keys = [], []
        for chunk in chunks:
            key = f"{job.key_prefix}data/{self._file_name()}.json.gz"
            body = gzip.compress(b"".join(_data_line(image) for image in chunk), mtime=0)
            etag = self._upload(job, key, body)
            entries.append({"itemCount": len(chunk), "md5Checksum": _md5(body), "etag": etag, "dataFileS3Key": key})
            data_keys.append(key)
        files_key = f"{job.key_prefix}manifest-files.json"
        self._put_with_md5(job, files_key, "".join(_compact(entry) + "\n" for entry in entries).encode())
        job.data_keys = tuple(data_keys)
        job.item_count = len(job.images)
        job.billed_size_bytes = sum(int(image.size()) for image in job.images)  # moto's DynamoDB item size
        job.end_time = self._plane.now()
        self._put_with_md5(job, job.manifest_key, json.dumps(self._summary(job, files_key)).encode())

    def _summary(self, job: ExportJob, files_key: str) -> dict[str, Any]:
        """manifest-summary.json, its fields in the documented order."""
        spec = job.spec
        return {
            "version": MANIFEST_VERSION,
            "exportArn": job.arn,
            "startTime": _manifest_time(job.start_time),
            "endTime": _manifest_time(job.end_time if job.end_time is not None else job.start_time),
            "tableArn": spec.table_arn,
            "tableId": spec.table_id,
            "exportTime": _manifest_time(spec.export_time),
            "s3Bucket": spec.bucket,
            "s3Prefix": spec.prefix,
            "s3SseAlgorithm": spec.sse_algorithm,
            "s3SseKmsKeyId": spec.sse_kms_key_id,
            "manifestFilesS3Key": files_key,
            "billedSizeBytes": job.billed_size_bytes,
            "itemCount": job.item_count,
            "outputFormat": "DYNAMODB_JSON",
            "exportType": "FULL_EXPORT",
        }

    def _fail(self, job: ExportJob, code: str, message: str) -> None:
        job.failure_code, job.failure_message = code, message
        job.images = []  # never to be written
        job.end_time = self._plane.now()
        job.status = "FAILED"

    def _file_name(self) -> str:
        rng = self._plane.rng
        return "".join(rng.choice(_FILE_NAME_ALPHABET) for _ in range(26))

    # -- S3, through the world's own client (so replication and the request log see the writes) -----------

    def _s3(self, job: ExportJob) -> Any:
        region = moto_s3.bucket_region(job.spec.bucket)
        if region is None:
            raise _ExportFailed(NO_SUCH_BUCKET_CODE, NO_SUCH_BUCKET_MESSAGE)
        return self._plane.client("s3", region)

    def _encryption(self, job: ExportJob) -> dict[str, str]:
        if job.spec.sse_algorithm != "KMS":
            return {"ServerSideEncryption": "AES256"}
        key = {"SSEKMSKeyId": job.spec.sse_kms_key_id} if job.spec.sse_kms_key_id else {}
        return {"ServerSideEncryption": "aws:kms", **key}

    def _put(self, job: ExportJob, key: str, body: bytes) -> None:
        with _s3_failures():
            self._s3(job).put_object(Bucket=job.spec.bucket, Key=key, Body=body, **self._encryption(job))

    def _put_with_md5(self, job: ExportJob, key: str, body: bytes) -> None:
        """A manifest, then beside it `<name>.md5` holding the base64 MD5 of its bytes."""
        self._put(job, key, body)
        self._put(job, key.rsplit(".", 1)[0] + ".md5", _md5(body).encode())

    def _upload(self, job: ExportJob, key: str, body: bytes) -> str:
        """Upload a data file as AWS does, in a multipart upload (here of one part); its ETag, unquoted."""
        bucket = job.spec.bucket
        with _s3_failures():
            s3 = self._s3(job)
            upload = s3.create_multipart_upload(Bucket=bucket, Key=key, **self._encryption(job))["UploadId"]
            part = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=1, Body=body)["ETag"]
            done = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload,
                                                MultipartUpload={"Parts": [{"ETag": part, "PartNumber": 1}]})
        return str(done["ETag"]).strip('"')

    # -- DescribeExport and ListExports ------------------------------------------------------------------------

    def _describe_one(self, request: AwsRequest) -> dict[str, Any]:
        arn = str(request.json_body.get("ExportArn") or "")
        with self._lock:
            job = self._jobs.get(arn)
        if job is None or job.spec.region != request.region:
            raise AwsError(EXPORT_NOT_FOUND, EXPORT_NOT_FOUND_MESSAGE.format(arn=arn or "(none)", region=request.region))
        self._finish_due([job])
        return self._description(job)

    def _description(self, job: ExportJob) -> dict[str, Any]:
        """The ExportDescription AWS gives: totals and the manifest once COMPLETED, the failure once FAILED."""
        spec = job.spec
        optional = {"S3Prefix": spec.prefix, "S3BucketOwner": spec.bucket_owner, "S3SseKmsKeyId": spec.sse_kms_key_id,
                    "ClientToken": spec.client_token, "EndTime": job.end_time, "FailureCode": job.failure_code,
                    "FailureMessage": job.failure_message}
        description: dict[str, Any] = {
            "ExportArn": job.arn, "ExportStatus": job.status, "StartTime": job.start_time, "ExportTime": spec.export_time,
            "TableArn": spec.table_arn, "TableId": spec.table_id, "S3Bucket": spec.bucket,
            "S3SseAlgorithm": spec.sse_algorithm, "ExportFormat": "DYNAMODB_JSON", "ExportType": "FULL_EXPORT",
            **{name: value for name, value in optional.items() if value is not None},
        }
        if job.status == "COMPLETED":
            description.update(ExportManifest=job.manifest_key, ItemCount=job.item_count,
                               BilledSizeBytes=job.billed_size_bytes)
        return description

    def _list(self, request: AwsRequest) -> dict[str, Any]:
        """The region's exports, newest first, optionally of one table; pages of MaxResults (at most 25)."""
        body = request.json_body
        table_arn = _text(body.get("TableArn"))
        size = body.get("MaxResults", LIST_MAX_RESULTS)
        if not isinstance(size, int) or not 1 <= size <= LIST_MAX_RESULTS:
            raise AwsError(VALIDATION, f"MaxResults {size!r} must be an integer from 1 to {LIST_MAX_RESULTS}")
        jobs = [job for job in reversed(self.jobs())
                if job.spec.region == request.region and table_arn in (None, job.spec.table_arn)]
        self._finish_due(jobs)
        start = 0
        token = _text(body.get("NextToken"))
        if token is not None:
            arns = [job.arn for job in jobs]
            if token not in arns:
                raise AwsError(VALIDATION, f"NextToken {token} is not one this listing gave; list again without it")
            start = arns.index(token) + 1
        page = jobs[start:start + size]
        answer: dict[str, Any] = {"ExportSummaries": [
            {"ExportArn": job.arn, "ExportStatus": job.status, "ExportType": "FULL_EXPORT"} for job in page]}
        if start + size < len(jobs):
            answer["NextToken"] = page[-1].arn
        return answer


class _ExportFailed(Exception):
    """An export cannot write its objects: the FailureCode and FailureMessage DescribeExport shows."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@contextlib.contextmanager
def _s3_failures() -> Iterator[None]:
    """Turn an S3 refusal into the export's failure, named as AWS names it (S3NoSuchBucket, S3AccessDenied)."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error") or {}
        code = str(error.get("Code") or "Unknown")
        if code == "NoSuchBucket":
            raise _ExportFailed(NO_SUCH_BUCKET_CODE, NO_SUCH_BUCKET_MESSAGE) from exc
        raise _ExportFailed(f"S3{code}", str(error.get("Message") or exc)) from exc
    except BotoCoreError as exc:
        raise _ExportFailed("S3Unavailable", str(exc)) from exc


def _refuse_unmodelled(body: dict[str, Any]) -> None:
    for name, supported in (("ExportType", "FULL_EXPORT"), ("ExportFormat", "DYNAMODB_JSON")):
        value = body.get(name)
        if value is not None and value != supported:
            raise AwsError(VALIDATION, NOT_MODELLED_MESSAGE.format(field=name, value=value, supported=supported))


def _data_line(image: Any) -> bytes:
    """One exported item: `{"Item": {...}}` in DynamoDB JSON, binary values base64 as on the wire."""
    # A moto item renders itself in the wire format (its binary values as bytes, which _compact encodes).
    return (_compact({"Item": image.to_json()["Attributes"]}) + "\n").encode()


def _compact(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":"), default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode()
    raise TypeError(f"cannot write {type(value).__name__} into an export")


def _md5(body: bytes) -> str:
    """The MD5 digest of `body`, base64-encoded, as the manifests and `.md5` files give it."""
    return base64.b64encode(hashlib.md5(body).digest()).decode()  # noqa: S324 - a checksum, as AWS's is


def _manifest_time(epoch: float) -> str:
    """ISO 8601 UTC with milliseconds, as the manifests write it: 2020-11-04T07:28:34.028Z."""
    moment = dt.datetime.fromtimestamp(epoch, dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None
