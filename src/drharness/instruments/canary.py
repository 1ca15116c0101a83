"""Measured RPO: sequence-numbered, timestamped canary writes, and what of them survived a failover.

A writer thread puts one canary per interval into the replicated store (S3 objects under the
replicated prefix, or DynamoDB items in one partition) and keeps, for each, when it was issued and
when it was acknowledged (UTC and monotonic); a write that fails is kept as failed, never as written.
After the fault, `assess` reads the survivor (only the ledger's prefix or partition) and reports the
newest canary present, the data-loss window (fault time minus that canary's write time) and the exact
acknowledged canaries that did not survive.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from drharness.errors import MeasurementError
from drharness.instruments.timeline import PhaseMark, target_name
from drharness.results import JsonValue, Objective, ResultRecord, iso, judge, new_run_id, utc_now
from drharness.results.evidence import CanaryEvidence

DEFAULT_S3_PREFIX = "embeddings/_canary/"  # under the seed's replicated prefix, so canaries replicate
EVIDENCE_LIMIT = 500  # lost sequences listed in a record's evidence; the count is always exact

NO_CANARY_BEFORE_FAULT = "no canary was acknowledged before the fault: start the ledger before injecting"
NONE_SURVIVED = "none of the canaries reached the survivor: the window is at least the ledger's whole run"

Moment = dt.datetime | float | PhaseMark


@dataclass(frozen=True)
class Canary:
    """One canary write: when it was issued and acknowledged; `error` says why it failed."""

    seq: int
    key: str
    written_at: dt.datetime
    written_monotonic: float
    acknowledged_at: dt.datetime | None = None
    acknowledged_monotonic: float | None = None
    error: str = ""

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None


@dataclass(frozen=True)
class LedgerAssessment:
    """What survived: newest canary present, data-loss window and the exact lost sequence numbers."""

    store: str
    resource: str
    region: str
    series: str  # this instrument's id, in every key it writes
    fault_time: dt.datetime
    interval_seconds: float
    canaries_written: int  # acknowledged
    canaries_failed: int
    canaries_before_fault: int  # acknowledged and issued before the fault
    present_count: int  # ledger canaries found in the survivor
    newest_present_seq: int | None
    newest_present_written_at: dt.datetime | None
    data_loss_window_seconds: float | None
    window_is_lower_bound: bool
    lost_sequences: tuple[int, ...]
    unacknowledged_present: tuple[int, ...]  # in the survivor though the write reported failure
    reason: str

    @property
    def lost_writes(self) -> int:
        return len(self.lost_sequences)

    def to_record(
        self,
        objective: Objective | None,
        *,
        scenario: str,
        tier: str | None,
        target: object,
        metric: str = "rpo",
        check: str = "",
        started_at: dt.datetime | None = None,
        duration_seconds: float = 0.0,
        test_id: str = "",
        run_id: str = "",
    ) -> ResultRecord:
        """The data-loss window as a record (metric "rpo" or "data_loss_window", seconds) judged against objectives.rpo."""
        verdict, reason = judge(self.data_loss_window_seconds, objective, reason_if_missing=self.reason)
        if verdict == "pass" and self.window_is_lower_bound:
            reason = f"{reason}; {self.reason}"
        evidence = CanaryEvidence(
            store=self.store,
            series=self.series,
            region=self.region,
            fault_time=iso(self.fault_time),
            interval_seconds=self.interval_seconds,
            canaries_written=self.canaries_written,
            canaries_failed=self.canaries_failed,
            canaries_before_fault=self.canaries_before_fault,
            present_count=self.present_count,
            newest_present_seq=self.newest_present_seq,
            newest_present_written_at=iso(self.newest_present_written_at) if self.newest_present_written_at else None,
            window_is_lower_bound=self.window_is_lower_bound,
            lost_writes=self.lost_writes,
            lost_sequences=tuple(self.lost_sequences[:EVIDENCE_LIMIT]),
            lost_sequences_truncated=self.lost_writes > EVIDENCE_LIMIT,
            unacknowledged_present=tuple(self.unacknowledged_present[:EVIDENCE_LIMIT]),
        )
        return ResultRecord.against(
            objective,
            check=check or f"{metric}:{self.store}:{self.resource}",
            scenario=scenario,
            resource=self.resource,
            tier=tier,
            target=target_name(target),
            metric=metric,
            value=self.data_loss_window_seconds,
            unit="s",
            verdict=verdict,
            reason=reason,
            started_at=iso(started_at or self.fault_time),
            duration_seconds=duration_seconds,
            evidence=evidence,
            test_id=test_id,
            run_id=run_id,
        )


class CanaryStore(Protocol):
    """Where canaries go and how the survivor's copies are listed."""

    store: str
    resource: str

    def key(self, seq: int) -> str: ...

    def put(self, seq: int, written_at: dt.datetime) -> None: ...

    def present(self, client: Any, resource: str) -> Iterator[int]: ...


class S3CanaryStore:
    """Canaries as objects `<prefix><series>/<seq:08d>` with a JSON body {seq, written_at}."""

    store = "s3"

    def __init__(self, client: Any, bucket: str, prefix: str, series: str) -> None:
        self.client, self.resource, self.series = client, bucket, series
        self.folder = f"{prefix}{series}/"

    def key(self, seq: int) -> str:
        return f"{self.folder}{seq:08d}"

    def put(self, seq: int, written_at: dt.datetime) -> None:
        body = json.dumps({"seq": seq, "written_at": iso(written_at), "series": self.series}).encode()
        self.client.put_object(Bucket=self.resource, Key=self.key(seq), Body=body, ContentType="application/json")

    def present(self, client: Any, resource: str) -> Iterator[int]:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=resource, Prefix=self.folder):
            for obj in page.get("Contents", []):
                tail = obj["Key"][len(self.folder):]
                if tail.isdigit():
                    yield int(tail)


class DynamoDBCanaryStore:
    """Canaries as items {hash_key: "canary#<series>", range_key: "<seq:08d>", seq, written_at}.

    In a table with no sort key each canary is its own partition, {hash_key: "canary#<series>#<seq:08d>"},
    and finding them takes a Scan (filtered on the series) instead of a Query.
    """

    store = "dynamodb"

    def __init__(self, client: Any, table: str, hash_key: str, range_key: str | None, series: str) -> None:
        self.client, self.resource, self.series = client, table, series
        self.hash_key, self.range_key = hash_key, range_key or None  # "" (a config's "no sort key") is none
        self.partition = f"canary#{series}"

    def key(self, seq: int) -> str:
        return f"{self.partition}/{seq:08d}"

    def put(self, seq: int, written_at: dt.datetime) -> None:
        keys = ({self.hash_key: {"S": f"{self.partition}#{seq:08d}"}} if self.range_key is None
                else {self.hash_key: {"S": self.partition}, self.range_key: {"S": f"{seq:08d}"}})
        self.client.put_item(
            TableName=self.resource,
            Item={**keys, "seq": {"N": str(seq)}, "written_at": {"S": iso(written_at)}},
        )

    def present(self, client: Any, resource: str) -> Iterator[int]:
        if self.range_key is None:
            yield from self._present_by_scan(client, resource)
            return
        pages = client.get_paginator("query").paginate(
            TableName=resource,
            KeyConditionExpression="#h = :h",
            ExpressionAttributeNames={"#h": self.hash_key, "#r": self.range_key},
            ExpressionAttributeValues={":h": {"S": self.partition}},
            ProjectionExpression="#r",
            ConsistentRead=True,
        )
        for page in pages:
            for item in page.get("Items", []):
                tail = item.get(self.range_key, {}).get("S", "")
                if tail.isdigit():
                    yield int(tail)

    def _present_by_scan(self, client: Any, resource: str) -> Iterator[int]:
        pages = client.get_paginator("scan").paginate(
            TableName=resource,
            FilterExpression="begins_with(#h, :p)",
            ExpressionAttributeNames={"#h": self.hash_key},
            ExpressionAttributeValues={":p": {"S": f"{self.partition}#"}},
            ProjectionExpression="#h",
            ConsistentRead=True,
        )
        for page in pages:
            for item in page.get("Items", []):
                tail = item.get(self.hash_key, {}).get("S", "").rsplit("#", 1)[-1]
                if tail.isdigit():
                    yield int(tail)


def _resolve(moment: Moment) -> tuple[dt.datetime, float | None]:
    """A moment as (UTC datetime, monotonic seconds when known)."""
    if isinstance(moment, PhaseMark):
        return moment.at, moment.monotonic_seconds
    if isinstance(moment, dt.datetime):
        if moment.tzinfo is None:
            raise MeasurementError(f"moment {moment!r} has no timezone; pass a timezone-aware UTC datetime")
        return moment.astimezone(dt.timezone.utc), None
    if isinstance(moment, (int, float)):
        return dt.datetime.fromtimestamp(moment, dt.timezone.utc), None
    raise MeasurementError(f"moment {moment!r} is not a datetime, an epoch number or a timeline PhaseMark")


class CanaryLedger:
    """Write canaries at a steady rate; after the fault, `assess` what the survivor still holds."""

    def __init__(self, store: CanaryStore, interval_s: float, series: str) -> None:
        if not interval_s > 0:
            raise MeasurementError(f"canary interval {interval_s!r} s must be above 0; pick e.g. 0.1 offline, 1-5 live")
        self.store = store
        self.interval_seconds = float(interval_s)
        self.series = series
        self._lock = threading.Lock()
        self._canaries: list[Canary] = []
        self._next_seq = 1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def s3(
        cls, client: Any, bucket: str, *, prefix: str = DEFAULT_S3_PREFIX, interval_s: float = 0.1, series: str | None = None
    ) -> "CanaryLedger":
        """A ledger writing objects under `prefix` (keep it inside the replicated prefix) of `bucket`."""
        series = series or new_run_id()
        return cls(S3CanaryStore(client, bucket, prefix, series), interval_s, series)

    @classmethod
    def dynamodb(
        cls,
        client: Any,
        table: str,
        *,
        hash_key: str = "pk",
        range_key: str | None = "sk",
        interval_s: float = 0.1,
        series: str | None = None,
    ) -> "CanaryLedger":
        """A ledger writing items into partition `canary#<series>` of `table`."""
        series = series or new_run_id()
        return cls(DynamoDBCanaryStore(client, table, hash_key, range_key, series), interval_s, series)

    # -- writing ---------------------------------------------------------------------------------

    def start(self) -> "CanaryLedger":
        """Start the writer thread (one canary now, then one per interval)."""
        if self._thread is not None:
            raise MeasurementError(f"canary ledger {self.series} is already started; use a new ledger for a new run")
        self._thread = threading.Thread(target=self._loop, name=f"drharness-canary-{self.series}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop writing; waits for the write in flight (a write to a dead region fails after its retries)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                raise MeasurementError(
                    f"canary writer {self.series} did not stop within {timeout_s:g} s; a write is hanging on the "
                    "store: lower the client's read_timeout or raise the stop timeout"
                )

    def __enter__(self) -> "CanaryLedger":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _loop(self) -> None:
        due = time.monotonic()
        while not self._stop.is_set():
            self.write_now()
            due += self.interval_seconds
            now = time.monotonic()
            # A slow write (a dead region's retries) delays the schedule rather than bursting to catch up.
            due = max(due, now)
            if self._stop.wait(due - now):
                return

    def write_now(self) -> Canary:
        """Write the next canary now, from the calling thread; return how it went."""
        with self._lock:
            seq = self._next_seq
            self._next_seq += 1
        written_at, written_mono = utc_now(), time.monotonic()
        try:
            self.store.put(seq, written_at)
        except Exception as exc:  # noqa: BLE001 - any failure means "not acknowledged"; keep why
            canary = Canary(seq, self.store.key(seq), written_at, written_mono, error=f"{type(exc).__name__}: {exc}")
        else:
            canary = Canary(seq, self.store.key(seq), written_at, written_mono, utc_now(), time.monotonic())
        with self._lock:
            self._canaries.append(canary)
        return canary

    # -- reading ---------------------------------------------------------------------------------

    def canaries(self) -> tuple[Canary, ...]:
        """Every canary attempted so far, in sequence order."""
        with self._lock:
            return tuple(sorted(self._canaries, key=lambda c: c.seq))

    def state_at(self, moment: Moment) -> frozenset[int]:
        """Sequences acknowledged by `moment`: what a restore to that point in time must hold."""
        at, mono = _resolve(moment)
        return frozenset(c.seq for c in self.canaries() if c.acknowledged and _not_after(c, at, mono, acked=True))

    def uncertain_at(self, moment: Moment) -> frozenset[int]:
        """Sequences issued by `moment` but not acknowledged by then: a restore may or may not hold them."""
        at, mono = _resolve(moment)
        settled = self.state_at(moment)
        return frozenset(c.seq for c in self.canaries() if c.seq not in settled and _not_after(c, at, mono, acked=False))

    def assess(self, survivor: Any, fault_time: Moment, *, resource: str | None = None) -> LedgerAssessment:
        """Read the survivor (a boto3 client of the store's service in the surviving region) and report the loss.

        `resource` is the survivor's bucket or table (default: the ledger's own, as a global table keeps
        its name). `fault_time` is when the fault hit: a UTC datetime, epoch seconds or the timeline's
        `fault_injected` mark (then the window comes from the monotonic clock).
        """
        at, mono = _resolve(fault_time)
        resource = resource or self.store.resource
        region = str(getattr(getattr(survivor, "meta", None), "region_name", "") or "")
        try:
            present = set(self.store.present(survivor, resource))
        except Exception as exc:  # noqa: BLE001 - every failure to read is reported the same way
            raise MeasurementError(
                f"cannot list canaries of series {self.series} in {self.store.store} {resource} "
                f"({region or 'unknown region'}): {type(exc).__name__}: {exc}; "
                "check that the survivor is reachable and the name is right"
            ) from exc
        canaries = self.canaries()
        acked = [c for c in canaries if c.acknowledged]
        before = [c for c in acked if _not_after(c, at, mono, acked=False)]
        survived = [c for c in canaries if c.seq in present and _not_after(c, at, mono, acked=False)]
        newest = max(survived, key=lambda c: c.seq, default=None)
        lower_bound = False
        if newest is not None:
            window: float | None = _seconds_between(newest, at, mono)
            reason = f"newest canary in the survivor is #{newest.seq}, written {window:.3f} s before the fault"
        elif before:
            window, lower_bound, reason = _seconds_between(before[0], at, mono), True, NONE_SURVIVED
        else:
            window, reason = None, NO_CANARY_BEFORE_FAULT
        lost = tuple(c.seq for c in before if c.seq not in present)
        if lost:
            reason += f"; {len(lost)} acknowledged canar{'y' if len(lost) == 1 else 'ies'} lost"
        return LedgerAssessment(
            store=self.store.store,
            resource=resource,
            region=region,
            series=self.series,
            fault_time=at,
            interval_seconds=self.interval_seconds,
            canaries_written=len(acked),
            canaries_failed=len(canaries) - len(acked),
            canaries_before_fault=len(before),
            present_count=len({c.seq for c in canaries} & present),
            newest_present_seq=newest.seq if newest else None,
            newest_present_written_at=newest.written_at if newest else None,
            data_loss_window_seconds=window,
            window_is_lower_bound=lower_bound,
            lost_sequences=lost,
            unacknowledged_present=tuple(c.seq for c in canaries if not c.acknowledged and c.seq in present),
            reason=reason,
        )

    def evidence(self) -> Mapping[str, JsonValue]:
        """A short summary of the ledger's writes for a record's evidence."""
        canaries = self.canaries()
        return {
            "series": self.series,
            "store": self.store.store,
            "resource": self.store.resource,
            "interval_seconds": self.interval_seconds,
            "attempted": len(canaries),
            "acknowledged": sum(1 for c in canaries if c.acknowledged),
            "first_written_at": iso(canaries[0].written_at) if canaries else None,
            "last_written_at": iso(canaries[-1].written_at) if canaries else None,
        }


def _not_after(canary: Canary, at: dt.datetime, mono: float | None, *, acked: bool) -> bool:
    """Whether the canary was acknowledged (`acked`) or issued no later than the moment."""
    if acked:
        when, when_mono = canary.acknowledged_at, canary.acknowledged_monotonic
    else:
        when, when_mono = canary.written_at, canary.written_monotonic
    if when is None:
        return False
    if mono is not None and when_mono is not None:
        return when_mono <= mono
    return when <= at


def _seconds_between(canary: Canary, at: dt.datetime, mono: float | None) -> float:
    # The fault time may come from another process (the world, a FIS experiment): the wall clock is
    # then the only clock both sides share; within this process the monotonic clock is used.
    if mono is not None:
        return mono - canary.written_monotonic
    return (at - canary.written_at).total_seconds()
