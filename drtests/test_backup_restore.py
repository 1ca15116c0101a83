"""Weekly checklist: a backup restore test. Restores are timed from the request to verified data.

Point-in-time recovery: a canary ledger writes into the metadata table, the restore point T is taken
between two writes, more canaries follow, and the table restored to T must hold exactly the table as
it was at T (and of the ledger, exactly the canaries acknowledged by T). AWS Backup: a recovery point
of the table or the bucket is restored into a new resource, which must equal the source at backup time.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from drharness.deploy import iam, names
from drharness.instruments import CanaryLedger
from drharness.instruments.consistency import compare_bucket_to_expected, compare_table_to_expected
from drharness.instruments.restore import RestoreTimer, VerifyOutcome
from drharness.results.objectives import objectives_for
from drharness.waiting import pause, wait_until
from drharness.pytest_plugin import resource_params
from drtests._support import key_names, list_objects, restore_limit, scan_items, spool

pytestmark = [pytest.mark.weekly, pytest.mark.monthly, pytest.mark.backup, pytest.mark.critical]

SCENARIO = "backup"
PITR_RESTORE = "restore:dynamodb-pitr"
PITR_CONSISTENCY = "restore:dynamodb-pitr-consistency"
AWS_BACKUP_RESTORE = "restore:aws-backup-{kind}"
AWS_BACKUP_CONSISTENCY = "restore:aws-backup-{kind}-consistency"
CANARIES = 5
# The restore point sits this far from the writes on either side of it (AWS PITR has 1 s resolution).
OFFLINE_GAP_S, LIVE_GAP_S = 0.1, 2.0


def _gap(target):
    return LIVE_GAP_S if target.name == "aws" else OFFLINE_GAP_S


def _poll(target):
    return 15.0 if target.name == "aws" else 0.05


def _write(ledger, count):
    written = [ledger.write_now() for _ in range(count)]
    failed = [c for c in written if not c.acknowledged]
    assert not failed, f"canary writes failed: {failed[0].error}"
    return written


def test_pitr_restore_to_a_recorded_time(dr_target, dr_table, dr_record, dr_keep, service_now, tmp_path):
    """Restore each table to T; it must equal the table at T, canary for canary."""
    w = dr_table
    region, table, spec = w.primary_region, w.metadata_table, w.spec.table
    if not spec.pitr:
        dr_record.measure(check=PITR_RESTORE, scenario=SCENARIO, resource=f"dynamodb table {table}", tier=spec.tier,
                          metric="restore_seconds", value=None, unit="s", verdict="info",
                          reason=f"{table}: the workload config does not ask for point-in-time recovery (pitr = false)")
        pytest.skip(f"{table} has no point-in-time recovery in the workload config")
    ddb = dr_target.client("dynamodb", region)
    rto = objectives_for(w, spec.tier).rto
    ledger = CanaryLedger.dynamodb(ddb, table, hash_key=spec.hash_key, range_key=spec.range_key)
    _write(ledger, CANARIES)
    pause(_gap(dr_target))
    local_t = dt.datetime.now(dt.timezone.utc)
    restore_to = service_now()  # T on the target's clock, which the restore is asked in
    expected = spool(scan_items(ddb, table), tmp_path / "table-at-t.jsonl")  # the table as it is at T
    pause(_gap(dr_target))
    _write(ledger, CANARIES)
    at_t = ledger.state_at(local_t)
    assert not ledger.uncertain_at(local_t), "a canary was in flight at T; the restore point is ambiguous"

    restored = f"{table}-pitr-{uuid.uuid4().hex[:8]}"
    timer = RestoreTimer(dr_target, region, timeout_s=restore_limit(dr_target, rto.limit))
    found: dict = {}

    def verify() -> VerifyOutcome:
        report = compare_table_to_expected(ddb, restored, expected, key_names(w), attribute_format="typed",
                                           consistent_read=True, source_label=f"{table} at {restore_to.isoformat()}")
        found["report"] = report
        canaries = frozenset(ledger.store.present(ddb, restored))
        found["canaries"] = canaries
        if canaries != at_t:
            return VerifyOutcome(False, f"restored canaries {sorted(canaries)}, acknowledged by T {sorted(at_t)}")
        return VerifyOutcome(report.equal, report.summary())

    try:
        # The timer first waits for the latest restorable time to pass T (DynamoDB's trails the present).
        measured = timer.time_pitr(table, restored, restore_to=restore_to, verify=verify)
    finally:
        timer.cleanup()
    evidence = {"ledger": dict(ledger.evidence()), "canaries_at_t": sorted(at_t),
                "canaries_restored": sorted(found.get("canaries", ())), "expected_items": expected.count}
    record = dr_keep(measured.to_record(rto, scenario=SCENARIO, resource=f"dynamodb table {table}", tier=spec.tier,
                                        check=PITR_RESTORE, evidence=evidence))
    if "report" in found:
        dr_keep(found["report"].to_record(target=dr_target.name, scenario=SCENARIO, resource=f"dynamodb table {restored}",
                                          tier=spec.tier, check=PITR_CONSISTENCY))
    assert record.verdict == "pass", record.reason


def pytest_generate_tests(metafunc):
    """Each table and bucket of the workload, one parameter each: `table-metadata`, `bucket-data`."""
    if "backed_up" in metafunc.fixturenames:
        metafunc.parametrize("backed_up", [
            pytest.param((kind, p.values[0]), id=f"{kind}-{p.values[0]}", marks=p.marks)
            for kind, many in (("table", "tables"), ("bucket", "buckets")) for p in resource_params(metafunc.config, many)])


def test_aws_backup_restore_matches_the_backup(backed_up, dr_target, dr_workload, dr_record, dr_keep, tmp_path):
    """Back up, write more, restore the recovery point into a new resource; it equals the source at backup time."""
    kind, resource_id = backed_up
    w = dr_workload.focus(**{kind: resource_id})
    resource_spec = w.spec.table if kind == "table" else w.spec.bucket
    w = w.plan_of(resource_spec)  # its backup plan's vault and role
    if not resource_spec.backup_required:
        name = w.metadata_table if kind == "table" else w.data_bucket
        dr_record.measure(check=AWS_BACKUP_RESTORE.format(kind=kind), scenario=SCENARIO, resource=f"{kind} {name}",
                          tier=resource_spec.tier, metric="restore_seconds", value=None, unit="s", verdict="info",
                          reason=f"{name}: the workload config does not require backups of it (backup_required = false)")
        pytest.skip(f"{name} does not require backups")
    region = w.primary_region
    backup = dr_target.client("backup", region)
    role = iam.role_arn(dr_target, names.backup_role(w)) or ""
    if kind == "table":
        spec = w.spec.table
        client = dr_target.client("dynamodb", region)
        tier, source = spec.tier, f"dynamodb table {w.metadata_table}"
        arn = client.describe_table(TableName=w.metadata_table)["Table"]["TableArn"]
        ledger = CanaryLedger.dynamodb(client, w.metadata_table, hash_key=spec.hash_key, range_key=spec.range_key)
    else:
        client = dr_target.client("s3", region)
        tier, source = w.spec.bucket.tier, f"s3 bucket {w.data_bucket}"
        arn = f"arn:aws:s3:::{w.data_bucket}"
        ledger = CanaryLedger.s3(client, w.data_bucket, prefix=f"{w.spec.bucket.replication.prefix}_canary/")
    rto = objectives_for(w, tier).rto
    limit = restore_limit(dr_target, rto.limit)
    _write(ledger, CANARIES)
    if kind == "table":
        expected = spool(scan_items(client, w.metadata_table), tmp_path / "at-backup.jsonl")
    else:
        expected = spool(list_objects(client, w.data_bucket), tmp_path / "at-backup.jsonl")
    job_id = backup.start_backup_job(BackupVaultName=w.backup_vault, ResourceArn=arn, IamRoleArn=role)["BackupJobId"]
    done = wait_until(lambda: backup.describe_backup_job(BackupJobId=job_id)["State"] in ("COMPLETED", "FAILED", "ABORTED"),
                      limit, _poll(dr_target), what=f"backup job {job_id} to finish")
    job = backup.describe_backup_job(BackupJobId=job_id)
    _write(ledger, CANARIES)  # after the backup: a restore that holds these restored the wrong thing
    if job["State"] != "COMPLETED":
        reason = f"{source}: backup job {job_id} {job['State']}: {job.get('StatusMessage') or done.reason}"
        record = dr_record.measure(check=AWS_BACKUP_RESTORE.format(kind=kind), scenario=SCENARIO, resource=source,
                                   tier=tier, metric="restore_seconds", value=None, unit="s", objective=rto, reason=reason)
        pytest.fail(record.reason)
    point = job["RecoveryPointArn"]
    metadata = dict(backup.get_recovery_point_restore_metadata(BackupVaultName=w.backup_vault,
                                                               RecoveryPointArn=point)["RestoreMetadata"])
    token = uuid.uuid4().hex[:8]
    if kind == "table":
        restored = f"{w.metadata_table}-restore-{token}"
        metadata["targetTableName"] = restored
    else:
        restored = f"drharness-restore-{token}-{dr_target.account_id}"
        metadata.update(DestinationBucketName=restored, NewBucket="true")
    timer = RestoreTimer(dr_target, region, timeout_s=limit)
    found: dict = {}

    def verify():
        if kind == "table":
            report = compare_table_to_expected(client, restored, expected, key_names(w), attribute_format="typed",
                                               consistent_read=True, source_label=f"{w.metadata_table} at backup")
        else:
            # A KMS-encrypted object's ETag is not its MD5 on AWS and differs between copies; offline it is.
            fields = ("size", "etag") if dr_target.name == "offline" else ("size",)
            report = compare_bucket_to_expected(client, restored, expected, fields=fields,
                                                source_label=f"{w.data_bucket} at backup")
        found["report"] = report
        return report

    try:
        measured = timer.time_aws_backup_restore(point, metadata, role, verify=verify)
    finally:
        timer.cleanup()
    record = dr_keep(measured.to_record(rto, scenario=SCENARIO, resource=source, tier=tier,
                                        check=AWS_BACKUP_RESTORE.format(kind=kind),
                                        evidence={"backup_job": job_id, "recovery_point": point,
                                                  "expected_entries": expected.count, "ledger": dict(ledger.evidence())}))
    if "report" in found:
        dr_keep(found["report"].to_record(target=dr_target.name, scenario=SCENARIO, resource=f"{kind} {restored}",
                                          tier=tier, check=AWS_BACKUP_CONSISTENCY.format(kind=kind)))
    assert record.verdict == "pass", record.reason
