"""S3 Inventory: a daily report of each bucket and of its replica, each delivered to a bucket in its own region.

What it rests on, from AWS's documentation:

- the destination bucket must be in the same AWS Region as the source bucket (PutBucketInventoryConfiguration,
  https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketInventoryConfiguration.html), so the data
  bucket's report goes to the destination of the primary region and the replica's to that of the secondary
  region, under the same configuration id;
- the destination needs a bucket policy that lets `s3.amazonaws.com` PutObject, conditioned on the source
  bucket ARNs (`aws:SourceArn`), the source account (`aws:SourceAccount`) and `s3:x-amz-acl`
  bucket-owner-full-control (https://docs.aws.amazon.com/AmazonS3/latest/userguide/configure-inventory.html
  #configure-inventory-destination-bucket-policy, and the example policy in
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/example-bucket-policies.html);
- reports land under `{prefix}/{source-bucket}/{config-id}/` (`report_prefix`; the layout is
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory-location.html).

Like every deploy module, `apply` changes only what differs and `verify` reads every setting back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from drharness.config import Workload
from drharness.deploy import names, s3
from drharness.deploy.common import ApplyLog, Checker, call, error_code, tag_list, workload_tags
from drharness.errors import DeployError
from drharness.target import Target

CONFIGURATION = "InventoryConfiguration"
POLICY = "Policy"
STATEMENT_ID = "S3InventoryDelivery"
S3_SERVICE = "s3.amazonaws.com"
NO_CONFIGURATION = ("NoSuchConfiguration", "NoSuchInventoryConfig", "NoSuchInventoryConfiguration")


@dataclass(frozen=True)
class InventorySource:
    """A bucket with an S3 Inventory (a data bucket or its replica), its region, and where its reports go."""

    bucket: str
    region: str
    destination: str
    view: Workload  # the workload seen from the data bucket this one is, or is the replica of
    replica: bool

    @property
    def config_id(self) -> str:
        return self.view.spec.bucket.inventory.config_id

    @property
    def arn(self) -> str:
        return f"arn:aws:s3:::{self.bucket}"


def source_pair(view: Workload) -> tuple[InventorySource, InventorySource]:
    """The data bucket in focus and its replica, as inventory sources (whether or not the config asks for one)."""
    primary, secondary = view.primary_region, view.secondary_region
    return (InventorySource(view.data_bucket, primary, view.inventory_bucket(primary), view, False),
            InventorySource(view.backup_bucket, secondary, view.inventory_bucket(secondary), view, True))


def sources(workload: Workload) -> tuple[InventorySource, ...]:
    """Every bucket whose config asks for an inventory, and its replica, in the config's order."""
    return tuple(source for view in workload.each_bucket() if view.spec.bucket.inventory_enabled
                 for source in source_pair(view))


def destinations(workload: Workload) -> dict[tuple[str, str], tuple[str, ...]]:
    """(destination bucket, region) -> the ARNs of the source buckets that deliver there."""
    found: dict[tuple[str, str], list[str]] = {}
    for source in sources(workload):
        arns = found.setdefault((source.destination, source.region), [])
        if source.arn not in arns:
            arns.append(source.arn)
    return {key: tuple(arns) for key, arns in found.items()}


def report_prefix(source: InventorySource) -> str:
    """The key prefix under which S3 delivers `source`'s reports: `{prefix}/{source-bucket}/{config-id}/`."""
    prefix = source.view.spec.bucket.inventory.prefix
    return f"{prefix + '/' if prefix else ''}{source.bucket}/{source.config_id}/"


def wanted_configuration(source: InventorySource) -> dict[str, Any]:
    """The InventoryConfiguration the workload config asks for on `source`."""
    spec = source.view.spec.bucket.inventory
    destination: dict[str, Any] = {"Bucket": f"arn:aws:s3:::{source.destination}", "Format": spec.format,
                                   "AccountId": source.view.account_id}
    if spec.prefix:
        destination["Prefix"] = spec.prefix
    return {
        "Id": spec.config_id,
        "IsEnabled": True,
        "Destination": {"S3BucketDestination": destination},
        "Schedule": {"Frequency": spec.frequency},
        "IncludedObjectVersions": spec.include_versions,
        "OptionalFields": list(spec.optional_fields),
    }


def delivery_statement(destination: str, source_arns: tuple[str, ...], account_id: str) -> dict[str, Any]:
    """The bucket policy statement AWS documents for an inventory destination."""
    return {
        "Sid": STATEMENT_ID,
        "Effect": "Allow",
        "Principal": {"Service": S3_SERVICE},
        "Action": "s3:PutObject",
        "Resource": [f"arn:aws:s3:::{destination}/*"],
        "Condition": {
            "ArnLike": {"aws:SourceArn": list(source_arns)},
            "StringEquals": {"aws:SourceAccount": account_id, "s3:x-amz-acl": "bucket-owner-full-control"},
        },
    }


def check_names(workload: Workload) -> None:
    """Refuse, before any call, a destination name S3 would reject."""
    for index, view in enumerate(workload.each_bucket()):
        if not view.spec.bucket.inventory_enabled:
            continue
        for region in view.regions:
            name = view.inventory_bucket(region)
            if not names.BUCKET_NAME.match(name):
                key = workload.config_key("buckets", index, "inventory.destination_bucket")
                raise DeployError(
                    f"{workload.source}: {key} resolves to {name!r} in {region} ({len(name)} characters); S3 bucket "
                    "names are 3-63 lower-case letters, digits, dots and hyphens; shorten it in the workload config")


# -- reading -----------------------------------------------------------------------------------------


def configuration(target: Target, bucket: str, region: str, config_id: str) -> dict[str, Any] | None:
    """The bucket's inventory configuration `config_id` as S3 answers it, or None when it has none."""
    try:
        answer = target.client("s3", region).get_bucket_inventory_configuration(Bucket=bucket, Id=config_id)
    except ClientError as exc:
        if error_code(exc) in (*NO_CONFIGURATION, "NoSuchBucket"):
            return None
        raise
    return dict(answer["InventoryConfiguration"])


def policy_statement(target: Target, bucket: str, region: str) -> dict[str, Any] | None:
    """The delivery statement (by its Sid) of the bucket's policy, or None."""
    statements = _policy(target, bucket, region)
    return next((s for s in statements if s.get("Sid") == STATEMENT_ID), None) if statements is not None else None


def _policy(target: Target, bucket: str, region: str) -> list[dict[str, Any]] | None:
    """The statements of the bucket's policy; None when it has none."""
    try:
        text = target.client("s3", region).get_bucket_policy(Bucket=bucket)["Policy"]
    except ClientError as exc:
        if error_code(exc) in ("NoSuchBucketPolicy", "NoSuchBucket"):
            return None
        raise
    statements = json.loads(text).get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


def _listed(value: Any) -> list[Any]:
    """A policy value as a list (IAM accepts a single value or a list of them)."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


def fields(wanted: dict[str, Any], actual: dict[str, Any]) -> list[tuple[str, object, object]]:
    """(field, expected, found) for each setting of a read-back configuration (optional fields in any order)."""
    want_dest = wanted["Destination"]["S3BucketDestination"]
    dest = (actual.get("Destination") or {}).get("S3BucketDestination") or {}
    return [
        ("IsEnabled", True, actual.get("IsEnabled")),
        *((f"Destination.S3BucketDestination.{key}", want_dest.get(key), dest.get(key) or None)
          for key in ("Bucket", "Format", "Prefix", "AccountId")),
        ("Schedule.Frequency", wanted["Schedule"]["Frequency"], (actual.get("Schedule") or {}).get("Frequency")),
        ("IncludedObjectVersions", wanted["IncludedObjectVersions"], actual.get("IncludedObjectVersions")),
        ("OptionalFields", sorted(wanted["OptionalFields"]), sorted(str(f) for f in actual.get("OptionalFields") or [])),
    ]


def configuration_property(config_id: str, field: str = "") -> str:
    """The finding property of one field of the inventory configuration `config_id`."""
    return f"{CONFIGURATION}[{config_id}]{'.' + field if field else ''}"


def _check_statement(resource: str, statement: dict[str, Any] | None, wanted: dict[str, Any], check: Checker) -> None:
    prop = f"{POLICY}.Statement[{STATEMENT_ID}]"
    if statement is None:
        check.missing(resource, prop)
        return
    condition = statement.get("Condition") or {}
    equals = condition.get("StringEquals") or {}
    check.expect(resource, f"{prop}.Effect", "Allow", statement.get("Effect"))
    check.expect(resource, f"{prop}.Principal", wanted["Principal"], statement.get("Principal"))
    check.expect(resource, f"{prop}.Action", ["s3:PutObject"], _listed(statement.get("Action")))
    check.expect(resource, f"{prop}.Resource", wanted["Resource"], _listed(statement.get("Resource")))
    for key, value in wanted["Condition"]["StringEquals"].items():
        check.expect(resource, f"{prop}.Condition.StringEquals.{key}", value, equals.get(key))
    allowed = _listed((condition.get("ArnLike") or {}).get("aws:SourceArn", []))
    for arn in wanted["Condition"]["ArnLike"]["aws:SourceArn"]:
        check.expect(resource, f"{prop}.Condition.ArnLike.aws:SourceArn[{arn}]", "allowed",
                     "allowed" if arn in allowed else None)


# -- apply -------------------------------------------------------------------------------------------


def apply(target: Target, workload: Workload, log: ApplyLog) -> None:
    """Create the destination buckets with their delivery policy, then put each bucket's inventory configuration."""
    for (destination, region), arns in destinations(workload).items():
        _apply_destination(target, workload, destination, region, arns, log)
    for source in sources(workload):
        _apply_configuration(target, source, log)


def _apply_destination(target: Target, workload: Workload, destination: str, region: str, arns: tuple[str, ...],
                       log: ApplyLog) -> None:
    client = target.client("s3", region)
    action = s3.ensure_bucket(target, destination, region)
    wanted_tags = workload_tags(workload)
    current = s3.bucket_tags(client, destination)
    tagged = any(current.get(k) != v for k, v in wanted_tags.items())
    if tagged:
        call(f"s3.put_bucket_tagging {destination}", client.put_bucket_tagging,
             Bucket=destination, Tagging={"TagSet": tag_list({**current, **wanted_tags})})
    log.add("s3 bucket", destination, region, "updated" if tagged and action == "unchanged" else action)
    wanted = delivery_statement(destination, arns, workload.account_id)
    statements = _policy(target, destination, region)
    scratch = Checker()
    mine = next((s for s in statements or [] if s.get("Sid") == STATEMENT_ID), None)
    _check_statement(s3.bucket_resource(destination), mine, wanted, scratch)
    if not scratch.findings:
        log.add("s3 bucket policy", destination, region, "unchanged")
        return
    # Keep whatever else the policy says; only the delivery statement is the deploy's.
    others = [s for s in statements or [] if s.get("Sid") != STATEMENT_ID]
    document = {"Version": "2012-10-17", "Statement": [*others, wanted]}
    call(f"s3.put_bucket_policy {destination}", client.put_bucket_policy, Bucket=destination,
         Policy=json.dumps(document))
    log.add("s3 bucket policy", destination, region, "created" if statements is None else "updated")


def _apply_configuration(target: Target, source: InventorySource, log: ApplyLog) -> None:
    wanted = wanted_configuration(source)
    current = configuration(target, source.bucket, source.region, source.config_id)
    label = f"{source.bucket} {source.config_id}"
    if current is not None and all(expected == found for _, expected, found in fields(wanted, current)):
        log.add("s3 inventory", label, source.region, "unchanged")
        return
    client = target.client("s3", source.region)
    call(f"s3.put_bucket_inventory_configuration {label}", client.put_bucket_inventory_configuration,
         Bucket=source.bucket, Id=source.config_id, InventoryConfiguration=wanted)
    log.add("s3 inventory", label, source.region, "created" if current is None else "updated")


# -- read back ---------------------------------------------------------------------------------------


def verify(target: Target, workload: Workload, check: Checker) -> None:
    """Read back each destination (region, delivery policy) and each inventory configuration."""
    for (destination, region), arns in destinations(workload).items():
        resource = s3.bucket_resource(destination)
        client = target.client("s3", region)
        if not s3.bucket_exists(client, destination):
            check.missing(resource)
            continue
        location = client.get_bucket_location(Bucket=destination).get("LocationConstraint") or "us-east-1"
        check.expect(resource, s3.REGION, region, location)
        _check_statement(resource, policy_statement(target, destination, region),
                         delivery_statement(destination, arns, workload.account_id), check)
    for source in sources(workload):
        if not s3.bucket_exists(target.client("s3", source.region), source.bucket):
            continue  # the s3 read-back names the missing bucket
        resource = s3.bucket_resource(source.bucket)
        current = configuration(target, source.bucket, source.region, source.config_id)
        if current is None:
            check.missing(resource, configuration_property(source.config_id))
            continue
        for field, expected, found in fields(wanted_configuration(source), current):
            check.expect(resource, configuration_property(source.config_id, field), expected, found)
