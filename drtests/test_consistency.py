"""Daily checklist: the DR copy holds what the primary holds. Primary vs replica, object by object and item by item.

Replication is settled first (offline: every replication not held by a fault has been applied; live:
the replica has caught up with the primary, within the replication-lag objective), so any difference
left is divergence, not lag. Whether it settled is in each record.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from drharness.instruments.consistency import BucketSide, TableSide, compare_buckets, compare_tables
from drharness.instruments.consistency.inventory import DuckDBEngine, InventorySide, compare_inventories
from drharness.instruments.consistency.inventory_report import NoInventoryReport
from drharness.results.objectives import objectives_for
from drtests._support import wait_limit

pytestmark = [pytest.mark.daily, pytest.mark.monthly, pytest.mark.consistency, pytest.mark.critical]

SCENARIO = "consistency"
S3_CONSISTENCY = "consistency:s3-replica"
S3_AT_REST = "consistency:s3-replica-at-rest"
DYNAMODB_CONSISTENCY = "consistency:dynamodb-replica"


def _with_settling(record, settled, limit_s):
    """The record with whether replication settled before the comparison: if not, a divergence may be lag."""
    evidence = {**record.evidence, "replication_settled": settled, "settle_limit_seconds": limit_s}
    reason = record.reason if settled else f"{record.reason}; replication had not settled within {limit_s:g} s"
    return replace(record, evidence=evidence, reason=reason)


def test_replica_bucket_matches_the_primary(dr_target, dr_bucket, workload_data, settle_replication, dr_keep):
    """Every object under the replicated prefix is in the replica bucket with the same size and ETag, and nothing else."""
    w = dr_bucket
    prefix = w.spec.bucket.replication.prefix
    limit = wait_limit(dr_target, objectives_for(w, w.spec.bucket.tier).replication_lag.limit)
    settled = settle_replication(limit, "s3", w)
    report = compare_buckets(BucketSide.of(dr_target, w.primary_region, w.data_bucket, prefix),
                             BucketSide.of(dr_target, w.secondary_region, w.backup_bucket, prefix))
    record = dr_keep(_with_settling(report.to_record(target=dr_target.name, scenario=SCENARIO,
                                                     resource=f"s3 bucket {w.data_bucket}", tier=w.spec.bucket.tier,
                                                     check=S3_CONSISTENCY), settled, limit))
    assert record.verdict == "pass", record.reason
    assert report.compared_count >= len(workload_data.object_keys), f"the seed data is not all there: {report.summary()}"


def test_replica_bucket_matches_at_rest(dr_target, dr_bucket, workload_data, settle_replication, fresh_inventory,
                                        dr_keep, dr_record):
    """The same, from the bucket's and the replica's newest S3 Inventory reports (DuckDB, in this process).

    Offline the reports are made now, after replication settled, so every key is judged. In an account S3
    makes them on its own schedule: keys written within the replication-lag objective before the earlier
    report may not have replicated when it was made, and are set aside (counted in the record), not judged."""
    w = dr_bucket
    if not w.spec.bucket.inventory_enabled:
        pytest.skip(f"bucket {w.data_bucket} has no S3 Inventory (its tier, or [buckets.inventory].enabled = false)")
    prefix = w.spec.bucket.replication.prefix
    lag = objectives_for(w, w.spec.bucket.tier).replication_lag.limit
    settled = settle_replication(wait_limit(dr_target, lag), "s3", w)
    reports_now = settled and fresh_inventory(w)
    config_id = w.spec.bucket.inventory.config_id
    try:
        report = compare_inventories(
            InventorySide(dr_target.client("s3", w.primary_region), w.data_bucket, prefix, config_id),
            InventorySide(dr_target.client("s3", w.secondary_region), w.backup_bucket, prefix, config_id),
            DuckDBEngine(), settle_seconds=None if reports_now else lag)
    except NoInventoryReport as exc:  # a report overdue is config:inventory-fresh's failure, not this one's
        dr_record.measure(check=S3_AT_REST, resource=f"s3 bucket {w.data_bucket}", metric="divergent_keys",
                          value=None, unit="keys", verdict="info", tier=w.spec.bucket.tier, scenario=SCENARIO,
                          reason=f"not compared at rest: {exc}")
        return
    record = dr_keep(report.to_record(target=dr_target.name, scenario=SCENARIO, resource=f"s3 bucket {w.data_bucket}",
                                      tier=w.spec.bucket.tier, check=S3_AT_REST))
    assert record.verdict == "pass", record.reason
    if reports_now:  # reports made after the seed data was written and replicated hold all of it
        assert report.compared_count >= len(workload_data.object_keys), f"the seed data is not all there: {report.summary()}"


def test_replica_table_matches_the_primary(dr_target, dr_table, workload_data, settle_replication, dr_keep):
    """Every item of each table is in its replica in the secondary region, attribute for attribute."""
    w = dr_table
    limit = wait_limit(dr_target, objectives_for(w, w.spec.table.tier).replication_lag.limit)
    settled = settle_replication(limit, "dynamodb", w)
    report = compare_tables(TableSide.of(dr_target, w.primary_region, w.metadata_table),
                            TableSide.of(dr_target, w.secondary_region, w.metadata_table))
    record = dr_keep(_with_settling(report.to_record(target=dr_target.name, scenario=SCENARIO,
                                                     resource=f"dynamodb table {w.metadata_table}",
                                                     tier=w.spec.table.tier, check=DYNAMODB_CONSISTENCY),
                                    settled, limit))
    assert record.verdict == "pass", record.reason
    assert report.compared_count >= len(workload_data.item_keys), f"the seed data is not all there: {report.summary()}"
