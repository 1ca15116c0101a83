"""RestoreTimer, proven against the offline world's own restore durations."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from drharness.config import load_workload
from drharness.errors import MeasurementError
from drharness.instruments.restore import (
    NAIVE_TIME,
    NO_DEADLINE,
    NOT_USABLE,
    TEST_TAG_KEY,
    TIMED_OUT,
    VERIFY_FAILED,
    RestoreTimer,
    VerifyOutcome,
    as_verify_outcome,
)
from drharness.results.objectives import objectives_for
from drharness.results import Objective
from drharness.waiting import pause, wait_until
from drharness.config import Offline
from drharness.target import FAIL_FAST_CONFIG, OfflineTarget
from drharness.world import World, WorldClient

pytestmark = [pytest.mark.timing, pytest.mark.xdist_group("timing")]  # one after another: tests/conftest.py

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/backup"
SUBNET = "subnet-0123456789abcdef0"
WORLD_RESTORE_SECONDS = 0.3
PITR_LAG_SECONDS = 1.0
SLACK_SECONDS = 5.0  # generous: a loaded CI host is slow, but never faster than the world's restore


def _metadata_table(client) -> None:
    """The table the restores are timed on, with PITR on."""
    client.create_table(
        TableName="metadata",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.update_continuous_backups(TableName="metadata", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})


@pytest.fixture
def dynamodb(target):
    client = target.client("dynamodb", REGION)
    _metadata_table(client)
    _put(client, range(10))
    return client


def _put(client, numbers, table="metadata"):
    for i in numbers:
        client.put_item(TableName=table, Item={"pk": {"S": f"doc-{i}"}, "dim": {"N": str(i)}})


def _items(client, table):
    return sorted(client.scan(TableName=table)["Items"], key=lambda item: item["pk"]["S"])


def same_items(client, source, restored):
    """A data check: the restored table holds exactly `source` (a table name or a list of items)."""
    expected = _items(client, source) if isinstance(source, str) else source

    def check():
        got = _items(client, restored)
        return VerifyOutcome(got == expected, f"{len(got)} items restored, {len(expected)} expected")

    return check


def _tags(client, table):
    arn = client.describe_table(TableName=table)["Table"]["TableArn"]
    return {t["Key"]: t["Value"] for t in client.list_tags_of_resource(ResourceArn=arn)["Tags"]}


def test_pitr_restore_is_timed_from_request_to_verified_data(world, target, dynamodb):
    WorldClient(world.endpoint).set_restore_seconds(WORLD_RESTORE_SECONDS)
    timer = RestoreTimer(target, REGION, timeout_s=10)
    measured = timer.time_pitr("metadata", "metadata-pitr", verify=same_items(dynamodb, "metadata", "metadata-pitr"))
    assert measured.verified, measured.reason
    assert measured.restore_point == "latest" and measured.restored_resource == "metadata-pitr"
    assert WORLD_RESTORE_SECONDS <= measured.available_seconds <= WORLD_RESTORE_SECONDS + SLACK_SECONDS
    assert measured.available_seconds <= measured.restore_seconds
    assert _tags(dynamodb, "metadata-pitr")[TEST_TAG_KEY] == "true"
    cleaned = timer.cleanup()
    assert cleaned.deleted == ("table metadata-pitr",) and cleaned.failed == ()
    assert "metadata-pitr" not in dynamodb.list_tables()["TableNames"]
    assert timer.cleanup().deleted == ()


def test_pitr_to_a_time_restores_the_state_at_that_time(world, target, dynamodb):
    before = _items(dynamodb, "metadata")
    pause(0.05)
    moment = dt.datetime.fromtimestamp(world.now(), dt.timezone.utc)
    pause(0.05)
    _put(dynamodb, range(10, 15))
    timer = RestoreTimer(target, REGION, timeout_s=10)
    measured = timer.time_pitr("metadata", "metadata-at-t", restore_to=moment, verify=same_items(dynamodb, before, "metadata-at-t"))
    assert measured.verified, measured.reason
    assert measured.restore_point == moment.isoformat(timespec="milliseconds")
    timer.cleanup()


def test_a_restore_to_a_moment_just_passed_waits_for_the_window_and_does_not_time_the_wait():
    # DynamoDB refuses a time its latest restorable time has not reached; the timer waits for the window
    # (a known lag here), says how long, and times the restore from its request only.
    with World(Offline(restore_seconds=0.0, pitr_latest_lag_seconds=PITR_LAG_SECONDS), seed=3) as world:
        target = OfflineTarget(world.endpoint, world.account_id, config=FAIL_FAST_CONFIG)
        client = target.client("dynamodb", REGION)
        _metadata_table(client)
        world.advance_clock(PITR_LAG_SECONDS)  # the window opens: its latest time is past its earliest
        _put(client, range(3))
        before = _items(client, "metadata")
        moment = dt.datetime.fromtimestamp(world.now(), dt.timezone.utc)
        _put(client, range(3, 6))
        timer = RestoreTimer(target, REGION, timeout_s=10)
        measured = timer.time_pitr("metadata", "metadata-at-t", restore_to=moment,
                                   verify=same_items(client, before, "metadata-at-t"))
        assert measured.verified, measured.reason
        assert PITR_LAG_SECONDS - 0.3 <= measured.window_wait_seconds <= PITR_LAG_SECONDS + SLACK_SECONDS
        assert measured.restore_seconds < measured.window_wait_seconds
        record = measured.to_record(Objective("rto", 14400, "s"), scenario="data-corruption", tier="critical")
        assert record.evidence["pitr_window_wait_seconds"] == measured.window_wait_seconds
        timer.cleanup()


def test_on_demand_backup_restore_is_timed(world, target, dynamodb):
    WorldClient(world.endpoint).set_restore_seconds(WORLD_RESTORE_SECONDS)
    timer = RestoreTimer(target, REGION, timeout_s=10)
    measured = timer.time_backup_restore("metadata", "metadata-from-backup", verify=same_items(dynamodb, "metadata", "metadata-from-backup"))
    assert measured.verified, measured.reason
    assert measured.kind == "dynamodb-backup" and measured.source.startswith("arn:aws:dynamodb:")
    assert measured.available_seconds >= WORLD_RESTORE_SECONDS
    assert set(timer.cleanup().deleted) == {"table metadata-from-backup", f"dynamodb-backup {measured.source}"}
    assert dynamodb.list_backups(TableName="metadata")["BackupSummaries"] == []


def _aws_backup_point(target, dynamodb):
    backup = target.client("backup", REGION)
    backup.create_backup_vault(BackupVaultName="vault")
    arn = dynamodb.describe_table(TableName="metadata")["Table"]["TableArn"]
    job_id = backup.start_backup_job(BackupVaultName="vault", ResourceArn=arn, IamRoleArn=ROLE)["BackupJobId"]
    done = wait_until(lambda: backup.describe_backup_job(BackupJobId=job_id)["State"] == "COMPLETED", 5)
    assert done.ok, done.reason
    return backup.describe_backup_job(BackupJobId=job_id)["RecoveryPointArn"]


def test_aws_backup_restore_job_is_timed_and_judged_against_the_tier_rto(world, target, dynamodb):
    point = _aws_backup_point(target, dynamodb)
    WorldClient(world.endpoint).set_backup_timing(restore_seconds=WORLD_RESTORE_SECONDS)
    rto = objectives_for(load_workload(), "critical").rto
    timer = RestoreTimer(target, REGION, objective=rto)
    assert timer.timeout_s == rto.limit
    measured = timer.time_aws_backup_restore(point, {"targetTableName": "metadata-aws-backup"}, ROLE,
                                             verify=same_items(dynamodb, "metadata", "metadata-aws-backup"))
    assert measured.verified, measured.reason
    assert measured.restored_resource.endswith(":table/metadata-aws-backup")
    assert measured.service_reported_seconds >= WORLD_RESTORE_SECONDS
    assert measured.available_seconds >= measured.service_reported_seconds - 0.01
    assert _tags(dynamodb, "metadata-aws-backup")[TEST_TAG_KEY] == "true"
    record = measured.to_record(rto, scenario="data-corruption", tier="critical")
    assert (record.metric, record.verdict, record.target, record.unit) == ("restore_seconds", "pass", "offline", "s")
    assert record.value == measured.restore_seconds and record.objective == rto.limit
    assert record.duration_seconds == measured.elapsed_seconds == measured.restore_seconds
    slow = measured.to_record(Objective("rto", 0.01, "s"), scenario="data-corruption", tier="critical")
    assert slow.verdict == "fail" and "misses the objective" in slow.reason
    timer.cleanup()


def test_aws_backup_s3_restore_into_a_new_bucket_is_tagged_and_cleaned_up(world, target):
    s3, backup = target.client("s3", REGION), target.client("backup", REGION)
    s3.create_bucket(Bucket="data")
    s3.put_bucket_versioning(Bucket="data", VersioningConfiguration={"Status": "Enabled"})
    for i in range(3):
        s3.put_object(Bucket="data", Key=f"embeddings/{i}", Body=b"v" * i)
    backup.create_backup_vault(BackupVaultName="vault")
    job_id = backup.start_backup_job(BackupVaultName="vault", ResourceArn="arn:aws:s3:::data", IamRoleArn=ROLE)["BackupJobId"]
    assert world.settle(5)
    point = backup.describe_backup_job(BackupJobId=job_id)["RecoveryPointArn"]

    def listing(bucket):
        return sorted((o["Key"], o["ETag"]) for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))

    timer = RestoreTimer(target, REGION, timeout_s=10)
    measured = timer.time_aws_backup_restore(
        point, {"DestinationBucketName": "data-restored", "NewBucket": "true"}, ROLE,
        verify=lambda: listing("data-restored") == listing("data"),
    )
    assert measured.verified, measured.reason
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket="data-restored")["TagSet"]}
    assert tags[TEST_TAG_KEY] == "true"
    assert timer.cleanup().deleted == ("bucket data-restored",)
    assert "data-restored" not in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def test_fsx_restore_is_timed_to_available(world, target):
    fsx = target.client("fsx", REGION)
    source = fsx.create_file_system(FileSystemType="LUSTRE", StorageCapacity=1200, SubnetIds=[SUBNET],
                                    LustreConfiguration={"DeploymentType": "PERSISTENT_2"})["FileSystem"]
    backup_id = fsx.create_backup(FileSystemId=source["FileSystemId"])["Backup"]["BackupId"]
    assert world.settle(5)
    WorldClient(world.endpoint).set_fsx_timing(restore_seconds=WORLD_RESTORE_SECONDS)
    timer = RestoreTimer(target, REGION, timeout_s=10)

    def restored():
        tagged = [f for f in fsx.describe_file_systems()["FileSystems"] if {"Key": "drill", "Value": "fsx-1"} in f.get("Tags", [])]
        return tagged[0]

    def same_shape():
        return (restored()["FileSystemType"], restored()["StorageCapacity"]) == ("LUSTRE", 1200)

    measured = timer.time_fsx_restore(backup_id, subnet_ids=[SUBNET], tags={"drill": "fsx-1"}, verify=same_shape)
    assert measured.verified, measured.reason
    assert measured.restored_resource == restored()["FileSystemId"] != source["FileSystemId"]
    assert WORLD_RESTORE_SECONDS <= measured.available_seconds <= WORLD_RESTORE_SECONDS + SLACK_SECONDS
    assert {"Key": TEST_TAG_KEY, "Value": "true"} in restored()["Tags"]
    assert timer.cleanup().deleted == (f"file-system {measured.restored_resource}",)


def test_a_restore_job_that_never_finishes_is_a_failed_measurement_in_bounded_time(world, target, dynamodb):
    point = _aws_backup_point(target, dynamodb)
    WorldClient(world.endpoint).set_backup_timing(restore_seconds=None)
    timer = RestoreTimer(target, REGION, timeout_s=0.5)
    started = time.monotonic()
    measured = timer.time_aws_backup_restore(point, {"targetTableName": "never"}, ROLE, verify=lambda: True)
    assert time.monotonic() - started < 0.5 + SLACK_SECONDS
    assert not measured.ok and not measured.verified and measured.restore_seconds is None
    assert measured.reason.startswith(TIMED_OUT.split("{what}")[0].format(seconds=0.5))
    record = measured.to_record(Objective("rto", 14400, "s"), scenario="data-corruption", tier="critical")
    assert (record.verdict, record.value, record.reason) == ("fail", None, measured.reason)
    assert measured.available_seconds is None
    assert 0.5 <= record.duration_seconds == measured.elapsed_seconds < 0.5 + SLACK_SECONDS


def test_a_dynamodb_restore_that_never_finishes_times_out(world, target, dynamodb):
    WorldClient(world.endpoint).set_restore_seconds(None)
    timer = RestoreTimer(target, REGION, timeout_s=0.5)
    measured = timer.time_pitr("metadata", "metadata-stuck", verify=lambda: True)
    assert not measured.ok
    assert measured.reason == TIMED_OUT.format(seconds=0.5, what="table metadata-stuck to become ACTIVE", source="metadata")
    WorldClient(world.endpoint).set_restore_seconds(0)
    timer.cleanup()


def test_a_failed_data_check_fails_the_measurement(world, target, dynamodb):
    timer = RestoreTimer(target, REGION, timeout_s=10)
    measured = timer.time_pitr("metadata", "metadata-bad", verify=lambda: VerifyOutcome(False, "3 keys missing"))
    assert measured.available_seconds is not None and not measured.verified and measured.restore_seconds is None
    assert measured.reason == VERIFY_FAILED.format(detail="3 keys missing")
    raising = timer.time_pitr("metadata", "metadata-raising", verify=lambda: 1 / 0)
    assert not raising.verified and "ZeroDivisionError" in raising.reason
    timer.cleanup()


def test_a_failed_restore_job_reports_the_service_reason(world, target, dynamodb):
    point = _aws_backup_point(target, dynamodb)
    timer = RestoreTimer(target, REGION, timeout_s=10)
    measured = timer.time_aws_backup_restore(point, {"targetTableName": "metadata"}, ROLE, verify=lambda: True)
    assert not measured.ok
    assert measured.reason.startswith(NOT_USABLE.format(source=point, state="FAILED", message=""))
    assert "Table already exists: metadata" in measured.reason
    assert measured.available_seconds is None  # it failed: it never became usable
    record = measured.to_record(Objective("rto", 14400, "s"), scenario="data-corruption", tier="critical")
    assert 0 < record.duration_seconds == measured.elapsed_seconds < SLACK_SECONDS
    timer.cleanup()
    assert "metadata" in dynamodb.list_tables()["TableNames"]  # never created by the timer, never deleted by it


def test_a_refused_request_is_a_failed_measurement(world, target, dynamodb):
    timer = RestoreTimer(target, REGION, timeout_s=600)
    measured = timer.time_pitr("no-such-table", "anything", verify=lambda: True)
    assert not measured.ok and measured.reason.startswith("restore_table_to_point_in_time refused:")
    assert measured.available_seconds is None
    record = measured.to_record(None, scenario="data-corruption")
    # Refused at once: the record says how long that took, not the 600 s the restore was allowed.
    assert 0 < record.duration_seconds == measured.elapsed_seconds < SLACK_SECONDS


def test_bad_input_is_refused_before_anything_is_done(target):
    with pytest.raises(MeasurementError) as info:
        RestoreTimer(target, REGION)
    assert str(info.value) == NO_DEADLINE
    naive = dt.datetime(2025, 1, 1)
    with pytest.raises(MeasurementError) as info:
        RestoreTimer(target, REGION, timeout_s=1).time_pitr("a", "b", restore_to=naive, verify=lambda: True)
    assert str(info.value) == NAIVE_TIME.format(moment=naive.isoformat())


def test_verify_outcomes_are_read_from_common_shapes():
    class Report:
        equal = False

        def summary(self):
            return "2 missing"

    assert as_verify_outcome(True) == VerifyOutcome(True, "")
    assert as_verify_outcome(Report()) == VerifyOutcome(False, "2 missing")
    with pytest.raises(MeasurementError):
        as_verify_outcome("yes")
