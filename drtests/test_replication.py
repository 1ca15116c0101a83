"""Daily checklist: replication is healthy. Lag is measured by probe writes, not read from a setting.

S3: the lag distribution against S3 RTC's window (from the rule as the target shows it), the
ReplicationStatus each side reports, the prefix filter, and delete markers as the rule says. DynamoDB:
the global table's lag against the tier's objective.
"""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from drharness.instruments import LagProbe
from drharness.results.objectives import objectives_for
from drharness.results import Objective
from drharness.waiting import wait_until
from drtests._support import wait_limit

pytestmark = [pytest.mark.daily, pytest.mark.monthly, pytest.mark.replication, pytest.mark.critical]

SCENARIO = "replication"
S3_LAG = "replication:s3-lag"
DYNAMODB_LAG = "replication:dynamodb-global-table-lag"
S3_STATUS = "replication:s3-replication-status"
S3_PREFIX_FILTER = "replication:s3-prefix-filter"
S3_DELETE_MARKERS = "replication:s3-delete-markers"
PROBES = 20
STATUS_OBJECTS = 3
OUTSIDE_FOLDER = "drharness-outside-replication/"
MARKER_ON_COPY = "a delete marker on the copy"
COPY_KEPT = "the copy kept"


def _rtc_minutes(rule):
    """The RTC window of the rule as the target shows it (None when RTC is off)."""
    rtc = ((rule or {}).get("Destination") or {}).get("ReplicationTime") or {}
    return int((rtc.get("Time") or {}).get("Minutes")) if rtc.get("Status") == "Enabled" else None


def _s3_lag_objective(config_reads, workload):
    return objectives_for(workload, workload.spec.bucket.tier,
                          rtc_minutes=_rtc_minutes(config_reads.replication_rule)).replication_lag


def _status(s3, bucket, key):
    return s3.head_object(Bucket=bucket, Key=key).get("ReplicationStatus")


def _absent(s3, bucket, key):
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return True
        raise
    return False


def test_s3_replication_lag_within_objective(dr_target, dr_bucket, config_reads, dr_keep):
    """The p99 lag of probe objects under the replicated prefix, against S3 RTC's window."""
    w = dr_bucket
    config_reads = config_reads.focused(w)
    objective = _s3_lag_objective(config_reads, w)
    probe = LagProbe.s3(dr_target.client("s3", w.primary_region), w.data_bucket,
                        dr_target.client("s3", w.secondary_region), w.backup_bucket,
                        prefix=f"{w.spec.bucket.replication.prefix}_lagprobe/")
    lag = probe.run(PROBES, timeout_s=wait_limit(dr_target, objective.limit))
    record = dr_keep(lag.to_record(objective, scenario=SCENARIO, tier=w.spec.bucket.tier, target=dr_target, check=S3_LAG))
    assert record.verdict == "pass", record.reason


def test_dynamodb_global_table_lag_within_objective(dr_target, dr_table, dr_keep):
    """The p99 lag of probe items from the primary table to its replica in the secondary region."""
    w = dr_table
    spec = w.spec.table
    objective = objectives_for(w, spec.tier).replication_lag
    probe = LagProbe.dynamodb(dr_target.client("dynamodb", w.primary_region),
                              dr_target.client("dynamodb", w.secondary_region), w.metadata_table,
                              hash_key=spec.hash_key, range_key=spec.range_key)
    lag = probe.run(PROBES, timeout_s=wait_limit(dr_target, objective.limit))
    record = dr_keep(lag.to_record(objective, scenario=SCENARIO, tier=spec.tier, target=dr_target, check=DYNAMODB_LAG))
    assert record.verdict == "pass", record.reason


def test_s3_replication_status_on_both_sides(dr_target, dr_bucket, config_reads, dr_record):
    """Each replicated object reads COMPLETED on the source and REPLICA on the copy, with the same content."""
    w = dr_bucket
    config_reads = config_reads.focused(w)
    source, replica = dr_target.client("s3", w.primary_region), dr_target.client("s3", w.secondary_region)
    folder = f"{w.spec.bucket.replication.prefix}drharness-status/{uuid.uuid4().hex[:12]}/"
    etags = {}
    with dr_record.timed() as clock:
        for i in range(STATUS_OBJECTS):
            key = f"{folder}{i:02d}"
            etags[key] = source.put_object(Bucket=w.data_bucket, Key=key, Body=f"status probe {i}".encode())["ETag"]
        limit = wait_limit(dr_target, _s3_lag_objective(config_reads, w).limit)
        wait_until(lambda: all(_status(source, w.data_bucket, k) in ("COMPLETED", "FAILED") for k in etags), limit,
                   0.02, what="ReplicationStatus COMPLETED or FAILED on the source")
    seen = {}
    for key, etag in etags.items():
        source_status = _status(source, w.data_bucket, key)
        try:
            copy = replica.head_object(Bucket=w.backup_bucket, Key=key)
            seen[key] = (source_status, copy.get("ReplicationStatus"), copy["ETag"] == etag)
        except ClientError as exc:
            seen[key] = (source_status, exc.response.get("Error", {}).get("Code"), False)
    good = sum(1 for s, r, same in seen.values() if s == "COMPLETED" and r == "REPLICA" and same)
    record = dr_record.measure(
        check=S3_STATUS, scenario=SCENARIO, resource=f"s3 bucket {w.data_bucket}", tier=w.spec.bucket.tier,
        metric="objects_replicated_with_status", value=float(good), unit="objects",
        objective=Objective("objects_replicated_with_status", STATUS_OBJECTS, "objects", ">=",
                            "source COMPLETED, copy REPLICA with the same ETag"),
        reason=f"{w.data_bucket} -> {w.backup_bucket}: " + "; ".join(
            f"{k.rsplit('/', 1)[-1]} source {s}, copy {r}{'' if same else ', content differs or missing'}"
            for k, (s, r, same) in seen.items()),
        started_at=clock.started_at, duration_seconds=clock.duration_seconds,
        evidence={"objects": {k: {"source": s, "copy": r, "same_etag": same} for k, (s, r, same) in seen.items()}},
    )
    assert record.verdict == "pass", record.reason


def test_s3_prefix_filter_is_honoured(dr_target, dr_bucket, config_reads, settle_replication, dr_record):
    """An object outside the rule's prefix is not replicated, while one inside (the control) is."""
    w = dr_bucket
    config_reads = config_reads.focused(w)
    rule_filter = (config_reads.replication_rule or {}).get("Filter") or {}
    prefix = str(rule_filter.get("Prefix", w.spec.bucket.replication.prefix))
    resource = f"s3 bucket {w.data_bucket}"
    if not prefix:
        dr_record.measure(check=S3_PREFIX_FILTER, scenario=SCENARIO, resource=resource, tier=w.spec.bucket.tier,
                          metric="objects_outside_prefix_replicated", value=None, unit="objects", verdict="info",
                          reason=f"{w.data_bucket}: the rule replicates every key; there is no outside to test")
        pytest.skip("the replication rule has no prefix")
    source, replica = dr_target.client("s3", w.primary_region), dr_target.client("s3", w.secondary_region)
    token = uuid.uuid4().hex[:12]
    outside, inside = f"{OUTSIDE_FOLDER}{token}", f"{prefix}drharness-control/{token}"
    limit = wait_limit(dr_target, _s3_lag_objective(config_reads, w).limit)
    outside_version = source.put_object(Bucket=w.data_bucket, Key=outside,
                                        Body=b"outside the replicated prefix").get("VersionId")
    try:
        source.put_object(Bucket=w.data_bucket, Key=inside, Body=b"inside the replicated prefix")
        control = wait_until(lambda: not _absent(replica, w.backup_bucket, inside), limit, 0.02,
                             what=f"the control object {inside} in {w.backup_bucket}")
        settled = settle_replication(limit, "s3", w)
        outside_status = _status(source, w.data_bucket, outside)
        leaked = 0 if _absent(replica, w.backup_bucket, outside) else 1
    finally:
        # Outside the prefix nothing replicates, so removing the version leaves no trace on either side.
        if outside_version:
            source.delete_object(Bucket=w.data_bucket, Key=outside, VersionId=outside_version)
    reason = (f"{w.data_bucket}: {outside} (outside {prefix!r}) {'reached' if leaked else 'did not reach'} "
              f"{w.backup_bucket}, source ReplicationStatus {outside_status or 'none'}; control {inside} "
              f"{'replicated' if control.ok else 'not replicated: ' + control.reason}"
              + ("" if settled else f"; replication had not settled within {limit:g} s: the outside object may arrive"))
    # Not reaching the copy proves nothing until the replication in flight has been applied.
    value = float(leaked + (1 if outside_status else 0)) if control.ok and settled else None
    record = dr_record.measure(
        check=S3_PREFIX_FILTER, scenario=SCENARIO, resource=resource, tier=w.spec.bucket.tier,
        metric="objects_outside_prefix_replicated", value=value, unit="objects",
        objective=Objective("objects_outside_prefix_replicated", 0, "objects", "==", f"rule prefix {prefix!r}"),
        reason=reason, evidence={"outside": outside, "inside": inside, "source_status": outside_status,
                                 "control_replicated": control.ok, "replication_settled": settled},
    )
    assert record.verdict == "pass", record.reason


def test_s3_delete_markers_replicate_as_the_rule_says(dr_target, dr_bucket, config_reads, settle_replication, dr_record):
    """Deleting a replicated object leaves a delete marker on the copy exactly when the rule replicates them."""
    w = dr_bucket
    config_reads = config_reads.focused(w)
    rule = config_reads.replication_rule or {}
    wanted = ((rule.get("DeleteMarkerReplication") or {}).get("Status") or "Disabled") == "Enabled"
    source, replica = dr_target.client("s3", w.primary_region), dr_target.client("s3", w.secondary_region)
    key = f"{w.spec.bucket.replication.prefix}drharness-delete/{uuid.uuid4().hex[:12]}"
    limit = wait_limit(dr_target, _s3_lag_objective(config_reads, w).limit)
    source.put_object(Bucket=w.data_bucket, Key=key, Body=b"to be deleted")
    copied = wait_until(lambda: not _absent(replica, w.backup_bucket, key), limit, 0.02, what=f"{key} in {w.backup_bucket}")
    source.delete_object(Bucket=w.data_bucket, Key=key)
    settled = True
    if wanted:
        wait_until(lambda: _absent(replica, w.backup_bucket, key), limit, 0.02, what=f"the delete marker of {key}")
    else:
        settled = settle_replication(limit, "s3", w)
    gone = _absent(replica, w.backup_bucket, key)
    versions = replica.list_object_versions(Bucket=w.backup_bucket, Prefix=key)
    marked = any(m["Key"] == key and m.get("IsLatest") for m in versions.get("DeleteMarkers", []))
    expected = MARKER_ON_COPY if wanted else COPY_KEPT
    if not copied.ok:
        found = f"the object never reached the copy ({copied.reason})"
    elif not settled:  # the copy still there proves nothing while the delete may be in flight
        found = f"replication had not settled within {limit:g} s"
    else:
        found = MARKER_ON_COPY if gone and marked else COPY_KEPT if not gone else "the copy gone without a delete marker"
    record = dr_record.compliance(
        check=S3_DELETE_MARKERS, resource=f"s3 bucket {w.backup_bucket}", ok=found == expected,
        expected=f"{expected} (DeleteMarkerReplication {'Enabled' if wanted else 'Disabled'})", actual=found,
        tier=w.spec.bucket.tier, scenario=SCENARIO,
    )
    assert record.verdict == "pass", record.reason
