"""Configuration compliance: each DR mechanism of the guide, read from the target and judged against
the tier of the resource it protects (which mechanism meets the RPO, whether the selection covers every
tagged resource, whether the schedule fires when the guide says). Used by the DR suites and probes."""

from drharness.compliance.checks import CHECKS, CHECKS_BY_NAME
from drharness.compliance.mechanisms import TargetReads

__all__ = ["CHECKS", "CHECKS_BY_NAME", "TargetReads"]
