"""DynamoDB global tables (2019.11.21): replicas in other regions, kept by asynchronous replication.

moto accepts `UpdateTable(ReplicaUpdates=...)` without creating a replica. Here a replica is created
in the other region with the source's schema and items; each write replicates asynchronously to
every other replica through the world's scheduler (lag drawn from the configured model, held by
`replication-pause` and `region-outage`), last writer wins per item. Ground truth records when each
write was accepted and applied.
"""

from __future__ import annotations

import threading
from typing import Any

from drharness.world.faults.table import FaultTable
from drharness.world.lag import LagSampler
from drharness.world.moto import cloudwatch as moto_cloudwatch
from drharness.world.moto import dynamodb as moto_ddb
from drharness.world.plane import Plane
from drharness.world.services.dynamodb.protocol import (
    REPLICA_EXISTS_MESSAGE,
    REPLICA_STREAM_VIEW,
    RESOURCE_IN_USE,
    VALIDATION,
    Change,
    dynamodb_error,
)
from drharness.world.truth import WriteRecord
from drharness.world.wire import AwsRequest, CapturedResponse


class GlobalTablesMixin:
    """The global-tables half of `DynamoDBEngine`: it shares the engine's lock and tables."""

    _lock: threading.RLock
    _plane: Plane
    _faults: FaultTable
    lag: LagSampler
    _groups: dict[str, set[str]]
    _replica_since: dict[tuple[str, str], float]
    _newest: dict[tuple[str, str, str], tuple[float, str]]
    def _replicate(self, change: Change, source: str, dest: str, accepted: float) -> None:
        table, skey, _, image = change
        lag = self.lag.sample()
        record = self._plane.truth.write(
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
            blockers = self._faults.replication_blockers("dynamodb", table, (source, dest))
            if blockers:
                self._plane.truth.held(record, blockers)
            return bool(blockers)

        def run() -> None:
            self._apply_replica(change, source, dest, accepted, record)

        self._plane.submit(lag, run, blocked, f"dynamodb replicate {table} {source}->{dest} {skey}")

    def _apply_replica(self, change: Change, source: str, dest: str, accepted: float, record: WriteRecord) -> None:
        table, skey, key, image = change
        with self._lock:
            # A replica removed meanwhile gets nothing; a source deleted meanwhile still delivers
            # what it had accepted, as its stream would.
            if not moto_ddb.dynamodb_table_exists(dest, table):
                record.failed = f"no replica of {table} in {dest} any more"
                return
            now, stamp = self._plane.now(), (accepted, source)
            newest = self._newest.get((dest, table, skey))
            # Last writer wins: an image older than the newest write of the item there is dropped, and
            # so is one the replica's initial copy already holds.
            if (newest is None or stamp > newest) and accepted >= self._replica_since.get((dest, table), 0.0):
                self._newest[(dest, table, skey)] = stamp
                history = self._history(dest, table)
                if image is None:
                    moto_ddb.dynamodb_delete_item(dest, table, key)
                else:
                    moto_ddb.dynamodb_put_image(dest, table, image)
                if history is not None:
                    history.events.append((now, skey, image))
            self._plane.truth.replicated(record, dest, now)
        # What DynamoDB publishes in the source replica's region for every global table: the latency to
        # each receiving region, in milliseconds, one point per replicated change.
        moto_cloudwatch.publish(source, "AWS/DynamoDB", "ReplicationLatency",
                                {"TableName": table, "ReceivingRegion": dest}, (now - accepted) * 1000.0,
                                "Milliseconds", now, self._plane.account_id)

    # -- global tables ---------------------------------------------------------------------------------------

    def _refuse_replica_updates(self, request: AwsRequest) -> CapturedResponse | None:
        region, body = request.region, request.json_body
        table = moto_ddb.dynamodb_table_name(region, str(body.get("TableName", "")))
        if table is None:
            return None  # moto answers ResourceNotFoundException
        if self.is_creating(region, table):
            return dynamodb_error(RESOURCE_IN_USE, f"Attempt to change a resource which is still in use: Table is being created: {table}")
        view = moto_ddb.dynamodb_stream_view_type(region, table)
        if view is not None and view != REPLICA_STREAM_VIEW:
            return dynamodb_error(VALIDATION, f"Table {table} has a stream of view type {view}; global tables need {REPLICA_STREAM_VIEW}")
        members = self.replica_regions(table) or {region}
        if region not in members:
            return dynamodb_error(VALIDATION, f"Table {table} in {region} is not a replica of the global table {table}")
        for update in body["ReplicaUpdates"]:
            if "Create" in update:
                dest = str(update["Create"].get("RegionName", ""))
                if not moto_ddb.dynamodb_region_known(dest):
                    return dynamodb_error(VALIDATION, f"Region {dest!r} is not a known AWS region")
                if dest in members or moto_ddb.dynamodb_table_exists(dest, table):
                    return dynamodb_error(VALIDATION, REPLICA_EXISTS_MESSAGE.format(table=table))
                members = members | {dest}
            elif "Delete" in update:
                dest = str(update["Delete"].get("RegionName", ""))
                if dest == region:
                    return dynamodb_error(VALIDATION, f"Delete the replica in {region} with UpdateTable in another replica region")
                if dest not in members:
                    return dynamodb_error(VALIDATION, f"Table {table} has no replica in {dest}")
                members = members - {dest}
        return None

    def _apply_replica_updates(self, region: str, table: str, updates: list[dict[str, Any]]) -> None:
        with self._lock:
            for update in updates:
                if "Create" in update:
                    dest = str(update["Create"]["RegionName"])
                    if moto_ddb.dynamodb_stream_view_type(region, table) is None:
                        # Replication reads the stream: AWS turns it on for the first replica.
                        moto_ddb.dynamodb_enable_stream(region, table, REPLICA_STREAM_VIEW)
                    moto_ddb.dynamodb_create_replica(region, dest, table, update["Create"].get("KMSMasterKeyId"))
                    self._replica_since[(dest, table)] = self._plane.now()
                    self._groups.setdefault(table, {region}).add(dest)
                elif "Delete" in update:
                    dest = str(update["Delete"]["RegionName"])
                    moto_ddb.dynamodb_delete_table(dest, table)
                    self._forget_table(dest, table)

