"""Stop conditions: an alarm, the stop file or a signal ends a guarded run with every fault reverted."""

from __future__ import annotations

import os
import signal
import textwrap
import threading
import time
from pathlib import Path

import pytest

from drharness import faults
from drharness.cli import main
from drharness.config import load_workload
from drharness.errors import SafetyError
from drharness.faults import Journal, LiveOptions, OfflineFaultBackend, Terminated
from drharness.faults.live import experiment_template
from drharness.safety.guard import (
    ALARM_ALREADY,
    ALARM_FIRED,
    ALARM_MISSING,
    STOP_FILE_ENV,
    STOP_FILE_PRESENT,
    RunGuard,
    StopConditionTriggered,
    alarm_arns,
    request_stop,
    stop_file_path,
)
from drharness.target import OfflineTarget
from drharness.waiting import pause, wait_until

ALARM = "drharness-test-error-rate"
POLL_S = 0.05
RUN_FOREVER_S = 60.0  # a run that is not stopped would sit here this long: the stop must come first


def write_config(tmp_path: Path, alarms: list[str]) -> Path:
    path = tmp_path / "workload.toml"
    listed = ", ".join(f'"{a}"' for a in alarms)
    path.write_text(textwrap.dedent(f"""
        [live]
        stop_alarms = [{listed}]
    """), encoding="utf-8")
    return path


@pytest.fixture
def stop_file(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "STOP"
    monkeypatch.setenv(STOP_FILE_ENV, str(path))
    return path


def put_alarm(world, name: str = ALARM, region: str = "us-east-1") -> None:
    world.client("cloudwatch", region).put_metric_alarm(
        AlarmName=name, MetricName="Errors", Namespace="DR/Test", Statistic="Sum", Period=60, EvaluationPeriods=1,
        Threshold=1.0, ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    world.client("cloudwatch", region).set_alarm_state(AlarmName=name, StateValue="OK", StateReason="healthy")


def guarded(world, tmp_path, alarms: list[str] = ()) -> tuple[RunGuard, OfflineFaultBackend, Journal]:
    workload = load_workload(write_config(tmp_path, list(alarms)))
    target = OfflineTarget(world.endpoint, world.account_id)
    backend = OfflineFaultBackend(world.endpoint)
    journal = Journal(tmp_path / "journal")
    return RunGuard(target, workload.with_account(world.account_id), journal, backend, poll_interval_s=POLL_S), backend, journal


def inject_several(backend: OfflineFaultBackend, journal: Journal) -> list[str]:
    return [
        faults.inject(backend, "region-outage", {"region": "eu-west-1"}, journal).id,
        faults.inject(backend, "service-fault", {"service": "dynamodb", "mode": "throttle"}, journal).id,
        faults.inject(backend, "az-outage", {"region": "us-east-1", "az": "b"}, journal).id,
    ]


def later(seconds: float, action) -> threading.Timer:
    timer = threading.Timer(seconds, action)
    timer.daemon = True
    timer.start()
    return timer


def test_an_alarm_set_mid_run_ends_it_with_every_fault_reverted(world, tmp_path, stop_file):
    put_alarm(world)
    guard, backend, journal = guarded(world, tmp_path, [ALARM])
    started = time.monotonic()
    with pytest.raises(StopConditionTriggered) as info:
        with guard:
            ids = inject_several(backend, journal)
            assert sorted(f.id for f in world.faults.active()) == sorted(ids)
            later(0.2, lambda: world.client("cloudwatch", "us-east-1").set_alarm_state(
                AlarmName=ALARM, StateValue="ALARM", StateReason="error rate above threshold"))
            pause(RUN_FOREVER_S)
    assert time.monotonic() - started < RUN_FOREVER_S
    assert info.value.reason == ALARM_FIRED.format(alarm=f"{ALARM} (us-east-1)")
    assert world.faults.active() == []
    assert journal.pending() == []
    assert sorted(guard.reverted) == sorted(ids)


def test_the_stop_file_ends_the_run_the_same_way(world, tmp_path, stop_file, capsys):
    guard, backend, journal = guarded(world, tmp_path)
    with pytest.raises(StopConditionTriggered) as info:
        with guard:
            inject_several(backend, journal)
            with faults.injected(backend, "replication-pause", {"bucket": "some-bucket"}, journal):
                later(0.2, lambda: request_stop("pager went off"))
                pause(RUN_FOREVER_S)
    assert "pager went off" in info.value.reason and str(stop_file) in info.value.reason
    assert world.faults.active() == []
    assert journal.pending() == []


def test_drharness_stop_writes_the_file_a_guard_reads_and_clear_removes_it(stop_file, capsys):
    from drharness.cli.safety import STOP_CLEARED, STOP_WRITTEN

    main(["stop", "--reason", "game day over"])  # returns normally: exit code 0
    assert capsys.readouterr().out.strip() == STOP_WRITTEN.format(path=stop_file)
    assert stop_file_path() == stop_file and "game day over" in stop_file.read_text()
    main(["stop", "--clear"])
    assert capsys.readouterr().out.strip() == STOP_CLEARED.format(path=stop_file)
    assert not stop_file.exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_reverts_every_fault_before_the_run_ends(world, tmp_path, stop_file, signum):
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach the main thread only; this test runs elsewhere")
    guard, backend, journal = guarded(world, tmp_path)
    expected = Terminated if signum == signal.SIGTERM else KeyboardInterrupt
    with pytest.raises(expected):
        with guard:
            inject_several(backend, journal)
            later(0.1, lambda: os.kill(os.getpid(), signum))
            pause(RUN_FOREVER_S)
    assert world.faults.active() == []
    assert journal.pending() == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the guard put the handlers back


def test_a_stop_condition_that_already_holds_refuses_the_run_before_any_fault(world, tmp_path, stop_file):
    put_alarm(world)
    world.client("cloudwatch", "us-east-1").set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason="red")
    guard, _, journal = guarded(world, tmp_path, [ALARM])
    with pytest.raises(SafetyError) as info:
        guard.__enter__()
    assert str(info.value) == ALARM_ALREADY.format(alarm=f"{ALARM} (us-east-1)")

    request_stop("left over")
    with pytest.raises(SafetyError) as info:
        guarded(world, tmp_path)[0].__enter__()
    assert str(info.value).startswith(STOP_FILE_PRESENT.split("(")[0].format(path=stop_file))
    assert journal.records() == [] and world.faults.active() == []


def test_a_stop_alarm_that_does_not_exist_is_a_configuration_error(world, tmp_path, stop_file):
    guard, _, _ = guarded(world, tmp_path, ["no-such-alarm"])
    with pytest.raises(SafetyError) as info:
        guard.__enter__()
    assert str(info.value) == ALARM_MISSING.format(alarm="no-such-alarm", source=str(tmp_path / "workload.toml"),
                                                   region="us-east-1")


def test_alarms_named_by_arn_are_read_in_their_region(world, tmp_path, stop_file):
    put_alarm(world, "west-alarm", "us-west-2")
    arn = f"arn:aws:cloudwatch:us-west-2:{world.account_id}:alarm:west-alarm"
    guard, backend, journal = guarded(world, tmp_path, [arn])
    with pytest.raises(StopConditionTriggered) as info:
        with guard:
            faults.inject(backend, "region-outage", {"region": "ap-south-1"}, journal)
            later(0.2, lambda: world.client("cloudwatch", "us-west-2").set_alarm_state(
                AlarmName="west-alarm", StateValue="ALARM", StateReason="red"))
            pause(RUN_FOREVER_S)
    assert info.value.reason == ALARM_FIRED.format(alarm="west-alarm (us-west-2)")
    assert world.faults.active() == []


def test_fis_experiments_carry_the_stop_alarms_as_stop_conditions(tmp_path):
    workload = load_workload(write_config(tmp_path, [ALARM, "arn:aws:cloudwatch:us-west-2:111122223333:alarm:west"]))
    arns = alarm_arns(workload, "111122223333")
    assert arns == (f"arn:aws:cloudwatch:us-east-1:111122223333:alarm:{ALARM}",
                    "arn:aws:cloudwatch:us-west-2:111122223333:alarm:west")
    options = LiveOptions(role_arn="arn:aws:iam::111122223333:role/fis", region="us-east-1", stop_alarm_arns=arns)
    template = experiment_template("f1", "replication-pause", faults.parse_fault("replication-pause", {"table": "t"}),
                                   options, "111122223333")
    assert template["stopConditions"] == [{"source": "aws:cloudwatch:alarm", "value": arn} for arn in arns]


# -- resilience ---------------------------------------------------------------------------------------


def test_the_guard_rides_out_a_few_failed_alarm_reads(world, tmp_path, stop_file):
    put_alarm(world)
    guard, backend, journal = guarded(world, tmp_path, [ALARM])
    with guard:
        fault_id = faults.inject(backend, "region-outage", {"region": "eu-west-1"}, journal).id
        # Every retry of a few DescribeAlarms calls fails; the guard keeps watching instead of stopping.
        unreadable = faults.inject(backend, "service-fault", {"service": "cloudwatch", "operation": "DescribeAlarms",
                                                              "mode": "unavailable", "max_hits": 6}, journal).id
        failed_reads = wait_until(lambda: world.faults.get(unreadable).hits >= 3, timeout_s=10.0,
                                  interval_s=POLL_S, what="three failed alarm reads")
        assert failed_reads.ok, failed_reads.reason
        guard.check()
        active = {f.id: f for f in world.faults.active()}
        assert fault_id in active
        assert max(f.hits for f in active.values()) >= 3  # the alarm reads did fail, more than once
    assert not guard.triggered and world.faults.active() == []


def test_alarms_unreadable_past_the_limit_stop_the_run(world, tmp_path, stop_file):
    put_alarm(world)
    workload = load_workload(write_config(tmp_path, [ALARM])).with_account(world.account_id)
    backend, journal = OfflineFaultBackend(world.endpoint), Journal(tmp_path / "journal")
    guard = RunGuard(OfflineTarget(world.endpoint, world.account_id), workload, journal, backend,
                     poll_interval_s=POLL_S, blind_limit_s=0.3)
    with pytest.raises(StopConditionTriggered) as info:
        with guard:
            faults.inject(backend, "service-fault", {"service": "cloudwatch", "operation": "DescribeAlarms"}, journal)
            pause(RUN_FOREVER_S)
    assert info.value.reason.startswith("stop alarms unreadable for 0.3 s")
    assert world.faults.active() == []


def test_throttling_is_retried_by_the_harness_clients(world, tmp_path):
    backend, journal = OfflineFaultBackend(world.endpoint), Journal(tmp_path / "journal")
    with faults.injected(backend, "service-fault", {"service": "sts", "operation": "GetCallerIdentity",
                                                    "mode": "throttle", "max_hits": 2}, journal):
        target = OfflineTarget(world.endpoint, world.account_id)  # the harness's own client settings
        assert target.client("sts", "us-east-1").get_caller_identity()["Account"] == world.account_id
    calls = [r for r in world.truth.requests() if r.operation == "GetCallerIdentity"]
    assert [r.status for r in calls] == [400, 400, 200]  # throttled twice, retried, answered


def test_progress_wait_stops_at_the_tier_deadline_and_says_so():
    import io

    from rich.console import Console

    from drharness.progress import deadline_left, progress_wait

    started = time.monotonic() - 3600.0  # an hour of a 1-hour-and-a-bit RTO already gone
    left = deadline_left(started, 3600.2)
    screen = io.StringIO()
    outcome = progress_wait(lambda: False, timeout_s=RUN_FOREVER_S, interval_s=0.02, what="the stack",
                            deadline_s=left, console=Console(file=screen, force_terminal=True, width=100))
    assert not outcome.ok and outcome.elapsed_seconds < RUN_FOREVER_S
    assert outcome.reason.startswith("timeout after 0.") and "the stack" in outcome.reason
    assert "gave up" in screen.getvalue()
    quiet = io.StringIO()
    assert progress_wait(lambda: "ready", 5.0, console=Console(file=quiet, force_terminal=False)).value == "ready"
    assert quiet.getvalue() == ""
