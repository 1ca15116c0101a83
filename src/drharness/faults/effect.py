"""Did the fault take? Asked of the target itself, before a drill times any recovery.

A drill that times the recovery from a fault that never happened measures nothing, so every fault
drill first confirms its fault is in place, the same way on either target:

| mechanism                 | in effect when                                                              |
|---------------------------|-----------------------------------------------------------------------------|
| fis (live)                | GetExperiment says `running` with every action `running`, and the targets    |
|                           | resolved to resources (ListExperimentResolvedTargets): FIS acts on them      |
| harness-data (live)       | the victims were overwritten (the fault names them); the drill's own        |
|                           | consistency check then finds them, or not                                   |
| any other (offline, IAM   | the backend lists the fault among those in place now (the world's fault     |
| deny, IAM user, hooks...) | table; the inline deny on the roles; the user and its key; the hooks)       |

A FIS experiment moves pending -> initiating -> running in seconds to a minute; the wait for it is the
confirmation's own, bounded by `timeout_s`, and a failed experiment ends it at once with FIS's reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from drharness.faults.base import FaultBackend, InjectedFault
from drharness.faults.live.data import HARNESS_DATA
from drharness.target import Target
from drharness.waiting import wait_until

FIS_FAILED = ("failed", "stopped", "stopping", "cancelled", "completed")


@dataclass(frozen=True)
class FaultEffect:
    """Whether a fault is in effect, as its target reports it; `resources` are what it acts on (ARNs, ids)."""

    fault_id: str
    mechanism: str
    took: bool
    detail: str
    resources: tuple[str, ...] = ()
    waited_s: float = 0.0

    def evidence(self) -> dict[str, object]:
        return {"fault": self.fault_id, "mechanism": self.mechanism, "in_effect": self.took,
                "effect": self.detail, "resources": list(self.resources), "confirmed_after_s": round(self.waited_s, 3)}


def confirm_effect(backend: FaultBackend, target: Target, fault: InjectedFault, timeout_s: float) -> FaultEffect:
    """Wait up to `timeout_s` for `fault` to be in effect on `target`; never raises for a fault that did not take."""
    mechanism = str(fault.refs.get("mechanism") or fault.target)
    if mechanism == "fis" and fault.refs.get("experiment_id") and fault.refs.get("region"):
        return _fis_effect(target, fault, timeout_s)
    if mechanism == HARNESS_DATA or fault.name == "data-corruption":  # what was overwritten, not a listing
        took = bool(fault.corrupted)
        return FaultEffect(fault.id, mechanism, took, f"{fault.describe()}: " + (
            f"{len(fault.corrupted)} victim(s) overwritten" if took else "no victim found to overwrite"),
            tuple(fault.corrupted))
    outcome = wait_until(lambda: fault.id in backend.active_ids(), timeout_s, target.poll_interval_s,
                         what=f"{fault.name} {fault.id} to be in place", swallow=(ClientError, BotoCoreError))
    detail = (f"{fault.describe()}: in place ({mechanism})" if outcome.ok else
              f"{fault.describe()}: not among the faults in place on the target ({outcome.reason})")
    return FaultEffect(fault.id, mechanism, outcome.ok, detail, waited_s=outcome.elapsed_seconds)


def _fis_effect(target: Target, fault: InjectedFault, timeout_s: float) -> FaultEffect:
    experiment_id = fault.refs["experiment_id"]
    fis = target.client("fis", fault.refs["region"])  # FIS faults journal the region their experiment runs in

    def state() -> dict[str, Any] | None:
        experiment = fis.get_experiment(id=experiment_id)["experiment"]
        status = experiment["state"]["status"]
        actions = experiment.get("actions") or {}
        if status in FIS_FAILED or (status == "running" and all(
                (a.get("state") or {}).get("status") == "running" for a in actions.values())):
            return experiment
        return None

    outcome = wait_until(state, timeout_s, target.poll_interval_s, what=f"FIS experiment {experiment_id} to run",
                         swallow=(ClientError, BotoCoreError))
    experiment = outcome.value
    if experiment is None:
        return FaultEffect(fault.id, "fis", False, f"{fault.describe()}: FIS experiment {experiment_id} is not "
                           f"running ({outcome.reason})", waited_s=outcome.elapsed_seconds)
    status = experiment["state"]["status"]
    if status != "running":
        actions = "; ".join(f"{name}: {(a.get('state') or {}).get('status')} ({(a.get('state') or {}).get('reason', '')})"
                            for name, a in (experiment.get("actions") or {}).items())
        return FaultEffect(fault.id, "fis", False, f"{fault.describe()}: FIS experiment {experiment_id} is {status}: "
                           f"{experiment['state'].get('reason', '')}" + (f" [{actions}]" if actions else ""),
                           waited_s=outcome.elapsed_seconds)
    resources = resolved_targets(fis, experiment_id)
    took = bool(resources)
    detail = (f"{fault.describe()}: FIS experiment {experiment_id} running on {len(resources)} resource(s)" if took else
              f"{fault.describe()}: FIS experiment {experiment_id} runs but its targets resolved to nothing")
    return FaultEffect(fault.id, "fis", took, detail, tuple(resources), outcome.elapsed_seconds)


def resolved_targets(fis: Any, experiment_id: str) -> list[str]:
    """The resources (ARNs) an experiment's targets resolved to, every page."""
    found: list[str] = []
    token: str | None = None
    while True:
        page = fis.list_experiment_resolved_targets(experimentId=experiment_id, **({"nextToken": token} if token else {}))
        for item in page.get("resolvedTargets") or []:
            info = {str(k).lower(): str(v) for k, v in (item.get("targetInformation") or {}).items()}
            found.append(info.get("arn") or next(iter(info.values()), ""))
        token = page.get("nextToken")
        if not token:
            return [f for f in found if f]
