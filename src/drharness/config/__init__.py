"""The workload config: one TOML file validated into frozen, typed objects.

Precedence for where the file comes from: command line (`--config` / `--dr-config`) >
environment (`DRHARNESS_CONFIG`) > `workload.toml` in the current directory > the packaged default
(the seed workload, the models' defaults). Names may use `${project}`, `${environment}`, `${account_id}`,
`${primary_region}` and `${secondary_region}`; they are resolved once the account is known. A name that
is one resource per region (a bucket's inventory destination) also uses `${region}`.
"""

from __future__ import annotations

import os
import string
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from drharness.config.models import (
    RESOURCE_ID,
    TIER_NAMES,
    TOPIC_PURPOSES,
    BackupPlan,
    BackupRule,
    Bucket,
    BucketInventory,
    ComputeEnvironment,
    DrStack,
    FileSystem,
    LagModel,
    Live,
    Notifications,
    Offline,
    ReplicationRule,
    Schedule,
    Table,
    Tier,
    TierName,
    Topic,
    TopicPurpose,
)
from drharness.config.spec import (
    COLLECTIONS,
    ONE_OF,
    KeyedValueError,
    WorkloadFile,
    as_spelled,
    printable,
)
from drharness.errors import ConfigError

DEFAULT_CONFIG_NAME = "workload.toml"
CONFIG_ENV = "DRHARNESS_CONFIG"


@dataclass(frozen=True)
class Workload:
    """The system under test, names resolved for one account."""

    spec: WorkloadFile
    account_id: str
    source: str

    def name(self, template: str, *, region: str | None = None) -> str:
        """Resolve `${...}` placeholders against this workload; `region` is what a per-region name's `${region}` is."""
        values = {
            "project": self.spec.project,
            "environment": self.spec.environment,
            "account_id": self.account_id,
            "primary_region": self.spec.primary_region,
            "secondary_region": self.spec.secondary_region,
            **({"region": region} if region else {}),
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

    def inventory_bucket(self, region: str) -> str:
        """The bucket in `region` that the S3 Inventory of the bucket in focus (or of its replica) is delivered to."""
        return self.name(self.spec.bucket.inventory.destination_bucket, region=region)

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
        """The DR notice topic: the one in focus, else the first whose purpose is dr-notifications."""
        return self.name(self.spec.topic_for("dr-notifications").name)

    @property
    def report_topic(self) -> str:
        """The report topic: the one in focus, else the one the schedule in focus names, else the first."""
        return self.name(self.spec.topic_for("reports").name)

    def topic_region(self, topic: Topic) -> str:
        """Where `topic` lives: DR notices in the secondary region (the failover announces itself from the region
        that survives), reports in the primary (where the schedule fires)."""
        return self.secondary_region if topic.purpose == "dr-notifications" else self.primary_region

    @property
    def file_system(self) -> str:
        return self.name(self.spec.file_system.name)

    @property
    def monthly_rule(self) -> str:
        """The EventBridge rule of the schedule in focus (the first, unless a view chose another)."""
        return self.name(self.spec.schedule.name)

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

    def config_key(self, many: str, index: int, attribute: str) -> str:
        """How the file names one resource's key: `bucket.name` for the only one, `buckets[1].name` for one of several."""
        if len(getattr(self.spec, many)) == 1:
            return f"{ONE_OF[many]}.{attribute}"
        return f"{many}[{index}].{attribute}"

    def focus(self, *, bucket: str | None = None, table: str | None = None, file_system: str | None = None,
              compute: str | None = None, backup_plan: str | None = None, dr_stack: str | None = None,
              topic: str | None = None, schedule: str | None = None) -> "Workload":
        """This workload seen from one of its resources of each kind (by id): `data_bucket` and `spec.bucket`,
        `metadata_table` and `spec.table`, `file_system` and `spec.file_system`, `compute_environment` and
        `spec.compute`, `backup_plan` and `spec.backup`, `dr_stack` and `spec.dr_stack`, `dr_topic` or
        `report_topic` (by the topic's purpose) and `spec.topic`, `monthly_rule` and `spec.schedule` are then
        that one; the rest (the collections themselves, in the config's order) is unchanged."""
        chosen_ids: dict[str, str] = {}
        for many, wanted in (("buckets", bucket), ("tables", table), ("file_systems", file_system),
                             ("compute_environments", compute), ("backup_plans", backup_plan),
                             ("dr_stacks", dr_stack), ("topics", topic), ("schedules", schedule)):
            if wanted is None:
                continue
            resources = getattr(self.spec, many)
            if not any(r.id == wanted for r in resources):
                one = ONE_OF[many].replace("_", " ")
                raise ConfigError(f"{self.source}: no {one} with id {wanted!r}; the {many.replace('_', ' ')} are "
                                  f"{', '.join(r.id for r in resources)}")
            chosen_ids[many] = wanted
        if not chosen_ids:
            return self
        spec = self.spec.model_copy()
        spec._focus = {**self.spec._focus, **chosen_ids}
        return Workload(spec, self.account_id, self.source)

    def each_bucket(self) -> tuple["Workload", ...]:
        """One view per bucket, in the config's order (see `focus`)."""
        return tuple(self.focus(bucket=b.id) for b in self.spec.buckets)

    def each_table(self) -> tuple["Workload", ...]:
        """One view per table, in the config's order (see `focus`)."""
        return tuple(self.focus(table=t.id) for t in self.spec.tables)

    def each_file_system(self) -> tuple["Workload", ...]:
        """One view per file system, in the config's order (see `focus`)."""
        return tuple(self.focus(file_system=f.id) for f in self.spec.file_systems)

    def each_backup_plan(self) -> tuple["Workload", ...]:
        """One view per backup plan, in the config's order (see `focus`)."""
        return tuple(self.focus(backup_plan=p.id) for p in self.spec.backup_plans)

    def plan_of(self, resource: Bucket | Table | FileSystem) -> "Workload":
        """This workload seen from the backup plan that keeps `resource` (its `backup_plan`, else the first)."""
        return self.focus(backup_plan=resource.backup_plan or self.spec.backup_plans[0].id)

    def each_compute(self) -> tuple["Workload", ...]:
        """One view per compute environment, in the config's order (see `focus`)."""
        return tuple(self.focus(compute=c.id) for c in self.spec.compute_environments)

    def each_dr_stack(self) -> tuple["Workload", ...]:
        """One view per DR stack, in the config's order (see `focus`)."""
        return tuple(self.focus(dr_stack=s.id) for s in self.spec.dr_stacks)

    def each_topic(self, purpose: TopicPurpose | None = None) -> tuple["Workload", ...]:
        """One view per topic (of `purpose`, if given), in the config's order (see `focus`)."""
        return tuple(self.focus(topic=t.id) for t in self.spec.topics if purpose is None or t.purpose == purpose)

    def each_schedule(self) -> tuple["Workload", ...]:
        """One view per schedule, in the config's order (see `focus`)."""
        return tuple(self.focus(schedule=s.id) for s in self.spec.schedules)

    def mirrored_compute(self) -> "Workload":
        """This workload seen from the compute environment the DR stack in focus raises (its `compute`, else the first)."""
        return self.focus(compute=self.spec.dr_stack.compute or self.spec.compute_environments[0].id)


def _format_validation(source: str, exc: ValidationError, data: object = None) -> str:
    first = exc.errors()[0]
    key = as_spelled(tuple(first["loc"]), data)
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "unknown key (check the spelling; see the default workload.toml for the known keys)"
    elif first["type"] == "value_error":  # our own validators say what is wrong and what is expected
        error = first.get("ctx", {}).get("error", message)
        message = str(error)
        if isinstance(error, KeyedValueError):
            parts = error.key.replace("[", ".").replace("]", "").split(".")
            key = as_spelled(tuple(int(p) if p.isdigit() else p for p in parts), data)
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
        raise ConfigError(_format_validation(source, exc, data)) from exc


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
    for bucket in spec.buckets:
        workload.name(bucket.inventory.destination_bucket, region=spec.primary_region)
    _names_distinct(workload)
    return workload


def _names_distinct(workload: Workload) -> None:
    """Two resources of one kind that resolve to one name would be one resource drilled twice."""
    keys = [(f"buckets[{i}].{attr}", getattr(b, attr)) for i, b in enumerate(workload.spec.buckets)
            for attr in ("name", "backup_name")]
    keys += [(f"tables[{i}].name", t.name) for i, t in enumerate(workload.spec.tables)]
    keys += [(f"file_systems[{i}].name", fs.name) for i, fs in enumerate(workload.spec.file_systems)]
    keys += [(f"compute_environments[{i}].{attr}", getattr(c, attr)) for i, c in enumerate(workload.spec.compute_environments)
             for attr in ("name", "job_queue")]
    keys += [(f"{many}[{i}].name", r.name) for many in ("dr_stacks", "topics", "schedules")
             for i, r in enumerate(getattr(workload.spec, many))]
    seen: dict[tuple[str, str], str] = {}
    for key, template in keys:
        kind = key.split("[", 1)[0]
        resolved = (kind, workload.name(template))
        if resolved in seen:
            raise ConfigError(f"{workload.source}: key '{key}': resolves to {resolved[1]!r}, as '{seen[resolved]}' "
                              "does; each resource needs its own name")
        seen[resolved] = key


def _all_templates(spec: WorkloadFile) -> list[str]:
    return [
        *(t for b in spec.buckets for t in (b.name, b.backup_name, b.replication.replica_kms_key)),
        *(t for table in spec.tables for t in (table.name, table.kms_key, *table.replica_regions)),
        *(fs.name for fs in spec.file_systems),
        *(t for p in spec.backup_plans for t in (p.vault, p.plan, p.selection)),
        *(t for c in spec.compute_environments for t in (c.name, c.job_queue)),
        *(t for s in spec.dr_stacks for t in (s.name, s.templates_bucket, s.config_backup_bucket, s.primary_stack)),
        *(t.name for t in spec.topics),
        *(s.name for s in spec.schedules),
    ]


__all__ = [
    "CONFIG_ENV", "COLLECTIONS", "DEFAULT_CONFIG_NAME", "ONE_OF", "RESOURCE_ID", "TIER_NAMES", "TOPIC_PURPOSES", "BackupPlan", "BackupRule", "Bucket",
    "BucketInventory", "ComputeEnvironment", "DrStack", "FileSystem", "LagModel", "Live", "Notifications", "Offline", "ReplicationRule",
    "Schedule", "Table", "Tier", "TierName", "Topic", "TopicPurpose", "Workload", "WorkloadFile", "load_workload", "parse_workload", "printable",
    "resolve_config_path",
]
