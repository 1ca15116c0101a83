"""A pilot-light DR stack in the secondary region (the one a `Workload` view is focused on): read it, and
switch its DR resources on; the failover does so for each of the workload's DR stacks (`each_dr_stack`).

As the guide's `initiate_failover`: an existing stack is updated with its previous template and
`EnableDRResources=true` (every other parameter keeps its previous value); a missing stack is
created from the template in the templates bucket, with the parameter file saved beside it. Unlike
the guide, a stack whose DR resources are already on is left alone (no update call), and the change
is waited for, with a deadline, until CloudFormation reports it complete.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from botocore.exceptions import ClientError

from drharness.config import Workload
from drharness.deploy import names
from drharness.deploy.cloudformation import stack_tags
from drharness.deploy.common import error_code, tag_list
from drharness.errors import ProcedureError
from drharness.target import Target
from drharness.waiting import wait_until

ENABLED_VALUE = "true"
DISABLED_VALUE = "false"
COMPLETE = ("CREATE_COMPLETE", "UPDATE_COMPLETE")
# States a stack can be updated from; ROLLBACK_COMPLETE (a failed create) can only be deleted.
UPDATABLE = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE")
DEFAULT_STACK_TIMEOUT_S = 1800.0
NO_UPDATES = "No updates are to be performed"

TEMPLATE_MISSING = (
    "DR stack template not found in templates bucket: s3://{bucket}/{key} ({region}) does not exist; "
    "the DR stack {stack} is absent too, so there is nothing to create it from: deploy the workload "
    "(drharness deploy) or upload the template there"
)
PARAMETERS_MISSING = (
    "DR stack parameter file not found in templates bucket: s3://{bucket}/{key} ({region}) does not exist; "
    "the DR stack {stack} cannot be created without it: deploy the workload (drharness deploy) or upload it"
)
STACK_UNUSABLE = (
    "DR stack {stack} in {region} is {status} and cannot be updated: delete it (it is then created again "
    "from s3://{bucket}/{key}) and run again"
)
STACK_FAILED = (
    "DR stack {stack} in {region} ended {status}: {reason}; look at the stack events, fix the cause and run again"
)
STACK_TIMEOUT = "{reason}; the DR stack is still changing: look at its events, then run again (a finished change is not repeated)"
STACK_CALL_FAILED = "cloudformation.{call} on DR stack {stack} in {region} failed: {code}: {message}"

Action = Literal["unchanged", "updated", "created"]


@dataclass(frozen=True)
class DrStackView:
    """The DR stack as CloudFormation describes it now (`exists=False`: there is none)."""

    name: str
    region: str
    exists: bool
    status: str | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)
    outputs: Mapping[str, str] = field(default_factory=dict)
    capabilities: tuple[str, ...] = ()
    enable_parameter: str = "EnableDRResources"

    @property
    def enabled(self) -> bool:
        return self.exists and self.parameters.get(self.enable_parameter) == ENABLED_VALUE


@dataclass(frozen=True)
class StackActivation:
    """What switching the DR resources on did, and how long CloudFormation took."""

    stack: str
    region: str
    action: Action
    status: str
    duration_seconds: float
    detail: str


def template_location(workload: Workload) -> tuple[str, str]:
    """(bucket, key) of the DR template in the templates bucket."""
    return workload.templates_bucket, workload.spec.dr_stack.template_key


def read_dr_stack(target: Target, workload: Workload) -> DrStackView:
    """Describe the DR stack in the secondary region."""
    region, name = workload.secondary_region, workload.dr_stack
    enable = workload.spec.dr_stack.enable_parameter
    try:
        stacks = target.client("cloudformation", region).describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if error_code(exc) == "ValidationError":  # CloudFormation's answer for "no such stack"
            return DrStackView(name, region, False, enable_parameter=enable)
        raise ProcedureError(_call_failed("describe_stacks", name, region, exc)) from exc
    if not stacks:
        return DrStackView(name, region, False, enable_parameter=enable)
    stack = stacks[0]
    return DrStackView(
        name=name,
        region=region,
        exists=True,
        status=str(stack.get("StackStatus")),
        parameters={p["ParameterKey"]: str(p.get("ParameterValue", "")) for p in stack.get("Parameters", [])},
        outputs={o["OutputKey"]: str(o.get("OutputValue", "")) for o in stack.get("Outputs", [])},
        capabilities=tuple(stack.get("Capabilities", ())),
        enable_parameter=enable,
    )


def _object_exists(target: Target, region: str, bucket: str, key: str) -> bool:
    try:
        target.client("s3", region).head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if error_code(exc) in ("404", "NoSuchKey", "NoSuchBucket", "NotFound"):
            return False
        raise
    return True


def activation_problems(target: Target, workload: Workload, view: DrStackView | None = None) -> list[str]:
    """Why the DR resources could not be switched on (empty: they can)."""
    view = view or read_dr_stack(target, workload)
    bucket, key = template_location(workload)
    region = workload.secondary_region
    if view.exists:
        if view.enabled or view.status in UPDATABLE or (view.status or "").endswith("_IN_PROGRESS"):
            return []
        return [STACK_UNUSABLE.format(stack=view.name, region=region, status=view.status, bucket=bucket, key=key)]
    problems = []
    if not _object_exists(target, region, bucket, key):
        problems.append(TEMPLATE_MISSING.format(bucket=bucket, key=key, region=region, stack=view.name))
    parameters = names.dr_parameters_key(workload)
    if not _object_exists(target, region, bucket, parameters):
        problems.append(PARAMETERS_MISSING.format(bucket=bucket, key=parameters, region=region, stack=view.name))
    return problems


def describe_activation(workload: Workload, view: DrStackView) -> str:
    """One line: what activating the DR stack would do now."""
    enable = view.enable_parameter
    if view.enabled:
        return f"DR stack {view.name} ({view.region}) already has {enable}={ENABLED_VALUE}: nothing to change"
    if view.exists:
        others = len([k for k in view.parameters if k != enable])
        return (
            f"update DR stack {view.name} ({view.region}, {view.status}): {enable} "
            f"{view.parameters.get(enable, '(unset)')} -> {ENABLED_VALUE}, previous template, "
            f"{others} other parameter(s) unchanged; wait for UPDATE_COMPLETE"
        )
    bucket, key = template_location(workload)
    return (
        f"create DR stack {view.name} ({view.region}) from s3://{bucket}/{key} with the parameters of "
        f"s3://{bucket}/{names.dr_parameters_key(workload)} and {enable}={ENABLED_VALUE}; wait for CREATE_COMPLETE"
    )


def activate_dr_stack(
    target: Target, workload: Workload, *, timeout_s: float = DEFAULT_STACK_TIMEOUT_S, interval_s: float | None = None
) -> StackActivation:
    """Switch the DR stack's DR resources on (update, or create from the templates bucket) and wait for it."""
    start = time.monotonic()
    region, name = workload.secondary_region, workload.dr_stack
    interval = interval_s if interval_s is not None else target.poll_interval_s
    view = _settled(target, workload, timeout_s, interval)
    if view.enabled:
        return StackActivation(name, region, "unchanged", str(view.status), time.monotonic() - start,
                               describe_activation(workload, view))
    problems = activation_problems(target, workload, view)
    if problems:
        raise ProcedureError("; ".join(problems))
    cfn = target.client("cloudformation", region)
    enable = view.enable_parameter
    if view.exists:
        _switch(target, workload, view, ENABLED_VALUE)
        action: Action = "updated"
    else:
        bucket, key = template_location(workload)
        try:
            cfn.create_stack(
                StackName=name,
                TemplateURL=names.template_url(workload, region, key),
                Parameters=_saved_parameters(target, workload, enable),
                Capabilities=["CAPABILITY_IAM"],
                Tags=tag_list(stack_tags(workload)),
            )
        except ClientError as exc:
            raise ProcedureError(_call_failed("create_stack", name, region, exc)) from exc
        action = "created"
    final = _wait(target, workload, timeout_s, interval, accept=COMPLETE)
    if not final.enabled:
        raise ProcedureError(STACK_FAILED.format(stack=name, region=region, status=final.status,
                                                 reason=f"{enable} reads {final.parameters.get(enable)!r} after the change"))
    return StackActivation(name, region, action, str(final.status), time.monotonic() - start,
                           f"DR stack {name} ({region}) {action}: {enable}={ENABLED_VALUE}, {final.status}")


def deactivate_dr_stack(
    target: Target, workload: Workload, *, timeout_s: float = DEFAULT_STACK_TIMEOUT_S, interval_s: float | None = None
) -> StackActivation:
    """Put the DR stack back to pilot light: its previous template with the DR resources off, waited for.

    The failback of the DR stack after a drill (CloudFormation deletes the resources whose condition
    turns false). A stack already off, or absent, is left alone (action "unchanged").
    """
    start = time.monotonic()
    region, name = workload.secondary_region, workload.dr_stack
    interval = interval_s if interval_s is not None else target.poll_interval_s
    view = _settled(target, workload, timeout_s, interval)
    enable = view.enable_parameter
    if not view.enabled:
        state = f"{enable}={view.parameters.get(enable)}, {view.status}" if view.exists else "absent"
        return StackActivation(name, region, "unchanged", str(view.status), time.monotonic() - start,
                               f"DR stack {name} ({region}) already pilot light: {state}")
    _switch(target, workload, view, DISABLED_VALUE)
    final = _wait(target, workload, timeout_s, interval, accept=COMPLETE)
    if final.enabled:
        raise ProcedureError(STACK_FAILED.format(stack=name, region=region, status=final.status,
                                                 reason=f"{enable} still reads {ENABLED_VALUE!r} after the change"))
    return StackActivation(name, region, "updated", str(final.status), time.monotonic() - start,
                           f"DR stack {name} ({region}) back to pilot light: {enable}={DISABLED_VALUE}, {final.status}")


def _settled(target: Target, workload: Workload, timeout_s: float, interval_s: float) -> DrStackView:
    """The DR stack now, once a change in progress has finished."""
    view = read_dr_stack(target, workload)
    if view.exists and (view.status or "").endswith("_IN_PROGRESS"):
        view = _wait(target, workload, timeout_s, interval_s, accept=UPDATABLE)
    return view


def _switch(target: Target, workload: Workload, view: DrStackView, value: str) -> None:
    """Update the stack with its previous template and parameters, the DR switch set to `value`."""
    region, name, enable = workload.secondary_region, workload.dr_stack, view.enable_parameter
    parameters = [{"ParameterKey": k, "UsePreviousValue": True} for k in view.parameters if k != enable]
    parameters.append({"ParameterKey": enable, "ParameterValue": value})
    try:
        target.client("cloudformation", region).update_stack(
            StackName=name, UsePreviousTemplate=True, Parameters=parameters,
            Capabilities=list(view.capabilities) or ["CAPABILITY_IAM"])
    except ClientError as exc:
        if NO_UPDATES not in str(exc):
            raise ProcedureError(_call_failed("update_stack", name, region, exc)) from exc


def _saved_parameters(target: Target, workload: Workload, enable: str) -> list[dict[str, str]]:
    bucket, region, key = workload.templates_bucket, workload.secondary_region, names.dr_parameters_key(workload)
    try:
        body = target.client("s3", region).get_object(Bucket=bucket, Key=key)["Body"].read()
        saved = json.loads(body)
        values = {str(p["ParameterKey"]): str(p["ParameterValue"]) for p in saved}
    except ClientError as exc:
        raise ProcedureError(PARAMETERS_MISSING.format(bucket=bucket, key=key, region=region,
                                                       stack=workload.dr_stack)) from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise ProcedureError(
            f"s3://{bucket}/{key} is not a CloudFormation parameter list ({exc}); "
            "deploy the workload again to rewrite it"
        ) from exc
    values[enable] = ENABLED_VALUE
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]


def _wait(target: Target, workload: Workload, timeout_s: float, interval_s: float, *, accept: tuple[str, ...]) -> DrStackView:
    name, region = workload.dr_stack, workload.secondary_region

    def settled() -> DrStackView | None:
        view = read_dr_stack(target, workload)
        return view if view.exists and not (view.status or "").endswith("_IN_PROGRESS") else None

    outcome = wait_until(settled, timeout_s, interval_s, what=f"DR stack {name} in {region} to finish changing")
    if not outcome.ok or outcome.value is None:
        raise ProcedureError(STACK_TIMEOUT.format(reason=outcome.reason))
    view = outcome.value
    if view.status not in accept:
        reason = _status_reason(target, workload) or "no reason given"
        raise ProcedureError(STACK_FAILED.format(stack=name, region=region, status=view.status, reason=reason))
    return view


def _status_reason(target: Target, workload: Workload) -> str:
    try:
        stacks = target.client("cloudformation", workload.secondary_region).describe_stacks(StackName=workload.dr_stack)["Stacks"]
    except ClientError:
        return ""
    return str(stacks[0].get("StackStatusReason", "")) if stacks else ""


def _call_failed(call: str, stack: str, region: str, exc: ClientError) -> str:
    error: Mapping[str, Any] = exc.response.get("Error", {})
    return STACK_CALL_FAILED.format(call=call, stack=stack, region=region, code=error.get("Code", "?"),
                                    message=error.get("Message", exc))
