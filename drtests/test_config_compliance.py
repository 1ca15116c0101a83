"""Daily checklist: the DR environment is configured as the guide requires, judged against each resource's tier.

One check per mechanism and resource (replication, PITR, global tables, SSE-KMS, backup plan and selection,
FSx backups, multi-AZ compute, each DR stack, each DR notice topic, each schedule's rule); then, per protected resource, which
mechanism meets its tier's RPO and whether its newest recovery point is fresh; and, per bucket and its
replica, whether it has the S3 Inventory its config asks for and a report its schedule allows.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from drharness.errors import DrHarnessError
from drharness.results.objectives import objectives_for
from drharness.results import Objective
from drharness.compliance.checks import (BUCKET_INVENTORY_CHECKS, CHECKS, CHECKS_BY_NAME, RECOVERY_POINT_AGE,
                                         RPO_MECHANISM, SCENARIO)
from drharness.compliance.s3_inventory import record as record_inventory
from drtests._support import hours
from drharness.pytest_plugin import resource_params

pytestmark = [pytest.mark.daily, pytest.mark.monthly, pytest.mark.config]

# Tier markers of the workload-wide checks follow the seed workload's tiers; each record carries the
# tier of the loaded config. The per-resource checks are marked with their resource's own tier.
TIER_MARKS = {
    "dr_stack": pytest.mark.critical,
    "topic": pytest.mark.critical,
    "backup": pytest.mark.critical,
    "schedule": pytest.mark.critical,
}
READ_ERRORS = (ClientError, BotoCoreError, DrHarnessError)


# Per-resource checks by kind: the `Workload.focus` key and the collection of the resources they judge (the
# topic check judges the DR notice topics).
PER_RESOURCE = {"bucket": ("bucket", "buckets"), "table": ("table", "tables"), "file_system": ("file_system", "file_systems"),
                "compute": ("compute", "compute_environments"), "backup": ("backup_plan", "backup_plans"),
                "dr_stack": ("dr_stack", "dr_stacks"), "topic": ("topic", "dr_topics"), "schedule": ("schedule", "schedules")}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One parameter per (check, resource) of the per-resource checks, and per protected resource."""
    if "resource_check" in metafunc.fixturenames:
        metafunc.parametrize("resource_check", [
            pytest.param((c.name, focus, p.values[0]), id=f"{p.values[0]}-{c.name.split(':', 1)[1]}",
                         marks=p.marks or TIER_MARKS.get(c.kind, ()))
            for c in CHECKS if c.kind in PER_RESOURCE
            for focus, many in [PER_RESOURCE[c.kind]] for p in resource_params(metafunc.config, many)])
    if "protected" in metafunc.fixturenames:
        params = [pytest.param((kind, p.values[0]), id=f"{kind}-{p.values[0]}", marks=p.marks)
                  for kind, many in (("table", "tables"), ("bucket", "buckets"), ("file_system", "file_systems"))
                  for p in resource_params(metafunc.config, many)]
        metafunc.parametrize("protected", params)


def _judge(check: str, reads, dr_record) -> None:
    try:
        judgement = CHECKS_BY_NAME[check].judge(reads)
    except READ_ERRORS as exc:
        record = dr_record.error(check=check, resource=reads.workload.spec.project,
                                 reason=f"reading the settings failed: {type(exc).__name__}: {exc}")
        pytest.fail(record.reason)
    record = dr_record.compliance(check=judgement.check, resource=judgement.resource, ok=judgement.ok,
                                  expected=judgement.expected, actual=judgement.actual, tier=judgement.tier,
                                  scenario=SCENARIO)
    assert record.verdict == "pass", record.reason


def test_resource_mechanism_is_configured(resource_check, config_reads, dr_workload, dr_record):
    """Each resource's mechanisms (a bucket's replication and encryption, a table's PITR and replicas, a file
    system's backups, a compute environment's zones, a backup plan's schedule and selection, a DR stack's template
    and parameters, a DR notice topic's subscriber, a schedule's rule) at its own tier."""
    check, focus, resource_id = resource_check
    _judge(check, config_reads.focused(dr_workload.focus(**{focus: resource_id})), dr_record)


@pytest.mark.parametrize("check", [pytest.param(name, id=name.split(":", 1)[1]) for name in BUCKET_INVENTORY_CHECKS])
def test_bucket_inventory(check, dr_bucket, dr_target, service_now, dr_record):
    """Each bucket and its replica: the S3 Inventory its config asks for, and a complete report no older than its
    schedule allows (read on the target's clock); a critical bucket that opts out is said, as information."""
    try:
        judgements = BUCKET_INVENTORY_CHECKS[check](dr_target, dr_bucket, service_now())
    except READ_ERRORS as exc:
        record = dr_record.error(check=check, resource=f"s3 bucket {dr_bucket.data_bucket}",
                                 reason=f"reading the inventory failed: {type(exc).__name__}: {exc}")
        pytest.fail(record.reason)
    records = [record_inventory(dr_record, judgement, SCENARIO) for judgement in judgements]
    failed = [r.reason for r in records if r.verdict not in ("pass", "info")]
    assert not failed, "; ".join(failed)


def _reads_of(config_reads, dr_workload, protected):
    kind, resource_id = protected
    return config_reads.focused(dr_workload.focus(**{kind: resource_id}))


def test_rpo_is_met_by_a_mechanism(protected, config_reads, dr_workload, dr_record):
    """A daily backup alone cannot meet a 1 h RPO: name the mechanism whose worst case is within the tier's RPO."""
    kind = protected[0]
    reads = _reads_of(config_reads, dr_workload, protected)
    resource = reads.protected(kind)
    objective = objectives_for(dr_workload, resource.tier).rpo
    mechanisms = reads.mechanisms(resource)
    bounded = sorted((m for m in mechanisms if m.in_place and m.window_seconds is not None),
                     key=lambda m: m.window_seconds)
    best = bounded[0] if bounded else None
    heading = f"{resource.label} ({resource.tier}, RPO {hours(objective.limit)})"
    if best is not None and best.window_seconds <= objective.limit:
        reason = f"{heading}: met by {best.name} (worst case {hours(best.window_seconds)}: {best.detail})"
    else:
        reason = f"{heading}: no mechanism meets it: " + "; ".join(
            f"{m.name}: {m.detail}" + (f" (worst case {hours(m.window_seconds)})" if m.in_place and m.window_seconds
                                       else "")
            for m in mechanisms)
    record = dr_record.measure(
        check=RPO_MECHANISM.format(kind=kind), scenario=SCENARIO, resource=resource.label, tier=resource.tier,
        metric="worst_case_data_loss_window", value=best.window_seconds if best else None, unit="s",
        objective=objective, reason=reason, evidence={"mechanisms": [m.to_json() for m in mechanisms]},
    )
    assert record.verdict == "pass", record.reason


def _newest_fsx_backup(target, region, arn):
    """The newest AVAILABLE FSx backup of a file system, shaped as a recovery point (None: it has none).

    FSx automatic daily backups are FSx backups (fsx:DescribeBackups), not Backup vault recovery
    points: an account that follows the FSx guide keeps them there.
    """
    fsx = target.client("fsx", region)
    newest = None
    filters = [{"Name": "file-system-id", "Values": [arn.rsplit("/", 1)[-1]]}]
    for page in fsx.get_paginator("describe_backups").paginate(Filters=filters):
        for backup in page.get("Backups", []):
            if backup.get("Lifecycle") == "AVAILABLE" and (newest is None or backup["CreationTime"] > newest["CreationTime"]):
                newest = backup
    if newest is None:
        return None
    return {"RecoveryPointArn": newest.get("ResourceARN") or newest["BackupId"], "CreationDate": newest["CreationTime"]}


def test_newest_recovery_point_is_fresh(protected, config_reads, fresh_recovery_points, service_now, dr_target,
                                        dr_workload, dr_record):
    """Backup jobs succeeded: the newest recovery point is younger than what the resource relies on it for."""
    kind = protected[0]
    config_reads = _reads_of(config_reads, dr_workload, protected)
    resource = config_reads.protected(kind)
    check = RECOVERY_POINT_AGE.format(kind=kind)
    if not resource.backup_required:
        dr_record.measure(check=check, scenario=SCENARIO, resource=resource.label, tier=resource.tier,
                          metric="recovery_point_age", value=None, unit="s", verdict="info",
                          reason=f"{resource.label}: the workload config does not require backups of it")
        pytest.skip(f"{resource.label} does not require backups")
    rpo = objectives_for(dr_workload, resource.tier).rpo
    coverage = config_reads.coverage(resource.arn)
    if config_reads.relied_on_backup(resource, rpo.limit) or not coverage.gap_seconds:
        objective = Objective("recovery_point_age", rpo.limit, "s", "<=",
                              f"{rpo.source}: the backups are what must meet it")
    else:
        limit = coverage.gap_seconds + coverage.windows_seconds
        objective = Objective("recovery_point_age", limit, "s", "<=",
                              f"one scheduled run every {hours(coverage.gap_seconds)} plus its start and completion "
                              f"windows ({hours(coverage.windows_seconds)}); the {resource.tier} RPO is met by "
                              "another mechanism")
    point = config_reads.newest_recovery_point(resource.arn) if resource.arn else None
    if point is None and kind == "file_system" and resource.arn:
        point = _newest_fsx_backup(dr_target, dr_workload.primary_region, resource.arn)
    runs = [r for r in fresh_recovery_points if r.resource_arn == resource.arn]
    age = (service_now() - point["CreationDate"]).total_seconds() if point else None
    if point is not None:
        reason = f"{resource.label}: newest recovery point {point['RecoveryPointArn']} is {hours(age)} old"
    else:
        jobs = "; ".join(f"job {r.job_id or '-'} {r.state} {r.message}".strip() for r in runs)
        vaults = ", ".join(dict.fromkeys(view.backup_vault for view in dr_workload.each_backup_plan()))
        reason = (f"{resource.label}: no COMPLETED recovery point in vault {vaults}"
                  + (f" (the harness's backup job: {jobs})" if jobs else "")
                  + ("" if resource.arn else "; the resource does not exist"))
    record = dr_record.measure(
        check=check, scenario=SCENARIO, resource=resource.label, tier=resource.tier, metric="recovery_point_age",
        value=age, unit="s", objective=objective, reason=reason,
        evidence={"recovery_point": point["RecoveryPointArn"] if point else None,
                  "harness_backup_jobs": [{"job": r.job_id, "state": r.state, "message": r.message} for r in runs]},
    )
    assert record.verdict == "pass", record.reason
