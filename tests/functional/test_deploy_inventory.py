"""The deploy gives each bucket that asks for one an S3 Inventory, on the bucket and on its replica.

A destination bucket per region, with the delivery policy AWS documents, and the same configuration id on
the source and its replica, each delivering in its own region; read back like every DR property, and a
second deploy changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from drharness.config import Workload, load_workload, parse_workload
from drharness.deploy import DeployReport, deploy_workload, verify_workload
from drharness.deploy import inventory, s3
from drharness.deploy.common import MISSING, tag_map
from drharness.discovery import discover, render
from drharness.errors import DeployError
from drharness.target import FAIL_FAST_CONFIG, OfflineTarget
from drharness.world import World

# The seed's critical bucket (an inventory by its tier), an important one opted in with a weekly CSV report,
# and a standard one with none.
WORKLOAD_TOML = """
[[buckets]]
id = "data"

[[buckets]]
id = "models"
tier = "important"
name = "${project}-${environment}-models-${account_id}"
backup_name = "${project}-${environment}-models-backup-${secondary_region}"
[buckets.inventory]
enabled = true
config_id = "weekly-csv"
frequency = "Weekly"
format = "CSV"
include_versions = "All"
optional_fields = ["Size", "ETag"]

[[buckets]]
id = "logs"
tier = "standard"
name = "${project}-${environment}-logs-${account_id}"
backup_name = "${project}-${environment}-logs-backup-${secondary_region}"
"""


@dataclass
class Deployed:
    world: World
    target: OfflineTarget
    workload: Workload
    first: DeployReport

    def s3(self, region: str):  # type: ignore[no-untyped-def]
        return self.target.client("s3", region)

    def view(self, bucket_id: str) -> Workload:
        return self.workload.focus(bucket=bucket_id)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    path = tmp_path_factory.mktemp("deploy-inventory") / "workload.toml"
    path.write_text(WORKLOAD_TOML, encoding="utf-8")
    workload = load_workload(path)
    with World(workload.spec.offline, seed=9) as world:
        target = OfflineTarget(world.endpoint, world.account_id, config=FAIL_FAST_CONFIG)
        workload = workload.with_account(world.account_id)
        yield Deployed(world, target, workload, deploy_workload(target, workload))


def load_workload_text(d: Deployed, text: str) -> Workload:
    """`text` as the workload config, for the account of `d`'s world."""
    return Workload(parse_workload(text, "workload.toml"), d.world.account_id, "workload.toml")


def _statement(d: Deployed, region: str) -> dict:
    policy = json.loads(d.s3(region).get_bucket_policy(Bucket=d.workload.inventory_bucket(region))["Policy"])
    return next(s for s in policy["Statement"] if s.get("Sid") == inventory.STATEMENT_ID)


def test_each_region_gets_a_tagged_destination_bucket(deployed: Deployed) -> None:
    d = deployed
    created = {(r.kind, r.name, r.region) for r in d.first.resources if r.action == "created"}
    for region in d.workload.regions:
        destination = d.workload.inventory_bucket(region)
        assert ("s3 bucket", destination, region) in created
        assert ("s3 bucket policy", destination, region) in created
        assert (d.s3(region).get_bucket_location(Bucket=destination).get("LocationConstraint") or "us-east-1") == region
        tags = tag_map(d.s3(region).get_bucket_tagging(Bucket=destination)["TagSet"])
        assert (tags["Project"], tags["Environment"]) == (d.workload.spec.project, d.workload.spec.environment)


def test_the_destination_policy_lets_s3_deliver_the_reports_of_its_region_only(deployed: Deployed) -> None:
    d = deployed
    data, models = d.view("data"), d.view("models")
    for region, sources in ((d.workload.primary_region, (data.data_bucket, models.data_bucket)),
                            (d.workload.secondary_region, (data.backup_bucket, models.backup_bucket))):
        destination = d.workload.inventory_bucket(region)
        assert _statement(d, region) == {
            "Sid": inventory.STATEMENT_ID, "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "s3:PutObject", "Resource": [f"arn:aws:s3:::{destination}/*"],
            "Condition": {"ArnLike": {"aws:SourceArn": [f"arn:aws:s3:::{b}" for b in sources]},
                          "StringEquals": {"aws:SourceAccount": d.world.account_id,
                                           "s3:x-amz-acl": "bucket-owner-full-control"}},
        }


def test_the_source_and_its_replica_carry_the_same_configuration_each_to_its_own_region(deployed: Deployed) -> None:
    d = deployed
    for bucket_id, config_id, fmt, frequency, versions, fields in (
        ("data", "drharness-daily", "Parquet", "Daily", "Current",
         ["Size", "LastModifiedDate", "ETag", "StorageClass", "ReplicationStatus", "EncryptionStatus", "ChecksumAlgorithm"]),
        ("models", "weekly-csv", "CSV", "Weekly", "All", ["Size", "ETag"]),
    ):
        view = d.view(bucket_id)
        for bucket, region in ((view.data_bucket, view.primary_region), (view.backup_bucket, view.secondary_region)):
            config = d.s3(region).get_bucket_inventory_configuration(Bucket=bucket, Id=config_id)["InventoryConfiguration"]
            assert config["IsEnabled"] is True
            assert config["Destination"]["S3BucketDestination"] == {
                "Bucket": f"arn:aws:s3:::{view.inventory_bucket(region)}", "Format": fmt, "Prefix": "inventory",
                "AccountId": d.world.account_id}
            assert (config["Schedule"], config["IncludedObjectVersions"], config["OptionalFields"]) == (
                {"Frequency": frequency}, versions, fields)


def test_a_bucket_without_an_inventory_gets_none(deployed: Deployed) -> None:
    d = deployed
    logs = d.view("logs")
    for bucket, region in ((logs.data_bucket, logs.primary_region), (logs.backup_bucket, logs.secondary_region)):
        assert d.s3(region).list_bucket_inventory_configurations(Bucket=bucket).get("InventoryConfigurationList", []) == []
        assert f"arn:aws:s3:::{bucket}" not in _statement(d, region)["Condition"]["ArnLike"]["aws:SourceArn"]


def test_the_read_back_is_clean_and_a_second_deploy_changes_nothing(deployed: Deployed) -> None:
    d = deployed
    assert d.first.verification.findings == ()
    assert [u for u in d.first.verification.unverified if inventory.CONFIGURATION in u.property] == []
    second = deploy_workload(d.target, d.workload)
    assert second.changed == ()
    assert sum(1 for r in second.resources if r.kind == "s3 inventory") == 4


def test_init_reads_each_bucket_s_inventory_back_as_the_config_said_it(deployed: Deployed) -> None:
    d = deployed
    found = discover(d.target, d.workload.primary_region, tags={"Project": d.workload.spec.project})
    written = Workload(parse_workload(render(found), "w.toml"), d.world.account_id, "w.toml")
    for bucket_id in ("data", "models", "logs"):
        mine, theirs = written.focus(bucket=bucket_id), d.view(bucket_id)
        assert mine.spec.bucket.inventory == theirs.spec.bucket.inventory, bucket_id
        assert mine.spec.bucket.inventory_enabled is theirs.spec.bucket.inventory_enabled
        assert [mine.inventory_bucket(r) for r in mine.regions] == [theirs.inventory_bucket(r) for r in theirs.regions]


def test_a_configuration_the_buckets_lack_is_named_on_the_source_and_its_replica_then_put(deployed: Deployed) -> None:
    # (The world cannot delete an inventory configuration: moto takes DeleteBucketInventoryConfiguration for
    # DeleteBucket. A configuration id the buckets do not have yet is the same absence.)
    d = deployed
    renamed = load_workload_text(d, WORKLOAD_TOML.replace('config_id = "weekly-csv"', 'config_id = "weekly-csv-v2"'))
    view = renamed.focus(bucket="models")
    prop = inventory.configuration_property("weekly-csv-v2")
    found = [(f.resource, f.property, f.actual) for f in verify_workload(d.target, renamed)]
    assert found == [(s3.bucket_resource(view.data_bucket), prop, MISSING), (s3.bucket_resource(view.backup_bucket), prop, MISSING)]
    again = deploy_workload(d.target, renamed)
    assert [(r.name, r.region, r.action) for r in again.changed] == [
        (f"{view.data_bucket} weekly-csv-v2", view.primary_region, "created"),
        (f"{view.backup_bucket} weekly-csv-v2", view.secondary_region, "created")]
    assert verify_workload(d.target, renamed) == []


def test_a_disabled_configuration_is_named_then_enabled_again(deployed: Deployed) -> None:
    d = deployed
    view = d.view("models")
    client = d.s3(view.primary_region)
    config = client.get_bucket_inventory_configuration(Bucket=view.data_bucket, Id="weekly-csv")["InventoryConfiguration"]
    client.put_bucket_inventory_configuration(Bucket=view.data_bucket, Id="weekly-csv",
                                              InventoryConfiguration={**config, "IsEnabled": False})
    found = [(f.property, f.expected, f.actual) for f in verify_workload(d.target, d.workload)]
    assert found == [(inventory.configuration_property("weekly-csv", "IsEnabled"), "True", "False")]
    again = deploy_workload(d.target, d.workload)
    assert [(r.kind, r.action) for r in again.changed] == [("s3 inventory", "updated")]


def test_the_delivery_statement_is_put_back_beside_the_policy_s_other_statements(deployed: Deployed) -> None:
    d = deployed
    region = d.workload.secondary_region
    destination = d.workload.inventory_bucket(region)
    theirs = {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
              "Resource": [f"arn:aws:s3:::{destination}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    d.s3(region).put_bucket_policy(Bucket=destination, Policy=json.dumps({"Version": "2012-10-17", "Statement": [theirs]}))
    props = {f.property for f in verify_workload(d.target, d.workload) if f.resource == s3.bucket_resource(destination)}
    assert props == {f"{inventory.POLICY}.Statement[{inventory.STATEMENT_ID}]"}
    again = deploy_workload(d.target, d.workload)
    assert [(r.kind, r.action) for r in again.changed] == [("s3 bucket policy", "updated")]
    statements = json.loads(d.s3(region).get_bucket_policy(Bucket=destination)["Policy"])["Statement"]
    assert [s["Sid"] for s in statements] == ["DenyInsecureTransport", inventory.STATEMENT_ID]


class _NoCalls:
    name = "offline"
    account_id = "123456789012"
    endpoint_url = None

    def client(self, service: str, region: str) -> None:
        raise AssertionError(f"the deploy called {service} in {region} before refusing the config")


def test_a_destination_name_s3_would_reject_is_refused_before_any_call(tmp_path: Path) -> None:
    path = tmp_path / "workload.toml"
    path.write_text('[bucket]\ninventory.destination_bucket = "${project}-${environment}-inventory-reports-of-${region}"\n',
                    encoding="utf-8")
    with pytest.raises(DeployError, match=r"bucket.inventory.destination_bucket resolves to .* in us-east-1 \(66 "
                                          r"characters\); S3 bucket names are 3-63"):
        deploy_workload(_NoCalls(), load_workload(path))  # type: ignore[arg-type]
