"""Instruments: what measures a recovery. Each takes boto3 clients from a Target and never knows which.

`Timeline` times RTO phases, `CanaryLedger` measures the data-loss window and the exact lost writes,
`LagProbe` measures the replication lag distribution (CloudWatch's own ReplicationLatency beside it).
"""

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

# Consistency checks (primary vs replica, source vs restore) and RestoreTimer are exported here too once
# settled: from drharness.instruments.consistency import ConsistencyReport, compare_buckets, compare_tables, ...

__all__ = [
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
