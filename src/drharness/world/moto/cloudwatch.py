"""CloudWatch metric data written straight into moto's backend: what AWS services publish about themselves."""

from __future__ import annotations

import datetime as dt

from moto.cloudwatch.models import cloudwatch_backends

from drharness.world.moto.core import DEFAULT_ACCOUNT_ID


def publish(region: str, namespace: str, name: str, dimensions: dict[str, str], value: float, unit: str,
            at: float, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """One data point, at world time `at` (epoch seconds), as the service itself would publish it."""
    timestamp = dt.datetime.fromtimestamp(at, dt.timezone.utc).replace(tzinfo=None)  # moto keeps naive UTC
    cloudwatch_backends[account_id][region].put_metric_data(namespace, [{
        "MetricName": name, "Value": value, "Unit": unit, "Timestamp": timestamp,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
    }])
