"""The workload config: one TOML file validated into frozen, typed objects.

Precedence for where the file comes from: command line (`--config` / `--dr-config`) >
environment (`DRHARNESS_CONFIG`) > `workload.toml` in the current directory > the packaged default
(the seed workload, the models' defaults). Names may use `${project}`, `${environment}`, `${account_id}`,
`${primary_region}` and `${secondary_region}`; they are resolved once the account is known.
"""

from __future__ import annotations

import os
import re
import string
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from drharness.errors import ConfigError

TierName = Literal["critical", "important", "standard"]
TIER_NAMES: tuple[TierName, ...] = ("critical", "important", "standard")
DEFAULT_CONFIG_NAME = "workload.toml"
CONFIG_ENV = "DRHARNESS_CONFIG"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tier(_Model):
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


def _default_tiers() -> dict[str, Tier]:
    return {
        "critical": Tier(rto_hours=4, rpo_hours=1, topology="multi-az+cross-region"),
        "important": Tier(rto_hours=24, rpo_hours=4, topology="multi-az"),
        "standard": Tier(rto_hours=72, rpo_hours=24, topology="single-az+backup"),
    }


def _default_priorities() -> dict[str, float]:
    return {"P1": 4, "P2": 24, "P3": 72, "P4": 168}


class ReplicationRule(_Model):
    rule_id: str = "ReplicateToSecondaryRegion"
    prefix: str = "embeddings/"
    priority: int = Field(default=1, ge=0)
    delete_marker_replication: bool = True
    storage_class: str = "STANDARD_IA"
    rtc_minutes: int | None = Field(default=15, ge=1)
    replica_kms_key: str = "alias/${project}-${environment}-backup"


class Bucket(_Model):
    tier: TierName = "critical"
    name: str = "${project}-${environment}-data-${account_id}"
    backup_name: str = "${project}-${environment}-data-backup-${secondary_region}"
    replication: ReplicationRule = ReplicationRule()
    backup_required: bool = True


class Table(_Model):
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


class FileSystem(_Model):
    tier: TierName = "standard"
    name: str = "${project}-${environment}-fsx"
    type: Literal["LUSTRE", "WINDOWS", "ONTAP", "OPENZFS"] = "LUSTRE"
    storage_gib: int = Field(default=1200, ge=1)
    automatic_backup_retention_days: int = Field(default=30, ge=0, le=90)
    daily_backup_start_time: str = "02:00"
    backup_required: bool = True


class BackupRule(_Model):
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


class BackupPlan(_Model):
    vault: str = "${project}-${environment}-backup-vault"
    plan: str = "${project}-${environment}-backup-plan"
    selection: str = "${project}-${environment}-selection"
    selection_tag_key: str = "BackupRequired"
    selection_tag_value: str = "true"
    rules: tuple[BackupRule, ...] = Field(default_factory=_default_backup_rules)


class ComputeEnvironment(_Model):
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


class DrStack(_Model):
    name: str = "${project}-${environment}-dr"
    enable_parameter: str = "EnableDRResources"
    templates_bucket: str = "${project}-${environment}-templates-${account_id}"
    template_key: str = "dr-template.yaml"
    config_backup_bucket: str = "${project}-${environment}-config-backup-${account_id}"
    primary_stack: str = "${project}-${environment}"


class Notifications(_Model):
    dr_topic: str = "${project}-${environment}-dr-notifications"
    report_topic: str = "${project}-${environment}-dr-test-reports"


class Schedule(_Model):
    monthly_rule: str = "${project}-${environment}-monthly-dr-test"
    monthly_expression: str = "cron(0 2 1 * ? *)"


class LagModel(_Model):
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


class Offline(_Model):
    account_id: str = Field(default="123456789012", pattern=r"^\d{12}$")
    s3_lag: LagModel = LagModel()
    dynamodb_lag: LagModel = LagModel()
    restore_seconds: float = Field(default=0.2, ge=0)
    # How far a table's latest restorable time trails the world clock. DynamoDB's trails the present by
    # about five minutes (300); offline it is scaled down as the restores are, so a drill restoring to
    # just before its fault waits a moment for the window, not five minutes.
    pitr_latest_lag_seconds: float = Field(default=1.0, ge=0)
    seed: int | None = None


class Live(_Model):
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


class WorkloadFile(_Model):
    """The raw file, names not yet resolved."""

    project: str = Field(default="embedding-batch-workload", pattern=r"^[a-z0-9][a-z0-9-]{1,40}$")
    environment: str = Field(default="production", pattern=r"^[a-z0-9][a-z0-9-]{0,20}$")
    primary_region: str = Field(default="us-east-1", pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    secondary_region: str = Field(default="us-west-2", pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    tiers: dict[TierName, Tier] = Field(default_factory=_default_tiers)
    priorities: dict[Literal["P1", "P2", "P3", "P4"], float] = Field(default_factory=_default_priorities)
    bucket: Bucket = Bucket()
    table: Table = Table()
    file_system: FileSystem = FileSystem()
    backup: BackupPlan = BackupPlan()
    compute: ComputeEnvironment = ComputeEnvironment()
    dr_stack: DrStack = DrStack()
    notifications: Notifications = Notifications()
    schedule: Schedule = Schedule()
    offline: Offline = Offline()
    live: Live = Live()

    @model_validator(mode="after")
    def _regions_differ(self) -> "WorkloadFile":
        if self.primary_region == self.secondary_region:
            raise ValueError("primary_region and secondary_region must differ for cross-region DR")
        missing = [t for t in TIER_NAMES if t not in self.tiers]
        if missing:
            raise ValueError(f"tiers must define {', '.join(missing)}")
        return self


@dataclass(frozen=True)
class Workload:
    """The system under test, names resolved for one account."""

    spec: WorkloadFile
    account_id: str
    source: str

    def name(self, template: str) -> str:
        """Resolve `${...}` placeholders against this workload."""
        values = {
            "project": self.spec.project,
            "environment": self.spec.environment,
            "account_id": self.account_id,
            "primary_region": self.spec.primary_region,
            "secondary_region": self.spec.secondary_region,
        }
        try:
            return string.Template(template).substitute(values)
        except (KeyError, ValueError) as exc:
            raise ConfigError(
                f"{self.source}: name {template!r} uses an unknown placeholder {exc}; "
                f"use one of {', '.join('${' + k + '}' for k in values)}"
            ) from exc

    @property
    def primary_region(self) -> str:
        return self.spec.primary_region

    @property
    def secondary_region(self) -> str:
        return self.spec.secondary_region

    @property
    def regions(self) -> tuple[str, str]:
        return (self.spec.primary_region, self.spec.secondary_region)

    def tier(self, name: TierName) -> Tier:
        return self.spec.tiers[name]

    @property
    def data_bucket(self) -> str:
        return self.name(self.spec.bucket.name)

    @property
    def backup_bucket(self) -> str:
        return self.name(self.spec.bucket.backup_name)

    @property
    def metadata_table(self) -> str:
        return self.name(self.spec.table.name)

    @property
    def table_replica_regions(self) -> tuple[str, ...]:
        return tuple(self.name(r) for r in self.spec.table.replica_regions)

    @property
    def compute_environment(self) -> str:
        return self.name(self.spec.compute.name)

    @property
    def job_queue(self) -> str:
        return self.name(self.spec.compute.job_queue)

    @property
    def dr_stack(self) -> str:
        return self.name(self.spec.dr_stack.name)

    @property
    def backup_vault(self) -> str:
        return self.name(self.spec.backup.vault)

    @property
    def backup_plan(self) -> str:
        return self.name(self.spec.backup.plan)

    @property
    def dr_topic(self) -> str:
        return self.name(self.spec.notifications.dr_topic)

    @property
    def report_topic(self) -> str:
        return self.name(self.spec.notifications.report_topic)

    @property
    def file_system(self) -> str:
        return self.name(self.spec.file_system.name)

    @property
    def monthly_rule(self) -> str:
        return self.name(self.spec.schedule.monthly_rule)

    @property
    def templates_bucket(self) -> str:
        return self.name(self.spec.dr_stack.templates_bucket)

    @property
    def config_backup_bucket(self) -> str:
        return self.name(self.spec.dr_stack.config_backup_bucket)

    @property
    def primary_stack(self) -> str:
        return self.name(self.spec.dr_stack.primary_stack)

    def with_account(self, account_id: str) -> "Workload":
        return Workload(self.spec, account_id, self.source)


def printable(text: str) -> str:
    """Escape what would break a one-line message (newlines, control characters)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _describe_location(loc: tuple[object, ...]) -> str:
    return printable(".".join(str(part) for part in loc)) or "(top level)"


def _format_validation(source: str, exc: ValidationError) -> str:
    first = exc.errors()[0]
    key = _describe_location(first["loc"])
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "unknown key (check the spelling; see the default workload.toml for the known keys)"
    elif "input" in first and first["type"] != "missing":
        message = f"{message} (got {first['input']!r})"
    more = len(exc.errors()) - 1
    tail = f"; and {more} more problem{'s' if more > 1 else ''}" if more else ""
    return f"{source}: key '{key}': {message}{tail}"


def parse_workload(text: str, source: str = "<string>") -> WorkloadFile:
    """Parse and validate TOML text; raise ConfigError with the source, the key and what is expected."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    try:
        return WorkloadFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation(source, exc)) from exc


def resolve_config_path(cli_value: str | os.PathLike[str] | None = None) -> Path | None:
    """Pick the config file by precedence: CLI > DRHARNESS_CONFIG > ./workload.toml > packaged default."""
    for candidate, origin in ((cli_value, "the command line"), (os.environ.get(CONFIG_ENV), CONFIG_ENV)):
        if candidate:
            path = Path(candidate)
            if not path.is_file():
                raise ConfigError(f"config file {str(path)!r} (from {origin}) does not exist or is not a file")
            return path
    local = Path.cwd() / DEFAULT_CONFIG_NAME
    return local if local.is_file() else None


def load_workload(path: str | os.PathLike[str] | None = None, account_id: str | None = None) -> Workload:
    """Load the workload config; `account_id` defaults to the offline world's account."""
    resolved = resolve_config_path(path)
    if resolved is None:
        spec = WorkloadFile()  # every default is the seed workload's setting
        source = "<built-in defaults>"
    else:
        try:
            text = resolved.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{resolved}: cannot be read: {exc}") from exc
        spec = parse_workload(text, str(resolved))
        source = str(resolved)
    workload = Workload(spec, account_id or spec.offline.account_id, source)
    # Resolve every name once so a bad placeholder fails at load time, not mid-drill.
    for template in _all_templates(spec):
        workload.name(template)
    return workload


def _all_templates(spec: WorkloadFile) -> list[str]:
    return [
        spec.bucket.name,
        spec.bucket.backup_name,
        spec.bucket.replication.replica_kms_key,
        spec.table.name,
        spec.table.kms_key,
        *spec.table.replica_regions,
        spec.file_system.name,
        spec.backup.vault,
        spec.backup.plan,
        spec.backup.selection,
        spec.compute.name,
        spec.compute.job_queue,
        spec.dr_stack.name,
        spec.dr_stack.templates_bucket,
        spec.dr_stack.config_backup_bucket,
        spec.dr_stack.primary_stack,
        spec.notifications.dr_topic,
        spec.notifications.report_topic,
        spec.schedule.monthly_rule,
    ]
