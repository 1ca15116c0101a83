"""Two DR stacks, four topics and two schedules against the offline world: each deployed, tagged and read back,
each judged once by the configuration checks, every stack raised and every DR notice topic told by the failover,
and each written back in its collection by `drharness init` (the round trip of test_init.py, with more of each)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from drharness.compliance import CHECKS, TargetReads
from drharness.compliance.checks import DR_STACK, MONTHLY_RULE, SNS_DR_TOPIC
from drharness.compliance.inventory import CHECK_RULE_SCHEDULE, CHECK_RULE_STATE, collect_inventory
from drharness.config import Workload, load_workload
from drharness.deploy import (
    check_workload,
    deploy_workload,
    events,
    names,
    notifications,
)
from drharness.deploy.common import ApplyLog, tag_map
from drharness.procedures.failover import run_failover
from drharness.procedures.recovery import COMPUTE_ENVIRONMENT, RecoveryContext, recover_infrastructure, recover_services
from drharness.procedures.stack import deactivate_dr_stack, read_dr_stack
from drharness.results import ResultSink
from drharness.results.recorder import Recorder
from drharness.target import FAIL_FAST_CONFIG, OfflineTarget
from drharness.world import World
from tests.functional.test_init import TAG, init

pytestmark = pytest.mark.xdist_group("stacks-topics-schedules")

# The default stack, topics and schedule, and one more of each: a GPU compute environment with its own DR
# stack, an operations notice topic, an audit report topic and a weekly rule that announces on it.
MANY = """
[[compute_environments]]
id = "batch"

[[compute_environments]]
id = "gpu"
name = "${project}-${environment}-gpu-env"
job_queue = "${project}-${environment}-gpu-queue"
max_vcpus = 64
instance_types = ["g5.xlarge"]
availability_zones = ["a", "b"]

[[dr_stacks]]
id = "dr"

[[dr_stacks]]
id = "gpu-dr"
name = "${project}-${environment}-gpu-dr"
compute = "gpu"

[[topics]]
id = "dr"
name = "${project}-${environment}-dr-notifications"
purpose = "dr-notifications"

[[topics]]
id = "ops"
name = "${project}-${environment}-ops-notices"
purpose = "dr-notifications"

[[topics]]
id = "reports"
name = "${project}-${environment}-dr-test-reports"
purpose = "reports"

[[topics]]
id = "audit"
name = "${project}-${environment}-audit-reports"
purpose = "reports"

[[schedules]]
id = "monthly"

[[schedules]]
id = "weekly"
name = "${project}-${environment}-weekly-dr-check"
expression = "cron(0 4 ? * MON *)"
topic = "audit"
"""


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, OfflineTarget, Workload]]:
    config = tmp_path_factory.mktemp("many") / "workload.toml"
    config.write_text(MANY, encoding="utf-8")
    workload = load_workload(config)
    with World(workload.spec.offline, seed=31) as world:
        workload = workload.with_account(world.account_id)
        target = OfflineTarget(world.endpoint, world.account_id, config=FAIL_FAST_CONFIG)
        deploy_workload(target, workload)
        yield world, target, workload


def _views(workload: Workload, check: str) -> tuple[Workload, ...]:
    """The views a check of stacks, topics or schedules is judged from: one per resource it judges."""
    return {DR_STACK: workload.each_dr_stack(), SNS_DR_TOPIC: workload.each_topic("dr-notifications"),
            MONTHLY_RULE: workload.each_schedule()}[check]


def test_every_stack_topic_and_schedule_is_deployed_tagged_and_read_back(many) -> None:
    _, target, w = many
    assert check_workload(target, w).findings == ()
    cfn = target.client("cloudformation", w.secondary_region)
    for view in w.each_dr_stack():
        stack = cfn.describe_stacks(StackName=view.dr_stack)["Stacks"][0]
        assert tag_map(stack["Tags"])["Project"] == w.spec.project
        parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
        assert parameters["InstanceTypes"] == ",".join(view.mirrored_compute().spec.compute.instance_types)
    assert [v.dr_stack for v in w.each_dr_stack()] == [
        "embedding-batch-workload-production-dr", "embedding-batch-workload-production-gpu-dr"]
    # The second stack's parameter file is its own, beside the first's in the shared templates bucket.
    assert [names.dr_parameters_key(v) for v in w.each_dr_stack()] == ["dr-parameters.json", "gpu-dr-dr-parameters.json"]
    for name, region in notifications.topics(w):
        sns = target.client("sns", region)
        arn = notifications.topic_arn(target, region, name)
        assert arn is not None and tag_map(sns.list_tags_for_resource(ResourceArn=arn)["Tags"])["Environment"] == "production"
    regions = {name: region for name, region in notifications.topics(w)}
    assert regions[w.focus(topic="ops").dr_topic] == w.secondary_region
    assert regions[w.focus(topic="audit").report_topic] == w.primary_region
    client = target.client("events", w.primary_region)
    weekly = w.focus(schedule="weekly")
    assert weekly.report_topic.endswith("-audit-reports") and w.report_topic.endswith("-dr-test-reports")
    aimed = client.list_targets_by_rule(Rule=weekly.monthly_rule)["Targets"][0]["Arn"]
    assert aimed == notifications.topic_arn(target, w.primary_region, weekly.report_topic)
    rule = client.describe_rule(Name=weekly.monthly_rule)
    assert rule["ScheduleExpression"] == "cron(0 4 ? * MON *)"
    assert tag_map(client.list_tags_for_resource(ResourceARN=rule["Arn"])["Tags"])["Project"] == w.spec.project


def test_each_check_of_stacks_topics_and_schedules_judges_each_one(many) -> None:
    _, target, w = many
    kinds = {c.name: c.kind for c in CHECKS}
    assert (kinds[DR_STACK], kinds[SNS_DR_TOPIC], kinds[MONTHLY_RULE]) == ("dr_stack", "topic", "schedule")
    reads = TargetReads(target, w, dt.datetime.now(dt.timezone.utc))
    check_of = {c.name: c for c in CHECKS}
    for check, expected in ((DR_STACK, ["-dr ", "-gpu-dr "]), (SNS_DR_TOPIC, ["-dr-notifications ", "-ops-notices "]),
                            (MONTHLY_RULE, ["-monthly-dr-test", "-weekly-dr-check"])):
        judgements = [check_of[check].judge(reads.focused(view)) for view in _views(w, check)]
        assert len(judgements) == 2 and all(want in j.resource for j, want in zip(judgements, expected))
        assert all(j.ok for j in judgements), [(j.resource, j.expected, j.actual) for j in judgements]
    # A rule disabled is a failure of that schedule alone.
    weekly = w.focus(schedule="weekly")
    target.client("events", w.primary_region).disable_rule(Name=weekly.monthly_rule)
    try:
        fresh = TargetReads(target, w, dt.datetime.now(dt.timezone.utc))
        verdicts = {v.spec.schedule.id: check_of[MONTHLY_RULE].judge(fresh.focused(v)).ok for v in w.each_schedule()}
        assert verdicts == {"monthly": True, "weekly": False}
    finally:
        events.apply(target, w, ApplyLog())


def test_the_inventory_reads_every_schedules_rule_against_its_own_expression(many, tmp_path: Path) -> None:
    world, target, w = many

    def verdicts(run: str) -> dict[tuple[str, str], str]:
        recorder = Recorder(ResultSink(tmp_path, run=run, source="api"), "offline")
        now = dt.datetime.fromtimestamp(world.now(), dt.timezone.utc)
        inventory = collect_inventory(target, w, recorder, now)
        assert inventory.schedule is not None and inventory.schedule.rule == w.monthly_rule  # the first's
        return {(r.check, r.resource.split()[-1]): r.verdict for r in inventory.records
                if r.check in (CHECK_RULE_SCHEDULE, CHECK_RULE_STATE)}

    monthly, weekly = (v.monthly_rule for v in w.each_schedule())
    both = {(check, rule) for check in (CHECK_RULE_SCHEDULE, CHECK_RULE_STATE) for rule in (monthly, weekly)}
    found = verdicts("inventory-1")
    assert set(found) == both and set(found.values()) == {"pass"}, found  # the weekly rule is judged as configured
    # The weekly rule moved off its configured time: its schedule record fails, and no other.
    target.client("events", w.primary_region).put_rule(Name=weekly, ScheduleExpression="cron(0 5 ? * MON *)")
    try:
        found = verdicts("inventory-2")
        assert {key for key, verdict in found.items() if verdict == "fail"} == {(CHECK_RULE_SCHEDULE, weekly)}, found
    finally:
        events.apply(target, w, ApplyLog())


def _inbox_runs(world: World, target: OfflineTarget, view: Workload) -> list[str]:
    url = notifications.inbox_url(target, view.secondary_region, view.dr_topic)
    sqs = world.client("sqs", view.secondary_region)
    runs, handles = [], []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30).get("Messages", []):
        runs += [json.loads(json.loads(m["Body"])["Message"]).get("run_id") for m in batch]
        handles += [m["ReceiptHandle"] for m in batch]
    for handle in handles:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    return runs


def test_the_failover_raises_every_stack_and_tells_every_dr_topic(many) -> None:
    world, target, w = many
    try:
        outcome = run_failover(target, w, force=True, stack_timeout_s=20, notice_timeout_s=20)
        assert (outcome.action, outcome.success, outcome.notice_verified) == ("failover_initiated", True, True)
        assert [s.stack for s in outcome.stacks] == [v.dr_stack for v in w.each_dr_stack()]
        assert all(read_dr_stack(target, v).enabled for v in w.each_dr_stack())
        computes = [read_dr_stack(target, v).outputs["ComputeEnvironment"] for v in w.each_dr_stack()]
        assert len(set(computes)) == 2
        assert len(outcome.sent_notices) == 2
        for view in w.each_topic("dr-notifications"):
            assert outcome.run_id in _inbox_runs(world, target, view)
        again = run_failover(target, w, force=True)
        assert again.action == "already_failed_over"
    finally:
        for view in w.each_dr_stack():
            deactivate_dr_stack(target, view, timeout_s=20)


def test_the_runbook_raises_every_stack_and_enables_each_ones_services(many, tmp_path: Path) -> None:
    world, target, w = many
    ctx = RecoveryContext(target, w, "r-many", "partial", stack_timeout_s=20, services_timeout_s=20,
                          restore_timeout_s=20, primary_timeout_s=5, listing=None, listing_dir=tmp_path, ledgers=())
    try:
        raised = recover_infrastructure(ctx, {})
        assert all(read_dr_stack(target, v).enabled for v in w.each_dr_stack())
        assert raised.facts[COMPUTE_ENVIRONMENT] == read_dr_stack(target, w).outputs["ComputeEnvironment"]  # the first's
        batch = world.client("batch", w.secondary_region)
        computes = [read_dr_stack(target, v).outputs["ComputeEnvironment"] for v in w.each_dr_stack()]
        for ce in computes:  # as a DR stack may leave them: disabled until the services step
            batch.update_compute_environment(computeEnvironment=ce, state="DISABLED")
        served = recover_services(ctx, raised.facts)
        states = batch.describe_compute_environments(computeEnvironments=computes)["computeEnvironments"]
        assert sorted(e["state"] for e in states) == ["ENABLED", "ENABLED"]
        assert served.detail.count("enabled") >= 2
    finally:
        for view in w.each_dr_stack():
            deactivate_dr_stack(target, view, timeout_s=20)


def test_init_writes_every_stack_topic_and_schedule(many, tmp_path: Path) -> None:
    """Each stack (with the compute environment it mirrors), topic and schedule written in its collection; the
    world reads the file back clean."""
    world, target, w = many
    output = tmp_path / "w.toml"
    assert init(world, output, "--tag", TAG) == 0
    written = load_workload(output, world.account_id)
    assert check_workload(target, written).findings == ()
    assert [(v.dr_stack, v.mirrored_compute().compute_environment) for v in written.each_dr_stack()] == [
        (v.dr_stack, v.mirrored_compute().compute_environment) for v in w.each_dr_stack()]
    assert sorted((written.name(t.name), t.purpose) for t in written.spec.topics) == sorted(
        (w.name(t.name), t.purpose) for t in w.spec.topics)
    assert sorted((v.monthly_rule, v.spec.schedule.expression, v.report_topic) for v in written.each_schedule()) == sorted(
        (v.monthly_rule, v.spec.schedule.expression, v.report_topic) for v in w.each_schedule())
