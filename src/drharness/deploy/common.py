"""What every service module of the deploy shares: findings, the apply log, and AWS error reading."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from botocore.exceptions import ClientError

from drharness.config import Workload
from drharness.errors import DeployError

Action = Literal["created", "updated", "unchanged"]

# `expected`/`actual` text for a resource or setting that is not there at all.
MISSING = "(missing)"


@dataclass(frozen=True)
class Finding:
    """One DR property that is not what the workload config asks for."""

    resource: str
    property: str
    expected: str
    actual: str

    def __str__(self) -> str:
        return f"{self.resource}: {self.property} is {self.actual}, expected {self.expected}"


@dataclass(frozen=True)
class Unverified:
    """A DR property the target cannot show, so it was neither set nor checked there."""

    resource: str
    property: str
    reason: str

    def __str__(self) -> str:
        return f"{self.resource}: {self.property} not verified: {self.reason}"


@dataclass(frozen=True)
class Deployed:
    """One resource the deploy made sure of."""

    kind: str
    name: str
    region: str
    action: Action
    identifier: str = ""


@dataclass
class Checker:
    """Collects findings while a service module reads its resources back."""

    findings: list[Finding] = field(default_factory=list)
    unverified: list[Unverified] = field(default_factory=list)
    checked: int = 0

    def expect(self, resource: str, prop: str, expected: object, actual: object) -> bool:
        """Record a finding unless `actual == expected`; return whether they matched."""
        self.checked += 1
        if actual == expected:
            return True
        self.findings.append(Finding(resource, prop, _show(expected), _show(actual)))
        return False

    def missing(self, resource: str, prop: str = "exists", expected: object = "present") -> None:
        self.checked += 1
        self.findings.append(Finding(resource, prop, _show(expected), MISSING))

    def cannot_verify(self, resource: str, prop: str, reason: str) -> None:
        self.unverified.append(Unverified(resource, prop, reason))


@dataclass
class ApplyLog:
    """What the deploy did, resource by resource."""

    deployed: list[Deployed] = field(default_factory=list)

    def add(self, kind: str, name: str, region: str, action: Action, identifier: str = "") -> None:
        self.deployed.append(Deployed(kind, name, region, action, identifier))


def _show(value: object) -> str:
    if value is None:
        return MISSING
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_unsupported(exc: ClientError) -> bool:
    """Is this the target saying it has no such API (an emulator's gap), not an AWS error?

    AWS answers every known operation with a named error code; a bare HTTP status as the code
    means the endpoint had no handler for the call at all.
    """
    code = error_code(exc)
    return code in ("404", "500", "501", "NotImplemented")


def tag_map(tags: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    """[{'Key': k, 'Value': v}, ...] (any capitalisation) as a plain mapping."""
    result: dict[str, str] = {}
    for tag in tags or ():
        key = tag.get("Key", tag.get("key"))
        value = tag.get("Value", tag.get("value", ""))
        if key is not None:
            result[str(key)] = str(value)
    return result


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


TIER_TAG = "DRTier"


def workload_tags(workload: Workload, tier: str | None = None) -> dict[str, str]:
    """The tags every resource of the workload carries, as the guide's stack tags its own: what
    discovery by tag (`drharness init --tag Project=...`) finds the workload by, and the resource's
    tier (DRTier) where it has one."""
    tags = {"Project": workload.spec.project, "Environment": workload.spec.environment}
    return {**tags, TIER_TAG: tier} if tier else tags


def backup_tags(workload: Workload, resource: Any) -> dict[str, str]:
    """The tag that puts `resource` (a bucket, table or file system of the config) in its backup plan's
    selection; empty when it requires no backups."""
    spec = workload.plan_of(resource).spec.backup
    return {spec.selection_tag_key: spec.selection_tag_value} if resource.backup_required else {}


def call(what: str, fn: Any, /, **kwargs: Any) -> Any:
    """Make one AWS call; turn a refusal into a DeployError that says which call on what failed."""
    try:
        return fn(**kwargs)
    except ClientError as exc:
        raise DeployError(
            f"{what} failed: {error_code(exc)}: {exc.response.get('Error', {}).get('Message', exc)}; "
            "check the workload config and the target's permissions, then run the deploy again "
            "(it resumes where it stopped)"
        ) from exc

