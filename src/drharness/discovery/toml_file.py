"""The discovered workload as a TOML file (tomlkit keeps the notes as comments beside their keys)."""

from __future__ import annotations

from typing import Any

import tomlkit
from tomlkit.items import Table

from drharness.discovery.read import Found

TOP_KEYS = ("project", "environment", "primary_region", "secondary_region")
# How the file says "off" for a setting whose default is on (TOML has no null).
OFF = {"rtc_minutes": 0, "range_key": "", "stream_view_type": ""}
SECTION_HELP = {
    "buckets": "A replicated bucket: its copy in the DR region and its replication rule.",
    "tables": "A DynamoDB table with its PITR, stream, encryption and global-table replicas.",
    "file_systems": "An FSx file system and its automatic backups.",
    "compute_environments": "A Batch compute environment, its job queue and zones.",
    "backup_plans": "An AWS Backup plan: its vault, rules and selection (what names it in backup_plan, else the first).",
    "dr_stacks": "A pilot-light DR stack in the DR region (compute: the id of the compute environment it mirrors, else the first).",
    "topics": "An SNS topic: DR notices (purpose dr-notifications, in the DR region) or test reports (reports, in the primary).",
    "schedules": "An EventBridge rule that starts the DR tests (topic: the id of its reports topic, else the first).",
}


def _table(values: dict[str, Any], notes: list[str]) -> Table:
    table = tomlkit.table()
    for note in notes:
        table.add(tomlkit.comment(note))
    for key, value in values.items():
        if isinstance(value, dict) and key != "recovery_point_tags":
            table.add(key, _table(value, []))
        elif key == "rules" and isinstance(value, list):
            rules = tomlkit.aot()
            for rule in value:
                rules.append(_table(rule, []))
            table.add(key, rules)
        elif value is None:
            if key in OFF:
                table.add(key, OFF[key])
                table[key].comment("off")
        elif isinstance(value, dict):
            inline = tomlkit.inline_table()
            inline.update(value)
            table.add(key, inline)
        else:
            table.add(key, value)
    return table


def to_toml(discovery: Any, *, allowed_account: str | None, written: str) -> str:
    doc = tomlkit.document()
    doc.add(tomlkit.comment(f"Written by `drharness init` on {written}{f' from {discovery.source}' if discovery.source else ''}."))
    doc.add(tomlkit.comment("Every value was read from the target; check it. What could not be read is said as a comment."))
    for note in discovery.notes:
        doc.add(tomlkit.comment(note))
    doc.add(tomlkit.nl())
    for key in TOP_KEYS:
        if key in discovery.top:
            doc.add(key, discovery.top[key])
    sections: list[Found] = discovery.sections
    for kind in SECTION_HELP:
        members = [s for s in sections if s.kind == kind]
        if not members:
            continue
        doc.add(tomlkit.nl())
        doc.add(tomlkit.comment(SECTION_HELP[kind]))
        array = tomlkit.aot()
        for found in members:
            array.append(_table(found.values, found.notes))
        doc.add(kind, array)
    if allowed_account:
        live = tomlkit.table()
        live.add(tomlkit.comment("The account init read; live runs are refused anywhere else."))
        live.add("allowed_accounts", [allowed_account])
        live.add("allowed_regions", sorted({discovery.top["primary_region"], *([discovery.top["secondary_region"]]
                                                                                 if "secondary_region" in discovery.top else [])}))
        doc.add(tomlkit.nl())
        doc.add("live", live)
    return tomlkit.dumps(doc)
