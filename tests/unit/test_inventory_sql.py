"""The inventory compare's one query, run by DuckDB over report files on disk, against known differences."""

from __future__ import annotations

import csv
import gzip
import io
import urllib.parse
from pathlib import Path

import duckdb
import pytest

from drharness.errors import MeasurementError
from drharness.instruments.consistency.inventory import DuckDBEngine, InventorySide, compare_reports
from drharness.instruments.consistency.inventory_report import DataFile, InventoryReport, snake
from drharness.instruments.consistency.inventory_sql import SideSql, compare_query

CSV_FIELDS = ("Bucket", "Key", "VersionId", "IsLatest", "IsDeleteMarker", "Size", "ETag", "ReplicationStatus")


def _rows(objects: dict[str, tuple[int, str]], bucket: str, status: str, *, extra_rows=()) -> list[tuple]:
    rows = [(bucket, key, f"v-{etag}", True, False, size, etag, status) for key, (size, etag) in objects.items()]
    return sorted(rows + list(extra_rows), key=lambda r: r[1])


def _csv_report(tmp: Path, name: str, rows: list[tuple]) -> tuple[InventoryReport, list[Path]]:
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    for bucket, key, version, latest, marker, size, etag, status in rows:
        writer.writerow([bucket, urllib.parse.quote_plus(key, safe="/"), version, str(latest).lower(),
                         str(marker).lower(), "" if size is None else size, etag, status])
    path = tmp / f"{name}.csv.gz"
    path.write_bytes(gzip.compress(out.getvalue().encode()))
    columns = tuple(snake(f) for f in CSV_FIELDS)
    report = InventoryReport(name, "dest", f"{name}/manifest.json", "2026-12-04T20-00Z", 0, "CSV", columns,
                             (DataFile(path.name, path.stat().st_size, ""),), f"{name}/hive/dt=x/symlink.txt")
    return report, [path]


def _parquet_report(tmp: Path, name: str, rows: list[tuple]) -> tuple[InventoryReport, list[Path]]:
    path = tmp / f"{name}.parquet"
    con = duckdb.connect()
    con.execute("CREATE TABLE t (bucket VARCHAR, key VARCHAR, version_id VARCHAR, is_latest BOOLEAN, "
                "is_delete_marker BOOLEAN, size BIGINT, e_tag VARCHAR, replication_status VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.execute(f"COPY t TO '{path}' (FORMAT PARQUET)")
    columns = ("bucket", "key", "version_id", "is_latest", "is_delete_marker", "size", "e_tag", "replication_status")
    report = InventoryReport(name, "dest", f"{name}/manifest.json", "2026-12-04T20-00Z", 0, "Parquet", columns,
                             (DataFile(path.name, path.stat().st_size, ""),), f"{name}/hive/dt=x/symlink.txt")
    return report, [path]


class _LocalEngine(DuckDBEngine):
    """The DuckDB engine over files already on disk (the client argument is the files)."""

    def attach(self, report, client, alias):  # type: ignore[override]
        return self.attach_files(report, client, alias)


SOURCE = {f"data/k{i:03d}": (100 + i, f"e{i}") for i in range(50)}
SOURCE |= {"data/with space+plus é.bin": (7, "es"), "other/outside": (1, "o")}


def _replica() -> dict[str, tuple[int, str]]:
    replica = dict(SOURCE)
    for key in ("data/k003", "data/k010", "data/k011"):
        del replica[key]  # missing
    replica["data/k020"] = (999, "e20")  # differing size
    replica["data/k021"] = (121, "changed")  # differing etag
    replica["data/zz-extra"] = (5, "x")  # extra
    return replica


@pytest.mark.parametrize("make", [_csv_report, _parquet_report], ids=["csv", "parquet"])
def test_the_query_finds_exactly_the_seeded_differences(tmp_path: Path, make) -> None:
    old_version = ("src", "data/k030", "v-old", False, False, 1, "old", "COMPLETED")  # not the latest: ignored
    marker = ("rep", "data/k003", "v-dm", True, True, None, "", "REPLICA")  # a delete marker: not an object
    src = make(tmp_path, "src", _rows(SOURCE, "src", "COMPLETED", extra_rows=[old_version]))
    rep = make(tmp_path, "rep", [r for r in _rows(_replica(), "rep", "REPLICA") if r[1] != "data/k003"] + [marker])
    engine = _LocalEngine()
    try:
        report = compare_reports(InventorySide(None, "src", "data/"), InventorySide(None, "rep", "data/"),
                                 (src[0], src[1]), (rep[0], rep[1]), engine, max_listed=2)
    finally:
        engine.close()
    assert (report.missing_count, report.extra_count, report.differing_count) == (3, 1, 2)
    assert report.first_missing == ("k003", "k010")  # the first two, in key order, relative to the prefix
    assert report.first_extra == ("zz-extra",)
    assert [d.key for d in report.first_differing] == ["k020", "k021"]
    assert report.first_differing[0].source == "size=120 etag=e20 version=v-e20"
    assert report.source_count == 51 and report.replica_count == 49  # "other/" is outside the prefix
    assert report.details["source_replication_status"] == {"COMPLETED": 51}
    assert report.method == "inventory" and report.details["engine"] == "duckdb"


def test_a_key_with_spaces_plus_signs_and_accents_matches_across_formats(tmp_path: Path) -> None:
    src = _csv_report(tmp_path, "src", _rows(SOURCE, "src", "COMPLETED"))
    rep = _parquet_report(tmp_path, "rep", _rows(SOURCE, "rep", "REPLICA"))
    engine = _LocalEngine()
    try:
        report = compare_reports(InventorySide(None, "src"), InventorySide(None, "rep"), src, rep, engine)
    finally:
        engine.close()
    assert report.equal, report.summary()
    assert report.compared_count == len(SOURCE)


def test_a_report_without_size_or_etag_is_refused_naming_the_field() -> None:
    side = SideSql('"d"."t"', ("bucket", "key", "size"), "Parquet", "", "s3://dest/m.json")
    with pytest.raises(MeasurementError, match="no e_tag field.*OptionalFields"):
        compare_query(side, side, max_listed=1)


def test_csv_schema_names_become_the_parquet_names() -> None:
    assert [snake(f) for f in ("ETag", "IsLatest", "VersionId", "IsMultipartUploaded", "ChecksumAlgorithm")] == [
        "e_tag", "is_latest", "version_id", "is_multipart_uploaded", "checksum_algorithm"]


def _modified_report(tmp: Path, name: str, rows: list[tuple]) -> tuple[InventoryReport, list[Path]]:
    path = tmp / f"{name}.parquet"
    con = duckdb.connect()
    con.execute("CREATE TABLE t (bucket VARCHAR, key VARCHAR, size BIGINT, last_modified_date TIMESTAMP, "
                "e_tag VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", rows)
    con.execute(f"COPY t TO '{path}' (FORMAT PARQUET)")
    columns = ("bucket", "key", "size", "last_modified_date", "e_tag")
    report = InventoryReport(name, "dest", f"{name}/manifest.json", "2026-12-04T20-00Z", 0, "Parquet", columns,
                             (DataFile(path.name, path.stat().st_size, ""),), f"{name}/hive/dt=x/symlink.txt")
    return report, [path]


def test_writes_after_the_cutoff_are_set_aside_and_counted_not_judged(tmp_path: Path) -> None:
    import datetime as dt

    old, new = dt.datetime(2026, 12, 4, 10, 0, 0), dt.datetime(2026, 12, 4, 12, 0, 0)
    src = _modified_report(tmp_path, "src", [("s", "a", 1, old, "e1"), ("s", "b", 1, new, "e2"),
                                             ("s", "c", 1, old, "e3"), ("s", "d", 1, new, "e4")])
    rep = _modified_report(tmp_path, "rep", [("r", "a", 1, old, "e1"), ("r", "b", 1, old, "stale"),
                                             ("r", "e", 1, new, "e5")])
    cutoff = dt.datetime(2026, 12, 4, 11, 0, 0, tzinfo=dt.timezone.utc)
    engine = _LocalEngine()
    try:
        report = compare_reports(InventorySide(None, "s"), InventorySide(None, "r"), src, rep, engine,
                                 max_listed=5, modified_before=cutoff)
    finally:
        engine.close()
    # b (rewritten at 12:00), d (new at 12:00) and e (replica-only, 12:00) are too recent to judge; c is missing.
    assert (report.missing_count, report.extra_count, report.differing_count) == (1, 0, 0)
    assert report.first_missing == ("c",)
    assert report.details["recent_count"] == 3 and report.details["modified_before"].startswith("2026-12-04T11:00")
