"""Auto-failover against the offline world: detect, activate the DR stack, notify, verify; and nothing twice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from drharness.cli import main
from drharness.config import Workload, load_workload
from drharness.deploy import cloudformation, deploy_workload, names, notifications
from drharness.deploy.common import ApplyLog
from drharness.instruments.timeline import DETECTED, FAILED_OVER, FAULT_INJECTED, VERIFIED, Timeline
from drharness.results.objectives import objectives_for
from drharness.procedures.failover import (
    ALREADY_ACTIVE,
    FAULT_TIME_UNKNOWN,
    NOTIFIED,
    PUBLISH_UNVERIFIED,
    lambda_handler,
    run_failover,
)
from drharness.procedures.notice import ACTION_REQUIRED
from drharness.procedures.stack import TEMPLATE_MISSING, deactivate_dr_stack, read_dr_stack, template_location
from drharness.reporting.scrub import Scrubber, configured_accounts
from drharness.results.recorder import Recorder
from drharness.results import ResultSink, read_records
from drharness.target import FAIL_FAST_CONFIG, OfflineTarget, assume_role
from drharness.faults.live.iam_deny import region_deny_policy
from drharness.waiting import wait_until
from drharness.world import World, WorldClient

pytestmark = pytest.mark.xdist_group("procedures-failover")

# A DR stack that was never deployed, whose template is not in the templates bucket either.
MISSING_STACK = """
[dr_stack]
name = "${project}-${environment}-dr-elsewhere"
template_key = "no-such-template.yaml"
"""


@dataclass
class Deployed:
    world: World
    target: OfflineTarget
    workload: Workload
    control: WorldClient
    config: Path
    reports: Path

    def mutations_since(self, count: int) -> list[dict[str, Any]]:
        return self.control.requests(mutating_only=True)[count:]

    def mutation_count(self) -> int:
        return len(self.control.requests(mutating_only=True))

    def sink(self, run: str) -> ResultSink:
        return ResultSink(self.reports, run=run)


@pytest.fixture(scope="module")
def module_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    tmp = tmp_path_factory.mktemp("failover")
    config = tmp / "workload.toml"
    config.write_text("", encoding="utf-8")  # the defaults; every name is read from the Workload object
    workload = load_workload(config)
    with World(workload.spec.offline, seed=21) as world:
        workload = workload.with_account(world.account_id)
        target = OfflineTarget(world.endpoint, world.account_id, config=FAIL_FAST_CONFIG)
        deploy_workload(target, workload)
        yield Deployed(world, target, workload, WorldClient(world.endpoint), config, tmp / "reports")


def set_primary_compute(d: Deployed, state: str) -> None:
    d.target.client("batch", d.workload.primary_region).update_compute_environment(
        computeEnvironment=d.workload.compute_environment, state=state)


def inbox(d: Deployed) -> list[dict[str, Any]]:
    """Every DR notice in the SQS queue subscribed to the DR topic (read through the world's own client)."""
    region = d.workload.secondary_region
    url = notifications.inbox_url(d.target, region, d.workload.dr_topic)
    sqs = d.world.client("sqs", region)
    found, handles = [], []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30).get("Messages", []):
        found.extend(json.loads(json.loads(m["Body"])["Message"]) for m in batch)
        handles.extend(m["ReceiptHandle"] for m in batch)
    for handle in handles:  # leave them for the next reader
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    return found


def drain_inbox(d: Deployed) -> None:
    # PurgeQueue may run once a minute; deleting what is there has no such limit.
    url = notifications.inbox_url(d.target, d.workload.secondary_region, d.workload.dr_topic)
    sqs = d.world.client("sqs", d.workload.secondary_region)
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                        for i, m in enumerate(batch)])


def dr_compute(d: Deployed) -> tuple[list[str], list[str]]:
    batch = d.world.client("batch", d.workload.secondary_region)
    return ([c["computeEnvironmentName"] for c in batch.describe_compute_environments()["computeEnvironments"]],
            [q["jobQueueName"] for q in batch.describe_job_queues()["jobQueues"]])


def pilot_light(d: Deployed) -> None:
    """Put the DR stack back as deployed: DR resources off and no DR compute in the secondary region."""
    if read_dr_stack(d.target, d.workload).exists:
        deactivate_dr_stack(d.target, d.workload, timeout_s=10)
    else:
        cloudformation.apply(d.target, d.workload, ApplyLog())  # as the deploy made it: DR resources off
    assert not read_dr_stack(d.target, d.workload).enabled
    assert dr_compute(d) == ([], []), dr_compute(d)


@pytest.fixture
def d(module_world: Deployed) -> Deployed:
    """The deployed world, back to a healthy primary and a pilot-light DR stack with an empty inbox."""
    d = module_world
    d.world.faults.revert_all()
    set_primary_compute(d, "ENABLED")
    pilot_light(d)
    drain_inbox(d)
    return d


def test_a_healthy_primary_needs_no_action_and_nothing_changes(d: Deployed) -> None:
    before = d.mutation_count()
    recorder = Recorder(d.sink("healthy"), "offline")
    outcome = run_failover(d.target, d.workload, recorder=recorder)
    assert (outcome.action, outcome.success, outcome.health.healthy) == ("no_action_required", True, True)
    assert outcome.stack is None and outcome.notice is None
    assert d.mutations_since(before) == []
    assert not read_dr_stack(d.target, d.workload).enabled
    assert [(r.metric, r.value, r.verdict) for r in recorder.records] == [("primary_healthy", 1.0, "info")]


def test_dry_run_prints_the_plan_and_changes_nothing(d: Deployed) -> None:
    set_primary_compute(d, "DISABLED")
    before = d.mutation_count()
    outcome = run_failover(d.target, d.workload, dry_run=True, recorder=Recorder(d.sink("dry"), "offline"))
    assert d.mutations_since(before) == []
    assert (outcome.action, outcome.dry_run, outcome.records) == ("planned", True, ())
    assert not outcome.health.healthy and outcome.health.compute_state == "DISABLED"
    plan = "\n".join(outcome.plan)
    assert f"update DR stack {d.workload.dr_stack}" in plan and "EnableDRResources false -> true" in plan
    assert d.workload.dr_topic in plan
    assert not read_dr_stack(d.target, d.workload).enabled and inbox(d) == []


def test_a_disabled_compute_environment_fails_over_and_the_notice_arrives(d: Deployed) -> None:
    timeline = Timeline.start("compute disabled")
    set_primary_compute(d, "DISABLED")
    timeline.mark(FAULT_INJECTED, "primary compute environment DISABLED")
    recorder = Recorder(d.sink("failover"), "offline")
    outcome = run_failover(d.target, d.workload, recorder=recorder, timeline=timeline)

    assert (outcome.action, outcome.success, outcome.notice_verified) == ("failover_initiated", True, True)
    assert outcome.stack is not None and outcome.stack.action == "updated"
    view = read_dr_stack(d.target, d.workload)
    assert view.enabled and view.status == "UPDATE_COMPLETE"
    # The stack raised the DR compute environment and queue in the secondary region.
    compute = d.target.client("batch", d.workload.secondary_region).describe_compute_environments(
        computeEnvironments=[view.outputs["ComputeEnvironment"]])["computeEnvironments"]
    assert [(c["state"], c["status"]) for c in compute] == [("ENABLED", "VALID")]

    notices = [n for n in inbox(d) if n.get("run_id") == outcome.run_id]
    assert len(notices) == 1
    notice = notices[0]
    assert notice["failover_status"] == "SUCCESS" and notice["action_required"] == ACTION_REQUIRED
    assert (notice["primary_region"], notice["secondary_region"]) == d.workload.regions
    assert notice["project"] == f"{d.workload.spec.project}-{d.workload.spec.environment}"

    phases = [p.phase for p in outcome.phases]
    assert phases == [FAULT_INJECTED, DETECTED, FAILED_OVER, NOTIFIED, VERIFIED]
    offsets = [p.offset_seconds for p in outcome.phases]
    assert offsets == sorted(offsets) and offsets[0] == 0.0
    assert outcome.failover_seconds == pytest.approx(offsets[-1], abs=1e-6)

    (record,) = recorder.records
    assert (record.metric, record.unit, record.verdict, record.target) == ("failover_seconds", "s", "pass", "offline")
    assert record.value == outcome.failover_seconds
    rto = objectives_for(d.workload, d.workload.spec.compute.tier).rto
    assert (record.objective, record.comparison) == (rto.limit, "<=")
    masked = Scrubber(configured_accounts(d.target.account_id)).text  # records never carry the account id
    assert record.evidence["phases"] == [{**p.to_json(), "note": masked(p.to_json()["note"])} for p in outcome.phases]
    assert record.evidence["clock_starts_at"] == "fault"
    assert [r.check for r in read_records(d.reports, "failover")] == ["failover"]

    # A second run finds the DR resources on: no update, no notice, no change of any kind.
    before = d.mutation_count()
    again = run_failover(d.target, d.workload, recorder=recorder)
    assert d.mutations_since(before) == []
    assert (again.action, again.success) == ("already_failed_over", True)
    assert again.reason == ALREADY_ACTIVE.format(stack=view.name, region=view.region, parameter=view.enable_parameter)
    assert [n for n in inbox(d) if n.get("run_id") == again.run_id] == []


def test_the_dr_compute_comes_with_the_failover_and_goes_with_the_pilot_light(d: Deployed) -> None:
    # As CloudFormation does: a resource whose condition turns false is deleted, and made again when it turns true.
    assert dr_compute(d) == ([], [])
    for _ in range(2):
        set_primary_compute(d, "DISABLED")
        outcome = run_failover(d.target, d.workload, stack_timeout_s=10, notice_timeout_s=10)
        assert outcome.action == "failover_initiated" and outcome.success, outcome.reason
        view = read_dr_stack(d.target, d.workload)
        assert dr_compute(d) == ([view.outputs["ComputeEnvironment"].rsplit("/", 1)[-1]],
                                 [view.outputs["JobQueue"].rsplit("/", 1)[-1]])
        back = deactivate_dr_stack(d.target, d.workload, timeout_s=10)
        assert back.action == "updated" and not read_dr_stack(d.target, d.workload).enabled, back.detail
        assert dr_compute(d) == ([], []) and "ComputeEnvironment" not in read_dr_stack(d.target, d.workload).outputs
        set_primary_compute(d, "ENABLED")
    assert deactivate_dr_stack(d.target, d.workload, timeout_s=10).action == "unchanged"


def test_the_failover_decides_on_the_observers_view_of_the_primary(d: Deployed) -> None:
    # The workload's role is denied the primary region (as a live region-outage does); the harness is not.
    iam, region = d.world.client("iam", "us-east-1"), d.workload.primary_region
    trust = {"Statement": [{"Effect": "Allow", "Principal": {"Service": "batch.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName="observer-worker", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName="observer-worker", PolicyName="deny", PolicyDocument=json.dumps(
        region_deny_policy(region, datetime.now(timezone.utc) + timedelta(minutes=5))))
    worker = assume_role(d.target, arn, "observer", region)
    try:
        assert run_failover(d.target, d.workload, stack_timeout_s=10).action == "no_action_required"
        outcome = run_failover(d.target, d.workload, stack_timeout_s=10, notice_timeout_s=10, observer=worker)
        assert outcome.action == "failover_initiated" and outcome.success, outcome.reason
        assert not outcome.health.healthy and "AccessDenied" in outcome.health.summary(), outcome.health.summary()
    finally:
        iam.delete_role_policy(RoleName="observer-worker", PolicyName="deny")
        iam.delete_role(RoleName="observer-worker")


def test_publish_mode_does_not_claim_a_verified_failover(d: Deployed) -> None:
    # SNS accepting the notice says nothing about the recovered side: no verified mark, no RTO, no pass.
    set_primary_compute(d, "DISABLED")
    recorder = Recorder(d.sink("publish"), "offline")
    outcome = run_failover(d.target, d.workload, recorder=recorder, verify_notice="publish")
    assert (outcome.action, outcome.success, outcome.notice_verified) == ("failover_initiated", True, False)
    assert outcome.notice is not None and outcome.failover_seconds is None
    assert [p.phase for p in outcome.phases] == [FAULT_INJECTED, DETECTED, FAILED_OVER, NOTIFIED]
    expected = PUBLISH_UNVERIFIED.format(message_id=outcome.notice.message_id)
    assert outcome.reason == expected
    (record,) = recorder.records
    assert (record.metric, record.verdict, record.value) == ("failover_seconds", "fail", None)
    assert expected in record.reason and record.evidence["verify_mode"] == "publish"


def test_a_missing_dr_stack_is_created_from_the_templates_bucket(d: Deployed) -> None:
    region = d.workload.secondary_region
    cfn = d.world.client("cloudformation", region)
    cfn.delete_stack(StackName=d.workload.dr_stack)
    assert wait_until(lambda: not read_dr_stack(d.target, d.workload).exists, 10, 0.05, what="the DR stack to go").ok
    set_primary_compute(d, "DISABLED")
    outcome = run_failover(d.target, d.workload)
    assert outcome.success and outcome.stack is not None and outcome.stack.action == "created"
    view = read_dr_stack(d.target, d.workload)
    assert (view.status, view.enabled) == ("CREATE_COMPLETE", True)
    bucket, _ = template_location(d.workload)
    saved = json.loads(d.target.client("s3", region).get_object(Bucket=bucket, Key=names.DR_PARAMETERS_KEY)["Body"].read())
    expected = {p["ParameterKey"]: p["ParameterValue"] for p in saved} | {view.enable_parameter: "true"}
    assert dict(view.parameters) == expected


def test_a_slow_metadata_table_alone_makes_the_primary_unhealthy(d: Deployed) -> None:
    # The guide's check reads only the compute environment, which stays VALID/ENABLED here.
    d.control.inject("service-fault", {"service": "dynamodb", "operation": "Scan", "region": d.workload.primary_region,
                                       "mode": "latency", "latency_ms": 6000})
    outcome = run_failover(d.target, d.workload, health_timeout_s=2.0)
    assert outcome.health.compute_state == "ENABLED" and not outcome.health.healthy
    assert [p.name for p in outcome.health.probes if not p.ok] == ["table"]
    assert outcome.action == "failover_initiated" and outcome.success
    assert outcome.phases[0].note == FAULT_TIME_UNKNOWN


def test_a_failover_that_cannot_activate_says_why_and_notifies_failed(d: Deployed, tmp_path: Path) -> None:
    config = tmp_path / "workload.toml"
    config.write_text(MISSING_STACK, encoding="utf-8")
    workload = load_workload(config).with_account(d.world.account_id)
    set_primary_compute(d, "DISABLED")
    recorder = Recorder(d.sink("cannot"), "offline")
    outcome = run_failover(d.target, workload, recorder=recorder)
    bucket, key = template_location(workload)
    expected = TEMPLATE_MISSING.format(bucket=bucket, key=key, region=workload.secondary_region, stack=workload.dr_stack)
    assert (outcome.action, outcome.success, outcome.failover_seconds) == ("failover_initiated", False, None)
    assert expected in outcome.reason
    (record,) = recorder.records
    assert record.verdict == "fail" and expected in record.reason and record.value is None
    notices = [n for n in inbox(d) if n.get("run_id") == outcome.run_id]
    assert [n["failover_status"] for n in notices] == ["FAILED"]
    assert expected in notices[0]["error"]


def test_the_lambda_handler_fails_over_a_region_outage(d: Deployed, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = d.workload.spec
    topic = notifications.topic_arn(d.target, d.workload.secondary_region, d.workload.dr_topic)
    for name, value in (("PROJECT_NAME", spec.project), ("ENVIRONMENT", spec.environment),
                        ("PRIMARY_REGION", spec.primary_region), ("SECONDARY_REGION", spec.secondary_region),
                        ("DR_NOTIFICATION_TOPIC", topic), ("DRHARNESS_ENDPOINT", d.world.endpoint),
                        ("DRHARNESS_CONFIG", str(d.config))):
        monkeypatch.setenv(name, str(value))
    assert json.loads(lambda_handler({}, None)["body"]) == {"action": "no_action_required"}
    d.control.inject("region-outage", {"region": d.workload.primary_region})
    answer = lambda_handler({}, None)
    assert answer["statusCode"] == 200
    body = json.loads(answer["body"])
    assert (body["action"], body["success"]) == ("failover_initiated", True)
    assert read_dr_stack(d.target, d.workload).enabled
    assert [n["failover_status"] for n in inbox(d) if n.get("run_id") == body["run_id"]] == ["SUCCESS"]


def test_the_failover_command(d: Deployed, capsys: pytest.CaptureFixture[str]) -> None:
    common = ["--endpoint", d.world.endpoint, "--config", str(d.config), "--reports", str(d.reports)]
    set_primary_compute(d, "DISABLED")
    with pytest.raises(SystemExit) as info:
        main(["failover", "--dry-run", *common])
    out = capsys.readouterr().out
    assert info.value.code == 0 and "planned: dry run: nothing changed" in out
    assert not read_dr_stack(d.target, d.workload).enabled
    with pytest.raises(SystemExit) as info:
        main(["failover", *common])
    out = capsys.readouterr().out
    assert info.value.code == 0
    assert "failover_initiated" in out and "failover_seconds:" in out
    assert d.workload.account_id in d.workload.data_bucket and d.workload.account_id not in out  # masked on the console
    assert read_dr_stack(d.target, d.workload).enabled
