"""The offline world's S3 Inventory reports, read back as AWS documents them, against what the S3 API lists."""

from __future__ import annotations

import gzip
import hashlib
import json
import urllib.parse
from pathlib import Path

import duckdb
import pytest
from botocore.exceptions import ClientError

from drharness.world.services.s3.inventory import DAY_SECONDS, ORC_NOT_WRITTEN, next_report_at

SRC, DST, REPLICA = "inv-src", "inv-dst", "inv-replica"
ROLE = "arn:aws:iam::123456789012:role/replication"
KEYS = ("a/1.txt", "a/two words+plus.txt", "a/ünï/çødé", "b/3", "b/4", "c")
FIELDS = ["Size", "LastModifiedDate", "StorageClass", "ETag", "IsMultipartUploaded", "ReplicationStatus",
          "EncryptionStatus", "ChecksumAlgorithm"]
CSV_SCHEMA = ("Bucket, Key, Size, LastModifiedDate, ETag, StorageClass, IsMultipartUploaded, ReplicationStatus, "
              "EncryptionStatus, ChecksumAlgorithm")


@pytest.fixture
def s3(target):
    client = target.client("s3", "us-east-1")
    for bucket in (SRC, DST):
        client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=SRC, VersioningConfiguration={"Status": "Enabled"})
    for i, key in enumerate(KEYS):
        client.put_object(Bucket=SRC, Key=key, Body=b"x" * (i + 1))
    return client


def _configure(client, config_id="daily", fmt="CSV", fields=FIELDS, versions="Current", prefix=None, enabled=True,
               frequency="Daily", bucket=SRC, destination=DST):
    config = {"Id": config_id, "IsEnabled": enabled, "IncludedObjectVersions": versions, "OptionalFields": fields,
              "Schedule": {"Frequency": frequency},
              "Destination": {"S3BucketDestination": {"Bucket": f"arn:aws:s3:::{destination}", "Format": fmt,
                                                      "Prefix": "inventory", "AccountId": "123456789012"}}}
    if prefix is not None:
        config["Filter"] = {"Prefix": prefix}
    client.put_bucket_inventory_configuration(Bucket=bucket, Id=config_id, InventoryConfiguration=config)


def _keys(client, bucket=DST, prefix=""):
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def _read(client, manifest_key, tmp_path: Path, bucket=DST):
    """The manifest, verified as a reader must (checksum, sizes, MD5s, symlink), and its data files on disk."""
    raw = client.get_object(Bucket=bucket, Key=manifest_key)["Body"].read()
    folder = manifest_key.rsplit("/", 1)[0]
    checksum = client.get_object(Bucket=bucket, Key=f"{folder}/manifest.checksum")["Body"].read().decode()
    assert checksum == hashlib.md5(raw).hexdigest()
    manifest = json.loads(raw)
    paths = []
    for i, item in enumerate(manifest["files"]):
        body = client.get_object(Bucket=bucket, Key=item["key"])["Body"].read()
        assert (len(body), hashlib.md5(body).hexdigest()) == (item["size"], item["MD5checksum"])
        path = tmp_path / f"{i}{'.csv.gz' if manifest['fileFormat'] == 'CSV' else '.parquet'}"
        path.write_bytes(body)
        paths.append(str(path))
    stamp = folder.rsplit("/", 1)[-1]
    symlink_key = f"{folder.rsplit('/', 1)[0]}/hive/dt={stamp[:10]}-{stamp[11:13]}-{stamp[14:16]}/symlink.txt"
    symlink = client.get_object(Bucket=bucket, Key=symlink_key)["Body"].read().decode().splitlines()
    assert symlink == [f"s3://{bucket}/{item['key']}" for item in manifest["files"]]
    return manifest, paths


def _csv_rows(manifest, paths):
    columns = [name.strip() for name in manifest["fileSchema"].split(",")]
    files = ", ".join(f"'{p}'" for p in paths)
    rows = duckdb.sql(f"SELECT * FROM read_csv([{files}], header=false, all_varchar=true, quote='\"')").fetchall()
    for path in paths:  # every field quoted, no header row
        for line in gzip.decompress(Path(path).read_bytes()).decode().splitlines():
            assert line.startswith('"') and line.endswith('"') and line.count('","') == len(columns) - 1
    return [dict(zip(columns, ["" if v is None else v for v in row])) for row in rows]


def _listed(client, bucket=SRC, prefix=""):
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {o["Key"]: o for page in pages for o in page.get("Contents", [])}


def test_a_csv_report_lists_exactly_the_current_objects_with_the_fields_asked(world, s3, tmp_path):
    s3.delete_object(Bucket=SRC, Key="c")  # a delete marker: no longer listed
    _configure(s3)
    (manifest_key,) = world.inventory.publish(SRC)
    stamp = manifest_key.split("/")[3]
    assert manifest_key == f"inventory/{SRC}/daily/{stamp}/manifest.json"
    manifest, paths = _read(s3, manifest_key, tmp_path)
    assert {k: manifest[k] for k in ("sourceBucket", "destinationBucket", "version", "fileFormat", "fileSchema")} == {
        "sourceBucket": SRC, "destinationBucket": f"arn:aws:s3:::{DST}", "version": "2016-11-30",
        "fileFormat": "CSV", "fileSchema": CSV_SCHEMA}
    assert abs(int(manifest["creationTimestamp"]) / 1000 - world.now()) < 60
    assert all(f["key"].startswith(f"inventory/{SRC}/daily/data/") and f["key"].endswith(".csv.gz")
               for f in manifest["files"])
    rows = _csv_rows(manifest, paths)
    listed = _listed(s3)
    assert [urllib.parse.unquote_plus(r["Key"]) for r in rows] == sorted(listed)
    assert any(r["Key"] == "a/two+words%2Bplus.txt" for r in rows)  # URL-encoded, a space as +
    for row in rows:
        obj = listed[urllib.parse.unquote_plus(row["Key"])]
        assert row["Bucket"] == SRC
        assert (int(row["Size"]), row["ETag"], row["StorageClass"]) == (obj["Size"], obj["ETag"].strip('"'), obj["StorageClass"])
        assert row["LastModifiedDate"] == obj["LastModified"].strftime("%Y-%m-%dT%H:%M:%S.000Z")
        assert (row["IsMultipartUploaded"], row["ReplicationStatus"], row["EncryptionStatus"]) == ("false", "", "SSE-S3")
        assert row["ChecksumAlgorithm"] == s3.head_object(Bucket=SRC, Key=obj["Key"], ChecksumMode="ENABLED").get(
            "ResponseMetadata", {}).get("HTTPHeaders", {}).get("x-amz-sdk-checksum-algorithm", "")


def test_a_parquet_report_has_awss_columns_and_types_and_the_key_as_it_is(world, s3, tmp_path):
    _configure(s3, config_id="pq", fmt="Parquet", fields=["ETag", "Size", "LastModifiedDate", "IsMultipartUploaded"])
    (manifest_key,) = world.inventory.publish(SRC)
    manifest, paths = _read(s3, manifest_key, tmp_path)
    assert manifest["fileFormat"] == "Parquet"
    assert manifest["fileSchema"] == (
        "message s3.inventory { required binary bucket (UTF8); required binary key (UTF8); optional int64 size; "
        "optional int64 last_modified_date (TIMESTAMP_MILLIS); optional binary e_tag (UTF8); "
        "optional boolean is_multipart_uploaded; }")
    assert all(f["key"].endswith(".parquet") for f in manifest["files"])
    schema = {name: (kind, converted) for name, kind, converted in duckdb.sql(
        f"SELECT name, type, converted_type FROM parquet_schema('{paths[0]}') WHERE name <> 'duckdb_schema'").fetchall()}
    assert schema == {"bucket": ("BYTE_ARRAY", "UTF8"), "key": ("BYTE_ARRAY", "UTF8"), "size": ("INT64", "INT_64"),
                      "last_modified_date": ("INT64", "TIMESTAMP_MILLIS"), "e_tag": ("BYTE_ARRAY", "UTF8"),
                      "is_multipart_uploaded": ("BOOLEAN", None)}
    rows = duckdb.sql(f"SELECT key, size, e_tag, last_modified_date, is_multipart_uploaded FROM read_parquet('{paths[0]}')").fetchall()
    listed = _listed(s3)
    assert [r[0] for r in rows] == sorted(listed) and "a/two words+plus.txt" in [r[0] for r in rows]
    for key, size, etag, modified, multipart in rows:
        obj = listed[key]
        assert (size, etag, multipart) == (obj["Size"], obj["ETag"].strip('"'), False)
        assert modified == obj["LastModified"].replace(tzinfo=None)


def test_a_report_splits_into_files_of_at_most_rows_per_file(world, s3, tmp_path):
    world.inventory.rows_per_file = 4
    _configure(s3, fields=["Size"])
    (manifest_key,) = world.inventory.publish(SRC)
    manifest, paths = _read(s3, manifest_key, tmp_path)
    assert len(manifest["files"]) == 2
    per_file = [len(_csv_rows(manifest, [p])) for p in paths]
    assert per_file == [4, 2]
    assert [urllib.parse.unquote_plus(r["Key"]) for r in _csv_rows(manifest, paths)] == sorted(KEYS)


def test_the_filter_prefix_limits_the_report(world, s3, tmp_path):
    _configure(s3, fields=["Size"], prefix="b/")
    (manifest_key,) = world.inventory.publish(SRC)
    rows = _csv_rows(*_read(s3, manifest_key, tmp_path))
    assert [r["Key"] for r in rows] == sorted(_listed(s3, prefix="b/")) == ["b/3", "b/4"]
    assert [(r["Bucket"], r["Size"]) for r in rows] == [(SRC, "4"), (SRC, "5")]


def test_an_all_versions_report_lists_every_version_and_delete_marker(world, s3, tmp_path):
    s3.put_object(Bucket=SRC, Key="b/3", Body=b"second version")
    s3.delete_object(Bucket=SRC, Key="a/1.txt")
    _configure(s3, config_id="all", versions="All", fields=["Size", "ETag"])
    (manifest_key,) = world.inventory.publish(SRC)
    manifest, paths = _read(s3, manifest_key, tmp_path)
    assert manifest["fileSchema"] == "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, ETag"
    rows = _csv_rows(manifest, paths)
    listed = s3.list_object_versions(Bucket=SRC)
    expected = sorted(
        [(v["Key"], v["VersionId"], str(v["IsLatest"]).lower(), "false", str(v["Size"]), v["ETag"].strip('"'))
         for v in listed["Versions"]]
        + [(m["Key"], m["VersionId"], str(m["IsLatest"]).lower(), "true", "", "") for m in listed["DeleteMarkers"]])
    got = sorted((urllib.parse.unquote_plus(r["Key"]), r["VersionId"], r["IsLatest"], r["IsDeleteMarker"], r["Size"],
                  r["ETag"]) for r in rows)
    assert got == expected
    assert ("a/1.txt", "true", "true") in {(k, latest, marker) for k, _, latest, marker, _, _ in got}
    keys = [urllib.parse.unquote_plus(r["Key"]) for r in rows]
    assert keys == sorted(keys)


def test_replication_status_is_what_head_object_shows(world, s3, target, tmp_path):
    west = target.client("s3", "us-west-2")
    west.create_bucket(Bucket=REPLICA, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    west.put_bucket_versioning(Bucket=REPLICA, VersioningConfiguration={"Status": "Enabled"})
    west.create_bucket(Bucket="inv-west-dst", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    s3.put_bucket_replication(Bucket=SRC, ReplicationConfiguration={"Role": ROLE, "Rules": [{
        "ID": "r", "Status": "Enabled", "Priority": 1, "Filter": {"Prefix": "rep/"},
        "DeleteMarkerReplication": {"Status": "Disabled"}, "Destination": {"Bucket": f"arn:aws:s3:::{REPLICA}"}}]})
    for key in ("rep/1", "rep/2"):
        s3.put_object(Bucket=SRC, Key=key, Body=b"replicated")
    assert world.settle(10)
    _configure(s3, fields=["ReplicationStatus"])
    _configure(west, bucket=REPLICA, destination="inv-west-dst", fields=["ReplicationStatus"])
    assert len(world.inventory.publish()) == 2
    (source_manifest,) = [k for k in _keys(s3) if k.endswith("manifest.json")]
    rows = _csv_rows(*_read(s3, source_manifest, tmp_path))
    for row in rows:
        head = s3.head_object(Bucket=SRC, Key=urllib.parse.unquote_plus(row["Key"]))
        assert row["ReplicationStatus"] == head.get("ReplicationStatus", "")
    assert {r["Key"]: r["ReplicationStatus"] for r in rows}["rep/1"] == "COMPLETED"
    (replica_manifest,) = [k for k in _keys(west, "inv-west-dst") if k.endswith("manifest.json")]
    replica_rows = _csv_rows(*_read(west, replica_manifest, tmp_path, bucket="inv-west-dst"))
    assert [(r["Key"], r["ReplicationStatus"]) for r in replica_rows] == [("rep/1", "REPLICA"), ("rep/2", "REPLICA")]


def test_a_disabled_configuration_writes_nothing(world, s3):
    _configure(s3, enabled=False)
    assert world.inventory.publish() == []
    world.advance_clock(2 * DAY_SECONDS)
    assert _keys(s3) == []


def test_the_first_report_comes_at_once_and_the_next_a_day_later_by_the_world_clock(world, s3):
    _configure(s3, fields=["Size"])
    world.advance_clock(0)
    assert len([k for k in _keys(s3) if k.endswith("manifest.checksum")]) == 1
    world.advance_clock(3600)  # not due yet
    assert len([k for k in _keys(s3) if k.endswith("manifest.checksum")]) == 1
    s3.put_object(Bucket=SRC, Key="d/new", Body=b"new")
    world.advance_clock(DAY_SECONDS)
    manifests = [k for k in _keys(s3) if k.endswith("manifest.json")]
    assert len(manifests) == 2 and manifests[0] < manifests[1]
    assert len([k for k in _keys(s3) if k.endswith("symlink.txt")]) == 2
    newest = json.loads(s3.get_object(Bucket=DST, Key=manifests[1])["Body"].read())
    assert abs(int(newest["creationTimestamp"]) / 1000 - world.now()) < 60
    world.advance_clock(10 * DAY_SECONDS)  # ten days skipped: one report, not ten
    assert len([k for k in _keys(s3) if k.endswith("manifest.json")]) == 3
    assert world.errors == []


def test_weekly_reports_come_on_sundays():
    saturday_noon = 1_704_542_400.0  # 2024-01-06T12:00Z, a Saturday
    assert next_report_at("Weekly", saturday_noon) == 1_704_585_600.0  # Sunday 2024-01-07T00:00Z
    assert next_report_at("Weekly", 1_704_585_600.0) == 1_704_585_600.0 + 7 * DAY_SECONDS
    assert next_report_at("Daily", saturday_noon) == saturday_noon + DAY_SECONDS


def test_orc_is_refused_as_a_world_error_and_nothing_is_written(world, s3):
    _configure(s3, config_id="orc", fmt="ORC")
    assert world.inventory.publish(SRC) == []
    assert world.errors == [ORC_NOT_WRITTEN.format(id="orc", bucket=SRC)]
    assert _keys(s3) == []


def test_the_configuration_reads_back_as_it_was_put(world, s3):
    _configure(s3, config_id="cur", versions="Current", fields=["Size", "ETag"], prefix="a/")
    got = s3.get_bucket_inventory_configuration(Bucket=SRC, Id="cur")["InventoryConfiguration"]
    assert (got["IncludedObjectVersions"], got["OptionalFields"], got["Filter"]) == ("Current", ["Size", "ETag"], {"Prefix": "a/"})
    listed = s3.list_bucket_inventory_configurations(Bucket=SRC)["InventoryConfigurationList"]
    assert [(c["Id"], c["IncludedObjectVersions"], c["OptionalFields"]) for c in listed] == [("cur", "Current", ["Size", "ETag"])]


def test_report_files_take_the_destinations_encryption_and_unknown_fields_are_empty(world, s3, tmp_path):
    s3.put_bucket_inventory_configuration(Bucket=SRC, Id="sse", InventoryConfiguration={
        "Id": "sse", "IsEnabled": True, "IncludedObjectVersions": "Current", "Schedule": {"Frequency": "Weekly"},
        "OptionalFields": ["ObjectOwner", "Size"],
        "Destination": {"S3BucketDestination": {"Bucket": f"arn:aws:s3:::{DST}", "Format": "CSV",
                                                "Encryption": {"SSES3": {}}}}})
    (manifest_key,) = world.inventory.publish(SRC)
    assert manifest_key.startswith(f"{SRC}/sse/")  # no destination prefix: the source bucket comes first
    manifest, paths = _read(s3, manifest_key, tmp_path)
    assert manifest["fileSchema"] == "Bucket, Key, Size, ObjectOwner"
    assert {r["ObjectOwner"] for r in _csv_rows(manifest, paths)} == {""}
    for key in [manifest_key, *(f["key"] for f in manifest["files"])]:
        assert s3.head_object(Bucket=DST, Key=key)["ServerSideEncryption"] == "AES256"


def test_deleting_an_inventory_configuration_keeps_the_bucket(world) -> None:
    s3 = world.client("s3", "us-east-1")
    s3.create_bucket(Bucket="keep-me")
    s3.create_bucket(Bucket="keep-me-reports")
    s3.put_bucket_inventory_configuration(
        Bucket="keep-me", Id="daily", InventoryConfiguration={
            "Id": "daily", "IsEnabled": True, "IncludedObjectVersions": "Current", "Schedule": {"Frequency": "Daily"},
            "Destination": {"S3BucketDestination": {"Bucket": "arn:aws:s3:::keep-me-reports", "Format": "CSV"}}})
    s3.delete_bucket_inventory_configuration(Bucket="keep-me", Id="daily")
    assert s3.head_bucket(Bucket="keep-me")["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.list_bucket_inventory_configurations(Bucket="keep-me").get("InventoryConfigurationList", []) == []
    with pytest.raises(ClientError) as info:
        s3.delete_bucket_inventory_configuration(Bucket="keep-me", Id="daily")
    assert info.value.response["Error"]["Code"] == "NoSuchConfiguration"
