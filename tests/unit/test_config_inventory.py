"""A bucket's S3 Inventory in the workload config: on by tier unless said, one destination per region, bad values refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from drharness.config import BucketInventory, Workload, WorkloadFile, load_workload, parse_workload
from drharness.config.models import DEFAULT_INVENTORY_FIELDS, INVENTORY_TIERS
from drharness.errors import ConfigError

ACCOUNT = "123456789012"


def workload(text: str = "") -> Workload:
    return Workload(parse_workload(text, "w.toml"), ACCOUNT, "w.toml")


def test_the_defaults_are_a_daily_parquet_report_of_current_versions() -> None:
    spec = BucketInventory()
    assert (spec.enabled, spec.config_id, spec.frequency, spec.format, spec.prefix, spec.include_versions) == (
        None, "drharness-daily", "Daily", "Parquet", "inventory", "Current")
    assert spec.optional_fields == DEFAULT_INVENTORY_FIELDS == (
        "Size", "LastModifiedDate", "ETag", "StorageClass", "ReplicationStatus", "EncryptionStatus", "ChecksumAlgorithm")
    assert WorkloadFile().bucket.inventory == spec


@pytest.mark.parametrize(("tier", "enabled", "has_one"), [
    ("critical", None, True), ("important", None, False), ("standard", None, False),
    ("critical", False, False), ("important", True, True), ("standard", True, True),
])
def test_a_bucket_has_an_inventory_by_its_tier_unless_its_config_says(tier: str, enabled: bool | None, has_one: bool) -> None:
    said = "" if enabled is None else f"inventory.enabled = {str(enabled).lower()}\n"
    bucket = parse_workload(f'[bucket]\ntier = "{tier}"\n{said}').bucket
    assert bucket.inventory.enabled is enabled
    assert bucket.inventory_enabled is has_one
    assert INVENTORY_TIERS == ("critical",)


def test_each_region_has_its_own_destination() -> None:
    w = workload()
    assert w.inventory_bucket(w.primary_region) == "embedding-batch-workload-production-inventory-us-east-1"
    assert w.inventory_bucket(w.secondary_region) == "embedding-batch-workload-production-inventory-us-west-2"
    named = workload('[bucket]\ninventory.destination_bucket = "${project}-inv-${account_id}-${region}"\n')
    assert named.inventory_bucket("eu-west-1") == f"embedding-batch-workload-inv-{ACCOUNT}-eu-west-1"


def test_each_bucket_of_a_collection_has_its_own_inventory_settings() -> None:
    w = workload('[[buckets]]\nid = "a"\n[[buckets]]\nid = "b"\ntier = "standard"\nname = "b-${account_id}"\n'
                 'backup_name = "b-copy-${secondary_region}"\n[buckets.inventory]\nenabled = true\nfrequency = "Weekly"\n'
                 'format = "CSV"\ninclude_versions = "All"\noptional_fields = ["Size", "ETag"]\n')
    a, b = (view.spec.bucket for view in w.each_bucket())
    assert (a.inventory_enabled, a.inventory.frequency) == (True, "Daily")
    assert (b.inventory_enabled, b.inventory.frequency, b.inventory.format, b.inventory.include_versions,
            b.inventory.optional_fields) == (True, "Weekly", "CSV", "All", ("Size", "ETag"))


def test_region_is_a_placeholder_of_per_region_names_only() -> None:
    w = workload()
    with pytest.raises(ConfigError, match=r"unknown placeholder 'region'"):
        w.name("${project}-${region}")
    assert w.name("${project}-${region}", region="eu-west-1") == "embedding-batch-workload-eu-west-1"


@pytest.mark.parametrize(("text", "key", "says"), [
    ('[bucket]\ninventory.destination_bucket = "${project}-inventory"\n', "bucket.inventory.destination_bucket",
     "has no ${region}: S3 Inventory delivers only to a bucket in the source bucket's own region"),
    ('[bucket]\ninventory.frequency = "Hourly"\n', "bucket.inventory.frequency", "'Daily' or 'Weekly' (got 'Hourly')"),
    ('[bucket]\ninventory.format = "ORC"\n', "bucket.inventory.format", "'Parquet' or 'CSV' (got 'ORC')"),
    ('[bucket]\ninventory.include_versions = "Latest"\n', "bucket.inventory.include_versions",
     "'Current' or 'All' (got 'Latest')"),
    ('[bucket]\ninventory.prefix = "inventory/"\n', "bucket.inventory.prefix", "must not start or end with '/'"),
    ('[bucket]\ninventory.prefix = "/inventory"\n', "bucket.inventory.prefix", "must not start or end with '/'"),
    ('[bucket]\ninventory.optional_fields = ["Size", "Colour"]\n', "bucket.inventory.optional_fields",
     "'Colour' is not a field S3 Inventory reports; use any of Size, LastModifiedDate"),
    ('[bucket]\ninventory.optional_fields = ["Size", "Size"]\n', "bucket.inventory.optional_fields",
     "Size given more than once"),
    ('[bucket]\ninventory.config_id = "daily report"\n', "bucket.inventory.config_id", "should match pattern"),
    ('[bucket]\ninventory.enabled = "sometimes"\n', "bucket.inventory.enabled", "valid boolean"),
    ('[bucket]\ninventory.schedule = "Daily"\n', "bucket.inventory.schedule", "unknown key"),
    ('[[buckets]]\nid = "a"\n[[buckets]]\nid = "b"\nname = "b"\nbackup_name = "b2"\n[buckets.inventory]\nprefix = "x/"\n',
     "buckets[1].inventory.prefix", "must not start or end with '/'"),
])
def test_a_bad_value_is_refused_naming_the_file_the_key_and_what_is_expected(text: str, key: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_workload(text, "bad.toml")
    message = str(info.value)
    assert message.startswith(f"bad.toml: key '{key}': "), message
    assert says in message, message


def test_a_destination_with_an_unknown_placeholder_is_refused_at_load(tmp_path: Path) -> None:
    path = tmp_path / "workload.toml"
    path.write_text('[bucket]\ninventory.destination_bucket = "${team}-inventory-${region}"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"workload.toml: name '\$\{team\}-inventory-\$\{region\}' uses an unknown "
                                          r"placeholder 'team'"):
        load_workload(path)
