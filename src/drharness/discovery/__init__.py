"""`drharness init`: write a workload config from what an account (or an offline world) holds.

The resources come from a CloudFormation stack and/or from tags (the Resource Groups Tagging API);
each one's DR settings are read back (`drharness.discovery.read`) and written as the config's keys.
The resources drharness drills but the tagging API does not list (compute environments, backup plans,
topics, schedules, DR stacks) are found by what ties them to the workload: their own tags (each region's
topics, the primary region's scheduled rules), the selection that picks a found resource, the stack
parameter that switches DR on. Every one found is written in its collection (`[[dr_stacks]]`,
`[[topics]]`, `[[schedules]]`, ...). What could not
be read is said in the file as a comment, and the file is validated before it is written.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from drharness.config import COLLECTIONS, RESOURCE_ID, TIER_NAMES, TOPIC_PURPOSES, Workload, WorkloadFile, parse_workload
from drharness.deploy.common import tag_map
from drharness.deploy.notifications import topic_arn
from drharness.discovery import read, topics
from drharness.discovery.read import Found
from drharness.errors import ConfigError
from drharness.target import Target

DEFAULT_TIER = "critical"
WORKLOAD_TAGS = ("Project", "Environment")


@dataclass
class Discovery:
    """What was found: the config's top-level keys, each section, and every note for the file."""

    top: dict[str, Any]
    sections: list[Found] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    source: str = ""


def _arns_by_stack(target: Target, region: str, stack: str) -> dict[str, list[str]]:
    """Physical ids of the stack's resources, by CloudFormation type."""
    cfn = target.client("cloudformation", region)
    found: dict[str, list[str]] = {}
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack):
        for resource in page.get("StackResourceSummaries", []):
            if resource.get("PhysicalResourceId"):
                found.setdefault(str(resource.get("ResourceType")), []).append(str(resource["PhysicalResourceId"]))
    return found


def _tagged(target: Target, region: str, tags: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """ARN -> tags of every resource carrying all of `tags`."""
    tagging = target.client("resourcegroupstaggingapi", region)
    filters = [{"Key": k, "Values": [v]} for k, v in tags.items()]
    found: dict[str, dict[str, str]] = {}
    for page in tagging.get_paginator("get_resources").paginate(TagFilters=filters):
        for mapping in page.get("ResourceTagMappingList", []):
            found[str(mapping["ResourceARN"])] = tag_map(mapping.get("Tags"))
    return found


def discover(target: Target, region: str, *, stack: str | None = None, tags: Mapping[str, str] | None = None,
             default_tier: str = DEFAULT_TIER, source: str = "") -> Discovery:
    """Find the workload's resources in `region` (its primary region) and read their DR settings back."""
    if default_tier not in TIER_NAMES:
        raise ConfigError(f"default tier {default_tier!r} is not a tier: use one of {', '.join(TIER_NAMES)}")
    if not stack and not tags:
        raise ConfigError("say where the workload is: --stack NAME and/or --tag KEY=VALUE (e.g. --tag Project=my-app)")
    tags = dict(tags or {})
    found_tags = _tagged(target, region, tags) if tags else {}
    buckets = {arn.rsplit(":", 1)[-1] for arn in found_tags if arn.startswith("arn:aws:s3:::")}
    tables = {arn.rsplit("/", 1)[-1] for arn in found_tags if ":dynamodb:" in arn and ":table/" in arn}
    file_systems = {arn.rsplit("/", 1)[-1] for arn in found_tags if ":fsx:" in arn and ":file-system/" in arn}
    discovery = Discovery(top={"primary_region": region}, source=source)
    if stack:
        by_type = _arns_by_stack(target, region, stack)
        buckets |= set(by_type.get("AWS::S3::Bucket", []))
        tables |= set(by_type.get("AWS::DynamoDB::Table", []) + by_type.get("AWS::DynamoDB::GlobalTable", []))
        file_systems |= set(by_type.get("AWS::FSx::FileSystem", []))
        discovery.notes.append(f"resources of stack {stack}: {sum(len(v) for v in by_type.values())}")
    workload_tags = _workload_tags(found_tags, tags)
    _identity(discovery, workload_tags, stack)
    secondary: set[str] = set()
    replicated = []
    for bucket in sorted(buckets):
        bucket_region = read.bucket_region(target, bucket)
        config = read.replication(target, bucket, bucket_region)
        if not config or not config.get("Rules"):
            continue
        found = read.read_bucket(target, bucket, bucket_region, config, default_tier)
        replicated.append(found)
        secondary.add(found.values.pop("_replica_region") or "")
    destinations = {f.values["backup_name"] for f in replicated}
    others = sorted(buckets - destinations - {f.values["name"] for f in replicated})
    if others:
        discovery.notes.append(f"buckets with no replication rule, not described as data buckets (the DR stack's "
                               f"templates and config buckets are chosen among them): {', '.join(others)}")
    discovery.sections += replicated
    for table in sorted(tables):
        found = read.read_table(target, table, region, default_tier)
        discovery.sections.append(found)
        secondary.update(found.values["replica_regions"])
    _regions(discovery, secondary)
    _file_systems(target, discovery, region, file_systems, default_tier)
    _compute(target, discovery, region, workload_tags, default_tier)
    kept = [s for s in discovery.sections if s.kind in ("buckets", "tables", "file_systems")]
    plans = read.read_backup_plans(target, region, [(s.values["_arn"], s.values["_tags"]) for s in kept])
    discovery.sections += plans
    if not plans:
        discovery.notes.append("no backup plan with a selection of these resources; the default plan is described")
    _dr_stacks(target, discovery, others, workload_tags)
    _topics_and_schedules(target, discovery, workload_tags)
    _most_critical_first(discovery)
    _ids(discovery)
    _link(discovery, kept, plans)
    if not replicated:
        discovery.notes.append("no bucket with a replication rule was found; the default bucket is described")
    if not any(s.kind == "tables" for s in discovery.sections):
        discovery.notes.append("no DynamoDB table was found; the default table is described")
    return discovery


def _workload_tags(found: dict[str, dict[str, str]], asked: dict[str, str]) -> dict[str, str]:
    """Project and Environment as most found resources carry them (the asked tags win)."""
    chosen: dict[str, str] = {}
    for key in WORKLOAD_TAGS:
        values = [tags[key] for tags in found.values() if key in tags]
        if asked.get(key):
            chosen[key] = asked[key]
        elif values:
            chosen[key] = max(set(values), key=values.count)
    return chosen


def _identity(discovery: Discovery, workload_tags: dict[str, str], stack: str | None) -> None:
    for key, tag in (("project", "Project"), ("environment", "Environment")):
        value = workload_tags.get(tag)
        if value is None and stack and key == "project":
            value = re.sub(r"[^a-z0-9-]", "-", stack.lower())
            discovery.notes.append(f"no {tag} tag; project is taken from the stack name {stack}")
        if value is None:
            discovery.notes.append(f"no {tag} tag on the resources; {key} is left at its default")
            continue
        discovery.top[key] = value


def _regions(discovery: Discovery, secondary: set[str]) -> None:
    secondary.discard("")
    secondary.discard(discovery.top["primary_region"])
    if not secondary:
        discovery.notes.append("no replica region read (no replicated bucket or table replica); "
                               "secondary_region is left at its default")
        return
    chosen = sorted(secondary)[0]
    discovery.top["secondary_region"] = chosen
    if len(secondary) > 1:
        discovery.notes.append(f"replicas in {', '.join(sorted(secondary))}; the config's DR region is {chosen}")


def _file_systems(target: Target, discovery: Discovery, region: str, ids: set[str], default_tier: str) -> None:
    if not ids:
        discovery.notes.append("no FSx file system was found; the default file system is described")
        return
    fsx = target.client("fsx", region)
    systems = [fs for page in fsx.get_paginator("describe_file_systems").paginate() for fs in page.get("FileSystems", [])
               if fs["FileSystemId"] in ids]
    discovery.sections += [read.read_file_system(target, fs, default_tier) for fs in systems]


def _compute(target: Target, discovery: Discovery, region: str, workload_tags: dict[str, str], default_tier: str) -> None:
    batch = target.client("batch", region)
    environments = [ce for ce in batch.describe_compute_environments().get("computeEnvironments", [])
                    if workload_tags and all((ce.get("tags") or {}).get(k) == v for k, v in workload_tags.items())]
    if not environments:
        discovery.notes.append("no Batch compute environment tagged like the workload; the default one is described")
        return
    discovery.sections += [read.read_compute(target, ce, region, default_tier) for ce in environments]


def _dr_stacks(target: Target, discovery: Discovery, other_buckets: list[str], workload_tags: dict[str, str]) -> None:
    region = discovery.top.get("secondary_region")
    found = read.read_dr_stacks(target, region, workload_tags) if region else []
    if not found:
        discovery.notes.append("no DR stack with an Enable... parameter in the DR region; [[dr_stacks]] is left at its "
                               "default")
        return
    _mirrored_first(discovery, found[0].values["_parameters"])
    for stack in found:
        for key, word in (("templates_bucket", "template"), ("config_backup_bucket", "config")):
            match = [b for b in other_buckets if word in b]
            if match:
                stack.values[key] = match[0]
            else:
                stack.notes.append(f"no bucket named like *{word}*; {key} is left at its default")
    discovery.sections += found


def _link_stacks(discovery: Discovery) -> None:
    """Name, in each DR stack, the compute environment it mirrors (its InstanceTypes and MaxvCpus) where that is
    not the first (ids assigned)."""
    environments = [s for s in discovery.sections if s.kind == "compute_environments"]
    for stack in (s for s in discovery.sections if s.kind == "dr_stacks"):
        parameters = stack.values.pop("_parameters")
        mirrored = next((e for e in environments if _mirrors(e, parameters)), None)
        if mirrored is not None and mirrored is not environments[0]:
            stack.values["compute"] = mirrored.values["id"]


def _mirrors(environment: Found, parameters: dict[str, Any]) -> bool:
    """Whether the DR stack with `parameters` raises a copy of `environment` (same instance types and vCPUs)."""
    types, vcpus = str(parameters.get("InstanceTypes", "")), str(parameters.get("MaxvCpus", ""))
    return (",".join(environment.values.get("instance_types", [])) == types
            and str(environment.values.get("max_vcpus")) == vcpus)


def _topics_and_schedules(target: Target, discovery: Discovery, workload_tags: dict[str, str]) -> None:
    """The topics and schedules tagged like the workload; where none of a purpose (or no schedule) is tagged, the
    config's default name is written, and said where the target does not have it."""
    # The names the written file will resolve to: its top-level keys and the config's default templates.
    w = Workload(WorkloadFile.model_validate(discovery.top), str(getattr(target, "account_id", "")), "drharness init")
    regions = {w.secondary_region: "dr-notifications", w.primary_region: "reports"}
    found = topics.read_topics(target, regions, workload_tags)
    for purpose in TOPIC_PURPOSES:
        if any(t.values["purpose"] == purpose for t in found):
            continue
        view = w.each_topic(purpose)[0]
        name, region = view.name(view.spec.topic.name), w.topic_region(view.spec.topic)
        arn = topic_arn(target, region, name)
        notes = [] if arn else [f"no SNS topic {name} in {region}; set this name to the workload's {purpose} topic"]
        found.append(Found("topics", {"name": name, "purpose": purpose, "_arn": arn}, notes))
    schedules = topics.read_schedules(target, w.primary_region, workload_tags)
    if not schedules:
        schedules = [_default_schedule(target, w)]
    discovery.sections += [*sorted(found, key=lambda t: TOPIC_PURPOSES.index(t.values["purpose"])), *schedules]


def _default_schedule(target: Target, w: Workload) -> Found:
    """The config's default rule, as the target has it (or said missing)."""
    events = target.client("events", w.primary_region)
    base = f"{w.spec.project}-{w.spec.environment}"
    rules = {str(r["Name"]): r for page in events.get_paginator("list_rules").paginate(NamePrefix=base)
             for r in page.get("Rules", [])}
    rule = rules.get(w.monthly_rule)
    if rule is None:
        note = (f"no EventBridge rule {w.monthly_rule}; set this name to the rule that starts the monthly drill "
                f"(rules found: {', '.join(rules) or 'none'})")
        return Found("schedules", {"name": w.monthly_rule, "expression": w.spec.schedule.expression}, [note])
    target_topic = topics.rule_topic(events, w.monthly_rule)
    return Found("schedules", {"name": w.monthly_rule, "expression": str(rule.get("ScheduleExpression") or
                                                                         w.spec.schedule.expression),
                               "_topic": target_topic})


def _most_critical_first(discovery: Discovery) -> None:
    """Within each collection, the most critical resource first (the fault drills strike the first), then by name."""
    def rank(found: Found) -> tuple[int, str]:  # the file groups them by kind; within one, this order holds
        return TIER_NAMES.index(found.values["tier"]), str(found.values["name"])

    # Compute environments keep their order: the first is the one the first DR stack mirrors (see _dr_stacks).
    collections = sorted((s for s in discovery.sections if s.kind in ("buckets", "tables", "file_systems")), key=rank)
    others = [s for s in discovery.sections if s not in collections]
    discovery.sections = collections + others


def _link(discovery: Discovery, kept: list[Found], plans: list[Found]) -> None:
    """Once every resource has its id: the plan that keeps each, the compute each DR stack mirrors, the topic each
    schedule announces on."""
    _assign_plans(kept, plans)
    _link_stacks(discovery)
    topics.link_schedules([s for s in discovery.sections if s.kind == "schedules"],
                          [s for s in discovery.sections if s.kind == "topics"])


def _assign_plans(resources: list[Found], plans: list[Found]) -> None:
    """Each resource is kept by the first plan whose selection picks it; `backup_plan` names it where that
    is not the config's first plan, and a resource no plan picks requires no backups."""
    for resource in resources:
        arn, tags = resource.values.pop("_arn"), resource.values.pop("_tags")
        picking = [p for p in plans if read.selection_selects(p.values["_selection"], arn, tags)]
        resource.values["backup_required"] = bool(picking)
        if picking and picking[0] is not plans[0]:
            resource.values["backup_plan"] = picking[0].values["id"]
    for plan in plans:
        plan.values.pop("_selection")


def _mirrored_first(discovery: Discovery, parameters: dict[str, Any]) -> None:
    """Put first the compute environment the first DR stack mirrors (its instance types and vCPUs): the drills
    and that stack's checks take the first one as the primary compute."""
    environments = [s for s in discovery.sections if s.kind == "compute_environments"]
    mirrored = [s for s in environments if _mirrors(s, parameters)]
    if len(environments) > 1 and mirrored:
        if mirrored[0] is not environments[0]:
            discovery.sections.remove(mirrored[0])
            discovery.sections.insert(discovery.sections.index(environments[0]), mirrored[0])
    elif len(environments) > 1:
        discovery.notes.append("no compute environment matches the DR stack's InstanceTypes and MaxvCpus; the first "
                               "listed is taken as the primary compute (put the one the DR stack mirrors first)")


def _ids(discovery: Discovery) -> None:
    """A short id per resource: its name less the project/environment prefix and the account id."""
    prefix = f"{discovery.top.get('project', '')}-{discovery.top.get('environment', '')}-"
    for kind in (*COLLECTIONS.values(), "topics"):
        used: set[str] = set()
        for found in (s for s in discovery.sections if s.kind == kind):
            name = str(found.values["plan" if kind == "backup_plans" else "name"])
            short = name[len(prefix):] if name.startswith(prefix) else name
            short = re.sub(r"-\d{12}$", "", short)
            short = re.sub(r"[^a-z0-9-]+", "-", short.lower()).strip("-")[:31] or kind[:-1]
            if not re.fullmatch(RESOURCE_ID, short):
                short = f"{kind[0]}{short}"[:31]
            candidate, n = short, 2
            while candidate in used:
                candidate, n = f"{short[:28]}-{n}", n + 1
            used.add(candidate)
            found.values = {"id": candidate, **found.values}


def render(discovery: Discovery, *, allowed_account: str | None = None) -> str:
    """The config file: validated, with every note as a comment where it belongs."""
    from drharness.discovery.toml_file import to_toml

    text = to_toml(discovery, allowed_account=allowed_account,
                   written=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    try:
        parse_workload(text, "the written config")
    except ConfigError as exc:
        raise ConfigError(f"drharness init read a config that does not validate ({exc}); nothing was written") from exc
    return text
