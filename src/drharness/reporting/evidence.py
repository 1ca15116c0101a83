"""Read what reports show from a record's evidence: the instruments' typed evidence first.

A record an instrument made carries typed evidence (`ResultRecord.typed_evidence`: timeline, lag probe,
canary ledger, consistency check). Evidence that names no kind (records written by hand, by a game
day's own tooling) is read by its keys, tolerating any that is absent or malformed. This module turns
either into the values the charts, tables and Allure steps draw.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from drharness.results import JsonValue, ResultRecord
from drharness.timefmt import human_seconds
from drharness.timefmt import parse_iso as parse_time
from drharness.results.evidence import CanaryEvidence, ConsistencyEvidence, LagEvidence, TimelineEvidence

DIFFERENCE_KINDS = ("missing", "extra", "differing")
NOT_MEASURED = "not measured"  # what every report shows for a value that has no measurement
_PERCENTILE_KEY = re.compile(r"^(?:lag_)?(p\d{1,2}(?:\.\d+)?|max|min|mean)(?:_seconds|_s)?$")


@dataclass(frozen=True)
class Phase:
    """A timeline phase reached `offset_seconds` after the first one."""

    phase: str
    offset_seconds: float
    at: dt.datetime | None
    note: str = ""


@dataclass(frozen=True)
class LagSummary:
    """Replication lag: the samples if the record kept them, and named percentiles (p50, p99, max...)."""

    samples_seconds: tuple[float, ...]
    percentiles_seconds: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class CanaryPoint:
    """One canary of the ledger: sequence, seconds from the first write, and what became of it."""

    seq: int
    offset_seconds: float | None
    status: str  # "present" | "lost" | "failed"


@dataclass(frozen=True)
class CanaryLedgerView:
    points: tuple[CanaryPoint, ...]
    fault_offset_seconds: float | None
    written: int
    lost: int


@dataclass(frozen=True)
class Difference:
    """One consistency difference: a key missing from or extra in the replica, or differing in content."""

    kind: str
    key: str
    source: str = ""
    replica: str = ""


def _number(value: JsonValue) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def phases_of(record: ResultRecord) -> tuple[Phase, ...]:
    """The timeline phases in order, each with its offset from the first (from offset_seconds or `at`)."""
    typed = record.typed_evidence
    raw = [vars(p) for p in typed.phases] if isinstance(typed, TimelineEvidence) else record.evidence.get("phases")
    if not isinstance(raw, list):
        return ()
    items = [item for item in raw if isinstance(item, Mapping) and isinstance(item.get("phase"), str)]
    times = [parse_time(item.get("at")) for item in items]
    origin = next((t for t in times if t is not None), None)
    phases = []
    for item, at in zip(items, times):
        offset = _number(item.get("offset_seconds"))
        if offset is None and at is not None and origin is not None:
            offset = (at - origin).total_seconds()
        if offset is None:
            continue
        phases.append(Phase(str(item["phase"]), offset, at, str(item.get("note") or "")))
    return tuple(phases)


def lags_of(record: ResultRecord) -> LagSummary | None:
    """Lag samples (evidence lags_seconds) and/or percentiles (p50/p90/p99/max keys); None if neither."""
    typed = record.typed_evidence
    if isinstance(typed, LagEvidence):
        named_typed = typed.percentiles_seconds()
        if not named_typed:
            return None
        return LagSummary((), tuple(sorted(named_typed.items(), key=lambda kv: _order(kv[0]))))
    raw = record.evidence.get("lags_seconds")
    samples = tuple(v for v in (_number(x) for x in raw) if v is not None) if isinstance(raw, list) else ()
    named = []
    for key, value in record.evidence.items():
        match = _PERCENTILE_KEY.match(key)
        number = _number(value)
        if match and number is not None:
            named.append((match.group(1), number))
    if isinstance(record.evidence.get("percentiles_seconds"), Mapping):
        for key, value in record.evidence["percentiles_seconds"].items():  # type: ignore[union-attr]
            number = _number(value)
            if number is not None:
                named.append((str(key), number))
    if not samples and not named:
        return None
    return LagSummary(samples, tuple(sorted(dict(named).items(), key=lambda kv: _order(kv[0]))))


def _order(name: str) -> float:
    if name.startswith("p"):
        try:
            return float(name[1:])
        except ValueError:
            return 101.0
    return {"min": -1.0, "mean": 50.5, "max": 100.5}.get(name, 101.0)


def canaries_of(record: ResultRecord) -> CanaryLedgerView | None:
    """The canary ledger: per canary if evidence lists `canaries`, else from lost_sequences and counts."""
    typed = record.typed_evidence
    if isinstance(typed, CanaryEvidence):
        return _ledger(typed.canaries_written, set(typed.lost_sequences), typed.lost_writes)
    ev = record.evidence
    fault = parse_time(ev.get("fault_time"))
    raw = ev.get("canaries")
    if isinstance(raw, list) and raw:
        items = [c for c in raw if isinstance(c, Mapping) and _number(c.get("seq")) is not None]
        times = [parse_time(c.get("written_at")) for c in items]
        origin = min((t for t in times if t is not None), default=None)
        points = []
        for item, at in zip(items, times):
            offset = _number(item.get("offset_seconds"))
            if offset is None and at is not None and origin is not None:
                offset = (at - origin).total_seconds()
            points.append(CanaryPoint(int(item["seq"]), offset, _canary_status(item)))  # type: ignore[arg-type]
        fault_offset = (fault - origin).total_seconds() if fault and origin else None
        return CanaryLedgerView(tuple(points), fault_offset, len(points), sum(p.status == "lost" for p in points))
    written = _number(ev.get("canaries_written"))
    lost_raw = ev.get("lost_sequences")
    if written is None and not isinstance(lost_raw, list):
        return None
    lost = {int(s) for s in lost_raw if _number(s) is not None} if isinstance(lost_raw, list) else set()
    total = int(written) if written is not None else max(lost, default=0)
    lost_count = _number(ev.get("lost_writes"))
    return _ledger(total, lost, int(lost_count) if lost_count is not None else len(lost))


def _ledger(total: int, lost: set[int], lost_count: int) -> CanaryLedgerView:
    """A ledger known by counts: canaries 1..total, those in `lost` lost."""
    points = tuple(CanaryPoint(seq, None, "lost" if seq in lost else "present") for seq in range(1, total + 1))
    return CanaryLedgerView(points, None, total, lost_count)


def _canary_status(item: Mapping[str, JsonValue]) -> str:
    if item.get("acknowledged") is False or item.get("error"):
        return "failed"
    if item.get("lost") is True or item.get("present") is False:
        return "lost"
    return "present"


def differences_of(record: ResultRecord) -> tuple[Difference, ...]:
    """The listed consistency differences (first_missing, first_extra, first_differing)."""
    typed = record.typed_evidence
    if isinstance(typed, ConsistencyEvidence):
        return (tuple(Difference("missing", key) for key in typed.first_missing)
                + tuple(Difference("extra", key) for key in typed.first_extra)
                + tuple(Difference("differing", d.key, d.source, d.replica) for d in typed.first_differing))
    ev = record.evidence
    found: list[Difference] = []
    for kind in ("missing", "extra"):
        raw = ev.get(f"first_{kind}")
        if isinstance(raw, list):
            found += [Difference(kind, str(key)) for key in raw]
    raw = ev.get("first_differing")
    if isinstance(raw, list):
        for item in raw:
            if isinstance(item, Mapping):
                found.append(Difference("differing", str(item.get("key", "")), str(item.get("source", "")),
                                        str(item.get("replica", ""))))
            else:
                found.append(Difference("differing", str(item)))
    return tuple(found)


def differences_csv(differences: Sequence[Difference]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["kind", "key", "source", "replica"])
    for d in differences:
        writer.writerow([d.kind, d.key, d.source, d.replica])
    return out.getvalue()


def differences_html(record: ResultRecord, differences: Sequence[Difference]) -> str:
    """A self-contained HTML table of the differences, with the exact counts above it."""
    ev = record.evidence
    counts = ", ".join(f"{ev[f'{k}_count']} {k}" for k in DIFFERENCE_KINDS if _number(ev.get(f"{k}_count")) is not None)
    compared = _number(ev.get("compared_count"))
    heading = f"{html.escape(str(ev.get('source', '')))} vs {html.escape(str(ev.get('replica', record.resource)))}"
    rows = "\n".join(
        f"<tr><td>{html.escape(d.kind)}</td><td>{html.escape(d.key)}</td>"
        f"<td>{html.escape(d.source)}</td><td>{html.escape(d.replica)}</td></tr>"
        for d in differences
    )
    summary = f"{counts} of {compared:g} keys compared" if counts and compared is not None else counts
    return (
        "<!doctype html><html><head><meta charset='utf-8'><style>"
        "body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;font-family:monospace}</style></head><body>"
        f"<h3>{heading}</h3><p>{html.escape(summary)} (first listed below)</p>"
        "<table><thead><tr><th>kind</th><th>key</th><th>source</th><th>replica</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></body></html>"
    )


def format_value(value: float | None, unit: str) -> str:
    """A measured value with its unit, durations also in hours or minutes: `14400 s (4 h)`."""
    if value is None:
        return NOT_MEASURED
    text = f"{value:.6g} {unit}".strip()
    if unit in ("s", "seconds") and abs(value) >= 120:
        text += f" ({human_seconds(value)})"
    return text


def objective_text(record: ResultRecord) -> str:
    """`rto <= 14400 s (4 h)`, or `none` when no objective applies."""
    if record.objective is None:
        return "none"
    return f"{record.metric} {record.comparison or '<='} {format_value(record.objective, record.unit)}"
