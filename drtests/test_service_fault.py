"""Monthly: one service throttles. The workload's retry path must still complete a batch of writes to each
table (DynamoDB PutItem throttled) and to each bucket (S3 PutObject SlowDown), one drill per resource.

The writes go through a client configured as the workload's own (standard retries, room for
throttling); each write's retries are read from the SDK's response metadata and set beside the
world's count of throttled calls, so the attempts recorded are the attempts made.
"""

from __future__ import annotations

import time
import uuid

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from drharness.results import Objective
from drharness.pytest_plugin.fixtures import WORKLOAD_RETRIES

# No tier marker here: each test carries the tier of its bucket or table (dr_bucket, dr_table).
pytestmark = [pytest.mark.monthly, pytest.mark.service]

SCENARIO = "service"
WRITES_COMPLETE = "service:{service}-{operation}-writes-complete"
RETRIES = "service:{service}-{operation}-retries"
BATCH = 12
RATE = 0.5
# Throttling backs off by up to 1 s, 2 s, 4 s... per retry: a bounded number of throttled calls keeps the
# run short while every retry path (first and later attempts) is still taken.
MAX_HITS = 4


def _writer(service, client, workload, token):
    """One write of the batch to the table or bucket in `workload`'s focus, as the embedding job makes it."""
    if service == "dynamodb":
        spec = workload.spec.table

        def write(i):
            item = {spec.hash_key: {"S": f"drharness-service#{token}"}, "status": {"S": "EMBEDDED"}}
            if spec.range_key:
                item[spec.range_key] = {"S": f"{i:04d}"}
            else:
                item[spec.hash_key] = {"S": f"drharness-service#{token}#{i:04d}"}
            return client.put_item(TableName=workload.metadata_table, Item=item)
    else:
        prefix = f"{workload.spec.bucket.replication.prefix}drharness-service/{token}/"

        def write(i):
            return client.put_object(Bucket=workload.data_bucket, Key=f"{prefix}{i:04d}.json", Body=b'{"embedding": []}')
    return write


def test_table_writes_complete_through_throttling(dr_table, retrying_target, fault_backend, dr_fault, dr_record):
    """Throttle a share of PutItem calls; every write of the batch to the table completes through retries."""
    w = dr_table  # once per table of the workload
    _drill("dynamodb", "PutItem", w, f"dynamodb {w.metadata_table}", w.spec.table.tier,
           retrying_target, fault_backend, dr_fault, dr_record)


def test_bucket_writes_complete_through_throttling(dr_bucket, retrying_target, fault_backend, dr_fault, dr_record):
    """Throttle a share of PutObject calls (SlowDown); every write of the batch to the bucket completes."""
    w = dr_bucket  # once per bucket of the workload
    _drill("s3", "PutObject", w, f"s3 {w.data_bucket}", w.spec.bucket.tier,
           retrying_target, fault_backend, dr_fault, dr_record)


def _throttled_batch(write, fault_backend, dr_fault, params):
    """Write the batch while the fault holds.

    Returns (writes completed, attempts, errors, seconds, calls the target throttled, the fault).
    """
    completed, attempts, errors = 0, 0, []
    with dr_fault("service-fault", params) as fault:
        started = time.monotonic()
        for i in range(BATCH):
            try:
                answer = write(i)
            except ClientError as exc:
                attempts += 1 + int(exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0))
                errors.append(f"{exc.response.get('Error', {}).get('Code')}: {exc}")
                continue
            except BotoCoreError as exc:
                attempts += 1
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            attempts += 1 + int(answer["ResponseMetadata"].get("RetryAttempts", 0))
            completed += 1
        elapsed = time.monotonic() - started
        hits = next((f.hits for f in fault_backend.active() if f.id == fault.id), None)
    return completed, attempts, errors, elapsed, hits, fault


def _drill(service, operation, w, resource, tier, retrying_target, fault_backend, dr_fault, dr_record):
    """Throttle `service`:`operation` in the primary region and judge the batch written to `resource` through it."""
    write = _writer(service, retrying_target.client(service, w.primary_region), w, uuid.uuid4().hex[:10])
    params = {"service": service, "operation": operation, "region": w.primary_region, "mode": "throttle", "rate": RATE,
              "max_hits": MAX_HITS}
    completed, attempts, errors, elapsed, hits, fault = _throttled_batch(write, fault_backend, dr_fault, params)
    evidence = {"batch": BATCH, "rate": RATE, "max_hits": MAX_HITS, "attempts": attempts,
                "throttled_calls_seen_by_world": hits, "retry_mode": WORKLOAD_RETRIES["mode"],
                "max_attempts": WORKLOAD_RETRIES["max_attempts"], "fault": fault.id, "errors": errors[:10]}
    done = dr_record.measure(
        check=WRITES_COMPLETE.format(service=service, operation=operation), scenario=SCENARIO, resource=resource, tier=tier,
        metric="writes_completed", value=float(completed) if hits else None, unit="writes",
        verdict=None if hits else "error",  # a fault that throttled nothing tested no retry path: no verdict
        objective=Objective("writes_completed", BATCH, "writes", ">=", f"the whole batch through {fault.params.summary()}"),
        reason=(f"{resource}: {completed} of {BATCH} {operation} calls completed in {elapsed:.3f} s "
                f"with {attempts} attempts"
                + (f"; last error {errors[-1]}" if errors else "")
                + ("" if hits else "; the fault throttled no call, so the retry path was not exercised")),
        duration_seconds=elapsed, evidence=evidence,
    )
    # The harness checks itself: the throttling reached the workload's own client (it retried).
    retried = dr_record.measure(
        check=RETRIES.format(service=service, operation=operation), scenario=SCENARIO, resource=resource, tier=tier,
        metric="retry_attempts", value=float(attempts - BATCH), unit="attempts", kind="self-check",
        objective=Objective("retry_attempts", 1, "attempts", ">=", "the fault throttled the workload's own calls"),
        reason=(f"{resource}: {attempts - BATCH} retries for {BATCH} writes; the target throttled {hits} calls"),
        duration_seconds=elapsed, evidence=evidence,
    )
    assert retried.verdict == "pass", retried.reason
    assert done.verdict == "pass", done.reason
