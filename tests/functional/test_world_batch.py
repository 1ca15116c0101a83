"""Emulated Batch jobs: they run where there is capacity and wait, RUNNABLE, where there is none."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from botocore.exceptions import ClientError

from drharness.config import Offline
from drharness.faults import Journal, OfflineFaultBackend, injected
from drharness.target import OfflineTarget
from drharness.waiting import wait_until
from drharness.world import World
from drharness.world.services.batch.engine import HOST_TERMINATED

REGION = "us-east-1"


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """One world for the module (each test names its own queues): starting EC2 in a world takes a second."""
    with World(Offline(restore_seconds=0.0), seed=5) as w:
        yield w


@pytest.fixture(scope="module")
def network(world) -> dict[str, object]:
    """Subnets in zones a and b, a security group and the roles Batch needs."""
    target = OfflineTarget(world.endpoint, world.account_id)
    ec2, iam = target.client("ec2", REGION), target.client("iam", REGION)
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnets = {
        zone: ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=f"{REGION}{zone}")["Subnet"]["SubnetId"]
        for zone, cidr in (("a", "10.1.1.0/24"), ("b", "10.1.2.0/24"))
    }
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "batch.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    return {
        "subnets": subnets,
        "sg": ec2.create_security_group(GroupName="batch", Description="batch", VpcId=vpc)["GroupId"],
        "role": iam.create_role(RoleName="batch-service", AssumeRolePolicyDocument=trust)["Role"]["Arn"],
        "profile": iam.create_instance_profile(InstanceProfileName="batch-instance")["InstanceProfile"]["Arn"],
    }


@dataclass(frozen=True)
class BatchEnv:
    batch: object
    both: str  # queue over a compute environment with subnets in zones a and b
    zone_a: str  # queue over a compute environment with a subnet in zone a only
    zone_a_ce: str
    definition: str


@pytest.fixture
def batch_env(world, target, network) -> BatchEnv:
    """Two queues and a job definition with names of this test's own."""
    world.batch.run_seconds = 0.3
    batch, suffix = target.client("batch", REGION), uuid.uuid4().hex[:8]

    def make(name: str, zones: tuple[str, ...]) -> str:
        ce = batch.create_compute_environment(
            computeEnvironmentName=f"{name}-ce", type="MANAGED", state="ENABLED", serviceRole=network["role"],
            computeResources={"type": "EC2", "minvCpus": 0, "maxvCpus": 16, "instanceTypes": ["m5.large"],
                              "subnets": [network["subnets"][z] for z in zones], "securityGroupIds": [network["sg"]],
                              "instanceRole": network["profile"]},
        )["computeEnvironmentArn"]
        batch.create_job_queue(jobQueueName=name, state="ENABLED", priority=1,
                               computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}])
        return name

    batch.register_job_definition(
        jobDefinitionName=f"embed-{suffix}", type="container",
        containerProperties={"image": "busybox", "command": ["echo", "hi"], "vcpus": 1, "memory": 128},
        retryStrategy={"attempts": 2},
    )
    return BatchEnv(batch, make(f"both-{suffix}", ("a", "b")), make(f"zone-a-{suffix}", ("a",)),
                    f"zone-a-{suffix}-ce", f"embed-{suffix}")


def _status(batch, job_id: str) -> str:
    return batch.describe_jobs(jobs=[job_id])["jobs"][0]["status"]


def _wait_status(batch, job_id: str, status: str, timeout_s: float = 5.0):
    return wait_until(lambda: _status(batch, job_id) == status, timeout_s, 0.05, what=f"job {job_id} {status}")


def test_job_runs_to_success_and_is_listed(world, batch_env):
    env = batch_env
    batch = env.batch
    submitted = batch.submit_job(jobName="embed-1", jobQueue=env.both, jobDefinition=env.definition)
    assert submitted["jobName"] == "embed-1" and submitted["jobArn"].endswith(submitted["jobId"])
    seen = set()
    outcome = wait_until(
        lambda: seen.add(_status(batch, submitted["jobId"])) or "SUCCEEDED" in seen, 5.0, 0.01, what="success"
    )
    assert outcome.ok, outcome.reason
    assert seen <= {"SUBMITTED", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"}
    job = batch.describe_jobs(jobs=[submitted["jobArn"]])["jobs"][0]
    assert job["container"]["exitCode"] == 0 and job["startedAt"] <= job["stoppedAt"]
    assert job["container"]["command"] == ["echo", "hi"] and len(job["attempts"]) == 1
    listed = batch.list_jobs(jobQueue=env.both, jobStatus="SUCCEEDED")["jobSummaryList"]
    assert [j["jobId"] for j in listed] == [submitted["jobId"]]
    assert batch.list_jobs(jobQueue=env.both)["jobSummaryList"] == []  # only RUNNING without a status
    by_name = batch.list_jobs(jobQueue=env.both, filters=[{"name": "JOB_NAME", "values": ["embed-*"]}])
    assert len(by_name["jobSummaryList"]) == 1


def test_job_waits_runnable_without_capacity_and_runs_once_it_returns(world, batch_env, tmp_path):
    env, journal = batch_env, Journal(tmp_path / "journal")
    batch = env.batch
    backend = OfflineFaultBackend(world.endpoint)
    with injected(backend, "az-outage", {"region": REGION, "az": "a"}, journal):
        stuck = batch.submit_job(jobName="stuck", jobQueue=env.zone_a, jobDefinition=env.definition)["jobId"]
        spread = batch.submit_job(jobName="spread", jobQueue=env.both, jobDefinition=env.definition)["jobId"]
        assert _wait_status(batch, spread, "SUCCEEDED").ok  # zone b still has capacity
        assert _wait_status(batch, stuck, "RUNNABLE").ok
        assert not _wait_status(batch, stuck, "STARTING", timeout_s=0.5).ok
        assert batch.list_jobs(jobQueue=env.zone_a, jobStatus="RUNNABLE")["jobSummaryList"][0]["jobId"] == stuck
    assert _wait_status(batch, stuck, "SUCCEEDED").ok


def test_region_down_and_disabled_environment_hold_jobs(world, batch_env, tmp_path):
    env, journal = batch_env, Journal(tmp_path / "journal")
    batch = env.batch
    with injected(OfflineFaultBackend(world.endpoint), "region-outage", {"region": REGION}, journal):
        held = world.client("batch", REGION).submit_job(jobName="held", jobQueue=env.both, jobDefinition=env.definition)
        assert not _wait_status(world.client("batch", REGION), held["jobId"], "STARTING", timeout_s=0.5).ok
    assert _wait_status(batch, held["jobId"], "SUCCEEDED").ok

    batch.update_compute_environment(computeEnvironment=env.zone_a_ce, state="DISABLED")
    waiting = batch.submit_job(jobName="waiting", jobQueue=env.zone_a, jobDefinition=env.definition)["jobId"]
    assert not _wait_status(batch, waiting, "STARTING", timeout_s=0.5).ok
    batch.update_compute_environment(computeEnvironment=env.zone_a_ce, state="ENABLED")
    assert _wait_status(batch, waiting, "SUCCEEDED").ok


def test_running_job_in_a_lost_zone_fails_its_attempt_and_retries(world, batch_env, tmp_path):
    env = batch_env
    batch = env.batch
    world.batch.run_seconds = 2.0  # long enough to be caught RUNNING
    job_id = batch.submit_job(jobName="long", jobQueue=env.zone_a, jobDefinition=env.definition)["jobId"]
    assert _wait_status(batch, job_id, "RUNNING").ok
    journal = Journal(tmp_path / "journal")
    with injected(OfflineFaultBackend(world.endpoint), "az-outage", {"region": REGION, "az": "a"}, journal):
        assert _wait_status(batch, job_id, "RUNNABLE").ok  # attempt 1 lost with its host; 1 retry left
    assert _wait_status(batch, job_id, "SUCCEEDED").ok
    attempts = batch.describe_jobs(jobs=[job_id])["jobs"][0]["attempts"]
    assert [a["statusReason"] for a in attempts][0] == HOST_TERMINATED and len(attempts) == 2


def test_dependencies_cancel_and_bad_definition(world, batch_env):
    env = batch_env
    batch = env.batch
    world.batch.run_seconds = 0.5
    first = batch.submit_job(jobName="first", jobQueue=env.both, jobDefinition=env.definition)["jobId"]
    second = batch.submit_job(jobName="second", jobQueue=env.both, jobDefinition=f"{env.definition}:1",
                              dependsOn=[{"jobId": first}])["jobId"]
    assert _status(batch, second) in ("SUBMITTED", "PENDING")
    assert _wait_status(batch, second, "SUCCEEDED").ok
    jobs = {j["jobId"]: j for j in batch.describe_jobs(jobs=[first, second])["jobs"]}
    assert jobs[first]["stoppedAt"] <= jobs[second]["startedAt"]

    batch.update_compute_environment(computeEnvironment=env.zone_a_ce, state="DISABLED")
    parked = batch.submit_job(jobName="parked", jobQueue=env.zone_a, jobDefinition=env.definition)["jobId"]
    assert _wait_status(batch, parked, "RUNNABLE").ok
    batch.cancel_job(jobId=parked, reason="drill over")
    job = batch.describe_jobs(jobs=[parked])["jobs"][0]
    assert (job["status"], job["statusReason"]) == ("FAILED", "drill over")

    with pytest.raises(ClientError) as err:
        batch.submit_job(jobName="nope", jobQueue=env.both, jobDefinition="missing")
    assert err.value.response["Error"]["Code"] == "ClientException"
