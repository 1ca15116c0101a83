"""The monthly DR report's content: per-tier measures, month summaries, tables and charts, as frozen values.

`monthly` builds these from result records; the templates lay them out.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

from drharness.reporting.evidence import NOT_MEASURED, format_value


@dataclass(frozen=True)
class Measure:
    """The month's worst measurement of one kind (RTO or RPO) for one tier."""

    objective_seconds: float | None
    objective_source: str  # "config": the workload's tier objective | "records": no workload, the records' | ""
    worst_seconds: float | None
    count: int
    verdict: str  # pass | fail | error | not measured
    targets: tuple[str, ...]

    @property
    def objective_text(self) -> str:
        if self.objective_seconds is None:
            return NOT_MEASURED
        text = format_value(self.objective_seconds, "s")
        return text + " (from records)" if self.objective_source == "records" else text

    @property
    def measured_text(self) -> str:
        return NOT_MEASURED if self.worst_seconds is None else format_value(self.worst_seconds, "s")


@dataclass(frozen=True)
class TierRow:
    tier: str
    rto: Measure
    rpo: Measure


@dataclass(frozen=True)
class MonthSummary:
    month: str
    runs: int
    verdicts: tuple[tuple[str, int], ...]
    pass_rate_percent: float | None
    worst_rto_seconds: float | None
    worst_rpo_seconds: float | None
    worst_lag_p99_seconds: float | None

    def count(self, verdict: str) -> int:
        return dict(self.verdicts).get(verdict, 0)


@dataclass(frozen=True)
class Row:
    """One table row of plain, already formatted cells (the templates only lay them out)."""

    cells: tuple[str, ...]


@dataclass(frozen=True)
class Chart:
    title: str
    file_name: str
    png: bytes = field(repr=False)

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode()


@dataclass(frozen=True)
class Section:
    """A table with its heading, a note (what it was read from) and the rows."""

    title: str
    note: str
    header: tuple[str, ...]
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class MonthlyReport:
    month: str
    generated_at: str
    title: str
    targets: tuple[str, ...]
    runs: tuple[str, ...]
    tiers: tuple[TierRow, ...]
    summary: MonthSummary
    trend: tuple[MonthSummary, ...]
    sections: tuple[Section, ...]
    charts: tuple[Chart, ...]
    self_checks: Section | None = None  # what the harness checked of itself: its instruments, its faults
    untrusted: str = ""  # why this month's objective verdicts cannot be trusted (a failed self-check); "" if they can

    @property
    def offline(self) -> bool:
        return "offline" in self.targets


@dataclass(frozen=True)
class MonthlyOutput:
    directory: Path
    markdown: Path
    html: Path
    charts: tuple[Path, ...]
    report: MonthlyReport
