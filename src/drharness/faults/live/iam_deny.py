"""The region-outage fault in an account: the region made unusable for the workload's own roles.

FIS cannot take a whole region away from every caller. What an account allows is to make the region
unusable for the principals of the workload: an inline policy `drharness-region-outage-<fault id>`
on each role of `[live].api_fault_roles`, denying every action whose `aws:RequestedRegion` is the
region, until `aws:CurrentTime` passes the fault's duration cap (so a dead harness still lets the
fault end). Revert deletes the policy from every role; a policy already gone is not an error.

What it simulates: the workload's roles get AccessDenied for every call to that region, so the
workload's failover path runs as in a region outage. What it does not: other principals, AWS's own
replication and the data plane keep working; calls without a region (global endpoints) are not
refused; network paths are not cut.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from drharness.errors import FaultError
from drharness.faults.base import InjectedFault
from drharness.faults.live.options import LiveOptions
from drharness.faults.spec import FaultParams, RegionOutage
from drharness.target import Target

IAM_DENY = "iam-deny"
IAM_REGION = "us-east-1"  # IAM is global; its API lives in us-east-1
POLICY_PREFIX = "drharness-region-outage-"
NO_ROLES = ("live region-outage denies the region to the workload's own roles: set [live].api_fault_roles "
            "to their ARNs in the workload config")


def policy_name(fault_id: str) -> str:
    return f"{POLICY_PREFIX}{fault_id}"


def duration_seconds(duration: str) -> int:
    """Seconds of an ISO 8601 PT..H..M..S duration (the config has validated its shape)."""
    found = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?", duration)
    if not found:
        raise FaultError(f"duration {duration!r} is not ISO 8601 PT..H..M..S")
    hours, minutes, seconds = (int(part or 0) for part in found.groups())
    return hours * 3600 + minutes * 60 + seconds


def deny_until(options: LiveOptions) -> datetime:
    """When a deny made now stops applying: now plus the fault duration cap."""
    return datetime.now(timezone.utc) + timedelta(seconds=duration_seconds(options.duration))


def region_deny_policy(region: str, until: datetime) -> dict[str, Any]:
    """The explicit deny of every call to `region`, in force until `until`."""
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DrHarnessRegionOutage", "Effect": "Deny", "Action": "*", "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": region},
                          "DateLessThan": {"aws:CurrentTime": until.strftime("%Y-%m-%dT%H:%M:%SZ")}},
        }],
    }


def role_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


class IamDenyFaults:
    """region-outage as an explicit-deny inline policy on each of the workload's roles in scope."""

    mechanism = IAM_DENY

    def __init__(self, target: Target, options: LiveOptions) -> None:
        self.target = target
        self.options = options

    def prepare(self, fault_id: str, name: str, params: FaultParams) -> dict[str, str]:
        if not isinstance(params, RegionOutage):
            raise FaultError(f"{name}: the IAM-deny mechanism makes region-outage only")
        if not self.options.api_fault_role_arns:
            raise FaultError(NO_ROLES)
        roles = ",".join(role_name(arn) for arn in self.options.api_fault_role_arns)
        return {"mechanism": self.mechanism, "policy": policy_name(fault_id), "roles": roles, "region": params.region}

    def inject(self, fault_id: str, name: str, params: FaultParams) -> InjectedFault:
        refs = self.prepare(fault_id, name, params)
        assert isinstance(params, RegionOutage)
        until = deny_until(self.options)
        document = json.dumps(region_deny_policy(params.region, until))
        iam = self.target.client("iam", IAM_REGION)
        try:
            for role in refs["roles"].split(","):
                iam.put_role_policy(RoleName=role, PolicyName=refs["policy"], PolicyDocument=document)
        except (ClientError, BotoCoreError) as exc:
            raise FaultError(f"IAM refused {name} {fault_id} (policy {refs['policy']} on {role}): {exc}") from exc
        return InjectedFault(id=fault_id, name=name, params=params, injected_at=datetime.now(timezone.utc),
                             target="aws", refs={**refs, "until": until.isoformat()})

    def revert(self, fault_id: str, refs: Mapping[str, str]) -> None:
        """Delete the deny from every role; a role or policy already gone is not an error."""
        policy = refs.get("policy") or policy_name(fault_id)
        roles = [r for r in (refs.get("roles") or "").split(",") if r] or [
            role_name(arn) for arn in self.options.api_fault_role_arns]
        iam = self.target.client("iam", IAM_REGION)
        for role in roles:
            try:
                iam.delete_role_policy(RoleName=role, PolicyName=policy)
            except iam.exceptions.NoSuchEntityException:
                continue
            except (ClientError, BotoCoreError) as exc:
                raise FaultError(f"cannot revert {fault_id}: deleting policy {policy} from role {role} failed "
                                 f"({exc}); delete it in the IAM console") from exc

    def active_ids(self) -> list[str]:
        """Ids of the region-outage denies still on a role in scope."""
        iam = self.target.client("iam", IAM_REGION)
        found: list[str] = []
        for arn in self.options.api_fault_role_arns:
            try:
                names = iam.list_role_policies(RoleName=role_name(arn))["PolicyNames"]
            except (ClientError, BotoCoreError):
                continue
            found += [n[len(POLICY_PREFIX):] for n in names if n.startswith(POLICY_PREFIX)]
        return sorted(set(found))

    def active(self) -> list[InjectedFault]:
        return []  # the deny names no region once listed; `active_ids` finds what revert must undo
