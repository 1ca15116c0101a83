"""Deploy the workload with the guide's DR settings, through the APIs, and read every one back.

Offline, emulators accept settings they then drop (moto's CloudFormation reports CREATE_COMPLETE
without versioning, replication, PITR, global tables, AWS Backup or FSx), so nothing here trusts a
call's success: `deploy_workload` applies each setting with the service's own API, then
`verify_workload` reads each DR property back and names every one that did not stick. Both use
only the Target's clients; verification is also how a live run checks the account it was given.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from drharness.config import Workload
from drharness.deploy import backup, batch, cloudformation, dynamodb, events, fsx, iam, inventory, kms, names, notifications, s3
from drharness.deploy.common import ApplyLog, Checker, Deployed, Finding, Unverified
from drharness.errors import DeployError
from drharness.target import Target

# How many findings the one-line error spells out before it summarises the rest.
MESSAGE_FINDINGS = 8


@dataclass(frozen=True)
class Verification:
    """Every DR property read back: what differs, and what the target could not show."""

    findings: tuple[Finding, ...]
    unverified: tuple[Unverified, ...]
    properties_checked: int


@dataclass(frozen=True)
class DeployReport:
    """What a deploy did and what its read-back found."""

    target: str
    resources: tuple[Deployed, ...]
    verification: Verification
    duration_seconds: float

    @property
    def changed(self) -> tuple[Deployed, ...]:
        return tuple(r for r in self.resources if r.action != "unchanged")


class VerificationError(DeployError):
    """The deploy ran, but DR properties read back differ from the workload config."""

    def __init__(self, message: str, report: DeployReport) -> None:
        super().__init__(message)
        self.report = report


def check_workload(target: Target, workload: Workload) -> Verification:
    """Read every DR property of `workload` back from `target`."""
    check = Checker()
    for module in (kms, s3, inventory, dynamodb, batch, fsx, backup, notifications, events, cloudformation):
        with _step(f"reading back the {module.__name__.rsplit('.', 1)[-1]} settings", target):
            module.verify(target, workload, check)
    return Verification(tuple(check.findings), tuple(check.unverified), check.checked)


def verify_workload(target: Target, workload: Workload) -> list[Finding]:
    """The DR properties of `workload` that `target` does not show as configured."""
    return list(check_workload(target, workload).findings)


def deploy_workload(target: Target, workload: Workload) -> DeployReport:
    """Create or bring up to date every resource of `workload`; raise if a DR property did not stick.

    Idempotent: a second run finds everything in place and changes nothing.
    """
    started = time.monotonic()
    names.check_names(workload)
    inventory.check_names(workload)
    log = ApplyLog()
    for module in (kms, iam, s3, inventory, dynamodb):
        with _step(f"deploying {module.__name__.rsplit('.', 1)[-1]}", target):
            module.apply(target, workload, log)
    with _step("deploying batch", target):
        network = batch.apply(target, workload, log)
    with _step("deploying fsx", target):
        fsx.apply(target, workload, network, log)
    for module in (backup, notifications, events, cloudformation):
        with _step(f"deploying {module.__name__.rsplit('.', 1)[-1]}", target):
            module.apply(target, workload, log)
    verification = check_workload(target, workload)
    report = DeployReport(target.name, tuple(log.deployed), verification, time.monotonic() - started)
    if verification.findings:
        raise VerificationError(findings_message(verification.findings), report)
    return report


@contextlib.contextmanager
def _step(what: str, target: Target) -> Iterator[None]:
    """Turn an unexpected AWS or connection error into a DeployError that says where it happened."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise DeployError(
            f"{what} on {target.name} failed: {error.get('Code', '?')}: {error.get('Message', exc)}; "
            "check the target's permissions and state, then run the deploy again (it resumes where it stopped)"
        ) from exc
    except BotoCoreError as exc:
        raise DeployError(
            f"{what} on {target.name} failed: {exc}; check that the target is reachable, then run the deploy again"
        ) from exc


def findings_message(findings: tuple[Finding, ...] | list[Finding]) -> str:
    """One line naming each DR property that did not stick."""
    shown = "; ".join(str(f) for f in findings[:MESSAGE_FINDINGS])
    more = len(findings) - MESSAGE_FINDINGS
    tail = f"; and {more} more" if more > 0 else ""
    return (
        f"deployed, but {len(findings)} DR propert{'y' if len(findings) == 1 else 'ies'} did not stick: "
        f"{shown}{tail}. The target accepted the settings and does not show them; fix the target "
        "(or the config) and run the deploy again"
    )


__all__ = [
    "DeployReport",
    "Deployed",
    "Finding",
    "Unverified",
    "Verification",
    "VerificationError",
    "check_workload",
    "deploy_workload",
    "findings_message",
    "verify_workload",
]
