"""Monthly (and daily for the backup jobs): the facts the monthly report stands on, read from the target.

The inventory reads the vault's recovery points and backup jobs, the data bucket's replication rules,
the table's replicas, the DR cost and the monthly DR test rule, one record each; its pass/fail checks
(the rule's schedule and state) must pass. Offline, today's backup jobs are run first (a fresh world
has none), and Cost Explorer is given one answer to report, since the offline world bills nothing: that
answer is the test's own figure, so its record is marked preset and kept out of the run's results.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from contextlib import suppress
from dataclasses import replace

import pytest
from botocore.exceptions import ClientError

from drharness.compliance.inventory import (
    CHECK_BACKUP_JOBS,
    CHECK_DR_COST,
    CHECK_MONTHLY_RULE,
    CHECK_RECOVERY_POINTS,
    CHECK_RULE_SCHEDULE,
    CHECK_RULE_STATE,
    CHECK_S3_REPLICATION,
    CHECK_TABLE_REPLICAS,
    FINISHED_JOB_STATES,
    SCENARIO,
    SUCCESS_JOB_STATE,
    collect_inventory,
)
from drharness.results.recorder import Recorder
from drharness.results import Objective, ResultSink, iso
from drtests._support import hours

pytestmark = [pytest.mark.monthly, pytest.mark.config, pytest.mark.critical]

DAILY_BACKUP_JOBS = "inventory:backup-jobs-last-day"
DAY = dt.timedelta(days=1)
INFO_CHECKS = (CHECK_RECOVERY_POINTS, CHECK_BACKUP_JOBS, CHECK_S3_REPLICATION, CHECK_TABLE_REPLICAS, CHECK_DR_COST,
               CHECK_MONTHLY_RULE)
JUDGED_CHECKS = {CHECK_RULE_SCHEDULE, CHECK_RULE_STATE}
# moto's documented route for queueing Cost Explorer answers; the next new GetCostAndUsage request takes one.
CE_RESULTS_ROUTE = "/moto-api/static/ce/cost-and-usage-results"
OFFLINE_COSTS = {"AWS Backup": "41.2500", "Amazon Simple Storage Service": "17.5000", "Amazon DynamoDB": "3.1250"}
PRESET_COST = "preset offline answer, not measured"


def _table_arn(target, workload):
    with suppress(ClientError):
        return target.client("dynamodb", workload.primary_region).describe_table(
            TableName=workload.metadata_table)["Table"]["TableArn"]
    return None


def _preset_costs(endpoint, account_id):
    """Queue one Cost Explorer answer (BlendedCost by service) in the offline world's moto."""
    result = {"ResultsByTime": [{
        "TimePeriod": {"Start": "2025-01-01", "End": "2025-02-01"}, "Total": {}, "Estimated": True,
        "Groups": [{"Keys": [service], "Metrics": {"BlendedCost": {"Amount": amount, "Unit": "USD"}}}
                   for service, amount in OFFLINE_COSTS.items()],
    }], "DimensionValueAttributes": []}
    body = json.dumps({"account_id": account_id, "results": [result]}).encode()
    request = urllib.request.Request(endpoint + CE_RESULTS_ROUTE, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10) as response:
        assert response.status == 201, f"{endpoint}{CE_RESULTS_ROUTE} answered {response.status}"


class _PresetCostSink:
    """The run's sink, except that the DR-cost record is marked preset and goes to a side sink.

    Offline, Cost Explorer answers with the figures this test queued, not with anything billed: in the
    run's results the monthly report would show them as the DR cost.
    """

    def __init__(self, run_sink, side_sink):
        self.run_sink, self.side_sink = run_sink, side_sink

    def write_record(self, record):
        if record.check != CHECK_DR_COST:
            return self.run_sink.write_record(record)
        marked = replace(record, reason=f"{PRESET_COST}: {record.reason}",
                         evidence={**record.evidence, "source": PRESET_COST})
        return self.side_sink.write_record(marked)


def _preset_cost_recorder(recorder, directory):
    """`recorder` (same test, same report) writing through a _PresetCostSink whose side sink is under `directory`."""
    side = ResultSink(directory, run=recorder.sink.run_id, source=recorder.sink.source)
    return Recorder(_PresetCostSink(recorder.sink, side), recorder.target, test_id=recorder.test_id,
                    scenario=recorder.scenario, records=recorder.records)


def _checks_in(directory):
    """The checks of the records a sink wrote under `directory`."""
    return [json.loads(path.read_text(encoding="utf-8"))["check"] for path in sorted(directory.glob("*.json"))]


@pytest.mark.daily
def test_backup_jobs_of_the_last_day_completed(dr_target, dr_workload, fresh_recovery_points, service_now, dr_record):
    """Every backup job of the vault that finished in the last 24 h (by the target's clock) COMPLETED; at least one did."""
    w = dr_workload
    region = w.primary_region
    vault = ", ".join(dict.fromkeys(view.backup_vault for view in w.each_backup_plan()))
    now = service_now()
    paginator = dr_target.client("backup", region).get_paginator("list_backup_jobs")
    jobs = [job for name in dict.fromkeys(view.backup_vault for view in w.each_backup_plan())
            for page in paginator.paginate(ByBackupVaultName=name, ByCreatedAfter=now - DAY, ByCreatedBefore=now)
            for job in page.get("BackupJobs", [])]
    finished = [j for j in jobs if j["State"] in FINISHED_JOB_STATES]
    failed = [j for j in finished if j["State"] != SUCCESS_JOB_STATE]
    table_runs = [r for r in fresh_recovery_points if r.resource_arn == _table_arn(dr_target, w)]
    window = f"the {hours(DAY.total_seconds())} before {iso(now)}"
    if not finished:
        reason = f"backup vault {vault}: no backup job finished in {window}: the daily backups did not run"
    else:
        completed = len(finished) - len(failed)
        reason = f"backup vault {vault}: {completed} of {len(finished)} backup job(s) finished in {window} COMPLETED"
        reason += "".join(f"; {j['ResourceArn']} {j['State']} {j.get('StatusMessage', '')}".rstrip() for j in failed)
    record = dr_record.measure(
        check=DAILY_BACKUP_JOBS, scenario=SCENARIO, resource=f"backup vault {vault} ({region})", tier=w.spec.table.tier,
        metric="backup_jobs_not_completed", value=float(len(failed)) if finished else None, unit="jobs",
        objective=Objective("backup_jobs_not_completed", 0, "jobs", "==", "the daily checklist: every backup job succeeded"),
        reason=reason,
        evidence={"as_of": iso(now), "jobs": len(jobs), "finished": len(finished), "running": len(jobs) - len(finished),
                  "not_completed": [{"job": j["BackupJobId"], "resource": j["ResourceArn"], "state": j["State"],
                                     "message": j.get("StatusMessage", "")} for j in failed][:50],
                  "harness_jobs": [{"job": r.job_id, "resource": r.resource_arn, "state": r.state, "message": r.message}
                                   for r in fresh_recovery_points]},
    )
    if fresh_recovery_points:  # offline: the harness ran today's jobs; the table's must have completed
        assert [r.state for r in table_runs] == [SUCCESS_JOB_STATE], [(r.state, r.message) for r in table_runs]
    assert record.verdict == "pass", record.reason


def test_inventory_records_the_dr_facts(dr_target, dr_workload, dr_world_client, fresh_recovery_points, service_now,
                                        dr_record, tmp_path):
    """The inventory writes its facts as info records, without an error, and its schedule checks pass."""
    w = dr_workload
    recorder = dr_record
    if dr_world_client is not None:
        _preset_costs(dr_target.endpoint_url, dr_target.account_id)
        recorder = _preset_cost_recorder(dr_record, tmp_path)
    inventory = collect_inventory(dr_target, w, recorder, service_now())
    by_check = {r.check: r for r in inventory.records}

    assert not inventory.errors, [r.reason for r in inventory.errors]
    assert {r.scenario for r in inventory.records} == {SCENARIO}
    assert all(r.target == dr_target.name for r in inventory.records)
    assert [c for c in INFO_CHECKS if by_check.get(c) is None or by_check[c].verdict != "info"] == [], sorted(by_check)
    judged = {r.check: r for r in inventory.records if r.verdict != "info"}
    assert set(judged) == JUDGED_CHECKS, sorted(judged)
    assert all(r.verdict == "pass" for r in judged.values()), [r.reason for r in judged.values() if r.verdict != "pass"]
    if fresh_recovery_points:  # offline: what the harness itself ran must be in the facts
        harness_jobs = {r.job_id for r in fresh_recovery_points if r.job_id}
        assert harness_jobs <= {f.job_id for f in inventory.backup_jobs}, harness_jobs
        table_arn = _table_arn(dr_target, w)
        assert table_arn in {f.resource_arn for f in inventory.recovery_points if f.status == SUCCESS_JOB_STATE}, (
            f"no COMPLETED recovery point of {table_arn} among {len(inventory.recovery_points)}")
    if dr_world_client is not None:  # the preset answer flows through, marked, and stays out of the run's results
        cost = by_check[CHECK_DR_COST]
        assert cost.value == pytest.approx(sum(float(v) for v in OFFLINE_COSTS.values())), cost.reason
        assert cost.evidence["by_service"] == {k: pytest.approx(float(v)) for k, v in OFFLINE_COSTS.items()}
        assert cost.evidence["source"] == PRESET_COST and cost.reason.startswith(PRESET_COST), cost.reason
        assert _checks_in(recorder.sink.side_sink.directory) == [CHECK_DR_COST]
        assert CHECK_DR_COST not in _checks_in(dr_record.sink.directory), "the preset DR cost reached the run's results"
