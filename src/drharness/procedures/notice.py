"""The DR notice: published to a DR notice topic in the secondary region (the one a `Workload` view is focused
on; the failover publishes to each of them), and found again in its SQS inbox.

The message is the guide's `notify_stakeholders` JSON (timestamp, project, regions, failover_status,
action_required) plus the run id, which is how the notice is told apart in the inbox.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from drharness.config import Workload
from drharness.deploy import names, notifications
from drharness.errors import ProcedureError
from drharness.results import JsonValue, iso, utc_now
from drharness.target import Target

ACTION_REQUIRED = "Please verify secondary region operations"
INBOX_PAGE = 10  # ReceiveMessage's maximum
# Long enough to page past what we have already looked at; every message we saw is made visible again.
PEEK_VISIBILITY_S = 30

TOPIC_MISSING = (
    "DR notice topic {topic} does not exist in {region}; deploy the workload (drharness deploy) "
    "or give its ARN (DR_NOTIFICATION_TOPIC)"
)
PUBLISH_FAILED = "publishing the DR notice to {topic} failed: {error}; the failover itself is done, notify by hand"


@dataclass(frozen=True)
class Notice:
    """A published DR notice."""

    topic_arn: str
    message_id: str
    subject: str
    body: str
    published_at: str


def subject(workload: Workload) -> str:
    # SNS subjects are at most 100 characters.
    return f"DR Failover: {workload.spec.project}-{workload.spec.environment}"[:100]


def message(workload: Workload, *, run_id: str, success: bool, details: Mapping[str, JsonValue]) -> str:
    """The notice body: the guide's fields, then the run id and what was done."""
    body: dict[str, JsonValue] = {
        "timestamp": iso(utc_now()),
        "project": f"{workload.spec.project}-{workload.spec.environment}",
        "primary_region": workload.primary_region,
        "secondary_region": workload.secondary_region,
        "failover_status": "SUCCESS" if success else "FAILED",
        "action_required": ACTION_REQUIRED,
        "run_id": run_id,
        **details,
    }
    return json.dumps(body, indent=2)


def dr_topic_arn(target: Target, workload: Workload) -> str:
    """The ARN of the DR notice topic in focus (the first, unless a view chose another) in the secondary region."""
    region = workload.secondary_region
    try:
        arn = notifications.topic_arn(target, region, workload.dr_topic)
    except (ClientError, BotoCoreError) as exc:
        raise ProcedureError(f"cannot list SNS topics in {region}: {exc}; check the endpoint and permissions") from exc
    if arn is None:
        raise ProcedureError(TOPIC_MISSING.format(topic=workload.dr_topic, region=region))
    return arn


def publish(target: Target, workload: Workload, topic_arn: str, body: str) -> Notice:
    """Publish `body` to the DR topic (in the topic's own region)."""
    region = _arn_region(topic_arn) or workload.secondary_region
    title = subject(workload)
    try:
        answer = target.client("sns", region).publish(TopicArn=topic_arn, Subject=title, Message=body)
    except (ClientError, BotoCoreError) as exc:
        raise ProcedureError(PUBLISH_FAILED.format(topic=topic_arn, error=exc)) from exc
    return Notice(topic_arn, str(answer["MessageId"]), title, body, iso(utc_now()))


def _arn_region(arn: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 5 and parts[0] == "arn" else ""


def _text(raw: str) -> str:
    """The notice text of an inbox message: SNS wraps it in an envelope unless raw delivery is on."""
    with contextlib.suppress(ValueError, TypeError):
        envelope = json.loads(raw)
        if isinstance(envelope, dict) and envelope.get("Type") == "Notification":
            return str(envelope.get("Message", ""))
    return raw


def _runs_in(text: str) -> Iterator[str]:
    with contextlib.suppress(ValueError, TypeError):
        data = json.loads(text)
        if isinstance(data, dict) and "run_id" in data:
            yield str(data["run_id"])


def inbox_has_notice(target: Target, workload: Workload, run_id: str) -> bool:
    """Whether the SQS queue subscribed to the DR topic holds the notice of `run_id` (messages are left in place)."""
    region = workload.secondary_region
    url = notifications.inbox_url(target, region, workload.dr_topic)
    if url is None:
        raise ProcedureError(
            f"no SQS queue is subscribed to {workload.dr_topic} in {region} "
            f"(expected {names.inbox_queue(workload.dr_topic)}); deploy the workload"
        )
    sqs = target.client("sqs", region)
    seen: list[str] = []
    found = False
    try:
        while not found:
            batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=INBOX_PAGE, VisibilityTimeout=PEEK_VISIBILITY_S,
                                        WaitTimeSeconds=0).get("Messages", [])
            if not batch:
                break
            for item in batch:
                seen.append(item["ReceiptHandle"])
                if run_id in _runs_in(_text(item.get("Body", ""))):
                    found = True
    finally:
        # Peeking must not consume: whoever reads the inbox next sees every message again.
        for handle in seen:
            with contextlib.suppress(ClientError, BotoCoreError):
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    return found
