"""The one exception hierarchy of drharness.

Every message says what went wrong, where the bad value came from and what to do about it.
"""

from __future__ import annotations


class DrHarnessError(Exception):
    """Base of every error drharness raises on purpose."""


class ConfigError(DrHarnessError):
    """The workload config (or a run setting) is missing or invalid."""


class UnknownFaultError(DrHarnessError):
    """A fault name that the vocabulary does not know."""


class FaultError(DrHarnessError):
    """A fault could not be injected or reverted."""


class WorldError(DrHarnessError):
    """The offline world could not be started, reached or asked."""


class DeployError(DrHarnessError):
    """The workload could not be deployed, or a DR property did not stick."""


class TargetError(DrHarnessError):
    """The target (offline world or AWS account) cannot be used as asked."""


class SafetyError(TargetError):
    """A live run was refused by the safety rules (opt-in, allowlist, scope)."""


class MeasurementError(DrHarnessError):
    """An instrument could not take its measurement."""


class ProcedureError(DrHarnessError):
    """A recovery procedure could not run or refused a precondition."""


class ReportError(DrHarnessError):
    """A report could not be built from the result records."""
