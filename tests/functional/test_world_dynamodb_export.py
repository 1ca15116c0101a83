"""The offline world's DynamoDB table exports: the items as at ExportTime, AWS's layout, manifests and states."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import json
import re
from typing import Any

import pytest
from botocore.exceptions import ClientError

from drharness.waiting import wait_until
from drharness.world import World
from drharness.world.services.dynamodb.export import (
    EXPORT_NOT_FOUND,
    IDEMPOTENT_MISMATCH,
    INVALID_EXPORT_TIME,
    NO_SUCH_BUCKET_CODE,
    NO_SUCH_BUCKET_MESSAGE,
    TABLE_NOT_FOUND,
)
from drharness.world.services.dynamodb.protocol import PITR_UNAVAILABLE, VALIDATION

REGION = "us-east-1"
BUCKET = "table-exports"
TABLE = "orders"
MANIFEST_NAMES = {"_started", "manifest-files.json", "manifest-files.md5", "manifest-summary.json", "manifest-summary.md5"}


def utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc)


def table(world: World, name: str = TABLE, *, pitr: bool = True) -> str:
    """A table keyed by `pk` (PITR on unless told otherwise), an export bucket; the table's ARN."""
    ddb = world.client("dynamodb", REGION)
    arn = ddb.create_table(
        TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
    )["TableDescription"]["TableArn"]
    if pitr:
        ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    s3 = world.client("s3", REGION)
    if BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=BUCKET)
    return str(arn)


def put(world: World, pk: str, value: str, name: str = TABLE) -> dict[str, Any]:
    item = {"pk": {"S": pk}, "v": {"S": value}}
    world.client("dynamodb", REGION).put_item(TableName=name, Item=item)
    return item


def export(world: World, arn: str, **params: Any) -> dict[str, Any]:
    """Ask for an export and describe it afterwards (an instant world completes it by then)."""
    ddb = world.client("dynamodb", REGION)
    asked = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=BUCKET, **params)["ExportDescription"]
    assert asked["ExportStatus"] == "IN_PROGRESS"
    return dict(ddb.describe_export(ExportArn=asked["ExportArn"])["ExportDescription"])


def read(world: World, key: str) -> bytes:
    return bytes(world.client("s3", REGION).get_object(Bucket=BUCKET, Key=key)["Body"].read())


def files_manifest(world: World, described: dict[str, Any]) -> list[dict[str, Any]]:
    summary = json.loads(read(world, described["ExportManifest"]))
    return [json.loads(line) for line in read(world, summary["manifestFilesS3Key"]).decode().splitlines()]


def exported_items(world: World, described: dict[str, Any]) -> list[dict[str, Any]]:
    """Every item of a completed export, as the data files hold them (DynamoDB JSON)."""
    items = []
    for entry in files_manifest(world, described):
        lines = gzip.decompress(read(world, entry["dataFileS3Key"])).decode().splitlines()
        items += [json.loads(line)["Item"] for line in lines]
    return items


def by_key(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["pk"]["S"]: item for item in items}


def as_wire(value: Any) -> Any:
    """An attribute value as boto3 parses it, back in DynamoDB JSON (binary values base64)."""
    if isinstance(value, dict):
        return {k: as_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_wire(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = exc.value.response["Error"]
    return str(error["Code"]), str(error["Message"])


# -- what an export holds -------------------------------------------------------------------------------------


def test_an_export_at_a_past_time_holds_exactly_the_items_as_they_were_then(world: World) -> None:
    arn = table(world)
    written = [put(world, "a", "1"), put(world, "b", "1"), put(world, "c", "1")]
    then = world.now()
    put(world, "a", "2")
    world.client("dynamodb", REGION).delete_item(TableName=TABLE, Key={"pk": {"S": "b"}})
    put(world, "d", "1")

    described = export(world, arn, ExportTime=utc(then))

    assert described["ExportStatus"] == "COMPLETED"
    assert by_key(exported_items(world, described)) == by_key(written)
    assert described["ItemCount"] == 3
    assert described["ExportTime"].timestamp() == pytest.approx(then, abs=1e-5)


def test_an_export_after_the_clock_moved_reads_the_history_at_the_asked_time(world: World) -> None:
    arn = table(world)
    first = put(world, "a", "1")
    world.advance_clock(3600)
    then = world.now()
    world.advance_clock(3600)
    latest = [put(world, "a", "2"), put(world, "b", "1")]

    assert by_key(exported_items(world, export(world, arn, ExportTime=utc(then)))) == by_key([first])
    assert by_key(exported_items(world, export(world, arn))) == by_key(latest)


def test_an_export_at_now_equals_a_scan(world: World) -> None:
    arn = table(world)
    ddb = world.client("dynamodb", REGION)
    ddb.put_item(TableName=TABLE, Item={
        "pk": {"S": "typed"}, "n": {"N": "1.5"}, "b": {"B": b"\x00\xff"}, "ok": {"BOOL": True}, "none": {"NULL": True},
        "ss": {"SS": ["x", "y"]}, "ns": {"NS": ["1", "2"]}, "bs": {"BS": [b"\x01"]},
        "m": {"M": {"inner": {"L": [{"S": "deep"}, {"B": b"\x02"}, {"M": {"n": {"N": "3"}}}]}}},
    })
    for i in range(5):
        put(world, f"k{i}", str(i))

    described = export(world, arn)

    scanned = [as_wire(item) for item in ddb.scan(TableName=TABLE)["Items"]]
    assert by_key(exported_items(world, described)) == by_key(scanned)
    assert described["ItemCount"] == len(scanned) == 6
    assert described["BilledSizeBytes"] > 0


def test_items_are_split_into_files_of_at_most_items_per_file(world: World) -> None:
    arn = table(world)
    written = [put(world, f"k{i}", str(i)) for i in range(7)]
    world.exports.items_per_file = 3

    described = export(world, arn)

    entries = files_manifest(world, described)
    assert sorted(entry["itemCount"] for entry in entries) == [1, 3, 3]
    assert by_key(exported_items(world, described)) == by_key(written)


def test_an_empty_table_exports_one_empty_data_file(world: World) -> None:
    described = export(world, table(world))
    entries = files_manifest(world, described)
    assert [entry["itemCount"] for entry in entries] == [0]
    assert gzip.decompress(read(world, entries[0]["dataFileS3Key"])) == b""
    assert described["ItemCount"] == 0


# -- the layout on S3 -----------------------------------------------------------------------------------------


def test_the_objects_follow_aws_layout_under_the_prefix(world: World) -> None:
    arn = table(world)
    put(world, "a", "1")
    described = export(world, arn, S3Prefix="nightly/orders")

    export_id = described["ExportArn"].rsplit("/", 1)[1]
    assert re.fullmatch(r"\d{14}-[0-9a-f]{8}", export_id)
    assert described["ExportArn"] == f"{arn}/export/{export_id}"
    folder = f"nightly/orders/AWSDynamoDB/{export_id}/"
    keys = [o["Key"] for o in world.client("s3", REGION).list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert all(key.startswith(folder) for key in keys)
    names = {key[len(folder):] for key in keys}
    assert MANIFEST_NAMES <= names
    assert all(re.fullmatch(r"data/[a-z2-7]{26}\.json\.gz", name) for name in names - MANIFEST_NAMES)
    assert read(world, f"{folder}_started") == b""
    assert described["ExportManifest"] == f"{folder}manifest-summary.json"


def test_the_summary_manifest_has_the_documented_fields(world: World) -> None:
    arn = table(world)
    put(world, "a", "1")
    described = export(world, arn, S3Prefix="p")
    summary = json.loads(read(world, described["ExportManifest"]))

    assert list(summary) == ["version", "exportArn", "startTime", "endTime", "tableArn", "tableId", "exportTime",
                             "s3Bucket", "s3Prefix", "s3SseAlgorithm", "s3SseKmsKeyId", "manifestFilesS3Key",
                             "billedSizeBytes", "itemCount", "outputFormat", "exportType"]
    assert summary["version"] == "2020-06-30"
    assert (summary["exportArn"], summary["tableArn"], summary["tableId"]) == (
        described["ExportArn"], arn, described["TableId"])
    assert (summary["s3Bucket"], summary["s3Prefix"], summary["s3SseAlgorithm"]) == (BUCKET, "p", "AES256")
    assert (summary["itemCount"], summary["outputFormat"], summary["exportType"]) == (1, "DYNAMODB_JSON", "FULL_EXPORT")
    assert summary["billedSizeBytes"] == described["BilledSizeBytes"]
    for name, field in (("startTime", "StartTime"), ("endTime", "EndTime"), ("exportTime", "ExportTime")):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", summary[name])
        parsed = dt.datetime.fromisoformat(summary[name].replace("Z", "+00:00"))
        assert abs(parsed.timestamp() - described[field].timestamp()) < 0.001


def test_the_md5_files_verify_the_manifests_and_the_checksums_verify_the_data_files(world: World) -> None:
    arn = table(world)
    for i in range(5):
        put(world, f"k{i}", str(i))
    world.exports.items_per_file = 2
    described = export(world, arn)
    summary_key = described["ExportManifest"]
    files_key = json.loads(read(world, summary_key))["manifestFilesS3Key"]

    for key in (summary_key, files_key):
        assert read(world, key.removesuffix(".json") + ".md5").decode() == md5_b64(read(world, key))
    s3 = world.client("s3", REGION)
    for entry in files_manifest(world, described):
        assert list(entry) == ["itemCount", "md5Checksum", "etag", "dataFileS3Key"]
        data = read(world, entry["dataFileS3Key"])
        assert entry["md5Checksum"] == md5_b64(data)
        assert entry["etag"] == s3.head_object(Bucket=BUCKET, Key=entry["dataFileS3Key"])["ETag"].strip('"')
        assert entry["etag"].endswith("-1")  # uploaded in parts, as AWS does
        assert entry["itemCount"] == len(gzip.decompress(data).splitlines())


# -- DescribeExport, ListExports and the states -----------------------------------------------------------------


def test_an_export_is_in_progress_with_only_started_written_until_its_time_is_up(world: World) -> None:
    arn = table(world)
    put(world, "a", "1")
    world.exports.export_seconds = float("inf")
    ddb = world.client("dynamodb", REGION)
    asked = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=BUCKET)["ExportDescription"]
    described = ddb.describe_export(ExportArn=asked["ExportArn"])["ExportDescription"]

    assert described["ExportStatus"] == "IN_PROGRESS"
    assert not {"EndTime", "ExportManifest", "ItemCount", "BilledSizeBytes"} & set(described)
    keys = [o["Key"] for o in world.client("s3", REGION).list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert [key.rsplit("/", 1)[1] for key in keys] == ["_started"]

    world.exports.export_seconds = 0
    done = ddb.describe_export(ExportArn=asked["ExportArn"])["ExportDescription"]
    assert done["ExportStatus"] == "COMPLETED"
    assert done["StartTime"] <= done["EndTime"]
    assert world.errors == []


def test_a_running_export_writes_its_files_when_its_time_is_up_unasked(world: World) -> None:
    arn = table(world)
    put(world, "a", "1")
    world.exports.export_seconds = 0.2
    asked = world.client("dynamodb", REGION).export_table_to_point_in_time(TableArn=arn, S3Bucket=BUCKET)
    export_id = asked["ExportDescription"]["ExportArn"].rsplit("/", 1)[1]
    summary = f"AWSDynamoDB/{export_id}/manifest-summary.md5"
    s3 = world.client("s3", REGION)

    outcome = wait_until(lambda: s3.list_objects_v2(Bucket=BUCKET, Prefix=summary)["KeyCount"] == 1,
                         timeout_s=5, interval_s=0.02, what="the export's last manifest written")

    assert outcome.ok, outcome.reason
    described = world.client("dynamodb", REGION).describe_export(ExportArn=asked["ExportDescription"]["ExportArn"])
    assert described["ExportDescription"]["ExportStatus"] == "COMPLETED"


def test_describe_export_gives_the_documented_fields(world: World) -> None:
    arn = table(world)
    put(world, "a", "1")
    described = export(world, arn, S3Prefix="p", ClientToken="nightly-1")

    assert {"ExportArn", "ExportStatus", "StartTime", "EndTime", "ExportTime", "TableArn", "TableId", "S3Bucket",
            "S3Prefix", "S3SseAlgorithm", "ExportFormat", "ExportType", "ExportManifest", "ItemCount",
            "BilledSizeBytes", "ClientToken"} <= set(described)
    assert (described["TableArn"], described["S3Bucket"], described["S3Prefix"]) == (arn, BUCKET, "p")
    assert (described["ExportFormat"], described["ExportType"], described["ClientToken"]) == (
        "DYNAMODB_JSON", "FULL_EXPORT", "nightly-1")
    assert described["ExportTime"] == described["StartTime"]  # no ExportTime asked for: the table as it was then


def test_list_exports_lists_the_regions_exports_newest_first_by_table_and_in_pages(world: World) -> None:
    orders, users = table(world), table(world, "users")
    first, second = export(world, orders)["ExportArn"], export(world, orders)["ExportArn"]
    other = export(world, users)["ExportArn"]
    ddb = world.client("dynamodb", REGION)

    listed = ddb.list_exports()["ExportSummaries"]
    assert [s["ExportArn"] for s in listed] == [other, second, first]
    assert {(s["ExportStatus"], s["ExportType"]) for s in listed} == {("COMPLETED", "FULL_EXPORT")}
    assert [s["ExportArn"] for s in ddb.list_exports(TableArn=orders)["ExportSummaries"]] == [second, first]
    page = ddb.list_exports(TableArn=orders, MaxResults=1)
    rest = ddb.list_exports(TableArn=orders, MaxResults=1, NextToken=page["NextToken"])
    assert [s["ExportArn"] for s in page["ExportSummaries"] + rest["ExportSummaries"]] == [second, first]
    assert "NextToken" not in rest
    assert world.client("dynamodb", "us-west-2").list_exports()["ExportSummaries"] == []


def test_the_same_client_token_names_the_same_export_and_a_reused_one_is_refused(world: World) -> None:
    arn = table(world)
    ddb = world.client("dynamodb", REGION)
    first = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=BUCKET, ClientToken="t-1")["ExportDescription"]
    again = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=BUCKET, ClientToken="t-1")["ExportDescription"]
    assert again["ExportArn"] == first["ExportArn"]
    assert len(world.exports.jobs()) == 1
    with pytest.raises(ClientError) as exc:
        ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=BUCKET, S3Prefix="other", ClientToken="t-1")
    assert error_of(exc)[0] == IDEMPOTENT_MISMATCH


# -- refusals and failures ----------------------------------------------------------------------------------------


def test_an_export_of_a_missing_table_is_refused(world: World) -> None:
    table(world)
    missing = f"arn:aws:dynamodb:{REGION}:{world.account_id}:table/missing"
    with pytest.raises(ClientError) as exc:
        world.client("dynamodb", REGION).export_table_to_point_in_time(TableArn=missing, S3Bucket=BUCKET)
    assert error_of(exc)[0] == TABLE_NOT_FOUND


def test_an_export_without_pitr_is_refused(world: World) -> None:
    arn = table(world, pitr=False)
    with pytest.raises(ClientError) as exc:
        world.client("dynamodb", REGION).export_table_to_point_in_time(TableArn=arn, S3Bucket=BUCKET)
    assert error_of(exc)[0] == PITR_UNAVAILABLE


@pytest.mark.parametrize("offset_seconds", [-3600.0, 3600.0])
def test_an_export_time_outside_the_pitr_window_is_refused(world: World, offset_seconds: float) -> None:
    arn = table(world)
    put(world, "a", "1")
    with pytest.raises(ClientError) as exc:
        world.client("dynamodb", REGION).export_table_to_point_in_time(
            TableArn=arn, S3Bucket=BUCKET, ExportTime=utc(world.now() + offset_seconds))
    code, message = error_of(exc)
    assert code == INVALID_EXPORT_TIME
    assert "outside the point in time recovery window" in message


@pytest.mark.parametrize("params", [{"ExportType": "INCREMENTAL_EXPORT"}, {"ExportFormat": "ION"}])
def test_incremental_and_ion_exports_are_refused_as_not_modelled(world: World, params: dict[str, str]) -> None:
    arn = table(world)
    with pytest.raises(ClientError) as exc:
        world.client("dynamodb", REGION).export_table_to_point_in_time(TableArn=arn, S3Bucket=BUCKET, **params)
    code, message = error_of(exc)
    assert code == VALIDATION
    assert "not modelled by the offline world" in message and next(iter(params.values())) in message
    assert world.exports.jobs() == []


def test_an_export_to_a_missing_bucket_fails_as_aws_reports_it(world: World) -> None:
    arn = table(world)
    ddb = world.client("dynamodb", REGION)
    asked = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket="no-such-bucket")["ExportDescription"]
    described = ddb.describe_export(ExportArn=asked["ExportArn"])["ExportDescription"]
    assert described["ExportStatus"] == "FAILED"
    assert (described["FailureCode"], described["FailureMessage"]) == (NO_SUCH_BUCKET_CODE, NO_SUCH_BUCKET_MESSAGE)
    assert "ExportManifest" not in described and "EndTime" in described


def test_describing_an_unknown_export_is_refused(world: World) -> None:
    arn = table(world)
    with pytest.raises(ClientError) as exc:
        world.client("dynamodb", REGION).describe_export(ExportArn=f"{arn}/export/01700000000000-deadbeef")
    assert error_of(exc)[0] == EXPORT_NOT_FOUND
