"""A replication that stopped working is caught by measurement, not only by configuration.

The replication role stripped of `s3:ReplicateObject`, the role deleted, the replica KMS key disabled:
in AWS new objects go FAILED while the rule still reads as configured. One offline world with the
workload deployed serves every case; each breaks the mechanism through the AWS API, runs the monthly
replication drill's lag measurement (`pytest drtests/test_replication.py -k s3_replication_lag`) against
the world in a subprocess, and repairs the workload. The measured S3 lag check must fail, saying FAILED.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from drharness.config import load_workload
from drharness.deploy import deploy_workload, names
from drharness.results import RUN_ID_ENV, read_records
from drharness.target import OfflineTarget
from drharness.world import World

pytestmark = pytest.mark.e2e  # runs `pytest drtests/test_replication.py` in a subprocess against a deployed world

REPO = Path(__file__).resolve().parents[2]
CLEARED_ENV = (RUN_ID_ENV, "DRHARNESS_ENDPOINT", "AWS_ENDPOINT_URL", "DRHARNESS_CONFIG", "DRHARNESS_TARGET",
               "DRHARNESS_SEED", "DRHARNESS_REPORTS", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")
S3_LAG = "replication:s3-lag"


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, OfflineTarget, object, Path]]:
    base = tmp_path_factory.mktemp("drift")
    config = base / "workload.toml"
    config.write_text("", encoding="utf-8")
    workload = load_workload(config)
    with World(workload.spec.offline, seed=13) as world:
        target = OfflineTarget(world.endpoint, world.account_id)
        workload = workload.with_account(world.account_id)
        deploy_workload(target, workload)
        yield world, target, workload, base


def _run(world: World, config: Path, reports: Path, name: str) -> dict[str, tuple[str, str]]:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    env[RUN_ID_ENV] = f"drift-{name}"
    command = [sys.executable, "-m", "pytest", "drtests/test_replication.py", "-k", "s3_replication_lag", "--dr-endpoint",
               world.endpoint, "--dr-config", str(config), "--dr-reports", str(reports), "-p", "no:cacheprovider", "-q"]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=180, check=False)
    records = read_records(reports, f"drift-{name}")
    assert records, f"no records (exit {done.returncode}):\n{done.stdout[-3000:]}"
    return {r.check: (r.verdict, r.reason) for r in records}


def strip_replicate_object(target, workload) -> None:
    iam = target.client("iam", "us-east-1")
    role = names.replication_role(workload)
    for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        iam.put_role_policy(RoleName=role, PolicyName=policy, PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["s3:GetObjectVersionForReplication"], "Resource": "*"}]}))


def delete_role(target, workload) -> None:
    iam = target.client("iam", "us-east-1")
    role = names.replication_role(workload)
    for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        iam.delete_role_policy(RoleName=role, PolicyName=policy)
    iam.delete_role(RoleName=role)


def _replica_key(target, workload) -> str:
    kms = target.client("kms", workload.secondary_region)
    return kms.describe_key(KeyId=names.replica_key_alias(workload))["KeyMetadata"]["KeyId"]


def disable_replica_key(target, workload) -> None:
    target.client("kms", workload.secondary_region).disable_key(KeyId=_replica_key(target, workload))


def _repair(target, workload) -> None:
    target.client("kms", workload.secondary_region).enable_key(KeyId=_replica_key(target, workload))
    deploy_workload(target, workload)  # puts the role and its policy back


@pytest.mark.parametrize("breakage", [strip_replicate_object, delete_role, disable_replica_key],
                         ids=lambda b: b.__name__)
def test_a_replication_that_stopped_working_fails_the_measured_lag(deployed, breakage) -> None:
    world, target, workload, base = deployed
    try:
        breakage(target, workload)
        found = _run(world, base / "workload.toml", base / "reports" / breakage.__name__, breakage.__name__)
    finally:
        _repair(target, workload)
    verdict, reason = found[S3_LAG]
    assert verdict in ("fail", "error"), (verdict, reason)
    assert "FAILED" in reason, reason


def test_the_repaired_replication_passes_the_measured_lag(deployed) -> None:
    world, _, _, base = deployed
    found = _run(world, base / "workload.toml", base / "reports" / "intact", "intact")
    assert found[S3_LAG][0] == "pass", found[S3_LAG]
