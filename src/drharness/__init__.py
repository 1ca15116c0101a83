"""drharness: chaos and disaster-recovery test harness for AWS workloads.

Offline by default (an embedded AWS world on moto, started by the harness on 127.0.0.1); against real
accounts only with explicit opt-in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from drharness._lazy import lazy_exports

if TYPE_CHECKING:
    from drharness.config import Workload, load_workload
    from drharness.errors import DrHarnessError
    from drharness.results import Objective, ResultRecord, ResultSink
    from drharness.target import AwsTarget, OfflineTarget, Target

__version__ = "0.1.0"

__getattr__, __dir__ = lazy_exports(__name__, {
    "drharness.config": ("Workload", "load_workload"),
    "drharness.errors": ("DrHarnessError",),
    "drharness.results": ("Objective", "ResultRecord", "ResultSink"),
    "drharness.target": ("AwsTarget", "OfflineTarget", "Target"),
})


def discover(discover_system: bool = True) -> dict:
    """Describe the Chaos Toolkit activities of drharness (`chaos discover drharness --no-install`)."""
    # Imported here: the core never imports chaoslib, only the extension does.
    from drharness.chaos.discovery import discover as discover_activities

    return discover_activities(discover_system=discover_system)


__all__ = [
    "AwsTarget",
    "DrHarnessError",
    "Objective",
    "OfflineTarget",
    "ResultRecord",
    "ResultSink",
    "Target",
    "Workload",
    "discover",
    "load_workload",
    "__version__",
]
