"""The configuration checks of the guide's DR mechanisms, each judged against the resource's tier.

Each check takes the deploy's own read-back (every DR property that differs from the workload config,
`drharness.deploy.check_workload`) for the properties of its mechanism, adds what the tier demands
(a cross-region tier needs a table replica and time-bounded replication, a multi-AZ tier two zones),
and says, for a failure, the resource and what was expected against what was found.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from drharness.config import TierName, Workload
from drharness.cron import parse_aws_cron
from drharness.deploy import backup, batch, cloudformation, dynamodb, events, fsx, names, notifications, s3
from drharness.deploy.common import MISSING, Finding
from drharness.compliance import s3_inventory
from drharness.compliance.inventory_records import check_monthly_schedule
from drharness.compliance.mechanisms import TargetReads, selection_selects, worst_gap_seconds
from drharness.timefmt import human_seconds

SCENARIO = "config"

S3_REPLICATION_RULE = "config:s3-replication-rule"
S3_DELETE_MARKERS = "config:s3-delete-marker-replication"
S3_RTC = "config:s3-replication-time-control"
S3_REPLICA_ENCRYPTION = "config:s3-replica-encryption"
S3_DESTINATION_VERSIONING = "config:s3-destination-versioning"
S3_SSE_KMS = "config:s3-sse-kms"
DYNAMODB_PITR = "config:dynamodb-pitr"
DYNAMODB_STREAMS = "config:dynamodb-streams"
DYNAMODB_GLOBAL_REPLICA = "config:dynamodb-global-replica"
DYNAMODB_SSE_KMS = "config:dynamodb-sse-kms"
BACKUP_SCHEDULE = "config:backup-plan-schedule"
BACKUP_LIFECYCLE = "config:backup-plan-lifecycle"
BACKUP_SELECTION = "config:backup-selection-coverage"
FSX_AUTOMATIC_BACKUPS = "config:fsx-automatic-backups"
BATCH_MULTI_AZ = "config:batch-multi-az"
DR_STACK = "config:dr-stack"
SNS_DR_TOPIC = "config:sns-dr-topic"
MONTHLY_RULE = "config:monthly-dr-rule"
RPO_MECHANISM = "config:rpo-mechanism:{kind}"
RECOVERY_POINT_AGE = "config:recovery-point-age:{kind}"
# Judged on each bucket and on its replica, with information besides pass and fail: `s3_inventory`, not a Check.
INVENTORY_CONFIGURED = s3_inventory.INVENTORY_CONFIGURED
INVENTORY_FRESH = s3_inventory.INVENTORY_FRESH
BUCKET_INVENTORY_CHECKS = s3_inventory.CHECKS

GUIDE_STREAM_VIEW = "NEW_AND_OLD_IMAGES"


@dataclass(frozen=True)
class Judgement:
    """A check's verdict on one resource: what was expected and what was found."""

    check: str
    resource: str
    tier: TierName
    ok: bool
    expected: str
    actual: str


@dataclass(frozen=True)
class Check:
    name: str
    # What it is judged on, one check per resource of that kind: a table, bucket, file_system, compute environment,
    # backup plan, dr_stack (at the tier of the compute it raises), DR notice topic (at the most critical tier a
    # DR stack raises) or schedule (at the most critical tier of what is kept).
    kind: str
    judge: Callable[[TargetReads], Judgement]


Problem = tuple[str, str]  # (expected, found)


def _matching(reads: TargetReads, resource: str, props: Iterable[str] = (),
              prefixes: tuple[str, ...] = ()) -> list[Finding]:
    """The read-back's findings on `resource` for the named properties (or properties under `prefixes`)."""
    wanted = set(props)
    return [f for f in reads.findings
            if f.resource == resource and (f.property in wanted or (prefixes and f.property.startswith(prefixes)))]


def _on(reads: TargetReads, predicate: Callable[[Finding], bool]) -> list[Finding]:
    return [f for f in reads.findings if predicate(f)]


def _judged(check: str, resource: str, tier: TierName, findings: list[Finding], problems: list[Problem],
            expected: str, found: str) -> Judgement:
    if not findings and not problems:
        return Judgement(check, resource, tier, True, expected, found)

    def where(f: Finding) -> str:
        return f.property if f.resource == resource else f"{f.resource}: {f.property}"

    return Judgement(
        check, resource, tier, False,
        "; ".join([f"{where(f)} {f.expected}" for f in findings] + [p[0] for p in problems]),
        "; ".join([f"{where(f)} {f.actual}" for f in findings] + [p[1] for p in problems]),
    )


def _tier_of(workload: Workload, kind: str) -> TierName:
    spec = workload.spec
    if kind in ("backup", "schedule"):  # the plan in focus: what it keeps; the schedule: everything kept
        resources = (*spec.tables, *spec.buckets, *spec.file_systems)
        required = [r.tier for r in resources if r.backup_required
                    and (kind == "schedule" or workload.plan_of(r).spec.backup.id == spec.backup.id)]
        return min(required or ["standard"], key=("critical", "important", "standard").index)  # type: ignore[return-value]
    return {"table": spec.table.tier, "bucket": spec.bucket.tier, "file_system": spec.file_system.tier,
            "compute": spec.compute.tier}[kind]


# -- S3 ----------------------------------------------------------------------------------------------


# What the read-back reports when the rule is not there at all: every setting of the rule is then missing.
RULE_ABSENT = (s3.REPLICATION, f"{s3.REPLICATION}.Rules[].ID")


def _rule_found(reads: TargetReads) -> str:
    rule = reads.replication_rule
    if rule is None:
        return f"no rule {reads.workload.spec.bucket.replication.rule_id}"
    destination = rule.get("Destination") or {}
    prefix = (rule.get("Filter") or {}).get("Prefix", rule.get("Prefix"))
    return (f"rule {rule.get('ID')} {rule.get('Status')}, prefix {prefix!r}, "
            f"to {destination.get('Bucket')} ({destination.get('StorageClass')})")


def s3_replication_rule(reads: TargetReads) -> Judgement:
    w = reads.workload
    spec = w.spec.bucket.replication
    resource = s3.bucket_resource(w.data_bucket)
    fields = ("Status", "Priority", "Filter.Prefix", "Destination.Bucket", "Destination.StorageClass")
    props = ["exists", s3.REGION, s3.VERSIONING, *RULE_ABSENT, *(s3.replication_property(w, f) for f in fields)]
    found = _matching(reads, resource, props, (f"{s3.REPLICATION}.Role",))
    expected = (f"rule {spec.rule_id} Enabled, prefix {spec.prefix!r}, to arn:aws:s3:::{w.backup_bucket} "
                f"({spec.storage_class}), from a versioned bucket in {w.primary_region}")
    return _judged(S3_REPLICATION_RULE, resource, w.spec.bucket.tier, found, [], expected, _rule_found(reads))


def s3_delete_markers(reads: TargetReads) -> Judgement:
    w = reads.workload
    resource = s3.bucket_resource(w.data_bucket)
    prop = s3.replication_property(w, "DeleteMarkerReplication.Status")
    found = _matching(reads, resource, [*RULE_ABSENT, prop])
    wanted = "Enabled" if w.spec.bucket.replication.delete_marker_replication else "Disabled"
    actual = ((reads.replication_rule or {}).get("DeleteMarkerReplication") or {}).get("Status", MISSING)
    return _judged(S3_DELETE_MARKERS, resource, w.spec.bucket.tier, found, [], f"DeleteMarkerReplication {wanted}",
                   f"DeleteMarkerReplication {actual}")


def s3_replication_time_control(reads: TargetReads) -> Judgement:
    w = reads.workload
    tier_name = w.spec.bucket.tier
    tier = w.tier(tier_name)
    resource = s3.bucket_resource(w.data_bucket)
    fields = ("Destination.ReplicationTime.Status", "Destination.ReplicationTime.Time.Minutes",
              "Destination.Metrics.Status", "Destination.Metrics.EventThreshold.Minutes")
    found = _matching(reads, resource, [*RULE_ABSENT, *(s3.replication_property(w, f) for f in fields)])
    minutes = w.spec.bucket.replication.rtc_minutes
    problems: list[Problem] = []
    if minutes is None and "cross-region" in tier.topology:
        problems.append((f"Replication Time Control enabled (the {tier_name} tier is cross-region with RPO "
                         f"{tier.rpo_hours:g} h: replication needs a time bound)", "RTC off in the workload config"))
    elif minutes is not None and minutes * 60 > tier.rpo_seconds:
        problems.append((f"RTC minutes <= RPO {tier.rpo_hours:g} h of the {tier_name} tier", f"RTC {minutes} min"))
    destination = (reads.replication_rule or {}).get("Destination") or {}
    rtc = destination.get("ReplicationTime") or {}
    metrics = destination.get("Metrics") or {}
    actual = (f"ReplicationTime {rtc.get('Status', MISSING)} {(rtc.get('Time') or {}).get('Minutes', '-')} min, "
              f"Metrics {metrics.get('Status', MISSING)} {(metrics.get('EventThreshold') or {}).get('Minutes', '-')} min")
    return _judged(S3_RTC, resource, tier_name, found, problems,
                   f"ReplicationTime Enabled {minutes} min, Metrics Enabled {minutes} min", actual)


def s3_replica_encryption(reads: TargetReads) -> Judgement:
    w = reads.workload
    resource = s3.bucket_resource(w.data_bucket)
    props = [*RULE_ABSENT, s3.replication_property(w, "Destination.EncryptionConfiguration.ReplicaKmsKeyID"),
             s3.replication_property(w, "SourceSelectionCriteria.SseKmsEncryptedObjects.Status")]
    alias = names.replica_key_alias(w)
    key = f"kms key {alias} ({w.secondary_region})"
    found = _matching(reads, resource, props) + _on(reads, lambda f: f.resource == key)
    destination = (reads.replication_rule or {}).get("Destination") or {}
    actual = f"ReplicaKmsKeyID {(destination.get('EncryptionConfiguration') or {}).get('ReplicaKmsKeyID', MISSING)}"
    return _judged(S3_REPLICA_ENCRYPTION, resource, w.spec.bucket.tier, found, [],
                   f"replicas encrypted with {alias} in {w.secondary_region}, SSE-KMS objects replicated", actual)


def s3_destination_versioning(reads: TargetReads) -> Judgement:
    w = reads.workload
    resource = s3.bucket_resource(w.backup_bucket)
    found = _matching(reads, resource, ["exists", s3.REGION, s3.VERSIONING])
    actual = f"versioning {reads.versioning(w.backup_bucket, w.secondary_region) or MISSING}"
    return _judged(S3_DESTINATION_VERSIONING, resource, w.spec.bucket.tier, found, [],
                   f"versioning Enabled in {w.secondary_region}", actual)


def s3_sse_kms(reads: TargetReads) -> Judgement:
    w = reads.workload
    resource = s3.bucket_resource(w.data_bucket)
    alias = names.data_key_alias(w)
    found = _matching(reads, resource, ["exists"], (s3.ENCRYPTION,)) + _on(
        reads, lambda f: f.resource == f"kms key {alias} ({w.primary_region})")
    return _judged(S3_SSE_KMS, resource, w.spec.bucket.tier, found, [], f"default encryption aws:kms with {alias}",
                   f"default encryption aws:kms with {alias}" if not found else "")


# -- DynamoDB ------------------------------------------------------------------------------------------


def _table(w: Workload) -> str:
    return dynamodb.table_resource(w.metadata_table, w.primary_region)


def dynamodb_pitr(reads: TargetReads) -> Judgement:
    w = reads.workload
    resource = _table(w)
    found = _matching(reads, resource, ["exists", dynamodb.PITR])
    problems: list[Problem] = []
    if not w.spec.table.pitr:
        problems.append(("point-in-time recovery ENABLED (the guide's PointInTimeRecoveryEnabled)",
                         f"table.pitr = false in {w.source}; status {reads.pitr_status}"))
    return _judged(DYNAMODB_PITR, resource, w.spec.table.tier, found, problems, f"{dynamodb.PITR} ENABLED",
                   f"{dynamodb.PITR} {reads.pitr_status or MISSING}")


def dynamodb_streams(reads: TargetReads) -> Judgement:
    w = reads.workload
    resource = _table(w)
    found = _matching(reads, resource, ["exists"], (dynamodb.STREAM,))
    problems: list[Problem] = []
    if not w.spec.table.stream_view_type:
        problems.append((f"stream {GUIDE_STREAM_VIEW} (the guide's StreamSpecification)",
                         f"table.stream_view_type unset in {w.source}"))
    stream = (reads.table or {}).get(dynamodb.STREAM) or {}
    return _judged(DYNAMODB_STREAMS, resource, w.spec.table.tier, found, problems,
                   f"stream enabled, {w.spec.table.stream_view_type or GUIDE_STREAM_VIEW}",
                   f"stream {'enabled' if stream.get('StreamEnabled') else 'disabled'}, "
                   f"{stream.get('StreamViewType', '-')}")


def dynamodb_global_replica(reads: TargetReads) -> Judgement:
    w = reads.workload
    tier_name = w.spec.table.tier
    resource = _table(w)
    others = [r for r in w.table_replica_regions if r != w.primary_region]
    found = _matching(reads, resource, ["exists", *(dynamodb.replica_property(r) for r in others)])
    found += _on(reads, lambda f: f.resource in {dynamodb.table_resource(w.metadata_table, r) for r in others})
    problems: list[Problem] = []
    if "cross-region" in w.tier(tier_name).topology and w.secondary_region not in others:
        problems.append((f"a replica in {w.secondary_region} (the {tier_name} tier is cross-region)",
                         f"table.replica_regions {list(w.table_replica_regions)} in {w.source}"))
    actual = ", ".join(f"{r} {s}" for r, s in sorted(reads.table_replicas.items())) or "no replicas"
    return _judged(DYNAMODB_GLOBAL_REPLICA, resource, tier_name, found, problems,
                   f"replica ACTIVE in {', '.join(others) or w.secondary_region}", actual)


def dynamodb_sse_kms(reads: TargetReads) -> Judgement:
    w = reads.workload
    resource = _table(w)
    alias = names.data_key_alias(w)
    keys = {f"kms key {alias} ({r})" for r in (w.primary_region, *w.table_replica_regions)}
    found = _matching(reads, resource, ["exists"], (dynamodb.SSE,)) + _on(reads, lambda f: f.resource in keys)
    sse = (reads.table or {}).get(dynamodb.SSE) or {}
    return _judged(DYNAMODB_SSE_KMS, resource, w.spec.table.tier, found, [], f"SSE ENABLED, KMS, key {alias}",
                   f"SSE {sse.get('Status', MISSING)}, {sse.get('SSEType', '-')}, key {sse.get('KMSMasterKeyArn', '-')}")


# -- AWS Backup ----------------------------------------------------------------------------------------


def _plan_rules(reads: TargetReads) -> list[dict]:
    return list(((reads.plan or {}).get("BackupPlan") or {}).get("Rules", []))


def backup_schedule(reads: TargetReads) -> Judgement:
    w = reads.workload
    resource = backup.plan_resource(w.backup_plan)
    fields = ("RuleName", "TargetBackupVaultName", "ScheduleExpression", "StartWindowMinutes", "CompletionWindowMinutes")
    props = ["exists", *(backup.rule_property(r.name, f) for r in w.spec.backup.rules for f in fields)]
    found = _matching(reads, resource, props) + _on(reads, lambda f: f.resource == backup.vault_resource(w.backup_vault))
    problems: list[Problem] = []
    for rule in _plan_rules(reads):
        try:
            parse_aws_cron(str(rule.get("ScheduleExpression", "")))
        except ValueError as exc:
            problems.append((f"rule {rule.get('RuleName')} with a valid AWS cron schedule", str(exc)))
    expected = "; ".join(f"{r.name} {r.schedule} into {w.backup_vault}" for r in w.spec.backup.rules)
    actual = "; ".join(f"{r.get('RuleName')} {r.get('ScheduleExpression')} into {r.get('TargetBackupVaultName')}"
                       for r in _plan_rules(reads)) or "no plan"
    return _judged(BACKUP_SCHEDULE, resource, _tier_of(w, "backup"), found, problems, expected, actual)


def backup_lifecycle(reads: TargetReads) -> Judgement:
    w = reads.workload
    resource = backup.plan_resource(w.backup_plan)
    prefixes = tuple(backup.rule_property(r.name, "Lifecycle.") for r in w.spec.backup.rules)
    props = ["exists", *(backup.rule_property(r.name, "RecoveryPointTags") for r in w.spec.backup.rules)]
    found = _matching(reads, resource, props, prefixes)
    problems: list[Problem] = []
    for rule in _plan_rules(reads):
        keep_days = (rule.get("Lifecycle") or {}).get("DeleteAfterDays")
        gap = worst_gap_seconds([rule], reads.now)
        if keep_days is not None and gap is not None and float(keep_days) * 86400 < gap:
            problems.append((f"rule {rule.get('RuleName')} keeps each recovery point until the next run ({human_seconds(gap, exact=True)})",
                             f"DeleteAfterDays {keep_days}"))

    def lifecycle(name: str, cold: object, delete: object) -> str:
        return f"{name} cold after {cold} d, deleted after {delete} d"

    expected = "; ".join(lifecycle(r.name, r.move_to_cold_storage_after_days, r.delete_after_days)
                         for r in w.spec.backup.rules)
    actual = "; ".join(lifecycle(str(r.get("RuleName")), (r.get("Lifecycle") or {}).get("MoveToColdStorageAfterDays"),
                                 (r.get("Lifecycle") or {}).get("DeleteAfterDays"))
                       for r in _plan_rules(reads)) or "no plan"
    return _judged(BACKUP_LIFECYCLE, resource, _tier_of(w, "backup"), found, problems, expected, actual)


def backup_selection_coverage(reads: TargetReads) -> Judgement:
    w = reads.workload
    spec = w.spec.backup
    selection = w.name(spec.selection)
    resource = f"{backup.plan_resource(w.backup_plan)} selection {selection}"
    tag = f"{spec.selection_tag_key}={spec.selection_tag_value}"
    found = _on(reads, lambda f: f.resource == resource)
    found += _matching(reads, backup.plan_resource(w.backup_plan), ["exists"])
    tagged_resources = {*(s3.bucket_resource(v.data_bucket) for v in w.each_bucket()),
                        *(_table(v) for v in w.each_table()),
                        *(fsx.file_system_resource(v.file_system) for v in w.each_file_system())}
    found += _on(reads, lambda f: f.resource in tagged_resources and f.property.endswith(f".{spec.selection_tag_key}"))
    problems: list[Problem] = []
    tagged = reads.tagged_for_backup()
    if reads.plan is not None and not reads.selections:
        problems.append((f"a selection on plan {w.backup_plan}", "no selections"))
    uncovered = [arn for arn in tagged
                 if not any(selection_selects(s, arn, reads.tags.get(arn, {})) for s in reads.selections)]
    for arn in uncovered:
        problems.append((f"{arn} (tagged {tag}) assigned to plan {w.backup_plan}", f"{arn} in no selection"))
    names_found = ", ".join(str(s.get("SelectionName")) for s in reads.selections) or "none"
    return _judged(BACKUP_SELECTION, resource, _tier_of(w, "backup"), found, problems,
                   f"every resource tagged {tag} assigned ({len(tagged)} tagged)",
                   f"{len(tagged) - len(uncovered)} of {len(tagged)} tagged resources assigned by selections {names_found}")


# -- FSx, Batch, the DR stack, notices, the monthly rule ------------------------------------------------


def fsx_automatic_backups(reads: TargetReads) -> Judgement:
    w = reads.workload
    spec = w.spec.file_system
    resource = fsx.file_system_resource(w.file_system)
    found = _matching(reads, resource, ["exists (tag Name)", fsx.RETENTION, fsx.START_TIME])
    problems: list[Problem] = []
    if spec.automatic_backup_retention_days < 1:
        problems.append(("automatic daily backups enabled (retention >= 1 day; the guide's BackupPolicy ENABLED)",
                         f"file_system.automatic_backup_retention_days 0 in {w.source}"))
    lustre = (reads.file_system or {}).get("LustreConfiguration") or {}
    return _judged(FSX_AUTOMATIC_BACKUPS, resource, spec.tier, found, problems,
                   f"daily at {spec.daily_backup_start_time}, kept {spec.automatic_backup_retention_days} days",
                   f"daily at {lustre.get('DailyAutomaticBackupStartTime', '-')}, kept "
                   f"{lustre.get('AutomaticBackupRetentionDays', '-')} days")


def batch_multi_az(reads: TargetReads) -> Judgement:
    w = reads.workload
    tier_name = w.spec.compute.tier
    resource = batch.compute_resource(w.compute_environment)
    found = _matching(reads, resource, ["exists", batch.CE_STATE, batch.CE_STATUS], (batch.CE_ZONES,))
    client = reads.target.client("batch", w.primary_region)
    environments = client.describe_compute_environments(computeEnvironments=[w.compute_environment])["computeEnvironments"]
    zones: list[str] = []
    state = "missing"
    if environments:
        ce = environments[0]
        state = f"{ce.get('state')}/{ce.get('status')}"
        subnets = (ce.get("computeResources") or {}).get("subnets", [])
        if subnets:
            described = reads.target.client("ec2", w.primary_region).describe_subnets(SubnetIds=subnets)["Subnets"]
            zones = sorted({s["AvailabilityZone"] for s in described})
    problems: list[Problem] = []
    if "multi-az" in w.tier(tier_name).topology and len(zones) < 2 and not found:
        problems.append((f"subnets in >= 2 availability zones (the {tier_name} tier is multi-AZ)", f"{len(zones)} zone(s)"))
    return _judged(BATCH_MULTI_AZ, resource, tier_name, found, problems,
                   f"ENABLED/VALID with subnets in {', '.join(names.zones(w, w.primary_region))}",
                   f"{state} with subnets in {', '.join(zones) or 'no zone'}")


def _stacks_tier(workload: Workload) -> TierName:
    """The most critical tier of the compute environments the DR stacks raise."""
    tiers = [view.mirrored_compute().spec.compute.tier for view in workload.each_dr_stack()]
    return min(tiers, key=("critical", "important", "standard").index)


def dr_stack(reads: TargetReads) -> Judgement:
    """The DR stack in focus: complete, from its template, able to raise the compute it mirrors."""
    w = reads.workload
    resource = cloudformation.stack_resource(w.dr_stack, w.secondary_region)
    found = _on(reads, lambda f: f.resource == resource)
    stack = cloudformation.describe_stack(reads.target, w.secondary_region, w.dr_stack)
    return _judged(DR_STACK, resource, w.mirrored_compute().spec.compute.tier, found, [],
                   f"stack {w.dr_stack} complete in {w.secondary_region} from s3://{w.templates_bucket}",
                   f"stack {(stack or {}).get('StackStatus', MISSING)}")


def sns_dr_topic(reads: TargetReads) -> Judgement:
    """The DR notice topic in focus: there, with a confirmed subscriber."""
    w = reads.workload
    region = w.secondary_region
    resource = notifications.topic_resource(w.dr_topic, region)
    found = _on(reads, lambda f: f.resource == resource)
    arn = notifications.topic_arn(reads.target, region, w.dr_topic)
    confirmed: list[str] = []
    if arn:
        page = reads.target.client("sns", region).list_subscriptions_by_topic(TopicArn=arn)
        confirmed = [f"{s.get('Protocol')}:{s.get('Endpoint')}" for s in page.get("Subscriptions", [])
                     if str(s.get("SubscriptionArn", "")).startswith("arn:")]
    problems: list[Problem] = []
    if arn is None:
        problems.append((f"topic {w.dr_topic} in {region}", MISSING))
    elif not confirmed:
        problems.append(("at least one confirmed subscriber", "no confirmed subscriptions"))
    return _judged(SNS_DR_TOPIC, resource, _stacks_tier(w), found, problems,
                   "topic with at least one confirmed subscriber",
                   f"{len(confirmed)} subscriber(s): {', '.join(confirmed)}")


def monthly_rule(reads: TargetReads) -> Judgement:
    """The schedule in focus: ENABLED, valid, and firing as the guide says where its config says so."""
    w = reads.workload
    resource = events.rule_resource(w.monthly_rule)
    found = _on(reads, lambda f: f.resource == resource)
    client = reads.target.client("events", w.primary_region)
    try:
        rule = client.describe_rule(Name=w.monthly_rule)
    except client.exceptions.ResourceNotFoundException:
        rule = None
    configured = w.spec.schedule.expression
    # The guide's monthly test is what a config expression that fires as the guide says promises; another
    # expression only has to parse (the read-back says when the rule's differs from it).
    guide = check_monthly_schedule(w.monthly_rule, "", configured, reads.now).fires_as_guide_says
    problems: list[Problem] = []
    actual = MISSING
    if rule is not None:
        schedule = check_monthly_schedule(w.monthly_rule, str(rule.get("State", "")),
                                          str(rule.get("ScheduleExpression", "")), reads.now)
        actual = f"{schedule.state} {schedule.expression}, next {', '.join(schedule.next_fire_times[:2]) or 'never'}"
        if not schedule.valid or (guide and not schedule.fires_as_guide_says):
            problems.append(("a schedule firing on the 1st of each month at 02:00 UTC" if guide
                             else f"a valid schedule expression ({configured})", schedule.reason))
        if schedule.state != "ENABLED" and not any(f.property == events.STATE for f in found):
            problems.append(("State ENABLED", f"State {schedule.state}"))
    return _judged(MONTHLY_RULE, resource, _tier_of(w, "schedule"), found, problems,
                   f"ENABLED, {configured}" + (", firing on the 1st at 02:00 UTC" if guide else ""), actual)


CHECKS: tuple[Check, ...] = (
    Check(S3_REPLICATION_RULE, "bucket", s3_replication_rule),
    Check(S3_DELETE_MARKERS, "bucket", s3_delete_markers),
    Check(S3_RTC, "bucket", s3_replication_time_control),
    Check(S3_REPLICA_ENCRYPTION, "bucket", s3_replica_encryption),
    Check(S3_DESTINATION_VERSIONING, "bucket", s3_destination_versioning),
    Check(S3_SSE_KMS, "bucket", s3_sse_kms),
    Check(DYNAMODB_PITR, "table", dynamodb_pitr),
    Check(DYNAMODB_STREAMS, "table", dynamodb_streams),
    Check(DYNAMODB_GLOBAL_REPLICA, "table", dynamodb_global_replica),
    Check(DYNAMODB_SSE_KMS, "table", dynamodb_sse_kms),
    Check(BACKUP_SCHEDULE, "backup", backup_schedule),
    Check(BACKUP_LIFECYCLE, "backup", backup_lifecycle),
    Check(BACKUP_SELECTION, "backup", backup_selection_coverage),
    Check(FSX_AUTOMATIC_BACKUPS, "file_system", fsx_automatic_backups),
    Check(BATCH_MULTI_AZ, "compute", batch_multi_az),
    Check(DR_STACK, "dr_stack", dr_stack),
    Check(SNS_DR_TOPIC, "topic", sns_dr_topic),
    Check(MONTHLY_RULE, "schedule", monthly_rule),
)
CHECKS_BY_NAME = {c.name: c for c in CHECKS}
