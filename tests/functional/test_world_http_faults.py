"""The world's fault layer on the HTTP path, its control path, and its request log."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from drharness.errors import FaultError, UnknownFaultError, WorldError
from drharness.faults.spec import UNKNOWN_FAULT
from drharness.world import WorldClient

CONNECTION_ERRORS = (ConnectionClosedError, EndpointConnectionError)


def test_region_outage_fails_like_an_unreachable_endpoint(world, target):
    east, west = target.client("dynamodb", "us-east-1"), target.client("dynamodb", "us-west-2")
    control = WorldClient(world.endpoint)
    fault = control.inject("region-outage", {"region": "us-east-1"})
    with pytest.raises(CONNECTION_ERRORS):
        east.list_tables()
    assert west.list_tables()["TableNames"] == []
    control.revert_all()
    assert east.list_tables()["TableNames"] == []
    assert control.faults() == []
    assert world.truth.fault_effects[fault["id"]] >= 1


def test_region_outage_follows_the_bucket_region_not_the_client_region(world, target):
    east, west = target.client("s3", "us-east-1"), target.client("s3", "us-west-2")
    east.create_bucket(Bucket="in-east")
    world.faults.inject("region-outage", {"region": "us-east-1"})
    with pytest.raises(CONNECTION_ERRORS):
        west.list_objects_v2(Bucket="in-east")


@pytest.mark.parametrize(
    ("mode", "code"), [("error", "InternalFailure"), ("throttle", "ThrottlingException"), ("unavailable", "ServiceUnavailable")]
)
def test_service_fault_returns_aws_shaped_errors(world, target, mode, code):
    ddb = target.client("dynamodb", "us-east-1")
    world.faults.inject("service-fault", {"service": "dynamodb", "mode": mode})
    with pytest.raises(ClientError) as info:
        ddb.list_tables()
    assert info.value.response["Error"]["Code"] == code


def test_service_fault_scoped_to_operation_and_region(world, target):
    east, west = target.client("s3", "us-east-1"), target.client("s3", "us-west-2")
    east.create_bucket(Bucket="bucket-one")
    world.faults.inject("service-fault", {"service": "s3", "operation": "PutObject", "region": "us-east-1",
                                          "error_code": "AccessDenied"})
    with pytest.raises(ClientError) as info:
        east.put_object(Bucket="bucket-one", Key="k", Body=b"x")
    assert info.value.response["Error"]["Code"] == "AccessDenied"
    assert east.list_objects_v2(Bucket="bucket-one")["KeyCount"] == 0  # other operations pass
    west.create_bucket(Bucket="bucket-two", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    west.put_object(Bucket="bucket-two", Key="k", Body=b"x")  # other region passes


def test_service_fault_rate_and_max_hits(world, target):
    ddb = target.client("dynamodb", "us-east-1")
    fault = world.faults.inject("service-fault", {"service": "dynamodb", "rate": 0.5, "mode": "error"})
    failures = 0
    for _ in range(60):
        try:
            ddb.list_tables()
        except ClientError:
            failures += 1
    assert 15 <= failures <= 45  # seeded: about half
    world.faults.revert(fault.id)
    world.faults.inject("service-fault", {"service": "dynamodb", "max_hits": 2})
    outcomes = []
    for _ in range(4):
        try:
            ddb.list_tables()
            outcomes.append("ok")
        except ClientError:
            outcomes.append("err")
    assert outcomes == ["err", "err", "ok", "ok"]


def test_latency_fault_delays_calls(world, target):
    ddb = target.client("dynamodb", "us-east-1")
    world.faults.inject("service-fault", {"service": "dynamodb", "mode": "latency", "latency_ms": 300})
    start = time.monotonic()
    ddb.list_tables()
    assert time.monotonic() - start >= 0.3


def test_control_client_errors_are_actionable(world):
    control = WorldClient(world.endpoint)
    with pytest.raises(UnknownFaultError) as info:
        control.inject("regoin-outage", {})
    assert str(info.value) == UNKNOWN_FAULT.format(name="regoin-outage", known=", ".join(sorted(
        ["az-outage", "credential-compromise", "data-corruption", "region-outage", "replication-pause", "service-fault"])))
    with pytest.raises(FaultError, match="parameter 'region'"):
        control.inject("region-outage", {})
    with pytest.raises(FaultError, match="unknown parameter"):
        control.inject("region-outage", {"region": "us-east-1", "colour": "red"})
    assert control.faults() == []
    with pytest.raises(WorldError, match="drharness world serve"):
        WorldClient("http://127.0.0.1:9", timeout_s=2).faults()


def test_inject_is_idempotent_by_id_and_revert_twice_is_harmless(world):
    control = WorldClient(world.endpoint)
    first = control.inject("region-outage", {"region": "us-east-1"}, fault_id="abc")
    again = control.inject("region-outage", {"region": "us-east-1"}, fault_id="abc")
    assert first["id"] == again["id"] == "abc"
    assert len(control.faults()) == 1
    assert control.revert("abc")["reverted_at"] is not None
    assert control.revert("abc")["reverted_at"] is not None
    assert control.revert("never-was") is None
    assert control.faults() == []


def test_request_log_marks_mutating_calls(world, target):
    s3 = target.client("s3", "us-east-1")
    before = len(WorldClient(world.endpoint).requests(mutating_only=True))  # the fixture's replication role
    s3.list_buckets()
    s3.create_bucket(Bucket="logged")
    log = WorldClient(world.endpoint).requests(mutating_only=True)[before:]
    assert [(r["service"], r["operation"]) for r in log] == [("s3", "CreateBucket")]


def test_an_empty_listing_parameter_is_not_a_sub_resource(world, target):
    s3 = target.client("s3", "us-east-1")
    s3.create_bucket(Bucket="listed")
    s3.list_objects(Bucket="listed", Delimiter="")
    s3.list_objects(Bucket="listed", Delimiter="/", Prefix="")
    operations = [r.operation for r in world.truth.requests() if r.service == "s3"]
    assert operations[-2:] == ["ListObjects", "ListObjects"]
