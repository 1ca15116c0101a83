"""Whether a fault took, asked of the target: proven against faults whose effect is known.

A FIS experiment on a zone's subnets is in effect once it runs on them (and the world, the ground
truth, holds exactly that zone down); one whose targets resolve to nothing is not, and says what FIS
answered; an offline fault is in effect while the world holds it and not after it is reverted.
"""

from __future__ import annotations

import pytest

from drharness import faults
from drharness.faults import Journal, LiveOptions, OfflineFaultBackend
from drharness.faults.effect import confirm_effect
from drharness.faults.live.fis import FisFaults
from drharness.target import FAIL_FAST_CONFIG, OfflineTarget

PRIMARY = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/drharness-fis"
SCOPE = {"Scope": "effect"}


@pytest.fixture
def subnets(world):
    """One scoped subnet in each of two zones; {zone: subnet id}."""
    ec2 = world.client("ec2", PRIMARY)
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    found = {}
    for zone, cidr in (("a", "10.8.1.0/24"), ("b", "10.8.2.0/24")):
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=f"{PRIMARY}{zone}", TagSpecifications=[
            {"ResourceType": "subnet", "Tags": [{"Key": k, "Value": v} for k, v in SCOPE.items()]}])["Subnet"]
        found[f"{PRIMARY}{zone}"] = subnet["SubnetId"]
    return found


def _fis(world, scope):
    target = OfflineTarget(world.endpoint, world.account_id, config=FAIL_FAST_CONFIG)
    return target, FisFaults(target, LiveOptions(role_arn=ROLE, region=PRIMARY, duration="PT5M", tag_scope=scope))


def test_a_running_zone_experiment_is_in_effect_on_exactly_that_zones_subnets(world, subnets):
    target, backend = _fis(world, SCOPE)
    fault = backend.inject("effect00001", "az-outage", faults.parse_fault("az-outage", {"region": PRIMARY, "az": "b"}))
    try:
        effect = confirm_effect(backend, target, fault, timeout_s=10.0)
        assert effect.took, effect.detail
        assert effect.mechanism == "fis" and "running on 1 resource" in effect.detail
        assert effect.resources == (f"arn:aws:ec2:{PRIMARY}:{world.account_id}:subnet/{subnets[f'{PRIMARY}b']}",)
        assert world.faults.impaired_zones(PRIMARY) == {f"{PRIMARY}b"}  # the ground truth agrees
    finally:
        backend.revert(fault.id, fault.refs)
    assert world.faults.impaired_zones(PRIMARY) == set()


def test_an_experiment_whose_targets_resolve_to_nothing_did_not_take_and_says_what_fis_answered(world, subnets):
    target, backend = _fis(world, {"Scope": "nowhere"})
    fault = backend.inject("effect00002", "az-outage", faults.parse_fault("az-outage", {"region": PRIMARY, "az": "a"}))
    try:
        effect = confirm_effect(backend, target, fault, timeout_s=10.0)
    finally:
        backend.revert(fault.id, fault.refs)
    assert not effect.took and effect.resources == ()
    assert "is failed" in effect.detail and "no resource matched target subnets" in effect.detail, effect.detail
    assert world.faults.impaired_zones(PRIMARY) == set()


def test_an_offline_fault_is_in_effect_while_the_world_holds_it(world, tmp_path):
    target = OfflineTarget(world.endpoint, world.account_id, config=FAIL_FAST_CONFIG)
    backend, journal = OfflineFaultBackend(world.endpoint), Journal(tmp_path / "j")
    fault = faults.inject(backend, "az-outage", {"region": PRIMARY, "az": "a"}, journal)
    assert confirm_effect(backend, target, fault, timeout_s=2.0).took
    faults.revert(backend, fault.id, journal)
    gone = confirm_effect(backend, target, fault, timeout_s=0.2)
    assert not gone.took and "not among the faults in place" in gone.detail
