"""What protects each resource, read from the target: the mechanisms that bound its data-loss window.

A daily backup cannot meet a 1 h RPO on its own, so the RPO check asks which mechanism can: DynamoDB
point-in-time recovery, S3 replication with Replication Time Control, FSx automatic backups, or an
AWS Backup plan whose selection covers the resource (its worst case is the longest gap between two
scheduled runs). Everything here is read from the target, never taken from the workload config.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from botocore.exceptions import ClientError

from drharness.compliance.selection import selection_selects
from drharness.config import TierName, Workload
from drharness.cron import iter_fire_times
from drharness.deploy import backup as deploy_backup
from drharness.deploy import check_workload, fsx
from drharness.deploy.common import Finding, error_code, tag_map
from drharness.target import Target
from drharness.timefmt import human_seconds


# DynamoDB keeps LatestRestorableDateTime within about five minutes of now.
PITR_WINDOW_SECONDS = 300.0
# FSx takes one automatic backup a day, in its daily backup window.
FSX_AUTOMATIC_WINDOW_SECONDS = 86400.0
SCHEDULE_HORIZON_DAYS = 400  # long enough to see two runs of a monthly rule
SCHEDULE_MAX_FIRES = 5000  # per rule: a rule firing every minute still gives its gap
# Resource types AWS Backup can assign, by ARN: only these count as "tagged for backup".
BACKUP_ARN_MARKERS = (":dynamodb:", ":s3:::", ":fsx:", ":ec2:", ":rds:", ":elasticfilesystem:", ":storagegateway:")

KINDS = ("table", "bucket", "file_system")


@dataclass(frozen=True)
class Protected:
    """A resource the workload asks to be recoverable: its kind, name, ARN (None when missing) and tier."""

    kind: str
    name: str
    label: str
    arn: str | None
    tier: TierName
    backup_required: bool


@dataclass(frozen=True)
class Mechanism:
    """One way a resource's data is kept; `window_seconds` is its worst-case data-loss window (None: unbounded)."""

    name: str
    in_place: bool
    window_seconds: float | None
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "in_place": self.in_place, "window_seconds": self.window_seconds, "detail": self.detail}


@dataclass(frozen=True)
class BackupCoverage:
    """How the backup plan covers one resource: which selections pick it and how often its rules run."""

    plan_found: bool
    selections: tuple[str, ...]
    rules: tuple[str, ...]
    gap_seconds: float | None
    windows_seconds: float  # the largest start + completion window among the rules
    plan: str = ""  # the plan's name

    @property
    def covered(self) -> bool:
        return bool(self.selections and self.rules)


def worst_gap_seconds(rules: Iterable[Mapping[str, Any]], now: dt.datetime) -> float | None:
    """The longest time between two consecutive scheduled runs of all `rules` together (None: no run)."""
    horizon = now + dt.timedelta(days=SCHEDULE_HORIZON_DAYS)
    fires: set[dt.datetime] = set()
    for rule in rules:
        timezone = str(rule.get("ScheduleExpressionTimezone") or "UTC")
        try:
            fires_after = iter_fire_times(str(rule.get("ScheduleExpression", "")), now, timezone=timezone)
            for count, moment in enumerate(fires_after):
                if moment > horizon or count >= SCHEDULE_MAX_FIRES:
                    break
                fires.add(moment)
        except ValueError:
            continue  # an expression AWS would refuse schedules nothing; the schedule check names it
    ordered = sorted(fires)
    if len(ordered) < 2:
        return (horizon - now).total_seconds() if ordered else None
    return max((b - a).total_seconds() for a, b in zip(ordered, ordered[1:]))


class TargetReads:
    """The DR settings of one workload on one target, each read once (a test module's view).

    The bucket, table, file system, plan, DR stack, topic and schedule it reads are those in the workload's
    focus; `focused` gives the view from another, sharing what is the workload's as a whole (the read-back,
    each plan once, tags).
    """

    def __init__(self, target: Target, workload: Workload, now: dt.datetime,
                 shared: dict[str, Any] | None = None) -> None:
        self.target = target
        self.workload = workload
        self.now = now
        self.region = workload.primary_region
        self._shared: dict[str, Any] = {} if shared is None else shared

    def _client(self, service: str, region: str | None = None) -> Any:
        return self.target.client(service, region or self.region)

    def _once(self, key: str, read: Any) -> Any:
        if key not in self._shared:
            self._shared[key] = read()
        return self._shared[key]

    def focused(self, view: Workload) -> "TargetReads":
        """The reads of `view` (a `Workload.focus` of this workload), each still read once."""
        s = view.spec
        key = (f"view:{s.bucket.id}:{s.table.id}:{s.file_system.id}:{s.compute.id}:{s.backup.id}:{s.dr_stack.id}:"
               f"{s.topic.id}:{s.schedule.id}")
        return self._once(key, lambda: TargetReads(self.target, view, self.now, self._shared))  # type: ignore[no-any-return]

    @property
    def findings(self) -> tuple[Finding, ...]:
        """Every DR property that differs from the workload config (the deploy's own read-back)."""
        return self._once("findings", lambda: check_workload(self.target, self.workload).findings)  # type: ignore[no-any-return]

    @cached_property
    def table(self) -> dict[str, Any] | None:
        try:
            return dict(self._client("dynamodb").describe_table(TableName=self.workload.metadata_table)["Table"])
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise

    @cached_property
    def pitr_status(self) -> str | None:
        if self.table is None:
            return None
        answer = self._client("dynamodb").describe_continuous_backups(TableName=self.workload.metadata_table)
        return (answer["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription") or {}).get(
            "PointInTimeRecoveryStatus")

    @cached_property
    def table_replicas(self) -> dict[str, str]:
        """Replica region -> ReplicaStatus of the metadata table."""
        return {str(r.get("RegionName")): str(r.get("ReplicaStatus")) for r in (self.table or {}).get("Replicas", [])}

    def bucket_exists(self, bucket: str, region: str) -> bool:
        try:
            self._client("s3", region).head_bucket(Bucket=bucket)
            return True
        except ClientError as exc:
            if error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
                return False
            raise

    def versioning(self, bucket: str, region: str) -> str | None:
        if not self.bucket_exists(bucket, region):
            return None
        return self._client("s3", region).get_bucket_versioning(Bucket=bucket).get("Status") or "Disabled"

    @cached_property
    def replication(self) -> dict[str, Any] | None:
        """The data bucket's ReplicationConfiguration, or None."""
        try:
            answer = self._client("s3").get_bucket_replication(Bucket=self.workload.data_bucket)
            return dict(answer["ReplicationConfiguration"])
        except ClientError as exc:
            if error_code(exc) in ("ReplicationConfigurationNotFoundError", "NoSuchBucket"):
                return None
            raise

    @cached_property
    def replication_rule(self) -> dict[str, Any] | None:
        """The workload's replication rule (by its id), or None."""
        rule_id = self.workload.spec.bucket.replication.rule_id
        return next((dict(r) for r in (self.replication or {}).get("Rules", []) if r.get("ID") == rule_id), None)

    @cached_property
    def file_system(self) -> dict[str, Any] | None:
        return fsx.find(self.target, self.workload)

    @property
    def plan(self) -> dict[str, Any] | None:
        return self._once(f"plan:{self.workload.spec.backup.id}",  # type: ignore[no-any-return]
                          lambda: deploy_backup.find_plan(self.target, self.workload))

    @property
    def selections(self) -> tuple[dict[str, Any], ...]:
        """Every selection of the workload's plan, as GetBackupSelection returns it."""
        return self._once(f"selections:{self.workload.spec.backup.id}", self._read_selections)  # type: ignore[no-any-return]

    def _read_selections(self) -> tuple[dict[str, Any], ...]:
        if self.plan is None:
            return ()
        backup = self._client("backup")
        plan_id = self.plan["BackupPlanId"]
        listed = backup.list_backup_selections(BackupPlanId=plan_id).get("BackupSelectionsList", [])
        return tuple(
            dict(backup.get_backup_selection(BackupPlanId=plan_id, SelectionId=s["SelectionId"])["BackupSelection"])
            for s in listed
        )

    @property
    def tags(self) -> dict[str, dict[str, str]]:
        """ARN -> tags of every tagged resource in the primary region."""
        return self._once("tags", self._read_tags)  # type: ignore[no-any-return]

    def _read_tags(self) -> dict[str, dict[str, str]]:
        tagging = self._client("resourcegroupstaggingapi")
        found: dict[str, dict[str, str]] = {}
        token = ""
        while True:
            page = tagging.get_resources(**({"PaginationToken": token} if token else {}))
            for mapping in page.get("ResourceTagMappingList", []):
                found[str(mapping["ResourceARN"])] = tag_map(mapping.get("Tags"))
            token = page.get("PaginationToken") or ""
            if not token:
                return found

    def tagged_for_backup(self) -> list[str]:
        """ARNs of the backup-capable resources that carry the selection tag of the plan in focus."""
        spec = self.workload.spec.backup
        return sorted(
            arn for arn, tags in self.tags.items()
            if tags.get(spec.selection_tag_key) == spec.selection_tag_value and any(m in arn for m in BACKUP_ARN_MARKERS)
        )

    # -- the protected resources -----------------------------------------------------------------------

    def protected(self, kind: str) -> Protected:
        w = self.workload
        if kind == "table":
            arn = (self.table or {}).get("TableArn")
            return Protected(kind, w.metadata_table, f"dynamodb table {w.metadata_table}", arn, w.spec.table.tier,
                             w.spec.table.backup_required)
        if kind == "bucket":
            arn = f"arn:aws:s3:::{w.data_bucket}" if self.bucket_exists(w.data_bucket, self.region) else None
            return Protected(kind, w.data_bucket, f"s3 bucket {w.data_bucket}", arn, w.spec.bucket.tier,
                             w.spec.bucket.backup_required)
        if kind == "file_system":
            arn = (self.file_system or {}).get("ResourceARN")
            return Protected(kind, w.file_system, f"fsx file system {w.file_system}", arn, w.spec.file_system.tier,
                             w.spec.file_system.backup_required)
        raise ValueError(f"unknown resource kind {kind!r}; use one of {', '.join(KINDS)}")

    def plans(self) -> tuple["TargetReads", ...]:
        """The reads of each backup plan of the workload."""
        return tuple(self.focused(view) for view in self.workload.each_backup_plan())

    def coverage(self, arn: str | None) -> BackupCoverage:
        """How the plans cover `arn`: the plan whose selection picks it most often (the plan in focus if none do)."""
        covering = [c for c in (reads.plan_coverage(arn) for reads in self.plans()) if c.covered]
        if not covering:
            return self.plan_coverage(arn)
        return min(covering, key=lambda c: c.gap_seconds if c.gap_seconds is not None else float("inf"))

    def plan_coverage(self, arn: str | None) -> BackupCoverage:
        """How the plan in focus covers `arn`."""
        name = self.workload.backup_plan
        if self.plan is None:
            return BackupCoverage(False, (), (), None, 0.0, name)
        rules = list((self.plan.get("BackupPlan") or {}).get("Rules", []))
        tags = self.tags.get(arn or "", {})
        chosen = tuple(str(s.get("SelectionName")) for s in self.selections if arn and selection_selects(s, arn, tags))
        windows = max((60.0 * (int(r.get("StartWindowMinutes") or 0) + int(r.get("CompletionWindowMinutes") or 0))
                       for r in rules), default=0.0)
        return BackupCoverage(True, chosen, tuple(str(r.get("RuleName")) for r in rules),
                              worst_gap_seconds(rules, self.now) if chosen else None, windows, name)

    def mechanisms(self, resource: Protected) -> tuple[Mechanism, ...]:
        """Every mechanism that keeps `resource`'s data, with its worst-case data-loss window."""
        found: list[Mechanism] = []
        if resource.kind == "table":
            status = self.pitr_status
            found.append(Mechanism("DynamoDB point-in-time recovery", status == "ENABLED",
                                   PITR_WINDOW_SECONDS if status == "ENABLED" else None,
                                   f"PointInTimeRecoveryStatus {status or 'unknown (no table)'}"))
            active = sorted(r for r, s in self.table_replicas.items() if s == "ACTIVE")
            found.append(Mechanism("DynamoDB global table replica", bool(active), None,
                                   f"active replicas {active or 'none'}; global tables give no replication-time guarantee"))
        elif resource.kind == "bucket":
            found.append(self._replication_mechanism())
        elif resource.kind == "file_system":
            lustre = (self.file_system or {}).get("LustreConfiguration") or {}
            retention = int(lustre.get("AutomaticBackupRetentionDays") or 0)
            found.append(Mechanism("FSx automatic daily backups", retention > 0,
                                   FSX_AUTOMATIC_WINDOW_SECONDS if retention > 0 else None,
                                   f"AutomaticBackupRetentionDays {retention}"))
        coverage = self.coverage(resource.arn)
        plan = coverage.plan or self.workload.backup_plan
        if not coverage.plan_found:
            detail = f"backup plan {plan} not found"
        elif not coverage.selections:
            detail = f"no selection of backup plan {plan} assigns {resource.arn or resource.label}"
        else:
            gap = f"runs at most {human_seconds(coverage.gap_seconds, exact=True)} apart" if coverage.gap_seconds else "never runs"
            detail = (f"selection {', '.join(coverage.selections)} with rules {', '.join(coverage.rules)}: {gap} "
                      f"(each run may start and finish up to {human_seconds(coverage.windows_seconds, exact=True)} later)")
        found.append(Mechanism(f"AWS Backup plan {plan}", coverage.covered and coverage.gap_seconds is not None,
                               coverage.gap_seconds, detail))
        return tuple(found)

    def _replication_mechanism(self) -> Mechanism:
        rule = self.replication_rule
        w = self.workload
        if rule is None:
            return Mechanism("S3 cross-region replication", False, None,
                             f"no rule {w.spec.bucket.replication.rule_id} on {w.data_bucket}")
        status = str(rule.get("Status"))
        destination = rule.get("Destination") or {}
        bucket = str(destination.get("Bucket", "")).rsplit(":", 1)[-1]
        versioning = self.versioning(bucket, w.secondary_region) if bucket else None
        rtc = destination.get("ReplicationTime") or {}
        minutes = (rtc.get("Time") or {}).get("Minutes") if rtc.get("Status") == "Enabled" else None
        prefix = (rule.get("Filter") or {}).get("Prefix", rule.get("Prefix", ""))
        working = status == "Enabled" and versioning == "Enabled"
        window = float(minutes) * 60.0 if working and minutes else None
        detail = (f"rule {rule.get('ID')} {status}, prefix {prefix!r}, destination {bucket or '(none)'} versioning "
                  f"{versioning or 'missing'}, Replication Time Control {f'{minutes} min' if minutes else 'off'}")
        return Mechanism("S3 cross-region replication", working, window, detail)

    def relied_on_backup(self, resource: Protected, rpo_seconds: float) -> bool:
        """Whether AWS Backup is what must meet the RPO (no other mechanism bounds the loss within it)."""
        return not any(
            m.in_place and m.window_seconds is not None and m.window_seconds <= rpo_seconds
            for m in self.mechanisms(resource) if not m.name.startswith("AWS Backup")
        )

    def newest_recovery_point(self, arn: str) -> dict[str, Any] | None:
        """The newest COMPLETED recovery point of `arn` in any of the workload's vaults, or None."""
        backup = self._client("backup")
        vaults = {view.backup_vault for view in self.workload.each_backup_plan()}
        pages = backup.get_paginator("list_recovery_points_by_resource").paginate(ResourceArn=arn)
        points = [p for page in pages for p in page.get("RecoveryPoints", [])
                  if p.get("Status") == "COMPLETED" and p.get("BackupVaultName") in vaults]
        return max(points, key=lambda p: p["CreationDate"], default=None)
