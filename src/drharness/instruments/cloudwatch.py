"""CloudWatch's own ReplicationLatency: what AWS publishes for S3 rules (RTC / replication metrics) and global tables.

Read with get_metric_data and returned in seconds, beside what `LagProbe` measures. The offline world
publishes both as AWS does, from what it applied: S3's for rules with replication metrics or RTC, and
DynamoDB's for every global table (in the source replica's region, per receiving region).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from drharness.errors import MeasurementError


@dataclass(frozen=True)
class MetricPoint:
    at: dt.datetime
    value_seconds: float


@dataclass(frozen=True)
class CloudWatchLatency:
    """A ReplicationLatency series from CloudWatch, converted to seconds."""

    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    statistic: str
    period_seconds: int
    points: tuple[MetricPoint, ...]
    max_seconds: float | None
    mean_seconds: float | None


def s3_replication_latency(
    cloudwatch: Any, source_bucket: str, destination_bucket: str, rule_id: str,
    start: dt.datetime, end: dt.datetime, *, period_s: int = 60, statistic: str = "Maximum",
) -> CloudWatchLatency:
    """AWS/S3 ReplicationLatency (seconds) of one rule; needs RTC or replication metrics enabled on the rule."""
    dims = (("SourceBucket", source_bucket), ("DestinationBucket", destination_bucket), ("RuleId", rule_id))
    return _latency(cloudwatch, "AWS/S3", dims, start, end, period_s, statistic, unit_seconds=1.0)


def dynamodb_replication_latency(
    cloudwatch: Any, table: str, receiving_region: str,
    start: dt.datetime, end: dt.datetime, *, period_s: int = 60, statistic: str = "Average",
) -> CloudWatchLatency:
    """AWS/DynamoDB ReplicationLatency (published in milliseconds, returned in seconds) to one replica region."""
    dims = (("TableName", table), ("ReceivingRegion", receiving_region))
    return _latency(cloudwatch, "AWS/DynamoDB", dims, start, end, period_s, statistic, unit_seconds=0.001)


def _latency(
    cloudwatch: Any, namespace: str, dims: tuple[tuple[str, str], ...], start: dt.datetime, end: dt.datetime,
    period_s: int, statistic: str, *, unit_seconds: float,
) -> CloudWatchLatency:
    query = {
        "Id": "latency",
        "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": "ReplicationLatency",
                       "Dimensions": [{"Name": k, "Value": v} for k, v in dims]},
            "Period": period_s,
            "Stat": statistic,
        },
        "ReturnData": True,
    }
    points: list[MetricPoint] = []
    try:
        pages = cloudwatch.get_paginator("get_metric_data").paginate(MetricDataQueries=[query], StartTime=start, EndTime=end)
        for page in pages:
            for result in page.get("MetricDataResults", []):
                points.extend(_points(result.get("Timestamps", []), result.get("Values", []), unit_seconds))
    except Exception as exc:  # noqa: BLE001 - every failure to read is reported the same way
        raise MeasurementError(
            f"cannot read {namespace} ReplicationLatency for {dict(dims)}: {type(exc).__name__}: {exc}; "
            "check the region (metrics live in the source region) and cloudwatch:GetMetricData permission"
        ) from exc
    points.sort(key=lambda p: p.at)
    values = [p.value_seconds for p in points]
    return CloudWatchLatency(
        namespace, "ReplicationLatency", dims, statistic, period_s, tuple(points),
        max(values) if values else None, sum(values) / len(values) if values else None,
    )


def _points(stamps: Iterable[dt.datetime], values: Iterable[float], unit_seconds: float) -> list[MetricPoint]:
    return [MetricPoint(at.astimezone(dt.timezone.utc), float(v) * unit_seconds) for at, v in zip(stamps, values)]
