"""Which live runs and faults are allowed: opt-in, account and region allowlists, and the tag scope.

A live run goes through three gates, in this order, and each one refuses before anything changes:

1. opt-in: `--live` (pytest: `--dr-live`) AND `DRHARNESS_LIVE=I-UNDERSTAND`;
2. who we are: STS GetCallerIdentity is the first AWS call; the account must be on
   `[live].allowed_accounts` and every workload region on `[live].allowed_regions`
   (`check_live_allowed`, called by `live_target.open_live_target`);
3. scope, per fault: `ScopedFaultBackend.prepare` asks STS again (credentials can be refreshed into
   another account mid-run), checks the fault's region, and reads the tags of every resource the
   fault targets (Resource Groups Tagging API, else the service's own tag call): each must carry all
   of `[live].tag_scope` (`check_fault_scope`). Only then does the wrapped backend prepare, journal and inject.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from drharness.config import Workload
from drharness.errors import SafetyError
from drharness.faults.spec import (
    AzOutage,
    CredentialCompromise,
    DataCorruption,
    FaultParams,
    RegionOutage,
    ReplicationPause,
    ServiceFault,
    parse_fault,
)
from drharness.redaction import mask_account
from drharness.settings import LIVE_ENV, LIVE_ENV_VALUE, RunSettings
from drharness.target import Target

OPT_IN_HELP = (
    f"live runs need an explicit opt-in: pass --dr-live (CLI: --live) AND set {LIVE_ENV}={LIVE_ENV_VALUE}, "
    "and list the account in [live].allowed_accounts and the regions in [live].allowed_regions of the workload config"
)
NO_ALLOWED_ACCOUNTS = (
    "[live].allowed_accounts of {source} is empty: no account is allowed for live runs; "
    "add the 12-digit id of the account meant for DR drills"
)
ACCOUNT_NOT_ALLOWED = (
    "account {account} is not in [live].allowed_accounts of {source}; refusing before any change. "
    "Add it there if this account is meant for DR drills"
)
REGION_NOT_ALLOWED = "region {region} is not in [live].allowed_regions of {source}; refusing before any change"
NO_TAG_SCOPE = (
    "[live].tag_scope of {source} is empty: a live fault could reach any resource; "
    "set tags the drill's resources carry, e.g. tag_scope = {{ DRHarness = \"allowed\" }}"
)
OUT_OF_SCOPE = (
    "refusing {fault} before any change: outside the tag scope {scope} ([live].tag_scope of {source}): {resources}; "
    "tag them if they are meant for drills"
)

# Resources whose own tags decide the scope (subnets are chosen by tag in the FIS template itself).
_TAGGABLE_KINDS = ("s3 bucket", "dynamodb table", "iam role", "iam user")


def check_live_allowed(settings: RunSettings, workload: Workload, account_id: str) -> None:
    """Raise SafetyError unless opt-in, account allowlist and region allowlist all hold."""
    if not settings.live_opted_in:
        raise SafetyError(OPT_IN_HELP)
    live = workload.spec.live
    if not live.allowed_accounts:
        raise SafetyError(NO_ALLOWED_ACCOUNTS.format(source=workload.source))
    if account_id not in live.allowed_accounts:
        raise SafetyError(ACCOUNT_NOT_ALLOWED.format(account=mask_account(account_id), source=workload.source))
    for region in dict.fromkeys((*workload.regions, *workload.table_replica_regions)):
        check_region_allowed(workload, region)


def check_region_allowed(workload: Workload, region: str) -> None:
    """Raise SafetyError unless `region` is on `[live].allowed_regions`."""
    if region not in workload.spec.live.allowed_regions:
        raise SafetyError(REGION_NOT_ALLOWED.format(region=region, source=workload.source))



# -- what a fault reaches, and whether it is in scope ------------------------------------------------


@dataclass(frozen=True)
class ScopedResource:
    """One resource a fault reaches. `arn` is set where its tags can be read; `selector` says how else it is chosen."""

    kind: str
    name: str
    region: str
    arn: str = ""
    selector: str = ""

    def describe(self) -> str:
        where = f" ({self.region})" if self.region else ""
        return f"{self.kind} {self.name}{where}" + (f" [{self.selector}]" if self.selector else "")


def fault_resources(
    name: str, params: FaultParams | Mapping[str, object], *, account_id: str, region: str,
    tag_scope: Mapping[str, str] | None = None, role_arns: Iterable[str] = (),
) -> tuple[ScopedResource, ...]:
    """The resources fault `name` reaches in `account_id`; `region` is where it runs unless it names one."""
    spec = params if isinstance(params, FaultParams) else parse_fault(name, dict(params))
    scope = ", ".join(f"{k}={v}" for k, v in (tag_scope or {}).items())
    found: list[ScopedResource] = []
    if isinstance(spec, RegionOutage):
        found.append(ScopedResource("region", spec.region, "", selector="every call of the workload's roles to it"))
        for arn in role_arns:
            found.append(ScopedResource("iam role", arn.rsplit("/", 1)[-1], "", arn=arn))
    elif isinstance(spec, AzOutage):
        found.append(ScopedResource("availability zone", spec.zone, spec.region,
                                    selector=f"subnets tagged {scope}" if scope else "every subnet and instance in it"))
    elif isinstance(spec, ServiceFault):
        what = f"{spec.service}:{spec.operation}" if spec.operation else f"{spec.service} (every operation)"
        found.append(ScopedResource("service calls", what, spec.region or region, selector=f"{spec.rate:.0%} of calls"))
        for arn in role_arns:
            found.append(ScopedResource("iam role", arn.rsplit("/", 1)[-1], "", arn=arn))
    elif isinstance(spec, (ReplicationPause, DataCorruption)):
        where = spec.region or region
        if spec.bucket:
            found.append(ScopedResource("s3 bucket", spec.bucket, "", arn=f"arn:aws:s3:::{spec.bucket}"))
        if spec.table:
            found.append(ScopedResource("dynamodb table", spec.table, where,
                                        arn=f"arn:aws:dynamodb:{where}:{account_id}:table/{spec.table}"))
    elif isinstance(spec, CredentialCompromise):
        # The harness makes this user itself, tagged with the tag scope: nothing that exists is reached.
        found.append(ScopedResource("harness-made iam user", "drharness-cc-<fault id>", ""))
    return tuple(found)


def fault_regions(name: str, params: FaultParams, region: str) -> tuple[str, ...]:
    """The regions a fault acts in: the one it names, else `region`."""
    named = getattr(params, "region", None)
    return (named or region,)


def resource_tags(target: Target, resource: ScopedResource, region: str) -> dict[str, str] | None:
    """Read a resource's tags (None: it does not exist or cannot be read), through the service's own call."""
    try:
        if resource.kind == "s3 bucket":
            try:
                tag_set = target.client("s3", region).get_bucket_tagging(Bucket=resource.name)["TagSet"]
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "NoSuchTagSet":
                    return {}
                raise
            return {t["Key"]: t["Value"] for t in tag_set}
        if resource.kind == "dynamodb table":
            client = target.client("dynamodb", resource.region or region)
            tags: dict[str, str] = {}
            for page in client.get_paginator("list_tags_of_resource").paginate(ResourceArn=resource.arn):
                tags.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
            return tags
        if resource.kind in ("iam role", "iam user"):
            iam = target.client("iam", region)
            if resource.kind == "iam role":
                listed = iam.list_role_tags(RoleName=resource.name)["Tags"]
            else:
                listed = iam.list_user_tags(UserName=resource.name)["Tags"]
            return {t["Key"]: t["Value"] for t in listed}
    except (ClientError, BotoCoreError):
        return None
    return None


def tags_by_arn(target: Target, arns: Iterable[str], region: str) -> dict[str, dict[str, str]] | None:
    """Tags of resources in `region` by ARN through the Resource Groups Tagging API (None if it cannot answer)."""
    wanted = list(dict.fromkeys(arns))
    found: dict[str, dict[str, str]] = {}
    try:
        client = target.client("resourcegroupstaggingapi", region)
        for start in range(0, len(wanted), 100):  # the API takes at most 100 ARNs, without other filters
            for item in client.get_resources(ResourceARNList=wanted[start:start + 100]).get("ResourceTagMappingList", []):
                found[item["ResourceARN"]] = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
    except (ClientError, BotoCoreError):
        return None
    return found


def out_of_scope(
    target: Target, resources: Iterable[ScopedResource], tag_scope: Mapping[str, str], region: str
) -> list[str]:
    """Descriptions of the taggable resources that lack any tag of `tag_scope` (missing ones included)."""
    taggable = [r for r in resources if r.arn and r.kind in _TAGGABLE_KINDS]
    by_region: dict[str, list[ScopedResource]] = {}
    for resource in taggable:
        # Regional resources are read in bulk; buckets and IAM are global and read one by one.
        if resource.kind == "dynamodb table":
            by_region.setdefault(resource.region or region, []).append(resource)
    known: dict[str, dict[str, str]] = {}
    for where, group in by_region.items():
        known.update(tags_by_arn(target, [r.arn for r in group], where) or {})
    refused = []
    for resource in taggable:
        tags = known.get(resource.arn)
        if tags is None:
            tags = resource_tags(target, resource, region)
        if tags is None or any(tags.get(k) != v for k, v in tag_scope.items()):
            refused.append(resource.describe() + (" (not found)" if tags is None else ""))
    return refused


def check_fault_scope(
    target: Target, workload: Workload, name: str, params: FaultParams, *, region: str, role_arns: Iterable[str] = ()
) -> tuple[ScopedResource, ...]:
    """Refuse (SafetyError) a live fault outside the allowed regions or the tag scope; return what it reaches."""
    live = workload.spec.live
    if not live.tag_scope:
        raise SafetyError(NO_TAG_SCOPE.format(source=workload.source))
    for where in fault_regions(name, params, region):
        check_region_allowed(workload, where)
    resources = fault_resources(name, params, account_id=target.account_id, region=region,
                                tag_scope=live.tag_scope, role_arns=role_arns)
    for resource in resources:
        if resource.kind in ("availability zone", "service calls") and resource.region:
            check_region_allowed(workload, resource.region)
    refused = out_of_scope(target, resources, live.tag_scope, region)
    if refused:
        scope = ", ".join(f"{k}={v}" for k, v in live.tag_scope.items())
        raise SafetyError(OUT_OF_SCOPE.format(fault=f"{name} ({params.summary()})", resources="; ".join(refused),
                                              scope=scope, source=workload.source))
    return resources
