"""Faults as AWS Fault Injection Service experiments.

Each fault becomes one experiment template and one experiment, both tagged with the fault id and
created with the fault id as client token, so a retried injection starts nothing twice. Revert stops
the experiment and deletes its template. Every action carries a duration (`LiveOptions.duration`):
if the harness dies and nobody reverts, FIS ends the fault by itself.

| fault             | FIS action                                                                     |
|-------------------|--------------------------------------------------------------------------------|
| replication-pause | aws:s3:bucket-pause-replication / aws:dynamodb:global-table-pause-replication  |
| service-fault     | aws:fis:inject-api-internal-error / -throttle-error / -unavailable-error       |
| az-outage         | aws:network:disrupt-connectivity on the zone's subnets in the tag scope        |
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from drharness.errors import DrHarnessError, FaultError
from drharness.faults.base import InjectedFault
from drharness.faults.live.options import FAULT_ID_TAG, FAULT_NAME_TAG, NO_LIVE_BACKEND, PARAMS_TAG, LiveOptions, fault_tags
from drharness.faults.spec import AzOutage, FaultParams, ReplicationPause, ServiceFault, parse_fault
from drharness.target import Target
from drharness.waiting import wait_until

NO_FIS_ROLE = (
    "{name}: FIS needs a role to act as; set [live].fis_role_arn in the workload config "
    "(a role FIS may assume: see live/fis-role-trust.json)"
)
# Faults no FIS experiment makes; `LiveFaultBackend` sends them to their own mechanism.
_NO_FIS_WHY = {
    "region-outage": "FIS cannot make a whole region unreachable for every caller; faults.live.iam_deny makes it",
    "data-corruption": "no FIS action overwrites data; faults.live.data corrupts the harness's own seed data",
    "credential-compromise": "no FIS action mints a key; faults.live.credentials makes the IAM user",
}
_API_FAULT_ACTIONS = {
    "error": "aws:fis:inject-api-internal-error",
    "throttle": "aws:fis:inject-api-throttle-error",
    "unavailable": "aws:fis:inject-api-unavailable-error",
}
FIS_API_FAULT_SERVICES = ("ec2", "kinesis")  # the only namespaces the inject-api actions accept
# The states an FIS experiment ends in: nothing is impaired any more.
FIS_FINISHED = ("completed", "stopped", "failed", "cancelled")

# The keyword arguments of fis.create_experiment_template: AWS's own JSON, kept as such.
FisTemplate = dict[str, Any]
_Parts = tuple[dict[str, Any], dict[str, Any]]  # (targets, actions)


def experiment_region(params: FaultParams, options: LiveOptions) -> str:
    """The region the experiment of a fault runs in."""
    if isinstance(params, AzOutage):
        return params.region
    if isinstance(params, ServiceFault) and params.region:
        return params.region
    if isinstance(params, ReplicationPause) and params.table and params.region:
        return params.region
    return options.region


def _replication_parts(params: ReplicationPause, options: LiveOptions, account_id: str) -> _Parts:
    targets: dict[str, Any] = {}
    actions: dict[str, Any] = {}
    if params.bucket:
        if not params.region:
            raise FaultError(
                "live replication-pause of a bucket needs region=<destination region> (FIS pauses replication to it)"
            )
        targets["buckets"] = {"resourceType": "aws:s3:bucket", "resourceArns": [f"arn:aws:s3:::{params.bucket}"],
                              "selectionMode": "ALL"}
        actions["pause-bucket-replication"] = {
            "actionId": "aws:s3:bucket-pause-replication",
            "parameters": {"duration": options.duration, "region": params.region},
            "targets": {"Buckets": "buckets"},
        }
    if params.table:
        region = experiment_region(params, options)
        targets["tables"] = {
            "resourceType": "aws:dynamodb:global-table",
            "resourceArns": [f"arn:aws:dynamodb:{region}:{account_id}:table/{params.table}"],
            "selectionMode": "ALL",
        }
        actions["pause-table-replication"] = {
            "actionId": "aws:dynamodb:global-table-pause-replication",
            "parameters": {"duration": options.duration},
            "targets": {"Tables": "tables"},
        }
    return targets, actions


def _az_parts(params: AzOutage, options: LiveOptions) -> _Parts:
    if not options.tag_scope:
        raise FaultError("a live az-outage needs a tag scope: it cuts off only the subnets carrying those tags")
    targets = {"subnets": {"resourceType": "aws:ec2:subnet", "resourceTags": dict(options.tag_scope),
                           "parameters": {"availabilityZoneIdentifier": params.zone}, "selectionMode": "ALL"}}
    actions = {"disrupt-zone": {"actionId": "aws:network:disrupt-connectivity",
                                "parameters": {"duration": options.duration, "scope": "all"},
                                "targets": {"Subnets": "subnets"}}}
    return targets, actions


def _service_parts(params: ServiceFault, options: LiveOptions) -> _Parts:
    actions = {"inject-api-fault": _api_fault_action(params, options)}
    targets = {"roles": {"resourceType": "aws:iam:role", "resourceArns": list(options.api_fault_role_arns),
                         "selectionMode": "ALL"}}
    return targets, actions


def experiment_template(
    fault_id: str, name: str, params: FaultParams, options: LiveOptions, account_id: str
) -> FisTemplate:
    """Build the FIS experiment template of a fault (pure; raises FaultError when FIS cannot do it)."""
    if name in _NO_FIS_WHY:
        raise FaultError(NO_LIVE_BACKEND.format(name=name, why=_NO_FIS_WHY[name]))
    if isinstance(params, ReplicationPause):
        targets, actions = _replication_parts(params, options, account_id)
    elif isinstance(params, ServiceFault):
        targets, actions = _service_parts(params, options)
    elif isinstance(params, AzOutage):
        targets, actions = _az_parts(params, options)
    else:
        raise FaultError(NO_LIVE_BACKEND.format(name=name, why="no FIS action matches it"))
    stop_conditions = [{"source": "aws:cloudwatch:alarm", "value": arn} for arn in options.stop_alarm_arns]
    return {
        "clientToken": fault_id,
        "description": f"drharness {name} {fault_id}: {params.summary()}"[:512],
        "roleArn": options.role_arn,
        "stopConditions": stop_conditions or [{"source": "none"}],
        "targets": targets,
        "actions": actions,
        "tags": fault_tags(fault_id, name, params),
        # An empty target set fails the experiment rather than passing with nothing impaired.
        "experimentOptions": {"accountTargeting": "single-account", "emptyTargetResolutionMode": "fail"},
    }


def _api_fault_action(params: ServiceFault, options: LiveOptions) -> dict[str, Any]:
    def refuse(why: str) -> FaultError:
        return FaultError(f"live service-fault: {why}")

    if params.mode not in _API_FAULT_ACTIONS:
        raise refuse(f"mode={params.mode} has no FIS action; use one of {', '.join(_API_FAULT_ACTIONS)}")
    if params.service not in FIS_API_FAULT_SERVICES:
        raise refuse(f"FIS injects API faults only into {' and '.join(FIS_API_FAULT_SERVICES)} (got service={params.service})")
    if not params.operation:
        raise refuse("name the operation=... to impair (FIS needs the API operations)")
    if params.error_code:
        raise refuse("error_code cannot be chosen live; FIS picks the code from the mode")
    if params.max_hits is not None:
        raise refuse("max_hits cannot be enforced live; leave it out")
    if params.rate <= 0:
        raise refuse("rate=0 would impair no call")
    if not options.api_fault_role_arns:
        raise refuse("no role to impair: set [live].api_fault_roles to the workload's roles")
    return {
        "actionId": _API_FAULT_ACTIONS[params.mode],
        "parameters": {
            "duration": options.duration,
            "service": params.service,
            "operations": params.operation,
            "percentage": str(max(1, round(params.rate * 100))),
        },
        "targets": {"Roles": "roles"},
    }


class FisFaults:
    """The FIS mechanism: one experiment per fault in the account of an `aws` Target."""

    mechanism = "fis"

    def __init__(self, target: Target, options: LiveOptions) -> None:
        self.target = target
        self.options = options

    def plan(self, fault_id: str, name: str, params: FaultParams) -> FisTemplate:
        """The experiment template a fault would create (the dry run)."""
        template = experiment_template(fault_id, name, params, self.options, self.target.account_id)
        if not self.options.role_arn:
            raise FaultError(NO_FIS_ROLE.format(name=name))
        return template

    def prepare(self, fault_id: str, name: str, params: FaultParams) -> dict[str, str]:
        self.plan(fault_id, name, params)
        return {"mechanism": self.mechanism, "region": experiment_region(params, self.options)}

    def inject(self, fault_id: str, name: str, params: FaultParams) -> InjectedFault:
        template = self.plan(fault_id, name, params)
        region = experiment_region(params, self.options)
        fis = self.target.client("fis", region)
        try:
            template_id = fis.create_experiment_template(**template)["experimentTemplate"]["id"]
            experiment = fis.start_experiment(
                clientToken=fault_id, experimentTemplateId=template_id, tags=template["tags"]
            )["experiment"]
        except (ClientError, BotoCoreError) as exc:
            raise FaultError(f"FIS refused {name} {fault_id} in {region}: {exc}") from exc
        refs = {"mechanism": self.mechanism, "region": region, "template_id": template_id,
                "experiment_id": experiment["id"]}
        return InjectedFault(id=fault_id, name=name, params=params, injected_at=datetime.now(timezone.utc),
                             target="aws", refs=refs)

    def revert(self, fault_id: str, refs: Mapping[str, str]) -> None:
        region = refs.get("region") or self.options.region
        fis = self.target.client("fis", region)
        try:
            experiment_id = refs.get("experiment_id") or self._find(fis, "list_experiments", "experiments", fault_id)
            template_id = refs.get("template_id") or self._find(
                fis, "list_experiment_templates", "experimentTemplates", fault_id
            )
            if experiment_id:
                self._stop(fis, experiment_id, fault_id)
            if template_id:
                try:
                    fis.delete_experiment_template(id=template_id)
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                        raise
        except (ClientError, BotoCoreError) as exc:
            raise FaultError(f"cannot revert {fault_id} in {region}: {exc}; stop it in the FIS console") from exc

    def _stop(self, fis: Any, experiment_id: str, fault_id: str) -> None:
        def status() -> str:
            try:
                return str(fis.get_experiment(id=experiment_id)["experiment"]["state"]["status"])
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                    return "stopped"
                raise

        if status() not in FIS_FINISHED:
            fis.stop_experiment(id=experiment_id)
        outcome = wait_until(
            lambda: status() in FIS_FINISHED, self.options.stop_timeout_s, 2.0, what=f"experiment {experiment_id} to stop"
        )
        if not outcome.ok:
            raise FaultError(f"fault {fault_id}: {outcome.reason}; stop experiment {experiment_id} in the FIS console")

    @staticmethod
    def _find(fis: Any, operation: str, key: str, fault_id: str) -> str | None:
        for page in fis.get_paginator(operation).paginate():
            for item in page.get(key, []):
                if (item.get("tags") or {}).get(FAULT_ID_TAG) == fault_id:
                    return str(item["id"])
        return None

    def _running(self) -> list[dict[str, Any]]:
        fis = self.target.client("fis", self.options.region)
        running = []
        try:
            for page in fis.get_paginator("list_experiments").paginate():
                for item in page.get("experiments", []):
                    if FAULT_ID_TAG in (item.get("tags") or {}) and item["state"]["status"] not in FIS_FINISHED:
                        running.append(item)
        except (ClientError, BotoCoreError) as exc:
            raise FaultError(f"cannot list FIS experiments in {self.options.region}: {exc}") from exc
        return running

    def active_ids(self) -> list[str]:
        """Ids of the drharness experiments still running in the options' region."""
        return [str(item["tags"][FAULT_ID_TAG]) for item in self._running()]

    def active(self) -> list[InjectedFault]:
        found = []
        for item in self._running():
            tags = item["tags"]
            name = tags.get(FAULT_NAME_TAG, "")
            try:
                params = parse_fault(name, json.loads(tags.get(PARAMS_TAG, "{}")))
            except (DrHarnessError, ValueError):
                continue  # not readable as a drharness fault; active_ids still lists it
            created = item.get("creationTime")
            refs = {"mechanism": self.mechanism, "region": self.options.region, "experiment_id": str(item["id"]),
                    "template_id": str(item.get("experimentTemplateId", ""))}
            found.append(InjectedFault(
                id=tags[FAULT_ID_TAG], name=name, params=params, target="aws", refs=refs,
                injected_at=created if isinstance(created, datetime) else datetime.now(timezone.utc),
            ))
        return found
