"""The inventory against an offline world with the workload deployed: its facts match the world's ground truth."""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from drharness.reporting.scrub import Scrubber, configured_accounts
from drharness.config import Workload, load_workload
from drharness.deploy import deploy_workload
from drharness.compliance.inventory import (
    CHECK_BACKUP_JOBS, CHECK_DR_COST, CHECK_MONTHLY_RULE, CHECK_RECOVERY_POINTS, CHECK_RULE_SCHEDULE, CHECK_RULE_STATE,
    CHECK_S3_REPLICATION, CHECK_TABLE_REPLICAS, GUIDE_SCHEDULE_TEXT, SCENARIO, Inventory, check_monthly_schedule,
    collect_inventory, guide_fire_times,
)
from drharness.results.recorder import Recorder
from drharness.reporting.metrics import compute_metrics
from drharness.results import ResultRecord, ResultSink, iso
from drharness.target import FAIL_FAST_CONFIG, OfflineTarget
from drharness.waiting import wait_until
from drharness.world import World, WorldClient

DAY = 86400.0
CE_PRESET_ROUTE = "/moto-api/static/ce/cost-and-usage-results"
COSTS = {"AWS Backup": "41.2500", "Amazon Simple Storage Service": "17.5000", "Amazon DynamoDB": "3.1250"}


@dataclass
class Deployed:
    world: World
    target: OfflineTarget
    workload: Workload
    reports: Path

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.world.now(), dt.timezone.utc)

    def collect(self, run: str) -> Inventory:
        recorder = Recorder(ResultSink(self.reports, run=run, source="api"), "offline")
        return collect_inventory(self.target, self.workload, recorder, self.now())


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    directory = tmp_path_factory.mktemp("inventory")
    (directory / "workload.toml").write_text("", encoding="utf-8")  # every default
    workload = load_workload(directory / "workload.toml")
    with World(workload.spec.offline, seed=11) as world:
        workload = workload.with_account(world.account_id)
        target = OfflineTarget(world.endpoint, world.account_id, config=FAIL_FAST_CONFIG)
        deploy_workload(target, workload)
        yield Deployed(world, target, workload, directory / "reports")


def preset_costs(endpoint: str, account_id: str, costs: dict[str, str]) -> None:
    """Queue one Cost Explorer answer, as moto documents (the next new GetCostAndUsage request gets it)."""
    result = {"ResultsByTime": [{
        "TimePeriod": {"Start": "2025-01-01", "End": "2025-02-01"}, "Total": {}, "Estimated": True,
        "Groups": [{"Keys": [service], "Metrics": {"BlendedCost": {"Amount": amount, "Unit": "USD"}}}
                   for service, amount in costs.items()],
    }], "DimensionValueAttributes": []}
    body = json.dumps({"account_id": account_id, "results": [result]}).encode()
    request = urllib.request.Request(endpoint + CE_PRESET_ROUTE, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as response:
        assert response.status == 201


def one(records: tuple[ResultRecord, ...], check: str) -> ResultRecord:
    found = [r for r in records if r.check == check]
    assert len(found) == 1, [r.check for r in records]
    return found[0]


def run_backups(d: Deployed) -> None:
    """Two on-demand jobs (one of a table that does not exist: it fails), then a day of scheduled plan runs."""
    backup = d.target.client("backup", d.workload.primary_region)
    table = d.target.client("dynamodb", d.workload.primary_region).describe_table(
        TableName=d.workload.metadata_table)["Table"]["TableArn"]
    role = f"arn:aws:iam::{d.world.account_id}:role/{d.workload.spec.project}-{d.workload.spec.environment}-backup"
    started = [backup.start_backup_job(BackupVaultName=d.workload.backup_vault, ResourceArn=arn, IamRoleArn=role)["BackupJobId"]
               for arn in (table, table.replace(d.workload.metadata_table, "no-such-table"))]
    ended = wait_until(lambda: all(backup.describe_backup_job(BackupJobId=j)["State"] in ("COMPLETED", "FAILED")
                                   for j in started), 10, 0.05, what="on-demand backup jobs to end")
    assert ended.ok, ended.reason
    WorldClient(d.world.endpoint).advance_clock(DAY)
    settled = wait_until(lambda: all(j.state in ("COMPLETED", "FAILED") for j in d.world.backup.jobs.values()), 10, 0.05,
                         what="scheduled backup jobs to end")
    assert settled.ok, settled.reason


def test_inventory_matches_the_worlds_backups_replication_cost_and_schedule(deployed: Deployed) -> None:
    d = deployed
    run_backups(d)
    preset_costs(d.world.endpoint, d.world.account_id, COSTS)
    inventory = d.collect("inventory-1")
    assert inventory.errors == ()
    assert {r.scenario for r in inventory.records} == {SCENARIO}
    assert all(r.target == "offline" for r in inventory.records)

    # Backup jobs and recovery points: exactly what the world holds for the vault.
    truth_jobs = [j for j in d.world.backup.jobs.values() if j.vault_name == d.workload.backup_vault]
    truth_states = Counter(j.state for j in truth_jobs)
    assert truth_states["FAILED"] == 1 and truth_states["COMPLETED"] >= 3  # the plan ran for table, bucket, FSx
    jobs = one(inventory.records, CHECK_BACKUP_JOBS)
    assert jobs.evidence["states"] == dict(truth_states)
    assert jobs.value == len(truth_jobs)
    assert {f.job_id for f in inventory.backup_jobs} == {j.job_id for j in truth_jobs}
    masked = Scrubber(configured_accounts(deployed.target.account_id)).text  # records never carry the account id
    assert [f["resource_arn"] for f in jobs.evidence["failed_jobs"]] == [masked(j.resource_arn) for j in truth_jobs if j.state == "FAILED"]
    truth_points = {p.arn: p for p in d.world.backup.points.values() if p.vault_name == d.workload.backup_vault}
    points = one(inventory.records, CHECK_RECOVERY_POINTS)
    assert points.value == len(truth_points) == truth_states["COMPLETED"]
    for fact in inventory.recovery_points:
        truth = truth_points[fact.recovery_point_arn]
        assert (fact.resource_arn, fact.resource_type, fact.status) == (truth.resource_arn, truth.resource_type, "COMPLETED")
        assert fact.storage_class == truth.storage_class(d.world.now())
        assert abs(dt.datetime.fromisoformat(fact.created_at).timestamp() - truth.creation_date) < 0.01

    # BackupSuccessRate is made from that evidence.
    metrics = compute_metrics(inventory.records)
    assert metrics.backup_success_rate_percent == pytest.approx(
        100.0 * truth_states["COMPLETED"] / (truth_states["COMPLETED"] + truth_states["FAILED"]))

    # Replication: the stored rule and the table's replica in the secondary region.
    rules = one(inventory.records, CHECK_S3_REPLICATION)
    assert [f.rule_id for f in inventory.replication_rules] == [d.workload.spec.bucket.replication.rule_id]
    assert inventory.replication_rules[0].destination_bucket == d.workload.backup_bucket
    assert inventory.replication_rules[0].rtc_minutes == d.workload.spec.bucket.replication.rtc_minutes
    assert rules.value == 1 and rules.tier == d.workload.spec.bucket.tier
    replicas = one(inventory.records, CHECK_TABLE_REPLICAS)
    assert [(f.region, f.status) for f in inventory.table_replicas] == [(d.workload.secondary_region, "ACTIVE")]
    assert replicas.evidence["expected_regions"] == [d.workload.secondary_region]

    # DR cost: the preset figures flow through, summed per service.
    cost = one(inventory.records, CHECK_DR_COST)
    assert cost.value == pytest.approx(sum(float(v) for v in COSTS.values()))
    assert cost.unit == "USD"
    assert cost.evidence["by_service"] == {k: pytest.approx(float(v)) for k, v in COSTS.items()}
    assert cost.evidence["estimated"] is True
    window_end = d.now().date()
    assert cost.evidence["period_end"] == window_end.isoformat()
    assert cost.evidence["period_start"] == (window_end - dt.timedelta(days=30)).isoformat()

    # The monthly rule, as deployed, fires when the guide says and is enabled.
    rule = one(inventory.records, CHECK_MONTHLY_RULE)
    assert rule.evidence["expression"] == d.workload.spec.schedule.expression
    assert one(inventory.records, CHECK_RULE_SCHEDULE).verdict == "pass"
    assert one(inventory.records, CHECK_RULE_STATE).verdict == "pass"
    assert inventory.schedule is not None
    assert inventory.schedule.next_fire_times[0] == iso(guide_fire_times(d.now())[0])


def test_rule_off_schedule_or_disabled_fails_its_checks(deployed: Deployed) -> None:
    d = deployed
    events = d.target.client("events", d.workload.primary_region)
    original = d.workload.spec.schedule.expression
    try:
        events.put_rule(Name=d.workload.monthly_rule, ScheduleExpression="cron(0 3 1 * ? *)", State="DISABLED")
        inventory = d.collect("inventory-2")
        schedule, state = one(inventory.records, CHECK_RULE_SCHEDULE), one(inventory.records, CHECK_RULE_STATE)
        assert (schedule.verdict, schedule.value) == ("fail", 0.0)
        assert "03:00" in schedule.reason and GUIDE_SCHEDULE_TEXT in schedule.reason
        assert state.verdict == "fail" and "DISABLED" in state.reason

        events.put_rule(Name=d.workload.monthly_rule, ScheduleExpression="cron(0 2 1 * * *)", State="ENABLED")
        schedule = one(d.collect("inventory-3").records, CHECK_RULE_SCHEDULE)
        assert schedule.verdict == "fail" and "exactly one of day-of-month" in schedule.reason
    finally:
        events.put_rule(Name=d.workload.monthly_rule, ScheduleExpression=original, State="ENABLED")


def test_a_failing_api_costs_its_own_section_only(deployed: Deployed) -> None:
    d = deployed
    fault = d.world.faults.inject("service-fault", {"service": "ce", "error_code": "AccessDeniedException"})
    try:
        inventory = d.collect("inventory-4")
    finally:
        d.world.faults.revert(fault.id)
    errors = inventory.errors
    assert [r.check for r in errors] == [CHECK_DR_COST]
    assert "AccessDenied" in errors[0].reason
    assert inventory.cost is None
    assert one(inventory.records, CHECK_BACKUP_JOBS).verdict == "info"
    assert compute_metrics(inventory.records).readiness_score_percent < 100.0  # an error counts as a failure


@pytest.mark.parametrize("expression, ok", [
    ("cron(0 2 1 * ? *)", True),
    ("cron(0 2 1 1-12 ? *)", True),
    ("cron(0 2 1 */2 ? *)", False),  # every other month
    ("cron(0 2 ? * 1#1 *)", False),  # first Sunday
    ("cron(0 2 1 * ? 2020)", False),  # stopped firing
    ("rate(30 days)", False),
])
def test_schedule_check_compares_fire_times_with_the_guide(expression: str, ok: bool) -> None:
    now = dt.datetime(2025, 3, 10, 12, 0, tzinfo=dt.timezone.utc)
    schedule = check_monthly_schedule("rule", "ENABLED", expression, now)
    assert (schedule.valid and schedule.fires_as_guide_says) is ok, schedule.reason
    assert guide_fire_times(now, 2) == [dt.datetime(2025, 4, 1, 2, tzinfo=dt.timezone.utc),
                                        dt.datetime(2025, 5, 1, 2, tzinfo=dt.timezone.utc)]
