"""EventBridge: each schedule of the workload (the guide's monthly DR test rule), ENABLED, aimed at its report topic.

The guide aims the rule at a function whose checks all return PASSED; here the rule announces the
run on its report topic with the guide's input, and the drill that subscribes does the work. Each rule
is tagged as the workload, so discovery by tag finds it.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from drharness.config import Workload
from drharness.deploy import notifications
from drharness.deploy.common import ApplyLog, Checker, call, error_code, tag_list, tag_map, workload_tags
from drharness.target import Target

TARGET_ID = "DRTestTarget"
SCHEDULE = "ScheduleExpression"
STATE = "State"
TARGET = f"Targets[{TARGET_ID}]"
TOPIC_POLICY_SID = "AllowEventBridgeMonthlyDrTest"


def rule_resource(name: str) -> str:
    return f"events rule {name}"


def target_input(workload: Workload) -> str:
    """The guide's monthly test input."""
    return json.dumps(
        {
            "test_type": "monthly",
            "project_name": workload.spec.project,
            "environment": workload.spec.environment,
            "primary_region": workload.primary_region,
            "secondary_region": workload.secondary_region,
        },
        sort_keys=True,
    )


def _describe(target: Target, workload: Workload) -> dict[str, Any] | None:
    try:
        return dict(target.client("events", workload.primary_region).describe_rule(Name=workload.monthly_rule))
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise


def _targets(target: Target, workload: Workload) -> dict[str, dict[str, Any]]:
    answer = target.client("events", workload.primary_region).list_targets_by_rule(Rule=workload.monthly_rule)
    return {t["Id"]: t for t in answer.get("Targets", [])}


def _topic_policy_statement(topic_arn: str) -> dict[str, Any]:
    return {
        "Sid": TOPIC_POLICY_SID,
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sns:Publish",
        "Resource": topic_arn,
    }


def apply(target: Target, workload: Workload, log: ApplyLog) -> None:
    for view in workload.each_schedule():
        _apply_schedule(target, view, log)


def _apply_schedule(target: Target, workload: Workload, log: ApplyLog) -> None:
    """The rule of the schedule in focus: its expression, ENABLED, its tags, aimed at its report topic."""
    region, name = workload.primary_region, workload.monthly_rule
    events = target.client("events", region)
    expression = workload.spec.schedule.expression
    topic = notifications.topic_arn(target, region, workload.report_topic)
    current = _describe(target, workload)
    action = "created" if current is None else "unchanged"
    if current is None or current.get(SCHEDULE) != expression or current.get(STATE) != "ENABLED":
        call(f"events.put_rule {name}", events.put_rule, Name=name, ScheduleExpression=expression, State="ENABLED",
             Description="Monthly DR test execution")
        action = "updated" if action == "unchanged" else action
    wanted = {"Id": TARGET_ID, "Arn": topic, "Input": target_input(workload)}
    existing = _targets(target, workload).get(TARGET_ID)
    if existing is None or existing.get("Arn") != topic or existing.get("Input") != wanted["Input"]:
        call(f"events.put_targets {name}", events.put_targets, Rule=name, Targets=[wanted])
        action = "updated" if action == "unchanged" else action
    if topic and _ensure_topic_policy(target, region, topic):
        action = "updated" if action == "unchanged" else action
    arn = str((_describe(target, workload) or {}).get("Arn", ""))
    if arn and _ensure_tags(target, workload, arn):
        action = "updated" if action == "unchanged" else action
    log.add("events rule", name, region, action, arn)


def _ensure_tags(target: Target, workload: Workload, arn: str) -> bool:
    """Tag the rule as the workload; return whether its tags changed."""
    events = target.client("events", workload.primary_region)
    wanted = workload_tags(workload)
    tags = tag_map(events.list_tags_for_resource(ResourceARN=arn).get("Tags"))
    if all(tags.get(k) == v for k, v in wanted.items()):
        return False
    call(f"events.tag_resource {arn}", events.tag_resource, ResourceARN=arn, Tags=tag_list(wanted))
    return True


def _topic_policy(target: Target, region: str, topic: str) -> dict[str, Any]:
    attributes = target.client("sns", region).get_topic_attributes(TopicArn=topic)["Attributes"]
    return dict(json.loads(attributes.get("Policy") or '{"Version": "2012-10-17", "Statement": []}'))


def _ensure_topic_policy(target: Target, region: str, topic: str) -> bool:
    """Let EventBridge publish the monthly notice; return whether the policy changed."""
    policy = _topic_policy(target, region, topic)
    statements = [s for s in policy.get("Statement", []) if s.get("Sid") != TOPIC_POLICY_SID]
    wanted = _topic_policy_statement(topic)
    if wanted in policy.get("Statement", []):
        return False
    policy["Statement"] = [*statements, wanted]
    call(f"sns.set_topic_attributes Policy {topic}", target.client("sns", region).set_topic_attributes,
         TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(policy))
    return True


def verify(target: Target, workload: Workload, check: Checker) -> None:
    for view in workload.each_schedule():
        _verify_schedule(target, view, check)


def _verify_schedule(target: Target, workload: Workload, check: Checker) -> None:
    resource = rule_resource(workload.monthly_rule)
    rule = _describe(target, workload)
    if rule is None:
        check.missing(resource)
        return
    check.expect(resource, SCHEDULE, workload.spec.schedule.expression, rule.get(SCHEDULE))
    check.expect(resource, STATE, "ENABLED", rule.get(STATE))
    topic = notifications.topic_arn(target, workload.primary_region, workload.report_topic)
    current = _targets(target, workload).get(TARGET_ID)
    if current is None:
        check.missing(resource, TARGET)
        return
    check.expect(resource, f"{TARGET}.Arn", topic, current.get("Arn"))
    check.expect(resource, f"{TARGET}.Input", json.loads(target_input(workload)),
                 json.loads(current["Input"]) if current.get("Input") else None)
    if topic:
        statements = _topic_policy(target, workload.primary_region, topic).get("Statement", [])
        allowed = _topic_policy_statement(topic) in statements
        check.expect(notifications.topic_resource(workload.report_topic, workload.primary_region),
                     "Policy (events.amazonaws.com sns:Publish)", "allowed", "allowed" if allowed else None)

