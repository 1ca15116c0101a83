"""`chaos discover drharness`: the extension's activities, from `__all__`, signatures and docstrings."""

from typing import Any

from drharness import __version__

ACTION_MODULES = ("drharness.chaos.actions", "drharness.chaos.recovery")
PROBE_MODULES = ("drharness.chaos.probes",)


def discover(discover_system: bool = True) -> dict:
    """Describe the drharness activities (and, with `discover_system`, the workload they act on)."""
    from chaoslib.discovery.discover import discover_actions, discover_probes, initialize_discovery_result

    discovery: dict[str, Any] = initialize_discovery_result("drharness", __version__, "dr")
    for module in ACTION_MODULES:
        discovery["activities"].extend(discover_actions(module))
    for module in PROBE_MODULES:
        discovery["activities"].extend(discover_probes(module))
    if discover_system:
        discovery["system"] = _system()
    return discovery


def _system() -> dict:
    """The workload config the activities would act on (names and regions only; nothing is called)."""
    from drharness.config import load_workload
    from drharness.errors import ConfigError

    try:
        workload = load_workload()
    except ConfigError as exc:
        return {"workload": None, "error": str(exc)}
    return {
        "workload": {"source": str(workload.source), "primary_region": workload.primary_region,
                     "secondary_region": workload.secondary_region, "bucket": workload.spec.bucket.tier,
                     "table": workload.spec.table.tier, "compute": workload.spec.compute.tier},
        "tiers": {name: {"rto_hours": t.rto_hours, "rpo_hours": t.rpo_hours} for name, t in workload.spec.tiers.items()},
    }
