"""FIS experiments as the world keeps them: actions, experiments, durations, target selection."""

from __future__ import annotations

import json
import math
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from drharness.errors import DrHarnessError
from drharness.world.wire import CapturedResponse

TERMINAL = ("completed", "stopped", "failed", "cancelled")
REASONS = {
    "pending": "Experiment is pending.",
    "initiating": "Experiment is initiating.",
    "running": "Experiment is running.",
    "completed": "Experiment completed.",
    "stopping": "Experiment is stopping.",
    "stopped": "Experiment stopped.",
}
API_FAULT_MODES = {
    "aws:fis:inject-api-throttle-error": "throttle",
    "aws:fis:inject-api-internal-error": "error",
    "aws:fis:inject-api-unavailable-error": "unavailable",
}
SUPPORTED_ACTIONS = (
    "aws:s3:bucket-pause-replication",
    "aws:dynamodb:global-table-pause-replication",
    "aws:network:disrupt-connectivity",
    "aws:ec2:stop-instances",
    "aws:fis:wait",
    *API_FAULT_MODES,
)
ZONE_SCOPES = ("all", "availability-zone")

UNSUPPORTED_ACTION = "action {name} ({action}) is not emulated offline; emulated: {known}"
EMPTY_TARGET = "Target resolution failed: no resource matched target {target} ({kind})"
BAD_DURATION = "action {name}: duration {value!r} is not an ISO 8601 duration such as PT2M or PT30S"

_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)
_SELECTION = re.compile(r"^(ALL|COUNT\((\d+)\)|PERCENT\((\d+)\))$")


class FisSetupError(DrHarnessError):
    """An experiment cannot run here: it fails with this message as its state reason."""


def parse_duration(value: str) -> float:
    """Seconds in an ISO 8601 duration (PT2M -> 120.0); raises ValueError on anything else."""
    match = _DURATION.match(value.strip()) if isinstance(value, str) else None
    if not match or value.strip() in ("P", "PT"):
        raise ValueError(f"{value!r} is not an ISO 8601 duration")
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    return parts.get("d", 0) * 86400 + parts.get("h", 0) * 3600 + parts.get("m", 0) * 60 + parts.get("s", 0)


@dataclass
class Action:
    name: str
    action_id: str
    parameters: dict[str, str]
    targets: dict[str, str]
    status: str = "pending"
    reason: str = ""
    start: float | None = None
    end: float | None = None
    fault_ids: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)  # instance ids stopped by aws:ec2:stop-instances
    restart: bool = False
    timer: threading.Timer | None = None


@dataclass
class Experiment:
    id: str
    region: str
    targets: dict[str, Any]
    actions: dict[str, Action]
    empty_mode: str
    status: str = "pending"
    reason: str = REASONS["pending"]
    start: float = field(default_factory=time.time)
    end: float | None = None
    history: list[tuple[str, float]] = field(default_factory=list)
    faults_made: int = 0
    resolved: dict[str, list[str]] = field(default_factory=dict)  # target name -> ARNs it resolved to
    mutex: threading.RLock = field(default_factory=threading.RLock)


def action_reason(status: str) -> str:
    return {"pending": "Initial state", "running": "Action is running", "completed": "Action completed",
            "stopped": "Action stopped", "cancelled": "Action cancelled", "skipped": "Action skipped"}.get(status, status)


def json_body(response: CapturedResponse) -> dict[str, Any] | None:
    try:
        body = json.loads(response.body or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def target_arn(kind: str, resource: str, region: str, account_id: str) -> str:
    """The ARN FIS reports for a resolved target (the world resolves to bucket names, 'region/table', ids)."""
    if resource.startswith("arn:"):
        return resource
    if kind == "aws:s3:bucket":
        return f"arn:aws:s3:::{resource}"
    if kind == "aws:dynamodb:global-table":
        table_region, name = resource.split("/", 1)
        return f"arn:aws:dynamodb:{table_region}:{account_id}:table/{name}"
    if kind == "aws:ec2:subnet":
        return f"arn:aws:ec2:{region}:{account_id}:subnet/{resource}"
    if kind == "aws:ec2:instance":
        return f"arn:aws:ec2:{region}:{account_id}:instance/{resource}"
    return resource


def table_ref(arn: str, default_region: str) -> str:
    """'region/table' from a table ARN (arn:aws:dynamodb:<region>:<account>:table/<name>)."""
    parts = arn.split(":")
    region = parts[3] if len(parts) > 5 and parts[3] else default_region
    return f"{region}/{arn.rsplit('/', 1)[-1]}"


def path_matches(resource: dict[str, Any], path: str, values: list[str]) -> bool:
    """FIS target filter: the value at a dotted path (State.Name) is one of `values`."""
    current: Any = resource
    for part in path.split("."):
        if not isinstance(current, dict) or part not in current:
            return False
        current = current[part]
    return str(current) in values


def select(found: list[str], mode: str, target_name: str, rng: Any) -> list[str]:
    match = _SELECTION.match(mode)
    if not match:
        raise FisSetupError(f"target {target_name}: selectionMode {mode!r} is not ALL, COUNT(n) or PERCENT(n)")
    if match.group(2) is not None:
        count = min(int(match.group(2)), len(found))
    elif match.group(3) is not None:
        count = min(math.ceil(len(found) * int(match.group(3)) / 100), len(found))
    else:
        return found
    return sorted(rng.sample(sorted(found), count))

