"""The Chaos Toolkit extension of drharness: game days on the offline world or a real account.

- `drharness.chaos.actions`: inject and revert the fault vocabulary; canaries and test data.
- `drharness.chaos.recovery`: the recoveries under test (failover, runbook, restore, ...), timed.
- `drharness.chaos.probes`: replication lag, consistency, data loss, RTO/RPO verdicts, mechanism health.
- `drharness.chaos.control`: starts (or attaches to) the world, reverts every fault however the run
  ends, and writes result records, Allure results and the journal under reports/.

`chaos discover drharness --no-install` lists the activities (drharness.discover). This package is a
surface: it imports chaoslib; the core never imports it.
"""

from drharness.chaos.discovery import discover

__all__ = ["discover"]
