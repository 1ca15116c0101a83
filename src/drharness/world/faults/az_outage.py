"""The AZ-outage effect on EC2: stop a zone's instances, refuse capacity there, start them again on revert."""

from __future__ import annotations

import urllib.parse
from typing import Any

from drharness.world.plane import ClientFactory
from drharness.world.wire import AwsRequest


class Zones:
    """EC2 zones as faults and engines see them: which zone a subnet is in, stopping and starting a zone."""

    def __init__(self, client: ClientFactory) -> None:
        self._client = client

    def stop_zone(self, region: str, zone: str) -> list[str]:
        """Stop every running instance in `zone`; return their ids for the revert."""
        ec2 = self._client("ec2", region)
        ids: list[str] = []
        pages = ec2.get_paginator("describe_instances").paginate(
            Filters=[
                {"Name": "availability-zone", "Values": [zone]},
                {"Name": "instance-state-name", "Values": ["pending", "running"]},
            ]
        )
        for page in pages:
            for reservation in page["Reservations"]:
                ids.extend(i["InstanceId"] for i in reservation["Instances"])
        if ids:
            ec2.stop_instances(InstanceIds=ids)
        return ids

    def start_instances(self, region: str, ids: list[str]) -> None:
        if not ids:
            return
        ec2 = self._client("ec2", region)
        existing = []
        for page in ec2.get_paginator("describe_instances").paginate(Filters=[{"Name": "instance-id", "Values": ids}]):
            for reservation in page["Reservations"]:
                existing.extend(
                    i["InstanceId"] for i in reservation["Instances"] if i["State"]["Name"] in ("stopped", "stopping")
                )
        if existing:
            ec2.start_instances(InstanceIds=existing)

    def subnet_zone(self, region: str, subnet_id: str) -> str | None:
        try:
            subnets = self._client("ec2", region).describe_subnets(SubnetIds=[subnet_id])["Subnets"]
        except Exception:  # noqa: BLE001 - an unknown subnet is moto's error to report, not ours
            return None
        return subnets[0]["AvailabilityZone"] if subnets else None

    def request_targets_zone(self, request: AwsRequest, zone: str) -> bool:
        """Does this RunInstances ask for capacity in `zone` (by subnet or placement)?"""
        form: dict[str, Any] = urllib.parse.parse_qs((request.body or b"").decode("utf-8", "replace"))
        placement = form.get("Placement.AvailabilityZone", [None])[0]
        if placement:
            return placement == zone
        subnet = form.get("SubnetId", form.get("NetworkInterface.1.SubnetId", [None]))[0]
        if subnet:
            return self.subnet_zone(request.region, subnet) == zone
        return False
