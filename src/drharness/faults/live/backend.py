"""The live fault backend: each fault through the most faithful mechanism the account allows.

| fault                                       | mechanism                                        |
|---------------------------------------------|--------------------------------------------------|
| az-outage, replication-pause                | FIS experiment (`faults.live.fis`)               |
| service-fault on ec2, kinesis               | FIS aws:fis:inject-api-* on the workload's roles |
| service-fault on dynamodb, s3               | client-side, in the Target's own clients         |
| credential-compromise                       | a harness-made IAM user and key (`credentials`)  |
| data-corruption                             | the harness's own seed data only (`data`)        |
| region-outage                               | explicit deny on the workload's roles (`iam_deny`) |

The journal's refs name the mechanism ("mechanism"), so a revert after a crash goes to the right one.
"""

from __future__ import annotations

from collections.abc import Mapping
import json
from typing import Any, Protocol

from drharness.errors import FaultError, TargetError
from drharness.faults.base import InjectedFault
from drharness.faults.journal import BackendRef
from drharness.faults.live.clientside import CLIENT_SIDE_SERVICES, ClientSideFaults
from drharness.faults.live.credentials import CredentialFaults, read_seed_policy, user_name
from drharness.faults.live.data import DataFaults
from drharness.faults.live.iam_deny import IamDenyFaults, deny_until, region_deny_policy, role_name
from drharness.faults.live.fis import FisFaults, FisTemplate
from drharness.faults.live.options import LIVE_NEEDS_AWS, LiveOptions
from drharness.faults.spec import CredentialCompromise, DataCorruption, FaultParams, RegionOutage, ServiceFault
from drharness.target import Target


class Mechanism(Protocol):
    mechanism: str

    def prepare(self, fault_id: str, name: str, params: FaultParams) -> dict[str, str]: ...
    def inject(self, fault_id: str, name: str, params: FaultParams) -> InjectedFault: ...
    def revert(self, fault_id: str, refs: Mapping[str, str]) -> None: ...
    def active(self) -> list[InjectedFault]: ...
    def active_ids(self) -> list[str]: ...


class LiveFaultBackend:
    """Faults in the account of an `aws` Target, each sent to its mechanism."""

    def __init__(self, target: Target, options: LiveOptions) -> None:
        if getattr(target, "name", None) != "aws":
            raise TargetError(LIVE_NEEDS_AWS.format(got=getattr(target, "name", type(target).__name__)))
        self.target = target
        self.options = options
        self.ref = BackendRef("aws", account_id=target.account_id, region=options.region)
        self.fis = FisFaults(target, options)
        self.client_side = ClientSideFaults(target, options)
        self.credentials = CredentialFaults(target, options)
        self.data = DataFaults(target, options)
        self.iam_deny = IamDenyFaults(target, options)
        self._mechanisms: tuple[Mechanism, ...] = (self.fis, self.client_side, self.credentials, self.data,
                                                   self.iam_deny)

    def __repr__(self) -> str:
        return f"LiveFaultBackend(account={self.target.account_id!r}, region={self.options.region!r})"

    def mechanism_for(self, name: str, params: FaultParams) -> Mechanism:
        """The mechanism that makes fault `name` in the account."""
        if isinstance(params, ServiceFault) and params.service in CLIENT_SIDE_SERVICES:
            return self.client_side
        if isinstance(params, CredentialCompromise):
            return self.credentials
        if isinstance(params, DataCorruption):
            return self.data
        if isinstance(params, RegionOutage):
            return self.iam_deny
        return self.fis

    def plan(self, fault_id: str, name: str, params: FaultParams) -> FisTemplate | dict[str, Any]:
        """What a fault would create or change (the dry run): an FIS template, or the client-side hook."""
        mechanism = self.mechanism_for(name, params)
        if mechanism is self.fis:
            return self.fis.plan(fault_id, name, params)
        refs = mechanism.prepare(fault_id, name, params)
        if mechanism is self.iam_deny:
            return {**refs, "inline_policy": region_deny_policy(refs["region"], deny_until(self.options))}
        if mechanism is self.data:
            return {"mechanism": refs["mechanism"], "region": refs["region"],
                    "overwrites": [o.get("key") or o for o in _victims(refs)], "originals": "in the revert record"}
        if mechanism is self.credentials:
            return {**refs, "inline_policy": read_seed_policy(self.options), "access_key": "one, handed to the drill"}
        assert isinstance(params, ServiceFault)
        return {**refs, "hook": ClientSideFaults.event(params), "affects": "the harness's own clients of the run"}

    def prepare(self, fault_id: str, name: str, params: FaultParams) -> dict[str, str]:
        return self.mechanism_for(name, params).prepare(fault_id, name, params)

    def inject(self, fault_id: str, name: str, params: FaultParams) -> InjectedFault:
        return self.mechanism_for(name, params).inject(fault_id, name, params)

    def revert(self, fault_id: str, refs: Mapping[str, str]) -> None:
        wanted = refs.get("mechanism")
        for mechanism in self._mechanisms:
            if wanted in (None, "", mechanism.mechanism):
                mechanism.revert(fault_id, refs)

    def active(self) -> list[InjectedFault]:
        return [fault for mechanism in self._mechanisms for fault in mechanism.active()]

    def active_ids(self) -> list[str]:
        return [fault_id for mechanism in self._mechanisms for fault_id in mechanism.active_ids()]


def describe_live_change(name: str, params: FaultParams, options: LiveOptions, account_id: str) -> str:
    """What fault `name` would change in the account, exactly, before anything changes (pure).

    An FIS fault: the experiment's actions and the whole template it would create. A client-side
    fault: the hook and the answer it gives; nothing in the account changes. Raises FaultError
    where no live mechanism can make the fault.
    """
    from drharness.faults.live.clientside import answer_for, refuse_reason
    from drharness.faults.live.fis import experiment_template

    if isinstance(params, CredentialCompromise):
        return (f"IAM: create user {user_name('<fault id>')} tagged with the fault id and the tag scope, "
                f"inline policy {json.dumps(read_seed_policy(options), sort_keys=True)}, one access key; "
                f"revert deletes the key, the policies and the user")
    if isinstance(params, RegionOutage):
        roles = ", ".join(role_name(a) for a in options.api_fault_role_arns) or "none: set [live].api_fault_roles"
        policy = json.dumps(region_deny_policy(params.region, deny_until(options)), sort_keys=True)
        return (f"IAM: inline policy drharness-region-outage-<fault id> on roles {roles}: {policy} "
                f"(aws:CurrentTime: now + {options.duration}); revert deletes it")
    if isinstance(params, DataCorruption):
        where = f"objects of s3://{params.bucket}/{params.prefix}" if params.bucket else f"items of {params.table}"
        return (f"harness data: overwrite up to {params.count} {where} that the harness wrote (seed folder "
                f"{options.seed_prefix}, or items pointing into it), originals read and journalled first; "
                f"revert puts them back; anything outside the seed folder is refused")
    if isinstance(params, ServiceFault) and params.service in CLIENT_SIDE_SERVICES:
        why = refuse_reason(params)
        if why:
            raise FaultError(f"live service-fault: {why}")
        code, status = answer_for(params)
        where = params.region or options.region
        return (f"client-side fault: a botocore {ClientSideFaults.event(params)} hook on the harness's own "
                f"{params.service} clients in {where} answers {params.rate:.0%} of the calls with {code} "
                f"(HTTP {status}); nothing in the account changes")
    template = experiment_template("plan", name, params, options, account_id)
    actions = ", ".join(a["actionId"] for a in template["actions"].values())
    return f"FIS experiment: {actions}; template {json.dumps(template, sort_keys=True)}"


def _victims(refs: Mapping[str, str]) -> list[Any]:
    originals = json.loads(refs["originals"])
    return originals.get("objects") or originals.get("items") or []
