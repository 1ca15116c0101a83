"""`compare --method export` on a 10,000-item pair: the exports find the same missing, extra and changed items
as the Scan compare; a damaged export is an error naming the file, never a pass."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from drharness.cli import main
from drharness.errors import MeasurementError
from drharness.instruments.consistency.dynamodb import TableSide, compare_tables
from drharness.instruments.consistency.export import compare_exports, read_export, start_export, wait_export
from drharness.target import OfflineTarget
from drharness.world.server import World

# One worker fills the pair once (a module-scoped world), not one per worker.
pytestmark = pytest.mark.xdist_group("compare-export")

EAST, WEST = "us-east-1", "us-west-2"
ITEMS = 10_000
BUCKET = "export-bucket"
MISSING = {f"k{i:05d}" for i in range(3, ITEMS, 997)}
CHANGED = {f"k{i:05d}" for i in range(7, ITEMS, 1511)}
EXTRA = {f"x{i}" for i in range(4)}


@pytest.fixture(scope="module")
def tables() -> Iterator[tuple[World, OfflineTarget]]:
    with World(seed=17) as world:
        target = OfflineTarget(world.endpoint)
        target.client("s3", EAST).create_bucket(Bucket=BUCKET)
        for region in (EAST, WEST):
            ddb = target.client("dynamodb", region)
            ddb.create_table(TableName="orders", BillingMode="PAY_PER_REQUEST",
                             KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                        {"AttributeName": "sk", "KeyType": "RANGE"}],
                             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                   {"AttributeName": "sk", "AttributeType": "N"}])
            ddb.update_continuous_backups(TableName="orders",
                                          PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
        source, replica = [], []
        for i in range(ITEMS):
            pk = f"k{i:05d}"
            item = {"pk": {"S": pk}, "sk": {"N": str(i % 3)}, "price": {"N": "0.5"}, "tags": {"SS": ["a", "b"]}}
            source.append(item)
            if pk in MISSING:
                continue
            copy = {**item, "price": {"N": "0.50"}}  # the same number, written otherwise: no difference
            if pk in CHANGED:
                copy["tags"] = {"SS": ["a", "c"]}
            replica.append(copy)
        replica += [{"pk": {"S": pk}, "sk": {"N": "0"}} for pk in sorted(EXTRA)]
        for region, items in ((EAST, source), (WEST, replica)):
            ddb = target.client("dynamodb", region)
            for start in range(0, len(items), 25):
                batch = [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]
                assert not ddb.batch_write_item(RequestItems={"orders": batch}).get("UnprocessedItems")
        yield world, target


def _export(target: OfflineTarget, region: str) -> tuple[object, object]:
    ddb = target.client("dynamodb", region)
    arn = start_export(ddb, ddb.describe_table(TableName="orders")["Table"]["TableArn"], BUCKET, f"exports/{region}")
    s3 = target.client("s3", EAST)
    return s3, read_export(s3, wait_export(ddb, arn, poll_interval_s=0.02))


def _keys(report) -> tuple[set[str], set[str], set[str]]:
    return set(report.first_missing), set(report.first_extra), {d.key for d in report.first_differing}


def test_exports_find_what_the_scan_compare_finds(tables) -> None:
    _world, target = tables
    scan = compare_tables(TableSide.of(target, EAST, "orders"), TableSide.of(target, WEST, "orders"),
                          max_listed=100)
    exported = compare_exports(_export(target, EAST), _export(target, WEST), ("pk", "sk"), max_listed=100)
    assert _keys(exported) == _keys(scan)
    assert (exported.missing_count, exported.extra_count, exported.differing_count) == (
        len(MISSING), len(EXTRA), len(CHANGED))
    assert (exported.source_count, exported.replica_count) == (scan.source_count, scan.replica_count)
    assert [d.source for d in exported.first_differing] == [d.source for d in scan.first_differing]
    assert exported.method == "export" and exported.details["source_export"].startswith("arn:aws:dynamodb:")


def test_a_damaged_export_is_an_error_naming_the_file(tables) -> None:
    _world, target = tables
    s3, export = _export(target, WEST)
    damaged = export.files[0].key
    s3.put_object(Bucket=BUCKET, Key=damaged, Body=b"\x1f\x8b not the data")
    with pytest.raises(MeasurementError, match=f"{damaged} does not match its md5Checksum"):
        compare_exports(_export(target, EAST), (s3, export), ("pk", "sk"))
    summary = json.loads(s3.get_object(Bucket=BUCKET, Key=export.summary_key)["Body"].read())
    s3.put_object(Bucket=BUCKET, Key=summary["manifestFilesS3Key"], Body=b"{}\n")
    with pytest.raises(MeasurementError, match="manifest-files.json does not match"):
        read_export(s3, {"ExportArn": export.arn, "S3Bucket": BUCKET, "ExportManifest": export.summary_key})


def test_the_command_exports_both_tables_and_exits_1(tables, capsys: pytest.CaptureFixture[str]) -> None:
    world, _target = tables
    with pytest.raises(SystemExit) as info:
        main(["compare", f"dynamodb://{EAST}/orders", f"dynamodb://{WEST}/orders", "--method", "export",
              "--export-to", f"s3://{BUCKET}/cli", "--endpoint", world.endpoint, "--max-listed", "2"])
    out = capsys.readouterr().out
    assert info.value.code == 1
    assert "export" in out and f"{len(MISSING) + len(EXTRA) + len(CHANGED)} divergent" in out


def test_the_command_refuses_an_export_compare_without_exports(tables, capsys: pytest.CaptureFixture[str]) -> None:
    world, _target = tables
    with pytest.raises(SystemExit) as info:
        main(["compare", f"dynamodb://{EAST}/orders", f"dynamodb://{WEST}/orders", "--method", "export",
              "--endpoint", world.endpoint])
    assert info.value.code == 2
    assert "--export-to" in capsys.readouterr().err
