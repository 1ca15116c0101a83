"""DynamoDB point-in-time recovery and global tables (2019.11.21) for the offline world.

moto stores the PITR flag but restores the current table whatever the requested time, and accepts
`UpdateTable(ReplicaUpdates=...)` without creating a replica. This engine supplies both:

- PITR: enabling it takes a baseline of the table's items, then every write is kept as (time, key,
  item after the write). A restore rebuilds the table as it was at the requested time, refuses times
  outside [earliest, latest] as AWS does, and the restored table stays CREATING for `restore_seconds`.
- Global tables: a replica is created in the other region with the source's schema and items; each
  write replicates asynchronously to every other replica through the world's scheduler (lag drawn
  from the configured model, held by `replication-pause` and `region-outage`), last writer wins per
  item. Ground truth records when each write was accepted and applied.

Writes to DynamoDB are serialized so that a write and the image read after it are one step.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from drharness.world import moto_access
from drharness.world.base import BaseEngine
from drharness.world.lag import LagSampler
from drharness.world.requests import AwsRequest
from drharness.world.truth import WriteRecord

if TYPE_CHECKING:
    from drharness.world.server import CapturedResponse, World

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

_WRITE_OPS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
_PARTIQL_OPS = frozenset({"ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction"})
_DATA_OPS = _WRITE_OPS | _PARTIQL_OPS | {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
_PARTIQL_TABLE = re.compile(r'\b(?:FROM|INTO|UPDATE)\s+"?([A-Za-z0-9_.-]+)"?', re.IGNORECASE)

Change = tuple[str, str, dict[str, Any], Any]  # (table, stable key, wire key, item image or None for a delete)


def stable_key(key: Mapping[str, Any]) -> str:
    """The key of an item as ground truth names it: its wire-format key as sorted, compact JSON."""
    return json.dumps(key, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class RestoreRecord:
    """One table restore the world performed (ground truth for restore instruments)."""

    region: str
    target: str
    source: str
    kind: str  # "point-in-time" | "backup"
    restore_time: float  # epoch seconds whose data the restored table holds
    requested_at: float


@dataclass
class _History:
    """A table's PITR record: the items at `earliest_at`, then every change after it."""

    earliest_at: float
    baseline: dict[str, Any]
    events: list[tuple[float, str, Any | None]] = field(default_factory=list)

    def trim(self, now: float, period_days: int) -> None:
        """Fold changes older than the recovery period into the baseline, as AWS forgets them."""
        cutoff = now - period_days * 86400.0
        if cutoff <= self.earliest_at:
            return
        for at, key, image in self.events:
            if at <= cutoff:
                _set(self.baseline, key, image)
        self.events = [event for event in self.events if event[0] > cutoff]
        self.earliest_at = cutoff

    def state_at(self, at: float) -> dict[str, Any]:
        state = dict(self.baseline)
        for when, key, image in self.events:
            if when <= at:
                _set(state, key, image)
        return state


def _set(state: dict[str, Any], key: str, image: Any | None) -> None:
    if image is None:
        state.pop(key, None)
    else:
        state[key] = image


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat()


def _restore_time_of(body: Mapping[str, Any]) -> float | None:
    value = body.get("RestoreDateTime")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return float(value)
        with contextlib.suppress(ValueError):
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)).timestamp()
    return None


def _written_items(op: str, body: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
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


def _statements(body: Mapping[str, Any]) -> list[str]:
    found = [body["Statement"]] if body.get("Statement") else []
    found += [entry.get("Statement", "") for entry in (body.get("Statements") or []) + (body.get("TransactStatements") or [])]
    return [str(statement) for statement in found]


def _rewrite_json(response: "CapturedResponse", change: Callable[[dict[str, Any]], None]) -> None:
    """Edit a JSON response body in place, keeping the CRC32 header botocore checks."""
    try:
        body = json.loads(response.body or b"{}")
    except ValueError:
        return
    change(body)
    data = json.dumps(body).encode()
    response.set_body(data)
    response.set_header("x-amz-crc32", str(zlib.crc32(data) & 0xFFFFFFFF))


def _described_name(response: "CapturedResponse") -> str:
    with contextlib.suppress(ValueError):
        return str((json.loads(response.body or b"{}").get("TableDescription") or {}).get("TableName", ""))
    return ""


class DynamoDBEngine(BaseEngine):
    def __init__(self, world: "World") -> None:
        super().__init__(world)
        self.lag = LagSampler(world.settings.dynamodb_lag, world.rng)
        self.restores: list[RestoreRecord] = []
        self._lock = threading.RLock()
        self._local = threading.local()
        self._restore_seconds = float(world.settings.restore_seconds)
        self._histories: dict[tuple[str, str], _History] = {}
        self._groups: dict[str, set[str]] = {}  # table name -> regions holding a replica
        self._replica_since: dict[tuple[str, str], float] = {}  # (region, table) -> when its replica was copied
        self._newest: dict[tuple[str, str, str], tuple[float, str]] = {}  # (region, table, key) -> (accepted_at, region)
        self._creating: dict[tuple[str, str], float] = {}  # (region, table) -> monotonic start of its restore
        self._restored: dict[tuple[str, str], RestoreRecord] = {}

    # -- restores and replicas, as other parts of the world see them --------------------------------

    @property
    def restore_seconds(self) -> float:
        """How long a restored table stays CREATING; float('inf') for a restore that never finishes."""
        return self._restore_seconds

    @restore_seconds.setter
    def restore_seconds(self, seconds: float) -> None:
        with self._lock:
            now = time.monotonic()  # restores already done under the old duration stay done
            self._creating = {k: t for k, t in self._creating.items() if now - t < self._restore_seconds}
            self._restore_seconds = float(seconds)

    def is_creating(self, region: str, table: str) -> bool:
        with self._lock:
            started = self._creating.get((region, table))
            if started is not None and time.monotonic() - started >= self._restore_seconds:
                del self._creating[(region, table)]
                started = None
            return started is not None

    def track_restore(self, record: RestoreRecord) -> None:
        """Record a restore and keep its table CREATING for `restore_seconds` (any restore path may call this)."""
        with self._lock:
            self.restores.append(record)
            self._restored[(record.region, record.target)] = record
            if self._restore_seconds > 0:
                self._creating[(record.region, record.target)] = time.monotonic()

    def replica_regions(self, table: str) -> set[str]:
        """The regions holding a replica of a global table (empty when it is not one)."""
        with self._lock:
            return set(self._groups.get(table, ()))

    # -- the HTTP path --------------------------------------------------------------------------------

    def before(self, request: AwsRequest) -> "CapturedResponse | None":
        if request.service != "dynamodb":
            return None
        try:
            return self._refusal(request)
        except Exception as exc:  # noqa: BLE001 - a malformed request is moto's to reject, not ours to crash on
            self.world.errors.append(f"DynamoDBEngine.before {request.operation}: {exc!r}")
            return None

    def _refusal(self, request: AwsRequest) -> "CapturedResponse | None":
        op = request.operation
        if op in _DATA_OPS and self._creating:
            for table in self._tables_named(request):
                if self.is_creating(request.region, table):
                    return _error(RESOURCE_NOT_FOUND, TABLE_CREATING_MESSAGE.format(table=table))
        if op == "RestoreTableToPointInTime":
            return self._refuse_restore(request)
        if op == "UpdateTable" and request.json_body.get("ReplicaUpdates"):
            return self._refuse_replica_updates(request)
        return None

    def guard(self, request: AwsRequest) -> contextlib.AbstractContextManager[None]:
        if request.service != "dynamodb" or not request.mutating:
            return contextlib.nullcontext()
        return self._serialized(request)

    @contextlib.contextmanager
    def _serialized(self, request: AwsRequest) -> Iterator[None]:
        with self._lock:
            try:
                self._local.before = self._images_before(request)
            except Exception as exc:  # noqa: BLE001 - as in before(): moto rejects what cannot be read
                self.world.errors.append(f"DynamoDBEngine.guard {request.operation}: {exc!r}")
                self._local.before = {}
            try:
                yield
            finally:
                self._local.before = None

    def after(self, request: AwsRequest, response: "CapturedResponse") -> None:
        if request.service != "dynamodb" or not response.ok:
            return
        op, region, body = request.operation, request.region, request.json_body
        if op in _WRITE_OPS or op in _PARTIQL_OPS:
            self._after_write(request)
        elif op == "DescribeTable":
            _rewrite_json(response, lambda doc: self._describe(region, doc.get("Table") or {}))
        elif op == "UpdateTable":
            if body.get("ReplicaUpdates"):
                self._apply_replica_updates(region, _described_name(response), body["ReplicaUpdates"])
            _rewrite_json(response, lambda doc: self._describe(region, doc.get("TableDescription") or {}))
        elif op in ("UpdateContinuousBackups", "DescribeContinuousBackups"):
            table = moto_access.dynamodb_table_name(region, str(body.get("TableName", ""))) or ""
            self._history(region, table)  # moto has switched the flag; the history follows (AWS drops it on disable)
            _rewrite_json(response, lambda doc: self._describe_pitr(region, table, doc))
        elif op == "RestoreTableToPointInTime":
            self._restored_to_point_in_time(request, response)
        elif op == "RestoreTableFromBackup":
            found = moto_access.dynamodb_backup_source(region, str(body.get("BackupArn", "")))
            source, at = found if found else ("", self.world.now())
            target = str(body.get("TargetTableName", ""))
            self.track_restore(RestoreRecord(region, target, source, "backup", at, self.world.now()))
            _rewrite_json(response, lambda doc: self._describe(region, doc.get("TableDescription") or {}))
        elif op == "DeleteTable":
            self._forget_table(region, _described_name(response))

    # -- which tables and items a request touches -------------------------------------------------------

    def _tables_named(self, request: AwsRequest) -> list[str]:
        body, region = request.json_body, request.region
        names = [str(body["TableName"])] if body.get("TableName") else []
        names += [str(name) for name in body.get("RequestItems") or {}]
        for entry in body.get("TransactItems") or []:
            names += [str(spec.get("TableName", "")) for spec in entry.values() if isinstance(spec, dict)]
        for statement in _statements(body):
            names += _PARTIQL_TABLE.findall(statement)
        resolved = (moto_access.dynamodb_table_name(region, name) or name for name in names if name)
        return list(dict.fromkeys(resolved))

    def _tracked(self, region: str, table: str) -> bool:
        """Whether writes to this table matter here: PITR is on, or it is a global table replica."""
        return self._history(region, table) is not None or region in self._groups.get(table, ())

    def _images_before(self, request: AwsRequest) -> dict[str, Any]:
        """What a write request is about to change, read before moto applies it (lock held)."""
        region, op, body = request.region, request.operation, request.json_body
        if op in _WRITE_OPS:
            found: dict[str, Any] = {}
            for given, attributes in _written_items(op, body):
                table = moto_access.dynamodb_table_name(region, given)
                names = moto_access.dynamodb_key_names(region, table) if table else ()
                if table and names and all(n in attributes for n in names) and self._tracked(region, table):
                    key = {n: attributes[n] for n in names}
                    found[f"{table}\0{stable_key(key)}"] = (table, key, moto_access.dynamodb_item(region, table, key))
            return found
        if op in _PARTIQL_OPS and not all(s.lstrip().upper().startswith("SELECT") for s in _statements(body)):
            return {t: self._snapshot(region, t) for t in self._tables_named(request) if self._tracked(region, t)}
        return {}

    def _snapshot(self, region: str, table: str) -> dict[str, tuple[dict[str, Any], Any]]:
        return {stable_key(key): (key, image) for key, image in moto_access.dynamodb_snapshot(region, table)}

    # -- writes: PITR history and replication ------------------------------------------------------------

    def _after_write(self, request: AwsRequest) -> None:
        before: dict[str, Any] = getattr(self._local, "before", None) or {}
        region, at = request.region, self.world.now()
        changes: list[Change] = []
        if request.operation in _WRITE_OPS:
            for table, key, old in before.values():
                new = moto_access.dynamodb_item(region, table, key)
                if not moto_access.dynamodb_same_image(old, new):
                    changes.append((table, stable_key(key), key, new))
        else:
            for table, old_items in before.items():
                new_items = self._snapshot(region, table)
                for skey in sorted(set(old_items) | set(new_items)):
                    old, new = old_items.get(skey, (None, None)), new_items.get(skey, (None, None))
                    if not moto_access.dynamodb_same_image(old[1], new[1]):
                        changes.append((table, skey, new[0] or old[0], new[1]))
        # Unchanged items write no stream record, so (as in AWS) they replicate nothing.
        for change in changes:
            table, skey = change[0], change[1]
            history = self._history(region, table)
            if history is not None:
                history.events.append((at, skey, change[3]))
            group = self._groups.get(table, set())
            if region in group:
                self._newest[(region, table, skey)] = (at, region)
                for dest in sorted(group - {region}):
                    self._replicate(change, region, dest, at)

    def _replicate(self, change: Change, source: str, dest: str, accepted: float) -> None:
        table, skey, _, image = change
        lag = self.lag.sample()
        record = self.world.truth.write(
            WriteRecord(
                store="dynamodb",
                resource=table,
                region=source,
                key=skey,
                kind="put" if image is not None else "delete",
                accepted_at=accepted,
                planned_lag_seconds=lag,
            )
        )

        def blocked() -> bool:
            blockers = self.world.faults.replication_blockers("dynamodb", table, (source, dest))
            if blockers:
                self.world.truth.held(record, blockers)
            return bool(blockers)

        def run() -> None:
            self._apply_replica(change, source, dest, accepted, record)

        self.world.submit(lag, run, blocked, f"dynamodb replicate {table} {source}->{dest} {skey}")

    def _apply_replica(self, change: Change, source: str, dest: str, accepted: float, record: WriteRecord) -> None:
        table, skey, key, image = change
        with self._lock:
            # A replica removed meanwhile gets nothing; a source deleted meanwhile still delivers
            # what it had accepted, as its stream would.
            if not moto_access.dynamodb_table_exists(dest, table):
                record.failed = f"no replica of {table} in {dest} any more"
                return
            now, stamp = self.world.now(), (accepted, source)
            newest = self._newest.get((dest, table, skey))
            # Last writer wins: an image older than the newest write of the item there is dropped, and
            # so is one the replica's initial copy already holds.
            if (newest is None or stamp > newest) and accepted >= self._replica_since.get((dest, table), 0.0):
                self._newest[(dest, table, skey)] = stamp
                history = self._history(dest, table)
                if image is None:
                    moto_access.dynamodb_delete_item(dest, table, key)
                else:
                    moto_access.dynamodb_put_image(dest, table, image)
                if history is not None:
                    history.events.append((now, skey, image))
            self.world.truth.replicated(record, dest, now)

    # -- PITR ----------------------------------------------------------------------------------------------

    def _history(self, region: str, table: str) -> _History | None:
        """The table's PITR history, following moto's flag (a table enabled some other way starts now)."""
        with self._lock:
            period = moto_access.dynamodb_pitr_period_days(region, table)
            if period is None:
                self._histories.pop((region, table), None)
                return None
            history = self._histories.get((region, table))
            if history is None:
                # Whole milliseconds, as AWS reports them, so a reported time round-trips through SDKs.
                baseline = {skey: image for skey, (_, image) in self._snapshot(region, table).items()}
                history = self._histories[(region, table)] = _History(math.ceil(self.world.now() * 1000) / 1000, baseline)
            history.trim(self.world.now(), period)
            return history

    def _describe_pitr(self, region: str, table: str, doc: dict[str, Any]) -> None:
        description = (doc.get("ContinuousBackupsDescription") or {}).get("PointInTimeRecoveryDescription") or {}
        history = self._history(region, table)
        if history is not None and description.get("PointInTimeRecoveryStatus") == "ENABLED":
            description["EarliestRestorableDateTime"] = history.earliest_at
            description["LatestRestorableDateTime"] = math.floor(self.world.now() * 1000) / 1000

    def _refuse_restore(self, request: AwsRequest) -> "CapturedResponse | None":
        body, region = request.json_body, request.region
        arn = str(body.get("SourceTableArn") or "")
        arn_region = arn.split(":")[3] if arn.count(":") >= 5 else region
        if arn_region != region:
            return self._cross_region_restore(request, arn_region)
        given = str(body.get("SourceTableName") or body.get("SourceTableArn") or "")
        source = moto_access.dynamodb_table_name(region, given)
        if source is None:
            return _error(SOURCE_TABLE_NOT_FOUND, f"Source table not found: {given}")
        history = self._history(region, source)
        if history is None:
            return _error(PITR_UNAVAILABLE, PITR_UNAVAILABLE_MESSAGE.format(table=source))
        if bool(body.get("UseLatestRestorableTime")) == ("RestoreDateTime" in body):
            return _error(VALIDATION, "Specify exactly one of RestoreDateTime and UseLatestRestorableTime")
        if body.get("UseLatestRestorableTime"):
            return None
        at, now = _restore_time_of(body), self.world.now()
        if at is None:
            return _error(VALIDATION, f"RestoreDateTime {body.get('RestoreDateTime')!r} is not a timestamp")
        if not history.earliest_at <= at <= now:
            window = {"earliest": _iso(history.earliest_at), "latest": _iso(now)}
            return _error(INVALID_RESTORE_TIME, INVALID_RESTORE_TIME_MESSAGE.format(time=_iso(at), table=source, **window))
        return None

    def _cross_region_restore(self, request: AwsRequest, source_region: str) -> "CapturedResponse":
        """Restore a table of another region into this one, as AWS allows; moto cannot, so answer here."""
        from drharness.world.server import json_response

        body, region = request.json_body, request.region
        arn = str(body["SourceTableArn"])
        source = moto_access.dynamodb_table_name(source_region, arn)
        if source is None:
            return _error(SOURCE_TABLE_NOT_FOUND, f"Source table not found: {arn}")
        history = self._history(source_region, source)
        if history is None:
            return _error(PITR_UNAVAILABLE, PITR_UNAVAILABLE_MESSAGE.format(table=source))
        if bool(body.get("UseLatestRestorableTime")) == ("RestoreDateTime" in body):
            return _error(VALIDATION, "Specify exactly one of RestoreDateTime and UseLatestRestorableTime")
        now = self.world.now()
        at = now if body.get("UseLatestRestorableTime") else _restore_time_of(body)
        if at is None or not history.earliest_at <= at <= now:
            window = {"earliest": _iso(history.earliest_at), "latest": _iso(now)}
            return _error(INVALID_RESTORE_TIME, INVALID_RESTORE_TIME_MESSAGE.format(
                time=_iso(at) if at is not None else str(body.get("RestoreDateTime")), table=source, **window))
        target = str(body.get("TargetTableName", ""))
        if moto_access.dynamodb_table_name(region, target) is not None:
            return _error("TableAlreadyExistsException", f"Table already exists: {target}")
        described = self.world.client("dynamodb", source_region).describe_table(TableName=source)["Table"]
        create: dict[str, Any] = {
            "TableName": target,
            "KeySchema": described["KeySchema"],
            "AttributeDefinitions": described["AttributeDefinitions"],
            "BillingMode": "PAY_PER_REQUEST",
        }
        self.world.client("dynamodb", region).create_table(**create)
        state = history.state_at(at)
        moto_access.dynamodb_replace_items(region, target, list(state.values()))
        self.track_restore(RestoreRecord(region, target, source, "point-in-time", at, now))
        table = self.world.client("dynamodb", region).describe_table(TableName=target)["Table"]
        table = json.loads(json.dumps(table, default=lambda v: v.timestamp() if hasattr(v, "timestamp") else str(v)))
        table["ItemCount"] = len(state)
        table["RestoreSummary"] = {"SourceTableArn": arn, "RestoreDateTime": at, "RestoreInProgress": True}
        self._describe(region, table)
        return json_response("dynamodb", {"TableDescription": table})

    def _restored_to_point_in_time(self, request: AwsRequest, response: "CapturedResponse") -> None:
        body, region = request.json_body, request.region
        source = moto_access.dynamodb_table_name(region, str(body.get("SourceTableName") or body.get("SourceTableArn") or ""))
        history = self._history(region, source) if source else None
        if source is None or history is None:
            return
        target = str(body.get("TargetTableName", ""))
        at = self.world.now() if body.get("UseLatestRestorableTime") else (_restore_time_of(body) or self.world.now())
        state = history.state_at(at)
        moto_access.dynamodb_replace_items(region, target, list(state.values()))
        moto_access.dynamodb_copy_billing_mode(region, source, target)
        self.track_restore(RestoreRecord(region, target, source, "point-in-time", at, self.world.now()))

        def change(doc: dict[str, Any]) -> None:
            description = doc.get("TableDescription") or {}
            description["ItemCount"] = len(state)
            self._describe(region, description)

        _rewrite_json(response, change)

    # -- global tables ---------------------------------------------------------------------------------------

    def _refuse_replica_updates(self, request: AwsRequest) -> "CapturedResponse | None":
        region, body = request.region, request.json_body
        table = moto_access.dynamodb_table_name(region, str(body.get("TableName", "")))
        if table is None:
            return None  # moto answers ResourceNotFoundException
        if self.is_creating(region, table):
            return _error(RESOURCE_IN_USE, f"Attempt to change a resource which is still in use: Table is being created: {table}")
        view = moto_access.dynamodb_stream_view_type(region, table)
        if view is not None and view != REPLICA_STREAM_VIEW:
            return _error(VALIDATION, f"Table {table} has a stream of view type {view}; global tables need {REPLICA_STREAM_VIEW}")
        members = self.replica_regions(table) or {region}
        if region not in members:
            return _error(VALIDATION, f"Table {table} in {region} is not a replica of the global table {table}")
        for update in body["ReplicaUpdates"]:
            if "Create" in update:
                dest = str(update["Create"].get("RegionName", ""))
                if not moto_access.dynamodb_region_known(dest):
                    return _error(VALIDATION, f"Region {dest!r} is not a known AWS region")
                if dest in members or moto_access.dynamodb_table_exists(dest, table):
                    return _error(VALIDATION, REPLICA_EXISTS_MESSAGE.format(table=table))
                members = members | {dest}
            elif "Delete" in update:
                dest = str(update["Delete"].get("RegionName", ""))
                if dest == region:
                    return _error(VALIDATION, f"Delete the replica in {region} with UpdateTable in another replica region")
                if dest not in members:
                    return _error(VALIDATION, f"Table {table} has no replica in {dest}")
                members = members - {dest}
        return None

    def _apply_replica_updates(self, region: str, table: str, updates: list[dict[str, Any]]) -> None:
        with self._lock:
            for update in updates:
                if "Create" in update:
                    dest = str(update["Create"]["RegionName"])
                    if moto_access.dynamodb_stream_view_type(region, table) is None:
                        # Replication reads the stream: AWS turns it on for the first replica.
                        moto_access.dynamodb_enable_stream(region, table, REPLICA_STREAM_VIEW)
                    moto_access.dynamodb_create_replica(region, dest, table, update["Create"].get("KMSMasterKeyId"))
                    self._replica_since[(dest, table)] = self.world.now()
                    self._groups.setdefault(table, {region}).add(dest)
                elif "Delete" in update:
                    dest = str(update["Delete"]["RegionName"])
                    moto_access.dynamodb_delete_table(dest, table)
                    self._forget_table(dest, table)

    def _describe(self, region: str, description: dict[str, Any]) -> None:
        """Show what moto does not know: replicas, a restore still running, the restored point in time."""
        table = str(description.get("TableName", ""))
        members = self.replica_regions(table)
        if region in members:
            description["Replicas"] = [{"RegionName": r, "ReplicaStatus": "ACTIVE"} for r in sorted(members - {region})]
            description["GlobalTableVersion"] = GLOBAL_TABLE_VERSION
        creating = self.is_creating(region, table)
        if creating:
            description["TableStatus"] = "CREATING"
        with self._lock:
            restored = self._restored.get((region, table))
        summary = description.get("RestoreSummary")
        if restored is not None and isinstance(summary, dict):
            summary["RestoreDateTime"] = restored.restore_time
            summary["RestoreInProgress"] = creating

    def _forget_table(self, region: str, table: str) -> None:
        with self._lock:
            for state in (self._histories, self._creating, self._restored, self._replica_since):
                state.pop((region, table), None)
            group = self._groups.get(table)
            if group is not None:
                group.discard(region)
                if len(group) <= 1:
                    del self._groups[table]
            self._newest = {k: v for k, v in self._newest.items() if k[:2] != (region, table)}


def _error(code: str, message: str) -> "CapturedResponse":
    from drharness.world.server import error_response

    return error_response("dynamodb", 400, code, message)
