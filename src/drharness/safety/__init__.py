"""Live-account safety: every gate a live run passes before anything changes, and how a run is stopped.

- `scope`: opt-in, the account and region allowlists, and the tag scope each live fault must stay in;
- `live_target`: `open_live_target`, the only way to an `AwsTarget` (STS first, then the allowlists);
- `backend`: `ScopedFaultBackend`, the live fault backend behind the per-fault account and scope check;
- `guard`: `RunGuard`, stop conditions (alarms, the stop file, signals) that revert every fault;
- `plan`: the dry run, which faults a run would inject and what stops them;
- `sweep`: what tests leave behind, found by tag and removed (`drharness.safety.sweep.sweep`);
- `redaction`: `scrub_logs`, account ids and credentials masked in every log record.

The names below are imported on first use, so the vocabulary of the gate costs no AWS client until a
part of it runs; none of it imports the offline world.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from drharness._lazy import lazy_exports

if TYPE_CHECKING:
    from drharness.safety.backend import (
        ACCOUNT_CHANGED,
        ScopedFaultBackend,
        live_fault_backend,
        open_live_backend,
        scoped_live_options,
    )
    from drharness.safety.guard import (
        STOP_FILE_ENV,
        Alarm,
        RunGuard,
        StopConditionTriggered,
        alarm_arns,
        clear_stop,
        request_stop,
        stop_alarms,
        stop_file_path,
    )
    from drharness.safety.live_target import NO_CREDENTIALS, STS_FAILED, caller_account, open_live_target
    from drharness.safety.plan import FaultStep, Plan, PlannedFault, build_plan, experiment_steps, scenario_steps
    from drharness.safety.redaction import mask_account, scrub_logs
    from drharness.safety.scope import (
        ACCOUNT_NOT_ALLOWED,
        NO_ALLOWED_ACCOUNTS,
        NO_TAG_SCOPE,
        OPT_IN_HELP,
        OUT_OF_SCOPE,
        REGION_NOT_ALLOWED,
        ScopedResource,
        check_fault_scope,
        check_live_allowed,
        check_region_allowed,
        fault_resources,
    )
    from drharness.safety.sweep import SweepReport, SweptItem

__getattr__, __dir__ = lazy_exports(__name__, {
    "drharness.safety.backend": (
        "ACCOUNT_CHANGED", "ScopedFaultBackend", "live_fault_backend", "open_live_backend", "scoped_live_options",
    ),
    "drharness.safety.guard": (
        "STOP_FILE_ENV", "Alarm", "RunGuard", "StopConditionTriggered", "alarm_arns", "clear_stop", "request_stop",
        "stop_alarms", "stop_file_path",
    ),
    "drharness.safety.live_target": ("NO_CREDENTIALS", "STS_FAILED", "caller_account", "open_live_target"),
    "drharness.safety.plan": ("FaultStep", "Plan", "PlannedFault", "build_plan", "experiment_steps", "scenario_steps"),
    "drharness.safety.redaction": ("mask_account", "scrub_logs"),
    "drharness.safety.scope": (
        "ACCOUNT_NOT_ALLOWED", "NO_ALLOWED_ACCOUNTS", "NO_TAG_SCOPE", "OPT_IN_HELP", "OUT_OF_SCOPE",
        "REGION_NOT_ALLOWED", "ScopedResource", "check_fault_scope", "check_live_allowed", "check_region_allowed",
        "fault_resources",
    ),
    "drharness.safety.sweep": ("SweepReport", "SweptItem"),
})

__all__ = [
    "ACCOUNT_CHANGED",
    "ACCOUNT_NOT_ALLOWED",
    "NO_ALLOWED_ACCOUNTS",
    "NO_CREDENTIALS",
    "NO_TAG_SCOPE",
    "OPT_IN_HELP",
    "OUT_OF_SCOPE",
    "REGION_NOT_ALLOWED",
    "STOP_FILE_ENV",
    "STS_FAILED",
    "Alarm",
    "FaultStep",
    "Plan",
    "PlannedFault",
    "RunGuard",
    "ScopedFaultBackend",
    "ScopedResource",
    "StopConditionTriggered",
    "SweepReport",
    "SweptItem",
    "alarm_arns",
    "build_plan",
    "caller_account",
    "check_fault_scope",
    "check_live_allowed",
    "check_region_allowed",
    "clear_stop",
    "experiment_steps",
    "fault_resources",
    "live_fault_backend",
    "mask_account",
    "open_live_backend",
    "open_live_target",
    "request_stop",
    "scenario_steps",
    "scoped_live_options",
    "scrub_logs",
    "stop_alarms",
    "stop_file_path",
]
