"""A fault that did nothing fails its drill: the world told to ignore faults takes and lists every one
and applies none, as a fault mechanism that reports success and does nothing would.

Each fault drill of the monthly suite then runs against that world (`pytest drtests -m monthly -k ...`
in a subprocess). None may pass: what each drill observes (the primary's health check, a zone refusing
capacity, overwritten data, canaries lost to a pause) shows the fault had no effect, and the drill's
records say error (nothing timed) or a failed self-check, never a passing objective.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from drharness.config import load_workload
from drharness.deploy import deploy_workload
from drharness.results import RUN_ID_ENV, ResultRecord, read_records
from drharness.target import OfflineTarget
from drharness.world import World

pytestmark = pytest.mark.e2e  # runs `pytest drtests` in a subprocess against a world that ignores faults
# One test, so that the run it judges (about 45 s) is made once, not once per xdist worker.

REPO = Path(__file__).resolve().parents[2]
CLEARED_ENV = (RUN_ID_ENV, "DRHARNESS_ENDPOINT", "AWS_ENDPOINT_URL", "DRHARNESS_CONFIG", "DRHARNESS_TARGET",
               "DRHARNESS_SEED", "DRHARNESS_REPORTS", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")
RUN = "ineffective-faults"
DRILLS = ("az_outage", "region_outage_rto", "corrupted_objects", "corrupted_items", "detects_the_loss")
# The record of each drill that would carry its verdict had the fault worked: (check, verdict it must have).
NOT_PASSED = {
    "az:compute-capacity": "error",
    "region:rto": "error",
    "data_corruption:s3-detected": "error",
    "data_corruption:dynamodb-detected": "error",
    "region:rpo-detects-loss-s3": "fail",  # the first store's miss ends the drill: the others write none
    "fault:data-corruption-in-place": "error",  # nothing overwritten is seen as such by the fault's own check
}


@pytest.fixture(scope="module")
def ignored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[subprocess.CompletedProcess[str], list[ResultRecord], World]]:
    base = tmp_path_factory.mktemp("ineffective")
    config = base / "workload.toml"
    config.write_text("", encoding="utf-8")
    workload = load_workload(config)
    with World(workload.spec.offline, seed=17) as world:
        deploy_workload(OfflineTarget(world.endpoint, world.account_id), workload.with_account(world.account_id))
        world.faults.inert = True
        env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
        env[RUN_ID_ENV] = RUN
        command = [sys.executable, "-m", "pytest", "drtests", "-m", "monthly", "-k", " or ".join(DRILLS),
                   "--dr-endpoint", world.endpoint, "--dr-config", str(config), "--dr-reports", str(base / "reports"),
                   "-p", "no:cacheprovider", "-q"]
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
        yield done, read_records(base / "reports", RUN), world


def test_no_drill_passes_when_its_fault_did_nothing(ignored) -> None:
    done, records, world = ignored
    assert records, f"no records (exit {done.returncode}):\n{done.stdout[-3000:]}"
    assert done.returncode == 1, done.stdout[-3000:]
    assert " passed" not in done.stdout.splitlines()[-1], done.stdout[-2000:]  # every selected drill failed
    verdicts = {r.check: r.verdict for r in records}
    for check, verdict in NOT_PASSED.items():
        assert verdicts.get(check) == verdict, f"{check}: {verdicts.get(check)} (wanted {verdict}):\n{done.stdout[-3000:]}"
    # Nothing was timed as a recovery: no RTO or restore record passed behind a fault that did nothing.
    timed = [r for r in records if r.metric in ("rto", "rto_seconds", "restore_seconds") and r.verdict == "pass"]
    assert timed == [], [(r.check, r.reason) for r in timed]
    # What did not hold is said as the harness's own failed self-checks, which make the run untrusted.
    self_checks = [r for r in records if r.kind == "self-check" and r.verdict in ("fail", "error")]
    assert {r.check for r in self_checks} >= {"region:rpo-detects-loss-s3", "data_corruption:s3-detected"}
    assert world.faults.active() == []  # every fault the drills took was reverted all the same
