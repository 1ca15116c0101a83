"""Live rehearsals: a DR suite run with `--dr-target aws --dr-live` against the world standing in for an account.

The world is deployed as the team's workload would be in its account, its subnets tagged with the
`[live]` tag scope as the team tags them; the suite then reaches the world only through the AWS APIs
(STS, FIS, EC2, Batch ...), exactly as it would reach the account. What each run leaves is read back
from the world afterwards: no fault held, no experiment running, no template left.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from drharness.config import load_workload
from drharness.deploy import deploy_workload
from drharness.settings import LIVE_ENV, LIVE_ENV_VALUE
from drharness.target import OfflineTarget
from drharness.waiting import wait_until
from drharness.world.control import WorldClient
from fixtures.scenarios import backup_arns, run_backups

ROOT = Path(__file__).resolve().parents[2]
FIS_FINISHED = ("completed", "stopped", "failed", "cancelled")

pytestmark = pytest.mark.e2e


def rehearsal_config(tmp_path: Path, account_id: str, extra: str = "") -> Path:
    path = tmp_path / "live.toml"
    path.write_text(textwrap.dedent(f"""
        [live]
        allowed_accounts = ["{account_id}"]
        allowed_regions = ["us-east-1", "us-west-2"]
        tag_scope = {{ DRHarness = "allowed" }}
        fis_role_arn = "arn:aws:iam::{account_id}:role/drharness-fis"
        fis_duration = "PT10M"
    """) + textwrap.dedent(extra), encoding="utf-8")
    return path


def _as_an_account(world, tmp_path: Path, extra: str = "") -> tuple[Path, dict[str, str]]:
    """Deploy the workload into the world and tag what drills reach into the scope, as a team would its account."""
    config = rehearsal_config(tmp_path, world.account_id, extra)
    workload = load_workload(config).with_account(world.account_id)
    deploy_workload(OfflineTarget(world.endpoint, world.account_id), workload)
    scope = [{"Key": "DRHarness", "Value": "allowed"}]
    for region in (workload.primary_region, workload.secondary_region):
        ec2 = world.client("ec2", region)
        subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]]
        if subnets:
            ec2.create_tags(Resources=subnets, Tags=scope)
    s3 = world.client("s3", workload.primary_region)
    s3.put_bucket_tagging(Bucket=workload.data_bucket, Tagging={"TagSet": [
        *s3.get_bucket_tagging(Bucket=workload.data_bucket).get("TagSet", []), *scope]})
    ddb = world.client("dynamodb", workload.primary_region)
    ddb.tag_resource(ResourceArn=ddb.describe_table(TableName=workload.metadata_table)["Table"]["TableArn"], Tags=scope)
    _todays_backups(world, workload)
    env = {**os.environ, LIVE_ENV: LIVE_ENV_VALUE, "AWS_ENDPOINT_URL": world.endpoint,
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "DRHARNESS_JOURNAL": str(tmp_path / "journal"), "DRHARNESS_REPORTS": str(tmp_path / "reports")}
    env.pop("AWS_PROFILE", None)
    return config, env


def _todays_backups(world, workload) -> None:
    """The backups an account that follows the guide holds: vault recovery points of the table and the
    bucket from its Backup plan, and the file system's daily backup kept by FSx itself (not in the vault)."""
    target = OfflineTarget(world.endpoint, world.account_id)
    arns = backup_arns(target, workload)
    runs = run_backups(target, workload, [a for a in arns if ":file-system/" not in a])
    assert {r.state for r in runs} == {"COMPLETED"}, runs
    fsx = world.client("fsx", workload.primary_region)
    for arn in (a for a in arns if ":file-system/" in a):
        backup_id = fsx.create_backup(FileSystemId=arn.rsplit("/", 1)[-1])["Backup"]["BackupId"]
        assert wait_until(lambda: fsx.describe_backups(BackupIds=[backup_id])["Backups"][0]["Lifecycle"] == "AVAILABLE",
                          30.0, 0.05, what=f"FSx backup {backup_id}").ok


def _suite(config: Path, env: dict[str, str], *tests: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", *tests, "--dr-target", "aws", "--dr-live", "--dr-config", str(config),
         "-q", "-p", "no:randomly", "-p", "no:cacheprovider", "-rs"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)


def _nothing_left(world) -> None:
    assert WorldClient(world.endpoint).faults() == [], "a world fault outlived the run"
    for region in ("us-east-1", "us-west-2"):
        fis = world.client("fis", region)
        running = [e["id"] for e in fis.list_experiments()["experiments"] if e["state"]["status"] not in FIS_FINISHED]
        assert running == [], f"experiments still running in {region}: {running}"
        assert fis.list_experiment_templates()["experimentTemplates"] == [], f"templates left in {region}"


def _records(tmp_path: Path) -> dict[str, dict]:
    """The run's result records by check."""
    found = {}
    for path in (tmp_path / "reports" / "results").glob("*/*.json"):
        record = json.loads(path.read_text(encoding="utf-8"))
        found[record["check"]] = record
    return found


def _passes(world, tmp_path: Path, drill: str, passed: int) -> list:
    """Run one drill live; it must pass whole with nothing skipped. The world's request log afterwards."""
    config, env = _as_an_account(world, tmp_path)
    done = _suite(config, env, drill)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert f"{passed} passed" in out and "skipped" not in out, out[-2000:]
    assert {r["target"] for r in _records(tmp_path).values()} == {"aws"}
    return world.truth.requests()


def test_the_az_drill_runs_live_through_fis_and_leaves_nothing(world, tmp_path):
    requests = _passes(world, tmp_path, "drtests/test_az_outage.py", 1)
    # The zone went down through FIS alone: the experiment was made, confirmed running on its resolved
    # subnets, stopped and deleted through the FIS API; every request the outage touched names a FIS fault.
    fis_calls = {r.operation for r in requests if r.service == "fis"}
    assert {"CreateExperimentTemplate", "StartExperiment", "GetExperiment", "ListExperimentResolvedTargets",
            "StopExperiment", "DeleteExperimentTemplate"} <= fis_calls, sorted(fis_calls)
    assert all(r.fault_id.startswith("fis-") for r in requests if r.fault_id), "a fault came in by another path"
    _nothing_left(world)


def test_the_az_drill_fails_live_when_fis_refuses_and_names_what_fis_said(world, tmp_path):
    # A scope no subnet carries: FIS resolves no target and fails the experiment; the drill must say so.
    config, env = _as_an_account(world, tmp_path)
    text = config.read_text(encoding="utf-8").replace('tag_scope = { DRHarness = "allowed" }',
                                                       'tag_scope = { DRHarness = "nowhere" }')
    config.write_text(text, encoding="utf-8")
    done = _suite(config, env, "drtests/test_az_outage.py")
    out = done.stdout + done.stderr
    assert done.returncode != 0, out[-3000:]
    assert "passed" not in out.splitlines()[-1], out[-3000:]
    assert "az-outage" in out and "FIS experiment" in out and "Target resolution failed" in out, out[-3000:]
    # The record says error, not fail: the drill measured nothing, and no job was timed without the outage.
    records = _records(tmp_path)
    assert records["az:compute-capacity"]["verdict"] == "error" and records["az:compute-capacity"]["target"] == "aws"
    assert "az:batch-job-completes" not in records
    _nothing_left(world)


def test_the_security_drill_runs_live_with_a_harness_made_user_and_deletes_it(world, tmp_path):
    requests = _passes(world, tmp_path, "drtests/test_security.py", 1)
    iam_calls = {r.operation for r in requests if r.service == "iam"}
    assert {"CreateUser", "PutUserPolicy", "CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey",
            "DeleteUser"} <= iam_calls, sorted(iam_calls)
    # The leaked key was refused by IAM itself after isolation (403s on the key's own calls).
    assert any(r.status == 403 and r.access_key_id.startswith(("AKIA", "ASIA")) for r in requests)
    users = world.client("iam", "us-east-1").list_users()["Users"]
    assert [u["UserName"] for u in users if u["UserName"].startswith("drharness-")] == []
    _nothing_left(world)


def test_the_corruption_drill_runs_live_on_the_harness_data_only(world, tmp_path):
    _passes(world, tmp_path, "drtests/test_data_corruption.py", 2)
    # The point-in-time restore the drill made is gone again, and nothing is left corrupted.
    tables = world.client("dynamodb", "us-east-1").list_tables()["TableNames"]
    assert [t for t in tables if "before-corruption" in t] == [], tables
    _nothing_left(world)


def test_the_monthly_suite_runs_live_and_skips_only_the_drills_documented_offline_only(world, tmp_path):
    config, env = _as_an_account(world, tmp_path)
    done = _suite(config, env, "drtests", "-m", "monthly")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    skipped = sorted({line.split("drtests/")[1].split(":")[0] for line in out.splitlines()
                      if line.startswith("SKIPPED") and "drtests/" in line})
    # docs/live.md lists the drills that do not run live yet; nothing else may skip.
    assert skipped == ["test_region_failover.py"], out[-3000:]
    # Every fault came through the AWS APIs: the only world faults that touched a request are FIS's.
    assert all(r.fault_id.startswith("fis-") for r in world.truth.requests() if r.fault_id)
    _nothing_left(world)
