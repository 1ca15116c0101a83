"""The offline world's DynamoDB engine: point-in-time recovery, restore duration, global tables."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from drharness.config import LagModel, Offline
from drharness.target import FAIL_FAST_CONFIG
from drharness.waiting import wait_until
from drharness.world import World, WorldClient
from drharness.world.services.dynamodb.protocol import (
    GLOBAL_TABLE_VERSION,
    INVALID_RESTORE_TIME,
    PITR_UNAVAILABLE,
    RESOURCE_NOT_FOUND,
    SOURCE_TABLE_NOT_FOUND,
    VALIDATION,
    stable_key,
)

PRIMARY, SECONDARY = "us-east-1", "us-west-2"
LAG_SECONDS = 0.05


def settings(restore_seconds: float = 0.0, lag_seconds: float = LAG_SECONDS, pitr_lag_seconds: float = 0.0) -> Offline:
    """A world whose PITR window reaches the present (`pitr_lag_seconds` 0), unless a test says otherwise."""
    return Offline(dynamodb_lag=LagModel(distribution="fixed", seconds=lag_seconds), restore_seconds=restore_seconds,
                   pitr_latest_lag_seconds=pitr_lag_seconds)


def client(world: World, region: str = PRIMARY) -> Any:
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region)
    return session.client("dynamodb", endpoint_url=world.endpoint, config=FAIL_FAST_CONFIG)


def make_table(ddb: Any, name: str = "meta", *, stream: bool = True) -> None:
    extra = {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}} if stream else {}
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )


def enable_pitr(ddb: Any, name: str = "meta") -> None:
    ddb.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )


def put(ddb: Any, pk: str, value: str, name: str = "meta") -> None:
    ddb.put_item(TableName=name, Item={"pk": {"S": pk}, "v": {"S": value}})


def keys(ddb: Any, name: str) -> set[str]:
    return {item["pk"]["S"] for item in ddb.scan(TableName=name)["Items"]}


def value(ddb: Any, pk: str, name: str = "meta") -> str | None:
    item = ddb.get_item(TableName=name, Key={"pk": {"S": pk}}, ConsistentRead=True).get("Item")
    return item["v"]["S"] if item else None


def utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc)


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def settle(world: World) -> None:
    """Wait for replication not held by a fault; the engine must not have failed on the way."""
    assert world.settle(5)
    assert world.errors == []


def global_table(world: World, name: str = "meta") -> tuple[Any, Any]:
    primary, secondary = client(world, PRIMARY), client(world, SECONDARY)
    make_table(primary, name)
    primary.update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": SECONDARY}}])
    return primary, secondary


# -- point-in-time recovery ---------------------------------------------------------------------------


def test_restore_to_a_time_between_two_writes_holds_exactly_the_first() -> None:
    with World(settings(), seed=1) as w:
        ddb = client(w)
        make_table(ddb)
        enable_pitr(ddb)
        put(ddb, "first", "1")
        between = w.now()
        put(ddb, "second", "2")
        put(ddb, "first", "changed")

        ddb.restore_table_to_point_in_time(
            SourceTableName="meta", TargetTableName="meta-restored", RestoreDateTime=utc(between)
        )

        assert keys(ddb, "meta-restored") == {"first"}
        assert value(ddb, "first", "meta-restored") == "1"
        assert keys(ddb, "meta") == {"first", "second"}
        restore = w.dynamodb.restores[-1]
        assert (restore.source, restore.target, restore.kind) == ("meta", "meta-restored", "point-in-time")
        assert restore.restore_time == pytest.approx(between, abs=1e-5)


def test_cross_region_restore_lands_in_the_requesting_region_as_of_the_time() -> None:
    with World(settings(), seed=1) as w:
        ddb, west = client(w), client(w, SECONDARY)
        make_table(ddb)
        enable_pitr(ddb)
        put(ddb, "first", "1")
        between = w.now()
        put(ddb, "second", "2")
        arn = ddb.describe_table(TableName="meta")["Table"]["TableArn"]

        answer = west.restore_table_to_point_in_time(
            SourceTableArn=arn, TargetTableName="meta-west", RestoreDateTime=utc(between)
        )

        assert answer["TableDescription"]["RestoreSummary"]["SourceTableArn"] == arn
        assert keys(west, "meta-west") == {"first"}
        assert "meta-west" not in ddb.list_tables()["TableNames"]
        with pytest.raises(ClientError) as info:
            west.restore_table_to_point_in_time(SourceTableArn=arn, TargetTableName="meta-west2",
                                                RestoreDateTime=utc(between - 3600))
        assert error_code(info) == "InvalidRestoreTimeException"


def test_restore_holds_items_present_when_pitr_was_enabled_and_replays_deletes() -> None:
    with World(settings(), seed=2) as w:
        ddb = client(w)
        make_table(ddb)
        put(ddb, "old", "0")
        enable_pitr(ddb)
        ddb.delete_item(TableName="meta", Key={"pk": {"S": "old"}})
        ddb.batch_write_item(RequestItems={"meta": [{"PutRequest": {"Item": {"pk": {"S": f"b{i}"}}}} for i in range(3)]})
        after_batch = w.now()
        ddb.transact_write_items(TransactItems=[{"Delete": {"TableName": "meta", "Key": {"pk": {"S": "b0"}}}}])

        ddb.restore_table_to_point_in_time(SourceTableName="meta", TargetTableName="at-batch", RestoreDateTime=utc(after_batch))
        described = ddb.describe_continuous_backups(TableName="meta")["ContinuousBackupsDescription"]
        earliest = described["PointInTimeRecoveryDescription"]["EarliestRestorableDateTime"]
        ddb.restore_table_to_point_in_time(SourceTableName="meta", TargetTableName="at-enable", RestoreDateTime=earliest)

        assert keys(ddb, "at-batch") == {"b0", "b1", "b2"}
        assert keys(ddb, "at-enable") == {"old"}
        assert keys(ddb, "meta") == {"b1", "b2"}


def test_restore_without_pitr_is_refused() -> None:
    with World(settings(), seed=3) as w:
        ddb = client(w)
        make_table(ddb)
        with pytest.raises(ClientError) as exc:
            ddb.restore_table_to_point_in_time(SourceTableName="meta", TargetTableName="restored", UseLatestRestorableTime=True)
        assert error_code(exc) == PITR_UNAVAILABLE
        enable_pitr(ddb)
        ddb.update_continuous_backups(
            TableName="meta", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
        )
        with pytest.raises(ClientError) as exc:
            ddb.restore_table_to_point_in_time(SourceTableName="meta", TargetTableName="restored", UseLatestRestorableTime=True)
        assert error_code(exc) == PITR_UNAVAILABLE
        assert "restored" not in ddb.list_tables()["TableNames"]


def test_restore_of_a_missing_table_is_refused() -> None:
    with World(settings(), seed=4) as w:
        with pytest.raises(ClientError) as exc:
            client(w).restore_table_to_point_in_time(
                SourceTableName="nope", TargetTableName="restored", UseLatestRestorableTime=True
            )
        assert error_code(exc) == SOURCE_TABLE_NOT_FOUND


def test_restore_outside_the_window_is_refused() -> None:
    with World(settings(), seed=5) as w:
        ddb = client(w)
        make_table(ddb)
        before_enable = w.now() - 1.0
        enable_pitr(ddb)
        for moment in (before_enable, w.now() + 3600):
            with pytest.raises(ClientError) as exc:
                ddb.restore_table_to_point_in_time(SourceTableName="meta", TargetTableName="restored", RestoreDateTime=utc(moment))
            assert error_code(exc) == INVALID_RESTORE_TIME
        with pytest.raises(ClientError) as exc:
            ddb.restore_table_to_point_in_time(SourceTableName="meta", TargetTableName="restored")
        assert error_code(exc) == VALIDATION
        assert "restored" not in ddb.list_tables()["TableNames"]


def test_describe_continuous_backups_reports_the_true_window() -> None:
    with World(settings(), seed=6) as w:
        ddb = client(w)
        make_table(ddb)
        before = w.now()
        enable_pitr(ddb)
        after = w.now()
        put(ddb, "a", "1")
        checked = w.now()
        description = ddb.describe_continuous_backups(TableName="meta")["ContinuousBackupsDescription"]
        pitr = description["PointInTimeRecoveryDescription"]
        # Times are reported in whole milliseconds, as AWS does.
        assert before <= pitr["EarliestRestorableDateTime"].timestamp() <= after + 0.001
        assert pitr["LatestRestorableDateTime"].timestamp() >= checked - 0.001


AWS_PITR_LAG_S = 300.0  # DynamoDB's latest restorable time trails the present by about five minutes


def test_the_latest_restorable_time_trails_the_clock_and_a_later_restore_is_refused() -> None:
    with World(settings(pitr_lag_seconds=AWS_PITR_LAG_S), seed=6) as w:
        ddb = client(w)
        make_table(ddb)
        enable_pitr(ddb)
        w.advance_clock(AWS_PITR_LAG_S + 60)  # the window now spans a minute
        put(ddb, "a", "1")
        written = w.now()
        pitr = ddb.describe_continuous_backups(TableName="meta")["ContinuousBackupsDescription"][
            "PointInTimeRecoveryDescription"]
        checked = w.now()
        latest = pitr["LatestRestorableDateTime"].timestamp()
        assert written - AWS_PITR_LAG_S - 0.001 <= latest <= checked - AWS_PITR_LAG_S + 0.001
        # A moment just passed, but after the latest restorable time: refused with DynamoDB's error.
        with pytest.raises(ClientError) as exc:
            ddb.restore_table_to_point_in_time(SourceTableName="meta", TargetTableName="early", RestoreDateTime=utc(written))
        assert error_code(exc) == INVALID_RESTORE_TIME
        assert "early" not in ddb.list_tables()["TableNames"]
        # The latest restorable time holds the table as it was then: without the write of the last minutes.
        ddb.restore_table_to_point_in_time(SourceTableName="meta", TargetTableName="latest", UseLatestRestorableTime=True)
        assert keys(ddb, "latest") == set()
        assert w.dynamodb.restores[-1].restore_time == pytest.approx(w.now() - AWS_PITR_LAG_S, abs=1.0)
        # Once the window has moved past the write, a restore to it is taken and holds it.
        w.advance_clock(AWS_PITR_LAG_S)
        ddb.restore_table_to_point_in_time(SourceTableName="meta", TargetTableName="later", RestoreDateTime=utc(written))
        assert keys(ddb, "later") == {"a"}


def test_the_window_never_reports_a_latest_time_before_its_earliest() -> None:
    with World(settings(pitr_lag_seconds=AWS_PITR_LAG_S), seed=6) as w:
        ddb = client(w)
        make_table(ddb)
        enable_pitr(ddb)
        pitr = ddb.describe_continuous_backups(TableName="meta")["ContinuousBackupsDescription"][
            "PointInTimeRecoveryDescription"]
        assert pitr["LatestRestorableDateTime"] == pitr["EarliestRestorableDateTime"]


def test_use_latest_restorable_time_holds_every_write() -> None:
    with World(settings(), seed=7) as w:
        ddb = client(w)
        make_table(ddb)
        enable_pitr(ddb)
        put(ddb, "a", "1")
        ddb.update_item(
            TableName="meta", Key={"pk": {"S": "a"}}, UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": {"S": "2"}}
        )
        put(ddb, "b", "1")
        ddb.restore_table_to_point_in_time(SourceTableName="meta", TargetTableName="latest", UseLatestRestorableTime=True)
        assert keys(ddb, "latest") == {"a", "b"}
        assert value(ddb, "a", "latest") == "2"


def test_restored_table_is_creating_then_active() -> None:
    with World(settings(restore_seconds=0.3), seed=8) as w:
        ddb = client(w)
        make_table(ddb)
        enable_pitr(ddb)
        put(ddb, "a", "1")
        requested = time.monotonic()
        response = ddb.restore_table_to_point_in_time(
            SourceTableName="meta", TargetTableName="slow", UseLatestRestorableTime=True
        )
        assert response["TableDescription"]["TableStatus"] == "CREATING"

        outcome = wait_until(
            lambda: ddb.describe_table(TableName="slow")["Table"]["TableStatus"] == "ACTIVE",
            timeout_s=5,
            interval_s=0.02,
            what="restored table ACTIVE",
        )
        assert outcome.ok, outcome.reason
        # The lower bound is the model's promise; the upper bound is left to the timeout.
        assert time.monotonic() - requested >= 0.3
        assert value(ddb, "a", "slow") == "1"


def test_a_restore_that_never_finishes_stays_creating_until_told_otherwise() -> None:
    with World(settings(), seed=9) as w:
        control = WorldClient(w.endpoint)
        control.set_restore_seconds(None)  # never finishes
        ddb = client(w)
        make_table(ddb)
        put(ddb, "a", "1")
        backup = ddb.create_backup(TableName="meta", BackupName="before-drill")["BackupDetails"]["BackupArn"]
        ddb.restore_table_from_backup(TargetTableName="from-backup", BackupArn=backup)
        assert ddb.describe_table(TableName="from-backup")["Table"]["TableStatus"] == "CREATING"
        with pytest.raises(ClientError) as exc:
            ddb.get_item(TableName="from-backup", Key={"pk": {"S": "a"}})
        assert error_code(exc) == RESOURCE_NOT_FOUND
        outcome = wait_until(
            lambda: ddb.describe_table(TableName="from-backup")["Table"]["TableStatus"] == "ACTIVE",
            timeout_s=0.3,
            interval_s=0.05,
            what="backup restore ACTIVE",
        )
        assert not outcome.ok
        assert (w.dynamodb.restores[-1].kind, w.dynamodb.restores[-1].source) == ("backup", "meta")

        control.set_restore_seconds(0)
        assert ddb.describe_table(TableName="from-backup")["Table"]["TableStatus"] == "ACTIVE"
        assert value(ddb, "a", "from-backup") == "1"


# -- global tables ----------------------------------------------------------------------------------------


def test_replica_is_created_with_items_and_described_in_both_regions() -> None:
    with World(settings(), seed=10) as w:
        primary = client(w, PRIMARY)
        make_table(primary)
        put(primary, "existing", "1")
        primary.update_table(TableName="meta", ReplicaUpdates=[{"Create": {"RegionName": SECONDARY}}])
        secondary = client(w, SECONDARY)

        assert value(secondary, "existing") == "1"
        for ddb, other in ((primary, SECONDARY), (secondary, PRIMARY)):
            table = ddb.describe_table(TableName="meta")["Table"]
            assert table["GlobalTableVersion"] == GLOBAL_TABLE_VERSION
            assert table["Replicas"] == [{"RegionName": other, "ReplicaStatus": "ACTIVE"}]
            assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
            assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_a_write_replicates_to_the_secondary_with_its_lag_in_ground_truth() -> None:
    with World(settings(), seed=11) as w:
        primary, secondary = global_table(w)
        put(primary, "a", "1")
        settle(w)
        assert value(secondary, "a") == "1"

        [record] = w.truth.writes("dynamodb", "meta")
        assert (record.region, record.kind, record.key) == (PRIMARY, "put", stable_key({"pk": {"S": "a"}}))
        lag = record.replicated_at[SECONDARY] - record.accepted_at
        assert record.planned_lag_seconds == LAG_SECONDS
        assert LAG_SECONDS - 0.005 <= lag < LAG_SECONDS + 1.0  # the upper bound only absorbs a busy machine


def test_replication_pause_holds_writes_until_reverted() -> None:
    with World(settings(), seed=12) as w:
        primary, secondary = global_table(w)
        fault = w.faults.inject("replication-pause", {"table": "meta"})
        put(primary, "paused", "1")
        settle(w)
        assert value(secondary, "paused") is None
        [record] = w.truth.writes("dynamodb", "meta")
        assert record.held_by == [fault.id] and not record.replicated_at

        w.faults.revert(fault.id)
        settle(w)
        assert value(secondary, "paused") == "1"
        assert SECONDARY in record.replicated_at


def test_region_outage_of_the_primary_holds_replication() -> None:
    with World(settings(), seed=13) as w:
        primary, secondary = global_table(w)
        put(primary, "before-outage", "1")
        fault = w.faults.inject("region-outage", {"region": PRIMARY})
        settle(w)
        assert value(secondary, "before-outage") is None
        assert w.truth.writes("dynamodb", "meta")[0].held_by == [fault.id]
        w.faults.revert(fault.id)
        settle(w)
        assert value(secondary, "before-outage") == "1"


def test_deletes_replicate() -> None:
    with World(settings(), seed=14) as w:
        primary, secondary = global_table(w)
        put(primary, "gone", "1")
        settle(w)
        primary.delete_item(TableName="meta", Key={"pk": {"S": "gone"}})
        settle(w)
        assert value(secondary, "gone") is None
        assert [r.kind for r in w.truth.writes("dynamodb", "meta")] == ["put", "delete"]


def test_writes_in_the_secondary_replicate_back_without_echo() -> None:
    with World(settings(), seed=15) as w:
        primary, secondary = global_table(w)
        put(secondary, "from-west", "1")
        settle(w)
        assert value(primary, "from-west") == "1"
        assert [(r.region, list(r.replicated_at)) for r in w.truth.writes("dynamodb", "meta")] == [(SECONDARY, [PRIMARY])]


def test_last_writer_wins_on_concurrent_writes() -> None:
    with World(settings(lag_seconds=0.3), seed=16) as w:
        primary, secondary = global_table(w)
        put(primary, "k", "older-east")
        put(secondary, "k", "newer-west")
        settle(w)
        assert value(primary, "k") == "newer-west"
        assert value(secondary, "k") == "newer-west"
        east, west = w.truth.writes("dynamodb", "meta")
        assert east.accepted_at < west.accepted_at
        assert SECONDARY in east.replicated_at and PRIMARY in west.replicated_at


def test_replica_can_be_deleted() -> None:
    with World(settings(), seed=17) as w:
        primary, secondary = global_table(w)
        assert "meta" in secondary.list_tables()["TableNames"]
        primary.update_table(TableName="meta", ReplicaUpdates=[{"Delete": {"RegionName": SECONDARY}}])
        assert "meta" not in secondary.list_tables()["TableNames"]
        assert "Replicas" not in primary.describe_table(TableName="meta")["Table"]
        put(primary, "alone", "1")
        settle(w)
        assert w.truth.writes("dynamodb", "meta") == []


def test_a_second_replica_in_the_same_region_is_refused() -> None:
    with World(settings(), seed=18) as w:
        primary, _ = global_table(w)
        with pytest.raises(ClientError) as exc:
            primary.update_table(TableName="meta", ReplicaUpdates=[{"Create": {"RegionName": SECONDARY}}])
        assert error_code(exc) == VALIDATION


def test_replicated_writes_count_in_the_replicas_pitr_history() -> None:
    with World(settings(), seed=19) as w:
        primary, secondary = global_table(w)
        enable_pitr(secondary)
        put(primary, "a", "1")
        settle(w)
        between = w.now()
        put(primary, "b", "1")
        settle(w)
        secondary.restore_table_to_point_in_time(
            SourceTableName="meta", TargetTableName="west-restore", RestoreDateTime=utc(between)
        )
        assert keys(secondary, "west-restore") == {"a"}


def test_replica_stream_sees_replicated_writes() -> None:
    with World(settings(), seed=20) as w:
        primary, secondary = global_table(w)
        put(primary, "streamed", "1")
        settle(w)
        arn = secondary.describe_table(TableName="meta")["Table"]["LatestStreamArn"]
        streams = w.client("dynamodbstreams", SECONDARY)
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        records = streams.get_records(ShardIterator=iterator)["Records"]
        assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in records] == ["streamed"]


def test_partiql_writes_replicate() -> None:
    with World(settings(), seed=21) as w:
        primary, secondary = global_table(w)
        primary.execute_statement(Statement="INSERT INTO \"meta\" VALUE {'pk': 'q', 'v': '1'}")
        primary.execute_statement(Statement="UPDATE \"meta\" SET v = '2' WHERE pk = 'q'")
        primary.execute_statement(Statement="SELECT * FROM \"meta\"")
        settle(w)
        assert value(secondary, "q") == "2"
        assert [r.kind for r in w.truth.writes("dynamodb", "meta")] == ["put", "put"]


def test_unchanged_writes_replicate_nothing() -> None:
    with World(settings(), seed=22) as w:
        primary, secondary = global_table(w)
        put(primary, "same", "1")
        put(primary, "same", "1")
        primary.delete_item(TableName="meta", Key={"pk": {"S": "never-written"}})
        settle(w)
        assert len(w.truth.writes("dynamodb", "meta")) == 1


def test_first_replica_turns_the_stream_on_and_a_keys_only_stream_is_refused() -> None:
    with World(settings(), seed=23) as w:
        primary = client(w, PRIMARY)
        make_table(primary, "plain", stream=False)
        primary.update_table(TableName="plain", ReplicaUpdates=[{"Create": {"RegionName": SECONDARY}}])
        for ddb in (primary, client(w, SECONDARY)):
            stream = ddb.describe_table(TableName="plain")["Table"]["StreamSpecification"]
            assert stream == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}

        primary.create_table(
            TableName="keys-only",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
        )
        with pytest.raises(ClientError) as exc:
            primary.update_table(TableName="keys-only", ReplicaUpdates=[{"Create": {"RegionName": SECONDARY}}])
        assert error_code(exc) == VALIDATION
        assert "keys-only" not in client(w, SECONDARY).list_tables()["TableNames"]
