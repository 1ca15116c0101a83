"""Procedures: the recovery actions under test, made real from the guide's scripts.

`run_failover` / `lambda_handler` (auto-failover.py), `Runbook` (manual-recovery.sh: full, partial,
data-only, resumable) and `backup_stacks` / `restore_stack` (backup-cloudformation-templates.sh).
Each takes a Target and a Workload and never knows which target it has.
"""

from drharness.procedures.config_backup import ConfigBackup, ConfigRestore, SavedStack, backup_stacks, list_backups, restore_stack
from drharness.procedures.failover import FailoverOutcome, FailoverPhase, lambda_handler, run_failover
from drharness.procedures.health import PrimaryHealth, Probe, check_primary_health
from drharness.procedures.listing import SourceListing, capture_source_listing, latest_listing, read_listing
from drharness.procedures.runbook import KINDS, Runbook, RunbookOutcome, StepReport
from drharness.procedures.stack import DrStackView, StackActivation, activate_dr_stack, deactivate_dr_stack, read_dr_stack
from drharness.procedures.steps import RunState, StateStore, Step, StepOutcome, StepState, run_steps
from drharness.procedures.verification import RecoveryVerification, Serving, verify_serving

__all__ = [
    "KINDS",
    "ConfigBackup",
    "ConfigRestore",
    "DrStackView",
    "FailoverOutcome",
    "FailoverPhase",
    "PrimaryHealth",
    "Probe",
    "RecoveryVerification",
    "RunState",
    "Runbook",
    "RunbookOutcome",
    "SavedStack",
    "Serving",
    "SourceListing",
    "StackActivation",
    "StateStore",
    "Step",
    "StepOutcome",
    "StepReport",
    "StepState",
    "activate_dr_stack",
    "deactivate_dr_stack",
    "backup_stacks",
    "capture_source_listing",
    "check_primary_health",
    "lambda_handler",
    "latest_listing",
    "list_backups",
    "read_dr_stack",
    "read_listing",
    "restore_stack",
    "run_failover",
    "run_steps",
    "verify_serving",
]
