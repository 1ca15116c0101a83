"""Live rehearsals: a DR suite run with `--dr-target aws --dr-live` against the world standing in for an account.

The world is deployed as the team's workload would be in its account, its subnets tagged with the
`[live]` tag scope as the team tags them; the suite then reaches the world only through the AWS APIs
(STS, FIS, EC2, Batch ...), exactly as it would reach the account. What each run leaves is read back
from the world afterwards: no fault held, no experiment running, no template left.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from live_world import as_an_account, nothing_left

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


def _suite(config: Path, env: dict[str, str], *tests: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", *tests, "--dr-target", "aws", "--dr-live", "--dr-config", str(config),
         "-q", "-p", "no:randomly", "-p", "no:cacheprovider", "-rs"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)


def _records(tmp_path: Path) -> dict[str, dict]:
    """The run's result records by check."""
    found = {}
    for path in (tmp_path / "reports" / "results").glob("*/*.json"):
        record = json.loads(path.read_text(encoding="utf-8"))
        found[record["check"]] = record
    return found


def _passes(world, tmp_path: Path, drill: str, passed: int) -> list:
    """Run one drill live; it must pass whole with nothing skipped. The world's request log afterwards."""
    config, env = as_an_account(world, tmp_path)
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
    nothing_left(world)


def test_the_az_drill_fails_live_when_fis_refuses_and_names_what_fis_said(world, tmp_path):
    # A scope no subnet carries: FIS resolves no target and fails the experiment; the drill must say so.
    config, env = as_an_account(world, tmp_path)
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
    nothing_left(world)


def test_the_security_drill_runs_live_with_a_harness_made_user_and_deletes_it(world, tmp_path):
    requests = _passes(world, tmp_path, "drtests/test_security.py", 1)
    iam_calls = {r.operation for r in requests if r.service == "iam"}
    assert {"CreateUser", "PutUserPolicy", "CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey",
            "DeleteUser"} <= iam_calls, sorted(iam_calls)
    # The leaked key was refused by IAM itself after isolation (403s on the key's own calls).
    assert any(r.status == 403 and r.access_key_id.startswith(("AKIA", "ASIA")) for r in requests)
    users = world.client("iam", "us-east-1").list_users()["Users"]
    assert [u["UserName"] for u in users if u["UserName"].startswith("drharness-")] == []
    nothing_left(world)


def test_the_corruption_drill_runs_live_on_the_harness_data_only(world, tmp_path):
    _passes(world, tmp_path, "drtests/test_data_corruption.py", 2)
    # The point-in-time restore the drill made is gone again, and nothing is left corrupted.
    tables = world.client("dynamodb", "us-east-1").list_tables()["TableNames"]
    assert [t for t in tables if "before-corruption" in t] == [], tables
    nothing_left(world)


def test_the_region_drills_run_live_as_the_workloads_role_and_put_the_pilot_light_back(world, tmp_path):
    requests = _passes(world, tmp_path, "drtests/test_region_failover.py", 2)
    # The outage was an explicit deny on the workload's role, put and deleted through IAM; the pause was FIS's.
    iam_calls = [(r.operation, r.status) for r in requests if r.service == "iam"]
    assert ("PutRolePolicy", 200) in iam_calls and ("DeleteRolePolicy", 200) in iam_calls, iam_calls
    assert any(r.service == "sts" and r.operation == "AssumeRole" for r in requests)
    # The workload's own calls to the primary were refused by that deny (403s on an assumed role's key).
    assert any(r.status == 403 and r.access_key_id.startswith("ASIA") and r.region == "us-east-1" for r in requests)
    fis = {r.operation for r in requests if r.service == "fis"}
    assert {"StartExperiment", "StopExperiment"} <= fis, sorted(fis)
    assert all(r.fault_id.startswith("fis-") for r in requests if r.fault_id), "a fault came in by another path"
    records = _records(tmp_path)
    assert records["region:rto"]["verdict"] == "pass" and records["region:rto"]["evidence"]["observer"].endswith(
        ":role/embedding-worker")
    assert records["region:rpo-detects-loss-s3"]["verdict"] == "pass"
    _pilot_light(world)
    nothing_left(world)


def _pilot_light(world) -> None:
    """The DR stack back to pilot light: DR resources off and no DR compute left in the secondary region."""
    stack = world.client("cloudformation", "us-west-2").describe_stacks(
        StackName="embedding-batch-workload-production-dr")["Stacks"][0]
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}["EnableDRResources"] == "false"
    assert world.client("batch", "us-west-2").describe_compute_environments()["computeEnvironments"] == []


def test_the_recovery_runbook_runs_live_and_leaves_the_pilot_light(world, tmp_path):
    requests = _passes(world, tmp_path, "drtests/test_recovery_runbook.py", 3)
    # The primary was judged down as the workload's role (403s on its assumed-role key), so every recovery
    # verified against the source listing; the harness itself was never denied.
    assert any(r.status == 403 and r.access_key_id.startswith("ASIA") and r.region == "us-east-1" for r in requests)
    records = _records(tmp_path)
    runs = [records.get(f"recover-{kind}") for kind in ("full", "partial", "data-only")]
    assert all(r is not None and r["verdict"] == "pass" for r in runs), runs
    tables = world.client("dynamodb", "us-west-2").list_tables()["TableNames"]
    assert [t for t in tables if "-dr-" in t] == [], f"restored tables left: {tables}"
    _pilot_light(world)
    nothing_left(world)


def test_the_monthly_suite_runs_live_with_no_drill_skipped(world, tmp_path):
    config, env = as_an_account(world, tmp_path)
    done = _suite(config, env, "drtests", "-m", "monthly")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    skipped = [line for line in out.splitlines() if line.startswith("SKIPPED")]
    assert skipped == [] and "skipped" not in out.splitlines()[-1], out[-3000:]
    # Every fault came through the AWS APIs: the only world faults that touched a request are FIS's.
    assert all(r.fault_id.startswith("fis-") for r in world.truth.requests() if r.fault_id)
    nothing_left(world)
