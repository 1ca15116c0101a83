"""The fault drills run once per table and strike that table: a defect in the second table fails its drill only.

One offline world holds the guide's workload plus a second table (sessions, no sort key), with point-in-time
recovery turned off on the sessions table through the API. The table drills of the corruption, security and
service-fault suites then run against it in a subprocess. Each drill's records name the table it struck; the
sessions table's corruption is detected there (the keys the fault overwrote are the ones diverging in that
table), its point-in-time restore fails, and nothing of the metadata table's drills fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from drharness.config import load_workload
from drharness.deploy import deploy_workload
from drharness.results import RUN_ID_ENV, read_records
from drharness.target import OfflineTarget
from drharness.world import World
from drtests import test_data_corruption as corruption
from drtests import test_security as security
from drtests import test_service_fault as service

pytestmark = pytest.mark.e2e  # runs `pytest drtests` in a subprocess against a deployed world

REPO = Path(__file__).resolve().parents[2]
RUN = "per-table-drills"
# The sessions table is of a tier with an RTO of seconds: its restore, which cannot succeed, gives up that soon.
TWO_TABLES = """
[tiers.critical]
rto_hours = 4
rpo_hours = 1
topology = "multi-az+cross-region"

[tiers.important]
rto_hours = 0.002
rpo_hours = 4
topology = "multi-az"

[tiers.standard]
rto_hours = 72
rpo_hours = 24
topology = "single-az+backup"

[[tables]]
id = "metadata"

[[tables]]
id = "sessions"
tier = "important"
name = "${project}-${environment}-sessions"
hash_key = "session_id"
range_key = ""
"""
TABLE_DRILLS = "by_pitr or table_intact or table_writes"  # the -k of the per-table drills of the three suites
SESSIONS_RESTORE = "test_corrupted_items_are_detected_and_restored_by_pitr[sessions]"  # the one drill to fail
PER_TABLE = (corruption.DYNAMODB_DETECTED, corruption.DYNAMODB_RESTORE, corruption.DYNAMODB_REPAIRED,
             security.INTACT_DYNAMODB, service.WRITES_COMPLETE.format(service="dynamodb", operation="PutItem"),
             service.RETRIES.format(service="dynamodb", operation="PutItem"))
CLEARED_ENV = (RUN_ID_ENV, "DRHARNESS_ENDPOINT", "AWS_ENDPOINT_URL", "DRHARNESS_CONFIG", "DRHARNESS_TARGET",
               "DRHARNESS_SEED", "DRHARNESS_REPORTS", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")


def test_the_second_tables_drills_strike_it_and_its_defect_fails_only_them(tmp_path: Path) -> None:
    config = tmp_path / "workload.toml"
    config.write_text(TWO_TABLES, encoding="utf-8")
    spec = load_workload(config)
    with World(spec.spec.offline, seed=19) as world:
        workload = spec.with_account(world.account_id)
        target = OfflineTarget(world.endpoint, world.account_id)
        deploy_workload(target, workload)
        metadata, sessions = (view.metadata_table for view in workload.each_table())
        target.client("dynamodb", workload.primary_region).update_continuous_backups(
            TableName=sessions, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
        env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
        env[RUN_ID_ENV] = RUN
        command = [sys.executable, "-m", "pytest", "drtests/test_data_corruption.py", "drtests/test_security.py",
                   "drtests/test_service_fault.py", "-m", "monthly", "-k", TABLE_DRILLS, "--dr-endpoint", world.endpoint,
                   "--dr-config", str(config), "--dr-reports", str(tmp_path / "reports"), "-p", "no:cacheprovider",
                   "-q", "-rf"]
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert world.faults.active() == []  # every drill's fault was reverted, the failing one's too
    failed = sorted(line.split()[1] for line in done.stdout.splitlines() if line.startswith("FAILED "))
    assert done.returncode == 1, done.stdout[-3000:]
    assert failed == [f"drtests/test_data_corruption.py::{SESSIONS_RESTORE}"], done.stdout[-3000:]
    records = read_records(tmp_path / "reports", RUN)
    for check in PER_TABLE:  # one record per table, naming it
        named = sorted(r.resource.rsplit(" ", 1)[-1] for r in records if r.check == check)
        assert named == sorted([metadata, sessions]), (check, named)
    drilled = sorted(r.evidence["drilled"] for r in records if r.check == security.ISOLATED)
    assert drilled == sorted([f"dynamodb table {metadata}", f"dynamodb table {sessions}"])
    verdict = {(r.check, r.resource.rsplit(" ", 1)[-1]): r.verdict for r in records}
    # The fault struck the sessions table: what it overwrote is what diverged there, found by name.
    assert verdict[(corruption.DYNAMODB_DETECTED, sessions)] == "pass"
    assert verdict[(corruption.DYNAMODB_RESTORE, sessions)] == "fail"
    bad = {(check, table) for (check, table), v in verdict.items() if v not in ("pass", "info")}
    assert bad and all(table == sessions for _, table in bad), bad
