"""Whether each bucket, and its replica, has the S3 Inventory its config asks for, and a report young enough.

Two checks per bucket and per replica (not to be confused with `compliance.inventory`, the collector of
the facts the monthly report reads):

- `inventory-configured`: an ENABLED inventory configuration with the config's id, delivering to the
  destination bucket of the bucket's own region under the config's prefix. S3 delivers only to a bucket in
  the source's region (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketInventoryConfiguration.html).
  A critical bucket whose config opts out (`inventory.enabled = false`) is said, as information.
- `inventory-fresh`: the newest COMPLETE report, a `{prefix}/{source-bucket}/{config-id}/YYYY-MM-DDTHH-MMZ/`
  folder holding both manifest.json and manifest.checksum
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory-location.html), is judged by the
  time in its folder name against the target's clock (REPORT_MAX_AGE_SECONDS). With no report at all it
  fails, unless the destination bucket is younger than the 48 hours in which AWS delivers the first report
  of a configuration (https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory.html): no
  report can be late before that, so that is information.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import ClientError

from drharness.config import TierName, Workload
from drharness.config.models import INVENTORY_TIERS
from drharness.deploy import inventory, s3
from drharness.deploy.common import error_code
from drharness.results import Objective, ResultRecord
from drharness.results.recorder import Recorder
from drharness.target import Target
from drharness.timefmt import human_seconds, iso

INVENTORY_CONFIGURED = "config:inventory-configured"
INVENTORY_FRESH = "config:inventory-fresh"
MANIFEST = "manifest.json"
CHECKSUM = "manifest.checksum"
REPORT_FOLDER = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}Z)/$")
REPORT_TIME_FORMAT = "%Y-%m-%dT%H-%MZ"
FIRST_REPORT_SECONDS = 48 * 3600.0  # AWS delivers a configuration's first report within 48 hours
# How old the newest report may be: a Daily report is late 48 h after the previous one, a Weekly one 8 days after.
REPORT_MAX_AGE_SECONDS = {"Daily": 48 * 3600.0, "Weekly": 8 * 86400.0}
REPORT_RULE = {"Daily": "a Daily inventory is late 48 h after its previous report",
               "Weekly": "a Weekly inventory is late 8 days after its previous report"}
Verdict = Literal["pass", "fail", "info"]


@dataclass(frozen=True)
class InventoryJudgement:
    """A check's verdict on one bucket (a data bucket or its replica); `age_seconds` for the freshness check."""

    check: str
    resource: str
    tier: TierName
    verdict: Verdict
    expected: str
    actual: str
    age_seconds: float | None = None
    limit_seconds: float | None = None
    rule: str = ""  # what makes a report late (REPORT_RULE)
    report: str = ""  # the newest complete report's manifest, s3://bucket/key


@dataclass(frozen=True)
class InventoryReport:
    """One complete report: its folder (`.../YYYY-MM-DDTHH-MMZ/`) and the time its name says."""

    folder: str
    created_at: dt.datetime


def report_time(folder: str) -> dt.datetime | None:
    """The time a report folder's name gives (`.../2016-11-06T21-32Z/`), UTC; None for any other folder."""
    match = REPORT_FOLDER.search(folder)
    if not match:
        return None
    try:
        return dt.datetime.strptime(match.group(1), REPORT_TIME_FORMAT).replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None


def _folders(client: Any, bucket: str, prefix: str) -> Iterator[str]:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        for common in page.get("CommonPrefixes", []):
            yield str(common["Prefix"])


def _complete(client: Any, bucket: str, folder: str) -> bool:
    keys = {str(o["Key"]) for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder)
            for o in page.get("Contents", [])}
    return {folder + MANIFEST, folder + CHECKSUM} <= keys


def newest_complete_report(target: Target, source: inventory.InventorySource) -> InventoryReport | None:
    """The newest report of `source` holding both its manifest.json and manifest.checksum, or None."""
    client = target.client("s3", source.region)
    try:
        dated = [(moment, folder) for folder in _folders(client, source.destination, inventory.report_prefix(source))
                 if (moment := report_time(folder)) is not None]
        for moment, folder in sorted(dated, reverse=True):
            if _complete(client, source.destination, folder):
                return InventoryReport(folder, moment)
    except ClientError as exc:
        if error_code(exc) != "NoSuchBucket":
            raise
    return None


def _bucket_created(target: Target, bucket: str, region: str) -> dt.datetime | None:
    """When `bucket` was created (ListBuckets), or None when the account does not list it."""
    answer = target.client("s3", region).list_buckets(Prefix=bucket)
    return next((b["CreationDate"] for b in answer.get("Buckets", []) if b.get("Name") == bucket), None)


def _destination_problem(target: Target, source: inventory.InventorySource) -> str:
    """What is wrong with where `source` delivers (missing, in another region), or empty."""
    client = target.client("s3", source.region)
    if not s3.bucket_exists(client, source.destination):
        return f"destination bucket {source.destination} does not exist"
    location = client.get_bucket_location(Bucket=source.destination).get("LocationConstraint") or "us-east-1"
    if location != source.region:
        return (f"destination bucket {source.destination} is in {location}, not {source.region}: S3 delivers an "
                "inventory only to a bucket in the source bucket's region")
    return ""


def _not_asked(check: str, source: inventory.InventorySource) -> InventoryJudgement:
    bucket = source.view.spec.bucket
    tier = bucket.tier
    what = "the replica of " if source.replica else ""
    if tier in INVENTORY_TIERS:
        said = (f"{what}this {tier} bucket has no S3 Inventory: its config opts out (inventory.enabled = false in "
                f"{source.view.source}), so its replica cannot be compared from inventory reports")
    else:
        said = (f"no S3 Inventory asked: {tier}-tier buckets have none unless their config says inventory.enabled = "
                f"true ({source.view.source})")
    return InventoryJudgement(check, s3.bucket_resource(source.bucket), tier, "info", "no inventory (by the config)", said)


def judge_configured(target: Target, view: Workload) -> tuple[InventoryJudgement, ...]:
    """`inventory-configured` on the bucket in focus and on its replica."""
    return tuple(_configured(target, source) for source in inventory.source_pair(view))


def _configured(target: Target, source: inventory.InventorySource) -> InventoryJudgement:
    if not source.view.spec.bucket.inventory_enabled:
        return _not_asked(INVENTORY_CONFIGURED, source)
    spec = source.view.spec.bucket.inventory
    expected = (f"inventory configuration {spec.config_id} ENABLED, {spec.frequency}, delivering to "
                f"arn:aws:s3:::{source.destination} ({source.region}) under {spec.prefix or '(no prefix)'!r}")
    found = inventory.configuration(target, source.bucket, source.region, spec.config_id)
    problems: list[str] = []
    if found is None:
        problems.append(f"no inventory configuration {spec.config_id}")
        actual = problems[0]
    else:
        dest = (found.get("Destination") or {}).get("S3BucketDestination") or {}
        frequency = (found.get("Schedule") or {}).get("Frequency")
        actual = (f"inventory configuration {found.get('Id')} {'ENABLED' if found.get('IsEnabled') else 'DISABLED'}, "
                  f"{frequency}, delivering to {dest.get('Bucket')} under {dest.get('Prefix') or '(no prefix)'!r}")
        if not found.get("IsEnabled"):
            problems.append("disabled")
        if dest.get("Bucket") != f"arn:aws:s3:::{source.destination}" or (dest.get("Prefix") or "") != spec.prefix:
            problems.append("delivering elsewhere")
        if frequency != spec.frequency:
            problems.append(f"{frequency} instead of {spec.frequency}")
    destination = _destination_problem(target, source)
    if destination:
        problems.append(destination)
        actual = f"{actual}; {destination}"
    return InventoryJudgement(INVENTORY_CONFIGURED, s3.bucket_resource(source.bucket), source.view.spec.bucket.tier,
                              "fail" if problems else "pass", expected, actual)


def judge_fresh(target: Target, view: Workload, now: dt.datetime) -> tuple[InventoryJudgement, ...]:
    """`inventory-fresh` on the bucket in focus and on its replica, at the target's `now`."""
    return tuple(_fresh(target, source, now) for source in inventory.source_pair(view))


def _fresh(target: Target, source: inventory.InventorySource, now: dt.datetime) -> InventoryJudgement:
    if not source.view.spec.bucket.inventory_enabled:
        return _not_asked(INVENTORY_FRESH, source)
    spec = source.view.spec.bucket.inventory
    limit = REPORT_MAX_AGE_SECONDS[spec.frequency]
    where = f"s3://{source.destination}/{inventory.report_prefix(source)}"
    expected = f"a complete report (manifest.json and manifest.checksum) under {where} at most {human_seconds(limit)} old"
    resource, tier = s3.bucket_resource(source.bucket), source.view.spec.bucket.tier
    report = newest_complete_report(target, source)
    if report is not None:
        age = (now - report.created_at).total_seconds()
        manifest = f"s3://{source.destination}/{report.folder}{MANIFEST}"
        return InventoryJudgement(INVENTORY_FRESH, resource, tier, "pass" if age <= limit else "fail", expected,
                                  f"newest complete report {report.folder} is {human_seconds(age)} old "
                                  f"({REPORT_RULE[spec.frequency]})", age, limit, REPORT_RULE[spec.frequency], manifest)
    created = _bucket_created(target, source.destination, source.region)
    waited = (now - created).total_seconds() if created is not None else None
    if waited is not None and waited < FIRST_REPORT_SECONDS:
        return InventoryJudgement(INVENTORY_FRESH, resource, tier, "info", expected,
                                  f"no complete report yet under {where}: AWS delivers the first report within 48 hours "
                                  f"of configuration, and {source.destination} was created {human_seconds(waited)} ago "
                                  f"(due by {iso(created + dt.timedelta(seconds=FIRST_REPORT_SECONDS))})",
                                  None, limit, REPORT_RULE[spec.frequency])
    since = f"; {source.destination} was created {human_seconds(waited)} ago" if waited is not None else ""
    return InventoryJudgement(INVENTORY_FRESH, resource, tier, "fail", expected,
                              f"no complete report under {where}: AWS delivers the first report within 48 hours of "
                              f"configuration{since}", None, limit, REPORT_RULE[spec.frequency])


Judge = Callable[[Target, Workload, dt.datetime], tuple[InventoryJudgement, ...]]
CHECKS: dict[str, Judge] = {
    INVENTORY_CONFIGURED: lambda target, view, now: judge_configured(target, view),
    INVENTORY_FRESH: judge_fresh,
}


def record(recorder: Recorder, judgement: InventoryJudgement, scenario: str) -> ResultRecord:
    """Write `judgement` as a result record: a compliance check, a report age, or information."""
    j = judgement
    if j.check == INVENTORY_FRESH:
        objective = Objective("inventory_report_age", j.limit_seconds, "s", "<=", j.rule) if j.limit_seconds else None
        return recorder.measure(check=j.check, scenario=scenario, resource=j.resource, tier=j.tier,
                                metric="inventory_report_age", value=j.age_seconds, unit="s", objective=objective,
                                verdict=j.verdict if j.verdict == "info" else None,
                                reason=f"{j.resource}: {j.actual}", evidence={"expected": j.expected, "report": j.report})
    if j.verdict == "info":
        return recorder.measure(check=j.check, scenario=scenario, resource=j.resource, tier=j.tier, metric="compliant",
                                value=None, unit="bool", verdict="info", reason=f"{j.resource}: {j.actual}")
    return recorder.compliance(check=j.check, resource=j.resource, ok=j.verdict == "pass", expected=j.expected,
                               actual=j.actual, tier=j.tier, scenario=scenario)
