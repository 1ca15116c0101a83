"""CloudWatch in moto's backend: metric data AWS services publish about themselves, and the alarms on it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

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


@dataclass(frozen=True)
class AlarmView:
    """What the evaluation of one single-metric alarm needs of moto's alarm."""

    name: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    statistic: str
    period_s: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: str
    treat_missing_data: str
    state: str


def metric_alarms(region: str, account_id: str = DEFAULT_ACCOUNT_ID) -> list[AlarmView]:
    """The region's alarms on one metric with a plain statistic (metric-math and percentile alarms are left out)."""
    alarms = list(cloudwatch_backends[account_id][region].alarms.values())
    return [AlarmView(a.name, a.namespace, a.metric_name, tuple(sorted((d.name, d.value) for d in a.dimensions)),
                      a.statistic, int(a.period), int(a.evaluation_periods),
                      int(a.datapoints_to_alarm or a.evaluation_periods), float(a.threshold), a.comparison_operator,
                      a.treat_missing_data or "missing", a.state_value)
            for a in alarms
            if a.metric_name and a.statistic and not a.metric_data_queries and not a.extended_statistic and a.period]


def metric_points(region: str, namespace: str, metric: str, dimensions: tuple[tuple[str, str], ...],
                  account_id: str = DEFAULT_ACCOUNT_ID) -> list[tuple[float, float]]:
    """(epoch seconds, value) of every single value put for exactly this metric and these dimensions."""
    found = []
    for datum in list(cloudwatch_backends[account_id][region].metric_data):
        if datum.namespace != namespace or datum.name != metric or not hasattr(datum, "value"):
            continue
        if tuple(sorted((d.name, d.value) for d in datum.dimensions)) != dimensions:
            continue
        found.append((datum.timestamp.replace(tzinfo=dt.timezone.utc).timestamp(), float(datum.value)))
    return found


def set_alarm_state(region: str, name: str, state: str, reason: str, reason_data: str,
                    account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    alarm = cloudwatch_backends[account_id][region].alarms.get(name)
    if alarm is not None and alarm.state_value != state:
        alarm.update_state(reason, reason_data, state)
