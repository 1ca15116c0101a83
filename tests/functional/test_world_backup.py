"""The offline world's AWS Backup: jobs, recovery points, restores, lifecycle and scheduled plan runs."""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.exceptions import ClientError

from drharness.cron import fire_times_between, next_fire_times
from drharness.waiting import wait_until
from drharness.world import WorldClient
from drharness.world.services.backup.records import REGION_UNAVAILABLE, RESOURCE_MISSING, VERSIONING_REQUIRED
from drharness.world.services.backup.responses import NOT_AN_ARN, PLAN_HAS_SELECTIONS

REGION = "us-east-1"
VAULT = "dr-vault"
ROLE = "arn:aws:iam::123456789012:role/backup"
DAY = 86400.0


@pytest.fixture
def aws(target):
    backup, dynamodb, s3 = (target.client(s, REGION) for s in ("backup", "dynamodb", "s3"))
    backup.create_backup_vault(BackupVaultName=VAULT)
    return backup, dynamodb, s3


def _table(dynamodb, name, items=5, tags=None):
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
    )
    for i in range(items):
        dynamodb.put_item(TableName=name, Item={"pk": {"S": f"doc-{i}"}, "sk": {"S": "v1"}, "dim": {"N": str(i * 3)}})
    return dynamodb.describe_table(TableName=name)["Table"]["TableArn"]


def _bucket(s3, name, objects=3, tags=None, versioned=True):
    s3.create_bucket(Bucket=name)
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    if tags:
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]})
    for i in range(objects):
        s3.put_object(Bucket=name, Key=f"embeddings/{i}.npy", Body=f"vector-{i}".encode() * (i + 1))
    return f"arn:aws:s3:::{name}"


def _items(dynamodb, table):
    return sorted((dynamodb.scan(TableName=table)["Items"]), key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def _objects(s3, bucket):
    found = {}
    for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        got = s3.get_object(Bucket=bucket, Key=obj["Key"])
        found[obj["Key"]] = (got["Body"].read(), got["ETag"])
    return found


def _backup(backup, arn, **extra):
    started = backup.start_backup_job(BackupVaultName=VAULT, ResourceArn=arn, IamRoleArn=ROLE, **extra)
    done = wait_until(
        lambda: backup.describe_backup_job(BackupJobId=started["BackupJobId"])["State"] in ("COMPLETED", "FAILED"),
        5, what="backup job to end",
    )
    assert done.ok, done.reason
    return backup.describe_backup_job(BackupJobId=started["BackupJobId"])


def _restore(backup, point_arn, metadata):
    job_id = backup.start_restore_job(RecoveryPointArn=point_arn, Metadata=metadata, IamRoleArn=ROLE)["RestoreJobId"]
    done = wait_until(
        lambda: backup.describe_restore_job(RestoreJobId=job_id)["Status"] in ("COMPLETED", "FAILED"), 5, what="restore job to end"
    )
    assert done.ok, done.reason
    return backup.describe_restore_job(RestoreJobId=job_id)


def test_backup_job_yields_a_completed_recovery_point(world, aws):
    backup, dynamodb, _ = aws
    arn = _table(dynamodb, "metadata")
    job = _backup(backup, arn, Lifecycle={"MoveToColdStorageAfterDays": 30, "DeleteAfterDays": 365})
    assert job["State"] == "COMPLETED"
    assert job["ResourceType"] == "DynamoDB" and job["BackupSizeInBytes"] > 0
    assert job["CompletionDate"] >= job["CreationDate"]
    points = backup.list_recovery_points_by_backup_vault(BackupVaultName=VAULT)["RecoveryPoints"]
    assert [p["RecoveryPointArn"] for p in points] == [job["RecoveryPointArn"]]
    point = backup.describe_recovery_point(BackupVaultName=VAULT, RecoveryPointArn=job["RecoveryPointArn"])
    assert (point["Status"], point["StorageClass"], point["ResourceArn"]) == ("COMPLETED", "WARM", arn)
    created = point["CreationDate"]
    assert point["CalculatedLifecycle"]["MoveToColdStorageAt"] == created + dt.timedelta(days=30)
    assert point["CalculatedLifecycle"]["DeleteAt"] == created + dt.timedelta(days=365)
    assert backup.describe_backup_vault(BackupVaultName=VAULT)["NumberOfRecoveryPoints"] == 1


def test_job_runs_before_it_completes(world, aws):
    backup, dynamodb, _ = aws
    WorldClient(world.endpoint).set_backup_timing(backup_seconds=0.5)
    started = backup.start_backup_job(BackupVaultName=VAULT, ResourceArn=_table(dynamodb, "slow"), IamRoleArn=ROLE)
    state = backup.describe_backup_job(BackupJobId=started["BackupJobId"])["State"]
    assert state in ("CREATED", "RUNNING")
    assert backup.list_recovery_points_by_backup_vault(BackupVaultName=VAULT)["RecoveryPoints"] == []
    assert world.settle(5)
    assert backup.describe_backup_job(BackupJobId=started["BackupJobId"])["State"] == "COMPLETED"


def test_dynamodb_restore_has_the_backed_up_items_and_a_measured_duration(world, aws):
    backup, dynamodb, _ = aws
    arn = _table(dynamodb, "metadata", items=20)
    before = _items(dynamodb, "metadata")
    job = _backup(backup, arn)
    dynamodb.put_item(TableName="metadata", Item={"pk": {"S": "after-backup"}, "sk": {"S": "v1"}})
    dynamodb.delete_item(TableName="metadata", Key={"pk": {"S": "doc-0"}, "sk": {"S": "v1"}})
    WorldClient(world.endpoint).set_backup_timing(restore_seconds=0.3)
    restored = _restore(backup, job["RecoveryPointArn"], {"targetTableName": "metadata-restored"})
    assert restored["Status"] == "COMPLETED", restored.get("StatusMessage")
    assert restored["CreatedResourceArn"].endswith(":table/metadata-restored")
    assert (restored["CompletionDate"] - restored["CreationDate"]).total_seconds() >= 0.3
    assert _items(dynamodb, "metadata-restored") == before
    assert dynamodb.describe_table(TableName="metadata-restored")["Table"]["KeySchema"] == dynamodb.describe_table(
        TableName="metadata")["Table"]["KeySchema"]


def test_s3_restore_has_the_current_versions_into_a_new_bucket(world, aws):
    backup, _, s3 = aws
    arn = _bucket(s3, "data-bucket", objects=4)
    s3.delete_object(Bucket="data-bucket", Key="embeddings/3.npy")  # a delete marker: not a current version
    before = _objects(s3, "data-bucket")
    job = _backup(backup, arn)
    s3.put_object(Bucket="data-bucket", Key="embeddings/0.npy", Body=b"overwritten later")
    restored = _restore(backup, job["RecoveryPointArn"], {"DestinationBucketName": "data-restored", "NewBucket": "true"})
    assert restored["Status"] == "COMPLETED", restored.get("StatusMessage")
    assert restored["CreatedResourceArn"] == "arn:aws:s3:::data-restored"
    assert sorted(before) == ["embeddings/0.npy", "embeddings/1.npy", "embeddings/2.npy"]
    assert _objects(s3, "data-restored") == before


def test_restore_into_an_existing_table_fails_with_the_reason(world, aws):
    backup, dynamodb, _ = aws
    job = _backup(backup, _table(dynamodb, "metadata"))
    restored = _restore(backup, job["RecoveryPointArn"], {"targetTableName": "metadata"})
    assert restored["Status"] == "FAILED"
    assert "Table already exists: metadata" in restored["StatusMessage"]


def test_restore_needs_its_target_in_metadata(world, aws):
    backup, dynamodb, _ = aws
    job = _backup(backup, _table(dynamodb, "metadata"))
    with pytest.raises(ClientError, match="targetTableName") as info:
        backup.start_restore_job(RecoveryPointArn=job["RecoveryPointArn"], Metadata={}, IamRoleArn=ROLE)
    assert info.value.response["Error"]["Code"] == "InvalidParameterValueException"


def test_backup_of_a_missing_or_unversioned_resource_fails(world, aws):
    backup, _, s3 = aws
    missing = f"arn:aws:dynamodb:{REGION}:123456789012:table/nope"
    job = _backup(backup, missing)
    assert job["State"] == "FAILED"
    assert job["StatusMessage"] == RESOURCE_MISSING.format(arn=missing, region=REGION)
    job = _backup(backup, _bucket(s3, "plain-bucket", versioned=False))
    assert job["State"] == "FAILED"
    assert job["StatusMessage"] == VERSIONING_REQUIRED.format(bucket="plain-bucket")
    assert backup.list_recovery_points_by_backup_vault(BackupVaultName=VAULT)["RecoveryPoints"] == []


def test_backup_fails_when_the_region_goes_down_meanwhile(world, aws):
    backup, dynamodb, _ = aws
    WorldClient(world.endpoint).set_backup_timing(backup_seconds=0.4)
    started = backup.start_backup_job(BackupVaultName=VAULT, ResourceArn=_table(dynamodb, "metadata"), IamRoleArn=ROLE)
    fault = world.faults.inject("region-outage", {"region": REGION})
    try:
        internal = world.client("backup", REGION)
        done = wait_until(lambda: internal.describe_backup_job(BackupJobId=started["BackupJobId"])["State"] == "FAILED", 5)
        assert done.ok, done.reason
        message = internal.describe_backup_job(BackupJobId=started["BackupJobId"])["StatusMessage"]
        assert REGION_UNAVAILABLE.format(region=REGION) in message
    finally:
        world.faults.revert(fault.id)


def test_lifecycle_moves_to_cold_then_deletes_by_the_world_clock(world, aws):
    backup, dynamodb, s3 = aws
    table_job = _backup(backup, _table(dynamodb, "metadata"), Lifecycle={"MoveToColdStorageAfterDays": 1, "DeleteAfterDays": 91})
    bucket_job = _backup(backup, _bucket(s3, "data-bucket"), Lifecycle={"MoveToColdStorageAfterDays": 1, "DeleteAfterDays": 91})
    clock = WorldClient(world.endpoint)

    def storage(job):
        return backup.describe_recovery_point(BackupVaultName=VAULT, RecoveryPointArn=job["RecoveryPointArn"])["StorageClass"]

    clock.advance_clock(0.5 * DAY)
    assert storage(table_job) == "WARM"
    clock.advance_clock(1 * DAY)
    assert storage(table_job) == "COLD"
    assert storage(bucket_job) == "WARM"  # S3 backups have no cold tier in AWS Backup
    clock.advance_clock(90 * DAY)
    with pytest.raises(ClientError) as info:
        backup.describe_recovery_point(BackupVaultName=VAULT, RecoveryPointArn=table_job["RecoveryPointArn"])
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert backup.list_recovery_points_by_backup_vault(BackupVaultName=VAULT)["RecoveryPoints"] == []


def test_list_backup_jobs_filters_by_state_and_creation(world, aws):
    backup, dynamodb, _ = aws
    ok = _backup(backup, _table(dynamodb, "metadata"))
    failed = _backup(backup, f"arn:aws:dynamodb:{REGION}:123456789012:table/nope")
    ids = lambda **kw: {j["BackupJobId"] for j in backup.list_backup_jobs(**kw)["BackupJobs"]}  # noqa: E731
    assert ids(ByState="COMPLETED") == {ok["BackupJobId"]}
    assert ids(ByState="FAILED") == {failed["BackupJobId"]}
    assert ids(ByCreatedAfter=failed["CreationDate"]) == {failed["BackupJobId"]}
    assert ids(ByCreatedAfter=failed["CreationDate"] + dt.timedelta(seconds=1)) == set()


def _seed_plan(backup):
    rules = [
        {"RuleName": "DailyBackups", "TargetBackupVaultName": VAULT, "ScheduleExpression": "cron(0 2 * * ? *)",
         "StartWindowMinutes": 60, "CompletionWindowMinutes": 120,
         "Lifecycle": {"MoveToColdStorageAfterDays": 30, "DeleteAfterDays": 365}, "RecoveryPointTags": {"BackupType": "Daily"}},
        {"RuleName": "WeeklyBackups", "TargetBackupVaultName": VAULT, "ScheduleExpression": "cron(0 3 ? * SUN *)",
         "StartWindowMinutes": 60, "CompletionWindowMinutes": 180,
         "Lifecycle": {"MoveToColdStorageAfterDays": 7, "DeleteAfterDays": 2555}, "RecoveryPointTags": {"BackupType": "Weekly"}},
    ]
    plan_id = backup.create_backup_plan(BackupPlan={"BackupPlanName": "dr-plan", "Rules": rules})["BackupPlanId"]
    plan = backup.get_backup_plan(BackupPlanId=plan_id)["BackupPlan"]
    return plan_id, {r["RuleName"]: r["RuleId"] for r in plan["Rules"]}


def test_daily_plan_run_backs_up_every_resource_tagged_backup_required(world, aws):
    backup, dynamodb, s3 = aws
    tagged = {"BackupRequired": "true"}
    table = _table(dynamodb, "metadata", tags=tagged)
    bucket = _bucket(s3, "data-bucket", tags=tagged)
    untagged = _table(dynamodb, "scratch")
    _table(dynamodb, "opted-out", tags={"BackupRequired": "false"})
    plan_id, rule_ids = _seed_plan(backup)
    backup.create_backup_selection(BackupPlanId=plan_id, BackupSelection={
        "SelectionName": "dr-selection", "IamRoleArn": ROLE, "Resources": ["*"],
        "Conditions": {"StringEquals": [{"ConditionKey": "aws:ResourceTag/BackupRequired", "ConditionValue": "true"}]},
    })
    assert backup.list_backup_jobs()["BackupJobs"] == []  # a plan never runs for times before it existed
    now = dt.datetime.fromtimestamp(world.now(), dt.timezone.utc)
    two_am = next_fire_times("cron(0 2 * * ? *)", now, 1)[0]
    WorldClient(world.endpoint).advance_clock((two_am - now).total_seconds() + 60)
    daily = [j for j in backup.list_backup_jobs()["BackupJobs"] if j["CreatedBy"]["BackupRuleId"] == rule_ids["DailyBackups"]]
    assert sorted(j["ResourceArn"] for j in daily) == sorted([table, bucket])
    assert untagged not in {j["ResourceArn"] for j in daily}
    assert {j["State"] for j in daily} == {"COMPLETED"}
    assert all(j["CreationDate"] == two_am for j in daily)
    for job in daily:
        point = backup.describe_recovery_point(BackupVaultName=VAULT, RecoveryPointArn=job["RecoveryPointArn"])
        assert point["Lifecycle"] == {"MoveToColdStorageAfterDays": 30, "DeleteAfterDays": 365}
        assert point["CreatedBy"]["BackupPlanId"] == plan_id
        assert backup.list_tags(ResourceArn=job["RecoveryPointArn"])["Tags"] == {"BackupType": "Daily"}


def test_weekly_rule_runs_on_sundays_and_selection_by_arn_and_tag_list(world, aws):
    backup, dynamodb, s3 = aws
    table = _table(dynamodb, "metadata")
    bucket = _bucket(s3, "data-bucket", tags={"Purpose": "DisasterRecovery"})
    _table(dynamodb, "scratch")
    plan_id, rule_ids = _seed_plan(backup)
    backup.create_backup_selection(BackupPlanId=plan_id, BackupSelection={
        "SelectionName": "by-arn-or-tag", "IamRoleArn": ROLE, "Resources": [table],
        "ListOfTags": [{"ConditionType": "STRINGEQUALS", "ConditionKey": "Purpose", "ConditionValue": "DisasterRecovery"}],
    })
    start = dt.datetime.fromtimestamp(world.now(), dt.timezone.utc)
    end = dt.datetime.fromtimestamp(WorldClient(world.endpoint).advance_clock(8 * DAY), dt.timezone.utc)
    sundays = fire_times_between("cron(0 3 ? * SUN *)", start, end)
    assert len(sundays) in (1, 2)  # eight days hold one Sunday 03:00, or two when they start just before one
    jobs = backup.list_backup_jobs()["BackupJobs"]
    weekly = [j for j in jobs if j["CreatedBy"]["BackupRuleId"] == rule_ids["WeeklyBackups"]]
    daily = [j for j in jobs if j["CreatedBy"]["BackupRuleId"] == rule_ids["DailyBackups"]]
    assert sorted(j["ResourceArn"] for j in weekly) == sorted([table, bucket] * len(sundays))
    assert {j["CreationDate"] for j in weekly} == set(sundays)
    assert len(daily) == 2 * 8


def test_selection_refuses_a_bucket_name_and_plan_deletion_waits_for_selections(world, aws):
    backup, _, _ = aws
    plan_id, _ = _seed_plan(backup)
    with pytest.raises(ClientError) as info:
        backup.create_backup_selection(BackupPlanId=plan_id, BackupSelection={
            "SelectionName": "bad", "IamRoleArn": ROLE, "Resources": ["data-bucket"]})
    assert info.value.response["Error"]["Message"] == NOT_AN_ARN.format(resource="data-bucket")
    selection_id = backup.create_backup_selection(BackupPlanId=plan_id, BackupSelection={
        "SelectionName": "good", "IamRoleArn": ROLE, "Resources": ["arn:aws:s3:::data-bucket"]})["SelectionId"]
    got = backup.get_backup_selection(BackupPlanId=plan_id, SelectionId=selection_id)
    assert got["BackupSelection"]["Resources"] == ["arn:aws:s3:::data-bucket"]
    assert [s["SelectionName"] for s in backup.list_backup_selections(BackupPlanId=plan_id)["BackupSelectionsList"]] == ["good"]
    with pytest.raises(ClientError) as info:
        backup.delete_backup_plan(BackupPlanId=plan_id)
    assert info.value.response["Error"]["Message"] == PLAN_HAS_SELECTIONS
    backup.delete_backup_selection(BackupPlanId=plan_id, SelectionId=selection_id)
    backup.delete_backup_plan(BackupPlanId=plan_id)


def test_plan_can_be_updated_and_a_deleted_plans_name_reused() -> None:
    from drharness.target import OfflineTarget
    from drharness.world import World

    with World(seed=3) as w:
        b = OfflineTarget(w.endpoint).client("backup", "us-east-1")
        b.create_backup_vault(BackupVaultName="vault")
        plan = {"BackupPlanName": "plan", "Rules": [{"RuleName": "r", "TargetBackupVaultName": "vault",
                                                     "ScheduleExpression": "cron(0 2 * * ? *)"}]}
        plan_id = b.create_backup_plan(BackupPlan=plan)["BackupPlanId"]
        first_version = b.get_backup_plan(BackupPlanId=plan_id)["VersionId"]
        plan["Rules"][0]["ScheduleExpression"] = "cron(0 */4 * * ? *)"
        b.update_backup_plan(BackupPlanId=plan_id, BackupPlan=plan)
        updated = b.get_backup_plan(BackupPlanId=plan_id)
        assert updated["BackupPlan"]["Rules"][0]["ScheduleExpression"] == "cron(0 */4 * * ? *)"
        assert updated["VersionId"] != first_version
        b.delete_backup_plan(BackupPlanId=plan_id)
        assert b.create_backup_plan(BackupPlan=plan)["BackupPlanId"] != plan_id
