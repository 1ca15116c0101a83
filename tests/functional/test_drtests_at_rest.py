"""The monthly at-rest compare (`consistency:s3-replica-at-rest`) passes on an intact replica and fails,
naming what differs, on one that holds an object its primary does not."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from drharness.config import load_workload
from drharness.deploy import deploy_workload
from drharness.results import RUN_ID_ENV, read_records
from drharness.target import OfflineTarget
from drharness.world import World

pytestmark = pytest.mark.e2e  # runs `pytest drtests/test_consistency.py` in a subprocess against a deployed world

REPO = Path(__file__).resolve().parents[2]
CHECK = "consistency:s3-replica-at-rest"
CLEARED_ENV = (RUN_ID_ENV, "DRHARNESS_ENDPOINT", "AWS_ENDPOINT_URL", "DRHARNESS_CONFIG", "DRHARNESS_TARGET",
               "DRHARNESS_SEED", "DRHARNESS_REPORTS", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")


@pytest.fixture(scope="module")
def deployed() -> Iterator[tuple[World, OfflineTarget, object]]:
    workload = load_workload(REPO / "workload.toml")
    with World(workload.spec.offline, seed=31) as world:
        target = OfflineTarget(world.endpoint, world.account_id)
        workload = workload.with_account(world.account_id)
        deploy_workload(target, workload)
        yield world, target, workload


def _run(world: World, reports: Path, name: str) -> dict[str, tuple[str, str, dict]]:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    env[RUN_ID_ENV] = name
    command = [sys.executable, "-m", "pytest", "drtests/test_consistency.py", "-m", "monthly", "-k", "at_rest",
               "--dr-endpoint", world.endpoint, "--dr-reports", str(reports), "-p", "no:cacheprovider", "-q"]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=180, check=False)
    records = {r.check: (r.verdict, r.reason, r.evidence) for r in read_records(reports, name)}
    assert CHECK in records, done.stdout[-3000:]
    return records


def test_an_intact_replica_passes_and_an_extra_object_fails_it(deployed, tmp_path: Path) -> None:
    world, target, workload = deployed
    verdict, reason, evidence = _run(world, tmp_path / "intact", "at-rest-intact")[CHECK]
    assert verdict == "pass", reason
    assert evidence["method"] == "inventory" and evidence["compared_count"] >= 24  # the seed data, at rest

    target.client("s3", workload.secondary_region).put_object(
        Bucket=workload.backup_bucket, Key=f"{workload.spec.bucket.replication.prefix}stray/not-in-the-primary",
        Body=b"written to the replica only")
    verdict, reason, evidence = _run(world, tmp_path / "diverged", "at-rest-diverged")[CHECK]
    assert verdict == "fail", reason
    assert evidence["extra_count"] == 1 and evidence["first_extra"] == ["stray/not-in-the-primary"]
