"""The workload file as written: any number of each kind of resource, the one-resource forms read as
collections of one, and the refusals no single key can make (duplicates, references, contradictions).

`drharness.config` resolves its names for one account into a `Workload`.
"""

from __future__ import annotations

import string
from typing import Any, Literal

from pydantic import (
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from drharness.config.models import (
    NOTIFICATION_TOPICS,
    SCHEDULE_KEYS,
    TIER_NAMES,
    TOPIC_PURPOSES,
    BackupPlan,
    Bucket,
    ComputeEnvironment,
    ConfigModel,
    DrStack,
    FileSystem,
    Live,
    Notifications,
    Offline,
    Schedule,
    Table,
    Tier,
    TierName,
    Topic,
    TopicPurpose,
    default_priorities,
    default_tiers,
    default_topics,
)

# The one-resource form of each collection the config accepts: `[bucket]` for `[[buckets]]`.
COLLECTIONS = {"bucket": "buckets", "table": "tables", "file_system": "file_systems", "compute": "compute_environments",
               "backup": "backup_plans", "dr_stack": "dr_stacks", "schedule": "schedules"}
# `[notifications]` is the one-table form of `[[topics]]`: each of its keys is one topic (NOTIFICATION_TOPICS).
NOTIFICATIONS = "notifications"
ONE_OF = {**{many: one for one, many in COLLECTIONS.items()}, "topics": "topic"}
# Every collection, and the keys no two of its resources may share.
DISTINCT_KEYS = ("id", "name", "backup_name", "job_queue", "plan", "selection")


class KeyedValueError(ValueError):
    """A validator's refusal of one key deeper than where the validator sits (`tables[1].replica_regions`)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _one_resource(one: str, table: object) -> object:
    """The entry of `[one]` as its collection spells it (`[schedule]`'s `monthly_rule` is `name`)."""
    if one != "schedule" or not isinstance(table, dict):
        return table
    renamed = dict(table)
    for old, new in SCHEDULE_KEYS.items():
        if old in renamed:
            if new in renamed:
                raise KeyedValueError(f"schedule.{old}", f"given with schedule.{new}, which is the same key: keep one")
            renamed[new] = renamed.pop(old)
    return renamed


def _notification_topics(table: object) -> list[dict[str, Any]]:
    """`[notifications]` as the two topics it names: the DR notices' and the test reports'."""
    if not isinstance(table, dict):
        raise KeyedValueError(NOTIFICATIONS, f"must be a table with {' and '.join(NOTIFICATION_TOPICS)}")
    for key in table:
        if key not in NOTIFICATION_TOPICS:
            raise KeyedValueError(f"{NOTIFICATIONS}.{key}", f"unknown key: [{NOTIFICATIONS}] has "
                                  f"{' and '.join(NOTIFICATION_TOPICS)}; describe other topics as [[topics]]")
    return [{"id": topic_id, "name": table.get(key, Notifications.model_fields[key].default), "purpose": purpose}
            for key, (topic_id, purpose) in NOTIFICATION_TOPICS.items()]


def _without(data: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != key}


class WorkloadFile(ConfigModel):
    """The raw file, names not yet resolved."""

    project: str = Field(default="embedding-batch-workload", pattern=r"^[a-z0-9][a-z0-9-]{1,40}$")
    environment: str = Field(default="production", pattern=r"^[a-z0-9][a-z0-9-]{0,20}$")
    primary_region: str = Field(default="us-east-1", pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    secondary_region: str = Field(default="us-west-2", pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    tiers: dict[TierName, Tier] = Field(default_factory=default_tiers)
    priorities: dict[Literal["P1", "P2", "P3", "P4"], float] = Field(default_factory=default_priorities)
    # Any number of each (`[[buckets]]`, ...); the one-resource form (`[bucket]`, ...) is a collection of
    # one (COLLECTIONS). The first bucket and table are what the fault drills strike.
    buckets: tuple[Bucket, ...] = (Bucket(),)
    tables: tuple[Table, ...] = (Table(),)
    file_systems: tuple[FileSystem, ...] = (FileSystem(),)
    backup_plans: tuple[BackupPlan, ...] = (BackupPlan(),)
    compute_environments: tuple[ComputeEnvironment, ...] = (ComputeEnvironment(),)
    dr_stacks: tuple[DrStack, ...] = (DrStack(),)
    # At least one of each purpose; `[notifications]` is one of each.
    topics: tuple[Topic, ...] = Field(default_factory=default_topics)
    schedules: tuple[Schedule, ...] = (Schedule(),)
    offline: Offline = Offline()
    live: Live = Live()
    # Which resource of each collection a `Workload.focus` view looks from (none: the first of each).
    _focus: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _one_resource_form(cls, data: object) -> object:
        """`[bucket]` is `[[buckets]]` with one entry, `[notifications]` two topics; both forms at once is refused."""
        if not isinstance(data, dict):
            return data
        for one, many in (*COLLECTIONS.items(), (NOTIFICATIONS, "topics")):
            if one in data:
                if many in data:
                    raise ValueError(f"both [{one}] and [[{many}]] are given: keep one; [{one}] describes "
                                     f"{'one resource' if one != NOTIFICATIONS else 'one topic of each purpose'}, "
                                     f"[[{many}]] any number (move the [{one}] table into [[{many}]])")
                entries = _notification_topics(data[one]) if one == NOTIFICATIONS else [_one_resource(one, data[one])]
                data = {**_without(data, one), many: entries}
        return data

    @field_validator("buckets", "tables", "file_systems", "compute_environments", "backup_plans", "dr_stacks", "topics",
                     "schedules")
    @classmethod
    def _distinct(cls, value: tuple[ConfigModel, ...], info: ValidationInfo) -> tuple[ConfigModel, ...]:
        if not value:
            raise ValueError(f"{info.field_name} is empty: describe at least one (or leave the key out for the default)")
        for attribute in DISTINCT_KEYS:
            seen: dict[str, int] = {}
            for index, resource in enumerate(value):
                if not hasattr(resource, attribute):
                    continue
                mine = getattr(resource, attribute)
                if mine in seen:
                    raise KeyedValueError(
                        f"{info.field_name}[{index}].{attribute}",
                        f"{mine!r} is also {info.field_name}[{seen[mine]}].{attribute}: give each of the "
                        f"{info.field_name.replace('_', ' ')} its own {attribute}")
                seen[mine] = index
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "WorkloadFile":
        """What no one key can say alone: two regions, every tier, plans that exist, replicas elsewhere."""
        if self.primary_region == self.secondary_region:
            raise ValueError("primary_region and secondary_region must differ for cross-region DR")
        missing = [t for t in TIER_NAMES if t not in self.tiers]
        if missing:
            raise ValueError(f"tiers must define {', '.join(missing)}")
        plans = [p.id for p in self.backup_plans]
        tags = [(p.selection_tag_key, p.selection_tag_value) for p in self.backup_plans]
        if len(set(tags)) < len(tags):
            index = next(i for i, t in enumerate(tags) if tags.index(t) != i)
            raise KeyedValueError(f"backup_plans[{index}].selection_tag_value",
                                  f"the tag {tags[index][0]}={tags[index][1]} is also another plan's: each plan selects "
                                  "by its own tag, or both would keep every tagged resource")
        for many in ("buckets", "tables", "file_systems"):
            for index, resource in enumerate(getattr(self, many)):
                if resource.backup_plan is not None and resource.backup_plan not in plans:
                    raise KeyedValueError(f"{many}[{index}].backup_plan",
                                          f"{resource.backup_plan!r} is no backup plan's id; the plans are {', '.join(plans)}")
        regions = {"primary_region": self.primary_region, "secondary_region": self.secondary_region}
        for index, table in enumerate(self.tables):
            for region in table.replica_regions:
                resolved = string.Template(region).safe_substitute(regions)
                if resolved == self.primary_region:
                    raise KeyedValueError(
                        f"tables[{index}].replica_regions",
                        f"{region!r} is the primary region {self.primary_region}: a replica must be in another "
                        "region (e.g. \"${secondary_region}\")")
        return self

    @model_validator(mode="after")
    def _stacks_topics_schedules(self) -> "WorkloadFile":
        """Every purpose has a topic; a stack mirrors a compute environment there is; a schedule announces on a
        reports topic."""
        for purpose in TOPIC_PURPOSES:
            if not any(t.purpose == purpose for t in self.topics):
                raise KeyedValueError("topics", f"no topic has purpose {purpose!r}: describe at least one [[topics]] "
                                      f"with purpose = \"{purpose}\" (each of {', '.join(TOPIC_PURPOSES)} needs one)")
        computes = [c.id for c in self.compute_environments]
        for index, stack in enumerate(self.dr_stacks):
            if stack.compute is not None and stack.compute not in computes:
                raise KeyedValueError(f"dr_stacks[{index}].compute", f"{stack.compute!r} is no compute environment's "
                                      f"id; the compute environments are {', '.join(computes)}")
        reports = [t.id for t in self.topics if t.purpose == "reports"]
        for index, schedule in enumerate(self.schedules):
            if schedule.topic is not None and schedule.topic not in reports:
                raise KeyedValueError(f"schedules[{index}].topic", f"{schedule.topic!r} is no reports topic's id; the "
                                      f"topics with purpose \"reports\" are {', '.join(reports)}")
        return self

    def _in_focus(self, many: str) -> Any:
        resources = getattr(self, many)
        wanted = self._focus.get(many)
        return next((r for r in resources if r.id == wanted), resources[0])

    @property
    def bucket(self) -> Bucket:
        """The bucket in focus: the first, or the one a `Workload.focus` view chose."""
        return self._in_focus("buckets")  # type: ignore[no-any-return]

    @property
    def table(self) -> Table:
        """The table in focus: the first, or the one a `Workload.focus` view chose."""
        return self._in_focus("tables")  # type: ignore[no-any-return]

    @property
    def backup(self) -> BackupPlan:
        """The backup plan in focus: the first, or the one a `Workload.focus` view chose."""
        return self._in_focus("backup_plans")  # type: ignore[no-any-return]

    @property
    def file_system(self) -> FileSystem:
        """The file system in focus: the first, or the one a `Workload.focus` view chose."""
        return self._in_focus("file_systems")  # type: ignore[no-any-return]

    @property
    def compute(self) -> ComputeEnvironment:
        """The compute environment in focus: the first, or the one a `Workload.focus` view chose."""
        return self._in_focus("compute_environments")  # type: ignore[no-any-return]

    @property
    def dr_stack(self) -> DrStack:
        """The DR stack in focus: the first, or the one a `Workload.focus` view chose."""
        return self._in_focus("dr_stacks")  # type: ignore[no-any-return]

    @property
    def schedule(self) -> Schedule:
        """The schedule in focus: the first, or the one a `Workload.focus` view chose."""
        return self._in_focus("schedules")  # type: ignore[no-any-return]

    @property
    def topic(self) -> Topic:
        """The topic in focus: the first, or the one a `Workload.focus` view chose."""
        return self._in_focus("topics")  # type: ignore[no-any-return]

    @property
    def dr_topics(self) -> tuple[Topic, ...]:
        """The topics the DR notices go to, in the config's order."""
        return tuple(t for t in self.topics if t.purpose == "dr-notifications")

    @property
    def report_topics(self) -> tuple[Topic, ...]:
        """The topics the test reports and the schedules' announcements go to, in the config's order."""
        return tuple(t for t in self.topics if t.purpose == "reports")

    def topic_for(self, purpose: TopicPurpose) -> Topic:
        """The topic of `purpose` seen from this view: the one in focus if it has that purpose; for reports, the
        one the schedule in focus names; else the first of that purpose."""
        if self.topic.purpose == purpose and "topics" in self._focus:
            return self.topic
        if purpose == "reports" and self.schedule.topic is not None:
            return next(t for t in self.topics if t.id == self.schedule.topic)
        return next(t for t in self.topics if t.purpose == purpose)


def describe_location(loc: tuple[object, ...]) -> str:
    """`('tables', 0, 'tier')` as the file spells it: `tables[0].tier`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return printable(text) or "(top level)"


def as_spelled(loc: tuple[object, ...], data: object) -> str:
    """The key as the file spells it: `bucket.name` where the file has [bucket], not `buckets[0].name`;
    `schedule.monthly_rule` for `schedules[0].name`, `notifications.report_topic` for `topics[1].name`."""
    if isinstance(data, dict):
        for one, many in COLLECTIONS.items():
            if one in data and loc[:2] == (many, 0):
                loc = (one, *loc[2:])
                if one == "schedule" and len(loc) > 1:
                    loc = (one, next((old for old, new in SCHEDULE_KEYS.items() if new == loc[1]), loc[1]), *loc[2:])
        if NOTIFICATIONS in data and loc[:1] == ("topics",) and len(loc) > 1 and isinstance(loc[1], int):
            keys = list(NOTIFICATION_TOPICS)
            loc = (NOTIFICATIONS, keys[loc[1]]) if loc[1] < len(keys) else loc
    return describe_location(loc)


def printable(text: str) -> str:
    """Escape what would break a one-line message (newlines, control characters)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
