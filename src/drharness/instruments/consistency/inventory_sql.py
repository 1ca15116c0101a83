"""The one SQL query that compares two S3 Inventory reports, the same text on Athena and on DuckDB.

Each side's rows are reduced to the objects a listing would show (the latest version, not a delete marker,
under the compared prefix), keyed relative to that prefix. A FULL OUTER JOIN on the key then sorts every
key into missing (source only), extra (replica only), differing (size or ETag differ; the version id too
when both reports carry one) or same. The query answers two parts: the count of each (kind, source replication
status) — so the statuses come with the counts — and the first N keys of each divergent kind in key order.

Only functions both engines have, with the same meaning, are used (`substr`, `replace`, `url_decode`,
`coalesce`, `nullif`, `cast`, `lower`, `row_number`). CSV reports URL-encode the key; Trino's `url_decode`
turns `+` into a space and DuckDB's does not, so a `+` is spelled `%20` before decoding, which both read
as a space (a literal `+` is `%2B` in the report).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from drharness.errors import MeasurementError

REQUIRED = ("key", "size", "e_tag")
LACKS_FIELD = ("inventory report {label} has no {field} field: add Size and ETag to the inventory configuration's "
               "OptionalFields (the compare needs both)")
LACKS_MODIFIED = ("inventory report {label} has no last_modified_date field: add LastModifiedDate to the inventory "
                  "configuration's OptionalFields (the compare sets recent writes aside by it)")

# The columns of every answer row, in order.
ANSWER_COLUMNS = ("part", "kind", "k", "n", "source_size", "source_etag", "source_version",
                  "replica_size", "replica_etag", "replica_version")


@dataclass(frozen=True)
class SideSql:
    """One side as the query sees it: the table it reads, its columns, its format and compared prefix."""

    table: str  # a quoted, qualified name: "db"."table"
    columns: Sequence[str]
    format: str  # "CSV" | "Parquet"
    prefix: str
    label: str

    def check(self) -> None:
        for name in REQUIRED:
            if name not in self.columns:
                raise MeasurementError(LACKS_FIELD.format(label=self.label, field=name))


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _side_select(side: SideSql, with_version: bool) -> str:
    raw_key = "url_decode(replace(key, '+', '%20'))" if side.format == "CSV" else "cast(key AS varchar)"
    cut = len(side.prefix)
    key = f"substr({raw_key}, {cut + 1})" if cut else raw_key
    where = []
    if cut:
        where.append(f"substr({raw_key}, 1, {cut}) = {literal(side.prefix)}")
    if "is_latest" in side.columns:
        where.append("coalesce(lower(cast(is_latest AS varchar)), 'true') = 'true'")
    if "is_delete_marker" in side.columns:
        where.append("coalesce(lower(cast(is_delete_marker AS varchar)), 'false') <> 'true'")
    version = ("coalesce(nullif(cast(version_id AS varchar), ''), 'null')" if with_version
               else "cast(NULL AS varchar)")
    status = ("coalesce(cast(replication_status AS varchar), '')" if "replication_status" in side.columns
              else "cast(NULL AS varchar)")
    # "YYYY-MM-DD HH:MM:SS" from a Parquet timestamp (DuckDB's and Trino's text of it) or CSV's ISO 8601 text.
    modified = ("substr(replace(cast(last_modified_date AS varchar), 'T', ' '), 1, 19)"
                if "last_modified_date" in side.columns else "cast(NULL AS varchar)")
    return (f"SELECT {key} AS k, cast(nullif(cast(size AS varchar), '') AS bigint) AS size, "
            f"coalesce(cast(e_tag AS varchar), '') AS e_tag, {version} AS version_id, {status} AS status, "
            f"{modified} AS modified "
            f"FROM {side.table}" + (f" WHERE {' AND '.join(where)}" if where else ""))


def compare_query(source: SideSql, replica: SideSql, *, max_listed: int, modified_before: str | None = None) -> str:
    """The query text: counts, first differences and source replication statuses of the two reports.

    `modified_before` ("YYYY-MM-DD HH:MM:SS", UTC) sets aside, as kind "recent", every key modified at or
    after it on either side: written too late to be in both reports, replicated or not.
    """
    source.check()
    replica.check()
    recent = ""
    if modified_before is not None:
        for side in (source, replica):
            if "last_modified_date" not in side.columns:
                raise MeasurementError(LACKS_MODIFIED.format(label=side.label))
        cut = literal(modified_before)
        recent = f"WHEN coalesce(s.modified, '') >= {cut} OR coalesce(r.modified, '') >= {cut} THEN 'recent' "
    with_version = "version_id" in source.columns and "version_id" in replica.columns
    version_differs = " OR s.version_id <> r.version_id" if with_version else ""
    limit = max(int(max_listed), 0)
    return f"""WITH s AS ({_side_select(source, with_version)}),
r AS ({_side_select(replica, with_version)}),
j AS (
  SELECT coalesce(s.k, r.k) AS k,
    CASE {recent}WHEN r.k IS NULL THEN 'missing' WHEN s.k IS NULL THEN 'extra'
         WHEN coalesce(s.size, -1) <> coalesce(r.size, -1) OR s.e_tag <> r.e_tag{version_differs} THEN 'differing'
         ELSE 'same' END AS kind,
    s.size AS source_size, s.e_tag AS source_etag, s.version_id AS source_version, s.status AS source_status,
    r.size AS replica_size, r.e_tag AS replica_etag, r.version_id AS replica_version
  FROM s FULL OUTER JOIN r ON s.k = r.k
)
SELECT 'count' AS part, kind, source_status AS k, count(*) AS n,
  cast(NULL AS bigint) AS source_size, cast(NULL AS varchar) AS source_etag, cast(NULL AS varchar) AS source_version,
  cast(NULL AS bigint) AS replica_size, cast(NULL AS varchar) AS replica_etag, cast(NULL AS varchar) AS replica_version
FROM j GROUP BY kind, source_status
UNION ALL
SELECT 'first' AS part, kind, k, rn AS n, source_size, source_etag, source_version, replica_size, replica_etag,
  replica_version
FROM (SELECT j.*, row_number() OVER (PARTITION BY kind ORDER BY k) AS rn FROM j WHERE kind NOT IN ('same', 'recent')) t
WHERE rn <= {limit}"""
