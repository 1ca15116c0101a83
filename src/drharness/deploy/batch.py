"""Batch: a VPC with one subnet per configured AZ, the multi-AZ compute environment, queue and job.

The secondary region gets the same network so that the DR stack can raise its compute there.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from drharness.config import Workload
from drharness.deploy import iam, names
from drharness.deploy.common import ApplyLog, Checker, call, workload_tags
from drharness.errors import DeployError
from drharness.target import Target

CE_STATE = "state"
CE_STATUS = "status"
CE_ZONES = "computeResources.subnets.availabilityZones"
CE_INSTANCE_TYPES = "computeResources.instanceTypes"
# The guide's `DIVERSIFIED` is no Batch allocation strategy; this one spreads over the listed types.
ALLOCATION_STRATEGY = "BEST_FIT_PROGRESSIVE"
JOB_IMAGE = "public.ecr.aws/amazonlinux/amazonlinux:2023"


@dataclass(frozen=True)
class Network:
    """The workload's VPC in one region: one subnet per zone any compute environment uses."""

    region: str
    vpc_id: str
    subnet_ids: tuple[str, ...]
    security_group_id: str
    zones: tuple[str, ...] = ()  # the zone of each subnet, in the same order

    def subnets_in(self, zones: tuple[str, ...]) -> tuple[str, ...]:
        """The subnets of `zones` (one compute environment's), in that order."""
        by_zone = dict(zip(self.zones, self.subnet_ids))
        return tuple(by_zone[zone] for zone in zones if zone in by_zone)


def compute_resource(name: str) -> str:
    return f"batch compute environment {name}"


def queue_resource(name: str) -> str:
    return f"batch job queue {name}"


def _by_name(ec2: Any, kind: str, name: str, extra: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    filters = [{"Name": "tag:Name", "Values": [name]}] + (extra or [])
    describe = {"vpc": ec2.describe_vpcs, "subnet": ec2.describe_subnets}[kind]
    return list(describe(Filters=filters)["Vpcs" if kind == "vpc" else "Subnets"])


def ensure_network(target: Target, workload: Workload, region: str, cidr: str, log: ApplyLog) -> Network:
    """Make (or find) the workload's VPC, one subnet per configured AZ, and the Batch security group."""
    ec2 = target.client("ec2", region)
    vpc_name = names.vpc(workload)
    found = _by_name(ec2, "vpc", vpc_name)
    if found:
        vpc_id = found[0]["VpcId"]
        log.add("vpc", vpc_name, region, "unchanged", vpc_id)
    else:
        tags = [{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": vpc_name}]}]
        vpc_id = call(f"ec2.create_vpc in {region}", ec2.create_vpc, CidrBlock=cidr, TagSpecifications=tags)["Vpc"]["VpcId"]
        log.add("vpc", vpc_name, region, "created", vpc_id)
    offered = {z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]}
    blocks = list(ipaddress.ip_network(cidr).subnets(new_prefix=24))
    subnet_ids = []
    for zone in names.all_zones(workload, region):
        if zone not in offered:
            raise DeployError(
                f"availability zone {zone} (from compute.availability_zones) does not exist in {region}; "
                f"{region} offers {', '.join(sorted(offered))}"
            )
        subnet_name = names.subnet(workload, zone)
        existing = _by_name(ec2, "subnet", subnet_name, [{"Name": "vpc-id", "Values": [vpc_id]}])
        if existing:
            subnet_ids.append(existing[0]["SubnetId"])
            log.add("subnet", subnet_name, region, "unchanged", existing[0]["SubnetId"])
            continue
        index = ord(zone[-1]) - ord("a")
        subnet_id = call(
            f"ec2.create_subnet in {zone}",
            ec2.create_subnet,
            VpcId=vpc_id,
            CidrBlock=str(blocks[index]),
            AvailabilityZone=zone,
            TagSpecifications=[{"ResourceType": "subnet", "Tags": [{"Key": "Name", "Value": subnet_name}]}],
        )["Subnet"]["SubnetId"]
        subnet_ids.append(subnet_id)
        log.add("subnet", subnet_name, region, "created", subnet_id)
    group_name = names.security_group(workload)
    groups = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [group_name]}, {"Name": "vpc-id", "Values": [vpc_id]}]
    )["SecurityGroups"]
    if groups:
        group_id = groups[0]["GroupId"]
        log.add("security group", group_name, region, "unchanged", group_id)
    else:
        group_id = call(f"ec2.create_security_group {group_name}", ec2.create_security_group, GroupName=group_name,
                        Description="Batch compute of the DR workload", VpcId=vpc_id)["GroupId"]
        log.add("security group", group_name, region, "created", group_id)
    return Network(region, vpc_id, tuple(subnet_ids), group_id, names.all_zones(workload, region))


def find_network(target: Target, workload: Workload, region: str) -> Network | None:
    """The network `ensure_network` made, or None when any part of it is missing."""
    ec2 = target.client("ec2", region)
    vpcs = _by_name(ec2, "vpc", names.vpc(workload))
    if not vpcs:
        return None
    vpc_id = vpcs[0]["VpcId"]
    subnet_ids = []
    for zone in names.all_zones(workload, region):
        found = _by_name(ec2, "subnet", names.subnet(workload, zone), [{"Name": "vpc-id", "Values": [vpc_id]}])
        if not found:
            return None
        subnet_ids.append(found[0]["SubnetId"])
    groups = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [names.security_group(workload)]}, {"Name": "vpc-id", "Values": [vpc_id]}]
    )["SecurityGroups"]
    if not groups:
        return None
    return Network(region, vpc_id, tuple(subnet_ids), groups[0]["GroupId"], names.all_zones(workload, region))


def apply(target: Target, workload: Workload, log: ApplyLog) -> Network:
    """Deploy every compute environment with its queue; return the primary network (the file systems sit in it)."""
    network = ensure_network(target, workload, workload.primary_region, names.PRIMARY_VPC_CIDR, log)
    ensure_network(target, workload, workload.secondary_region, names.SECONDARY_VPC_CIDR, log)
    for view in workload.each_compute():
        _apply_compute(target, view, network, log)
    _ensure_job_definition(target.client("batch", workload.primary_region), workload, log)
    return network


def _apply_compute(target: Target, workload: Workload, network: Network, log: ApplyLog) -> None:
    region = workload.primary_region
    spec = workload.spec.compute
    batch = target.client("batch", region)
    service_role = iam.role_arn(target, names.batch_service_role(workload))
    profile = iam.instance_profile_arn(target, names.batch_instance_role(workload))
    name = workload.compute_environment
    found = batch.describe_compute_environments(computeEnvironments=[name])["computeEnvironments"]
    if found:
        ce = found[0]
        resources = ce.get("computeResources") or {}
        updates: dict[str, Any] = {}
        if ce.get(CE_STATE) != "ENABLED":
            updates["state"] = "ENABLED"
        if resources.get("maxvCpus") != spec.max_vcpus:
            updates["computeResources"] = {"maxvCpus": spec.max_vcpus}
        if updates:
            call(f"batch.update_compute_environment {name}", batch.update_compute_environment,
                 computeEnvironment=name, **updates)
        log.add("batch compute environment", name, region, "updated" if updates else "unchanged",
                ce["computeEnvironmentArn"])
        ce_arn = ce["computeEnvironmentArn"]
    else:
        ce_arn = call(
            f"batch.create_compute_environment {name}",
            batch.create_compute_environment,
            computeEnvironmentName=name,
            type="MANAGED",
            state="ENABLED",
            serviceRole=service_role,
            computeResources={
                "type": "EC2",
                "allocationStrategy": ALLOCATION_STRATEGY,
                "minvCpus": 0,
                "maxvCpus": spec.max_vcpus,
                "desiredvCpus": 0,
                "instanceTypes": list(spec.instance_types),
                "subnets": list(network.subnets_in(names.zones(workload, region))),
                "securityGroupIds": [network.security_group_id],
                "instanceRole": profile,
                "tags": {"AvailabilityStrategy": "MultiAZ"},
            },
            tags={"Purpose": "DisasterRecovery", **workload_tags(workload, spec.tier)},
        )["computeEnvironmentArn"]
        log.add("batch compute environment", name, region, "created", ce_arn)
    _ensure_queue(batch, workload, ce_arn, log)


def _ensure_queue(batch: Any, workload: Workload, ce_arn: str, log: ApplyLog) -> None:
    name, region = workload.job_queue, workload.primary_region
    found = batch.describe_job_queues(jobQueues=[name])["jobQueues"]
    if found:
        queue = found[0]
        order = [o["computeEnvironment"] for o in queue.get("computeEnvironmentOrder", [])]
        if queue.get(CE_STATE) != "ENABLED" or ce_arn not in order:
            call(f"batch.update_job_queue {name}", batch.update_job_queue, jobQueue=name, state="ENABLED",
                 computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce_arn}])
            log.add("batch job queue", name, region, "updated", queue["jobQueueArn"])
        else:
            log.add("batch job queue", name, region, "unchanged", queue["jobQueueArn"])
        return
    arn = call(f"batch.create_job_queue {name}", batch.create_job_queue, jobQueueName=name, state="ENABLED",
               priority=1, computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce_arn}])["jobQueueArn"]
    log.add("batch job queue", name, region, "created", arn)


def _ensure_job_definition(batch: Any, workload: Workload, log: ApplyLog) -> None:
    name, region = names.job_definition(workload), workload.primary_region
    active = batch.describe_job_definitions(jobDefinitionName=name, status="ACTIVE")["jobDefinitions"]
    if active:
        log.add("batch job definition", name, region, "unchanged", active[0]["jobDefinitionArn"])
        return
    arn = call(
        f"batch.register_job_definition {name}",
        batch.register_job_definition,
        jobDefinitionName=name,
        type="container",
        containerProperties={
            "image": JOB_IMAGE,
            "command": ["echo", "embedding batch"],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "2048"}],
        },
        retryStrategy={"attempts": 3},
    )["jobDefinitionArn"]
    log.add("batch job definition", name, region, "created", arn)


def verify(target: Target, workload: Workload, check: Checker) -> None:
    for view in workload.each_compute():
        _verify_compute(target, view, check)
    batch = target.client("batch", workload.primary_region)
    job = names.job_definition(workload)
    if not batch.describe_job_definitions(jobDefinitionName=job, status="ACTIVE")["jobDefinitions"]:
        check.missing(f"batch job definition {job}", "status", "ACTIVE")


def _verify_compute(target: Target, workload: Workload, check: Checker) -> None:
    spec = workload.spec.compute
    region = workload.primary_region
    batch = target.client("batch", region)
    name = workload.compute_environment
    resource = compute_resource(name)
    found = batch.describe_compute_environments(computeEnvironments=[name])["computeEnvironments"]
    ce_arn = None
    if not found:
        check.missing(resource)
    else:
        ce = found[0]
        ce_arn = ce["computeEnvironmentArn"]
        resources = ce.get("computeResources") or {}
        check.expect(resource, "type", "MANAGED", ce.get("type"))
        check.expect(resource, CE_STATE, "ENABLED", ce.get(CE_STATE))
        check.expect(resource, CE_STATUS, "VALID", ce.get(CE_STATUS))
        check.expect(resource, "computeResources.type", "EC2", resources.get("type"))
        check.expect(resource, "computeResources.maxvCpus", spec.max_vcpus, resources.get("maxvCpus"))
        check.expect(resource, CE_INSTANCE_TYPES, sorted(spec.instance_types),
                     sorted(resources.get("instanceTypes", [])))
        subnets = resources.get("subnets", [])
        described = target.client("ec2", region).describe_subnets(SubnetIds=subnets)["Subnets"] if subnets else []
        zones = sorted({s["AvailabilityZone"] for s in described})
        check.expect(resource, CE_ZONES, sorted(names.zones(workload, region)), zones)
        if "multi-az" in workload.tier(spec.tier).topology and len(zones) < 2:
            check.expect(resource, f"{CE_ZONES} (count, {spec.tier} tier is multi-AZ)", ">= 2", len(zones))
        iam.verify_role(target, ce.get("serviceRole"), "batch.amazonaws.com", resource, "serviceRole", check)
    queue_name = workload.job_queue
    queue_res = queue_resource(queue_name)
    queues = batch.describe_job_queues(jobQueues=[queue_name])["jobQueues"]
    if not queues:
        check.missing(queue_res)
    else:
        queue = queues[0]
        check.expect(queue_res, CE_STATE, "ENABLED", queue.get(CE_STATE))
        check.expect(queue_res, CE_STATUS, "VALID", queue.get(CE_STATUS))
        order = [o["computeEnvironment"] for o in queue.get("computeEnvironmentOrder", [])]
        if ce_arn:
            check.expect(queue_res, "computeEnvironmentOrder", ce_arn, ce_arn if ce_arn in order else order)

