"""Configuration compliance: each DR mechanism of the guide, read from the target and judged against
the tier of the resource it protects (which mechanism meets the RPO, whether the selection covers every
tagged resource, whether the schedule fires when the guide says). Used by the DR suites and probes.

`inventory` collects the facts the monthly report and the DR metrics read (backups, replication, DR
cost, the monthly rule); `inventory_records` names those records without any AWS call, for the reports.
The names below are imported on first use, so a report reading inventory records loads no check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from drharness._lazy import lazy_exports

if TYPE_CHECKING:
    from drharness.compliance.checks import CHECKS, CHECKS_BY_NAME
    from drharness.compliance.mechanisms import TargetReads

__getattr__, __dir__ = lazy_exports(__name__, {
    "drharness.compliance.checks": ("CHECKS", "CHECKS_BY_NAME"),
    "drharness.compliance.mechanisms": ("TargetReads",),
})

__all__ = ["CHECKS", "CHECKS_BY_NAME", "TargetReads"]
