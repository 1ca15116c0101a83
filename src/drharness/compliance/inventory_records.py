"""What the inventory's records are called and how the monthly DR test schedule is judged (no AWS call).

`compliance.inventory` collects these records from a target; reports and the DR metrics read them by
these names, so they need nothing of the collector.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from drharness.cron import next_fire_times, parse_aws_cron
from drharness.results import iso

SCENARIO = "inventory"
CHECK_RECOVERY_POINTS = "inventory:recovery-points"
CHECK_BACKUP_JOBS = "inventory:backup-jobs"
CHECK_S3_REPLICATION = "inventory:s3-replication"
CHECK_TABLE_REPLICAS = "inventory:dynamodb-replicas"
CHECK_DR_COST = "inventory:dr-cost"
CHECK_MONTHLY_RULE = "inventory:monthly-rule"
CHECK_RULE_SCHEDULE = "monthly-rule-schedule"
CHECK_RULE_STATE = "monthly-rule-state"

WINDOW_DAYS = 30
EVIDENCE_LIMIT = 500  # items listed per record; the counts stay exact beyond it
FINISHED_JOB_STATES = frozenset({"COMPLETED", "FAILED", "ABORTED", "EXPIRED", "PARTIAL"})
SUCCESS_JOB_STATE = "COMPLETED"
COST_REGION = "us-east-1"  # Cost Explorer has one endpoint
# What DR adds to the bill: everything in the standby region (replicas, the DR stack, the backup
# bucket) and AWS Backup wherever it runs. Cross-region transfer billed in the primary region is not
# separable by these dimensions and is left out; the record says so.
DR_COST_SERVICES = ("AWS Backup",)
# The guide's DRTestSchedule: "cron(0 2 1 * ? *)  # 毎月1日2時" - the 1st of each month, 02:00 UTC.
GUIDE_MONTHLY_DAY = 1
GUIDE_MONTHLY_HOUR_UTC = 2
GUIDE_SCHEDULE_TEXT = "the 1st of each month at 02:00 UTC"
SCHEDULE_CHECK_MONTHS = 12  # fire times compared, one per month


@dataclass(frozen=True)
class MonthlySchedule:
    rule: str
    state: str
    expression: str
    valid: bool
    fires_as_guide_says: bool
    next_fire_times: tuple[str, ...]
    reason: str


def guide_fire_times(after: dt.datetime, n: int = SCHEDULE_CHECK_MONTHS) -> list[dt.datetime]:
    """The next `n` times the guide's monthly DR test is due: day 1 of each month at 02:00 UTC."""
    moment = after.astimezone(dt.timezone.utc)
    year, month = moment.year, moment.month
    found: list[dt.datetime] = []
    while len(found) < n:
        due = dt.datetime(year, month, GUIDE_MONTHLY_DAY, GUIDE_MONTHLY_HOUR_UTC, tzinfo=dt.timezone.utc)
        if due > moment:
            found.append(due)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def check_monthly_schedule(rule: str, state: str, expression: str, now: dt.datetime) -> MonthlySchedule:
    """Parse the rule's cron expression and compare its next fire times with the guide's schedule."""
    try:
        parsed = parse_aws_cron(expression)
    except ValueError as exc:
        return MonthlySchedule(rule, state, expression, False, False, (), f"{rule}: {exc}")
    expected = guide_fire_times(now)
    actual = next_fire_times(parsed, now, len(expected))
    shown = tuple(iso(t) for t in actual[:3])
    if actual == expected:
        return MonthlySchedule(rule, state, expression, True, True, shown,
                               f"{rule}: {expression} fires {GUIDE_SCHEDULE_TEXT} (next {shown[0]})")
    first_wrong = next((i for i, (a, e) in enumerate(zip(actual, expected)) if a != e), min(len(actual), len(expected)))
    got = iso(actual[first_wrong]) if first_wrong < len(actual) else "no fire time"
    return MonthlySchedule(
        rule, state, expression, True, False, shown,
        f"{rule}: {expression} does not fire {GUIDE_SCHEDULE_TEXT}: fire #{first_wrong + 1} after {iso(now)} is "
        f"{got}, the guide's is {iso(expected[first_wrong])}; set ScheduleExpression to cron(0 2 1 * ? *)",
    )
