"""The world's indexed DynamoDB Scan answers byte for byte as moto's own walk does, and follows writes."""

from __future__ import annotations

from typing import Any

import pytest

from drharness.world import moto as moto_access
from drharness.world.moto import scan_index

REGION = "us-east-1"
HASH_ONLY, COMPOSITE = "scan-hash", "scan-composite"
ODD = ["a b", "ファイル", "amp&<lt>", "plus+sign", "~tilde", "Z", "z"]  # hash keys that sort oddly


def _fill(world, client) -> None:
    """Two tables: string hash keys (odd ones too), and number hash + string range keys, written into moto."""
    client.create_table(TableName=HASH_ONLY, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST")
    client.create_table(TableName=COMPOSITE,
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "N"},
                                              {"AttributeName": "sk", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST")
    backend = moto_access.dynamodb_backend(REGION)
    for i in range(800):
        backend.put_item(HASH_ONLY, {"pk": {"S": f"doc-{i:05d}"}, "n": {"N": str(i % 17)}, "blob": {"B": bytes([i % 256]) * (i % 40)}})
    for key in ODD:
        backend.put_item(HASH_ONLY, {"pk": {"S": key}, "n": {"N": "3"}})
    for i in range(300):
        for j in range(5):
            backend.put_item(COMPOSITE, {"pk": {"N": str(i - 150)}, "sk": {"S": f"part#{j}"}, "v": {"S": "x" * (j * 500)}})
    for number in ("0.5", "-0.25", "1e2", "99.999"):  # number keys that sort by value, not by text
        backend.put_item(COMPOSITE, {"pk": {"N": number}, "sk": {"S": "part#0"}})


@pytest.fixture
def ddb(world, target):
    client = target.client("dynamodb", REGION)
    _fill(world, client)
    return client


def _pages(world, client, indexed: bool, operation: str = "Scan", **params: Any) -> list[bytes]:
    """Every raw page of a whole Scan (or Query)."""
    world.dynamodb.indexed_scan = indexed
    bodies: list[bytes] = []
    call = client.scan if operation == "Scan" else client.query

    def keep(response_dict, **_):
        bodies.append(response_dict["body"])

    client.meta.events.register(f"before-parse.dynamodb.{operation}", keep)
    try:
        request = dict(params)
        while True:
            page = call(**request)
            if "LastEvaluatedKey" not in page:
                break
            request = {**params, "ExclusiveStartKey": page["LastEvaluatedKey"]}
    finally:
        client.meta.events.unregister(f"before-parse.dynamodb.{operation}", keep)
        world.dynamodb.indexed_scan = True
    return bodies


@pytest.mark.parametrize("params", [
    {"TableName": HASH_ONLY},
    {"TableName": HASH_ONLY, "Limit": 23},
    {"TableName": HASH_ONLY, "Limit": 250, "ConsistentRead": True},
    {"TableName": HASH_ONLY, "Limit": 100, "FilterExpression": "n = :n", "ExpressionAttributeValues": {":n": {"N": "3"}}},
    {"TableName": HASH_ONLY, "Limit": 90, "ProjectionExpression": "pk"},
    {"TableName": HASH_ONLY, "Limit": 60, "Select": "COUNT"},
    {"TableName": HASH_ONLY, "Limit": 50, "Segment": 1, "TotalSegments": 3},
    {"TableName": HASH_ONLY, "Limit": 70, "ReturnConsumedCapacity": "TOTAL"},
    {"TableName": COMPOSITE},
    {"TableName": COMPOSITE, "Limit": 37},
    {"TableName": COMPOSITE, "Limit": 40, "Segment": 0, "TotalSegments": 2},
], ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items() if k != "ExpressionAttributeValues"))
def test_pages_equal_motos_pages(world, ddb, params):
    indexed, walked = _pages(world, ddb, True, **params), _pages(world, ddb, False, **params)
    assert len(indexed) == len(walked) > 0
    assert indexed == walked


def test_a_page_of_one_megabyte_ends_where_motos_does(world, ddb):
    # The composite table holds about 1.5 MB: with no Limit, pages end at moto's 1 MB size limit.
    pages = _pages(world, ddb, True, TableName=COMPOSITE)
    assert len(pages) >= 2
    assert pages == _pages(world, ddb, False, TableName=COMPOSITE)


def test_the_scan_follows_writes_and_deletes_between_pages(world, ddb):
    first = ddb.scan(TableName=HASH_ONLY, Limit=100)
    ddb.put_item(TableName=HASH_ONLY, Item={"pk": {"S": "zzz-late"}})  # after every key: the scan must reach it
    ddb.delete_item(TableName=HASH_ONLY, Key={"pk": {"S": "doc-00700"}})  # not yet scanned: must not appear
    seen = [item["pk"]["S"] for item in first["Items"]]
    request = {"TableName": HASH_ONLY, "Limit": 100, "ExclusiveStartKey": first["LastEvaluatedKey"]}
    while True:
        page = ddb.scan(**request)
        seen += [item["pk"]["S"] for item in page["Items"]]
        if "LastEvaluatedKey" not in page:
            break
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    assert "zzz-late" in seen and "doc-00700" not in seen
    assert len(seen) == len(set(seen)) == 800 - 1 + 1 + len(ODD)  # one deleted, one added
    # A key the table does not hold is a valid start: the scan goes on after where it would be.
    page = ddb.scan(TableName=HASH_ONLY, Limit=3, ExclusiveStartKey={"pk": {"S": "doc-00009x"}})
    assert [item["pk"]["S"] for item in page["Items"]] == ["doc-00010", "doc-00011", "doc-00012"]


@pytest.mark.parametrize("params", [
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"N": "7"}}},
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"N": "-3"}}, "Limit": 2,
     "ScanIndexForward": False},
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"N": "9"}}, "Select": "COUNT"},
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"N": "9"}},
     "ReturnConsumedCapacity": "TOTAL"},
], ids=["all", "limit-backwards", "count", "consumed-capacity"])
def test_query_pages_equal_motos_pages(world, ddb, params):
    written = _pages(world, ddb, True, "Query", TableName=COMPOSITE, **params)
    assert written == _pages(world, ddb, False, "Query", TableName=COMPOSITE, **params)
    assert len(written) >= 1


def test_items_of_every_attribute_type_are_written_as_moto_writes_them(world, ddb):
    item = {"pk": {"S": "every-type"}, "s": {"S": "ファイル \"quoted\" \\ back"}, "n": {"N": "-1.50"}, "b": {"B": b"\x00\xff"},
            "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.5"]}, "bs": {"BS": [b"\x01", b"\x02"]},
            "m": {"M": {"inner": {"L": [{"S": "x"}, {"NULL": True}, {"BOOL": False}, {"M": {}}]}}},
            "empty_l": {"L": []}, "t": {"BOOL": True}}
    ddb.put_item(TableName=HASH_ONLY, Item=item)
    params = {"TableName": HASH_ONLY, "FilterExpression": "pk = :k", "ExpressionAttributeValues": {":k": {"S": "every-type"}}}
    written = _pages(world, ddb, True, **params)
    assert written == _pages(world, ddb, False, **params)
    assert ddb.scan(**params)["Items"] == [item]
    # And in a plain scan's pages (no filter: the world walks the table itself).
    for plain in ({"TableName": HASH_ONLY}, {"TableName": HASH_ONLY, "Limit": 33, "Segment": 0, "TotalSegments": 2}):
        assert _pages(world, ddb, True, **plain) == _pages(world, ddb, False, **plain)


def test_item_sizes_are_reckoned_as_moto_reckons_them(world, ddb):
    # A page ends where moto's item sizes sum past 1 MB: the world's own reckoning must agree item by item.
    ddb.put_item(TableName=HASH_ONLY, Item={
        "pk": {"S": "sizes"}, "s": {"S": "ファイル"}, "n": {"N": "-1.50e3"}, "b": {"B": b"\x00" * 9},
        "ss": {"SS": ["é", "b"]}, "ns": {"NS": ["1", "2.5"]}, "bs": {"BS": [b"\x01", b"\x02\x03"]},
        "m": {"M": {"ключ": {"L": [{"S": "x"}, {"NULL": True}, {"BOOL": False}, {"M": {"k": {"N": "7"}}}]}}},
        "l": {"L": [{"SS": ["q"]}, {"B": b"zz"}]}, "t": {"BOOL": True}})
    table = moto_access.dynamodb_backend(REGION).get_table(HASH_ONLY)
    items = table.all_items()
    assert len(items) > 800
    assert [scan_index._item_size(item) for item in items] == [item.size() for item in items]
