"""Instruments: what measures a recovery. Each takes boto3 clients from a Target and never knows which.

`Timeline` times RTO phases, `CanaryLedger` measures the data-loss window and the exact lost writes,
`LagProbe` measures the replication lag distribution (CloudWatch's own ReplicationLatency beside it),
the consistency checks compare primary vs replica and source-at-T vs restore with bounded memory, and
`RestoreTimer` times PITR, backup, AWS Backup and FSx restores to usable and verified.
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

from drharness.instruments.consistency import (
    BucketSide,
    ConsistencyReport,
    Divergence,
    ExpectedObject,
    TableSide,
    compare_bucket_to_expected,
    compare_buckets,
    compare_table_to_expected,
    compare_tables,
)
from drharness.instruments.restore import RestoreMeasurement, RestoreTimer, VerifyOutcome

__all__ = [
    "BucketSide",
    "ConsistencyReport",
    "Divergence",
    "ExpectedObject",
    "RestoreMeasurement",
    "RestoreTimer",
    "TableSide",
    "VerifyOutcome",
    "compare_bucket_to_expected",
    "compare_buckets",
    "compare_table_to_expected",
    "compare_tables",
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
