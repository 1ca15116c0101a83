"""One SELECT run as Athena would run it, by DuckDB over the tables' files in the world's S3.

Each query gets a fresh in-memory DuckDB connection. Every table the query names (`"db"."t"`,
`awsdatacatalog.db.t`, or unqualified in QueryExecutionContext.Database) becomes a VIEW in a schema named
like its database, inside a catalog named `awsdatacatalog`, over the table's files (`sources.py`);
the query text then runs unchanged. The dialect is DuckDB's, set where Trino (Athena engine version 3,
https://docs.aws.amazon.com/athena/latest/ug/functions-env3.html) differs in a way a comparison query meets:
integer division truncates (`integer_division`), `url_decode` reads '+' as a space, and an unnamed result
column is labelled `_col0`, `_col1`, ... as Athena labels it. Once the views exist the connection may read
nothing but the query's own work folder.

Failures are worded as Athena words them, `ERROR_NAME: line L:C: message`
(https://docs.aws.amazon.com/athena/latest/ug/troubleshooting-athena.html): SYNTAX_ERROR,
TABLE_NOT_FOUND, SCHEMA_NOT_FOUND, COLUMN_NOT_FOUND, FUNCTION_NOT_FOUND, INVALID_CAST_ARGUMENT,
HIVE_BAD_DATA; the message after the location is DuckDB's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from drharness.world.services.athena.catalog import Catalog
from drharness.world.services.athena.ddl import PARQUET, TableDef
from drharness.world.services.athena.models import (
    CATALOG,
    SYSTEM_ERROR,
    QueryFailure,
    Result,
)
from drharness.world.services.athena.results import athena_column, athena_text
from drharness.world.services.athena.sources import (
    TableFiles,
    parquet_schema_sql,
    quote_name,
    table_select,
)

_FETCH_ROWS = 10_000
# Trino functions whose DuckDB namesake differs, as macros over it: Trino's url_decode reads '+' as a space
# (S3 Inventory's CSV writes a key's spaces so), DuckDB's keeps it.
_TRINO_FUNCTIONS = ("CREATE TEMP MACRO url_decode(s) AS system.main.url_decode(replace(s, '+', ' '))",)
_DETAIL_CHARS = 600
_ERRORS: tuple[tuple[type[Exception], str, str], ...] = (
    # (DuckDB error, text in its message or '', Athena's error name), the first match wins
    (duckdb.ParserException, "", "SYNTAX_ERROR"),
    (duckdb.CatalogException, "Table with name", "TABLE_NOT_FOUND"),
    (duckdb.CatalogException, "Function with name", "FUNCTION_NOT_FOUND"),
    (duckdb.BinderException, "Referenced column", "COLUMN_NOT_FOUND"),
    (duckdb.BinderException, "No function matches", "FUNCTION_NOT_FOUND"),
    (duckdb.ConversionException, "", "INVALID_CAST_ARGUMENT"),
    (duckdb.OutOfRangeException, "", "NUMERIC_VALUE_OUT_OF_RANGE"),
    (duckdb.InvalidInputException, "", "HIVE_BAD_DATA"),
    (duckdb.IOException, "", "HIVE_BAD_DATA"),
    (duckdb.PermissionException, "", "PERMISSION_DENIED"),
    (duckdb.CatalogException, "", "SYNTAX_ERROR"),
    (duckdb.BinderException, "", "SYNTAX_ERROR"),
)


@dataclass(frozen=True)
class TableRef:
    """A table a query names, resolved against the context database; `at` is its offset in the query text."""

    database: str
    name: str
    at: int


@dataclass(frozen=True)
class Scope:
    """Where a query runs: whose catalog, which region, which database unqualified names are in."""

    catalog: Catalog
    account: str
    region: str
    database: str


def run_select(sql: str, scope: Scope, files: TableFiles, workdir: Path,
               on_connection: Callable[[Any], None]) -> Result:
    """Run one SELECT / WITH query; `on_connection` is given the DuckDB connection, so it can be interrupted."""
    connection = duckdb.connect(":memory:")
    on_connection(connection)
    try:
        tree = _parse(connection, sql)
        tables = {(t.database, t.name): t for t in _resolve(sql, scope, tree)}
        scanned = _views(connection, scope, tables, files)
        _confine(connection, workdir, scope.database)
        try:
            cursor = connection.execute(sql)
        except duckdb.Error as exc:
            raise _failure(exc, sql) from exc
        columns = tuple(athena_column(name, str(kind)) for name, kind in
                        zip(_labels(tree, [d[0] for d in cursor.description]), [d[1] for d in cursor.description]))
        try:
            rows = tuple(_rows(cursor, [c.type for c in columns]))
        except duckdb.Error as exc:
            raise _failure(exc, sql) from exc
        return Result(columns, rows, scanned)
    finally:
        connection.close()


def _parse(connection: Any, sql: str) -> dict[str, Any]:
    """The query's syntax tree (DuckDB's JSON form); a SYNTAX_ERROR where it does not parse."""
    tree = json.loads(connection.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])
    if tree.get("error"):
        position = int(tree.get("position") or 0)
        raise QueryFailure(f"SYNTAX_ERROR: {_line_column(sql, position)}: {tree.get('error_message', 'syntax error')}")
    if len(tree.get("statements") or []) != 1:
        raise QueryFailure("SYNTAX_ERROR: line 1:1: a query runs exactly one statement; send the others one by one")
    return tree


def _line_column(sql: str, offset: int) -> str:
    line = sql.count("\n", 0, offset) + 1
    return f"line {line}:{offset - (sql.rfind(chr(10), 0, offset) + 1) + 1}"


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _resolve(sql: str, scope: Scope, tree: dict[str, Any]) -> list[TableDef]:
    """The tables the query names, each found in the catalog, or the query's TABLE/SCHEMA_NOT_FOUND failure."""
    nodes = list(_walk(tree))
    ctes = {str(entry.get("key", "")).lower() for node in nodes if isinstance(node.get("cte_map"), dict)
            for entry in node["cte_map"].get("map") or []}
    found = []
    for node in nodes:
        if node.get("type") != "BASE_TABLE" or "table_name" not in node:
            continue
        catalog, schema = str(node.get("catalog_name") or "").lower(), str(node.get("schema_name") or "").lower()
        name = str(node["table_name"]).lower()
        where = _line_column(sql, int(node.get("query_location") or 0))
        if not schema and name in ctes:
            continue
        if catalog and catalog != CATALOG:
            raise QueryFailure(f"CATALOG_NOT_FOUND: {where}: Catalog '{catalog}' does not exist (the world has "
                               f"{CATALOG} only)")
        database = schema or scope.database
        table = scope.catalog.table(scope.account, scope.region, database, name)
        if table is None:
            if not scope.catalog.has_database(scope.account, scope.region, database):
                raise QueryFailure(f"SCHEMA_NOT_FOUND: {where}: Schema '{database}' does not exist")
            raise QueryFailure(f"TABLE_NOT_FOUND: {where}: Table '{CATALOG}.{database}.{name}' does not exist")
        found.append(table)
    return found


def _views(connection: Any, scope: Scope, tables: dict[tuple[str, str], TableDef], files: TableFiles) -> int:
    """Make each table a view over its fetched files; the bytes read from S3."""
    connection.execute(f"ATTACH ':memory:' AS {CATALOG}")
    scanned = 0
    for database in sorted({scope.database, *(db for db, _ in tables)}):
        connection.execute(f"CREATE SCHEMA {CATALOG}.{quote_name(database)}")
    for (database, name), table in sorted(tables.items()):
        fetched = files.fetch(table)
        scanned += fetched.scanned_bytes
        parquet_columns: list[str] = []
        try:
            if table.data_format == PARQUET and fetched.paths:
                parquet_columns = [str(row[0]) for row in connection.execute(parquet_schema_sql(fetched.paths)).fetchall()]
            select = table_select(table, fetched.paths, parquet_columns)
            connection.execute(f"CREATE VIEW {CATALOG}.{quote_name(database)}.{quote_name(name)} AS {select}")
        except duckdb.Error as exc:
            raise QueryFailure(f"HIVE_BAD_DATA: table {database}.{name} ({table.data_format} files under "
                               f"{table.location}) cannot be read: {_detail(str(exc))}") from exc
    return scanned


def _confine(connection: Any, workdir: Path, database: str) -> None:
    """Trino semantics where they differ, then no file access beyond the query's own folder."""
    spill = workdir / "spill"
    spill.mkdir(exist_ok=True)
    for statement in (f"USE {CATALOG}.{quote_name(database)}", "SET integer_division = true", *_TRINO_FUNCTIONS,
                      f"SET temp_directory = '{spill}'", f"SET allowed_directories = ['{workdir}/']",
                      "SET enable_external_access = false", "SET lock_configuration = true"):
        connection.execute(statement)


def _labels(tree: dict[str, Any], names: list[str]) -> list[str]:
    """Athena's column labels: an alias or a column's name as DuckDB gives them, `_colN` for an unnamed expression."""
    node = tree["statements"][0]["node"]
    while node.get("type") == "SET_OPERATION_NODE":
        node = node.get("left") or (node.get("children") or [{}])[0]
    items = node.get("select_list") or []
    if node.get("type") != "SELECT_NODE" or len(items) != len(names) or any(i.get("class") == "STAR" for i in items):
        return names
    return [name if item.get("alias") or item.get("class") == "COLUMN_REF" else f"_col{index}"
            for index, (item, name) in enumerate(zip(items, names))]


def _rows(cursor: Any, types: list[str]) -> Iterator[tuple[str | None, ...]]:
    while True:
        batch = cursor.fetchmany(_FETCH_ROWS)
        if not batch:
            return
        for row in batch:
            yield tuple(athena_text(value, kind) for value, kind in zip(row, types))


def _detail(message: str) -> str:
    """DuckDB's message without its error class and the query context it shows: lines joined, kept short."""
    lines = []
    for line in message.split("\n"):
        if line.startswith(("LINE ", "Possible fixes", "* ")):
            break
        if line.strip():
            lines.append(line.strip())
    text = re.sub(r"^[A-Za-z ]+ Error: ", "", "; ".join(lines))
    return text if len(text) <= _DETAIL_CHARS else text[:_DETAIL_CHARS - 3] + "..."


def _failure(exc: duckdb.Error, sql: str) -> QueryFailure:
    """A DuckDB error as Athena words the failure."""
    message = str(exc)
    text = _detail(message)
    for kind, needle, name in _ERRORS:
        if isinstance(exc, kind) and needle in message:
            location = _error_location(message, sql)
            return QueryFailure(f"{name}: {location + ': ' if location else ''}{text}")
    return QueryFailure(f"GENERIC_INTERNAL_ERROR: {text}", SYSTEM_ERROR)


def _error_location(message: str, sql: str) -> str:
    """'line L:C' of a DuckDB error's caret, when the line it shows is the query's own."""
    match = re.search(r"LINE (\d+): (.*)\n( *)\^", message)
    if match is None:
        return ""
    number, shown = int(match.group(1)), match.group(2)
    caret = len(match.group(3)) - len(f"LINE {number}: ")
    lines = sql.split("\n")
    if number > len(lines):
        return ""
    lead = 3 if shown.startswith("...") else 0
    body = shown[lead:].removesuffix("...")
    offset = lines[number - 1].find(body)
    return f"line {number}:{offset - lead + caret + 1}" if offset >= 0 and body else ""
