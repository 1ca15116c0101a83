"""FIS in the offline world: the live backend's own templates act here, for their duration, and report their state."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from drharness.config import LagModel, Offline
from drharness.faults import LiveOptions, parse_fault
from drharness.faults.live import experiment_template
from drharness.instruments import LagProbe
from drharness.target import FAIL_FAST_CONFIG, OfflineTarget
from drharness.waiting import wait_until
from drharness.world import World
from drharness.world.services.fis.models import BAD_DURATION, EMPTY_TARGET, parse_duration
from world_roles import replication_role

PRIMARY, SECONDARY = "us-east-1", "us-west-2"
ROLE = "arn:aws:iam::123456789012:role/replication"
LAG = LagModel(distribution="fixed", seconds=0.05)
PAUSE_SECONDS = 2.0
FINISHED = ("completed", "stopped", "failed")


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with World(Offline(s3_lag=LAG, dynamodb_lag=LAG, restore_seconds=0.0), seed=3) as w:
        replication_role(w)
        yield w


@pytest.fixture(scope="module")
def target(world: World) -> OfflineTarget:
    return OfflineTarget(world.endpoint, world.account_id, config=FAIL_FAST_CONFIG)


@pytest.fixture(autouse=True)
def no_fault_left(world: World) -> Iterator[None]:
    yield
    left = world.faults.active()
    world.faults.revert_all()
    assert not left, f"a test left faults in place: {left}"


def options(duration: str, **kw: Any) -> LiveOptions:
    return LiveOptions(role_arn=ROLE, region=PRIMARY, duration=duration, **kw)


def start(target: OfflineTarget, template: dict[str, Any], region: str = PRIMARY) -> tuple[Any, str]:
    fis = target.client("fis", region)
    template_id = fis.create_experiment_template(**template)["experimentTemplate"]["id"]
    experiment = fis.start_experiment(experimentTemplateId=template_id, clientToken=template["clientToken"])["experiment"]
    return fis, experiment["id"]


def template_of(fis: Any, experiment_id: str) -> str:
    return str(fis.get_experiment(id=experiment_id)["experiment"]["experimentTemplateId"])


def status(fis: Any, experiment_id: str) -> str:
    return str(fis.get_experiment(id=experiment_id)["experiment"]["state"]["status"])


def wait_status(fis: Any, experiment_id: str, wanted: tuple[str, ...], timeout_s: float = 15.0) -> str:
    outcome = wait_until(lambda: status(fis, experiment_id) in wanted, timeout_s, 0.01, what=f"experiment in {wanted}")
    assert outcome.ok, f"{outcome.reason}; state {fis.get_experiment(id=experiment_id)['experiment']['state']}"
    return status(fis, experiment_id)


def replicated_buckets(target: OfflineTarget, source: str, replica: str) -> None:
    primary, secondary = target.client("s3", PRIMARY), target.client("s3", SECONDARY)
    primary.create_bucket(Bucket=source)
    secondary.create_bucket(Bucket=replica, CreateBucketConfiguration={"LocationConstraint": SECONDARY})
    for client, bucket in ((primary, source), (secondary, replica)):
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    rule = {"ID": "all", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": "embeddings/"},
            "DeleteMarkerReplication": {"Status": "Disabled"}, "Destination": {"Bucket": f"arn:aws:s3:::{replica}"}}
    primary.put_bucket_replication(Bucket=source, ReplicationConfiguration={"Role": ROLE, "Rules": [rule]})


def test_durations_are_read_as_iso_8601() -> None:
    assert parse_duration("PT2M") == 120.0
    assert parse_duration("PT1H30M5.5S") == 5405.5
    assert parse_duration("P1D") == 86400.0
    for bad in ("2M", "PT", "P", "PT2X", ""):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_the_live_template_pauses_replication_for_its_duration_and_the_lag_probe_sees_it(
    world: World, target: OfflineTarget,
) -> None:
    replicated_buckets(target, "fis-src", "fis-dst")
    params = parse_fault("replication-pause", {"bucket": "fis-src", "region": SECONDARY})
    template = experiment_template("fispause01", "replication-pause", params, options(f"PT{PAUSE_SECONDS:g}S"),
                                   world.account_id)
    fis, experiment_id = start(target, template)
    assert status(fis, experiment_id) in ("pending", "initiating", "running")
    wait_status(fis, experiment_id, ("running",))
    assert [f.name for f in world.faults.active()] == ["replication-pause"]
    assert world.faults.replication_blockers("s3", "fis-src", (PRIMARY, SECONDARY))

    measured = LagProbe.s3(target.client("s3", PRIMARY), "fis-src", target.client("s3", SECONDARY), "fis-dst",
                           prefix="embeddings/_lagprobe/").run(count=3, timeout_s=20, interval_s=0.01)

    assert wait_status(fis, experiment_id, FINISHED) == "completed"
    history = world.fis.history(experiment_id)
    assert [s for s, _ in history] == ["pending", "initiating", "running", "completed"]
    running_at, completed_at = history[2][1], history[3][1]
    assert PAUSE_SECONDS - 0.01 <= completed_at - running_at < PAUSE_SECONDS + 1.0  # it lasted its duration
    assert not world.faults.active()
    truth = {w.key: w for w in world.truth.writes("s3", "fis-src")}
    assert measured.ok, measured.reason
    for probe in measured.probes:
        record = truth[probe.key]
        held_for = completed_at - record.accepted_at  # the rest of the pause after the write
        assert 0 < held_for <= PAUSE_SECONDS
        # Ground truth: nothing written during the pause reached the replica before the pause ended ...
        assert record.replicated_at[SECONDARY] - record.accepted_at >= held_for - 0.01
        # ... and the lag probe measured at least that, within half its bracket (its stated uncertainty).
        assert probe.lag_seconds is not None and probe.uncertainty_seconds is not None
        assert probe.lag_seconds >= held_for - probe.uncertainty_seconds / 2 - 0.01


def test_the_table_pause_holds_global_table_replication(world: World, target: OfflineTarget) -> None:
    ddb = target.client("dynamodb", PRIMARY)
    ddb.create_table(TableName="fis-meta", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
                     StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    ddb.update_table(TableName="fis-meta", ReplicaUpdates=[{"Create": {"RegionName": SECONDARY}}])
    params = parse_fault("replication-pause", {"table": "fis-meta", "region": PRIMARY})
    fis, experiment_id = start(target, experiment_template("fistable01", "replication-pause", params, options("PT30S"),
                                                           world.account_id))
    wait_status(fis, experiment_id, ("running",))
    assert world.faults.replication_blockers("dynamodb", "fis-meta", (PRIMARY, SECONDARY))
    ddb.put_item(TableName="fis-meta", Item={"pk": {"S": "held"}})
    replica = target.client("dynamodb", SECONDARY)
    assert world.settle(5)  # every replication not held by a fault has been applied
    assert "Item" not in replica.get_item(TableName="fis-meta", Key={"pk": {"S": "held"}})

    fis.stop_experiment(id=experiment_id)
    assert wait_status(fis, experiment_id, FINISHED) == "stopped"
    assert [s for s, _ in world.fis.history(experiment_id)][-2:] == ["stopping", "stopped"]
    assert not world.faults.active()
    seen = wait_until(lambda: "Item" in replica.get_item(TableName="fis-meta", Key={"pk": {"S": "held"}}), 5, 0.02,
                      what="the held item to replicate after the stop")
    assert seen.ok, seen.reason


def test_api_faults_throttle_the_named_operations_until_stopped(world: World, target: OfflineTarget) -> None:
    params = parse_fault("service-fault", {"service": "ec2", "operation": "DescribeVpcs", "mode": "throttle"})
    template = experiment_template("fisapi0001", "service-fault", params,
                                   options("PT5M", api_fault_role_arns=(ROLE,)), world.account_id)
    fis, experiment_id = start(target, template)
    template_id = template_of(fis, experiment_id)
    wait_status(fis, experiment_id, ("running",))
    ec2 = target.client("ec2", PRIMARY)
    with pytest.raises(ClientError) as refused:
        ec2.describe_vpcs()
    assert refused.value.response["Error"]["Code"] == "Throttling"
    ec2.describe_subnets()  # another operation is left alone
    [fault] = world.faults.active()
    assert fault.id in world.fis.fault_ids(experiment_id) and fault.id.startswith(f"fis-{experiment_id[:16]}")

    # A retried start (same client token) is the same experiment: nothing is injected twice.
    again = fis.start_experiment(experimentTemplateId=template_id, clientToken=template["clientToken"])["experiment"]
    assert again["id"] == experiment_id and again["state"]["status"] == "running"
    assert [f.id for f in world.faults.active()] == [fault.id]

    fis.stop_experiment(id=experiment_id)
    assert wait_status(fis, experiment_id, FINISHED) == "stopped"
    ec2.describe_vpcs()


def test_disrupting_a_zones_subnets_is_an_outage_of_that_zone(world: World, target: OfflineTarget) -> None:
    ec2 = target.client("ec2", PRIMARY)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    for zone, cidr in (("a", "10.9.1.0/24"), ("b", "10.9.2.0/24")):
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=f"{PRIMARY}{zone}",
                          TagSpecifications=[{"ResourceType": "subnet", "Tags": [{"Key": "Scope", "Value": "fis-az"}]}])
    params = parse_fault("az-outage", {"region": PRIMARY, "az": "b"})
    template = experiment_template("fisaz00001", "az-outage", params, options("PT5M", tag_scope={"Scope": "fis-az"}),
                                   world.account_id)
    fis, experiment_id = start(target, template)
    wait_status(fis, experiment_id, ("running",))
    assert world.faults.impaired_zones(PRIMARY) == {f"{PRIMARY}b"}
    fis.stop_experiment(id=experiment_id)
    wait_status(fis, experiment_id, FINISHED)
    assert world.faults.impaired_zones(PRIMARY) == set()


def test_stop_instances_starts_them_again_after_the_duration(world: World, target: OfflineTarget) -> None:
    ec2 = target.client("ec2", PRIMARY)
    instance = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType="t3.micro",
                                 TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Role", "Value": "fis-stop"}]}])
    instance_id = instance["Instances"][0]["InstanceId"]

    def state() -> str:
        return str(ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"])

    template = {
        "clientToken": "fisstop001", "description": "stop and start", "roleArn": ROLE, "stopConditions": [{"source": "none"}],
        "targets": {"instances": {"resourceType": "aws:ec2:instance", "resourceTags": {"Role": "fis-stop"},
                                  "filters": [{"path": "State.Name", "values": ["running"]}], "selectionMode": "ALL"}},
        "actions": {"stop": {"actionId": "aws:ec2:stop-instances", "parameters": {"startInstancesAfterDuration": "PT1S"},
                             "targets": {"Instances": "instances"}}},
    }
    fis, experiment_id = start(target, template)
    wait_status(fis, experiment_id, ("running",))
    assert state() in ("stopping", "stopped")
    assert wait_status(fis, experiment_id, FINISHED) == "completed"
    assert state() in ("pending", "running")


def test_an_experiment_that_cannot_run_fails_with_its_reason_and_changes_nothing(world: World, target: OfflineTarget) -> None:
    params = parse_fault("replication-pause", {"bucket": "no-such-bucket", "region": SECONDARY})
    fis, experiment_id = start(target, experiment_template("fisnone001", "replication-pause", params, options("PT1M"),
                                                           world.account_id))
    assert wait_status(fis, experiment_id, FINISHED) == "failed"
    reason = fis.get_experiment(id=experiment_id)["experiment"]["state"]["reason"]
    assert reason == EMPTY_TARGET.format(target="buckets", kind="aws:s3:bucket")
    assert not world.faults.active()

    bad = {"clientToken": "fisbad0001", "description": "x", "roleArn": ROLE, "stopConditions": [{"source": "none"}],
           "targets": {}, "actions": {"wait": {"actionId": "aws:fis:wait", "parameters": {"duration": "two minutes"}}}}
    fis, experiment_id = start(target, bad)
    assert wait_status(fis, experiment_id, FINISHED) == "failed"
    assert fis.get_experiment(id=experiment_id)["experiment"]["state"]["reason"] == BAD_DURATION.format(
        name="wait", value="two minutes")
    listed = {e["id"]: e["state"]["status"] for e in fis.list_experiments()["experiments"]}
    assert listed[experiment_id] == "failed"
