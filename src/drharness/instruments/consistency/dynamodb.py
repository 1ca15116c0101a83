"""DynamoDB consistency: a table against its replica (or a restore against the items expected in it).

Neither table is held in memory. Each side is read by a parallel Scan (Segment/TotalSegments); every
item is hashed in a canonical form (DynamoDB JSON with map keys sorted, sets sorted, numbers normalized
so "1.0" equals "1") into buckets chosen by the hash of its key. Each table is scanned once: the entries
are spooled to a temporary file as they pass, and only the buckets whose digests differ are read again,
from the spool, keeping just their items, to name the missing, extra and differing keys.
"""

from __future__ import annotations

import base64
import contextlib
import decimal
import json
import re
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from drharness.errors import MeasurementError
from drharness.instruments.consistency.digest import (
    DEFAULT_BUCKETS,
    DigestEntry,
    DigestSide,
    SpooledStream,
    Stream,
    digest_compare,
    hash64,
)
from drharness.instruments.consistency.report import DEFAULT_MAX_LISTED, ConsistencyReport, started_now

if TYPE_CHECKING:
    from drharness.target import Target

DEFAULT_SEGMENTS = 4
DEFAULT_WORKERS = 8
# DynamoDB's 1 MB page can hold some 15,000 small items, 30-50 MiB once parsed into Python; a Limit keeps
# each stream's page (and so the whole check's memory) to a few MiB whatever the table's size.
DEFAULT_PAGE_LIMIT = 1000
# Version 2017.11.29 global tables stamp these on every item, differently in each region.
GLOBAL_TABLE_2017_ATTRIBUTES = frozenset({"aws:rep:deleting", "aws:rep:updatetime", "aws:rep:updateregion"})

NO_SUCH_TABLE = "table {table!r} does not exist ({label}); check the name, the region and the endpoint"
TABLE_CALL_FAILED = "{operation} on {label} failed: {code}: {message}"
UNREACHABLE = "cannot reach DynamoDB for {label}: {error}; check the endpoint or the network"
KEY_SCHEMAS_DIFFER = "{source} is keyed by {source_keys} but {replica} by {replica_keys}; they cannot be compared"
ITEM_LACKS_KEY = "expected item {item} has no key attribute {name!r} (key attributes: {keys})"
BAD_NUMBER = "{value!r} is not a DynamoDB number"
BAD_ATTRIBUTE = "{value!r} is not a DynamoDB attribute value (expected one of S, N, B, SS, NS, BS, M, L, NULL, BOOL)"

_NUMBERS = decimal.Context(prec=60)  # DynamoDB keeps 38 significant digits; never round while normalizing
_PLAIN_INTEGER = re.compile(r"0|-?[1-9][0-9]{0,59}")  # an integer with no leading zero, within that precision


@dataclass(frozen=True)
class TableSide:
    """One side of a comparison: a client in the table's region and the table name."""

    client: Any
    table: str
    region: str = ""

    @classmethod
    def of(cls, target: Target, region: str, table: str) -> "TableSide":
        """The side `table` in `region`, with the target's client for that region."""
        return cls(target.client("dynamodb", region), table, region)

    @property
    def label(self) -> str:
        return f"dynamodb://{self.region}/{self.table}" if self.region else f"dynamodb://{self.table}"


# -- canonical form -----------------------------------------------------------------------------------


def normalize_number(text: str) -> str:
    """The canonical text of a DynamoDB number: "1.0", "1", "1e0" and "01" all become "1"."""
    if type(text) is str and _PLAIN_INTEGER.fullmatch(text):
        return text  # already canonical (what the Decimal path gives it), and the common case
    try:
        value = _NUMBERS.create_decimal(text)
    except (decimal.InvalidOperation, TypeError, ValueError) as exc:
        raise MeasurementError(BAD_NUMBER.format(value=text)) from exc
    if not value.is_finite():
        raise MeasurementError(BAD_NUMBER.format(value=text))
    if not value:
        return "0"
    return format(value.normalize(_NUMBERS), "f")


def _b64(raw: bytes | bytearray | str) -> str:
    if isinstance(raw, str):  # already base64 (DynamoDB JSON from a file)
        return base64.b64encode(base64.b64decode(raw)).decode()
    return base64.b64encode(bytes(raw)).decode()


def canonical_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    """Normalize one typed attribute value (DynamoDB JSON) so equal values serialize equally."""
    if not isinstance(value, Mapping) or len(value) != 1:
        raise MeasurementError(BAD_ATTRIBUTE.format(value=value))
    ((kind, raw),) = value.items()
    if kind == "S" or kind == "BOOL":
        return {kind: raw}
    if kind == "N":
        return {"N": normalize_number(raw)}
    if kind == "B":
        return {"B": _b64(raw)}
    if kind == "NULL":
        return {"NULL": True}
    if kind == "SS":
        return {"SS": sorted(set(raw))}
    if kind == "NS":
        return {"NS": sorted({normalize_number(n) for n in raw}, key=decimal.Decimal)}
    if kind == "BS":
        return {"BS": sorted({_b64(b) for b in raw})}
    if kind == "L":
        return {"L": [canonical_attribute(v) for v in raw]}
    if kind == "M":
        return {"M": {k: canonical_attribute(v) for k, v in raw.items()}}
    raise MeasurementError(BAD_ATTRIBUTE.format(value=value))


def typed_attribute(value: Any) -> dict[str, Any]:
    """Plain Python (as boto3's resource API returns it) to DynamoDB JSON; floats via their repr."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if value is None:
        return {"NULL": True}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, (int, float, decimal.Decimal)):
        return {"N": repr(value) if isinstance(value, float) else str(value)}
    if isinstance(value, (bytes, bytearray)):
        return {"B": bytes(value)}
    if hasattr(value, "value") and isinstance(getattr(value, "value"), bytes):  # boto3's Binary
        return {"B": value.value}
    if isinstance(value, Mapping):
        return {"M": {str(k): typed_attribute(v) for k, v in value.items()}}
    if isinstance(value, (set, frozenset)):
        members = list(value)
        if members and all(isinstance(m, str) for m in members):
            return {"SS": members}
        if members and all(isinstance(m, (int, float, decimal.Decimal)) and not isinstance(m, bool) for m in members):
            return {"NS": [typed_attribute(m)["N"] for m in members]}
        if members and all(isinstance(m, (bytes, bytearray)) for m in members):
            return {"BS": [bytes(m) for m in members]}
        raise MeasurementError(f"set {value!r} must hold only strings, only numbers or only bytes (and not be empty)")
    if isinstance(value, (list, tuple)):
        return {"L": [typed_attribute(v) for v in value]}
    raise MeasurementError(f"{value!r} ({type(value).__name__}) has no DynamoDB type")


def _dumps(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _show_key_part(value: Mapping[str, Any]) -> str:
    ((kind, raw),) = value.items()
    if kind == "S":
        return json.dumps(raw, ensure_ascii=False)
    if kind == "N":
        return raw
    return f"b64:{raw}"


class _Hasher:
    """Turns an item into the entry the digest pass folds: key, key hash, content hash, detail."""

    def __init__(self, key_names: Sequence[str], ignore: Collection[str], keys_only: bool) -> None:
        self.key_names = tuple(key_names)
        self.ignore = frozenset(ignore)
        self.keys_only = keys_only

    def entry(self, item: Mapping[str, Any], detailed: bool) -> DigestEntry:
        try:
            key_values = [canonical_attribute(item[name]) for name in self.key_names]
        except KeyError as exc:
            shown = _dumps({k: str(v) for k, v in list(item.items())[:4]})
            raise MeasurementError(
                ITEM_LACKS_KEY.format(item=shown, name=exc.args[0], keys=", ".join(self.key_names))
            ) from exc
        key_text = _dumps(key_values)
        key_hash = hash64(key_text.encode())
        shown_key = " ".join(f"{n}={_show_key_part(v)}" for n, v in zip(self.key_names, key_values))
        if self.keys_only:
            return DigestEntry(shown_key, key_hash, key_hash, "present" if detailed else "")
        body = _dumps({name: canonical_attribute(v) for name, v in item.items() if name not in self.ignore})
        return DigestEntry(shown_key, key_hash, hash64(body.encode()), body if detailed else "")


def contrast_items(source: str, replica: str) -> tuple[str, str]:
    """Keep only the attributes that differ (absent ones shown as absent) from two canonical items."""
    try:
        left, right = json.loads(source), json.loads(replica)
    except ValueError:
        return source, replica
    names = sorted(n for n in left.keys() | right.keys() if left.get(n) != right.get(n))
    return (_dumps({n: left.get(n, "(absent)") for n in names}),
            _dumps({n: right.get(n, "(absent)") for n in names}))


# -- reading a table ------------------------------------------------------------------------------------


@contextlib.contextmanager
def _ddb_errors(side: TableSide, operation: str) -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        if code == "ResourceNotFoundException":
            raise MeasurementError(NO_SUCH_TABLE.format(table=side.table, label=side.label)) from exc
        raise MeasurementError(
            TABLE_CALL_FAILED.format(operation=operation, label=side.label, code=code,
                                     message=error.get("Message", exc))
        ) from exc
    except BotoCoreError as exc:
        raise MeasurementError(UNREACHABLE.format(label=side.label, error=exc)) from exc


def table_key_names(side: TableSide) -> tuple[str, ...]:
    """The table's key attributes, hash key first."""
    with _ddb_errors(side, "DescribeTable"):
        schema = side.client.describe_table(TableName=side.table)["Table"]["KeySchema"]
    ordered = sorted(schema, key=lambda k: 0 if k["KeyType"] == "HASH" else 1)
    return tuple(k["AttributeName"] for k in ordered)


def scan_segment(
    side: TableSide, segment: int, total_segments: int, *, page_limit: int | None = None, consistent_read: bool = False
) -> Iterator[dict[str, Any]]:
    """Yield the items of one Scan segment (typed, as the low-level client returns them), a page at a time."""
    kwargs: dict[str, Any] = {"TableName": side.table, "ConsistentRead": consistent_read}
    if total_segments > 1:
        kwargs.update(Segment=segment, TotalSegments=total_segments)
    if page_limit:
        kwargs["Limit"] = page_limit
    while True:
        with _ddb_errors(side, "Scan"):
            page = side.client.scan(**kwargs)
        yield from page.get("Items", ())
        last = page.get("LastEvaluatedKey")
        if not last:
            return
        kwargs["ExclusiveStartKey"] = last


def _table_streams(
    side: TableSide, hasher: _Hasher, segments: int, page_limit: int | None, consistent_read: bool
) -> list[Stream]:
    """One stream per Scan segment. The table is scanned once: the first pass spools each entry (with its
    canonical body) to a temporary file and the second pass, over the buckets whose digests differ, replays
    it, so both passes see the same items and the table's read capacity is spent once."""

    def entries(segment: int) -> Iterator[DigestEntry]:
        for item in scan_segment(side, segment, segments, page_limit=page_limit, consistent_read=consistent_read):
            yield hasher.entry(item, True)

    return [SpooledStream(entries(s)) for s in range(segments)]


def compare_tables(
    source: TableSide,
    replica: TableSide,
    *,
    max_listed: int = DEFAULT_MAX_LISTED,
    segments: int = DEFAULT_SEGMENTS,
    workers: int = DEFAULT_WORKERS,
    buckets: int = DEFAULT_BUCKETS,
    page_limit: int | None = DEFAULT_PAGE_LIMIT,
    consistent_read: bool = False,
    ignore_attributes: Collection[str] = GLOBAL_TABLE_2017_ATTRIBUTES,
) -> ConsistencyReport:
    """Compare every item of two tables (each its own region and client) in memory bounded by the differences."""
    started, start = started_now(), time.monotonic()
    names = table_key_names(source)
    replica_names = table_key_names(replica)
    if names != replica_names:
        raise MeasurementError(KEY_SCHEMAS_DIFFER.format(source=source.label, source_keys=list(names),
                                                         replica=replica.label, replica_keys=list(replica_names)))
    hasher = _Hasher(names, ignore_attributes, keys_only=False)
    tally = digest_compare(
        DigestSide(source.label, _table_streams(source, hasher, segments, page_limit, consistent_read)),
        DigestSide(replica.label, _table_streams(replica, hasher, segments, page_limit, consistent_read)),
        max_listed=max_listed,
        buckets=buckets,
        workers=workers,
        contrast=contrast_items,
    )
    return tally.report(store="dynamodb", source=source.label, replica=replica.label, method="bucket-digest",
                        duration_seconds=time.monotonic() - start, started_at=started)


ExpectedItems = Iterable[Mapping[str, Any]]


def compare_table_to_expected(
    client: Any,
    table: str,
    expected_items: ExpectedItems | Callable[[], ExpectedItems],
    key_names: Sequence[str],
    *,
    attribute_format: Literal["plain", "typed"] = "plain",
    keys_only: bool = False,
    region: str = "",
    max_listed: int = DEFAULT_MAX_LISTED,
    segments: int = DEFAULT_SEGMENTS,
    workers: int = DEFAULT_WORKERS,
    buckets: int = DEFAULT_BUCKETS,
    page_limit: int | None = DEFAULT_PAGE_LIMIT,
    consistent_read: bool = False,
    ignore_attributes: Collection[str] = GLOBAL_TABLE_2017_ATTRIBUTES,
    source_label: str = "expected",
) -> ConsistencyReport:
    """Compare a table (e.g. a point-in-time restore) with the items expected in it (e.g. a ledger's
    state at T), in any order and in bounded memory.

    `expected_items` yields items as plain Python values (`attribute_format="plain"`, as boto3's
    resource API gives them) or DynamoDB JSON (`"typed"`); with `keys_only` only their keys are compared.
    It may be a list, a generator (spooled to a temporary file for the second pass) or a function
    returning a fresh iterable. Missing keys are expected and absent; extra keys are present, not expected.
    """
    started, start = started_now(), time.monotonic()
    if not key_names:
        raise MeasurementError("key_names must name the table's key attributes (hash key first)")
    side = TableSide(client, table, region)
    hasher = _Hasher(key_names, ignore_attributes, keys_only=keys_only)

    def typed(item: Mapping[str, Any]) -> Mapping[str, Any]:
        if attribute_format == "typed":
            return item
        return {str(name): typed_attribute(value) for name, value in item.items()}

    def expected_entries(detailed: bool, items: ExpectedItems) -> Iterator[DigestEntry]:
        for item in items:
            yield hasher.entry(typed(item), detailed)

    expected_stream: Stream
    if callable(expected_items):
        factory = expected_items
        expected_stream = lambda detailed: expected_entries(detailed, factory())  # noqa: E731
    elif iter(expected_items) is expected_items:  # a one-shot iterator: replay it from disk
        expected_stream = SpooledStream(expected_entries(True, expected_items))
    else:
        items = expected_items
        expected_stream = lambda detailed: expected_entries(detailed, items)  # noqa: E731
    tally = digest_compare(
        DigestSide(source_label, [expected_stream]),
        DigestSide(side.label, _table_streams(side, hasher, segments, page_limit, consistent_read)),
        max_listed=max_listed,
        buckets=buckets,
        workers=workers,
        contrast=None if keys_only else contrast_items,
    )
    return tally.report(store="dynamodb", source=source_label, replica=side.label, method="bucket-digest",
                        duration_seconds=time.monotonic() - start, started_at=started)
