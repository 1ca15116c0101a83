"""DynamoDB Scan served from a sorted index of each table, and its pages written fast, exactly as moto does.

moto's `Table.scan` sorts the whole table and walks it from the first item on every page, comparing
each item with the page's ExclusiveStartKey until it passes it: a full scan of n items in pages is
O(n^2), minutes for a 100k-item table. Here each table keeps its items sorted as moto sorts them
(rebuilt only after a write), the page's start is found by bisection, and moto's own scan then runs
over the items from there on, so filters, limits, the 1 MB page size, segments, projections and the
LastEvaluatedKey are moto's, byte for byte (tests/functional/test_world_dynamodb_scan.py compares
the two page by page). A scan of an index (GSI/LSI) is left to moto.

Writing a page costs moto far more than finding it: its response serializer walks the botocore
shape of every attribute of every item (about a millisecond per item). A Scan or Query page that holds
only items, counts and a start key is written here instead, in the shape's member order and with
moto's encodings (base64 blobs, `json.dumps` defaults); anything else goes to moto's serializer.
"""

from __future__ import annotations

import base64
import bisect
import json
import threading
from typing import Any

from moto import settings as moto_settings
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoResult

_moto_scan = Table.scan
_moto_put_item = Table.put_item
_moto_delete_item = Table.delete_item
_VERSION = "_drharness_writes"  # per table: bumped after every write through moto's put and delete
_CACHE = "_drharness_scan_index"  # per table: (token, items sorted as moto sorts them, their sort keys)
_installed = False
_install_lock = threading.Lock()
enabled = True  # the world's switch (`DynamoDBEngine.indexed_scan`), for the differential test


def _sort_key(item: Any) -> Any:
    return (item.hash_key, item.range_key) if item.range_key else item.hash_key  # as moto's all_items sorts


def touched(table: Table) -> None:
    """Say that `table`'s items changed outside moto's put and delete (the world writing into moto)."""
    setattr(table, _VERSION, getattr(table, _VERSION, 0) + 1)


def _index(table: Table) -> tuple[list[Any], list[Any]]:
    token = (id(table.items), getattr(table, _VERSION, 0))
    cached = getattr(table, _CACHE, None)
    if cached is not None and cached[0] == token:
        return cached[1], cached[2]
    items = table.all_items()  # moto's own order
    keys = [_sort_key(item) for item in items]
    setattr(table, _CACHE, (token, items, keys))
    return items, keys


class _From:
    """The table as moto's scan sees it, holding only the items after the page's start."""

    def __init__(self, table: Table, items: list[Any]) -> None:
        self._table, self._items = table, items

    def all_items(self) -> list[Any]:
        return self._items

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)


def _indexed_scan(self: Table, filters: dict[str, Any], limit: int, exclusive_start_key: dict[str, Any] | None,
                  filter_expression: Any = None, index_name: str | None = None, consistent_read: bool = False,
                  projection_expression: Any = None, segments: Any = (None, None)) -> Any:
    if not enabled or index_name:
        return _moto_scan(self, filters, limit, exclusive_start_key, filter_expression, index_name, consistent_read,
                          projection_expression, segments)
    items, keys = _index(self)
    start = 0
    if exclusive_start_key is not None:
        hash_value = DynamoType(exclusive_start_key[self.hash_key_attr])
        if self.range_key_attr:
            start = bisect.bisect_right(keys, (hash_value, DynamoType(exclusive_start_key[self.range_key_attr])))
        else:
            start = bisect.bisect_right(keys, hash_value)
    return _moto_scan(_From(self, items[start:]), filters, limit, None, filter_expression, None,  # type: ignore[arg-type]
                      consistent_read, projection_expression, segments)


def _put_item(self: Table, *args: Any, **kwargs: Any) -> Any:
    try:
        return _moto_put_item(self, *args, **kwargs)
    finally:
        touched(self)


def _delete_item(self: Table, *args: Any, **kwargs: Any) -> Any:
    try:
        return _moto_delete_item(self, *args, **kwargs)
    finally:
        touched(self)


# -- writing pages -------------------------------------------------------------------------------------

_moto_execute_result = DynamoResult.execute_result
_FAST_OPERATIONS = frozenset({"Scan", "Query"})
_PAGE_MEMBERS = frozenset({"Items", "Count", "ScannedCount", "LastEvaluatedKey"})
# The AttributeValue shape's members, in its order (the order moto's serializer writes them in).
_ATTRIBUTE_MEMBERS = ("S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL")


class _Unexpected(Exception):
    """A value the fast writer does not know how moto would write: moto writes the page."""


def _blob(value: Any) -> str:
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not isinstance(value, (bytes, bytearray)):
        raise _Unexpected
    return base64.b64encode(value).strip().decode("utf-8")


def _string(value: Any) -> Any:
    return str(value) if value not in [None, {}, []] else value


def _attribute(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not set(value) <= set(_ATTRIBUTE_MEMBERS):
        raise _Unexpected
    written: dict[str, Any] = {}
    for member in _ATTRIBUTE_MEMBERS:
        inner = value.get(member)
        if inner is None:
            continue
        if member in ("S", "N"):
            written[member] = _string(inner)
        elif member == "B":
            written[member] = _blob(inner)
        elif member in ("SS", "NS"):
            written[member] = [_string(v) for v in inner]
        elif member == "BS":
            written[member] = [_blob(v) for v in inner]
        elif member == "M":
            written[member] = _item(inner)
        elif member == "L":
            written[member] = [_attribute(v) for v in inner]
        else:  # NULL, BOOL: booleans, written as they are
            written[member] = inner
    return written


def _item(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Unexpected
    return {name: _attribute(attribute) for name, attribute in value.items()}


def _fast_page(self: DynamoResult, context: Any) -> Any:
    result = self.result
    operation = context.operation_model
    if (not enabled or moto_settings.PRETTIFY_RESPONSES or operation.name not in _FAST_OPERATIONS
            or not isinstance(result, dict) or not set(result) <= _PAGE_MEMBERS):
        return _moto_execute_result(self, context)
    try:
        written: dict[str, Any] = {}
        for member in operation.output_shape.members:  # the output shape's order
            value = result.get(member)
            if value is None:
                continue
            if member == "Items":
                written[member] = [_item(item) for item in value]
            elif member == "LastEvaluatedKey":
                written[member] = _item(value)
            else:  # Count, ScannedCount: integers
                written[member] = int(value)
    except (_Unexpected, TypeError, ValueError):
        return _moto_execute_result(self, context)
    # Status and headers as moto makes them, from a page with nothing in it; the body is this one.
    status, headers, _ = _moto_execute_result(DynamoResult({}), context)
    return status, headers, json.dumps(written)


def install() -> None:
    """Serve every table's Scan from its index from now on (once per process; moto is per process)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        DynamoResult.execute_result = _fast_page  # type: ignore[method-assign]
        Table.scan = _indexed_scan  # type: ignore[method-assign]
        Table.put_item = _put_item  # type: ignore[method-assign]
        Table.delete_item = _delete_item  # type: ignore[method-assign]
        _installed = True
