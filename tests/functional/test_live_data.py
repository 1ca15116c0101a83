"""The live data-corruption fault against the world playing an account: the harness's own data only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drharness import faults
from drharness.errors import FaultError
from drharness.faults import Journal
from drharness.faults.live import live_options
from drharness.config import load_workload
from drharness.faults.live.data import HARNESS_DATA, DataFaults
from drharness.faults.spec import DataCorruption

SCOPE = [{"Key": "DRHarness", "Value": "allowed"}]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "multi-region-app" / "workload.toml"


@pytest.fixture
def live(world, live_account):
    target, workload, backend = live_account
    options = live_options(workload)
    s3 = world.client("s3", "us-east-1")
    s3.create_bucket(Bucket=workload.data_bucket)
    s3.put_bucket_tagging(Bucket=workload.data_bucket, Tagging={"TagSet": SCOPE})
    seed = {f"{options.seed_prefix}run/{i}.json": f'{{"id": {i}, "v": "seed-object-{i:04d}"}}'.encode() for i in range(5)}
    theirs = {f"{options.seed_prefix[:-len('drharness-seed/')]}theirs/{i}.json": b"not ours" for i in range(5)}
    for key, body in {**seed, **theirs}.items():
        s3.put_object(Bucket=workload.data_bucket, Key=key, Body=body)
    return target, workload, backend, seed, theirs


def _bodies(world, bucket, keys):
    s3 = world.client("s3", "us-east-1")
    return {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def test_only_seed_objects_are_overwritten_their_originals_journalled_first_and_put_back(world, tmp_path, live):
    _, workload, backend, seed, theirs = live
    journal = Journal(tmp_path / "j")
    params = {"bucket": workload.data_bucket, "prefix": workload.spec.bucket.replication.prefix, "count": 3,
              "region": "us-east-1"}
    fault = faults.inject(backend, "data-corruption", params, journal)
    record = journal.get(fault.id)
    assert record.refs["mechanism"] == HARNESS_DATA
    journalled = {o["key"] for o in json.loads(record.refs["originals"])["objects"]}
    assert journalled == set(fault.corrupted) and len(journalled) == 3 and journalled <= set(seed)
    now = _bodies(world, workload.data_bucket, seed)
    assert sorted(k for k in seed if now[k] != seed[k]) == sorted(fault.corrupted)
    assert _bodies(world, workload.data_bucket, theirs) == theirs  # data it did not write: untouched
    faults.revert(backend, fault.id, journal)
    faults.revert(backend, fault.id, journal)  # twice is harmless
    assert _bodies(world, workload.data_bucket, seed) == seed and not journal.get(fault.id).pending


def test_only_items_pointing_into_the_seed_folder_are_corrupted_and_put_back(world, tmp_path, live):
    _, workload, backend, seed, theirs = live
    spec = workload.spec.table
    ddb = world.client("dynamodb", "us-east-1")
    keys = [{"AttributeName": spec.hash_key, "KeyType": "HASH"}]
    attrs = [{"AttributeName": spec.hash_key, "AttributeType": "S"}]
    if spec.range_key:
        keys.append({"AttributeName": spec.range_key, "KeyType": "RANGE"})
        attrs.append({"AttributeName": spec.range_key, "AttributeType": "S"})
    ddb.create_table(TableName=workload.metadata_table, KeySchema=keys, AttributeDefinitions=attrs,
                     BillingMode="PAY_PER_REQUEST", Tags=SCOPE)
    items = []
    for i, key in enumerate([*seed, *theirs]):
        item = {spec.hash_key: {"S": f"doc#{i}"}, "s3_key": {"S": key}, "status": {"S": "EMBEDDED"}}
        if spec.range_key:
            item[spec.range_key] = {"S": "meta"}
        ddb.put_item(TableName=workload.metadata_table, Item=item)
        items.append(item)
    journal = Journal(tmp_path / "j")
    params = {"table": workload.metadata_table, "count": 10, "region": "us-east-1"}
    with faults.injected(backend, "data-corruption", params, journal) as fault:
        assert len(fault.corrupted) == len(seed)  # count 10, but only the five seed items are the harness's
        changed = [i for i in items if ddb.get_item(TableName=workload.metadata_table,
                                                    Key={k: i[k] for k in i if k in (spec.hash_key, spec.range_key)}
                                                    )["Item"] != i]
        assert sorted(i["s3_key"]["S"] for i in changed) == sorted(seed)
    scanned = ddb.scan(TableName=workload.metadata_table)["Items"]
    def canon(found):
        return sorted(json.dumps(i, sort_keys=True) for i in found)

    assert canon(scanned) == canon(items)


@pytest.mark.parametrize("params", [
    {"bucket": "someone-elses-bucket", "prefix": ""},
    {"prefix": "embeddings/theirs/"},
])
def test_data_outside_the_harness_space_is_refused_before_anything_is_journalled(world, tmp_path, live, params):
    _, workload, backend, _, theirs = live
    other = world.client("s3", "us-east-1")
    other.create_bucket(Bucket="someone-elses-bucket")  # in the tag scope: the backend itself must refuse it
    other.put_bucket_tagging(Bucket="someone-elses-bucket", Tagging={"TagSet": SCOPE})
    journal = Journal(tmp_path / "j")
    with pytest.raises(FaultError, match="only data the harness wrote"):
        faults.inject(backend, "data-corruption", {"bucket": workload.data_bucket, "region": "us-east-1", **params},
                      journal)
    assert journal.pending() == [] and _bodies(world, workload.data_bucket, theirs) == theirs



def test_every_bucket_of_the_workload_has_its_seed_folder_in_scope_and_no_other_folder() -> None:
    workload = load_workload(EXAMPLE)  # three replicated buckets, each with a prefix of its own
    options = live_options(workload)
    folders = tuple((v.data_bucket, v.spec.bucket.replication.prefix + "drharness-seed/") for v in workload.each_bucket())
    assert options.folders() == folders and len({prefix for _, prefix in folders}) == 3
    data = DataFaults(target=None, options=options)  # type: ignore[arg-type] - the scope is read, nothing is called

    def prefix(bucket: str, asked: str) -> str:
        return data.listing_prefix(DataCorruption(bucket=bucket, prefix=asked))

    (first, first_seed), (second, second_seed) = folders[:2]
    assert prefix(second, "") == second_seed
    assert prefix(second, f"{second_seed}run/") == f"{second_seed}run/"
    for bucket, asked in ((second, first_seed), (second, f"{second_seed[:-len('drharness-seed/')]}theirs/"),
                          ("someone-elses-bucket", "")):
        with pytest.raises(FaultError, match="only data the harness wrote"):
            prefix(bucket, asked)
    assert prefix(first, "") == first_seed
