"""The world's CloudWatch alarms move with the metric data it holds: a stop condition on the replication
metrics the world publishes fires when a pause holds writes back, and ends a guarded run."""

from __future__ import annotations

import json
import textwrap

import pytest

from drharness import faults
from drharness.config import load_workload
from drharness.faults import Journal, OfflineFaultBackend
from drharness.safety.guard import ALARM_FIRED, RunGuard, StopConditionTriggered
from drharness.waiting import pause
from drharness.world.moto.cloudwatch import AlarmView
from drharness.world.services.cloudwatch.alarms import evaluate

SRC, DST, EAST, WEST = "alarm-src", "alarm-dst", "us-east-1", "us-west-2"
ALARM = "replication-backlog"
NOW = 1_800_000_000.0


def view(**changes) -> AlarmView:
    base = dict(name="a", namespace="N", metric="M", dimensions=(), statistic="Maximum", period_s=60,
                evaluation_periods=3, datapoints_to_alarm=2, threshold=10.0, comparison="GreaterThanThreshold",
                treat_missing_data="missing", state="OK")
    return AlarmView(**{**base, **changes})  # type: ignore[arg-type]


def test_an_alarm_fires_when_enough_of_its_periods_breach() -> None:
    # one value per period, newest last: 5, 20, 30 -> two of three periods breach (> 10), two needed
    points = [(NOW - 150, 5.0), (NOW - 90, 20.0), (NOW - 30, 30.0)]
    found = evaluate(view(), points, NOW)
    assert found is not None and found.state == "ALARM"
    assert found.reason.startswith("Threshold Crossed: 2 out of the last 3 datapoints") and "greater than" in found.reason
    assert evaluate(view(datapoints_to_alarm=3), points, NOW).state == "OK"  # type: ignore[union-attr]
    assert evaluate(view(statistic="Sum", threshold=100.0, evaluation_periods=1, datapoints_to_alarm=1),
                    [(NOW - 10, 60.0), (NOW - 20, 50.0)], NOW).state == "ALARM"  # type: ignore[union-attr]


def test_missing_periods_count_as_the_alarm_says() -> None:
    old = [(NOW - 1000, 99.0)]  # data, but none in the evaluation range
    assert evaluate(view(), old, NOW).state == "INSUFFICIENT_DATA"  # type: ignore[union-attr]
    assert evaluate(view(treat_missing_data="notBreaching"), old, NOW).state == "OK"  # type: ignore[union-attr]
    assert evaluate(view(treat_missing_data="breaching"), old, NOW).state == "ALARM"  # type: ignore[union-attr]
    assert evaluate(view(treat_missing_data="ignore"), old, NOW) is None
    assert evaluate(view(), [], NOW) is None  # a metric with no data at all: left as SetAlarmState put it


@pytest.fixture
def backlog_alarm(world, target):
    primary, secondary = target.client("s3", EAST), target.client("s3", WEST)
    primary.create_bucket(Bucket=SRC)
    secondary.create_bucket(Bucket=DST, CreateBucketConfiguration={"LocationConstraint": WEST})
    for client, bucket in ((primary, SRC), (secondary, DST)):
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    primary.put_bucket_replication(Bucket=SRC, ReplicationConfiguration={
        "Role": "arn:aws:iam::123456789012:role/replication",
        "Rules": [{"ID": "m", "Status": "Enabled", "Priority": 1, "Filter": {"Prefix": ""},
                   "DeleteMarkerReplication": {"Status": "Disabled"},
                   "Destination": {"Bucket": f"arn:aws:s3:::{DST}", "Metrics": {"Status": "Enabled"}}}]})
    cloudwatch = target.client("cloudwatch", EAST)
    cloudwatch.put_metric_alarm(
        AlarmName=ALARM, Namespace="AWS/S3", MetricName="OperationsPendingReplication", Statistic="Maximum",
        Dimensions=[{"Name": "SourceBucket", "Value": SRC}, {"Name": "DestinationBucket", "Value": DST},
                    {"Name": "RuleId", "Value": "m"}],
        Period=60, EvaluationPeriods=1, Threshold=3, ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching")
    return primary, cloudwatch


def _state(cloudwatch) -> dict:
    return cloudwatch.describe_alarms(AlarmNames=[ALARM])["MetricAlarms"][0]


def test_a_backlog_alarm_fires_on_a_paused_replication_and_clears_after(world, backlog_alarm) -> None:
    primary, cloudwatch = backlog_alarm
    paused = world.faults.inject("replication-pause", {"bucket": SRC})
    for i in range(2):
        primary.put_object(Bucket=SRC, Key=f"k/{i}", Body=b"x")
    assert _state(cloudwatch)["StateValue"] != "ALARM"  # two held back: under the threshold of three
    for i in range(2, 5):
        primary.put_object(Bucket=SRC, Key=f"k/{i}", Body=b"x")
    fired = _state(cloudwatch)
    assert fired["StateValue"] == "ALARM", fired
    assert "1 out of the last 1 datapoints [5" in fired["StateReason"]
    assert json.loads(fired["StateReasonData"])["recentDatapoints"] == [5.0]
    world.faults.revert(paused.id)
    assert world.settle(5)
    world.advance_clock(120)  # past the period holding the backlog
    assert _state(cloudwatch)["StateValue"] == "OK"


def test_the_backlog_alarm_as_a_stop_condition_ends_a_guarded_run(world, target, backlog_alarm, tmp_path) -> None:
    primary, _ = backlog_alarm
    config = tmp_path / "workload.toml"
    config.write_text(textwrap.dedent(f"""
        [live]
        stop_alarms = ["{ALARM}"]
    """), encoding="utf-8")
    workload = load_workload(config).with_account(world.account_id)
    backend, journal = OfflineFaultBackend(world.endpoint), Journal(tmp_path / "journal")
    guard = RunGuard(target, workload, journal, backend, poll_interval_s=0.05)
    with pytest.raises(StopConditionTriggered) as info:
        with guard:
            faults.inject(backend, "replication-pause", {"bucket": SRC}, journal)
            for i in range(5):
                primary.put_object(Bucket=SRC, Key=f"g/{i}", Body=b"x")
            pause(30.0)  # the alarm must end the run long before this
    assert info.value.reason == ALARM_FIRED.format(alarm=f"{ALARM} ({EAST})")
    assert world.faults.active() == [] and journal.pending() == []
