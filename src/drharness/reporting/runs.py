"""Which runs and months records belong to, and what a record measures: what every report groups by.

The monthly report, the trend and the DR metrics share these: a run's month, the records of a month,
which records are RTO-kind and RPO-kind, and which judge the workload's objectives (not the harness's
self-checks, not information).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from drharness.errors import ReportError
from drharness.reporting.evidence import parse_time
from drharness.results import ResultRecord

OFFLINE_LABEL = "offline (measured in the offline world, not a production figure)"
RTO_METRICS = frozenset({"rto", "rto_seconds", "restore_seconds", "failover_seconds"})
RPO_METRICS = frozenset({"rpo", "rpo_seconds", "data_loss_window", "data_loss_window_seconds"})
RTO_CHECK_PREFIXES = ("rto", "restore", "failover")
RPO_CHECK_PREFIXES = ("rpo", "data_loss_window")
SECOND_UNITS = ("s", "seconds")
MONTH_PATTERN = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
BAD_MONTH = "month {month!r} is not YYYY-MM (e.g. 2025-03)"
LEAKED = "the {what} would expose {count} secret-looking string(s), first {first}; it was not kept"


def check_month(month: str) -> str:
    if not MONTH_PATTERN.match(month or ""):
        raise ReportError(BAD_MONTH.format(month=month))
    return month


def run_month(run_records: Sequence[ResultRecord], run_id: str) -> str:
    """The month a run started in: its earliest started_at, else its id (YYYYMMDDTHHMMSSZ-...)."""
    times = [t for t in (parse_time(r.started_at) for r in run_records) if t is not None]
    if times:
        return min(times).strftime("%Y-%m")
    if re.match(r"^\d{6}", run_id):
        return f"{run_id[:4]}-{run_id[4:6]}"
    return ""


def records_by_month(records: Sequence[ResultRecord]) -> dict[str, list[ResultRecord]]:
    """Month -> the records of the runs that started in it."""
    runs: dict[str, list[ResultRecord]] = defaultdict(list)
    for record in records:
        runs[record.run_id].append(record)
    months: dict[str, list[ResultRecord]] = defaultdict(list)
    for run_id, run_records in runs.items():
        month = run_month(run_records, run_id)
        if month:
            months[month] += run_records
    return dict(months)


def load_records(results_dir: Path) -> list[ResultRecord]:
    """Every record under `results_dir` (one directory per run), oldest run first."""
    records = []
    for directory in sorted(p for p in Path(results_dir).glob("*") if p.is_dir()):
        for path in sorted(directory.glob("*.json")):
            try:
                records.append(ResultRecord.from_json(json.loads(path.read_text(encoding="utf-8"))))
            except (ValueError, TypeError) as exc:
                raise ReportError(f"result record {path} is not a valid record ({exc}); remove or repair it") from exc
    return records


def is_rto(record: ResultRecord) -> bool:
    """An RTO-kind record: rto, restore or failover time (or such a check that ended in an error)."""
    return record.metric in RTO_METRICS or (record.verdict == "error" and record.check.startswith(RTO_CHECK_PREFIXES))


def is_rpo(record: ResultRecord) -> bool:
    """An RPO-kind record: a measured data-loss window (or such a check that ended in an error)."""
    return record.metric in RPO_METRICS or (record.verdict == "error" and record.check.startswith(RPO_CHECK_PREFIXES))


def objective_records(records: Sequence[ResultRecord]) -> list[ResultRecord]:
    """The records that judge the workload's objectives: what every verdict of a report is made from."""
    return [r for r in records if r.judges_objective]


def self_check_records(records: Sequence[ResultRecord]) -> list[ResultRecord]:
    return [r for r in records if r.kind == "self-check"]
