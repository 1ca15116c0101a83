"""Faults: named, revertible injections, each written down before it changes anything.

    journal = Journal(tmp_dir)
    with injected(OfflineFaultBackend(endpoint), "az-outage", {"region": "us-east-1", "az": "a"}, journal) as fault:
        ...  # the zone is impaired here; it is restored on the way out, even on Ctrl-C

Every injection follows the same order: validate, write the revert record (status "injecting"),
inject under the client-chosen id, mark the record "active". Revert marks it "reverted" and can run
twice. A run killed before its revert leaves pending records that `revert_pending` (the command
`drharness revert`) undoes later.

The names below are imported on first use: the fault vocabulary (`faults.spec`) must not load the
offline world that `OfflineFaultBackend` talks to, nor botocore for `LiveFaultBackend`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from drharness._lazy import lazy_exports

if TYPE_CHECKING:
    from drharness.faults.base import AccessKey, FaultBackend, InjectedFault
    from drharness.faults.journal import BackendRef, Journal, RevertRecord
    from drharness.faults.lifecycle import Terminated, inject, injected, install_signal_reverts, revert, revert_all
    from drharness.faults.live import LiveFaultBackend, LiveOptions
    from drharness.faults.offline import OfflineFaultBackend
    from drharness.faults.pending import revert_pending
    from drharness.faults.spec import FAULTS, UNKNOWN_FAULT, FaultParams, parse_fault

__getattr__, __dir__ = lazy_exports(__name__, {
    "drharness.faults.base": ("AccessKey", "FaultBackend", "InjectedFault"),
    "drharness.faults.journal": ("BackendRef", "Journal", "RevertRecord"),
    "drharness.faults.lifecycle": ("Terminated", "inject", "injected", "install_signal_reverts", "revert", "revert_all"),
    "drharness.faults.live": ("LiveFaultBackend", "LiveOptions"),
    "drharness.faults.offline": ("OfflineFaultBackend",),
    "drharness.faults.pending": ("revert_pending",),
    "drharness.faults.spec": ("FAULTS", "UNKNOWN_FAULT", "FaultParams", "parse_fault"),
})

__all__ = [
    "FAULTS",
    "UNKNOWN_FAULT",
    "AccessKey",
    "BackendRef",
    "FaultBackend",
    "FaultParams",
    "InjectedFault",
    "Journal",
    "LiveFaultBackend",
    "LiveOptions",
    "OfflineFaultBackend",
    "RevertRecord",
    "Terminated",
    "inject",
    "injected",
    "install_signal_reverts",
    "parse_fault",
    "revert",
    "revert_all",
    "revert_pending",
]
