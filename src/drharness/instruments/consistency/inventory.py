"""S3 consistency at rest: a source bucket against its replica from their S3 Inventory reports.

A listing compare costs a request per 1,000 keys per side; at 10^9 objects that is hours. S3 Inventory
already holds every object's key, size, ETag and replication status, so the compare reads the newest
complete report of each side (`inventory_report`: checksums, files and symlink verified, else an error
naming the file) and runs one SQL query over both (`inventory_sql`), on one of two engines:

- `DuckDBEngine` fetches the data files (each checked against its manifest MD5) and runs the query
  in-process: offline, or on one machine for reports up to some 10^7-10^8 objects.
- `AthenaEngine` declares an external table over each report's hive symlink folder and runs the same
  query on Athena; nothing but the query runs on the caller's machine, and the answer is a few rows.

Both give the `ConsistencyReport` of the listing compare (missing, extra, differing, first keys of each),
with method "inventory"; the source's replication status counts and the reports used are its details.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import duckdb
from botocore.exceptions import BotoCoreError, ClientError

from drharness.errors import MeasurementError
from drharness.instruments.consistency.inventory_report import (
    InventoryReport,
    download,
    inventory_config,
    newest_report,
)
from drharness.instruments.consistency.inventory_sql import (
    ANSWER_COLUMNS,
    SideSql,
    compare_query,
    literal,
)
from drharness.instruments.consistency.report import (
    DEFAULT_MAX_LISTED,
    ConsistencyReport,
    Divergence,
    started_now,
)
from drharness.timefmt import iso
from drharness.waiting import wait_until

DATABASE = "drharness"
# DuckDB's buffer budget (it spills to the scratch folder beyond it): 10^7 objects a side compare in some 7 s
# within 600 MiB of RSS on two cores (benchmarks/README.md), where an unbounded run takes 1.5 GiB.
MEMORY_LIMIT = "512MB"
ATHENA_TIMEOUT_S = 3600.0
QUERY_FAILED = "the {engine} query over {labels} failed: {reason}"
ATHENA_CALL_FAILED = "Athena {operation} failed: {code}: {message}"
ATHENA_UNREACHABLE = "cannot reach Athena: {error}; check the endpoint, the region or the network"
ATHENA_TIMED_OUT = ("Athena query {query_id} did not finish in {timeout:g} s (last state {state}); it was stopped; "
                    "raise the timeout or check the work group's capacity")
_HIVE_TYPES = {"binary": "string", "int64": "bigint", "int32": "int", "boolean": "boolean", "double": "double"}
_PARQUET_USED = {"key": "string", "version_id": "string", "is_latest": "boolean", "is_delete_marker": "boolean",
                 "size": "bigint", "e_tag": "string", "replication_status": "string"}
CSV_SERDE = "org.apache.hadoop.hive.serde2.OpenCSVSerde"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
SYMLINK_INPUT = "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat"
TEXT_OUTPUT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"


@dataclass(frozen=True)
class InventorySide:
    """One side: a client in the bucket's region, the bucket, the compared prefix, the configuration's id."""

    client: Any
    bucket: str
    prefix: str = ""
    config_id: str | None = None

    @property
    def label(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


class QueryEngine(Protocol):
    """Where the compare's SQL runs: each report becomes a table, then one query reads both."""

    name: str

    def attach(self, report: InventoryReport, client: Any, alias: str) -> str:
        """Make `report` a table; the quoted, qualified name the query uses."""
        ...

    def query(self, sql: str, labels: str) -> list[tuple[Any, ...]]: ...

    def close(self) -> None: ...


class DuckDBEngine:
    """The query in-process: each report's data files fetched (MD5-checked) into a scratch folder.

    `memory_limit` bounds DuckDB's buffers (the join spills to disk beyond it); None lets DuckDB take 80 %
    of the machine's memory."""

    name = "duckdb"

    def __init__(self, *, workdir: Path | None = None, memory_limit: str | None = MEMORY_LIMIT, threads: int | None = None,
                 workers: int = 8) -> None:
        self._scratch = Path(tempfile.mkdtemp(prefix="drharness-inventory-", dir=workdir))
        self._db = duckdb.connect(config={"temp_directory": str(self._scratch / "spill")})
        if memory_limit:
            self._db.execute(f"SET memory_limit = {literal(memory_limit)}")
        if threads:
            self._db.execute(f"SET threads = {int(threads)}")
        self._db.execute(f'CREATE SCHEMA IF NOT EXISTS "{DATABASE}"')
        self._workers = workers

    def attach(self, report: InventoryReport, client: Any, alias: str) -> str:
        files = download(client, report, self._scratch / alias, workers=self._workers)
        return self.attach_files(report, files, alias)

    def attach_files(self, report: InventoryReport, files: Sequence[Path], alias: str) -> str:
        """Make a table of data files already on disk (verified by the caller)."""
        name = f'"{DATABASE}"."{alias}"'
        paths = "[" + ", ".join(literal(str(p)) for p in files) + "]"
        if report.format == "CSV":
            columns = "{" + ", ".join(f"{literal(c)}: 'VARCHAR'" for c in report.columns) + "}"
            source = (f"read_csv({paths}, header = false, delim = ',', quote = '\"', escape = '\"', "
                      f"columns = {columns}, compression = 'gzip', auto_detect = false)")
        else:
            source = f"read_parquet({paths})"
        if not files:  # a report of an empty bucket: a table with its columns and no rows
            source = "(SELECT " + ", ".join(f"cast(NULL AS VARCHAR) AS {c}" for c in report.columns) + " WHERE false)"
        self._db.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {source}")
        return name

    def query(self, sql: str, labels: str) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(sql).fetchall()
        except duckdb.Error as exc:
            raise MeasurementError(QUERY_FAILED.format(engine=self.name, labels=labels, reason=exc)) from exc

    def close(self) -> None:
        self._db.close()
        shutil.rmtree(self._scratch, ignore_errors=True)


class AthenaEngine:
    """The query on Athena: an external table over each report's hive symlink folder, dropped afterwards."""

    name = "athena"

    def __init__(self, client: Any, output_location: str, *, database: str = DATABASE, workgroup: str | None = None,
                 poll_interval_s: float = 1.0, timeout_s: float = ATHENA_TIMEOUT_S) -> None:
        self._client = client
        self._output = output_location if output_location.endswith("/") else output_location + "/"
        self._database = database
        self._workgroup = workgroup
        self._poll = poll_interval_s
        self._timeout = timeout_s
        self._tables: list[str] = []
        self._run = uuid.uuid4().hex[:10]
        self._statement(f"CREATE DATABASE IF NOT EXISTS `{database}`", "the database")

    def attach(self, report: InventoryReport, client: Any, alias: str) -> str:
        table = f"drharness_{self._run}_{alias}"
        if report.format == "CSV":
            columns = ", ".join(f"`{c}` string" for c in report.columns)
            serde = CSV_SERDE
        else:
            columns = ", ".join(f"`{c}` {kind}" for c, kind in _PARQUET_USED.items() if c in report.columns)
            serde = PARQUET_SERDE
        self._tables.append(table)
        self._statement(
            f"CREATE EXTERNAL TABLE `{self._database}`.`{table}` ({columns}) ROW FORMAT SERDE '{serde}' "
            f"STORED AS INPUTFORMAT '{SYMLINK_INPUT}' OUTPUTFORMAT '{TEXT_OUTPUT}' "
            f"LOCATION '{report.hive_location}'", report.label)
        return f'"{self._database}"."{table}"'

    def query(self, sql: str, labels: str) -> list[tuple[Any, ...]]:
        query_id = self._statement(sql, labels)
        rows: list[tuple[Any, ...]] = []
        kwargs: dict[str, Any] = {"QueryExecutionId": query_id, "MaxResults": 1000}
        first = True
        while True:
            page = self._call("get_query_results", **kwargs)
            data = page.get("ResultSet", {}).get("Rows", [])
            if first and data:  # Athena's first row of a SELECT is the header
                data = data[1:]
            first = False
            rows.extend(tuple(cell.get("VarCharValue") for cell in row.get("Data", [])) for row in data)
            if not page.get("NextToken"):
                return rows
            kwargs["NextToken"] = page["NextToken"]

    def close(self) -> None:
        for table in self._tables:
            self._statement(f"DROP TABLE IF EXISTS `{self._database}`.`{table}`", table)
        self._tables.clear()

    def _call(self, method_name: str, **kwargs: Any) -> dict[str, Any]:
        operation = self._client.meta.method_to_api_mapping.get(method_name, method_name)
        try:
            return getattr(self._client, method_name)(**kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise MeasurementError(ATHENA_CALL_FAILED.format(operation=operation, code=error.get("Code", "Unknown"),
                                                             message=error.get("Message", exc))) from exc
        except BotoCoreError as exc:
            raise MeasurementError(ATHENA_UNREACHABLE.format(error=exc)) from exc

    def _statement(self, sql: str, labels: str) -> str:
        """Run one statement to its end; its id (an error with Athena's reason if it failed)."""
        kwargs: dict[str, Any] = {"QueryString": sql, "ResultConfiguration": {"OutputLocation": self._output},
                                  "QueryExecutionContext": {"Database": self._database}}
        if self._workgroup:
            kwargs["WorkGroup"] = self._workgroup
        query_id = self._call("start_query_execution", **kwargs)["QueryExecutionId"]

        def finished() -> dict[str, Any] | None:
            status = self._call("get_query_execution", QueryExecutionId=query_id)["QueryExecution"]["Status"]
            return status if status.get("State") in ("SUCCEEDED", "FAILED", "CANCELLED") else None

        outcome = wait_until(finished, self._timeout, self._poll, what=f"Athena query {query_id}")
        if not outcome.ok:
            self._call("stop_query_execution", QueryExecutionId=query_id)
            raise MeasurementError(ATHENA_TIMED_OUT.format(query_id=query_id, timeout=self._timeout, state="RUNNING"))
        status = outcome.value or {}
        if status.get("State") != "SUCCEEDED":
            reason = status.get("StateChangeReason") or status.get("State")
            raise MeasurementError(QUERY_FAILED.format(engine=self.name, labels=labels, reason=reason))
        return query_id


def compare_inventories(
    source: InventorySide, replica: InventorySide, engine: QueryEngine, *, max_listed: int = DEFAULT_MAX_LISTED,
    settle_seconds: float | None = None,
) -> ConsistencyReport:
    """Compare the newest complete inventory reports of two buckets (or prefixes) with `engine`.

    With `settle_seconds`, keys modified less than that before the earlier report are set aside (a write
    that recent may not have replicated when the reports were made)."""
    started, start = started_now(), time.monotonic()
    reports = []
    for side in (source, replica):
        config = inventory_config(side.client, side.bucket, side.config_id)
        # S3 Inventory publishes to a bucket in the source's own region: the side's client reads it.
        reports.append((newest_report(side.client, config), side.client))
    try:
        cutoff = None
        if settle_seconds is not None:
            earliest = min(report.creation_timestamp_ms for report, _ in reports) / 1000
            cutoff = dt.datetime.fromtimestamp(earliest - settle_seconds, dt.timezone.utc)
        return compare_reports(source, replica, reports[0], reports[1], engine, max_listed=max_listed,
                               started=(started, start), modified_before=cutoff)
    finally:
        engine.close()


def compare_reports(
    source: InventorySide, replica: InventorySide, src: tuple[InventoryReport, Any], rep: tuple[InventoryReport, Any],
    engine: QueryEngine, *, max_listed: int = DEFAULT_MAX_LISTED, started: tuple[str, float] | None = None,
    modified_before: dt.datetime | None = None,
) -> ConsistencyReport:
    """Run the compare query over two verified reports (the engine is left open for the caller to close).

    `modified_before` sets aside the keys written at or after it on either side (counted as recent):
    reports are made at different times, and a write after the earlier one cannot be in both."""
    started_at, start = started or (started_now(), time.monotonic())
    src_table = engine.attach(src[0], src[1], "source")
    rep_table = engine.attach(rep[0], rep[1], "replica")
    labels = f"{src[0].label} and {rep[0].label}"
    sql = compare_query(SideSql(src_table, src[0].columns, src[0].format, source.prefix, src[0].label),
                        SideSql(rep_table, rep[0].columns, rep[0].format, replica.prefix, rep[0].label),
                        max_listed=max_listed, modified_before=_sql_time(modified_before))
    rows = engine.query(sql, labels)
    return answer_report(rows, source=source.label, replica=replica.label, max_listed=max_listed,
                         details={"engine": engine.name, "source_report": src[0].label,
                                  "replica_report": rep[0].label,
                                  **({"modified_before": iso(modified_before)} if modified_before else {})},
                         duration_seconds=time.monotonic() - start, started_at=started_at)


def _sql_time(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _int(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def _describe(size: Any, etag: Any, version: Any) -> str:
    text = f"size={_int(size)} etag={etag or ''}"
    return f"{text} version={version}" if version not in (None, "") else text


def answer_report(
    rows: Sequence[Sequence[Any]], *, source: str, replica: str, max_listed: int, details: dict[str, Any],
    duration_seconds: float, started_at: str,
) -> ConsistencyReport:
    """Turn the query's answer rows (`ANSWER_COLUMNS`, typed or Athena's strings) into the compare's report."""
    counts = {"missing": 0, "extra": 0, "differing": 0, "same": 0, "recent": 0}
    statuses: dict[str, int] = {}
    firsts: dict[str, list[tuple[str, Any]]] = {"missing": [], "extra": [], "differing": []}
    for row in rows:
        values = dict(zip(ANSWER_COLUMNS, row))
        kind, n = str(values["kind"]), _int(values["n"]) or 0
        if values["part"] == "count":
            counts[kind] = counts.get(kind, 0) + n
            if kind not in ("extra", "recent") and values["k"] is not None:
                statuses[str(values["k"]) or "(none)"] = statuses.get(str(values["k"]) or "(none)", 0) + n
        elif values["part"] == "first":
            firsts[kind].append((str(values["k"]), values))
    for listed in firsts.values():
        listed.sort(key=lambda item: item[0])
    differing = tuple(
        Divergence(key, _describe(v["source_size"], v["source_etag"], v["source_version"]),
                   _describe(v["replica_size"], v["replica_etag"], v["replica_version"]))
        for key, v in firsts["differing"])
    both = counts["same"] + counts["differing"]
    return ConsistencyReport(
        store="s3", source=source, replica=replica, method="inventory",
        compared_count=both + counts["missing"] + counts["extra"],
        source_count=both + counts["missing"], replica_count=both + counts["extra"],
        missing_count=counts["missing"], extra_count=counts["extra"], differing_count=counts["differing"],
        first_missing=tuple(k for k, _ in firsts["missing"]), first_extra=tuple(k for k, _ in firsts["extra"]),
        first_differing=differing, max_listed=max_listed, duration_seconds=duration_seconds, started_at=started_at,
        details={**details, "source_replication_status": dict(sorted(statuses.items())),
                 **({"recent_count": counts["recent"]} if "modified_before" in details else {})},
    )
