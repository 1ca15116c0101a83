"""Replication lag, measured: probe writes on the source, first visibility on the replica.

Each probe is written on the source and its acknowledgement time kept; a poller then asks the replica,
round after round, which probes it holds. One List (S3) or Query (DynamoDB) per round sees every
outstanding probe at once, so the round stays a few milliseconds long however many probes are in
flight, where per-object HEAD/GetItem would cost one request per probe per round. A probe's true lag
lies in a bracket: visible after the round that missed it began and by the end of the round that saw
it, accepted between the write's send and its acknowledgement; the lag reported is the bracket's
middle. Probes never seen within the timeout are timeouts and fail the verdict. For S3 the source's
`ReplicationStatus` transitions (PENDING -> COMPLETED/FAILED) can be traced too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from drharness.errors import MeasurementError
from drharness.instruments.lag_stores import DynamoDBProbeStore, ProbeStore, S3ProbeStore
from drharness.instruments.timeline import target_name
from drharness.results import Objective, ResultRecord, iso, judge, new_run_id, utc_now
from drharness.results.evidence import LagEvidence
from drharness.waiting import wait_until

DEFAULT_S3_PREFIX = "embeddings/_lagprobe/"  # under the seed's replicated prefix, so probes replicate
TERMINAL_STATUSES = ("COMPLETED", "FAILED")
REPLACEMENTS = 2  # imprecise probes replaced, at most this many times the probes asked for
TIMEOUTS = "{timeouts} of {count} probes not visible in {replica} within {timeout:g} s"
FAILED_WRITES = "{failed} of {count} probe writes failed on {source} (last error: {error})"
NOTHING_MEASURED = "no probe was measured"
REPLICATION_FAILED = ("{failed} of {count} probes read ReplicationStatus FAILED on {source}: S3 will not replicate them "
                      "(the rule's role, its permissions or the replica KMS key)")
# How often, at most, an S3 probe unseen on the replica has its source status read: a FAILED probe is a
# finding at once instead of a timeout, for one HEAD a second.
STATUS_CHECK_S = 1.0
TOO_IMPRECISE = (
    "only {measured} of {count} probes could be timed within {uncertainty:g} s ({written} written): polls or "
    "writes stalled; rerun on a quieter host or raise max_uncertainty_s"
)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between closest ranks (numpy's default)."""
    if not values:
        raise MeasurementError("percentile of no values; measure at least one probe")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class StatusChange:
    """The source's ReplicationStatus seen to change, seconds after the write was acknowledged."""

    status: str
    seen_after_seconds: float


@dataclass(frozen=True)
class ProbeLag:
    """One probe: its lag and the bracket the true lag lies in, or why it has none (write failed, timed out)."""

    key: str
    written_at: dt.datetime | None  # acknowledgement, UTC
    lag_seconds: float | None  # middle of the bracket
    lag_low_seconds: float | None
    lag_high_seconds: float | None
    precise: bool = False  # bracket within the run's max_uncertainty_s; only these enter the distribution
    timed_out: bool = False
    error: str = ""
    statuses: tuple[StatusChange, ...] = ()
    replication_failed: bool = False  # the source reported FAILED: S3 gave up on it

    @property
    def uncertainty_seconds(self) -> float | None:
        if self.lag_low_seconds is None or self.lag_high_seconds is None:
            return None
        return self.lag_high_seconds - self.lag_low_seconds


@dataclass(frozen=True)
class LagDistribution:
    """The lag of every probe and its summary: count, percentiles, max, mean, timeouts."""

    store: str
    source: str  # resource@region
    replica: str
    series: str  # this instrument's id, in every key it writes
    count: int  # probes asked for
    probes_written: int  # including the replacements of imprecise probes
    measured: int
    imprecise: int
    timeouts: int
    failed_writes: int
    lag_min_seconds: float | None
    lag_p50_seconds: float | None
    lag_p90_seconds: float | None
    lag_p99_seconds: float | None
    lag_max_seconds: float | None
    lag_mean_seconds: float | None
    uncertainty_max_seconds: float | None  # widest bracket among the measured probes
    poll_interval_seconds: float
    timeout_seconds: float
    max_uncertainty_seconds: float | None
    started_at: dt.datetime
    duration_seconds: float
    probes: tuple[ProbeLag, ...]
    reason: str
    replication_failed: int = 0

    @property
    def ok(self) -> bool:
        return (self.measured >= self.count and self.timeouts == 0 and self.failed_writes == 0
                and self.replication_failed == 0)

    def to_record(
        self,
        objective: Objective | None,
        *,
        scenario: str,
        tier: str | None,
        target: object,
        check: str = "",
        test_id: str = "",
        run_id: str = "",
    ) -> ResultRecord:
        """The p99 lag as a record (metric from objectives.replication_lag), failed outright on timeouts."""
        verdict, reason = judge(self.lag_p99_seconds, objective, reason_if_missing=self.reason)
        if not self.ok:
            verdict, reason = "fail", self.reason
        evidence = LagEvidence(**{
            item.name: getattr(self, item.name) for item in dataclasses.fields(LagEvidence) if item.init
            and item.name != "extra"
        })
        return ResultRecord.against(
            objective,
            check=check or f"replication-lag:{self.store}:{self.source}",
            scenario=scenario,
            resource=self.source.split("@", 1)[0],
            tier=tier,
            target=target_name(target),
            metric=objective.metric if objective else "replication_lag_p99",
            value=self.lag_p99_seconds,
            unit="s",
            verdict=verdict,
            reason=reason,
            started_at=iso(self.started_at),
            duration_seconds=self.duration_seconds,
            evidence=evidence,
            test_id=test_id,
            run_id=run_id,
        )


@dataclass
class _Probe:
    seq: int
    key: str
    sent: float = 0.0
    acked: float | None = None
    acked_at: dt.datetime | None = None
    error: str = ""
    visible_low: float | None = None  # monotonic: not yet visible at some moment after this
    visible_high: float | None = None  # monotonic: visible by then
    timed_out: bool = False
    replication_failed: bool = False
    statuses: list[StatusChange] = field(default_factory=list)

    @property
    def settled(self) -> bool:
        return bool(self.error) or self.timed_out or self.replication_failed or self.visible_high is not None

    def bracket(self) -> tuple[float, float] | None:
        """(lowest, highest) possible lag: visibility in [low, high], acceptance in [sent, acked]."""
        if self.acked is None or self.visible_low is None or self.visible_high is None:
            return None
        return self.visible_low - self.acked, self.visible_high - self.sent


class _Run:
    """One measurement: a writer thread, a poller (the caller's thread), optionally a status tracer."""

    def __init__(self, store: ProbeStore, count: int, spacing_s: float, interval_s: float, timeout_s: float,
                 max_uncertainty_s: float | None, track_status: bool) -> None:
        self.store, self.count, self.spacing_s, self.track_status = store, count, spacing_s, track_status
        self.interval_s, self.timeout_s, self.max_uncertainty_s = interval_s, timeout_s, max_uncertainty_s
        self.max_probes = (1 + REPLACEMENTS) * count if max_uncertainty_s is not None else count
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.writing_done = threading.Event()
        self.probes: list[_Probe] = []
        self.previous_begin: float | None = None
        self.last_error = ""
        self.last_status_check = time.monotonic()

    def precise(self, probe: _Probe) -> bool:
        bracket = probe.bracket()
        if bracket is None:
            return False
        return self.max_uncertainty_s is None or bracket[1] - bracket[0] <= self.max_uncertainty_s

    def _next_probe(self) -> _Probe | None:
        """The next probe to write, or None while enough probes are out (lock held)."""
        if len(self.probes) >= self.max_probes:
            return None
        # An imprecise probe is replaced; a timeout or a failed write is a finding and is not.
        counting = sum(1 for p in self.probes if not p.settled or p.error or p.timed_out or self.precise(p))
        if counting >= self.count:
            return None
        # Sent is stamped a moment before the request leaves: the bracket stays valid, a hair wider.
        probe = _Probe(len(self.probes) + 1, self.store.key(len(self.probes) + 1), sent=time.monotonic())
        self.probes.append(probe)
        return probe

    def write_loop(self) -> None:
        try:
            while not self.stop.is_set():
                with self.lock:
                    probe = self._next_probe()
                    finished = probe is None and (len(self.probes) >= self.max_probes or all(p.settled for p in self.probes))
                if finished:
                    return
                if probe is None:
                    self.stop.wait(self.interval_s)
                    continue
                try:
                    self.store.write(probe.seq)
                except Exception as exc:  # noqa: BLE001 - a failed probe write is counted, not raised
                    with self.lock:
                        probe.error = f"{type(exc).__name__}: {exc}"
                else:
                    acked, acked_at = time.monotonic(), utc_now()
                    with self.lock:
                        probe.acked, probe.acked_at = acked, acked_at
                if self.spacing_s:
                    self.stop.wait(self.spacing_s)
        finally:
            self.writing_done.set()

    def poll_round(self) -> bool:
        """Ask the replica once; True when every probe is settled and no more will be written."""
        with self.lock:
            floor = min((p.seq for p in self.probes if not p.settled), default=len(self.probes) + 1) - 1
        begin = time.monotonic()
        try:
            seen = self.store.visible(floor)
        except Exception as exc:  # noqa: BLE001 - an unreachable replica shows nothing this round
            self.last_error = f"{type(exc).__name__}: {exc}"
            seen = None
        end = time.monotonic()
        with self.lock:
            for probe in self.probes:
                if probe.settled:
                    continue
                # A probe may show on the replica before its writer has noted the acknowledgement.
                if seen is not None and probe.key in seen:
                    # The replica read its state somewhere inside each round: a probe missing from the
                    # previous round was not visible before that round began, and was visible by this one's end.
                    low = probe.sent if self.previous_begin is None else max(self.previous_begin, probe.sent)
                    probe.visible_low, probe.visible_high = low, end
                elif probe.acked is not None and end - probe.acked > self.timeout_s:
                    probe.timed_out = True
            done = self.writing_done.is_set() and all(p.settled and self._status_settled(p, end) for p in self.probes)
        if seen is not None:
            self.previous_begin = begin
        if not done and isinstance(self.store, S3ProbeStore) and end - self.last_status_check >= STATUS_CHECK_S:
            self._check_oldest_status(end)
        return done

    def _check_oldest_status(self, now: float) -> None:
        """Read the source status of the probes still unseen, oldest first; FAILED settles one as a finding."""
        self.last_status_check = now
        store = self.store
        assert isinstance(store, S3ProbeStore)
        with self.lock:
            waiting = [p for p in self.probes if not p.settled and p.acked is not None and now - p.acked >= STATUS_CHECK_S]
        if not waiting:
            return
        for probe in waiting:  # oldest first; the first that has not failed ends the pass
            try:
                status = store.status(probe.key)
            except Exception:  # noqa: BLE001 - a missed status read is retried a second later
                return
            if status != "FAILED":
                return
            with self.lock:
                probe.replication_failed = True

    def _status_settled(self, probe: _Probe, now: float) -> bool:
        """Whether the status trace of a probe is over: terminal, moot, or out of time (lock held)."""
        if not self.track_status or probe.error or probe.timed_out or probe.acked is None:
            return True
        return bool(probe.statuses and probe.statuses[-1].status in TERMINAL_STATUSES) or now - probe.acked > self.timeout_s

    def trace_status(self, interval_s: float, workers: int) -> None:
        store = self.store
        assert isinstance(store, S3ProbeStore)

        def check(probe: _Probe) -> None:
            try:
                status = store.status(probe.key)
            except Exception:  # noqa: BLE001 - a missed status poll is retried next round
                return
            with self.lock:
                if probe.acked is not None and (not probe.statuses or probe.statuses[-1].status != status):
                    probe.statuses.append(StatusChange(status, time.monotonic() - probe.acked))

        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="drharness-lagstatus") as pool:
            while not self.stop.is_set():
                with self.lock:
                    todo = [p for p in self.probes if p.acked is not None and not p.error
                            and (not p.statuses or p.statuses[-1].status not in TERMINAL_STATUSES)]
                list(pool.map(check, todo))
                if self.stop.wait(interval_s):
                    return

    def result(self, probe: _Probe) -> ProbeLag:
        bracket = probe.bracket()
        statuses = tuple(probe.statuses)
        if bracket is None:
            return ProbeLag(probe.key, probe.acked_at, None, None, None,
                            timed_out=not probe.error and not probe.replication_failed, error=probe.error,
                            statuses=statuses, replication_failed=probe.replication_failed)
        low, high = bracket
        return ProbeLag(probe.key, probe.acked_at, (low + high) / 2, low, high, precise=self.precise(probe),
                        statuses=statuses)


class LagProbe:
    """Write probes on the source and time each one's first visibility on the replica."""

    def __init__(self, store: ProbeStore, series: str) -> None:
        self.store = store
        self.series = series

    @classmethod
    def s3(
        cls, source: Any, source_bucket: str, replica: Any, replica_bucket: str, *,
        prefix: str = DEFAULT_S3_PREFIX, series: str | None = None,
    ) -> "LagProbe":
        """Probe S3 replication from `source_bucket` (client `source`) to `replica_bucket` (client `replica`)."""
        series = series or new_run_id()
        return cls(S3ProbeStore(source, source_bucket, replica, replica_bucket, prefix, series), series)

    @classmethod
    def dynamodb(
        cls, source: Any, replica: Any, table: str, *, replica_table: str | None = None,
        hash_key: str = "pk", range_key: str | None = "sk", series: str | None = None,
    ) -> "LagProbe":
        """Probe a global table from the `source` client's region to the `replica` client's region
        (`range_key=None` for a table with no sort key)."""
        series = series or new_run_id()
        return cls(DynamoDBProbeStore(source, replica, table, replica_table or table, hash_key, range_key, series), series)

    def run(
        self,
        count: int = 50,
        *,
        spacing_s: float = 0.02,
        interval_s: float = 0.01,
        timeout_s: float = 60.0,
        max_uncertainty_s: float | None = None,
        track_status: bool = False,
        status_interval_s: float = 0.05,
        workers: int = 4,
    ) -> LagDistribution:
        """Measure `count` probes written `spacing_s` apart, polling the replica every `interval_s`.

        Each probe's true lag lies in a bracket (visibility between two polls, acceptance between the
        write's send and its acknowledgement); the lag reported is the bracket's middle, so it is off
        by at most half the bracket. With `max_uncertainty_s`, a probe bracketed wider than that (a
        stalled poll or write) is kept out of the distribution and replaced, up to REPLACEMENTS x `count`.
        A probe not visible `timeout_s` after its write is a timeout and fails the verdict.
        `track_status` (S3 only) also polls each probe's source ReplicationStatus every
        `status_interval_s` with `workers` threads; it adds load, so precise lag runs leave it off.
        """
        bad_bound = max_uncertainty_s is not None and max_uncertainty_s <= 0
        if count < 1 or spacing_s < 0 or interval_s <= 0 or timeout_s <= 0 or bad_bound:
            raise MeasurementError(
                "lag probe needs count >= 1, spacing_s >= 0, interval_s > 0, timeout_s > 0, max_uncertainty_s > 0 "
                f"(got count={count}, spacing_s={spacing_s}, interval_s={interval_s}, timeout_s={timeout_s}, "
                f"max_uncertainty_s={max_uncertainty_s})"
            )
        if track_status and not isinstance(self.store, S3ProbeStore):
            raise MeasurementError("ReplicationStatus exists only for S3; run the DynamoDB probe with track_status=False")
        run = _Run(self.store, count, spacing_s, interval_s, timeout_s, max_uncertainty_s, track_status)
        started_at, started = utc_now(), time.monotonic()
        threads = [threading.Thread(target=run.write_loop, name=f"drharness-lagprobe-{self.series}", daemon=True)]
        if track_status:
            threads.append(threading.Thread(target=run.trace_status, args=(status_interval_s, workers),
                                            name=f"drharness-lagstatus-{self.series}", daemon=True))
        for thread in threads:
            thread.start()
        # The overall deadline is a safety net only: each probe times out on its own.
        deadline = run.max_probes * (spacing_s + 5.0) + timeout_s
        try:
            wait_until(run.poll_round, deadline, interval_s, what="every lag probe to be seen or time out")
        finally:
            run.stop.set()
            for thread in threads:
                thread.join(30)
        return self._summarise(run, started_at, time.monotonic() - started)

    def _summarise(self, run: _Run, started_at: dt.datetime, duration: float) -> LagDistribution:
        with run.lock:
            results = tuple(run.result(p) for p in run.probes)
        measured = [r for r in results if r.precise and r.lag_seconds is not None]
        lags = [r.lag_seconds for r in measured if r.lag_seconds is not None]
        imprecise = sum(1 for r in results if r.lag_seconds is not None and not r.precise)
        timeouts = sum(1 for r in results if r.timed_out)
        failed = [r for r in results if r.error]
        refused = sum(1 for r in results if r.replication_failed)
        reasons = []
        if refused:
            reasons.append(REPLICATION_FAILED.format(failed=refused, count=len(results), source=self.store.source))
        if timeouts:
            reasons.append(TIMEOUTS.format(timeouts=timeouts, count=len(results), replica=self.store.replica,
                                           timeout=run.timeout_s)
                           + (f" (last poll error: {run.last_error})" if run.last_error else ""))
        if failed:
            reasons.append(FAILED_WRITES.format(failed=len(failed), count=len(results), source=self.store.source,
                                                error=failed[-1].error))
        if imprecise and len(lags) < run.count:
            reasons.append(TOO_IMPRECISE.format(measured=len(lags), count=run.count,
                                                uncertainty=run.max_uncertainty_s or 0.0, written=len(results)))
        elif not lags:
            reasons.append(NOTHING_MEASURED)

        def stat(fn: Callable[[list[float]], float]) -> float | None:
            return fn(lags) if lags else None

        uncertainties = [r.uncertainty_seconds for r in measured if r.uncertainty_seconds is not None]
        return LagDistribution(
            store=self.store.store,
            source=self.store.source,
            replica=self.store.replica,
            series=self.series,
            count=run.count,
            probes_written=len(results),
            measured=len(lags),
            imprecise=imprecise,
            timeouts=timeouts,
            failed_writes=len(failed),
            lag_min_seconds=stat(min),
            lag_p50_seconds=stat(lambda v: percentile(v, 50)),
            lag_p90_seconds=stat(lambda v: percentile(v, 90)),
            lag_p99_seconds=stat(lambda v: percentile(v, 99)),
            lag_max_seconds=stat(max),
            lag_mean_seconds=stat(lambda v: sum(v) / len(v)),
            uncertainty_max_seconds=max(uncertainties) if uncertainties else None,
            poll_interval_seconds=run.interval_s,
            timeout_seconds=run.timeout_s,
            max_uncertainty_seconds=run.max_uncertainty_s,
            started_at=started_at,
            duration_seconds=duration,
            probes=results,
            reason="; ".join(reasons) or f"{len(lags)} probes measured, p99 {percentile(lags, 99):.3f} s",
            replication_failed=refused,
        )
