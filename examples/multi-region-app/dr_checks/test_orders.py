"""This team's own DR checks, written with drharness's public API (the fixtures come with the plugin).

1. An order written in the primary region is readable in the DR region within the orders tier's
   replication-lag objective: measured by probe writes, not read from a setting.
2. Every table's DR replica holds what its primary holds once replication has settled: `dr_table`
   makes the test run once per table of workload.toml, the table's id in the test id.
"""

from __future__ import annotations

import pytest

from drharness.instruments import LagProbe
from drharness.instruments.consistency import TableSide, compare_tables
from drharness.results.objectives import objectives_for

pytestmark = [pytest.mark.monthly, pytest.mark.replication]

PROBES = 10
OFFLINE_WAIT_CAP_S = 30.0


def test_orders_reach_the_dr_region_within_the_objective(dr_target, dr_workload, dr_keep):
    orders = dr_workload.focus(table="orders")  # the workload seen from its orders table
    spec = orders.spec.table
    objective = objectives_for(orders, spec.tier).replication_lag
    probe = LagProbe.dynamodb(dr_target.client("dynamodb", orders.primary_region),
                              dr_target.client("dynamodb", orders.secondary_region), orders.metadata_table,
                              hash_key=spec.hash_key, range_key=spec.range_key)
    # Live, wait as long as the objective allows; offline, the world answers in well under a second.
    timeout = objective.limit if dr_target.name == "aws" else min(objective.limit, OFFLINE_WAIT_CAP_S)
    lag = probe.run(PROBES, timeout_s=timeout)
    record = dr_keep(lag.to_record(objective, scenario="orders", tier=spec.tier, target=dr_target,
                                   check="orders:replication-lag"))
    assert record.verdict == "pass", record.reason


def test_each_tables_replica_matches_its_primary(dr_target, dr_table, settle_replication, dr_keep):
    w = dr_table  # one test per table: w.metadata_table and w.spec.table are that table's
    limit = objectives_for(w, w.spec.table.tier).replication_lag.limit
    settled = settle_replication(min(limit, OFFLINE_WAIT_CAP_S), "dynamodb", w)
    report = compare_tables(TableSide.of(dr_target, w.primary_region, w.metadata_table),
                            TableSide.of(dr_target, w.secondary_region, w.metadata_table))
    record = dr_keep(report.to_record(target=dr_target.name, scenario="orders", resource=f"dynamodb table {w.metadata_table}",
                                      tier=w.spec.table.tier, check="orders:table-replica"))
    assert settled and record.verdict == "pass", record.reason
