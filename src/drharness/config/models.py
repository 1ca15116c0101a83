"""The parts of a workload config: tiers, each kind of resource and its DR settings, the offline world and live runs.

Frozen pydantic models; `drharness.config` assembles them into a `WorkloadFile` and resolves its names.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

TierName = Literal["critical", "important", "standard"]
TIER_NAMES: tuple[TierName, ...] = ("critical", "important", "standard")


class ConfigModel(BaseModel):
    """Every part of the config: unknown keys refused, frozen once read."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Tier(ConfigModel):
    rto_hours: float = Field(gt=0)
    rpo_hours: float = Field(gt=0)
    topology: str
    max_replication_lag_minutes: float | None = Field(default=None, gt=0)

    @property
    def rto_seconds(self) -> float:
        return self.rto_hours * 3600.0

    @property
    def rpo_seconds(self) -> float:
        return self.rpo_hours * 3600.0


def default_tiers() -> dict[str, Tier]:
    return {
        "critical": Tier(rto_hours=4, rpo_hours=1, topology="multi-az+cross-region"),
        "important": Tier(rto_hours=24, rpo_hours=4, topology="multi-az"),
        "standard": Tier(rto_hours=72, rpo_hours=24, topology="single-az+backup"),
    }


def default_priorities() -> dict[str, float]:
    return {"P1": 4, "P2": 24, "P3": 72, "P4": 168}


class ReplicationRule(ConfigModel):
    rule_id: str = "ReplicateToSecondaryRegion"
    prefix: str = "embeddings/"
    priority: int = Field(default=1, ge=0)
    delete_marker_replication: bool = True
    storage_class: str = "STANDARD_IA"
    # 0 turns Replication Time Control off (TOML has no null).
    rtc_minutes: int | None = Field(default=15, ge=1)
    replica_kms_key: str = "alias/${project}-${environment}-backup"

    @field_validator("rtc_minutes", mode="before")
    @classmethod
    def _zero_is_off(cls, value: object) -> object:
        return None if value == 0 else value


RESOURCE_ID = r"^[a-z0-9][a-z0-9-]{0,30}$"

# The metadata S3 Inventory can add to each row (InventoryOptionalField in the S3 API reference).
INVENTORY_FIELDS = (
    "Size", "LastModifiedDate", "StorageClass", "ETag", "IsMultipartUploaded", "ReplicationStatus", "EncryptionStatus",
    "ObjectLockRetainUntilDate", "ObjectLockMode", "ObjectLockLegalHoldStatus", "ObjectLockEventHoldStatus",
    "ObjectLockEventHoldDuration", "IntelligentTieringAccessTier", "BucketKeyStatus", "ChecksumAlgorithm",
    "ObjectAccessControlList", "ObjectOwner", "LifecycleExpirationDate", "IntelligentTieringReferenceDate",
)
DEFAULT_INVENTORY_FIELDS = ("Size", "LastModifiedDate", "ETag", "StorageClass", "ReplicationStatus", "EncryptionStatus",
                            "ChecksumAlgorithm")
# The tiers whose buckets have an inventory unless their config says otherwise (`inventory.enabled` unset).
INVENTORY_TIERS: tuple[TierName, ...] = ("critical",)
REGION_PLACEHOLDER = "${region}"


class BucketInventory(ConfigModel):
    """The S3 Inventory report of a bucket and of its replica, each delivered in its own region.

    S3 delivers an inventory only to a bucket in the source bucket's region, so `destination_bucket` names
    one bucket per region (`${region}`): the replica's report goes to the destination of the replica's region.
    """

    # Unset: by the bucket's tier (on for INVENTORY_TIERS); true or false: as said, whatever the tier.
    enabled: bool | None = None
    config_id: str = Field(default="drharness-daily", pattern=r"^[A-Za-z0-9._-]{1,64}$")
    frequency: Literal["Daily", "Weekly"] = "Daily"
    format: Literal["Parquet", "CSV"] = "Parquet"
    destination_bucket: str = "${project}-${environment}-inventory-${region}"
    prefix: str = "inventory"
    include_versions: Literal["Current", "All"] = "Current"
    optional_fields: tuple[str, ...] = DEFAULT_INVENTORY_FIELDS

    @field_validator("destination_bucket")
    @classmethod
    def _per_region(cls, value: str) -> str:
        if REGION_PLACEHOLDER not in value:
            raise ValueError(f"{value!r} has no {REGION_PLACEHOLDER}: S3 Inventory delivers only to a bucket in the "
                             "source bucket's own region, and the replica is in another region, so name one bucket "
                             "per region (e.g. \"${project}-${environment}-inventory-${region}\")")
        return value

    @field_validator("prefix")
    @classmethod
    def _no_slash_at_the_ends(cls, value: str) -> str:
        if value.startswith("/") or value.endswith("/"):
            raise ValueError(f"{value!r} must not start or end with '/': S3 adds the '/' after the prefix itself "
                             "(a trailing one gives keys with '//' that the manifest does not name); e.g. \"inventory\"")
        return value

    @field_validator("optional_fields")
    @classmethod
    def _known_fields(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for field in value:
            if field not in INVENTORY_FIELDS:
                raise ValueError(f"{field!r} is not a field S3 Inventory reports; use any of {', '.join(INVENTORY_FIELDS)}")
        repeated = sorted({f for f in value if value.count(f) > 1})
        if repeated:
            raise ValueError(f"{', '.join(repeated)} given more than once: name each field once")
        return value


class Bucket(ConfigModel):
    """A replicated data bucket: its copy in the secondary region and its rule."""

    # The short name a check's test id and record use for this bucket (`...[models]`).
    id: str = Field(default="data", pattern=RESOURCE_ID)
    tier: TierName = "critical"
    name: str = "${project}-${environment}-data-${account_id}"
    backup_name: str = "${project}-${environment}-data-backup-${secondary_region}"
    replication: ReplicationRule = ReplicationRule()
    backup_required: bool = True
    # The id of the backup plan that keeps it (`[[backup_plans]]`); unset: the first plan.
    backup_plan: str | None = Field(default=None, pattern=RESOURCE_ID)
    inventory: BucketInventory = BucketInventory()

    @property
    def inventory_enabled(self) -> bool:
        """Whether the bucket and its replica have an S3 Inventory: as `inventory.enabled` says, else by tier."""
        enabled = self.inventory.enabled
        return self.tier in INVENTORY_TIERS if enabled is None else enabled


class Table(ConfigModel):
    """A DynamoDB table with its point-in-time recovery, stream, encryption and global-table replicas."""

    id: str = Field(default="metadata", pattern=RESOURCE_ID)
    tier: TierName = "critical"
    name: str = "${project}-${environment}-metadata"
    hash_key: str = "pk"
    range_key: str | None = "sk"
    pitr: bool = True
    stream_view_type: Literal["NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"] | None = (
        "NEW_AND_OLD_IMAGES"
    )
    sse_kms: bool = True
    kms_key: str = "alias/${project}-${environment}-data"
    replica_regions: tuple[str, ...] = ("${secondary_region}",)
    backup_required: bool = True
    # The id of the backup plan that keeps it (`[[backup_plans]]`); unset: the first plan.
    backup_plan: str | None = Field(default=None, pattern=RESOURCE_ID)

    @field_validator("range_key", "stream_view_type", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        """`range_key = ""` is a table without a sort key; `stream_view_type = ""` one without a stream."""
        return None if value == "" else value


class FileSystem(ConfigModel):
    """An FSx file system and its automatic backups."""

    id: str = Field(default="fsx", pattern=RESOURCE_ID)
    tier: TierName = "standard"
    name: str = "${project}-${environment}-fsx"
    type: Literal["LUSTRE", "WINDOWS", "ONTAP", "OPENZFS"] = "LUSTRE"
    storage_gib: int = Field(default=1200, ge=1)
    automatic_backup_retention_days: int = Field(default=30, ge=0, le=90)
    daily_backup_start_time: str = "02:00"
    backup_required: bool = True
    # The id of the backup plan that keeps it (`[[backup_plans]]`); unset: the first plan.
    backup_plan: str | None = Field(default=None, pattern=RESOURCE_ID)


class BackupRule(ConfigModel):
    name: str
    schedule: str
    start_window_minutes: int = Field(default=60, ge=60)
    completion_window_minutes: int = Field(default=120, ge=1)
    move_to_cold_storage_after_days: int | None = Field(default=None, ge=1)
    delete_after_days: int | None = Field(default=None, ge=1)
    recovery_point_tags: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _cold_before_delete(self) -> "BackupRule":
        cold, delete = self.move_to_cold_storage_after_days, self.delete_after_days
        if cold is not None and delete is not None and delete < cold + 90:
            raise ValueError(
                f"delete_after_days ({delete}) must be at least 90 days after "
                f"move_to_cold_storage_after_days ({cold}), as AWS Backup requires"
            )
        return self


def _default_backup_rules() -> tuple[BackupRule, ...]:
    return (
        BackupRule(
            name="DailyBackups",
            schedule="cron(0 2 * * ? *)",
            completion_window_minutes=120,
            move_to_cold_storage_after_days=30,
            delete_after_days=365,
            recovery_point_tags={"BackupType": "Daily"},
        ),
        BackupRule(
            name="WeeklyBackups",
            schedule="cron(0 3 ? * SUN *)",
            completion_window_minutes=180,
            move_to_cold_storage_after_days=7,
            delete_after_days=2555,
            recovery_point_tags={"BackupType": "Weekly"},
        ),
    )


class BackupPlan(ConfigModel):
    """An AWS Backup plan: its vault, its rules, and the selection (by tag and by ARN) of what it keeps."""

    id: str = Field(default="plan", pattern=RESOURCE_ID)
    vault: str = "${project}-${environment}-backup-vault"
    plan: str = "${project}-${environment}-backup-plan"
    selection: str = "${project}-${environment}-selection"
    selection_tag_key: str = "BackupRequired"
    selection_tag_value: str = "true"
    rules: tuple[BackupRule, ...] = Field(default_factory=_default_backup_rules)


class ComputeEnvironment(ConfigModel):
    """A Batch compute environment, its job queue and its zones."""

    id: str = Field(default="batch", pattern=RESOURCE_ID)
    tier: TierName = "critical"
    name: str = "${project}-${environment}-compute-env"
    job_queue: str = "${project}-${environment}-job-queue"
    availability_zones: tuple[str, ...] = ("a", "b", "c")
    max_vcpus: int = Field(default=256, ge=1)
    instance_types: tuple[str, ...] = ("m5.large", "m5.xlarge", "c5.large", "c5.xlarge")

    @field_validator("availability_zones")
    @classmethod
    def _az_suffixes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for az in value:
            if not (len(az) == 1 and az.isalpha() and az.islower()):
                raise ValueError(f"availability zone suffix {az!r} must be one lower-case letter, e.g. 'a'")
        return value


class DrStack(ConfigModel):
    """A pilot-light CloudFormation stack in the secondary region: its template, its switch, what it mirrors."""

    id: str = Field(default="dr", pattern=RESOURCE_ID)
    name: str = "${project}-${environment}-dr"
    enable_parameter: str = "EnableDRResources"
    templates_bucket: str = "${project}-${environment}-templates-${account_id}"
    template_key: str = "dr-template.yaml"
    config_backup_bucket: str = "${project}-${environment}-config-backup-${account_id}"
    primary_stack: str = "${project}-${environment}"
    # The id of the compute environment it raises in the DR region (`[[compute_environments]]`); unset: the first.
    compute: str | None = Field(default=None, pattern=RESOURCE_ID)


TopicPurpose = Literal["dr-notifications", "reports"]
TOPIC_PURPOSES: tuple[TopicPurpose, ...] = ("dr-notifications", "reports")


class Topic(ConfigModel):
    """An SNS topic: the DR notices (in the DR region, where the failover announces itself) or the test reports
    (in the primary region, where the schedule announces the monthly run)."""

    id: str = Field(default="dr", pattern=RESOURCE_ID)
    name: str = "${project}-${environment}-dr-notifications"
    purpose: TopicPurpose = "dr-notifications"


def default_topics() -> tuple[Topic, ...]:
    return (Topic(), Topic(id="reports", name="${project}-${environment}-dr-test-reports", purpose="reports"))


class Notifications(ConfigModel):
    """The one-table form of the topics, `[notifications]`: one DR topic and one report topic."""

    dr_topic: str = "${project}-${environment}-dr-notifications"
    report_topic: str = "${project}-${environment}-dr-test-reports"


# What each key of `[notifications]` is as a topic: (its id, its purpose).
NOTIFICATION_TOPICS: dict[str, tuple[str, TopicPurpose]] = {"dr_topic": ("dr", "dr-notifications"),
                                                            "report_topic": ("reports", "reports")}


class Schedule(ConfigModel):
    """An EventBridge rule that starts the DR tests on its schedule, announced on a reports topic."""

    id: str = Field(default="monthly", pattern=RESOURCE_ID)
    name: str = "${project}-${environment}-monthly-dr-test"
    expression: str = "cron(0 2 1 * ? *)"
    # The id of the reports topic it announces the run on (`[[topics]]`); unset: the first reports topic.
    topic: str | None = Field(default=None, pattern=RESOURCE_ID)


# The keys of the one-table form `[schedule]` and what they are called in `[[schedules]]`.
SCHEDULE_KEYS = {"monthly_rule": "name", "monthly_expression": "expression"}


class LagModel(ConfigModel):
    """A distribution of replication delays, in seconds, for the offline world."""

    distribution: Literal["fixed", "uniform", "normal", "lognormal", "exponential"] = "uniform"
    seconds: float = Field(default=0.05, ge=0)
    low_seconds: float = Field(default=0.02, ge=0)
    high_seconds: float = Field(default=0.12, ge=0)
    sigma: float = Field(default=0.25, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> "LagModel":
        if self.high_seconds < self.low_seconds:
            raise ValueError("high_seconds must not be below low_seconds")
        return self


class Offline(ConfigModel):
    account_id: str = Field(default="123456789012", pattern=r"^\d{12}$")
    s3_lag: LagModel = LagModel()
    dynamodb_lag: LagModel = LagModel()
    restore_seconds: float = Field(default=0.2, ge=0)
    # How far a table's latest restorable time trails the world clock. DynamoDB's trails the present by
    # about five minutes (300); offline it is scaled down as the restores are, so a drill restoring to
    # just before its fault waits a moment for the window, not five minutes.
    pitr_latest_lag_seconds: float = Field(default=1.0, ge=0)
    seed: int | None = None


class Live(ConfigModel):
    allowed_accounts: tuple[str, ...] = ()
    allowed_regions: tuple[str, ...] = ()
    tag_scope: dict[str, str] = Field(default_factory=lambda: {"DRHarness": "allowed"})
    stop_alarms: tuple[str, ...] = ()
    # The role FIS assumes for az-outage, replication-pause and ec2/kinesis service faults. No default:
    # there is no role FIS may assume until the account's owner makes one (live/fis-role-trust.json).
    fis_role_arn: str = Field(default="", pattern=r"^(arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+)?$")
    # The cap on every live fault: FIS ends its actions by itself after this, whatever the harness does.
    fis_duration: str = "PT30M"
    # The workload's roles whose API calls an FIS service-fault impairs.
    api_fault_roles: tuple[str, ...] = ()
    # How often a live run polls for a state (a stack, a job, an experiment) and how finely an instrument
    # samples; AWS answers in seconds and throttles the impatient. A rehearsal against a stand-in may go faster.
    poll_seconds: float = Field(default=5.0, gt=0, le=300)
    probe_seconds: float = Field(default=1.0, gt=0, le=60)

    @field_validator("api_fault_roles")
    @classmethod
    def _roles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for arn in value:
            if not re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+", arn):
                raise ValueError(f"api_fault_roles entry {arn!r} must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
        return value

    @field_validator("fis_duration")
    @classmethod
    def _fis_cap(cls, value: str) -> str:
        if not re.fullmatch(r"PT(\d+H)?(\d+M)?(\d+S)?", value):
            raise ValueError(f"fis_duration {value!r} must be an ISO 8601 duration such as PT30M or PT1H30M")
        parts = {unit: number for number, unit in re.findall(r"(\d+)([HMS])", value)}
        seconds = int(parts.get("H", 0)) * 3600 + int(parts.get("M", 0)) * 60 + int(parts.get("S", 0))
        if not 0 < seconds <= 12 * 3600:
            raise ValueError(f"fis_duration {value!r} must be more than 0 and at most PT12H (the FIS limit)")
        return value

    @field_validator("allowed_accounts")
    @classmethod
    def _accounts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for account in value:
            if not (len(account) == 12 and account.isdigit()):
                raise ValueError(f"account id {account!r} must be 12 digits")
        return value


