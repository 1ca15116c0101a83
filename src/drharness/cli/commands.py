"""Register every command group on the `drharness` app (one module per group)."""

from __future__ import annotations

from drharness.cli import app, backup_config, compare, deploy, drill, failover, fault, monthly, recover, report, revert, safety, world

for _module in (world, deploy, fault, revert, compare, drill, failover, recover, backup_config, report, monthly, safety):
    _module.register(app)
