"""SNS: every topic of the workload (DR notices, test reports), each tagged as the workload and read back
through an SQS inbox.

A DR notice topic lives in the secondary region (the failover announces itself from the region that
survives, as the guide's `notify_stakeholders` does); a report topic lives in the primary region.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from drharness.config import Workload
from drharness.deploy import names
from drharness.deploy.common import ApplyLog, Checker, call, error_code, tag_list, tag_map, workload_tags
from drharness.target import Target

SUBSCRIPTION = "Subscriptions[sqs]"
QUEUE_POLICY = "Policy (sns:SendMessage)"


def topic_resource(name: str, region: str) -> str:
    return f"sns topic {name} ({region})"


def topics(workload: Workload) -> list[tuple[str, str]]:
    """(topic name, region) of each topic of the workload, in the config's order."""
    return [(workload.name(t.name), workload.topic_region(t)) for t in workload.spec.topics]


def topic_arn(target: Target, region: str, name: str) -> str | None:
    """The ARN of topic `name` in `region`, or None."""
    sns = target.client("sns", region)
    for page in sns.get_paginator("list_topics").paginate():
        for topic in page.get("Topics", []):
            if topic["TopicArn"].rsplit(":", 1)[-1] == name:
                return str(topic["TopicArn"])
    return None


def inbox_url(target: Target, region: str, topic: str) -> str | None:
    """The URL of the SQS queue subscribed to `topic`, or None."""
    try:
        return str(target.client("sqs", region).get_queue_url(QueueName=names.inbox_queue(topic))["QueueUrl"])
    except ClientError as exc:
        if error_code(exc) in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            return None
        raise


def _queue_policy(queue_arn: str, topic: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
            }
        ],
    }


def _sqs_subscriptions(sns: Any, topic: str) -> list[dict[str, Any]]:
    pages = sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic)
    return [s for page in pages for s in page.get("Subscriptions", []) if s.get("Protocol") == "sqs"]


def _ensure_topic(target: Target, workload: Workload, name: str, region: str, log: ApplyLog) -> str:
    """The topic's ARN, the topic made (or its workload tags added) where it lacks them."""
    sns = target.client("sns", region)
    wanted = workload_tags(workload)
    existing = topic_arn(target, region, name)
    if existing is None:
        arn = str(call(f"sns.create_topic {name}", sns.create_topic, Name=name, Tags=tag_list(wanted))["TopicArn"])
        log.add("sns topic", name, region, "created", arn)
        return arn
    tags = tag_map(sns.list_tags_for_resource(ResourceArn=existing).get("Tags"))
    action = "unchanged"
    if any(tags.get(k) != v for k, v in wanted.items()):
        call(f"sns.tag_resource {name}", sns.tag_resource, ResourceArn=existing, Tags=tag_list(wanted))
        action = "updated"
    log.add("sns topic", name, region, action, existing)
    return existing


def apply(target: Target, workload: Workload, log: ApplyLog) -> None:
    for name, region in topics(workload):
        sns, sqs = target.client("sns", region), target.client("sqs", region)
        arn = _ensure_topic(target, workload, name, region, log)
        queue_name = names.inbox_queue(name)
        url = inbox_url(target, region, name)
        queue_action = "unchanged"
        if url is None:
            url = call(f"sqs.create_queue {queue_name}", sqs.create_queue, QueueName=queue_name)["QueueUrl"]
            queue_action = "created"
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn", "Policy"])["Attributes"]
        queue_arn = attributes["QueueArn"]
        policy = _queue_policy(queue_arn, arn)
        if json.loads(attributes.get("Policy") or "{}") != policy:
            call(f"sqs.set_queue_attributes {queue_name}", sqs.set_queue_attributes, QueueUrl=url,
                 Attributes={"Policy": json.dumps(policy)})
            queue_action = "updated" if queue_action == "unchanged" else queue_action
        if not any(s.get("Endpoint") == queue_arn for s in _sqs_subscriptions(sns, arn)):
            call(f"sns.subscribe {queue_name} to {name}", sns.subscribe, TopicArn=arn, Protocol="sqs",
                 Endpoint=queue_arn, ReturnSubscriptionArn=True)
            queue_action = "updated" if queue_action == "unchanged" else queue_action
        log.add("sqs inbox", queue_name, region, queue_action, url)


def verify(target: Target, workload: Workload, check: Checker) -> None:
    for name, region in topics(workload):
        resource = topic_resource(name, region)
        arn = topic_arn(target, region, name)
        if arn is None:
            check.missing(resource)
            continue
        url = inbox_url(target, region, name)
        if url is None:
            check.missing(resource, SUBSCRIPTION, f"queue {names.inbox_queue(name)}")
            continue
        attributes = target.client("sqs", region).get_queue_attributes(
            QueueUrl=url, AttributeNames=["QueueArn", "Policy"])["Attributes"]
        queue_arn = attributes["QueueArn"]
        subscriptions = [s for s in _sqs_subscriptions(target.client("sns", region), arn) if s.get("Endpoint") == queue_arn]
        confirmed = [s for s in subscriptions if s.get("SubscriptionArn", "").startswith("arn:")]
        check.expect(resource, SUBSCRIPTION, queue_arn, queue_arn if confirmed else None)
        statements = json.loads(attributes.get("Policy") or "{}").get("Statement", [])
        allowed = any(
            (s.get("Principal") or {}).get("Service") == "sns.amazonaws.com"
            and arn in json.dumps(s.get("Condition", {}))
            for s in statements
        )
        check.expect(f"sqs queue {names.inbox_queue(name)} ({region})", QUEUE_POLICY, arn, arn if allowed else None)
