"""The live fault backend behind the safety gates: every fault is checked before it is journalled or injected."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from drharness.config import Workload
from drharness.errors import SafetyError
from drharness.faults.live import LiveFaultBackend, LiveOptions
from drharness.faults.spec import FaultParams
from drharness.redaction import mask_account
from drharness.safety.guard import alarm_arns
from drharness.safety.live_target import STS_FAILED, open_live_target
from drharness.safety.scope import ACCOUNT_NOT_ALLOWED, ScopedResource, check_fault_scope, check_region_allowed
from drharness.settings import RunSettings
from drharness.target import Target

ACCOUNT_CHANGED = (
    "the credentials now belong to account {now}, not {opened} that this run was opened for; "
    "refusing {fault} before any change. Start the run again with one set of credentials"
)


class ScopedFaultBackend:
    """A live fault backend behind the safety gates: each fault is checked before it is journalled or injected.

    `faults.inject` calls `prepare` before it writes anything, so a refusal here changes nothing.
    """

    def __init__(self, inner: Any, target: Target, workload: Workload, *, region: str, role_arns: Iterable[str] = ()) -> None:
        self.inner = inner
        self.target = target
        self.workload = workload
        self.region = region
        self.role_arns = tuple(role_arns)
        self.ref = inner.ref

    def __repr__(self) -> str:
        return f"ScopedFaultBackend({self.inner!r})"

    def check(self, name: str, params: FaultParams) -> tuple[ScopedResource, ...]:
        """Re-confirm the account, then the regions and the tag scope of one fault."""
        try:
            now = str(self.target.client("sts", self.region).get_caller_identity()["Account"])
        except (BotoCoreError, ClientError, KeyError) as exc:
            raise SafetyError(STS_FAILED.format(where=self.region, error=exc)) from exc
        if now != self.target.account_id:
            raise SafetyError(ACCOUNT_CHANGED.format(now=mask_account(now), opened=mask_account(self.target.account_id),
                                                     fault=name))
        if now not in self.workload.spec.live.allowed_accounts:
            raise SafetyError(ACCOUNT_NOT_ALLOWED.format(account=mask_account(now), source=self.workload.source))
        return check_fault_scope(self.target, self.workload, name, params, region=self.region, role_arns=self.role_arns)

    def prepare(self, fault_id: str, name: str, params: FaultParams) -> dict[str, str]:
        self.check(name, params)
        return dict(self.inner.prepare(fault_id, name, params))

    def inject(self, fault_id: str, name: str, params: FaultParams) -> Any:
        return self.inner.inject(fault_id, name, params)

    def revert(self, fault_id: str, refs: Mapping[str, str]) -> None:
        self.inner.revert(fault_id, refs)  # undoing is never refused

    def active(self) -> list[Any]:
        return list(self.inner.active())

    def active_ids(self) -> list[str]:
        return list(self.inner.active_ids())


def scoped_live_options(workload: Workload, account_id: str, options: LiveOptions) -> LiveOptions:
    """`options` (a `faults.LiveOptions`) as every live fault must run: the config's tag scope, stop alarms as ARNs.

    The tag scope is always `[live].tag_scope` (one source); unless `options` names stop alarm ARNs,
    `[live].stop_alarms` become each experiment's stopConditions (FIS takes ARNs, the config names).
    """
    return replace(options, tag_scope=dict(workload.spec.live.tag_scope),
                   stop_alarm_arns=options.stop_alarm_arns or alarm_arns(workload, account_id))


def live_fault_backend(target: Target, workload: Workload, options: LiveOptions) -> ScopedFaultBackend:
    """The FIS backend of an opened live target, behind the per-fault account and tag-scope check.

    Every live fault backend is made here, so none skips the scope check or sends alarm names to FIS.
    """
    check_region_allowed(workload, options.region)
    backend = LiveFaultBackend(target, scoped_live_options(workload, target.account_id, options))
    return ScopedFaultBackend(backend, target, workload, region=options.region, role_arns=options.api_fault_role_arns)


def open_live_backend(
    settings: RunSettings, workload: Workload, options: LiveOptions, session: boto3.session.Session | None = None,
    *, endpoint_url: str | None = None,
) -> ScopedFaultBackend:
    """Open the target through every gate and return its FIS backend behind the per-fault scope check.

    `options` is a `faults.LiveOptions`, scoped as `live_fault_backend` says.
    """
    target = open_live_target(settings, workload, session, endpoint_url=endpoint_url)
    return live_fault_backend(target, workload, options)
