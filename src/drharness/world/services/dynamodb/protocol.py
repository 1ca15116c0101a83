"""DynamoDB's wire as the world's engine reads and amends it: error codes, which items a write names."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import zlib
from collections.abc import Callable, Mapping
from typing import Any

from drharness.world.wire import CapturedResponse, error_response

GLOBAL_TABLE_VERSION = "2019.11.21"
REPLICA_STREAM_VIEW = "NEW_AND_OLD_IMAGES"

# Error codes as AWS names them; messages follow AWS's wording where it is known.
SOURCE_TABLE_NOT_FOUND = "SourceTableNotFoundException"
PITR_UNAVAILABLE = "PointInTimeRecoveryUnavailableException"
INVALID_RESTORE_TIME = "InvalidRestoreTimeException"
RESOURCE_NOT_FOUND = "ResourceNotFoundException"
RESOURCE_IN_USE = "ResourceInUseException"
VALIDATION = "ValidationException"

PITR_UNAVAILABLE_MESSAGE = "Point in time recovery is not enabled for table '{table}'"
INVALID_RESTORE_TIME_MESSAGE = (
    "Invalid restore time: {time} is outside the restorable window [{earliest}, {latest}] of table '{table}'"
)
TABLE_CREATING_MESSAGE = "Requested resource not found: Table: {table} is being created"
REPLICA_EXISTS_MESSAGE = (
    "Failed to create a the new replica of table with name: '{table}' because one or more replicas "
    "already existed as tables."
)

WRITE_OPS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
PARTIQL_OPS = frozenset({"ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction"})
DATA_OPS = WRITE_OPS | PARTIQL_OPS | {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
PARTIQL_TABLE = re.compile(r'\b(?:FROM|INTO|UPDATE)\s+"?([A-Za-z0-9_.-]+)"?', re.IGNORECASE)

Change = tuple[str, str, dict[str, Any], Any]  # (table, stable key, wire key, item image or None for a delete)


def stable_key(key: Mapping[str, Any]) -> str:
    """The key of an item as ground truth names it: its wire-format key as sorted, compact JSON."""
    return json.dumps(key, sort_keys=True, separators=(",", ":"))


def iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat()


def restore_time_of(body: Mapping[str, Any]) -> float | None:
    return epoch_of(body.get("RestoreDateTime"))


def epoch_of(value: Any) -> float | None:
    """A time as a request sends it: epoch seconds (botocore's JSON protocol), or an ISO 8601 string."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return float(value)
        with contextlib.suppress(ValueError):
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)).timestamp()
    return None


def written_items(op: str, body: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """(table as given, attributes holding the key) of every item a standard write request names."""
    if op == "PutItem":
        return [(str(body.get("TableName", "")), body.get("Item") or {})]
    if op in ("UpdateItem", "DeleteItem"):
        return [(str(body.get("TableName", "")), body.get("Key") or {})]
    if op == "BatchWriteItem":
        return [
            (str(table), (entry.get("PutRequest") or {}).get("Item") or (entry.get("DeleteRequest") or {}).get("Key") or {})
            for table, entries in (body.get("RequestItems") or {}).items()
            for entry in entries
        ]
    if op == "TransactWriteItems":
        return [
            (str(spec.get("TableName", "")), spec.get("Item") or spec.get("Key") or {})
            for entry in body.get("TransactItems") or []
            for kind, spec in entry.items()
            if kind in ("Put", "Update", "Delete")
        ]
    return []


def statements(body: Mapping[str, Any]) -> list[str]:
    found = [body["Statement"]] if body.get("Statement") else []
    found += [entry.get("Statement", "") for entry in (body.get("Statements") or []) + (body.get("TransactStatements") or [])]
    return [str(statement) for statement in found]


def rewrite_json(response: CapturedResponse, change: Callable[[dict[str, Any]], None]) -> None:
    """Edit a JSON response body in place, keeping the CRC32 header botocore checks."""
    try:
        body = json.loads(response.body or b"{}")
    except ValueError:
        return
    change(body)
    data = json.dumps(body).encode()
    response.set_body(data)
    response.set_header("x-amz-crc32", str(zlib.crc32(data) & 0xFFFFFFFF))


def described_name(response: CapturedResponse) -> str:
    with contextlib.suppress(ValueError):
        return str((json.loads(response.body or b"{}").get("TableDescription") or {}).get("TableName", ""))
    return ""



def dynamodb_error(code: str, message: str) -> CapturedResponse:
    return error_response("dynamodb", 400, code, message)

