"""`drharness init` end to end: its config deploys a fresh world with the same DR settings, and drills unedited.

The round trip: init on a world with the default deployment; a fresh world deployed from the written
config reads back with no finding against the default config. The detection (e2e): a world with the
guide's workload plus a second replicated bucket, init by tag, the second bucket's rule disabled: the
monthly per-resource checks fail on that bucket, and only on it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from drharness.config import load_workload
from drharness.deploy import check_workload
from drharness.results import RUN_ID_ENV, read_records
from tests.functional.test_init import REPO, TAG, deployed, init

SECOND_BUCKET = REPO / "fixtures" / "two-buckets.toml"
CLEARED_ENV = (RUN_ID_ENV, "DRHARNESS_ENDPOINT", "AWS_ENDPOINT_URL", "DRHARNESS_CONFIG", "DRHARNESS_TARGET",
               "DRHARNESS_SEED", "DRHARNESS_REPORTS", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")


def test_a_fresh_world_deployed_from_the_written_config_has_the_defaults_dr_settings(tmp_path: Path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("", encoding="utf-8")
    output = tmp_path / "w.toml"
    for world, _ in deployed(empty, 22):
        assert init(world, output, "--tag", TAG) == 0
    default = load_workload(REPO / "workload.toml")
    for fresh, target in deployed(output, 24):
        assert check_workload(target, default.with_account(fresh.account_id)).findings == ()



def test_init_reads_a_team_workload_back_plan_by_plan(tmp_path: Path) -> None:
    """The example's three buckets, two tables, two compute environments and two backup plans: init finds
    them by tag, puts the most critical first, names each resource's plan, and the world reads the file back clean."""
    example = REPO / "examples" / "multi-region-app" / "workload.toml"
    output = tmp_path / "w.toml"
    for world, target in deployed(example, 25):
        assert init(world, output, "--tag", "Project=multi-region-app", "--region", "eu-west-1") == 0
        written = load_workload(output, world.account_id)
        assert check_workload(target, written).findings == ()
    original = load_workload(example)
    assert [b.id for b in written.spec.buckets][0] == "uploads"  # the critical one: the drills strike it
    assert {b.id for b in written.spec.buckets} == {b.id for b in original.spec.buckets}
    assert {(t.id, t.backup_required) for t in written.spec.tables} == {("orders", True), ("sessions", False)}
    plan_of = {r.id: written.plan_of(r).spec.backup.id for r in (*written.spec.buckets, *written.spec.tables)
               if r.backup_required}
    assert plan_of == {"uploads": "hourly", "orders": "hourly", "models": "daily", "exports": "daily"}
    assert sorted(c.id for c in written.spec.compute_environments) == ["training", "workers"]


@pytest.mark.e2e  # runs the monthly checks in a subprocess against a world
def test_a_second_buckets_broken_rule_fails_its_checks_and_only_them(tmp_path: Path) -> None:
    for world, target in deployed(SECOND_BUCKET, 23):
        written = tmp_path / "w.toml"
        assert init(world, written, "--tag", TAG) == 0
        workload = load_workload(written, world.account_id)
        assert [b.id for b in workload.spec.buckets] == ["data", "models"]
        models = workload.focus(bucket="models").data_bucket
        s3 = target.client("s3", workload.primary_region)
        replication = s3.get_bucket_replication(Bucket=models)["ReplicationConfiguration"]
        replication["Rules"][0]["Status"] = "Disabled"
        s3.put_bucket_replication(Bucket=models, ReplicationConfiguration=replication)
        env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
        env[RUN_ID_ENV] = "init-two-buckets"
        reports = tmp_path / "reports"
        # The per-resource checks of configuration and consistency. (The replication module's checks of the
        # broken bucket fail too, each after waiting out its 30 s offline cap; the region drills measure on the first bucket.)
        command = [sys.executable, "-m", "pytest", "drtests/test_config_compliance.py", "drtests/test_consistency.py",
                   "-m", "monthly", "--dr-endpoint", world.endpoint,
                   "--dr-config", str(written), "--dr-reports", str(reports), "-p", "no:cacheprovider", "-q", "-rf"]
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
        failed = sorted(line.split()[1] for line in done.stdout.splitlines() if line.startswith("FAILED "))
        assert done.returncode == 1, done.stdout[-3000:]
        assert failed and all("models" in test_id for test_id in failed), failed
        records = read_records(reports, "init-two-buckets")
        bad = {(r.check, r.resource) for r in records if r.verdict not in ("pass", "info")}
        # Records name resources with the account masked: the bucket is told by its own part of the name.
        assert bad and all("-models-" in resource for _, resource in bad), bad
        assert {"config:s3-replication-rule", "config:rpo-mechanism:bucket", "consistency:s3-replica"} <= {c for c, _ in bad}
        passed = {r.check for r in records if r.verdict == "pass" and "-production-data-" in r.resource}
        # The critical data bucket is also compared at rest, from its inventory reports (models, important, has none).
        assert {"config:s3-replication-rule", "config:rpo-mechanism:bucket", "consistency:s3-replica",
                "consistency:s3-replica-at-rest"} <= passed
