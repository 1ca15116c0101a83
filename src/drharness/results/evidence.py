"""Typed evidence: what each instrument saw, one frozen dataclass per instrument, named by its `kind`.

A record's JSON holds the evidence's fields flat under `evidence`, with `kind` among them; reading the
record back (`ResultRecord.typed_evidence`) yields the dataclass again. Keys an instrument's caller adds
beside its own fields (a drill's note, a restore's consistency count) travel in `extra`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Union

JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]


@dataclass(frozen=True)
class _Evidence:
    """The JSON round trip every evidence type shares: fields flat, `extra` merged in, `kind` kept."""

    _nested: ClassVar[Mapping[str, type]] = {}

    def to_json(self) -> dict[str, JsonValue]:
        data: dict[str, JsonValue] = {}
        for item in dataclasses.fields(self):
            if item.name != "extra":
                data[item.name] = _plain(getattr(self, item.name))
        extra = getattr(self, "extra", {})
        return {**{k: v for k, v in extra.items() if k not in data}, **data}

    @classmethod
    def from_json(cls, data: Mapping[str, JsonValue]) -> "_Evidence":
        names = {item.name for item in dataclasses.fields(cls) if item.init and item.name != "extra"}
        values: dict[str, Any] = {}
        for name in names & set(data):
            value = data[name]
            nested = cls._nested.get(name)
            if nested is not None and isinstance(value, list):
                value = tuple(nested(**item) for item in value if isinstance(item, Mapping))
            elif isinstance(value, list):
                value = tuple(value)
            values[name] = value
        extra = {k: v for k, v in data.items() if k not in names and k != "kind"}
        return cls(**values, extra=extra)  # type: ignore[call-arg]


def _plain(value: object) -> JsonValue:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value  # type: ignore[return-value]


@dataclass(frozen=True)
class PhaseEntry:
    """One timeline phase reached: its name, when (ISO-8601 UTC), and how it was seen."""

    phase: str
    at: str
    note: str = ""


@dataclass(frozen=True)
class TimelineEvidence(_Evidence):
    """A recovery's phases (fault, detected, failed over, verified) and the seconds between them."""

    label: str
    phases: tuple[PhaseEntry, ...]
    durations_seconds: Mapping[str, float]
    problems: tuple[str, ...] = ()
    extra: Mapping[str, JsonValue] = field(default_factory=dict)
    kind: Literal["timeline"] = field(default="timeline", init=False)
    _nested: ClassVar[Mapping[str, type]] = {"phases": PhaseEntry}


@dataclass(frozen=True)
class CanaryEvidence(_Evidence):
    """A canary ledger after failover: what was written, what the survivor holds, what was lost."""

    store: str
    series: str
    region: str
    fault_time: str
    interval_seconds: float
    canaries_written: int
    canaries_failed: int
    canaries_before_fault: int
    present_count: int
    newest_present_seq: int | None
    newest_present_written_at: str | None
    window_is_lower_bound: bool
    lost_writes: int
    lost_sequences: tuple[int, ...]
    lost_sequences_truncated: bool
    unacknowledged_present: tuple[int, ...]
    extra: Mapping[str, JsonValue] = field(default_factory=dict)
    kind: Literal["canary-ledger"] = field(default="canary-ledger", init=False)


@dataclass(frozen=True)
class LagEvidence(_Evidence):
    """A lag probe's distribution: how many probes, how many replicated in time, the percentiles."""

    store: str
    source: str
    replica: str
    series: str
    count: int
    probes_written: int
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
    uncertainty_max_seconds: float | None
    poll_interval_seconds: float
    timeout_seconds: float
    max_uncertainty_seconds: float
    extra: Mapping[str, JsonValue] = field(default_factory=dict)
    kind: Literal["lag-probe"] = field(default="lag-probe", init=False)

    def percentiles_seconds(self) -> dict[str, float]:
        """The measured percentiles by name (min, p50, p90, p99, max, mean); absent ones left out."""
        named = {"min": self.lag_min_seconds, "p50": self.lag_p50_seconds, "p90": self.lag_p90_seconds,
                 "p99": self.lag_p99_seconds, "max": self.lag_max_seconds, "mean": self.lag_mean_seconds}
        return {k: float(v) for k, v in named.items() if v is not None}


@dataclass(frozen=True)
class DifferingEntry:
    """A key both sides hold with different content, and each side's fingerprint."""

    key: str
    source: str
    replica: str


@dataclass(frozen=True)
class ConsistencyEvidence(_Evidence):
    """A consistency check: exact counts of each difference kind and the first keys of each."""

    store: str
    source: str
    replica: str
    method: str
    compared_count: int
    source_count: int
    replica_count: int
    missing_count: int
    extra_count: int
    differing_count: int
    first_missing: tuple[str, ...]
    first_extra: tuple[str, ...]
    first_differing: tuple[DifferingEntry, ...]
    max_listed: int
    extra: Mapping[str, JsonValue] = field(default_factory=dict)
    kind: Literal["consistency"] = field(default="consistency", init=False)
    _nested: ClassVar[Mapping[str, type]] = {"first_differing": DifferingEntry}


@dataclass(frozen=True)
class RestoreEvidence(_Evidence):
    """A timed restore: what was restored into what, and how long availability and verification took."""

    restore_kind: str
    source: str
    restored_resource: str
    region: str
    verified: bool
    measurement_reason: str
    available_seconds: float | None
    verify_seconds: float | None
    service_reported_seconds: float | None
    restore_point: str | None
    timeout_seconds: float
    extra: Mapping[str, JsonValue] = field(default_factory=dict)
    kind: Literal["restore"] = field(default="restore", init=False)


@dataclass(frozen=True)
class ComplianceEvidence(_Evidence):
    """A configuration property: what the tier expects and what the resource has."""

    expected: str
    actual: str
    extra: Mapping[str, JsonValue] = field(default_factory=dict)
    kind: Literal["compliance"] = field(default="compliance", init=False)


Evidence = Union[TimelineEvidence, CanaryEvidence, LagEvidence, ConsistencyEvidence, RestoreEvidence,
                 ComplianceEvidence]
EVIDENCE_TYPES: Mapping[str, type[_Evidence]] = {
    "timeline": TimelineEvidence, "canary-ledger": CanaryEvidence, "lag-probe": LagEvidence,
    "consistency": ConsistencyEvidence, "restore": RestoreEvidence, "compliance": ComplianceEvidence,
}


def evidence_json(evidence: "Evidence | Mapping[str, JsonValue] | None") -> dict[str, JsonValue]:
    """The JSON a record stores for `evidence`: a typed evidence's fields with its kind, or the mapping as given."""
    if evidence is None:
        return {}
    if isinstance(evidence, _Evidence):
        return evidence.to_json()
    return dict(evidence)


def evidence_from_json(data: Mapping[str, JsonValue]) -> "Evidence | None":
    """The typed evidence a record's JSON holds, or None when it names no known kind."""
    kind = data.get("kind")
    cls = EVIDENCE_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        return None
    try:
        return cls.from_json(data)  # type: ignore[return-value]
    except TypeError:  # a field missing or malformed: not this kind's evidence after all
        return None
