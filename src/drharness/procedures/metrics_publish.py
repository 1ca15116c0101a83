"""Put the guide's CloudWatch DR metrics, computed from result records by `reporting.metrics`, to a target.

The guide's `dr-metrics.py` puts constants; here each value comes from `compute_metrics`, and a metric
with nothing to compute from is skipped, never published as 0.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from drharness.reporting.metrics import DrMetrics, metric_values
from drharness.results import utc_now
from drharness.target import Target


@dataclass(frozen=True)
class PublishedMetric:
    namespace: str
    name: str
    value: float
    unit: str
    dimensions: tuple[tuple[str, str], ...]
    timestamp: dt.datetime


def publish_metrics(
    target: Target, region: str, metrics: DrMetrics, *, project: str, environment: str,
    timestamp: dt.datetime | None = None,
) -> list[PublishedMetric]:
    """Put each measured DR metric to CloudWatch with dimensions Project/Environment; return what was put.

    A metric that is None is skipped, never published as 0.
    """
    at = timestamp or utc_now()
    dimensions = (("Project", project), ("Environment", environment))
    cloudwatch = target.client("cloudwatch", region)
    published = []
    for namespace, name, value, unit in metric_values(metrics):
        if value is None:
            continue
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=[{
            "MetricName": name, "Value": value, "Unit": unit, "Timestamp": at,
            "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions],
        }])
        published.append(PublishedMetric(namespace, name, value, unit, dimensions, at))
    return published


__all__ = ["PublishedMetric", "publish_metrics"]
