"""S3 replication for the offline world: the stored rules, honoured asynchronously.

What AWS does and this engine does too: only writes made after the rule exist replicate; the rule
with the highest priority among the enabled rules whose filter matches decides per destination;
delete markers replicate only with `DeleteMarkerReplication` enabled, version-specific deletes never;
the source shows `ReplicationStatus` PENDING then COMPLETED (FAILED when the destination is missing
or unversioned, or when the rule's role may not replicate the object: `services.s3.role`) and the copy
shows REPLICA; the replica keeps the source's version id and takes the
rule's storage class and replica KMS key. Faults (a paused bucket, a region down at either end) hold
replication until they are reverted; ground truth records when each write was accepted and applied.
"""

from __future__ import annotations

import contextlib
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

import xmltodict

from drharness.config import LagModel
from drharness.world.engine import BaseEngine
from drharness.world.faults.table import FaultTable
from drharness.world.lag import LagSampler
from drharness.world.moto import cloudwatch as moto_cloudwatch
from drharness.world.moto import s3 as moto_s3
from drharness.world.plane import Plane
from drharness.world.services.s3.listing import ListingIndex
from drharness.world.services.s3.role import replication_refusal
from drharness.world.truth import WriteRecord
from drharness.world.wire import AwsRequest, CapturedResponse

_WRITE_OPS = ("PutObject", "CopyObject", "CompleteMultipartUpload")
_RULE_OPS = ("PutBucketReplication", "DeleteBucketReplication", "DeleteBucket")


@dataclass(frozen=True)
class Rule:
    rule_id: str
    priority: int
    prefix: str
    destination_bucket: str
    storage_class: str | None
    replica_kms_key: str | None
    delete_markers: bool
    role: str | None = None
    metrics: bool = False  # replication metrics (or RTC, which turns them on) enabled on the rule


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def parse_rules(config: dict[str, Any] | None) -> list[Rule]:
    """Turn moto's stored ReplicationConfiguration into the enabled rules."""
    rules = []
    role = (config or {}).get("Role")
    for raw in _as_list((config or {}).get("Rule")):
        if str(raw.get("Status", "")) != "Enabled":
            continue
        flt = raw.get("Filter") or {}
        prefix = raw.get("Prefix") or flt.get("Prefix") or (flt.get("And") or {}).get("Prefix") or ""
        destination = raw.get("Destination") or {}
        bucket_arn = str(destination.get("Bucket", ""))
        encryption = destination.get("EncryptionConfiguration") or {}
        rules.append(
            Rule(
                rule_id=str(raw.get("ID", "")),
                priority=int(raw.get("Priority") or 0),
                prefix=str(prefix),
                destination_bucket=bucket_arn.rsplit(":", 1)[-1],
                storage_class=destination.get("StorageClass"),
                replica_kms_key=encryption.get("ReplicaKmsKeyID"),
                delete_markers=str((raw.get("DeleteMarkerReplication") or {}).get("Status", "Disabled")) == "Enabled",
                role=str(role) if role else None,
                metrics=any(str((destination.get(part) or {}).get("Status", "")) == "Enabled"
                            for part in ("Metrics", "ReplicationTime")),
            )
        )
    return rules


def winning_rules(rules: list[Rule], key: str) -> list[Rule]:
    """Per destination, the highest-priority enabled rule whose prefix matches."""
    best: dict[str, Rule] = {}
    for rule in rules:
        if key.startswith(rule.prefix):
            current = best.get(rule.destination_bucket)
            if current is None or rule.priority > current.priority:
                best[rule.destination_bucket] = rule
    return list(best.values())


class S3ReplicationEngine(BaseEngine):
    def __init__(self, plane: Plane, faults: FaultTable, lag: LagModel) -> None:
        self._plane = plane
        self._faults = faults
        self.lag = LagSampler(lag, plane.rng)
        self._lock = threading.Lock()
        self._status: dict[tuple[str, str, str], str] = {}
        self._pending: dict[tuple[str, str], tuple[int, int]] = {}  # (bucket, rule id) -> (operations, bytes)
        self._rules: dict[str, list[Rule]] = {}
        # ListObjectsV2 from a sorted key index; False leaves every listing to moto.
        self.indexed_listing = True
        self.listing = ListingIndex()

    # -- what clients see -----------------------------------------------------------------------------

    def status(self, bucket: str, key: str, version_id: str) -> str | None:
        with self._lock:
            return self._status.get((bucket, key, version_id))

    def _set_status(self, bucket: str, key: str, version_id: str, status: str) -> None:
        with self._lock:
            self._status[(bucket, key, version_id)] = status

    def rules_for(self, bucket: str) -> list[Rule]:
        with self._lock:
            if bucket not in self._rules:
                try:
                    config = moto_s3.s3_backend().get_bucket_replication(bucket)
                except Exception:  # noqa: BLE001 - a missing bucket has no rules
                    config = None
                self._rules[bucket] = parse_rules(config)
            return self._rules[bucket]

    # -- the HTTP path --------------------------------------------------------------------------------

    def before(self, request: AwsRequest) -> CapturedResponse | None:
        if self.indexed_listing and request.service == "s3" and request.operation == "ListObjectsV2":
            return self.listing.list_objects_v2(request)
        return None

    def after(self, request: AwsRequest, response: CapturedResponse) -> None:
        if request.service == "s3" and request.mutating and request.s3_bucket:
            self.listing.changed(request.s3_bucket)  # even a failed write may have changed some keys
        if request.service != "s3" or not response.ok:
            return
        op, bucket = request.operation, request.s3_bucket
        if bucket is None:
            return
        if op == "GetBucketReplication":
            self._replication_readback(bucket, response)
            return
        if op in _RULE_OPS:
            with self._lock:
                self._rules.pop(bucket, None)
            return
        if op in ("GetObject", "HeadObject"):
            version = response.header("x-amz-version-id") or "null"
            status = self.status(bucket, request.s3_key or "", version)
            if status:
                response.set_header("x-amz-replication-status", status)
            return
        if op in _WRITE_OPS and request.s3_key:
            version = response.header("x-amz-version-id") or "null"
            self._on_write(bucket, request.s3_key, version, "put")
        elif op == "DeleteObject" and request.s3_key and "versionId" not in request.query:
            if (response.header("x-amz-delete-marker") or "").lower() == "true":
                self._on_write(bucket, request.s3_key, response.header("x-amz-version-id") or "null", "delete-marker")
        elif op == "DeleteObjects":
            for key, marker_version in _deleted_markers(response.body):
                self._on_write(bucket, key, marker_version, "delete-marker")

    @staticmethod
    def _replication_readback(bucket: str, response: CapturedResponse) -> None:
        """Answer with the stored rules: moto's reply drops Filter, DeleteMarkerReplication and more."""
        stored = moto_s3.s3_backend().get_bucket_replication(bucket)
        if stored:
            body = {"@xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
                    **{k: v for k, v in stored.items() if not k.startswith("@")}}
            response.set_body(xmltodict.unparse({"ReplicationConfiguration": body}).encode())

    # -- replication ----------------------------------------------------------------------------------

    def _on_write(self, bucket: str, key: str, version: str, kind: str) -> None:
        rules = winning_rules(self.rules_for(bucket), key)
        if kind == "delete-marker":
            rules = [r for r in rules if r.delete_markers]
        if not rules:
            return
        source_region = moto_s3.bucket_region(bucket) or "us-east-1"
        accepted = self._plane.now()
        if kind == "put":
            self._set_status(bucket, key, version, "PENDING")
        for rule in rules:
            lag = self.lag.sample()
            dest_region = moto_s3.bucket_region(rule.destination_bucket) or source_region
            record = self._plane.truth.write(
                WriteRecord(
                    store="s3",
                    resource=bucket,
                    region=source_region,
                    key=key,
                    kind=kind,
                    accepted_at=accepted,
                    version=version,
                    planned_lag_seconds=lag,
                )
            )

            def blocked(record: WriteRecord = record, regions: tuple[str, str] = (source_region, dest_region)) -> bool:
                blockers = self._faults.replication_blockers("s3", bucket, regions)
                if blockers:
                    self._plane.truth.held(record, blockers)
                return bool(blockers)

            size = self._pending_change(rule, bucket, source_region, key, version, kind)

            def run(rule: Rule = rule, record: WriteRecord = record, dest_region: str = dest_region,
                    size: int = size) -> None:
                try:
                    self._apply(bucket, key, version, kind, rule, record, dest_region)
                finally:
                    self._pending_change(rule, bucket, source_region, key, version, kind, done_bytes=size)

            self._plane.submit(lag, run, blocked, f"s3 replicate {bucket}/{key}@{version}")

    def _pending_change(self, rule: Rule, bucket: str, region: str, key: str, version: str, kind: str,
                        done_bytes: int | None = None) -> int:
        """Count an operation in (or, with `done_bytes`, out of) the rule's pending gauges; its size in bytes.

        For a rule with replication metrics S3 publishes OperationsPendingReplication and
        BytesPendingReplication; here one point of each per change, so a minute's Maximum is its peak and
        a paused replication keeps them up until it resumes.
        """
        if not rule.metrics:
            return 0
        size = done_bytes if done_bytes is not None else 0
        if done_bytes is None and kind != "delete-marker":
            with contextlib.suppress(Exception):  # a version deleted meanwhile weighs nothing
                size = int(moto_s3.s3_backend().get_object(bucket, key, version_id=None if version == "null" else version).size)
        sign = -1 if done_bytes is not None else 1
        with self._lock:
            ops, pending = self._pending.get((bucket, rule.rule_id), (0, 0))
            ops, pending = max(0, ops + sign), max(0, pending + sign * size)
            self._pending[(bucket, rule.rule_id)] = (ops, pending)
        now = self._plane.now()
        dims = {"SourceBucket": bucket, "DestinationBucket": rule.destination_bucket, "RuleId": rule.rule_id}
        moto_cloudwatch.publish(region, "AWS/S3", "OperationsPendingReplication", dims, float(ops), "Count", now)
        moto_cloudwatch.publish(region, "AWS/S3", "BytesPendingReplication", dims, float(pending), "Bytes", now)
        return size

    def _apply(
        self, bucket: str, key: str, version: str, kind: str, rule: Rule, record: WriteRecord, dest_region: str
    ) -> None:
        backend = moto_s3.s3_backend()
        dest = backend.buckets.get(rule.destination_bucket)
        if dest is None or not dest.is_versioned:
            record.failed = "destination bucket missing" if dest is None else "destination bucket not versioned"
            if kind == "put":
                self._set_status(bucket, key, version, "FAILED")
            self._metric(rule, bucket, record, "OperationsFailedReplication", 1.0, "Count")
            return
        source = None if kind == "delete-marker" else backend.get_object(
            bucket, key, version_id=None if version == "null" else version)
        refusal = replication_refusal(
            rule.role, source_bucket=bucket, dest_bucket=rule.destination_bucket, key=key, kind=kind,
            source_region=record.region, dest_region=dest_region, replica_kms_key=rule.replica_kms_key,
            source_kms_key=source.kms_key_id if source is not None and source.encryption == "aws:kms" else None)
        if refusal:
            record.failed = refusal
            if kind == "put":
                self._set_status(bucket, key, version, "FAILED")
            self._metric(rule, bucket, record, "OperationsFailedReplication", 1.0, "Count")
            return
        if kind == "delete-marker":
            backend.delete_object(rule.destination_bucket, key)
            self.listing.changed(rule.destination_bucket)
            self._plane.truth.replicated(record, dest_region, self._plane.now())
            return
        if source is None:
            record.failed = "source version no longer exists"
            self._set_status(bucket, key, version, "FAILED")
            return
        replica = backend.put_object(
            rule.destination_bucket,
            key,
            source.value,
            storage=rule.storage_class,
            encryption="aws:kms" if rule.replica_kms_key else source.encryption,
            kms_key_id=rule.replica_kms_key or source.kms_key_id,
            disable_notification=True,
        )
        self.listing.changed(rule.destination_bucket)
        replica._metadata["Content-Type"] = source._metadata.get("Content-Type", "binary/octet-stream")
        if version != "null":
            replica._version_id = version
        self._set_status(rule.destination_bucket, key, replica.version_id, "REPLICA")
        self._set_status(bucket, key, version, "COMPLETED")
        applied = self._plane.now()
        self._plane.truth.replicated(record, dest_region, applied)
        self._metric(rule, bucket, record, "ReplicationLatency", applied - record.accepted_at, "Seconds", applied)

    def _metric(self, rule: Rule, bucket: str, record: WriteRecord, name: str, value: float, unit: str,
                at: float | None = None) -> None:
        """What S3 publishes in the source region for a rule with replication metrics: one point per object.

        CloudWatch's Maximum of ReplicationLatency and Sum of OperationsFailedReplication over a minute are
        then what AWS reports for that minute (the pending gauges: `_pending_change`).
        """
        if rule.metrics:
            moto_cloudwatch.publish(record.region, "AWS/S3", name, {
                "SourceBucket": bucket, "DestinationBucket": rule.destination_bucket, "RuleId": rule.rule_id},
                value, unit, self._plane.now() if at is None else at)


def _deleted_markers(body: bytes) -> list[tuple[str, str]]:
    """(key, delete-marker version) of each delete marker a DeleteObjects created."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return []
    found = []
    for element in root:
        if not element.tag.endswith("Deleted"):
            continue
        fields = {child.tag.rsplit("}", 1)[-1]: (child.text or "") for child in element}
        if fields.get("DeleteMarker", "").lower() == "true" and "VersionId" not in fields:
            found.append((fields.get("Key", ""), fields.get("DeleteMarkerVersionId", "null")))
    return found
