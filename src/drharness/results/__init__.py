"""Results: every measurement and verdict as one typed record, the recorder that writes them, the objectives.

The record core (`records`) is imported with the package; the recorder and the tier objectives on first
use. Nothing here imports the reports: reports read records, never the other way round.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from drharness._lazy import lazy_exports
from drharness.results.records import (
    REPORTS_ENV,
    RUN_ID_ENV,
    RECORD_KINDS,
    SCHEMA_VERSION,
    RecordKind,
    Comparison,
    JsonValue,
    Objective,
    ResultRecord,
    ResultSink,
    Status,
    TargetName,
    failed_self_checks,
    iso,
    judge,
    list_runs,
    new_run_id,
    read_records,
    reports_dir,
    run_id,
    utc_now,
)

if TYPE_CHECKING:
    from drharness.results.objectives import DIVERGENCE_METRIC, ZERO_DIVERGENCE, TierObjectives, objectives_for
    from drharness.results.recorder import Recorder

__getattr__, __dir__ = lazy_exports(__name__, {
    "drharness.results.objectives": ("DIVERGENCE_METRIC", "ZERO_DIVERGENCE", "TierObjectives", "objectives_for"),
    "drharness.results.recorder": ("Recorder",),
})

__all__ = [
    "Comparison",
    "DIVERGENCE_METRIC",
    "JsonValue",
    "Objective",
    "REPORTS_ENV",
    "RUN_ID_ENV",
    "Recorder",
    "ResultRecord",
    "ResultSink",
    "RECORD_KINDS",
    "SCHEMA_VERSION",
    "RecordKind",
    "Status",
    "TargetName",
    "TierObjectives",
    "ZERO_DIVERGENCE",
    "failed_self_checks",
    "iso",
    "judge",
    "list_runs",
    "new_run_id",
    "objectives_for",
    "read_records",
    "reports_dir",
    "run_id",
    "utc_now",
]
