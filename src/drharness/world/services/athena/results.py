"""A query's result as Athena hands it over: typed columns, values as text, pages of rows, the CSV file.

GetQueryResults (https://docs.aws.amazon.com/athena/latest/APIReference/API_GetQueryResults.html) gives a
SELECT's rows with a header row first, every value as `VarCharValue` text (a NULL has none) and the
columns' Athena type names in `ResultSetMetadata.ColumnInfo`. The result file is CSV with a header row,
every value in double quotes and a NULL as an empty field
(https://docs.aws.amazon.com/athena/latest/ug/querying.html#query-results-specify-location). Values are
written as Trino writes them: booleans `true`/`false`, doubles as Java prints them (`1.0E10`),
timestamps to the millisecond, arrays `[a, b]`, rows and maps `{k=v}`.
"""

from __future__ import annotations

import datetime
import decimal
import math
import re
import struct
import uuid
from typing import Any

from drharness.world.services.athena.models import Column, Result

_TYPES = {  # DuckDB type -> (Athena type, precision)
    "VARCHAR": ("varchar", 2147483647), "JSON": ("json", 0), "UUID": ("uuid", 0), "BOOLEAN": ("boolean", 0),
    "HUGEINT": ("bigint", 19), "UHUGEINT": ("bigint", 19), "BIGINT": ("bigint", 19), "UBIGINT": ("bigint", 19),
    "INTEGER": ("integer", 10), "UINTEGER": ("bigint", 19), "SMALLINT": ("smallint", 5), "USMALLINT": ("integer", 10),
    "TINYINT": ("tinyint", 3), "UTINYINT": ("smallint", 5), "DOUBLE": ("double", 17), "FLOAT": ("real", 7),
    "DATE": ("date", 0), "TIME": ("time", 3), "TIMESTAMP": ("timestamp", 3), "TIMESTAMP_S": ("timestamp", 3),
    "TIMESTAMP_MS": ("timestamp", 3), "TIMESTAMP_NS": ("timestamp", 3),
    "TIMESTAMP WITH TIME ZONE": ("timestamp with time zone", 3), "BLOB": ("varbinary", 2147483647),
    "INTERVAL": ("interval day to second", 0), "NULL": ("unknown", 0), "\"NULL\"": ("unknown", 0),
}


def athena_column(name: str, duck_type: str) -> Column:
    """The Athena column for a DuckDB result column."""
    kind = duck_type.upper()
    if kind in _TYPES:
        athena, precision = _TYPES[kind]
        return Column(name, athena, precision)
    decimal_type = re.match(r"^DECIMAL\((\d+),\s*(\d+)\)$", kind)
    if decimal_type:
        return Column(name, "decimal", int(decimal_type.group(1)), int(decimal_type.group(2)))
    if kind.endswith("]"):
        return Column(name, "array")
    if kind.startswith("STRUCT"):
        return Column(name, "row")
    if kind.startswith("MAP"):
        return Column(name, "map")
    return Column(name, "varchar", 2147483647)  # ENUM, UNION, BIT: as text


def athena_text(value: Any, athena_type: str = "") -> str | None:
    """A value as Athena's results show it; None for NULL."""
    if value is None:
        return None
    return _text(value, athena_type)


def _text(value: Any, athena_type: str) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return java_double(_shortest_real(value) if athena_type == "real" else value)
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, datetime.datetime):
        return _timestamp(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat(timespec="milliseconds") if isinstance(value, datetime.time) else value.isoformat()
    if isinstance(value, datetime.timedelta):
        seconds, micros = divmod(value.seconds * 1_000_000 + value.microseconds, 1_000_000)
        hours, rest = divmod(seconds, 3600)
        return f"{value.days} {hours:02d}:{rest // 60:02d}:{rest % 60:02d}.{micros // 1000:03d}"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex(" ")
    if isinstance(value, list):
        return "[" + ", ".join(_text(v, "") for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_text(k, '')}={_text(v, '')}" for k, v in value.items()) + "}"
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


def _timestamp(value: datetime.datetime) -> str:
    zone = ""
    if value.tzinfo is not None:
        value, zone = value.astimezone(datetime.UTC).replace(tzinfo=None), " UTC"
    return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}{zone}"


def _shortest_real(value: float) -> float:
    """The shortest decimal that reads back as the same 32-bit float (DuckDB widens FLOAT to a double)."""
    if not math.isfinite(value):
        return value
    packed = struct.pack("f", value)
    for digits in range(1, 10):
        candidate = float(f"{value:.{digits}g}")
        if struct.pack("f", candidate) == packed:
            return candidate
    return value


def java_double(value: float) -> str:
    """A double as Java's Double.toString writes it, which is how Trino renders one."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    if 1e-3 <= abs(value) < 1e7:
        text = repr(value)
        return text if "." in text else text + ".0"
    sign, digits, exponent = decimal.Decimal(repr(value)).normalize().as_tuple()
    figures = "".join(str(d) for d in digits)
    power = len(figures) + int(exponent) - 1
    return f"{'-' if sign else ''}{figures[0]}.{figures[1:] or '0'}E{power}"


def column_info(columns: tuple[Column, ...]) -> list[dict[str, Any]]:
    """ResultSetMetadata.ColumnInfo as Athena gives it."""
    return [{"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": c.name, "Label": c.name,
             "Type": c.type, "Precision": c.precision, "Scale": c.scale, "Nullable": "UNKNOWN",
             "CaseSensitive": c.type == "varchar"} for c in columns]


def result_rows(result: Result, start: int, count: int) -> list[dict[str, Any]]:
    """Rows `start` .. `start + count` of the result as GetQueryResults pages them, the header row being row 0."""
    header = [tuple(c.name for c in result.columns)] if result.columns else []
    page = []
    for index in range(start, min(start + count, row_count(result))):
        values = header[0] if index < len(header) else result.rows[index - len(header)]
        page.append({"Data": [{"VarCharValue": v} if v is not None else {} for v in values]})
    return page


def row_count(result: Result) -> int:
    """Rows GetQueryResults pages through: the header row (for a SELECT) and the data rows."""
    return (1 if result.columns else 0) + len(result.rows)


def result_csv(result: Result) -> bytes:
    """The result file Athena writes for a SELECT: a header row, then the rows, values in double quotes."""
    lines = [",".join(_csv_field(c.name) for c in result.columns)]
    lines.extend(",".join(_csv_field(v) for v in row) for row in result.rows)
    return ("\n".join(lines) + "\n").encode("utf-8") if result.columns else b""


def _csv_field(value: str | None) -> str:
    return "" if value is None else '"' + value.replace('"', '""') + '"'
