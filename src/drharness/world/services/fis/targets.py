"""FIS targets resolved in the world: buckets, global tables, subnets, instances and roles."""

from __future__ import annotations

import random
from typing import Any

from drharness.world.plane import ClientFactory
from drharness.world.services.fis.models import Experiment, FisSetupError, path_matches, select, table_ref


class Targets:
    """Find what an experiment's target names, through the world's own clients."""

    def __init__(self, client: ClientFactory, rng: random.Random) -> None:
        self._client = client
        self._rng = rng

    def resolve(self, experiment: Experiment, target_name: str) -> list[str]:
        spec = experiment.targets.get(target_name)
        if spec is None:
            raise FisSetupError(f"an action names target {target_name!r}, which the experiment does not define")
        kind = str(spec.get("resourceType", ""))
        arns = [str(a) for a in spec.get("resourceArns") or []]
        tags = {str(k): str(v) for k, v in (spec.get("resourceTags") or {}).items()}
        params = {str(k): str(v) for k, v in (spec.get("parameters") or {}).items()}
        filters = list(spec.get("filters") or [])
        region = experiment.region
        if kind == "aws:s3:bucket":
            found = [a.rsplit(":", 1)[-1] for a in arns] if arns else self._buckets_tagged(tags)
            found = [b for b in found if self._bucket_exists(b)]
        elif kind == "aws:dynamodb:global-table":
            found = [table_ref(a, region) for a in arns] if arns else self._tables_tagged(region, tags)
            found = [r for r in found if self._table_exists(*r.split("/", 1))]
        elif kind == "aws:ec2:subnet":
            found = self._subnets(region, [a.rsplit("/", 1)[-1] for a in arns], tags, params.get("availabilityZoneIdentifier"))
        elif kind == "aws:ec2:instance":
            found = self._instances(region, [a.rsplit("/", 1)[-1] for a in arns], tags, filters)
        elif kind == "aws:iam:role":
            # The world does not tell callers apart; the roles only have to be named.
            found = arns if arns else ([f"roles tagged {tags}"] if tags else [])
        else:
            raise FisSetupError(f"target {target_name}: resource type {kind!r} is not emulated offline")
        return select(found, str(spec.get("selectionMode") or "ALL"), target_name, self._rng)

    def _bucket_exists(self, bucket: str) -> bool:
        try:
            self._client("s3", "us-east-1").head_bucket(Bucket=bucket)
        except Exception:  # noqa: BLE001 - missing or unreadable: not a target
            return False
        return True

    def _buckets_tagged(self, tags: dict[str, str]) -> list[str]:
        s3 = self._client("s3", "us-east-1")
        found = []
        for bucket in s3.list_buckets().get("Buckets", []):
            try:
                have = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket["Name"]).get("TagSet", [])}
            except Exception:  # noqa: BLE001 - an untagged bucket answers with an error
                continue
            if all(have.get(k) == v for k, v in tags.items()):
                found.append(bucket["Name"])
        return found

    def _table_exists(self, region: str, name: str) -> bool:
        try:
            self._client("dynamodb", region).describe_table(TableName=name)
        except Exception:  # noqa: BLE001
            return False
        return True

    def _tables_tagged(self, region: str, tags: dict[str, str]) -> list[str]:
        ddb = self._client("dynamodb", region)
        found = []
        for name in ddb.list_tables().get("TableNames", []):
            arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
            have = {t["Key"]: t["Value"] for t in ddb.list_tags_of_resource(ResourceArn=arn).get("Tags", [])}
            if all(have.get(k) == v for k, v in tags.items()):
                found.append(f"{region}/{name}")
        return found

    def _subnets(self, region: str, ids: list[str], tags: dict[str, str], zone: str | None) -> list[str]:
        ec2 = self._client("ec2", region)
        filters = [{"Name": f"tag:{k}", "Values": [v]} for k, v in tags.items()]
        if ids:
            filters.append({"Name": "subnet-id", "Values": ids})
        subnets = ec2.describe_subnets(Filters=filters)["Subnets"] if filters else []
        if zone:
            subnets = [s for s in subnets if zone in (s.get("AvailabilityZone"), s.get("AvailabilityZoneId"))]
        return [s["SubnetId"] for s in subnets]

    def _instances(self, region: str, ids: list[str], tags: dict[str, str], filters: list[dict[str, Any]]) -> list[str]:
        ec2 = self._client("ec2", region)
        query = [{"Name": f"tag:{k}", "Values": [v]} for k, v in tags.items()]
        if ids:
            query.append({"Name": "instance-id", "Values": ids})
        if not query:
            return []
        found = []
        for page in ec2.get_paginator("describe_instances").paginate(Filters=query):
            for reservation in page["Reservations"]:
                for instance in reservation["Instances"]:
                    if all(path_matches(instance, str(f.get("path", "")), [str(v) for v in f.get("values") or []])
                           for f in filters):
                        found.append(instance["InstanceId"])
        return found

