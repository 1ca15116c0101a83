"""DynamoDB in the offline world: the engine that sees every DynamoDB request.

It refuses what AWS would refuse and moto does not, serializes writes so that a write and the image
read after it are one step, records each change for point-in-time recovery (`pitr`) and replicates
it to the other replicas of a global table (`global_tables`), and shows in moto's answers what moto
does not know (replicas, a restore still running, the restored point in time).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

from drharness.config import LagModel
from drharness.world.engine import BaseEngine
from drharness.world.faults.table import FaultTable
from drharness.world.lag import LagSampler
from drharness.world.moto import dynamodb as moto_ddb
from drharness.world.moto import scan_index as moto_scan_index
from drharness.world.moto import scan_pages as moto_scan_pages
from drharness.world.plane import Plane
from drharness.world.services.dynamodb.global_tables import GlobalTablesMixin
from drharness.world.services.dynamodb.pitr import PitrMixin, RestoreRecord, TableHistory
from drharness.world.services.dynamodb.protocol import (
    DATA_OPS,
    GLOBAL_TABLE_VERSION,
    PARTIQL_OPS,
    PARTIQL_TABLE,
    RESOURCE_NOT_FOUND,
    TABLE_CREATING_MESSAGE,
    WRITE_OPS,
    Change,
    described_name,
    dynamodb_error,
    rewrite_json,
    stable_key,
    statements,
    written_items,
)
from drharness.world.wire import AwsRequest, CapturedResponse

class DynamoDBEngine(PitrMixin, GlobalTablesMixin, BaseEngine):
    def __init__(self, plane: Plane, faults: FaultTable, lag: LagModel, restore_seconds: float,
                 pitr_latest_lag_seconds: float = 0.0) -> None:
        self._plane = plane
        self._faults = faults
        self.lag = LagSampler(lag, plane.rng)
        self.restores: list[RestoreRecord] = []
        self._lock = threading.RLock()
        self._local = threading.local()
        self._restore_seconds = float(restore_seconds)
        self._pitr_lag_s = float(pitr_latest_lag_seconds)
        moto_scan_index.install()
        self._histories: dict[tuple[str, str], TableHistory] = {}
        self._groups: dict[str, set[str]] = {}  # table name -> regions holding a replica
        self._replica_since: dict[tuple[str, str], float] = {}  # (region, table) -> when its replica was copied
        self._newest: dict[tuple[str, str, str], tuple[float, str]] = {}  # (region, table, key) -> (accepted_at, region)
        self._creating: dict[tuple[str, str], float] = {}  # (region, table) -> monotonic start of its restore
        self._restored: dict[tuple[str, str], RestoreRecord] = {}

    @property
    def indexed_scan(self) -> bool:
        """Whether Scan is served from each table's sorted index and its pages (and Query's) written in one walk
        (True), or by moto's own walk and serializer (the reference)."""
        return moto_scan_index.enabled

    @indexed_scan.setter
    def indexed_scan(self, on: bool) -> None:
        moto_scan_index.enabled = moto_scan_pages.enabled = bool(on)

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

    def before(self, request: AwsRequest) -> CapturedResponse | None:
        if request.service != "dynamodb":
            return None
        try:
            return self._refusal(request)
        except Exception as exc:  # noqa: BLE001 - a malformed request is moto's to reject, not ours to crash on
            self._plane.report(f"DynamoDBEngine.before {request.operation}: {exc!r}")
            return None

    def _refusal(self, request: AwsRequest) -> CapturedResponse | None:
        op = request.operation
        if op in DATA_OPS and self._creating:
            for table in self._tables_named(request):
                if self.is_creating(request.region, table):
                    return dynamodb_error(RESOURCE_NOT_FOUND, TABLE_CREATING_MESSAGE.format(table=table))
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
                self._plane.report(f"DynamoDBEngine.guard {request.operation}: {exc!r}")
                self._local.before = {}
            try:
                yield
            finally:
                self._local.before = None

    def after(self, request: AwsRequest, response: CapturedResponse) -> None:
        if request.service != "dynamodb" or not response.ok:
            return
        op, region, body = request.operation, request.region, request.json_body
        if op in WRITE_OPS or op in PARTIQL_OPS:
            self._after_write(request)
        elif op == "DescribeTable":
            rewrite_json(response, lambda doc: self._describe(region, doc.get("Table") or {}))
        elif op == "UpdateTable":
            if body.get("ReplicaUpdates"):
                self._apply_replica_updates(region, described_name(response), body["ReplicaUpdates"])
            rewrite_json(response, lambda doc: self._describe(region, doc.get("TableDescription") or {}))
        elif op in ("UpdateContinuousBackups", "DescribeContinuousBackups"):
            table = moto_ddb.dynamodb_table_name(region, str(body.get("TableName", ""))) or ""
            self._history(region, table)  # moto has switched the flag; the history follows (AWS drops it on disable)
            rewrite_json(response, lambda doc: self._describe_pitr(region, table, doc))
        elif op == "RestoreTableToPointInTime":
            self._restored_to_point_in_time(request, response)
        elif op == "RestoreTableFromBackup":
            found = moto_ddb.dynamodb_backup_source(region, str(body.get("BackupArn", "")))
            source, at = found if found else ("", self._plane.now())
            target = str(body.get("TargetTableName", ""))
            self.track_restore(RestoreRecord(region, target, source, "backup", at, self._plane.now()))
            rewrite_json(response, lambda doc: self._describe(region, doc.get("TableDescription") or {}))
        elif op == "DeleteTable":
            self._forget_table(region, described_name(response))

    # -- which tables and items a request touches -------------------------------------------------------

    def _tables_named(self, request: AwsRequest) -> list[str]:
        body, region = request.json_body, request.region
        names = [str(body["TableName"])] if body.get("TableName") else []
        names += [str(name) for name in body.get("RequestItems") or {}]
        for entry in body.get("TransactItems") or []:
            names += [str(spec.get("TableName", "")) for spec in entry.values() if isinstance(spec, dict)]
        for statement in statements(body):
            names += PARTIQL_TABLE.findall(statement)
        resolved = (moto_ddb.dynamodb_table_name(region, name) or name for name in names if name)
        return list(dict.fromkeys(resolved))

    def _tracked(self, region: str, table: str) -> bool:
        """Whether writes to this table matter here: PITR is on, or it is a global table replica."""
        return self._history(region, table) is not None or region in self._groups.get(table, ())

    def _images_before(self, request: AwsRequest) -> dict[str, Any]:
        """What a write request is about to change, read before moto applies it (lock held)."""
        region, op, body = request.region, request.operation, request.json_body
        if op in WRITE_OPS:
            found: dict[str, Any] = {}
            for given, attributes in written_items(op, body):
                table = moto_ddb.dynamodb_table_name(region, given)
                names = moto_ddb.dynamodb_key_names(region, table) if table else ()
                if table and names and all(n in attributes for n in names) and self._tracked(region, table):
                    key = {n: attributes[n] for n in names}
                    found[f"{table}\0{stable_key(key)}"] = (table, key, moto_ddb.dynamodb_item(region, table, key))
            return found
        if op in PARTIQL_OPS and not all(s.lstrip().upper().startswith("SELECT") for s in statements(body)):
            return {t: self._snapshot(region, t) for t in self._tables_named(request) if self._tracked(region, t)}
        return {}

    def _snapshot(self, region: str, table: str) -> dict[str, tuple[dict[str, Any], Any]]:
        return {stable_key(key): (key, image) for key, image in moto_ddb.dynamodb_snapshot(region, table)}

    # -- writes: PITR history and replication ------------------------------------------------------------

    def _after_write(self, request: AwsRequest) -> None:
        before: dict[str, Any] = getattr(self._local, "before", None) or {}
        region, at = request.region, self._plane.now()
        changes: list[Change] = []
        if request.operation in WRITE_OPS:
            for table, key, old in before.values():
                new = moto_ddb.dynamodb_item(region, table, key)
                if not moto_ddb.dynamodb_same_image(old, new):
                    changes.append((table, stable_key(key), key, new))
        else:
            for table, old_items in before.items():
                new_items = self._snapshot(region, table)
                for skey in sorted(set(old_items) | set(new_items)):
                    old, new = old_items.get(skey, (None, None)), new_items.get(skey, (None, None))
                    if not moto_ddb.dynamodb_same_image(old[1], new[1]):
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
        if restored is not None:
            # moto keeps no summary for a table the world restored itself (a cross-region restore).
            summary = description.get("RestoreSummary")
            if not isinstance(summary, dict):
                summary = description["RestoreSummary"] = {}
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


