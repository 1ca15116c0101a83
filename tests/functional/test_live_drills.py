"""Live rehearsals of single drills: `--dr-target aws --dr-live` against the world standing in for an account.

The monthly suite's drills are rehearsed together, in one live run, by `test_live_rehearsal`; here are
the runs that need a world of their own: the AZ drill against an FIS that resolves no target, and the
quarterly recovery runbook.

The world is deployed as the team's workload would be in its account, its subnets tagged with the
`[live]` tag scope as the team tags them; the suite then reaches the world only through the AWS APIs
(STS, FIS, EC2, Batch ...), exactly as it would reach the account. What each run leaves is read back
from the world afterwards: no fault held, no experiment running, no template left.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from live_world import as_an_account, live_suite, nothing_left, pilot_light, run_records

pytestmark = pytest.mark.e2e


def _passes(world, tmp_path: Path, drill: str, passed: int) -> list:
    """Run one drill live; it must pass whole with nothing skipped. The world's request log afterwards."""
    config, env = as_an_account(world, tmp_path)
    done = live_suite(config, env, drill)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert f"{passed} passed" in out and "skipped" not in out, out[-2000:]
    assert {r["target"] for r in run_records(tmp_path / "reports").values()} == {"aws"}
    return world.truth.requests()


def test_the_az_drill_fails_live_when_fis_refuses_and_names_what_fis_said(world, tmp_path):
    # A scope no subnet carries: FIS resolves no target and fails the experiment; the drill must say so.
    config, env = as_an_account(world, tmp_path)
    text = config.read_text(encoding="utf-8").replace('tag_scope = { DRHarness = "allowed" }',
                                                       'tag_scope = { DRHarness = "nowhere" }')
    config.write_text(text, encoding="utf-8")
    done = live_suite(config, env, "drtests/test_az_outage.py")
    out = done.stdout + done.stderr
    assert done.returncode != 0, out[-3000:]
    assert "passed" not in out.splitlines()[-1], out[-3000:]
    assert "az-outage" in out and "FIS experiment" in out and "Target resolution failed" in out, out[-3000:]
    # The record says error, not fail: the drill measured nothing, and no job was timed without the outage.
    records = run_records(tmp_path / "reports")
    assert records["az:compute-capacity"]["verdict"] == "error" and records["az:compute-capacity"]["target"] == "aws"
    assert "az:batch-job-completes" not in records
    nothing_left(world)


def test_the_recovery_runbook_runs_live_and_leaves_the_pilot_light(world, tmp_path):
    requests = _passes(world, tmp_path, "drtests/test_recovery_runbook.py", 3)
    # The primary was judged down as the workload's role (403s on its assumed-role key), so every recovery
    # verified against the source listing; the harness itself was never denied.
    assert any(r.status == 403 and r.access_key_id.startswith("ASIA") and r.region == "us-east-1" for r in requests)
    records = run_records(tmp_path / "reports")
    runs = [records.get(f"recover-{kind}") for kind in ("full", "partial", "data-only")]
    assert all(r is not None and r["verdict"] == "pass" for r in runs), runs
    tables = world.client("dynamodb", "us-west-2").list_tables()["TableNames"]
    assert [t for t in tables if "-dr-" in t] == [], f"restored tables left: {tables}"
    pilot_light(world)
    nothing_left(world)


TWO_BUCKETS = """
[[buckets]]
id = "data"

[[buckets]]
id = "models"
tier = "standard"
name = "${project}-${environment}-models-${account_id}"
backup_name = "${project}-${environment}-models-backup-${secondary_region}"

[buckets.replication]
rule_id = "ReplicateModels"
prefix = "models/"
"""


def test_the_corruption_drill_runs_live_on_every_bucket_each_in_its_own_seed_folder(world, tmp_path):
    config, env = as_an_account(world, tmp_path, TWO_BUCKETS)
    done = live_suite(config, env, "drtests/test_data_corruption.py", "-k", "objects")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "2 passed" in out and "skipped" not in out, out[-2000:]
    records = [json.loads(p.read_text(encoding="utf-8")) for p in (tmp_path / "reports" / "results").glob("*/*.json")]
    detected = {r["resource"]: r for r in records if r["check"] == "data_corruption:s3-detected"}
    assert len(detected) == 2 and {r["target"] for r in detected.values()} == {"aws"}
    assert all(r["verdict"] == "pass" for r in detected.values()), detected
    # Each bucket's victims were in its own seed folder, and each drill found exactly those.
    seeds = {"embeddings/drharness-seed/": "-data-", "models/drharness-seed/": "-models-"}
    for resource, record in detected.items():
        corrupted = record["evidence"]["corrupted"]
        assert corrupted and record["evidence"]["detected"] == corrupted, record["evidence"]
        folders = {seed for seed in seeds if all(key.startswith(seed) for key in corrupted)}
        assert len(folders) == 1 and seeds[folders.pop()] in resource, (resource, corrupted)
    # No world fault acted: the corruption came through the AWS APIs, as in an account.
    assert [r for r in world.truth.requests() if r.fault_id] == []
    nothing_left(world)
