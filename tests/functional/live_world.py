"""A world standing in for an account, for the live rehearsals: deployed, tagged and backed up as a team's.

The workload is deployed as it would be in the team's account; what the drills reach carries the
`[live].tag_scope` tags, as the team tags it; the account holds a day's backups, as one that follows
the guide does. `as_an_account` returns the live config and the environment a live run gets;
`nothing_left` says the run left no fault, experiment, template or deny behind. The workload's own
role (`embedding-worker`, in `[live].api_fault_roles`) is what the region drills act as.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from drharness.config import load_workload
from drharness.deploy import deploy_workload
from drharness.settings import LIVE_ENV, LIVE_ENV_VALUE
from drharness.target import OfflineTarget
from drharness.waiting import wait_until
from drharness.world.control import WorldClient
from drharness.pytest_plugin.fixtures import backup_arns, run_backups

FIS_FINISHED = ("completed", "stopped", "failed", "cancelled")
ROOT = Path(__file__).resolve().parents[2]
WORKLOAD_ROLE = "embedding-worker"


def workload_role(world) -> str:
    """The workload's own role, tagged into the scope; its trust lets the account (the harness) assume it too."""
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "batch.amazonaws.com"}, "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{world.account_id}:root"}, "Action": "sts:AssumeRole"}]})
    iam = world.client("iam", "us-east-1")
    try:
        return iam.get_role(RoleName=WORKLOAD_ROLE)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        return iam.create_role(RoleName=WORKLOAD_ROLE, AssumeRolePolicyDocument=trust,
                               Tags=[{"Key": "DRHarness", "Value": "allowed"}])["Role"]["Arn"]


def rehearsal_config(tmp_path: Path, account_id: str, extra: str = "") -> Path:
    path = tmp_path / "live.toml"
    path.write_text(textwrap.dedent(f"""
        [live]
        allowed_accounts = ["{account_id}"]
        allowed_regions = ["us-east-1", "us-west-2"]
        tag_scope = {{ DRHarness = "allowed" }}
        fis_role_arn = "arn:aws:iam::{account_id}:role/drharness-fis"
        fis_duration = "PT10M"
        api_fault_roles = ["arn:aws:iam::{account_id}:role/{WORKLOAD_ROLE}"]
        poll_seconds = 0.5
        probe_seconds = 0.2
    """) + textwrap.dedent(extra), encoding="utf-8")
    return path


def as_an_account(world, tmp_path: Path, extra: str = "") -> tuple[Path, dict[str, str]]:
    """Deploy the workload into the world and tag what drills reach into the scope, as a team would its account."""
    workload_role(world)
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
    for bucket in (view.data_bucket for view in workload.each_bucket()):
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [
            *s3.get_bucket_tagging(Bucket=bucket).get("TagSet", []), *scope]})
    for table in (view.metadata_table for view in workload.each_table()):
        for region in (workload.primary_region, workload.secondary_region):  # the table and its replica
            ddb = world.client("dynamodb", region)
            ddb.tag_resource(ResourceArn=ddb.describe_table(TableName=table)["Table"]["TableArn"], Tags=scope)
    todays_backups(world, workload)
    env = {**os.environ, LIVE_ENV: LIVE_ENV_VALUE, "AWS_ENDPOINT_URL": world.endpoint,
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "DRHARNESS_JOURNAL": str(tmp_path / "journal"), "DRHARNESS_REPORTS": str(tmp_path / "reports")}
    env.pop("AWS_PROFILE", None)
    return config, env


def todays_backups(world, workload) -> None:
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


def nothing_left(world) -> None:
    assert WorldClient(world.endpoint).faults() == [], "a world fault outlived the run"
    for region in ("us-east-1", "us-west-2"):
        fis = world.client("fis", region)
        running = [e["id"] for e in fis.list_experiments()["experiments"] if e["state"]["status"] not in FIS_FINISHED]
        assert running == [], f"experiments still running in {region}: {running}"
        assert fis.list_experiment_templates()["experimentTemplates"] == [], f"templates left in {region}"
    denies = world.client("iam", "us-east-1").list_role_policies(RoleName=WORKLOAD_ROLE)["PolicyNames"]
    assert denies == [], f"region-outage denies left on the workload's role: {denies}"


def live_suite(config: Path, env: dict[str, str], *tests: str) -> subprocess.CompletedProcess[str]:
    """`pytest TESTS --dr-target aws --dr-live --dr-config CONFIG` in a subprocess, as a team runs it."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", *tests, "--dr-target", "aws", "--dr-live", "--dr-config", str(config),
         "-q", "-p", "no:randomly", "-p", "no:cacheprovider", "-rs"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)


def run_records(reports: Path) -> dict[str, dict]:
    """A run's result records by check (under `reports`, as the run wrote them)."""
    found = {}
    for path in (reports / "results").glob("*/*.json"):
        record = json.loads(path.read_text(encoding="utf-8"))
        found[record["check"]] = record
    return found


def pilot_light(world) -> None:
    """The DR stack back to pilot light: DR resources off and no DR compute left in the secondary region."""
    stack = world.client("cloudformation", "us-west-2").describe_stacks(
        StackName="embedding-batch-workload-production-dr")["Stacks"][0]
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}["EnableDRResources"] == "false"
    assert world.client("batch", "us-west-2").describe_compute_environments()["computeEnvironments"] == []
