"""ConsistencyCheck against the offline world: every seeded difference found, nothing on equal stores."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest

from drharness.errors import MeasurementError
from drharness.instruments.consistency import (
    BucketSide,
    ExpectedObject,
    TableSide,
    compare_bucket_to_expected,
    compare_buckets,
    compare_table_to_expected,
    compare_tables,
)
from drharness.instruments.consistency.dynamodb import NO_SUCH_TABLE
from drharness.instruments.consistency.s3 import NO_SUCH_BUCKET
from drharness.target import OfflineTarget
from drharness.world.server import World
from world_roles import replication_role

EAST, WEST = "us-east-1", "us-west-2"
_names = itertools.count()


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with World(seed=7) as w:
        replication_role(w)
        yield w


@pytest.fixture(scope="module")
def target(world: World) -> OfflineTarget:
    return OfflineTarget(world.endpoint)


def new_bucket(target: OfflineTarget, region: str, *, versioned: bool = False) -> str:
    name = f"consistency-{region}-{next(_names)}"
    client = target.client("s3", region)
    if region == EAST:
        client.create_bucket(Bucket=name)
    else:
        client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    if versioned:
        client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def put_all(client: Any, bucket: str, objects: dict[str, bytes]) -> None:
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda kv: client.put_object(Bucket=bucket, Key=kv[0], Body=kv[1]), objects.items()))


def seeded_objects(n: int) -> dict[str, bytes]:
    """Keys under several prefixes (so the check shards) and a few loose keys at the top."""
    objects = {f"emb/part-{i % 4}/obj-{i:05d}.npy": f"payload-{i}".encode() for i in range(n)}
    objects.update({f"emb/manifest-{i}.json": b"{}" for i in range(3)})
    return objects


@pytest.fixture(scope="module")
def diverged(target: OfflineTarget) -> dict[str, Any]:
    """A source and a replica bucket in two regions with known missing, extra and changed objects."""
    source = seeded_objects(300)
    replica = dict(source)
    missing = ["emb/part-1/obj-00005.npy", "emb/part-3/obj-00299.npy", "emb/manifest-0.json"]
    for key in missing:
        del replica[key]
    changed = {
        "emb/part-2/obj-00010.npy": b"payload-1x",  # same size, other content: only the ETag tells
        "emb/part-0/obj-00200.npy": b"payload-200-longer",
    }
    replica.update(changed)
    extra = ["emb/part-9/stray.npy", "emb/zz-loose.bin", "emb/part-0/obj-00200.npy.tmp"]
    replica.update({key: b"stray" for key in extra})
    src_bucket, rep_bucket = new_bucket(target, EAST), new_bucket(target, WEST)
    put_all(target.client("s3", EAST), src_bucket, source)
    put_all(target.client("s3", WEST), rep_bucket, replica)
    return {"source": src_bucket, "replica": rep_bucket, "objects": source, "missing": sorted(missing),
            "extra": sorted(extra), "changed": sorted(changed)}


def sides(target: OfflineTarget, d: dict[str, Any], prefix: str = "") -> tuple[BucketSide, BucketSide]:
    return BucketSide.of(target, EAST, d["source"], prefix), BucketSide.of(target, WEST, d["replica"], prefix)


# -- S3: bucket vs bucket ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [{}, {"workers": 1}, {"shard_prefixes": ["emb/part-1/", "emb/part-2/obj-00100"]}, {"page_size": 7}],
    ids=["sharded", "one-thread", "given-shards", "small-pages"],
)
def test_s3_finds_every_seeded_difference(
    target: OfflineTarget, diverged: dict[str, Any], options: dict[str, Any]
) -> None:
    report = compare_buckets(*sides(target, diverged), **options)
    assert list(report.first_missing) == diverged["missing"]
    assert list(report.first_extra) == diverged["extra"]
    assert [d.key for d in report.first_differing] == diverged["changed"]
    assert report.source_count == len(diverged["objects"])
    assert report.compared_count == len(diverged["objects"]) + len(diverged["extra"])
    assert not report.equal and report.divergent_count == 8


def test_s3_names_what_differs(target: OfflineTarget, diverged: dict[str, Any]) -> None:
    report = compare_buckets(*sides(target, diverged))
    shown = {d.key: d for d in report.first_differing}
    same_size = shown["emb/part-2/obj-00010.npy"]
    expected_etag = hashlib.md5(b"payload-10").hexdigest()  # noqa: S324 - S3's ETag of a single-part upload
    assert same_size.source == f"size=10 etag={expected_etag}"
    assert same_size.replica.startswith("size=10 etag=") and same_size.replica != same_size.source


def test_s3_compares_relative_to_each_prefix(target: OfflineTarget, diverged: dict[str, Any]) -> None:
    report = compare_buckets(*sides(target, diverged, "emb/part-1/"))
    assert report.first_missing == ("obj-00005.npy",) and report.extra_count == 0 and report.differing_count == 0


def test_s3_reports_zero_on_identical_stores(target: OfflineTarget) -> None:
    objects = seeded_objects(120)
    a, b = new_bucket(target, EAST), new_bucket(target, WEST)
    put_all(target.client("s3", EAST), a, objects)
    put_all(target.client("s3", WEST), b, objects)
    report = compare_buckets(BucketSide(target.client("s3", EAST), a), BucketSide(target.client("s3", WEST), b),
                             page_size=11)
    assert report.equal and report.compared_count == len(objects) == report.replica_count
    assert report.first_missing == report.first_extra == report.first_differing == ()
    record = report.to_record(target="offline")
    assert record.verdict == "pass" and record.value == 0


def test_s3_lists_the_first_n_with_exact_counts(target: OfflineTarget) -> None:
    source = {f"k/{i % 5}/{i:04d}": b"x" for i in range(400)}
    replica = {k: v for i, (k, v) in enumerate(sorted(source.items())) if i % 3}  # a third missing
    replica.update({f"k/{i % 5}/{i:04d}-extra": b"x" for i in range(0, 400, 7)})
    a, b = new_bucket(target, EAST), new_bucket(target, WEST)
    put_all(target.client("s3", EAST), a, source)
    put_all(target.client("s3", WEST), b, replica)
    report = compare_buckets(BucketSide(target.client("s3", EAST), a), BucketSide(target.client("s3", WEST), b),
                             page_size=9, max_listed=6)
    missing = sorted(source.keys() - replica.keys())
    extra = sorted(replica.keys() - source.keys())
    assert (report.missing_count, report.extra_count) == (len(missing), len(extra)) == (134, 58)
    assert list(report.first_missing) == missing[:6] and list(report.first_extra) == extra[:6]


def test_s3_keys_that_need_url_encoding(target: OfflineTarget) -> None:
    odd = {"odd/a b.txt": b"1", "odd/c+d": b"2", "odd/é/ü.bin": b"3", "odd/100%.txt": b"4", "odd/[x]/y": b"5",
           "odd/tab\there": b"6"}
    a, b = new_bucket(target, EAST), new_bucket(target, WEST)
    put_all(target.client("s3", EAST), a, odd)
    put_all(target.client("s3", WEST), b, {**odd, "odd/c+d": b"changed", "odd/new key&=?": b"7"})
    report = compare_buckets(BucketSide(target.client("s3", EAST), a, "odd/"),
                             BucketSide(target.client("s3", WEST), b, "odd/"), page_size=2)
    assert report.first_extra == ("new key&=?",)
    assert [d.key for d in report.first_differing] == ["c+d"]
    assert report.source_count == len(odd) and report.missing_count == 0


def test_s3_missing_bucket_is_one_clear_error(target: OfflineTarget, diverged: dict[str, Any]) -> None:
    source, _ = sides(target, diverged)
    absent = BucketSide(target.client("s3", WEST), "no-such-bucket-here")
    with pytest.raises(MeasurementError) as info:
        compare_buckets(source, absent)
    assert str(info.value) == NO_SUCH_BUCKET.format(bucket="no-such-bucket-here", label=absent.label)


def test_s3_replica_lagging_behind_a_paused_rule_matches_ground_truth(world: World, target: OfflineTarget) -> None:
    """Writes made while replication is paused are exactly the keys the check reports missing."""
    src, dst = new_bucket(target, EAST, versioned=True), new_bucket(target, WEST, versioned=True)
    east = target.client("s3", EAST)
    east.put_bucket_replication(Bucket=src, ReplicationConfiguration={
        "Role": f"arn:aws:iam::{world.account_id}:role/replication",
        "Rules": [{"ID": "all", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": ""},
                   "DeleteMarkerReplication": {"Status": "Disabled"},
                   "Destination": {"Bucket": f"arn:aws:s3:::{dst}"}}],
    })
    put_all(east, src, {f"d/{i:03d}": b"before" for i in range(40)})
    assert world.settle(20)
    replica = BucketSide(target.client("s3", WEST), dst)
    assert compare_buckets(BucketSide(east, src), replica).equal
    fault = world.faults.inject("replication-pause", {"bucket": src})
    try:
        put_all(east, src, {f"d/{i:03d}": b"after-pause" for i in range(30, 60)})
        assert world.settle(5)
        report = compare_buckets(BucketSide(east, src), replica)
        held = sorted({w.key for w in world.truth.writes("s3", src) if w.held_by and not w.replicated_at})
        assert held == [f"d/{i:03d}" for i in range(30, 60)]
        # Overwrites of replicated keys leave the old version on the replica; new keys are absent.
        assert list(report.first_missing) == [k for k in held if k >= "d/040"]
        assert [d.key for d in report.first_differing] == [k for k in held if k < "d/040"]
        assert report.missing_count + report.differing_count == len(held)
        assert report.extra_count == 0
    finally:
        world.faults.revert(fault.id)
    assert world.settle(20)
    assert compare_buckets(BucketSide(east, src), replica).equal


# -- S3: bucket vs expected ----------------------------------------------------------------------------------


def etag_of(body: bytes) -> str:
    return hashlib.md5(body).hexdigest()  # noqa: S324 - S3's ETag of a single-part upload


@pytest.mark.parametrize("shape", ["list", "generator", "factory"])
def test_bucket_against_expected_objects(target: OfflineTarget, diverged: dict[str, Any], shape: str) -> None:
    objects = diverged["objects"]
    wanted = [ExpectedObject(k, len(v), etag_of(v)) for k, v in objects.items()]
    wanted.append(ExpectedObject("emb/never-written", 1, etag_of(b"x")))
    given: Any = {"list": wanted, "generator": (w for w in wanted), "factory": lambda: iter(wanted)}[shape]
    report = compare_bucket_to_expected(target.client("s3", WEST), diverged["replica"], given, buckets=64)
    assert list(report.first_missing) == sorted([*diverged["missing"], "emb/never-written"])
    assert list(report.first_extra) == diverged["extra"]
    assert [d.key for d in report.first_differing] == diverged["changed"]
    assert report.replica_count == len(objects) - len(diverged["missing"]) + len(diverged["extra"])


def test_bucket_against_expected_keys_only(target: OfflineTarget, diverged: dict[str, Any]) -> None:
    keys = [k for k in diverged["objects"] if k.startswith("emb/part-1/")]
    report = compare_bucket_to_expected(target.client("s3", WEST), diverged["replica"], keys, prefix="emb/part-1/",
                                        fields=())
    assert report.first_missing == ("emb/part-1/obj-00005.npy",)
    assert report.extra_count == 0 and report.differing_count == 0


def test_expected_objects_must_carry_the_compared_fields(target: OfflineTarget, diverged: dict[str, Any]) -> None:
    with pytest.raises(MeasurementError, match="has no size"):
        compare_bucket_to_expected(target.client("s3", WEST), diverged["replica"], ["emb/manifest-1.json"])


# -- DynamoDB ---------------------------------------------------------------------------------------------------


def new_table(target: OfflineTarget, region: str) -> str:
    name = f"consistency-{next(_names)}"
    target.client("dynamodb", region).create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def item(i: int, **changes: Any) -> dict[str, Any]:
    base = {"pk": {"S": f"doc#{i % 37}"}, "sk": {"N": str(i)}, "score": {"N": "1.50"},
            "tags": {"SS": ["b", "a"]}, "meta": {"M": {"v": {"N": "2"}, "ok": {"BOOL": True}}}}
    base.update(changes)
    return base


def write_items(client: Any, table: str, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), 25):
        client.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": it}} for it in items[start:start + 25]]})


@pytest.fixture(scope="module")
def tables(target: OfflineTarget) -> dict[str, Any]:
    source = [item(i) for i in range(250)]
    # The same values written differently (number text, set order) must not count as differences.
    replica = {i: item(i, score={"N": "1.5"}, tags={"SS": ["a", "b"]}) for i in range(250)}
    del replica[3], replica[140]  # missing
    replica[10] = item(10, score={"N": "9"})  # a changed attribute
    replica[21] = {k: v for k, v in item(21).items() if k != "meta"}  # a dropped attribute
    replica[1000] = item(1000)  # extra
    src, rep = new_table(target, EAST), new_table(target, WEST)
    write_items(target.client("dynamodb", EAST), src, source)
    write_items(target.client("dynamodb", WEST), rep, list(replica.values()))
    return {"source": src, "replica": rep}


def table_sides(target: OfflineTarget, t: dict[str, Any]) -> tuple[TableSide, TableSide]:
    return TableSide.of(target, EAST, t["source"]), TableSide.of(target, WEST, t["replica"])


@pytest.mark.parametrize(
    "options", [{}, {"segments": 3, "page_limit": 17, "buckets": 8}, {"segments": 1, "workers": 1, "page_limit": None}]
)
def test_dynamodb_finds_every_seeded_difference(target: OfflineTarget, tables: dict[str, Any],
                                                options: dict[str, Any]) -> None:
    report = compare_tables(*table_sides(target, tables), **options)
    assert list(report.first_missing) == ['pk="doc#29" sk=140', 'pk="doc#3" sk=3']
    assert list(report.first_extra) == ['pk="doc#1" sk=1000']
    differing = {d.key: d for d in report.first_differing}
    assert sorted(differing) == ['pk="doc#10" sk=10', 'pk="doc#21" sk=21']
    assert (differing['pk="doc#10" sk=10'].source, differing['pk="doc#10" sk=10'].replica) == (
        '{"score":{"N":"1.5"}}', '{"score":{"N":"9"}}')
    assert differing['pk="doc#21" sk=21'].replica == '{"meta":"(absent)"}'
    assert (report.source_count, report.replica_count, report.compared_count) == (250, 249, 251)


def test_dynamodb_reports_zero_on_identical_tables(target: OfflineTarget) -> None:
    a, b = new_table(target, EAST), new_table(target, WEST)
    write_items(target.client("dynamodb", EAST), a, [item(i) for i in range(120)])
    write_items(target.client("dynamodb", WEST), b, [item(i, score={"N": "1.5000"}) for i in range(120)])
    report = compare_tables(TableSide(target.client("dynamodb", EAST), a, EAST),
                            TableSide(target.client("dynamodb", WEST), b, WEST), page_limit=13)
    assert report.equal and report.compared_count == 120


def test_dynamodb_missing_table_is_one_clear_error(target: OfflineTarget, tables: dict[str, Any]) -> None:
    source, _ = table_sides(target, tables)
    absent = TableSide(target.client("dynamodb", WEST), "no-such-table", WEST)
    with pytest.raises(MeasurementError) as info:
        compare_tables(source, absent)
    assert str(info.value) == NO_SUCH_TABLE.format(table="no-such-table", label=absent.label)


def ledger_state() -> Iterator[dict[str, Any]]:
    """What a ledger says the table held at T, as plain Python values (unordered)."""
    for i in reversed(range(250)):
        yield {"pk": f"doc#{i % 37}", "sk": i, "score": Decimal("1.5"), "tags": {"a", "b"},
               "meta": {"v": 2, "ok": True}}


@pytest.mark.parametrize("shape", ["generator", "factory", "list"])
def test_restore_against_expected_items(target: OfflineTarget, tables: dict[str, Any], shape: str) -> None:
    given: Any = {"generator": ledger_state(), "factory": ledger_state, "list": list(ledger_state())}[shape]
    report = compare_table_to_expected(target.client("dynamodb", WEST), tables["replica"], given, ("pk", "sk"),
                                       region=WEST, page_limit=40, buckets=32)
    assert list(report.first_missing) == ['pk="doc#29" sk=140', 'pk="doc#3" sk=3']
    assert list(report.first_extra) == ['pk="doc#1" sk=1000']
    assert [d.key for d in report.first_differing] == ['pk="doc#10" sk=10', 'pk="doc#21" sk=21']


def test_restore_against_expected_keys_only(target: OfflineTarget, tables: dict[str, Any]) -> None:
    keys = [{"pk": {"S": f"doc#{i % 37}"}, "sk": {"N": str(i)}} for i in range(250)]
    report = compare_table_to_expected(target.client("dynamodb", WEST), tables["replica"], keys, ("pk", "sk"),
                                       attribute_format="typed", keys_only=True)
    assert (report.missing_count, report.extra_count, report.differing_count) == (2, 1, 0)
