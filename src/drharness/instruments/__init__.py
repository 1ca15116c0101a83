"""Instruments: what measures a recovery. Each takes boto3 clients from a Target and never knows which.

`Timeline` times RTO phases, `CanaryLedger` measures the data-loss window and the exact lost writes,
`LagProbe` measures the replication lag distribution (CloudWatch's own ReplicationLatency beside it),
the consistency checks compare primary vs replica and source-at-T vs restore with bounded memory, and
`RestoreTimer` times PITR, backup, AWS Backup and FSx restores to usable and verified.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from drharness._lazy import lazy_exports
from drharness.instruments.consistency import __all__ as _consistency_all  # a lazy package: cheap

_CONSISTENCY = tuple(_consistency_all)

if TYPE_CHECKING:
    from drharness.instruments.canary import Canary, CanaryLedger, LedgerAssessment
    from drharness.instruments.cloudwatch import (
        CloudWatchLatency,
        MetricPoint,
        dynamodb_replication_latency,
        s3_replication_latency,
    )
    from drharness.instruments.lag import LagDistribution, LagProbe, ProbeLag, StatusChange, percentile
    from drharness.instruments.timeline import (
        DETECTED,
        FAILED_OVER,
        FAULT_INJECTED,
        PHASES,
        RESTORED,
        VERIFIED,
        PhaseDuration,
        PhaseMark,
        Timeline,
        TimelineResult,
        dynamodb_write_read_probe,
        s3_write_read_probe,
    )
    from drharness.instruments.consistency import *  # noqa: F403 - its __all__, re-exported
    from drharness.instruments.restore import RestoreMeasurement, RestoreTimer, VerifyOutcome

__getattr__, __dir__ = lazy_exports(__name__, {
    "drharness.instruments.canary": ("Canary", "CanaryLedger", "LedgerAssessment"),
    "drharness.instruments.cloudwatch": (
        "CloudWatchLatency", "MetricPoint", "dynamodb_replication_latency", "s3_replication_latency",
    ),
    "drharness.instruments.lag": ("LagDistribution", "LagProbe", "ProbeLag", "StatusChange", "percentile"),
    "drharness.instruments.timeline": (
        "DETECTED", "FAILED_OVER", "FAULT_INJECTED", "PHASES", "RESTORED", "VERIFIED", "PhaseDuration", "PhaseMark",
        "Timeline", "TimelineResult", "dynamodb_write_read_probe", "s3_write_read_probe",
    ),
    "drharness.instruments.consistency": _CONSISTENCY,
    "drharness.instruments.restore": ("RestoreMeasurement", "RestoreTimer", "VerifyOutcome"),
})

__all__ = [
    *_CONSISTENCY,
    "RestoreMeasurement",
    "RestoreTimer",
    "VerifyOutcome",
    "DETECTED",
    "FAILED_OVER",
    "FAULT_INJECTED",
    "PHASES",
    "RESTORED",
    "VERIFIED",
    "Canary",
    "CanaryLedger",
    "CloudWatchLatency",
    "LagDistribution",
    "LagProbe",
    "LedgerAssessment",
    "MetricPoint",
    "PhaseDuration",
    "PhaseMark",
    "ProbeLag",
    "StatusChange",
    "Timeline",
    "TimelineResult",
    "dynamodb_replication_latency",
    "dynamodb_write_read_probe",
    "percentile",
    "s3_replication_latency",
    "s3_write_read_probe",
]
