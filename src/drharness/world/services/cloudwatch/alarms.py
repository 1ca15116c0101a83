"""CloudWatch alarms that move: each single-metric alarm is evaluated on the metric data the world holds.

moto stores alarms and metric data but never evaluates one against the other, so an alarm on the
replication metrics the world publishes (a stop condition, say) would never fire. Here every
DescribeAlarms (and DescribeAlarmsForMetric, DescribeAlarmHistory) first evaluates the region's alarms,
as CloudWatch does each period:

- the evaluation range is the last `EvaluationPeriods` periods of `Period` seconds ending at the world's
  now (sliding, so a fresh breach shows at once rather than at the next minute boundary);
- each period's statistic (SampleCount, Sum, Average, Minimum, Maximum) of the values put in it;
- ALARM when at least `DatapointsToAlarm` (default: EvaluationPeriods) of those periods breach; OK when
  enough periods have data and fewer breach; INSUFFICIENT_DATA when no period has data;
- missing periods as `TreatMissingData` says: `missing` (default) skips them, `notBreaching` and
  `breaching` count them so, `ignore` keeps the current state.

Where it differs from CloudWatch: an alarm whose metric has never had a data point keeps the state it
was set to (SetAlarmState), where CloudWatch would move it to INSUFFICIENT_DATA; metric-math, percentile
and composite alarms are not evaluated; alarm actions are not run.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass

from drharness.world.engine import BaseEngine
from drharness.world.moto import cloudwatch as moto_cloudwatch
from drharness.world.moto.cloudwatch import AlarmView
from drharness.world.plane import Plane
from drharness.world.wire import AwsRequest, CapturedResponse

EVALUATED_ON = frozenset({"DescribeAlarms", "DescribeAlarmsForMetric", "DescribeAlarmHistory"})
COMPARISONS = {
    "GreaterThanOrEqualToThreshold": (lambda v, t: v >= t, "greater than or equal to"),
    "GreaterThanThreshold": (lambda v, t: v > t, "greater than"),
    "LessThanThreshold": (lambda v, t: v < t, "less than"),
    "LessThanOrEqualToThreshold": (lambda v, t: v <= t, "less than or equal to"),
}


@dataclass(frozen=True)
class Evaluation:
    state: str  # "OK" | "ALARM" | "INSUFFICIENT_DATA"
    reason: str
    datapoints: tuple[tuple[float, float], ...]  # (period end, statistic) of the periods with data, newest first


def statistic(name: str, values: Sequence[float]) -> float:
    if name == "SampleCount":
        return float(len(values))
    if name == "Sum":
        return float(sum(values))
    if name == "Average":
        return float(sum(values) / len(values))
    if name == "Minimum":
        return float(min(values))
    return float(max(values))  # Maximum


def evaluate(alarm: AlarmView, points: Sequence[tuple[float, float]], now: float) -> Evaluation | None:
    """The alarm's state from its metric's points at `now`; None to leave it as it is."""
    breaches, operator_text = COMPARISONS.get(alarm.comparison, (None, ""))
    if breaches is None or not points:
        return None
    periods: list[tuple[float, float | None]] = []
    for i in range(alarm.evaluation_periods):
        end = now - i * alarm.period_s
        values = [v for at, v in points if end - alarm.period_s < at <= end]
        periods.append((end, statistic(alarm.statistic, values) if values else None))
    with_data = [(end, value) for end, value in periods if value is not None]
    missing = len(periods) - len(with_data)
    treat = alarm.treat_missing_data
    if treat == "ignore" and missing:
        return None
    breaching = sum(1 for _, value in with_data if breaches(value, alarm.threshold))
    counted = len(with_data)
    if treat in ("breaching", "notBreaching"):
        breaching += missing if treat == "breaching" else 0
        counted = len(periods)
    if counted == 0:
        return Evaluation("INSUFFICIENT_DATA", f"Insufficient Data: {alarm.evaluation_periods} datapoint(s) were "
                                               "unknown.", ())
    needed = alarm.datapoints_to_alarm
    shown = ", ".join(f"{value:g} ({_stamp(end)})" for end, value in with_data) or "no datapoints"
    state = "ALARM" if breaching >= needed else "OK"
    verb = "were" if breaching != 1 else "was"
    reason = (f"Threshold Crossed: {breaching} out of the last {len(periods)} datapoints [{shown}] {verb} "
              f"{operator_text} the threshold ({alarm.threshold:g}) (minimum {needed} datapoint(s) for "
              f"{'OK -> ALARM' if state == 'ALARM' else 'ALARM -> OK'} transition).")
    return Evaluation(state, reason, tuple(with_data))


def _stamp(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%d/%m/%y %H:%M:%S")


class AlarmEvaluator(BaseEngine):
    """Before CloudWatch is asked about alarms, bring each alarm of the region up to date with its data."""

    def __init__(self, plane: Plane) -> None:
        self._plane = plane

    def before(self, request: AwsRequest) -> CapturedResponse | None:
        if request.service == "cloudwatch" and request.operation in EVALUATED_ON:
            self.evaluate_region(request.region)
        return None  # moto answers, with the states set here

    def evaluate_region(self, region: str) -> None:
        now = self._plane.now()
        account = self._plane.account_id
        for alarm in moto_cloudwatch.metric_alarms(region, account):
            points = moto_cloudwatch.metric_points(region, alarm.namespace, alarm.metric, alarm.dimensions, account)
            found = evaluate(alarm, points, now)
            if found is not None and found.state != alarm.state:
                data = {"version": "1.0", "queryDate": _stamp(now), "statistic": alarm.statistic,
                        "period": alarm.period_s, "threshold": alarm.threshold,
                        "recentDatapoints": [value for _, value in found.datapoints]}
                moto_cloudwatch.set_alarm_state(region, alarm.name, found.state, found.reason, json.dumps(data), account)
