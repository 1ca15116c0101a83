"""DynamoDB Scan served from a sorted index of each table, and its pages written fast, exactly as moto does.

moto's `Table.scan` sorts the whole table and walks it from the first item on every page, comparing
each item with the page's ExclusiveStartKey until it passes it: a full scan of n items in pages is
O(n^2), minutes for a 100k-item table. Here each table keeps its items sorted as moto sorts them
(rebuilt only after a write), the page's start is found by bisection, and moto's own scan then runs
over the items from there on, so filters, limits, the 1 MB page size, segments, projections and the
LastEvaluatedKey are moto's, byte for byte (tests/functional/test_world_dynamodb_scan.py compares
the two page by page). A scan of an index (GSI/LSI) is left to moto.

A plain Scan (no filter, no projection, no index) is walked here as moto walks it, with two of its
costs left out: each item's size is computed once (moto computes it twice), and the items are not deep
copied (moto copies them so that a filter or projection cannot touch the table's own; a plain scan has
neither, and its page is written from them within the request); and the size is reckoned as moto's
`DynamoType.size` reckons it, without building a DynamoType per set or map member. The index is sorted on the key values
moto's `DynamoType` compares (`cast_value`), natively, in the order moto's own sort gives. Writing the
page is `scan_pages`'s job.
"""

from __future__ import annotations

import bisect
import threading
from decimal import Decimal
from typing import Any

from moto.dynamodb.comparisons import OpDefault
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, Table

try:  # moto >= 5.2.6 sizes a Number as DynamoDB stores it (about a byte per two significant digits)
    from moto.dynamodb.models.utilities import number_size as _number_size
except ImportError:  # earlier moto: the length of its decimal string
    def _number_size(value: str) -> int:
        return len(value)

from drharness.world.moto import scan_pages

_moto_scan = Table.scan
_moto_put_item = Table.put_item
_moto_delete_item = Table.delete_item
_VERSION = "_drharness_writes"  # per table: bumped after every write through moto's put and delete
_CACHE = "_drharness_scan_index"  # per table: (token, items sorted as moto sorts them, their sort keys)
_SETS = frozenset({"SS", "NS", "BS"})
_installed = False
_install_lock = threading.Lock()
enabled = True  # the world's switch (`DynamoDBEngine.indexed_scan`), for the differential test


def _native(key: DynamoType) -> Any:
    """A key attribute's `cast_value` (S, N and B are the key types): what its DynamoType compares."""
    return Decimal(key.value) if key.type == "N" else key.value


def _sort_key(item: Any) -> Any:
    """The key moto's all_items sorts on, as the native values its DynamoTypes compare (same order)."""
    if item.range_key:
        return _native(item.hash_key), _native(item.range_key)
    return _native(item.hash_key)


def _bytesize(value: Any) -> int:
    return len(value if isinstance(value, bytes) else value.encode("utf-8"))


def _scalar_size(kind: str, value: Any) -> int:
    if kind == "N":
        return _number_size(str(value))
    return 1 if isinstance(value, bool) else _bytesize(value)


def _size(attribute: Any) -> int:
    """`DynamoType.size`, without building a DynamoType for every member of a set or map."""
    if type(attribute) is not DynamoType:
        return int(attribute.size())
    kind, value = attribute.type, attribute.value
    if kind in _SETS:
        return sum(_scalar_size(kind[0], member) for member in value)
    if kind == "L":
        return sum(_size(member) for member in value)
    if kind == "M":
        return sum(_bytesize(name) + _size(member if type(member) is DynamoType else DynamoType(member))
                   for name, member in value.items())
    return _scalar_size(kind, value)


def _item_size(item: Any) -> int:
    """`Item.size`: every attribute's name and value."""
    return sum(_bytesize(name) + _size(attribute) for name, attribute in item.attrs.items())


def touched(table: Table) -> None:
    """Say that `table`'s items changed outside moto's put and delete (the world writing into moto)."""
    setattr(table, _VERSION, getattr(table, _VERSION, 0) + 1)


def _index(table: Table) -> tuple[list[Any], list[Any]]:
    token = (id(table.items), getattr(table, _VERSION, 0))
    cached = getattr(table, _CACHE, None)
    if cached is not None and cached[0] == token:
        return cached[1], cached[2]
    # moto's all_items, sorted on native values instead of DynamoType pairs (a key's type is the table's).
    every = [item for hashed in table.items.values()
             for item in (hashed.values() if table.range_key_attr else (hashed,))]
    pairs = sorted(((_sort_key(item), item) for item in every), key=lambda pair: pair[0])
    keys, items = [key for key, _ in pairs], [item for _, item in pairs]
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
        hash_value = DynamoType(exclusive_start_key[self.hash_key_attr]).cast_value
        if self.range_key_attr:
            range_value = DynamoType(exclusive_start_key[self.range_key_attr]).cast_value
            start = bisect.bisect_right(keys, (hash_value, range_value))
        else:
            start = bisect.bisect_right(keys, hash_value)
    if not filters and (filter_expression is None or type(filter_expression) is OpDefault) and not projection_expression:
        return _plain_scan(self, items, start, limit, segments)
    return _moto_scan(_From(self, items[start:]), filters, limit, None, filter_expression, None,  # type: ignore[arg-type]
                      consistent_read, projection_expression, segments)


def _plain_scan(table: Table, items: list[Any], start: int, limit: int | None, segments: Any) -> Any:
    """moto's scan loop with no filter, projection or index, from `items[start]` on."""
    results: list[Any] = []
    result_size = 0
    last_evaluated_key = None
    for position in range(start, len(items)):
        item = items[position]
        if not item.is_within_segment(segments):
            continue
        size = _item_size(item)
        if len(results) == limit or result_size + size > RESULT_SIZE_LIMIT:
            last_evaluated_key = table._get_last_evaluated_key(results[-1], None)
            break
        results.append(item)
        result_size += size
    return results, len(results), last_evaluated_key


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


def install() -> None:
    """Serve every table's Scan from its index from now on (once per process; moto is per process)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        scan_pages.install()
        Table.scan = _indexed_scan  # type: ignore[method-assign]
        Table.put_item = _put_item  # type: ignore[method-assign]
        Table.delete_item = _delete_item  # type: ignore[method-assign]
        _installed = True
