"""The fault contract: every fault, through the public API, is seen, reverted, and leaves the steady state.

One parametrized test runs the same sequence for every fault of the vocabulary: steady state holds ->
inject (journal in tmp_path) -> observe the effect -> revert -> steady state again, no fault left in
the world or pending in the journal -> revert again, harmlessly. A fault added to the vocabulary
without a contract case fails here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from botocore.exceptions import ClientError, ConnectionError as BotoConnectionError, HTTPClientError

from drharness.errors import FaultError
from drharness.faults import (
    FAULTS,
    InjectedFault,
    Journal,
    OfflineFaultBackend,
    Terminated,
    inject,
    injected,
    install_signal_reverts,
    revert,
    revert_pending,
)
from drharness.faults.journal import new_fault_id
from drharness.faults.spec import parse_fault
from drharness.target import FAIL_FAST_CONFIG, OfflineTarget
from drharness.waiting import wait_until
from drharness.world import World, WorldClient
from world_roles import fast_offline, replication_role

PRIMARY, SECONDARY = "us-east-1", "us-west-2"
SOURCE, REPLICA, TABLE = "contract-source", "contract-replica", "contract-table"
COMPROMISED_USER = "contract-compromised"
BUILT_IN_AMI = "ami-03cf127a"  # an image every offline world has (listing all of them takes seconds)
ORIGINALS = {f"data/object-{i}.bin": bytes(range(i, i + 64)) for i in range(4)}


@dataclass
class Estate:
    """The minimal resources every fault acts on, reached through an OfflineTarget."""

    world: World
    target: object
    instances: dict[str, str]  # zone letter -> instance id
    subnets: dict[str, str]  # zone letter -> subnet id
    ami: str

    def client(self, service: str, region: str = PRIMARY):
        return self.target.client(service, region)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """One world for the module: each fault's contract must leave it steady for the next one."""
    with World(fast_offline(), seed=11) as w:
        replication_role(w)
        yield w


@pytest.fixture(autouse=True)
def _no_fault_outlives_its_test(world) -> Iterator[None]:
    yield
    world.faults.revert_all()  # a failing test must not hand its fault to the next one


@pytest.fixture(scope="module")
def estate(world) -> Estate:
    """A replicated bucket pair with objects, a table, one instance per zone in its own subnet."""
    # One attempt per call: an injected fault is meant to be seen, not retried away.
    target = OfflineTarget(world.endpoint, world.account_id, config=FAIL_FAST_CONFIG)
    s3_east, s3_west = target.client("s3", PRIMARY), target.client("s3", SECONDARY)
    s3_east.create_bucket(Bucket=SOURCE)
    s3_west.create_bucket(Bucket=REPLICA, CreateBucketConfiguration={"LocationConstraint": SECONDARY})
    for s3, bucket in ((s3_east, SOURCE), (s3_west, REPLICA)):
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3_east.put_bucket_replication(
        Bucket=SOURCE,
        ReplicationConfiguration={
            "Role": f"arn:aws:iam::{world.account_id}:role/replication",
            "Rules": [{"ID": "all", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": ""},
                       "DeleteMarkerReplication": {"Status": "Enabled"},
                       "Destination": {"Bucket": f"arn:aws:s3:::{REPLICA}"}}],
        },
    )
    for key, data in ORIGINALS.items():
        s3_east.put_object(Bucket=SOURCE, Key=key, Body=data)
    ddb = target.client("dynamodb", PRIMARY)
    ddb.create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    ddb.update_table(TableName=TABLE, ReplicaUpdates=[{"Create": {"RegionName": SECONDARY}}])  # a global table
    ec2 = target.client("ec2", PRIMARY)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    ami = ec2.describe_images(ImageIds=[BUILT_IN_AMI])["Images"][0]["ImageId"]
    subnets, instances = {}, {}
    for letter, cidr in (("a", "10.9.1.0/24"), ("b", "10.9.2.0/24")):
        subnets[letter] = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=f"{PRIMARY}{letter}")["Subnet"]["SubnetId"]
        instances[letter] = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                                              SubnetId=subnets[letter])["Instances"][0]["InstanceId"]
    assert world.settle(10)
    return Estate(world, target, instances, subnets, ami)


# -- what each fault does, and what "steady" means for it ------------------------------------------------


def _replicated(estate: Estate, key: str, timeout_s: float = 5.0) -> bool:
    def present() -> bool:
        try:
            estate.client("s3", SECONDARY).head_object(Bucket=REPLICA, Key=key)
            return True
        except ClientError:
            return False

    return wait_until(present, timeout_s, 0.05, what=f"{key} in {REPLICA}").ok


def _put_and_replicates(estate: Estate) -> bool:
    key = f"probe/{new_fault_id()}"
    estate.client("s3").put_object(Bucket=SOURCE, Key=key, Body=b"probe")
    return _replicated(estate, key)


def _item_replicated(estate: Estate, pk: str, timeout_s: float = 5.0) -> bool:
    replica = estate.client("dynamodb", SECONDARY)

    def present() -> bool:
        return "Item" in replica.get_item(TableName=TABLE, Key={"pk": {"S": pk}}, ConsistentRead=True)

    return wait_until(present, timeout_s, 0.05, what=f"item {pk} in the {SECONDARY} replica").ok


def _write_and_replicates(estate: Estate) -> bool:
    pk = f"probe-{new_fault_id()}"
    estate.client("dynamodb").put_item(TableName=TABLE, Item={"pk": {"S": pk}})
    return _item_replicated(estate, pk)


def _instance_state(estate: Estate, letter: str) -> str:
    reservations = estate.client("ec2").describe_instances(InstanceIds=[estate.instances[letter]])["Reservations"]
    return reservations[0]["Instances"][0]["State"]["Name"]


def _run_in(estate: Estate, letter: str) -> str:
    return estate.client("ec2").run_instances(ImageId=estate.ami, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                                               SubnetId=estate.subnets[letter])["Instances"][0]["InstanceId"]


def _contents(estate: Estate) -> dict[str, bytes]:
    s3 = estate.client("s3")
    return {key: s3.get_object(Bucket=SOURCE, Key=key)["Body"].read() for key in ORIGINALS}


def _user_exists(estate: Estate) -> bool:
    users = estate.client("iam").list_users()["Users"]
    return any(u["UserName"] == COMPROMISED_USER for u in users)


def _steady(estate: Estate) -> None:
    """The estate as it should be with no fault: every check every fault's contract relies on."""
    estate.client("s3", SECONDARY).head_bucket(Bucket=REPLICA)
    estate.client("s3", PRIMARY).head_bucket(Bucket=SOURCE)
    assert _put_and_replicates(estate)
    assert _write_and_replicates(estate)
    assert {letter: _instance_state(estate, letter) for letter in "ab"} == {"a": "running", "b": "running"}
    assert _contents(estate) == ORIGINALS
    assert not _user_exists(estate)


def observe_region_outage(estate: Estate, fault: InjectedFault) -> None:
    with pytest.raises((BotoConnectionError, HTTPClientError)):
        estate.client("s3", SECONDARY).head_bucket(Bucket=REPLICA)
    with pytest.raises((BotoConnectionError, HTTPClientError)):
        estate.client("dynamodb", SECONDARY).list_tables()
    estate.client("s3", PRIMARY).head_bucket(Bucket=SOURCE)  # the other region answers
    estate.client("dynamodb", PRIMARY).list_tables()


def observe_az_outage(estate: Estate, fault: InjectedFault) -> None:
    assert _instance_state(estate, "a") in ("stopping", "stopped")
    assert _instance_state(estate, "b") == "running"
    with pytest.raises(ClientError) as err:
        _run_in(estate, "a")
    assert err.value.response["Error"]["Code"] == "InsufficientInstanceCapacity"
    elsewhere = _run_in(estate, "b")  # another zone still takes capacity
    estate.client("ec2").terminate_instances(InstanceIds=[elsewhere])


def observe_service_fault(estate: Estate, fault: InjectedFault) -> None:
    ddb = estate.client("dynamodb")
    with pytest.raises(ClientError) as err:
        ddb.put_item(TableName=TABLE, Item={"pk": {"S": "during"}})
    assert err.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    ddb.get_item(TableName=TABLE, Key={"pk": {"S": "during"}})  # other operations are untouched


def _held(estate: Estate, fault: InjectedFault, store: str, resource: str, key: str) -> None:
    """The write of `key` was accepted, is held by `fault`, and has not replicated."""
    assert estate.world.settle(5)
    held = [w for w in estate.world.truth.writes(store, resource) if key in w.key]
    assert held and fault.id in held[-1].held_by and not held[-1].replicated_at


def observe_bucket_replication_pause(estate: Estate, fault: InjectedFault) -> None:
    estate.client("s3").put_object(Bucket=SOURCE, Key="paused/while-held", Body=b"held")
    assert not _replicated(estate, "paused/while-held", timeout_s=0.3)
    _held(estate, fault, "s3", SOURCE, "paused/while-held")


def observe_table_replication_pause(estate: Estate, fault: InjectedFault) -> None:
    estate.client("dynamodb").put_item(TableName=TABLE, Item={"pk": {"S": "paused-while-held"}})
    assert not _item_replicated(estate, "paused-while-held", timeout_s=0.3)
    _held(estate, fault, "dynamodb", TABLE, "paused-while-held")


def observe_data_corruption(estate: Estate, fault: InjectedFault) -> None:
    assert len(fault.corrupted) == 2 and set(fault.corrupted) <= set(ORIGINALS)
    now = _contents(estate)
    for key in fault.corrupted:
        assert now[key] != ORIGINALS[key] and len(now[key]) == len(ORIGINALS[key])


def observe_credential_compromise(estate: Estate, fault: InjectedFault) -> None:
    assert fault.access_key is not None and fault.access_key.user == COMPROMISED_USER
    attacker = estate.target.client("s3", PRIMARY, credentials=fault.access_key.as_credentials())  # type: ignore[attr-defined]
    assert SOURCE in [b["Name"] for b in attacker.list_buckets()["Buckets"]]  # the stolen key works
    estate.client("iam").update_access_key(UserName=COMPROMISED_USER, AccessKeyId=fault.access_key.access_key_id,
                                           Status="Inactive")  # isolation
    with pytest.raises(ClientError) as err:
        attacker.list_buckets()
    assert err.value.response["Error"]["Code"] == "InvalidAccessKeyId"


@dataclass(frozen=True)
class Case:
    params: dict[str, object]
    observe: Callable[[Estate, InjectedFault], None]
    after_revert: Callable[[Estate], bool] = lambda estate: True  # what the fault held arrives


CASES: dict[str, tuple[Case, ...]] = {
    "region-outage": (Case({"region": SECONDARY}, observe_region_outage),),
    "az-outage": (Case({"region": PRIMARY, "az": "a"}, observe_az_outage),),
    "service-fault": (
        Case({"service": "dynamodb", "operation": "PutItem", "region": PRIMARY, "mode": "error",
              "error_code": "ProvisionedThroughputExceededException"}, observe_service_fault),
    ),
    "replication-pause": (
        Case({"bucket": SOURCE}, observe_bucket_replication_pause,
             after_revert=lambda estate: _replicated(estate, "paused/while-held")),
        Case({"table": TABLE}, observe_table_replication_pause,
             after_revert=lambda estate: _item_replicated(estate, "paused-while-held")),
    ),
    "data-corruption": (Case({"bucket": SOURCE, "prefix": "data/", "count": 2, "seed": 3}, observe_data_corruption),),
    "credential-compromise": (Case({"user": COMPROMISED_USER}, observe_credential_compromise),),
}


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_fault_contract(name, world, estate, tmp_path):
    backend, journal = OfflineFaultBackend(world.endpoint), Journal(tmp_path / "journal")
    for case in CASES[name]:
        _steady(estate)

        fault = inject(backend, name, case.params, journal)
        assert fault.name == name and fault.params == parse_fault(name, case.params)
        assert [f.id for f in backend.active()] == [fault.id]
        assert journal.get(fault.id).status == "active"
        case.observe(estate, fault)

        revert(backend, fault.id, journal)
        assert case.after_revert(estate), f"{name} {case.params}: what the fault held did not arrive after revert"
        _steady(estate)
        assert WorldClient(world.endpoint).faults() == [] and journal.pending() == []

        revert(backend, fault.id, journal)  # twice is harmless
        assert WorldClient(world.endpoint).faults() == [] and journal.get(fault.id).status == "reverted"
        _steady(estate)


# -- reverting when the run does not end normally ----------------------------------------------------------


def test_sigint_inside_injected_reverts(world, tmp_path):
    backend, journal = OfflineFaultBackend(world.endpoint), Journal(tmp_path / "journal")
    with pytest.raises(KeyboardInterrupt):
        with injected(backend, "region-outage", {"region": SECONDARY}, journal) as fault:
            assert world.faults.region_down(SECONDARY)
            signal.raise_signal(signal.SIGINT)
            pytest.fail("SIGINT did not interrupt the block")
    assert world.faults.active() == [] and journal.get(fault.id).status == "reverted"


def test_sigterm_unwinds_once_signal_reverts_are_installed(world, tmp_path):
    backend, journal = OfflineFaultBackend(world.endpoint), Journal(tmp_path / "journal")
    restore = install_signal_reverts()
    try:
        with pytest.raises(Terminated):
            with injected(backend, "az-outage", {"region": PRIMARY, "az": "b"}, journal):
                signal.raise_signal(signal.SIGTERM)
    finally:
        restore()
    assert world.faults.active() == [] and journal.pending() == []


def test_exception_inside_injected_reverts_and_propagates(world, tmp_path):
    backend, journal = OfflineFaultBackend(world.endpoint), Journal(tmp_path / "journal")
    with pytest.raises(ZeroDivisionError):
        with injected(backend, "service-fault", {"service": "s3"}, journal):
            1 / 0  # noqa: B018
    assert world.faults.active() == []


_CRASHING_RUN = """
import os, signal, sys
from drharness.faults import Journal, OfflineFaultBackend, inject
fault = inject(OfflineFaultBackend(sys.argv[1]), "region-outage", {"region": "us-west-2"}, Journal(sys.argv[2]))
print(fault.id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # dies before any revert can run
"""


@pytest.mark.e2e
def test_revert_pending_after_a_killed_run(world, tmp_path):
    journal_dir = tmp_path / "journal"
    run = subprocess.run([sys.executable, "-c", _CRASHING_RUN, world.endpoint, str(journal_dir)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == -signal.SIGKILL, run.stderr
    fault_id = run.stdout.strip()
    assert [f.id for f in world.faults.active()] == [fault_id]

    journal = Journal(journal_dir)
    assert [(r.id, r.status) for r in journal.pending()] == [(fault_id, "active")]
    assert revert_pending(journal) == [fault_id]
    assert WorldClient(world.endpoint).faults() == [] and journal.pending() == []
    assert revert_pending(journal) == []


def test_revert_pending_when_the_run_died_between_journal_and_injection(world, tmp_path):
    journal, backend = Journal(tmp_path / "journal"), OfflineFaultBackend(world.endpoint)
    spec = parse_fault("az-outage", {"region": PRIMARY, "az": "a"})
    never, applied = new_fault_id(), new_fault_id()
    journal.begin(never, "az-outage", spec, backend.ref)  # died before injecting
    journal.begin(applied, "az-outage", spec, backend.ref)
    WorldClient(world.endpoint).inject("az-outage", spec.model_dump(exclude_none=True), applied)  # died before marking
    assert sorted(revert_pending(journal)) == sorted([never, applied])
    assert world.faults.active() == [] and journal.pending() == []


def test_revert_pending_closes_records_of_a_world_that_is_gone(tmp_path, world):
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        gone = f"http://127.0.0.1:{sock.getsockname()[1]}"
    journal = Journal(tmp_path / "journal")
    journal.begin("gone01", "region-outage", parse_fault("region-outage", {"region": SECONDARY}),
                  OfflineFaultBackend(gone).ref)
    assert revert_pending(journal) == ["gone01"]
    record = journal.get("gone01")
    assert record.status == "reverted" and "gone" in record.refs["closed"]


def test_bad_parameters_write_nothing(world, tmp_path):
    journal = Journal(tmp_path / "journal")
    with pytest.raises(FaultError, match="parameter 'rate'"):
        inject(OfflineFaultBackend(world.endpoint), "service-fault", {"service": "s3", "rate": 5}, journal)
    assert journal.records() == [] and world.faults.active() == []
    assert not os.path.exists(journal.directory) or not os.listdir(journal.directory)
