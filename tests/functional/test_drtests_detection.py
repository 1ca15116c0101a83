"""The configuration suite fails on the broken mechanism, names the resource, and passes everything else.

One offline world with the workload deployed serves every run. Each case breaks one DR mechanism
through the AWS API, runs `pytest drtests -m config` against the world in a subprocess, reads the
result records it wrote, and repairs the workload by deploying it again. (Deleting the backup plan is
left out: the offline world refuses to create a plan under a deleted plan's name, so no deploy could
repair it.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from drharness.config import load_workload
from drharness.deploy import deploy_workload
from drharness.reporting.scrub import Scrubber, configured_accounts
from drharness.results import RUN_ID_ENV, read_records
from drharness.target import OfflineTarget
from drharness.world import World
from drharness.compliance.checks import (
    BACKUP_SELECTION,
    CHECKS,
    DYNAMODB_GLOBAL_REPLICA,
    DYNAMODB_PITR,
    MONTHLY_RULE,
    RECOVERY_POINT_AGE,
    RPO_MECHANISM,
    S3_DELETE_MARKERS,
    S3_DESTINATION_VERSIONING,
    S3_REPLICA_ENCRYPTION,
    S3_REPLICATION_RULE,
    S3_RTC,
)
from drharness.compliance.mechanisms import KINDS

pytestmark = pytest.mark.e2e  # runs `pytest drtests -m config` in a subprocess against a deployed world

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 120.0
# The seed's FSx for Lustre file system is single-AZ with daily backups: the standard tier's topology.
# With the important tier's 4 h RPO, no mechanism of the guide meets it (the suite says so); here every
# check must pass before a mechanism is broken, so the file system is given the tier its design meets.
WORKLOAD_TOML = '[file_system]\ntier = "standard"\n'
ALL_CHECKS = frozenset({c.name for c in CHECKS} | {RPO_MECHANISM.format(kind=k) for k in KINDS}
                       | {RECOVERY_POINT_AGE.format(kind=k) for k in KINDS})
CLEARED_ENV = (RUN_ID_ENV, "DRHARNESS_ENDPOINT", "AWS_ENDPOINT_URL", "DRHARNESS_CONFIG", "DRHARNESS_TARGET",
               "DRHARNESS_SEED", "DRHARNESS_REPORTS", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")


@dataclass
class Deployed:
    world: World
    target: OfflineTarget
    workload: object
    config: Path
    runs: Path

    def client(self, service: str, region: str | None = None):  # type: ignore[no-untyped-def]
        return self.target.client(service, region or self.workload.primary_region)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    base = tmp_path_factory.mktemp("detection")
    config = base / "workload.toml"
    config.write_text(WORKLOAD_TOML, encoding="utf-8")
    workload = load_workload(config)
    with World(workload.spec.offline, seed=11) as world:
        target = OfflineTarget(world.endpoint, world.account_id)
        workload = workload.with_account(world.account_id)
        deploy_workload(target, workload)
        yield Deployed(world, target, workload, config, base / "runs")


def run_config_suite(deployed: Deployed, name: str) -> dict[str, tuple[str, str]]:
    """Run the config checks against the world; return check -> (verdict, reason) from the records written."""
    reports = deployed.runs / name
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    env[RUN_ID_ENV] = f"detection-{name}"
    command = [sys.executable, "-m", "pytest", "drtests", "-m", "config", "--dr-endpoint", deployed.world.endpoint,
               "--dr-config", str(deployed.config), "--dr-reports", str(reports), "-p", "no:cacheprovider", "-q"]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    records = read_records(reports, f"detection-{name}")
    assert records, f"the suite wrote no records (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
    assert (done.returncode == 0) == all(r.verdict in ("pass", "info") for r in records), done.stdout[-3000:]
    # Other suites carry the config marker too (the inventory); these cases judge the compliance checks.
    found = {r.check: (r.verdict, r.reason) for r in records if r.check in ALL_CHECKS}
    missing = ALL_CHECKS - set(found)
    assert not missing, f"checks that wrote no record: {sorted(missing)}\n{done.stdout[-3000:]}"
    return found


def failing(found: dict[str, tuple[str, str]]) -> set[str]:
    return {check for check, (verdict, _) in found.items() if verdict != "pass"}


def test_an_intact_workload_passes_every_check(deployed: Deployed) -> None:
    found = run_config_suite(deployed, "intact")
    assert failing(found) == set(), {c: found[c][1] for c in failing(found)}


# -- breakages: each changes one mechanism through the AWS API ------------------------------------------


def pitr_off(d: Deployed) -> str:
    d.client("dynamodb").update_continuous_backups(
        TableName=d.workload.metadata_table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
    return d.workload.metadata_table


def replication_rule_disabled(d: Deployed) -> str:
    s3 = d.client("s3")
    config = s3.get_bucket_replication(Bucket=d.workload.data_bucket)["ReplicationConfiguration"]
    for rule in config["Rules"]:
        rule["Status"] = "Disabled"
    s3.put_bucket_replication(Bucket=d.workload.data_bucket, ReplicationConfiguration=config)
    return d.workload.data_bucket


def replication_rule_deleted(d: Deployed) -> str:
    d.client("s3").delete_bucket_replication(Bucket=d.workload.data_bucket)
    return d.workload.data_bucket


def table_replica_removed(d: Deployed) -> str:
    d.client("dynamodb").update_table(TableName=d.workload.metadata_table,
                                      ReplicaUpdates=[{"Delete": {"RegionName": d.workload.secondary_region}}])
    return d.workload.metadata_table


def destination_versioning_suspended(d: Deployed) -> str:
    d.client("s3", d.workload.secondary_region).put_bucket_versioning(
        Bucket=d.workload.backup_bucket, VersioningConfiguration={"Status": "Suspended"})
    return d.workload.backup_bucket


def monthly_rule_disabled(d: Deployed) -> str:
    d.client("events").disable_rule(Name=d.workload.monthly_rule)
    return d.workload.monthly_rule


def backup_selection_deleted(d: Deployed) -> str:
    backup = d.client("backup")
    plans = backup.list_backup_plans()["BackupPlansList"]
    plan = next(p["BackupPlanId"] for p in plans if p["BackupPlanName"] == d.workload.backup_plan)
    for selection in backup.list_backup_selections(BackupPlanId=plan)["BackupSelectionsList"]:
        backup.delete_backup_selection(BackupPlanId=plan, SelectionId=selection["SelectionId"])
    return d.workload.name(d.workload.spec.backup.selection)


@dataclass(frozen=True)
class Breakage:
    """One mechanism broken through the AWS API, and the checks that must fail (and only those)."""

    apply: Callable[[Deployed], str]  # breaks it; returns the name the failing checks must mention
    expected: frozenset[str]

    @property
    def name(self) -> str:
        return self.apply.__name__


RPO_TABLE, RPO_BUCKET = RPO_MECHANISM.format(kind="table"), RPO_MECHANISM.format(kind="bucket")
PITR_OFF = Breakage(pitr_off, frozenset({DYNAMODB_PITR, RPO_TABLE}))
RULE_DISABLED = Breakage(replication_rule_disabled, frozenset({S3_REPLICATION_RULE, RPO_BUCKET}))
RULE_DELETED = Breakage(replication_rule_deleted, frozenset({S3_REPLICATION_RULE, S3_DELETE_MARKERS, S3_RTC,
                                                             S3_REPLICA_ENCRYPTION, RPO_BUCKET}))
REPLICA_REMOVED = Breakage(table_replica_removed, frozenset({DYNAMODB_GLOBAL_REPLICA}))
VERSIONING_SUSPENDED = Breakage(destination_versioning_suspended, frozenset({S3_DESTINATION_VERSIONING, RPO_BUCKET}))
RULE_OFF = Breakage(monthly_rule_disabled, frozenset({MONTHLY_RULE}))
SELECTION_DELETED = Breakage(backup_selection_deleted, frozenset({BACKUP_SELECTION}))

# Breakages run together when their checks do not overlap, so each failing check has one cause and a
# run (a Python start, a deploy read-back) serves several: the whole module stays within a minute.
GROUPS: list[tuple[Breakage, ...]] = [
    (PITR_OFF, RULE_OFF, VERSIONING_SUSPENDED),
    (REPLICA_REMOVED, SELECTION_DELETED, RULE_DISABLED),
    (RULE_DELETED,),
]


@pytest.mark.parametrize("group", [pytest.param(g, id="+".join(b.name for b in g)) for g in GROUPS])
def test_a_broken_mechanism_fails_its_check_naming_the_resource(deployed: Deployed, group: tuple[Breakage, ...]) -> None:
    try:
        named = {b.name: b.apply(deployed) for b in group}
        found = run_config_suite(deployed, "-".join(b.name for b in group))
    finally:
        deploy_workload(deployed.target, deployed.workload)  # the repair: the deploy puts every setting back
    expected = frozenset().union(*(b.expected for b in group))
    assert failing(found) == expected, {c: found[c][1] for c in failing(found) ^ expected}
    # Records never carry the account id: the resource is named with it masked.
    masked = Scrubber(configured_accounts(deployed.target.account_id)).text
    for breakage in group:
        for check in breakage.expected:
            verdict, reason = found[check]
            assert verdict == "fail" and masked(named[breakage.name]) in reason, f"{breakage.name}: {check}: {verdict}: {reason}"
