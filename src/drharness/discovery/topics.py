"""Read the workload's SNS topics and EventBridge schedules back, by the workload's tags, in the config's terms.

The tagging API of one region does not list the DR region's topics, so each region's topics are listed and
their tags read. A topic in the DR region carries the DR notices, one in the primary region the test reports
(where the deploy puts each purpose). A schedule is a rule of the primary region with a schedule expression,
aimed at one of those topics. Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from drharness.deploy.common import tag_map
from drharness.discovery.read import Found
from drharness.target import Target


def _tagged_like(tags: dict[str, str], workload_tags: Mapping[str, str]) -> bool:
    return bool(workload_tags) and all(tags.get(k) == v for k, v in workload_tags.items())


def read_topics(target: Target, regions: Mapping[str, str], workload_tags: Mapping[str, str]) -> list[Found]:
    """Each topic tagged like the workload, in the regions of `regions` (region -> the purpose of its topics)."""
    found: list[Found] = []
    for region, purpose in regions.items():
        sns = target.client("sns", region)
        try:
            arns = [str(t["TopicArn"]) for page in sns.get_paginator("list_topics").paginate() for t in page.get("Topics", [])]
            for arn in sorted(arns):
                if _tagged_like(tag_map(sns.list_tags_for_resource(ResourceArn=arn).get("Tags")), workload_tags):
                    found.append(Found("topics", {"name": arn.rsplit(":", 1)[-1], "purpose": purpose, "_arn": arn}))
        except (ClientError, BotoCoreError):
            continue  # a region whose topics cannot be read: the defaults stand, and the caller says so
    return found


def rule_topic(events: Any, rule: str) -> str | None:
    """The ARN of the SNS topic the rule is aimed at (its first SNS target), or None."""
    targets = events.list_targets_by_rule(Rule=rule).get("Targets", [])
    return next((str(t["Arn"]) for t in targets if ":sns:" in str(t.get("Arn", ""))), None)


def read_schedules(target: Target, region: str, workload_tags: Mapping[str, str]) -> list[Found]:
    """Each scheduled EventBridge rule of `region` tagged like the workload, with the topic it announces on."""
    events = target.client("events", region)
    found: list[Found] = []
    try:
        rules = [r for page in events.get_paginator("list_rules").paginate() for r in page.get("Rules", [])]
        for rule in sorted(rules, key=lambda r: str(r["Name"])):
            if not rule.get("ScheduleExpression"):
                continue
            if _tagged_like(tag_map(events.list_tags_for_resource(ResourceARN=rule["Arn"]).get("Tags")), workload_tags):
                found.append(Found("schedules", {"name": rule["Name"], "expression": rule["ScheduleExpression"],
                                                 "_topic": rule_topic(events, str(rule["Name"]))}))
    except (ClientError, BotoCoreError):
        return []
    return found


def link_schedules(schedules: list[Found], topics: list[Found]) -> None:
    """Name, in each schedule, the reports topic it announces on where that is not the first one (ids assigned)."""
    reports = [t for t in topics if t.values["purpose"] == "reports"]
    for schedule in schedules:
        arn = schedule.values.pop("_topic", None)
        aimed = next((t for t in reports if t.values.get("_arn") == arn), None)
        if aimed is not None and aimed is not reports[0]:
            schedule.values["topic"] = aimed.values["id"]
        elif aimed is None and arn:
            schedule.notes.append(f"rule {schedule.values['name']} announces on {arn}, no topic of the workload; "
                                  "its topic is left at the first reports topic")
    for topic in topics:
        topic.values.pop("_arn", None)
