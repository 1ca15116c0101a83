"""What a consistency check found: exact counts, the first differences, and the record it becomes."""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from drharness.results import Objective, ResultRecord, TargetName, iso, judge, utc_now
from drharness.results.evidence import ConsistencyEvidence, DifferingEntry
from drharness.results.objectives import DIVERGENCE_METRIC, ZERO_DIVERGENCE

Store = Literal["s3", "dynamodb"]
Method = Literal["merge-join", "bucket-digest", "inventory", "export"]

DEFAULT_MAX_LISTED = 20

T = TypeVar("T")


# A key present on both sides with different content: the record's own evidence type, under the
# instrument's name.
Divergence = DifferingEntry


@dataclass(frozen=True)
class ConsistencyReport:
    """Source vs replica (or expected vs restore): exact counts, the first `max_listed` of each kind.

    `compared_count` is every distinct key seen on either side. Missing keys are in the source and not
    in the replica; extra keys are in the replica only; differing keys are on both sides with other content.
    """

    store: Store
    source: str
    replica: str
    method: Method
    compared_count: int
    source_count: int
    replica_count: int
    missing_count: int
    extra_count: int
    differing_count: int
    first_missing: tuple[str, ...]
    first_extra: tuple[str, ...]
    first_differing: tuple[Divergence, ...]
    max_listed: int
    duration_seconds: float
    started_at: str
    # What the method adds (an inventory compare: the engine, the reports read, source replication statuses).
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def divergent_count(self) -> int:
        return self.missing_count + self.extra_count + self.differing_count

    @property
    def equal(self) -> bool:
        return self.divergent_count == 0

    def summary(self) -> str:
        """One line: what was compared and what differs."""
        if self.equal:
            return f"{self.source} and {self.replica} hold the same {self.compared_count} keys"
        return (
            f"{self.replica} diverges from {self.source}: {self.missing_count} missing, "
            f"{self.extra_count} extra, {self.differing_count} differing of {self.compared_count} keys"
        )

    def to_record(
        self,
        *,
        target: TargetName,
        scenario: str = "consistency",
        resource: str | None = None,
        tier: str | None = None,
        check: str | None = None,
        objective: Objective = ZERO_DIVERGENCE,
        test_id: str = "",
    ) -> ResultRecord:
        """The result record of this check: divergent keys judged against zero divergence."""
        value = float(self.divergent_count)
        verdict, reason = judge(value, objective)
        if not self.equal:
            reason = f"{self.summary()}; {reason}"
        return ResultRecord.against(
            objective,
            check=check or f"consistency-{self.store}",
            scenario=scenario,
            resource=resource or self.replica,
            tier=tier,
            target=target,
            metric=objective.metric,
            value=value,
            unit=objective.unit,
            verdict=verdict,
            reason=reason,
            started_at=self.started_at,
            duration_seconds=self.duration_seconds,
            evidence=ConsistencyEvidence(
                store=self.store,
                source=self.source,
                replica=self.replica,
                method=self.method,
                compared_count=self.compared_count,
                source_count=self.source_count,
                replica_count=self.replica_count,
                missing_count=self.missing_count,
                extra_count=self.extra_count,
                differing_count=self.differing_count,
                first_missing=tuple(self.first_missing),
                first_extra=tuple(self.first_extra),
                first_differing=self.first_differing,
                max_listed=self.max_listed,
                extra=dict(self.details),
            ),
            test_id=test_id,
        )


class Tally:
    """Counts every difference exactly and keeps only the first `max_listed` of each kind (by key)."""

    __slots__ = ("max_listed", "source_count", "replica_count", "missing", "extra", "differing",
                 "missing_count", "extra_count", "differing_count")

    def __init__(self, max_listed: int = DEFAULT_MAX_LISTED) -> None:
        if max_listed < 0:
            raise ValueError(f"max_listed must be 0 or more, got {max_listed}")
        self.max_listed = max_listed
        self.source_count = 0
        self.replica_count = 0
        self.missing_count = 0
        self.extra_count = 0
        self.differing_count = 0
        self.missing: list[str] = []
        self.extra: list[str] = []
        self.differing: list[Divergence] = []

    def add_missing(self, key: str) -> None:
        self.missing_count += 1
        _keep_first(self.missing, key, self.max_listed, _identity)

    def add_extra(self, key: str) -> None:
        self.extra_count += 1
        _keep_first(self.extra, key, self.max_listed, _identity)

    def add_differing(self, key: str, source: str, replica: str) -> None:
        self.differing_count += 1
        if self.max_listed and (len(self.differing) < self.max_listed or key < self.differing[-1].key):
            _keep_first(self.differing, Divergence(key, source, replica), self.max_listed, _divergence_key)

    def absorb(self, other: "Tally") -> None:
        """Add another shard's tally (its keys disjoint from this one's)."""
        self.source_count += other.source_count
        self.replica_count += other.replica_count
        self.missing_count += other.missing_count
        self.extra_count += other.extra_count
        self.differing_count += other.differing_count
        self.missing = _first(self.missing, other.missing, self.max_listed, _identity)
        self.extra = _first(self.extra, other.extra, self.max_listed, _identity)
        self.differing = _first(self.differing, other.differing, self.max_listed, _divergence_key)

    def report(
        self, *, store: Store, source: str, replica: str, method: Method, duration_seconds: float, started_at: str
    ) -> ConsistencyReport:
        return ConsistencyReport(
            store=store,
            source=source,
            replica=replica,
            method=method,
            compared_count=self.source_count + self.extra_count,
            source_count=self.source_count,
            replica_count=self.replica_count,
            missing_count=self.missing_count,
            extra_count=self.extra_count,
            differing_count=self.differing_count,
            first_missing=tuple(self.missing),
            first_extra=tuple(self.extra),
            first_differing=tuple(self.differing),
            max_listed=self.max_listed,
            duration_seconds=duration_seconds,
            started_at=started_at,
        )


def started_now() -> str:
    return iso(utc_now())


def _divergence_key(item: Divergence) -> str:
    return item.key


def _keep_first(items: list[T], item: T, limit: int, key: Callable[[T], str]) -> None:
    """Keep `items` the sorted `limit` smallest; an in-order feed (a merge-join) only ever appends."""
    if limit == 0 or (len(items) >= limit and key(item) >= key(items[-1])):
        return
    if not items or key(items[-1]) < key(item):
        items.append(item)
    else:
        bisect.insort(items, item, key=key)
        del items[limit:]


def _first(a: Iterable[T], b: Iterable[T], limit: int, key: Callable[[T], str]) -> list[T]:
    return heapq.nsmallest(limit, [*a, *b], key=key)


def _identity(text: str) -> str:
    return text
