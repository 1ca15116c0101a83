"""Collect the facts the monthly report and the DR metrics need, as result records (scenario "inventory").

This is the only part of reporting that asks AWS anything; the reports read what it wrote. Each
section is one record, so one failing API (a region down, a missing permission) costs that section
only and is written as an "error" record with its reason:

- the recovery points of the last 30 days in the backup vault (list_recovery_points_by_backup_vault);
- the backup jobs of the same window and their states (BackupSuccessRate is made from them);
- the data bucket's replication rules and the metadata table's replicas;
- the DR cost of the last 30 days from Cost Explorer: MONTHLY, BlendedCost, grouped by SERVICE as the
  guide's report does, filtered to what DR adds (see `DR_COST_FILTER`);
- the monthly DR test rule: its state and schedule (info), and two pass/fail checks: the rule is
  ENABLED, and its cron expression parses and fires when the guide says (the 1st of each month at
  02:00 UTC). EventBridge (and the offline world) accept any string, so this check is ours.

`now` is the moment the 30-day window ends: the world's clock offline (it may have been advanced),
the wall clock live.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from drharness.config import Workload
from drharness.compliance.inventory_records import (
    CHECK_BACKUP_JOBS,
    CHECK_DR_COST,
    CHECK_MONTHLY_RULE,
    CHECK_RECOVERY_POINTS,
    CHECK_RULE_SCHEDULE,
    CHECK_RULE_STATE,
    CHECK_S3_REPLICATION,
    CHECK_TABLE_REPLICAS,
    COST_REGION,
    DR_COST_SERVICES,
    EVIDENCE_LIMIT,
    FINISHED_JOB_STATES,
    GUIDE_SCHEDULE_TEXT,
    SCENARIO,
    SUCCESS_JOB_STATE,
    WINDOW_DAYS,
    MonthlySchedule,
    check_monthly_schedule,
    guide_fire_times,
)
from drharness.results.recorder import Recorder
from drharness.results import JsonValue, Objective, ResultRecord, iso, utc_now
from drharness.target import Target

RULE_NOT_FOUND = "the monthly DR test rule {rule} does not exist in {region}; deploy the workload (drharness deploy)"


@dataclass(frozen=True)
class RecoveryPointFact:
    recovery_point_arn: str
    resource_arn: str
    resource_type: str
    created_at: str
    status: str
    storage_class: str
    size_bytes: int


@dataclass(frozen=True)
class BackupJobFact:
    job_id: str
    resource_arn: str
    resource_type: str
    state: str
    created_at: str
    completed_at: str
    status_message: str


@dataclass(frozen=True)
class ReplicationRuleFact:
    rule_id: str
    status: str
    prefix: str
    destination_bucket: str
    storage_class: str
    delete_marker_replication: str
    rtc_minutes: int | None


@dataclass(frozen=True)
class TableReplicaFact:
    region: str
    status: str


@dataclass(frozen=True)
class DrCost:
    period_start: str
    period_end: str
    total: float
    unit: str
    by_service: tuple[tuple[str, float], ...]
    estimated: bool


@dataclass(frozen=True)
class Inventory:
    """What `collect_inventory` found; every part is also in `records` (None/empty where it failed)."""

    as_of: str
    records: tuple[ResultRecord, ...]
    recovery_points: tuple[RecoveryPointFact, ...]
    backup_jobs: tuple[BackupJobFact, ...]
    replication_rules: tuple[ReplicationRuleFact, ...]
    table_replicas: tuple[TableReplicaFact, ...]
    cost: DrCost | None
    schedule: MonthlySchedule | None

    @property
    def errors(self) -> tuple[ResultRecord, ...]:
        return tuple(r for r in self.records if r.verdict == "error")


def _time(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return iso(value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc))
    if isinstance(value, (int, float)):
        return iso(float(value))
    return str(value or "")


def _facts(items: tuple[Any, ...]) -> list[JsonValue]:
    return [asdict(item) for item in items[:EVIDENCE_LIMIT]]


def _window(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    return now - dt.timedelta(days=WINDOW_DAYS), now


def _pages(call: Callable[..., Mapping[str, Any]], key: str, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = call(**params, **({"NextToken": token} if token else {}))
        found += [dict(item) for item in page.get(key, [])]
        token = page.get("NextToken")
        if not token:
            return found


class _Collector:
    def __init__(self, target: Target, workload: Workload, recorder: Recorder, now: dt.datetime) -> None:
        self.target, self.workload, self.recorder, self.now = target, workload, recorder, now
        self.records: list[ResultRecord] = []

    def info(self, check: str, resource: str, metric: str, value: float, unit: str, reason: str,
             evidence: Mapping[str, JsonValue], tier: str | None = None) -> None:
        self.records.append(self.recorder.measure(
            check=check, scenario=SCENARIO, resource=resource, metric=metric, value=value, unit=unit, tier=tier,
            evidence={"as_of": iso(self.now), **evidence}, reason=reason, verdict="info"))

    def error(self, check: str, resource: str, exc: Exception) -> None:
        reason = f"{check}: could not read {resource}: {exc}"
        self.records.append(self.recorder.measure(
            check=check, scenario=SCENARIO, resource=resource, metric="error", value=None, unit="",
            evidence={"as_of": iso(self.now), "error": str(exc)}, reason=reason, verdict="error"))

    def guarded(self, check: str, resource: str, section: Callable[[], Any]) -> Any:
        try:
            return section()
        except (ClientError, BotoCoreError) as exc:
            self.error(check, resource, exc)
            return None

    # -- AWS Backup --------------------------------------------------------------------------------

    def recovery_points(self, vault: str) -> tuple[RecoveryPointFact, ...]:
        region = self.workload.primary_region
        start, end = _window(self.now)
        backup = self.target.client("backup", region)
        listed = _pages(backup.list_recovery_points_by_backup_vault, "RecoveryPoints",
                        BackupVaultName=vault, ByCreatedAfter=start, ByCreatedBefore=end)
        facts = tuple(RecoveryPointFact(
            recovery_point_arn=str(p.get("RecoveryPointArn", "")), resource_arn=str(p.get("ResourceArn", "")),
            resource_type=str(p.get("ResourceType", "")), created_at=_time(p.get("CreationDate")),
            status=str(p.get("Status", "")),
            storage_class=_storage_class(backup, vault, str(p.get("RecoveryPointArn", ""))) if i < EVIDENCE_LIMIT else "",
            size_bytes=int(p.get("BackupSizeInBytes") or 0),
        ) for i, p in enumerate(listed))
        by_type = Counter(f.resource_type for f in facts)
        self.info(CHECK_RECOVERY_POINTS, vault, "recovery_points", float(len(facts)), "points",
                  f"{len(facts)} recovery point(s) created in the last {WINDOW_DAYS} days in {vault} ({region})",
                  {"vault": vault, "region": region, "window_start": iso(start), "window_end": iso(end),
                   "window_days": WINDOW_DAYS, "by_resource_type": dict(by_type),
                   "by_status": dict(Counter(f.status for f in facts)),
                   "recovery_points": _facts(facts), "truncated": len(facts) > EVIDENCE_LIMIT})
        return facts

    def backup_jobs(self, vault: str) -> tuple[BackupJobFact, ...]:
        region = self.workload.primary_region
        start, end = _window(self.now)
        listed = _pages(self.target.client("backup", region).list_backup_jobs, "BackupJobs",
                        ByBackupVaultName=vault, ByCreatedAfter=start, ByCreatedBefore=end)
        facts = tuple(BackupJobFact(
            job_id=str(j.get("BackupJobId", "")), resource_arn=str(j.get("ResourceArn", "")),
            resource_type=str(j.get("ResourceType", "")), state=str(j.get("State", "")),
            created_at=_time(j.get("CreationDate")), completed_at=_time(j.get("CompletionDate")),
            status_message=str(j.get("StatusMessage", "")),
        ) for j in listed)
        states = Counter(f.state for f in facts)
        finished = sum(n for state, n in states.items() if state in FINISHED_JOB_STATES)
        self.info(CHECK_BACKUP_JOBS, vault, "backup_jobs", float(len(facts)), "jobs",
                  f"{len(facts)} backup job(s) in the last {WINDOW_DAYS} days: {states.get(SUCCESS_JOB_STATE, 0)} "
                  f"completed of {finished} finished",
                  {"vault": vault, "region": region, "window_start": iso(start), "window_end": iso(end),
                   "window_days": WINDOW_DAYS, "states": dict(states), "finished": finished,
                   "completed": states.get(SUCCESS_JOB_STATE, 0),
                   "failed_jobs": [asdict(f) for f in facts if f.state != SUCCESS_JOB_STATE and f.state in FINISHED_JOB_STATES][:EVIDENCE_LIMIT],
                   "jobs": _facts(facts), "truncated": len(facts) > EVIDENCE_LIMIT})
        return facts

    # -- replication ---------------------------------------------------------------------------------

    def replication_rules(self, view: Workload) -> tuple[ReplicationRuleFact, ...]:
        """The replication rules of the bucket in `view`'s focus."""
        bucket, region = view.data_bucket, view.primary_region
        try:
            config = self.target.client("s3", region).get_bucket_replication(Bucket=bucket)["ReplicationConfiguration"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ReplicationConfigurationNotFoundError":
                raise
            config = {}
        facts = tuple(_rule_fact(rule) for rule in config.get("Rules", []))
        enabled = [f for f in facts if f.status == "Enabled"]
        reason = (f"{len(enabled)} of {len(facts)} replication rule(s) enabled on {bucket}" if facts
                  else f"{bucket} has no replication configuration")
        self.info(CHECK_S3_REPLICATION, bucket, "replication_rules_enabled", float(len(enabled)), "rules", reason,
                  {"bucket": bucket, "region": region, "configured": bool(config), "rules": _facts(facts)},
                  tier=view.spec.bucket.tier)
        return facts

    def table_replicas(self, view: Workload) -> tuple[TableReplicaFact, ...]:
        """The replicas of the table in `view`'s focus."""
        table, region = view.metadata_table, view.primary_region
        description = self.target.client("dynamodb", region).describe_table(TableName=table)["Table"]
        facts = tuple(TableReplicaFact(str(r.get("RegionName", "")), str(r.get("ReplicaStatus", "")))
                      for r in description.get("Replicas", []))
        wanted = sorted(view.table_replica_regions)
        active = sorted(f.region for f in facts if f.status == "ACTIVE")
        self.info(CHECK_TABLE_REPLICAS, table, "replicas_active", float(len(active)), "replicas",
                  f"{table}: {len(active)} active replica(s) ({', '.join(active) or 'none'}); "
                  f"expected {', '.join(wanted) or 'none'}",
                  {"table": table, "region": region, "expected_regions": wanted, "active_regions": active,
                   "replicas": _facts(facts), "table_status": str(description.get("TableStatus", ""))},
                  tier=view.spec.table.tier)
        return facts

    # -- cost ------------------------------------------------------------------------------------------

    def cost(self) -> DrCost:
        start, end = _window(self.now)
        period = {"Start": start.date().isoformat(), "End": end.date().isoformat()}
        dr_filter = dr_cost_filter(self.workload)
        ce = self.target.client("ce", COST_REGION)
        by_service: dict[str, float] = {}
        totals: list[float] = []
        unit, estimated = "", False
        token: str | None = None
        while True:
            page = ce.get_cost_and_usage(TimePeriod=period, Granularity="MONTHLY", Metrics=["BlendedCost"],
                                         GroupBy=[{"Type": "DIMENSION", "Key": "SERVICE"}], Filter=dr_filter,
                                         **({"NextPageToken": token} if token else {}))
            for result in page.get("ResultsByTime", []):
                estimated = estimated or bool(result.get("Estimated"))
                for group in result.get("Groups", []):
                    amount = group.get("Metrics", {}).get("BlendedCost", {})
                    service = str((group.get("Keys") or ["(unknown)"])[0])
                    by_service[service] = by_service.get(service, 0.0) + float(amount.get("Amount") or 0)
                    unit = unit or str(amount.get("Unit") or "")
                if not result.get("Groups"):
                    total = result.get("Total", {}).get("BlendedCost", {})
                    if total.get("Amount") is not None:
                        totals.append(float(total["Amount"]))
                        unit = unit or str(total.get("Unit") or "")
            token = page.get("NextPageToken")
            if not token:
                break
        total = sum(by_service.values()) + sum(totals)
        services = tuple(sorted(by_service.items(), key=lambda kv: -kv[1]))
        cost = DrCost(period["Start"], period["End"], total, unit or "USD", services, estimated)
        self.info(CHECK_DR_COST, f"{self.workload.spec.project}-{self.workload.spec.environment}", "dr_cost", total,
                  cost.unit, f"DR cost {total:.2f} {cost.unit} from {period['Start']} to {period['End']} (BlendedCost)",
                  {"period_start": cost.period_start, "period_end": cost.period_end, "metric": "BlendedCost",
                   "granularity": "MONTHLY", "group_by": "SERVICE", "filter": dr_filter, "estimated": estimated,
                   "by_service": dict(services),
                   "scope": f"everything in {self.workload.secondary_region} and {', '.join(DR_COST_SERVICES)} "
                            "anywhere; cross-region transfer billed in the primary region is not included"})
        return cost

    # -- the monthly rule ----------------------------------------------------------------------------------

    def schedule(self, view: Workload) -> MonthlySchedule:
        """The rule of `view`'s schedule, judged against its configured expression (and against the guide's
        monthly test when that expression is the guide's, as the compliance check judges it)."""
        name, region = view.monthly_rule, view.primary_region
        resource = f"events rule {name}"
        try:
            rule = self.target.client("events", region).describe_rule(Name=name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            rule = None
        if rule is None:
            schedule = MonthlySchedule(name, "", "", False, False, (), RULE_NOT_FOUND.format(rule=name, region=region))
        else:
            schedule = check_monthly_schedule(name, str(rule.get("State", "")), str(rule.get("ScheduleExpression", "")),
                                              self.now)
        configured = view.spec.schedule.expression
        guide = check_monthly_schedule(name, "", configured, self.now).fires_as_guide_says
        evidence: dict[str, JsonValue] = {"rule": name, "region": region, **asdict(schedule),
                                          "next_fire_times": list(schedule.next_fire_times),
                                          "expected": GUIDE_SCHEDULE_TEXT if guide else configured}
        self.info(CHECK_MONTHLY_RULE, resource, "rule_enabled", 1.0 if schedule.state == "ENABLED" else 0.0, "bool",
                  f"{name}: {schedule.state or 'missing'}, {schedule.expression or 'no schedule'}", evidence)
        if guide:
            objective = Objective("compliant", 1.0, "bool", ">=", f"the guide's DRTestSchedule: {GUIDE_SCHEDULE_TEXT}")
            ok = schedule.valid and schedule.fires_as_guide_says
        else:  # the team's own schedule: the rule must carry the expression the config gives it
            objective = Objective("compliant", 1.0, "bool", ">=", f"the configured schedule: {configured}")
            ok = schedule.valid and schedule.expression == configured
            if schedule.valid:
                schedule = replace(schedule, reason=f"{name}: {schedule.expression} " + (
                    "as configured" if ok else f"is not the configured {configured}"))
        self.records.append(self.recorder.measure(
            check=CHECK_RULE_SCHEDULE, scenario=SCENARIO, resource=resource, metric="compliant", value=1.0 if ok else 0.0,
            unit="bool", objective=objective, evidence={"as_of": iso(self.now), **evidence},
            reason=schedule.reason, verdict="pass" if ok else "fail"))
        enabled = schedule.state == "ENABLED"
        self.records.append(self.recorder.measure(
            check=CHECK_RULE_STATE, scenario=SCENARIO, resource=resource, metric="compliant",
            value=1.0 if enabled else 0.0, unit="bool",
            objective=Objective("compliant", 1.0, "bool", ">=", f"{name}: State ENABLED"),
            evidence={"as_of": iso(self.now), "rule": name, "state": schedule.state},
            reason=f"{name}: expected ENABLED, found {schedule.state or 'no rule'}", verdict="pass" if enabled else "fail"))
        return schedule


def _storage_class(backup: Any, vault: str, arn: str) -> str:
    """WARM / COLD / DELETED: only DescribeRecoveryPoint tells (the vault listing leaves it out)."""
    try:
        return str(backup.describe_recovery_point(BackupVaultName=vault, RecoveryPointArn=arn).get("StorageClass", ""))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return "DELETED"  # expired between the listing and this call
        raise


def _rule_fact(rule: Mapping[str, Any]) -> ReplicationRuleFact:
    rule_filter = rule.get("Filter") or {}
    prefix = rule_filter.get("Prefix", (rule_filter.get("And") or {}).get("Prefix", rule.get("Prefix", "")))
    destination = rule.get("Destination") or {}
    rtc = destination.get("ReplicationTime") or {}
    minutes = (rtc.get("Time") or {}).get("Minutes") if rtc.get("Status") == "Enabled" else None
    return ReplicationRuleFact(
        rule_id=str(rule.get("ID", "")), status=str(rule.get("Status", "")), prefix=str(prefix or ""),
        destination_bucket=str(destination.get("Bucket", "")).removeprefix("arn:aws:s3:::"),
        storage_class=str(destination.get("StorageClass", "")),
        delete_marker_replication=str((rule.get("DeleteMarkerReplication") or {}).get("Status", "")),
        rtc_minutes=int(minutes) if minutes is not None else None,
    )


def dr_cost_filter(workload: Workload) -> dict[str, Any]:
    """The Cost Explorer filter of the DR cost: the standby region, and AWS Backup anywhere."""
    return {"Or": [
        {"Dimensions": {"Key": "REGION", "Values": [workload.secondary_region]}},
        {"Dimensions": {"Key": "SERVICE", "Values": list(DR_COST_SERVICES)}},
    ]}


def collect_inventory(target: Target, workload: Workload, recorder: Recorder, now: dt.datetime | None = None) -> Inventory:
    """Read backups, replication, DR cost and the monthly rule from `target`; write one record per fact.

    `now`: the end of the 30-day window, timezone-aware (offline: the world's clock; default: now).
    """
    moment = now or utc_now()
    if moment.tzinfo is None:
        raise ValueError(f"now={moment.isoformat()} has no time zone; pass a timezone-aware UTC datetime")
    moment = moment.astimezone(dt.timezone.utc)
    c = _Collector(target, workload, recorder, moment)
    points: tuple[RecoveryPointFact, ...] = ()
    jobs: tuple[BackupJobFact, ...] = ()
    for vault in dict.fromkeys(view.backup_vault for view in workload.each_backup_plan()):  # one record per vault
        points += c.guarded(CHECK_RECOVERY_POINTS, vault, lambda v=vault: c.recovery_points(v)) or ()
        jobs += c.guarded(CHECK_BACKUP_JOBS, vault, lambda v=vault: c.backup_jobs(v)) or ()
    rules: tuple[ReplicationRuleFact, ...] = ()
    for view in workload.each_bucket():  # one record per bucket and per table
        rules += c.guarded(CHECK_S3_REPLICATION, view.data_bucket, lambda v=view: c.replication_rules(v)) or ()
    replicas: tuple[TableReplicaFact, ...] = ()
    for view in workload.each_table():
        replicas += c.guarded(CHECK_TABLE_REPLICAS, view.metadata_table, lambda v=view: c.table_replicas(v)) or ()
    cost = c.guarded(CHECK_DR_COST, f"{workload.spec.project}-{workload.spec.environment}", c.cost)
    schedules = [c.guarded(CHECK_MONTHLY_RULE, f"events rule {view.monthly_rule}", lambda v=view: c.schedule(v))
                 for view in workload.each_schedule()]  # one record set per schedule; the first is the inventory's
    schedule = schedules[0] if schedules else None
    return Inventory(iso(moment), tuple(c.records), points, jobs, rules, replicas, cost, schedule)


__all__ = [  # the record names and the schedule judgement are re-exported from `inventory_records`
    "CHECK_BACKUP_JOBS",
    "CHECK_DR_COST",
    "CHECK_MONTHLY_RULE",
    "CHECK_RECOVERY_POINTS",
    "CHECK_RULE_SCHEDULE",
    "CHECK_RULE_STATE",
    "CHECK_S3_REPLICATION",
    "CHECK_TABLE_REPLICAS",
    "FINISHED_JOB_STATES",
    "GUIDE_SCHEDULE_TEXT",
    "SCENARIO",
    "SUCCESS_JOB_STATE",
    "BackupJobFact",
    "DrCost",
    "Inventory",
    "MonthlySchedule",
    "RecoveryPointFact",
    "ReplicationRuleFact",
    "TableReplicaFact",
    "check_monthly_schedule",
    "collect_inventory",
    "dr_cost_filter",
    "guide_fire_times",
]
