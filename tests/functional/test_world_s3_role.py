"""The world's S3 replication acts as the rule's role, as AWS does: no permission, no replica (FAILED).

A rule with replication metrics publishes, as S3 does, ReplicationLatency and OperationsFailedReplication
from what the world really applied and failed.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from world_roles import REPLICATION_POLICY, REPLICATION_TRUST

SRC, DST = "role-src", "role-dst"
EAST, WEST = "us-east-1", "us-west-2"


@pytest.fixture
def s3(world, target):
    primary, secondary = target.client("s3", EAST), target.client("s3", WEST)
    primary.create_bucket(Bucket=SRC)
    secondary.create_bucket(Bucket=DST, CreateBucketConfiguration={"LocationConstraint": WEST})
    for client, bucket in ((primary, SRC), (secondary, DST)):
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return primary, secondary


def _replicate(primary, role="replication", replica_key=None):
    destination = {"Bucket": f"arn:aws:s3:::{DST}"}
    if replica_key:
        destination["EncryptionConfiguration"] = {"ReplicaKmsKeyID": replica_key}
    primary.put_bucket_replication(Bucket=SRC, ReplicationConfiguration={
        "Role": f"arn:aws:iam::123456789012:role/{role}",
        "Rules": [{"ID": "r", "Status": "Enabled", "Priority": 1, "Filter": {"Prefix": ""},
                   "DeleteMarkerReplication": {"Status": "Disabled"}, "Destination": destination}]})


def _status(world, primary, key):
    primary.put_object(Bucket=SRC, Key=key, Body=b"vector")
    assert world.settle(5)
    record = next(w for w in world.truth.writes("s3", SRC) if w.key == key)
    return primary.head_object(Bucket=SRC, Key=key)["ReplicationStatus"], record


def _policy(iam, document):
    iam.put_role_policy(RoleName="replication", PolicyName="replicate",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", **document}))


def test_a_role_that_may_replicate_replicates(world, s3):
    primary, secondary = s3
    _replicate(primary)
    status, record = _status(world, primary, "ok")
    assert status == "COMPLETED" and record.failed == "" and WEST in record.replicated_at
    assert secondary.get_object(Bucket=DST, Key="ok")["ReplicationStatus"] == "REPLICA"


def test_a_deleted_role_fails_new_objects_and_they_stay_failed_after_it_is_back(world, s3):
    primary, secondary = s3
    _replicate(primary)
    iam = world.client("iam", EAST)
    iam.delete_role_policy(RoleName="replication", PolicyName="replicate")
    iam.delete_role(RoleName="replication")
    status, record = _status(world, primary, "lost")
    assert status == "FAILED" and "does not exist" in record.failed and record.replicated_at == {}
    iam.create_role(RoleName="replication", AssumeRolePolicyDocument=json.dumps(REPLICATION_TRUST))
    _policy(iam, REPLICATION_POLICY)
    assert _status(world, primary, "after")[0] == "COMPLETED"
    # As in AWS: a failed object is re-replicated only by S3 Batch Replication, which the world does not model.
    assert primary.head_object(Bucket=SRC, Key="lost")["ReplicationStatus"] == "FAILED"
    assert [o["Key"] for o in secondary.list_objects_v2(Bucket=DST).get("Contents", [])] == ["after"]


@pytest.mark.parametrize(("document", "why"), [
    ({"Statement": [{"Effect": "Allow", "Action": ["s3:GetObjectVersionForReplication"], "Resource": "*"}]},
     "not allowed s3:ReplicateObject on arn:aws:s3:::role-dst/stripped"),
    ({"Statement": [*REPLICATION_POLICY["Statement"],
                    {"Effect": "Deny", "Action": "s3:Replicate*", "Resource": f"arn:aws:s3:::{DST}/*"}]},
     "not allowed s3:ReplicateObject"),
    ({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": f"arn:aws:s3:::{SRC}/*"}]},
     "not allowed s3:ReplicateObject"),
])
def test_a_role_stripped_of_the_replication_actions_fails_new_objects(world, s3, document, why):
    primary, _ = s3
    _replicate(primary)
    iam = world.client("iam", EAST)
    _policy(iam, document)
    status, record = _status(world, primary, "stripped")
    assert status == "FAILED" and why in record.failed, record.failed
    _policy(iam, REPLICATION_POLICY)
    assert _status(world, primary, "restored")[0] == "COMPLETED"


def test_a_role_s3_cannot_assume_fails_new_objects(world, s3):
    primary, _ = s3
    _replicate(primary)
    world.client("iam", EAST).update_assume_role_policy(RoleName="replication", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    status, record = _status(world, primary, "untrusted")
    assert status == "FAILED" and "cannot be assumed by s3.amazonaws.com" in record.failed


def test_a_disabled_replica_key_fails_new_objects_until_it_is_enabled(world, s3):
    primary, secondary = s3
    kms = world.client("kms", WEST)
    meta = kms.create_key(Description="replica key")["KeyMetadata"]
    key = meta["Arn"]
    _replicate(primary, replica_key=key)
    assert _status(world, primary, "before")[0] == "COMPLETED"
    assert secondary.head_object(Bucket=DST, Key="before")["SSEKMSKeyId"] == key
    kms.disable_key(KeyId=meta["KeyId"])
    status, record = _status(world, primary, "disabled")
    assert status == "FAILED" and f"KMS key {key} (us-west-2) is Disabled" in record.failed
    kms.enable_key(KeyId=meta["KeyId"])
    assert _status(world, primary, "enabled")[0] == "COMPLETED"


def test_a_replica_key_in_another_region_or_without_kms_encrypt_fails(world, s3):
    primary, _ = s3
    east_key = world.client("kms", EAST).create_key()["KeyMetadata"]["KeyId"]  # a bare id: looked up in the destination
    _replicate(primary, replica_key=east_key)
    status, record = _status(world, primary, "wrong-region")
    assert status == "FAILED" and "is missing" in record.failed
    west_key = world.client("kms", WEST).create_key()["KeyMetadata"]["Arn"]
    _replicate(primary, replica_key=west_key)
    _policy(world.client("iam", EAST), {"Statement": [{"Effect": "Allow", "Action": [
        "s3:GetObjectVersionForReplication", "s3:ReplicateObject"], "Resource": "*"}]})
    status, record = _status(world, primary, "no-encrypt")
    assert status == "FAILED" and "not allowed kms:Encrypt" in record.failed


def _metrics_rule(primary):
    primary.put_bucket_replication(Bucket=SRC, ReplicationConfiguration={
        "Role": "arn:aws:iam::123456789012:role/replication",
        "Rules": [{"ID": "m", "Status": "Enabled", "Priority": 1, "Filter": {"Prefix": ""},
                   "DeleteMarkerReplication": {"Status": "Disabled"},
                   "Destination": {"Bucket": f"arn:aws:s3:::{DST}", "Metrics": {"Status": "Enabled"}}}]})


def test_replication_metrics_are_published_from_ground_truth(world, s3, target):
    from drharness.instruments.cloudwatch import s3_replication_latency

    primary, _ = s3
    _metrics_rule(primary)
    for i in range(8):
        primary.put_object(Bucket=SRC, Key=f"m/{i}", Body=b"x")
    assert world.settle(5)
    truth = [w.replicated_at[WEST] - w.accepted_at for w in world.truth.writes("s3", SRC)]
    assert len(truth) == 8
    now = dt.datetime.now(dt.timezone.utc)
    cloudwatch = target.client("cloudwatch", EAST)
    latency = s3_replication_latency(cloudwatch, SRC, DST, "m", now - dt.timedelta(minutes=5), now + dt.timedelta(minutes=5))
    # The Maximum over each minute is the largest lag the world applied in it: the same numbers, not a model.
    assert latency.points and latency.max_seconds == pytest.approx(max(truth), abs=1e-6), (latency, truth)
    # A role stripped of the replication actions: each failed object is one OperationsFailedReplication.
    _policy(world.client("iam", EAST), {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject*", "Resource": "*"}]})
    for i in range(3):
        primary.put_object(Bucket=SRC, Key=f"f/{i}", Body=b"x")
    assert world.settle(5)
    failed = cloudwatch.get_metric_statistics(
        Namespace="AWS/S3", MetricName="OperationsFailedReplication", Statistics=["Sum"], Period=60,
        StartTime=now - dt.timedelta(minutes=5), EndTime=now + dt.timedelta(minutes=5),
        Dimensions=[{"Name": "SourceBucket", "Value": SRC}, {"Name": "DestinationBucket", "Value": DST},
                    {"Name": "RuleId", "Value": "m"}])["Datapoints"]
    assert sum(p["Sum"] for p in failed) == 3


def test_no_metrics_without_replication_metrics_on_the_rule(world, s3, target):
    primary, _ = s3
    _replicate(primary)
    primary.put_object(Bucket=SRC, Key="quiet", Body=b"x")
    assert world.settle(5)
    assert target.client("cloudwatch", EAST).list_metrics(Namespace="AWS/S3", MetricName="ReplicationLatency")["Metrics"] == []


def test_pending_gauges_hold_what_a_paused_replication_keeps_back(world, s3, target):
    primary, _ = s3
    _metrics_rule(primary)
    paused = world.faults.inject("replication-pause", {"bucket": SRC})
    sizes = [10, 200, 3000, 40, 5]
    for i, size in enumerate(sizes):
        primary.put_object(Bucket=SRC, Key=f"p/{i}", Body=b"x" * size)
    assert world.settle(2)  # nothing due runs: all five are held by the pause
    now = dt.datetime.now(dt.timezone.utc)
    cloudwatch = target.client("cloudwatch", EAST)
    dims = [{"Name": "SourceBucket", "Value": SRC}, {"Name": "DestinationBucket", "Value": DST},
            {"Name": "RuleId", "Value": "m"}]

    def stat(name: str, statistic: str) -> float:
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/S3", MetricName=name, Statistics=[statistic], Period=3600, Dimensions=dims,
            StartTime=now - dt.timedelta(minutes=30), EndTime=now + dt.timedelta(minutes=30))["Datapoints"]
        assert len(points) == 1, points
        return points[0][statistic]

    assert stat("OperationsPendingReplication", "Maximum") == len(sizes)
    assert stat("BytesPendingReplication", "Maximum") == sum(sizes)
    world.faults.revert(paused.id)
    assert world.settle(5)
    assert [w.replicated_at.get(WEST) is not None for w in world.truth.writes("s3", SRC)] == [True] * len(sizes)
    assert stat("OperationsPendingReplication", "Minimum") == 0 and stat("BytesPendingReplication", "Minimum") == 0
