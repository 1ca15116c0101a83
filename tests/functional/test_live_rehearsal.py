"""The monthly live rehearsal: `pytest drtests -m monthly --dr-target aws --dr-live` against a world
standing in for an account, run once; each test reads back what one drill of that run did.

The world is deployed as the team's workload would be in its account, its subnets tagged with the
`[live]` tag scope as the team tags them; the suite then reaches the world only through the AWS APIs
(STS, FIS, IAM, EC2, Batch ...), exactly as it would reach the account. What the run leaves is read
back from the world afterwards: no fault held, no experiment running, no template, deny or user left.
The drills that need a world of their own (FIS refusing, the quarterly runbook) are in `test_live_drills`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from drharness.world import World
from drharness.world.truth import RequestRecord
from live_world import as_an_account, live_suite, nothing_left, pilot_light, run_records
from world_roles import fast_offline, replication_role

# One run of the monthly suite (about a minute) that every test here reads: made once, on one worker.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("live-monthly")]


@dataclass(frozen=True)
class Rehearsal:
    world: World
    done: subprocess.CompletedProcess[str]
    records: dict[str, dict]
    requests: list[RequestRecord]

    @property
    def out(self) -> str:
        return self.done.stdout + self.done.stderr


@pytest.fixture(scope="module")
def monthly(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rehearsal]:
    base = tmp_path_factory.mktemp("live-monthly")
    with World(fast_offline(), seed=7) as world:
        replication_role(world)
        config, env = as_an_account(world, base)
        done = live_suite(config, env, "drtests", "-m", "monthly")
        yield Rehearsal(world, done, run_records(base / "reports"), world.truth.requests())


def test_the_monthly_suite_runs_live_with_no_drill_skipped(monthly):
    out = monthly.out
    assert monthly.done.returncode == 0, out[-4000:]
    skipped = [line for line in out.splitlines() if line.startswith("SKIPPED")]
    assert skipped == [] and "skipped" not in out.splitlines()[-1], out[-3000:]
    assert {r["target"] for r in monthly.records.values()} == {"aws"}
    # Every fault came through the AWS APIs: the only world faults that touched a request are FIS's.
    assert all(r.fault_id.startswith("fis-") for r in monthly.requests if r.fault_id)
    nothing_left(monthly.world)


def _passed(monthly: Rehearsal, *checks: str) -> None:
    assert monthly.done.returncode == 0, monthly.out[-4000:]
    verdicts = {check: (monthly.records.get(check) or {}).get("verdict") for check in checks}
    assert set(verdicts.values()) == {"pass"}, verdicts


def test_the_az_drill_runs_live_through_fis_and_leaves_nothing(monthly):
    _passed(monthly, "az:compute-capacity", "az:batch-job-completes")
    # The zone went down through FIS alone: the experiment was made, confirmed running on its resolved
    # subnets, stopped and deleted through the FIS API; every request the outage touched names a FIS fault.
    fis_calls = {r.operation for r in monthly.requests if r.service == "fis"}
    assert {"CreateExperimentTemplate", "StartExperiment", "GetExperiment", "ListExperimentResolvedTargets",
            "StopExperiment", "DeleteExperimentTemplate"} <= fis_calls, sorted(fis_calls)
    nothing_left(monthly.world)


def test_the_security_drill_runs_live_with_a_harness_made_user_and_deletes_it(monthly):
    _passed(monthly, "security:compromised-key-refused", "security:data-intact-s3", "security:data-intact-dynamodb")
    iam_calls = {r.operation for r in monthly.requests if r.service == "iam"}
    assert {"CreateUser", "PutUserPolicy", "CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey",
            "DeleteUser"} <= iam_calls, sorted(iam_calls)
    # The leaked key was refused by IAM itself after isolation (403s on the key's own calls).
    assert any(r.status == 403 and r.access_key_id.startswith(("AKIA", "ASIA")) for r in monthly.requests)
    users = monthly.world.client("iam", "us-east-1").list_users()["Users"]
    assert [u["UserName"] for u in users if u["UserName"].startswith("drharness-")] == []


def test_the_corruption_drill_runs_live_on_the_harness_data_only(monthly):
    _passed(monthly, "data_corruption:s3-detected", "data_corruption:dynamodb-detected")
    # The point-in-time restore the drill made is gone again, and nothing is left corrupted.
    tables = monthly.world.client("dynamodb", "us-east-1").list_tables()["TableNames"]
    assert [t for t in tables if "before-corruption" in t] == [], tables


def test_the_region_drills_run_live_as_the_workloads_role_and_put_the_pilot_light_back(monthly):
    _passed(monthly, "region:rto", "region:rpo-detects-loss-s3")
    requests = monthly.requests
    # The outage was an explicit deny on the workload's role, put and deleted through IAM; the pause was FIS's.
    iam_calls = [(r.operation, r.status) for r in requests if r.service == "iam"]
    assert ("PutRolePolicy", 200) in iam_calls and ("DeleteRolePolicy", 200) in iam_calls, iam_calls
    assert any(r.service == "sts" and r.operation == "AssumeRole" for r in requests)
    # The workload's own calls to the primary were refused by that deny (403s on an assumed role's key).
    assert any(r.status == 403 and r.access_key_id.startswith("ASIA") and r.region == "us-east-1" for r in requests)
    assert monthly.records["region:rto"]["evidence"]["observer"].endswith(":role/embedding-worker")
    pilot_light(monthly.world)


def test_the_service_drill_runs_live_and_its_faults_never_touch_the_world(monthly):
    # The throttling is made in the workload's own clients (a botocore hook), never by the world: the
    # drill's writes reached the world as AWS calls, and no request the world's fault layer touched is
    # the drill's (the only ones touched are FIS's, by the other drills).
    checks = [c for c in monthly.records if c.startswith("service:") and c.endswith("-writes-complete")]
    assert len(checks) == 2, sorted(monthly.records)
    _passed(monthly, *checks)
    assert {r.operation for r in monthly.requests} >= {"PutItem", "PutObject"}
    assert all(r.fault_id.startswith("fis-") for r in monthly.requests if r.fault_id)
