"""CloudFormation configuration backup, the guide's `backup-cloudformation-templates.sh` made real, and its restore.

    backup = backup_stacks(target, workload)                 # s3://<config-backup>/cloudformation/<stamp>/...
    restore_stack(target, workload, backup.stamp)            # the DR stack back from that copy

For each primary stack (primary region) and every DR stack (secondary region) of the workload it saves,
into the config-backup bucket of the DR stack in focus (the first, unless a view chose another), as the guide
does, `stack-description.json` (DescribeStacks), `stack-template.json` (GetTemplate) and
`stack-parameters.json` (the stack's parameters), one folder per stack under
`cloudformation/<YYYY-MM-DD-HHMMSS>/`, with a `manifest.json` naming the stacks and their regions.
Every stack is read before anything is written, so a backup is whole or absent. A restore creates
the stack from the saved template and parameters (or updates it when it exists and differs), then
reads it back: the outcome says whether template and parameters equal the saved ones.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from drharness.config import Workload
from drharness.errors import ProcedureError
from drharness.results import utc_now
from drharness.target import Target
from drharness.waiting import wait_until

ROOT = "cloudformation"
STAMP_FORMAT = "%Y-%m-%d-%H%M%S"
DESCRIPTION, TEMPLATE, PARAMETERS, MANIFEST = (
    "stack-description.json", "stack-template.json", "stack-parameters.json", "manifest.json")
TEMPLATE_BODY_LIMIT = 51_200  # CreateStack's TemplateBody maximum, in bytes
NO_ECHO = "****"
DEFAULT_RESTORE_TIMEOUT_S = 1800.0

STACK_UNREADABLE = "cannot back up stack {stack} in {region}: {error}; nothing was written"
BACKUP_EXISTS = "a configuration backup {prefix} already exists in s3://{bucket}; wait a second and run again"
NO_SUCH_BACKUP = "no configuration backup {prefix} in s3://{bucket} ({region}); backups there: {known}"
NOT_IN_BACKUP = "stack {stack} is not in backup {prefix} (it holds {stacks})"
NO_ECHO_PARAMETER = (
    "parameter {key} of stack {stack} was saved masked ({masked!r}, a NoEcho parameter); the backup cannot "
    "restore it: give the stack its value by hand"
)
TEMPLATE_TOO_LARGE = (
    "the saved template of {stack} is {size} bytes, over CreateStack's {limit}; restore it through a template URL"
)
RESTORE_FAILED = "restoring stack {stack} in {region} failed: {error}; look at the stack events and run the restore again"

Action = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True)
class SavedStack:
    """One stack in a backup: where its three files are."""

    name: str
    region: str
    role: str  # "primary" | "dr"
    prefix: str
    parameter_count: int


@dataclass(frozen=True)
class ConfigBackup:
    """A configuration backup: the bucket, the stamp folder and each stack saved."""

    bucket: str
    region: str
    stamp: str
    prefix: str
    stacks: tuple[SavedStack, ...]
    duration_seconds: float


@dataclass(frozen=True)
class ConfigRestore:
    """A stack redeployed from a backup, and whether it now equals the saved copy."""

    stack: str
    region: str
    prefix: str
    action: Action
    status: str
    template_matches: bool
    parameters_match: bool
    duration_seconds: float

    @property
    def matches(self) -> bool:
        return self.template_matches and self.parameters_match


def _json_default(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).isoformat()
    return str(value)


def _dumps(data: Any) -> bytes:
    return (json.dumps(data, indent=2, default=_json_default) + "\n").encode("utf-8")


def _stacks(workload: Workload) -> list[tuple[str, str, str]]:
    """(name, region, role) of each stack to save: every primary stack once, then every DR stack."""
    views = workload.each_dr_stack()
    primaries = dict.fromkeys(view.primary_stack for view in views)
    return ([(name, workload.primary_region, "primary") for name in primaries]
            + [(view.dr_stack, view.secondary_region, "dr") for view in views])


def _read_stack(target: Target, name: str, region: str) -> dict[str, bytes]:
    cfn = target.client("cloudformation", region)
    try:
        description = cfn.describe_stacks(StackName=name)
        template = cfn.get_template(StackName=name)
    except (ClientError, BotoCoreError) as exc:
        raise ProcedureError(STACK_UNREADABLE.format(stack=name, region=region, error=exc)) from exc
    description.pop("ResponseMetadata", None)
    template.pop("ResponseMetadata", None)
    stacks = description.get("Stacks") or [{}]
    return {DESCRIPTION: _dumps(description), TEMPLATE: _dumps(template), PARAMETERS: _dumps(stacks[0].get("Parameters", []))}


def backup_stacks(target: Target, workload: Workload, *, now: dt.datetime | None = None) -> ConfigBackup:
    """Save every primary and DR stack's description, template and parameters under `cloudformation/<stamp>/`."""
    start = time.monotonic()
    bucket, region = workload.config_backup_bucket, workload.secondary_region
    stamp = (now or utc_now()).astimezone(dt.timezone.utc).strftime(STAMP_FORMAT)
    prefix = f"{ROOT}/{stamp}/"
    read = [(name, stack_region, role, _read_stack(target, name, stack_region)) for name, stack_region, role in _stacks(workload)]
    s3 = target.client("s3", region)
    try:
        if s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1).get("KeyCount"):
            raise ProcedureError(BACKUP_EXISTS.format(prefix=prefix, bucket=bucket))
        saved = []
        for name, stack_region, role, files in read:
            folder = f"{prefix}{name}/"
            for filename, body in files.items():
                s3.put_object(Bucket=bucket, Key=folder + filename, Body=body, ContentType="application/json")
            saved.append(SavedStack(name, stack_region, role, folder, len(json.loads(files[PARAMETERS]))))
        manifest = {"stamp": stamp, "project": workload.spec.project, "environment": workload.spec.environment,
                    "stacks": [{"name": s.name, "region": s.region, "role": s.role, "prefix": s.prefix} for s in saved]}
        # The manifest goes last: a backup without one was cut short and is not offered for restore.
        s3.put_object(Bucket=bucket, Key=prefix + MANIFEST, Body=_dumps(manifest), ContentType="application/json")
    except (ClientError, BotoCoreError) as exc:
        raise ProcedureError(f"writing the configuration backup to s3://{bucket}/{prefix} failed: {exc}") from exc
    return ConfigBackup(bucket, region, stamp, prefix, tuple(saved), time.monotonic() - start)


def list_backups(target: Target, workload: Workload) -> list[str]:
    """The stamps of the complete backups in the config-backup bucket, oldest first."""
    bucket, region = workload.config_backup_bucket, workload.secondary_region
    stamps = []
    try:
        for page in target.client("s3", region).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{ROOT}/"):
            for obj in page.get("Contents", []):
                parts = obj["Key"].split("/")
                if len(parts) == 3 and parts[2] == MANIFEST:
                    stamps.append(parts[1])
    except (ClientError, BotoCoreError) as exc:
        raise ProcedureError(f"cannot list s3://{bucket}/{ROOT}/ ({region}): {exc}") from exc
    return sorted(stamps)


def _stamp_of(text: str) -> str:
    """Accept `2024-05-01-020000`, `cloudformation/2024-05-01-020000/` or `s3://bucket/cloudformation/...`."""
    text = text.strip()
    if text.startswith("s3://"):
        text = text[len("s3://"):].split("/", 1)[-1]
    parts = [p for p in text.split("/") if p]
    if parts and parts[0] == ROOT:
        parts = parts[1:]
    return parts[0] if parts else ""


def _get_json(target: Target, region: str, bucket: str, key: str) -> Any:
    body = target.client("s3", region).get_object(Bucket=bucket, Key=key)["Body"].read()
    return json.loads(body)


def _template_text(saved: Mapping[str, Any]) -> str:
    body = saved.get("TemplateBody", "")
    return body if isinstance(body, str) else json.dumps(body)


def _same_template(a: str, b: str) -> bool:
    if a.strip() == b.strip():
        return True
    try:
        return bool(json.loads(a) == json.loads(b))
    except ValueError:
        return False


def restore_stack(
    target: Target,
    workload: Workload,
    backup: str = "latest",
    *,
    stack: str | None = None,
    timeout_s: float = DEFAULT_RESTORE_TIMEOUT_S,
) -> ConfigRestore:
    """Redeploy `stack` (default: the DR stack in focus) from backup `backup` (a stamp, its prefix, or "latest")."""
    start = time.monotonic()
    bucket, region = workload.config_backup_bucket, workload.secondary_region
    known = list_backups(target, workload)
    stamp = known[-1] if backup == "latest" and known else _stamp_of(backup)
    prefix = f"{ROOT}/{stamp}/"
    if stamp not in known:
        raise ProcedureError(NO_SUCH_BACKUP.format(prefix=prefix, bucket=bucket, region=region,
                                                   known=", ".join(known[-5:]) or "none"))
    name = stack or workload.dr_stack
    try:
        manifest = _get_json(target, region, bucket, prefix + MANIFEST)
        entry = next((s for s in manifest["stacks"] if s["name"] == name), None)
        if entry is None:
            raise ProcedureError(NOT_IN_BACKUP.format(stack=name, prefix=prefix,
                                                      stacks=", ".join(s["name"] for s in manifest["stacks"])))
        template = _template_text(_get_json(target, region, bucket, entry["prefix"] + TEMPLATE))
        parameters = _get_json(target, region, bucket, entry["prefix"] + PARAMETERS)
        description = _get_json(target, region, bucket, entry["prefix"] + DESCRIPTION)
    except (ClientError, BotoCoreError, ValueError, KeyError) as exc:
        raise ProcedureError(f"backup {prefix} in s3://{bucket} cannot be read: {exc}; pick another backup") from exc
    values = {p["ParameterKey"]: p.get("ParameterValue", "") for p in parameters}
    masked = [k for k, v in values.items() if v == NO_ECHO]
    if masked:
        raise ProcedureError(NO_ECHO_PARAMETER.format(key=masked[0], stack=name, masked=NO_ECHO))
    if len(template.encode("utf-8")) > TEMPLATE_BODY_LIMIT:
        raise ProcedureError(TEMPLATE_TOO_LARGE.format(stack=name, size=len(template.encode()), limit=TEMPLATE_BODY_LIMIT))
    saved_stack = (description.get("Stacks") or [{}])[0]
    stack_region = str(entry["region"])
    action = _redeploy(target, stack_region, name, template, values, saved_stack, timeout_s)
    current_template, current_values, status = _current(target, stack_region, name)
    return ConfigRestore(name, stack_region, prefix, action, status, _same_template(current_template, template),
                         current_values == values, time.monotonic() - start)


def _current(target: Target, region: str, name: str) -> tuple[str, dict[str, str], str]:
    cfn = target.client("cloudformation", region)
    stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    values = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stacks[0].get("Parameters", [])}
    return _template_text(cfn.get_template(StackName=name)), values, str(stacks[0]["StackStatus"])


def _redeploy(target: Target, region: str, name: str, template: str, values: Mapping[str, str],
              saved: Mapping[str, Any], timeout_s: float) -> Action:
    cfn = target.client("cloudformation", region)
    parameters = [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]
    common: dict[str, Any] = {"Parameters": parameters, "Capabilities": list(saved.get("Capabilities") or ["CAPABILITY_IAM"])}
    tags = saved.get("Tags") or []
    try:
        exists = True
        try:
            current_template, current_values, _ = _current(target, region, name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ValidationError":
                raise
            exists = False
        if not exists:
            cfn.create_stack(StackName=name, TemplateBody=template, Tags=tags, **common)
            action: Action = "created"
        elif _same_template(current_template, template) and current_values == dict(values):
            return "unchanged"
        else:
            cfn.update_stack(StackName=name, TemplateBody=template, **common)
            action = "updated"
    except (ClientError, BotoCoreError) as exc:
        raise ProcedureError(RESTORE_FAILED.format(stack=name, region=region, error=exc)) from exc

    def settled() -> str | None:
        status = str(cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"])
        return None if status.endswith("_IN_PROGRESS") else status

    outcome = wait_until(settled, timeout_s, target.poll_interval_s,
                         what=f"stack {name} in {region} to finish", swallow=(ClientError, BotoCoreError))
    if not outcome.ok:
        raise ProcedureError(RESTORE_FAILED.format(stack=name, region=region, error=outcome.reason))
    if outcome.value not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        raise ProcedureError(RESTORE_FAILED.format(stack=name, region=region, error=f"it ended {outcome.value}"))
    return action
