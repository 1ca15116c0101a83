"""DynamoDB point-in-time recovery: each table's history of changes, restores to a time in its window.

moto stores the PITR flag but restores the current table whatever the requested time. Enabling PITR
takes a baseline of the table's items, then every write is kept as (time, key, item after the
write). A restore rebuilds the table as it was at the requested time, refuses times outside
[earliest, latest] as AWS does, and the restored table stays CREATING for `restore_seconds`.

The latest restorable time trails the world clock by `pitr_latest_lag_seconds`, as DynamoDB's trails
the present (about five minutes, https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/
PointInTimeRecovery_Howitworks.html): a restore to a later time is refused, and a restore to the latest
restorable time holds nothing written in that last stretch.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, field
from typing import Any

from drharness.world.moto import dynamodb as moto_ddb
from drharness.world.plane import Plane
from drharness.world.services.dynamodb.protocol import (
    INVALID_RESTORE_TIME,
    INVALID_RESTORE_TIME_MESSAGE,
    PITR_UNAVAILABLE,
    PITR_UNAVAILABLE_MESSAGE,
    SOURCE_TABLE_NOT_FOUND,
    VALIDATION,
    dynamodb_error,
    iso,
    restore_time_of,
    rewrite_json,
)
from drharness.world.wire import AwsRequest, CapturedResponse, json_response

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
class TableHistory:
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



class PitrMixin:
    """The PITR half of `DynamoDBEngine`: it shares the engine's lock and tables."""

    _lock: threading.RLock
    _plane: Plane
    _histories: dict[tuple[str, str], "TableHistory"]
    _pitr_lag_s: float
    # -- PITR ----------------------------------------------------------------------------------------------

    def _history(self, region: str, table: str) -> TableHistory | None:
        """The table's PITR history, following moto's flag (a table enabled some other way starts now)."""
        with self._lock:
            period = moto_ddb.dynamodb_pitr_period_days(region, table)
            if period is None:
                self._histories.pop((region, table), None)
                return None
            history = self._histories.get((region, table))
            if history is None:
                # Whole milliseconds, as AWS reports them, so a reported time round-trips through SDKs.
                baseline = {skey: image for skey, (_, image) in self._snapshot(region, table).items()}
                history = self._histories[(region, table)] = TableHistory(math.ceil(self._plane.now() * 1000) / 1000, baseline)
            history.trim(self._plane.now(), period)
            return history

    def _latest_restorable(self, history: TableHistory) -> float:
        """The latest time a restore may ask for: the world clock less the PITR lag (never before the earliest)."""
        return max(history.earliest_at, math.floor((self._plane.now() - self._pitr_lag_s) * 1000) / 1000)

    # What a table export reads (services/dynamodb/export.py): the history and its latest restorable time.
    def pitr_history(self, region: str, table: str) -> TableHistory | None:
        return self._history(region, table)

    def latest_restorable(self, history: TableHistory) -> float:
        return self._latest_restorable(history)

    def _describe_pitr(self, region: str, table: str, doc: dict[str, Any]) -> None:
        description = (doc.get("ContinuousBackupsDescription") or {}).get("PointInTimeRecoveryDescription") or {}
        history = self._history(region, table)
        if history is not None and description.get("PointInTimeRecoveryStatus") == "ENABLED":
            description["EarliestRestorableDateTime"] = history.earliest_at
            description["LatestRestorableDateTime"] = self._latest_restorable(history)

    def _refuse_restore(self, request: AwsRequest) -> CapturedResponse | None:
        body, region = request.json_body, request.region
        arn = str(body.get("SourceTableArn") or "")
        arn_region = arn.split(":")[3] if arn.count(":") >= 5 else region
        if arn_region != region:
            return self._cross_region_restore(request, arn_region)
        given = str(body.get("SourceTableName") or body.get("SourceTableArn") or "")
        source = moto_ddb.dynamodb_table_name(region, given)
        if source is None:
            return dynamodb_error(SOURCE_TABLE_NOT_FOUND, f"Source table not found: {given}")
        history = self._history(region, source)
        if history is None:
            return dynamodb_error(PITR_UNAVAILABLE, PITR_UNAVAILABLE_MESSAGE.format(table=source))
        if bool(body.get("UseLatestRestorableTime")) == ("RestoreDateTime" in body):
            return dynamodb_error(VALIDATION, "Specify exactly one of RestoreDateTime and UseLatestRestorableTime")
        if body.get("UseLatestRestorableTime"):
            return None
        at, latest = restore_time_of(body), self._latest_restorable(history)
        if at is None:
            return dynamodb_error(VALIDATION, f"RestoreDateTime {body.get('RestoreDateTime')!r} is not a timestamp")
        if not history.earliest_at <= at <= latest:
            window = {"earliest": iso(history.earliest_at), "latest": iso(latest)}
            return dynamodb_error(INVALID_RESTORE_TIME, INVALID_RESTORE_TIME_MESSAGE.format(time=iso(at), table=source, **window))
        return None

    def _cross_region_restore(self, request: AwsRequest, source_region: str) -> CapturedResponse:
        """Restore a table of another region into this one, as AWS allows; moto cannot, so answer here."""
        body, region = request.json_body, request.region
        arn = str(body["SourceTableArn"])
        source = moto_ddb.dynamodb_table_name(source_region, arn)
        if source is None:
            return dynamodb_error(SOURCE_TABLE_NOT_FOUND, f"Source table not found: {arn}")
        history = self._history(source_region, source)
        if history is None:
            return dynamodb_error(PITR_UNAVAILABLE, PITR_UNAVAILABLE_MESSAGE.format(table=source))
        if bool(body.get("UseLatestRestorableTime")) == ("RestoreDateTime" in body):
            return dynamodb_error(VALIDATION, "Specify exactly one of RestoreDateTime and UseLatestRestorableTime")
        now, latest = self._plane.now(), self._latest_restorable(history)
        at = latest if body.get("UseLatestRestorableTime") else restore_time_of(body)
        if at is None or not history.earliest_at <= at <= latest:
            window = {"earliest": iso(history.earliest_at), "latest": iso(latest)}
            return dynamodb_error(INVALID_RESTORE_TIME, INVALID_RESTORE_TIME_MESSAGE.format(
                time=iso(at) if at is not None else str(body.get("RestoreDateTime")), table=source, **window))
        target = str(body.get("TargetTableName", ""))
        if moto_ddb.dynamodb_table_name(region, target) is not None:
            return dynamodb_error("TableAlreadyExistsException", f"Table already exists: {target}")
        described = self._plane.client("dynamodb", source_region).describe_table(TableName=source)["Table"]
        create: dict[str, Any] = {
            "TableName": target,
            "KeySchema": described["KeySchema"],
            "AttributeDefinitions": described["AttributeDefinitions"],
            "BillingMode": "PAY_PER_REQUEST",
        }
        self._plane.client("dynamodb", region).create_table(**create)
        state = history.state_at(at)
        moto_ddb.dynamodb_replace_items(region, target, list(state.values()))
        self.track_restore(RestoreRecord(region, target, source, "point-in-time", at, now))
        table = self._plane.client("dynamodb", region).describe_table(TableName=target)["Table"]
        table = json.loads(json.dumps(table, default=lambda v: v.timestamp() if hasattr(v, "timestamp") else str(v)))
        table["ItemCount"] = len(state)
        table["RestoreSummary"] = {"SourceTableArn": arn, "RestoreDateTime": at, "RestoreInProgress": True}
        self._describe(region, table)
        return json_response("dynamodb", {"TableDescription": table})

    def _restored_to_point_in_time(self, request: AwsRequest, response: CapturedResponse) -> None:
        body, region = request.json_body, request.region
        source = moto_ddb.dynamodb_table_name(region, str(body.get("SourceTableName") or body.get("SourceTableArn") or ""))
        history = self._history(region, source) if source else None
        if source is None or history is None:
            return
        target = str(body.get("TargetTableName", ""))
        latest = self._latest_restorable(history)
        at = latest if body.get("UseLatestRestorableTime") else (restore_time_of(body) or latest)
        state = history.state_at(at)
        moto_ddb.dynamodb_replace_items(region, target, list(state.values()))
        moto_ddb.dynamodb_copy_billing_mode(region, source, target)
        self.track_restore(RestoreRecord(region, target, source, "point-in-time", at, self._plane.now()))

        def change(doc: dict[str, Any]) -> None:
            description = doc.get("TableDescription") or {}
            description["ItemCount"] = len(state)
            self._describe(region, description)

        rewrite_json(response, change)

