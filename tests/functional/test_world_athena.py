"""Athena in the offline world: Hive DDL over S3 Inventory-shaped files, queries run by DuckDB, results as Athena
gives them, and failures in Athena's words; every state is polled, as a client on AWS polls it."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
from botocore.exceptions import ClientError

from drharness.target import OfflineTarget
from drharness.waiting import wait_until
from drharness.world import World
from drharness.world.services.athena.ddl import PARTITIONS_REFUSED
from drharness.world.services.athena.models import (
    CANCELLED_REASON,
    MAX_RESULTS_EXCEEDED,
    NO_OUTPUT_LOCATION,
)

REGION = "us-east-1"
INVENTORY = "inventory-dest"
RESULTS = "athena-results"
OUTPUT = f"s3://{RESULTS}/queries/"
HIVE = "inv/src-bucket/config-1/hive/dt=2026-12-04-20-00/"
DONE = ("SUCCEEDED", "FAILED", "CANCELLED")
ORDER = ("QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED")

# Source inventory rows (CSV: every field text, keys URL-encoded as S3 Inventory writes them) and the
# replica's (Parquet, typed): a missing, a differing, an extra and two matching objects.
SOURCE = [
    ("src-bucket", "a.txt", "v1", "true", "false", "10", "e-a", "COMPLETED"),
    ("src-bucket", "dir/a+b%2Bc.txt", "v1", "true", "false", "20", "e-ab", "COMPLETED"),
    ("src-bucket", "c.txt", "v2", "true", "false", "30", "e-c2", "COMPLETED"),
    ("src-bucket", "c.txt", "v1", "false", "false", "31", "e-c1", "COMPLETED"),
    ("src-bucket", "gone.txt", "v1", "true", "true", "0", "", "COMPLETED"),
    ("src-bucket", "missing.txt", "v1", "true", "false", "40", "e-m", "PENDING"),
]
REPLICA = [
    ("dst-bucket", "a.txt", "v1", True, False, 10, "e-a", "REPLICA"),
    ("dst-bucket", "dir/a b+c.txt", "v1", True, False, 20, "e-ab", "REPLICA"),
    ("dst-bucket", "c.txt", "v2", True, False, 99, "e-c9", "REPLICA"),
    ("dst-bucket", "extra.txt", "v1", True, False, 50, "e-x", "REPLICA"),
]
COLUMNS = ("bucket", "key", "version_id", "is_latest", "is_delete_marker", "size", "e_tag", "replication_status")
CSV_DDL = """CREATE EXTERNAL TABLE IF NOT EXISTS `inv`.`src_inv` (
  `bucket` string, `key` string, `version_id` string, `is_latest` string, `is_delete_marker` string,
  `size` string, `e_tag` string, `replication_status` string)
ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde'
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://inventory-dest/csv/src-bucket/config-1/hive/dt=2026-12-04-20-00/'"""
PARQUET_DDL = """CREATE EXTERNAL TABLE IF NOT EXISTS `inv`.`dst_inv` (
  `bucket` string, `key` string, `version_id` string, `is_latest` boolean, `is_delete_marker` boolean,
  `size` bigint, `e_tag` string, `replication_status` string, `checksum_algorithm` string)
ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://inventory-dest/parquet/dst-bucket/config-1/hive/dt=2026-12-04-20-00/'
TBLPROPERTIES ('has_encrypted_data'='false')"""
COMPARE = """WITH src AS (
  SELECT url_decode(key) AS key, cast(size AS bigint) AS size, e_tag,
         row_number() OVER (PARTITION BY key ORDER BY version_id DESC) AS rn
  FROM "inv"."src_inv"
  WHERE cast(is_latest AS boolean) AND lower(is_delete_marker) = 'false'
), dst AS (
  SELECT key, size, e_tag FROM "inv"."dst_inv" WHERE is_latest
)
SELECT coalesce(s.key, d.key) AS key,
       CASE WHEN d.key IS NULL THEN 'missing' WHEN s.key IS NULL THEN 'extra'
            WHEN s.size <> d.size OR nullif(s.e_tag, d.e_tag) IS NOT NULL THEN 'differs' ELSE 'same' END AS verdict,
       s.size AS src_size, d.size AS dst_size
FROM (SELECT * FROM src WHERE rn = 1) s FULL OUTER JOIN dst d ON s.key = d.key
ORDER BY 1"""


@dataclass(frozen=True)
class Finished:
    """A query as the polling client last saw it, and every state it saw on the way."""

    id: str
    execution: dict[str, Any]
    seen: tuple[str, ...]

    @property
    def state(self) -> str:
        return str(self.execution["Status"]["State"])

    @property
    def reason(self) -> str:
        return str(self.execution["Status"].get("StateChangeReason", ""))


def start(athena: Any, sql: str, **extra: Any) -> str:
    extra.setdefault("ResultConfiguration", {"OutputLocation": OUTPUT})
    return str(athena.start_query_execution(QueryString=sql, **extra)["QueryExecutionId"])


def poll(athena: Any, query_id: str, timeout_s: float = 30.0) -> Finished:
    seen: list[str] = []

    def finished() -> dict[str, Any] | None:
        execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        state = execution["Status"]["State"]
        if not seen or seen[-1] != state:
            seen.append(state)
        return execution if state in DONE else None

    outcome = wait_until(finished, timeout_s, 0.01, what=f"query {query_id} to finish")
    assert outcome.ok, outcome.reason
    assert outcome.value is not None
    return Finished(query_id, outcome.value, tuple(seen))


def run(athena: Any, sql: str, **extra: Any) -> Finished:
    return poll(athena, start(athena, sql, **extra))


def succeeded(athena: Any, sql: str, **extra: Any) -> Finished:
    done = run(athena, sql, **extra)
    assert done.state == "SUCCEEDED", done.reason
    return done


def rows_of(athena: Any, query_id: str, **page: Any) -> list[list[str | None]]:
    result = athena.get_query_results(QueryExecutionId=query_id, **page)
    return [[d.get("VarCharValue") for d in row["Data"]] for row in result["ResultSet"]["Rows"]]


def put_csv_gz(s3: Any, tmp: Path, key: str, rows: list[tuple[Any, ...]]) -> str:
    """Rows written by DuckDB as S3 Inventory's CSV: gzip, no header, every field in double quotes."""
    path = tmp / key.replace("/", "_")
    values = ", ".join("(" + ", ".join("'" + str(v).replace("'", "''") + "'" for v in row) + ")" for row in rows)
    names = ", ".join(COLUMNS)
    duckdb.connect().execute(f"COPY (SELECT * FROM (VALUES {values}) t({names})) TO '{path}' "
                             "(FORMAT CSV, HEADER false, QUOTE '\"', FORCE_QUOTE *, COMPRESSION gzip)")
    s3.put_object(Bucket=INVENTORY, Key=key, Body=path.read_bytes())
    return f"s3://{INVENTORY}/{key}"


def put_parquet(s3: Any, tmp: Path, key: str, rows: list[tuple[Any, ...]]) -> str:
    path = tmp / key.replace("/", "_")
    connection = duckdb.connect()
    connection.execute("CREATE TABLE t (bucket VARCHAR, key VARCHAR, version_id VARCHAR, is_latest BOOLEAN, "
                       "is_delete_marker BOOLEAN, size BIGINT, e_tag VARCHAR, replication_status VARCHAR)")
    connection.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    connection.execute(f"COPY t TO '{path}' (FORMAT PARQUET)")
    s3.put_object(Bucket=INVENTORY, Key=key, Body=path.read_bytes())
    return f"s3://{INVENTORY}/{key}"


@pytest.fixture
def athena(world: World, target: OfflineTarget, tmp_path: Path) -> Iterator[Any]:
    """An Athena client as the harness gets one, with both inventories in S3 and their tables created."""
    s3 = world.client("s3", REGION)
    for bucket in (INVENTORY, RESULTS):
        s3.create_bucket(Bucket=bucket)
    csv_files = [put_csv_gz(s3, tmp_path, f"csv/src-bucket/config-1/data/part-{i}.csv.gz", SOURCE[i::2]) for i in range(2)]
    s3.put_object(Bucket=INVENTORY, Key="csv/src-bucket/config-1/hive/dt=2026-12-04-20-00/symlink.txt",
                  Body="\n".join(csv_files).encode())
    parquet_files = [put_parquet(s3, tmp_path, f"parquet/dst-bucket/config-1/data/part-{i}.parquet", REPLICA[i::2])
                     for i in range(2)]
    s3.put_object(Bucket=INVENTORY, Key="parquet/dst-bucket/config-1/hive/dt=2026-12-04-20-00/symlink.txt",
                  Body="\n".join(parquet_files).encode())
    client = target.client("athena", REGION)
    for sql in ("CREATE DATABASE IF NOT EXISTS inv", CSV_DDL, PARQUET_DDL):
        done = succeeded(client, sql)
        assert done.execution["StatementType"] == "DDL"
    yield client
    assert world.errors == []


def test_a_full_outer_join_of_a_csv_and_a_parquet_inventory_gives_each_objects_verdict(athena: Any) -> None:
    done = succeeded(athena, COMPARE)
    result = athena.get_query_results(QueryExecutionId=done.id)
    rows = [[d.get("VarCharValue") for d in row["Data"]] for row in result["ResultSet"]["Rows"]]
    assert rows == [
        ["key", "verdict", "src_size", "dst_size"],
        ["a.txt", "same", "10", "10"],
        ["c.txt", "differs", "30", "99"],
        ["dir/a b+c.txt", "same", "20", "20"],
        ["extra.txt", "extra", None, "50"],
        ["missing.txt", "missing", "40", None],
    ]
    info = result["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
    assert [(c["Name"], c["Type"]) for c in info] == [
        ("key", "varchar"), ("verdict", "varchar"), ("src_size", "bigint"), ("dst_size", "bigint")]
    assert done.execution["StatementType"] == "DML"
    statistics = done.execution["Statistics"]
    assert statistics["DataScannedInBytes"] > 0 and statistics["TotalExecutionTimeInMillis"] >= 0


def test_aggregates_unions_and_casts_keep_athenas_labels_and_types(athena: Any) -> None:
    sql = """SELECT count(*), sum(size), min(key), max(size), cast(sum(size) AS varchar) AS total_text,
                    cast('true' AS boolean) AS flag, 7 / 2 AS halved
             FROM "inv"."dst_inv"
             UNION ALL
             SELECT 0, 0, NULL, 0, '', false, 0
             LIMIT 1"""
    done = succeeded(athena, sql)
    result = athena.get_query_results(QueryExecutionId=done.id)
    info = result["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
    assert [(c["Name"], c["Type"]) for c in info] == [
        ("_col0", "bigint"), ("_col1", "bigint"), ("_col2", "varchar"), ("_col3", "bigint"),
        ("total_text", "varchar"), ("flag", "boolean"), ("halved", "integer")]
    assert rows_of(athena, done.id)[1] == ["4", "179", "a.txt", "99", "179", "true", "3"]


def test_an_unqualified_table_is_found_in_the_context_database(athena: Any) -> None:
    done = succeeded(athena, "SELECT count(*) AS n FROM dst_inv", QueryExecutionContext={"Database": "inv"})
    assert rows_of(athena, done.id) == [["n"], ["4"]]
    assert done.execution["QueryExecutionContext"] == {"Database": "inv"}


def test_the_result_csv_lands_in_the_output_location_with_its_header(athena: Any, world: World) -> None:
    done = succeeded(athena, COMPARE)
    location = done.execution["ResultConfiguration"]["OutputLocation"]
    assert location == f"{OUTPUT}{done.id}.csv"
    body = world.client("s3", REGION).get_object(Bucket=RESULTS, Key=f"queries/{done.id}.csv")["Body"].read().decode()
    lines = body.splitlines()
    assert lines[0] == '"key","verdict","src_size","dst_size"'
    assert lines[4] == '"extra.txt","extra",,"50"'
    assert list(csv.reader(io.StringIO(body)))[1] == ["a.txt", "same", "10", "10"]


def test_results_page_through_next_token_with_the_header_first(athena: Any) -> None:
    sql = "SELECT i FROM (SELECT range AS i FROM range(25)) ORDER BY i"
    done = succeeded(athena, sql)
    pages, token = [], None
    while True:
        page = athena.get_query_results(QueryExecutionId=done.id, MaxResults=10, **({"NextToken": token} if token else {}))
        pages.append([row["Data"][0]["VarCharValue"] for row in page["ResultSet"]["Rows"]])
        token = page.get("NextToken")
        if not token:
            break
    assert [len(p) for p in pages] == [10, 10, 6]
    assert [v for p in pages for v in p] == ["i", *[str(i) for i in range(25)]]
    paged = [row for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=done.id)
             for row in page["ResultSet"]["Rows"]]
    assert len(paged) == 26
    with pytest.raises(ClientError) as refused:
        athena.get_query_results(QueryExecutionId=done.id, MaxResults=1001)
    assert refused.value.response["Error"]["Code"] == "InvalidRequestException"
    assert refused.value.response["Error"]["Message"] == MAX_RESULTS_EXCEEDED.format(value=1001, limit=1000)


def test_a_syntax_error_fails_with_athenas_reason(athena: Any) -> None:
    done = run(athena, "SELECT key FRM \"inv\".\"dst_inv\"")
    assert done.state == "FAILED"
    assert done.reason.startswith("SYNTAX_ERROR: line 1:"), done.reason
    assert done.execution["Status"]["AthenaError"]["ErrorCategory"] == 2
    with pytest.raises(ClientError) as refused:
        athena.get_query_results(QueryExecutionId=done.id)
    assert "Final query state: FAILED" in refused.value.response["Error"]["Message"]


def test_a_missing_table_or_column_fails_naming_it(athena: Any) -> None:
    missing = run(athena, 'SELECT * FROM "inv"."nope"')
    assert (missing.state, missing.reason) == (
        "FAILED", "TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog.inv.nope' does not exist")
    schema = run(athena, 'SELECT * FROM "elsewhere"."t"')
    assert schema.reason == "SCHEMA_NOT_FOUND: line 1:15: Schema 'elsewhere' does not exist"
    column = run(athena, 'SELECT nothing FROM "inv"."dst_inv"')
    assert column.reason.startswith("COLUMN_NOT_FOUND: line 1:8: "), column.reason


def test_drop_table_removes_it_and_drop_database_refuses_one_not_empty(athena: Any) -> None:
    refused = run(athena, "DROP DATABASE inv")
    assert refused.state == "FAILED" and "is not empty" in refused.reason
    succeeded(athena, "DROP TABLE `inv`.`dst_inv`")
    gone = run(athena, 'SELECT count(*) FROM "inv"."dst_inv"')
    assert gone.reason.startswith("TABLE_NOT_FOUND:"), gone.reason
    succeeded(athena, "DROP TABLE IF EXISTS `inv`.`dst_inv`")
    again = run(athena, "DROP TABLE inv.dst_inv")
    assert again.state == "FAILED" and "Table not found inv.dst_inv" in again.reason
    still = succeeded(athena, 'SELECT count(*) FROM "inv"."src_inv"')
    assert rows_of(athena, still.id)[1] == ["6"]
    succeeded(athena, "DROP DATABASE IF EXISTS inv CASCADE")
    assert run(athena, 'SELECT 1 FROM "inv"."src_inv"').reason.startswith("SCHEMA_NOT_FOUND:")


def test_states_are_polled_from_queued_through_running_to_succeeded(athena: Any, world: World) -> None:
    world.athena.queue_seconds = 0.3  # long enough for a poll to see the query wait
    done = succeeded(athena, COMPARE)
    assert done.seen[0] == "QUEUED" and done.seen[-1] == "SUCCEEDED"
    assert list(done.seen) == sorted(done.seen, key=ORDER.index)
    assert [state for state, _ in world.athena.history(done.id)] == ["QUEUED", "RUNNING", "SUCCEEDED"]
    status = done.execution["Status"]
    assert status["CompletionDateTime"] >= status["SubmissionDateTime"]
    assert done.execution["Statistics"]["QueryQueueTimeInMillis"] >= 300


def test_stop_query_execution_cancels_a_queued_query(athena: Any, world: World) -> None:
    world.athena.queue_seconds = 30.0
    query_id = start(athena, COMPARE)
    athena.stop_query_execution(QueryExecutionId=query_id)
    done = poll(athena, query_id)
    assert (done.state, done.reason) == ("CANCELLED", CANCELLED_REASON)
    assert [state for state, _ in world.athena.history(query_id)] == ["QUEUED", "CANCELLED"]
    batch = athena.batch_get_query_execution(QueryExecutionIds=[query_id, "no-such-query"])
    assert [e["Status"]["State"] for e in batch["QueryExecutions"]] == ["CANCELLED"]
    assert [u["QueryExecutionId"] for u in batch["UnprocessedQueryExecutionIds"]] == ["no-such-query"]


def test_a_query_without_an_output_location_is_refused_unless_its_work_group_has_one(athena: Any) -> None:
    with pytest.raises(ClientError) as refused:
        athena.start_query_execution(QueryString="SELECT 1")
    assert refused.value.response["Error"]["Code"] == "InvalidRequestException"
    assert refused.value.response["Error"]["Message"] == NO_OUTPUT_LOCATION
    athena.create_work_group(Name="drills", Configuration={
        "ResultConfiguration": {"OutputLocation": f"s3://{RESULTS}/drills/"}, "EnforceWorkGroupConfiguration": True})
    done = succeeded(athena, "SELECT 1 AS one", WorkGroup="drills", ResultConfiguration={"OutputLocation": OUTPUT})
    assert done.execution["ResultConfiguration"]["OutputLocation"] == f"s3://{RESULTS}/drills/{done.id}.csv"
    assert done.execution["WorkGroup"] == "drills"


def test_dynamodb_export_lines_read_as_the_item_json_or_its_struct(athena: Any, world: World) -> None:
    lines = [{"Item": {"pk": {"S": "user#1"}, "n": {"N": "1"}}}, {"Item": {"pk": {"S": "user#2"}, "n": {"N": "2"}}}]
    body = gzip.compress("".join(json.dumps(line) + "\n" for line in lines).encode())
    world.client("s3", REGION).put_object(Bucket=INVENTORY, Key="ddb/AWSDynamoDB/0001/data/a1b2.json.gz", Body=body)
    location = f"s3://{INVENTORY}/ddb/AWSDynamoDB/0001/data/"
    succeeded(athena, f"CREATE EXTERNAL TABLE inv.items_text (Item string) ROW FORMAT SERDE "
                      f"'org.openx.data.jsonserde.JsonSerDe' LOCATION '{location}'")
    succeeded(athena, f"CREATE EXTERNAL TABLE inv.items (Item struct<pk:struct<S:string>, n:struct<N:string>>) "
                      f"ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' LOCATION '{location}'")
    text = succeeded(athena, 'SELECT item FROM "inv"."items_text" ORDER BY 1')
    assert [json.loads(row[0]) for row in rows_of(athena, text.id)[1:]] == [line["Item"] for line in lines]
    typed = succeeded(athena, 'SELECT item.pk.S AS pk, cast(item.n.N AS bigint) AS n FROM "inv"."items" ORDER BY n')
    assert rows_of(athena, typed.id) == [["pk", "n"], ["user#1", "1"], ["user#2", "2"]]


def test_partitioned_tables_and_other_statements_are_refused_with_the_reason(athena: Any) -> None:
    partitioned = run(athena, CSV_DDL.replace("`src_inv`", "`p`").replace(
        "ROW FORMAT", "PARTITIONED BY (dt string)\nROW FORMAT"))
    assert partitioned.state == "FAILED" and PARTITIONS_REFUSED in partitioned.reason
    insert = run(athena, "INSERT INTO inv.src_inv VALUES ('x')")
    assert insert.reason.startswith("NOT_SUPPORTED: INSERT"), insert.reason
    orc = run(athena, "CREATE EXTERNAL TABLE inv.o (a string) STORED AS ORC LOCATION 's3://inventory-dest/o/'")
    assert orc.reason.startswith("NOT_SUPPORTED: STORED AS ORC"), orc.reason


def test_the_worlds_own_inventory_reports_compare_equal_in_csv_and_parquet(athena: Any, world: World) -> None:
    s3 = world.client("s3", REGION)
    s3.create_bucket(Bucket="src-bucket")
    for key in ("a.txt", "dir/a b+c.txt", "z"):
        s3.put_object(Bucket="src-bucket", Key=key, Body=key.encode())
    for data_format in ("CSV", "Parquet"):
        config_id = f"cfg-{data_format.lower()}"
        s3.put_bucket_inventory_configuration(Bucket="src-bucket", Id=config_id, InventoryConfiguration={
            "Id": config_id, "IsEnabled": True, "IncludedObjectVersions": "Current", "Schedule": {"Frequency": "Daily"},
            "Destination": {"S3BucketDestination": {"Bucket": f"arn:aws:s3:::{INVENTORY}", "Format": data_format,
                                                    "Prefix": "reports"}},
            "OptionalFields": ["Size", "ETag"]})
    world.inventory.publish("src-bucket")
    hive = {data_format: next(o["Key"].rsplit("/", 1)[0] for o in s3.list_objects_v2(
        Bucket=INVENTORY, Prefix=f"reports/src-bucket/cfg-{data_format}/hive/")["Contents"]) for data_format in ("csv", "parquet")}
    columns = "`bucket` string, `key` string, `size` {size}, `e_tag` string"
    succeeded(athena, f"CREATE EXTERNAL TABLE inv.report_csv ({columns.format(size='string')}) "
                      "ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde' "
                      "STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat' "
                      "OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat' "
                      f"LOCATION 's3://{INVENTORY}/{hive['csv']}/'")
    succeeded(athena, f"CREATE EXTERNAL TABLE inv.report_parquet ({columns.format(size='bigint')}) "
                      "ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' "
                      "STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat' "
                      "OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat' "
                      f"LOCATION 's3://{INVENTORY}/{hive['parquet']}/'")
    done = succeeded(athena, """
        SELECT coalesce(c.key, p.key) AS key, c.key IS NOT NULL AND p.key IS NOT NULL
               AND cast(c.size AS bigint) = p.size AND c.e_tag = p.e_tag AS same
        FROM (SELECT url_decode(key) AS key, size, e_tag FROM "inv"."report_csv") c
        FULL OUTER JOIN "inv"."report_parquet" p ON c.key = p.key ORDER BY 1""")
    assert rows_of(athena, done.id) == [["key", "same"], ["a.txt", "true"], ["dir/a b+c.txt", "true"], ["z", "true"]]


def test_a_plain_location_reads_every_file_below_it_but_hidden_ones(athena: Any, world: World) -> None:
    s3 = world.client("s3", REGION)
    s3.put_object(Bucket=INVENTORY, Key="text/part-1.tsv", Body=b"a\t1\t\\N\nb\t2\tz\n")
    s3.put_object(Bucket=INVENTORY, Key="text/later/part-2.tsv.gz", Body=gzip.compress(b"c\t3\tq\n"))
    s3.put_object(Bucket=INVENTORY, Key="text/_SUCCESS", Body=b"not data")
    s3.put_object(Bucket=INVENTORY, Key="text/.part-1.tsv.crc", Body=b"not data")
    succeeded(athena, "CREATE EXTERNAL TABLE inv.tsv (k string, n int, z string) ROW FORMAT DELIMITED "
                      f"FIELDS TERMINATED BY '\\t' STORED AS TEXTFILE LOCATION 's3://{INVENTORY}/text/'")
    text = succeeded(athena, 'SELECT k, n * 10 AS n, z FROM "inv"."tsv" ORDER BY k')
    assert rows_of(athena, text.id) == [["k", "n", "z"], ["a", "10", None], ["b", "20", "z"], ["c", "30", "q"]]
    s3.put_object(Bucket=INVENTORY, Key="headed/h.csv", Body=b'name,n\n"x","5"\n"y",""\n')
    succeeded(athena, "CREATE EXTERNAL TABLE inv.headed (name string, n bigint) ROW FORMAT SERDE "
                      f"'org.apache.hadoop.hive.serde2.OpenCSVSerde' LOCATION 's3://{INVENTORY}/headed/' "
                      "TBLPROPERTIES ('skip.header.line.count'='1')")
    headed = succeeded(athena, 'SELECT name, n FROM "inv"."headed" ORDER BY name')
    assert rows_of(athena, headed.id) == [["name", "n"], ["x", "5"], ["y", None]]
