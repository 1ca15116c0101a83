"""The offline world's S3 replication, proven against its ground truth."""

from __future__ import annotations

import pytest

from world_roles import replication_role

SRC, DST = "src-bucket", "dst-bucket"
ROLE = "arn:aws:iam::123456789012:role/replication"


def _rule(rule_id="r1", prefix="embeddings/", priority=1, delete_markers=True, dest=DST, status="Enabled", storage="STANDARD_IA"):
    return {
        "ID": rule_id,
        "Status": status,
        "Priority": priority,
        "Filter": {"Prefix": prefix},
        "DeleteMarkerReplication": {"Status": "Enabled" if delete_markers else "Disabled"},
        "Destination": {"Bucket": f"arn:aws:s3:::{dest}", "StorageClass": storage},
    }


@pytest.fixture
def s3(target):
    primary, secondary = target.client("s3", "us-east-1"), target.client("s3", "us-west-2")
    primary.create_bucket(Bucket=SRC)
    secondary.create_bucket(Bucket=DST, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    for client, bucket in ((primary, SRC), (secondary, DST)):
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return primary, secondary


def _replicate(primary, *rules):
    primary.put_bucket_replication(Bucket=SRC, ReplicationConfiguration={"Role": ROLE, "Rules": list(rules)})


def _keys(client, bucket):
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_replicates_matching_prefix_with_status_and_version(world, s3):
    primary, secondary = s3
    _replicate(primary, _rule())
    put = primary.put_object(Bucket=SRC, Key="embeddings/a.npy", Body=b"vector")
    primary.put_object(Bucket=SRC, Key="raw/b.txt", Body=b"not replicated")
    assert primary.head_object(Bucket=SRC, Key="embeddings/a.npy")["ReplicationStatus"] in ("PENDING", "COMPLETED")
    assert world.settle(5)
    assert primary.head_object(Bucket=SRC, Key="embeddings/a.npy")["ReplicationStatus"] == "COMPLETED"
    assert "ReplicationStatus" not in primary.head_object(Bucket=SRC, Key="raw/b.txt")
    replica = secondary.get_object(Bucket=DST, Key="embeddings/a.npy")
    assert replica["Body"].read() == b"vector"
    assert replica["ReplicationStatus"] == "REPLICA"
    assert replica["VersionId"] == put["VersionId"]
    assert replica["StorageClass"] == "STANDARD_IA"
    assert _keys(secondary, DST) == ["embeddings/a.npy"]


def test_ground_truth_records_accept_and_apply_times(world, s3):
    primary, _ = s3
    _replicate(primary, _rule())
    for i in range(5):
        primary.put_object(Bucket=SRC, Key=f"embeddings/{i}", Body=b"x")
    assert world.settle(5)
    writes = world.truth.writes("s3", SRC)
    assert len(writes) == 5
    for w in writes:
        lag = w.replicated_at["us-west-2"] - w.accepted_at
        assert lag >= w.planned_lag_seconds - 0.005


def test_objects_written_before_the_rule_do_not_replicate(world, s3):
    primary, secondary = s3
    primary.put_object(Bucket=SRC, Key="embeddings/old", Body=b"x")
    _replicate(primary, _rule())
    primary.put_object(Bucket=SRC, Key="embeddings/new", Body=b"x")
    assert world.settle(5)
    assert _keys(secondary, DST) == ["embeddings/new"]


@pytest.mark.parametrize("enabled", [True, False])
def test_delete_marker_replicates_only_when_the_rule_says_so(world, s3, enabled):
    primary, secondary = s3
    _replicate(primary, _rule(delete_markers=enabled))
    primary.put_object(Bucket=SRC, Key="embeddings/d", Body=b"x")
    assert world.settle(5)
    primary.delete_object(Bucket=SRC, Key="embeddings/d")
    assert world.settle(5)
    assert _keys(secondary, DST) == ([] if enabled else ["embeddings/d"])


def test_version_specific_delete_never_replicates(world, s3):
    primary, secondary = s3
    _replicate(primary, _rule())
    put = primary.put_object(Bucket=SRC, Key="embeddings/v", Body=b"x")
    assert world.settle(5)
    primary.delete_object(Bucket=SRC, Key="embeddings/v", VersionId=put["VersionId"])
    assert world.settle(5)
    assert _keys(secondary, DST) == ["embeddings/v"]


def test_batch_delete_markers_replicate(world, s3):
    primary, secondary = s3
    _replicate(primary, _rule())
    for key in ("embeddings/1", "embeddings/2"):
        primary.put_object(Bucket=SRC, Key=key, Body=b"x")
    assert world.settle(5)
    primary.delete_objects(Bucket=SRC, Delete={"Objects": [{"Key": "embeddings/1"}, {"Key": "embeddings/2"}]})
    assert world.settle(5)
    assert _keys(secondary, DST) == []


def test_disabled_rule_and_priority(world, s3, target):
    primary, secondary = s3
    secondary.create_bucket(Bucket="other-dst", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    secondary.put_bucket_versioning(Bucket="other-dst", VersioningConfiguration={"Status": "Enabled"})
    _replicate(
        primary,
        _rule("broad", prefix="", priority=1, storage="STANDARD"),
        _rule("narrow", prefix="embeddings/", priority=5, storage="GLACIER"),
        _rule("off", prefix="embeddings/", priority=9, dest="other-dst", status="Disabled"),
    )
    primary.put_object(Bucket=SRC, Key="embeddings/p", Body=b"x")
    primary.put_object(Bucket=SRC, Key="logs/q", Body=b"x")
    assert world.settle(5)
    assert secondary.head_object(Bucket=DST, Key="embeddings/p")["StorageClass"] == "GLACIER"
    assert "StorageClass" not in secondary.head_object(Bucket=DST, Key="logs/q")  # STANDARD is implicit
    assert _keys(secondary, "other-dst") == []


def test_unversioned_destination_fails(world, target):
    primary, secondary = target.client("s3", "us-east-1"), target.client("s3", "us-west-2")
    primary.create_bucket(Bucket=SRC)
    primary.put_bucket_versioning(Bucket=SRC, VersioningConfiguration={"Status": "Enabled"})
    secondary.create_bucket(Bucket=DST, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    _replicate(primary, _rule())
    primary.put_object(Bucket=SRC, Key="embeddings/f", Body=b"x")
    assert world.settle(5)
    assert primary.head_object(Bucket=SRC, Key="embeddings/f")["ReplicationStatus"] == "FAILED"
    assert world.truth.writes("s3", SRC)[0].failed == "destination bucket not versioned"


@pytest.mark.parametrize("fault", [("replication-pause", {"bucket": SRC}), ("region-outage", {"region": "us-west-2"})])
def test_faults_hold_replication_until_reverted(world, s3, fault):
    primary, secondary = s3
    _replicate(primary, _rule())
    injected = world.faults.inject(*fault)
    primary.put_object(Bucket=SRC, Key="embeddings/held", Body=b"x")
    assert world.settle(5)  # nothing due: the task is parked, not running
    record = world.truth.writes("s3", SRC)[0]
    assert record.replicated_at == {}
    assert record.held_by == [injected.id]
    assert primary.head_object(Bucket=SRC, Key="embeddings/held")["ReplicationStatus"] == "PENDING"
    world.faults.revert(injected.id)
    assert world.settle(5)
    assert _keys(secondary, DST) == ["embeddings/held"]
    assert "us-west-2" in world.truth.writes("s3", SRC)[0].replicated_at


def test_lag_follows_the_configured_distribution(tmp_path):
    from drharness.config import LagModel, Offline
    from drharness.target import OfflineTarget
    from drharness.world import World

    model = LagModel(distribution="uniform", low_seconds=0.05, high_seconds=0.15)
    with World(Offline(s3_lag=model), seed=11) as w:
        replication_role(w)
        t = OfflineTarget(w.endpoint)
        p, s = t.client("s3", "us-east-1"), t.client("s3", "us-west-2")
        p.create_bucket(Bucket=SRC)
        s.create_bucket(Bucket=DST, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        for c, b in ((p, SRC), (s, DST)):
            c.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
        p.put_bucket_replication(Bucket=SRC, ReplicationConfiguration={"Role": ROLE, "Rules": [_rule()]})
        for i in range(40):
            p.put_object(Bucket=SRC, Key=f"embeddings/{i}", Body=b"x")
        assert w.settle(10)
        planned = [r.planned_lag_seconds for r in w.truth.writes("s3", SRC)]
        assert all(0.05 <= lag <= 0.15 for lag in planned)
        assert max(planned) - min(planned) > 0.05  # drawn, not constant
