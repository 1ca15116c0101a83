"""The world's indexed ListObjectsV2 answers byte for byte as moto does, and lists exactly the current keys."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from botocore.handlers import set_list_objects_encoding_type_url

from drharness.world import moto as moto_access

BUCKET, VERSIONED = "listing-bucket", "listing-versioned"
ODD_KEYS = ["with space/a b", "unicodé/ファイル", "amp&<lt>/x", "plus+sign/y", "dir/", "dir//double", "top", "top-level", "~tilde"]


def _fill(bucket: str, keys: list[str]) -> None:
    """Write many objects straight into moto, as the benchmark does: no request bumps the index."""
    backend = moto_access.s3_backend()
    for i, key in enumerate(keys):
        backend.put_object(bucket, key, b"x" * (i % 7), disable_notification=True)


def _bulk_keys() -> list[str]:
    return [f"data/batch-{b:02d}/part-{i:04d}" for b in range(6) for i in range(500)]


@pytest.fixture
def s3(target):
    client = target.client("s3", "us-east-1")
    client.create_bucket(Bucket=BUCKET)
    _fill(BUCKET, _bulk_keys())
    for key in ODD_KEYS:
        client.put_object(Bucket=BUCKET, Key=key, Body=b"odd")
    return client


def _pages(world, client, indexed: bool, **params) -> tuple[list[bytes], list[str], list[str]]:
    """Every raw page of a listing, and the keys and common prefixes it named."""
    world.s3.indexed_listing = indexed
    bodies: list[bytes] = []

    def keep(response_dict, **_):
        bodies.append(response_dict["body"])

    client.meta.events.register("before-parse.s3.ListObjectsV2", keep)
    keys: list[str] = []
    prefixes: list[str] = []
    bucket = params.pop("Bucket", BUCKET)
    try:
        request = dict(params)
        while True:
            page = client.list_objects_v2(Bucket=bucket, **request)
            keys += [o["Key"] for o in page.get("Contents", [])]
            prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
            if not page["IsTruncated"] or request.get("MaxKeys") == 0:
                break
            request = {**params, "ContinuationToken": page["NextContinuationToken"]}
            request.pop("StartAfter", None)
    finally:
        client.meta.events.unregister("before-parse.s3.ListObjectsV2", keep)
        world.s3.indexed_listing = True
    return bodies, keys, prefixes


def _same_as_moto(world, client, **params) -> tuple[list[str], list[str]]:
    indexed = _pages(world, client, True, **params)
    plain = _pages(world, client, False, **params)
    assert indexed[0] == plain[0]
    return indexed[1], indexed[2]


LISTINGS = [
    {},
    {"Prefix": "data/"},
    {"Delimiter": "/"},
    {"Prefix": "data/", "Delimiter": "/"},
    {"Prefix": "data/batch-03/", "MaxKeys": 37},
    {"Delimiter": "/", "MaxKeys": 1},
    {"Delimiter": "-", "Prefix": "data/batch-0"},
    {"Delimiter": "/", "Prefix": "dir/"},
    {"Delimiter": "//"},
    {"StartAfter": "data/batch-02/part-0100"},
    {"StartAfter": "data/batch-02/part-0100", "Delimiter": "/", "Prefix": "data/"},
    {"StartAfter": "data/batch-02/", "Delimiter": "/", "Prefix": "data/", "MaxKeys": 2},
    {"StartAfter": "zzz"},
    {"Prefix": "unicodé/"},
    {"Prefix": "with space/", "Delimiter": "/"},
    {"Prefix": "nothing-here/"},
    {"FetchOwner": True, "MaxKeys": 250},
    {"MaxKeys": 0},
    {"MaxKeys": 2000},
]


@pytest.mark.parametrize("params", LISTINGS, ids=[str(p) or "all" for p in LISTINGS])
def test_pages_equal_motos_pages(world, s3, params):
    _same_as_moto(world, s3, **params)


def test_pages_without_url_encoding_equal_motos_pages(world, s3):
    s3.meta.events.unregister("before-parameter-build.s3.ListObjectsV2", set_list_objects_encoding_type_url)
    keys, _ = _same_as_moto(world, s3, MaxKeys=500)
    assert "unicodé/ファイル" in keys and "amp&<lt>/x" in keys


def test_small_pages_list_every_current_key_once(world, s3):
    keys, _ = _same_as_moto(world, s3, MaxKeys=97)
    assert keys == sorted(set(_bulk_keys()) | set(ODD_KEYS))


def test_listing_follows_writes_and_deletes(world, s3):
    _pages(world, s3, True)  # build the index, then change the bucket under it
    s3.delete_object(Bucket=BUCKET, Key="data/batch-00/part-0000")
    s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "top"}, {"Key": "dir/"}]})
    s3.put_object(Bucket=BUCKET, Key="data/batch-00/part-0000-new", Body=b"new")
    s3.put_object(Bucket=BUCKET, Key="data/batch-01/part-0001", Body=b"overwritten, longer")
    _fill(BUCKET, ["data/batch-09/direct"])
    keys, _ = _same_as_moto(world, s3, MaxKeys=400)
    expected = (set(_bulk_keys()) | set(ODD_KEYS) | {"data/batch-00/part-0000-new", "data/batch-09/direct"}) - {
        "data/batch-00/part-0000", "top", "dir/"}
    assert keys == sorted(expected)
    page = s3.list_objects_v2(Bucket=BUCKET, Prefix="data/batch-01/part-0001")
    assert [o["Size"] for o in page["Contents"]] == [len(b"overwritten, longer")]


def test_versioned_bucket_hides_delete_markers(world, s3):
    s3.create_bucket(Bucket=VERSIONED)
    s3.put_bucket_versioning(Bucket=VERSIONED, VersioningConfiguration={"Status": "Enabled"})
    keys = [f"v/{d}/obj-{i:03d}" for d in ("a", "b", "c") for i in range(120)]
    _fill(VERSIONED, keys)
    _pages(world, s3, True, Bucket=VERSIONED)
    s3.put_object(Bucket=VERSIONED, Key="v/a/obj-000", Body=b"second version")
    s3.delete_object(Bucket=VERSIONED, Key="v/a/obj-001")  # a delete marker
    for i in range(120):  # a prefix that holds delete markers only
        s3.delete_object(Bucket=VERSIONED, Key=f"v/c/obj-{i:03d}")
    first = s3.put_object(Bucket=VERSIONED, Key="v/b/gone", Body=b"1")
    s3.delete_object(Bucket=VERSIONED, Key="v/b/gone", VersionId=first["VersionId"])
    for params in ({}, {"Delimiter": "/", "Prefix": "v/"}, {"Prefix": "v/c/"}, {"MaxKeys": 13}):
        listed, _ = _same_as_moto(world, s3, Bucket=VERSIONED, **params)
    assert listed == sorted(set(keys) - {"v/a/obj-001"} - {f"v/c/obj-{i:03d}" for i in range(120)})


def test_missing_bucket_and_unknown_token_are_motos_answers(world, s3):
    with pytest.raises(ClientError) as missing:
        s3.list_objects_v2(Bucket="no-such-listing-bucket")
    assert missing.value.response["Error"]["Code"] == "NoSuchBucket"
    first = s3.list_objects_v2(Bucket=BUCKET, MaxKeys=10)
    resumed = s3.list_objects_v2(Bucket=BUCKET, MaxKeys=10, ContinuationToken=first["NextContinuationToken"])
    world.s3.indexed_listing = False
    try:
        resumed_by_moto = s3.list_objects_v2(Bucket=BUCKET, MaxKeys=10, ContinuationToken=first["NextContinuationToken"])
    finally:
        world.s3.indexed_listing = True
    assert [o["Key"] for o in resumed["Contents"]] == [o["Key"] for o in resumed_by_moto["Contents"]]


def test_an_overwrite_the_index_was_not_told_of_still_shows(world, s3):
    _same_as_moto(world, s3, Prefix="data/batch-02/")  # the index and its rendered entries are warm
    backend = moto_access.s3_backend()
    backend.put_object(BUCKET, "data/batch-02/part-0003", b"rewritten behind the index's back",
                       disable_notification=True)
    _same_as_moto(world, s3, Prefix="data/batch-02/")
    page = s3.list_objects_v2(Bucket=BUCKET, Prefix="data/batch-02/part-0003")
    assert [o["Size"] for o in page["Contents"]] == [len(b"rewritten behind the index's back")]
