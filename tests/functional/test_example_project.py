"""examples/multi-region-app: a project outside the package, drilled by an installed drharness.

Its monthly run (drharness's suites by `--pyargs drtests`, and its own `dr_checks/`) passes offline on
its own workload.toml, with one record per (check, resource): each per-resource check once for each of
its three buckets and two tables, the corruption, security and service-fault drills among them (the
security drill's key records once per bucket and table it was drilled for).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from drharness.config import load_workload
from drharness.results import RUN_ID_ENV, read_records
from drtests import test_data_corruption as corruption
from drtests import test_security as security
from drtests import test_service_fault as service

pytestmark = pytest.mark.e2e  # runs `pytest -m monthly` in the example's folder, in a subprocess

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "multi-region-app"
CLEARED_ENV = (RUN_ID_ENV, "DRHARNESS_ENDPOINT", "AWS_ENDPOINT_URL", "DRHARNESS_CONFIG", "DRHARNESS_TARGET",
               "DRHARNESS_SEED", "DRHARNESS_REPORTS", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")
PER_BUCKET = ("config:s3-replication-rule", "config:s3-replication-time-control", "config:rpo-mechanism:bucket",
              "replication:s3-lag", "replication:s3-replication-status", "consistency:s3-replica",
              corruption.S3_DETECTED, corruption.S3_RESTORE, f"{corruption.S3_RESTORE}-consistency",
              security.INTACT_S3, service.WRITES_COMPLETE.format(service="s3", operation="PutObject"),
              service.RETRIES.format(service="s3", operation="PutObject"))
PER_TABLE = ("config:dynamodb-pitr", "config:dynamodb-global-replica", "config:rpo-mechanism:table",
             "replication:dynamodb-global-table-lag", "consistency:dynamodb-replica", "orders:table-replica",
             corruption.DYNAMODB_DETECTED, corruption.DYNAMODB_RESTORE, corruption.DYNAMODB_REPAIRED,
             security.INTACT_DYNAMODB, service.WRITES_COMPLETE.format(service="dynamodb", operation="PutItem"),
             service.RETRIES.format(service="dynamodb", operation="PutItem"))
# The security drill's records of the key itself: one per bucket and table, the drilled one in their evidence.
PER_KEY = (security.COMPROMISE_REAL, security.ISOLATED, security.ISOLATION_TIME)


def test_the_example_projects_monthly_run_passes_with_one_record_per_check_and_resource(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    env[RUN_ID_ENV] = "example-monthly"
    reports = tmp_path / "reports"
    done = subprocess.run([sys.executable, "-m", "pytest", "-m", "monthly", "-n", "2", "-q", "--dr-reports", str(reports)],
                          cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-4000:]
    assert "dr_checks/test_orders.py" in subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "monthly", "--co", "-q"], cwd=EXAMPLE, env=env, capture_output=True,
        text=True, timeout=120, check=False).stdout
    workload = load_workload(EXAMPLE / "workload.toml")
    records = read_records(reports, "example-monthly")
    per_check = Counter((r.check, r.resource) for r in records)
    assert all(count == 1 for count in per_check.values()), [k for k, n in per_check.items() if n > 1]
    # Records name resources with the account masked: a resource is told by its own part of the name.
    for checks, names in ((PER_BUCKET, [f"-{b.id}-" for b in workload.spec.buckets]),
                          (PER_TABLE, [f"-{t.id}" for t in workload.spec.tables]),
                          (("config:batch-multi-az", "az:compute-capacity"),
                           [f"-{c.id}" for c in workload.spec.compute_environments])):
        for check in checks:
            resources = [resource for (name, resource) in per_check if name == check]
            assert len(resources) == len(names), (check, resources)
            assert all(sum(part in resource for resource in resources) == 1 for part in names), (check, resources)
    drilled_parts = [f"-{b.id}-" for b in workload.spec.buckets] + [f"-{t.id}" for t in workload.spec.tables]
    for check in PER_KEY:
        drilled = [r.evidence["drilled"] for r in records if r.check == check]
        assert len(drilled) == len(drilled_parts), (check, drilled)
        assert all(sum(part in name for name in drilled) == 1 for part in drilled_parts), (check, drilled)
